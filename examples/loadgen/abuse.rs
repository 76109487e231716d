//! The hardening scenario: anonymous callers try to crowd out real work. Eight clients send the
//! worst body within `server.body_limit` back to back (as many booked items as fit), and a flood
//! of idle connections is opened, while real POSTs arrive at 100/s and a monitor asks `/healthz`
//! 20 times a second. Reported: the real POSTs' and `/healthz`'s latencies (targets: p99 ≤ 100 ms
//! and ≤ 50 ms), and what the abusive requests cost the server.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::net::TcpStream;

use crate::client::{closed_loop_with, fixed_rate_at, Figures, Request};
use crate::{servers::Server, Args};

/// Abusive clients sending worst-case bodies.
const ABUSERS: usize = 8;
/// Real POSTs a second, and `/healthz` probes a second.
const REAL_RATE: u64 = 100;
const PROBE_RATE: u64 = 20;

pub struct Abuse {
    pub real: Figures,
    pub health: Figures,
    pub abusive: Figures,
    pub idle_opened: usize,
}

/// Runs the scenario against `hooks` for `args.seconds`; `real` is the real POST.
pub async fn run(
    hooks: &Server,
    real: Request,
    health: Request,
    abusive_url: &str,
    args: &Args,
) -> anyhow::Result<Abuse> {
    let settings = torrow_hooks::Settings::with_overrides("")?;
    // Room for the loadgen's own `{"LoadgenSeq":N,` prefix under the limit.
    let worst =
        torrow_hooks::render::samples::crowded_event(settings.server.body_limit as usize - 64);
    let worst = Arc::new(worst);
    // To the log channel, so that the Wappi stand-in counts only the real POSTs.
    let abusive_request = Request::post(abusive_url.to_string(), &worst).any_answer();
    // The idle flood: connections that never send a byte, held for the whole scenario.
    let mut idle = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while idle.len() < args.idle && Instant::now() < deadline {
        match TcpStream::connect(&hooks.addr).await {
            Ok(s) => idle.push(s),
            Err(_) => break,
        }
    }
    let idle_opened = idle.len();
    let seconds = args.seconds;
    let (_, cpu_before) = hooks.usage();
    let abusers = tokio::spawn(closed_loop_with(
        "abuse: worst-case POSTs, 8 clients back to back",
        abusive_request,
        ABUSERS,
        seconds,
    ));
    let probes = tokio::spawn(fixed_rate_at(
        "abuse: GET /healthz at 20/s",
        health,
        PROBE_RATE,
        seconds,
    ));
    let real = fixed_rate_at(
        &format!("abuse: real POST → wappi at {REAL_RATE}/s"),
        real,
        REAL_RATE,
        seconds,
    )
    .await?;
    let health = probes.await??;
    let mut abusive = abusers.await??;
    // The server's CPU over the scenario, charged to the abusive requests (an upper bound).
    abusive.server_cpu = hooks.usage().1.saturating_sub(cpu_before);
    drop(idle);
    Ok(Abuse {
        real,
        health,
        abusive,
        idle_opened,
    })
}
