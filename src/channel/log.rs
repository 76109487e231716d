//! The `log` channel: appends each message as one JSON line to `log_sink.path`. No credentials.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{Channel, Failure, Outgoing, Route, Sent};
use crate::params::{Param, Query, Report};
use crate::redact;

/// The `[log_sink]` section of the settings.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the lines are appended.
    pub path: PathBuf,
    /// Past this size the file is renamed to `<path>.1` (replacing the previous one) and begun
    /// anew, so the sink never holds more than about twice this.
    pub max_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            path: PathBuf::from("data/log-sink.jsonl"),
            max_bytes: 10 * 1024 * 1024,
        }
    }
}

pub struct LogChannel {
    path: PathBuf,
    max_bytes: u64,
    write: tokio::sync::Mutex<()>,
}

impl LogChannel {
    pub fn new(settings: Settings) -> Self {
        LogChannel {
            path: settings.path,
            max_bytes: settings.max_bytes.max(1),
            write: tokio::sync::Mutex::new(()),
        }
    }

    /// Moves a sink that has reached `max_bytes` aside to `<path>.1`.
    async fn rotate_if_full(&self) -> std::io::Result<()> {
        match tokio::fs::metadata(&self.path).await {
            Ok(meta) if meta.len() >= self.max_bytes => {
                let old = PathBuf::from(format!("{}.1", self.path.display()));
                tokio::fs::rename(&self.path, &old).await?;
                tracing::info!(sink = %self.path.display(), "log sink rotated to {}", old.display());
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Channel for LogChannel {
    fn name(&self) -> &'static str {
        "log"
    }

    fn title(&self) -> &'static str {
        "Log file (for tests)"
    }

    fn params(&self) -> &'static [Param] {
        &[]
    }

    fn route(&self, _query: &Query, _report: &mut Report) -> Option<Route> {
        Some(Route::Object(Default::default()))
    }

    fn target(&self, _route: &Route) -> String {
        format!("log sink {}", self.path.display())
    }

    async fn check(&self, _route: &Route) -> Result<Vec<String>, Failure> {
        Ok(Vec::new())
    }

    /// One append to a local file.
    fn longest_attempt(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
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
        let _guard = self.write.lock().await;
        let io = |e: std::io::Error| {
            Failure::Retryable(format!(
                "cannot write the log sink {}: {e}",
                self.path.display()
            ))
        };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        self.rotate_if_full().await.map_err(io)?;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(io)?;
        file.write_all(&bytes).await.map_err(io)?;
        file.flush().await.map_err(io)?;
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
