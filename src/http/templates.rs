//! `/api/templates`: the console's template editor (admin token only; an anonymous caller sees
//! no template source). What each call does is [`crate::editor`].

use std::sync::Arc;

use serde::Deserialize;
use warp::{filters::BoxedFilter, Filter, Reply};

use super::api::authorize;
use super::{accept_language, json_reply, language, read_whole, Answer};
use crate::app::App;
use crate::editor::{EditorError, Mark};
use crate::i18n::Lang;
use crate::t;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Withdrawn {
    #[serde(default)]
    note: Option<String>,
}

/// The admin's app and language, or the refusal to answer with.
type Allowed = Result<(Arc<App>, Lang), Response>;
/// The same with the request's JSON body read.
type AllowedWith<T> = Result<(Arc<App>, Lang, T), Response>;

pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let with_app = warp::any().map(move || app.clone());
    let bearer = warp::header::optional::<String>("authorization");
    let lang = accept_language()
        .and(with_app.clone())
        .map(|accept: Option<String>, app: Arc<App>| language(&app, accept.as_deref()));
    // Every call: the admin token first, then the app and the caller's language.
    let admin = bearer
        .and(lang)
        .and(with_app)
        .map(|token, lang: Lang, app: Arc<App>| -> Allowed {
            authorize(&app, token, lang).map(|()| (app, lang))
        });
    // A call with a JSON body: allowed, then read (an empty body reads as `{}`).
    fn with_body<T: serde::de::DeserializeOwned + Send>(
        admin: impl Filter<Extract = (Allowed,), Error = warp::Rejection> + Clone + Send,
    ) -> impl Filter<Extract = (AllowedWith<T>,), Error = warp::Rejection> + Clone {
        admin
            .and(warp::header::optional::<u64>("content-length"))
            .and(warp::body::stream())
            .then(|allowed: Allowed, length: Option<u64>, stream| async move {
                let (app, lang) = allowed?;
                let asked = match read_whole(&app, length, stream).await {
                    Ok(body) => {
                        let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
                        serde_json::from_slice(body).map_err(|e| {
                            Answer::error(
                                400,
                                t!("http-request-body-json-expected-here", why = e.to_string()),
                            )
                        })
                    }
                    Err(answer) => Err(answer),
                };
                match asked {
                    Ok(asked) => Ok((app, lang, asked)),
                    Err(answer) => Err(json_reply(&answer, lang)),
                }
            })
    }

    let list = warp::get()
        .and(warp::path!("api" / "templates"))
        .and(admin.clone())
        .map(|allowed: Allowed| match allowed {
            Ok((app, lang)) => warp::reply::json(&serde_json::json!({
                "templates": app.template_list(lang),
                "locales": app.templates.locale_names(),
                "default_locale": app.settings.templates.default_locale,
            }))
            .into_response(),
            Err(denied) => denied,
        });

    let show = warp::get()
        .and(warp::path!("api" / "templates" / String / String))
        .and(admin.clone())
        .then(
            |locale: String, name: String, allowed: Allowed| async move {
                let (app, lang) = match allowed {
                    Ok(a) => a,
                    Err(denied) => return denied,
                };
                match app.template_show(&locale, &name, lang).await {
                    Ok(shown) => warp::reply::json(&shown).into_response(),
                    Err(e) => refused(e, lang),
                }
            },
        );

    let try_text = warp::post()
        .and(warp::path!("api" / "templates" / String / String / "try"))
        .and(with_body::<Tried>(admin.clone()))
        .then(
            |locale: String, name: String, asked: Result<_, Response>| async move {
                let (app, lang, asked): (Arc<App>, Lang, Tried) = match asked {
                    Ok(a) => a,
                    Err(denied) => return denied,
                };
                let event = asked.event.map(|e| e.to_string().into_bytes());
                // It compiles and renders every sample: off the async workers.
                let tried = crate::render::off_thread(move || {
                    app.template_try(&locale, &name, &asked.source, event.as_deref(), lang)
                })
                .await;
                match tried {
                    Ok(tried) => warp::reply::json(&tried).into_response(),
                    Err(e) => refused(e, lang),
                }
            },
        );

    let save = warp::put()
        .and(warp::path!("api" / "templates" / String / String))
        .and(with_body::<Saved>(admin.clone()))
        .then(
            |locale: String, name: String, asked: Result<_, Response>| async move {
                let (app, lang, asked): (Arc<App>, Lang, Saved) = match asked {
                    Ok(a) => a,
                    Err(denied) => return denied,
                };
                let saved = app
                    .template_save(&locale, &name, &asked.source, &asked.note)
                    .await;
                versioned(saved, lang)
            },
        );

    let restore = warp::post()
        .and(warp::path!(
            "api" / "templates" / String / String / "restore"
        ))
        .and(with_body::<Restored>(admin.clone()))
        .then(
            |locale: String, name: String, asked: Result<_, Response>| async move {
                let (app, lang, asked): (Arc<App>, Lang, Restored) = match asked {
                    Ok(a) => a,
                    Err(denied) => return denied,
                };
                versioned(
                    app.template_restore(&locale, &name, asked.version).await,
                    lang,
                )
            },
        );

    let withdraw = warp::delete()
        .and(warp::path!("api" / "templates" / String / String))
        .and(with_body::<Withdrawn>(admin))
        .then(
            |locale: String, name: String, asked: Result<_, Response>| async move {
                let (app, lang, asked): (Arc<App>, Lang, Withdrawn) = match asked {
                    Ok(a) => a,
                    Err(denied) => return denied,
                };
                let note = asked
                    .note
                    .unwrap_or_else(|| t!("editor-use-the-file").render(lang));
                versioned(app.template_withdraw(&locale, &name, &note).await, lang)
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

/// The version a save, restore or withdrawal made, or why not.
fn versioned(result: Result<i64, EditorError>, lang: Lang) -> Response {
    match result {
        Ok(version) => {
            warp::reply::json(&serde_json::json!({ "version": version })).into_response()
        }
        Err(e) => refused(e, lang),
    }
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
    let answer = Answer::error(code, e.text());
    let mut json = serde_json::to_value(answer.in_lang(lang)).unwrap_or_default();
    if let EditorError::Refused(positions) = &e {
        let marks: Vec<Mark> = positions.iter().map(|p| Mark::of(p, lang)).collect();
        json["errors"] = serde_json::to_value(marks).unwrap_or_default();
    }
    let status = warp::http::StatusCode::from_u16(code)
        .unwrap_or(warp::http::StatusCode::INTERNAL_SERVER_ERROR);
    warp::reply::with_status(warp::reply::json(&json), status).into_response()
}
