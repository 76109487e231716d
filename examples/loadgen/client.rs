//! The load client: closed loop (N connections, back to back) and fixed rate (open loop).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::{servers::Server, Args};

/// One scenario's figures.
pub struct Figures {
    pub name: String,
    pub ok: usize,
    pub errors: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    pub server_cpu: Duration,
}

impl Figures {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    pub fn percentile(&self, p: usize) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = (self.latencies_us.len() * p / 100).min(self.latencies_us.len() - 1);
        self.latencies_us[i] as f64 / 1000.0
    }
    pub fn cpu_per_request_us(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.ok.max(1) as f64
    }
}

#[derive(Clone)]
pub struct Request {
    pub url: String,
    /// None: GET; Some: POST this body, made unique per request (the service deduplicates).
    pub body: Option<Arc<Vec<u8>>>,
    /// Any answer counts (an abusive request may well be refused); else only Success does.
    pub any_answer: bool,
}

impl Request {
    pub fn get(url: String) -> Request {
        Request {
            url,
            body: None,
            any_answer: false,
        }
    }
    pub fn post(url: String, body: &Arc<Vec<u8>>) -> Request {
        Request {
            url,
            body: Some(body.clone()),
            any_answer: false,
        }
    }
    pub fn any_answer(self) -> Request {
        Request {
            any_answer: true,
            ..self
        }
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// An error and what caused it, as one line (reqwest's own message names only the URL).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(&format!(": {c}"));
        cause = c.source();
    }
    line
}

async fn send(client: &reqwest::Client, request: &Request) -> Result<(), String> {
    let response = match &request.body {
        None => client.get(&request.url).send().await,
        Some(body) => {
            // `{"LoadgenSeq":N,` + the event without its `{`: an unknown field the parser skips.
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let mut unique = format!("{{\"LoadgenSeq\":{n},").into_bytes();
            unique.extend_from_slice(&body[1..]);
            client
                .post(&request.url)
                .header("content-type", "application/json")
                .body(unique)
                .send()
                .await
        }
    }
    .map_err(|e| with_causes(&e))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| with_causes(&e))?;
    if request.any_answer
        || (status.is_success()
            && (request.body.is_none() || text.contains("\"Success\"") || text == "ok"))
    {
        Ok(())
    } else {
        Err(format!("HTTP {status}: {text}"))
    }
}

/// `concurrency` connections, each sending the next request as soon as the last one is answered.
pub async fn closed_loop(
    name: &str,
    server: &Server,
    request: Request,
    args: &Args,
    seconds: u64,
) -> anyhow::Result<Figures> {
    let (_, cpu_before) = server.usage();
    let mut figures = closed_loop_with(name, request, args.concurrency, seconds).await?;
    figures.server_cpu = server.usage().1.saturating_sub(cpu_before);
    Ok(figures)
}

/// [`closed_loop`] with `concurrency` connections, without measuring the server.
pub async fn closed_loop_with(
    name: &str,
    request: Request,
    concurrency: usize,
    seconds: u64,
) -> anyhow::Result<Figures> {
    let client = client(concurrency)?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, request) = (client.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut first_error) = (Vec::new(), 0, None);
            while Instant::now() < deadline {
                let t = Instant::now();
                match send(&client, &request).await {
                    Ok(()) => lat.push(t.elapsed().as_micros() as u64),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    collect(name, started, tasks).await
}

/// `rate` requests a second, each timed from when it was due (so a stall counts against every
/// request it delayed), for `seconds`.
pub async fn fixed_rate(
    name: &str,
    server: &Server,
    request: Request,
    args: &Args,
) -> anyhow::Result<Figures> {
    let (_, cpu_before) = server.usage();
    let mut figures = fixed_rate_at(name, request, args.rate, args.seconds).await?;
    figures.server_cpu = server.usage().1.saturating_sub(cpu_before);
    Ok(figures)
}

/// [`fixed_rate`] at `rate` a second for `seconds`, without measuring the server.
pub async fn fixed_rate_at(
    name: &str,
    request: Request,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Figures> {
    let client = client(256)?;
    let total = rate * seconds;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + period * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (client, request) = (client.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            match send(&client, &request).await {
                Ok(()) => (vec![due.elapsed().as_micros() as u64], 0, None),
                Err(e) => (Vec::new(), 1, Some(e)),
            }
        }));
    }
    collect(name, started, tasks).await
}

type Outcome = (Vec<u64>, usize, Option<String>);

async fn collect(
    name: &str,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<Outcome>>,
) -> anyhow::Result<Figures> {
    let mut figures = Figures {
        name: name.to_string(),
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
        server_cpu: Duration::ZERO,
    };
    let mut shown = None;
    for task in tasks {
        let (lat, errors, first_error) = task.await?;
        figures.ok += lat.len();
        figures.latencies_us.extend(lat);
        figures.errors += errors;
        if let (Some(e), None) = (first_error, &shown) {
            eprintln!("{name}: first error: {e}");
            shown = Some(());
        }
    }
    figures.elapsed = started.elapsed();
    figures.latencies_us.sort_unstable();
    Ok(figures)
}

fn client(connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()?)
}
