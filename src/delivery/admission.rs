//! Whether the outbox may take another delivery. A POST is answered 202 only when what it
//! accepts can be sent: never into a file that is gone, a disk that is full, or an outbox past
//! its caps. A watch task looks every [`TICK`] (storage faults, pending count, size, free space)
//! and the POST path reads its last verdict; the SQLite store also checks its file on every
//! accept. Going in and out of a refusal is logged once and counted.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use crate::i18n::Text;
use crate::store::{now_ms, StorageFault, Store, Usage};
use crate::t;

/// Free bytes needed before a failed write is tried again.
const RECOVERY_ROOM: u64 = 1024 * 1024;

/// How often the outbox is looked at.
pub const TICK: Duration = Duration::from_millis(250);

/// `[delivery]` caps.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max_pending: i64,
    pub max_outbox_bytes: u64,
    pub min_free_bytes: u64,
    /// What unvouched hooks may hold together, as a part of the two caps above.
    pub unvouched_share: f64,
}

impl Caps {
    /// The deliveries and bytes unvouched hooks may hold together.
    fn unvouched(&self) -> (i64, u64) {
        let share = self.unvouched_share.clamp(0.0, 1.0);
        (
            (self.max_pending as f64 * share) as i64,
            (self.max_outbox_bytes as f64 * share) as u64,
        )
    }
}

/// Why new deliveries are refused now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{}", self.text())]
    Fault(StorageFault),
    #[error("{}", self.text())]
    TooManyPending { pending: i64 },
    #[error("{}", self.text())]
    TooLarge { size: u64 },
    #[error("{}", self.text())]
    LowSpace { free: u64, min: u64 },
    #[error("{}", self.text())]
    Unreadable(String),
    /// Hooks whose credentials no provider accepted hold their whole share (only their POSTs
    /// are refused, with 429).
    #[error("{}", self.text())]
    UnvouchedShare { deliveries: i64, bytes: u64 },
}

impl Refusal {
    /// Why, in the reader's words (the `Display` text is the log's).
    pub fn text(&self) -> Text {
        match self {
            Refusal::Fault(fault) => fault.text(),
            Refusal::TooManyPending { pending } => {
                t!(
                    "store-pending-deliveries-waiting-most-outbox",
                    pending = *pending
                )
            }
            Refusal::TooLarge { size } => t!("store-outbox-takes-size-bytes-limit", size = *size),
            Refusal::LowSpace { free, min } => t!(
                "store-only-free-bytes-free-outbox",
                free = *free,
                min = *min
            ),
            Refusal::Unreadable(why) => t!("store-outbox-cannot-read-error", error = why),
            Refusal::UnvouchedShare { deliveries, bytes } => t!(
                "store-unvouched-share-full",
                deliveries = *deliveries,
                bytes = *bytes
            ),
        }
    }

    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Fault(StorageFault::Removed(_)) => "file_removed",
            Refusal::Fault(StorageFault::Replaced(_)) => "file_replaced",
            Refusal::Fault(StorageFault::Truncated(_)) => "file_truncated",
            Refusal::Fault(StorageFault::WriteFailed(_)) => "write_failed",
            Refusal::TooManyPending { .. } => "max_pending",
            Refusal::TooLarge { .. } => "max_outbox_bytes",
            Refusal::LowSpace { .. } => "min_free_bytes",
            Refusal::Unreadable(_) => "unreadable",
            Refusal::UnvouchedShare { .. } => "unvouched_share",
        }
    }

    /// What the operator should do, for the log and `/readyz`.
    pub fn advice(&self) -> &'static str {
        match self {
            Refusal::Fault(StorageFault::Removed(_)) => {
                "the service writes the open outbox back to its path by itself and then takes POSTs again; if it cannot (the folder is gone or cannot be written), make the folder writable again: until then deliveries accepted before are still sent from the open file, and a stop says how many would be lost"
            }
            Refusal::Fault(StorageFault::Replaced(_)) => {
                "another file was put in the outbox's place: deliveries accepted before are still sent from the open file; once none remain, put the outbox's own file back from a backup, or stop the service and run `torrow-hooks new-outbox` to start a new one on purpose"
            }
            Refusal::Fault(StorageFault::Truncated(_)) => {
                "the file was cut short and its contents may be lost; stop the service and restore the file from a backup"
            }
            Refusal::Fault(StorageFault::WriteFailed(_)) | Refusal::LowSpace { .. } => {
                "free disk space (or fix the file's permissions); the service takes POSTs again by itself once it can write"
            }
            Refusal::TooManyPending { .. } | Refusal::TooLarge { .. } => {
                "deliveries are not going out: check the channel's provider and the deliveries in the console; new POSTs are taken again as the backlog shrinks"
            }
            Refusal::Unreadable(_) => "check the database the service is configured with",
            Refusal::UnvouchedShare { .. } => {
                "only hooks whose credentials no provider has accepted yet are refused (429); accepted hooks are still taken. Check such a hook once in Torrow (its credentials are then accepted), or raise delivery.unvouched_share; retention frees the share as their deliveries age"
            }
        }
    }
}

/// The last look at the outbox.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub refusal: Option<Refusal>,
    /// Why POSTs of unvouched hooks are refused now, while others are taken.
    pub unvouched: Option<Refusal>,
    /// Pending and sending deliveries.
    pub pending: i64,
    pub usage: Usage,
    /// Unix ms of the look.
    pub at: i64,
}

pub struct Admission {
    store: Arc<dyn Store>,
    caps: Caps,
    verdict: RwLock<Verdict>,
    /// The last heartbeat write: when, and how it went.
    last_write: tokio::sync::Mutex<(i64, Result<(), String>)>,
}

/// A heartbeat write is made at most this often, however often `/readyz` is asked.
const WRITE_CHECK_EVERY_MS: i64 = 1000;

impl Admission {
    pub fn new(store: Arc<dyn Store>, caps: Caps) -> Self {
        Admission {
            store,
            caps,
            verdict: RwLock::new(Verdict::default()),
            last_write: tokio::sync::Mutex::new((0, Ok(()))),
        }
    }

    /// Whether the outbox took a write of ours within the last second (one is made when not, and
    /// after a failed one).
    pub async fn write_check(&self) -> Result<(), String> {
        let mut last = self.last_write.lock().await;
        let now = now_ms();
        if let Some(Refusal::Fault(fault @ StorageFault::WriteFailed(_))) = self.refusal() {
            // Tried again by the watch, once there is room.
            return Err(fault.to_string());
        }
        // A success is trusted for a second; a failure is tried again at the next ask.
        if last.1.is_err() || now - last.0 >= WRITE_CHECK_EVERY_MS {
            let probe = self.store.probe(now).await.map_err(|e| {
                tracing::warn!(error = %e, "the outbox did not take the heartbeat write");
                match e {
                    crate::store::StoreError::Storage(fault) => fault.to_string(),
                    _ => "the outbox did not take a write (the service log says why)".to_string(),
                }
            });
            *last = (now, probe);
        }
        last.1.clone()
    }

    /// Why a new delivery would be refused now, if it would. An outbox that could not be read
    /// at the last look does not refuse by itself: the POST tries it (and gets its own error),
    /// so that the first POST after a database comes back is taken at once.
    pub fn refusal(&self) -> Option<Refusal> {
        self.verdict
            .read()
            .expect("verdict lock")
            .refusal
            .clone()
            .filter(|r| !matches!(r, Refusal::Unreadable(_)))
    }

    /// Why a delivery of a hook whose credentials no provider has accepted would be refused now
    /// (their share of the outbox is full), if it would.
    pub fn refuses_unvouched(&self) -> Option<Refusal> {
        self.verdict.read().expect("verdict lock").unvouched.clone()
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict.read().expect("verdict lock").clone()
    }

    /// Looks at the outbox once and keeps the verdict; returns it. A failed write is looked at
    /// again with a write of our own, so that the outbox is taken back as soon as it can write.
    pub async fn look(&self) -> Verdict {
        let mut fault = self.store.fault().await;
        if matches!(fault, Some(StorageFault::Removed(_))) {
            fault = self.write_back().await;
        }
        let usage = self.store.usage().await;
        if matches!(fault, Some(StorageFault::WriteFailed(_))) {
            // Try again only once there is some room: a write that fits in the log's old space
            // would prove nothing.
            let room = match &usage {
                Ok(Usage {
                    free_bytes: Some(free),
                    ..
                }) => *free >= RECOVERY_ROOM,
                _ => true,
            };
            if room && self.store.probe(now_ms()).await.is_ok() {
                fault = self.store.fault().await;
            }
        }
        let pending = self.store.count_pending().await;
        let refusal = match (fault, &pending, &usage) {
            (Some(fault), _, _) => Some(Refusal::Fault(fault)),
            (None, Err(e), _) | (None, _, Err(e)) => Some(Refusal::Unreadable(e.to_string())),
            (None, Ok(pending), Ok(usage)) => self.over_caps(*pending, *usage),
        };
        let unvouched = usage.as_ref().ok().and_then(|u| self.over_share(u));
        let verdict = Verdict {
            refusal,
            unvouched,
            pending: pending.unwrap_or(-1),
            usage: usage.unwrap_or_default(),
            at: now_ms(),
        };
        let before = std::mem::replace(
            &mut *self.verdict.write().expect("verdict lock"),
            verdict.clone(),
        );
        self.tell(before.refusal.as_ref(), &verdict);
        match (&before.unvouched, &verdict.unvouched) {
            (None, Some(refusal)) => {
                metrics::counter!("hooks_outbox_refusals_total", "reason" => refusal.reason())
                    .increment(1);
                tracing::warn!(cause = %refusal, advice = refusal.advice(), "POSTs of hooks without accepted credentials are refused (429)");
            }
            (Some(_), None) => tracing::info!("hooks without accepted credentials are taken again"),
            _ => {}
        }
        verdict
    }

    /// The outbox file was removed while open: written back from the open database (logged and
    /// counted); the fault as it stands afterwards.
    async fn write_back(&self) -> Option<StorageFault> {
        match self.store.write_back().await {
            Ok(true) => {
                metrics::counter!("hooks_outbox_written_back_total").increment(1);
                tracing::warn!(
                    "the outbox file was removed while in use; it has been written back from the open database, and nothing accepted is lost"
                );
            }
            Ok(false) => {}
            // Tried again at every look; the log keeps one line a minute of it (telemetry).
            Err(e) => {
                tracing::error!(error = %e, "the outbox file was removed and cannot be written back; new POSTs are refused until it can")
            }
        }
        self.store.fault().await
    }

    fn over_share(&self, usage: &Usage) -> Option<Refusal> {
        let (deliveries, bytes) = self.caps.unvouched();
        (usage.unvouched_deliveries >= deliveries || usage.unvouched_bytes >= bytes).then_some(
            Refusal::UnvouchedShare {
                deliveries: usage.unvouched_deliveries,
                bytes: usage.unvouched_bytes,
            },
        )
    }

    fn over_caps(&self, pending: i64, usage: Usage) -> Option<Refusal> {
        let caps = self.caps;
        if pending >= caps.max_pending {
            Some(Refusal::TooManyPending { pending })
        } else if usage.size_bytes >= caps.max_outbox_bytes {
            Some(Refusal::TooLarge {
                size: usage.size_bytes,
            })
        } else {
            match usage.free_bytes {
                Some(free) if free < caps.min_free_bytes => Some(Refusal::LowSpace {
                    free,
                    min: caps.min_free_bytes,
                }),
                _ => None,
            }
        }
    }

    /// Logs and counts a change of verdict.
    fn tell(&self, before: Option<&Refusal>, now: &Verdict) {
        metrics::gauge!("hooks_outbox_accepting").set(if now.refusal.is_none() {
            1.0
        } else {
            0.0
        });
        metrics::gauge!("hooks_outbox_pending").set(now.pending as f64);
        metrics::gauge!("hooks_outbox_bytes").set(now.usage.size_bytes as f64);
        match (before, &now.refusal) {
            (_, Some(refusal)) if before.map(Refusal::reason) != Some(refusal.reason()) => {
                metrics::counter!("hooks_outbox_refusals_total", "reason" => refusal.reason())
                    .increment(1);
                let what = if before.is_none() {
                    "new POSTs are refused (503): the outbox cannot take them"
                } else {
                    "new POSTs are still refused (503)"
                };
                tracing::error!(cause = ?refusal, remaining = now.pending, advice = refusal.advice(), "{what}");
            }
            (Some(_), None) => tracing::info!("the outbox takes new POSTs again"),
            _ => {}
        }
    }

    /// Looks every [`TICK`] until the process ends.
    pub async fn watch(self: Arc<Self>) {
        // Said once on the way in ([`Admission::tell`]); repeated once a minute while it lasts.
        let looks_a_minute = (60_000 / TICK.as_millis()) as u64;
        let mut every = tokio::time::interval(TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for looks in 1u64.. {
            every.tick().await;
            let verdict = self.look().await;
            if let Some(refusal) = verdict
                .refusal
                .as_ref()
                .filter(|_| looks % looks_a_minute == 0)
            {
                tracing::warn!(cause = %refusal, remaining = verdict.pending, advice = refusal.advice(), "new POSTs are still refused (503)");
            }
        }
    }
}
