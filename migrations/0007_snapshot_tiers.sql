-- A min/max pyramid of each run's snapshots at seven bucket widths, kept
-- current by the writer in the same transaction as the snapshots, so a
-- chart reads O(pixels) rows at any zoom and never loses a minimum. It
-- replaces the per-minute rollups, which were built on first read (seconds
-- for a week-long run). Existing runs are filled here.
CREATE TABLE snapshot_tiers (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    -- bucket width in seconds
    tier     INTEGER NOT NULL CHECK (tier IN (10, 30, 60, 300, 600, 1800, 3600)),
    -- ts_us / (tier * 1e6), rounded down
    bucket   INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts  INTEGER NOT NULL,
    boot     INTEGER NOT NULL,
    min_hi INTEGER, max_hi INTEGER,
    min_hin INTEGER, max_hin INTEGER,
    min_hl INTEGER, max_hl INTEGER,
    min_pf INTEGER, max_pf INTEGER,
    min_frag INTEGER, max_frag INTEGER,
    PRIMARY KEY (run_id, tier, bucket)
) WITHOUT ROWID;

INSERT INTO snapshot_tiers
SELECT run_id, w.tier, ts_us / (w.tier * 1000000) AS bucket, COUNT(*), MIN(ts_us), MAX(ts_us),
       MAX(boot), MIN(hi), MAX(hi), MIN(hin), MAX(hin), MIN(hl), MAX(hl), MIN(pf), MAX(pf),
       MIN(frag), MAX(frag)
FROM snapshots, (SELECT 10 AS tier UNION ALL SELECT 30 UNION ALL SELECT 60 UNION ALL SELECT 300
 UNION ALL SELECT 600 UNION ALL SELECT 1800 UNION ALL SELECT 3600) w
WHERE ts_us >= 0
GROUP BY run_id, w.tier, bucket;

DROP TABLE snapshot_rollups;
