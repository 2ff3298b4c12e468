-- Run groups: the runs of one `heaplab run --repeat N` (or any set of runs
-- compared together), for statistics across repeats.

CREATE TABLE run_groups (
    id         INTEGER PRIMARY KEY,
    scenario   TEXT,
    label      TEXT,
    device_id  INTEGER REFERENCES devices(id) ON DELETE SET NULL,
    created_us INTEGER NOT NULL
);

CREATE TABLE run_group_members (
    group_id INTEGER NOT NULL REFERENCES run_groups(id) ON DELETE CASCADE,
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (group_id, run_id)
);
CREATE INDEX run_group_members_run ON run_group_members(run_id);
