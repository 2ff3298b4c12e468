-- Per-run aggregates kept current by the recorder in the same transaction
-- as the rows they summarise (analysis::RunSummary as JSON), so a page of a
-- week-long run reads one row instead of every snapshot. `leak` caches the
-- run's leak estimate with the snapshot count it was computed at.
CREATE TABLE run_summaries (
    run_id         INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,
    summary        TEXT NOT NULL,
    leak           TEXT,
    leak_snapshots INTEGER,
    updated_us     INTEGER NOT NULL
);
