//! Serving HTTP/1.1 connections on the open internet: a cap on open connections (further ones
//! wait in the listen queue), a deadline for request headers, malformed requests logged quietly
//! and counted, and a graceful stop; and [`start`], which builds the app and serves it. The routes
//! themselves are in [`crate::http`].

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};

/// File descriptors kept free for the database, log files and provider calls.
const SPARE_DESCRIPTORS: u64 = 64;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

/// `server.max_connections`, lowered when the process may not open that many files.
pub fn connection_cap(wanted: usize) -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    match limit {
        Some(n) if n.saturating_sub(SPARE_DESCRIPTORS) < wanted as u64 => {
            let cap = n.saturating_sub(SPARE_DESCRIPTORS).max(1) as usize;
            tracing::info!(
                wanted,
                cap,
                open_files_limit = n,
                "server.max_connections lowered to fit the open-files limit (ulimit -n)"
            );
            cap
        }
        _ => wanted,
    }
}

/// Serves the routes of `app` on `listener` until `stop` resolves; then stops accepting and lets
/// open connections finish their requests, for `limits.shutdown_grace` at most.
pub async fn serve(
    listener: TcpListener,
    app: Arc<crate::App>,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let routes = crate::http::routes(app);
    let slots = Arc::new(Semaphore::new(connection_cap(limits.max_connections)));
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let service = TowerToHyperService::new(warp::service(routes.clone()));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Half-sent or malformed requests, header timeouts, resets: the client's doing.
                metrics::counter!("hooks_http_connection_errors_total").increment(1);
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("stopping: no new connections; waiting for requests under way");
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = %humantime::format_duration(limits.shutdown_grace),
            "connections still open after server.shutdown_grace; closing them"
        );
    }
}

/// Out of file descriptors (or another passing trouble): wait a little instead of spinning.
async fn accept_failed(e: std::io::Error) {
    metrics::counter!("hooks_http_accept_errors_total").increment(1);
    tracing::warn!(error = %e, "cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// A running server (for `serve` and for tests).
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<crate::App>,
    pub server: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// The graceful stop (SIGTERM, SIGINT): no new connections; requests and provider calls under
    /// way may finish within `server.shutdown_grace`; whatever is unfinished stays in the outbox
    /// and is sent after the next start.
    pub async fn shutdown(self) {
        let deadline = tokio::time::Instant::now() + self.app.settings.server.shutdown_grace;
        let _ = self.stop.send(());
        let _ = self.server.await;
        self.app.delivery.stop(deadline).await;
    }
}

/// Builds the app, starts its workers and serves HTTP on `server.addr` (port 0 picks one).
pub async fn start(settings: crate::Settings) -> anyhow::Result<Running> {
    crate::telemetry::init_metrics();
    let app = crate::App::build(settings).await?;
    app.start_workers().await?;
    let listener = tokio::net::TcpListener::bind(app.settings.server.addr)
        .await
        .map_err(|e| anyhow::anyhow!("server.addr {}: {e}", app.settings.server.addr))?;
    let addr = listener.local_addr()?;
    let server_settings = &app.settings.server;
    let limits = Limits {
        header_read_timeout: server_settings.header_read_timeout,
        max_connections: server_settings.max_connections,
        shutdown_grace: server_settings.shutdown_grace,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app.clone(), limits, async {
        // Only `Running::shutdown` stops the server; dropping `Running` does not.
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    }));
    Ok(Running {
        addr,
        app,
        server,
        stop,
    })
}
