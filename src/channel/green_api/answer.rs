//! What GREEN-API's answers and instance states mean, in plain words and without the token.

use serde_json::Value;

use super::Messenger;
use crate::channel::{provider, Failure};
use crate::params::quote;

pub(super) fn sent_id(answer: &Value) -> Result<String, Failure> {
    answer
        .get("idMessage")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Failure::Permanent("unexpected answer from GREEN-API: no <idMessage>; the message may not have been sent".to_string()))
}

/// 200 with a JSON object is success (the caller checks what it needs); 400 "starting" and 429,
/// 499, 5xx retryable; other 4xx (bad token or id, quota 466, validation) permanent. GREEN-API
/// echoes the token in its 400 body, so it is scrubbed from every message.
pub(super) fn classify(
    answer: &provider::Answer,
    what: &str,
    token: &str,
) -> Result<Value, Failure> {
    let body = answer.json_object();
    let code = answer.status.as_u16();
    if answer.status.is_success() {
        return body.map(Value::Object).ok_or_else(|| {
            Failure::Permanent(format!(
                "unexpected answer from {what}: {} (not a JSON object)",
                answer.describe()
            ))
        });
    }
    let detail = body
        .as_ref()
        .and_then(|b| b.get("message").and_then(Value::as_str))
        .map(|m| crate::redact::cut(&m.replace(token, &crate::redact::token(token)), 200))
        .unwrap_or_default();
    let message = match code {
        401 | 403 => format!("{what} refused the instance id or token (HTTP {code})"),
        466 => format!("{what}: the quota of the tariff is used up (HTTP 466)"),
        _ if detail.is_empty() => format!("{what} answered HTTP {code}"),
        _ => format!("{what} answered HTTP {code}: {detail}"),
    };
    let starting = code == 400 && detail.to_ascii_lowercase().contains("starting");
    let retryable = starting || code == 499 || answer.retryable_status();
    Err(answer.failure(message, retryable))
}

/// What an instance state means, when it is not `authorized`.
pub(super) fn explain_state(messenger: Messenger, state: &str) -> String {
    let why = match state {
        "notAuthorized" => "is not linked: scan the QR code in the GREEN-API console",
        "blocked" => "is blocked by the messenger",
        "starting" => "is starting (up to 5 minutes): check again later",
        "yellowCard" => "has sending suspended for suspected spam",
        "sleepMode" => "is asleep: open the messenger on the phone",
        "suspended" => "is suspended",
        _ => "is not ready",
    };
    format!(
        "the GREEN-API {} instance {why} (state <{}>)",
        messenger.label(),
        quote(state)
    )
}
