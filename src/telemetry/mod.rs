//! Logs (tracing: pretty or JSON) and metrics (Prometheus text).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

mod repeats;

pub use repeats::Repeats;

use crate::settings::{Log, LogFormat};

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide metrics recorder once.
pub fn init_metrics() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ])
            .expect("static buckets are valid");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        handle
    })
}

/// The metrics in Prometheus text format.
pub fn render_metrics() -> String {
    init_metrics().render()
}

/// Installs the log subscriber; `RUST_LOG` overrides `log.level`. Warnings and errors repeated
/// at one place are written once, then counted ([`Repeats`]).
pub fn init_logs(settings: &Log) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let repeats = Repeats::start(settings.repeats_every);
    let result = match settings.format {
        LogFormat::Json => fmt()
            .with_writer(std::io::stderr)
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            // Spans never nest here (a request's, or a worker's attempt's), so the list would
            // repeat `span` on every line, and each copy is parsed back from JSON to be written.
            .with_span_list(false)
            .finish()
            .with(repeats)
            .try_init(),
        // Colours only when a person watches: never into a file, a pipe or journald.
        LogFormat::Pretty => fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(filter)
            .finish()
            .with(repeats)
            .try_init(),
    };
    if result.is_err() {
        tracing::debug!("a log subscriber was already installed");
    }
}
