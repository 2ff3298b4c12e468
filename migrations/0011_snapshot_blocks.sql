-- Snapshots stored packed, 2,000 to a row (an import writes a run's
-- snapshots this way; live recording writes `snapshots` rows). `data` is
-- the rows in the `codec` format (src/store/snapshot_codec.rs); the other
-- columns let counts, spans and resumes be answered without decoding it.
--
-- A rowid table with the headers in an index, not WITHOUT ROWID keyed by
-- (run_id, first_seq): in a WITHOUT ROWID table the whole row is the key,
-- and stepping past a row compares keys, which reads its ~40 KB blob. A
-- week's 300 block headers cost 3 ms to scan that way, 0.04 ms from this
-- index.
CREATE TABLE snapshot_blocks (
    id        INTEGER PRIMARY KEY,
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    min_ts    INTEGER NOT NULL,
    max_ts    INTEGER NOT NULL,
    last_boot INTEGER NOT NULL,
    snapshots INTEGER NOT NULL,
    codec     TEXT NOT NULL,
    data      BLOB NOT NULL,
    UNIQUE (run_id, first_seq)
);
CREATE INDEX snapshot_blocks_headers
    ON snapshot_blocks(run_id, first_seq, last_seq, min_ts, max_ts, last_boot, snapshots);
