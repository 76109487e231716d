//! The `log` channel: appends each message as one JSON line to `log_sink.path`. No credentials.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{Channel, Failure, Outgoing, Route, Sent};
use crate::params::{Param, Query, Report};
use crate::redact;
use crate::settings::LogSink;

pub struct LogChannel {
    path: PathBuf,
    write: tokio::sync::Mutex<()>,
}

impl LogChannel {
    pub fn new(settings: &LogSink) -> Self {
        LogChannel {
            path: settings.path.clone(),
            write: tokio::sync::Mutex::new(()),
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
