-- When a delivery still failing at mail.warn_after was reported (unix ms): once per delivery.
ALTER TABLE deliveries ADD COLUMN warned_at BIGINT;
