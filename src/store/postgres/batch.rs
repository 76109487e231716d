//! Group commit on PostgreSQL: the writes of the POST path (accepting a delivery, recording an
//! attempt) queue up for one writer task, which does whatever has queued in one transaction and
//! commits once. With default durability every commit waits for its WAL flush; one flush now
//! covers a whole batch instead of one POST.
//!
//! - The dedup keys of a batch are locked first, in one statement and in key order, so two
//!   instances' batches take them in the same order and never wait on each other in a cycle.
//!   Each accept then looks for the key and inserts in one statement: it sees the rows committed
//!   before the lock was granted, and those of its own batch.
//! - If a batch fails (a statement timeout, a lost connection, a deadlock all the same), each of
//!   its writes is tried again alone, so one bad write fails only itself.
//! - Nothing is answered before the commit: a POST answered Success is stored.

use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{record, COLUMNS};
use crate::i18n::Text;
use crate::store::{Accepted, NewDelivery, Outcome, StoreError, StoreResult};

/// Writes committed together, at most.
const MAX_BATCH: usize = 64;
/// Writers working at once: while one waits for its commit to reach the disk, the next batch
/// is written.
pub(super) const WRITERS: usize = 2;

pub(super) enum Write {
    Accept {
        new: Box<NewDelivery>,
        dedup_since: i64,
        now: i64,
        reply: oneshot::Sender<StoreResult<Accepted>>,
    },
    Finish {
        id: String,
        number: i64,
        outcome: Box<Outcome>,
        now: i64,
        reply: oneshot::Sender<StoreResult<()>>,
    },
}

impl Write {
    fn key(&self) -> (u8, &str) {
        match self {
            Write::Accept { new, .. } => (0, &new.dedup_key),
            Write::Finish { id, .. } => (1, id),
        }
    }
}

/// Queues the write `make` builds around its reply, and waits for its commit.
pub(super) async fn queue<T>(
    writes: &mpsc::Sender<Write>,
    make: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> Write,
) -> StoreResult<T> {
    let (reply, answer) = oneshot::channel();
    writes
        .send(make(reply))
        .await
        .map_err(|_| StoreError::WriterStopped)?;
    answer.await.map_err(|_| StoreError::WriterStopped)?
}

/// The queue of the writers; they stop when every sender is dropped.
pub(super) fn start(pool: PgPool, lease_ms: i64) -> mpsc::Sender<Write> {
    let (tx, rx) = mpsc::channel::<Write>(4 * MAX_BATCH);
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..WRITERS {
        let (pool, rx) = (pool.clone(), rx.clone());
        tokio::spawn(async move {
            loop {
                let batch = {
                    let mut rx = rx.lock().await;
                    let Some(first) = rx.recv().await else { return };
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(write) => batch.push(write),
                            Err(_) => break,
                        }
                    }
                    batch
                };
                commit(&pool, batch, lease_ms).await;
            }
        });
    }
    tx
}

/// One batch in one transaction, or each write alone when the batch fails. Every write may be
/// repeated (an accept knows its own id, an attempt's end its number), so a batch whose commit
/// did happen although the connection dropped before saying so is written again harmlessly.
async fn commit(pool: &PgPool, mut batch: Vec<Write>, lease_ms: i64) {
    batch.sort_by(|a, b| a.key().cmp(&b.key()));
    if batch.len() > 1 {
        match write_all(pool, &batch, lease_ms).await {
            Ok(done) => {
                answer(batch, done);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, writes = batch.len(), "a batch of outbox writes failed; each is tried alone");
            }
        }
    }
    for write in batch {
        let one = [write];
        let done = write_all(pool, &one, lease_ms)
            .await
            .unwrap_or_else(|e| vec![Done::Failed(e)]);
        answer(one.into_iter().collect(), done);
    }
}

/// What one write came to.
enum Done {
    Accepted(Box<Accepted>),
    Finished,
    Failed(StoreError),
}

fn answer(batch: Vec<Write>, done: Vec<Done>) {
    for (write, done) in batch.into_iter().zip(done) {
        match (write, done) {
            (Write::Accept { reply, .. }, Done::Accepted(a)) => drop(reply.send(Ok(*a))),
            (Write::Finish { reply, .. }, Done::Finished) => drop(reply.send(Ok(()))),
            (Write::Accept { reply, .. }, Done::Failed(e)) => drop(reply.send(Err(e))),
            (Write::Finish { reply, .. }, Done::Failed(e)) => drop(reply.send(Err(e))),
            (Write::Accept { reply, .. }, _) => drop(reply.send(Err(StoreError::WriterStopped))),
            (Write::Finish { reply, .. }, _) => drop(reply.send(Err(StoreError::WriterStopped))),
        }
    }
}

/// Every write of `batch` in one transaction; nothing is kept unless all succeed.
async fn write_all(pool: &PgPool, batch: &[Write], lease_ms: i64) -> StoreResult<Vec<Done>> {
    let mut tx = pool.begin().await?;
    let keys: Vec<&str> = batch
        .iter()
        .filter_map(|w| match w {
            Write::Accept { new, .. } => Some(new.dedup_key.as_str()),
            Write::Finish { .. } => None,
        })
        .collect();
    if !keys.is_empty() {
        // Two instances with the same POST wait for each other here, then the second sees the
        // first. In key order (the batch is sorted), so that batches never wait in a cycle.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) \
             FROM unnest($1::text[]) WITH ORDINALITY AS keys(k, n) ORDER BY n",
        )
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
    }
    let mut done = Vec::with_capacity(batch.len());
    for write in batch {
        done.push(match write {
            Write::Accept {
                new,
                dedup_since,
                now,
                ..
            } => Done::Accepted(Box::new(
                accept(&mut tx, new, *dedup_since, *now, lease_ms).await?,
            )),
            Write::Finish {
                id,
                number,
                outcome,
                now,
                ..
            } => {
                finish(&mut tx, id, *number, outcome, *now).await?;
                Done::Finished
            }
        });
    }
    tx.commit().await?;
    Ok(done)
}

/// The delivery of the same POST within the dedup window, or the new one: one statement.
async fn accept(
    tx: &mut Transaction<'_, Postgres>,
    new: &NewDelivery,
    dedup_since: i64,
    now: i64,
    lease_ms: i64,
) -> StoreResult<Accepted> {
    let sql = format!(
        "WITH earlier AS (SELECT {COLUMNS} FROM deliveries WHERE dedup_key = $4 AND created_at >= $12 \
                          ORDER BY created_at DESC LIMIT 1), \
              added AS (INSERT INTO deliveries (id, channel, query, dedup_key, recipient, text, \
                          summary, error_email, state, attempts, created_at, next_attempt_at, \
                          updated_at, last_error, locked_until) \
                        SELECT $1, $2, $3, $4, $5, $6, $7, $8, \
                          CASE WHEN $10::text IS NULL THEN 'sending' ELSE 'failed' END, 0, $9, $9, \
                          $9, $10, CASE WHEN $10::text IS NULL THEN $11::bigint END \
                        WHERE NOT EXISTS (SELECT 1 FROM earlier) RETURNING {COLUMNS}) \
         SELECT *, true AS added FROM added UNION ALL SELECT *, id = $1 AS added FROM earlier"
    );
    let row = sqlx::query(&sql)
        .bind(&new.id)
        .bind(&new.channel)
        .bind(&new.query)
        .bind(&new.dedup_key)
        .bind(&new.recipient)
        .bind(&new.text)
        .bind(&new.summary)
        .bind(&new.error_email)
        .bind(now)
        .bind(new.failed.as_ref().map(Text::to_stored))
        .bind(now + lease_ms)
        .bind(dedup_since)
        .fetch_one(&mut **tx)
        .await?;
    let record = record(&row);
    Ok(if row.get::<bool, _>("added") {
        Accepted::New(record)
    } else {
        Accepted::Duplicate(record)
    })
}

/// The end of attempt `number`: the delivery's new state and the attempt's row, in one
/// statement. Written twice (a batch tried again write by write after a commit whose outcome was
/// unknown), it counts once.
async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    id: &str,
    number: i64,
    outcome: &Outcome,
    now: i64,
) -> StoreResult<()> {
    let end = crate::store::finished(outcome, now);
    sqlx::query(
        "WITH updated AS (UPDATE deliveries SET state = $1, attempts = GREATEST(attempts, $9), \
           next_attempt_at = $2, updated_at = $3, last_error = COALESCE($4, last_error), \
           provider_id = COALESCE($5, provider_id), locked_until = NULL, purge_after = $6 \
           WHERE id = $7 RETURNING id) \
         INSERT INTO attempts (delivery_id, number, ended_at, outcome, error) \
         SELECT id, $9, $3, $8, $4 FROM updated \
         ON CONFLICT (delivery_id, number) DO UPDATE SET ended_at = excluded.ended_at, \
         outcome = excluded.outcome, error = excluded.error",
    )
    .bind(end.state.as_str())
    .bind(end.next)
    .bind(now)
    .bind(end.error.as_deref())
    .bind(end.provider_id.as_deref())
    .bind(end.purge_after)
    .bind(id)
    .bind(end.how)
    .bind(number)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
