-- Soak monitoring: firmware ELFs for backtrace decoding, alert history,
-- compressed serial blocks and per-minute snapshot rollups (docs/soak.md).

-- One ELF per firmware version (the version as the boot log prints it,
-- without a leading `v`).
CREATE TABLE firmware_elves (
    version     TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    uploaded_us INTEGER NOT NULL,
    data        BLOB NOT NULL
);

-- Every alert that fired, and what became of its delivery.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    ts_us       INTEGER NOT NULL,
    rule        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    device_id   INTEGER,
    device_name TEXT,
    run_id      INTEGER,
    text        TEXT NOT NULL,
    -- pending, delivered, failed, dropped (queue full), suppressed (dedup),
    -- none (no webhook configured)
    delivery    TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT
);
CREATE INDEX alerts_ts ON alerts(ts_us);

-- Raw serial lines older than the retention window, deflated in blocks.
-- `data` is the lines as JSON [[line_no, ts_us, flags, text], …], deflated.
CREATE TABLE serial_blocks (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    first_line INTEGER NOT NULL,
    last_line  INTEGER NOT NULL,
    first_ts   INTEGER NOT NULL,
    last_ts    INTEGER NOT NULL,
    lines      INTEGER NOT NULL,
    codec      TEXT NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (run_id, first_line)
) WITHOUT ROWID;

-- Per-minute min/max of each run's snapshots: week-long charts read these
-- (~10k rows) instead of every snapshot (~600k).
CREATE TABLE snapshot_rollups (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    minute   INTEGER NOT NULL, -- ts_us / 60e6
    n        INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts  INTEGER NOT NULL,
    min_hi INTEGER, max_hi INTEGER,
    min_hin INTEGER, max_hin INTEGER,
    min_hl INTEGER, max_hl INTEGER,
    min_pf INTEGER, max_pf INTEGER,
    min_frag INTEGER, max_frag INTEGER,
    last_tag TEXT,
    last_boot INTEGER,
    PRIMARY KEY (run_id, minute)
) WITHOUT ROWID;
