-- Per-run aggregates (the PostgreSQL twin of ../0006_run_summaries.sql).
CREATE TABLE run_summaries (
    run_id         BIGINT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    version        BIGINT NOT NULL,
    summary        TEXT NOT NULL,
    leak           TEXT,
    leak_snapshots BIGINT,
    updated_us     BIGINT NOT NULL
);
