-- CHECK constraints on the enum-like text columns, and indexes for the
-- time-window reads (the PostgreSQL twin of
-- ../0005_constraints_and_time_indexes.sql; PostgreSQL adds a CHECK in
-- place, where SQLite rebuilds each table).

ALTER TABLE runs
    ADD CONSTRAINT runs_kind_check CHECK (kind IN ('live', 'soak', 'scenario', 'import')),
    ADD CONSTRAINT runs_status_check
        CHECK (status IN ('active', 'completed', 'interrupted', 'failed'));

ALTER TABLE alerts
    ADD CONSTRAINT alerts_delivery_check CHECK (delivery IN
        ('pending', 'delivered', 'failed', 'dropped', 'suppressed', 'none'));

ALTER TABLE experiments
    ADD CONSTRAINT experiments_section_check CHECK (section IN ('log', 'history')),
    ADD CONSTRAINT experiments_status_check
        CHECK (status IN ('baseline', 'candidate', 'accepted', 'rejected'));

CREATE INDEX snapshots_time ON snapshots(run_id, ts_us);
CREATE INDEX events_time ON events(run_id, ts_us);
CREATE INDEX health_time ON health_samples(run_id, ts_us);
