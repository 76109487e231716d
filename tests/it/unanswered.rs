//! A provider that takes a send and never answers: the message is never sent again blindly.
//! Wappi is asked whether it went out (found: sent, once; not found: sent again, verified);
//! Telegram cannot be asked, so the delivery waits for the operator and the report says so.

use std::time::Duration;

use serde_json::json;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::common::{mount_wappi_lookups, WappiSent};
use crate::support::{fixture, on_both_backends, spawn, TestApp, TOKEN};
use torrow_hooks::store::State;

/// A Wappi whose sends hang past the service's timeout; `keeps` says whether the hung send
/// went out (it is listed by the look-ups) or was lost; later sends are answered at once.
async fn hanging_wappi(keeps: bool) -> (MockServer, WappiSent) {
    let wappi = MockServer::start().await;
    let sent = WappiSent::default();
    let listed = sent.clone();
    let first = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    Mock::given(method("POST"))
        .and(path("/csender/cascade/send"))
        .respond_with(move |request: &wiremock::Request| {
            let hang = first.swap(false, std::sync::atomic::Ordering::SeqCst);
            if !hang || keeps {
                listed.record(request);
            }
            let answer = ResponseTemplate::new(200)
                .set_body_json(json!({"status": "done", "message_id": "m-answered"}));
            if hang {
                answer.set_delay(Duration::from_secs(3))
            } else {
                answer
            }
        })
        .mount(&wappi)
        .await;
    mount_wappi_lookups(&wappi, sent.clone()).await;
    (wappi, sent)
}

async fn service(wappi: &MockServer) -> TestApp {
    spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\ntimeout = \"300ms\"\n[delivery]\nrespond_within = \"2s\"\n",
        wappi.uri()
    ))
    .await
}

async fn post(app: &TestApp) -> String {
    let (code, body) = app
        .post(
            &format!(
                "/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&errorEmail=op%40example.com"
            ),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    body["DeliveryId"].as_str().unwrap().to_string()
}

async fn sends(wappi: &MockServer) -> usize {
    wappi
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method == wiremock::http::Method::POST)
        .count()
}

async fn a_hung_send_that_went_out_is_found_and_not_sent_again() {
    let (wappi, sent) = hanging_wappi(true).await;
    let app = service(&wappi).await;
    let id = post(&app).await;
    let record = app.wait_for(&id, |r| r.state == State::Sent).await;
    assert_eq!(sends(&wappi).await, 1, "sent once, then only asked");
    assert_eq!(sent.texts().len(), 1);
    assert_eq!(
        record.provider_id.as_deref(),
        Some("m0"),
        "the id Wappi lists"
    );
    let attempts = app.running.app.store.attempts(&id).await.unwrap();
    let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["unknown", "sent"]);
}

async fn a_hung_send_that_was_lost_is_sent_again_after_asking() {
    let (wappi, sent) = hanging_wappi(false).await;
    let app = service(&wappi).await;
    let id = post(&app).await;
    let record = app.wait_for(&id, |r| r.state == State::Sent).await;
    assert_eq!(sends(&wappi).await, 2, "the lost send and the verified one");
    assert_eq!(sent.texts().len(), 1, "the client got it once");
    assert_eq!(record.provider_id.as_deref(), Some("m-answered"));
}

async fn telegram_cannot_be_asked_so_a_hung_send_waits_for_the_operator() {
    const BOT: &str = "6126237741:AAFQKNyn1jhScXSGsYCh_yxwWDT578ARMGA";
    let telegram = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT}/sendMessage")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "result": {"message_id": 7}}))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&telegram)
        .await;
    let app = spawn(&format!(
        "[telegram]\nbase_url = \"{}\"\ntimeout = \"300ms\"\n[delivery]\nrespond_within = \"2s\"\n\
         [server]\nadmin_token = \"adm-unanswered\"\n",
        telegram.uri()
    ))
    .await;
    let (code, body) = app
        .post(
            &format!("/webhook/telegram?telegramToken={BOT}&telegramFieldName=*TelegramId&errorEmail=op%40example.com"),
            fixture("booking-telegram.json"),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    assert!(
        body["Message"].as_str().unwrap().contains("unknown"),
        "{body}"
    );
    let id = body["DeliveryId"].as_str().unwrap().to_string();
    let record = app.wait_for(&id, |r| r.state == State::Unknown).await;
    assert!(record.unsure);
    // Nothing sends it again by itself: the worker passes over it.
    app.running.app.delivery.wake();
    app.wait_mail_queue_empty().await;
    assert_eq!(telegram.received_requests().await.unwrap().len(), 1);
    assert_eq!(app.record(&id).await.state, State::Unknown);
    let mail = app.eml_files().join("\n");
    assert!(
        mail.contains("replay"),
        "the report says what to do: {mail}"
    );

    // The operator decides: a replay sends it again (the stand-in now answers at once).
    telegram.reset().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT}/sendMessage")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "result": {"message_id": 8}})),
        )
        .mount(&telegram)
        .await;
    let r = app
        .http
        .post(format!("{}/api/deliveries/{id}/replay", app.base))
        .bearer_auth("adm-unanswered")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let record = app.wait_for(&id, |r| r.state == State::Sent).await;
    assert!(!record.unsure);
    assert_eq!(telegram.received_requests().await.unwrap().len(), 1);
}

on_both_backends!(
    a_hung_send_that_went_out_is_found_and_not_sent_again,
    a_hung_send_that_was_lost_is_sent_again_after_asking,
    telegram_cannot_be_asked_so_a_hung_send_waits_for_the_operator,
);

/// GREEN-API: a hung send is looked for in the chat's history; found there, it is not sent again.
#[tokio::test]
async fn green_api_lists_a_hung_send_in_the_chat_history() {
    const ID: &str = "1101000001";
    const KEY: &str = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345";
    let green = MockServer::start().await;
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let took = sent.clone();
    Mock::given(method("POST"))
        .and(path(format!("/waInstance{ID}/sendMessage/{KEY}")))
        .respond_with(move |request: &wiremock::Request| {
            let body: serde_json::Value = request.body_json().unwrap();
            took.lock()
                .unwrap()
                .push(body["message"].as_str().unwrap().to_string());
            ResponseTemplate::new(200)
                .set_body_json(json!({"idMessage": "never-seen"}))
                .set_delay(Duration::from_secs(3))
        })
        .mount(&green)
        .await;
    let listed = sent.clone();
    Mock::given(method("POST"))
        .and(path(format!("/waInstance{ID}/getChatHistory/{KEY}")))
        .respond_with(move |_: &wiremock::Request| {
            let now = chrono::Utc::now().timestamp();
            let history: Vec<serde_json::Value> = listed
                .lock()
                .unwrap()
                .iter()
                .map(|text| {
                    json!({"type": "outgoing", "idMessage": "3EB0-listed",
                                   "timestamp": now, "typeMessage": "textMessage",
                                   "textMessage": text})
                })
                .chain([
                    json!({"type": "incoming", "idMessage": "in", "timestamp": now,
                               "textMessage": "Спасибо"}),
                ])
                .collect();
            ResponseTemplate::new(200).set_body_json(history)
        })
        .mount(&green)
        .await;
    let app = spawn(&format!(
        "[green_api]\nbase_url = \"{}\"\ntimeout = \"300ms\"\n[delivery]\nrespond_within = \"2s\"\n",
        green.uri()
    ))
    .await;
    let (code, body) = app
        .post(
            &format!("/webhook/green-api?apiUrl=1103.api.green-api.com&idInstance={ID}&apiTokenInstance={KEY}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let id = body["DeliveryId"].as_str().unwrap();
    let record = app.wait_for(id, |r| r.state == State::Sent).await;
    assert_eq!(record.provider_id.as_deref(), Some("3EB0-listed"));
    assert_eq!(sent.lock().unwrap().len(), 1, "sent once");
}
