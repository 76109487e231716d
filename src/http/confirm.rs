//! The link of a confirmation email (`/confirm/<token>`, see `mail::confirm`): `GET` shows a page
//! with one button, its `POST` confirms. A mail scanner that opens links confirms nothing. The
//! pages are plain HTML in the reader's language, with no script and nothing from elsewhere.

use std::sync::Arc;

use warp::{Filter, Reply};

use super::{accept_language, language};
use crate::i18n::{Lang, Text};
use crate::mail::Confirmed;
use crate::t;
use crate::App;

/// Only a form posting to this very page; no script, no style, no framing.
const POLICY: &str = "default-src 'none'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let with_app = warp::any().map(move || app.clone());
    let ask = warp::get()
        .and(warp::path!("confirm" / String))
        .and(accept_language())
        .and(with_app.clone())
        .map(|token: String, accept: Option<String>, app: Arc<App>| {
            let lang = language(&app, accept.as_deref());
            let form = format!(
                "<form method=\"post\" action=\"/confirm/{}\"><button type=\"submit\">{}</button></form>",
                escape(&token),
                escape(&t!("confirm-page-button").render(lang))
            );
            page(lang, t!("confirm-page-title"), &t!("confirm-page-ask").render(lang), &form)
        });
    let confirm = warp::post()
        .and(warp::path!("confirm" / String))
        .and(accept_language())
        .and(with_app)
        .then(
            |token: String, accept: Option<String>, app: Arc<App>| async move {
                let lang = language(&app, accept.as_deref());
                let (code, said) = match app.delivery.confirm_address(&token).await {
                    Ok(Confirmed::Now(address)) => {
                        (200, t!("confirm-page-done", address = address).render(lang))
                    }
                    Ok(Confirmed::Unknown) => (404, t!("confirm-page-unknown").render(lang)),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot confirm an address");
                        (503, t!("confirm-page-failed").render(lang))
                    }
                };
                let reply = page(lang, t!("confirm-page-title"), &said, "");
                let status = warp::http::StatusCode::from_u16(code).unwrap_or_default();
                warp::reply::with_status(reply, status).into_response()
            },
        );
    ask.or(confirm).unify()
}

fn page(lang: Lang, title: Text, said: &str, form: &str) -> warp::reply::Response {
    let title = escape(&title.render(lang));
    let html = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{}</p>{form}</body></html>",
        lang.code(),
        escape(said)
    );
    let reply = warp::reply::with_header(html, "content-type", "text/html; charset=utf-8");
    let reply = warp::reply::with_header(reply, "content-security-policy", POLICY);
    warp::reply::with_header(reply, "referrer-policy", "no-referrer").into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
