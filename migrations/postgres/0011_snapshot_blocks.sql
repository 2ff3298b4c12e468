-- Snapshots stored packed, 2,000 to a row: see the SQLite migration.
CREATE TABLE snapshot_blocks (
    run_id    BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    first_seq BIGINT NOT NULL,
    last_seq  BIGINT NOT NULL,
    min_ts    BIGINT NOT NULL,
    max_ts    BIGINT NOT NULL,
    last_boot BIGINT NOT NULL,
    snapshots BIGINT NOT NULL,
    codec     TEXT NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (run_id, first_seq)
);
