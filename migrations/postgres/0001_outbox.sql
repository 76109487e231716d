-- The outbox on PostgreSQL, shared by every instance. Times are unix milliseconds.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    channel         TEXT    NOT NULL,
    query           TEXT    NOT NULL,   -- the channel's route (holds its credentials)
    dedup_key       TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    summary         TEXT    NOT NULL,
    error_email     TEXT,
    state           TEXT    NOT NULL,   -- pending | sending | sent | failed | dead
    attempts        BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    last_error      TEXT,
    provider_id     TEXT,
    -- While `sending`: the instance attempting it holds it until then; after, any may retake it.
    locked_until    BIGINT
);
CREATE INDEX deliveries_dedup ON deliveries (dedup_key, created_at);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_recent ON deliveries (created_at);

CREATE TABLE attempts (
    delivery_id TEXT   NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number      BIGINT NOT NULL,
    ended_at    BIGINT NOT NULL,
    outcome     TEXT   NOT NULL,
    error       TEXT,
    PRIMARY KEY (delivery_id, number)
);

CREATE TABLE mail_queue (
    id         BIGSERIAL PRIMARY KEY,
    address    TEXT   NOT NULL,
    report     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at    BIGINT
);
CREATE INDEX mail_queue_unsent ON mail_queue (sent_at, address);

CREATE TABLE mail_addresses (
    address       TEXT PRIMARY KEY,
    admitted_at   BIGINT NOT NULL,
    last_sent_at  BIGINT,
    claimed_until BIGINT
);
CREATE INDEX mail_addresses_admitted ON mail_addresses (admitted_at);
