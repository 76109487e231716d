//! The SQLite implementation of [`Store`] (WAL; `synchronous=FULL` when `delivery.fsync`).

use std::{path::Path, str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
    Row, SqlitePool,
};

use super::writer::Writer;
use super::{
    Accepted, NewDelivery, Outcome, QueuedMail, Record, State, Store, StoreError, StoreResult,
};

pub struct SqliteStore {
    pool: SqlitePool,
    /// Group commit for the writes of the POST path.
    writer: Writer,
}

pub(super) const COLUMNS: &str =
    "id, channel, query, recipient, text, summary, error_email, state, attempts, \
                       created_at, last_error, provider_id";

impl SqliteStore {
    pub async fn open(path: &Path, fsync: bool) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", parent.display())))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if fsync {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(10))
            // Checkpoints run in the background (store/writer.rs), not inside a commit.
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", "67108864");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError(format!("migrating {}: {e}", path.display())))?;
        let writer = Writer::start(pool.clone(), fsync);
        Ok(SqliteStore { pool, writer })
    }
}

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
        last_error: row.get("last_error"),
        provider_id: row.get("provider_id"),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn accept(&self, new: NewDelivery, dedup_since: i64, now: i64) -> StoreResult<Accepted> {
        self.writer.accept(new, dedup_since, now).await
    }

    async fn claim_due(&self, now: i64, limit: i64) -> StoreResult<Vec<Record>> {
        let sql = format!(
            "UPDATE deliveries SET state = 'sending', updated_at = ?1 WHERE id IN \
             (SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?1 \
              ORDER BY next_attempt_at LIMIT ?2) RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(record).collect())
    }

    async fn next_due(&self) -> StoreResult<Option<i64>> {
        let row =
            sqlx::query("SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.get::<Option<i64>, _>(0))
    }

    async fn finish_attempt(&self, id: &str, outcome: &Outcome, now: i64) -> StoreResult<()> {
        self.writer.finish(id, outcome, now).await
    }

    async fn requeue_interrupted(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ? WHERE state = 'sending'",
        )
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn get(&self, id: &str) -> StoreResult<Option<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM deliveries WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(record))
    }

    async fn replay(&self, id: Option<&str>, now: i64) -> StoreResult<Vec<String>> {
        let rows = match id {
            Some(id) => {
                sqlx::query(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?1, created_at = ?1, updated_at = ?1 \
                     WHERE id = ?2 AND state IN ('dead', 'failed') RETURNING id",
                )
                .bind(now)
                .bind(id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?1, created_at = ?1, updated_at = ?1 \
                     WHERE state = 'dead' RETURNING id",
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    async fn count_pending(&self) -> StoreResult<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'sending')")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.get(0))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn enqueue_mail(&self, address: &str, report: &str, now: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO mail_queue (address, report, created_at) VALUES (?, ?, ?)")
            .bind(address)
            .bind(report)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn unsent_mail(&self) -> StoreResult<Vec<QueuedMail>> {
        let rows = sqlx::query(
            "SELECT id, address, report, created_at FROM mail_queue WHERE sent_at IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| QueuedMail {
                id: r.get("id"),
                address: r.get("address"),
                report: r.get("report"),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    async fn last_mailed(&self, address: &str) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT last_sent_at FROM mail_sent WHERE address = ?")
            .bind(address)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn mark_mailed(&self, address: &str, ids: &[i64], now: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query("UPDATE mail_queue SET sent_at = ? WHERE id = ?")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO mail_sent (address, last_sent_at) VALUES (?, ?) \
             ON CONFLICT(address) DO UPDATE SET last_sent_at = excluded.last_sent_at",
        )
        .bind(address)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
