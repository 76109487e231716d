-- A failed delivery whose credentials the provider refused is deleted after this time (unix ms).
ALTER TABLE deliveries ADD COLUMN purge_after INTEGER;
CREATE INDEX deliveries_purge_after ON deliveries (purge_after) WHERE purge_after IS NOT NULL;

-- Hooks whose credentials a provider accepted once, by a keyed hash (never the credentials):
-- only their failure reports are mailed.
CREATE TABLE vouched_credentials (
    id        TEXT PRIMARY KEY,
    last_seen INTEGER NOT NULL
);

-- Keys every instance shares (the key of those hashes), hex.
CREATE TABLE service_keys (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- /readyz writes here to see that the outbox still takes writes.
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
