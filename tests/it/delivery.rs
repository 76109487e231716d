//! Durable delivery: retries, dead letters, dedup and failure reports (SPEC §6).

use std::time::Duration;

use serde_json::json;
use torrow_hooks::store::State;
use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

use crate::support::{fixture, next_mail, smtp_listener, spawn, TOKEN};

fn wappi_url(wappi: &MockServer) -> String {
    format!("[wappi]\nbase_url = \"{}\"\n", wappi.uri())
}

fn hook(extra: &str) -> String {
    format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&errorEmail=op%40example.com{extra}")
}

/// The service with a Wappi that accepts every send and expects exactly `sends` of them.
async fn service_with_wappi_sending(sends: u64) -> (MockServer, crate::support::TestApp) {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "done"})))
        .expect(sends)
        .mount(&wappi)
        .await;
    let app = spawn(&wappi_url(&wappi)).await;
    (wappi, app)
}

async fn retries_until_sent() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .expect(2)
        .mount(&wappi)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "done"})))
        .expect(1)
        .mount(&wappi)
        .await;
    let app = spawn(&wappi_url(&wappi)).await;
    let (code, body) = app
        .post(&hook(""), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 202, "{body}");
    let id = body["DeliveryId"].as_str().unwrap();
    let record = app.wait_for(id, |r| r.state == State::Sent).await;
    assert_eq!(record.attempts, 3);
}

async fn permanent_failure_is_not_retried_and_mailed_once() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"detail": "Unauthorized"})))
        .expect(1)
        .mount(&wappi)
        .await;
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&format!(
        "{}[mail]\nsmtp_url = \"{smtp}\"\n[server]\npublic_url = \"https://hooks.example.com/\"\n",
        wappi_url(&wappi)
    ))
    .await;
    let (code, body) = app
        .post(
            &hook("&message=Hello"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 502, "{body}");
    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.to, vec!["op@example.com"]);
    assert_eq!(
        mail.subject(),
        "[torrow-hooks] Delivery failed: booking №180 (wappi)"
    );
    assert!(
        mail.data.contains("Booking: №180 (id case-180)"),
        "{}",
        mail.data
    );
    // The operator reads whom to call: the client's name and phone as the form has them.
    assert!(mail.data.contains("Client: fsdfsdf"), "{}", mail.data);
    assert!(
        mail.data.contains("Client's phone: +7 (911) 999-88-77"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains(
        "Wappi refused the apiToken <…97b3> for cascade <c0ffee> (HTTP 401): Unauthorized"
    ));
    assert!(mail.data.contains("Recipient: 7911*****77"));
    // One plain sentence of what to do, and the delivery in the console.
    assert!(
        mail.data
            .contains("What to do: check the token and the payment in the provider's cabinet"),
        "{}",
        mail.data
    );
    let id = body["DeliveryId"].as_str().unwrap();
    assert!(
        mail.data.contains(&format!(
            "In the console: https://hooks.example.com/console?delivery={id}"
        )),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("Hello\n\nЗапись №180"),
        "the undelivered text: {}",
        mail.data
    );
    assert!(!mail.data.contains(TOKEN));
    assert!(!mail.data.contains("79119998877"));
    let record = app.record(body["DeliveryId"].as_str().unwrap()).await;
    assert_eq!((record.state, record.attempts), (State::Failed, 1));
}

async fn dead_after_max_age_is_mailed() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&wappi)
        .await;
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&format!(
        "{}[mail]\nsmtp_url = \"{smtp}\"\n[delivery]\nmax_age = \"300ms\"\nretry_schedule = [\"50ms\"]\n",
        wappi_url(&wappi)
    ))
    .await;
    let (code, body) = app
        .post(&hook(""), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 202, "{body}");
    let id = body["DeliveryId"].as_str().unwrap();
    let record = app.wait_for(id, |r| r.state == State::Dead).await;
    assert!(record.attempts >= 2, "{record:?}");
    let mail = next_mail(&mut mails).await;
    assert!(
        mail.subject()
            .starts_with("[torrow-hooks] Delivery given up"),
        "{}",
        mail.subject()
    );
    assert!(mail.data.contains("gave up after"));
    assert!(mail.data.contains(&format!("torrow-hooks replay {id}")));
    assert!(mails.try_recv().is_err(), "exactly one email");
}

/// A delivery still failing after `mail.warn_after` is reported once, while it is retried.
async fn a_delivery_still_failing_after_warn_after_is_reported_once() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&wappi)
        .await;
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&format!(
        "{}[mail]\nsmtp_url = \"{smtp}\"\nwarn_after = \"150ms\"\n[delivery]\nmax_age = \"1h\"\nretry_schedule = [\"30ms\"]\n",
        wappi_url(&wappi)
    ))
    .await;
    let (code, body) = app
        .post(&hook(""), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 202, "{body}");
    let id = body["DeliveryId"].as_str().unwrap();
    let mail = next_mail(&mut mails).await;
    assert!(
        mail.subject()
            .starts_with("[torrow-hooks] Delivery still failing (it is being retried)"),
        "{}",
        mail.subject()
    );
    assert!(
        mail.data.contains(&format!("Delivery id: {id}")),
        "{}",
        mail.data
    );
    let now = app.record(id).await.attempts;
    // Several more failing attempts: none is reported again.
    let later = app.wait_for(id, |r| r.attempts >= now + 5).await;
    assert_eq!(later.state, State::Pending);
    let queued = app
        .running
        .app
        .store
        .unsent_mail("op@example.com", 10)
        .await
        .unwrap();
    assert!(queued.items.is_empty(), "reported again: {queued:?}");
    assert!(mails.try_recv().is_err(), "exactly one email");
}

async fn the_same_post_is_sent_once() {
    let (_wappi, app) = service_with_wappi_sending(2).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (code, body) = app
            .post(&hook(""), fixture("booking-one-resource.json"))
            .await;
        assert_eq!(code, 200, "{body}");
        ids.push(body["DeliveryId"].as_str().unwrap().to_string());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    // A different query is a different delivery (the second of the two expected sends).
    let (_, other) = app
        .post(&hook("&message=x"), fixture("booking-one-resource.json"))
        .await;
    assert_ne!(other["DeliveryId"].as_str().unwrap(), ids[0]);
}

async fn a_repeated_post_of_a_failed_delivery_says_how_to_send_it_again() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&wappi)
        .await;
    let app = spawn(&wappi_url(&wappi)).await;
    let (code, first) = app
        .post(&hook(""), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 502, "{first}");
    let id = first["DeliveryId"].as_str().unwrap();
    let (code, again) = app
        .post(&hook(""), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(
        (code, again["DeliveryId"].as_str()),
        (502, Some(id)),
        "{again}"
    );
    let warning = again["WarningMessage"].as_str().unwrap();
    assert!(
        warning.contains(&format!("received before as delivery {id} (failed)")),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("torrow-hooks replay {id}")),
        "{warning}"
    );
}

async fn the_same_post_at_the_same_instant_is_sent_once() {
    let (_wappi, app) = service_with_wappi_sending(1).await;
    let (path, body) = (hook("&message=burst"), fixture("booking-one-resource.json"));
    let answers =
        futures_util::future::join_all((0..12).map(|_| app.post(&path, body.clone()))).await;
    let ids: Vec<&str> = answers
        .iter()
        .map(|(code, body)| {
            assert!(*code == 200 || *code == 202, "{code} {body}");
            body["DeliveryId"].as_str().unwrap()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let sent = app.wait_for(ids[0], |r| r.state == State::Sent).await;
    assert_eq!(sent.attempts, 1);
}

async fn throttled_failures_go_out_as_one_digest() {
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&format!(
        "[mail]\nsmtp_url = \"{smtp}\"\nthrottle = \"1s\"\n"
    ))
    .await;
    let bad = |n: usize| format!("/webhook/log?errorEmail=op%40example.com&message=m&ref=m{n}");
    let (code, _) = app.post(&bad(0), fixture("invalid-phone.json")).await;
    assert_eq!(code, 422);
    let first = next_mail(&mut mails).await;
    assert_eq!(
        first.subject(),
        "[torrow-hooks] No recipient: booking №8 (log)"
    );
    assert!(first
        .data
        .contains("No valid phone number in the event: <234234>"));
    for n in 1..5 {
        let (code, _) = app.post(&bad(n), fixture("invalid-phone.json")).await;
        assert_eq!(code, 422);
    }
    let digest = next_mail(&mut mails).await;
    assert_eq!(digest.subject(), "[torrow-hooks] 4 delivery problems");
    for n in 1..5 {
        assert!(
            digest.data.contains(&format!("=== {n} of 4 ===")),
            "{}",
            digest.data
        );
    }
    // Values of parameters no channel knows are never quoted in mail.
    assert_eq!(
        digest.data.matches("ref=(not shown)").count(),
        4,
        "{}",
        digest.data
    );
    assert!(!digest.data.contains("ref=m"), "{}", digest.data);
    assert!(mails.try_recv().is_err());
}

async fn wrong_parameters_on_post_are_mailed() {
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&format!("[mail]\nsmtp_url = \"{smtp}\"\n")).await;
    let (code, _) = app
        .post(
            "/webhook/log?errorEmail=op%40example.com&hide_url=maybe",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 400);
    let mail = next_mail(&mut mails).await;
    assert!(
        mail.subject()
            .starts_with("[torrow-hooks] Wrong parameters: booking №180"),
        "{}",
        mail.subject()
    );
    assert!(mail
        .data
        .contains("Parameter <hide_url> must be true or false, not <maybe>"));
}

async fn without_smtp_reports_are_eml_files() {
    let app = spawn("").await;
    let (code, _) = app
        .post(
            "/webhook/log?errorEmail=op%40example.com",
            fixture("missing-phone.json"),
        )
        .await;
    assert_eq!(code, 422);
    let mut files = Vec::new();
    for _ in 0..500 {
        files = app.eml_files();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(files.len(), 1);
    assert!(files[0].contains("To: op@example.com"), "{}", files[0]);
    assert!(files[0].contains("No phone number in the event"));
}

#[test]
fn default_mail_dir_is_data_mail() {
    let s = torrow_hooks::Settings::with_overrides("").unwrap();
    assert_eq!(s.mail.smtp_url, "");
    assert_eq!(s.mail.dir, std::path::PathBuf::from("data/mail"));
}

async fn a_retry_after_from_the_provider_delays_the_next_attempt() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_body_json(json!({"detail": "Too many requests"})),
        )
        .mount(&wappi)
        .await;
    // The schedule alone would try again after 20 ms.
    let app = spawn(&format!("[wappi]\nbase_url = \"{}\"\n", wappi.uri())).await;
    let before = chrono::Utc::now().timestamp_millis();
    let (code, body) = app
        .post(
            &format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let record = app.record(body["DeliveryId"].as_str().unwrap()).await;
    assert_eq!(record.state, State::Pending);
    assert!(
        record.next_attempt_at >= before + 30_000,
        "next attempt in {} ms",
        record.next_attempt_at - before
    );
    assert_eq!(wappi.received_requests().await.unwrap().len(), 1);
}

async fn the_outbox_keeps_the_channels_route_not_the_whole_query() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "done"})))
        .mount(&wappi)
        .await;
    let app = spawn(&wappi_url(&wappi)).await;
    let (code, body) = app
        .post(
            &hook("&message=Private%20words"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let record = app.record(body["DeliveryId"].as_str().unwrap()).await;
    let stored: serde_json::Value = serde_json::from_str(&record.query).expect("a JSON route");
    assert_eq!(stored["target"]["cascadeId"], "c0ffee");
    assert_eq!(stored["apiToken"], TOKEN);
    assert!(!record.query.contains("Private"), "{}", record.query);
    assert!(!record.query.contains("errorEmail"), "{}", record.query);
}

#[tokio::test]
async fn a_row_stored_with_its_query_by_an_older_version_is_still_sent() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "done"})))
        .expect(1)
        .mount(&wappi)
        .await;
    // Found mid-send (requeued below): Wappi is asked first, and lists nothing.
    crate::common::mount_wappi_lookups(&wappi, Default::default()).await;
    let app = spawn(&wappi_url(&wappi)).await;
    let store = &app.running.app.store;
    let now = chrono::Utc::now().timestamp_millis();
    let old = torrow_hooks::store::NewDelivery {
        id: "older-row".into(),
        channel: "wappi".into(),
        query: format!("cascadeId=c0ffee&apiToken={TOKEN}&message=Hi"),
        dedup_key: "older-row".into(),
        recipient: "79119998877".into(),
        text: "Hi".into(),
        summary: "{}".into(),
        error_email: None,
        failed: None,
        unvouched: false,
    };
    store.accept(old, now, now).await.unwrap();
    store.requeue_interrupted(now).await.unwrap();
    app.running.app.delivery.wake();
    app.wait_for("older-row", |r| r.state == State::Sent).await;
}

/// A Wappi that takes `delay` to accept a send, and expects exactly one.
async fn wappi_sending_once_after(delay: Duration) -> MockServer {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "done"}))
                .set_delay(delay),
        )
        .expect(1)
        .mount(&wappi)
        .await;
    wappi
}

/// A provider slower than `delivery.respond_within`: the answer does not wait for it (202, being
/// delivered), and the first attempt goes on and is recorded.
async fn an_attempt_longer_than_the_answer_waits_still_ends_sent() {
    let wappi = wappi_sending_once_after(Duration::from_millis(400)).await;
    let app = spawn(&format!(
        "{}[delivery]\nrespond_within = \"20ms\"\n",
        wappi_url(&wappi)
    ))
    .await;
    let (code, body) = app
        .post(&hook(""), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["Status"], "Queued", "{body}");
    let id = body["DeliveryId"].as_str().unwrap();
    let record = app.wait_for(id, |r| r.state == State::Sent).await;
    assert_eq!(
        record.attempts, 1,
        "one attempt, not a second from the worker"
    );
}

/// The outbox's write lock, held by another connection so that an accept waits for it.
enum OutboxLock {
    Sqlite(rusqlite::Connection),
    Postgres(sqlx::PgConnection),
}

impl OutboxLock {
    async fn take(app: &crate::support::TestApp) -> OutboxLock {
        use sqlx::Connection;
        let database = app
            .running
            .app
            .settings
            .delivery
            .database
            .display()
            .to_string();
        if database.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(&database).await.unwrap();
            sqlx::raw_sql("BEGIN; LOCK TABLE deliveries IN EXCLUSIVE MODE")
                .execute(&mut conn)
                .await
                .unwrap();
            OutboxLock::Postgres(conn)
        } else {
            let conn = rusqlite::Connection::open(&database).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            OutboxLock::Sqlite(conn)
        }
    }

    async fn release(self) {
        match self {
            OutboxLock::Postgres(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            OutboxLock::Sqlite(conn) => conn.execute_batch("ROLLBACK").unwrap(),
        }
    }
}

/// The caller hangs up while the first attempt is under way: the attempt does not end with the
/// request. The message is sent once and recorded as sent.
async fn a_caller_hanging_up_mid_attempt_does_not_stop_it() {
    let wappi = wappi_sending_once_after(Duration::from_millis(600)).await;
    let app = spawn(&wappi_url(&wappi)).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let hung_up = impatient
        .post(format!("{}{}", app.base, hook("")))
        .body(fixture("booking-one-resource.json"))
        .send()
        .await;
    assert!(hung_up.is_err(), "the caller gave up before the answer");
    let sent = app.wait_sent().await;
    assert_eq!(sent.len(), 1, "the attempt went on after the caller left");
    assert_eq!(sent[0].attempts, 1);
    assert_eq!(wappi.received_requests().await.unwrap().len(), 1);
}

/// A submission whose caller stops waiting while its accept waits for the outbox (hyper drops a
/// request's task when the client hangs up) is still stored and attempted once the outbox takes
/// the write, not left `sending`.
async fn a_submission_dropped_while_it_waits_for_the_outbox_is_still_sent() {
    use torrow_hooks::delivery::{DedupKey, Submission, Summary};
    let app = spawn("").await;
    let lock = OutboxLock::take(&app).await;
    let submission = Submission {
        channel: "log".into(),
        route: "{}".into(),
        recipient: "79119998877".into(),
        text: Ok("Hi".into()),
        dedup: DedupKey::of("log", "dropped", b"{}"),
        summary: Summary::default(),
        error_email: None,
    };
    let delivery = app.running.app.delivery.clone();
    let waited =
        tokio::time::timeout(Duration::from_millis(200), delivery.submit(submission)).await;
    assert!(waited.is_err(), "the accept waits for the outbox's lock");
    lock.release().await;
    app.wait_sent().await;
    let rows = app.running.app.store.recent(None, 10).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].state, rows[0].attempts),
        (State::Sent, 1),
        "{rows:?}"
    );
    assert_eq!(app.sink().len(), 1, "sent once");
}

/// The same accept and the same attempt's end written twice (as a batch of writes tried again
/// after a commit whose outcome was unknown writes them) count once; the next attempt's end
/// counts as the next.
async fn writes_tried_again_count_once() {
    use torrow_hooks::{i18n::Text, store::Outcome};
    let app = spawn("").await;
    let store = &app.running.app.store;
    let now = chrono::Utc::now().timestamp_millis();
    let new = torrow_hooks::store::NewDelivery {
        id: "twice".into(),
        channel: "log".into(),
        query: "{}".into(),
        dedup_key: "twice".into(),
        recipient: "79119998877".into(),
        text: "Hi".into(),
        summary: "{}".into(),
        error_email: None,
        failed: None,
        unvouched: false,
    };
    for _ in 0..2 {
        let accepted = store.accept(new.clone(), now, now).await.unwrap();
        assert!(
            matches!(accepted, torrow_hooks::store::Accepted::New(_)),
            "the same write again is still this delivery, not a duplicate: {accepted:?}"
        );
    }
    let retry = Outcome::Retry {
        next_attempt_at: now + 3_600_000,
        error: Text::verbatim("HTTP 500"),
    };
    for _ in 0..2 {
        store
            .finish_attempt("twice", 1, &retry, now + 1)
            .await
            .unwrap();
    }
    let record = app.record("twice").await;
    assert_eq!((record.state, record.attempts), (State::Pending, 1));
    assert_eq!(store.attempts("twice").await.unwrap().len(), 1);
    let sent = Outcome::Sent {
        provider_id: Some("p1".into()),
        warning: None,
    };
    for _ in 0..2 {
        store
            .finish_attempt("twice", 2, &sent, now + 2)
            .await
            .unwrap();
    }
    let record = app.record("twice").await;
    assert_eq!((record.state, record.attempts), (State::Sent, 2));
    assert_eq!(store.attempts("twice").await.unwrap().len(), 2);
}

// Every test above runs on SQLite and on PostgreSQL (the last one is about rows of an older
// SQLite version, so it stays SQLite-only).
crate::support::on_both_backends!(
    retries_until_sent,
    permanent_failure_is_not_retried_and_mailed_once,
    dead_after_max_age_is_mailed,
    a_delivery_still_failing_after_warn_after_is_reported_once,
    the_same_post_is_sent_once,
    a_repeated_post_of_a_failed_delivery_says_how_to_send_it_again,
    the_same_post_at_the_same_instant_is_sent_once,
    throttled_failures_go_out_as_one_digest,
    wrong_parameters_on_post_are_mailed,
    without_smtp_reports_are_eml_files,
    a_retry_after_from_the_provider_delays_the_next_attempt,
    the_outbox_keeps_the_channels_route_not_the_whole_query,
    an_attempt_longer_than_the_answer_waits_still_ends_sent,
    a_caller_hanging_up_mid_attempt_does_not_stop_it,
    writes_tried_again_count_once,
    a_submission_dropped_while_it_waits_for_the_outbox_is_still_sent,
);
