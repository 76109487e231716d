-- Failure-report addresses are kept normalized (trimmed, lower-case), and each knows when it was
-- first let in (the hourly quota of new addresses) and when it was last mailed (the throttle).
UPDATE mail_queue SET address = lower(trim(address));

CREATE TABLE mail_addresses (
    address      TEXT PRIMARY KEY,
    admitted_at  INTEGER NOT NULL,      -- unix milliseconds: first report queued
    last_sent_at INTEGER                -- unix milliseconds: last email sent; NULL before the first
);
CREATE INDEX mail_addresses_admitted ON mail_addresses (admitted_at);

INSERT INTO mail_addresses (address, admitted_at, last_sent_at)
    SELECT lower(trim(address)), MAX(last_sent_at), MAX(last_sent_at) FROM mail_sent
    GROUP BY lower(trim(address));
INSERT OR IGNORE INTO mail_addresses (address, admitted_at, last_sent_at)
    SELECT address, MIN(created_at), NULL FROM mail_queue WHERE sent_at IS NULL GROUP BY address;

DROP TABLE mail_sent;
