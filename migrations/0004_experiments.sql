-- The experiments log: one row per firmware change, linked to the runs and
-- run groups that measured it. Cells are kept as written so the Markdown
-- table a team keeps in its repository round-trips.

CREATE TABLE experiments (
    id             INTEGER PRIMARY KEY,
    -- 'log' (Experiments Log, with metric columns) or 'history'
    section        TEXT NOT NULL DEFAULT 'log',
    position       INTEGER NOT NULL DEFAULT 0,
    date           TEXT NOT NULL DEFAULT '',
    -- "branch@commit" with an optional " (dirty)", as written
    branch_commit  TEXT NOT NULL DEFAULT '',
    board          TEXT NOT NULL DEFAULT '',
    change         TEXT NOT NULL DEFAULT '',
    scenarios      TEXT NOT NULL DEFAULT '',
    artifacts      TEXT NOT NULL DEFAULT '',
    -- hand-entered metric cells (used when no run is linked)
    hin_min        TEXT NOT NULL DEFAULT '',
    frag_max       TEXT NOT NULL DEFAULT '',
    psram_free_min TEXT NOT NULL DEFAULT '',
    tripwire       TEXT NOT NULL DEFAULT '',
    notes          TEXT NOT NULL DEFAULT '',
    -- baseline, candidate, accepted, rejected
    status         TEXT NOT NULL DEFAULT 'candidate',
    baseline_id    INTEGER REFERENCES experiments(id) ON DELETE SET NULL,
    created_us     INTEGER NOT NULL,
    updated_us     INTEGER NOT NULL
);
CREATE INDEX experiments_date ON experiments(date, position);

CREATE TABLE experiment_runs (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    PRIMARY KEY (experiment_id, run_id)
);

CREATE TABLE experiment_groups (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    group_id      INTEGER NOT NULL REFERENCES run_groups(id) ON DELETE CASCADE,
    PRIMARY KEY (experiment_id, group_id)
);
