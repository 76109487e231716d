//! The wazzup24 channel against a wiremock Wazzup24 API.

use serde_json::json;
use wiremock::{
    matchers::{header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, spawn, TestApp};

const KEY: &str = "5f2c1a9e0d7b4c3aa1b2c3d4e5f60718";
const CHANNEL: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

async fn with_wazzup() -> (TestApp, MockServer) {
    let wazzup = MockServer::start().await;
    let app = spawn(&format!(
        "[wazzup24]\nbase_url = \"{}\"\n[delivery]\nretry_schedule = [\"20ms\"]\n",
        wazzup.uri()
    ))
    .await;
    (app, wazzup)
}

fn hook(extra: &str) -> String {
    format!("/webhook/wazzup24?key_api={KEY}&channel_id={CHANNEL}&chat_type=whatsapp{extra}")
}

async fn channels(wazzup: &MockServer, list: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path("/v3/channels"))
        .and(header("Authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(list))
        .mount(wazzup)
        .await;
}

#[tokio::test]
async fn check_wants_the_channel_active() {
    let (app, wazzup) = with_wazzup().await;
    channels(
        &wazzup,
        json!([{"channelId": CHANNEL, "transport": "whatsapp", "plainId": "79001112233", "state": "active"}]),
    )
    .await;
    let (code, body) = app.get(&hook("&errorEmail=a%40b.ru")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["Status"], "Success");
}

#[tokio::test]
async fn check_explains_an_inactive_or_missing_channel() {
    let (app, wazzup) = with_wazzup().await;
    channels(
        &wazzup,
        json!([{"channelId": CHANNEL, "transport": "whatsapp", "state": "qr"}]),
    )
    .await;
    let (code, body) = app.get(&hook("")).await;
    assert_eq!(code, 502, "{body}");
    assert!(
        body["ErrorMessage"].as_str().unwrap().contains("QR code"),
        "{body}"
    );
    let (code, body) = app
        .get(&format!("/webhook/wazzup24?key_api={KEY}&channel_id=other"))
        .await;
    assert_eq!(code, 502, "{body}");
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("has no channel <other>"));
    let (code, body) = app.get(&hook("").replace("whatsapp", "telegram")).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("only whatsapp"));
}

#[tokio::test]
async fn sends_with_a_crm_message_id_that_stays_the_same_across_retries() {
    let (app, wazzup) = with_wazzup().await;
    Mock::given(method("POST"))
        .and(path("/v3/message"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&wazzup)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/message"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"messageId": "wz-1", "chatId": "79119998877"})),
        )
        .mount(&wazzup)
        .await;
    let (code, body) = app
        .post(&hook("&message=Hi"), fixture("booking-one-resource.json"))
        .await;
    assert!(code == 200 || code == 202, "{body}");
    let id = body["DeliveryId"].as_str().unwrap();
    let record = app
        .wait_for(id, |r| r.state == torrow_hooks::store::State::Sent)
        .await;
    assert_eq!(record.provider_id.as_deref(), Some("wz-1"));
    let sends = wazzup.received_requests().await.unwrap();
    assert_eq!(sends.len(), 2);
    for send in &sends {
        let b: serde_json::Value = send.body_json().unwrap();
        assert_eq!(b["channelId"], CHANNEL);
        assert_eq!(b["chatType"], "whatsapp");
        assert_eq!(b["chatId"], "79119998877");
        assert_eq!(b["crmMessageId"], id);
        assert!(b["text"].as_str().unwrap().contains("\nHi\n"));
    }
}

#[tokio::test]
async fn an_already_received_message_counts_as_sent_and_a_refusal_is_permanent() {
    let (app, wazzup) = with_wazzup().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"status": 400, "error": "REPEATED_CRM_MESSAGE_ID"})),
        )
        .up_to_n_times(1)
        .mount(&wazzup)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"status": 400, "error": "BAD_CONTACT", "description": "The number is not on WhatsApp"}),
        ))
        .mount(&wazzup)
        .await;
    let (code, body) = app
        .post(&hook("&message=one"), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = app
        .post(&hook("&message=two"), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 502, "{body}");
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("BAD_CONTACT"),
        "{body}"
    );
    assert!(!body.to_string().contains(KEY));
}
