//! Tests that run the built binary: the CLI (SPEC §8), a crash (SIGKILL) in the middle of
//! deliveries, and a log capture checked for secrets.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::json;
use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_torrow-hooks");
mod common;

use common::{
    fixture_path as fixture, mount_wappi_lookups, root, wappi_answering, wappi_taking, WappiSent,
    TOKEN,
};

/// The binary with every path inside `dir` and the given extra `HOOKS_*` variables.
fn command(dir: &Path, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("HOOKS_TEMPLATES__DIR", root().join("templates"))
        .env("HOOKS_SERVER__ADDR", "127.0.0.1:0")
        .env("HOOKS_SERVER__LANGUAGE", "en")
        .env("HOOKS_DELIVERY__DATABASE", dir.join("hooks.sqlite"))
        .env("HOOKS_LOG_SINK__PATH", dir.join("sink.jsonl"))
        .env("HOOKS_MAIL__DIR", dir.join("mail"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[test]
fn render_prints_the_message_and_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), &[])
        .args([
            "render",
            "--url",
            "https://hooks.example/webhook/log?message=Hi&hide_url=true",
            "--event",
        ])
        .arg(fixture("booking-one-resource.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Recipient: 79119998877\n"), "{text}");
    assert!(
        text.contains(
            "\nHi\n\nЗапись №180\nУслуга: Назначить встречу\nВремя: 08.05.2024 11:15 (Мск)\n"
        ),
        "{text}"
    );
    assert!(!text.contains("Ссылка"));
}

#[test]
fn bad_parameters_exit_2_and_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), &[])
        .args(["render", "--url", "/webhook/log?hide_url=maybe", "--event"])
        .arg(fixture("booking-one-resource.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["Status"], "Wrong parameters");

    let out = command(dir.path(), &[])
        .args(["render", "--url", "/webhook/log?message=x", "--event"])
        .arg(fixture("invalid-phone.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    let out = command(dir.path(), &[])
        .args(["check", "--url", "/webhook/log?errorEmail=a%40b.ru"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        answer["Message"],
        "The WebHook has been successfully verified"
    );

    let out = command(dir.path(), &[])
        .args(["check", "--url", "/webhook/log?timezone=Nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_and_render_need_the_whole_hook_url_or_a_channel() {
    let dir = tempfile::tempdir().unwrap();
    // A bare query is not checked against a guessed channel.
    let out = command(dir.path(), &[])
        .args(["check", "--url", "cascadeId=c0ffee&apiToken=abc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--url needs the whole hook URL") && err.contains("--channel"),
        "{err}"
    );
    // With --channel it is.
    let out = command(dir.path(), &[])
        .args(["check", "--channel", "log", "--url", "errorEmail=a%40b.ru"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The URL and --channel must agree.
    let out = command(dir.path(), &[])
        .args(["check", "--channel", "wappi", "--url", "/webhook/log?x=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // --url is explained in --help.
    let out = command(dir.path(), &[])
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("/webhook/<channel>?<parameters>"), "{help}");
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), &[("HOOKS_DELIVERY__MAX_AGE", "soon".into())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("delivery.max_age"), "{err}");
    assert!(err.contains("HOOKS_DELIVERY__MAX_AGE"), "{err}");

    // A misspelt key in the settings file: the file, the key, a hint, clean quotes.
    let file = dir.path().join("Settings.toml");
    std::fs::write(&file, "[server]\nadr = \"0.0.0.0:8080\"\n").unwrap();
    let out = command(dir.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("server.adr (in {})", file.display())),
        "{err}"
    );
    assert!(err.contains("did you mean \"addr\"?"), "{err}");
    assert!(!err.contains('`'), "{err}");
    assert!(err.contains("--config"), "{err}");
    std::fs::remove_file(&file).unwrap();

    // A templates folder that is not there: where it was looked for, and what to do.
    let out = command(dir.path(), &[("HOOKS_TEMPLATES__DIR", "templates".into())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"templates\" cannot be read") && err.contains("working directory"),
        "{err}"
    );
    assert!(err.contains("templates.dir"), "{err}");
}

/// A running service: its address, and everything it printed.
struct Service {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
    /// The threads copying stdout and stderr into `output`; they end with the process's pipes.
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// A thread that appends each line of `pipe` to `sink` until the pipe closes.
fn copy_lines(
    pipe: impl BufRead + Send + 'static,
    sink: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in pipe.lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    })
}

impl Service {
    fn start(dir: &Path, env: &[(&str, String)]) -> Service {
        let mut child = command(dir, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut readers = vec![copy_lines(stderr, output.clone())];
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        readers.push(copy_lines(stdout, output.clone()));
        let base = first
            .trim()
            .strip_prefix("torrow-hooks listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {first:?}: {}",
                    output.lock().unwrap()
                )
            })
            .to_string();
        Service {
            child,
            base,
            output,
            readers,
        }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    /// SIGKILL, then everything the process printed, its pipes read to their end.
    fn kill_and_output(&mut self) -> String {
        self.kill();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.output.lock().unwrap().clone()
    }

    /// SIGTERM, as `systemctl stop` and `docker stop` send; waits for the exit.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The service pointed at `wappi`, answering within 1 s, retrying every `retry`.
fn wappi_env(wappi: &MockServer, retry: &str) -> Vec<(&'static str, String)> {
    vec![
        ("HOOKS_WAPPI__BASE_URL", wappi.uri()),
        ("HOOKS_DELIVERY__RESPOND_WITHIN", "1s".to_string()),
        ("HOOKS_DELIVERY__RETRY_SCHEDULE", format!("[\"{retry}\"]")),
    ]
}

/// POSTs the fixture booking to `base`'s Wappi hook once per message (`message=<m>`); each must be
/// answered 202 (accepted, first attempt not done).
async fn post_accepted(base: &str, messages: impl IntoIterator<Item = String>) {
    let body = std::fs::read(fixture("booking-one-resource.json")).unwrap();
    let http = reqwest::Client::new();
    for message in messages {
        let r = http
            .post(format!(
                "{base}/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&message={message}"
            ))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    }
}

async fn sqlite_states(db: &Path) -> Vec<String> {
    let url = format!("sqlite://{}?mode=ro", db.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as("SELECT state FROM deliveries")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.into_iter().map(|r| r.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_service_loses_nothing_and_sends_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let failing = wappi_answering(ResponseTemplate::new(503)).await;
    let env = |wappi: &MockServer| wappi_env(wappi, "200ms");
    let mut service = Service::start(dir.path(), &env(&failing));
    post_accepted(&service.base, (0..50).map(|n| format!("event{n}"))).await;
    service.kill();

    // A delivery found mid-send after the kill is looked for before it is sent again.
    let (healthy, _) = wappi_taking().await;
    let mut service = Service::start(dir.path(), &env(&healthy));
    let db = dir.path().join("hooks.sqlite");
    let mut states = Vec::new();
    for _ in 0..1000 {
        states = sqlite_states(&db).await;
        if states.iter().all(|s| s == "sent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(states.len(), 50);
    assert!(states.iter().all(|s| s == "sent"), "{states:?}");
    service.kill();
    let mut messages: Vec<String> = healthy
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method == wiremock::http::Method::POST)
        .map(|r| {
            r.body_json::<serde_json::Value>().unwrap()["body"]
                .as_str()
                .unwrap()
                .lines()
                .find(|l| !is_greeting(l))
                .unwrap()
                .to_string()
        })
        .collect();
    messages.sort();
    let mut expected: Vec<String> = (0..50).map(|n| format!("event{n}")).collect();
    expected.sort();
    assert_eq!(messages, expected, "each event sent exactly once");
}

/// Killed while Wappi had taken sends it had not answered yet: after the restart those are
/// found in Wappi's chat listing and not sent again; every message reaches the client once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_mid_send_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let wappi = MockServer::start().await;
    let took = WappiSent::default();
    let slow = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (ledger, slowly) = (took.clone(), slow.clone());
    Mock::given(method("POST"))
        .respond_with(move |request: &wiremock::Request| {
            ledger.record(request);
            let answer = ResponseTemplate::new(200).set_body_json(json!({"status": "done"}));
            if slowly.load(std::sync::atomic::Ordering::SeqCst) {
                answer.set_delay(Duration::from_secs(20))
            } else {
                answer
            }
        })
        .mount(&wappi)
        .await;
    mount_wappi_lookups(&wappi, took.clone()).await;
    let mut env = wappi_env(&wappi, "100ms");
    env.push(("HOOKS_DELIVERY__RESPOND_WITHIN", "50ms".to_string()));
    let mut service = Service::start(dir.path(), &env);
    post_accepted(&service.base, (0..30).map(|n| format!("event{n}"))).await;
    // Wappi has taken the first sends and answers none of them: kill the service now.
    for _ in 0..500 {
        if took.texts().len() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(took.texts().len() >= 10, "Wappi never took the sends");
    service.kill();
    slow.store(false, std::sync::atomic::Ordering::SeqCst);

    let mut service = Service::start(dir.path(), &env);
    let db = dir.path().join("hooks.sqlite");
    let mut states = Vec::new();
    for _ in 0..1000 {
        states = sqlite_states(&db).await;
        if states.iter().all(|s| s == "sent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(states.iter().all(|s| s == "sent"), "{states:?}");
    service.kill();
    let mut messages: Vec<String> = took
        .texts()
        .iter()
        .map(|text| text.lines().find(|l| !is_greeting(l)).unwrap().to_string())
        .collect();
    messages.sort();
    let mut expected: Vec<String> = (0..30).map(|n| format!("event{n}")).collect();
    expected.sort();
    assert_eq!(messages, expected, "each message reached the client once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_token_and_no_full_phone() {
    let dir = tempfile::tempdir().unwrap();
    let wappi = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!("bad token {TOKEN}")))
        .mount(&wappi)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "done"})))
        .up_to_n_times(1)
        .mount(&wappi)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_string(format!("token {TOKEN} refused")))
        .mount(&wappi)
        .await;
    let mut service = Service::start(
        dir.path(),
        &[
            ("HOOKS_WAPPI__BASE_URL", wappi.uri()),
            ("HOOKS_LOG__FORMAT", "json".to_string()),
            ("HOOKS_LOG__LEVEL", "debug".to_string()),
        ],
    );
    let body = std::fs::read(fixture("booking-one-resource.json")).unwrap();
    let http = reqwest::Client::new();
    let mut answers = String::new();
    let hook = format!(
        "cascadeId=c0ffee&apiToken={TOKEN}&errorEmail=op%40example.com&hide_contact_info=false"
    );
    let requests = [
        http.get(format!("{}/webhook/wappi?{hook}", service.base)),
        http.post(format!("{}/webhook/wappi?{hook}", service.base))
            .body(body.clone()),
        http.post(format!(
            "{}/webhook/wappi?{hook}&message=again",
            service.base
        ))
        .body(body.clone()),
        http.post(format!("{}/preview/wappi?{hook}", service.base))
            .body(body.clone()),
        http.post(format!(
            "{}/webhook/log?{hook}&phone=89119998877&message=x",
            service.base
        ))
        .body(body.clone()),
        http.get(format!("{}/webhook/wappi?apiToken={TOKEN}!", service.base)),
    ];
    for request in requests {
        answers.push_str(&request.send().await.unwrap().text().await.unwrap());
    }
    let logs = service.kill_and_output();
    assert!(
        logs.contains("\"delivery_id\""),
        "the JSON logs were captured: {logs}"
    );
    for (name, text) in [("logs", &logs), ("answers", &answers)] {
        assert!(!text.contains(TOKEN), "token in {name}: {text}");
        assert!(!text.contains(&TOKEN[..20]), "token part in {name}");
        assert!(!text.contains("79119998877"), "phone in {name}: {text}");
    }
    // The preview answer is the message itself (contact info was asked for); the logs never hold it.
    assert!(
        !logs.contains("999-88-77"),
        "contact phone in the logs: {logs}"
    );
    let mails: String = std::fs::read_dir(dir.path().join("mail"))
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    assert!(!mails.contains(TOKEN));
}

/// A JSON log line written within a request carries that request's span once, as `span`: spans
/// never nest here, so a list of them would only repeat it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_log_line_carries_its_request_span_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start(dir.path(), &[("HOOKS_LOG__FORMAT", "json".to_string())]);
    let body = std::fs::read(fixture("booking-one-resource.json")).unwrap();
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/webhook/log?phone=89119998877&message=x",
            service.base
        ))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let logs = service.kill_and_output();
    let attempt: serde_json::Value = logs
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .find(|line: &serde_json::Value| line["fields"]["message"] == "delivery attempt")
        .unwrap_or_else(|| panic!("no attempt logged: {logs}"));
    assert_eq!(attempt["span"]["name"], "request", "{attempt}");
    assert_eq!(attempt["span"]["channel"], "log", "{attempt}");
    assert!(
        attempt.get("spans").is_none(),
        "the span repeated: {attempt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sends_a_failed_delivery_again() {
    let dir = tempfile::tempdir().unwrap();
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .mount(&wappi)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "done"})))
        .expect(1)
        .mount(&wappi)
        .await;
    let env = vec![
        ("HOOKS_WAPPI__BASE_URL", wappi.uri()),
        ("HOOKS_DELIVERY__POLL_INTERVAL", "50ms".to_string()),
    ];
    let _service = Service::start(dir.path(), &env);
    let body = std::fs::read(fixture("booking-one-resource.json")).unwrap();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "{}/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}",
            _service.base
        ))
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["Status"], "Error", "{answer}");
    let id = answer["DeliveryId"].as_str().unwrap().to_string();

    // Find it: the list, then the delivery itself.
    let run = |args: &[&str]| {
        let out = command(dir.path(), &env).args(args).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
        (out.status.code(), text)
    };
    let (code, list) = run(&["deliveries", "--state", "failed"]);
    assert_eq!(code, Some(0), "{list}");
    let line = list.lines().find(|l| l.contains(&id)).expect("listed");
    assert!(
        line.contains("failed") && line.contains("7911*****77") && line.contains("№180"),
        "{line}"
    );
    assert!(!list.contains(TOKEN));
    let (code, none) = run(&["deliveries", "--state", "sent"]);
    assert_eq!((code, none.trim()), (Some(0), "No deliveries."));
    let (code, refused) = run(&["deliveries", "--state", "lost"]);
    assert_eq!(code, Some(2), "{refused}");
    assert!(refused.contains("pending, sending, sent, failed or dead"));
    let (code, shown) = run(&["show", &id]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("State      failed after 1 attempt(s)"),
        "{shown}"
    );
    assert!(shown.contains("    1  "), "the attempt is listed: {shown}");
    assert!(shown.contains("HTTP 401"), "{shown}");
    assert!(
        shown.contains(&format!("Send again: torrow-hooks replay {id}")),
        "{shown}"
    );
    assert!(shown.contains("  Запись №180"), "{shown}");
    assert!(
        !shown.contains(TOKEN) && !shown.contains("79119998877"),
        "{shown}"
    );
    let (code, unknown) = run(&["show", "no-such-id"]);
    assert_eq!(code, Some(1));
    assert!(unknown.contains("no delivery"), "{unknown}");

    let (code, replayed) = run(&["replay", &id]);
    assert_eq!(code, Some(0), "{replayed}");
    assert!(
        replayed.contains(&format!("{id}: queued to be sent again")),
        "{replayed}"
    );

    let db = dir.path().join("hooks.sqlite");
    for _ in 0..500 {
        if sqlite_states(&db).await == ["sent"] {
            let (code, again) = run(&["replay", &id]);
            assert_eq!(code, Some(1), "{again}");
            assert!(again.contains("is sent"), "{again}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the replayed delivery was not sent: {:?}\n{}",
        sqlite_states(&db).await,
        _service.output.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_the_pending_delivery_is_sent_once_later() {
    let dir = tempfile::tempdir().unwrap();
    let failing = wappi_answering(ResponseTemplate::new(503)).await;
    let env = |wappi: &MockServer| wappi_env(wappi, "100ms");
    let mut service = Service::start(dir.path(), &env(&failing));
    let body = std::fs::read(fixture("booking-one-resource.json")).unwrap();
    let url =
        |base: &str| format!("{base}/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&message=once");
    let r = reqwest::Client::new()
        .post(url(&service.base))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    let status = service.terminate();
    assert_eq!(status.code(), Some(0), "{}", service.output.lock().unwrap());
    assert!(
        service.output.lock().unwrap().contains("stopped"),
        "{}",
        service.output.lock().unwrap()
    );
    let states = sqlite_states(&dir.path().join("hooks.sqlite")).await;
    assert_eq!(states.len(), 1);
    assert_ne!(states[0], "sent", "{states:?}");

    let healthy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "done"})))
        .expect(1)
        .mount(&healthy)
        .await;
    let mut service = Service::start(dir.path(), &env(&healthy));
    let db = dir.path().join("hooks.sqlite");
    let mut states = Vec::new();
    for _ in 0..1000 {
        states = sqlite_states(&db).await;
        if states == ["sent"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(states, ["sent"]);
    let status = service.terminate();
    assert_eq!(status.code(), Some(0));
    healthy.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pretty_logs_into_a_pipe_have_no_colours_and_5xx_answers_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let wappi = wappi_answering(ResponseTemplate::new(400)).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&wappi)
        .await;
    let mut service = Service::start(
        dir.path(),
        &[
            ("HOOKS_WAPPI__BASE_URL", wappi.uri()),
            ("HOOKS_LOG__FORMAT", "pretty".to_string()),
        ],
    );
    let http = reqwest::Client::new();
    let refused = http
        .get(format!(
            "{}/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}",
            service.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);
    let fine = http
        .get(format!("{}/webhook/log?errorEmail=a%40b.ru", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
    let logs = service.kill_and_output();
    assert!(!logs.contains('\u{1b}'), "colour codes in a pipe: {logs:?}");
    let answered: Vec<&str> = logs.lines().filter(|l| l.contains("answered")).collect();
    assert_eq!(answered.len(), 2, "{logs}");
    assert!(
        answered
            .iter()
            .any(|l| l.contains("WARN") && l.contains("http=502")),
        "{logs}"
    );
    assert!(
        answered
            .iter()
            .any(|l| l.contains("INFO") && l.contains("http=200")),
        "{logs}"
    );
}

#[test]
fn the_cli_speaks_the_configured_language() {
    let dir = tempfile::tempdir().unwrap();
    let ru = [("HOOKS_SERVER__LANGUAGE", "ru".to_string())];
    let out = command(dir.path(), &ru)
        .args(["check", "--channel", "log", "--url", "hide_url=maybe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["Status"], "Wrong parameters");
    assert_eq!(
        answer["ErrorMessage"],
        "Параметр <hide_url> должен быть true или false, а не <maybe>"
    );
    let out = command(dir.path(), &ru)
        .args(["deliveries"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Доставок нет.");
    let out = command(dir.path(), &ru)
        .args(["show", "nope"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("нет доставки \"nope\""), "{err}");
    let out = command(dir.path(), &ru)
        .args(["check", "--url", "hide_url=true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--url — это вся ссылка хука"), "{err}");
}

#[test]
fn the_command_lines_help_and_errors_speak_the_configured_language() {
    let dir = tempfile::tempdir().unwrap();
    let ru = [("HOOKS_SERVER__LANGUAGE", "ru".to_string())];
    let out = command(dir.path(), &ru).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for words in [
        "Использование: torrow-hooks [ПАРАМЕТРЫ] [КОМАНДА]",
        "Команды:",
        "Параметры:",
        "Последние доставки, новые сверху",
        "Показать справку",
    ] {
        assert!(help.contains(words), "{words}: {help}");
    }
    for english in ["Usage", "Commands", "Options", "Print help", "List recent"] {
        assert!(!help.contains(english), "{english}: {help}");
    }
    let out = command(dir.path(), &ru)
        .args(["render", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--url <ССЫЛКА>") && help.contains("Событие Torrow (файл JSON)"),
        "{help}"
    );
    let out = command(dir.path(), &ru)
        .args(["deliveries", "--colour"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("неизвестный аргумент --colour") && err.contains("Подробнее: --help."),
        "{err}"
    );
    let en = [("HOOKS_SERVER__LANGUAGE", "en".to_string())];
    let out = command(dir.path(), &en).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("List recent deliveries") && help.contains("Usage:"),
        "{help}"
    );
    // A bad settings file is explained in the operator's language too.
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[server]\nlanguage = \"ru\"\nmax_params = 0\n").unwrap();
    let out = command(dir.path(), &[])
        .env_remove("HOOKS_SERVER__LANGUAGE")
        .args(["--config", file.to_str().unwrap(), "deliveries"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("неверные настройки: server.max_params: должно быть не меньше 1"),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    not(systemd_analyze),
    ignore = "systemd-analyze is not installed (Debian's systemd package)"
)]
fn the_shipped_systemd_unit_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(root().join("deploy/torrow-hooks.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/torrow-hooks "));
    // The unit names the installed binary; verify it against the one just built.
    let file = dir.path().join("torrow-hooks.service");
    std::fs::write(&file, unit.replace("/usr/local/bin/torrow-hooks", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("torrow-hooks.service"), "{said}");
}

/// `state` of every delivery in a PostgreSQL outbox, with its first text line.
async fn pg_states(url: &str) -> Vec<(String, String)> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT state, text FROM deliveries")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.into_iter()
        .map(|(state, text)| {
            let line = text.lines().find(|l| !is_greeting(l)).unwrap_or("");
            (state, line.to_string())
        })
        .collect()
}

/// The first line of each message a Wappi stand-in's mock accepted.
/// The shipped message greets the client first («Здравствуйте, …!»); the tests look at the
/// message after it.
fn is_greeting(line: &str) -> bool {
    line.starts_with("Здравствуйте, ")
}

/// The first line of each message after the greeting (of the sends; look-ups are passed over).
fn first_lines(requests: &[wiremock::Request]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.method == wiremock::http::Method::POST)
        .map(|r| {
            r.body_json::<serde_json::Value>().unwrap()["body"]
                .as_str()
                .unwrap()
                .lines()
                .find(|l| !is_greeting(l))
                .unwrap()
                .to_string()
        })
        .collect()
}

/// A Wappi stand-in that fails (503) until healed, then accepts and records each message; its
/// look-ups list what it accepted ([`Healable::mount`]).
#[derive(Clone)]
struct Healable {
    healed: Arc<std::sync::atomic::AtomicBool>,
    sent: Arc<Mutex<Vec<String>>>,
    ledger: WappiSent,
}

impl Healable {
    fn new() -> Healable {
        Healable {
            healed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            sent: Arc::new(Mutex::new(Vec::new())),
            ledger: WappiSent::default(),
        }
    }

    /// Answers the sends on `wappi`, and the look-ups made before a send found mid-send after a
    /// kill is sent again.
    async fn mount(&self, wappi: &MockServer) {
        Mock::given(method("POST"))
            .respond_with(self.clone())
            .mount(wappi)
            .await;
        mount_wappi_lookups(wappi, self.ledger.clone()).await;
    }
}

impl wiremock::Respond for Healable {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        if !self.healed.load(std::sync::atomic::Ordering::SeqCst) {
            return ResponseTemplate::new(503);
        }
        self.ledger.record(request);
        self.sent
            .lock()
            .unwrap()
            .extend(first_lines(std::slice::from_ref(request)));
        ResponseTemplate::new(200).set_body_json(json!({"status": "done"}))
    }
}

fn postgres_env(wappi: &MockServer, url: &str) -> Vec<(&'static str, String)> {
    let mut env = wappi_env(wappi, "100ms");
    env.extend([
        ("HOOKS_DELIVERY__DATABASE", url.to_string()),
        ("HOOKS_DELIVERY__LEASE", "3s".to_string()),
        ("HOOKS_DELIVERY__POLL_INTERVAL", "100ms".to_string()),
        // The lease must exceed twice every channel's longest attempt.
        ("HOOKS_WAPPI__TIMEOUT", "500ms".to_string()),
        ("HOOKS_TELEGRAM__TIMEOUT", "1s".to_string()),
        ("HOOKS_WAZZUP24__TIMEOUT", "1s".to_string()),
        ("HOOKS_GREEN_API__TIMEOUT", "300ms".to_string()),
        ("HOOKS_VK__TIMEOUT", "1s".to_string()),
        ("HOOKS_GREEN_API__REPEAT_AFTER", "100ms".to_string()),
    ]);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn three_instances_on_one_postgres_send_each_event_once() {
    let cluster = common::postgres::Cluster::start();
    let url = cluster.database("shared").await;
    // Answers 503 until healed, then 200 and keeps what it accepted.
    let wappi = MockServer::start().await;
    let provider = Healable::new();
    provider.mount(&wappi).await;
    let (healed, sent) = (provider.healed.clone(), provider.sent.clone());
    let env = postgres_env(&wappi, &url);
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut services: Vec<Service> = dirs
        .iter()
        .map(|d| Service::start(d.path(), &env))
        .collect();
    let body = std::fs::read(fixture("booking-one-resource.json")).unwrap();
    let http = reqwest::Client::new();
    let hook = |base: &str, message: &str| {
        format!("{base}/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&message={message}")
    };
    for n in 0..150 {
        let base = &services[n % 3].base;
        let r = http
            .post(hook(base, &format!("event{n}")))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    }
    // The same POST to two instances: one delivery, both answer its id.
    let mut twin_ids = Vec::new();
    for service in &services[..2] {
        let answer: serde_json::Value = http
            .post(hook(&service.base, "twin"))
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        twin_ids.push(answer["DeliveryId"].as_str().unwrap().to_string());
    }
    assert_eq!(twin_ids[0], twin_ids[1]);

    // One instance dies mid-retries; what it held is taken over after its lease.
    services[2].kill();
    let in_flight = pg_states(&url)
        .await
        .iter()
        .filter(|(state, _)| state == "sending")
        .count();
    healed.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut states = Vec::new();
    for _ in 0..1500 {
        states = pg_states(&url).await;
        if states.iter().all(|(s, _)| s == "sent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(states.len(), 151);
    assert!(states.iter().all(|(s, _)| s == "sent"), "{states:?}");
    let sent = sent.lock().unwrap().clone();
    let mut expected: Vec<String> = (0..150).map(|n| format!("event{n}")).collect();
    expected.push("twin".to_string());
    for event in &expected {
        assert!(sent.contains(event), "{event} was never sent");
    }
    let twice = sent.len() - expected.len();
    assert!(
        twice <= in_flight,
        "{twice} sent twice, {in_flight} were mid-send at the kill"
    );
    for service in services.iter_mut().take(2) {
        service.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn a_database_restart_loses_nothing_accepted() {
    let cluster = common::postgres::Cluster::start();
    let url = cluster.database("hooks").await;
    let (wappi, _) = wappi_taking().await;
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start(dir.path(), &postgres_env(&wappi, &url));
    let body = std::fs::read(fixture("booking-one-resource.json")).unwrap();
    let http = reqwest::Client::new();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for n in 0..40 {
        if n == 15 {
            cluster.stop();
        }
        if n == 20 {
            cluster.restart();
        }
        let r = http
            .post(format!(
                "{}/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&message=load{n}",
                service.base
            ))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 | 202 => accepted.push(format!("load{n}")),
            503 => {
                let answer: serde_json::Value = r.json().await.unwrap();
                assert_eq!(answer["Status"], "Error");
                assert!(
                    answer["ErrorMessage"]
                        .as_str()
                        .unwrap()
                        .contains("could not be stored"),
                    "{answer}"
                );
                refused += 1;
            }
            other => panic!("load{n}: HTTP {other}: {}", r.text().await.unwrap()),
        }
    }
    assert!(
        refused >= 4,
        "POSTs while the database was down: {refused} refused"
    );
    assert!(
        accepted.contains(&"load39".to_string()),
        "the service recovered without a restart"
    );
    let mut states = Vec::new();
    for _ in 0..1500 {
        states = pg_states(&url).await;
        if states.len() == accepted.len() && states.iter().all(|(s, _)| s == "sent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(states.iter().all(|(s, _)| s == "sent"), "{states:?}");
    let stored: Vec<&String> = states.iter().map(|(_, first)| first).collect();
    let sent = first_lines(&wappi.received_requests().await.unwrap());
    for event in &accepted {
        assert!(
            stored.contains(&event),
            "{event} was accepted but is not stored"
        );
        assert!(sent.contains(event), "{event} was accepted but never sent");
    }
    service.kill();
}

/// A cleanup script removes the SQLite outbox while POSTs keep arriving: POSTs are refused (503,
/// never 202 into a file that is gone) until the service has written the open database back to
/// its path, then taken again; a routine restart after that loses nothing: every POST answered
/// 202, before or after the removal, is sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_outbox_is_written_back_and_a_restart_loses_nothing_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let wappi = MockServer::start().await;
    let provider = Healable::new();
    provider.mount(&wappi).await;
    let mut env = wappi_env(&wappi, "100ms");
    env.push(("HOOKS_DELIVERY__POLL_INTERVAL", "100ms".to_string()));
    env.push(("HOOKS_DELIVERY__RESPOND_WITHIN", "50ms".to_string()));
    let mut service = Service::start(dir.path(), &env);
    let body = std::fs::read(fixture("booking-one-resource.json")).unwrap();
    let http = reqwest::Client::new();
    let removed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Four clients post without pause; the file goes away while they do.
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (http, body, base) = (http.clone(), body.clone(), service.base.clone());
            let (removed, answered) = (removed.clone(), answered.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut after_removal = 0;
                for n in 0.. {
                    let message = format!("c{c}n{n}");
                    let sent_after_removal = removed.load(std::sync::atomic::Ordering::SeqCst);
                    let r = http
                        .post(format!(
                            "{base}/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&message={message}"
                        ))
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    let code = r.status().as_u16();
                    let text = r.text().await.unwrap();
                    answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    answers.push((message, code, text));
                    if sent_after_removal {
                        after_removal += 1;
                        if after_removal >= 20 {
                            break;
                        }
                    }
                }
                answers
            })
        })
        .collect();
    // Under load: some POSTs are answered before the file goes.
    for _ in 0..1000 {
        if answered.load(std::sync::atomic::Ordering::SeqCst) >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let db = dir.path().join("hooks.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    removed.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut answers = Vec::new();
    for client in clients {
        answers.extend(client.await.unwrap());
    }
    for (message, code, text) in &answers {
        assert!(*code == 202 || *code == 503, "{message}: {code} {text}");
        if *code == 503 {
            assert!(text.contains("could not be stored"), "{text}");
        }
    }
    // Written back by itself: ready again, and the file is at its path.
    let mut ready = false;
    for _ in 0..500 {
        let r = http.get(format!("{}/readyz", service.base)).send().await;
        if r.is_ok_and(|r| r.status().as_u16() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready, "{}", service.output.lock().unwrap());
    assert!(db.exists());
    let r = http
        .post(format!(
            "{}/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&message=after",
            service.base
        ))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    answers.push(("after".to_string(), 202, String::new()));
    let accepted: Vec<String> = answers
        .iter()
        .filter(|(_, code, _)| *code == 202)
        .map(|(m, ..)| m.clone())
        .collect();
    assert!(accepted.len() >= 5, "{answers:?}");
    // A routine restart (systemctl restart): a clean stop, then a start on the written file.
    assert!(service.terminate().success());
    let output = service.output.lock().unwrap().clone();
    assert!(output.contains("written back"), "{output}");
    provider
        .healed
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let service = Service::start(dir.path(), &env);
    let mut sent = Vec::new();
    for _ in 0..1000 {
        sent = provider.sent.lock().unwrap().clone();
        if sent.len() >= accepted.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sent.sort();
    let mut expected = accepted.clone();
    expected.sort();
    assert_eq!(sent, expected, "each accepted POST sent exactly once");
    drop(service);
}

/// The outbox file cut to nothing while the service was stopped: the next start refuses, says
/// what happened and how to go on; `new-outbox` lets it start anew on purpose.
#[test]
fn a_start_on_a_truncated_outbox_refuses_and_new_outbox_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start(dir.path(), &[]);
    assert!(service.terminate().success());
    let db = dir.path().join("hooks.sqlite");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(0)
        .unwrap();
    let out = command(dir.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("is empty"), "{said}");
    assert!(said.contains("torrow-hooks new-outbox"), "{said}");
    // Nothing was made in its place.
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);

    let out = command(dir.path(), &[]).arg("new-outbox").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("is kept as"), "{said}");
    let mut service = Service::start(dir.path(), &[]);
    assert!(service.terminate().success());
}

/// The outbox's folder removed and a file put in its place: the open outbox cannot be written
/// back, so the stop says how many accepted deliveries it loses and exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_would_lose_accepted_deliveries_says_so_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let failing = wappi_answering(ResponseTemplate::new(503)).await;
    let folder = dir.path().join("outbox");
    let mut env = wappi_env(&failing, "1h");
    env.push((
        "HOOKS_DELIVERY__DATABASE",
        folder.join("hooks.sqlite").display().to_string(),
    ));
    let mut service = Service::start(dir.path(), &env);
    post_accepted(&service.base, (0..3).map(|n| format!("m{n}"))).await;
    std::fs::remove_dir_all(&folder).unwrap();
    std::fs::write(&folder, b"not a folder").unwrap();
    let status = service.terminate();
    assert_eq!(status.code(), Some(1));
    let output = service.output.lock().unwrap().clone();
    assert!(output.contains("ERROR"), "{output}");
    assert!(
        output.contains("3 deliveries accepted before are lost"),
        "{output}"
    );
}

/// A full disk refuses every POST, each with a warning of the same kind: the log has the first of
/// each kind, then one line with the count (here every second), not one line per POST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(root),
    ignore = "mounting a small tmpfs needs root (CI runs as root)"
)]
async fn a_full_disk_does_not_flood_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let disk = common::SmallDisk::mount(16);
    let env = [
        (
            "HOOKS_DELIVERY__DATABASE",
            disk.path().join("hooks.sqlite").display().to_string(),
        ),
        ("HOOKS_DELIVERY__MIN_FREE_BYTES", "0".to_string()),
        ("HOOKS_LOG__REPEATS_EVERY", "1s".to_string()),
    ];
    let mut service = Service::start(dir.path(), &env);
    let _filler = disk.fill();
    let body = std::fs::read(fixture("booking-one-resource.json")).unwrap();
    let http = reqwest::Client::new();
    let mut refused = 0;
    for n in 0..3000 {
        let r = http
            .post(format!("{}/webhook/log?message=m{n}", service.base))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 503 {
            refused += 1;
            if refused == 300 {
                break;
            }
        }
    }
    assert_eq!(refused, 300, "the full disk refused POSTs");
    let mut counted = false;
    for _ in 0..500 {
        if service.output.lock().unwrap().contains("written once") {
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let output = service.kill_and_output();
    assert!(counted, "{output}");
    let loud: Vec<&str> = output
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    assert!(
        loud.len() < 40,
        "{} warning and error lines for 300 refusals:\n{}",
        loud.len(),
        loud.join("\n")
    );
}

#[test]
fn templates_check_names_file_line_and_column_and_export_writes_the_live_versions() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("mine");
    for locale in ["ru-RU", "en-US"] {
        let to = folder.join(locale);
        std::fs::create_dir_all(&to).unwrap();
        for file in std::fs::read_dir(root().join("templates").join(locale)).unwrap() {
            let file = file.unwrap().path();
            std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
        }
    }
    // A good folder passes.
    let out = command(dir.path(), &[])
        .args(["templates", "check"])
        .arg(&folder)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A broken reminder and a runaway loop: exit 1, each with file:line:column.
    std::fs::write(
        folder.join("ru-RU/reminder.txt.tera"),
        "Привет\n  {{ order_number }\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("en-US/loops.txt.tera"),
        "{% for i in range(end=500) %}{% for j in range(end=500) %}{% endfor %}{% endfor %}",
    )
    .unwrap();
    let out = command(dir.path(), &[])
        .args(["templates", "check"])
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let errors = String::from_utf8_lossy(&out.stderr);
    let reminder = folder.join("ru-RU/reminder.txt.tera").display().to_string();
    assert!(errors.contains(&format!("{reminder}:2:")), "{errors}");
    assert!(
        errors.contains("loops.txt.tera:1:") && errors.contains("render budget"),
        "{errors}"
    );

    // Export and list read the service's outbox: a service has run here first.
    let out = command(dir.path(), &[])
        .args([
            "check",
            "--url",
            "http://hooks.example/webhook/log?errorEmail=a%40b.ru",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = command(dir.path(), &[])
        .args(["templates", "export"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported = std::fs::read_to_string(dir.path().join("out/ru-RU/staff.txt.tera")).unwrap();
    assert_eq!(
        exported,
        std::fs::read_to_string(root().join("templates/ru-RU/staff.txt.tera")).unwrap()
    );
    let out = command(dir.path(), &[])
        .args(["templates", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("reminder") && list.contains("file"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vk_token_is_never_in_logs_answers_or_mails() {
    const VK_TOKEN: &str = "vk1.a.Qw8eR5tY2uI9oP3aS6dF1gH4jK7lZ0x";
    let dir = tempfile::tempdir().unwrap();
    let vk = MockServer::start().await;
    // The worst case: VK repeats the token in its own error text.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "error": {"error_code": 5, "error_msg": format!("User authorization failed: {VK_TOKEN}")}
        })))
        .mount(&vk)
        .await;
    let mut service = Service::start(
        dir.path(),
        &[
            ("HOOKS_VK__BASE_URL", vk.uri()),
            ("HOOKS_LOG__FORMAT", "json".to_string()),
            ("HOOKS_LOG__LEVEL", "debug".to_string()),
        ],
    );
    let body = std::fs::read(fixture("booking-vk.json")).unwrap();
    let http = reqwest::Client::new();
    let hook = format!("vkToken={VK_TOKEN}&vkFieldName=VK&errorEmail=op%40example.com");
    let mut answers = String::new();
    for request in [
        http.get(format!("{}/webhook/vk?{hook}", service.base)),
        http.post(format!("{}/webhook/vk?{hook}", service.base))
            .body(body.clone()),
        http.post(format!("{}/preview/vk?{hook}", service.base))
            .body(body.clone()),
    ] {
        answers.push_str(&request.send().await.unwrap().text().await.unwrap());
    }
    let logs = service.kill_and_output();
    assert!(
        logs.contains("\"delivery_id\""),
        "the JSON logs were captured: {logs}"
    );
    assert!(answers.contains("VK error 5"), "{answers}");
    for (name, text) in [("logs", &logs), ("answers", &answers)] {
        assert!(!text.contains(VK_TOKEN), "token in {name}: {text}");
        assert!(
            !text.contains(&VK_TOKEN[..16]),
            "token part in {name}: {text}"
        );
    }
    let mails: String = std::fs::read_dir(dir.path().join("mail"))
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    assert!(!mails.contains(VK_TOKEN));
}

#[test]
fn a_lookup_never_creates_an_empty_outbox_and_names_the_path_it_looked_at() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["deliveries"],
        vec!["show", "some-id"],
        vec!["replay", "--all-dead"],
    ] {
        let out = command(dir.path(), &[]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        let path = dir.path().join("hooks.sqlite").display().to_string();
        assert!(
            said.contains(&format!("no outbox at {path}")) && said.contains("--config"),
            "{args:?}: {said}"
        );
        assert!(
            !dir.path().join("hooks.sqlite").exists(),
            "{args:?} created an outbox"
        );
    }
    // `templates list` before the first start lists the files, and makes no outbox either.
    let out = command(dir.path(), &[])
        .args(["templates", "list"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("No outbox yet"), "{said}");
    assert!(
        said.contains("ru-RU") && said.contains("reminder"),
        "{said}"
    );
    assert!(!dir.path().join("hooks.sqlite").exists());
}

#[test]
fn test_mail_writes_a_file_without_smtp_and_explains_an_smtp_that_cannot_be_reached() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), &[])
        .args(["test-mail", "you@example.com"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("written as a file"));
    let mails: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .collect();
    assert_eq!(mails.len(), 1);

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = command(
        dir.path(),
        &[
            (
                "HOOKS_MAIL__SMTP_URL",
                format!("smtp://user%40example.com:secret@127.0.0.1:{closed}"),
            ),
            ("HOOKS_MAIL__FROM", "hooks@example.com".to_string()),
            ("HOOKS_SERVER__LANGUAGE", "ru".to_string()),
        ],
    )
    .args(["test-mail", "you@example.com"])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("не удаётся подключиться к SMTP-серверу"),
        "{said}"
    );
    assert!(!said.contains("secret"), "{said}");
}
