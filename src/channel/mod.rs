//! Channels: where a rendered message goes. One channel = one module implementing [`Channel`],
//! plus one line in [`Registry::new`].

pub mod declared;
pub mod green_api;
pub mod log;
pub mod provider;
pub mod telegram;
pub mod vk;
pub mod wappi;
pub mod wazzup24;

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;

use crate::i18n::Text;
use crate::params::{Param, Query, Report, COMMON};
use crate::redact::Secrets;
use crate::settings::Settings;
use crate::t;

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
    ContactField { name: String, what: Text },
}

/// A delivered message, with the provider's message id when it gave one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sent {
    pub provider_id: Option<String>,
    /// Something worth recording about an accepted send (its answer could not be read, say).
    pub warning: Option<Text>,
}

impl Sent {
    pub fn with_id(provider_id: Option<String>) -> Self {
        Sent {
            provider_id,
            warning: None,
        }
    }

    /// A send the provider accepted (2xx) with an answer too large or broken to read: sent, never
    /// to be sent again.
    pub fn unread() -> Self {
        Sent {
            provider_id: None,
            warning: Some(t!("channel-answer-unread")),
        }
    }
}

/// The answer to a call that sends: a [`Failure::Unread`] (a 2xx whose answer could not be read)
/// returns [`Sent::unread`] from the enclosing `send`, since the provider took the message; any
/// other failure is returned as it is.
macro_rules! sent_unless_unread {
    ($call:expr) => {
        match $call {
            Err($crate::channel::Failure::Unread(_)) => return Ok($crate::channel::Sent::unread()),
            other => other?,
        }
    };
}
pub(crate) use sent_unless_unread;

/// A failed call to a provider. The message never holds a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// Trying again will not help (unknown cascade, refused recipient…).
    #[error("{0}")]
    Permanent(Text),
    /// The provider refused the hook's credentials (401/403): permanent, and such a delivery is
    /// kept a day only, since anyone can make one with a made-up token.
    #[error("{0}")]
    Refused(Text),
    /// Worth another try later (timeouts, 5xx, 429…).
    #[error("{0}")]
    Retryable(Text),
    /// Worth another try, but not before this long: the provider said so (`Retry-After`).
    #[error("{0}")]
    RetryAfter(Text, std::time::Duration),
    /// The URL names something this channel cannot send through (a Wappi profile of a messenger
    /// with no API, say): permanent, and check mode answers Wrong parameters.
    #[error("{0}")]
    Unusable(Text),
    /// The provider answered 2xx, but the answer was too large or broke off: a send is taken
    /// as done ([`sent_unless_unread`]); a look-up is worth another try.
    #[error("{0}")]
    Unread(Text),
    /// The request went out (or may have) and no answer came: a timeout after connecting, a
    /// connection that broke before the answer. For a send, whether the message went out is
    /// unknown ([`Unanswered`]); for a look-up, it is worth another try ([`Failure::before_send`]).
    #[error("{0}")]
    NoAnswer(Text),
}

impl Failure {
    /// What went wrong, as a text for the operator.
    pub fn into_text(self) -> Text {
        match self {
            Failure::Permanent(t)
            | Failure::Refused(t)
            | Failure::Retryable(t)
            | Failure::RetryAfter(t, _)
            | Failure::Unusable(t)
            | Failure::Unread(t)
            | Failure::NoAnswer(t) => t,
        }
    }

    /// A failure of a call made before the message itself was sent (a look-up of the profile or
    /// the recipient): no answer there sent nothing, so it is an ordinary retryable failure.
    pub fn before_send(self) -> Failure {
        match self {
            Failure::NoAnswer(t) => Failure::Retryable(t),
            other => other,
        }
    }

    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Failure::Permanent(_) | Failure::Refused(_) | Failure::Unusable(_)
        )
    }
}

/// What follows a send that got no answer ([`Failure::NoAnswer`]), or one found mid-send after a
/// crash: the message may or may not have gone out, and sending it again blindly could send it
/// twice (docs/en/delivery.md, "No answer").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswered {
    /// The provider drops a repeat itself (VK's `random_id`, Wazzup24's `crmMessageId`): a
    /// retry is safe.
    Resend,
    /// The provider can be asked whether the message went out ([`Channel::look_for`]) before
    /// it is sent again.
    Ask,
    /// Neither: the delivery waits for the operator (`replay`), and the report says so.
    Hold,
}

/// What the provider says of a message whose send got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// It went out.
    Sent(Sent),
    /// Every place it could have gone was looked at, and it is not there.
    NotSent,
    /// It cannot be told (a cascade step that cannot be looked at, say): why, for the report.
    CannotTell(Text),
}

#[async_trait]
pub trait Channel: Send + Sync {
    /// The `<channel>` of `/webhook/<channel>`.
    fn name(&self) -> &'static str;
    /// What the console and `/api/channels` call it (`Wappi`).
    fn title(&self) -> Text;
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
    /// The recipient in the value of its contact field ([`RecipientRule::ContactField`]); the
    /// default takes a numeric id. `Err` says how to fix it (`None` when the plain "No <what> in
    /// field <name>" says enough).
    fn read_contact(&self, value: &str) -> Result<String, Option<Text>> {
        crate::recipient::numeric_id(value).ok_or(None)
    }
    /// What a route sends through, for reports and logs (`cascade <id>`); never a secret.
    fn target(&self, route: &Route) -> Text;
    /// Verifies the credentials at the provider without sending; `Ok` carries warnings.
    async fn check(&self, route: &Route) -> Result<Vec<Text>, Failure>;
    /// Delivers one message.
    async fn send(&self, route: &Route, message: &Outgoing<'_>) -> Result<Sent, Failure>;
    /// What follows a send of this route that got no answer (see [`Unanswered`]); the default
    /// holds the delivery for the operator.
    fn when_unanswered(&self, _route: &Route) -> Unanswered {
        Unanswered::Hold
    }
    /// For [`Unanswered::Ask`]: whether `message` went out to its recipient since `since` (unix
    /// ms), asked of the provider without sending anything. `Err` when the provider could not
    /// be asked now (asked again later).
    async fn look_for(
        &self,
        _route: &Route,
        _message: &Outgoing<'_>,
        _since: i64,
    ) -> Result<Found, Failure> {
        Ok(Found::CannotTell(t!("channel-cannot-ask")))
    }
    /// The longest one attempt (check or send) can take: its provider timeout, and any pause
    /// inside it. `delivery.lease` must be well above the largest of these.
    fn longest_attempt(&self) -> std::time::Duration;
    /// The longest text, in characters, that the messenger takes in one message; a longer
    /// rendered text is refused before it is stored.
    fn max_text_chars(&self, _route: &Route) -> usize {
        DEFAULT_MAX_TEXT_CHARS
    }
}

/// What WhatsApp and Telegram take in one text message (4096 characters), and so what a channel
/// that does not say otherwise takes.
pub const DEFAULT_MAX_TEXT_CHARS: usize = 4096;

/// The channels' own sections of the settings, each taken by the channel that owns it; a
/// section no channel takes is refused ([`Sections::finish`]).
pub struct Sections<'a> {
    given: &'a BTreeMap<String, figment::value::Value>,
    taken: Vec<&'static str>,
}

impl<'a> Sections<'a> {
    pub fn new(given: &'a BTreeMap<String, figment::value::Value>) -> Self {
        Sections {
            given,
            taken: Vec::new(),
        }
    }

    /// Section `[name]` read as the channel's settings; absent: the channel's defaults. Errors
    /// name the section and the key (`wappi.timeout: …`).
    pub fn take<T: serde::de::DeserializeOwned>(
        &mut self,
        name: &'static str,
    ) -> anyhow::Result<T> {
        self.taken.push(name);
        let empty = figment::value::Value::Dict(Default::default(), figment::value::Dict::new());
        let value = self.given.get(name).unwrap_or(&empty);
        T::deserialize(value).map_err(|e| {
            let key = std::iter::once(name.to_string())
                .chain(e.path.iter().cloned())
                .collect::<Vec<_>>()
                .join(".");
            anyhow::Error::from(t!(
                "settings-bad-section-key",
                key = key,
                why = e.kind.to_string().replace('`', "\"")
            ))
        })
    }

    /// Refuses a section that no channel took (a misspelt `[wapi]`, say).
    pub fn finish(self) -> anyhow::Result<()> {
        let known: Vec<&str> = self
            .taken
            .iter()
            .copied()
            .chain(SERVICE_SECTIONS.iter().copied())
            .collect();
        for name in self.given.keys() {
            if self.taken.contains(&name.as_str()) {
                continue;
            }
            let hint = crate::settings::closest_key(name, known.iter().copied())
                .map(|k| t!("settings-section-did-you-mean", name = k))
                .unwrap_or_default();
            return Err(t!(
                "settings-unknown-section",
                name = name,
                hint = hint,
                known = known.join(", ")
            )
            .into());
        }
        Ok(())
    }
}

/// The service's own sections (in `settings.rs`), for hints.
const SERVICE_SECTIONS: &[&str] = &[
    "server",
    "templates",
    "links",
    "phone",
    "delivery",
    "mail",
    "render",
    "log",
];

/// A provider's base URL from the settings, or an error naming its key.
pub fn base_url(key: &str, url: &str) -> anyhow::Result<String> {
    reqwest::Url::parse(url)
        .map_err(|_| t!("settings-not-a-url", key = key, url = format!("{url:?}")))?;
    Ok(url.trim_end_matches('/').to_string())
}

/// A channel's typed route, kept as JSON so that the outbox can store it and every channel can
/// read its own struct back ([`to_route`], [`from_route`]).
pub type Route = serde_json::Value;

pub fn to_route<T: serde::Serialize>(route: &T) -> Route {
    serde_json::to_value(route).expect("a route serializes")
}

/// The channel's own struct from a route; a route it cannot read is a permanent failure.
pub fn from_route<T: serde::de::DeserializeOwned>(route: &Route) -> Result<T, Failure> {
    serde_json::from_value(route.clone()).map_err(|e| {
        Failure::Permanent(t!(
            "channel-stored-route-cannot-read-why",
            why = e.to_string()
        ))
    })
}

/// Channel names → channels.
pub struct Registry {
    channels: BTreeMap<&'static str, Arc<dyn Channel>>,
    /// The parameter names of every channel: a query is masked with all of them, so a secret is
    /// hidden even in a request to the wrong or an unknown channel.
    names: crate::redact::Names,
}

impl Registry {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let mut sections = Sections::new(&settings.sections);
        let mut channels: Vec<Arc<dyn Channel>> = vec![
            Arc::new(log::LogChannel::new(sections.take("log_sink")?)),
            Arc::new(wappi::Wappi::new(sections.take("wappi")?)?),
            Arc::new(telegram::Telegram::new(sections.take("telegram")?)?),
            Arc::new(wazzup24::Wazzup24::new(sections.take("wazzup24")?)?),
            Arc::new(green_api::GreenApi::new(sections.take("green_api")?)?),
            Arc::new(vk::Vk::new(sections.take("vk")?)?),
        ];
        let declared: BTreeMap<String, declared::Declaration> = sections.take("channels")?;
        sections.finish()?;
        for (name, declaration) in &declared {
            anyhow::ensure!(
                channels.iter().all(|c| c.name() != name),
                "channels.{name}: a built-in channel has that name"
            );
            channels.push(Arc::new(declared::Declared::new(name, declaration)?));
        }
        let params = || {
            channels
                .iter()
                .flat_map(|c| c.params().iter())
                .chain(COMMON)
        };
        let names = crate::redact::Names::new(
            params().filter(|p| p.secret).map(|p| p.name),
            params().filter(|p| !p.secret).map(|p| p.name),
        );
        Ok(Registry {
            channels: channels.into_iter().map(|c| (c.name(), c)).collect(),
            names,
        })
    }

    /// The secret values of a query (see [`crate::redact`]).
    pub fn secrets(&self, raw_query: &str) -> Secrets {
        Secrets::of(raw_query, &self.names)
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
            &self.names,
        )
    }

    /// A query safe to log, store and mail.
    pub fn masked_query(&self, raw_query: &str) -> String {
        self.mask_query(&self.secrets(raw_query), raw_query)
    }

    /// [`Registry::masked_query`] with the query's secrets already worked out.
    pub fn mask_query(&self, secrets: &Secrets, raw_query: &str) -> String {
        secrets.query(raw_query, &self.names)
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
                    "title": {
                        "ru": c.title().render(crate::i18n::Lang::Ru),
                        "en": c.title().render(crate::i18n::Lang::En),
                    },
                    "params": c.params(),
                })
            })
            .collect();
        serde_json::json!({ "common": COMMON, "channels": channels })
    }

    /// The longest attempt of any channel (see [`Channel::longest_attempt`]).
    pub fn longest_attempt(&self) -> std::time::Duration {
        self.channels
            .values()
            .map(|c| c.longest_attempt())
            .max()
            .unwrap_or_default()
    }

    /// Known names, sorted: `log, wappi`.
    pub fn names(&self) -> String {
        self.channels.keys().copied().collect::<Vec<_>>().join(", ")
    }
}
