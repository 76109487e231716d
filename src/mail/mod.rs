//! Failure reports to `errorEmail` (SPEC §6): queued durably, sent through lettre (SMTP, or `.eml`
//! files when `mail.smtp_url` is empty), at most one email per address per `mail.throttle`; the
//! reports held back go out together in the next email.

use std::{path::PathBuf, sync::Arc, time::Duration};

use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use tokio::sync::Notify;

mod confirm;
pub mod fence;
mod report;
mod test_mail;

pub use confirm::Confirmed;

pub use report::{
    compose, local_time, Advice, FailureReport, OrderSummary, QUOTED_TEXT_CHARS, TIME_FORMAT,
};

pub use fence::CredentialsId;
use fence::{Fence, Verdict};

use crate::i18n::Lang;
use crate::params::parse_email;
use crate::settings;
use crate::store::{now_ms, Enqueued, QueuedMail, Store};

/// After a failed SMTP send, the next try waits this long (or the throttle, if shorter).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// Addresses looked at in one pass over the queue, at most.
const ADDRESSES_PER_PASS: i64 = 100;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// How long an instance may take to mail one address before another may try.
const CLAIM_HOLD: Duration = Duration::from_secs(120);

pub struct Mailer {
    store: Arc<dyn Store>,
    transport: Transport,
    from: Mailbox,
    throttle: Duration,
    max_new_addresses_per_hour: u32,
    max_reports_per_email: u32,
    /// `mail.warn_after`.
    pub warn_after: Duration,
    /// `server.public_url`, when set: reports link each delivery in the console.
    console: Option<String>,
    language: Lang,
    wake: Notify,
    /// Who may be mailed at all.
    fence: Fence,
}

impl Mailer {
    pub async fn new(
        settings: &settings::Mail,
        language: Lang,
        public_url: &str,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Self> {
        let fence = Fence::load(store.as_ref(), &settings.allowed_addresses)
            .await
            .map_err(|e| anyhow::anyhow!("mail: {e}"))?;
        let transport = if settings.smtp_url.trim().is_empty() {
            Transport::Files(AsyncFileTransport::new(&settings.dir), settings.dir.clone())
        } else {
            let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
                .map_err(|e| anyhow::anyhow!("mail.smtp_url: {e}"))?
                .timeout(Some(Duration::from_secs(30)))
                .build();
            Transport::Smtp(smtp)
        };
        Ok(Mailer {
            store,
            transport,
            from: settings.sender().parse()?,
            throttle: settings.throttle,
            max_new_addresses_per_hour: settings.max_new_addresses_per_hour,
            max_reports_per_email: settings.max_reports_per_email,
            warn_after: settings.warn_after,
            console: Some(public_url.trim().trim_end_matches('/'))
                .filter(|u| !u.is_empty())
                .map(str::to_string),
            language,
            wake: Notify::new(),
            fence,
        })
    }

    /// The keyed hash of a hook's credentials, or `None` when it has none (see [`fence`]).
    pub fn credentials(
        &self,
        channel: &str,
        secrets: &crate::redact::Secrets,
    ) -> Option<CredentialsId> {
        self.fence.credentials(channel, secrets)
    }

    /// Whether a provider has accepted these credentials (`None`: a hook without any).
    pub async fn is_vouched(&self, credentials: Option<&CredentialsId>) -> bool {
        match credentials {
            Some(id) => self.fence.is_vouched(self.store.as_ref(), id).await,
            None => false,
        }
    }

    /// A provider accepted these credentials: reports about their hooks may be mailed.
    pub async fn vouch(&self, credentials: Option<&CredentialsId>) {
        if let Some(id) = credentials {
            self.fence.vouch(self.store.as_ref(), id).await;
        }
    }

    /// Queues a report for `address` about a hook with `credentials`; it goes out as soon as
    /// the throttle allows. An address that cannot be mailed, one the fence keeps out (see
    /// [`fence`]), or a new one over the hourly quota, is logged and counted instead.
    pub async fn report(
        &self,
        address: &str,
        report: &FailureReport,
        credentials: Option<&CredentialsId>,
    ) {
        let address = match parse_email(address) {
            Ok(a) => a.to_string(),
            Err(e) => {
                tracing::warn!(error = %e, what = %report.what, "failure report not queued: errorEmail cannot be mailed");
                return;
            }
        };
        let verdict = self
            .fence
            .verdict(self.store.as_ref(), &address, credentials)
            .await;
        match verdict {
            Ok(Verdict::Allowed | Verdict::Listed) => {}
            Ok(verdict) => {
                let (reason, why) = match verdict {
                    Verdict::NeverAccepted => ("credentials_never_accepted", "no provider has accepted this hook's credentials yet (check the hook URL once in Torrow)"),
                    _ => ("not_allowed", "this channel has no credentials of its own and the address is not in mail.allowed_addresses"),
                };
                metrics::counter!("hooks_emails_refused_total", "reason" => reason).increment(1);
                tracing::warn!(
                    domain = address.rsplit('@').next().unwrap_or(""),
                    what = %report.what,
                    "failure report not mailed, only logged: {why}"
                );
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, what = %report.what, "cannot queue a failure report");
                return;
            }
        }
        let listed = matches!(verdict, Ok(Verdict::Listed));
        if !listed && self.held_enough(&address).await {
            return;
        }
        let json = serde_json::to_string(report).expect("a report serializes");
        let queued = self
            .store
            .enqueue_mail(&address, &json, now_ms(), self.max_new_addresses_per_hour)
            .await;
        if listed && matches!(queued, Ok(Enqueued::Queued)) {
            // The operator listed it: it needs no confirmation.
            if let Err(e) = self.store.mark_confirmed(&address, now_ms()).await {
                tracing::warn!(error = %e, "cannot record an allowed address as confirmed");
            }
        }
        match queued {
            Ok(Enqueued::Queued) => self.wake.notify_one(),
            Ok(Enqueued::NewAddressLimit) => {
                metrics::counter!("hooks_emails_refused_total", "reason" => "new_address_limit")
                    .increment(1);
                tracing::warn!(
                    domain = address.rsplit('@').next().unwrap_or(""),
                    limit = self.max_new_addresses_per_hour,
                    what = %report.what,
                    "failure report not mailed: too many new addresses this hour (mail.max_new_addresses_per_hour)"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, what = %report.what, "cannot queue a failure report")
            }
        }
    }

    /// An address that has not confirmed yet holds [`confirm::MAX_HELD`] reports at most; more
    /// are logged and counted, not kept.
    async fn held_enough(&self, address: &str) -> bool {
        let confirmed = self
            .store
            .confirmation(address)
            .await
            .is_ok_and(|c| c.confirmed);
        if confirmed {
            return false;
        }
        match self.store.held_reports(address).await {
            Ok(held) if held >= confirm::MAX_HELD => {
                metrics::counter!("hooks_emails_refused_total", "reason" => "awaiting_confirmation")
                    .increment(1);
                tracing::warn!(
                    domain = address.rsplit('@').next().unwrap_or(""),
                    held,
                    "failure report not kept: its address has not confirmed yet, and holds enough"
                );
                true
            }
            _ => false,
        }
    }

    /// Sends queued reports until the process ends.
    pub async fn run(self: Arc<Self>) {
        loop {
            let wait = match self.flush().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!(error = %e, "mail queue");
                    Some(RETRY_AFTER_FAILURE)
                }
            };
            match wait {
                Some(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.wake.notified() => {}
                    }
                }
                None => self.wake.notified().await,
            }
        }
    }

    /// Mails every address whose throttle has passed; returns how long until the next one is due.
    /// The queue is read in bounded pages: some addresses per pass, some reports per address.
    async fn flush(&self) -> anyhow::Result<Option<Duration>> {
        let throttle = self.throttle.as_millis() as i64;
        let mut next: Option<i64> = None;
        let mut soon = |ms: i64| next = Some(next.map_or(ms, |n: i64| n.min(ms)));
        let asked_since = now_ms() - confirm::ASK_AGAIN_AFTER.as_millis() as i64;
        let addresses = self
            .store
            .mail_addresses(ADDRESSES_PER_PASS, asked_since)
            .await?;
        if addresses.len() as i64 == ADDRESSES_PER_PASS {
            soon(0);
        }
        for address in addresses {
            let now = now_ms();
            // Not confirmed (never asked, or asked too long ago): ask, and hold its reports.
            if !self.store.confirmation(&address).await?.confirmed {
                if let Err(e) = self.ask(&address, now).await {
                    tracing::error!(error = %e, "cannot send a confirmation email; will try again");
                    soon(RETRY_AFTER_FAILURE.as_millis() as i64);
                }
                continue;
            }
            let due = self
                .store
                .last_mailed(&address)
                .await?
                .map_or(now, |last| last + throttle);
            if due > now {
                soon(due - now);
                continue;
            }
            // Several instances may share the queue: the one that claims the address mails it.
            let hold = CLAIM_HOLD.as_millis() as i64;
            if !self.store.claim_mail(&address, now, throttle, hold).await? {
                soon(hold);
                continue;
            }
            let batch = self
                .store
                .unsent_mail(&address, self.max_reports_per_email as i64)
                .await?;
            match self.send(&address, &batch.items, batch.more).await {
                Ok(()) => {
                    self.store
                        .mark_mailed(&address, batch.up_to, now_ms())
                        .await?;
                    metrics::counter!("hooks_emails_sent_total").increment(1);
                    tracing::info!(
                        reports = batch.items.len() as i64 + batch.more,
                        "failure report mailed"
                    );
                }
                Err(e) if never_deliverable(&e) => {
                    // Trying again every minute forever would help no one: drop these reports.
                    self.store
                        .mark_mailed(&address, batch.up_to, now_ms())
                        .await?;
                    metrics::counter!("hooks_emails_refused_total", "reason" => "undeliverable")
                        .increment(1);
                    tracing::error!(error = %e, reports = batch.items.len() as i64 + batch.more, "failure report cannot be delivered to its address; dropped");
                }
                Err(e) => {
                    self.store.release_mail(&address).await?;
                    tracing::error!(error = %e, "cannot send a failure report; will try again");
                    let retry = RETRY_AFTER_FAILURE.min(self.throttle.max(Duration::from_secs(1)));
                    soon(retry.as_millis() as i64);
                }
            }
        }
        Ok(next.map(|ms| Duration::from_millis(ms.max(0) as u64)))
    }

    async fn send(&self, address: &str, items: &[QueuedMail], more: i64) -> anyhow::Result<()> {
        let to = parse_email(address).map_err(|why| Undeliverable(format!("{address}: {why}")))?;
        let reports: Vec<FailureReport> = items
            .iter()
            .filter_map(|i| serde_json::from_str(&i.report).ok())
            .collect();
        let (subject, body) = compose(&reports, more, self.language, self.console.as_deref());
        let to = Mailbox::new(None, to);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::Files(files, dir) => {
                tokio::fs::create_dir_all(dir).await?;
                files.send(message).await?;
            }
        }
        Ok(())
    }
}

/// An address that can never be mailed (queued before it was checked as it is now). An SMTP
/// refusal is not taken as final: a wrong `mail.smtp_url` is mended by the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Undeliverable(String);

fn never_deliverable(e: &anyhow::Error) -> bool {
    e.is::<Undeliverable>()
}
