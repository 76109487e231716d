//! The green-api channel against a wiremock GREEN-API (`green_api.base_url`).

use serde_json::json;
use wiremock::{
    matchers::{body_json, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, spawn, TestApp};

const ID: &str = "1101000001";
const TOKEN: &str = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345";
const ID_MAX: &str = "3100000002";
const TOKEN_MAX: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829";

async fn with_green_api() -> (TestApp, MockServer) {
    let green = MockServer::start().await;
    let app = spawn(&format!(
        "[green_api]\nbase_url = \"{}\"\nrepeat_after = \"10ms\"\n",
        green.uri()
    ))
    .await;
    (app, green)
}

fn wa(extra: &str) -> String {
    format!("/webhook/green-api?apiUrl=1103.api.green-api.com&idInstance={ID}&apiTokenInstance={TOKEN}{extra}")
}

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn api_url_is_an_allow_listed_https_host_only() {
    let (app, green) = with_green_api().await;
    for bad in [
        "127.0.0.1",
        "evil.example",
        "http%3A%2F%2Fapi.green-api.com",
        "api.green-api.com%3A8080",
        "1103.api.green-api.com.evil.example",
        "user%40api.green-api.com",
        "%5B%3A%3A1%5D",
        "api.green-api.com%2Fother",
    ] {
        let (code, body) = app
            .get(&format!(
                "/webhook/green-api?apiUrl={bad}&idInstance={ID}&apiTokenInstance={TOKEN}"
            ))
            .await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(
            body["ErrorMessage"]
                .as_str()
                .unwrap()
                .starts_with("Parameter <apiUrl> is not allowed"),
            "{body}"
        );
    }
    assert!(green.received_requests().await.unwrap().is_empty());
    Mock::given(method("GET"))
        .and(path(format!("/waInstance{ID}/getStateInstance/{TOKEN}")))
        .respond_with(ok(json!({"stateInstance": "authorized"})))
        .mount(&green)
        .await;
    for good in [
        "1103.api.green-api.com",
        "https%3A%2F%2Fapi.green-api.com%2F",
        "api.greenapi.com",
    ] {
        let (code, body) = app
            .get(&format!(
                "/webhook/green-api?apiUrl={good}&idInstance={ID}&apiTokenInstance={TOKEN}"
            ))
            .await;
        assert_eq!(code, 200, "{good}: {body}");
    }
}

#[tokio::test]
async fn check_explains_an_instance_that_is_not_authorized() {
    let (app, green) = with_green_api().await;
    Mock::given(method("GET"))
        .respond_with(ok(json!({"stateInstance": "notAuthorized"})))
        .mount(&green)
        .await;
    let (code, body) = app.get(&wa("")).await;
    assert_eq!(code, 502, "{body}");
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("scan the QR code"),
        "{body}"
    );
}

#[tokio::test]
async fn whatsapp_send_and_a_token_echoed_in_an_error_stays_hidden() {
    let (app, green) = with_green_api().await;
    let (_, preview) = app
        .post(
            "/preview/log?message=Hi",
            fixture("booking-one-resource.json"),
        )
        .await;
    let text = preview["Text"].as_str().unwrap().to_string();
    Mock::given(method("POST"))
        .and(path(format!("/waInstance{ID}/sendMessage/{TOKEN}")))
        .and(body_json(
            json!({"chatId": "79119998877@c.us", "message": text}),
        ))
        .respond_with(ok(json!({"idMessage": "3EB0C767D097B7C7C030"})))
        .up_to_n_times(1)
        .mount(&green)
        .await;
    let (code, body) = app
        .post(&wa("&message=Hi"), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 200, "{body}");
    let record = app.record(body["DeliveryId"].as_str().unwrap()).await;
    assert_eq!(record.provider_id.as_deref(), Some("3EB0C767D097B7C7C030"));

    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "statusCode": 400, "timestamp": 1700000000,
            "path": format!("/waInstance{ID}/sendMessage/{TOKEN}"),
            "message": format!("Validation failed. Details: bad chatId for /waInstance{ID}/sendMessage/{TOKEN}")
        })))
        .mount(&green)
        .await;
    let (code, body) = app
        .post(
            &wa("&message=Again&errorEmail=op%40example.com"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 502, "{body}");
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("Validation failed"),
        "{body}"
    );
    assert!(!body.to_string().contains(TOKEN), "{body}");
    let mut mails = Vec::new();
    for _ in 0..500 {
        mails = app.eml_files();
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(mails.len(), 1);
    assert!(!mails[0].contains(TOKEN), "{}", mails[0]);
}

#[tokio::test]
async fn both_messengers_try_whatsapp_then_max() {
    let (app, green) = with_green_api().await;
    Mock::given(method("POST"))
        .and(path(format!("/waInstance{ID}/sendMessage/{TOKEN}")))
        .respond_with(ResponseTemplate::new(403))
        .mount(&green)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/v3/waInstance{ID_MAX}/checkAccount/{TOKEN_MAX}"
        )))
        .and(body_json(json!({"phoneNumber": 79119998877u64})))
        .respond_with(ok(json!({"exist": true, "chatId": "10000000"})))
        .mount(&green)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/v3/waInstance{ID_MAX}/sendMessage/{TOKEN_MAX}"
        )))
        .respond_with(ok(json!({"idMessage": "max-1"})))
        .expect(1)
        .mount(&green)
        .await;
    let url = wa(&format!(
        "&apiUrlMax=3100.api.green-api.com&idInstanceMax={ID_MAX}&apiTokenInstanceMax={TOKEN_MAX}&message=Hi"
    ));
    let (code, body) = app.post(&url, fixture("booking-one-resource.json")).await;
    assert_eq!(code, 200, "{body}");
    let sent: Vec<serde_json::Value> = green
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().contains("/v3/") && r.url.path().contains("sendMessage"))
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(sent[0]["chatId"], "10000000");
}

#[tokio::test]
async fn repeat_sends_once_more_only_when_still_not_delivered() {
    let (app, green) = with_green_api().await;
    Mock::given(method("POST"))
        .and(path(format!("/waInstance{ID}/sendMessage/{TOKEN}")))
        .respond_with(ok(json!({"idMessage": "m-1"})))
        .mount(&green)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/waInstance{ID}/getMessage/{TOKEN}")))
        .respond_with(ok(json!({"type": "outgoing", "statusMessage": "sent"})))
        .up_to_n_times(1)
        .mount(&green)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/waInstance{ID}/getMessage/{TOKEN}")))
        .respond_with(ok(
            json!({"type": "outgoing", "statusMessage": "delivered"}),
        ))
        .mount(&green)
        .await;
    let sends = || async {
        green
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path().ends_with(&format!("sendMessage/{TOKEN}")))
            .count()
    };
    let (code, body) = app
        .post(
            &wa("&repeat=true&message=one"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        sends().await,
        2,
        "still 'sent' after the pause: sent once more"
    );
    let (code, body) = app
        .post(
            &wa("&repeat=true&message=two"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(sends().await, 3, "'delivered': not sent again");
}
