//! The SQLite implementation of [`Store`] (reads and the other writes here; the POST path's
//! writes in [`writer`], the row layout in [`rows`]) (WAL; `synchronous=FULL` when `delivery.fsync`).

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use async_trait::async_trait;
use sqlx::{
    sqlite::{
        SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
        SqliteSynchronous,
    },
    Row, SqlitePool,
};

mod file_watch;
mod identity;
mod mail_queue;
mod rows;
mod writer;

pub use identity::{start_new, NewOutbox};

use file_watch::FileWatch;

use rows::{record, COLUMNS};
use writer::Writer;

use super::{
    Accepted, Attempt, NewDelivery, Outcome, Purged, Record, Shared, State, StorageFault, Store,
    StoreError, StoreResult, Usage,
};

const HOUR_MS: i64 = 3_600_000;
/// Connections for reads and the writes off the POST path.
const POOL_SIZE: u32 = 4;
/// Free pages given back to the file system in one step (16 MiB of 4 KiB pages), and steps in
/// one retention pass.
const GIVE_BACK_PAGES: i64 = 4096;
const GIVE_BACK_ROUNDS: usize = 8;

pub struct SqliteStore {
    /// Reads and the writes off the POST path; replaced by a pool on the written-back file
    /// when the file was removed ([`SqliteStore::write_back`]), under the write lock.
    pool: writer::Shared,
    options: SqliteConnectOptions,
    /// Group commit for the writes of the POST path.
    writer: Writer,
    /// Whether the file at the path is still the one the connections hold.
    watch: std::sync::Arc<FileWatch>,
}

impl SqliteStore {
    /// The pool, held for as long as the guard lives: a write-back waits for it.
    pub(crate) async fn pool(&self) -> tokio::sync::RwLockReadGuard<'_, SqlitePool> {
        self.pool.read().await
    }

    pub async fn open(path: &Path, fsync: bool) -> StoreResult<Self> {
        identity::check_before_open(path)?;
        private_files(path)?;
        // The file exists now (private_files): a connection opened later, after the file was
        // removed, fails instead of starting an empty outbox in its place.
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if fsync {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(10))
            // Pages freed by retention can be given back to the file system (give_back).
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            // Checkpoints run in the background (sqlite/writer.rs), not inside a commit.
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", "16777216");
        let pool = connect(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate {
                path: path.to_path_buf(),
                source: std::sync::Arc::new(e),
            })?;
        identity::settle(&pool, path).await?;
        incremental_vacuum(&pool, path).await;
        let watch = std::sync::Arc::new(FileWatch::new(path).map_err(|e| StoreError::File {
            path: path.to_path_buf(),
            source: std::sync::Arc::new(e),
        })?);
        let pool = std::sync::Arc::new(tokio::sync::RwLock::new(pool));
        let writer = Writer::start(pool.clone(), path, fsync, watch.clone())?;
        Ok(SqliteStore {
            pool,
            options,
            writer,
            watch,
        })
    }
}

/// An outbox made before it could give pages back (`auto_vacuum` NONE) is rebuilt once with
/// `VACUUM`, which applies the setting; a failure (no room for the copy, say) is logged, and the
/// outbox works as before.
async fn incremental_vacuum(pool: &SqlitePool, path: &Path) {
    let mode: i64 = match sqlx::query_scalar("PRAGMA auto_vacuum")
        .fetch_one(pool)
        .await
    {
        Ok(mode) => mode,
        Err(_) => return,
    };
    if mode == 2 {
        return;
    }
    let started = std::time::Instant::now();
    match sqlx::query("VACUUM").execute(pool).await {
        Ok(_) => tracing::info!(
            outbox = %path.display(),
            seconds = started.elapsed().as_secs_f64(),
            "the outbox was rebuilt once, so that it gives back the room retention frees"
        ),
        Err(e) => {
            tracing::warn!(outbox = %path.display(), error = %e, "the outbox cannot be rebuilt to give back freed room; it keeps working, and is tried again at the next start")
        }
    }
}

/// The pool's connections, all opened now and kept for the life of the process: should the file
/// be removed, they still reach what was accepted, so it can be sent and written back (see
/// FileWatch).
async fn connect(options: SqliteConnectOptions) -> StoreResult<SqlitePool> {
    let pool = SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?;
    let mut held = Vec::new();
    for _ in 0..POOL_SIZE {
        held.push(pool.acquire().await?);
    }
    drop(held);
    Ok(pool)
}

/// The outbox holds tokens and clients' contact data: its folder is created 0700 and its files
/// are 0600 (SQLite gives the -wal and -shm files the database file's mode).
fn private_files(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let io = |what: &Path, e: std::io::Error| StoreError::File {
        path: what.to_path_buf(),
        source: std::sync::Arc::new(e),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| io(parent, e))?;
        } else if let Ok(meta) = parent.metadata() {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(folder = %parent.display(), "the outbox folder can be read by other users; chmod 700 it");
            }
        }
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, e))?;
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io(&file, e))?;
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn accept(&self, new: NewDelivery, dedup_since: i64, now: i64) -> StoreResult<Accepted> {
        // Never 202 into a file that is gone: one stat per POST.
        if let Some(fault) = self.watch.fault() {
            return Err(StoreError::Storage(fault));
        }
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
            .fetch_all(&*self.pool().await)
            .await?;
        Ok(rows.iter().map(record).collect())
    }

    async fn next_due(&self) -> StoreResult<Option<i64>> {
        let row =
            sqlx::query("SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'")
                .fetch_one(&*self.pool().await)
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
        self.writer.finish(id, number, outcome, now).await
    }

    async fn requeue_interrupted(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ?, unsure = 1 \
             WHERE state = 'sending'",
        )
        .bind(now)
        .bind(now)
        .execute(&*self.pool().await)
        .await?;
        Ok(done.rows_affected())
    }

    async fn get(&self, id: &str) -> StoreResult<Option<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM deliveries WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&*self.pool().await)
            .await?;
        Ok(row.as_ref().map(record))
    }

    async fn replay(&self, id: Option<&str>, now: i64) -> StoreResult<Vec<String>> {
        let rows = match id {
            Some(id) => {
                sqlx::query(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?1, created_at = ?1, \
                     updated_at = ?1, unsure = 0 WHERE id = ?2 AND state IN ('dead', 'failed', 'unknown') \
                     RETURNING id",
                )
                .bind(now)
                .bind(id)
                .fetch_all(&*self.pool().await)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?1, created_at = ?1, \
                     updated_at = ?1, unsure = 0 WHERE state = 'dead' RETURNING id",
                )
                .bind(now)
                .fetch_all(&*self.pool().await)
                .await?
            }
        };
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    async fn count_pending(&self) -> StoreResult<i64> {
        Shared(&*self.pool().await).count_pending().await
    }

    async fn claim_warning(&self, id: &str, now: i64) -> StoreResult<bool> {
        Shared(&*self.pool().await).claim_warning(id, now).await
    }

    async fn recent(&self, state: Option<State>, limit: i64) -> StoreResult<Vec<Record>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM deliveries WHERE ?1 IS NULL OR state = ?1 \
             ORDER BY created_at DESC, id LIMIT ?2"
        );
        let rows = sqlx::query(&sql)
            .bind(state.map(State::as_str))
            .bind(limit)
            .fetch_all(&*self.pool().await)
            .await?;
        Ok(rows.iter().map(record).collect())
    }

    async fn attempts(&self, id: &str) -> StoreResult<Vec<Attempt>> {
        let rows = sqlx::query(
            "SELECT number, ended_at, outcome, error FROM attempts WHERE delivery_id = ? ORDER BY number",
        )
        .bind(id)
        .fetch_all(&*self.pool().await)
        .await?;
        Ok(rows
            .iter()
            .map(|row| Attempt {
                number: row.get("number"),
                ended_at: row.get("ended_at"),
                outcome: row.get("outcome"),
                error: super::stored_text(row.get("error")),
            })
            .collect())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&*self.pool().await).await?;
        Ok(())
    }

    async fn probe(&self, now: i64) -> StoreResult<()> {
        // A write into a removed file would succeed and prove nothing.
        if let Some(fault) = self.watch.fault() {
            return Err(StoreError::Storage(fault));
        }
        self.writer.probe(now).await
    }

    async fn fault(&self) -> Option<StorageFault> {
        let write = self.writer.fault.lock().expect("writer fault lock").clone();
        self.watch
            .fault()
            .or_else(|| write.map(StorageFault::WriteFailed))
    }

    /// The pages in use, not the file: SQLite keeps freed pages in the file until they are given
    /// back ([`Store::give_back`]), and a cap on the file would refuse POSTs for good after a
    /// flood that retention has since deleted.
    async fn usage(&self) -> StoreResult<Usage> {
        let pool = self.pool().await;
        let row = sqlx::query(
            "SELECT (SELECT page_count FROM pragma_page_count()) \
                  - (SELECT freelist_count FROM pragma_freelist_count()), \
                    (SELECT page_size FROM pragma_page_size())",
        )
        .fetch_one(&*pool)
        .await?;
        let (pages, page_size): (i64, i64) = (row.get(0), row.get(1));
        let (unvouched_deliveries, unvouched_bytes) = Shared(&*pool).unvouched().await?;
        Ok(Usage {
            size_bytes: (pages.max(0) * page_size.max(0)) as u64,
            free_bytes: self.watch.free_bytes(),
            unvouched_deliveries,
            unvouched_bytes,
        })
    }

    /// Up to [`GIVE_BACK_PAGES`] free pages at a time, a few times: each call holds the write
    /// lock only briefly, so the POST path's writer waits no longer than for a batch.
    async fn give_back(&self) -> StoreResult<u64> {
        let mut given = 0;
        for _ in 0..GIVE_BACK_ROUNDS {
            let pool = self.pool().await;
            let free: i64 =
                sqlx::query_scalar("SELECT freelist_count FROM pragma_freelist_count()")
                    .fetch_one(&*pool)
                    .await?;
            if free <= 0 {
                break;
            }
            sqlx::query(&format!("PRAGMA incremental_vacuum({GIVE_BACK_PAGES})"))
                .execute(&*pool)
                .await?;
            given += free.min(GIVE_BACK_PAGES) as u64;
        }
        Ok(given)
    }

    /// The file was removed while open: the open database is written back to its path (after
    /// every write queued before), and the pool and the writer go on with the written file.
    async fn write_back(&self) -> StoreResult<bool> {
        let mut pool = self.pool.write().await;
        if !matches!(self.watch.fault(), Some(StorageFault::Removed(_))) {
            return Ok(false);
        }
        self.writer.write_back().await?;
        let fresh = connect(self.options.clone()).await?;
        let old = std::mem::replace(&mut *pool, fresh);
        self.watch.reopened().map_err(|e| StoreError::File {
            path: self.watch.path().to_path_buf(),
            source: std::sync::Arc::new(e),
        })?;
        drop(pool);
        old.close().await;
        Ok(true)
    }

    async fn purge(
        &self,
        now: i64,
        finished_before: i64,
        mailed_before: i64,
        addresses_before: i64,
        batch: i64,
    ) -> StoreResult<Purged> {
        // A finished delivery's next_attempt_at is when it finished (see writer::finish), so the
        // (state, next_attempt_at) index finds them.
        let deliveries = sqlx::query(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
             WHERE state IN ('sent', 'failed', 'dead', 'unknown') AND next_attempt_at < ?1 LIMIT ?2) \
             OR id IN (SELECT id FROM deliveries WHERE purge_after < ?3 LIMIT ?2)",
        )
        .bind(finished_before)
        .bind(batch)
        .bind(now)
        .execute(&*self.pool().await)
        .await?
        .rows_affected();
        let reports = sqlx::query(
            "DELETE FROM mail_queue WHERE id IN (SELECT id FROM mail_queue \
             WHERE sent_at IS NOT NULL AND sent_at < ? LIMIT ?)",
        )
        .bind(mailed_before)
        .bind(batch)
        .execute(&*self.pool().await)
        .await?
        .rows_affected();
        let addresses = sqlx::query(
            "DELETE FROM mail_addresses WHERE address IN (SELECT a.address FROM mail_addresses a \
             WHERE COALESCE(a.last_sent_at, a.admitted_at) < ?1 AND a.admitted_at < ?1 \
             AND NOT EXISTS (SELECT 1 FROM mail_queue q WHERE q.sent_at IS NULL AND q.address = a.address) \
             LIMIT ?2)",
        )
        .bind(addresses_before)
        .bind(batch)
        .execute(&*self.pool().await)
        .await?
        .rows_affected();
        // Reports held for an address that never confirmed go after retention too.
        let held = Shared(&*self.pool().await)
            .purge_held(mailed_before, batch)
            .await?;
        Ok(Purged {
            deliveries,
            reports: reports + held,
            addresses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Enqueued, MailQueue};

    fn delivery(id: &str, key: &str) -> NewDelivery {
        NewDelivery {
            id: id.into(),
            channel: "log".into(),
            query: String::new(),
            dedup_key: key.into(),
            recipient: "79119998877".into(),
            text: "t".into(),
            summary: "{}".into(),
            error_email: None,
            failed: None,
            unvouched: false,
        }
    }

    #[tokio::test]
    async fn the_mail_quota_the_digest_pages_and_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.sqlite"), false)
            .await
            .unwrap();
        let hour = HOUR_MS;
        // Two new addresses per hour: the third waits for the next hour.
        for (address, at, expected) in [
            ("a@x.ru", 0, Enqueued::Queued),
            ("b@x.ru", 10, Enqueued::Queued),
            ("c@x.ru", 20, Enqueued::NewAddressLimit),
            ("a@x.ru", 30, Enqueued::Queued),
            ("c@x.ru", hour + 1, Enqueued::Queued),
        ] {
            let got = store.enqueue_mail(address, "{}", at, 2).await.unwrap();
            assert_eq!(got, expected, "{address} at {at}");
        }
        assert_eq!(
            store.mail_addresses(10, 0).await.unwrap(),
            ["a@x.ru", "b@x.ru", "c@x.ru"]
        );
        // They confirmed they want reports (held reports of an address that never did go with
        // retention: below).
        for address in ["a@x.ru", "b@x.ru", "c@x.ru"] {
            store.mark_confirmed(address, 5).await.unwrap();
        }
        let batch = store.unsent_mail("a@x.ru", 1).await.unwrap();
        assert_eq!((batch.items.len(), batch.more), (1, 1));
        store.mark_mailed("a@x.ru", batch.up_to, 40).await.unwrap();
        assert_eq!(store.last_mailed("a@x.ru").await.unwrap(), Some(40));
        assert!(store
            .unsent_mail("a@x.ru", 10)
            .await
            .unwrap()
            .items
            .is_empty());

        // Finished deliveries and mailed reports go after their time; pending ones never.
        let sent = store.accept(delivery("d1", "k1"), 0, 100).await.unwrap();
        assert!(matches!(sent, Accepted::New(_)));
        let sent_outcome = Outcome::Sent {
            provider_id: None,
            warning: None,
        };
        store
            .finish_attempt("d1", 1, &sent_outcome, 100)
            .await
            .unwrap();
        store.accept(delivery("d2", "k2"), 0, 100).await.unwrap();
        store.requeue_interrupted(100).await.unwrap();
        let purged = store.purge(101, 101, 41, 41, 10).await.unwrap();
        assert_eq!(
            purged,
            Purged {
                deliveries: 1,
                reports: 2,
                addresses: 1
            }
        );
        assert!(store.get("d1").await.unwrap().is_none());
        assert!(store.get("d2").await.unwrap().is_some());
        // b and c still have reports waiting; a was mailed at 40 and has nothing waiting.
        assert_eq!(store.last_mailed("a@x.ru").await.unwrap(), None);
        assert_eq!(store.mail_addresses(10, 0).await.unwrap().len(), 2);
        // An address asked to confirm that never did: its held report goes after retention.
        store
            .enqueue_mail("d@x.ru", "{}", 2 * hour, 2)
            .await
            .unwrap();
        store
            .confirmation_sent("d@x.ru", "t", 2 * hour)
            .await
            .unwrap();
        assert_eq!(store.held_reports("d@x.ru").await.unwrap(), 1);
        let purged = store.purge(3 * hour, 0, 2 * hour + 1, 0, 10).await.unwrap();
        assert_eq!(purged.reports, 1);
        assert_eq!(store.held_reports("d@x.ru").await.unwrap(), 0);
    }
}
