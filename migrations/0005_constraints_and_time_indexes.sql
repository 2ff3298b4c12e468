-- no-transaction
-- CHECK constraints on the enum-like text columns, and indexes for the
-- time-window reads of timelines, charts and retention.
--
-- SQLite cannot add a CHECK to an existing table, so each table is rebuilt
-- (https://sqlite.org/lang_altertable.html, "other kinds of table schema
-- changes"): foreign keys off outside the transaction, copy, swap, verify.
-- A row that breaks a new constraint aborts the whole migration and leaves
-- the database as it was.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE runs_new (
    id               INTEGER PRIMARY KEY,
    device_id        INTEGER REFERENCES devices(id) ON DELETE SET NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('live', 'soak', 'scenario', 'import')),
    scenario         TEXT,
    label            TEXT,
    board            TEXT,
    firmware_version TEXT,
    git_commit       TEXT,
    git_branch       TEXT,
    git_dirty        INTEGER,
    started_us       INTEGER NOT NULL,
    ended_us         INTEGER,
    status           TEXT NOT NULL
                     CHECK (status IN ('active', 'completed', 'interrupted', 'failed')),
    notes            TEXT,
    source           TEXT,
    source_digest    TEXT UNIQUE,
    meta             TEXT
);
INSERT INTO runs_new SELECT id, device_id, kind, scenario, label, board, firmware_version,
    git_commit, git_branch, git_dirty, started_us, ended_us, status, notes, source,
    source_digest, meta FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_device ON runs(device_id, started_us);

CREATE TABLE alerts_new (
    id          INTEGER PRIMARY KEY,
    ts_us       INTEGER NOT NULL,
    rule        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    device_id   INTEGER,
    device_name TEXT,
    run_id      INTEGER,
    text        TEXT NOT NULL,
    delivery    TEXT NOT NULL CHECK (delivery IN
                ('pending', 'delivered', 'failed', 'dropped', 'suppressed', 'none')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT
);
INSERT INTO alerts_new SELECT id, ts_us, rule, kind, device_id, device_name, run_id, text,
    delivery, attempts, detail FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE INDEX alerts_ts ON alerts(ts_us);

CREATE TABLE experiments_new (
    id             INTEGER PRIMARY KEY,
    section        TEXT NOT NULL DEFAULT 'log' CHECK (section IN ('log', 'history')),
    position       INTEGER NOT NULL DEFAULT 0,
    date           TEXT NOT NULL DEFAULT '',
    branch_commit  TEXT NOT NULL DEFAULT '',
    board          TEXT NOT NULL DEFAULT '',
    change         TEXT NOT NULL DEFAULT '',
    scenarios      TEXT NOT NULL DEFAULT '',
    artifacts      TEXT NOT NULL DEFAULT '',
    hin_min        TEXT NOT NULL DEFAULT '',
    frag_max       TEXT NOT NULL DEFAULT '',
    psram_free_min TEXT NOT NULL DEFAULT '',
    tripwire       TEXT NOT NULL DEFAULT '',
    notes          TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL DEFAULT 'candidate'
                   CHECK (status IN ('baseline', 'candidate', 'accepted', 'rejected')),
    baseline_id    INTEGER REFERENCES experiments(id) ON DELETE SET NULL,
    created_us     INTEGER NOT NULL,
    updated_us     INTEGER NOT NULL
);
INSERT INTO experiments_new SELECT id, section, position, date, branch_commit, board, change,
    scenarios, artifacts, hin_min, frag_max, psram_free_min, tripwire, notes, status,
    baseline_id, created_us, updated_us FROM experiments;
DROP TABLE experiments;
ALTER TABLE experiments_new RENAME TO experiments;
CREATE INDEX experiments_date ON experiments(date, position);

-- Time windows inside a run: chart zooms, a boot's last activity, the
-- first health answer of a boot.
CREATE INDEX snapshots_time ON snapshots(run_id, ts_us);
CREATE INDEX events_time ON events(run_id, ts_us);
CREATE INDEX health_time ON health_samples(run_id, ts_us);

COMMIT;
PRAGMA foreign_keys = ON;
