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
use crate::params::{quote, Param, Query, Report};

/// What VK takes in one message, in characters.
const MAX_TEXT_CHARS: usize = 4096;
/// The community token's right to send messages (`groups.getTokenPermissions` mask bit).
const MESSAGES_RIGHT: u64 = 4096;
/// Where an operator makes a community token with that right.
const TOKEN_HOWTO: &str = "in the community: Управление → Работа с API → Ключи доступа → Создать ключ, with «Разрешить приложению доступ к сообщениям сообщества» ticked, and turn on Сообщения сообщества under Управление → Сообщения";

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
            report.error(format!(
                "Parameter <vkToken> is missing: the community's access token, made {TOKEN_HOWTO}"
            ));
        } else if !valid_token(token) {
            report.error("Parameter <vkToken> is not a VK access token: 20 to 512 letters, digits, '.', '_' or '-' (e.g. vk1.a.…)");
        }
        let field = query.get("vkFieldName").unwrap_or("").trim();
        if field.is_empty() {
            report.error("Parameter <vkFieldName> is missing: the contact field of the booking form where the client gives their VK id or profile link (e.g. VK)");
        } else if field.chars().count() > 100 {
            report.error("Parameter <vkFieldName> is longer than 100 characters");
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
pub fn read_vk_id(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("add a contact field with this name to the service's booking form in Torrow (Контактная информация), where the client writes their VK profile link (vk.com/id…) or id (a name starting with * is hidden from the client and filled from the URL)".to_string());
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
        Some(_) => {
            return Err(format!(
                "{} is not a VK profile link (vk.com/id…)",
                quote(value)
            ))
        }
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
    Err(format!(
        "{} is a VK short name, which cannot be messaged: ask for the profile link with the number (vk.com/id123 — VK shows it in the profile's Settings → Адрес страницы) or the number itself",
        quote(value)
    ))
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
        let message = format!(
            "unexpected answer from VK: {} (not JSON)",
            answer.describe()
        );
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
        .map(|m| crate::redact::cut(m, 300))
        .unwrap_or_else(|| answer.describe());
    if code == 0 {
        let message = format!(
            "unexpected answer from VK (HTTP {}): {said}",
            answer.status.as_u16()
        );
        return Err(if answer.status.is_server_error() {
            Failure::Retryable(message)
        } else {
            Failure::Permanent(message)
        });
    }
    let ours = match code {
        5 => format!("VK refused the community token: make a new one {TOKEN_HOWTO}"),
        6 => "VK: too many requests per second, it will be tried again".to_string(),
        9 => "VK: flood control (too many messages of the same kind), it will be tried again later".to_string(),
        10 => "VK had an internal failure, it will be tried again".to_string(),
        7 | 15 | 27 => format!("the community token has no right to send messages: make one {TOKEN_HOWTO}"),
        901 => "the client has not allowed messages from the community: ask them to press «Разрешить сообщения» on the community's page".to_string(),
        902 => "the client's privacy settings do not let the community write to them".to_string(),
        900 => "the client has blocked the community".to_string(),
        _ => "VK refused the message".to_string(),
    };
    // Our explanation first, then VK's own words as received.
    let message = format!("{ours} (VK error {code}: {said})");
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

    fn title(&self) -> &'static str {
        "VKontakte (your community)"
    }

    fn params(&self) -> &'static [Param] {
        const PARAMS: &[Param] = &[
            Param::optional(
                "vkToken",
                "Ключ доступа сообщества с правом на сообщения (Управление → Работа с API)",
                "The community's access token with the messages right (Manage → API usage)",
            )
            .required()
            .secret(),
            Param::optional(
                "vkFieldName",
                "Поле контактной информации со ссылкой на страницу VK или VK ID клиента (например VK)",
                "Contact field holding the client's VK profile link or id (e.g. VK)",
            )
            .required(),
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
            what: "VK id",
        }
    }

    fn read_contact(&self, value: &str) -> Result<String, String> {
        read_vk_id(value)
    }

    fn target(&self, _route: &Route) -> String {
        "VK community".to_string()
    }

    async fn check(&self, route: &Route) -> Result<Vec<String>, Failure> {
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
            return Err(Failure::Unusable(format!(
                "the community token has no right to send messages: make one {TOKEN_HOWTO}"
            )));
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
            .map(|n| crate::redact::cut(n, 100))
            .unwrap_or_else(|| "the community".to_string());
        Ok(vec![format!(
            "messages will be sent by the community {}; a client must have allowed messages from it",
            quote(&name)
        )])
    }

    fn longest_attempt(&self) -> Duration {
        self.timeout
    }

    fn max_text_chars(&self, _route: &Route) -> usize {
        MAX_TEXT_CHARS
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
            .contains("short name"));
        assert!(read_vk_id("durov").unwrap_err().contains("short name"));
        assert!(read_vk_id("https://example.com/id1")
            .unwrap_err()
            .contains("not a VK profile link"));
        assert!(read_vk_id("").unwrap_err().contains("booking form"));
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
