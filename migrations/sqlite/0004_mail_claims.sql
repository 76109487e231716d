-- The instance mailing an address holds it until this time (unix ms), so a digest goes out once.
ALTER TABLE mail_addresses ADD COLUMN claimed_until INTEGER;
