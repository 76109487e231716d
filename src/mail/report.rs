//! A failure report as the operator reads it: what failed, why, what to do, about which case
//! and client; and the email made of one or several ([`compose`]).

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::i18n::{Lang, Text};
use crate::redact::Secrets;
use crate::store::{Record, State};
use crate::t;

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
    pub fn named(&self) -> Text {
        let number = format!("№{}", self.number.trim_start_matches('№').trim());
        match self.kind.as_str() {
            "booking" => t!("mail-booking-number", number = number),
            "event" => t!("mail-event-participation-number", number = number),
            _ => t!("mail-order-number", number = number),
        }
    }
}

impl OrderSummary {
    /// «Запись: №180 (id …)»: the report's line naming the case as the operator does.
    pub fn line(&self) -> Text {
        let number = format!("№{}", self.number.trim_start_matches('№').trim());
        let id = self.order_id.as_str();
        match self.kind.as_str() {
            "booking" => t!("mail-case-booking", number = number, id = id),
            "event" => t!("mail-case-event", number = number, id = id),
            _ => t!("mail-case-order", number = number, id = id),
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
    /// A send got no answer, the provider cannot be asked whether it went out: the operator
    /// decides whether to send it again.
    OutcomeUnknown,
}

impl Advice {
    pub fn text(self) -> Text {
        match self {
            Advice::CheckCredentials => t!("advice-check-credentials"),
            Advice::FixAndResend => t!("advice-fix-and-resend"),
            Advice::ProviderDown => t!("advice-provider-down"),
            Advice::StillRetried => t!("advice-still-retried"),
            Advice::FixUrl => t!("advice-fix-url"),
            Advice::AddRecipientField => t!("advice-add-recipient-field"),
            Advice::FixTemplate => t!("advice-fix-template"),
            Advice::ShortenMessage => t!("advice-shorten-message"),
            Advice::OutcomeUnknown => t!("advice-outcome-unknown"),
        }
    }

    /// The advice for a POST refused before it was stored, by what went wrong (its message id).
    pub fn for_refusal(what: &Text) -> Advice {
        match what.id() {
            Some("mail-recipient") => Advice::AddRecipientField,
            Some("mail-template-failed") => Advice::FixTemplate,
            Some("mail-message-too-long") => Advice::ShortenMessage,
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
    pub what: Text,
    pub why: Text,
    pub channel: String,
    /// What the hook sends through (`Wappi cascade <id>`).
    pub target: Text,
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
    pub advice: Text,
}

impl FailureReport {
    /// A POST refused before anything was stored (wrong parameters, no recipient, a text too
    /// long): `what` says which, `why` is the answer's error.
    pub fn refused(
        what: Text,
        why: Text,
        channel: &str,
        target: Text,
        query: String,
        order: OrderSummary,
    ) -> FailureReport {
        let advice = Advice::for_refusal(&what).text();
        FailureReport {
            time: chrono::Utc::now().to_rfc3339(),
            what,
            why,
            channel: channel.to_string(),
            target,
            query,
            delivery_id: None,
            order: Some(order),
            recipient: None,
            text: None,
            advice,
        }
    }

    /// A stored delivery that failed, or was given up at its maximum age. The recipient is
    /// masked, and the error and the text are scrubbed of the hook's `secrets`; `target`, `query`
    /// and `order` are what the delivery kept about itself (already safe to show).
    pub fn delivery(
        record: &Record,
        secrets: &Secrets,
        target: Text,
        query: String,
        order: Option<OrderSummary>,
        advice: Advice,
    ) -> FailureReport {
        let what = match record.state {
            State::Dead => t!("mail-delivery-given-up-still-failing"),
            State::Pending | State::Sending => t!("mail-delivery-still-failing"),
            _ => t!("mail-delivery-failed"),
        };
        FailureReport {
            time: chrono::Utc::now().to_rfc3339(),
            what,
            why: secrets.scrub_text(&record.last_error.clone().unwrap_or_default()),
            channel: record.channel.clone(),
            target,
            query,
            delivery_id: Some(record.id.clone()),
            order,
            recipient: Some(crate::redact::phone(&record.recipient)),
            text: Some(secrets.scrub(&record.text)).filter(|t| !t.is_empty()),
            advice: advice.text(),
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
        [one] if more == 0 => match &one.order {
            Some(o) => t!(
                "mail-torrow-hooks-what-case-channel",
                what = &one.what,
                case = o.named(),
                channel = one.channel.as_str()
            ),
            None => t!(
                "mail-torrow-hooks-what-channel",
                what = &one.what,
                channel = one.channel.as_str()
            ),
        },
        _ => t!("mail-torrow-hooks-total-delivery-problems", total = total),
    };
    let mut body = Vec::new();
    if total > 1 {
        body.push(t!("mail-total-problems-happened-since-last", total = total).render(lang));
        body.push(String::new());
    }
    for (i, r) in reports.iter().enumerate() {
        if reports.len() > 1 {
            body.push(t!("mail-n-total", n = i + 1, total = reports.len()).render(lang));
        }
        body.extend(describe(r, lang, console));
        body.push(String::new());
    }
    if more > 0 {
        body.push(t!("mail-more-more-listed-here-see", more = more).render(lang));
        body.push(String::new());
    }
    body.push("--".to_string());
    body.push(t!("mail-torrow-hooks-webhook-notifications-torrow").render(lang));
    (subject.render(lang), body.join("\n") + "\n")
}

/// The lines about one report. Every time is in the order's zone, written one way
/// (`2024-05-08 11:15 MSK`); the undelivered text is quoted as it is.
fn describe(r: &FailureReport, lang: Lang, console: Option<&str>) -> Vec<String> {
    let zone = r.order.as_ref().and_then(|o| o.timezone.parse::<Tz>().ok());
    let mut lines = vec![
        t!("mail-what-failed-what", what = &r.what),
        t!("mail-why-why", why = &r.why),
    ];
    if !r.advice.is_empty() {
        lines.push(t!("mail-what-to-do", advice = &r.advice));
    }
    lines.push(t!("mail-when-time", time = local_time(&r.time, zone)));
    lines.push(t!(
        "mail-channel-channel-target",
        channel = r.channel.as_str(),
        target = &r.target
    ));
    if let Some(o) = &r.order {
        lines.push(o.line());
        if !o.client_name.is_empty() {
            lines.push(t!("mail-client-name", name = o.client_name.as_str()));
        }
        if !o.client_phone.is_empty() {
            lines.push(t!(
                "mail-client-s-phone-phone",
                phone = o.client_phone.as_str()
            ));
        }
        if !o.service.is_empty() {
            lines.push(t!("mail-service-service", service = o.service.as_str()));
        }
        if !o.start.is_empty() {
            lines.push(t!("mail-time-time", time = o.start.as_str()));
        }
    }
    if let Some(recipient) = &r.recipient {
        lines.push(t!("mail-recipient-recipient", recipient = recipient));
    }
    if let Some(id) = &r.delivery_id {
        lines.push(t!("mail-delivery-id-id-resend-torrow", id = id, id2 = id));
        if let Some(base) = console {
            lines.push(t!(
                "mail-in-console",
                url = format!("{base}/console?delivery={id}")
            ));
        }
    }
    lines.push(t!(
        "mail-hook-parameters-query",
        query = crate::i18n::character_counts(lang, &r.query)
    ));
    let mut lines: Vec<String> = lines.iter().map(|l| l.render(lang)).collect();
    if let Some(text) = &r.text {
        lines.push(String::new());
        let chars = text.chars().count();
        let heading = if chars > QUOTED_TEXT_CHARS {
            t!(
                "mail-message-delivered-first-n-chars",
                n = QUOTED_TEXT_CHARS,
                chars = chars
            )
        } else {
            t!("mail-message-delivered")
        };
        lines.push(heading.render(lang));
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
