//! The `wappi` channel (SPEC §5): a Wappi cascade (`cascadeId`) or one profile (`profileId`) on
//! WhatsApp `/api`, Telegram `/tapi` or MAX `/maxapi`. Facts: shared/reference/wappi-api.md.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};

mod answer;
mod look;
mod platform;

use answer::{classify, name_target, transport_failure, Expect};
use platform::{not_a_messenger, Platform};

use super::{
    from_route, provider, to_route, Channel, Failure, Found, Outgoing, Route, Sent, Unanswered,
};
use crate::i18n::Text;
use crate::params::{Param, Query, Report};
use crate::redact;
use crate::t;
use serde::{Deserialize, Serialize};

/// Profiles whose messenger is remembered, at most.
const PLATFORM_CACHE_LIMIT: usize = 4096;
/// Characters of a provider's answer kept in an error.
pub(super) const DETAIL_LIMIT: usize = 300;

/// Where a URL sends: a cascade or a single profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Target {
    #[serde(rename = "cascadeId")]
    Cascade(String),
    #[serde(rename = "profileId")]
    Profile(String),
}

impl Target {
    /// `cascade <id>`, for the texts.
    fn text(&self) -> Text {
        match self {
            Target::Cascade(id) => t!("wappi-cascade-id", id = id),
            Target::Profile(id) => t!("wappi-profile-id", id = id),
        }
    }
}

/// The route of a Wappi URL: keys are parameter names, so the token is found as a secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Credentials {
    #[serde(rename = "apiToken")]
    token: String,
    target: Target,
}

/// The `[wappi]` section of the settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Base URL of the Wappi API.
    pub base_url: String,
    /// Timeout for every call to Wappi.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long a profile's messenger (WhatsApp, Telegram, MAX) is remembered.
    #[serde(with = "humantime_serde")]
    pub platform_cache_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            base_url: "https://wappi.pro".to_string(),
            timeout: Duration::from_secs(30),
            platform_cache_ttl: Duration::from_secs(3600),
        }
    }
}

pub struct Wappi {
    http: reqwest::Client,
    base_url: String,
    timeout: Duration,
    platforms: Mutex<HashMap<String, (Platform, Instant)>>,
    platform_ttl: Duration,
}

impl Wappi {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let http = provider::client(settings.timeout).build()?;
        Ok(Wappi {
            http,
            base_url: super::base_url("wappi.base_url", &settings.base_url)?,
            timeout: settings.timeout,
            platforms: Mutex::new(HashMap::new()),
            platform_ttl: settings.platform_cache_ttl,
        })
    }

    /// The credentials of a URL, or every problem with them.
    fn credentials(query: &Query, report: &mut Report) -> Option<Credentials> {
        let before = report.errors.len();
        let token = match (query.get("apiToken"), query.get("apiTokenInstance")) {
            (Some(t), _) => Some(t),
            (None, Some(t)) => {
                report.warn(t!(
                    "wappi-parameter-apitokeninstance-accepted-apitoken-please"
                ));
                Some(t)
            }
            (None, None) => {
                report.error(t!("wappi-parameter-apitoken-missing-copy-from"));
                None
            }
        };
        if let Some(t) = token {
            if t.is_empty() || t.len() > 128 || !t.chars().all(|c| c.is_ascii_alphanumeric()) {
                report.error(t!(
                    "wappi-parameter-apitoken-must-1-128",
                    value = redact::token(t)
                ));
            }
        }
        let id = |name: &str, report: &mut Report| -> Option<String> {
            let v = query.get(name)?;
            let ok = !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                report.error(t!(
                    "wappi-parameter-name-must-1-64",
                    name = name,
                    value = crate::params::quote(v)
                ));
            }
            ok.then(|| v.to_string())
        };
        let cascade = id("cascadeId", report);
        let profile = id("profileId", report);
        let target = match (cascade, profile) {
            (Some(c), Some(_)) => {
                report.warn(t!("wappi-parameter-profileid-ignored-because-cascadeid"));
                Some(Target::Cascade(c))
            }
            (Some(c), None) => Some(Target::Cascade(c)),
            (None, Some(p)) => Some(Target::Profile(p)),
            (None, None) => {
                if query.get("cascadeId").is_none() && query.get("profileId").is_none() {
                    report.error(t!("wappi-parameter-cascadeid-profileid-required-wappi"));
                }
                None
            }
        };
        if report.errors.len() > before {
            return None;
        }
        Some(Credentials {
            token: token?.to_string(),
            target: target?,
        })
    }

    /// One call to Wappi, classified (SPEC §5).
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        what: &Target,
        expect: Expect,
    ) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .http
            .request(method, &url)
            .header("Authorization", token)
            .header("Accept", "application/json, text/plain");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_failure(&e, what))?;
        let answer = provider::read(response, "Wappi")
            .await
            .map_err(|f| name_target(f, what))?;
        classify(&answer, token, what, expect)
    }

    /// A look-up (`GET`) whose answer must hold `key`.
    async fn get(
        &self,
        creds: &Credentials,
        path: &str,
        key: &'static str,
    ) -> Result<Value, Failure> {
        self.call(
            Method::GET,
            path,
            &creds.token,
            None,
            &creds.target,
            Expect::Key(key),
        )
        .await
    }

    async fn profile_status(&self, creds: &Credentials, profile: &str) -> Result<Value, Failure> {
        let path = format!("/api/sync/get/status?profile_id={}", encode(profile));
        let status = self.get(creds, &path, "authorized").await?;
        match Platform::from_status(&status) {
            Ok(platform) => self.remember(profile, platform),
            Err(code) => return Err(Failure::Unusable(not_a_messenger(profile, &code))),
        }
        Ok(status)
    }

    fn remember(&self, profile: &str, platform: Platform) {
        // (Only profiles this service can send to are remembered.)
        let mut cache = self.platforms.lock().expect("platform cache lock");
        if cache.len() >= PLATFORM_CACHE_LIMIT {
            let ttl = self.platform_ttl;
            cache.retain(|_, (_, at)| at.elapsed() < ttl);
            if cache.len() >= PLATFORM_CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(profile.to_string(), (platform, Instant::now()));
    }

    /// The messenger of a profile: remembered, or looked up (a look-up sends nothing).
    async fn platform(&self, creds: &Credentials, profile: &str) -> Result<Platform, Failure> {
        if let Some(p) = self.remembered(profile) {
            return Ok(p);
        }
        self.profile_status(creds, profile)
            .await
            .map_err(Failure::before_send)?;
        Ok(self.remembered(profile).unwrap_or(Platform::WhatsApp))
    }

    fn remembered(&self, profile: &str) -> Option<Platform> {
        let cache = self.platforms.lock().expect("platform cache lock");
        cache
            .get(profile)
            .filter(|(_, at)| at.elapsed() < self.platform_ttl)
            .map(|(p, _)| *p)
    }
}

#[async_trait]
impl Channel for Wappi {
    fn name(&self) -> &'static str {
        "wappi"
    }

    fn title(&self) -> Text {
        t!("channel-title-wappi")
    }

    fn params(&self) -> &'static [Param] {
        const PARAMS: &[Param] = &[
            Param::optional("apiToken", "param-help-wappi-apitoken")
                .required()
                .secret(),
            Param::optional("apiTokenInstance", "param-help-wappi-apitokeninstance")
                .secret()
                .legacy(),
            Param::optional("cascadeId", "param-help-wappi-cascadeid"),
            Param::optional("profileId", "param-help-wappi-profileid"),
        ];
        PARAMS
    }

    fn route(&self, query: &Query, report: &mut Report) -> Option<Route> {
        Self::credentials(query, report).map(|c| to_route(&c))
    }

    fn target(&self, route: &Route) -> Text {
        match from_route::<Credentials>(route).map(|c| c.target) {
            Ok(Target::Cascade(id)) => t!("wappi-wappi-cascade-id", id = id),
            Ok(Target::Profile(id)) => t!("wappi-wappi-profile-id", id = id),
            Err(_) => Text::verbatim("Wappi"),
        }
    }

    async fn check(&self, route: &Route) -> Result<Vec<Text>, Failure> {
        let creds: Credentials = from_route(route)?;
        match &creds.target {
            Target::Cascade(id) => {
                let path = format!("/csender/cascade/get?cascade_id={}", encode(id));
                self.get(&creds, &path, "cascade").await?;
                Ok(Vec::new())
            }
            Target::Profile(id) => {
                let status = self.profile_status(&creds, id).await?;
                if status.get("authorized").and_then(Value::as_bool) == Some(false) {
                    return Err(Failure::Permanent(t!(
                        "wappi-wappi-profile-id-authorized-log",
                        id = id
                    )));
                }
                let mut warnings = Vec::new();
                let expired = status
                    .get("payment_expired_at")
                    .and_then(Value::as_str)
                    .and_then(crate::event::parse_time)
                    .filter(|t| *t < chrono::Utc::now());
                if let Some(t) = expired {
                    warnings.push(t!(
                        "wappi-wappi-subscription-profile-id-expired",
                        id = id,
                        date = t.format("%Y-%m-%d").to_string()
                    ));
                }
                Ok(warnings)
            }
        }
    }

    /// A profile send looks up the profile's messenger first: two calls.
    fn longest_attempt(&self) -> Duration {
        self.timeout * 2
    }

    /// A cascade may end in MAX, which takes 4000 characters (WhatsApp 20 000, Telegram 4096).
    fn max_text_chars(&self, _route: &Route) -> usize {
        4000
    }

    async fn send(&self, route: &Route, message: &Outgoing<'_>) -> Result<Sent, Failure> {
        let creds: Credentials = from_route(route)?;
        let answer = match &creds.target {
            Target::Cascade(id) => {
                let body =
                    json!({"recipient": message.recipient, "body": message.text, "cascade_id": id});
                super::sent_unless_unread!(
                    self.call(
                        Method::POST,
                        "/csender/cascade/send",
                        &creds.token,
                        Some(body),
                        &creds.target,
                        Expect::Status,
                    )
                    .await
                )
            }
            Target::Profile(id) => {
                let platform = self.platform(&creds, id).await?;
                let path = format!(
                    "/{}/sync/message/send?profile_id={}",
                    platform.prefix(),
                    encode(id)
                );
                let body = json!({"body": message.text, "recipient": message.recipient});
                super::sent_unless_unread!(
                    self.call(
                        Method::POST,
                        &path,
                        &creds.token,
                        Some(body),
                        &creds.target,
                        Expect::Status,
                    )
                    .await
                )
            }
        };
        let provider_id = ["message_id", "task_id"]
            .iter()
            .find_map(|k| answer.get(*k))
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            });
        Ok(Sent::with_id(provider_id))
    }

    /// Wappi has no idempotency key, but lists a chat's messages: asked before a resend.
    fn when_unanswered(&self, _route: &Route) -> Unanswered {
        Unanswered::Ask
    }

    async fn look_for(
        &self,
        route: &Route,
        message: &Outgoing<'_>,
        since: i64,
    ) -> Result<Found, Failure> {
        let creds: Credentials = from_route(route)?;
        look::look_for(self, &creds, message, since).await
    }
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
