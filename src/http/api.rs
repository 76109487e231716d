//! The JSON API under `/api/` that the console uses (README, "Console and API"):
//! what the page needs to build a URL, check and preview with the query in a POST body, and the
//! deliveries (only with `server.admin_token`).

use std::sync::Arc;

use serde::Deserialize;
use warp::{filters::BoxedFilter, Filter, Reply};

use super::{accept_language, json_reply, language, read_whole, reply, request_span, Answer};
use crate::app::App;
use crate::delivery::lookup::{self, Replayed};
use crate::i18n::Lang;
use crate::i18n::Text;
use crate::render::samples::SAMPLES;
use crate::store::State;
use crate::t;

type Response = warp::reply::Response;

pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let with_app = warp::any().map(move || app.clone());
    let body = warp::header::optional::<u64>("content-length").and(warp::body::stream());
    let bearer = warp::header::optional::<String>("authorization");
    // The caller's language: the console sends its own in Accept-Language.
    let lang = accept_language()
        .and(with_app.clone())
        .map(|accept: Option<String>, app: Arc<App>| language(&app, accept.as_deref()));

    let channels = warp::get()
        .and(warp::path!("api" / "channels"))
        .and(with_app.clone())
        .map(|app: Arc<App>| warp::reply::json(&app.channels.describe()).into_response());

    let console = warp::get()
        .and(warp::path!("api" / "console"))
        .and(with_app.clone())
        .map(|app: Arc<App>| warp::reply::json(&console_facts(&app)).into_response());

    let check = warp::post()
        .and(warp::path!("api" / "check"))
        .and(body)
        .and(lang.clone())
        .and(with_app.clone())
        .then(|length, stream, lang: Lang, app: Arc<App>| async move {
            let asked: Result<Asked, Answer> = read_json(&app, length, stream).await;
            match asked {
                Ok(asked) => {
                    let span = request_span("CHECK", &asked.channel);
                    let outcome = tracing::Instrument::instrument(
                        app.check(&asked.channel, &asked.query),
                        span,
                    )
                    .await;
                    reply(&app, lang, "CHECK", &asked.channel, outcome.into())
                }
                Err(answer) => reply(&app, lang, "CHECK", "", answer),
            }
        });

    let body = warp::header::optional::<u64>("content-length").and(warp::body::stream());
    let preview = warp::post()
        .and(warp::path!("api" / "preview"))
        .and(body)
        .and(lang.clone())
        .and(with_app.clone())
        .then(|length, stream, lang: Lang, app: Arc<App>| async move {
            let asked: Result<Asked, Answer> = read_json(&app, length, stream).await;
            let answer = match asked.and_then(|a| a.event().map(|event| (a, event))) {
                Ok((asked, event)) => {
                    let span = request_span("PREVIEW", &asked.channel);
                    let outcome = tracing::Instrument::instrument(
                        app.preview(&asked.channel, &asked.query, &event),
                        span,
                    )
                    .await;
                    reply(&app, lang, "PREVIEW", &asked.channel, outcome.into())
                }
                Err(answer) => reply(&app, lang, "PREVIEW", "", answer),
            };
            answer
        });

    let list = warp::get()
        .and(warp::path!("api" / "deliveries"))
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(bearer)
        .and(lang.clone())
        .and(with_app.clone())
        .then(|raw: String, token, lang: Lang, app: Arc<App>| async move {
            if let Err(denied) = authorize(&app, token, lang) {
                return denied;
            }
            let (state, limit) = match list_query(&raw) {
                Ok(q) => q,
                Err(problem) => return json_reply(&Answer::error(400, problem), lang),
            };
            match app.delivery.list(state, limit, lang).await {
                Ok(list) => {
                    // Failure-report addresses asked to confirm, not confirmed yet.
                    let awaiting: Vec<serde_json::Value> = app
                        .delivery
                        .awaiting_confirmation(50)
                        .await
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(address, at)| {
                            serde_json::json!({"address": address, "asked_at": lookup::time(at)})
                        })
                        .collect();
                    warp::reply::json(&serde_json::json!({
                        "deliveries": list,
                        "awaiting_confirmation": awaiting,
                    }))
                    .into_response()
                }
                Err(e) => unavailable(e, lang),
            }
        });

    let show = warp::get()
        .and(warp::path!("api" / "deliveries" / String))
        .and(bearer)
        .and(lang.clone())
        .and(with_app.clone())
        .then(|id: String, token, lang: Lang, app: Arc<App>| async move {
            if let Err(denied) = authorize(&app, token, lang) {
                return denied;
            }
            match app.delivery.show(&id, lang).await {
                Ok(Some(shown)) => warp::reply::json(&shown).into_response(),
                Ok(None) => not_found(&id, lang),
                Err(e) => unavailable(e, lang),
            }
        });

    let replay = warp::post()
        .and(warp::path!("api" / "deliveries" / String / "replay"))
        .and(bearer)
        .and(lang)
        .and(with_app)
        .then(|id: String, token, lang: Lang, app: Arc<App>| async move {
            if let Err(denied) = authorize(&app, token, lang) {
                return denied;
            }
            match app.delivery.replay_one(&id).await {
                Ok(Replayed::Queued(ids)) => {
                    tracing::info!(delivery_id = %id, "replayed from the console");
                    warp::reply::json(&serde_json::json!({ "replayed": ids })).into_response()
                }
                Ok(Replayed::NotFound) => not_found(&id, lang),
                Ok(Replayed::NotReplayable(state)) => json_reply(
                    &Answer::error(
                        409,
                        t!(
                            "http-delivery-id-state-only-dead",
                            id = crate::params::quote(&id),
                            state = state.text()
                        ),
                    ),
                    lang,
                ),
                Err(e) => unavailable(e, lang),
            }
        });

    channels
        .or(console)
        .unify()
        .or(check)
        .unify()
        .or(preview)
        .unify()
        .or(list)
        .unify()
        .or(show)
        .unify()
        .or(replay)
        .unify()
        .boxed()
}

/// A check or preview asked by the console: the query travels in the body, never in a URL, so
/// no access log (ours or a proxy's) ever holds the channel's token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Asked {
    channel: String,
    #[serde(default)]
    query: String,
    /// Preview: a built-in sample event by name.
    #[serde(default)]
    sample: Option<String>,
    /// Preview: the operator's own event.
    #[serde(default)]
    event: Option<serde_json::Value>,
}

impl Asked {
    fn event(&self) -> Result<Vec<u8>, Answer> {
        if let Some(event) = &self.event {
            return Ok(event.to_string().into_bytes());
        }
        let name = self.sample.as_deref().unwrap_or("booking");
        SAMPLES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, json)| json.as_bytes().to_vec())
            .ok_or_else(|| {
                let names: Vec<&str> = SAMPLES.iter().map(|(n, _)| *n).collect();
                Answer::error(
                    400,
                    t!(
                        "http-sample-event-name-use-one",
                        name = crate::params::quote(name),
                        list = names.join(", ")
                    ),
                )
            })
    }
}

/// The most deliveries one list shows.
const MAX_LIST: i64 = 500;

/// `?state=&limit=` of the list, or what is wrong with it (naming the parameter).
fn list_query(raw: &str) -> Result<(Option<State>, i64), Text> {
    let (mut state, mut limit) = (None, 50);
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        let value = value.trim();
        match &*name {
            "state" if value.is_empty() => {}
            "state" => {
                state =
                    Some(State::named(value).ok_or_else(|| {
                        t!("http-list-bad-state", name = crate::params::quote(value))
                    })?)
            }
            "limit" => {
                limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=MAX_LIST).contains(n))
                    .ok_or_else(|| {
                        t!(
                            "http-list-bad-limit",
                            value = crate::params::quote(value),
                            max = MAX_LIST
                        )
                    })?
            }
            other => {
                return Err(t!(
                    "http-list-unknown-parameter",
                    name = crate::params::quote(other)
                ))
            }
        }
    }
    Ok((state, limit))
}

/// What the console needs besides the channels: where hook URLs point, the template folders, the
/// time zones, the samples, whether the deliveries tab can work.
fn console_facts(app: &App) -> serde_json::Value {
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    serde_json::json!({
        "public_url": app.settings.server.public_url.trim().trim_end_matches('/'),
        "locales": app.templates.locale_names(),
        // Locale → its template names, for the URL builder's `template` list (no source).
        "templates": app.templates.current().catalogue,
        "default_locale": app.settings.templates.default_locale,
        "timezones": zones,
        // Russia's zones by their Russian names with the offset from Moscow, first in the list.
        "russian_zones": crate::params::zones::russian_names()
            .into_iter()
            .map(|(zone, label)| serde_json::json!({ "zone": zone, "label": label }))
            .collect::<Vec<_>>(),
        "samples": SAMPLES.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "admin": admin_token(app).is_some(),
    })
}

fn admin_token(app: &App) -> Option<&str> {
    use secrecy::ExposeSecret;
    Some(app.settings.server.admin_token.expose_secret().trim()).filter(|t| !t.is_empty())
}

/// `Authorization: Bearer <server.admin_token>`, compared in constant time.
pub(super) fn authorize(app: &App, header: Option<String>, lang: Lang) -> Result<(), Response> {
    let Some(expected) = admin_token(app) else {
        return Err(unauthorized(t!("http-deliveries-api-off-set-server"), lang));
    };
    let given = header
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if blake3::hash(given.as_bytes()) == blake3::hash(expected.as_bytes()) {
        Ok(())
    } else {
        tracing::warn!("deliveries API: wrong or missing admin token");
        Err(unauthorized(
            t!("http-wrong-missing-admin-token-send"),
            lang,
        ))
    }
}

fn unauthorized(message: Text, lang: Lang) -> Response {
    let answer = json_reply(&Answer::error(401, message), lang);
    warp::reply::with_header(answer, "www-authenticate", "Bearer").into_response()
}

fn not_found(id: &str, lang: Lang) -> Response {
    json_reply(
        &Answer::error(404, t!("http-delivery-id", id = crate::params::quote(id))),
        lang,
    )
}

fn unavailable(e: crate::store::StoreError, lang: Lang) -> Response {
    tracing::error!(error = %e, "deliveries API: the outbox could not be read");
    json_reply(
        &Answer::error(503, t!("http-outbox-could-read-why", why = e.to_string())),
        lang,
    )
}

pub(super) async fn read_json<T, S, B>(
    app: &App,
    length: Option<u64>,
    stream: S,
) -> Result<T, Answer>
where
    T: serde::de::DeserializeOwned,
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: bytes::Buf,
{
    let body = read_whole(app, length, stream).await?;
    serde_json::from_slice(&body).map_err(|e| {
        Answer::error(
            400,
            t!("http-request-body-json-expected-here", why = e.to_string()),
        )
    })
}
