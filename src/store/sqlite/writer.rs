//! Group commit for the writes of the POST path (accepting a delivery, recording an attempt).
//!
//! Every such write goes to one task. It takes whatever is queued (up to [`MAX_BATCH`]) and, when
//! there are several, runs them in one `BEGIN IMMEDIATE … COMMIT`: one commit (and, with
//! `delivery.fsync`, one wait for the disk) for the whole batch, and these writers never wait on
//! SQLite's lock. Nothing waits to be grouped: a batch is whatever queued up while the previous
//! one ran, and a few writes are simply committed one by one. No caller is answered before the
//! commit that holds its write has succeeded.

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

use sqlx::{sqlite::SqliteRow, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::rows::{record, COLUMNS};
use crate::store::{Accepted, NewDelivery, Outcome, StoreError, StoreResult};

/// How often the write-ahead log is checkpointed.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Pages in the write-ahead log (4 KiB each) past which it is started over: 16 MiB.
const WAL_RESTART_PAGES: i64 = 4096;

/// The most writes in one transaction.
const MAX_BATCH: usize = 128;

enum Op {
    Accept {
        new: NewDelivery,
        dedup_since: i64,
        now: i64,
        reply: oneshot::Sender<StoreResult<Accepted>>,
    },
    Finish {
        id: String,
        outcome: Outcome,
        now: i64,
        reply: oneshot::Sender<StoreResult<()>>,
    },
}

/// The result of one write, held until its transaction commits.
enum Done {
    Accept(
        oneshot::Sender<StoreResult<Accepted>>,
        Box<StoreResult<Accepted>>,
    ),
    Finish(oneshot::Sender<StoreResult<()>>, StoreResult<()>),
}

impl Done {
    fn reply(self, commit: &StoreResult<()>) {
        // A failed commit rolled everything back: every write of the batch failed with it.
        let failed = |e: &StoreError| StoreError::Commit(Box::new(e.clone()));
        match (self, commit) {
            (Done::Accept(to, result), Ok(())) => drop(to.send(*result)),
            (Done::Accept(to, _), Err(e)) => drop(to.send(Err(failed(e)))),
            (Done::Finish(to, result), Ok(())) => drop(to.send(result)),
            (Done::Finish(to, _), Err(e)) => drop(to.send(Err(failed(e)))),
        }
    }
}

#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Op>,
}

impl Writer {
    /// Starts the writer task; it ends when the last `Writer` is dropped. With `fsync` every
    /// commit waits for the disk, so even two writes are worth grouping.
    pub(super) fn start(pool: SqlitePool, fsync: bool) -> Writer {
        let (queue, ops) = mpsc::channel(4 * MAX_BATCH);
        let wal_pages = Arc::new(AtomicI64::new(0));
        tokio::spawn(checkpoints(pool.clone(), wal_pages.clone()));
        tokio::spawn(run(pool, fsync, ops, wal_pages));
        Writer { queue }
    }

    pub(super) async fn accept(
        &self,
        new: NewDelivery,
        dedup_since: i64,
        now: i64,
    ) -> StoreResult<Accepted> {
        let (reply, answer) = oneshot::channel();
        self.submit(Op::Accept {
            new,
            dedup_since,
            now,
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    pub(super) async fn finish(&self, id: &str, outcome: &Outcome, now: i64) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        let (id, outcome) = (id.to_string(), outcome.clone());
        self.submit(Op::Finish {
            id,
            outcome,
            now,
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    async fn submit(&self, op: Op) -> StoreResult<()> {
        self.queue.send(op).await.map_err(|_| stopped())
    }
}

/// Copies the write-ahead log into the database file every [`CHECKPOINT_EVERY`], on a connection of
/// its own and without blocking writers (`PASSIVE`). SQLite's automatic checkpoint (turned off in
/// `SqliteStore::open`) would run inside the writer's commit and hold up every queued write.
///
/// A passive checkpoint never shrinks the file, and under steady load the log is rarely free to
/// start over, so it would grow without bound (700 MB in 20 s of loadgen). So the writer task
/// itself starts it over between two batches once it passes [`WAL_RESTART_PAGES`] (queued writes
/// wait in the queue, not in SQLite's busy-sleep; see [`restart_if_large`]), and this task
/// truncates it to nothing when the service is idle (the log did not grow since the last tick).
async fn checkpoints(pool: SqlitePool, wal_pages: Arc<AtomicI64>) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_log = 0;
    loop {
        every.tick().await;
        if pool.is_closed() {
            return;
        }
        let log = match checkpoint(&pool, "PASSIVE").await {
            Ok(log) => log,
            Err(e) => {
                tracing::warn!(error = %e, "cannot checkpoint the outbox");
                continue;
            }
        };
        wal_pages.store(log, Ordering::Relaxed);
        let idle = log > 0 && log == last_log;
        last_log = log;
        if idle {
            match checkpoint(&pool, "TRUNCATE").await {
                Ok(_) => last_log = 0,
                Err(e) => tracing::warn!(error = %e, "cannot truncate the outbox log"),
            }
        }
    }
}

/// Starts the log over on the writer's connection when the last passive checkpoint saw it large:
/// `RESTART` copies what is left into the database file and makes the next write begin the log
/// anew, and `journal_size_limit` (16 MiB) then cuts the file back. Without `delivery.fsync` the
/// checkpoint does not wait for the disk (`synchronous = OFF` for its duration: the promise is to
/// survive a crash of the process, which the page cache does); that makes it 1–5 ms instead of
/// 50 ms on the test machine, and the write path pauses for no longer.
async fn restart_if_large(conn: &mut SqliteConnection, wal_pages: &AtomicI64, fsync: bool) {
    if wal_pages.load(Ordering::Relaxed) < WAL_RESTART_PAGES {
        return;
    }
    wal_pages.store(0, Ordering::Relaxed);
    let started = std::time::Instant::now();
    if !fsync {
        let _ = sqlx::query("PRAGMA synchronous = OFF")
            .execute(&mut *conn)
            .await;
    }
    let done = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
        .fetch_one(&mut *conn)
        .await;
    if !fsync {
        let _ = sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await;
    }
    match done {
        Ok(row) => tracing::debug!(
            busy = sqlx::Row::try_get::<i64, _>(&row, 0).unwrap_or(-1),
            pages = sqlx::Row::try_get::<i64, _>(&row, 1).unwrap_or(-1),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "outbox log restarted"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot restart the outbox log"),
    }
}

/// Runs a checkpoint; returns the pages in the log before it (-1 when SQLite does not say).
async fn checkpoint(pool: &SqlitePool, mode: &str) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(pool)
        .await?;
    Ok(sqlx::Row::try_get::<i64, _>(&row, 1).unwrap_or(-1))
}

fn stopped() -> StoreError {
    StoreError::WriterStopped
}

async fn run(
    pool: SqlitePool,
    fsync: bool,
    mut ops: mpsc::Receiver<Op>,
    wal_pages: Arc<AtomicI64>,
) {
    // With fsync every commit waits for the disk, so even two writes are worth grouping.
    let group_from = if fsync { 2 } else { 4 };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while ops.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                let e = StoreError::from(e);
                batch
                    .drain(..)
                    .for_each(|op| op_done(op, &e).reply(&Ok(())));
                continue;
            }
        };
        if batch.len() < group_from {
            // BEGIN and COMMIT cost two more round trips to SQLite's thread; for a few writes
            // without fsync, committing each is cheaper.
            for op in batch.drain(..) {
                apply(&mut conn, op).await.reply(&Ok(()));
            }
            restart_if_large(&mut conn, &wal_pages, fsync).await;
            continue;
        }
        let begun = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await;
        if let Err(e) = begun {
            let e = StoreError::from(e);
            batch
                .drain(..)
                .for_each(|op| op_done(op, &e).reply(&Ok(())));
            continue;
        }
        let mut done = Vec::with_capacity(batch.len());
        for op in batch.drain(..) {
            done.push(apply(&mut conn, op).await);
        }
        let commit = match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                // Leave the connection clean for the pool; SQLite may already have rolled back.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(StoreError::from(e))
            }
        };
        if let Err(e) = &commit {
            tracing::error!(error = %e, writes = done.len(), "cannot commit a batch of outbox writes");
        }
        done.into_iter().for_each(|d| d.reply(&commit));
        restart_if_large(&mut conn, &wal_pages, fsync).await;
    }
}

/// An op that could not be tried at all, answered with `error`.
fn op_done(op: Op, error: &StoreError) -> Done {
    let e = || error.clone();
    match op {
        Op::Accept { reply, .. } => Done::Accept(reply, Box::new(Err(e()))),
        Op::Finish { reply, .. } => Done::Finish(reply, Err(e())),
    }
}

async fn apply(conn: &mut SqliteConnection, op: Op) -> Done {
    match op {
        Op::Accept {
            new,
            dedup_since,
            now,
            reply,
        } => Done::Accept(reply, Box::new(accept(conn, &new, dedup_since, now).await)),
        Op::Finish {
            id,
            outcome,
            now,
            reply,
        } => Done::Finish(reply, finish(conn, &id, &outcome, now).await),
    }
}

async fn accept(
    conn: &mut SqliteConnection,
    new: &NewDelivery,
    dedup_since: i64,
    now: i64,
) -> StoreResult<Accepted> {
    // One statement: SQLite holds the write lock while it runs the NOT EXISTS, so two identical
    // POSTs cannot both be stored (and within a batch the later one sees the earlier).
    let sql = format!(
        "INSERT INTO deliveries (id, channel, query, dedup_key, recipient, text, summary, error_email, \
         state, attempts, created_at, next_attempt_at, updated_at, last_error) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?11 IS NULL THEN 'sending' ELSE 'failed' END, \
         0, ?9, ?9, ?9, ?11 \
         WHERE NOT EXISTS (SELECT 1 FROM deliveries WHERE dedup_key = ?4 AND created_at >= ?10) \
         RETURNING {COLUMNS}"
    );
    let inserted: Option<SqliteRow> = sqlx::query(&sql)
        .bind(&new.id)
        .bind(&new.channel)
        .bind(&new.query)
        .bind(&new.dedup_key)
        .bind(&new.recipient)
        .bind(&new.text)
        .bind(&new.summary)
        .bind(&new.error_email)
        .bind(now)
        .bind(dedup_since)
        .bind(&new.failed)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = inserted {
        return Ok(Accepted::New(record(&row)));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM deliveries WHERE dedup_key = ? AND created_at >= ? \
         ORDER BY created_at DESC LIMIT 1"
    );
    let row = sqlx::query(&sql)
        .bind(&new.dedup_key)
        .bind(dedup_since)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Accepted::Duplicate(record(&row)))
}

async fn finish(
    conn: &mut SqliteConnection,
    id: &str,
    outcome: &Outcome,
    now: i64,
) -> StoreResult<()> {
    let (state, next, error, provider, how) = crate::store::finished(outcome, now);
    sqlx::query(
        "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?, updated_at = ?, \
         last_error = COALESCE(?, last_error), provider_id = COALESCE(?, provider_id) WHERE id = ?",
    )
    .bind(state.as_str())
    .bind(next)
    .bind(now)
    .bind(error.as_deref())
    .bind(provider)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT OR REPLACE INTO attempts (delivery_id, number, ended_at, outcome, error) \
         SELECT id, attempts, ?, ?, ? FROM deliveries WHERE id = ?",
    )
    .bind(now)
    .bind(how)
    .bind(error.as_deref())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::store::{Accepted, NewDelivery, Outcome, SqliteStore, State, Store};

    fn new(i: usize, key: &str) -> NewDelivery {
        NewDelivery {
            id: format!("d{i}"),
            channel: "log".into(),
            query: String::new(),
            dedup_key: key.into(),
            recipient: "79119998877".into(),
            text: format!("text {i}"),
            summary: "{}".into(),
            error_email: None,
            failed: None,
        }
    }

    #[tokio::test]
    async fn concurrent_writes_all_commit_and_dedup_holds_within_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.sqlite");
        let store = Arc::new(SqliteStore::open(&path, false).await.unwrap());
        // 40 different deliveries and 40 copies of one more, all queued at the same moment.
        let accepts = (0..80).map(|i| {
            let store = store.clone();
            let key = if i < 40 {
                format!("k{i}")
            } else {
                "same".into()
            };
            tokio::spawn(async move { store.accept(new(i, &key), 0, 1_000).await.unwrap() })
        });
        let mut new_ids = Vec::new();
        let mut duplicate_of = Vec::new();
        for accepted in futures_util::future::join_all(accepts).await {
            match accepted.unwrap() {
                Accepted::New(r) => new_ids.push(r.id),
                Accepted::Duplicate(r) => duplicate_of.push(r.id),
            }
        }
        assert_eq!(new_ids.len(), 41, "{new_ids:?}");
        assert_eq!(duplicate_of.len(), 39);
        assert!(duplicate_of.iter().all(|id| new_ids.contains(id)));
        assert!(duplicate_of.iter().all(|id| *id == duplicate_of[0]));

        let finishes = new_ids.iter().map(|id| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move {
                let sent = Outcome::Sent {
                    provider_id: Some(format!("p-{id}")),
                };
                store.finish_attempt(&id, &sent, 2_000).await.unwrap()
            })
        });
        futures_util::future::join_all(finishes).await;
        // A second connection to the file sees every write: they were committed.
        drop(store);
        let other = SqliteStore::open(&path, false).await.unwrap();
        for id in &new_ids {
            let record = other.get(id).await.unwrap().unwrap();
            assert_eq!(record.state, State::Sent, "{id}");
            assert_eq!(record.provider_id.as_deref(), Some(&*format!("p-{id}")));
            assert_eq!(record.attempts, 1);
            let attempts = other.attempts(id).await.unwrap();
            assert_eq!(attempts.len(), 1, "{id}");
            assert_eq!((attempts[0].number, attempts[0].ended_at), (1, 2_000));
            assert_eq!(attempts[0].outcome, "sent");
        }
        let recent = other.recent(Some(State::Sent), 5).await.unwrap();
        assert_eq!(recent.len(), 5);
        assert!(other.recent(Some(State::Dead), 5).await.unwrap().is_empty());
    }
}
