//! Channels: where a rendered message goes. One channel = one module implementing [`Channel`],
//! plus one line in [`Registry::new`].

pub mod declared;
pub mod green_api;
pub mod log;
pub mod provider;
pub mod telegram;
pub mod wappi;
pub mod wazzup24;

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;

use crate::params::{Param, Query, Report, COMMON};
use crate::redact::Secrets;
use crate::settings::Settings;

/// One message to deliver.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub delivery_id: &'a str,
    pub recipient: &'a str,
    pub text: &'a str,
}

/// Where a channel finds the recipient in an event.
#[derive(Debug, Clone, PartialEq)]
pub enum RecipientRule {
    /// The participant's phone (SPEC §4), or the `phone` parameter.
    Phone,
    /// The value of the participant's contact field `name`; `what` names it in errors.
    ContactField { name: String, what: &'static str },
}

/// A delivered message, with the provider's message id when it gave one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sent {
    pub provider_id: Option<String>,
}

/// A failed call to a provider. The message never holds a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// Trying again will not help (bad token, unknown cascade, refused recipient…).
    #[error("{0}")]
    Permanent(String),
    /// Worth another try later (timeouts, 5xx, 429…).
    #[error("{0}")]
    Retryable(String),
    /// Worth another try, but not before this long: the provider said so (`Retry-After`).
    #[error("{0}")]
    RetryAfter(String, std::time::Duration),
}

impl Failure {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Failure::Permanent(_))
    }
}

#[async_trait]
pub trait Channel: Send + Sync {
    /// The `<channel>` of `/webhook/<channel>`.
    fn name(&self) -> &'static str;
    /// What the console and `/api/channels` call it (`Wappi`).
    fn title(&self) -> &'static str;
    /// The query parameters this channel adds to the common ones. Those marked secret drive
    /// redaction everywhere (names matched in any letter case, spaces trimmed).
    fn params(&self) -> &'static [Param];
    /// Parses this channel's parameters once into its typed route (credentials and options), or
    /// puts every problem (and hint) into `report`. The route is what `check` and `send` use and
    /// what the outbox keeps for retries; its keys are the parameter names, so redaction finds the
    /// secrets in it too.
    fn route(&self, query: &Query, report: &mut Report) -> Option<Route>;
    /// How the recipient is found: a phone (the default) or a contact field.
    fn recipient_rule(&self, _route: &Route) -> RecipientRule {
        RecipientRule::Phone
    }
    /// What a route sends through, for reports and logs (`cascade <id>`); never a secret.
    fn target(&self, route: &Route) -> String;
    /// Verifies the credentials at the provider without sending; `Ok` carries warnings.
    async fn check(&self, route: &Route) -> Result<Vec<String>, Failure>;
    /// Delivers one message.
    async fn send(&self, route: &Route, message: &Outgoing<'_>) -> Result<Sent, Failure>;
}

/// A channel's typed route, kept as JSON so that the outbox can store it and every channel can
/// read its own struct back ([`to_route`], [`from_route`]).
pub type Route = serde_json::Value;

pub fn to_route<T: serde::Serialize>(route: &T) -> Route {
    serde_json::to_value(route).expect("a route serializes")
}

/// The channel's own struct from a route; a route it cannot read is a permanent failure.
pub fn from_route<T: serde::de::DeserializeOwned>(route: &Route) -> Result<T, Failure> {
    serde_json::from_value(route.clone())
        .map_err(|e| Failure::Permanent(format!("the stored route cannot be read: {e}")))
}

/// Channel names → channels.
pub struct Registry {
    channels: BTreeMap<&'static str, Arc<dyn Channel>>,
    /// The secret parameter names of every channel: a query is masked with all of them, so a
    /// secret is hidden even in a request to the wrong or an unknown channel.
    secret_names: Vec<&'static str>,
}

impl Registry {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let mut channels: Vec<Arc<dyn Channel>> = vec![
            Arc::new(log::LogChannel::new(&settings.log_sink)),
            Arc::new(wappi::Wappi::new(&settings.wappi)?),
            Arc::new(telegram::Telegram::new(&settings.telegram)?),
            Arc::new(wazzup24::Wazzup24::new(&settings.wazzup24)?),
            Arc::new(green_api::GreenApi::new(&settings.green_api)?),
        ];
        for (name, declaration) in &settings.channels {
            anyhow::ensure!(
                channels.iter().all(|c| c.name() != name),
                "channels.{name}: a built-in channel has that name"
            );
            channels.push(Arc::new(declared::Declared::new(name, declaration)?));
        }
        let mut secret_names: Vec<&'static str> = channels
            .iter()
            .flat_map(|c| c.params().iter().filter(|p| p.secret).map(|p| p.name))
            .collect();
        secret_names.sort_unstable();
        secret_names.dedup();
        Ok(Registry {
            channels: channels.into_iter().map(|c| (c.name(), c)).collect(),
            secret_names,
        })
    }

    /// The secret values of a query (see [`crate::redact`]).
    pub fn secrets(&self, raw_query: &str) -> Secrets {
        Secrets::of(raw_query, &self.secret_names)
    }

    /// The route the outbox stored for `channel`: its JSON, or — for rows written before routes
    /// were stored — the route parsed from the stored query.
    pub fn stored_route(&self, channel: &dyn Channel, stored: &str) -> Route {
        match serde_json::from_str::<Route>(stored) {
            Ok(route @ Route::Object(_)) => route,
            _ => channel
                .route(&Query::parse(stored), &mut Report::default())
                .unwrap_or(Route::Null),
        }
    }

    /// The secrets of what the outbox stored (a route, or an older row's query).
    pub fn stored_secrets(&self, stored: &str) -> Secrets {
        match serde_json::from_str::<Route>(stored) {
            Ok(route @ Route::Object(_)) => self.route_secrets(&route),
            _ => self.secrets(stored),
        }
    }

    /// The secret values of a route: every string under a key that names a secret parameter.
    pub fn route_secrets(&self, route: &Route) -> Secrets {
        fn walk(value: &Route, pairs: &mut Vec<(String, String)>) {
            match value {
                Route::Object(map) => {
                    for (k, v) in map {
                        match v {
                            Route::String(s) => pairs.push((k.clone(), s.clone())),
                            other => walk(other, pairs),
                        }
                    }
                }
                Route::Array(items) => items.iter().for_each(|v| walk(v, pairs)),
                _ => {}
            }
        }
        let mut pairs = Vec::new();
        walk(route, &mut pairs);
        Secrets::of_pairs(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &self.secret_names,
        )
    }

    /// A query safe to log, store and mail.
    pub fn masked_query(&self, raw_query: &str) -> String {
        self.secrets(raw_query).query(raw_query, &self.secret_names)
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Channel>> {
        self.channels.get(name).cloned()
    }

    /// What `GET /api/channels` answers: the common parameters once, then each channel.
    pub fn describe(&self) -> serde_json::Value {
        let channels: Vec<serde_json::Value> = self
            .channels
            .values()
            .map(|c| {
                serde_json::json!({
                    "name": c.name(),
                    "title": c.title(),
                    "params": c.params(),
                })
            })
            .collect();
        serde_json::json!({ "common": COMMON, "channels": channels })
    }

    /// Known names, sorted: `log, wappi`.
    pub fn names(&self) -> String {
        self.channels.keys().copied().collect::<Vec<_>>().join(", ")
    }
}
