-- Named access tokens (`heaplab token create|list|revoke`). Only a SHA-256
-- of each secret is kept: a copy of the database grants no access.
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    scope       TEXT NOT NULL CHECK (scope IN ('read', 'write', 'ingest')),
    secret_hash TEXT NOT NULL UNIQUE,
    created_us  INTEGER NOT NULL,
    revoked_us  INTEGER
);
