//! Query parameters → validated options (SPEC §2). Every problem is collected, not just the first.

use chrono_tz::Tz;

use crate::i18n::Text;
use crate::recipient;
use crate::t;

pub mod spec;
pub mod zones;

pub use spec::{Param, COMMON};

/// The decoded query string of a hook URL, in order, as `application/x-www-form-urlencoded`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    raw: String,
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: &str) -> Self {
        let raw = raw.strip_prefix('?').unwrap_or(raw);
        // Names are read without surrounding spaces: Torrow's own example for the Telegram hook
        // has `telegramFieldName =*TelegramId`.
        let pairs = form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.trim().to_string(), v.into_owned()))
            .collect();
        Query {
            raw: raw.to_string(),
            pairs,
        }
    }

    /// The query string as received (without `?`).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The first value given for `name` (names are case-sensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every (name, value), in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }
}

/// Errors and warnings found while checking a request, in the order found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub errors: Vec<Text>,
    pub warnings: Vec<Text>,
}

impl Report {
    pub fn error(&mut self, message: Text) {
        self.errors.push(message);
    }
    pub fn warn(&mut self, message: Text) {
        self.warnings.push(message);
    }
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
    pub fn error_message(&self) -> Text {
        Text::parts(self.errors.iter().cloned())
    }
    pub fn warning_message(&self) -> Text {
        Text::parts(self.warnings.iter().cloned())
    }
}

/// Where the time zone for the message comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeZoneChoice {
    Fixed(Tz),
    /// `CaseParticipants.ParticipantTimeZone` of the event.
    Participant,
}

/// The `hide_*` switches.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Hide {
    pub hide_detail_section: bool,
    pub hide_resource_description: bool,
    pub hide_order_duration: bool,
    pub hide_address: bool,
    pub hide_service_name: bool,
    pub hide_order_description: bool,
    pub hide_url: bool,
    pub hide_contact_info: bool,
}

/// The validated common options of a hook URL.
#[derive(Debug, Clone)]
pub struct Options {
    pub error_email: Option<String>,
    pub message: String,
    /// Fixed recipient (normalized digits); the message alone goes there.
    pub phone: Option<String>,
    pub resource_name: Option<String>,
    pub detail_section_name: Option<String>,
    pub case_type_name: Option<String>,
    pub hide: Hide,
    pub locale: String,
    pub timezone: TimeZoneChoice,
    /// Left at its default (`Europe/Moscow` given or absent).
    pub timezone_is_default: bool,
    pub timezone_name: Option<String>,
    pub sign_text: String,
    /// The template to render (`template=`, else `message`).
    pub template: String,
    /// `template=` was given: with `phone`, the template is rendered instead of `message` alone.
    pub template_given: bool,
}

impl Options {
    /// `phone` without `template`: the message alone is sent.
    pub fn only_message(&self) -> bool {
        self.phone.is_some() && !self.template_given
    }
}

/// Locale → the names of its templates.
pub type Catalogue = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

/// What the checks need to know about the running service.
pub struct Environment<'a> {
    /// The locales and the templates each has.
    pub templates: &'a Catalogue,
    pub default_locale: &'a str,
    pub default_region: &'a str,
}

const DEFAULT_TZ: Tz = chrono_tz::Europe::Moscow;

impl Options {
    /// Checks the common parameters; problems go into `report`. `None` when any error was found.
    pub fn parse(q: &Query, env: &Environment, report: &mut Report) -> Option<Options> {
        let before = report.errors.len();
        let error_email = match q.get("errorEmail") {
            None | Some("") => {
                report.warn(t!("param-parameter-erroremail-set-errors-will"));
                None
            }
            Some(v) => match parse_email(v) {
                Ok(address) => Some(address.to_string()),
                Err(why) => {
                    report.error(t!(
                        "param-parameter-erroremail-valid-email-address",
                        value = quote(v),
                        why = why
                    ));
                    None
                }
            },
        };
        let message = text(q, "message", 4000, report).unwrap_or_default();
        let phone = match q.get("phone") {
            None => None,
            Some(v) => match recipient::normalize(v, env.default_region) {
                Some(p) => Some(p),
                None => {
                    report.error(t!(
                        "param-parameter-phone-valid-phone-number",
                        value = quote(v)
                    ));
                    None
                }
            },
        };
        let template_given = q.get("template").is_some_and(|t| !t.is_empty());
        if q.get("phone").is_some() && !template_given && message.trim().is_empty() {
            report.error(t!("param-parameter-phone-needs-non-empty"));
        }
        let resource_name = text(q, "resource_name", 200, report);
        let detail_section_name = text(q, "detail_section_name", 200, report);
        let case_type_name = text(q, "case_type_name", 200, report);
        let hide = Hide {
            hide_detail_section: flag(q, "hide_detail_section", false, report),
            hide_resource_description: flag(q, "hide_resource_description", false, report),
            hide_order_duration: flag(q, "hide_order_duration", false, report),
            hide_address: flag(q, "hide_address", false, report),
            hide_service_name: flag(q, "hide_service_name", false, report),
            hide_order_description: flag(q, "hide_order_description", false, report),
            hide_url: flag(q, "hide_url", false, report),
            hide_contact_info: flag(q, "hide_contact_info", true, report),
        };
        let mut locale = match q.get("date_locales") {
            None | Some("") => env.default_locale.to_string(),
            Some(v) if env.templates.contains_key(v) => v.to_string(),
            Some(v) => {
                let locales: Vec<&str> = env.templates.keys().map(String::as_str).collect();
                report.error(t!(
                    "param-parameter-date-locales-has-unknown",
                    value = quote(v),
                    list = locales.join(", ")
                ));
                String::new()
            }
        };
        let template = template(q, env, &mut locale, report);
        let (timezone, timezone_is_default) = match q.get("timezone") {
            None | Some("") => (TimeZoneChoice::Fixed(DEFAULT_TZ), true),
            Some("participant") => (TimeZoneChoice::Participant, false),
            // Moscow time by its everyday name: MSK, МСК, Мск.
            Some(v) if ["msk", "мск"].contains(&v.trim().to_lowercase().as_str()) => {
                (TimeZoneChoice::Fixed(DEFAULT_TZ), true)
            }
            Some(v) => match v.parse::<Tz>() {
                Ok(tz) => (TimeZoneChoice::Fixed(tz), tz == DEFAULT_TZ),
                Err(_) => {
                    let zones: Vec<&str> =
                        chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
                    report.error(match closest(v, &zones) {
                        Some(zone) => t!(
                            "param-parameter-timezone-has-unknown-time",
                            value = quote(v),
                            zone = zone
                        ),
                        None => t!(
                            "param-parameter-timezone-has-unknown-time-2",
                            value = quote(v)
                        ),
                    });
                    (TimeZoneChoice::Fixed(DEFAULT_TZ), true)
                }
            },
        };
        let timezone_name = text(q, "timezone_name", 50, report);
        let sign_text = text(q, "sign_text", 1000, report).unwrap_or_default();
        if report.errors.len() > before {
            return None;
        }
        Some(Options {
            error_email,
            message,
            phone,
            resource_name,
            detail_section_name,
            case_type_name,
            hide,
            locale,
            timezone,
            timezone_is_default,
            timezone_name,
            sign_text,
            template,
            template_given,
        })
    }
}

/// The template of `template=` (default `message`) in `locale`, or in the default locale (with a
/// warning, and `locale` switched to it) when `locale` lacks it.
fn template(q: &Query, env: &Environment, locale: &mut String, report: &mut Report) -> String {
    let name = match q.get("template") {
        None | Some("") => crate::render::DEFAULT_TEMPLATE,
        Some(v) if !crate::render::valid_name(v) => {
            report.error(t!("param-template-bad-name", value = quote(v)));
            return String::new();
        }
        Some(v) => v,
    };
    let has = |l: &str| {
        env.templates
            .get(l)
            .is_some_and(|names| names.contains(name))
    };
    if locale.is_empty() || has(locale) {
        return name.to_string();
    }
    if has(env.default_locale) {
        report.warn(t!(
            "param-template-other-locale",
            name = name,
            locale = locale.as_str(),
            default = env.default_locale
        ));
        *locale = env.default_locale.to_string();
        return name.to_string();
    }
    let mut available: Vec<&str> = [locale.as_str(), env.default_locale]
        .iter()
        .filter_map(|l| env.templates.get(*l))
        .flatten()
        .map(String::as_str)
        .collect();
    available.sort_unstable();
    available.dedup();
    report.error(match closest(name, &available) {
        Some(hint) => t!(
            "param-template-unknown-did-you-mean",
            name = name,
            hint = hint,
            list = available.join(", ")
        ),
        None => t!(
            "param-template-unknown",
            name = name,
            list = available.join(", ")
        ),
    });
    String::new()
}

/// Parses an `errorEmail` the way the mailer will use it: a plain `user@domain.tld` address
/// (no display name, no IP literal, a dot in the domain), trimmed and lower-cased, so that
/// what passes can be sent and one mailbox is one throttle key.
pub fn parse_email(raw: &str) -> Result<lettre::Address, Text> {
    use lettre::address::AddressError;
    let normalized = raw.trim().to_lowercase();
    let address: lettre::Address = normalized.parse().map_err(|e| match e {
        AddressError::InvalidUser => t!("param-invalid-email-user"),
        AddressError::InvalidDomain => t!("param-invalid-email-domain"),
        _ => t!("param-missing-domain-user"),
    })?;
    if address.user().starts_with('"') {
        return Err(t!("param-email-quoted-name"));
    }
    let domain = address.domain();
    if domain.starts_with('[') {
        return Err(t!("param-ip-address-cannot-mailed-use"));
    }
    let tld = domain.rsplit('.').next().unwrap_or("");
    if !domain.contains('.') || tld.is_empty() || tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(t!("param-domain-needs-dot-example-com"));
    }
    Ok(address)
}

/// The `errorEmail` of a query when it is a valid address, even if other parameters are wrong.
pub fn error_email(q: &Query) -> Option<String> {
    q.get("errorEmail")
        .and_then(|v| parse_email(v).ok())
        .map(|a| a.to_string())
}

/// A query longer than this is refused before any per-name work. It holds every free text at its
/// longest in Russian (5,650 characters between `message`, `sign_text` and the headings, six
/// bytes each once percent-encoded: about 34 KB) with room for the rest, and stays within the
/// 64 KiB a request head may take (`server::READ_BUFFER_MAX`).
pub const MAX_QUERY_BYTES: usize = 48 * 1024;
/// Unknown names that get a "did you mean" hint, at most (each hint compares with every name).
const MAX_HINTS: usize = 10;

/// Refuses, without looking at any name, a query over [`MAX_QUERY_BYTES`] or with more than
/// `max_params` parameters (`server.max_params`).
pub fn check_size(raw: &str, max_params: usize) -> Result<(), Text> {
    if raw.len() > MAX_QUERY_BYTES {
        return Err(t!(
            "param-query-string-size-bytes-long",
            size = raw.len(),
            limit = MAX_QUERY_BYTES
        ));
    }
    let count = raw.split('&').filter(|p| !p.is_empty()).count();
    if count > max_params {
        return Err(t!(
            "param-query-string-has-count-parameters",
            count = count,
            limit = max_params
        ));
    }
    Ok(())
}

/// Warns about every parameter that neither the common set nor the channel knows. Linear in the
/// number of names; "did you mean" is worked out for the first few unknown names only.
pub fn warn_unknown(q: &Query, channel_params: &[Param], report: &mut Report) {
    let known: Vec<&str> = COMMON
        .iter()
        .chain(channel_params)
        .map(|p| p.name)
        .collect();
    let known_set: std::collections::HashSet<&str> = known.iter().copied().collect();
    let mut seen = std::collections::HashSet::new();
    let mut hints = 0;
    for name in q.names() {
        if !seen.insert(name) {
            report.warn(t!(
                "param-parameter-name-given-more-than",
                name = quote(name)
            ));
            continue;
        }
        if known_set.contains(name) {
            continue;
        }
        let hint = if hints < MAX_HINTS {
            hints += 1;
            closest(name, &known)
        } else {
            None
        };
        match hint {
            Some(hint) => {
                report.warn(t!(
                    "param-unknown-parameter-name-ignored-did",
                    name = quote(name),
                    hint = hint
                ));
                // An error about the parameter meant (missing, most likely) says so too.
                let meant = format!("<{hint}>");
                for error in report
                    .errors
                    .iter_mut()
                    .filter(|e| e.to_string().contains(&meant))
                {
                    *error = t!(
                        "param-reason-given-did-you-mean",
                        reason = error.clone(),
                        given = quote(name),
                        hint = hint
                    );
                }
            }
            None => report.warn(t!(
                "param-unknown-parameter-name-ignored",
                name = quote(name)
            )),
        }
    }
}

/// A caller's value as quoted in our messages: at most [`QUOTE_CHARS`] characters.
pub fn quote(value: &str) -> std::borrow::Cow<'_, str> {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => value.into(),
        Some((cut, _)) => format!("{}…", &value[..cut]).into(),
    }
}

/// Characters of a caller's value quoted in an error or warning.
pub const QUOTE_CHARS: usize = 64;

fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&lower, &k.to_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn flag(q: &Query, name: &str, default: bool, report: &mut Report) -> bool {
    match q.get(name) {
        None | Some("") => default,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            report.error(t!(
                "param-parameter-name-must-true-false",
                name = name,
                value = quote(v)
            ));
            default
        }
    }
}

fn text(q: &Query, name: &str, max_chars: usize, report: &mut Report) -> Option<String> {
    let v = q.get(name)?;
    let count = v.chars().count();
    if count > max_chars {
        let start: String = v.chars().take(20).collect();
        report.error(t!(
            "param-parameter-name-count-characters-long",
            name = name,
            count = count,
            max = max_chars,
            start = format!("{start}…")
        ));
        return None;
    }
    if v.is_empty() {
        None
    } else {
        Some(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment<'static> {
        static LOCALES: std::sync::OnceLock<Catalogue> = std::sync::OnceLock::new();
        Environment {
            templates: LOCALES.get_or_init(|| {
                let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
                [
                    ("en-US".to_string(), names(&["message"])),
                    (
                        "ru-RU".to_string(),
                        names(&["message", "staff", "reminder"]),
                    ),
                ]
                .into_iter()
                .collect()
            }),
            default_locale: "ru-RU",
            default_region: "RU",
        }
    }

    #[test]
    fn plus_and_percent_decode() {
        let q = Query::parse(
            "message=%D0%92%D1%8B+%D0%B7%D0%B0%D0%BF%D0%B8%D1%81%D0%B0%D0%BD%D1%8B%0Ax",
        );
        assert_eq!(q.get("message"), Some("Вы записаны\nx"));
    }

    #[test]
    fn defaults_and_flags() {
        let mut r = Report::default();
        let o = Options::parse(
            &Query::parse("hide_url=TRUE&errorEmail=a@b.ru"),
            &env(),
            &mut r,
        )
        .unwrap();
        assert!(o.hide.hide_url && o.hide.hide_contact_info && !o.hide.hide_address);
        assert_eq!(o.locale, "ru-RU");
        assert!(o.timezone_is_default);
        assert!(r.errors.is_empty() && r.warnings.is_empty());
    }

    #[test]
    fn all_errors_reported() {
        let mut r = Report::default();
        let q = Query::parse("hide_url=yes&timezone=Europe/Mosow&date_locales=de-DE");
        assert!(Options::parse(&q, &env(), &mut r).is_none());
        assert_eq!(r.errors.len(), 3, "{:?}", r.errors);
        assert!(r
            .error_message()
            .to_string()
            .contains("Parameter <timezone> has an unknown time zone <Europe/Mosow>"));
    }

    #[test]
    fn a_misspelt_zone_and_a_misspelt_required_name_get_hints_in_the_error() {
        let mut r = Report::default();
        let q = Query::parse("timezone=Europe/Moskow");
        assert!(Options::parse(&q, &env(), &mut r).is_none());
        assert_eq!(
            r.errors,
            ["Parameter <timezone> has an unknown time zone <Europe/Moskow> (did you mean <Europe/Moscow>?)"]
        );
        let mut r = Report::default();
        r.error(Text::verbatim(
            "Parameter <cascadeId> or <profileId> is missing",
        ));
        let required =
            [spec::Param::optional("cascadeId", "param-help-wappi-cascadeid").required()];
        warn_unknown(&Query::parse("cascadeid=abc"), &required, &mut r);
        assert_eq!(
            r.errors,
            ["Parameter <cascadeId> or <profileId> is missing (<cascadeid> was given: did you mean <cascadeId>? Names are case-sensitive)"]
        );
    }

    #[test]
    fn did_you_mean() {
        let mut r = Report::default();
        warn_unknown(&Query::parse("hdie_url=true&zzz=1"), &[], &mut r);
        assert_eq!(
            r.warnings[0],
            "unknown parameter <hdie_url> ignored (did you mean <hide_url>?)"
        );
        assert_eq!(r.warnings[1], "unknown parameter <zzz> ignored");
    }
}
