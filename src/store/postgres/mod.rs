//! The PostgreSQL implementation of [`Store`]: one outbox shared by several instances.
//!
//! - Accepting takes an advisory lock on the dedup key: the same POST sent to two instances at
//!   once is stored once, and both answer its DeliveryId. Accepts and attempts' ends are
//!   committed in groups ([`batch`]): one WAL flush for whatever queued up.
//! - A worker claims due rows with `FOR UPDATE SKIP LOCKED` and holds them (`locked_until`) for
//!   `delivery.lease`; a row whose instance died is taken again once that has passed. No
//!   instance sends a row another holds.
//! - A failure digest is mailed by the instance that claims its address (`claimed_until`).
//! - Retention deletes in small batches; several instances running it only share the work.

mod batch;
mod mail_queue;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
    PgPool, Row,
};

use super::{
    stored_text, Accepted, Attempt, NewDelivery, Outcome, Purged, Record, Shared, State,
    StorageFault, Store, StoreError, StoreResult, Usage,
};

const HOUR_MS: i64 = 3_600_000;
const COLUMNS: &str =
    "id, channel, query, recipient, text, summary, error_email, state, attempts, \
                       created_at, next_attempt_at, last_error, provider_id, unsure";
/// The advisory lock that lets new failure-report addresses in one at a time (the hourly quota).
const ADMISSION_LOCK: i64 = 0x746f_7272_6f77;

/// How the pool and its statements behave (from `[delivery]`).
#[derive(Debug, Clone, Copy)]
pub struct PgOptions {
    pub pool_size: u32,
    pub statement_timeout: Duration,
    pub lease: Duration,
}

pub struct PgStore {
    pool: PgPool,
    lease_ms: i64,
    /// The group-commit writers of the POST path ([`batch`]).
    writes: tokio::sync::mpsc::Sender<batch::Write>,
}

impl PgStore {
    /// The pool (async as SQLite's, so that statements shared by both read alike).
    pub(crate) async fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Connects and runs the migrations (start-up needs the database). Later, while the
    /// database is unreachable, every use fails at once (POSTs answer 503) and the pool
    /// reconnects by itself when it is back.
    pub async fn connect(url: &str, options: PgOptions) -> StoreResult<PgStore> {
        let connect: PgConnectOptions = url.parse()?;
        let timeout = format!("{}", options.statement_timeout.as_millis());
        let connect = connect.options([
            ("statement_timeout", timeout.as_str()),
            ("lock_timeout", timeout.as_str()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size)
            // While the database is down a POST is answered 503 within this, not left hanging.
            .acquire_timeout(Duration::from_secs(3))
            // A connection that broke while the database restarted is noticed and replaced.
            .test_before_acquire(true)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate {
                path: "postgres".into(),
                source: std::sync::Arc::new(e),
            })?;
        let lease_ms = options.lease.as_millis() as i64;
        Ok(PgStore {
            writes: batch::start(pool.clone(), lease_ms).map_err(sqlx::Error::Io)?,
            pool,
            lease_ms,
        })
    }

    /// For tests: these accepts (`new`, `dedup_since`, `now`) and attempts' ends (`id`,
    /// `number`, outcome, `now`) written as one batch of the group commit, as the writers would
    /// if they had queued together. The answers are in their order.
    #[doc(hidden)]
    pub async fn write_as_one_batch(
        &self,
        accepts: Vec<(NewDelivery, i64, i64)>,
        finishes: Vec<(String, i64, Outcome, i64)>,
    ) -> (Vec<StoreResult<Accepted>>, Vec<StoreResult<()>>) {
        let accepts = accepts
            .into_iter()
            .map(|(new, dedup_since, now)| batch::Accept {
                new: Box::new(new),
                dedup_since,
                now,
            });
        let finishes = finishes
            .into_iter()
            .map(|(id, number, outcome, now)| batch::Finish {
                id,
                number,
                outcome: Box::new(outcome),
                now,
            });
        batch::one_batch(&self.pool, self.lease_ms, accepts, finishes).await
    }

    /// For tests: the plan a writer's connection makes of the statement that records a batch's
    /// attempts' ends, as `EXPLAIN` prints it.
    #[doc(hidden)]
    pub async fn plan_of_the_attempts_ends(&self) -> StoreResult<String> {
        batch::plan_of_the_ends(&self.pool).await
    }
}

fn record(row: &PgRow) -> Record {
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

#[async_trait]
impl Store for PgStore {
    async fn accept(&self, new: NewDelivery, dedup_since: i64, now: i64) -> StoreResult<Accepted> {
        let accept = batch::Accept {
            new: Box::new(new),
            dedup_since,
            now,
        };
        batch::queue(&self.writes, |reply| batch::Write::Accept(accept, reply)).await
    }

    async fn claim_due(&self, now: i64, limit: i64) -> StoreResult<Vec<Record>> {
        let sql = format!(
            // A row taken over from an instance that held it (and died) was mid-send: unsure.
            "UPDATE deliveries SET state = 'sending', updated_at = $1, locked_until = $3, \
             unsure = CASE WHEN state = 'sending' THEN 1 ELSE unsure END WHERE id IN (SELECT id FROM deliveries \
               WHERE (state = 'pending' AND next_attempt_at <= $1) \
                  OR (state = 'sending' AND locked_until < $1) \
               ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(limit)
            .bind(now + self.lease_ms)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(record).collect())
    }

    async fn next_due(&self) -> StoreResult<Option<i64>> {
        // Pending rows when due; rows held by an instance when their lease runs out.
        let row = sqlx::query(
            "SELECT LEAST((SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'), \
                          (SELECT MIN(locked_until) FROM deliveries WHERE state = 'sending'))",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get::<Option<i64>, _>(0))
    }

    async fn finish_attempt(
        &self,
        id: &str,
        number: i64,
        outcome: &Outcome,
        now: i64,
    ) -> StoreResult<()> {
        let finish = batch::Finish {
            id: id.to_string(),
            number,
            outcome: Box::new(outcome.clone()),
            now,
        };
        batch::queue(&self.writes, |reply| batch::Write::Finish(finish, reply)).await
    }

    /// Nothing to do at start: other instances may be sending right now. A row left `sending`
    /// by a stopped or dead instance is taken again when its lease runs out.
    async fn requeue_interrupted(&self, _now: i64) -> StoreResult<u64> {
        Ok(0)
    }

    async fn get(&self, id: &str) -> StoreResult<Option<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM deliveries WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(record))
    }

    async fn replay(&self, id: Option<&str>, now: i64) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, created_at = $1, \
             updated_at = $1, unsure = 0 WHERE ($2::text IS NULL AND state = 'dead') \
             OR (id = $2 AND state IN ('dead', 'failed', 'unknown')) RETURNING id",
        )
        .bind(now)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    async fn count_pending(&self) -> StoreResult<i64> {
        Shared(&self.pool).count_pending().await
    }

    async fn claim_warning(&self, id: &str, now: i64) -> StoreResult<bool> {
        Shared(&self.pool).claim_warning(id, now).await
    }

    async fn recent(&self, state: Option<State>, limit: i64) -> StoreResult<Vec<Record>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM deliveries WHERE $1::text IS NULL OR state = $1 \
             ORDER BY created_at DESC, id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(state.map(State::as_str))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(record).collect())
    }

    async fn attempts(&self, id: &str) -> StoreResult<Vec<Attempt>> {
        let rows = sqlx::query(
            "SELECT number, ended_at, outcome, error FROM attempts WHERE delivery_id = $1 \
             ORDER BY number",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| Attempt {
                number: row.get("number"),
                ended_at: row.get("ended_at"),
                outcome: row.get("outcome"),
                error: stored_text(row.get("error")),
            })
            .collect())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn probe(&self, now: i64) -> StoreResult<()> {
        Shared(&self.pool).probe(now).await
    }

    /// The server reports its own troubles: every use fails while it has them.
    async fn fault(&self) -> Option<StorageFault> {
        None
    }

    async fn usage(&self) -> StoreResult<Usage> {
        let row = sqlx::query(
            "SELECT pg_total_relation_size('deliveries') + pg_total_relation_size('attempts') \
             + pg_total_relation_size('mail_queue')",
        )
        .fetch_one(&self.pool)
        .await?;
        let (unvouched_deliveries, unvouched_bytes) = Shared(&self.pool).unvouched().await?;
        Ok(Usage {
            size_bytes: row.get::<i64, _>(0).max(0) as u64,
            free_bytes: None,
            unvouched_deliveries,
            unvouched_bytes,
        })
    }

    async fn purge(
        &self,
        now: i64,
        finished_before: i64,
        mailed_before: i64,
        addresses_before: i64,
        batch: i64,
    ) -> StoreResult<Purged> {
        // SKIP LOCKED: instances purging at the same time take different rows.
        let deliveries = sqlx::query(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
             WHERE (state IN ('sent', 'failed', 'dead', 'unknown') AND next_attempt_at < $1) \
             OR purge_after < $3 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(finished_before)
        .bind(batch)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let reports = sqlx::query(
            "DELETE FROM mail_queue WHERE id IN (SELECT id FROM mail_queue \
             WHERE sent_at IS NOT NULL AND sent_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(mailed_before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let addresses = sqlx::query(
            "DELETE FROM mail_addresses WHERE address IN (SELECT a.address FROM mail_addresses a \
             WHERE COALESCE(a.last_sent_at, a.admitted_at) < $1 AND a.admitted_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM mail_queue q WHERE q.sent_at IS NULL AND q.address = a.address) \
             LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(addresses_before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        // Reports held for an address that never confirmed go after retention too.
        let held = Shared(&self.pool).purge_held(mailed_before, batch).await?;
        Ok(Purged {
            deliveries,
            reports: reports + held,
            addresses,
        })
    }
}
