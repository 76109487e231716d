//! The console's JSON API: channels, console facts, check and preview with the query in the body,
//! and the deliveries (admin token).

use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, spawn, TestApp, TOKEN};
use torrow_hooks::store::State;

const ADMIN: &str = "adm-7f3c9e1b5d";

async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let url = format!("{}{path}", app.base);
    let mut request = match method {
        "POST" => app.http.post(url),
        _ => app.http.get(url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let code = response.status().as_u16();
    (code, response.json().await.expect("a JSON answer"))
}

#[tokio::test]
async fn channels_list_every_parameter_with_its_kind_and_help() {
    let app = spawn("").await;
    let (code, body) = app.get("/api/channels").await;
    assert_eq!(code, 200);
    let wappi = body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "wappi")
        .expect("wappi is listed");
    let token = wappi["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "apiToken")
        .unwrap();
    assert_eq!(
        (&token["required"], &token["secret"], &token["kind"]),
        (&json!(true), &json!(true), &json!("text"))
    );
    let common = body["common"].as_array().unwrap();
    let find = |name: &str| common.iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(find("hide_contact_info")["kind"], "flag");
    assert_eq!(find("hide_contact_info")["default"], true);
    assert_eq!(find("hide_address")["default"], false);
    assert_eq!(find("message")["kind"], "multiline");
    assert_eq!(find("timezone")["kind"], "timezone");
    assert_eq!(find("date_locales")["kind"], "locale");
    assert!(find("timezone")["help"]["ru"]
        .as_str()
        .unwrap()
        .contains("Часовой пояс"));
}

#[tokio::test]
async fn console_facts_name_locales_zones_samples_and_the_public_url() {
    let app = spawn("[server]\npublic_url = \"https://hooks.example.com/\"\n").await;
    let (code, body) = app.get("/api/console").await;
    assert_eq!(code, 200);
    assert_eq!(body["public_url"], "https://hooks.example.com");
    assert_eq!(body["locales"], json!(["en-US", "ru-RU"]));
    assert!(body["timezones"]
        .as_array()
        .unwrap()
        .contains(&json!("Asia/Yekaterinburg")));
    assert_eq!(
        body["samples"],
        json!(["booking", "order", "event", "cancelled"])
    );
    assert_eq!(body["admin"], false);
}

#[tokio::test]
async fn check_and_preview_take_the_query_in_the_body() {
    let app = spawn("").await;
    let check = |query: &str| json!({"channel": "log", "query": query}).to_string();
    let (code, body) = app.post("/api/check", check("errorEmail=a%40b.ru")).await;
    assert_eq!((code, &body["Status"]), (200, &json!("Success")), "{body}");
    let (code, body) = app.post("/api/check", check("hide_url=maybe")).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("<hide_url>"));

    let preview = json!({"channel": "log", "query": "hide_contact_info=false", "sample": "order"});
    let (code, body) = app.post("/api/preview", preview.to_string()).await;
    assert_eq!(code, 200, "{body}");
    let text = body["Text"].as_str().unwrap();
    assert!(text.contains("\nЗаказ №"), "{text}");
    assert!(text.contains("Контактная информация"), "{text}");
    assert_eq!(body["Recipient"], "7911*****77");

    let own: Value = serde_json::from_slice(&fixture("cancelled-booking.json")).unwrap();
    let preview = json!({"channel": "log", "query": "date_locales=en-US", "event": own});
    let (code, body) = app.post("/api/preview", preview.to_string()).await;
    assert_eq!(code, 200, "{body}");
    assert!(body["Text"]
        .as_str()
        .unwrap()
        .contains("has been cancelled"));

    let preview = json!({"channel": "log", "sample": "wedding"});
    let (code, body) = app.post("/api/preview", preview.to_string()).await;
    assert_eq!(code, 400);
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("booking, order, event, cancelled"));
    let (code, body) = app.post("/api/check", "channel=log").await;
    assert_eq!(code, 400);
    assert!(body["ErrorMessage"].as_str().unwrap().contains("JSON"));
}

#[tokio::test]
async fn deliveries_are_closed_without_the_admin_token() {
    let app = spawn("").await;
    let (code, body) = call(&app, "GET", "/api/deliveries", Some("anything")).await;
    assert_eq!(code, 401);
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("server.admin_token"));

    let app = spawn(&format!("[server]\nadmin_token = \"{ADMIN}\"\n")).await;
    app.post("/webhook/log", fixture("booking-one-resource.json"))
        .await;
    for token in [None, Some("adm"), Some("wrong-token")] {
        let (code, body) = call(&app, "GET", "/api/deliveries", token).await;
        assert_eq!(code, 401, "{token:?}");
        assert!(body.get("deliveries").is_none());
    }
    let (code, _) = call(&app, "POST", "/api/deliveries/x/replay", None).await;
    assert_eq!(code, 401);
    let (code, body) = call(&app, "GET", "/api/deliveries", Some(ADMIN)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn list_show_and_replay_a_dead_delivery() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&wappi)
        .await;
    let app = spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\n[server]\nadmin_token = \"{ADMIN}\"\n\
         [delivery]\nmax_age = \"200ms\"\nretry_schedule = [\"50ms\"]\n",
        wappi.uri()
    ))
    .await;
    let hook = format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}");
    let (code, body) = app.post(&hook, fixture("booking-one-resource.json")).await;
    assert_eq!(code, 202, "{body}");
    let id = body["DeliveryId"].as_str().unwrap().to_string();
    let dead = app.wait_for(&id, |r| r.state == State::Dead).await;
    app.post("/webhook/log", fixture("booking-one-resource.json"))
        .await;

    let (code, body) = call(&app, "GET", "/api/deliveries?state=dead", Some(ADMIN)).await;
    assert_eq!(code, 200, "{body}");
    let list = body["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["state"], "dead");
    assert_eq!(list[0]["channel"], "wappi");
    assert_eq!(list[0]["recipient"], "7911*****77");
    assert_eq!(list[0]["attempts"], dead.attempts);
    assert!(list[0]["last_error"].as_str().unwrap().contains("503"));
    let (_, all) = call(&app, "GET", "/api/deliveries", Some(ADMIN)).await;
    assert_eq!(all["deliveries"].as_array().unwrap().len(), 2);
    let (code, body) = call(&app, "GET", "/api/deliveries?state=lost", Some(ADMIN)).await;
    assert_eq!(code, 400);
    assert!(body["ErrorMessage"].as_str().unwrap().contains("dead"));

    let (code, shown) = call(&app, "GET", &format!("/api/deliveries/{id}"), Some(ADMIN)).await;
    assert_eq!(code, 200, "{shown}");
    assert!(shown["text"].as_str().unwrap().contains("Запись №"));
    assert_eq!(shown["can_replay"], true);
    let attempts = shown["attempts_made"].as_array().unwrap();
    assert_eq!(attempts.len() as i64, dead.attempts);
    assert_eq!(attempts[0]["outcome"], "retry");
    assert_eq!(attempts.last().unwrap()["outcome"], "dead");
    assert!(!shown.to_string().contains(TOKEN), "no token in {shown}");

    // Wappi mended: the replay sends it once.
    wappi.reset().await;
    Mock::given(method("POST"))
        .and(path("/csender/cascade/send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "done"})))
        .expect(1)
        .mount(&wappi)
        .await;
    let replay = format!("/api/deliveries/{id}/replay");
    let (code, body) = call(&app, "POST", &replay, Some(ADMIN)).await;
    assert_eq!((code, &body["replayed"]), (200, &json!([id])), "{body}");
    let sent = app.wait_for(&id, |r| r.state == State::Sent).await;
    assert_eq!(sent.attempts, dead.attempts + 1);
    let (code, body) = call(&app, "POST", &replay, Some(ADMIN)).await;
    assert_eq!(code, 409, "{body}");
    assert!(body["ErrorMessage"].as_str().unwrap().contains("is sent"));
    let (code, _) = call(&app, "POST", "/api/deliveries/nope/replay", Some(ADMIN)).await;
    assert_eq!(code, 404);
    let (code, _) = call(&app, "GET", "/api/deliveries/nope", Some(ADMIN)).await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn the_console_page_is_served_with_a_strict_policy() {
    let app = spawn("").await;
    for page in ["/", "/console"] {
        let response = app
            .http
            .get(format!("{}{page}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let html = response.text().await.unwrap();
        assert!(html.contains("<script src=\"/console/console.js\""));
        assert!(!html.contains("<script>"), "no inline script");
    }
    for (asset, kind) in [
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let response = app
            .http
            .get(format!("{}{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
    // API answers carry nosniff too.
    let response = app
        .http
        .get(format!("{}/api/channels", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}
