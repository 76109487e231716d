//! Failure reports to `errorEmail` (SPEC §6): queued durably, sent through lettre (SMTP, or `.eml`
//! files when `mail.smtp_url` is empty), at most one email per address per `mail.throttle`; the
//! reports held back go out together in the next email.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::settings;
use crate::store::{now_ms, QueuedMail, Store};

/// After a failed SMTP send, the next try waits this long (or the throttle, if shorter).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// The order a report is about.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OrderSummary {
    pub number: String,
    pub service: String,
    pub start: String,
    pub order_id: String,
}

/// One failure, as the operator will read it. Holds no token and no full phone number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailureReport {
    pub time: String,
    /// What failed: "Delivery failed", "Wrong parameters", …
    pub what: String,
    pub why: String,
    pub channel: String,
    /// What the hook sends through (`Wappi cascade <id>`).
    pub target: String,
    /// The hook URL's query, secrets masked.
    pub query: String,
    pub delivery_id: Option<String>,
    pub order: Option<OrderSummary>,
    /// Masked (`7911*****77`).
    pub recipient: Option<String>,
    /// The text that was not delivered.
    pub text: Option<String>,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

pub struct Mailer {
    store: Arc<dyn Store>,
    transport: Transport,
    from: Mailbox,
    throttle: Duration,
    wake: Notify,
}

impl Mailer {
    pub fn new(settings: &settings::Mail, store: Arc<dyn Store>) -> anyhow::Result<Self> {
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
            from: settings.from.parse()?,
            throttle: settings.throttle,
            wake: Notify::new(),
        })
    }

    /// Queues a report for `address`; it goes out as soon as the throttle allows.
    pub async fn report(&self, address: &str, report: &FailureReport) {
        let json = serde_json::to_string(report).expect("a report serializes");
        match self.store.enqueue_mail(address, &json, now_ms()).await {
            Ok(()) => self.wake.notify_one(),
            Err(e) => {
                tracing::error!(error = %e, what = %report.what, "cannot queue a failure report")
            }
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
    async fn flush(&self) -> anyhow::Result<Option<Duration>> {
        let mut by_address: BTreeMap<String, Vec<QueuedMail>> = BTreeMap::new();
        for item in self.store.unsent_mail().await? {
            by_address
                .entry(item.address.clone())
                .or_default()
                .push(item);
        }
        let throttle = self.throttle.as_millis() as i64;
        let mut next: Option<i64> = None;
        for (address, items) in by_address {
            let now = now_ms();
            let due = self
                .store
                .last_mailed(&address)
                .await?
                .map_or(now, |last| last + throttle);
            if due > now {
                next = Some(next.map_or(due - now, |n: i64| n.min(due - now)));
                continue;
            }
            match self.send(&address, &items).await {
                Ok(()) => {
                    let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
                    self.store.mark_mailed(&address, &ids, now_ms()).await?;
                    metrics::counter!("hooks_emails_sent_total").increment(1);
                    tracing::info!(reports = ids.len(), "failure report mailed");
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot send a failure report; will try again");
                    let retry = RETRY_AFTER_FAILURE.min(self.throttle.max(Duration::from_secs(1)));
                    let retry = retry.as_millis() as i64;
                    next = Some(next.map_or(retry, |n| n.min(retry)));
                }
            }
        }
        Ok(next.map(|ms| Duration::from_millis(ms.max(0) as u64)))
    }

    async fn send(&self, address: &str, items: &[QueuedMail]) -> anyhow::Result<()> {
        let reports: Vec<FailureReport> = items
            .iter()
            .filter_map(|i| serde_json::from_str(&i.report).ok())
            .collect();
        let (subject, body) = compose(&reports);
        let message = Message::builder()
            .from(self.from.clone())
            .to(address.parse()?)
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

/// Subject and body of one email holding `reports` (one report, or a digest of several).
pub fn compose(reports: &[FailureReport]) -> (String, String) {
    let subject = match reports {
        [one] => {
            let order = one
                .order
                .as_ref()
                .map(|o| format!(" for order {}", o.number.trim_start_matches('№')))
                .unwrap_or_default();
            format!("[torrow-hooks] {}{order} ({})", one.what, one.channel)
        }
        many => format!("[torrow-hooks] {} delivery problems", many.len()),
    };
    let mut body = String::new();
    if reports.len() > 1 {
        body.push_str(&format!(
            "{} problems happened since the last email (at most one email is sent per address per throttle period).\n\n",
            reports.len()
        ));
    }
    for (i, r) in reports.iter().enumerate() {
        if reports.len() > 1 {
            body.push_str(&format!("=== {} of {} ===\n", i + 1, reports.len()));
        }
        body.push_str(&describe(r));
        body.push('\n');
    }
    body.push_str("--\ntorrow-hooks: WebHook notifications for Torrow\n");
    (subject, body)
}

fn describe(r: &FailureReport) -> String {
    let mut lines = vec![
        format!("What failed: {}", r.what),
        format!("Why: {}", r.why),
        format!("When: {}", r.time),
        format!("Channel: {} ({})", r.channel, r.target),
    ];
    if let Some(o) = &r.order {
        lines.push(format!("Order: {} (id {})", o.number, o.order_id));
        if !o.service.is_empty() {
            lines.push(format!("Service: {}", o.service));
        }
        if !o.start.is_empty() {
            lines.push(format!("Time: {}", o.start));
        }
    }
    if let Some(recipient) = &r.recipient {
        lines.push(format!("Recipient: {recipient}"));
    }
    if let Some(id) = &r.delivery_id {
        lines.push(format!(
            "Delivery id: {id} (resend with: torrow-hooks replay {id})"
        ));
    }
    lines.push(format!("Hook parameters: {}", r.query));
    if let Some(text) = &r.text {
        lines.push(String::new());
        lines.push("The message that was not delivered:".to_string());
        lines.push(text.clone());
    }
    lines.join("\n") + "\n"
}
