//! Senders declared in Settings.toml, for any other system, without code:
//!
//! ```toml
//! [channels.crm]
//! kind = "http"
//! title = "Our CRM"
//! params = ["key", "token"]
//! secret_params = ["token"]
//! recipient = "phone"                  # or "field:<contact field name>"
//! method = "POST"
//! url = "https://crm.example/notify/{{ query.key }}"
//! headers = { Authorization = "Bearer {{ query.token }}" }
//! body = '{"to": {{ recipient | json_encode }}, "text": {{ text | json_encode }}}'
//! check_url = "https://crm.example/ping"   # optional: GET it in check mode
//! ```
//!
//! `url`, `headers` and `body` are Tera templates whose only variables are `query.<declared
//! param>`, `recipient`, `text` and `delivery_id`. Values inserted into `url` are percent-encoded.
//! A JSON body (no `Content-Type` header, or one that names JSON) gets every value JSON-escaped
//! whatever the template says, so a caller's value can never add a field; `json_encode` adds the
//! quotes. A header value with a line break is a permanent failure naming the header.
//! Any 2xx is success; 408, 429 and 5xx are retried; other answers are permanent failures.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{provider, Channel, Failure, Outgoing, RecipientRule, Route, Sent};
use crate::i18n::Text;
use crate::params::{quote, Param, Query, Report};
use crate::t;

/// One `[channels.<name>]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub secret_params: Vec<String>,
    #[serde(default = "phone")]
    pub recipient: String,
    #[serde(default = "post")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub check_url: Option<String>,
    #[serde(default = "thirty_seconds", with = "humantime_serde")]
    pub timeout: std::time::Duration,
    /// The longest text the other system takes; a longer one is refused before it is stored.
    #[serde(default = "default_max_text_chars")]
    pub max_text_chars: usize,
}

fn default_max_text_chars() -> usize {
    super::DEFAULT_MAX_TEXT_CHARS
}

fn phone() -> String {
    "phone".to_string()
}

fn post() -> String {
    "POST".to_string()
}

fn thirty_seconds() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}

pub struct Declared {
    name: &'static str,
    title: &'static str,
    params: &'static [Param],
    recipient: RecipientRule,
    method: reqwest::Method,
    tera: tera::Tera,
    headers: Vec<String>,
    has_body: bool,
    /// The body is JSON: values are JSON-escaped before they go in, and the result must parse.
    json_body: bool,
    check_url: Option<String>,
    http: reqwest::Client,
    timeout: std::time::Duration,
    max_text_chars: usize,
}

const URL: &str = "url";
const BODY: &str = "body";

impl Declared {
    /// Builds the channel `name` from its section; every mistake names the key.
    pub fn new(name: &str, d: &Declaration) -> anyhow::Result<Self> {
        let key = |k: &str| format!("channels.{name}.{k}");
        anyhow::ensure!(
            d.kind == "http",
            "{}: only \"http\" is known, not {:?}",
            key("kind"),
            d.kind
        );
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(t!("settings-declared-name", name = name).into());
        }
        let method: reqwest::Method = d.method.to_ascii_uppercase().parse().map_err(|_| {
            t!(
                "settings-declared-method",
                key = key("method"),
                value = format!("{:?}", d.method)
            )
        })?;
        for secret in &d.secret_params {
            if !d.params.contains(secret) {
                return Err(t!(
                    "settings-declared-secret",
                    key = key("secret_params"),
                    secret = format!("{secret:?}")
                )
                .into());
            }
        }
        let recipient = match d.recipient.split_once(':') {
            None if d.recipient == "phone" => RecipientRule::Phone,
            Some(("field", field)) if !field.trim().is_empty() => RecipientRule::ContactField {
                name: field.trim().to_string(),
                what: t!("declared-recipient"),
            },
            _ => {
                return Err(t!(
                    "settings-declared-recipient",
                    key = key("recipient"),
                    value = format!("{:?}", d.recipient)
                )
                .into())
            }
        };
        let mut tera = tera::Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        tera.register_filter(
            "json_encode",
            |v: tera::Value, _: tera::Kwargs, state: &tera::State| {
                match (v.as_str(), state.get::<bool>("escaped").ok().flatten()) {
                    // In a JSON body the value is already escaped: only the quotes are missing.
                    (Some(s), Some(true)) => format!("\"{s}\""),
                    _ => serde_json::to_string(&v).unwrap_or_default(),
                }
            },
        );
        let mut add = |template: &str, source: &str, what: String| {
            tera.add_raw_template(template, source)
                .map_err(|e| t!("settings-key-error", key = what, why = e.to_string()))
        };
        add(URL, &d.url, key("url"))?;
        add(BODY, &d.body, key("body"))?;
        let headers: Vec<String> = d.headers.keys().cloned().collect();
        for (header, value) in &d.headers {
            reqwest::header::HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                t!(
                    "settings-declared-header-name",
                    key = key("headers"),
                    value = format!("{header:?}")
                )
            })?;
            add(
                &format!("header:{header}"),
                value,
                key(&format!("headers.{header}")),
            )?;
        }
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let params: Vec<Param> = d
            .params
            .iter()
            .map(|p| {
                let param = Param::optional(leak(p.clone()), "param-help-declared").required();
                if d.secret_params.contains(p) {
                    param.secret()
                } else {
                    param
                }
            })
            .collect();
        let http = provider::client(d.timeout).build()?;
        let title = if d.title.is_empty() { name } else { &d.title };
        Ok(Declared {
            name: leak(name.to_string()),
            title: leak(title.to_string()),
            params: Box::leak(params.into_boxed_slice()),
            recipient,
            method,
            tera,
            headers,
            has_body: !d.body.is_empty(),
            json_body: d
                .headers
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case("content-type"))
                .is_none_or(|(_, v)| v.to_ascii_lowercase().contains("json")),
            check_url: d.check_url.clone().filter(|u| !u.is_empty()),
            http,
            timeout: d.timeout,
            max_text_chars: d.max_text_chars.max(1),
        })
    }

    /// The route's values (the declared parameters, and only those), for the templates.
    fn query_values(&self, route: &Route, encode: bool) -> Value {
        let map: serde_json::Map<String, Value> = self
            .params
            .iter()
            .map(|p| {
                let v = route.get(p.name).and_then(Value::as_str).unwrap_or("");
                let v = if encode { percent(v) } else { v.to_string() };
                (p.name.to_string(), Value::String(v))
            })
            .collect();
        Value::Object(map)
    }

    fn render(&self, template: &str, context: &Value) -> Result<String, Failure> {
        let context = tera::Context::from_serialize(context).map_err(|e| {
            Failure::Permanent(t!(
                "declared-render-failed",
                place = self.name,
                why = e.to_string()
            ))
        })?;
        self.tera.render(template, &context).map_err(|e| {
            Failure::Permanent(t!(
                "declared-render-failed",
                place = format!("channels.{}.{template}", self.name),
                why = e.to_string()
            ))
        })
    }
}

/// The values of a template context JSON-escaped (without their quotes), marked `escaped`.
fn json_escaped(context: &Value) -> Value {
    fn escape(v: &Value) -> Value {
        match v {
            Value::String(s) => {
                let quoted = serde_json::to_string(s).expect("a string serializes");
                Value::String(quoted[1..quoted.len() - 1].to_string())
            }
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), escape(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(escape).collect()),
            other => other.clone(),
        }
    }
    let mut escaped = escape(context);
    if let Value::Object(map) = &mut escaped {
        map.insert("escaped".to_string(), Value::Bool(true));
    }
    escaped
}

fn percent(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Any 2xx: sent; 408, 429, 5xx: retried (after `Retry-After` if given); the rest: permanent.
fn classify(answer: &provider::Answer, title: &str) -> Result<Sent, Failure> {
    if answer.status.is_success() {
        return Ok(Sent::default());
    }
    let code = answer.status.as_u16();
    let detail = crate::redact::cut(answer.text().trim(), 200);
    let message = if detail.is_empty() {
        t!(
            "channel-provider-answered-http-code",
            provider = title,
            code = code
        )
    } else {
        t!(
            "channel-provider-answered-http-code-detail",
            provider = title,
            code = code,
            detail = detail
        )
    };
    Err(answer.failure(message, answer.retryable_status()))
}

#[async_trait]
impl Channel for Declared {
    fn name(&self) -> &'static str {
        self.name
    }

    fn title(&self) -> Text {
        Text::verbatim(self.title)
    }

    fn params(&self) -> &'static [Param] {
        self.params
    }

    fn recipient_rule(&self, _route: &Route) -> RecipientRule {
        self.recipient.clone()
    }

    /// The route is the declared parameters' values, by name.
    fn route(&self, query: &Query, report: &mut Report) -> Option<Route> {
        let before = report.errors.len();
        let mut values = serde_json::Map::new();
        for p in self.params {
            match query.get(p.name).filter(|v| !v.is_empty()) {
                Some(v) => {
                    values.insert(p.name.to_string(), Value::String(v.to_string()));
                }
                None => report.error(t!("param-missing", name = p.name)),
            }
        }
        (report.errors.len() == before).then_some(Value::Object(values))
    }

    fn target(&self, _route: &Route) -> Text {
        Text::verbatim(self.title)
    }

    async fn check(&self, _route: &Route) -> Result<Vec<Text>, Failure> {
        let Some(url) = &self.check_url else {
            return Ok(Vec::new());
        };
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| provider::transport(&e, self.title))?;
        let answer = provider::read(response, self.title).await?;
        classify(&answer, self.title).map(|_| Vec::new())
    }

    fn longest_attempt(&self) -> std::time::Duration {
        self.timeout
    }

    fn max_text_chars(&self, _route: &Route) -> usize {
        self.max_text_chars
    }

    async fn send(&self, route: &Route, message: &Outgoing<'_>) -> Result<Sent, Failure> {
        let plain = json!({
            "query": self.query_values(route, false),
            "recipient": message.recipient,
            "text": message.text,
            "delivery_id": message.delivery_id,
        });
        let encoded = json!({
            "query": self.query_values(route, true),
            "recipient": percent(message.recipient),
            "text": percent(message.text),
            "delivery_id": percent(message.delivery_id),
        });
        let url = self.render(URL, &encoded)?;
        let parsed = reqwest::Url::parse(&url).map_err(|e| {
            Failure::Permanent(t!(
                "declared-not-a-url",
                name = self.name,
                url = quote(&url),
                why = e.to_string()
            ))
        })?;
        let mut request = self.http.request(self.method.clone(), parsed);
        for header in &self.headers {
            let value = self.render(&format!("header:{header}"), &plain)?;
            let value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                Failure::Permanent(t!(
                    "declared-header-control",
                    name = self.name,
                    header = header
                ))
            })?;
            request = request.header(header.as_str(), value);
        }
        if self.has_body {
            let typed = self
                .headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case("content-type"));
            if !typed {
                request = request.header(reqwest::header::CONTENT_TYPE, "application/json");
            }
            let body = if self.json_body {
                let body = self.render(BODY, &json_escaped(&plain))?;
                if let Err(e) = serde_json::from_str::<Value>(&body) {
                    return Err(Failure::Permanent(t!(
                        "declared-body-not-json",
                        name = self.name,
                        error = e.to_string()
                    )));
                }
                body
            } else {
                self.render(BODY, &plain)?
            };
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| provider::transport(&e, self.title))?;
        classify(
            &super::sent_unless_unread!(provider::read(response, self.title).await),
            self.title,
        )
    }
}
