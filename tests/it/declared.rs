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
    assert_eq!(crm_entry["title"]["en"], "Our CRM");
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

/// A CRM whose body template puts a value in raw, unquoted or inside quotes, and a header from a
/// parameter: the caller's values must stay values.
async fn with_raw_templates() -> (TestApp, MockServer) {
    let crm = MockServer::start().await;
    let settings = format!(
        r#"
[delivery]
retry_schedule = ["20ms"]
[channels.crm]
kind = "http"
params = ["key", "tag"]
url = "{}/notify"
headers = {{ X-Tag = "{{{{ query.tag }}}}" }}
body = '{{"key": "{{{{ query.key }}}}", "to": {{{{ recipient | json_encode }}}}, "text": {{{{ text | json_encode }}}}}}'
"#,
        crm.uri()
    );
    (spawn(&settings).await, crm)
}

#[tokio::test]
async fn a_value_in_a_json_body_cannot_add_fields() {
    let (app, crm) = with_raw_templates().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&crm)
        .await;
    let injected = r#"x", "to": "attacker"#;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("key", injected)
        .append_pair("tag", "t1")
        .append_pair("message", "line one\n\"quoted\"")
        .finish();
    let (code, body) = app
        .post(
            &format!("/webhook/crm?{query}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let requests = crm.received_requests().await.unwrap();
    let sent: serde_json::Value = requests[0].body_json().unwrap();
    assert_eq!(sent["key"], injected, "{sent}");
    assert_eq!(sent["to"], "79119998877", "{sent}");
    assert_eq!(sent.as_object().unwrap().len(), 3, "{sent}");
    assert!(
        sent["text"].as_str().unwrap().contains("\"quoted\""),
        "{sent}"
    );
}

#[tokio::test]
async fn a_line_break_in_a_header_is_a_permanent_failure_naming_it() {
    let (app, crm) = with_raw_templates().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&crm)
        .await;
    let (code, body) = app
        .post(
            "/webhook/crm?key=k&tag=a%0D%0AX-Evil:%201",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 502, "{body}");
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(error.contains("channels.crm.headers.X-Tag"), "{error}");
    let record = app.record(body["DeliveryId"].as_str().unwrap()).await;
    assert_eq!(record.state, torrow_hooks::store::State::Failed);
}
