//! The `log` channel: appends each message as one JSON line to `log_sink.path`. No credentials.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Channel, Failure, Outgoing, Route, Sent};
use crate::i18n::Text;
use crate::params::{Param, Query, Report};
use crate::redact;
use crate::t;

/// The `[log_sink]` section of the settings.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `false`: the channel refuses every hook URL (Wrong parameters): a server on the open
    /// internet should not keep what anyone posts to it.
    pub enabled: bool,
    /// Where the lines are appended.
    pub path: PathBuf,
    /// Past this size the file is renamed to `<path>.1` (replacing the previous one) and begun
    /// anew, so the sink never holds more than about twice this.
    pub max_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            path: PathBuf::from("data/log-sink.jsonl"),
            max_bytes: 10 * 1024 * 1024,
        }
    }
}

pub struct LogChannel {
    enabled: bool,
    path: PathBuf,
    max_bytes: u64,
    /// One append at a time (a rotation must not split a line).
    write: Arc<Mutex<()>>,
}

impl LogChannel {
    pub fn new(settings: Settings) -> Self {
        LogChannel {
            enabled: settings.enabled,
            path: settings.path,
            max_bytes: settings.max_bytes.max(1),
            write: Arc::new(Mutex::new(())),
        }
    }
}

/// Appends one line to the sink, moving a sink that has reached `max_bytes` aside to
/// `<path>.1` first. The file is opened for each line, so a sink moved away or removed by
/// someone else is simply begun anew. Blocking: run on the blocking pool, in one hop.
fn append(path: &Path, max_bytes: u64, line: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() >= max_bytes => {
            let old = PathBuf::from(format!("{}.1", path.display()));
            std::fs::rename(path, &old)?;
            tracing::info!(sink = %path.display(), "log sink rotated to {}", old.display());
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(line)
}

#[async_trait]
impl Channel for LogChannel {
    fn name(&self) -> &'static str {
        "log"
    }

    fn title(&self) -> Text {
        t!("channel-title-log")
    }

    fn params(&self) -> &'static [Param] {
        &[]
    }

    fn route(&self, _query: &Query, report: &mut Report) -> Option<Route> {
        if !self.enabled {
            report.error(t!("log-channel-off"));
            return None;
        }
        Some(Route::Object(Default::default()))
    }

    fn target(&self, _route: &Route) -> Text {
        t!("log-sink-path", path = self.path.display().to_string())
    }

    async fn check(&self, _route: &Route) -> Result<Vec<Text>, Failure> {
        Ok(Vec::new())
    }

    /// One append to a local file.
    fn longest_attempt(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    /// A line in the service's own file, for tests and trials: written again after a crash.
    fn when_unanswered(&self, _route: &Route) -> super::Unanswered {
        super::Unanswered::Resend
    }

    async fn send(&self, _route: &Route, message: &Outgoing<'_>) -> Result<Sent, Failure> {
        let line = serde_json::json!({
            "time": chrono::Utc::now().to_rfc3339(),
            "channel": "log",
            "recipient": message.recipient,
            "text": message.text,
            "delivery_id": message.delivery_id,
        });
        let mut bytes = serde_json::to_vec(&line).expect("a JSON value serializes");
        bytes.push(b'\n');
        let (path, max_bytes, lock) = (self.path.clone(), self.max_bytes, self.write.clone());
        let written = tokio::task::spawn_blocking(move || {
            let _one_at_a_time = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            append(&path, max_bytes, &bytes)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        written.map_err(|e| {
            Failure::Retryable(t!(
                "channel-cannot-write-log-sink-path",
                path = self.path.display().to_string(),
                why = e.to_string()
            ))
        })?;
        tracing::info!(
            channel = "log",
            recipient = %redact::phone(message.recipient),
            delivery_id = message.delivery_id,
            chars = message.text.chars().count(),
            "message written to the log sink"
        );
        Ok(Sent::default())
    }
}
