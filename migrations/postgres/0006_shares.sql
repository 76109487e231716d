-- Who may fill the outbox: a delivery of a hook whose credentials no provider has accepted (or
-- that has none of its own) is `unvouched`; together they hold at most delivery.unvouched_share
-- of the caps. `size` is the row's bytes, summed over the unvouched ones (docs/en/delivery.md,
-- "Who may fill the outbox").
ALTER TABLE deliveries ADD COLUMN unvouched BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deliveries_unvouched ON deliveries (size) WHERE unvouched = 1;
