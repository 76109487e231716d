//! A public hook URL must not be usable to mail strangers, flood one mailbox or leak a secret.

use serde_json::json;
use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

use crate::support::{fixture, next_mail, smtp_listener, spawn, TOKEN};

fn settings(smtp: &str, extra: &str) -> String {
    format!("[mail]\nsmtp_url = \"{smtp}\"\nthrottle = \"1h\"\n{extra}")
}

#[tokio::test]
async fn anonymous_bodies_never_cause_mail() {
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&settings(&smtp, "")).await;
    for i in 0..60 {
        let url = format!(
            "/webhook/log?errorEmail=victim{i}%40target.example&hide_url=x&message=Buy%20pills"
        );
        let (code, _) = app.post(&url, "{}").await;
        assert_eq!(code, 400);
        let (code, _) = app.post(&url.replace("hide_url=x&", ""), "{}").await;
        assert_eq!(code, 422);
        let (code, _) = app.post(&url, r#"{"CaseItem":{}}"#).await;
        assert_eq!(code, 400);
    }
    // A real event with a wrong parameter is reported; it is the first and only email.
    let (code, _) = app
        .post(
            "/webhook/log?errorEmail=operator%40example.com&hide_url=x",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 400);
    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.to, ["operator@example.com"]);
    assert!(mails.try_recv().is_err());
    app.wait_mail_queue_empty().await;
}

#[tokio::test]
async fn case_variants_of_one_address_are_one_mailbox() {
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&settings(&smtp, "")).await;
    for address in [
        "Op%40Example.com",
        "op%40example.com",
        "%20OP%40EXAMPLE.COM%20",
    ] {
        let (code, _) = app
            .post(
                &format!("/webhook/log?errorEmail={address}"),
                fixture("invalid-phone.json"),
            )
            .await;
        assert_eq!(code, 422);
    }
    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.to, ["op@example.com"]);
    // Whatever the first email did not carry waits for the same (throttled) mailbox.
    let waiting = app.running.app.store.mail_addresses(100, 0).await.unwrap();
    assert!(
        waiting.is_empty() || waiting == ["op@example.com"],
        "{waiting:?}"
    );
    assert!(mails.try_recv().is_err());
}

#[tokio::test]
async fn new_addresses_per_hour_are_capped() {
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&settings(&smtp, "max_new_addresses_per_hour = 3\n")).await;
    for i in 0..6 {
        let (code, _) = app
            .post(
                &format!("/webhook/log?errorEmail=op{i}%40example.com"),
                fixture("invalid-phone.json"),
            )
            .await;
        assert_eq!(code, 422);
    }
    let mut to = Vec::new();
    for _ in 0..3 {
        to.extend(next_mail(&mut mails).await.to);
    }
    to.sort();
    assert_eq!(
        to,
        ["op0@example.com", "op1@example.com", "op2@example.com"]
    );
    // The other three were never queued, so no email can follow.
    app.wait_mail_queue_empty().await;
    assert!(mails.try_recv().is_err());
}

#[tokio::test]
async fn a_digest_lists_a_bounded_number_of_reports() {
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&format!(
        "[mail]\nsmtp_url = \"{smtp}\"\nthrottle = \"1s\"\nmax_reports_per_email = 3\n"
    ))
    .await;
    let post = |n: usize| {
        let app = &app;
        async move {
            let url = format!("/webhook/log?errorEmail=op%40example.com&ref=r{n}");
            let (code, _) = app.post(&url, fixture("invalid-phone.json")).await;
            assert_eq!(code, 422);
        }
    };
    post(0).await;
    next_mail(&mut mails).await;
    for n in 1..8 {
        post(n).await;
    }
    let digest = next_mail(&mut mails).await;
    assert_eq!(digest.subject(), "[torrow-hooks] 7 delivery problems");
    assert!(digest.data.contains("=== 3 of 3 ==="), "{}", digest.data);
    assert!(!digest.data.contains("=== 4 of"), "{}", digest.data);
    assert!(digest.data.contains("… and 4 more"), "{}", digest.data);
    app.wait_mail_queue_empty().await;
}

#[tokio::test]
async fn the_callers_free_text_is_not_relayed() {
    let (smtp, mut mails) = smtp_listener().await;
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"detail": "Unauthorized"})))
        .mount(&wappi)
        .await;
    let app = spawn(&format!(
        "{}[wappi]\nbase_url = \"{}\"\n",
        settings(&smtp, ""),
        wappi.uri()
    ))
    .await;
    let spam = "Buy%20pills%20now%20".repeat(60);
    // Refused (wrong parameter): the message is not quoted at all.
    let (code, _) = app
        .post(
            &format!("/webhook/log?errorEmail=a%40example.com&hide_url=x&message={spam}&sign_text={spam}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 400);
    let mail = next_mail(&mut mails).await;
    assert!(!mail.data.contains("Buy pills"), "{}", mail.data);
    assert!(
        mail.data.contains("message=(840 characters)"),
        "{}",
        mail.data
    );
    // Refused by the provider: the undelivered text is quoted once, cut to 200 characters.
    let (code, _) = app
        .post(
            &format!("/webhook/wappi?cascadeId=c&apiToken={TOKEN}&errorEmail=b%40example.com&message={spam}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 502);
    let mail = next_mail(&mut mails).await;
    // The first 200 characters of the text (the greeting, then the message) hold 13 copies of
    // the phrase; the query shows none.
    assert_eq!(mail.data.matches("Buy pills").count(), 13, "{}", mail.data);
    assert!(mail.data.contains("the first 200 of"), "{}", mail.data);
}

#[tokio::test]
async fn mistyped_secret_names_are_masked_everywhere() {
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&settings(&smtp, "")).await;
    let other = "0123456789abcdef0123456789abcdef";
    let (code, body) = app
        .post(
            &format!("/webhook/wappi?apitoken={TOKEN}&APITOKENINSTANCE%20={other}&cascadeId={other}&errorEmail=op%40example.com"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 400, "{body}");
    let answer = body.to_string();
    let mail = next_mail(&mut mails).await;
    for place in [&answer, &mail.data] {
        assert!(!place.contains(TOKEN), "{place}");
        assert!(!place.contains(other), "{place}");
    }
    assert!(mail.data.contains("apitoken=…97b3"), "{}", mail.data);
}

#[tokio::test]
async fn an_error_email_must_be_mailable() {
    let app = spawn("").await;
    for bad in ["a%40%5B127.0.0.1%5D", "ivan%40mail", "a%40b.123"] {
        let (code, body) = app.get(&format!("/webhook/log?errorEmail={bad}")).await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(
            body["ErrorMessage"]
                .as_str()
                .unwrap()
                .starts_with("Parameter <errorEmail> is not a valid email address"),
            "{body}"
        );
    }
}
