//! The `green-api` channel: WhatsApp (`apiUrl`, `idInstance`, `apiTokenInstance`) and/or MAX
//! (`apiUrlMax`, `idInstanceMax`, `apiTokenInstanceMax`) through GREEN-API; both given = WhatsApp
//! first, then MAX. `apiUrl` is a host the operator types, so it is an SSRF risk: only hosts
//! matching `green_api.allowed_hosts`, https, no IP literals, no redirects.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod answer;

use answer::{classify, explain_state, sent_id};

use super::{
    from_route, provider, to_route, Channel, Failure, Found, Outgoing, Route, Sent, Unanswered,
};
use crate::i18n::Text;
use crate::params::{quote, Param, Query, Report};
use crate::t;

/// `[green_api]` settings; defaults in code, a Settings.toml section only to override.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// When set, every call goes here instead of `https://<apiUrl>` (tests, proxies); the
    /// allow-list still applies to the parameter.
    pub base_url: String,
    pub allowed_hosts: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// `repeat=true`: how long after sending the status is looked at.
    #[serde(with = "humantime_serde")]
    pub repeat_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            base_url: String::new(),
            allowed_hosts: r"^(\d{4}\.)?api\.green-?api\.com$".to_string(),
            timeout: Duration::from_secs(30),
            repeat_after: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Messenger {
    WhatsApp,
    Max,
}

impl Messenger {
    fn label(self) -> &'static str {
        match self {
            Messenger::WhatsApp => "WhatsApp",
            Messenger::Max => "MAX",
        }
    }

    /// Parameter names: `apiUrl`, `idInstance`, `apiTokenInstance` (+ `Max`).
    fn names(self) -> [&'static str; 3] {
        match self {
            Messenger::WhatsApp => ["apiUrl", "idInstance", "apiTokenInstance"],
            Messenger::Max => ["apiUrlMax", "idInstanceMax", "apiTokenInstanceMax"],
        }
    }
}

/// One GREEN-API instance (keys named like the WhatsApp parameters, so the token is a secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Instance {
    messenger: Messenger,
    #[serde(rename = "apiUrl")]
    host: String,
    #[serde(rename = "idInstance")]
    id: String,
    #[serde(rename = "apiTokenInstance")]
    token: String,
}

/// The route of a GREEN-API URL: the instances in the order they are tried, and `repeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Instances {
    instances: Vec<Instance>,
    repeat: bool,
}

pub struct GreenApi {
    http: reqwest::Client,
    base_url: Option<String>,
    allowed: regex::Regex,
    repeat_after: Duration,
    timeout: Duration,
}

impl GreenApi {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        if !settings.base_url.is_empty() {
            super::base_url("green_api.base_url", &settings.base_url)?;
        }
        let allowed = regex::Regex::new(&settings.allowed_hosts)
            .map_err(|e| anyhow::anyhow!("green_api.allowed_hosts: {e}"))?;
        let http = provider::client(settings.timeout)
            .https_only(settings.base_url.is_empty())
            .build()?;
        let base_url =
            Some(settings.base_url.trim_end_matches('/').to_string()).filter(|b| !b.is_empty());
        Ok(GreenApi {
            http,
            base_url,
            allowed,
            repeat_after: settings.repeat_after,
            timeout: settings.timeout,
        })
    }

    /// The host of an `apiUrl` value if it is allowed: `1103.api.green-api.com`,
    /// `https://api.green-api.com/`, `api.greenapi.com/v3` …
    fn host(&self, raw: &str) -> Result<String, Text> {
        let rest = raw.trim();
        let rest = match rest.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => rest,
            Some(_) => return Err(t!("green-only-https-allowed")),
            None => rest,
        };
        let host = rest
            .split('/')
            .next()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let after = &rest[rest.find('/').unwrap_or(rest.len())..];
        if !after.trim_matches('/').is_empty()
            && !after.trim_matches('/').eq_ignore_ascii_case("v3")
        {
            return Err(t!("green-give-host-only-e-g"));
        }
        if host.contains(['@', ':', '[']) || host.parse::<std::net::IpAddr>().is_ok() {
            return Err(t!("green-ip-addresses-ports-user-names"));
        }
        if !self.allowed.is_match(&host) {
            return Err(t!("green-green-api-host-e-g"));
        }
        Ok(host)
    }

    fn instance(
        &self,
        query: &Query,
        messenger: Messenger,
        report: &mut Report,
    ) -> Option<Instance> {
        let [url, id, token] = messenger.names();
        let given = [url, id, token]
            .iter()
            .filter(|n| query.get(n).is_some_and(|v| !v.is_empty()))
            .count();
        if given == 0 {
            return None;
        }
        let before = report.errors.len();
        let host = match query.get(url).filter(|v| !v.is_empty()) {
            None => {
                report.error(t!("green-parameter-name-missing-api-host", name = url));
                None
            }
            Some(v) => match self.host(v) {
                Ok(h) => Some(h),
                Err(why) => {
                    report.error(t!(
                        "green-parameter-name-allowed-value-why",
                        name = url,
                        value = quote(v),
                        why = why
                    ));
                    None
                }
            },
        };
        let id_value = query.get(id).unwrap_or("");
        if id_value.is_empty()
            || id_value.len() > 20
            || !id_value.bytes().all(|b| b.is_ascii_digit())
        {
            report.error(t!(
                "green-parameter-name-must-digits-instance",
                name = id,
                value = quote(id_value)
            ));
        }
        let token_value = query.get(token).unwrap_or("");
        if token_value.is_empty()
            || token_value.len() > 128
            || !token_value.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            report.error(t!("green-parameter-name-must-1-128", name = token));
        }
        (report.errors.len() == before).then(|| Instance {
            messenger,
            host: host.unwrap_or_default(),
            id: id_value.to_string(),
            token: token_value.to_string(),
        })
    }

    /// WhatsApp and/or MAX, in the order they are tried, and `repeat`.
    fn instances(&self, query: &Query, report: &mut Report) -> Option<Instances> {
        let before = report.errors.len();
        let instances: Vec<Instance> = [Messenger::WhatsApp, Messenger::Max]
            .into_iter()
            .filter_map(|m| self.instance(query, m, report))
            .collect();
        if instances.is_empty() && report.errors.len() == before {
            report.error(t!(
                "green-parameters-apiurl-idinstance-apitokeninstance-whatsapp"
            ));
        }
        let repeat = match query.get("repeat") {
            None | Some("") => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                report.error(t!(
                    "green-parameter-repeat-must-true-false",
                    value = quote(v)
                ));
                false
            }
        };
        (report.errors.len() == before).then_some(Instances { instances, repeat })
    }

    async fn call(
        &self,
        instance: &Instance,
        method: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let base = self
            .base_url
            .clone()
            .unwrap_or_else(|| format!("https://{}", instance.host));
        let version = if instance.messenger == Messenger::Max {
            "/v3"
        } else {
            ""
        };
        let url = format!(
            "{base}{version}/waInstance{}/{method}/{}",
            instance.id, instance.token
        );
        let request = match body {
            Some(body) => self.http.post(&url).json(&body),
            None => self.http.get(&url),
        };
        let what = format!("GREEN-API {}", instance.messenger.label());
        let response = request
            .send()
            .await
            .map_err(|e| provider::transport(&e, &what))?;
        let answer = provider::read(response, &what).await?;
        classify(&answer, &what, &instance.token)
    }

    /// The chat of `phone` in the instance's messenger; a MAX account is looked up (sending
    /// nothing).
    async fn chat_id(&self, instance: &Instance, phone: &str) -> Result<String, Failure> {
        Ok(match instance.messenger {
            Messenger::WhatsApp => format!("{phone}@c.us"),
            Messenger::Max => {
                let number: u64 = phone.parse().map_err(|_| {
                    Failure::Permanent(t!(
                        "green-phone-number-value",
                        value = crate::redact::phone(phone)
                    ))
                })?;
                let found = self
                    .call(
                        instance,
                        "checkAccount",
                        Some(json!({"phoneNumber": number})),
                    )
                    .await
                    .map_err(Failure::before_send)?;
                match found.get("chatId").and_then(Value::as_str) {
                    Some(id)
                        if found.get("exist").and_then(Value::as_bool) == Some(true)
                            && !id.is_empty() =>
                    {
                        id.to_string()
                    }
                    _ => {
                        return Err(Failure::Permanent(t!(
                            "green-number-has-max-account",
                            number = crate::redact::phone(phone)
                        )))
                    }
                }
            }
        })
    }

    /// One messenger: resolve the recipient, send, and with `repeat` look again and resend once.
    async fn send_one(
        &self,
        instance: &Instance,
        phone: &str,
        text: &str,
        repeat: bool,
    ) -> Result<Sent, Failure> {
        let chat_id = self.chat_id(instance, phone).await?;
        let body = json!({"chatId": chat_id, "message": text});
        let id = sent_id(&super::sent_unless_unread!(
            self.call(instance, "sendMessage", Some(body.clone())).await
        ))?;
        if !repeat {
            return Ok(Sent::with_id(Some(id)));
        }
        tokio::time::sleep(self.repeat_after).await;
        let status = self
            .call(
                instance,
                "getMessage",
                Some(json!({"chatId": chat_id, "idMessage": id})),
            )
            .await
            .ok()
            .and_then(|m| {
                m.get("statusMessage")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        match status.as_str() {
            "delivered" | "read" => Ok(Sent::with_id(Some(id))),
            "noAccount" | "failed" => Err(Failure::Permanent(t!(
                "green-green-api-messenger-message-delivered",
                messenger = instance.messenger.label(),
                status = status.as_str()
            ))),
            _ => {
                // Still pending or sent (one tick): send once more; this may be a duplicate.
                let again = sent_id(&super::sent_unless_unread!(
                    self.call(instance, "sendMessage", Some(body)).await
                ))?;
                Ok(Sent::with_id(Some(again)))
            }
        }
    }
}

#[async_trait]
impl Channel for GreenApi {
    fn name(&self) -> &'static str {
        "green-api"
    }

    fn title(&self) -> Text {
        t!("channel-title-green-api")
    }

    fn params(&self) -> &'static [Param] {
        const PARAMS: &[Param] = &[
            Param::optional("apiUrl", "param-help-green-api-apiurl"),
            Param::optional("idInstance", "param-help-green-api-idinstance"),
            Param::optional("apiTokenInstance", "param-help-green-api-apitokeninstance").secret(),
            Param::optional("apiUrlMax", "param-help-green-api-apiurlmax"),
            Param::optional("idInstanceMax", "param-help-green-api-idinstancemax"),
            Param::optional(
                "apiTokenInstanceMax",
                "param-help-green-api-apitokeninstancemax",
            )
            .secret(),
            Param::optional("repeat", "param-help-green-api-repeat"),
        ];
        PARAMS
    }

    fn route(&self, query: &Query, report: &mut Report) -> Option<Route> {
        self.instances(query, report).map(|i| to_route(&i))
    }

    fn target(&self, route: &Route) -> Text {
        let instances = from_route::<Instances>(route)
            .map(|r| r.instances)
            .unwrap_or_default();
        match instances.as_slice() {
            [] => Text::verbatim("GREEN-API"),
            [one] => t!(
                "green-target-one",
                messenger = one.messenger.label(),
                id = one.id.as_str()
            ),
            [first, next, ..] => t!(
                "green-target-two",
                messenger = first.messenger.label(),
                id = first.id.as_str(),
                next = next.messenger.label(),
                next_id = next.id.as_str()
            ),
        }
    }

    async fn check(&self, route: &Route) -> Result<Vec<Text>, Failure> {
        let route: Instances = from_route(route)?;
        for instance in route.instances {
            let state = self.call(&instance, "getStateInstance", None).await?;
            let state = state
                .get("stateInstance")
                .and_then(Value::as_str)
                .unwrap_or("");
            if state != "authorized" {
                return Err(Failure::Permanent(explain_state(instance.messenger, state)));
            }
        }
        Ok(Vec::new())
    }

    /// `repeat=true`: the send, the pause, the status call and perhaps a second send.
    fn longest_attempt(&self) -> Duration {
        self.timeout * 3 + self.repeat_after
    }

    /// WhatsApp takes 20 000 characters, MAX 4000.
    fn max_text_chars(&self, route: &Route) -> usize {
        let max = from_route::<Instances>(route)
            .is_ok_and(|r| r.instances.iter().any(|i| i.messenger == Messenger::Max));
        if max {
            4000
        } else {
            20_000
        }
    }

    async fn send(&self, route: &Route, message: &Outgoing<'_>) -> Result<Sent, Failure> {
        let route: Instances = from_route(route)?;
        let repeat = route.repeat;
        let mut first_failure: Option<Failure> = None;
        for instance in route.instances {
            let limit = if instance.messenger == Messenger::Max {
                4000
            } else {
                20_000
            };
            let text = crate::redact::cut(message.text, limit - 1);
            match self
                .send_one(&instance, message.recipient, &text, repeat)
                .await
            {
                Ok(sent) => return Ok(sent),
                // It may have gone out: the next messenger would send it a second time.
                Err(failure @ Failure::NoAnswer(_)) => return Err(failure),
                Err(failure) => {
                    tracing::info!(messenger = instance.messenger.label(), error = %failure, "GREEN-API send failed; trying the next messenger if any");
                    first_failure.get_or_insert(failure);
                }
            }
        }
        Err(first_failure.unwrap_or_else(|| Failure::Permanent(t!("green-no-instance"))))
    }

    /// GREEN-API has no idempotency key, but lists a chat's history: asked before a resend.
    fn when_unanswered(&self, _route: &Route) -> Unanswered {
        Unanswered::Ask
    }

    async fn look_for(
        &self,
        route: &Route,
        message: &Outgoing<'_>,
        since: i64,
    ) -> Result<Found, Failure> {
        let route: Instances = from_route(route)?;
        for instance in route.instances.iter().take(2) {
            let chat_id = self.chat_id(instance, message.recipient).await?;
            let history = self
                .call(
                    instance,
                    "getChatHistory",
                    Some(json!({"chatId": chat_id, "count": answer::NEWEST})),
                )
                .await
                .map_err(Failure::before_send)?;
            let limit = if instance.messenger == Messenger::Max {
                4000
            } else {
                20_000
            };
            let text = crate::redact::cut(message.text, limit - 1);
            if let Some(sent) = answer::find_sent(&history, &text, since) {
                return Ok(Found::Sent(sent));
            }
        }
        Ok(Found::NotSent)
    }
}
