//! A failure report as the operator reads it: what failed, why, what to do, about which case
//! and client; and the email made of one or several ([`compose`]).

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::i18n::{tr, Lang};
use crate::redact::Secrets;
use crate::store::{Record, State};

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
