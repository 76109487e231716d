//! A sender declared in the settings (`[channels.<name>] kind = "http"`), against wiremock.

use serde_json::json;
use wiremock::{
    matchers::{header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, spawn, TestApp};

const SECRET: &str = "sekret-0123456789";

async fn with_crm() -> (TestApp, MockServer) {
    let crm = MockServer::start().await;
    let settings = format!(
        r#"
[delivery]
retry_schedule = ["20ms"]
[channels.crm]
kind = "http"
title = "Our CRM"
params = ["key", "token"]
secret_params = ["token"]
recipient = "phone"
method = "POST"
url = "{}/notify/{{{{ query.key }}}}?ref={{{{ delivery_id }}}}"
headers = {{ Authorization = "Bearer {{{{ query.token }}}}" }}
body = '{{"to": {{{{ recipient | json_encode }}}}, "text": {{{{ text | json_encode }}}}}}'
"#,
        crm.uri()
    );
    (spawn(&settings).await, crm)
}

#[tokio::test]
async fn a_declared_sender_delivers_and_retries_like_a_built_in_one() {
    let (app, crm) = with_crm().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&crm)
        .await;
    Mock::given(method("POST"))
        .and(path("/notify/a%20b%2Fc"))
        .and(header("Authorization", format!("Bearer {SECRET}").as_str()))
        .respond_with(ResponseTemplate::new(204))
        .mount(&crm)
        .await;
    let (_, preview) = app
        .post(
            "/preview/crm?key=k&token=t&message=Hi",
            fixture("booking-one-resource.json"),
        )
        .await;
    let text = preview["Text"].as_str().unwrap().to_string();
    let (code, body) = app
        .post(
            &format!("/webhook/crm?key=a%20b%2Fc&token={SECRET}&message=Hi"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert!(code == 200 || code == 202, "{body}");
    let id = body["DeliveryId"].as_str().unwrap();
    app.wait_for(id, |r| r.state == torrow_hooks::store::State::Sent)
        .await;
    let requests = crm.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one failure, one success");
    let last = requests.last().unwrap();
    assert_eq!(last.url.query(), Some(&*format!("ref={id}")));
    let sent: serde_json::Value = last.body_json().unwrap();
    assert_eq!(sent, json!({"to": "79119998877", "text": text}));
}

#[tokio::test]
async fn a_declared_sender_has_parameters_check_mode_and_masked_secrets() {
    let (app, crm) = with_crm().await;
    let (code, body) = app.get("/webhook/crm?key=k").await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["ErrorMessage"], "Parameter <token> is missing");
    let (code, body) = app
        .get(&format!(
            "/webhook/crm?key=k&token={SECRET}&errorEmail=a%40b.ru"
        ))
        .await;
    assert_eq!(code, 200, "{body}");
    let (_, channels) = app.get("/api/channels").await;
    let crm_entry = channels["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "crm")
        .expect("the declared channel is listed")
        .clone();
    assert_eq!(crm_entry["title"], "Our CRM");
    assert_eq!(crm_entry["params"][1]["name"], "token");
    assert_eq!(crm_entry["params"][1]["secret"], true);
    // The provider echoes the secret in a refusal: it never reaches the answer.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_string(format!("bad token {SECRET}")))
        .mount(&crm)
        .await;
    let (code, body) = app
        .post(
            &format!("/webhook/crm?key=k&token={SECRET}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 502, "{body}");
    assert!(
        body["ErrorMessage"].as_str().unwrap().contains("HTTP 403"),
        "{body}"
    );
    assert!(!body.to_string().contains(SECRET), "{body}");
}

#[test]
fn a_mistaken_declaration_stops_start_up_naming_the_key() {
    let settings = torrow_hooks::Settings::with_overrides(
        "[channels.crm]\nkind = \"http\"\nurl = \"https://x/{{ query.key \"\nrecipient = \"email\"\n",
    )
    .unwrap();
    let err = torrow_hooks::channel::Registry::new(&settings)
        .err()
        .unwrap();
    assert!(
        err.to_string().starts_with("channels.crm.recipient"),
        "{err}"
    );
}
