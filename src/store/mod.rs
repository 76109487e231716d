//! Durable state behind a small trait: the delivery outbox and the failure-report mail queue.
//! SQLite today ([`sqlite::SqliteStore`]); another database can implement [`Store`] later.

pub mod postgres;
pub mod sqlite;
pub mod templates;

use std::sync::Arc;

use crate::i18n::Text;
use async_trait::async_trait;

pub use postgres::{PgOptions, PgStore};
pub use sqlite::SqliteStore;
pub use templates::{TemplateVersion, TemplateVersions};

pub type StoreResult<T> = Result<T, StoreError>;

/// Why the outbox could not do something; each kind keeps its source.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A statement failed (shared: one failed batch answers every write in it).
    #[error("database: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    /// A statement of the outbox writer (SQLite, on its own thread).
    #[error("database: {0}")]
    Writer(#[source] Arc<rusqlite::Error>),
    /// The database file or its folder.
    #[error("database: {path}: {source}")]
    File {
        path: std::path::PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("database: migrating {path}: {source}")]
    Migrate {
        path: std::path::PathBuf,
        #[source]
        source: Arc<sqlx::migrate::MigrateError>,
    },
    /// The transaction holding this write could not be committed (it was rolled back).
    #[error("database: commit failed: {0}")]
    Commit(#[source] Box<StoreError>),
    #[error("database: the outbox writer has stopped")]
    WriterStopped,
    /// The storage is known to be unusable (see [`StorageFault`]).
    #[error("{0}")]
    Storage(StorageFault),
    /// The outbox that was here is gone (SQLite: its file missing, empty, cut short or another);
    /// the text says what happened and how to go on.
    #[error("{0}")]
    Lost(Text),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Writer(Arc::new(e))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Arc::new(e))
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt is under way.
    Sending,
    Sent,
    /// Failed permanently; not retried.
    Failed,
    /// Still failing at `delivery.max_age`; not retried.
    Dead,
    /// A send got no answer and the provider cannot be asked whether it went out: not sent
    /// again until the operator says so (`replay`).
    Unknown,
}

impl State {
    /// The state in the reader's words.
    pub fn text(self) -> Text {
        match self {
            State::Pending => crate::t!("state-pending"),
            State::Sending => crate::t!("state-sending"),
            State::Sent => crate::t!("state-sent"),
            State::Failed => crate::t!("state-failed"),
            State::Dead => crate::t!("state-dead"),
            State::Unknown => crate::t!("state-unknown"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Sending => "sending",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Dead => "dead",
            State::Unknown => "unknown",
        }
    }

    /// A state named by a caller (`--state dead`, `?state=failed`), or `None`.
    pub fn named(s: &str) -> Option<State> {
        [
            State::Pending,
            State::Sending,
            State::Sent,
            State::Failed,
            State::Dead,
            State::Unknown,
        ]
        .into_iter()
        .find(|state| state.as_str() == s.trim().to_ascii_lowercase())
    }

    pub fn parse(s: &str) -> State {
        match s {
            "pending" => State::Pending,
            "sending" => State::Sending,
            "sent" => State::Sent,
            "failed" => State::Failed,
            "unknown" => State::Unknown,
            _ => State::Dead,
        }
    }
}

/// A POST accepted for delivery.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub channel: String,
    pub query: String,
    pub dedup_key: String,
    pub recipient: String,
    pub text: String,
    pub summary: String,
    pub error_email: Option<String>,
    /// Stored as failed with this error, never attempted (the message could not be made).
    pub failed: Option<Text>,
    /// No provider has accepted the hook's credentials, or it has none of its own: counted in
    /// `delivery.unvouched_share` ([`Usage::unvouched_bytes`]).
    pub unvouched: bool,
}

impl NewDelivery {
    /// The bytes the row takes, about: its texts and a fixed part for the rest.
    pub fn size(&self) -> i64 {
        let texts = [
            &self.query,
            &self.text,
            &self.summary,
            &self.recipient,
            &self.id,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>()
            + self.error_email.as_ref().map_or(0, String::len)
            + self.dedup_key.len();
        texts as i64 + 128
    }

    /// The row as [`Store::accept`] stores it at `now`: known without reading it back.
    pub fn into_record(self, now: i64) -> Record {
        Record {
            id: self.id,
            channel: self.channel,
            query: self.query,
            recipient: self.recipient,
            text: self.text,
            summary: self.summary,
            error_email: self.error_email,
            state: if self.failed.is_some() {
                State::Failed
            } else {
                State::Sending
            },
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            last_error: self.failed,
            provider_id: None,
            unsure: false,
        }
    }
}

/// A stored delivery.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub channel: String,
    pub query: String,
    pub recipient: String,
    pub text: String,
    pub summary: String,
    pub error_email: Option<String>,
    pub state: State,
    pub attempts: i64,
    pub created_at: i64,
    /// When the next attempt is due (pending), or when the last one ended (finished).
    pub next_attempt_at: i64,
    pub last_error: Option<Text>,
    pub provider_id: Option<String>,
    /// Whether its last send went out is not known (no answer came, or the service stopped
    /// during it): the provider is asked, or the operator decides, before it is sent again.
    pub unsure: bool,
}

/// What [`Store::accept`] did.
#[derive(Debug, Clone)]
pub enum Accepted {
    New(Record),
    /// The same POST was accepted before (within the dedup window); nothing was stored.
    Duplicate(Record),
}

/// What an attempt ended in.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `warning`: the provider took it but something about its answer is worth saying.
    Sent {
        provider_id: Option<String>,
        warning: Option<Text>,
    },
    Retry {
        next_attempt_at: i64,
        error: Text,
    },
    Failed {
        error: Text,
    },
    /// Failed because the provider refused the hook's credentials (401/403): kept a day only,
    /// since anyone can make such rows with made-up tokens.
    Refused {
        error: Text,
    },
    Dead {
        error: Text,
    },
    /// The send got no answer, so whether it went out is unknown. `check_at`: when the provider
    /// is asked (the delivery is pending and unsure until then); `None`: the provider cannot be
    /// asked and the delivery waits for the operator ([`State::Unknown`]).
    Unknown {
        error: Text,
        check_at: Option<i64>,
    },
}

/// How long a delivery whose credentials were refused is kept.
pub const REFUSED_KEPT_MS: i64 = 24 * 3_600_000;

/// Something wrong with the outbox's storage that its open connections may not notice. The
/// text names no path (anyone may read `/readyz`); the log shows it (`{:?}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageFault {
    #[error("{}", self.text())]
    Removed(String),
    #[error("{}", self.text())]
    Replaced(String),
    #[error("{}", self.text())]
    Truncated(String),
    #[error("{}", self.text())]
    WriteFailed(Text),
}

impl StorageFault {
    /// The fault in the reader's words (the `Display` text is the log's).
    pub fn text(&self) -> Text {
        match self {
            StorageFault::Removed(_) => crate::t!("store-outbox-file-removed"),
            StorageFault::Replaced(_) => crate::t!("store-outbox-file-replaced-another-file"),
            StorageFault::Truncated(_) => crate::t!("store-outbox-file-truncated"),
            StorageFault::WriteFailed(why) => {
                crate::t!("store-outbox-cannot-written-why", why = why)
            }
        }
    }
}

/// The room the outbox takes and the room left beside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// What its data takes (SQLite: the pages in use, not the file, which keeps freed pages
    /// until they are given back; PostgreSQL: its tables).
    pub size_bytes: u64,
    /// Free bytes on the outbox's file system (SQLite); `None` when not known (PostgreSQL).
    pub free_bytes: Option<u64>,
    /// Deliveries of hooks whose credentials no provider accepted (or that have none), and
    /// their bytes ([`NewDelivery::unvouched`]).
    pub unvouched_deliveries: i64,
    pub unvouched_bytes: u64,
}

/// A failure report waiting to be mailed.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: i64,
    pub address: String,
    pub report: String,
    pub created_at: i64,
}

/// The oldest reports waiting for one address, and how many more wait behind them.
#[derive(Debug, Clone)]
pub struct MailBatch {
    pub items: Vec<QueuedMail>,
    pub more: i64,
    /// The highest id waiting (listed or not): marking up to it covers them all.
    pub up_to: i64,
}

/// One finished attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    pub number: i64,
    /// Unix milliseconds.
    pub ended_at: i64,
    /// `sent`, `retry`, `failed`, `dead` or `unknown` (no answer).
    pub outcome: String,
    pub error: Option<Text>,
}

/// Where an address stands with its confirmation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confirmation {
    pub confirmed: bool,
    /// When the confirmation email went, if it did.
    pub sent_at: Option<i64>,
}

/// What [`Store::enqueue_mail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Queued,
    /// The address has never been mailed and the hour's quota of new addresses is used up.
    NewAddressLimit,
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub deliveries: u64,
    pub reports: u64,
    pub addresses: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.deliveries + self.reports + self.addresses
    }
}

/// The failure-report mail queue, its per-address throttle and the mail fence's records: what
/// [`crate::mail`] keeps, apart from the outbox.
#[async_trait]
pub trait MailQueue: Send + Sync {
    /// Records that a provider accepted the credentials whose keyed hash is `id`.
    async fn vouch(&self, id: &str, now: i64) -> StoreResult<()>;
    async fn vouched(&self, id: &str) -> StoreResult<bool>;
    /// The key `name` shared by every instance; `fresh` becomes it when there is none yet.
    async fn shared_key(&self, name: &str, fresh: &str) -> StoreResult<String>;

    /// Queues a report for `address` (already normalized). An address never mailed before is
    /// let in only while fewer than `max_new_per_hour` addresses were let in during the last hour.
    async fn enqueue_mail(
        &self,
        address: &str,
        report: &str,
        now: i64,
        max_new_per_hour: u32,
    ) -> StoreResult<Enqueued>;
    /// Up to `limit` addresses with reports waiting, the ones waiting longest first; an address
    /// whose confirmation email went after `asked_since` and is not confirmed yet waits for it.
    async fn mail_addresses(&self, limit: i64, asked_since: i64) -> StoreResult<Vec<String>>;
    /// Whether `address` confirmed it wants reports, and when its confirmation email went.
    async fn confirmation(&self, address: &str) -> StoreResult<Confirmation>;
    /// The confirmation email to `address` went at `now`, with a token whose keyed hash is
    /// `token`; the address's claim is released.
    async fn confirmation_sent(&self, address: &str, token: &str, now: i64) -> StoreResult<()>;
    /// The link with the token whose keyed hash is `token` was opened: its address (when the
    /// email went after `sent_since`) is confirmed, and the token can be used no more.
    async fn confirm(&self, token: &str, now: i64, sent_since: i64) -> StoreResult<Option<String>>;
    /// `address` needs no confirmation (`mail.allowed_addresses`).
    async fn mark_confirmed(&self, address: &str, now: i64) -> StoreResult<()>;
    /// Addresses whose confirmation email went after `since` and that have not confirmed yet,
    /// newest first: (address, when the email went).
    async fn awaiting_confirmation(
        &self,
        since: i64,
        limit: i64,
    ) -> StoreResult<Vec<(String, i64)>>;
    /// Reports waiting for `address`.
    async fn held_reports(&self, address: &str) -> StoreResult<i64>;
    /// The oldest `limit` reports waiting for `address`, and how many more wait.
    async fn unsent_mail(&self, address: &str, limit: i64) -> StoreResult<MailBatch>;
    async fn last_mailed(&self, address: &str) -> StoreResult<Option<i64>>;
    /// Takes the right to mail `address` now, for `hold_ms`: only when its throttle has passed
    /// and no one (no other instance) holds it. Mailed or released, it is free again.
    async fn claim_mail(
        &self,
        address: &str,
        now: i64,
        throttle_ms: i64,
        hold_ms: i64,
    ) -> StoreResult<bool>;
    /// Gives up a claim without mailing (the send failed; another pass tries again).
    async fn release_mail(&self, address: &str) -> StoreResult<()>;
    /// Marks every waiting report of `address` up to id `up_to` as mailed.
    async fn mark_mailed(&self, address: &str, up_to: i64, now: i64) -> StoreResult<()>;
}

/// The outbox (deliveries and their attempts) and the health of its storage; every backend keeps
/// the mail queue beside it ([`MailQueue`]) in the same database.
#[async_trait]
pub trait Store: MailQueue + TemplateVersions {
    /// Stores a delivery in state `sending` (its first attempt starts at once), committed on
    /// return, unless one with the same `dedup_key` was created at or after `dedup_since`: then
    /// that one is returned as `Accepted::Duplicate`. Check and insert are one atomic step. The
    /// same `new` (its id) accepted again is `New` again: a write tried again after a commit
    /// whose outcome was unknown is not taken for an earlier POST.
    async fn accept(&self, new: NewDelivery, dedup_since: i64, now: i64) -> StoreResult<Accepted>;
    /// Moves up to `limit` due `pending` deliveries to `sending` and returns them.
    async fn claim_due(&self, now: i64, limit: i64) -> StoreResult<Vec<Record>>;
    /// The earliest `next_attempt_at` of the pending deliveries.
    async fn next_due(&self) -> StoreResult<Option<i64>>;
    /// Records the end of attempt `number` (1 for the first) of delivery `id`. Writing the same
    /// end again changes nothing more: a write tried again after a commit whose outcome was not
    /// known (the connection dropped during it) neither counts the attempt twice nor adds a row.
    async fn finish_attempt(
        &self,
        id: &str,
        number: i64,
        outcome: &Outcome,
        now: i64,
    ) -> StoreResult<()>;
    /// After a crash: attempts that were under way go back to `pending`, unsure whether they
    /// went out ([`Record::unsure`]). Returns how many.
    async fn requeue_interrupted(&self, now: i64) -> StoreResult<u64>;
    async fn get(&self, id: &str) -> StoreResult<Option<Record>>;
    /// Makes dead, failed or unknown deliveries pending again (no longer unsure: the operator
    /// decided), `id` or all dead ones; returns their ids.
    async fn replay(&self, id: Option<&str>, now: i64) -> StoreResult<Vec<String>>;
    async fn count_pending(&self) -> StoreResult<i64>;
    /// The `limit` newest deliveries, in `state` or in any.
    async fn recent(&self, state: Option<State>, limit: i64) -> StoreResult<Vec<Record>>;
    /// The finished attempts of a delivery, first to last.
    async fn attempts(&self, id: &str) -> StoreResult<Vec<Attempt>>;
    async fn ping(&self) -> StoreResult<()>;
    /// Writes the heartbeat row and commits it: the outbox takes writes.
    async fn probe(&self, now: i64) -> StoreResult<()>;
    /// Takes the right to report delivery `id` as still failing: `true` once per delivery, on
    /// every instance together.
    async fn claim_warning(&self, id: &str, now: i64) -> StoreResult<bool>;
    /// What is wrong with the storage, when its connections may not notice (SQLite: the file was
    /// removed, replaced or truncated, or a write failed for lack of space or permission).
    async fn fault(&self) -> Option<StorageFault>;
    async fn usage(&self) -> StoreResult<Usage>;
    /// SQLite: when the file was removed while open, writes the open database back to its path
    /// and goes on with it; `true` when it did. Elsewhere nothing to do.
    async fn write_back(&self) -> StoreResult<bool> {
        Ok(false)
    }
    /// SQLite: gives pages freed by retention back to the file system (a bounded number per
    /// call); returns how many. Elsewhere the database does it (autovacuum).
    async fn give_back(&self) -> StoreResult<u64> {
        Ok(0)
    }
    /// Deletes, at most `batch` rows of each kind: finished deliveries updated before
    /// `finished_before` (or whose `purge_after` is before `now`), reports mailed before
    /// `mailed_before`, and throttle rows of addresses with nothing waiting that were last mailed
    /// (or let in) before `addresses_before`.
    async fn purge(
        &self,
        now: i64,
        finished_before: i64,
        mailed_before: i64,
        addresses_before: i64,
        batch: i64,
    ) -> StoreResult<Purged>;
}

/// What an attempt's end writes.
pub(crate) struct Finished {
    pub state: State,
    /// When the next attempt is due, or when this one ended.
    pub next: i64,
    pub error: Option<String>,
    pub provider_id: Option<String>,
    /// The attempt's outcome word.
    pub how: &'static str,
    /// Deleted after this, sooner than retention (refused credentials).
    pub purge_after: Option<i64>,
    /// Whether the send went out is not known ([`Record::unsure`]).
    pub unsure: bool,
}

pub(crate) fn finished(outcome: &Outcome, now: i64) -> Finished {
    let end = |state, error: &Text, how| Finished {
        state,
        next: now,
        error: Some(error.to_stored()),
        provider_id: None,
        how,
        purge_after: None,
        unsure: false,
    };
    match outcome {
        Outcome::Sent {
            provider_id,
            warning,
        } => Finished {
            state: State::Sent,
            next: now,
            error: warning.as_ref().map(Text::to_stored),
            provider_id: provider_id.clone(),
            how: "sent",
            purge_after: None,
            unsure: false,
        },
        Outcome::Retry {
            next_attempt_at,
            error,
        } => Finished {
            next: *next_attempt_at,
            ..end(State::Pending, error, "retry")
        },
        Outcome::Failed { error } => end(State::Failed, error, "failed"),
        Outcome::Refused { error } => Finished {
            purge_after: Some(now + REFUSED_KEPT_MS),
            ..end(State::Failed, error, "failed")
        },
        Outcome::Dead { error } => end(State::Dead, error, "dead"),
        Outcome::Unknown {
            error,
            check_at: Some(at),
        } => Finished {
            next: *at,
            unsure: true,
            ..end(State::Pending, error, "unknown")
        },
        Outcome::Unknown {
            error,
            check_at: None,
        } => Finished {
            unsure: true,
            ..end(State::Unknown, error, "unknown")
        },
    }
}

/// SQL that both databases read alike (placeholders `$1`, `$2`… in the order they first appear).
pub(crate) mod sql {
    pub const CLAIM_WARNING: &str = "UPDATE deliveries SET warned_at = $2 \
         WHERE id = $1 AND warned_at IS NULL RETURNING id";
    pub const PROBE: &str = "INSERT INTO heartbeat (id, at) VALUES (1, $1) \
        ON CONFLICT (id) DO UPDATE SET at = excluded.at";
    pub const VOUCH: &str = "INSERT INTO vouched_credentials (id, last_seen) VALUES ($1, $2) \
        ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen";
    pub const VOUCHED: &str = "SELECT 1 FROM vouched_credentials WHERE id = $1";
    pub const KEEP_KEY: &str =
        "INSERT INTO service_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
    pub const KEY: &str = "SELECT value FROM service_keys WHERE name = $1";
    pub const COUNT_PENDING: &str =
        "SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'sending')";
    /// Addresses with reports waiting, but not those waiting for their confirmation.
    pub const MAIL_ADDRESSES: &str = "SELECT q.address FROM mail_queue q \
         JOIN mail_addresses a ON a.address = q.address WHERE q.sent_at IS NULL \
         AND (a.confirmed_at IS NOT NULL OR a.confirm_sent_at IS NULL OR a.confirm_sent_at < $2) \
         GROUP BY q.address ORDER BY MIN(q.id) LIMIT $1";
    pub const CONFIRMATION: &str =
        "SELECT confirmed_at, confirm_sent_at FROM mail_addresses WHERE address = $1";
    pub const CONFIRMATION_SENT: &str = "UPDATE mail_addresses SET confirm_sent_at = $2, \
         confirm_token = $3, claimed_until = NULL WHERE address = $1";
    pub const CONFIRM: &str = "UPDATE mail_addresses SET confirmed_at = $2, confirm_token = NULL \
         WHERE confirm_token = $1 AND confirm_sent_at >= $3 RETURNING address";
    pub const MARK_CONFIRMED: &str =
        "UPDATE mail_addresses SET confirmed_at = COALESCE(confirmed_at, $2) WHERE address = $1";
    pub const AWAITING: &str = "SELECT address, confirm_sent_at FROM mail_addresses \
         WHERE confirmed_at IS NULL AND confirm_sent_at >= $1 \
         ORDER BY confirm_sent_at DESC LIMIT $2";
    pub const HELD: &str = "SELECT COUNT(*) FROM mail_queue WHERE address = $1 AND sent_at IS NULL";
    /// Reports held for an address that never confirmed, once as old as retention.
    pub const PURGE_HELD: &str =
        "DELETE FROM mail_queue WHERE id IN (SELECT q.id FROM mail_queue q \
         JOIN mail_addresses a ON a.address = q.address \
         WHERE q.sent_at IS NULL AND a.confirmed_at IS NULL AND q.created_at < $1 LIMIT $2) \
         RETURNING id";
    /// Over the partial index `deliveries_unvouched`: as many rows as the share lets in.
    pub const UNVOUCHED: &str =
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM deliveries WHERE unvouched = 1";
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The statements of [`sql`], run the same way on either database's pool.
pub(crate) struct Shared<'p, DB: sqlx::Database>(pub &'p sqlx::Pool<DB>);

impl<DB> Shared<'_, DB>
where
    DB: sqlx::Database,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
    String: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    i64: for<'r> sqlx::Decode<'r, DB>,
    Option<i64>: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<<DB as sqlx::Database>::Row>,
{
    pub async fn count_pending(&self) -> StoreResult<i64> {
        let row = sqlx::query::<DB>(sql::COUNT_PENDING)
            .fetch_one(self.0)
            .await?;
        Ok(sqlx::Row::get(&row, 0))
    }

    /// The unvouched deliveries and their bytes.
    pub async fn unvouched(&self) -> StoreResult<(i64, u64)> {
        let row = sqlx::query::<DB>(sql::UNVOUCHED).fetch_one(self.0).await?;
        let bytes: i64 = sqlx::Row::get(&row, 1);
        Ok((sqlx::Row::get(&row, 0), bytes.max(0) as u64))
    }

    pub async fn mail_addresses(&self, limit: i64, asked_since: i64) -> StoreResult<Vec<String>> {
        let rows = sqlx::query::<DB>(sql::MAIL_ADDRESSES)
            .bind(limit)
            .bind(asked_since)
            .fetch_all(self.0)
            .await?;
        Ok(rows.iter().map(|r| sqlx::Row::get(r, 0)).collect())
    }

    pub async fn confirmation(&self, address: &str) -> StoreResult<Confirmation> {
        let row = sqlx::query::<DB>(sql::CONFIRMATION)
            .bind(address)
            .fetch_optional(self.0)
            .await?;
        Ok(row.map_or_else(Confirmation::default, |r| Confirmation {
            confirmed: sqlx::Row::get::<Option<i64>, _>(&r, 0).is_some(),
            sent_at: sqlx::Row::get(&r, 1),
        }))
    }

    pub async fn confirmation_sent(&self, address: &str, token: &str, now: i64) -> StoreResult<()> {
        sqlx::query::<DB>(sql::CONFIRMATION_SENT)
            .bind(address)
            .bind(now)
            .bind(token)
            .execute(self.0)
            .await?;
        Ok(())
    }

    pub async fn confirm(
        &self,
        token: &str,
        now: i64,
        sent_since: i64,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query::<DB>(sql::CONFIRM)
            .bind(token)
            .bind(now)
            .bind(sent_since)
            .fetch_optional(self.0)
            .await?;
        Ok(row.map(|r| sqlx::Row::get(&r, 0)))
    }

    pub async fn mark_confirmed(&self, address: &str, now: i64) -> StoreResult<()> {
        sqlx::query::<DB>(sql::MARK_CONFIRMED)
            .bind(address)
            .bind(now)
            .execute(self.0)
            .await?;
        Ok(())
    }

    pub async fn awaiting_confirmation(
        &self,
        since: i64,
        limit: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query::<DB>(sql::AWAITING)
            .bind(since)
            .bind(limit)
            .fetch_all(self.0)
            .await?;
        Ok(rows
            .iter()
            .map(|r| (sqlx::Row::get(r, 0), sqlx::Row::get(r, 1)))
            .collect())
    }

    pub async fn purge_held(&self, before: i64, batch: i64) -> StoreResult<u64> {
        let deleted = sqlx::query::<DB>(sql::PURGE_HELD)
            .bind(before)
            .bind(batch)
            .fetch_all(self.0)
            .await?;
        Ok(deleted.len() as u64)
    }

    pub async fn held_reports(&self, address: &str) -> StoreResult<i64> {
        let row = sqlx::query::<DB>(sql::HELD)
            .bind(address)
            .fetch_one(self.0)
            .await?;
        Ok(sqlx::Row::get(&row, 0))
    }

    pub async fn claim_warning(&self, id: &str, now: i64) -> StoreResult<bool> {
        let row = sqlx::query::<DB>(sql::CLAIM_WARNING)
            .bind(id)
            .bind(now)
            .fetch_optional(self.0)
            .await?;
        Ok(row.is_some())
    }

    pub async fn probe(&self, now: i64) -> StoreResult<()> {
        sqlx::query::<DB>(sql::PROBE)
            .bind(now)
            .execute(self.0)
            .await?;
        Ok(())
    }

    pub async fn vouch(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query::<DB>(sql::VOUCH)
            .bind(id)
            .bind(now)
            .execute(self.0)
            .await?;
        Ok(())
    }

    pub async fn vouched(&self, id: &str) -> StoreResult<bool> {
        let row = sqlx::query::<DB>(sql::VOUCHED)
            .bind(id)
            .fetch_optional(self.0)
            .await?;
        Ok(row.is_some())
    }

    pub async fn shared_key(&self, name: &str, fresh: &str) -> StoreResult<String> {
        sqlx::query::<DB>(sql::KEEP_KEY)
            .bind(name)
            .bind(fresh)
            .execute(self.0)
            .await?;
        let row = sqlx::query::<DB>(sql::KEY)
            .bind(name)
            .fetch_one(self.0)
            .await?;
        Ok(sqlx::Row::get(&row, 0))
    }
}

/// A text column (an error) as read back: see [`Text::from_stored`].
pub(crate) fn stored_text(column: Option<String>) -> Option<Text> {
    column.map(|s| Text::from_stored(&s))
}
