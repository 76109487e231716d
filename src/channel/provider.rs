//! What every HTTP channel needs when it talks to a provider: a bounded read of the answer, and
//! plain words for what went wrong on the way.

use crate::i18n::Text;
use crate::t;
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
    pub fn describe(&self) -> Text {
        let kind = if self.content_type.is_empty() {
            t!("channel-no-content-type")
        } else {
            Text::verbatim(&self.content_type)
        };
        t!(
            "channel-http-code-kind",
            code = self.status.as_u16(),
            kind = kind
        )
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
        let why = t!(
            "channel-provider-sent-answer-too-large",
            provider = provider,
            size = MAX_ANSWER_BYTES / 1024
        );
        if status.is_success() {
            Failure::Unread(why)
        } else {
            Failure::Retryable(why)
        }
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        // The status came: the provider answered, even if its body broke off.
        let why = transport(&e, provider).into_text();
        if status.is_success() {
            Failure::Unread(why)
        } else {
            Failure::Retryable(why)
        }
    })? {
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
    pub fn failure(&self, message: Text, retryable: bool) -> Failure {
        match (retryable, self.retry_after) {
            (false, _) if matches!(self.status.as_u16(), 401 | 403) => Failure::Refused(message),
            (false, _) => Failure::Permanent(message),
            (true, Some(after)) => Failure::RetryAfter(message, after),
            (true, None) => Failure::Retryable(message),
        }
    }
}

/// A request that got no (whole) answer. One that never reached the provider (no connection: DNS,
/// refused, TLS) is worth another try; one that may have reached it (a timeout or a broken
/// connection after connecting) is [`Failure::NoAnswer`]: a send's outcome is then unknown. The
/// text names the cause and never the URL, which may hold a secret.
pub fn transport(e: &reqwest::Error, provider: &str) -> Failure {
    let why = transport_cause(e, provider);
    if e.is_connect() || e.is_builder() {
        Failure::Retryable(why)
    } else {
        Failure::NoAnswer(why)
    }
}

/// The characters of a text as a messenger shows them back: line ends as `\n`, no spaces
/// around. A message a provider lists is compared with ours in this form.
pub fn same_text(listed: &str, ours: &str) -> bool {
    let tidy = |s: &str| s.replace("\r\n", "\n").trim().to_string();
    tidy(listed) == tidy(ours)
}

/// A time a provider lists (unix seconds or milliseconds, as a number or a string, or RFC 3339)
/// in unix milliseconds.
pub fn listed_time(value: &serde_json::Value) -> Option<i64> {
    let number = match value {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s
            .parse::<i64>()
            .ok()
            .or_else(|| crate::event::parse_time(s).map(|t| t.timestamp_millis())),
        _ => None,
    }?;
    // Seconds until the year 33658; milliseconds after.
    Some(if number < 1_000_000_000_000 {
        number * 1000
    } else {
        number
    })
}

fn transport_cause(e: &reqwest::Error, provider: &str) -> Text {
    let mut chain = Vec::new();
    let mut io_kind = None;
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        chain.push(c.to_string());
        cause = c.source();
    }
    let all = chain.join(": ").to_lowercase();
    let last = chain.last().cloned().unwrap_or_default();
    use std::io::ErrorKind;
    let unreachable = |why: Text| {
        t!(
            "channel-provider-cannot-reached-why",
            provider = provider,
            why = why
        )
    };
    if e.is_timeout() || io_kind == Some(ErrorKind::TimedOut) {
        t!(
            "channel-provider-did-answer-time-timeout",
            provider = provider
        )
    } else if all.contains("dns error") || all.contains("failed to lookup address") {
        unreachable(t!("channel-host-name-does-resolve-dns"))
    } else if io_kind == Some(ErrorKind::ConnectionRefused) {
        unreachable(t!("channel-connection-refused"))
    } else if matches!(
        io_kind,
        Some(ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable)
    ) {
        unreachable(t!("channel-route-host-network-unreachable"))
    } else if all.contains("certificate")
        || all.contains("tls")
        || (e.is_connect()
            && e.url().is_some_and(|u| u.scheme() == "https")
            && matches!(
                io_kind,
                None | Some(ErrorKind::InvalidData | ErrorKind::Other)
            ))
    {
        unreachable(t!("channel-tls-https-connection-failed-why", why = last))
    } else if e.is_connect() {
        unreachable(if last.is_empty() {
            t!("channel-no-connection")
        } else {
            Text::verbatim(last)
        })
    } else {
        t!(
            "channel-provider-failed-why",
            provider = provider,
            why = if last.is_empty() {
                t!("channel-connection-broke")
            } else {
                Text::verbatim(last)
            }
        )
    }
}
