-- Snapshots stored packed, 2,000 to a row (an import writes a run's
-- snapshots this way; live recording writes `snapshots` rows). `data` is
-- the rows in the `codec` format (src/store/snapshot_codec.rs); the other
-- columns let counts, spans and resumes be answered without decoding it.
CREATE TABLE snapshot_blocks (
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    min_ts    INTEGER NOT NULL,
    max_ts    INTEGER NOT NULL,
    last_boot INTEGER NOT NULL,
    snapshots INTEGER NOT NULL,
    codec     TEXT NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (run_id, first_seq)
) WITHOUT ROWID;
