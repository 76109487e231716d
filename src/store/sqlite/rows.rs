//! One delivery row of the SQLite outbox: the columns read and how they become a [`Record`].

use sqlx::{sqlite::SqliteRow, Row};

use crate::store::{stored_text, Record, State};

pub(super) const COLUMNS: &str =
    "id, channel, query, recipient, text, summary, error_email, state, attempts, \
                       created_at, next_attempt_at, last_error, provider_id, unsure";

pub(super) fn record(row: &SqliteRow) -> Record {
    Record {
        id: row.get("id"),
        channel: row.get("channel"),
        query: row.get("query"),
        recipient: row.get("recipient"),
        text: row.get("text"),
        summary: row.get("summary"),
        error_email: row.get("error_email"),
        state: State::parse(row.get::<&str, _>("state")),
        attempts: row.get("attempts"),
        created_at: row.get("created_at"),
        next_attempt_at: row.get("next_attempt_at"),
        last_error: stored_text(row.get("last_error")),
        provider_id: row.get("provider_id"),
        unsure: row.get::<i64, _>("unsure") != 0,
    }
}

/// The same row as read on the writer's own connection (rusqlite).
pub(super) fn record_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        id: row.get("id")?,
        channel: row.get("channel")?,
        query: row.get("query")?,
        recipient: row.get("recipient")?,
        text: row.get("text")?,
        summary: row.get("summary")?,
        error_email: row.get("error_email")?,
        state: State::parse(&row.get::<_, String>("state")?),
        attempts: row.get("attempts")?,
        created_at: row.get("created_at")?,
        next_attempt_at: row.get("next_attempt_at")?,
        last_error: stored_text(row.get("last_error")?),
        provider_id: row.get("provider_id")?,
        unsure: row.get::<_, i64>("unsure")? != 0,
    })
}
