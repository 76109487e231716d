//! The `telegram` channel: the operator's own Telegram bot (`telegramToken`) writes to the user
//! whose Telegram id is in a contact field of the booking (`telegramFieldName`, e.g. `*TelegramId`).
//! Bot API: `POST {base}/bot{token}/sendMessage`, success `{"ok":true}`; check mode `getMe`.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    from_route, provider, to_route, Channel, Failure, Outgoing, RecipientRule, Route, Sent,
};
use crate::i18n::Text;
use crate::params::{quote, Param, Query, Report};
use crate::t;

/// Telegram's limit for one message, in UTF-16 code units. Longer texts are cut (not split: a
/// retry of a split message could send its first part twice), ending with "…".
const MAX_UTF16: usize = 4096;

/// The longest `parameters.retry_after` believed, in seconds.
const MAX_RETRY_AFTER_SECS: u64 = 3600;

/// Torrow's own bots: their token is Torrow's, not ours.
const TORROW_BOTS: &[&str] = &["TorrowServiceBot", "TorrowChatBot"];

/// `[telegram]` settings; defaults in code, a Settings.toml section only to override.
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
            base_url: "https://api.telegram.org".to_string(),
            timeout: Duration::from_secs(30),
        }
    }
}

pub struct Telegram {
    http: reqwest::Client,
    base_url: String,
    timeout: Duration,
}

/// The route of a Telegram URL: the bot token and the contact field holding the user's id.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Bot {
    #[serde(rename = "telegramToken")]
    token: String,
    #[serde(rename = "telegramFieldName")]
    field: String,
}

impl Telegram {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let http = provider::client(settings.timeout).build()?;
        Ok(Telegram {
            http,
            base_url: super::base_url("telegram.base_url", &settings.base_url)?,
            timeout: settings.timeout,
        })
    }

    fn bot(query: &Query, report: &mut Report) -> Option<Bot> {
        let before = report.errors.len();
        let token = query.get("telegramToken").unwrap_or("");
        if token.is_empty() {
            report.error(t!("telegram-parameter-telegramtoken-missing-token-your"));
        } else if TORROW_BOTS.iter().any(|b| b.eq_ignore_ascii_case(token)) {
            report.error(t!("telegram-parameter-telegramtoken-names-torrow-s"));
        } else if !valid_token(token) {
            report.error(t!("telegram-parameter-telegramtoken-bot-token-digits"));
        }
        let field = query.get("telegramFieldName").unwrap_or("").trim();
        if field.is_empty() {
            report.error(t!(
                "telegram-parameter-telegramfieldname-missing-contact-field"
            ));
        } else if field.chars().count() > 100 {
            report.error(t!("telegram-parameter-telegramfieldname-longer-than-100"));
        }
        (report.errors.len() == before).then(|| Bot {
            token: token.to_string(),
            field: field.to_string(),
        })
    }

    /// One Bot API call, classified.
    async fn call(&self, token: &str, method: &str, body: Option<Value>) -> Result<Value, Failure> {
        let url = format!("{}/bot{token}/{method}", self.base_url);
        let request = match body {
            Some(body) => self.http.post(&url).json(&body),
            None => self.http.get(&url),
        };
        let response = request
            .send()
            .await
            .map_err(|e| provider::transport(&e, "Telegram"))?;
        classify(&provider::read(response, "Telegram").await?)
    }
}

fn valid_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    token.len() <= 100
        && !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && !secret.is_empty()
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `{"ok":true,"result":…}` is success; `ok:false` carries `error_code`, `description` and perhaps
/// `parameters.retry_after`. 429 and 5xx are retryable; other refusals (blocked by the user, chat
/// not found, bad token) are permanent.
fn classify(answer: &provider::Answer) -> Result<Value, Failure> {
    let Some(body) = answer.json_object() else {
        let message = t!(
            "telegram-unexpected-answer-from-telegram-answer",
            answer = answer.describe()
        );
        return Err(if answer.status.is_server_error() {
            Failure::Retryable(message)
        } else {
            Failure::Permanent(message)
        });
    };
    if answer.status.is_success() && body.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(body.get("result").cloned().unwrap_or(Value::Null));
    }
    let code = body
        .get("error_code")
        .and_then(Value::as_u64)
        .unwrap_or(answer.status.as_u16() as u64);
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .map(|d| crate::redact::cut(d, 300))
        .unwrap_or_default();
    let message = t!(
        "telegram-telegram-refused-message-http-code",
        code = code,
        description = description.as_str()
    );
    let hint = body
        .get("parameters")
        .and_then(|p| p.get("retry_after"))
        .and_then(Value::as_u64)
        .map(|s| Duration::from_secs(s.min(MAX_RETRY_AFTER_SECS)))
        .or(answer.retry_after);
    match code {
        429 => Err(match hint {
            Some(after) => Failure::RetryAfter(message, after),
            None => Failure::Retryable(message),
        }),
        500..=599 => Err(Failure::Retryable(message)),
        401 | 403 if description.to_ascii_lowercase().contains("unauthorized") => {
            Err(Failure::Refused(message))
        }
        _ => Err(Failure::Permanent(message)),
    }
}

/// Plain text for `parse_mode: HTML`: `&`, `<` and `>` escaped.
fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most [`MAX_UTF16`] UTF-16 units (what Telegram counts), cut with "…".
fn fit(text: &str) -> String {
    if text.encode_utf16().count() <= MAX_UTF16 {
        return text.to_string();
    }
    let mut out = String::new();
    let mut units = 0;
    for c in text.chars() {
        if units + c.len_utf16() > MAX_UTF16 - 1 {
            break;
        }
        units += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

#[async_trait]
impl Channel for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn title(&self) -> Text {
        t!("channel-title-telegram")
    }

    fn params(&self) -> &'static [Param] {
        const PARAMS: &[Param] = &[
            Param::optional("telegramToken", "param-help-telegram-telegramtoken")
                .required()
                .secret(),
            Param::optional("telegramFieldName", "param-help-telegram-telegramfieldname")
                .required(),
        ];
        PARAMS
    }

    fn route(&self, query: &Query, report: &mut Report) -> Option<Route> {
        Self::bot(query, report).map(|b| to_route(&b))
    }

    fn recipient_rule(&self, route: &Route) -> RecipientRule {
        RecipientRule::ContactField {
            name: from_route::<Bot>(route)
                .map(|b| b.field)
                .unwrap_or_default(),
            what: t!("telegram-id"),
        }
    }

    fn target(&self, route: &Route) -> Text {
        match from_route::<Bot>(route) {
            Ok(bot) => {
                let id = bot.token.split(':').next().unwrap_or("");
                t!("telegram-bot-id", id = id)
            }
            Err(_) => t!("telegram-any-bot"),
        }
    }

    async fn check(&self, route: &Route) -> Result<Vec<Text>, Failure> {
        let route: Bot = from_route(route)?;
        let me = self.call(&route.token, "getMe", None).await?;
        let name = me
            .get("username")
            .and_then(Value::as_str)
            .map(|u| Text::verbatim(format!("@{}", quote(u))))
            .unwrap_or_else(|| t!("telegram-the-bot"));
        Ok(vec![t!(
            "telegram-messages-will-sent-bot-client",
            bot = name
        )])
    }

    fn longest_attempt(&self) -> Duration {
        self.timeout
    }

    async fn send(&self, route: &Route, message: &Outgoing<'_>) -> Result<Sent, Failure> {
        let route: Bot = from_route(route)?;
        let chat_id: i64 = message.recipient.parse().map_err(|_| {
            Failure::Permanent(t!(
                "telegram-telegram-id-field-field",
                field = quote(&route.field)
            ))
        })?;
        let body = json!({
            "chat_id": chat_id,
            "text": escape_html(&fit(message.text)),
            "parse_mode": "HTML",
        });
        let result =
            super::sent_unless_unread!(self.call(&route.token, "sendMessage", Some(body)).await);
        let provider_id = result.get("message_id").map(|v| v.to_string());
        Ok(Sent::with_id(provider_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_escaping_and_length() {
        assert!(valid_token(
            "6126237741:AAFQKNyn1jhScXSGsYCh_yxwWDT578ARMGA"
        ));
        for bad in ["", "abc", "123:", ":abc", "12a:bc", "1:a/b", "1:a?b"] {
            assert!(!valid_token(bad), "{bad}");
        }
        assert_eq!(escape_html("a < b & c > d"), "a &lt; b &amp; c &gt; d");
        let long = "😀".repeat(3000); // 6,000 UTF-16 units
        let cut = fit(&long);
        assert!(cut.encode_utf16().count() <= MAX_UTF16);
        assert!(cut.ends_with('…'));
        assert_eq!(fit("short"), "short");
    }
}
