//! The operator console: the page at `GET /` (and `/console`) and the template editor at
//! `/console/templates`, with their scripts and style, all embedded in the binary. It talks only to `/api/…` of the same origin.

use warp::{filters::BoxedFilter, Filter, Reply};

use crate::i18n::{page_texts, Lang};

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");
const EDITOR: &str = include_str!("console/templates.html");
const EDITOR_SCRIPT: &str = include_str!("console/templates.js");

/// No inline script or style, nothing from elsewhere, no framing, no form posts, no referrer.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

pub fn routes() -> BoxedFilter<(warp::reply::Response,)> {
    let page = warp::get()
        .and(warp::path::end().or(warp::path!("console")).unify())
        .map(|| asset(PAGE, "text/html; charset=utf-8"));
    let script = warp::get()
        .and(warp::path!("console" / "console.js"))
        .map(|| asset(SCRIPT, "text/javascript; charset=utf-8"));
    let style = warp::get()
        .and(warp::path!("console" / "console.css"))
        .map(|| asset(STYLE, "text/css; charset=utf-8"));
    let editor = warp::get()
        .and(warp::path!("console" / "templates"))
        .map(|| asset(EDITOR, "text/html; charset=utf-8"));
    let editor_script = warp::get()
        .and(warp::path!("console" / "templates.js"))
        .map(|| asset(EDITOR_SCRIPT, "text/javascript; charset=utf-8"));
    let console_texts = warp::get()
        .and(warp::path!("console" / "console-texts.js"))
        .map(|| texts_script("console-"));
    let editor_texts = warp::get()
        .and(warp::path!("console" / "templates-texts.js"))
        .map(|| texts_script("editor-ui-"));
    page.or(script)
        .unify()
        .or(style)
        .unify()
        .or(editor)
        .unify()
        .or(editor_script)
        .unify()
        .or(console_texts)
        .unify()
        .or(editor_texts)
        .unify()
        .with(warp::reply::with::header("content-security-policy", POLICY))
        .with(warp::reply::with::header("referrer-policy", "no-referrer"))
        .with(warp::reply::with::header("cache-control", "no-cache"))
        .map(Reply::into_response)
        .boxed()
}

/// `const TEXTS = {"ru": {…}, "en": {…}};`: a page's words from the catalogues (the messages
/// whose ids start with `prefix`), made once.
fn texts_script(prefix: &'static str) -> warp::reply::Response {
    static SCRIPTS: std::sync::OnceLock<std::collections::BTreeMap<&'static str, String>> =
        std::sync::OnceLock::new();
    let scripts = SCRIPTS.get_or_init(|| {
        ["console-", "editor-ui-"]
            .into_iter()
            .map(|prefix| {
                let texts = serde_json::json!({
                    "ru": page_texts(Lang::Ru, prefix),
                    "en": page_texts(Lang::En, prefix),
                });
                (prefix, format!("\"use strict\";\nconst TEXTS = {texts};\n"))
            })
            .collect()
    });
    let body = scripts.get(prefix).cloned().unwrap_or_default();
    warp::reply::with_header(body, "content-type", "text/javascript; charset=utf-8").into_response()
}

fn asset(body: &'static str, content_type: &'static str) -> warp::reply::Response {
    warp::reply::with_header(body, "content-type", content_type).into_response()
}
