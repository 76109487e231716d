//! No mail to an address that did not ask for it: the first email to a new `errorEmail` is a
//! confirmation with nothing the caller chose in it; reports follow once its link's button is
//! pressed; one confirmation per 30 days; without `server.public_url`, new addresses get nothing.

use serde_json::json;
use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

use crate::support::{fixture, on_both_backends, readable_mail, spawn, TestApp, TOKEN};

/// A Wappi that accepts the token (checks pass) and refuses every send (a report each).
async fn refusing_wappi() -> MockServer {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"status": "error", "detail": "VISIT http://evil.example"})),
        )
        .mount(&wappi)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "done", "cascade": {"id": "c0ffee"}})),
        )
        .mount(&wappi)
        .await;
    wappi
}

fn hook(n: usize) -> String {
    format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}&errorEmail=owner%40salon.test&message=CALLER-TEXT-{n}")
}

/// Waits (bounded) until the mail folder holds `count` emails; returns them.
async fn emails(app: &TestApp, count: usize) -> Vec<String> {
    for _ in 0..500 {
        let files = app.eml_files();
        if files.len() >= count {
            return files;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{} emails, not {count}", app.eml_files().len());
}

async fn reports_follow_only_after_the_address_confirms() {
    let wappi = refusing_wappi().await;
    let app = spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\n[server]\npublic_url = \"http://hooks.test/\"\nlanguage = \"ru\"\n[mail]\nthrottle = \"0s\"\n",
        wappi.uri()
    ))
    .await;
    let (code, _) = app.get(&hook(0)).await;
    assert_eq!(code, 200, "the operator's check vouches for the token");
    let (code, _) = app
        .post(&hook(1), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 502);
    // The first email asks, in the operator's language, with no text of the caller's.
    let asked = readable_mail(&emails(&app, 1).await[0]);
    assert!(asked.contains("http://hooks.test/confirm/"), "{asked}");
    assert!(asked.contains("Если вы ждёте эти отчёты"), "{asked}");
    for caller in ["CALLER-TEXT", "evil.example", "fsdfsdf", "7911"] {
        assert!(!asked.contains(caller), "{caller} in {asked}");
    }
    let token: String = asked
        .split("http://hooks.test/confirm/")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    assert_eq!(token.len(), 32);
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(ready["mail"]["awaiting_confirmation"], 1, "{ready}");
    // More failures meanwhile: held, no second confirmation.
    let (code, _) = app
        .post(&hook(2), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 502);
    app.wait_mail_queue_empty().await;
    assert_eq!(app.eml_files().len(), 1);

    // Opening the link shows a button and confirms nothing; the button confirms.
    let page = app
        .http
        .get(format!("{}/confirm/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("<form method=\"post\""));
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(ready["mail"]["awaiting_confirmation"], 1, "{ready}");
    let done = app
        .http
        .post(format!("{}/confirm/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 200);
    assert!(done.text().await.unwrap().contains("owner@salon.test"));
    // The held reports go out now, together.
    let all = emails(&app, 2).await;
    let report = all
        .iter()
        .map(|e| readable_mail(e))
        .find(|e| !e.contains("/confirm/"))
        .unwrap();
    assert!(
        report.contains("CALLER-TEXT-1") || report.contains("CALLER-TEXT-2"),
        "{report}"
    );
    // The token works once.
    let again = app
        .http
        .post(format!("{}/confirm/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 404);
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(ready["mail"]["awaiting_confirmation"], 0, "{ready}");
}

async fn without_a_public_url_new_addresses_get_nothing_and_readyz_says_why() {
    let wappi = refusing_wappi().await;
    let app = spawn(&format!("[wappi]\nbase_url = \"{}\"\n", wappi.uri())).await;
    let (code, _) = app.get(&hook(0)).await;
    assert_eq!(code, 200);
    let (code, _) = app
        .post(&hook(1), fixture("booking-one-resource.json"))
        .await;
    assert_eq!(code, 502);
    let (_, ready) = app.get("/readyz").await;
    assert!(
        ready["mail"]["new_addresses"]
            .as_str()
            .unwrap()
            .contains("server.public_url"),
        "{ready}"
    );
    // The mailer has looked (its wake after the report) and sent nothing.
    app.running.app.delivery.wake();
    let waiting = app
        .running
        .app
        .store
        .held_reports("owner@salon.test")
        .await
        .unwrap();
    assert_eq!(waiting, 1);
    assert!(app.eml_files().is_empty());
}

on_both_backends!(
    reports_follow_only_after_the_address_confirms,
    without_a_public_url_new_addresses_get_nothing_and_readyz_says_why,
);
