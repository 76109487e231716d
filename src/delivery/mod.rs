//! Durable delivery (SPEC §6): every accepted POST is committed to the outbox before it is
//! answered; attempts go through the channel; transient failures are retried on the schedule until
//! `max_age`; permanent failures and dead deliveries are reported to `errorEmail`.

pub mod admission;
mod attempt;
pub mod lookup;
pub mod retention;
pub mod retry;
pub mod submission;
mod unabandoned;

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};
use tracing::Instrument;

use crate::channel::Registry;
use crate::i18n::Text;
use crate::mail::{Advice, Mailer, OrderSummary};
use crate::settings;
use crate::store::{
    now_ms, Accepted, NewDelivery, Outcome, Record, StorageFault, Store, StoreError,
};
use crate::t;

pub use retry::RetrySchedule;
pub use submission::{DedupKey, Submission};
use unabandoned::Unabandoned;

/// Deliveries a stop would lose, and why (in the operator's words).
#[derive(Debug)]
pub struct Stranded {
    /// How many (-1: not known).
    pub deliveries: i64,
    pub why: Text,
}

/// Why a POST's delivery was not stored.
#[derive(Debug, thiserror::Error)]
pub enum NotStored {
    /// The outbox refuses new deliveries for now (a storage fault, a cap).
    #[error("{0}")]
    Refused(admission::Refusal),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What a delivery is about, kept with it for reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub order: Option<OrderSummary>,
    /// `Wappi cascade <id>`.
    pub target: Text,
    /// The query with secrets masked.
    pub query: String,
}

/// The answer to a submitted POST.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub record: Record,
    /// The same POST was accepted earlier; nothing new was sent.
    pub duplicate: bool,
    /// The first attempt found that the hook URL names something its channel cannot send
    /// through (a Wappi profile of VK, say): the caller's parameters are wrong, as check mode
    /// says.
    pub unusable: bool,
}

pub struct Delivery {
    store: Arc<dyn Store>,
    channels: Arc<Registry>,
    mailer: Arc<Mailer>,
    cfg: settings::Delivery,
    schedule: RetrySchedule,
    wake: Notify,
    slots: Semaphore,
    /// The worker left due deliveries in the outbox for want of a free slot.
    starved: AtomicBool,
    /// A stop was asked for: the worker takes nothing more from the outbox.
    stopping: AtomicBool,
    /// Whether the outbox may take another delivery.
    pub admission: Arc<admission::Admission>,
    /// Attempts that ended but could not be written (the disk was full, say): written again by
    /// the worker until they are, so that a sent message is recorded as sent, not sent again.
    unrecorded: std::sync::Mutex<Vec<(String, i64, Outcome)>>,
}

impl Delivery {
    pub fn new(
        store: Arc<dyn Store>,
        channels: Arc<Registry>,
        mailer: Arc<Mailer>,
        cfg: settings::Delivery,
    ) -> Self {
        let caps = admission::Caps {
            max_pending: cfg.max_pending,
            max_outbox_bytes: cfg.max_outbox_bytes,
            min_free_bytes: cfg.min_free_bytes,
            unvouched_share: cfg.unvouched_share,
        };
        Delivery {
            schedule: RetrySchedule::new(cfg.retry_schedule.clone(), cfg.jitter),
            slots: Semaphore::new(cfg.concurrency),
            admission: Arc::new(admission::Admission::new(store.clone(), caps)),
            unrecorded: std::sync::Mutex::new(Vec::new()),
            store,
            channels,
            mailer,
            cfg,
            wake: Notify::new(),
            starved: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        }
    }

    /// Stores the delivery (or finds the same POST within the dedup window), starts its first
    /// attempt and waits for it up to `delivery.respond_within`. A submission without a text is
    /// stored as failed and reported instead ([`Submission::text`]).
    pub async fn submit(self: &Arc<Self>, submission: Submission) -> Result<Submitted, NotStored> {
        if let Some(refusal) = self.admission.refusal() {
            return Err(NotStored::Refused(refusal));
        }
        let unvouched = !self.vouched(&submission).await;
        if unvouched {
            if let Some(refusal) = self.admission.refuses_unvouched() {
                return Err(NotStored::Refused(refusal));
            }
        }
        // Once handed over, a POST is stored and attempted even if its caller stops waiting (a
        // client that hangs up drops the request's task).
        let stored = self
            .clone()
            .store_and_attempt(submission.into_row(unvouched));
        Unabandoned::new(stored.in_current_span()).await
    }

    /// Whether a provider has accepted the credentials of the submission's hook (anyone can
    /// make up a hook URL: those that no provider vouched for share a small part of the outbox).
    async fn vouched(&self, submission: &Submission) -> bool {
        let secrets = self.channels.stored_secrets(&submission.route);
        let credentials = self.mailer.credentials(&submission.channel, &secrets);
        self.mailer.is_vouched(credentials.as_ref()).await
    }

    async fn store_and_attempt(self: Arc<Self>, new: NewDelivery) -> Result<Submitted, NotStored> {
        if new.failed.is_some() {
            return self.record_failure(new).await.map(|record| Submitted {
                record,
                duplicate: false,
                unusable: false,
            });
        }
        let now = now_ms();
        let since = now - self.cfg.dedup_window.as_millis() as i64;
        let record = match self.store.accept(new, since, now).await? {
            Accepted::New(record) => record,
            Accepted::Duplicate(existing) => {
                tracing::info!(delivery_id = %existing.id, "the same POST was accepted before; not sent again");
                return Ok(Submitted {
                    record: existing,
                    duplicate: true,
                    unusable: false,
                });
            }
        };
        // A task of its own, which goes on when the answer cannot wait for it.
        let attempt = tokio::spawn(self.clone().attempted(record.clone()).in_current_span());
        let (record, unusable) = match tokio::time::timeout(self.cfg.respond_within, attempt).await
        {
            Ok(Ok(done)) => done,
            _ => (record, false),
        };
        Ok(Submitted {
            record,
            duplicate: false,
            unusable,
        })
    }

    /// Stores a delivery that could not be made into a message (`new.failed` says why) as failed,
    /// and reports it to its `errorEmail`.
    async fn record_failure(&self, new: NewDelivery) -> Result<Record, NotStored> {
        let now = now_ms();
        let record = match self.store.accept(new, now, now).await? {
            Accepted::New(record) | Accepted::Duplicate(record) => record,
        };
        metrics::counter!("hooks_deliveries_total", "channel" => record.channel.clone(), "outcome" => "failed")
            .increment(1);
        tracing::warn!(delivery_id = %record.id, error = %record.last_error.as_ref().map(Text::to_string).unwrap_or_default(), "stored as failed: no message could be made");
        self.report(&record, Advice::FixTemplate).await;
        Ok(record)
    }

    /// Makes attempts interrupted by a stop pending again. Must finish before any POST is
    /// accepted: afterwards, a row in `sending` may be a live attempt of this process.
    pub async fn resume_interrupted(&self) -> Result<(), StoreError> {
        let n = self.store.requeue_interrupted(now_ms()).await?;
        if n > 0 {
            tracing::warn!(deliveries = n, "resuming deliveries interrupted by a stop");
        }
        Ok(())
    }

    /// Sends due deliveries until the process ends.
    pub async fn run(self: Arc<Self>) {
        loop {
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            let free = self.slots.available_permits() as i64;
            self.starved.store(free == 0, Ordering::Relaxed);
            if free > 0 {
                match self.store.claim_due(now_ms(), free).await {
                    Ok(due) => {
                        if due.len() as i64 == free {
                            // Perhaps more are due: look again when an attempt frees a slot.
                            self.starved.store(true, Ordering::Relaxed);
                        }
                        for record in due {
                            let span = tracing::info_span!("delivery", delivery_id = %record.id, channel = %record.channel);
                            tokio::spawn(self.clone().attempt(record).instrument(span));
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read the outbox"),
                }
            }
            let mut wait = self.cfg.poll_interval;
            if !self.record_unrecorded().await {
                wait = wait.min(std::time::Duration::from_secs(1));
            }
            if let Ok(Some(next)) = self.store.next_due().await {
                let until = std::time::Duration::from_millis((next - now_ms()).max(0) as u64);
                wait = wait.min(until);
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Stops taking deliveries from the outbox and waits (until `deadline` at most) for the
    /// attempts under way; what is left stays in the outbox for the next start.
    pub async fn stop(&self, deadline: tokio::time::Instant) {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.notify_one();
        let all = self.cfg.concurrency as u32;
        match tokio::time::timeout_at(deadline, self.slots.acquire_many(all)).await {
            Ok(_) => tracing::info!("delivery attempts under way have finished"),
            Err(_) => tracing::warn!(
                "delivery attempts still under way at the end of server.shutdown_grace; they will be resumed at the next start"
            ),
        }
    }

    /// After [`Delivery::stop`]: accepted deliveries that would be lost with the process, if any
    /// (their file was removed and cannot be written back; attempts' ends that were never
    /// written, so their sends are not recorded).
    pub async fn stranded(&self) -> Result<(), Stranded> {
        self.record_unrecorded().await;
        let unrecorded = self.unrecorded.lock().expect("unrecorded lock").len() as i64;
        if unrecorded > 0 {
            return Err(Stranded {
                deliveries: unrecorded,
                why: t!("stop-unrecorded", count = unrecorded),
            });
        }
        if let Some(StorageFault::Removed(_)) = self.store.fault().await {
            if let Err(e) = self.store.write_back().await {
                tracing::error!(error = %e, "cannot write the removed outbox back");
            }
        }
        match self.store.fault().await {
            Some(StorageFault::Removed(_)) => {
                let count = self.store.count_pending().await.unwrap_or(-1);
                Err(Stranded {
                    deliveries: count,
                    why: t!("stop-outbox-removed", count = count),
                })
            }
            _ => Ok(()),
        }
    }

    /// Writes the ends of attempts that could not be written before; `true` when none are left.
    async fn record_unrecorded(&self) -> bool {
        let waiting = std::mem::take(&mut *self.unrecorded.lock().expect("unrecorded lock"));
        if waiting.is_empty() {
            return true;
        }
        let mut left = Vec::new();
        for (id, number, outcome) in waiting {
            match self
                .store
                .finish_attempt(&id, number, &outcome, now_ms())
                .await
            {
                Ok(()) => {
                    tracing::info!(delivery_id = %id, "the attempt's end is written now");
                    if matches!(outcome, Outcome::Retry { .. }) {
                        self.wake.notify_one();
                    }
                }
                Err(_) => left.push((id, number, outcome)),
            }
        }
        let done = left.is_empty();
        self.unrecorded
            .lock()
            .expect("unrecorded lock")
            .extend(left);
        done
    }

    /// The button of a failure-report address's confirmation link was pressed.
    pub async fn confirm_address(&self, token: &str) -> anyhow::Result<crate::mail::Confirmed> {
        self.mailer.confirm(token).await
    }

    /// Addresses waiting for their confirmation, and whether new ones can be asked at all.
    pub async fn awaiting_confirmation(&self, limit: i64) -> anyhow::Result<Vec<(String, i64)>> {
        self.mailer.awaiting(limit).await
    }

    /// Whether a new failure-report address can be asked to confirm (`server.public_url`).
    pub fn can_confirm_addresses(&self) -> bool {
        self.mailer.can_confirm()
    }

    /// Wakes the worker (after a replay, say).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
