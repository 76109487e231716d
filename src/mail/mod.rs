//! Failure reports to `errorEmail` (SPEC §6): queued durably, sent through lettre (SMTP, or `.eml`
//! files when `mail.smtp_url` is empty), at most one email per address per `mail.throttle`; the
//! reports held back go out together in the next email.

use std::{path::PathBuf, sync::Arc, time::Duration};

use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use chrono_tz::Tz;

pub mod fence;
mod test_mail;

pub use fence::CredentialsId;
use fence::{Fence, Verdict};

use crate::i18n::{tr, Lang};
use crate::params::parse_email;
use crate::redact::Secrets;
use crate::settings;
use crate::store::{now_ms, Enqueued, QueuedMail, Record, State, Store};

/// After a failed SMTP send, the next try waits this long (or the throttle, if shorter).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// Addresses looked at in one pass over the queue, at most.
const ADDRESSES_PER_PASS: i64 = 100;
/// Characters of the caller's free text (the undelivered message) quoted in a report.
pub const QUOTED_TEXT_CHARS: usize = 200;

/// The order a report is about.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OrderSummary {
    pub number: String,
    pub service: String,
    /// The order's start in its zone: `2024-05-08 11:15 MSK`.
    pub start: String,
    pub order_id: String,
    /// The IANA zone the hook URL shows times in (reports give their own time in it too).
    #[serde(default)]
    pub timezone: String,
    /// `booking`, `order` or `event`, so that a report names the case as the operator does.
    #[serde(default)]
    pub kind: String,
    /// The client's name and phone as written in the booking form: the operator reads the
    /// report to call the client ("" when the form has none).
    #[serde(default)]
    pub client_name: String,
    #[serde(default)]
    pub client_phone: String,
}

impl OrderSummary {
    /// «booking №180» / «order №557» / «event participation №42»: the case as the operator names it.
    pub fn named(&self) -> String {
        let number = format!("№{}", self.number.trim_start_matches('№').trim());
        match self.kind.as_str() {
            "booking" => format!("booking {number}"),
            "event" => format!("event participation {number}"),
            _ => format!("order {number}"),
        }
    }
}

/// What the operator can do about a report, in one plain sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// The provider refused the credentials (401/403).
    CheckCredentials,
    /// A permanent refusal: the reason names what to fix.
    FixAndResend,
    /// Still failing at the maximum age: the provider did not take it in time.
    ProviderDown,
    /// Still failing after `mail.warn_after`, and still retried.
    StillRetried,
    /// The hook URL's parameters.
    FixUrl,
    /// No usable recipient in the event.
    AddRecipientField,
    /// The template could not make a message.
    FixTemplate,
    /// The message is longer than the messenger takes.
    ShortenMessage,
}

impl Advice {
    pub fn text(self) -> &'static str {
        match self {
            Advice::CheckCredentials => "check the token and the payment in the provider's cabinet, then send the delivery again",
            Advice::FixAndResend => "fix what the reason names, then send the delivery again",
            Advice::ProviderDown => "the provider did not take the message in time: once it works again, send the delivery again",
            Advice::StillRetried => "nothing to do yet: it is being retried, and if the provider stays down, it is reported again when given up",
            Advice::FixUrl => "correct the hook URL in Torrow (the console checks it for you)",
            Advice::AddRecipientField => "the booking form needs the client's phone (or the field the hook URL names): add it in Torrow",
            Advice::FixTemplate => "mend the template (the console's template editor shows the error), then send the delivery again",
            Advice::ShortenMessage => "shorten message or sign_text, or hide parts of the message in the hook URL",
        }
    }

    /// The advice for a POST refused before it was stored, by what went wrong.
    pub fn for_refusal(what: &str) -> Advice {
        match what {
            "No recipient" => Advice::AddRecipientField,
            "Template failed" => Advice::FixTemplate,
            "Message too long" => Advice::ShortenMessage,
            _ => Advice::FixUrl,
        }
    }
}

/// One failure, as the operator will read it. Holds no token; the client's phone is in full only
/// in the order's contact facts (the email goes to the operator, who may call the client).
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
    /// What to do about it, in one sentence ([`Advice::text`]).
    #[serde(default)]
    pub advice: String,
}

impl FailureReport {
    /// A POST refused before anything was stored (wrong parameters, no recipient, a text too
    /// long): `what` says which, `why` is the answer's error.
    pub fn refused(
        what: &str,
        why: String,
        channel: &str,
        target: String,
        query: String,
        order: OrderSummary,
    ) -> FailureReport {
        FailureReport {
            time: chrono::Utc::now().to_rfc3339(),
            what: what.to_string(),
            why,
            channel: channel.to_string(),
            target,
            query,
            delivery_id: None,
            order: Some(order),
            recipient: None,
            text: None,
            advice: Advice::for_refusal(what).text().to_string(),
        }
    }

    /// A stored delivery that failed, or was given up at its maximum age. The recipient is
    /// masked, and the error and the text are scrubbed of the hook's `secrets`; `target`, `query`
    /// and `order` are what the delivery kept about itself (already safe to show).
    pub fn delivery(
        record: &Record,
        secrets: &Secrets,
        target: String,
        query: String,
        order: Option<OrderSummary>,
        advice: Advice,
    ) -> FailureReport {
        let what = match record.state {
            State::Dead => "Delivery given up (still failing at the maximum age)",
            State::Pending | State::Sending => "Delivery still failing (it is being retried)",
            _ => "Delivery failed",
        };
        FailureReport {
            time: chrono::Utc::now().to_rfc3339(),
            what: what.to_string(),
            why: secrets.scrub(record.last_error.as_deref().unwrap_or_default()),
            channel: record.channel.clone(),
            target,
            query,
            delivery_id: Some(record.id.clone()),
            order,
            recipient: Some(crate::redact::phone(&record.recipient)),
            text: Some(secrets.scrub(&record.text)).filter(|t| !t.is_empty()),
            advice: advice.text().to_string(),
        }
    }
}

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
            from: settings.from.parse()?,
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
        match self
            .fence
            .verdict(self.store.as_ref(), &address, credentials)
            .await
        {
            Ok(Verdict::Allowed) => {}
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
        let json = serde_json::to_string(report).expect("a report serializes");
        let queued = self
            .store
            .enqueue_mail(&address, &json, now_ms(), self.max_new_addresses_per_hour)
            .await;
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
        let addresses = self.store.mail_addresses(ADDRESSES_PER_PASS).await?;
        if addresses.len() as i64 == ADDRESSES_PER_PASS {
            soon(0);
        }
        for address in addresses {
            let now = now_ms();
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

/// Subject and body of one email holding `reports` (one report, or a digest of several) and
/// counting `more` reports that are not listed, in `lang`.
pub fn compose(
    reports: &[FailureReport],
    more: i64,
    lang: Lang,
    console: Option<&str>,
) -> (String, String) {
    let total = reports.len() as i64 + more;
    let subject = match reports {
        [one] if more == 0 => {
            let what = tr(lang, &one.what);
            match &one.order {
                Some(o) => format!("[torrow-hooks] {what}: {} ({})", o.named(), one.channel),
                None => format!("[torrow-hooks] {what} ({})", one.channel),
            }
        }
        _ => format!("[torrow-hooks] {total} delivery problems"),
    };
    let mut body = Vec::new();
    if total > 1 {
        body.push(tr(lang, &format!(
            "{total} problems happened since the last email (at most one email is sent per address per throttle period)."
        )));
        body.push(String::new());
    }
    for (i, r) in reports.iter().enumerate() {
        if reports.len() > 1 {
            body.push(tr(lang, &format!("=== {} of {} ===", i + 1, reports.len())));
        }
        body.extend(describe(r, lang, console));
        body.push(String::new());
    }
    if more > 0 {
        body.push(tr(lang, &format!(
            "… and {more} more, not listed here (see the service log, or `torrow-hooks replay --all-dead`)."
        )));
        body.push(String::new());
    }
    body.push("--".to_string());
    body.push(tr(lang, "torrow-hooks: WebHook notifications for Torrow"));
    (tr(lang, &subject), body.join("\n") + "\n")
}

/// The lines about one report. Every time is in the order's zone, written one way
/// (`2024-05-08 11:15 MSK`); the undelivered text is quoted as it is.
fn describe(r: &FailureReport, lang: Lang, console: Option<&str>) -> Vec<String> {
    let zone = r.order.as_ref().and_then(|o| o.timezone.parse::<Tz>().ok());
    let mut lines = vec![
        format!("What failed: {}", r.what),
        format!("Why: {}", r.why),
    ];
    if !r.advice.is_empty() {
        lines.push(format!("What to do: {}", r.advice));
    }
    lines.push(format!("When: {}", local_time(&r.time, zone)));
    lines.push(format!("Channel: {} ({})", r.channel, r.target));
    if let Some(o) = &r.order {
        lines.push(format!("Case: {} (id {})", o.named(), o.order_id));
        if !o.client_name.is_empty() {
            lines.push(format!("Client: {}", o.client_name));
        }
        if !o.client_phone.is_empty() {
            lines.push(format!("Client's phone: {}", o.client_phone));
        }
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
        if let Some(base) = console {
            lines.push(format!("In the console: {base}/console?delivery={id}"));
        }
    }
    lines.push(format!(
        "Hook parameters: {}",
        crate::i18n::character_counts(lang, &r.query)
    ));
    let mut lines: Vec<String> = lines.iter().map(|l| tr(lang, l)).collect();
    if let Some(text) = &r.text {
        lines.push(String::new());
        let chars = text.chars().count();
        let heading = if chars > QUOTED_TEXT_CHARS {
            format!(
                "The message that was not delivered (the first {QUOTED_TEXT_CHARS} of {chars} characters):"
            )
        } else {
            "The message that was not delivered:".to_string()
        };
        lines.push(tr(lang, &heading));
        lines.push(crate::redact::cut(text, QUOTED_TEXT_CHARS));
    }
    lines
}

/// An RFC 3339 time in `zone` (UTC without one), as `2024-05-08 11:15 MSK`.
pub fn local_time(rfc3339: &str, zone: Option<Tz>) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => match zone {
            Some(tz) => t.with_timezone(&tz).format(TIME_FORMAT).to_string(),
            None => t
                .with_timezone(&chrono::Utc)
                .format(TIME_FORMAT)
                .to_string(),
        },
        Err(_) => rfc3339.to_string(),
    }
}

/// How failure emails write every time.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M %Z";
