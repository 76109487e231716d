//! What GREEN-API's answers and instance states mean, in plain words and without the token.

use serde_json::Value;

use super::Messenger;
use crate::channel::{provider, Failure, Sent};
use crate::i18n::Text;
use crate::params::quote;
use crate::t;

/// Messages of a chat's history looked at for one sent without an answer.
pub(super) const NEWEST: usize = 20;
/// Clocks differ: a message listed up to this long before the delivery began still counts.
const SKEW_MS: i64 = 60_000;

/// Ours in a chat's history (`getChatHistory`): outgoing, the same text, not older than `since`.
pub(super) fn find_sent(history: &Value, text: &str, since: i64) -> Option<Sent> {
    let messages = history.as_array()?;
    messages.iter().take(NEWEST * 5).find_map(|m| {
        let outgoing = m.get("type").and_then(Value::as_str) == Some("outgoing");
        let body = m
            .get("textMessage")
            .or_else(|| m.pointer("/extendedTextMessage/text"))
            .or_else(|| m.get("text"))
            .and_then(Value::as_str)?;
        let when = m.get("timestamp").and_then(provider::listed_time);
        let recent = when.is_none_or(|t| t >= since - SKEW_MS);
        (outgoing && recent && provider::same_text(body, text)).then(|| Sent {
            provider_id: m
                .get("idMessage")
                .and_then(Value::as_str)
                .map(str::to_string),
            warning: Some(t!("channel-found-after-no-answer")),
        })
    })
}

pub(super) fn sent_id(answer: &Value) -> Result<String, Failure> {
    answer
        .get("idMessage")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Failure::Permanent(t!("green-unexpected-answer-from-green-api")))
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
        // An object, or a list (a chat's history); what it must hold is checked by the caller.
        let list = || match serde_json::from_slice(&answer.body) {
            Ok(list @ Value::Array(_)) => Some(list),
            _ => None,
        };
        return body.map(Value::Object).or_else(list).ok_or_else(|| {
            Failure::Permanent(t!(
                "green-unexpected-answer-from-provider-answer",
                provider = what,
                answer = answer.describe()
            ))
        });
    }
    let detail = body
        .as_ref()
        .and_then(|b| b.get("message").and_then(Value::as_str))
        .map(|m| crate::redact::cut(&m.replace(token, &crate::redact::token(token)), 200))
        .unwrap_or_default();
    let message = match code {
        401 | 403 => t!(
            "green-provider-refused-instance-id-token",
            provider = what,
            code = code
        ),
        466 => t!("green-provider-quota-tariff-used-up", provider = what),
        _ if detail.is_empty() => t!(
            "channel-provider-answered-http-code",
            provider = what,
            code = code
        ),
        _ => t!(
            "channel-provider-answered-http-code-detail",
            provider = what,
            code = code,
            detail = detail.as_str()
        ),
    };
    let starting = code == 400 && detail.to_ascii_lowercase().contains("starting");
    let retryable = starting || code == 499 || answer.retryable_status();
    Err(answer.failure(message, retryable))
}

/// What an instance state means, when it is not `authorized`.
pub(super) fn explain_state(messenger: Messenger, state: &str) -> Text {
    let why = match state {
        "notAuthorized" => t!("green-linked-scan-qr-code-green"),
        "blocked" => t!("green-blocked-messenger"),
        "starting" => t!("green-starting-up-5-minutes-check"),
        "yellowCard" => t!("green-has-sending-suspended-suspected-spam"),
        "sleepMode" => t!("green-asleep-open-messenger-phone"),
        "suspended" => t!("green-suspended"),
        _ => t!("green-ready"),
    };
    t!(
        "green-green-api-messenger-instance-why",
        messenger = messenger.label(),
        why = why,
        state = quote(state)
    )
}
