//! The `vk` channel: the operator's VKontakte community («сообщество») writes to the client whose
//! VK id is in a contact field of the booking (`vkFieldName`). VK API: `POST {base}/method/<name>`
//! with form fields; an error comes as HTTP 200 `{"error":{"error_code":N,"error_msg":"…"}}`.
//! Sending is `messages.send` with a `random_id` derived from the DeliveryId, so VK drops a repeat
//! of the same delivery (a retry after a lost answer, or another instance) instead of showing it
//! twice. Check mode reads the community's name (`groups.getById`) and the token's rights
//! (`groups.getTokenPermissions`).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    from_route, provider, to_route, Channel, Failure, Outgoing, RecipientRule, Route, Sent,
};
use crate::i18n::Text;
use crate::params::{quote, Param, Query, Report};
use crate::t;

/// What VK takes in one message, in characters.
const MAX_TEXT_CHARS: usize = 4096;
/// The community token's right to send messages (`groups.getTokenPermissions` mask bit).
const MESSAGES_RIGHT: u64 = 4096;

/// `[vk]` settings; defaults in code, a Settings.toml section only to override.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub base_url: String,
    /// The VK API version sent as `v`.
    pub api_version: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            base_url: "https://api.vk.com".to_string(),
            api_version: "5.199".to_string(),
            timeout: Duration::from_secs(30),
        }
    }
}

pub struct Vk {
    http: reqwest::Client,
    base_url: String,
    version: String,
    timeout: Duration,
}

/// The route of a VK URL: the community token and the contact field holding the client's VK id.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Community {
    #[serde(rename = "vkToken")]
    token: String,
    #[serde(rename = "vkFieldName")]
    field: String,
}

impl Vk {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let http = provider::client(settings.timeout).build()?;
        anyhow::ensure!(
            !settings.api_version.trim().is_empty(),
            "bad settings: vk.api_version: empty (e.g. \"5.199\")"
        );
        Ok(Vk {
            http,
            base_url: super::base_url("vk.base_url", &settings.base_url)?,
            version: settings.api_version.trim().to_string(),
            timeout: settings.timeout,
        })
    }

    fn community(query: &Query, report: &mut Report) -> Option<Community> {
        let before = report.errors.len();
        let token = query.get("vkToken").unwrap_or("").trim();
        if token.is_empty() {
            report.error(t!("vk-parameter-vktoken-missing-community-s"));
        } else if !valid_token(token) {
            report.error(t!("vk-parameter-vktoken-vk-access-token"));
        }
        let field = query.get("vkFieldName").unwrap_or("").trim();
        if field.is_empty() {
            report.error(t!("vk-parameter-vkfieldname-missing-contact-field"));
        } else if field.chars().count() > 100 {
            report.error(t!("vk-parameter-vkfieldname-longer-than-100"));
        }
        (report.errors.len() == before).then(|| Community {
            token: token.to_string(),
            field: field.to_string(),
        })
    }

    /// One VK API call (form fields, the token among them: never in a URL), classified.
    async fn call(
        &self,
        method: &str,
        token: &str,
        fields: &[(&str, String)],
    ) -> Result<Value, Failure> {
        let url = format!("{}/method/{method}", self.base_url);
        let mut form: Vec<(&str, String)> = vec![
            ("access_token", token.to_string()),
            ("v", self.version.clone()),
        ];
        form.extend(fields.iter().cloned());
        let response = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| provider::transport(&e, "VK"))?;
        classify(&provider::read(response, "VK").await?)
    }
}

fn valid_token(token: &str) -> bool {
    (20..=512).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The client's VK id in a contact field's value: the number itself, `id123`, or a profile link
/// (`https://vk.com/id123`, `m.vk.com/id123`, `vk.ru/id123`). A short name cannot be messaged.
pub fn read_vk_id(value: &str) -> Result<String, Text> {
    let value = value.trim();
    if value.is_empty() {
        return Err(t!("vk-add-contact-field-name-service"));
    }
    let path = value
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.")
        .trim_start_matches("m.");
    let last = match path.split_once('/') {
        Some((host, rest)) if ["vk.com", "vk.ru"].contains(&host.to_ascii_lowercase().as_str()) => {
            rest.split(['?', '#', '/']).next().unwrap_or("")
        }
        Some(_) => return Err(t!("vk-value-vk-profile-link-vk", value = quote(value))),
        None => path,
    };
    let last = last.trim_start_matches('@');
    let digits = last.strip_prefix("id").unwrap_or(last);
    if !digits.is_empty() && digits.len() <= 12 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let id: u64 = digits.parse().unwrap_or(0);
        if id > 0 {
            return Ok(id.to_string());
        }
    }
    Err(t!("vk-value-vk-short-name-which", value = quote(value)))
}

/// A `random_id` for `messages.send` that is the same for one delivery on every retry and every
/// instance: 31 bits of a hash of the DeliveryId, never 0.
fn random_id(delivery_id: &str) -> i32 {
    let hash = blake3::hash(delivery_id.as_bytes());
    let bytes: [u8; 4] = hash.as_bytes()[..4].try_into().expect("4 bytes");
    ((u32::from_le_bytes(bytes) & 0x7fff_ffff).max(1)) as i32
}

/// `{"response":…}` is success. `{"error":{…}}`: 6 (too many requests) and 9 (flood control), 10
/// (VK's own failure) and HTTP 5xx are retried; 5 (the token) is a refusal; the rest are permanent,
/// each explained.
fn classify(answer: &provider::Answer) -> Result<Value, Failure> {
    let Some(body) = answer.json_object() else {
        let message = t!("vk-unexpected-answer-not-json", answer = answer.describe());
        return Err(
            if answer.status.is_server_error() || answer.status.as_u16() == 429 {
                Failure::Retryable(message)
            } else {
                Failure::Permanent(message)
            },
        );
    };
    if let Some(response) = body.get("response") {
        if answer.status.is_success() {
            return Ok(response.clone());
        }
    }
    let error = body.get("error");
    let code = error
        .and_then(|e| e.get("error_code"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let said = error
        .and_then(|e| e.get("error_msg"))
        .and_then(Value::as_str)
        .map(|m| Text::verbatim(crate::redact::cut(m, 300)))
        .unwrap_or_else(|| answer.describe());
    if code == 0 {
        let message = t!(
            "vk-unexpected-answer-http",
            code = answer.status.as_u16(),
            said = said
        );
        return Err(if answer.status.is_server_error() {
            Failure::Retryable(message)
        } else {
            Failure::Permanent(message)
        });
    }
    let ours = match code {
        5 => t!("vk-vk-refused-community-token-make"),
        6 => t!("vk-vk-too-many-requests-per"),
        9 => t!("vk-vk-flood-control-too-many"),
        10 => t!("vk-vk-had-internal-failure-will"),
        7 | 15 | 27 => t!("vk-community-token-has-right-send"),
        901 => t!("vk-client-has-allowed-messages-from"),
        902 => t!("vk-client-s-privacy-settings-do"),
        900 => t!("vk-client-has-blocked-community"),
        _ => t!("vk-vk-refused-message"),
    };
    // Our explanation first, then VK's own words as received.
    let message = t!(
        "vk-ours-vk-error-code-said",
        ours = ours,
        code = code,
        said = said
    );
    Err(match code {
        6 | 9 | 10 => Failure::Retryable(message),
        5 => Failure::Refused(message),
        _ => Failure::Permanent(message),
    })
}

#[async_trait]
impl Channel for Vk {
    fn name(&self) -> &'static str {
        "vk"
    }

    fn title(&self) -> Text {
        t!("channel-title-vk")
    }

    fn params(&self) -> &'static [Param] {
        const PARAMS: &[Param] = &[
            Param::optional("vkToken", "param-help-vk-vktoken")
                .required()
                .secret(),
            Param::optional("vkFieldName", "param-help-vk-vkfieldname").required(),
        ];
        PARAMS
    }

    fn route(&self, query: &Query, report: &mut Report) -> Option<Route> {
        Self::community(query, report).map(|c| to_route(&c))
    }

    fn recipient_rule(&self, route: &Route) -> RecipientRule {
        RecipientRule::ContactField {
            name: from_route::<Community>(route)
                .map(|c| c.field)
                .unwrap_or_default(),
            what: t!("vk-id"),
        }
    }

    fn read_contact(&self, value: &str) -> Result<String, Option<Text>> {
        read_vk_id(value).map_err(Some)
    }

    fn target(&self, _route: &Route) -> Text {
        t!("vk-community")
    }

    async fn check(&self, route: &Route) -> Result<Vec<Text>, Failure> {
        let route: Community = from_route(route)?;
        let rights = self
            .call("groups.getTokenPermissions", &route.token, &[])
            .await
            .map_err(|f| match f {
                // A bad token, or one without the rights: the URL is what must change.
                Failure::Permanent(m) | Failure::Refused(m) => Failure::Unusable(m),
                other => other,
            })?;
        let mask = rights.get("mask").and_then(Value::as_u64).unwrap_or(0);
        let named = rights
            .get("permissions")
            .and_then(Value::as_array)
            .is_some_and(|p| {
                p.iter()
                    .any(|p| p.get("name").and_then(Value::as_str) == Some("messages"))
            });
        if mask & MESSAGES_RIGHT == 0 && !named {
            return Err(Failure::Unusable(t!("vk-community-token-has-right-send")));
        }
        let groups = self.call("groups.getById", &route.token, &[]).await?;
        // 5.199 answers {"groups":[…]}; older versions a bare list.
        let first = groups
            .get("groups")
            .and_then(Value::as_array)
            .or_else(|| groups.as_array())
            .and_then(|g| g.first());
        let name = first
            .and_then(|g| g.get("name"))
            .and_then(Value::as_str)
            .map(|n| Text::verbatim(quote(&crate::redact::cut(n, 100))))
            .unwrap_or_else(|| t!("vk-the-community"));
        Ok(vec![t!(
            "vk-messages-will-sent-community-name",
            name = name
        )])
    }

    fn longest_attempt(&self) -> Duration {
        self.timeout
    }

    fn max_text_chars(&self, _route: &Route) -> usize {
        MAX_TEXT_CHARS
    }

    /// VK drops a repeat of the same `random_id`: a resend after no answer is safe.
    fn when_unanswered(&self, _route: &Route) -> super::Unanswered {
        super::Unanswered::Resend
    }

    async fn send(&self, route: &Route, message: &Outgoing<'_>) -> Result<Sent, Failure> {
        let route: Community = from_route(route)?;
        let peer = read_vk_id(message.recipient).map_err(Failure::Permanent)?;
        let fields = [
            ("peer_id", peer),
            ("message", message.text.to_string()),
            ("random_id", random_id(message.delivery_id).to_string()),
        ];
        let answer =
            super::sent_unless_unread!(self.call("messages.send", &route.token, &fields).await);
        Ok(Sent::with_id(answer.as_u64().map(|id| id.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_links_and_short_names() {
        for (value, id) in [
            ("123", "123"),
            ("id123", "123"),
            (" https://vk.com/id42 ", "42"),
            ("vk.com/id42?w=wall", "42"),
            ("http://m.vk.com/id7/", "7"),
            ("https://vk.ru/id9", "9"),
            ("@id5", "5"),
        ] {
            assert_eq!(read_vk_id(value).as_deref(), Ok(id), "{value}");
        }
        assert!(read_vk_id("https://vk.com/durov")
            .unwrap_err()
            .to_string()
            .contains("short name"));
        assert!(read_vk_id("durov")
            .unwrap_err()
            .to_string()
            .contains("short name"));
        assert!(read_vk_id("https://example.com/id1")
            .unwrap_err()
            .to_string()
            .contains("not a VK profile link"));
        assert!(read_vk_id("")
            .unwrap_err()
            .to_string()
            .contains("booking form"));
        assert!(read_vk_id("0").is_err());
    }

    #[test]
    fn random_id_is_stable_positive_and_differs_by_delivery() {
        let a = random_id("d-1");
        assert_eq!(a, random_id("d-1"));
        assert!(a > 0);
        assert_ne!(a, random_id("d-2"));
    }
}
