//! The telegram channel against a wiremock Bot API.

use serde_json::json;
use wiremock::{
    matchers::{body_json, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, spawn, TestApp};

const BOT: &str = "6126237741:AAFQKNyn1jhScXSGsYCh_yxwWDT578ARMGA";

async fn with_telegram() -> (TestApp, MockServer) {
    let telegram = MockServer::start().await;
    let app = spawn(&format!("[telegram]\nbase_url = \"{}\"\n", telegram.uri())).await;
    (app, telegram)
}

fn hook(extra: &str) -> String {
    format!("/webhook/telegram?telegramToken={BOT}&telegramFieldName%20=*TelegramId{extra}")
}

#[tokio::test]
async fn check_names_the_bot_and_refuses_a_bad_token() {
    let (app, telegram) = with_telegram().await;
    Mock::given(method("GET"))
        .and(path(format!("/bot{BOT}/getMe")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ok": true, "result": {"id": 6126237741u64, "is_bot": true, "username": "my_salon_bot"}}),
        ))
        .mount(&telegram)
        .await;
    let (code, body) = app.get(&hook("&errorEmail=a%40b.ru")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["Message"],
        "The WebHook has been successfully verified"
    );
    assert!(
        body["WarningMessage"]
            .as_str()
            .unwrap()
            .contains("@my_salon_bot"),
        "{body}"
    );

    let other = "1111111111:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    Mock::given(method("GET"))
        .and(path(format!("/bot{other}/getMe")))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
            ),
        )
        .mount(&telegram)
        .await;
    let (code, body) = app
        .get(&format!(
            "/webhook/telegram?telegramToken={other}&telegramFieldName=*TelegramId"
        ))
        .await;
    assert_eq!(code, 502, "{body}");
    assert!(!body.to_string().contains(other), "{body}");
}

#[tokio::test]
async fn torrows_own_bot_is_wrong_parameters_with_what_to_do() {
    let (app, telegram) = with_telegram().await;
    for bot in ["TorrowServiceBot", "TorrowChatBot"] {
        let (code, body) = app
            .get(&format!(
                "/webhook/telegram?telegramToken={bot}&telegramFieldName=*TelegramId"
            ))
            .await;
        assert_eq!(code, 400, "{body}");
        let error = body["ErrorMessage"].as_str().unwrap();
        assert!(
            error.contains("@BotFather") && error.contains("Torrow's own bot"),
            "{error}"
        );
    }
    assert!(telegram.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn sends_escaped_html_to_the_id_in_the_field() {
    let (app, telegram) = with_telegram().await;
    let (code, preview) = app
        .post(
            &format!("/preview/telegram?telegramToken={BOT}&telegramFieldName=*TelegramId&message=A%20%26%20B%20%3Cb%3E"),
            fixture("booking-telegram.json"),
        )
        .await;
    assert_eq!(code, 200, "{preview}");
    let text = preview["Text"].as_str().unwrap();
    assert!(text.contains("\nA & B <b>\n"), "{text}");
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT}/sendMessage")))
        .and(body_json(
            json!({"chat_id": 123456789, "text": escaped, "parse_mode": "HTML"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ok": true, "result": {"message_id": 77, "chat": {"id": 123456789}}}),
        ))
        .expect(1)
        .mount(&telegram)
        .await;
    let (code, body) = app
        .post(
            &hook("&message=A%20%26%20B%20%3Cb%3E"),
            fixture("booking-telegram.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let record = app.record(body["DeliveryId"].as_str().unwrap()).await;
    assert_eq!(record.provider_id.as_deref(), Some("77"));
}

#[tokio::test]
async fn no_id_in_the_field_is_422() {
    let (app, telegram) = with_telegram().await;
    let (code, body) = app.post(&hook(""), fixture("missing-phone.json")).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["ErrorMessage"],
        "No Telegram id in field <*TelegramId>"
    );
    assert!(telegram.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_retry_after_is_honoured_and_a_block_is_permanent() {
    let (app, telegram) = with_telegram().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 40",
            "parameters": {"retry_after": 40}
        })))
        .up_to_n_times(1)
        .mount(&telegram)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"
        })))
        .mount(&telegram)
        .await;
    let before = chrono::Utc::now().timestamp_millis();
    let (code, body) = app
        .post(&hook("&message=one"), fixture("booking-telegram.json"))
        .await;
    assert_eq!(code, 202, "{body}");
    let record = app.record(body["DeliveryId"].as_str().unwrap()).await;
    assert!(record.next_attempt_at >= before + 40_000, "{record:?}");
    let (code, body) = app
        .post(&hook("&message=two"), fixture("booking-telegram.json"))
        .await;
    assert_eq!(code, 502, "{body}");
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("bot was blocked by the user"));
}
