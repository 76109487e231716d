//! Load benchmark on loopback: a bare warp server answering "ok" (the baseline: the machine's limit
//! for this stack) against torrow-hooks with a fast local Wappi stand-in, driven by the same client.
//!
//! `cargo run --release --example loadgen [-- --seconds 10 --concurrency 32 --rate 1000]`
//!
//! Each server runs in its own child process (this binary, `--serve …`) so that its peak RSS and CPU
//! time are its own. Every loop is bounded by a deadline or a count. Results: BENCHMARKS.md.

mod abuse;
mod client;
mod event;
mod servers;

use std::{path::PathBuf, sync::Arc};

use clap::Parser;

use client::{closed_loop, fixed_rate, Figures, Request};
use servers::{serve, Server};

#[derive(Parser)]
struct Args {
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Connections kept busy in the closed-loop scenarios.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Events per second in the fixed-rate scenario.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// The event to POST; default $TORROW_SAMPLE_EVENT, then the shared 90 KB sample, then a
    /// 90 KB event built from tests/fixtures/order-many-resources.json.
    #[arg(long)]
    event: Option<PathBuf>,
    /// Run torrow-hooks with `delivery.fsync = true` (every commit waits for the disk).
    #[arg(long)]
    fsync: bool,
    /// The outbox of torrow-hooks: a `postgres://…` URL (an empty database), instead of the
    /// embedded SQLite file.
    #[arg(long)]
    database: Option<String>,
    /// `server.max_connections` of torrow-hooks (default: the service's own).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Keep the servers' logs and the outbox in this folder (default: a temporary one).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Run only the torrow-hooks scenarios whose name contains this text (the baselines always
    /// run), e.g. `--only 1000/s`.
    #[arg(long)]
    only: Option<String>,
    /// Idle connections opened during the abuse scenario (each needs a file descriptor here
    /// and in the server; the server keeps at most `server.max_connections` open).
    #[arg(long, default_value_t = 2000)]
    idle: usize,
    /// Child mode (internal): baseline | wappi | relay | hooks.
    #[arg(long, hide = true)]
    serve: Option<String>,
    /// Child mode (internal): the Wappi stand-in's address, for `--serve hooks`.
    #[arg(long, hide = true)]
    wappi: Option<String>,
    /// Child mode (internal): the folder for the outbox, sink and mail of `--serve hooks`.
    #[arg(long, hide = true)]
    dir: Option<PathBuf>,
}

const CHECK_QUERY: &str = "/webhook/log?message=Hello&hide_contact_info=false&sign_text=Bye";
const LOG_POST_QUERY: &str = "/webhook/log?sign_text=Bye";
const POST_QUERY: &str =
    "/webhook/wappi?cascadeId=loadgen&apiToken=0123456789abcdef0123456789abcdef&sign_text=Bye";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match args.serve.as_deref() {
        Some(kind) => runtime.block_on(serve(kind, &args)),
        None => runtime.block_on(drive(&args)),
    }
}

async fn drive(args: &Args) -> anyhow::Result<()> {
    let (event, source) = event::load(args)?;
    let temporary = tempfile::tempdir()?;
    let dir = match &args.keep {
        Some(keep) => {
            std::fs::create_dir_all(keep)?;
            keep.clone()
        }
        None => temporary.path().to_path_buf(),
    };
    let log = |name: &str| dir.join(format!("{name}.log"));
    println!(
        "loadgen: {} s per scenario, {} connections, fixed rate {}/s, fsync {}, outbox {}; event {} ({} bytes)",
        args.seconds,
        args.concurrency,
        args.rate,
        args.fsync,
        if args.database.is_some() { "PostgreSQL" } else { "SQLite" },
        source,
        event.len()
    );
    let event = Arc::new(event);

    let baseline = Server::start("baseline", &[], &log("baseline"))?;
    let at = |server: &Server, path: &str| format!("http://{}{path}", server.addr);
    let get = Request::get(at(&baseline, CHECK_QUERY));
    let post = Request::post(at(&baseline, POST_QUERY), &event);
    closed_loop("warm-up", &baseline, get.clone(), args, 1).await?;
    let base_get = closed_loop("baseline GET", &baseline, get, args, args.seconds).await?;
    let base_post = closed_loop(
        "baseline POST 90 KB",
        &baseline,
        post.clone(),
        args,
        args.seconds,
    )
    .await?;
    let at_rate = format!("torrow-hooks POST → wappi at {}/s", args.rate);
    let chosen = |name: &str| args.only.as_ref().is_none_or(|only| name.contains(only));
    // The same rate against the bare server: the latency floor of this machine and this client.
    let base_at_rate = if chosen(&at_rate) {
        let name = format!("baseline POST 90 KB at {}/s", args.rate);
        Some(fixed_rate(&name, &baseline, post, args).await?)
    } else {
        None
    };
    let base_rss = baseline.usage().0;
    drop(baseline);

    // The relay (read the body, one outbound POST) against a stand-in of its own.
    let relay_wappi = Server::start("wappi", &[], &log("relay-wappi"))?;
    let relay = Server::start("relay", &["--wappi", &relay_wappi.addr], &log("relay"))?;
    let relayed = Request::post(at(&relay, POST_QUERY), &event);
    closed_loop("warm-up", &relay, relayed.clone(), args, 1).await?;
    let relay_post = closed_loop(
        "relay: read the body, one POST out",
        &relay,
        relayed,
        args,
        args.seconds,
    )
    .await?;
    let relay_rss = relay.usage().0;
    drop(relay);
    drop(relay_wappi);

    let wappi = Server::start("wappi", &[], &log("wappi"))?;
    let hooks_dir = dir.display().to_string();
    let mut hooks_args = vec!["--wappi", &wappi.addr, "--dir", &hooks_dir];
    if args.fsync {
        hooks_args.push("--fsync");
    }
    if let Some(database) = &args.database {
        hooks_args.extend(["--database", database.as_str()]);
    }
    let max_connections = args.max_connections.map(|n| n.to_string());
    if let Some(n) = &max_connections {
        hooks_args.extend(["--max-connections", n.as_str()]);
    }
    let hooks = Server::start("hooks", &hooks_args, &log("hooks"))?;
    let rss_started = hooks.resident();
    let wal = WalWatch::start(dir.join("hooks.sqlite-wal"));
    let url = |path: &str| at(&hooks, path);
    let get = Request::get(url(CHECK_QUERY));
    let post = Request::post(url(POST_QUERY), &event);
    let warm = closed_loop("warm-up", &hooks, post.clone(), args, 1).await?;
    let scenarios = [
        ("torrow-hooks GET check (log)", get, 0),
        (
            "torrow-hooks POST /preview (parse + render only)",
            Request::post(url(&POST_QUERY.replace("/webhook/", "/preview/")), &event),
            1,
        ),
        (
            "torrow-hooks POST → log (durable, no network)",
            Request::post(url(LOG_POST_QUERY), &event),
            1,
        ),
        ("torrow-hooks POST → wappi", post.clone(), 1),
    ];
    let mut rows = vec![(base_get, None), (base_post, None), (relay_post, Some(1))];
    for (name, request, baseline) in scenarios {
        if chosen(name) {
            let figures = closed_loop(name, &hooks, request, args, args.seconds).await?;
            rows.push((figures, Some(baseline)));
        }
    }
    if chosen(&at_rate) {
        rows.push((fixed_rate(&at_rate, &hooks, post, args).await?, Some(1)));
    }
    let abuse_name = "abuse: worst-case bodies and idle connections";
    let abused = if chosen(abuse_name) {
        let health = Request::get(url("/healthz"));
        let real = Request::post(url(POST_QUERY), &event);
        Some(abuse::run(&hooks, real, health, &url(LOG_POST_QUERY), args).await?)
    } else {
        None
    };
    let hooks_rss = hooks.usage().0;
    if let Some(figures) = base_at_rate {
        rows.push((figures, None));
    }
    let (wal_peak, wal_idle) = wal.finish().await;
    let rss_after = hooks.resident();
    let sent: u64 = reqwest::get(format!("http://{}/count", wappi.addr))
        .await?
        .text()
        .await?
        .parse()?;
    drop(hooks);

    // Each torrow-hooks row carries the index of its baseline row, for the ratio.
    let rows: Vec<_> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (f, b))| {
            let rss = match (i, b) {
                (2, _) => relay_rss,
                (_, Some(_)) => hooks_rss,
                _ => base_rss,
            };
            (f, b, rss)
        })
        .collect();
    report(&rows);
    // The durable path against the least work the job needs (issue targets: ≥ 0.5).
    let relay_rps = rows[2].0.rps();
    for (f, _, _) in rows
        .iter()
        .filter(|(f, _, _)| f.name.starts_with("torrow-hooks POST"))
    {
        println!("{}: {:.3} of the relay", f.name, f.rps() / relay_rps);
    }
    if let Some(a) = &abused {
        println!(
            "\n{abuse_name}, {} idle connections held open (the server keeps at most server.max_connections):",
            a.idle_opened
        );
        println!("| Scenario | Requests | Errors | p50 ms | p99 ms | max ms | target p99 |");
        println!("|---|---|---|---|---|---|---|");
        for (f, target) in [(&a.real, "≤ 100 ms"), (&a.health, "≤ 50 ms")] {
            println!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {target} |",
                f.name,
                f.ok,
                f.errors,
                f.percentile(50),
                f.percentile(99),
                f.percentile(100)
            );
        }
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | server CPU ≤ {:.2} ms per abusive request |",
            a.abusive.name,
            a.abusive.ok,
            a.abusive.errors,
            a.abusive.percentile(50),
            a.abusive.percentile(99),
            a.abusive.percentile(100),
            a.abusive.cpu_per_request_us() / 1000.0
        );
    }
    let to_wappi = rows.iter().filter(|(f, _, _)| f.name.contains("→ wappi"));
    let abused_sends = abused.as_ref().map_or(0, |a| a.real.ok);
    let accepted = warm.ok + abused_sends + to_wappi.map(|(f, _, _)| f.ok).sum::<usize>();
    println!("\nWappi stand-in received {sent} sends for {accepted} POSTs answered Success.");
    println!(
        "Outbox write-ahead log: peak {:.1} MiB during the run, {:.1} MiB after 2 s idle.",
        wal_peak as f64 / 1048576.0,
        wal_idle as f64 / 1048576.0
    );
    println!(
        "torrow-hooks resident memory, idle: {rss_started:.1} MiB once started, {rss_after:.1} MiB 2 s after the run."
    );
    // A load benchmark of a delivery service is worthless if it loses or doubles messages.
    anyhow::ensure!(sent as usize == accepted, "sends and accepted POSTs differ");
    let errors: usize = rows.iter().map(|(f, _, _)| f.errors).sum();
    anyhow::ensure!(
        errors == 0,
        "{errors} requests failed (the first of each kind is above)"
    );
    Ok(())
}

/// Samples the size of the outbox's write-ahead log every 50 ms while the load runs.
struct WalWatch {
    path: PathBuf,
    peak: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl WalWatch {
    fn start(path: PathBuf) -> WalWatch {
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (file, max) = (path.clone(), peak.clone());
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_millis(50));
            loop {
                every.tick().await;
                let size = std::fs::metadata(&file).map_or(0, |m| m.len());
                max.fetch_max(size, std::sync::atomic::Ordering::Relaxed);
            }
        });
        WalWatch { path, peak, task }
    }

    /// The peak size, and the size after the service has been idle for 2 s.
    async fn finish(self) -> (u64, u64) {
        self.task.abort();
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let idle = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        (self.peak.load(std::sync::atomic::Ordering::Relaxed), idle)
    }
}

fn report(rows: &[(Figures, Option<usize>, f64)]) {
    println!(
        "\n| Scenario | Requests | Errors | req/s | × baseline | p50 ms | p99 ms | max ms | server CPU µs/req | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (f, base, rss) in rows {
        let ratio = base
            .map(|b| format!("{:.3}", f.rps() / rows[b].0.rps()))
            .unwrap_or_else(|| "1.000".into());
        println!(
            "| {} | {} | {} | {:.0} | {ratio} | {:.2} | {:.2} | {:.2} | {:.0} | {rss:.1} |",
            f.name,
            f.ok,
            f.errors,
            f.rps(),
            f.percentile(50),
            f.percentile(99),
            f.percentile(100),
            f.cpu_per_request_us(),
        );
    }
}
