//! The wappi channel against a wiremock Wappi (SPEC §5).

use serde_json::json;
use wiremock::{
    matchers::{body_json, header, method, path, query_param},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, spawn, TestApp, TOKEN};

async fn with_wappi() -> (TestApp, MockServer) {
    let wappi = MockServer::start().await;
    let app = spawn(&format!("[wappi]\nbase_url = \"{}\"\n", wappi.uri())).await;
    (app, wappi)
}

fn done() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"status": "done", "message_id": "3EB0128AE5"}))
}

async fn expected_text(app: &TestApp, query: &str) -> String {
    let (code, body) = app
        .post(
            &format!("/preview/log?{query}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    body["Text"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn cascade_send() {
    let (app, wappi) = with_wappi().await;
    let text = expected_text(&app, "message=Hi").await;
    Mock::given(method("POST"))
        .and(path("/csender/cascade/send"))
        .and(header("Authorization", TOKEN))
        .and(body_json(
            json!({"recipient": "79119998877", "body": text, "cascade_id": "e9f1c45c0bd7a3e8e8ba"}),
        ))
        .respond_with(done())
        .expect(1)
        .mount(&wappi)
        .await;
    let (code, body) = app
        .post(
            &format!("/webhook/wappi?cascadeId=e9f1c45c0bd7a3e8e8ba&apiToken={TOKEN}&message=Hi&errorEmail=op%40example.com"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["Status"], "Success");
    let id = body["DeliveryId"].as_str().unwrap();
    assert_eq!(
        app.record(id).await.provider_id.as_deref(),
        Some("3EB0128AE5")
    );
}

async fn profile_send(platform: Option<&str>, prefix: &str) {
    let (app, wappi) = with_wappi().await;
    let status = match platform {
        Some(p) => {
            json!({"authorized": true, "platform": p, "payment_expired_at": "2099-01-01T00:00:00Z"})
        }
        None => json!({"authorized": true, "payment_expired_at": "2099-01-01T00:00:00Z"}),
    };
    Mock::given(method("GET"))
        .and(path("/api/sync/get/status"))
        .and(query_param("profile_id", "58271315-d123"))
        .and(header("Authorization", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(status))
        .expect(1)
        .mount(&wappi)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{prefix}/sync/message/send")))
        .and(query_param("profile_id", "58271315-d123"))
        .and(header("Authorization", TOKEN))
        .respond_with(done())
        .expect(2)
        .mount(&wappi)
        .await;
    for message in ["one", "two"] {
        let (code, body) = app
            .post(
                &format!(
                    "/webhook/wappi?profileId=58271315-d123&apiToken={TOKEN}&message={message}"
                ),
                fixture("booking-one-resource.json"),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }
    let sends: Vec<serde_json::Value> = wappi
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(sends[0]["recipient"], "79119998877");
    assert!(sends[0]["body"].as_str().unwrap().contains("\none\n"));
}

#[tokio::test]
async fn telegram_profile_send_caches_the_platform() {
    profile_send(Some("tg"), "tapi").await;
}

#[tokio::test]
async fn whatsapp_profile_send() {
    profile_send(None, "api").await;
}

#[tokio::test]
async fn max_profile_send() {
    profile_send(Some("max"), "maxapi").await;
}

#[tokio::test]
async fn bad_token_is_a_permanent_error_without_the_token() {
    let (app, wappi) = with_wappi().await;
    Mock::given(method("POST"))
        .and(path("/csender/cascade/send"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({"status": "error", "detail": format!("token {TOKEN} invalid")}),
            ),
        )
        .expect(1)
        .mount(&wappi)
        .await;
    let (code, body) = app
        .post(
            &format!("/webhook/wappi?cascadeId=abc123&apiToken={TOKEN}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 502, "{body}");
    assert_eq!(body["Status"], "Error");
    let message = body["ErrorMessage"].as_str().unwrap();
    assert!(message.contains("cascade <abc123>"), "{message}");
    assert!(message.contains("…97b3"), "{message}");
    assert!(!body.to_string().contains(TOKEN));
    let record = app.record(body["DeliveryId"].as_str().unwrap()).await;
    assert_eq!(
        (record.state, record.attempts),
        (torrow_hooks::store::State::Failed, 1)
    );
}

#[tokio::test]
async fn server_error_is_retryable_and_queued() {
    let (app, wappi) = with_wappi().await;
    Mock::given(method("POST"))
        .and(path("/csender/cascade/send"))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html>oops</html>"))
        .mount(&wappi)
        .await;
    let (code, body) = app
        .post(
            &format!("/webhook/wappi?cascadeId=abc123&apiToken={TOKEN}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["Status"], "Queued");
    let message = body["Message"].as_str().unwrap();
    assert!(
        message.contains("HTTP 500") && message.contains("will be retried"),
        "{message}"
    );
    assert!(message.contains("<html>oops</html>"), "{message}");
}

#[tokio::test]
async fn timeout_is_retryable() {
    let wappi = MockServer::start().await;
    let app = spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\ntimeout = \"200ms\"\n",
        wappi.uri()
    ))
    .await;
    Mock::given(method("POST"))
        .respond_with(done().set_delay(std::time::Duration::from_secs(3)))
        .mount(&wappi)
        .await;
    let (code, body) = app
        .post(
            &format!("/webhook/wappi?cascadeId=abc123&apiToken={TOKEN}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{body}"
    );
}

#[tokio::test]
async fn status_error_in_a_200_is_a_failure_with_its_detail() {
    let (app, wappi) = with_wappi().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"status": "error", "detail": "recipient is not on WhatsApp"}),
            ),
        )
        .mount(&wappi)
        .await;
    let (code, body) = app
        .post(
            &format!("/webhook/wappi?cascadeId=abc123&apiToken={TOKEN}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 502);
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .ends_with("status <error>: recipient is not on WhatsApp"),
        "{body}"
    );
}

#[tokio::test]
async fn check_cascade() {
    let (app, wappi) = with_wappi().await;
    Mock::given(method("GET"))
        .and(path("/csender/cascade/get"))
        .and(query_param("cascade_id", "good1"))
        .and(header("Authorization", TOKEN))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"cascade": {"name": "c", "order": []}})),
        )
        .mount(&wappi)
        .await;
    Mock::given(method("GET"))
        .and(path("/csender/cascade/get"))
        .and(query_param("cascade_id", "missing1"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"detail": "Cascade not found"})),
        )
        .mount(&wappi)
        .await;
    let (code, body) = app
        .get(&format!(
            "/webhook/wappi?cascadeId=good1&apiToken={TOKEN}&errorEmail=a%40b.ru"
        ))
        .await;
    assert_eq!(
        (code, body["Message"].as_str()),
        (200, Some("The WebHook has been successfully verified")),
        "{body}"
    );
    let (code, body) = app
        .get(&format!(
            "/webhook/wappi?cascadeId=missing1&apiToken={TOKEN}"
        ))
        .await;
    assert_eq!(code, 502);
    assert_eq!(body["Status"], "Error");
    assert_eq!(
        body["ErrorMessage"],
        "Wappi does not know cascade <missing1> (HTTP 404): Cascade not found"
    );
    assert!(
        wappi
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.method.as_str() == "GET"),
        "check never sends"
    );
}

#[tokio::test]
async fn check_bad_token() {
    let (app, wappi) = with_wappi().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_string("Forbidden"))
        .mount(&wappi)
        .await;
    let (code, body) = app
        .get(&format!("/webhook/wappi?cascadeId=c1&apiToken={TOKEN}"))
        .await;
    assert_eq!(code, 502);
    assert_eq!(
        body["ErrorMessage"],
        "Wappi refused the apiToken <…97b3> for cascade <c1> (HTTP 403): Forbidden"
    );
}

async fn check_profile(status: serde_json::Value) -> (u16, serde_json::Value) {
    let (app, wappi) = with_wappi().await;
    Mock::given(method("GET"))
        .and(path("/api/sync/get/status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(status))
        .mount(&wappi)
        .await;
    app.get(&format!(
        "/webhook/wappi?profileId=58271315-d123&apiToken={TOKEN}&errorEmail=a%40b.ru"
    ))
    .await
}

#[tokio::test]
async fn check_unpaid_profile_warns() {
    let (code, body) =
        check_profile(json!({"authorized": true, "payment_expired_at": "2023-12-13T00:00:00Z"}))
            .await;
    assert_eq!(code, 200);
    assert_eq!(body["Status"], "Success");
    let warning = body["WarningMessage"].as_str().unwrap();
    assert!(
        warning.contains("profile <58271315-d123> expired on 2023-12-13"),
        "{warning}"
    );
}

#[tokio::test]
async fn check_unauthorized_profile_is_an_error() {
    let (code, body) =
        check_profile(json!({"authorized": false, "payment_expired_at": "2099-01-01T00:00:00Z"}))
            .await;
    assert_eq!(code, 502);
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("is not authorized"),
        "{body}"
    );
}

#[tokio::test]
async fn check_both_ids_uses_the_cascade() {
    let (app, wappi) = with_wappi().await;
    Mock::given(method("GET"))
        .and(path("/csender/cascade/get"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"cascade": {}})))
        .expect(1)
        .mount(&wappi)
        .await;
    let (code, body) = app
        .get(&format!(
            "/webhook/wappi?cascadeId=c1&profileId=p1&apiToken={TOKEN}&errorEmail=a%40b.ru"
        ))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["WarningMessage"],
        "Parameter <profileId> is ignored because <cascadeId> is given"
    );
}

#[tokio::test]
async fn api_token_instance_alias_works_with_a_warning() {
    let (app, wappi) = with_wappi().await;
    Mock::given(method("GET"))
        .and(path("/csender/cascade/get"))
        .and(header("Authorization", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"cascade": {}})))
        .expect(1)
        .mount(&wappi)
        .await;
    let (code, body) = app
        .get(&format!(
            "/webhook/wappi?cascadeId=c1&apiTokenInstance={TOKEN}&errorEmail=a%40b.ru"
        ))
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(body["WarningMessage"]
        .as_str()
        .unwrap()
        .contains("<apiTokenInstance> is accepted as <apiToken>"));
}

#[tokio::test]
async fn wrong_wappi_parameters() {
    let (app, wappi) = with_wappi().await;
    let (code, body) = app.get("/webhook/wappi?errorEmail=a%40b.ru").await;
    assert_eq!(code, 400);
    assert_eq!(
        body["ErrorMessage"],
        "Parameter <apiToken> is missing: copy it from the Wappi cabinet (profile settings); \
         Parameter <cascadeId> or <profileId> is required: the Wappi cascade or profile to send through"
    );
    let (code, body) = app
        .get("/webhook/wappi?apiToken=bad!token99&cascadeId=a_b")
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["ErrorMessage"],
        "Parameter <apiToken> must be 1 to 128 letters and digits <…en99>; \
         Parameter <cascadeId> must be 1 to 64 letters, digits or '-' <a_b>"
    );
    assert!(wappi.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn check_mode_names_why_wappi_cannot_be_reached_and_promises_no_retry() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let plain_http = MockServer::start().await;
    let cases = [
        (format!("http://{closed}"), "connection refused"),
        (
            "http://wappi.invalid".to_string(),
            "host name does not resolve (DNS)",
        ),
        (
            plain_http.uri().replace("http://", "https://"),
            "TLS (HTTPS) connection failed",
        ),
    ];
    for (base_url, cause) in cases {
        let app = spawn(&format!("[wappi]\nbase_url = \"{base_url}\"\n")).await;
        let (code, body) = app
            .get(&format!("/webhook/wappi?cascadeId=abc123&apiToken={TOKEN}"))
            .await;
        assert_eq!(code, 502, "{body}");
        let error = body["ErrorMessage"].as_str().unwrap();
        assert!(error.contains(cause), "{base_url}: {error}");
        assert!(error.contains("nothing was sent"), "{error}");
        assert!(!error.contains("retried"), "{error}");
        assert!(!error.contains(TOKEN));
    }
}
