-- Template versions saved in the console; the newest row of a (locale, name) is the one that
-- serves. A NULL source withdraws the console version (the file serves again, or, for a
-- template made in the console, it is deleted). Rows are never changed, so this is the history.
CREATE TABLE template_versions (
    id       BIGSERIAL PRIMARY KEY,
    locale   TEXT NOT NULL,
    name     TEXT NOT NULL,
    source   TEXT,
    note     TEXT NOT NULL,
    saved_at BIGINT NOT NULL
);
CREATE INDEX template_versions_by_name ON template_versions (locale, name, id);
