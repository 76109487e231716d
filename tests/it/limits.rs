//! Limits that keep one caller from hurting everyone: slow connections, huge queries, old rows
//! on disk, oversized or odd provider answers.

use std::{os::unix::fs::PermissionsExt, time::Duration};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

use crate::support::{fixture, spawn, TOKEN};

/// Reads until the server closes the connection (bounded); returns what it sent.
async fn read_until_closed(socket: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn slow_headers_are_cut_off_while_others_are_served() {
    let app = spawn("[server]\nheader_read_timeout = \"300ms\"\n").await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(app.running.addr).await.unwrap();
        s.write_all(b"GET /webhook/log HTTP/1.1\r\nHost: x\r\nX-Half: ")
            .await
            .unwrap();
        slow.push(s);
    }
    let (code, _) = app.get("/webhook/log").await;
    assert_eq!(code, 200);
    for mut s in slow {
        let answer = read_until_closed(&mut s).await;
        assert!(!answer.contains("200 OK"), "{answer}");
    }
}

#[tokio::test]
async fn over_the_connection_cap_new_connections_wait() {
    let app = spawn("[server]\nmax_connections = 1\nheader_read_timeout = \"300ms\"\n").await;
    let mut slow = TcpStream::connect(app.running.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    // The only slot is taken: this request waits in the listen queue until the slow client is
    // cut off, then it is served (not refused).
    let (code, body) = app.get("/webhook/log").await;
    assert_eq!(code, 200, "{body}");
    let answer = read_until_closed(&mut slow).await;
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn a_body_that_never_ends_is_answered_408() {
    let app = spawn("[server]\nbody_read_timeout = \"300ms\"\n").await;
    let mut s = TcpStream::connect(app.running.addr).await.unwrap();
    s.write_all(b"POST /webhook/log HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"Case")
        .await
        .unwrap();
    let answer = read_until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("server.body_read_timeout"), "{answer}");
}

#[tokio::test]
async fn malformed_requests_are_counted_not_logged_as_errors() {
    let app = spawn("").await;
    let count = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("hooks_http_connection_errors_total "))
            .map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
    };
    let metrics = || async {
        app.http
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = count(&metrics().await);
    let mut s = TcpStream::connect(app.running.addr).await.unwrap();
    s.write_all(b"\x16\x03\x01 not http at all\r\n\r\n")
        .await
        .unwrap();
    read_until_closed(&mut s).await;
    let mut after = before;
    for _ in 0..500 {
        after = count(&metrics().await);
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(after >= before + 1.0, "{before} → {after}");
}

#[tokio::test]
async fn huge_queries_are_refused_before_any_work() {
    let app = spawn("").await;
    // About 60 KB of distinct names (the most a URI can hold is 64 KB).
    let names: String = (0..12_000).map(|i| format!("{i:x}&")).collect();
    let (code, body) = app.get(&format!("/webhook/log?{names}")).await;
    assert_eq!(code, 400);
    assert_eq!(body["Status"], "Wrong parameters");
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("more than the limit of 49152"),
        "{body}"
    );
    // A head larger than a connection's read buffer (64 KiB) is cut off by the HTTP layer.
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-padding", "p".repeat(70_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 431);
    let many: String = (0..101).map(|i| format!("x{i}=1&")).collect();
    let (code, body) = app.post(&format!("/webhook/log?{many}"), "{}").await;
    assert_eq!(code, 400);
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("101 parameters, more than the limit of 100 (server.max_params)"),
        "{body}"
    );
    // Under the limits, unknown names are warned about; hints for the first ten only.
    let many: String = (0..60).map(|i| format!("hide_ur{i}=1&")).collect();
    let (code, body) = app.get(&format!("/webhook/log?{many}")).await;
    assert_eq!(code, 200, "{body}");
    let warnings = body["WarningMessage"].as_str().unwrap();
    assert_eq!(warnings.matches("did you mean").count(), 10, "{warnings}");
    assert_eq!(warnings.matches("unknown parameter").count(), 60);
}

#[tokio::test]
async fn old_deliveries_are_deleted_and_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox/hooks.sqlite");
    let app = crate::support::spawn_in(
        dir,
        &format!(
            "[delivery]\ndatabase = \"{}\"\ndedup_window = \"50ms\"\nretention = \"100ms\"\n",
            db.display()
        ),
    )
    .await;
    let (code, body) = app
        .post(
            "/webhook/log?message=Hi",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let id = body["DeliveryId"].as_str().unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    let mut gone = false;
    for _ in 0..500 {
        if app.running.app.store.get(id).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the sent delivery was never deleted");
}

#[test]
fn retention_shorter_than_the_dedup_window_is_refused() {
    let err = torrow_hooks::Settings::with_overrides(
        "[delivery]\nretention = \"1h\"\ndedup_window = \"2h\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("delivery.retention"), "{err}");
}

async fn wappi_answering(answer: ResponseTemplate) -> (crate::support::TestApp, MockServer) {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer.clone())
        .mount(&wappi)
        .await;
    Mock::given(method("GET"))
        .respond_with(answer)
        .mount(&wappi)
        .await;
    let app = spawn(&format!("[wappi]\nbase_url = \"{}\"\n", wappi.uri())).await;
    (app, wappi)
}

#[tokio::test]
async fn an_html_200_is_not_a_delivery() {
    let html = ResponseTemplate::new(200).set_body_raw("<html>Welcome</html>", "text/html");
    let (app, _wappi) = wappi_answering(html).await;
    let url = format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}");
    let (code, body) = app.post(&url, fixture("booking-one-resource.json")).await;
    assert_eq!(code, 502, "{body}");
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(
        error.starts_with("unexpected answer from Wappi for cascade <c0ffee>: HTTP 200, text/html"),
        "{error}"
    );
    let record = app.record(body["DeliveryId"].as_str().unwrap()).await;
    assert_eq!(record.state, torrow_hooks::store::State::Failed);
    let (code, body) = app.get(&url).await;
    assert_eq!(code, 502, "{body}");
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("unexpected answer from Wappi"));
}

#[tokio::test]
async fn a_huge_2xx_is_sent_once_with_a_warning_and_never_again() {
    let huge = ResponseTemplate::new(200).set_body_raw(vec![b' '; 2 << 20], "application/json");
    let (app, wappi) = wappi_answering(huge).await;
    for i in 0..4 {
        let url = format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&message=n{i}");
        let (code, body) = app.post(&url, fixture("booking-one-resource.json")).await;
        assert_eq!(code, 200, "{body}");
        let record = app.record(body["DeliveryId"].as_str().unwrap()).await;
        assert_eq!(record.state, torrow_hooks::store::State::Sent);
        assert_eq!(
            record.last_error.map(|e| e.to_string()).as_deref(),
            Some("accepted by the provider; its answer could not be read")
        );
        assert_eq!(record.attempts, 1);
    }
    // One send each; the worker finds nothing to retry.
    assert_eq!(app.running.app.store.count_pending().await.unwrap(), 0);
    assert_eq!(wappi.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_huge_error_answer_is_still_a_retryable_failure() {
    let huge = ResponseTemplate::new(503).set_body_raw(vec![b' '; 2 << 20], "application/json");
    let (app, _wappi) = wappi_answering(huge).await;
    let url = format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}");
    let (code, body) = app.post(&url, fixture("booking-one-resource.json")).await;
    assert_eq!(code, 202, "{body}");
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("answer too large to read"),
        "{body}"
    );
}

#[tokio::test]
async fn a_status_done_answer_is_still_delivered() {
    let done = ResponseTemplate::new(200).set_body_json(json!({"status": "done"}));
    let (app, wappi) = wappi_answering(done).await;
    let url = format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}");
    let (code, body) = app.post(&url, fixture("booking-one-resource.json")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(wappi.received_requests().await.unwrap().len(), 1);
}
