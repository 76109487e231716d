//! warp routes (SPEC §1). Every answer is JSON; no rejection becomes an HTML page.

// The error side of the body read is the JSON answer itself.
#![allow(clippy::result_large_err)]

use std::{convert::Infallible, sync::Arc};

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use tracing::Instrument;
use warp::{http::StatusCode, Filter, Reply};

use crate::app::App;
use crate::hook::{Kind, Outcome};
use crate::i18n::Lang;
use crate::i18n::Text;
use crate::t;

mod api;
mod confirm;
mod console;
mod templates;

pub fn routes(app: Arc<App>) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let with_app = {
        let app = app.clone();
        warp::any().map(move || app.clone())
    };
    let raw_query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let accept = accept_language();

    let check = warp::get()
        .and(warp::path!("webhook" / String))
        .and(raw_query)
        .and(accept.clone())
        .and(with_app.clone())
        .then(
            |channel: String, query: String, accept: Option<String>, app: Arc<App>| async move {
                let span = request_span("GET", &channel);
                let outcome = app.check(&channel, &query).instrument(span).await;
                let lang = language(&app, accept.as_deref());
                reply(&app, lang, "GET", &channel, outcome.into())
            },
        );

    let body = warp::header::optional::<u64>("content-length").and(warp::body::stream());
    let deliver = warp::post()
        .and(warp::path!("webhook" / String))
        .and(raw_query)
        .and(body)
        .and(with_app.clone())
        .then(|channel, query, length, stream, app| {
            with_body(Post::Deliver, channel, query, length, stream, app)
        });

    let preview = warp::post()
        .and(warp::path!("preview" / String))
        .and(raw_query)
        .and(body)
        .and(with_app.clone())
        .then(|channel, query, length, stream, app| {
            with_body(Post::Preview, channel, query, length, stream, app)
        });

    // Anything else: 405 on a known path with the wrong method, else 404; always JSON.
    let fallback = warp::path::full().and(accept).and(with_app.clone()).map(
        |path: warp::path::FullPath, accept: Option<String>, app: Arc<App>| {
            let answer = match wrong_method(path.as_str()) {
                Some(what) => Answer::error(405, what),
                None => Answer::error(404, t!("http-found-use-webhook-channel-preview")),
            };
            json_reply(&answer, language(&app, accept.as_deref()))
        },
    );

    let routes = check
        .or(deliver)
        .or(preview)
        .or(operations(app.clone()))
        .or(api::routes(app.clone()))
        .or(templates::routes(app.clone()))
        .or(console::routes())
        .or(confirm::routes(app.clone()))
        .or(fallback);
    // No answer of ours is ever to be read as another type than it says.
    routes.with(warp::reply::with::header(
        "x-content-type-options",
        "nosniff",
    ))
}

/// `/healthz`, `/readyz` and `/metrics`.
fn operations(app: Arc<App>) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let healthz = warp::get()
        .and(warp::path!("healthz"))
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})).into_response());
    let readyz = warp::get()
        .and(warp::path!("readyz"))
        .and(warp::any().map(move || app.clone()))
        .then(|app: Arc<App>| async move {
            let (ready, body) = readiness(&app).await;
            let code = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status(warp::reply::json(&body), code).into_response()
        });
    let metrics = warp::get().and(warp::path!("metrics")).map(|| {
        warp::reply::with_header(
            crate::telemetry::render_metrics(),
            "content-type",
            "text/plain; version=0.0.4",
        )
        .into_response()
    });
    healthz.or(readyz).unify().or(metrics).unify().boxed()
}

/// The operations listener (`server.ops_addr`): `/healthz`, `/readyz` and `/metrics` only.
pub fn ops_routes(
    app: Arc<App>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let lang = app.settings.server.language;
    let fallback =
        warp::any().map(move || json_reply(&Answer::error(404, t!("http-ops-not-found")), lang));
    operations(app).or(fallback).with(warp::reply::with::header(
        "x-content-type-options",
        "nosniff",
    ))
}

/// `/readyz`: whether the outbox takes writes (a heartbeat write, at most one a second), its
/// faults, caps, size and free space, and the templates. Anyone may ask, so it names causes,
/// never paths or source text (the log has those).
pub async fn readiness(app: &App) -> (bool, serde_json::Value) {
    let admission = &app.delivery.admission;
    let write = admission.write_check().await;
    let mut verdict = admission.verdict();
    if write.is_err() && verdict.refusal.is_none() {
        // The watch has not looked since: look now, for the cause and what remains.
        verdict = admission.look().await;
    }
    let locales = app.templates.locale_names();
    let cause = verdict
        .refusal
        .as_ref()
        .map(|r| r.to_string())
        .or_else(|| write.clone().err());
    let ready = cause.is_none() && !locales.is_empty();
    let mut outbox = serde_json::json!({
        "accepting": cause.is_none(),
        "pending": verdict.pending,
        "size_bytes": verdict.usage.size_bytes,
        "free_bytes": verdict.usage.free_bytes,
        "last_write": write.err().unwrap_or_else(|| "ok".to_string()),
    });
    if let Some(refusal) = &verdict.refusal {
        outbox["remaining"] = serde_json::json!(verdict.pending);
        outbox["advice"] = serde_json::json!(refusal.advice());
    }
    // Hooks no provider vouched for: their share, and whether it is full (only their POSTs
    // are refused then; the service stays ready).
    outbox["unvouched"] = serde_json::json!({
        "deliveries": verdict.usage.unvouched_deliveries,
        "bytes": verdict.usage.unvouched_bytes,
        "accepting": verdict.unvouched.is_none(),
        "advice": verdict.unvouched.as_ref().map(|r| r.advice()),
    });
    // Failure-report addresses waiting for their confirmation (how many: the addresses are the
    // console's to show), and whether new ones can be asked at all.
    let awaiting = app
        .delivery
        .awaiting_confirmation(1000)
        .await
        .map(|a| a.len())
        .unwrap_or(0);
    let new_addresses = if app.delivery.can_confirm_addresses() {
        "asked to confirm"
    } else {
        "get nothing: server.public_url is not set, so they cannot be asked to confirm"
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "mail": {"awaiting_confirmation": awaiting, "new_addresses": new_addresses},
        "database": cause.unwrap_or_else(|| "ok".to_string()),
        "outbox": outbox,
        "locales": locales,
        // Templates whose newest text was refused: they serve an older version (or none).
        "refused_templates": app.templates.problems(),
        // Templates served from a version saved in the console instead of the file.
        "template_overrides": app.templates.overrides().iter().filter(|o| o.source.is_some()).map(|o| {
            serde_json::json!({ "locale": o.locale, "name": o.name, "version": o.version, "saved_at": o.saved_at })
        }).collect::<Vec<_>>(),
    });
    (ready, body)
}

/// What a known path is for, when it was asked with the wrong method.
fn wrong_method(path: &str) -> Option<Text> {
    let what = if path.starts_with("/webhook/") {
        t!("http-method-allowed-get-checks-hook")
    } else if path.starts_with("/preview/") {
        t!("http-method-allowed-post-preview-channel")
    } else if path == "/api/check" || path == "/api/preview" {
        t!("http-method-allowed-post-json")
    } else if path.ends_with("/replay") && path.starts_with("/api/deliveries/") {
        t!("http-method-allowed-replay")
    } else if path.starts_with("/api/deliveries") {
        t!("http-method-allowed-list")
    } else if [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/channels",
        "/api/console",
        "/",
        "/console",
    ]
    .contains(&path)
        || path.starts_with("/console/")
    {
        t!("http-method-allowed-only-get-answered")
    } else {
        return None;
    };
    Some(what)
}

/// What a POST with a body asks for.
#[derive(Clone, Copy)]
enum Post {
    Deliver,
    Preview,
}

/// Reads the body (within `server.body_limit`), then delivers or previews it.
async fn with_body<S, B>(
    kind: Post,
    channel: String,
    query: String,
    length: Option<u64>,
    stream: S,
    app: Arc<App>,
) -> warp::reply::Response
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let method = match kind {
        Post::Deliver => "POST",
        Post::Preview => "PREVIEW",
    };
    let span = request_span(method, &channel);
    let answer = async {
        match read_whole(&app, length, stream).await {
            Ok(body) => match kind {
                Post::Deliver => app.deliver(&channel, &query, body).await.into(),
                Post::Preview => app.preview(&channel, &query, &body).await.into(),
            },
            Err(answer) => answer,
        }
    }
    .instrument(span)
    .await;
    // Torrow's POSTs carry no language of their own: the operator's setting decides.
    reply(&app, app.settings.server.language, method, &channel, answer)
}

/// The `Accept-Language` header, if any (never rejects).
fn accept_language() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::headers_cloned().map(|headers: warp::http::HeaderMap| {
        headers
            .get("accept-language")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    })
}

/// The language of an answer: the caller's (`Accept-Language`, as a browser or the console
/// sends it) when it is one we speak, else `server.language`.
fn language(app: &App, accept: Option<&str>) -> Lang {
    accept
        .and_then(Lang::from_accept_language)
        .unwrap_or(app.settings.server.language)
}

/// The whole body, within `server.body_limit` (413) and `server.body_read_timeout` (408).
async fn read_whole<S, B>(app: &App, length: Option<u64>, stream: S) -> Result<Vec<u8>, Answer>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let server = &app.settings.server;
    tokio::time::timeout(
        server.body_read_timeout,
        read_body(length, stream, server.body_limit),
    )
    .await
    .unwrap_or_else(|_| {
        Err(Answer::error(
            408,
            t!(
                "http-request-body-did-arrive-within",
                time = humantime::format_duration(server.body_read_timeout).to_string()
            ),
        ))
    })
}

/// An answer with the keys of SPEC §1, and its HTTP status; its texts are rendered in the
/// reader's language only when it is written ([`Answer::in_lang`]).
#[derive(Debug, Clone)]
pub struct Answer {
    pub http: u16,
    pub status: &'static str,
    pub message: Option<Text>,
    pub error_message: Option<Text>,
    pub warning_message: Option<Text>,
    pub delivery_id: Option<String>,
    pub recipient: Option<String>,
    pub text: Option<String>,
}

/// The JSON of an [`Answer`], its texts in one language.
#[derive(Debug, serde::Serialize)]
pub struct Written<'a> {
    #[serde(rename = "Status")]
    pub status: &'static str,
    #[serde(rename = "Message", skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(rename = "ErrorMessage", skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(rename = "WarningMessage", skip_serializing_if = "Option::is_none")]
    pub warning_message: Option<String>,
    #[serde(rename = "DeliveryId", skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<&'a str>,
    #[serde(rename = "Recipient", skip_serializing_if = "Option::is_none")]
    pub recipient: Option<&'a str>,
    #[serde(rename = "Text", skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
}

impl Answer {
    /// An `Error` answer made here, about the request itself (405, 404, 413, 408, 400).
    pub fn error(http: u16, errors: Text) -> Self {
        Answer {
            http,
            status: "Error",
            message: None,
            error_message: Some(errors),
            warning_message: Some(Text::default()),
            delivery_id: None,
            recipient: None,
            text: None,
        }
    }

    /// The answer's JSON with `Message`, `ErrorMessage` and `WarningMessage` in `lang`;
    /// `Status` stays Torrow's.
    pub fn in_lang(&self, lang: Lang) -> Written<'_> {
        let render = |t: &Option<Text>| t.as_ref().map(|t| t.render(lang));
        Written {
            status: self.status,
            message: render(&self.message),
            error_message: render(&self.error_message),
            warning_message: render(&self.warning_message),
            delivery_id: self.delivery_id.as_deref(),
            recipient: self.recipient.as_deref(),
            text: self.text.as_deref(),
        }
    }

    pub fn to_json(&self, lang: Lang) -> String {
        serde_json::to_string(&self.in_lang(lang)).expect("an answer serializes")
    }
}

/// Status codes and Torrow's `Status` values (SPEC §1) for each outcome.
impl From<Outcome> for Answer {
    fn from(o: Outcome) -> Self {
        let (http, status) = match o.kind {
            Kind::Verified | Kind::Delivered | Kind::Rendered => (200, "Success"),
            Kind::Queued => (202, "Queued"),
            Kind::UnknownChannel => (404, "Wrong parameters"),
            Kind::WrongParameters => (400, "Wrong parameters"),
            Kind::UnusableEvent => (422, "Error"),
            Kind::ProviderRefused => (502, "Error"),
            Kind::NotStored => (503, "Error"),
            Kind::OverShare => (429, "Error"),
        };
        Answer {
            http,
            status,
            message: o.message,
            error_message: o.error_message,
            warning_message: o.warning_message,
            delivery_id: o.delivery_id,
            recipient: o.recipient,
            text: o.text,
        }
    }
}

fn request_span(method: &str, channel: &str) -> tracing::Span {
    tracing::info_span!(
        "request",
        method,
        channel = %crate::params::quote(channel),
        // Noted by the hook, which masks it once for the span, the outbox and the answer.
        query = tracing::field::Empty,
        delivery_id = tracing::field::Empty
    )
}

fn reply(
    app: &App,
    lang: Lang,
    method: &'static str,
    channel: &str,
    answer: Answer,
) -> warp::reply::Response {
    let label = if app.channels.get(channel).is_some() {
        channel.to_string()
    } else {
        "unknown".to_string()
    };
    metrics::counter!(
        "hooks_requests_total",
        "channel" => label,
        "method" => method,
        "status" => answer.http.to_string()
    )
    .increment(1);
    macro_rules! answered {
        ($level:expr) => {
            tracing::event!(
                parent: None,
                $level,
                method,
                channel = %crate::params::quote(channel),
                http = answer.http,
                status = answer.status,
                delivery_id = answer.delivery_id.as_deref().unwrap_or(""),
                error = %answer.error_message.as_ref().map(Text::to_string).unwrap_or_default(),
                "answered"
            )
        };
    }
    // A 5xx is ours or the provider's to fix, and an operator's to hear about.
    if answer.http >= 500 {
        answered!(tracing::Level::WARN);
    } else {
        answered!(tracing::Level::INFO);
    }
    json_reply(&answer, lang)
}

/// The answer as JSON, its texts in `lang` (the log keeps them in English).
pub(super) fn json_reply(answer: &Answer, lang: Lang) -> warp::reply::Response {
    let code = StatusCode::from_u16(answer.http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reply = warp::reply::with_status(warp::reply::json(&answer.in_lang(lang)), code);
    if code == StatusCode::TOO_MANY_REQUESTS {
        // The share frees as retention deletes old deliveries: minutes, not seconds.
        return warp::reply::with_header(reply, "Retry-After", RETRY_AFTER_SECS.to_string())
            .into_response();
    }
    reply.into_response()
}

/// `Retry-After` of a 429 (an unvouched hook over its share of the outbox).
const RETRY_AFTER_SECS: u64 = 600;

/// Reads the body up to `limit` bytes; beyond it → 413 (also for chunked bodies).
async fn read_body<S, B>(length: Option<u64>, stream: S, limit: u64) -> Result<Vec<u8>, Answer>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let too_large = || {
        Answer::error(
            413,
            t!("http-request-body-larger-than-limit", limit = limit),
        )
    };
    if length.is_some_and(|l| l > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(length.unwrap_or(0).min(limit) as usize);
    let mut stream = stream;
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|e| {
            Answer::error(
                400,
                t!("http-request-body-could-read-why", why = e.to_string()),
            )
        })?;
        if body.len() as u64 + chunk.remaining() as u64 > limit {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            body.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(body)
}
