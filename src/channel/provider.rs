//! What every HTTP channel needs when it talks to a provider: a bounded read of the answer, and
//! plain words for what went wrong on the way.

use reqwest::StatusCode;

use super::Failure;

/// The most of a provider's answer that is read; a longer answer is a (retryable) failure.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// An HTTP client for a provider: `timeout` for connecting and for the whole call, no redirects
/// followed (a redirect could carry a token elsewhere), our user agent.
pub fn client(timeout: std::time::Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("torrow-hooks/", env!("CARGO_PKG_VERSION")))
}

/// The longest `Retry-After` believed, in seconds.
const MAX_RETRY_AFTER_SECS: u64 = 3600;

/// A provider's answer, read whole (within [`MAX_ANSWER_BYTES`]).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    /// The media type without parameters (`application/json`), or "" when not given.
    pub content_type: String,
    pub body: Vec<u8>,
    /// `Retry-After` in seconds, when the provider sent one (at most an hour is believed).
    pub retry_after: Option<std::time::Duration>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as a JSON object, if it is one.
    pub fn json_object(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        match serde_json::from_slice(&self.body) {
            Ok(serde_json::Value::Object(map)) => Some(map),
            _ => None,
        }
    }

    /// `HTTP 200, text/html`: for "unexpected answer" messages.
    pub fn describe(&self) -> String {
        let kind = if self.content_type.is_empty() {
            "no content type"
        } else {
            &self.content_type
        };
        format!("HTTP {}, {kind}", self.status.as_u16())
    }
}

/// Reads `response` up to [`MAX_ANSWER_BYTES`]; `provider` names it in errors ("Wappi").
pub async fn read(response: reqwest::Response, provider: &str) -> Result<Answer, Failure> {
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| std::time::Duration::from_secs(s.min(MAX_RETRY_AFTER_SECS)));
    let too_large = || {
        Failure::Retryable(format!(
            "{provider} sent an answer too large to read (over {} KiB)",
            MAX_ANSWER_BYTES / 1024
        ))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut response = response;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport(&e, provider))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        content_type,
        body,
        retry_after,
    })
}

impl Answer {
    /// The usual reading of a non-success status: 408, 429 and 5xx are worth another try.
    pub fn retryable_status(&self) -> bool {
        let code = self.status.as_u16();
        code == 408 || code == 429 || self.status.is_server_error()
    }

    /// A failure with `message`: permanent, or retryable (after the provider's `Retry-After`,
    /// when it sent one).
    pub fn failure(&self, message: String, retryable: bool) -> Failure {
        match (retryable, self.retry_after) {
            (false, _) => Failure::Permanent(message),
            (true, Some(after)) => Failure::RetryAfter(message, after),
            (true, None) => Failure::Retryable(message),
        }
    }
}

/// A request that got no (whole) answer: always worth another try.
pub fn transport(e: &reqwest::Error, provider: &str) -> Failure {
    let reason = if e.is_timeout() {
        "did not answer in time".to_string()
    } else if e.is_connect() {
        "cannot be reached".to_string()
    } else {
        // reqwest's text holds the URL, which may hold a secret: keep only the cause.
        let mut cause = std::error::Error::source(e);
        let mut last = None;
        while let Some(c) = cause {
            last = Some(c.to_string());
            cause = c.source();
        }
        format!(
            "failed: {}",
            last.unwrap_or_else(|| "the connection broke".to_string())
        )
    };
    Failure::Retryable(format!("{provider} {reason}"))
}
