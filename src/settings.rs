//! Settings: built-in defaults (`Settings.toml` embedded) → a settings file → `HOOKS_*` env.

use crate::i18n::Text;
use crate::t;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    providers::{Env, Format, Toml},
    Figment,
};
use serde::Deserialize;

/// The documented defaults, compiled into the binary.
pub const DEFAULTS: &str = include_str!("../Settings.toml");

/// The service's own sections; every other top-level section belongs to a channel, which reads
/// and checks it itself ([`crate::channel::Registry::new`] refuses a section no channel claims).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: Server,
    pub templates: Templates,
    pub links: Links,
    pub phone: Phone,
    pub delivery: Delivery,
    pub mail: Mail,
    pub render: Render,
    pub log: Log,
    /// The channels' own sections (`[wappi]`, `[telegram]`, …, and `[channels.<name>]` of the
    /// senders declared without code), by name, as given.
    #[serde(flatten)]
    pub sections: std::collections::BTreeMap<String, figment::value::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub addr: SocketAddr,
    pub body_limit: u64,
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    pub max_connections: usize,
    pub max_params: usize,
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How operators reach the service (`https://hooks.example.com`); empty: the console uses
    /// the address it was loaded from.
    pub public_url: String,
    /// Bearer token for the console's deliveries and `/api/deliveries`; empty: they are off.
    pub admin_token: secrecy::SecretString,
    /// Language of answers, failure emails and CLI messages when no browser asks for another.
    pub language: crate::i18n::Lang,
    /// A second listener for `/healthz`, `/readyz` and `/metrics` only (`127.0.0.1:9090`);
    /// empty: none.
    pub ops_addr: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    pub dir: PathBuf,
    pub default_locale: String,
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Links {
    pub service: String,
    pub order: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    pub default_region: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub database: PathBuf,
    pub fsync: bool,
    #[serde(with = "humantime_serde")]
    pub respond_within: Duration,
    #[serde(deserialize_with = "durations")]
    pub retry_schedule: Vec<Duration>,
    pub jitter: f64,
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    #[serde(with = "humantime_serde")]
    pub dedup_window: Duration,
    pub concurrency: usize,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// PostgreSQL only: connections per instance.
    pub pool_size: u32,
    /// PostgreSQL only: the longest any statement (or wait for a lock) may take.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// PostgreSQL only: how long an instance holds a delivery it is sending; a delivery held by
    /// an instance that died is sent by another after this.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Pending deliveries at most; past it new POSTs get 503.
    pub max_pending: i64,
    /// The outbox's size at most (SQLite: file and log; PostgreSQL: its tables); past it, 503.
    pub max_outbox_bytes: u64,
    /// SQLite: free disk space below this refuses new POSTs (503) before the disk is full.
    pub min_free_bytes: u64,
    /// The part of `max_pending` and `max_outbox_bytes` that hooks whose credentials no provider
    /// has accepted (or that have none) may hold together; past it, their POSTs get 429.
    pub unvouched_share: f64,
}

impl Delivery {
    /// The PostgreSQL URL when `database` is one (`postgres://…`), else `None` (SQLite).
    pub fn postgres_url(&self) -> Option<&str> {
        self.database
            .to_str()
            .filter(|d| d.starts_with("postgres://") || d.starts_with("postgresql://"))
    }

    /// The SQLite file (`sqlite://` stripped when given).
    pub fn sqlite_path(&self) -> PathBuf {
        match self
            .database
            .to_str()
            .and_then(|d| d.strip_prefix("sqlite://"))
        {
            Some(path) => PathBuf::from(path),
            None => self.database.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    pub smtp_url: String,
    pub from: String,
    pub dir: PathBuf,
    #[serde(with = "humantime_serde")]
    pub throttle: Duration,
    pub max_new_addresses_per_hour: u32,
    pub max_reports_per_email: u32,
    /// A delivery still failing this long after it was accepted is reported once, before it is
    /// given up; zero: only failed and given-up deliveries are reported.
    #[serde(with = "humantime_serde")]
    pub warn_after: Duration,
    /// Addresses (or `@domain`s) that may get reports about any hook, even one without
    /// credentials of its own (`log`) or whose credentials no provider has accepted yet.
    pub allowed_addresses: Vec<String>,
}

/// What `mail.from` is when it is empty and reports are written as files (no SMTP server).
pub const FILE_MAIL_FROM: &str = "torrow-hooks <torrow-hooks@localhost>";

impl Mail {
    /// The sender of reports: `mail.from`, or [`FILE_MAIL_FROM`] when it is empty.
    pub fn sender(&self) -> &str {
        match self.from.trim() {
            "" => FILE_MAIL_FROM,
            from => from,
        }
    }

    /// What is wrong with the SMTP settings: a scheme lettre does not speak, a password sent
    /// without encryption to another machine, or no real sender address for a real server.
    fn problems(&self) -> Vec<Text> {
        let mut problems = Vec::new();
        let sender = self.sender().parse::<lettre::message::Mailbox>();
        if sender.is_err() {
            problems.push(t!("settings-mail-from", value = format!("{:?}", self.from)));
        }
        let smtp = self.smtp_url.trim();
        if smtp.is_empty() {
            return problems;
        }
        let local = |host: &str| {
            host == "localhost"
                || host
                    .trim_matches(|c| c == '[' || c == ']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        };
        match sender {
            Ok(mailbox) if self.from.trim().is_empty() || local(mailbox.email.domain()) => problems
                .push(t!(
                    "settings-mail-from-needed",
                    value = format!("{:?}", self.from)
                )),
            _ => {}
        }
        let Ok(url) = reqwest::Url::parse(smtp) else {
            problems.push(t!("settings-smtp-url-bad"));
            return problems;
        };
        let tls = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let host = url.host_str().unwrap_or("");
        let encrypted = match (url.scheme(), tls.as_deref()) {
            ("smtps", _) | ("smtp", Some("required")) => true,
            ("smtp", None | Some("opportunistic")) => false,
            (scheme, _) => {
                problems.push(t!("settings-smtp-scheme", scheme = scheme));
                return problems;
            }
        };
        if url.password().is_some() && !encrypted && !local(host) {
            problems.push(t!("settings-smtp-plain-password", host = host));
        }
        problems
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Render {
    /// Booked items listed in a message at most; the rest are counted ("и ещё N").
    pub max_resource_lines: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub format: LogFormat,
    pub level: String,
    /// A warning or error repeated at one place is written once, then as one line with the
    /// count this often while it lasts.
    #[serde(with = "humantime_serde")]
    pub repeats_every: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

fn durations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .map(|s| {
            humantime::parse_duration(s)
                .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
        })
        .collect()
}

/// A settings file or value that cannot be used; the message names the key.
#[derive(Debug)]
pub struct SettingsError(Text);

impl std::error::Error for SettingsError {}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.text())
    }
}

impl SettingsError {
    /// The problem, in the operator's language when rendered.
    pub fn text(&self) -> Text {
        t!("settings-bad", why = &self.0)
    }
}

/// The settings file of a server set up as docs/deploy.md says, read when no other is given.
pub const SYSTEM_SETTINGS: &str = "/etc/torrow-hooks/Settings.toml";

impl Settings {
    /// Defaults, then `path` (or `Settings.toml` in the working directory when it exists), then env.
    /// The settings: the built-in defaults, then `path` (`--config`), else `./Settings.toml`,
    /// else [`SYSTEM_SETTINGS`], then `HOOKS_*` variables.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, SettingsError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        match path {
            Some(p) if !p.exists() => {
                return Err(SettingsError(t!(
                    "settings-file-missing",
                    path = format!("{p:?}"),
                    cwd = format!("{:?}", std::env::current_dir().unwrap_or_default())
                )))
            }
            Some(p) => figment = figment.merge(Toml::file_exact(absolute(p))),
            None if std::path::Path::new("Settings.toml").is_file() => {
                figment = figment.merge(Toml::file_exact(absolute("Settings.toml".as_ref())))
            }
            // A server set up as docs/deploy.md says: the unit and the CLI read the same file.
            None if std::path::Path::new(SYSTEM_SETTINGS).is_file() => {
                figment = figment.merge(Toml::file_exact(SYSTEM_SETTINGS))
            }
            None => {}
        }
        Self::extract(figment.merge(Env::prefixed("HOOKS_").split("__")))
    }

    /// Built-in defaults only, with `overrides` (TOML text) on top: for tests and tools.
    pub fn with_overrides(overrides: &str) -> Result<Self, SettingsError> {
        Self::extract(Figment::from(Toml::string(DEFAULTS)).merge(Toml::string(overrides)))
    }

    fn extract(figment: Figment) -> Result<Self, SettingsError> {
        let settings: Settings = figment
            .extract()
            .map_err(|e| SettingsError(Text::parts(e.into_iter().map(describe_error))))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let mut problems = Vec::new();
        if self.delivery.retry_schedule.is_empty() {
            problems.push(t!("settings-retry-schedule-empty"));
        }
        if !(0.0..=1.0).contains(&self.delivery.unvouched_share) {
            problems.push(t!(
                "settings-unvouched-share",
                value = self.delivery.unvouched_share.to_string()
            ));
        }
        if !(0.0..=1.0).contains(&self.delivery.jitter) {
            problems.push(t!(
                "settings-jitter",
                value = self.delivery.jitter.to_string()
            ));
        }
        if self.delivery.retention < self.delivery.dedup_window {
            problems.push(t!(
                "settings-retention-short",
                retention = humantime::format_duration(self.delivery.retention).to_string(),
                window = humantime::format_duration(self.delivery.dedup_window).to_string()
            ));
        }
        for (key, value) in [
            ("server.max_connections", self.server.max_connections),
            ("server.max_params", self.server.max_params),
            (
                "mail.max_reports_per_email",
                self.mail.max_reports_per_email as usize,
            ),
        ] {
            if value == 0 {
                problems.push(t!("settings-at-least-one", key = key));
            }
        }
        if self.delivery.postgres_url().is_some() && self.delivery.pool_size == 0 {
            problems.push(t!("settings-at-least-one", key = "delivery.pool_size"));
        }
        if self.delivery.concurrency == 0 {
            problems.push(t!("settings-at-least-one", key = "delivery.concurrency"));
        }
        if phonenumber::country::Id::from_str_ci(&self.phone.default_region).is_none() {
            problems.push(t!(
                "settings-unknown-region",
                value = format!("{:?}", self.phone.default_region)
            ));
        }
        let public = self.server.public_url.trim();
        if !public.is_empty() {
            match reqwest::Url::parse(public) {
                Ok(url)
                    if ["http", "https"].contains(&url.scheme())
                        && url.query().is_none()
                        && url.fragment().is_none() => {}
                _ => problems.push(t!("settings-public-url", value = format!("{public:?}"))),
            }
        }
        problems.extend(self.mail.problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SettingsError(Text::parts(problems)))
        }
    }
}

/// `path` from the working directory, so that messages name the file unambiguously.
fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// One settings problem: the key, where the value came from (file or variable), what is wrong.
fn describe_error(e: figment::Error) -> Text {
    use figment::error::Kind;
    let key = e.path.join(".");
    let source = e.metadata.as_ref().map(|m| match &m.source {
        Some(figment::Source::File(path)) => {
            t!("settings-in-file", path = path.display().to_string())
        }
        _ if m.name.contains("environment") => {
            t!(
                "settings-from-variable",
                name = e.path.join("__").to_uppercase()
            )
        }
        _ => Text::default(),
    });
    let source = source.unwrap_or_default();
    let what = match &e.kind {
        Kind::UnknownField(field, known) => {
            let hint = closest_key(field, known.iter().copied())
                .map(|k| t!("settings-did-you-mean", key = k))
                .unwrap_or_default();
            t!(
                "settings-unknown-key",
                field = field.as_str(),
                hint = hint,
                known = known.join(", ")
            )
        }
        Kind::MissingField(field) => t!("settings-missing-key", field = field.as_ref()),
        // figment's and serde's own words.
        other => Text::verbatim(other.to_string().replace('`', "\"")),
    };
    if key.is_empty() {
        t!("settings-problem", what = what, source = source)
    } else {
        t!(
            "settings-key-problem",
            key = key,
            source = source,
            what = what
        )
    }
}

/// The known settings key (or section) closest to a misspelt `name`: at most two edits away.
pub fn closest_key<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

trait RegionLookup: Sized {
    fn from_str_ci(s: &str) -> Option<Self>;
}

impl RegionLookup for phonenumber::country::Id {
    fn from_str_ci(s: &str) -> Option<Self> {
        s.to_ascii_uppercase().parse().ok()
    }
}
