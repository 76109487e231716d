//! The servers under load, each in a child process: the bare warp baseline, the Wappi stand-in and
//! torrow-hooks itself (through the library, as `torrow-hooks serve` does).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::io::AsyncBufReadExt;
use warp::Filter;

use crate::Args;

pub async fn serve(kind: &str, args: &Args) -> anyhow::Result<()> {
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let addr = match kind {
        "baseline" => {
            // Reads the whole body (as any server must) and answers "ok".
            let ok = warp::any()
                .and(warp::body::bytes())
                .map(|_: bytes::Bytes| "ok");
            listen(ok, any).await?
        }
        "wappi" => {
            let sent = Arc::new(AtomicU64::new(0));
            let counter = sent.clone();
            let count = warp::get()
                .and(warp::path("count"))
                .map(move || counter.load(Ordering::Relaxed).to_string());
            let send = warp::post()
                .and(warp::body::bytes())
                .map(move |_: bytes::Bytes| {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    warp::reply::json(
                        &serde_json::json!({"status": "done", "message_id": n.to_string()}),
                    )
                });
            listen(count.or(send), any).await?
        }
        "relay" => {
            // The least work the job needs: read the body, make one POST to the stand-in, answer.
            let wappi = args.wappi.clone().expect("--wappi");
            let client = reqwest::Client::new();
            let url = format!("http://{wappi}/csender/cascade/send");
            let relay = warp::post()
                .and(warp::body::bytes())
                .then(move |body: bytes::Bytes| {
                    let (client, url) = (client.clone(), url.clone());
                    async move {
                        let message = serde_json::json!({
                            "recipient": "79119998877",
                            "body": format!("{} bytes", body.len()),
                            "cascade_id": "relay",
                        });
                        match client.post(&url).json(&message).send().await {
                            Ok(r) if r.status().is_success() => {
                                warp::reply::with_status("ok", warp::http::StatusCode::OK)
                            }
                            _ => warp::reply::with_status(
                                "failed",
                                warp::http::StatusCode::BAD_GATEWAY,
                            ),
                        }
                    }
                });
            listen(relay, any).await?
        }
        "hooks" => {
            let dir = args.dir.as_deref().expect("--dir");
            let wappi = args.wappi.as_deref().expect("--wappi");
            let settings = torrow_hooks::Settings::with_overrides(&hooks_settings(
                dir,
                wappi,
                args.fsync,
                args.database.as_deref(),
                args.max_connections,
            ))?;
            torrow_hooks::telemetry::init_logs(&settings.log);
            torrow_hooks::start(settings).await?.addr
        }
        other => anyhow::bail!("unknown --serve {other}"),
    };
    println!("{addr}");
    // Serve until the parent closes our standard input (or dies).
    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    while stdin.read_line(&mut line).await? > 0 {}
    Ok(())
}

async fn listen<F>(routes: F, addr: std::net::SocketAddr) -> anyhow::Result<std::net::SocketAddr>
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    Ok(addr)
}

/// The service's own defaults, but on a free port, with the outbox in a temporary folder, the
/// templates of this checkout, the Wappi stand-in, and production-style JSON logs.
fn hooks_settings(
    dir: &Path,
    wappi: &str,
    fsync: bool,
    database: Option<&str>,
    max_connections: Option<usize>,
) -> String {
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let max_connections = max_connections
        .map(|n| format!("server.max_connections = {n}"))
        .unwrap_or_default();
    format!(
        r#"
        server.addr = "127.0.0.1:0"
        templates.dir = {templates:?}
        wappi.base_url = "http://{wappi}"
        delivery.database = {db:?}
        mail.dir = {mail:?}
        log_sink.path = {sink:?}
        delivery.fsync = {fsync}
        # The log channel has no credentials a provider could vouch for: its share of the outbox
        # is raised so that it can be measured (README, delivery.unvouched_share).
        delivery.unvouched_share = 1.0
        log.format = "json"
        {max_connections}
        "#,
        db = database
            .map(str::to_string)
            .unwrap_or_else(|| dir.join("hooks.sqlite").display().to_string()),
        mail = dir.join("mail"),
        sink = dir.join("log-sink.jsonl"),
    )
}

pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    pub fn start(kind: &str, extra: &[&str], log: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--serve", kind])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()?;
        let mut out = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let mut addr = String::new();
        std::io::BufRead::read_line(&mut out, &mut addr)?;
        anyhow::ensure!(
            !addr.trim().is_empty(),
            "{kind} did not start; see {}",
            log.display()
        );
        println!("{kind}: pid {} on {}", child.id(), addr.trim());
        Ok(Server {
            child,
            addr: addr.trim().to_string(),
        })
    }

    /// Peak resident set (VmHWM) in MiB and CPU time used so far, from /proc.
    pub fn usage(&self) -> (f64, Duration) {
        let pid = self.child.id();
        let hwm_kb = self.status_kb("VmHWM:");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // After the command name (which ends with ')'), field 3 (state) comes first; utime and
        // stime are fields 14 and 15, in clock ticks of 10 ms.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let field = |n: usize| -> u64 {
            rest.split_whitespace()
                .nth(n - 3)
                .and_then(|f| f.parse().ok())
                .unwrap_or(0)
        };
        let ticks = field(14) + field(15);
        (hwm_kb / 1024.0, Duration::from_millis(ticks * 10))
    }

    /// The memory the server holds now (resident set, MiB).
    pub fn resident(&self) -> f64 {
        self.status_kb("VmRSS:") / 1024.0
    }

    /// A figure of `/proc/<pid>/status`, in kB (0 when it cannot be read).
    fn status_kb(&self, key: &str) -> f64 {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
