//! What Wappi's answers mean: a 2xx with the expected shape is success, anything else a failure
//! in plain words (refused token, unknown cascade or profile, retryable or not), never holding
//! the token.

use serde_json::Value;

use super::{Target, DETAIL_LIMIT};
use crate::channel::{provider, Failure};
use crate::redact;
use crate::t;

/// What a 2xx answer must hold to count as success.
#[derive(Debug, Clone, Copy)]
pub(super) enum Expect {
    /// A `status` of "done" (or "ok", "success"); any other is a refusal (sends).
    Status,
    /// This key, or a `status` of "done" (look-ups whose documented answer has no status).
    Key(&'static str),
}

const DONE: &[&str] = &["done", "ok", "success"];

/// 2xx with the expected JSON shape: success; 2xx with another `status`: refused; 2xx of another
/// shape (HTML from a proxy, say): a failure, never "delivered". 401/403/404 permanent;
/// 408/429/5xx retryable.
pub(super) fn classify(
    answer: &provider::Answer,
    token: &str,
    what: &Target,
    expect: Expect,
) -> Result<Value, Failure> {
    let body = answer.json_object();
    let text = answer.text();
    let json = body.clone().map(Value::Object);
    let detail = scrub(&detail_of(json.as_ref(), &text), token);
    let status = answer.status;
    if status.is_success() {
        let Some(body) = body else {
            return Err(Failure::Permanent(t!(
                "wappi-unexpected-answer-from-wappi-target",
                target = what.text(),
                answer = answer.describe()
            )));
        };
        let state = body.get("status").and_then(Value::as_str);
        let ok = match (expect, state) {
            (_, Some(s)) if DONE.contains(&s) => true,
            (Expect::Key(key), None) => body.contains_key(key),
            (_, Some(other)) => {
                return Err(Failure::Permanent(t!(
                    "wappi-wappi-refused-request-target-status",
                    target = what.text(),
                    status = crate::params::quote(other),
                    detail = suffix(&detail)
                )))
            }
            (Expect::Status, None) => false,
        };
        if !ok {
            let missing = match expect {
                Expect::Status => "status",
                Expect::Key(key) => key,
            };
            return Err(Failure::Permanent(t!(
                "wappi-unexpected-answer-from-wappi-target-2",
                target = what.text(),
                answer = answer.describe(),
                missing = missing
            )));
        }
        return Ok(Value::Object(body));
    }
    let code = status.as_u16();
    let message = match code {
        401 | 403 => t!(
            "wappi-wappi-refused-apitoken-token-target",
            token = redact::token(token),
            target = what.text(),
            code = code,
            detail = suffix(&detail)
        ),
        404 => t!(
            "wappi-wappi-does-know-target-http",
            target = what.text(),
            detail = suffix(&detail)
        ),
        _ if detail.is_empty() => t!(
            "wappi-wappi-answered-http-code-target-2",
            code = code,
            target = what.text()
        ),
        _ => t!(
            "wappi-wappi-answered-http-code-target",
            code = code,
            target = what.text(),
            detail = detail
        ),
    };
    Err(answer.failure(message, answer.retryable_status()))
}

/// A transport failure, naming the target.
pub(super) fn transport_failure(e: &reqwest::Error, what: &Target) -> Failure {
    name_target(provider::transport(e, "Wappi"), what)
}

/// Adds the cascade or profile to a retryable failure's text.
pub(super) fn name_target(failure: Failure, what: &Target) -> Failure {
    let named = |m| {
        t!(
            "channel-reason-for-target",
            reason = m,
            target = what.text()
        )
    };
    match failure {
        Failure::Retryable(m) => Failure::Retryable(named(m)),
        Failure::NoAnswer(m) => Failure::NoAnswer(named(m)),
        other => other,
    }
}

pub(super) fn detail_of(body: Option<&Value>, text: &str) -> String {
    let from_json = body.and_then(|b| {
        ["detail", "error", "message"]
            .iter()
            .find_map(|k| b.get(*k))
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
    });
    let detail = from_json.unwrap_or_else(|| text.trim().to_string());
    if detail.chars().count() > DETAIL_LIMIT {
        let cut: String = detail.chars().take(DETAIL_LIMIT).collect();
        format!("{cut}…")
    } else {
        detail
    }
}

/// The token never leaves in an error, even if the provider echoes it.
pub(super) fn scrub(text: &str, token: &str) -> String {
    if token.len() >= 4 && text.contains(token) {
        text.replace(token, &redact::token(token))
    } else {
        text.to_string()
    }
}

pub(super) fn suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn cascade() -> Target {
        Target::Cascade("abc".into())
    }

    fn answer(code: u16, content_type: &str, body: &str) -> provider::Answer {
        provider::Answer {
            status: StatusCode::from_u16(code).unwrap(),
            content_type: content_type.to_string(),
            body: body.as_bytes().to_vec(),
            retry_after: None,
        }
    }

    fn json(code: u16, body: &str) -> provider::Answer {
        answer(code, "application/json", body)
    }

    #[test]
    fn classification() {
        let t = "tok1234";
        assert!(classify(
            &json(200, r#"{"status":"done"}"#),
            t,
            &cascade(),
            Expect::Status
        )
        .is_ok());
        let e = classify(
            &json(200, r#"{"status":"error","detail":"bad phone"}"#),
            t,
            &cascade(),
            Expect::Status,
        )
        .unwrap_err();
        assert_eq!(
            e,
            Failure::Permanent(t!(
                "wappi-wappi-refused-request-target-status",
                target = t!("wappi-cascade-id", id = "abc"),
                status = "error",
                detail = ": bad phone"
            ))
        );
        assert_eq!(
            e.to_string(),
            "Wappi refused the request for cascade <abc>: status <error>: bad phone"
        );
        let e = classify(
            &json(401, "tok1234 is wrong"),
            t,
            &cascade(),
            Expect::Status,
        )
        .unwrap_err();
        assert!(
            !e.is_retryable() && !e.to_string().contains("tok1234"),
            "{e}"
        );
        let retryable = |a: provider::Answer| {
            classify(&a, "t", &cascade(), Expect::Status)
                .unwrap_err()
                .is_retryable()
        };
        assert!(retryable(answer(503, "text/html", "<html>")));
        assert!(retryable(json(429, "")));
        assert!(!retryable(json(404, "")));
    }

    #[test]
    fn a_2xx_of_another_shape_is_never_success() {
        let html = answer(200, "text/html", "<html>welcome</html>");
        let e = classify(&html, "t", &cascade(), Expect::Status).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unexpected answer from Wappi for cascade <abc>: HTTP 200, text/html (not JSON); the message may not have been sent"
        );
        assert!(classify(&json(200, ""), "t", &cascade(), Expect::Status).is_err());
        assert!(classify(&json(200, "{}"), "t", &cascade(), Expect::Status).is_err());
        assert!(classify(&json(200, "{}"), "t", &cascade(), Expect::Key("cascade")).is_err());
        let found = json(200, r#"{"cascade":{"name":"c"}}"#);
        assert!(classify(&found, "t", &cascade(), Expect::Key("cascade")).is_ok());
    }
}
