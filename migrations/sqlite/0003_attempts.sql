-- Every attempt of a delivery, for the console and `torrow-hooks show`: when it ended, how, why.
CREATE TABLE attempts (
    delivery_id TEXT    NOT NULL,
    number      INTEGER NOT NULL,       -- 1, 2, … (deliveries.attempts after it)
    ended_at    INTEGER NOT NULL,       -- unix milliseconds
    outcome     TEXT    NOT NULL,       -- sent | retry | failed | dead
    error       TEXT,
    PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;

-- Retention deletes deliveries; their attempts go with them.
CREATE TRIGGER deliveries_drop_attempts AFTER DELETE ON deliveries
BEGIN
    DELETE FROM attempts WHERE delivery_id = OLD.id;
END;

-- The console lists recent deliveries, newest first, by state or all.
CREATE INDEX deliveries_recent ON deliveries (created_at);
