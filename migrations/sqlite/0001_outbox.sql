-- The outbox: one row per accepted POST, from acceptance to sent / failed / dead.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    channel         TEXT    NOT NULL,
    query           TEXT    NOT NULL,   -- the hook URL's query (holds the channel's credentials)
    dedup_key       TEXT    NOT NULL,   -- sha256 of channel, query and body
    recipient       TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    summary         TEXT    NOT NULL,   -- JSON: order, service, time, target (for reports)
    error_email     TEXT,
    state           TEXT    NOT NULL,   -- pending | sending | sent | failed | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,   -- unix milliseconds
    next_attempt_at INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_error      TEXT,
    provider_id     TEXT
);
CREATE INDEX deliveries_dedup ON deliveries (dedup_key, created_at);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);

-- Failure reports waiting for (or already in) an email to errorEmail.
CREATE TABLE mail_queue (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    address    TEXT    NOT NULL,
    report     TEXT    NOT NULL,        -- JSON FailureReport
    created_at INTEGER NOT NULL,
    sent_at    INTEGER
);
CREATE INDEX mail_queue_unsent ON mail_queue (sent_at, address);

-- When each address last got an email (the throttle).
CREATE TABLE mail_sent (
    address      TEXT PRIMARY KEY,
    last_sent_at INTEGER NOT NULL
);
