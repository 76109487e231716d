//! The `wazzup24` channel: WhatsApp through a Wazzup24 channel (`key_api`, `channel_id`).
//! Send `POST {base}/v3/message` with `crmMessageId` = the DeliveryId, so a retry of a message
//! Wazzup24 already took is answered `REPEATED_CRM_MESSAGE_ID` and counts as sent; check mode finds
//! the channel in `GET {base}/v3/channels` and wants it `active`.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{from_route, provider, to_route, Channel, Failure, Outgoing, Route, Sent};
use crate::i18n::Text;
use crate::params::{quote, Param, Query, Report};
use crate::t;

/// WhatsApp's limit on Wazzup24, in characters; longer texts are cut with "…".
const MAX_CHARS: usize = 10_000;

/// Error codes after which trying again cannot help.
const PERMANENT: &[&str] = &[
    "VALIDATION_ERROR",
    "INVALID_MESSAGE_DATA",
    "WRONG_TRANSPORT",
    "CHANNEL_NOT_FOUND",
    "CHANNEL_BLOCKED",
    "CHANNEL_NO_MONEY",
    "BALANCE_IS_EMPTY",
    "MESSAGES_NOT_TEXT_FIRST",
    "MESSAGES_IS_SPAM",
    "BAD_CONTACT",
    "CHAT_NO_ACCESS",
    "CHANNEL_LIMIT_EXCEEDED",
    "TEMPLATE_REJECTED",
    "MESSAGES_ABNORMAL_SEND",
    "MESSAGE_TEXT_TOO_LONG",
];

/// `[wazzup24]` settings; defaults in code, a Settings.toml section only to override.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub base_url: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            base_url: "https://api.wazzup24.com".to_string(),
            timeout: Duration::from_secs(30),
        }
    }
}

pub struct Wazzup24 {
    http: reqwest::Client,
    base_url: String,
    timeout: Duration,
}

/// The route of a Wazzup24 URL (keys are the parameter names).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Account {
    #[serde(rename = "key_api")]
    key: String,
    #[serde(rename = "channel_id")]
    channel: String,
}

impl Wazzup24 {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let http = provider::client(settings.timeout).build()?;
        Ok(Wazzup24 {
            http,
            base_url: super::base_url("wazzup24.base_url", &settings.base_url)?,
            timeout: settings.timeout,
        })
    }

    fn account(query: &Query, report: &mut Report) -> Option<Account> {
        let before = report.errors.len();
        let key = query.get("key_api").unwrap_or("");
        let token_like = |v: &str| {
            v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if key.is_empty() {
            report.error(t!("wazzup-parameter-key-api-missing-api"));
        } else if !token_like(key) {
            report.error(t!("wazzup-parameter-key-api-must-up"));
        }
        let channel = query.get("channel_id").unwrap_or("");
        if channel.is_empty() {
            report.error(t!("wazzup-parameter-channel-id-missing-id"));
        } else if !token_like(channel) {
            report.error(t!(
                "wazzup-parameter-channel-id-must-up",
                value = quote(channel)
            ));
        }
        match query.get("chat_type") {
            None | Some("") => {}
            Some(t) if t.eq_ignore_ascii_case("whatsapp") => {}
            Some(t) => report.error(t!(
                "wazzup-parameter-chat-type-value-only",
                value = quote(t)
            )),
        }
        (report.errors.len() == before).then(|| Account {
            key: key.to_string(),
            channel: channel.to_string(),
        })
    }

    async fn call(
        &self,
        key: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<provider::Answer, Failure> {
        let url = format!("{}{path}", self.base_url);
        let request = match body {
            Some(body) => self.http.post(&url).json(&body),
            None => self.http.get(&url),
        };
        let response = request
            .bearer_auth(key)
            .send()
            .await
            .map_err(|e| provider::transport(&e, "Wazzup24"))?;
        provider::read(response, "Wazzup24").await
    }
}

/// `REPEATED_CRM_MESSAGE_ID` (older: `repeatedCrmMessageId`): compared without case and `_`.
fn same_code(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    norm(a) == norm(b)
}

/// Sent when 2xx with a `messageId`, or when Wazzup24 says it already has this `crmMessageId`.
fn classify_send(answer: &provider::Answer) -> Result<Sent, Failure> {
    let body = answer.json_object().unwrap_or_default();
    if answer.status.is_success() {
        return match body.get("messageId").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => Ok(Sent::with_id(Some(id.to_string()))),
            _ => Err(Failure::Permanent(t!(
                "wazzup-unexpected-answer-from-wazzup24-answer",
                answer = answer.describe()
            ))),
        };
    }
    let code = body.get("error").and_then(Value::as_str).unwrap_or("");
    if same_code(code, "REPEATED_CRM_MESSAGE_ID") {
        return Ok(Sent::default());
    }
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .map(|d| crate::redact::cut(d, 300))
        .unwrap_or_default();
    let status = answer.status.as_u16();
    let message = match (code.is_empty(), description.is_empty()) {
        (true, _) => t!(
            "channel-provider-answered-http-code",
            provider = "Wazzup24",
            code = status
        ),
        (false, true) => t!(
            "wazzup-wazzup24-refused-message-http-code-2",
            code = status,
            error = quote(code)
        ),
        (false, false) => t!(
            "wazzup-wazzup24-refused-message-http-code",
            code = status,
            error = quote(code),
            description = description.as_str()
        ),
    };
    let permanent_code = PERMANENT.iter().any(|p| same_code(p, code));
    let retryable =
        !permanent_code && (answer.retryable_status() || (status == 400 && !code.is_empty()));
    Err(answer.failure(message, retryable))
}

/// What a channel `state` means for the operator, when it is not `active`.
fn explain_state(state: &str) -> Text {
    let why = match state {
        "init" => t!("wazzup-starting-check-again-minute"),
        "disabled" => t!("wazzup-turned-off-wazzup24"),
        "phoneUnavailable" => t!("wazzup-cannot-reach-phone-check-phone"),
        "qr" => t!("wazzup-needs-qr-code-scanned-again"),
        "openElsewhere" => t!("wazzup-open-another-whatsapp-web-session"),
        "notEnoughMoney" => t!("wazzup-paid"),
        "foreignphone" => t!("wazzup-scanned-another-phone-number"),
        "unauthorized" => t!("wazzup-authorized"),
        "waitForPassword" => t!("wazzup-waits-two-step-verification-password"),
        "onModeration" => t!("wazzup-on-moderation"),
        "rejected" => t!("wazzup-rejected"),
        _ => t!("wazzup-active"),
    };
    t!("wazzup-channel-state", why = why, state = quote(state))
}

#[async_trait]
impl Channel for Wazzup24 {
    fn name(&self) -> &'static str {
        "wazzup24"
    }

    fn title(&self) -> Text {
        t!("channel-title-wazzup24")
    }

    fn params(&self) -> &'static [Param] {
        const PARAMS: &[Param] = &[
            Param::optional("key_api", "param-help-wazzup24-key-api")
                .required()
                .secret(),
            Param::optional("channel_id", "param-help-wazzup24-channel-id").required(),
            Param::optional("chat_type", "param-help-wazzup24-chat-type"),
        ];
        PARAMS
    }

    fn route(&self, query: &Query, report: &mut Report) -> Option<Route> {
        Self::account(query, report).map(|a| to_route(&a))
    }

    fn target(&self, route: &Route) -> Text {
        match from_route::<Account>(route) {
            Ok(account) => t!("wazzup-channel-id", id = quote(&account.channel)),
            Err(_) => Text::verbatim("Wazzup24"),
        }
    }

    async fn check(&self, route: &Route) -> Result<Vec<Text>, Failure> {
        let route: Account = from_route(route)?;
        let answer = self.call(&route.key, "/v3/channels", None).await?;
        match answer.status.as_u16() {
            200..=299 => {}
            401 | 403 => {
                return Err(Failure::Refused(t!(
                    "wazzup-wazzup24-refused-key-api-http",
                    code = answer.status.as_u16()
                )))
            }
            code => {
                return Err(Failure::Retryable(t!(
                    "channel-provider-answered-http-code",
                    provider = "Wazzup24",
                    code = code
                )))
            }
        }
        let channels: Vec<Value> = serde_json::from_slice(&answer.body).map_err(|_| {
            Failure::Permanent(t!(
                "wazzup-unexpected-answer-from-wazzup24-answer-2",
                answer = answer.describe()
            ))
        })?;
        let found = channels
            .iter()
            .find(|c| c.get("channelId").and_then(Value::as_str) == Some(route.channel.as_str()))
            .ok_or_else(|| {
                Failure::Permanent(t!(
                    "wazzup-wazzup24-account-has-channel-id",
                    id = quote(&route.channel)
                ))
            })?;
        let state = found.get("state").and_then(Value::as_str).unwrap_or("");
        if state != "active" {
            return Err(Failure::Permanent(explain_state(state)));
        }
        let mut warnings = Vec::new();
        if found.get("transport").and_then(Value::as_str) == Some("wapi") {
            warnings.push(t!("wazzup-wazzup24-channel-whatsapp-business-api"));
        }
        Ok(warnings)
    }

    fn longest_attempt(&self) -> Duration {
        self.timeout
    }

    /// Wazzup24 refuses a WhatsApp text over 10 000 characters (`MESSAGE_TEXT_TOO_LONG`).
    fn max_text_chars(&self, _route: &Route) -> usize {
        10_000
    }

    /// Wazzup24 refuses a repeat of the same `crmMessageId` (`REPEATED_CRM_MESSAGE_ID`, taken as sent): a resend after no answer is safe.
    fn when_unanswered(&self, _route: &Route) -> super::Unanswered {
        super::Unanswered::Resend
    }

    async fn send(&self, route: &Route, message: &Outgoing<'_>) -> Result<Sent, Failure> {
        let route: Account = from_route(route)?;
        let body = json!({
            "channelId": route.channel,
            "chatType": "whatsapp",
            "chatId": message.recipient,
            "text": crate::redact::cut(message.text, MAX_CHARS - 1),
            "crmMessageId": message.delivery_id,
        });
        let answer =
            super::sent_unless_unread!(self.call(&route.key, "/v3/message", Some(body)).await);
        classify_send(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn answer(code: u16, body: &str) -> provider::Answer {
        provider::Answer {
            status: StatusCode::from_u16(code).unwrap(),
            content_type: "application/json".into(),
            body: body.as_bytes().to_vec(),
            retry_after: None,
        }
    }

    #[test]
    fn classification() {
        let sent = classify_send(&answer(201, r#"{"messageId":"m-1","chatId":"79"}"#)).unwrap();
        assert_eq!(sent.provider_id.as_deref(), Some("m-1"));
        for repeated in ["REPEATED_CRM_MESSAGE_ID", "repeatedCrmMessageId"] {
            let body = format!(r#"{{"status":400,"error":"{repeated}"}}"#);
            assert!(classify_send(&answer(400, &body)).is_ok(), "{repeated}");
        }
        let e = classify_send(&answer(
            400,
            r#"{"error":"BAD_CONTACT","description":"no WhatsApp"}"#,
        ))
        .unwrap_err();
        assert!(!e.is_retryable(), "{e}");
        let e =
            classify_send(&answer(400, r#"{"error":"MESSAGE_CHANNEL_UNAVAILABLE"}"#)).unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert!(classify_send(&answer(429, "")).unwrap_err().is_retryable());
        assert!(!classify_send(&answer(401, "")).unwrap_err().is_retryable());
        assert!(classify_send(&answer(200, "{}")).is_err());
    }
}
