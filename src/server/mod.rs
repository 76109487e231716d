//! Serving HTTP/1.1 connections on the open internet: a cap on open connections (one more is
//! accepted and waits for room, the rest wait in the listen queue), a deadline for
//! request headers, connections read in small pieces so that each keeps little memory
//! ([`in_pieces`]), malformed requests logged quietly and counted, and a graceful stop; and
//! [`start`], which builds the app and serves it. The routes themselves are in [`crate::http`].
//!
//! At the cap, the connection idle longest (no request under way: a keep-alive client between
//! requests, or one that has not finished its headers) is closed to make room once it has been
//! idle for a second, so that idle connections cannot keep real requests out, and a client about
//! to use its connection does not lose it; until then, and when every connection is busy, new
//! ones wait in the listen queue. `/healthz`, `/readyz` and `/metrics` can also be served on a
//! listener of their own (`server.ops_addr`) that the public port's load never reaches.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{watch, Notify, Semaphore},
};
use warp::{Filter, Reply};

use in_pieces::InPieces;

mod in_pieces;

/// File descriptors kept free for the database, log files and provider calls.
const SPARE_DESCRIPTORS: u64 = 64;
/// How long a connection must have been idle before it is closed for a newcomer. A client
/// sends its next request on a kept-alive connection (or its first on a new one) as soon as it
/// has one: closed at that moment, the connection takes the request down with it, and the
/// client sees a reset. Closing only what has been idle this long leaves that to chance no
/// more than any keep-alive timeout does.
const IDLE_BEFORE_CLOSING: Duration = Duration::from_secs(1);
/// Connections the operations listener keeps open at most.
const OPS_CONNECTIONS: usize = 32;

/// The most a request line and headers may take (beyond it hyper answers 431), as the most a
/// connection's read buffer may grow to (hyper's default is about 400 KB). 64 KiB holds the
/// longest URI hyper reads, so an overlong query still gets our own 400 that says why. A body
/// never grows the buffer this far: it is read in pieces ([`in_pieces`]).
pub const READ_BUFFER_MAX: usize = 64 * 1024;

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

/// One open connection, as the accept loop sees it.
#[derive(Default)]
struct Connection {
    /// Requests under way.
    busy: AtomicUsize,
    /// When a request last ended (or the connection opened), in ms since the server started.
    idle_since: AtomicI64,
    /// Asked to close (at the cap).
    close: Notify,
}

/// The open connections, to find the one idle longest.
#[derive(Default)]
struct Open {
    next_id: AtomicU64,
    all: Mutex<HashMap<u64, Arc<Connection>>>,
    /// Rung when a connection ends.
    ended: Notify,
}

impl Open {
    fn add(&self, now: i64) -> (u64, Arc<Connection>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Connection::default());
        conn.idle_since.store(now, Ordering::Relaxed);
        self.all
            .lock()
            .expect("connections lock")
            .insert(id, conn.clone());
        (id, conn)
    }

    fn remove(&self, id: u64) {
        self.all.lock().expect("connections lock").remove(&id);
        self.ended.notify_waiters();
    }

    fn len(&self) -> usize {
        self.all.lock().expect("connections lock").len()
    }

    /// Asks the connection idle longest to close, if it has been idle since `idle_before` (ms
    /// since the server started) or longer; `false` when none has.
    fn close_idlest(&self, idle_before: i64) -> bool {
        let all = self.all.lock().expect("connections lock");
        let idlest = all
            .values()
            .filter(|c| c.busy.load(Ordering::Relaxed) == 0)
            .filter(|c| c.idle_since.load(Ordering::Relaxed) <= idle_before)
            .min_by_key(|c| c.idle_since.load(Ordering::Relaxed));
        match idlest {
            Some(conn) => {
                // Marked busy so that it is not picked twice while it closes.
                conn.busy.fetch_add(1, Ordering::Relaxed);
                conn.close.notify_one();
                metrics::counter!("hooks_http_idle_closed_total").increment(1);
                true
            }
            None => false,
        }
    }
}

/// The service of one connection: counts its requests under way for [`Open::close_idlest`].
struct Tracked<S> {
    inner: S,
    conn: Arc<Connection>,
    clock: tokio::time::Instant,
}

impl<S, B> hyper::service::Service<hyper::Request<B>> for Tracked<S>
where
    S: hyper::service::Service<hyper::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, request: hyper::Request<B>) -> Self::Future {
        self.conn.busy.fetch_add(1, Ordering::Relaxed);
        let answer = self.inner.call(request);
        let (conn, clock) = (self.conn.clone(), self.clock);
        Box::pin(async move {
            let answer = answer.await;
            conn.idle_since
                .store(clock.elapsed().as_millis() as i64, Ordering::Relaxed);
            conn.busy.fetch_sub(1, Ordering::Relaxed);
            answer
        })
    }
}

/// Serves `routes` on `listener` until `stop` resolves; then stops accepting and lets open
/// connections finish their requests, for `limits.shutdown_grace` at most.
pub async fn serve<F>(
    listener: TcpListener,
    routes: F,
    limits: Limits,
    stop: impl Future<Output = ()>,
) where
    F: Filter<Error = Infallible> + Clone + Send + Sync + 'static,
    F::Extract: Reply,
{
    let slots = Arc::new(Semaphore::new(connection_cap(limits.max_connections)));
    let open = Arc::new(Open::default());
    let clock = tokio::time::Instant::now();
    let (stopping, stopped) = watch::channel(false);
    let mut stop = std::pin::pin!(stop);
    'accept: loop {
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
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            // At the cap with someone waiting: make room by closing the connection idle longest,
            // once it has been idle for IDLE_BEFORE_CLOSING; until then the newcomer waits for a
            // connection to end, and looks again.
            Err(_) => {
                let waiting = metrics::gauge!("hooks_http_newcomer_waiting");
                waiting.set(1);
                let slot = loop {
                    let now = clock.elapsed().as_millis() as i64;
                    let closing = open.close_idlest(now - IDLE_BEFORE_CLOSING.as_millis() as i64);
                    tokio::select! {
                        slot = slots.clone().acquire_owned() => break slot.expect("the semaphore is never closed"),
                        _ = tokio::time::sleep(IDLE_BEFORE_CLOSING / 4), if !closing => {}
                        _ = &mut stop => {
                            waiting.set(0);
                            break 'accept;
                        }
                    }
                };
                waiting.set(0);
                slot
            }
        };
        let (id, conn) = open.add(clock.elapsed().as_millis() as i64);
        let service = Tracked {
            inner: TowerToHyperService::new(warp::service(routes.clone())),
            conn: conn.clone(),
            clock,
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .max_buf_size(READ_BUFFER_MAX)
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(InPieces(stream)), service);
        let (open, mut stopped) = (open.clone(), stopped.clone());
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = conn.close.notified() => {
                    // Idle (its `busy` is the mark close_idlest put there): drop it at once,
                    // even half-way through its headers. A request that slipped in meanwhile
                    // is finished first.
                    if conn.busy.load(Ordering::Relaxed) > 1 {
                        connection.as_mut().graceful_shutdown();
                        connection.as_mut().await
                    } else {
                        Ok(())
                    }
                }
                _ = async { drop(stopped.wait_for(|s| *s).await) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.as_mut().await
                }
            };
            if let Err(e) = ended {
                // Half-sent or malformed requests, header timeouts, resets: the client's doing.
                metrics::counter!("hooks_http_connection_errors_total").increment(1);
                tracing::debug!(error = %e, "connection closed with an error");
            }
            open.remove(id);
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("stopping: no new connections; waiting for requests under way");
    let _ = stopping.send(true);
    let all_closed = async {
        loop {
            let ended = open.ended.notified();
            if open.len() == 0 {
                return;
            }
            ended.await;
        }
    };
    if tokio::time::timeout(limits.shutdown_grace, all_closed)
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
    /// The operations listener (`server.ops_addr`), when there is one.
    pub ops_addr: Option<SocketAddr>,
    pub app: Arc<crate::App>,
    pub server: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Running {
    /// The graceful stop (SIGTERM, SIGINT): no new connections; requests and provider calls under
    /// way may finish within `server.shutdown_grace`; whatever is unfinished stays in the outbox
    /// and is sent after the next start.
    ///
    /// `Err` when accepted deliveries would be lost with the process: their file was removed and
    /// could not be written back, or attempts' ends could not be written.
    pub async fn shutdown(self) -> Result<(), crate::delivery::Stranded> {
        let deadline = tokio::time::Instant::now() + self.app.settings.server.shutdown_grace;
        let _ = self.stop.send(true);
        let _ = self.server.await;
        self.app.delivery.stop(deadline).await;
        self.app.delivery.stranded().await
    }
}

/// Builds the app, starts its workers and serves HTTP on `server.addr` (port 0 picks one), and
/// the operations routes on `server.ops_addr` when it is set.
pub async fn start(settings: crate::Settings) -> anyhow::Result<Running> {
    crate::telemetry::init_metrics();
    let app = crate::App::build(settings).await?;
    app.start_workers().await?;
    let server_settings = &app.settings.server;
    let listener = TcpListener::bind(server_settings.addr)
        .await
        .map_err(|e| anyhow::anyhow!("server.addr {}: {e}", server_settings.addr))?;
    let addr = listener.local_addr()?;
    let limits = Limits {
        header_read_timeout: server_settings.header_read_timeout,
        max_connections: server_settings.max_connections,
        shutdown_grace: server_settings.shutdown_grace,
    };
    let (stop, stopped) = watch::channel(false);
    // Only `Running::shutdown` stops the servers; dropping `Running` does not.
    let stop_signal = |mut stopped: watch::Receiver<bool>| async move {
        if stopped.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let ops_addr = match server_settings.ops_addr.trim() {
        "" => None,
        wanted => {
            let ops = TcpListener::bind(wanted)
                .await
                .map_err(|e| anyhow::anyhow!("server.ops_addr {wanted}: {e}"))?;
            let ops_addr = ops.local_addr()?;
            let ops_limits = Limits {
                max_connections: OPS_CONNECTIONS,
                ..limits
            };
            tokio::spawn(serve(
                ops,
                crate::http::ops_routes(app.clone()),
                ops_limits,
                stop_signal(stopped.clone()),
            ));
            tracing::info!(addr = %ops_addr, "operations routes (/healthz, /readyz, /metrics) listening");
            Some(ops_addr)
        }
    };
    let server = tokio::spawn(serve(
        listener,
        crate::http::routes(app.clone()),
        limits,
        stop_signal(stopped),
    ));
    Ok(Running {
        addr,
        ops_addr,
        app,
        server,
        stop,
    })
}
