//! The second hardening pass: nothing accepted lost in silence (the outbox fails closed), no
//! anonymous caller able to spend our CPU, disk or mail, and no secret shown.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use serde_json::{json, Value};
use tokio::{io::AsyncWriteExt, net::TcpStream};
use wiremock::{matchers::method, Mock, MockServer, Request, ResponseTemplate};

use crate::common::SmallDisk;
use crate::common::TOKEN;
use crate::support::{fixture, spawn, TestApp};
use torrow_hooks::store::State;

/// A provider that fails (503) until it is healed, then takes every message.
#[derive(Clone, Default)]
struct Healable {
    healed: Arc<AtomicBool>,
}

impl wiremock::Respond for Healable {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.healed.load(Ordering::SeqCst) {
            ResponseTemplate::new(200).set_body_json(json!({"status": "done"}))
        } else {
            ResponseTemplate::new(503)
        }
    }
}

async fn healable_wappi() -> (MockServer, Healable) {
    let wappi = MockServer::start().await;
    let provider = Healable::default();
    Mock::given(method("POST"))
        .respond_with(provider.clone())
        .mount(&wappi)
        .await;
    (wappi, provider)
}

fn wappi_url(n: usize) -> String {
    format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&message=n{n}")
}

/// The `message=n…` of every request the provider got.
async fn sent_messages(wappi: &MockServer) -> Vec<String> {
    wappi
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            let body: Value = r.body_json().ok()?;
            let text = body["body"].as_str()?.to_string();
            // The first line after the greeting: the message.
            text.lines()
                .find(|l| !l.starts_with("Здравствуйте"))
                .map(str::to_string)
        })
        .collect()
}

async fn ready(app: &TestApp) -> (u16, Value) {
    app.running.app.delivery.admission.look().await;
    app.get("/readyz").await
}

/// The outbox removed while the service runs: POSTs are refused (never 202 into a file that is
/// gone) until the next look at the outbox writes the open database back to its path; then
/// POSTs are taken again, and everything accepted, before and after, is sent.
#[tokio::test]
async fn a_removed_outbox_file_refuses_new_posts_until_written_back() {
    let (wappi, provider) = healable_wappi().await;
    let app = spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\n[delivery]\nrespond_within = \"200ms\"\nretry_schedule = [\"50ms\"]\n",
        wappi.uri()
    ))
    .await;
    let mut accepted = Vec::new();
    for n in 0..4 {
        let (code, body) = app
            .post(&wappi_url(n), fixture("booking-one-resource.json"))
            .await;
        assert_eq!(code, 202, "{body}");
        accepted.push(body["DeliveryId"].as_str().unwrap().to_string());
    }
    // A cleanup script removes the outbox (and its log) while the service runs.
    let db = app.dir.path().join("hooks.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let (code, body) = app
        .post(&wappi_url(9), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 503, "never 202 into a file that is gone: {body}");
    assert_eq!(
        body["ErrorMessage"],
        "The message could not be stored: the outbox file was removed; please try again later"
    );
    // The next look writes it back, and the outbox takes POSTs again.
    let (code, readiness) = ready(&app).await;
    assert_eq!(code, 200, "{readiness}");
    assert!(db.exists());
    assert_eq!(readiness["outbox"]["pending"], 4, "{readiness}");
    let (code, body) = app
        .post(&wappi_url(5), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 202, "{body}");
    accepted.push(body["DeliveryId"].as_str().unwrap().to_string());
    // The written file holds them all: a second connection to it sees every delivery.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 5);
    pool.close().await;
    provider.healed.store(true, Ordering::SeqCst);
    for id in &accepted {
        app.wait_for(id, |r| r.state == State::Sent).await;
    }
    let mut sent = sent_messages(&wappi).await;
    sent.retain(|m| !m.is_empty());
    for n in [0, 1, 2, 3, 5] {
        assert!(sent.contains(&format!("n{n}")), "n{n} in {sent:?}");
    }
    assert!(!sent.contains(&"n9".to_string()), "{sent:?}");
}

#[tokio::test]
async fn a_truncated_outbox_file_refuses_new_posts() {
    let app = spawn("[server]\nlanguage = \"ru\"\n").await;
    let (code, _) = app
        .post(
            "/webhook/log?message=a",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200);
    // Once the service is idle (its log checkpointed away), so that no checkpoint under way
    // writes the pages back (README: that window is the one this check cannot see).
    let wal = app.dir.path().join("hooks.sqlite-wal");
    for _ in 0..500 {
        if std::fs::metadata(&wal).map_or(0, |m| m.len()) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // From another process, as a mistaken `truncate` or `: > file` would: opening the file in
    // this process would drop SQLite's locks here.
    let status = std::process::Command::new("truncate")
        .args(["-s", "0"])
        .arg(app.dir.path().join("hooks.sqlite"))
        .status()
        .unwrap();
    assert!(status.success());
    let (code, body) = app
        .post(
            "/webhook/log?message=b",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(
        body["ErrorMessage"],
        "Сообщение не удалось сохранить: файл хранилища доставок обрезан; повторите попытку позже"
    );
    let (code, readiness) = ready(&app).await;
    assert_eq!(code, 503, "{readiness}");
    assert_eq!(readiness["database"], "the outbox file was truncated");
}

#[tokio::test]
async fn past_the_pending_cap_new_posts_get_503_until_the_backlog_shrinks() {
    let (wappi, provider) = healable_wappi().await;
    let app = spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\n[delivery]\nrespond_within = \"200ms\"\nretry_schedule = [\"50ms\"]\nmax_pending = 2\n\
         unvouched_share = 1.0\n",
        wappi.uri()
    ))
    .await;
    for n in 0..2 {
        let (code, body) = app
            .post(&wappi_url(n), fixture("booking-one-resource.json"))
            .await;
        assert_eq!(code, 202, "{body}");
    }
    app.running.app.delivery.admission.look().await;
    let (code, body) = app
        .post(&wappi_url(2), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("delivery.max_pending"),
        "{body}"
    );
    let (_, metrics) = (
        0,
        app.http
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(
        metrics.contains(r#"hooks_outbox_refusals_total{reason="max_pending"}"#),
        "{metrics}"
    );
    provider.healed.store(true, Ordering::SeqCst);
    for _ in 0..500 {
        if app.running.app.store.count_pending().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.running.app.delivery.admission.look().await;
    let (code, body) = app
        .post(&wappi_url(3), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
#[cfg_attr(
    not(root),
    ignore = "mounting a small tmpfs needs root (CI runs as root)"
)]
async fn a_full_disk_refuses_new_posts_and_everything_accepted_is_sent_once_space_returns() {
    let disk = SmallDisk::mount(16);
    let db = disk.path().join("hooks.sqlite");
    let app = spawn(&format!(
        "[delivery]\ndatabase = \"{}\"\nmin_free_bytes = 0\n",
        db.display()
    ))
    .await;
    let filler = disk.fill();
    // Keep posting until the outbox cannot write (its log must grow at some point).
    let (mut answered, mut refused) = (Vec::new(), None);
    for n in 0..2000 {
        let query = format!("/webhook/log?message=full{n}");
        let (code, body) = app.post(&query, fixture("booking-one-resource.json")).await;
        match code {
            200 | 202 => answered.push((n, body["DeliveryId"].as_str().unwrap().to_string())),
            503 => {
                refused = Some(body);
                break;
            }
            _ => panic!("{code} {body}"),
        }
    }
    let refused = refused.expect("the full disk refused a POST");
    assert!(
        refused["ErrorMessage"]
            .as_str()
            .unwrap()
            .starts_with("The message could not be stored"),
        "{refused}"
    );
    let (code, readiness) = ready(&app).await;
    assert_eq!(code, 503, "{readiness}");
    // Room again: the service takes writes without a restart.
    std::fs::remove_file(&filler).unwrap();
    let mut back = false;
    for _ in 0..100 {
        if ready(&app).await.0 == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back, "{:?}", ready(&app).await);
    let (code, body) = app
        .post(
            "/webhook/log?message=after",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    // Everything answered 2xx is recorded as sent, and was written to the sink exactly once.
    for (_, id) in &answered {
        app.wait_for(id, |r| r.state == State::Sent).await;
    }
    let sink = app.sink();
    for (n, _) in &answered {
        let text = format!("full{n}");
        let copies = sink
            .iter()
            .filter(|l| l["text"].as_str().unwrap().contains(&format!("\n{text}\n")))
            .count();
        assert_eq!(copies, 1, "{text}");
    }
}

#[tokio::test]
#[cfg_attr(
    not(root),
    ignore = "mounting a small tmpfs needs root (CI runs as root)"
)]
async fn low_free_space_refuses_new_posts_before_the_disk_is_full() {
    let disk = SmallDisk::mount(16);
    let db = disk.path().join("hooks.sqlite");
    let app = spawn(&format!(
        "[delivery]\ndatabase = \"{}\"\nmin_free_bytes = 8388608\n",
        db.display()
    ))
    .await;
    let (code, _) = app
        .post(
            "/webhook/log?message=a",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200);
    let filler = disk.fill();
    let (code, readiness) = ready(&app).await;
    assert_eq!(code, 503, "{readiness}");
    assert!(readiness["database"]
        .as_str()
        .unwrap()
        .contains("delivery.min_free_bytes"));
    let (code, body) = app
        .post(
            "/webhook/log?message=b",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 503, "{body}");
    std::fs::remove_file(filler).unwrap();
    let (code, readiness) = ready(&app).await;
    assert_eq!(code, 200, "{readiness}");
    let (code, body) = app
        .post(
            "/webhook/log?message=c",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
async fn a_crowded_event_lists_a_bounded_number_of_lines() {
    let app = spawn("[render]\nmax_resource_lines = 5\n").await;
    let body = torrow_hooks::render::samples::crowded_event(200 * 1024);
    let (code, answer) = app
        .post("/preview/log?date_locales=en-US", body.clone())
        .await;
    assert_eq!(code, 200, "{answer}");
    let text = answer["Text"].as_str().unwrap();
    assert!(text.contains("5. Позиция 4"), "{text}");
    assert!(!text.contains("6. Позиция 5"), "{text}");
    let items = torrow_hooks::event::CaseActionEvent::parse(&body)
        .unwrap()
        .booked_items()
        .len();
    assert!(text.contains(&format!("…and {} more", items - 5)), "{text}");
    let (_, answer) = app.post("/preview/log", body).await;
    assert!(answer["Text"]
        .as_str()
        .unwrap()
        .contains(&format!("…и ещё {}", items - 5)));
    // The default body limit (256 KiB) refuses the 817 KB event of the hardening report.
    let (code, _) = app.post("/webhook/log", vec![b' '; 300 * 1024]).await;
    assert_eq!(code, 413);
}

#[tokio::test]
async fn a_text_over_the_channels_maximum_is_refused_and_not_stored() {
    let crm = MockServer::start().await;
    let app = spawn(&format!(
        "[channels.crm]\nkind = \"http\"\nurl = \"{}/x\"\nmax_text_chars = 120\n",
        crm.uri()
    ))
    .await;
    let (code, body) = app
        .post(
            "/webhook/crm?message=Hello",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["Status"], "Wrong parameters");
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(
        error.contains("takes at most 120") && error.contains("shorten"),
        "{error}"
    );
    assert!(body.get("DeliveryId").is_none(), "{body}");
    assert!(app
        .running
        .app
        .store
        .recent(None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(crm.received_requests().await.unwrap().is_empty());
    let (code, _) = app
        .post(
            "/webhook/crm?message=Hi&phone=79119998877",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_ne!(code, 400, "the message alone fits");
}

#[tokio::test]
async fn the_log_sink_rotates_at_its_size_cap() {
    let app = spawn("[log_sink]\nmax_bytes = 600\n").await;
    for n in 0..4 {
        let (code, _) = app
            .post(
                &format!("/webhook/log?message=r{n}"),
                fixture("booking-one-resource.json"),
            )
            .await;
        assert_eq!(code, 200);
    }
    let sink = app.dir.path().join("log-sink.jsonl");
    let old = app.dir.path().join("log-sink.jsonl.1");
    assert!(old.exists());
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
    assert!(size(&sink) < 2 * 600 && size(&old) < 2 * 600);
}

#[tokio::test]
async fn secrets_under_misspelt_names_or_reused_in_the_text_are_never_shown() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"status": "error", "detail": "bad recipient"})),
        )
        .mount(&wappi)
        .await;
    let app = spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\n[mail]\nallowed_addresses = [\"op@example.com\"]\n",
        wappi.uri()
    ))
    .await;
    let typo = "tokenvalue-in-a-typo-42";
    let query = format!(
        "/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&apiTokn={typo}&api_token={typo}x&buy=http%3A%2F%2Fevil.example%2Foffer&message=Your%20code%20{TOKEN}&errorEmail=op%40example.com"
    );
    let (code, body) = app.post(&query, fixture("booking-one-resource.json")).await;
    assert_eq!(code, 502, "{body}");
    let id = body["DeliveryId"].as_str().unwrap().to_string();
    app.wait_mail_queue_empty().await;
    let mails = app.eml_files();
    assert_eq!(mails.len(), 1);
    for shown in [mails[0].clone(), body.to_string()] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains(typo), "{shown}");
        assert!(!shown.contains("evil.example"), "{shown}");
    }
    assert!(mails[0].contains("buy=3D(not shown)"), "{}", mails[0]);
    let token = "admin-token-0123456789";
    drop(app);
    let app = spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\n[server]\nadmin_token = \"{token}\"\n",
        wappi.uri()
    ))
    .await;
    let (_, body) = app.post(&query, fixture("booking-one-resource.json")).await;
    let id2 = body["DeliveryId"].as_str().unwrap();
    let shown = app
        .http
        .get(format!("{}/api/deliveries/{id2}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains("Your code …97b3"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    let _ = id;
}

/// A Wappi that refuses every send (400) and answers check mode.
async fn refusing_wappi() -> MockServer {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"status": "error", "detail": "no"})),
        )
        .mount(&wappi)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"status": "done", "cascade": {"id": "c0ffee"}, "cascades": [{"id": "c0ffee"}]}),
        ))
        .mount(&wappi)
        .await;
    wappi
}

#[tokio::test]
async fn failure_reports_go_only_where_the_credentials_were_accepted_once() {
    let wappi = refusing_wappi().await;
    let app = spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\n[server]\npublic_url = \"http://hooks.test\"\n",
        wappi.uri()
    ))
    .await;
    let query = |n: usize| {
        format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&errorEmail=victim%40target.example&message=v{n}")
    };
    // A stranger's hook URL with a made-up (never accepted) token: nothing is mailed.
    let (code, _) = app
        .post(&query(0), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 502);
    app.wait_mail_queue_empty().await;
    assert!(app.eml_files().is_empty(), "{:?}", app.eml_files());
    assert!(app
        .running
        .app
        .store
        .mail_addresses(10, 0)
        .await
        .unwrap()
        .is_empty());
    // The operator checks the hook once (Torrow does when the URL is saved): now it may mail.
    let (code, body) = app.get(&query(1)).await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = app
        .post(&query(2), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 502);
    for _ in 0..500 {
        if !app.eml_files().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.eml_files().len(), 1);
    // A new address: what goes first is the request to confirm it, with nothing the caller chose.
    let first = app.eml_files().remove(0);
    assert!(first.contains("http://hooks.test/confirm/"), "{first}");
    assert!(!first.contains("v2"), "{first}");
    // Another token was never accepted: its reports are logged only.
    let other = query(3).replace(TOKEN, "0000000000aaaaaaaaaabbbbbbbbbb1111111111cccccccccc");
    let (code, _) = app.post(&other, fixture("booking-one-resource.json")).await;
    assert_eq!(code, 502);
    app.wait_mail_queue_empty().await;
    assert_eq!(app.eml_files().len(), 1);
}

#[tokio::test]
async fn a_quoted_local_part_is_refused_like_an_ip_literal() {
    let app = spawn("").await;
    let (code, body) = app
        .get("/webhook/log?errorEmail=%22target%22%40victim.com")
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("errorEmail"),
        "{body}"
    );
}

#[tokio::test]
async fn a_delivery_whose_credentials_were_refused_is_kept_a_day_only() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&wappi)
        .await;
    let app = spawn(&format!("[wappi]\nbase_url = \"{}\"\n", wappi.uri())).await;
    let (code, body) = app
        .post(&wappi_url(0), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 502, "{body}");
    let refused = body["DeliveryId"].as_str().unwrap().to_string();
    let (code, body) = app
        .post(
            "/webhook/log?message=kept",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200);
    let kept = body["DeliveryId"].as_str().unwrap().to_string();
    let store = &app.running.app.store;
    let day_later = torrow_hooks::store::now_ms() + torrow_hooks::store::REFUSED_KEPT_MS + 1000;
    // A day later (retention is 7 days): the refused one goes, the other stays.
    let purged = store.purge(day_later, 0, 0, 0, 100).await.unwrap();
    assert_eq!(purged.deliveries, 1);
    assert!(store.get(&refused).await.unwrap().is_none());
    assert!(store.get(&kept).await.unwrap().is_some());
}

#[tokio::test]
async fn idle_connections_are_closed_first_when_the_cap_is_reached() {
    let app = spawn("[server]\nmax_connections = 4\nheader_read_timeout = \"60s\"\n").await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(app.running.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        idle.push(s);
    }
    // Without closing idle ones this would wait for the 60 s header deadline.
    let answered = tokio::time::timeout(Duration::from_secs(10), app.get("/healthz")).await;
    assert_eq!(
        answered
            .expect("answered while idle connections hold the cap")
            .0,
        200
    );
}

/// At the cap, a kept-alive connection that has just been answered is not closed for a
/// newcomer: its client may be sending its next request on it at that very moment, and would
/// see a reset. The newcomer is served once that connection has been idle for a second.
#[tokio::test]
async fn a_connection_just_answered_is_not_closed_for_a_newcomer() {
    let app = spawn("[server]\nmax_connections = 1\nheader_read_timeout = \"60s\"\n").await;
    let ask = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut kept = TcpStream::connect(app.running.addr).await.unwrap();
    kept.write_all(ask).await.unwrap();
    assert!(one_answer(&mut kept).await.starts_with("HTTP/1.1 200"));
    // A newcomer at the cap: wait until the server holds it, waiting for room (the gauge is
    // the process's, so another test at its own cap may set it too; this one then only waits
    // less).
    let mut newcomer = TcpStream::connect(app.running.addr).await.unwrap();
    newcomer.write_all(ask).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = torrow_hooks::telemetry::render_metrics();
        if metrics.contains("hooks_http_newcomer_waiting 1") {
            break;
        }
        tokio::task::yield_now().await;
        assert!(
            std::time::Instant::now() < deadline,
            "the newcomer never waited: the kept connection was closed for it at once"
        );
    }
    // The kept connection carries its next request.
    kept.write_all(ask).await.unwrap();
    let again = one_answer(&mut kept).await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again:?}");
    // Once it has been idle long enough, it makes room, and the newcomer is answered.
    let served = tokio::time::timeout(Duration::from_secs(10), one_answer(&mut newcomer)).await;
    assert!(served.expect("served").starts_with("HTTP/1.1 200"));
}

/// One HTTP/1.1 answer with a `content-length`, read from `socket` (empty if it closes first).
async fn one_answer(socket: &mut TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&read).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return text,
            Ok(n) => read.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn the_operations_listener_answers_while_the_public_port_is_full() {
    let app = spawn(
        "[server]\nops_addr = \"127.0.0.1:0\"\nmax_connections = 1\nbody_read_timeout = \"60s\"\n",
    )
    .await;
    let ops = format!("http://{}", app.running.ops_addr.expect("an ops listener"));
    // The only public slot is busy with a request whose body never ends.
    let mut busy = TcpStream::connect(app.running.addr).await.unwrap();
    busy.write_all(b"POST /webhook/log HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for (path, expected) in [
        ("/healthz", 200),
        ("/readyz", 200),
        ("/metrics", 200),
        ("/webhook/log", 404),
    ] {
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            http.get(format!("{ops}{path}")).send(),
        )
        .await
        .expect("answered at once")
        .unwrap();
        assert_eq!(r.status().as_u16(), expected, "{path}");
    }
}

#[test]
fn a_section_no_channel_knows_stops_start_up_with_a_hint() {
    let settings = torrow_hooks::Settings::with_overrides("[wapi]\ntimeout = \"5s\"\n").unwrap();
    let err = torrow_hooks::channel::Registry::new(&settings)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("unknown section [wapi] (did you mean [wappi]?)"),
        "{err}"
    );
    let settings =
        torrow_hooks::Settings::with_overrides("[telegram]\ntimeout = \"soon\"\n").unwrap();
    let err = torrow_hooks::channel::Registry::new(&settings)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("telegram.timeout"), "{err}");
}

#[tokio::test]
async fn the_lease_check_counts_every_channel_and_declared_sender() {
    let base = "[delivery]\ndatabase = \"postgres://nobody@127.0.0.1:1/none\"\nlease = \"90s\"\nrespond_within = \"1s\"\n[wappi]\ntimeout = \"5s\"\n";
    let settings = torrow_hooks::Settings::with_overrides(base).unwrap();
    // GREEN-API's default attempt (3 × 30 s + 10 s) is longer than half of 90 s.
    let err = torrow_hooks::App::build(settings)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("delivery.lease: 1m 30s is too short"), "{err}");
    let settings = torrow_hooks::Settings::with_overrides(&format!(
        "{base}[green_api]\ntimeout = \"5s\"\nrepeat_after = \"1s\"\n[telegram]\ntimeout = \"5s\"\n[wazzup24]\ntimeout = \"5s\"\n[channels.crm]\nkind = \"http\"\nurl = \"https://crm.example/x\"\ntimeout = \"2m\"\n"
    ))
    .unwrap();
    let err = torrow_hooks::App::build(settings)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("delivery.lease") && err.contains("2m"),
        "a declared sender's timeout counts: {err}"
    );
}

#[tokio::test]
async fn deliveries_api_names_a_bad_parameter() {
    let app = spawn("[server]\nadmin_token = \"admin-token-0123456789\"\n").await;
    for (query, name) in [
        ("limit=abc", "<limit>"),
        ("state=lost", "<state>"),
        ("sort=x", "<sort>"),
    ] {
        let r = app
            .http
            .get(format!("{}/api/deliveries?{query}", app.base))
            .bearer_auth("admin-token-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["ErrorMessage"].as_str().unwrap().contains(name),
            "{body}"
        );
    }
}

/// SMTP credentials go over TLS, or to this machine only; a real server needs a real sender.
#[test]
fn smtp_settings_refuse_a_plain_password_to_another_host_and_a_localhost_sender() {
    use torrow_hooks::Settings;
    let refused = |mail: &str| {
        Settings::with_overrides(&format!("[mail]\n{mail}\n"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let plain = refused(
        "smtp_url = \"smtp://me:secret@smtp.example.com:25\"\nfrom = \"hooks@example.com\"",
    );
    assert!(plain.contains("without encryption"), "{plain}");
    assert!(!plain.contains("secret"), "{plain}");
    let opportunistic = refused(
        "smtp_url = \"smtp://me:secret@smtp.example.com:587?tls=opportunistic\"\nfrom = \"hooks@example.com\"",
    );
    assert!(
        opportunistic.contains("without encryption"),
        "{opportunistic}"
    );
    for fine in [
        "smtp_url = \"smtps://me:secret@smtp.example.com\"\nfrom = \"hooks@example.com\"",
        "smtp_url = \"smtp://me:secret@smtp.example.com:587?tls=required\"\nfrom = \"hooks@example.com\"",
        "smtp_url = \"smtp://me:secret@127.0.0.1:25\"\nfrom = \"hooks@example.com\"",
        "smtp_url = \"smtp://smtp.example.com:25\"\nfrom = \"hooks@example.com\"",
        "smtp_url = \"\"\nfrom = \"\"",
    ] {
        assert_eq!(refused(fine), "", "{fine}");
    }
    for sender in [
        "from = \"\"",
        "from = \"torrow-hooks <torrow-hooks@localhost>\"",
    ] {
        let said = refused(&format!(
            "smtp_url = \"smtps://smtp.example.com\"\n{sender}"
        ));
        assert!(said.contains("mail.from"), "{sender}: {said}");
    }
    let typo = refused("smtp_url = \"smpt://smtp.example.com\"\nfrom = \"hooks@example.com\"");
    assert!(typo.contains("smpt://"), "{typo}");
}
