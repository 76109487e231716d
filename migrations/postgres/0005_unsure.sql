-- 1 while nobody knows whether the delivery's last send went out: it got no answer, or the
-- instance stopped during it. The provider is asked (or the operator decides) before it is sent
-- again (docs/en/delivery.md, "No answer").
ALTER TABLE deliveries ADD COLUMN unsure BIGINT NOT NULL DEFAULT 0;
