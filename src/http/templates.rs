//! `/api/templates`: the console's template editor (admin token only; an anonymous caller sees
//! no template source). What each call does is [`crate::editor`].

use std::sync::Arc;

use serde::Deserialize;
use warp::{filters::BoxedFilter, Filter, Reply};

use super::api::{authorize, read_json};
use super::{accept_language, json_reply, language, Answer};
use crate::app::App;
use crate::editor::EditorError;
use crate::i18n::Lang;

type Response = warp::reply::Response;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tried {
    source: String,
    /// The operator's own event, to preview on besides the samples.
    #[serde(default)]
    event: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    source: String,
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Restored {
    version: i64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Withdrawn {
    #[serde(default)]
    note: Option<String>,
}

pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let with_app = warp::any().map(move || app.clone());
    let bearer = warp::header::optional::<String>("authorization");
    let lang = accept_language()
        .and(with_app.clone())
        .map(|accept: Option<String>, app: Arc<App>| language(&app, accept.as_deref()));
    let body = || warp::header::optional::<u64>("content-length").and(warp::body::stream());
    // Every call: the admin token first, then the app and the caller's language.
    let admin =
        bearer
            .and(lang)
            .and(with_app)
            .and_then(|token, lang: Lang, app: Arc<App>| async move {
                match authorize(&app, token, lang) {
                    Ok(()) => Ok::<_, warp::Rejection>(Ok((app, lang))),
                    Err(denied) => Ok(Err(denied)),
                }
            });

    let list = warp::get()
        .and(warp::path!("api" / "templates"))
        .and(admin.clone())
        .map(|allowed: Result<(Arc<App>, Lang), Response>| match allowed {
            Ok((app, _)) => {
                let list = app.template_list();
                let overrides = app.templates.overrides();
                warp::reply::json(&serde_json::json!({
                    "templates": list,
                    "locales": app.templates.locale_names(),
                    "default_locale": app.settings.templates.default_locale,
                    "console_versions": overrides.iter().filter(|o| o.source.is_some()).map(|o| serde_json::json!({
                        "locale": o.locale, "name": o.name, "version": o.version, "saved_at": o.saved_at,
                    })).collect::<Vec<_>>(),
                }))
                .into_response()
            }
            Err(denied) => denied,
        });

    let show = warp::get()
        .and(warp::path!("api" / "templates" / String / String))
        .and(admin.clone())
        .then(|locale: String, name: String, allowed| async move {
            let (app, lang): (Arc<App>, Lang) = match allowed {
                Ok(a) => a,
                Err(denied) => return denied,
            };
            match app.template_show(&locale, &name).await {
                Ok(shown) => warp::reply::json(&shown).into_response(),
                Err(e) => refused(e, lang),
            }
        });

    let try_text = warp::post()
        .and(warp::path!("api" / "templates" / String / String / "try"))
        .and(body())
        .and(admin.clone())
        .then(
            |locale: String, name: String, length, stream, allowed| async move {
                let (app, lang): (Arc<App>, Lang) = match allowed {
                    Ok(a) => a,
                    Err(denied) => return denied,
                };
                let asked: Tried = match read_json(&app, length, stream).await {
                    Ok(a) => a,
                    Err(answer) => return json_reply(&answer, lang),
                };
                let event = asked.event.map(|e| e.to_string().into_bytes());
                match app.template_try(&locale, &name, &asked.source, event.as_deref()) {
                    Ok(tried) => warp::reply::json(&tried).into_response(),
                    Err(e) => refused(e, lang),
                }
            },
        );

    let save = warp::put()
        .and(warp::path!("api" / "templates" / String / String))
        .and(body())
        .and(admin.clone())
        .then(
            |locale: String, name: String, length, stream, allowed| async move {
                let (app, lang): (Arc<App>, Lang) = match allowed {
                    Ok(a) => a,
                    Err(denied) => return denied,
                };
                let asked: Saved = match read_json(&app, length, stream).await {
                    Ok(a) => a,
                    Err(answer) => return json_reply(&answer, lang),
                };
                match app
                    .template_save(&locale, &name, &asked.source, &asked.note)
                    .await
                {
                    Ok(version) => warp::reply::json(&serde_json::json!({ "version": version }))
                        .into_response(),
                    Err(e) => refused(e, lang),
                }
            },
        );

    let restore = warp::post()
        .and(warp::path!(
            "api" / "templates" / String / String / "restore"
        ))
        .and(body())
        .and(admin.clone())
        .then(
            |locale: String, name: String, length, stream, allowed| async move {
                let (app, lang): (Arc<App>, Lang) = match allowed {
                    Ok(a) => a,
                    Err(denied) => return denied,
                };
                let asked: Restored = match read_json(&app, length, stream).await {
                    Ok(a) => a,
                    Err(answer) => return json_reply(&answer, lang),
                };
                match app.template_restore(&locale, &name, asked.version).await {
                    Ok(version) => warp::reply::json(&serde_json::json!({ "version": version }))
                        .into_response(),
                    Err(e) => refused(e, lang),
                }
            },
        );

    let withdraw = warp::delete()
        .and(warp::path!("api" / "templates" / String / String))
        .and(body())
        .and(admin)
        .then(
            |locale: String, name: String, length: Option<u64>, stream, allowed| async move {
                let (app, lang): (Arc<App>, Lang) = match allowed {
                    Ok(a) => a,
                    Err(denied) => return denied,
                };
                let asked: Withdrawn = if length.unwrap_or(0) == 0 {
                    Withdrawn::default()
                } else {
                    match read_json(&app, length, stream).await {
                        Ok(a) => a,
                        Err(answer) => return json_reply(&answer, lang),
                    }
                };
                let note = asked.note.unwrap_or_else(|| "use the file".to_string());
                match app.template_withdraw(&locale, &name, &note).await {
                    Ok(version) => warp::reply::json(&serde_json::json!({ "version": version }))
                        .into_response(),
                    Err(e) => refused(e, lang),
                }
            },
        );

    list.or(show)
        .unify()
        .or(try_text)
        .unify()
        .or(save)
        .unify()
        .or(restore)
        .unify()
        .or(withdraw)
        .unify()
        .boxed()
}

/// An editor refusal as an answer: 404, 400, 422 with the positions, or 503.
fn refused(e: EditorError, lang: Lang) -> Response {
    let code = match &e {
        EditorError::NotFound { .. } => 404,
        EditorError::Invalid(_) => 400,
        EditorError::Refused(_) => 422,
        EditorError::Store(_) => {
            tracing::error!(error = %e, "template editor: the store could not be used");
            503
        }
    };
    let answer = Answer::error(code, e.to_string(), "");
    let answer = if lang == Lang::En {
        answer
    } else {
        answer.translated(lang)
    };
    let mut json = serde_json::to_value(&answer).unwrap_or_default();
    if let EditorError::Refused(positions) = &e {
        json["errors"] = serde_json::to_value(positions).unwrap_or_default();
    }
    let status = warp::http::StatusCode::from_u16(code)
        .unwrap_or(warp::http::StatusCode::INTERNAL_SERVER_ERROR);
    warp::reply::with_status(warp::reply::json(&json), status).into_response()
}
