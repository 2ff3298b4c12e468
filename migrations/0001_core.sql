-- Core schema: devices, runs and everything recorded in a run.
-- Times are UTC microseconds since the Unix epoch (INTEGER: sortable, cheap).

CREATE TABLE devices (
    id                INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    serial_path       TEXT,
    baud              INTEGER NOT NULL DEFAULT 115200,
    url               TEXT,
    health_interval_s INTEGER NOT NULL DEFAULT 5,
    auth              TEXT,
    board             TEXT,
    created_us        INTEGER NOT NULL
);

CREATE TABLE runs (
    id               INTEGER PRIMARY KEY,
    device_id        INTEGER REFERENCES devices(id) ON DELETE SET NULL,
    -- live (one per boot), soak, scenario, import
    kind             TEXT NOT NULL,
    scenario         TEXT,
    label            TEXT,
    board            TEXT,
    firmware_version TEXT,
    git_commit       TEXT,
    git_branch       TEXT,
    git_dirty        INTEGER,
    started_us       INTEGER NOT NULL,
    ended_us         INTEGER,
    -- active, completed, interrupted, failed
    status           TEXT NOT NULL,
    notes            TEXT,
    -- where an imported run came from, and a digest of its content so the
    -- same artifacts are never imported twice
    source           TEXT,
    source_digest    TEXT UNIQUE,
    -- the harness summary.json fields heaplab has no column for (port, ips…)
    meta             TEXT
);
CREATE INDEX runs_device ON runs(device_id, started_us);

CREATE TABLE snapshots (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    line_no    INTEGER,
    ts_us      INTEGER NOT NULL,
    elapsed_ms INTEGER,
    -- boot segment inside the run: 0 until the first reboot, then 1, …
    boot       INTEGER NOT NULL DEFAULT 0,
    tag        TEXT NOT NULL,
    hf INTEGER, hm INTEGER, hl INTEGER, hi INTEGER, hin INTEGER,
    frag INTEGER, pf INTEGER, pm INTEGER, pl INTEGER,
    -- unknown key=value pairs as a JSON array of [key, value]
    extras     TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE events (
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    line_no INTEGER,
    ts_us   INTEGER NOT NULL,
    boot    INTEGER NOT NULL DEFAULT 0,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX events_kind ON events(run_id, kind);

CREATE TABLE serial_lines (
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    line_no INTEGER NOT NULL,
    ts_us   INTEGER NOT NULL,
    text    TEXT NOT NULL,
    -- 1 = cut at the line-length limit
    flags   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, line_no)
) WITHOUT ROWID;

CREATE TABLE health_samples (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    ts_us       INTEGER NOT NULL,
    http_status INTEGER,
    latency_ms  INTEGER,
    uptime_seconds INTEGER,
    heap_internal_free INTEGER,
    heap_internal_min INTEGER,
    heap_internal_largest INTEGER,
    heap_fragmentation INTEGER,
    psram_free INTEGER,
    psram_min INTEGER,
    psram_largest INTEGER,
    heap_internal_free_min_window INTEGER,
    psram_free_min_window INTEGER,
    -- the whole body as received, so no field is ever lost
    raw         TEXT,
    error       TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
