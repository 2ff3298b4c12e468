-- Snapshots stored packed, 2,000 to a row: see the SQLite migration.
-- (PostgreSQL keeps a large `data` out of line already; the `id` and the
-- header index keep the two schemas alike.)
CREATE TABLE snapshot_blocks (
    id        BIGSERIAL PRIMARY KEY,
    run_id    BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    first_seq BIGINT NOT NULL,
    last_seq  BIGINT NOT NULL,
    min_ts    BIGINT NOT NULL,
    max_ts    BIGINT NOT NULL,
    last_boot BIGINT NOT NULL,
    snapshots BIGINT NOT NULL,
    codec     TEXT NOT NULL,
    data      BYTEA NOT NULL,
    UNIQUE (run_id, first_seq)
);
CREATE INDEX snapshot_blocks_headers
    ON snapshot_blocks(run_id, first_seq, last_seq, min_ts, max_ts, last_boot, snapshots);
