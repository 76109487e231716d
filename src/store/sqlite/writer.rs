//! Group commit for the writes of the POST path (accepting a delivery, recording an attempt).
//!
//! Every such write goes to one thread that owns its own SQLite connection (rusqlite, prepared
//! statements cached). It takes whatever is queued (up to [`MAX_BATCH`]) in one hand-off and runs
//! it in one `BEGIN IMMEDIATE … COMMIT`: one commit (and, with `delivery.fsync`, one wait for the
//! disk) for the whole batch, and these writers never wait on SQLite's lock. Nothing waits to be
//! grouped: a batch is whatever queued up while the previous one ran. No caller is answered
//! before the commit that holds its write has succeeded. Reads go through sqlx's pool on other
//! connections and never queue behind these writes (WAL).

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

use rusqlite::{Connection, TransactionBehavior};
use sqlx::SqlitePool;

/// The pool of the outbox's reads, swapped for one on the written-back file ([`write_back`]).
pub(super) type Shared = Arc<tokio::sync::RwLock<SqlitePool>>;
use tokio::sync::{mpsc, oneshot};

use super::file_watch::FileWatch;
use super::rows::{record_of, COLUMNS};
use crate::i18n::Text;
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
        number: i64,
        outcome: Outcome,
        now: i64,
        reply: oneshot::Sender<StoreResult<()>>,
    },
    /// The heartbeat write of `/readyz` and of the recovery check.
    Probe {
        now: i64,
        reply: oneshot::Sender<StoreResult<()>>,
    },
    /// The file was removed while open: write the open database back to its path, and go on
    /// with the file written there ([`write_back`]).
    WriteBack {
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
    /// The write's own error, if it failed before the commit.
    fn error(&self) -> Option<&StoreError> {
        match self {
            Done::Accept(_, result) => result.as_ref().as_ref().err(),
            Done::Finish(_, result) => result.as_ref().err(),
        }
    }

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
    /// Why a batch could not be written for lack of space or permission; cleared only by a
    /// heartbeat write that commits ([`Writer::probe`]): a write that happens to fit in the log
    /// proves less than the one made to see whether the disk has room again.
    pub(super) fault: Arc<std::sync::Mutex<Option<Text>>>,
}

impl Writer {
    /// Opens the writer's own connection to `path` (already created and migrated) and starts its
    /// thread; it ends when the last `Writer` is dropped. `pool` runs the background checkpoints.
    pub(super) fn start(
        pool: Shared,
        path: &std::path::Path,
        fsync: bool,
        watch: Arc<FileWatch>,
    ) -> StoreResult<Writer> {
        let conn = open(path, fsync)?;
        let (queue, ops) = mpsc::channel(4 * MAX_BATCH);
        let wal_pages = Arc::new(AtomicI64::new(0));
        let fault = Arc::new(std::sync::Mutex::new(None));
        tokio::spawn(checkpoints(pool, wal_pages.clone(), watch.clone()));
        let thread_fault = fault.clone();
        let thread_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || {
                let place = Place {
                    path: thread_path,
                    fsync,
                };
                run(conn, place, ops, wal_pages, thread_fault, watch)
            })
            .map_err(|e| StoreError::File {
                path: path.to_path_buf(),
                source: Arc::new(e),
            })?;
        Ok(Writer { queue, fault })
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

    pub(super) async fn finish(
        &self,
        id: &str,
        number: i64,
        outcome: &Outcome,
        now: i64,
    ) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        let (id, outcome) = (id.to_string(), outcome.clone());
        self.submit(Op::Finish {
            id,
            number,
            outcome,
            now,
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    pub(super) async fn probe(&self, now: i64) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.submit(Op::Probe { now, reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Writes the open database back to its removed path, after every write queued before.
    pub(super) async fn write_back(&self) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.submit(Op::WriteBack { reply }).await?;
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
///
/// A checkpoint is the only thing that writes the database file itself, and it would grow a
/// truncated file back to its size: the file is looked at before each one, and a file found cut
/// short (or replaced) is not written again.
async fn checkpoints(pool: Shared, wal_pages: Arc<AtomicI64>, watch: Arc<FileWatch>) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_log = 0;
    loop {
        every.tick().await;
        let pool = pool.read().await;
        if pool.is_closed() {
            return;
        }
        if !watch.may_write_file() {
            continue;
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
fn restart_if_large(conn: &Connection, wal_pages: &AtomicI64, fsync: bool, watch: &FileWatch) {
    if wal_pages.load(Ordering::Relaxed) < WAL_RESTART_PAGES || !watch.may_write_file() {
        return;
    }
    wal_pages.store(0, Ordering::Relaxed);
    let started = std::time::Instant::now();
    if !fsync {
        let _ = conn.pragma_update(None, "synchronous", "OFF");
    }
    let done = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
    });
    if !fsync {
        let _ = conn.pragma_update(None, "synchronous", "NORMAL");
    }
    match done {
        Ok((busy, pages)) => tracing::debug!(
            busy,
            pages,
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

/// The writer's own connection to `path`, set up for the POST path's writes.
fn open(path: &std::path::Path, fsync: bool) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
    // Checkpoints run in the background, not inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", 16_777_216)?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

/// Where the writer's database lives, and how it commits.
struct Place {
    path: std::path::PathBuf,
    fsync: bool,
}

/// Writes the database `conn` holds open back to `place.path` (its file was removed: a cleanup
/// script, a mistaken `rm data/*`): SQLite's online backup into a file beside it, made private,
/// flushed to disk and renamed into place, so a crash meanwhile leaves no half-written outbox
/// there. Then `conn` is the written file's. The sqlx pool follows ([`super::SqliteStore`]).
fn write_back(conn: &mut Connection, place: &Place) -> StoreResult<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let io = |path: &std::path::Path, e: std::io::Error| StoreError::File {
        path: path.to_path_buf(),
        source: Arc::new(e),
    };
    let path = &place.path;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&folder)
        .map_err(|e| io(&folder, e))?;
    let beside = std::path::PathBuf::from(format!("{}.writing-back", path.display()));
    let _ = std::fs::remove_file(&beside);
    conn.backup(rusqlite::DatabaseName::Main, &beside, None)?;
    std::fs::set_permissions(&beside, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io(&beside, e))?;
    std::fs::File::open(&beside)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(&beside, e))?;
    std::fs::rename(&beside, path).map_err(|e| io(path, e))?;
    std::fs::File::open(&folder)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(&folder, e))?;
    *conn = open(path, place.fsync)?;
    Ok(())
}

/// The writer thread: one batch per hand-off, one transaction per batch.
fn run(
    mut conn: Connection,
    place: Place,
    mut ops: mpsc::Receiver<Op>,
    wal_pages: Arc<AtomicI64>,
    fault: Arc<std::sync::Mutex<Option<Text>>>,
    watch: Arc<FileWatch>,
) {
    let note = |e: Option<&StoreError>, probed: bool| {
        let mut fault = fault.lock().expect("writer fault lock");
        match e.and_then(storage_problem) {
            Some(why) => {
                if fault.is_none() {
                    tracing::error!(error = %why, "the outbox cannot be written; new POSTs are refused until it can");
                    metrics::counter!("hooks_outbox_write_failures_total").increment(1);
                }
                *fault = Some(why);
            }
            None if e.is_none() && probed && fault.take().is_some() => {
                tracing::info!("the outbox takes writes again");
            }
            None => {}
        }
    };
    let fsync = place.fsync;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = ops.blocking_recv() {
        if let Op::WriteBack { reply } = first {
            let _ = reply.send(write_back(&mut conn, &place));
            continue;
        }
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match ops.try_recv() {
                // The writes gathered so far are committed after it, into the written-back file.
                Ok(Op::WriteBack { reply }) => {
                    let _ = reply.send(write_back(&mut conn, &place));
                }
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                let e = StoreError::from(e);
                note(Some(&e), false);
                batch
                    .drain(..)
                    .for_each(|op| op_done(op, &e).reply(&Ok(())));
                continue;
            }
        };
        let probed = batch.iter().any(|op| matches!(op, Op::Probe { .. }));
        let done: Vec<Done> = batch.drain(..).map(|op| apply(&tx, op)).collect();
        // A failed commit rolls back (the transaction is dropped).
        let commit = tx.commit().map_err(StoreError::from);
        if let Err(e) = &commit {
            tracing::error!(error = %e, writes = done.len(), "cannot commit a batch of outbox writes");
        }
        let failed = commit.as_ref().err().or_else(|| {
            done.iter()
                .find_map(|d| d.error().filter(|e| storage_problem(e).is_some()))
        });
        note(failed, probed);
        done.into_iter().for_each(|d| d.reply(&commit));
        restart_if_large(&conn, &wal_pages, fsync, &watch);
    }
}

/// Why a write failed when it is the storage's doing (no space, no permission, the file gone),
/// in words; `None` for other errors (a constraint, a bug).
fn storage_problem(e: &StoreError) -> Option<Text> {
    use rusqlite::ErrorCode::*;
    let StoreError::Writer(e) = e else {
        return match e {
            StoreError::Commit(inner) => storage_problem(inner),
            _ => None,
        };
    };
    match e.sqlite_error_code()? {
        DiskFull => Some(crate::t!("store-disk-full")),
        ReadOnly | PermissionDenied | CannotOpen => Some(crate::t!(
            "store-permission-write-file-error",
            error = e.to_string()
        )),
        SystemIoFailure => Some(crate::t!(
            "store-file-cannot-be-written",
            error = e.to_string()
        )),
        DatabaseCorrupt | NotADatabase => {
            Some(crate::t!("store-file-damaged", error = e.to_string()))
        }
        _ => None,
    }
}

/// An op that could not be tried at all, answered with `error`.
fn op_done(op: Op, error: &StoreError) -> Done {
    let e = || error.clone();
    match op {
        Op::Accept { reply, .. } => Done::Accept(reply, Box::new(Err(e()))),
        Op::Finish { reply, .. } | Op::Probe { reply, .. } | Op::WriteBack { reply } => {
            Done::Finish(reply, Err(e()))
        }
    }
}

fn apply(conn: &Connection, op: Op) -> Done {
    match op {
        Op::Accept {
            new,
            dedup_since,
            now,
            reply,
        } => Done::Accept(reply, Box::new(accept(conn, new, dedup_since, now))),
        Op::Finish {
            id,
            number,
            outcome,
            now,
            reply,
        } => Done::Finish(reply, finish(conn, &id, number, &outcome, now)),
        Op::Probe { now, reply } => Done::Finish(reply, probe(conn, now)),
        Op::WriteBack { reply } => Done::Finish(reply, Err(StoreError::WriterStopped)),
    }
}

fn probe(conn: &Connection, now: i64) -> StoreResult<()> {
    conn.prepare_cached(crate::store::sql::PROBE)?
        .execute(rusqlite::params![now])?;
    Ok(())
}

fn accept(
    conn: &Connection,
    new: NewDelivery,
    dedup_since: i64,
    now: i64,
) -> StoreResult<Accepted> {
    // One statement: SQLite holds the write lock while it runs the NOT EXISTS, so two identical
    // POSTs cannot both be stored (and within a batch the later one sees the earlier). The new
    // row is what was written, so it is not read back.
    let inserted = conn
        .prepare_cached(
            "INSERT INTO deliveries (id, channel, query, dedup_key, recipient, text, summary, \
             error_email, state, attempts, created_at, next_attempt_at, updated_at, last_error, \
             unvouched, size) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
             CASE WHEN ?11 IS NULL THEN 'sending' ELSE 'failed' END, 0, ?9, ?9, ?9, ?11, ?12, ?13 \
             WHERE NOT EXISTS (SELECT 1 FROM deliveries WHERE dedup_key = ?4 AND created_at >= ?10)",
        )?
        .execute(rusqlite::params![
            new.id,
            new.channel,
            new.query,
            new.dedup_key,
            new.recipient,
            new.text,
            new.summary,
            new.error_email,
            now,
            dedup_since,
            new.failed.as_ref().map(Text::to_stored),
            new.unvouched,
            new.size(),
        ])?;
    if inserted == 1 {
        return Ok(Accepted::New(new.into_record(now)));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM deliveries WHERE dedup_key = ?1 AND created_at >= ?2 \
         ORDER BY created_at DESC LIMIT 1"
    );
    let record = conn
        .prepare_cached(&sql)?
        .query_row(rusqlite::params![new.dedup_key, dedup_since], record_of)?;
    // This very delivery (its id), written before: not someone else's earlier POST.
    Ok(if record.id == new.id {
        Accepted::New(record)
    } else {
        Accepted::Duplicate(record)
    })
}

/// The end of attempt `number`: written twice, it counts once (see [`Store::finish_attempt`]).
fn finish(
    conn: &Connection,
    id: &str,
    number: i64,
    outcome: &Outcome,
    now: i64,
) -> StoreResult<()> {
    let end = crate::store::finished(outcome, now);
    conn.prepare_cached(
        "UPDATE deliveries SET state = ?1, attempts = MAX(attempts, ?8), next_attempt_at = ?2, \
         updated_at = ?3, last_error = COALESCE(?4, last_error), \
         provider_id = COALESCE(?5, provider_id), purge_after = ?6, unsure = ?9 WHERE id = ?7",
    )?
    .execute(rusqlite::params![
        end.state.as_str(),
        end.next,
        now,
        end.error,
        end.provider_id,
        end.purge_after,
        id,
        number,
        end.unsure
    ])?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO attempts (delivery_id, number, ended_at, outcome, error) \
         SELECT id, ?5, ?1, ?2, ?3 FROM deliveries WHERE id = ?4",
    )?
    .execute(rusqlite::params![now, end.how, end.error, id, number])?;
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
            unvouched: false,
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
                    warning: None,
                    provider_id: Some(format!("p-{id}")),
                };
                store.finish_attempt(&id, 1, &sent, 2_000).await.unwrap()
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
