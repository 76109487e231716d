//! Test helpers: a service on port 0 with its own temp folder, HTTP helpers, fixtures, an SMTP
//! listener.

use std::{path::PathBuf, time::Duration};

use serde_json::Value;
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::mpsc,
};
use torrow_hooks::{
    store::{Record, State},
    Running, Settings,
};

pub use crate::common::{fixture, TOKEN};

pub fn templates_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// Copies the project's templates into `dir/templates` (for tests that edit them).
pub fn copy_templates(dir: &std::path::Path) -> PathBuf {
    let target = dir.join("templates");
    for locale in std::fs::read_dir(templates_dir()).unwrap() {
        let locale = locale.unwrap().path();
        let to = target.join(locale.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        for file in std::fs::read_dir(&locale).unwrap() {
            let file = file.unwrap().path();
            std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
        }
    }
    target
}

pub struct TestApp {
    pub running: Running,
    pub dir: TempDir,
    pub base: String,
    pub http: reqwest::Client,
}

/// Settings for a test: everything under `dir`, port 0, fast retries; `extra` TOML on top.
pub fn test_settings(dir: &std::path::Path, extra: &str) -> String {
    let d = dir.display();
    let templates = if extra.contains("[templates]") {
        String::new()
    } else {
        format!(
            "[templates]\ndir = \"{}\"\ncheck_interval = \"0s\"\n",
            templates_dir().display()
        )
    };
    format!(
        "{templates}
[server]
addr = \"127.0.0.1:0\"
language = \"en\"
[log_sink]
path = \"{d}/log-sink.jsonl\"
[mail]
dir = \"{d}/mail\"
from = \"torrow-hooks <hooks@example.com>\"
throttle = \"1h\"
allowed_addresses = [\"@example.com\", \"@b.ru\"]
[delivery]
database = \"{d}/hooks.sqlite\"
respond_within = \"5s\"
retry_schedule = [\"20ms\"]
jitter = 0.0
[wappi]
timeout = \"2s\"
{extra}"
    )
}

/// Merges two TOML texts section by section (the second wins).
fn merge(base: &str, extra: &str) -> String {
    let mut doc: toml::Table = toml::from_str(base).expect("base settings TOML");
    let more: toml::Table = toml::from_str(extra).expect("extra settings TOML");
    for (section, values) in more {
        match (doc.get_mut(&section), values) {
            (Some(toml::Value::Table(t)), toml::Value::Table(v)) => t.extend(v),
            (_, v) => {
                doc.insert(section, v);
            }
        }
    }
    toml::to_string(&doc).unwrap()
}

pub async fn spawn(extra: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn_in(dir, extra).await
}

tokio::task_local! {
    /// Set while a test runs on PostgreSQL ([`on_both_backends!`]); SQLite otherwise.
    static ON_POSTGRES: ();
}

/// Runs a test body with every service it spawns on a fresh PostgreSQL database.
pub async fn on_postgres<F: std::future::Future<Output = ()>>(test: F) {
    ON_POSTGRES.scope((), test).await
}

/// The PostgreSQL server of this test process: started on first use, stopped at exit.
pub fn shared_cluster() -> &'static crate::common::postgres::Cluster {
    static CLUSTER: std::sync::OnceLock<crate::common::postgres::Cluster> =
        std::sync::OnceLock::new();
    extern "C" fn stop_at_exit() {
        if let Some(cluster) = CLUSTER.get() {
            cluster.halt();
            let _ = std::fs::remove_dir_all(cluster.folder());
        }
    }
    CLUSTER.get_or_init(|| {
        let cluster = crate::common::postgres::Cluster::start();
        // SAFETY: registers a plain function with no arguments, run once at process exit.
        unsafe { libc::atexit(stop_at_exit) };
        cluster
    })
}

/// Each test (a plain `async fn`) twice: on SQLite, and on PostgreSQL (ignored, with the reason,
/// where the server binaries are not installed).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name().await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                #[cfg_attr(
                    not(postgres),
                    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
                )]
                async fn $name() {
                    crate::support::on_postgres(super::$name()).await
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

pub async fn spawn_in(dir: TempDir, extra: &str) -> TestApp {
    static LOGS: std::sync::Once = std::sync::Once::new();
    LOGS.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .init()
    });
    let base_settings = test_settings(dir.path(), "");
    let mut text = merge(&base_settings, extra);
    if ON_POSTGRES.try_with(|_| ()).is_ok() {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let url = shared_cluster().database(&name).await;
        text = merge(&text, &format!("[delivery]\ndatabase = \"{url}\"\n"));
    }
    let settings = Settings::with_overrides(&text).expect("test settings");
    let running = torrow_hooks::start(settings).await.expect("service starts");
    let base = format!("http://{}", running.addr);
    TestApp {
        running,
        dir,
        base,
        http: reqwest::Client::new(),
    }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.expect("a JSON answer"))
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.expect("a JSON answer"))
    }

    /// The JSON lines the log channel wrote.
    pub fn sink(&self) -> Vec<Value> {
        let path = self.dir.path().join("log-sink.jsonl");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// POSTs `body` to the log channel and returns the one text it wrote.
    pub async fn sent_text(&self, query: &str, body: &[u8]) -> String {
        let before = self.sink().len();
        let (code, answer) = self
            .post(&format!("/webhook/log?{query}"), body.to_vec())
            .await;
        assert_eq!(code, 200, "{answer}");
        let sink = self.sink();
        assert_eq!(sink.len(), before + 1);
        sink.last().unwrap()["text"].as_str().unwrap().to_string()
    }

    pub async fn record(&self, id: &str) -> Record {
        self.running
            .app
            .store
            .get(id)
            .await
            .unwrap()
            .expect("the delivery is stored")
    }

    /// Waits (bounded) until the delivery `id` satisfies `done`.
    pub async fn wait_for(&self, id: &str, done: impl Fn(&Record) -> bool) -> Record {
        let mut last = None;
        for _ in 0..500 {
            let r = self.record(id).await;
            if done(&r) {
                return r;
            }
            last = Some(r);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("delivery {id} never got there: {last:?}");
    }

    /// Waits (bounded) until some delivery is sent, whichever: for a POST whose answer never
    /// came back with its id. Returns the sent ones (at most 10).
    pub async fn wait_sent(&self) -> Vec<Record> {
        for _ in 0..500 {
            let store = &self.running.app.store;
            let sent = store.recent(Some(State::Sent), 10).await.unwrap();
            if !sent.is_empty() {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no delivery was sent");
    }

    /// Waits (bounded) until no failure report waits to be mailed.
    pub async fn wait_mail_queue_empty(&self) {
        for _ in 0..500 {
            let waiting = self.running.app.store.mail_addresses(100, 0).await.unwrap();
            if waiting.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("failure reports still wait to be mailed");
    }

    pub fn eml_files(&self) -> Vec<String> {
        let dir = self.dir.path().join("mail");
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "eml") {
                    out.push(std::fs::read_to_string(e.path()).unwrap());
                }
            }
        }
        out
    }
}

/// One email as an SMTP client sent it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The Subject header, unfolded, with its RFC 2047 words (`=?utf-8?b?…?=`) decoded.
    pub fn subject(&self) -> String {
        use base64::Engine;
        let mut lines = self.data.lines();
        let Some(first) = lines.find_map(|l| l.strip_prefix("Subject: ")) else {
            return String::new();
        };
        let mut raw = first.to_string();
        for more in lines.take_while(|l| l.starts_with(' ') || l.starts_with('\t')) {
            raw.push_str(more);
        }
        raw.split(' ')
            .map(|word| {
                let lower = word.to_ascii_lowercase();
                match lower
                    .strip_prefix("=?utf-8?b?")
                    .and_then(|w| w.strip_suffix("?="))
                {
                    Some(_) => {
                        let encoded = &word[10..word.len() - 2];
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(encoded)
                            .unwrap_or_default();
                        (String::from_utf8_lossy(&bytes).into_owned(), true)
                    }
                    None => (word.to_string(), false),
                }
            })
            .fold(
                (String::new(), false),
                |(mut out, last_encoded), (word, encoded)| {
                    // Adjacent encoded words join without the space between them (RFC 2047).
                    if !(out.is_empty() || last_encoded && encoded) {
                        out.push(' ');
                    }
                    out.push_str(&word);
                    (out, encoded)
                },
            )
            .0
    }
}

/// A minimal SMTP server on 127.0.0.1 that accepts every message and hands it to the test.
pub async fn smtp_listener() -> (String, mpsc::UnboundedReceiver<Mail>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test SMTP ready\r\n").await.ok();
                let mut to = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        to.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        write.write_all(b"354 go ahead\r\n").await.ok();
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(
                                l.strip_prefix('.')
                                    .filter(|_| l.starts_with(".."))
                                    .unwrap_or(&l),
                            );
                            data.push('\n');
                        }
                        let data = decode_quoted_printable(&data);
                        tx.send(Mail {
                            to: std::mem::take(&mut to),
                            data,
                        })
                        .ok();
                        b"250 OK queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.ok();
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    write.write_all(reply).await.ok();
                }
            });
        }
    });
    (format!("smtp://127.0.0.1:{port}"), rx)
}

/// An .eml file as a person reads it: line ends as `\n`, the body decoded.
pub fn readable_mail(eml: &str) -> String {
    decode_quoted_printable(&eml.replace("\r\n", "\n"))
}

/// Headers as sent, the body decoded when it is base64 or quoted-printable.
fn decode_quoted_printable(message: &str) -> String {
    let Some((head, body)) = message.split_once("\n\n") else {
        return message.to_string();
    };
    if head.contains("Content-Transfer-Encoding: base64") {
        use base64::Engine;
        let joined: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(joined)
            .expect("base64 body");
        return format!(
            "{head}\n\n{}",
            String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
        );
    }
    if !head.contains("Content-Transfer-Encoding: quoted-printable") {
        return message.to_string();
    }
    let mut bytes = Vec::new();
    let mut lines = body.split('\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.trim_end_matches('\r');
        let (line, soft) = match line.strip_suffix('=') {
            Some(l) => (l, true),
            None => (line, false),
        };
        let raw = line.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'=' && i + 2 < raw.len() {
                if let Ok(b) = u8::from_str_radix(&line[i + 1..i + 3], 16) {
                    bytes.push(b);
                    i += 3;
                    continue;
                }
            }
            bytes.push(raw[i]);
            i += 1;
        }
        if !soft && lines.peek().is_some() {
            bytes.push(b'\n');
        }
    }
    format!("{head}\n\n{}", String::from_utf8_lossy(&bytes))
}

/// The next email, or a panic after a generous bound.
pub async fn next_mail(rx: &mut mpsc::UnboundedReceiver<Mail>) -> Mail {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("an email arrives")
        .expect("the SMTP listener runs")
}
