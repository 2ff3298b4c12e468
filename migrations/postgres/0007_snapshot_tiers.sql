-- The min/max snapshot pyramid (the PostgreSQL twin of
-- ../0007_snapshot_tiers.sql). Existing runs are filled here.
CREATE TABLE snapshot_tiers (
    run_id   BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    tier     BIGINT NOT NULL CHECK (tier IN (10, 30, 60, 300, 600, 1800, 3600)),
    bucket   BIGINT NOT NULL,
    n        BIGINT NOT NULL,
    first_ts BIGINT NOT NULL,
    last_ts  BIGINT NOT NULL,
    boot     BIGINT NOT NULL,
    min_hi BIGINT, max_hi BIGINT,
    min_hin BIGINT, max_hin BIGINT,
    min_hl BIGINT, max_hl BIGINT,
    min_pf BIGINT, max_pf BIGINT,
    min_frag BIGINT, max_frag BIGINT,
    PRIMARY KEY (run_id, tier, bucket)
);

INSERT INTO snapshot_tiers
SELECT run_id, w.tier, ts_us / (w.tier * 1000000) AS bucket, COUNT(*), MIN(ts_us), MAX(ts_us),
       MAX(boot), MIN(hi), MAX(hi), MIN(hin), MAX(hin), MIN(hl), MAX(hl), MIN(pf), MAX(pf),
       MIN(frag), MAX(frag)
FROM snapshots, (VALUES (10::BIGINT), (30), (60), (300), (600), (1800), (3600)) AS w(tier)
WHERE ts_us >= 0
GROUP BY run_id, w.tier, ts_us / (w.tier * 1000000);

DROP TABLE snapshot_rollups;
