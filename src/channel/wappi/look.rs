//! Whether a message whose send got no answer went out: Wappi lists a chat's newest messages
//! (`GET /{api,tapi,maxapi}/sync/messages/get?profile_id=…&chat_id=…`), so the service looks
//! there before it sends again (docs/en/delivery.md, "No answer"). A cascade is looked at
//! through each of its profiles (`/csender/cascade/get`); a step that cannot be looked at (SMS,
//! an unknown platform) makes the answer "cannot tell" unless the message is found elsewhere.

use serde_json::Value;

use super::platform::Platform;
use super::{encode, Credentials, Target, Wappi};
use crate::channel::{provider, Failure, Found, Outgoing, Sent};
use crate::t;

/// The newest messages of a chat looked at: a resend is decided within seconds to hours of the
/// send, and a salon's chat with one client holds few messages in between.
const NEWEST: usize = 20;
/// Clocks differ: a message listed up to this long before the delivery began still counts.
const SKEW_MS: i64 = 60_000;

pub(super) async fn look_for(
    wappi: &Wappi,
    creds: &Credentials,
    message: &Outgoing<'_>,
    since: i64,
) -> Result<Found, Failure> {
    match &creds.target {
        Target::Profile(id) => {
            let platform = wappi.platform(creds, id).await?;
            look_in(wappi, creds, platform, id, message, since).await
        }
        Target::Cascade(id) => {
            let path = format!("/csender/cascade/get?cascade_id={}", encode(id));
            let cascade = wappi
                .get(creds, &path, "cascade")
                .await
                .map_err(Failure::before_send)?;
            look_in_cascade(wappi, creds, &cascade, message, since).await
        }
    }
}

/// Each step of a cascade that can be looked at; found in any: sent.
async fn look_in_cascade(
    wappi: &Wappi,
    creds: &Credentials,
    cascade: &Value,
    message: &Outgoing<'_>,
    since: i64,
) -> Result<Found, Failure> {
    let steps = cascade
        .pointer("/cascade/order")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut blind = Vec::new();
    // Bounded: a cascade has a handful of steps; more than 10 are not looked at.
    for step in steps.iter().take(10) {
        let code = step.get("platform").and_then(Value::as_str).unwrap_or("");
        let profile = step
            .get("profile_uuid")
            .or_else(|| step.get("profile_id"))
            .and_then(Value::as_str);
        match (Platform::from_code(code), profile) {
            (Some(platform), Some(profile)) => {
                let found = look_in(wappi, creds, platform, profile, message, since).await?;
                if let Found::Sent(_) = found {
                    return Ok(found);
                }
            }
            _ => blind.push(crate::redact::cut(code, 20)),
        }
    }
    if steps.is_empty() || steps.len() > 10 || !blind.is_empty() {
        return Ok(Found::CannotTell(t!(
            "wappi-cascade-cannot-look",
            steps = blind.join(", ")
        )));
    }
    Ok(Found::NotSent)
}

/// The newest messages of the recipient's chat in one profile.
async fn look_in(
    wappi: &Wappi,
    creds: &Credentials,
    platform: Platform,
    profile: &str,
    message: &Outgoing<'_>,
    since: i64,
) -> Result<Found, Failure> {
    let path = format!(
        "/{}/sync/messages/get?profile_id={}&chat_id={}&limit={NEWEST}&offset=0&order=desc",
        platform.prefix(),
        encode(profile),
        encode(message.recipient)
    );
    let listed = wappi
        .get(creds, &path, "messages")
        .await
        .map_err(Failure::before_send)?;
    Ok(match find(&listed, message.text, since) {
        Some(sent) => Found::Sent(sent),
        None => Found::NotSent,
    })
}

/// Ours among the listed messages: sent by the profile, the same text, not older than `since`.
fn find(listed: &Value, text: &str, since: i64) -> Option<Sent> {
    let messages = listed.get("messages").and_then(Value::as_array)?;
    messages.iter().take(NEWEST * 5).find_map(|m| {
        let from_me = m
            .get("fromMe")
            .or_else(|| m.get("from_me"))
            .and_then(Value::as_bool)?;
        let body = m
            .get("body")
            .or_else(|| m.get("text"))
            .and_then(Value::as_str)?;
        let when = m
            .get("time")
            .or_else(|| m.get("timestamp"))
            .and_then(provider::listed_time);
        let recent = when.is_none_or(|t| t >= since - SKEW_MS);
        (from_me && recent && provider::same_text(body, text)).then(|| Sent {
            provider_id: m.get("id").and_then(Value::as_str).map(str::to_string),
            warning: Some(t!("channel-found-after-no-answer")),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ours_is_the_same_text_sent_by_the_profile_since_the_delivery() {
        let listed = json!({"status": "done", "messages": [
            {"id": "in", "fromMe": false, "body": "Привет", "time": 2_000},
            {"id": "old", "fromMe": true, "body": "Привет", "time": 100},
            {"id": "other", "fromMe": true, "body": "Другое", "time": 2_000},
            {"id": "ours", "fromMe": true, "body": "Привет\r\n", "time": "2000"},
        ]});
        let found = find(&listed, "Привет", 2_000_000).unwrap();
        assert_eq!(found.provider_id.as_deref(), Some("ours"));
        assert!(find(&listed, "Привет", 3_000_000).is_none());
        assert!(find(&json!({"messages": []}), "Привет", 0).is_none());
    }
}
