-- Agents (`heaplab agent`): USB hosts that forward their devices' events.
-- `last_seq` is the highest batch of the agent's current spool that is
-- stored; it is raised in the same transaction as the batch's rows, so a
-- batch retried after a crash or a lost answer is recognised and stored
-- once. A new spool (`spool_id`) starts its numbering over.
CREATE TABLE agents (
    name           TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    host           TEXT NOT NULL,
    version        TEXT NOT NULL,
    spool_id       TEXT NOT NULL,
    last_seq       INTEGER NOT NULL DEFAULT 0,
    -- Events waiting in the agent's spool when it last reported.
    spooled_events INTEGER NOT NULL DEFAULT 0,
    first_seen_us  INTEGER NOT NULL,
    last_seen_us   INTEGER NOT NULL
);

-- Which agent a device is plugged into, under the name the agent gives it.
CREATE TABLE agent_devices (
    device_id  INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    agent      TEXT NOT NULL REFERENCES agents(name) ON DELETE CASCADE,
    local_name TEXT NOT NULL,
    UNIQUE (agent, local_name)
);
