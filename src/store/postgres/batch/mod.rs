//! Group commit on PostgreSQL: the writes of the POST path (accepting a delivery, recording an
//! attempt) queue up for one writer task, which does whatever has queued in one transaction and
//! commits once. With default durability every commit waits for its WAL flush; one flush now
//! covers a whole batch instead of one POST.
//!
//! - The dedup keys of a batch are locked first, in one statement and in key order, so two
//!   instances' batches take them in the same order and never wait on each other in a cycle.
//! - Then one statement accepts every POST of the batch (each looks for its key, else inserts):
//!   the rows travel as arrays (`unnest`). The accepts see the rows committed before the lock
//!   was granted.
//! - The same key twice in a batch (a POST sent again at once): one statement sees only what
//!   the statements before it wrote, so the second goes into a second round of the statement,
//!   which finds the first and answers it.
//! - The attempts' ends are one statement too, in rounds like the accepts: two ends of one
//!   delivery in a batch are kept in their order. A batch that is only ends, in one round, is
//!   that one statement, which is a transaction of its own: two round trips fewer (`BEGIN`,
//!   `COMMIT`), and about one context switch fewer per POST at 1,000/s.
//! - Each writer keeps a connection of its own, beside the pool: a connection taken from the
//!   pool is pinged as it leaves and as it comes back, two round trips a batch. It is pinged only
//!   after it has been idle for a second, and replaced after any failure. Its statements are
//!   planned once (`plan_cache_mode`): their plans do not depend on the values, and planning the
//!   accept takes about 1 ms. None is a sequential scan (`enable_seqscan`), even when planned
//!   while the statistics said the table was empty (retention emptied it, then autovacuum ran):
//!   the ends then still find their rows by id. An accept planned then may read its dedup
//!   window by time rather than by key until the next analyze replans it (autovacuum, within
//!   about a minute once 50 rows have changed).
//! - If a batch fails (a statement timeout, a lost connection, a deadlock all the same), each of
//!   its writes is tried again alone, on a connection of the pool, so one bad write fails only
//!   itself.
//! - Nothing is answered before the commit: a POST answered Success is stored.

use std::time::{Duration, Instant};

use sqlx::{postgres::PgConnectOptions, Connection, PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

mod statements;

use crate::store::{Accepted, NewDelivery, Outcome, StoreError, StoreResult};
use statements::{accept, finish};

/// Writes committed together, at most.
const MAX_BATCH: usize = 64;
/// Writers working at once: while one waits for its commit to reach the disk, the next batch
/// is written. Each keeps a connection of its own, beside the pool's.
pub(super) const WRITERS: usize = 2;
/// A writer's connection idle this long is pinged before its next batch.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// A POST to store, unless the same POST is already within the dedup window.
pub(super) struct Accept {
    pub new: Box<NewDelivery>,
    pub dedup_since: i64,
    pub now: i64,
}

/// The end of attempt `number` of delivery `id`.
pub(super) struct Finish {
    pub id: String,
    pub number: i64,
    pub outcome: Box<Outcome>,
    pub now: i64,
}

pub(super) enum Write {
    Accept(Accept, oneshot::Sender<StoreResult<Accepted>>),
    Finish(Finish, oneshot::Sender<StoreResult<()>>),
}

impl Write {
    fn key(&self) -> (u8, &str) {
        match self {
            Write::Accept(a, _) => (0, &a.new.dedup_key),
            Write::Finish(f, _) => (1, &f.id),
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
///
/// They run on a thread of their own: a batch is several round trips to the database, and on
/// the service's runtime each reply waits its turn behind the POSTs being read and parsed
/// (three alternating runs on two cores: 2,400–2,700 POSTs/s on the thread, 1,850–2,270 without).
pub(super) fn start(pool: PgPool, lease_ms: i64) -> std::io::Result<mpsc::Sender<Write>> {
    let (tx, rx) = mpsc::channel::<Write>(4 * MAX_BATCH);
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..WRITERS {
        let (pool, rx) = (pool.clone(), rx.clone());
        writers.spawn_on(
            async move {
                let mut own = Own::default();
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
                    commit(&pool, &mut own, batch, lease_ms).await;
                }
            },
            runtime.handle(),
        );
    }
    std::thread::Builder::new()
        .name("outbox-writers".into())
        .spawn(move || runtime.block_on(async { while writers.join_next().await.is_some() {} }))?;
    Ok(tx)
}

/// `accepts` and `finishes` committed as one batch (see [`super::PgStore::write_as_one_batch`]).
pub(super) async fn one_batch(
    pool: &PgPool,
    lease_ms: i64,
    accepts: impl Iterator<Item = Accept>,
    finishes: impl Iterator<Item = Finish>,
) -> (Vec<StoreResult<Accepted>>, Vec<StoreResult<()>>) {
    let mut batch = Vec::new();
    let accepted = waiting(&mut batch, accepts, Write::Accept);
    let finished = waiting(&mut batch, finishes, Write::Finish);
    commit(pool, &mut Own::default(), batch, lease_ms).await;
    (answers(accepted).await, answers(finished).await)
}

/// Adds each write that `make` builds around a reply to `batch`; the replies to wait for.
fn waiting<W, T>(
    batch: &mut Vec<Write>,
    writes: impl Iterator<Item = W>,
    make: fn(W, oneshot::Sender<StoreResult<T>>) -> Write,
) -> Vec<oneshot::Receiver<StoreResult<T>>> {
    writes
        .map(|write| {
            let (reply, answer) = oneshot::channel();
            batch.push(make(write, reply));
            answer
        })
        .collect()
}

async fn answers<T>(waiting: Vec<oneshot::Receiver<StoreResult<T>>>) -> Vec<StoreResult<T>> {
    let mut answers = Vec::with_capacity(waiting.len());
    for answer in waiting {
        answers.push(answer.await.unwrap_or(Err(StoreError::WriterStopped)));
    }
    answers
}

/// One batch in one transaction, or each write alone when the batch fails. Every write may be
/// repeated (an accept knows its own id, an attempt's end its number), so a batch whose commit
/// did happen although the connection dropped before saying so is written again harmlessly.
async fn commit(pool: &PgPool, own: &mut Own, mut batch: Vec<Write>, lease_ms: i64) {
    batch.sort_by(|a, b| a.key().cmp(&b.key()));
    let conn = match own.connection(pool).await {
        Ok(conn) => conn,
        Err(e) => {
            // The database cannot be reached: every write fails now (its POST is answered 503
            // at once), not one after another, each waiting for the pool in turn.
            let failed = batch.iter().map(|_| Done::Failed(e.clone())).collect();
            answer(batch, failed);
            return;
        }
    };
    let e = match write_all(conn, &batch, lease_ms).await {
        Ok(done) => {
            own.used = Some(Instant::now());
            answer(batch, done);
            return;
        }
        Err(e) => e,
    };
    own.conn = None;
    if batch.len() == 1 {
        answer(batch, vec![Done::Failed(e)]);
        return;
    }
    tracing::warn!(error = %e, writes = batch.len(), "a batch of outbox writes failed; each is tried alone");
    for write in batch {
        let one = [write];
        let done = match pool.acquire().await {
            Ok(mut conn) => write_all(&mut conn, &one, lease_ms).await,
            Err(e) => Err(e.into()),
        };
        let done = done.unwrap_or_else(|e| vec![Done::Failed(e)]);
        answer(one.into_iter().collect(), done);
    }
}

/// A writer's own connection, opened when first needed and after a failure.
#[derive(Default)]
struct Own {
    conn: Option<PgConnection>,
    used: Option<Instant>,
}

impl Own {
    /// The connection, tested if it was idle and opened if there is none; within the pool's
    /// acquire timeout, so that a POST is answered 503 in time while the database is away.
    async fn connection(&mut self, pool: &PgPool) -> StoreResult<&mut PgConnection> {
        let within = pool.options().get_acquire_timeout();
        let idle = self.used.is_none_or(|t| t.elapsed() >= IDLE_BEFORE_PING);
        if let Some(conn) = &mut self.conn {
            if idle && !matches!(tokio::time::timeout(within, conn.ping()).await, Ok(Ok(()))) {
                self.conn = None;
            }
        }
        if self.conn.is_none() {
            let options = writer_options(pool);
            let connect = PgConnection::connect_with(&options);
            let conn = tokio::time::timeout(within, connect)
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)??;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }
}

/// How a writer's own connection is opened: the pool's options, its statements planned once
/// and never as a sequential scan.
fn writer_options(pool: &PgPool) -> PgConnectOptions {
    pool.connect_options().as_ref().clone().options([
        ("plan_cache_mode", "force_generic_plan"),
        // Planned while the statistics said the table was empty or small, a sequential scan
        // looks cheapest, and the plan is kept until the next analyze.
        ("enable_seqscan", "off"),
    ])
}

/// The plan a writer's connection makes of the attempts' ends (see
/// [`super::PgStore::plan_of_the_attempts_ends`]).
pub(super) async fn plan_of_the_ends(pool: &PgPool) -> StoreResult<String> {
    let mut conn = PgConnection::connect_with(&writer_options(pool)).await?;
    statements::plan_of_finish(&mut conn).await
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
            (Write::Accept(_, reply), Done::Accepted(a)) => drop(reply.send(Ok(*a))),
            (Write::Finish(_, reply), Done::Finished) => drop(reply.send(Ok(()))),
            (Write::Accept(_, reply), Done::Failed(e)) => drop(reply.send(Err(e))),
            (Write::Finish(_, reply), Done::Failed(e)) => drop(reply.send(Err(e))),
            (Write::Accept(_, reply), _) => drop(reply.send(Err(StoreError::WriterStopped))),
            (Write::Finish(_, reply), _) => drop(reply.send(Err(StoreError::WriterStopped))),
        }
    }
}

/// Every write of `batch` in one transaction; nothing is kept unless all succeed. The answers
/// are in the order of `batch`.
async fn write_all(
    conn: &mut PgConnection,
    batch: &[Write],
    lease_ms: i64,
) -> StoreResult<Vec<Done>> {
    let (mut accepts, mut finishes) = (Vec::<&Accept>::new(), Vec::<&Finish>::new());
    for write in batch {
        match write {
            Write::Accept(a, _) => accepts.push(a),
            Write::Finish(f, _) => finishes.push(f),
        }
    }
    let finish_rounds = rounds(&finishes, |f| &f.id);
    if let ([], [round]) = (accepts.as_slice(), finish_rounds.as_slice()) {
        // One statement is a transaction of its own. At a low rate about half the batches are
        // one attempt's end.
        finish(conn, &picked(&finishes, round)).await?;
        return Ok(batch.iter().map(|_| Done::Finished).collect());
    }
    let mut tx = conn.begin().await?;
    if !accepts.is_empty() {
        // Two instances with the same POST wait for each other here, then the second sees the
        // first. In key order (the batch is sorted), so that batches never wait in a cycle.
        let keys: Vec<&str> = accepts.iter().map(|a| a.new.dedup_key.as_str()).collect();
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) \
             FROM unnest($1::text[]) WITH ORDINALITY AS keys(k, n) ORDER BY n",
        )
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
    }
    let mut accepted: Vec<Option<Accepted>> = accepts.iter().map(|_| None).collect();
    for round in rounds(&accepts, |a| &a.new.dedup_key) {
        let writes = picked(&accepts, &round);
        for (i, answer) in round
            .into_iter()
            .zip(accept(&mut tx, &writes, lease_ms).await?)
        {
            accepted[i] = Some(answer);
        }
    }
    for round in finish_rounds {
        finish(&mut tx, &picked(&finishes, &round)).await?;
    }
    tx.commit().await?;
    let mut accepted = accepted.into_iter();
    Ok(batch
        .iter()
        .map(|write| match write {
            Write::Accept(..) => match accepted.next().flatten() {
                Some(a) => Done::Accepted(Box::new(a)),
                None => Done::Failed(StoreError::WriterStopped),
            },
            Write::Finish(..) => Done::Finished,
        })
        .collect())
}

/// The writes of one round, from its indexes into `writes`.
fn picked<'a, W>(writes: &[&'a W], round: &[usize]) -> Vec<&'a W> {
    round.iter().map(|&i| writes[i]).collect()
}

/// The writes split into rounds in which no key appears twice, each write in the round after
/// the one its key last appeared in: indexes into `writes`, in their order.
fn rounds<W>(writes: &[&W], key: impl Fn(&W) -> &str) -> Vec<Vec<usize>> {
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (i, write) in writes.iter().enumerate() {
        let round = seen.entry(key(write)).or_insert(0);
        if rounds.len() == *round {
            rounds.push(Vec::new());
        }
        rounds[*round].push(i);
        *round += 1;
    }
    rounds
}
