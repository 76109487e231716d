-- An address gets failure reports only once its owner opened the link of a confirmation email
-- (docs/en/delivery.md, "Failure emails"): when that email went (unix ms), the keyed hash of its
-- one-time token, and when the link was opened.
ALTER TABLE mail_addresses ADD COLUMN confirm_sent_at INTEGER;
ALTER TABLE mail_addresses ADD COLUMN confirm_token TEXT;
ALTER TABLE mail_addresses ADD COLUMN confirmed_at INTEGER;
CREATE INDEX mail_addresses_confirm_token ON mail_addresses (confirm_token) WHERE confirm_token IS NOT NULL;
