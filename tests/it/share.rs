//! Strangers cannot fill the outbox: hooks whose credentials no provider has accepted (the log
//! channel, made-up tokens) together hold at most `delivery.unvouched_share` of the caps, and get
//! 429 past it while a hook with accepted credentials is still taken; retention then frees the
//! share and gives the room back to the file system, without a restart.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, spawn, TOKEN};
use torrow_hooks::{delivery::retention::Retention, store::Store};

/// Pages in use and in all of a SQLite file, read on a connection of its own.
async fn pages(db: &std::path::Path) -> (i64, i64) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let row: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT page_count FROM pragma_page_count()), \
                (SELECT freelist_count FROM pragma_freelist_count())",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    row
}

#[tokio::test]
async fn strangers_fill_only_their_share_and_retention_gives_the_room_back() {
    let wappi = MockServer::start().await;
    // The operator's own token is accepted; any other is refused.
    Mock::given(method("GET"))
        .and(path("/csender/cascade/get"))
        .and(wiremock::matchers::header("Authorization", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"cascade": {"name": "c"}})))
        .mount(&wappi)
        .await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::header("Authorization", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "done"})))
        .mount(&wappi)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"detail": "Unauthorized"})))
        .mount(&wappi)
        .await;
    let app = spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\n[delivery]\nmax_pending = 400\nunvouched_share = 0.25\n",
        wappi.uri()
    ))
    .await;
    let admission = &app.running.app.delivery.admission;
    // The operator saved the hook URL in Torrow: its check vouches for the token.
    let operator = format!("/webhook/wappi?cascadeId=c0ffee&apiToken={TOKEN}");
    let (code, body) = app.get(&operator).await;
    assert_eq!(code, 200, "{body}");

    // Strangers: the log channel, and made-up Wappi tokens, until refused.
    let mut refused = None;
    for n in 0..1000 {
        let query = if n % 2 == 0 {
            format!("/webhook/log?message=s{n}")
        } else {
            format!("/webhook/wappi?cascadeId=c0ffee&apiToken=made{n:0>36}&message=s{n}")
        };
        let r = app
            .http
            .post(format!("{}{query}", app.base))
            .body(fixture("booking-one-resource.json"))
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 429 {
            refused = Some(r);
            break;
        }
        assert!(
            r.status().is_success() || r.status().as_u16() == 502,
            "{}",
            r.status()
        );
        if n % 10 == 9 {
            admission.look().await;
        }
    }
    let refused = refused.expect("the strangers' share filled up");
    assert_eq!(refused.headers()["retry-after"], "600");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("delivery.unvouched_share"),
        "{body}"
    );
    let held = app
        .running
        .app
        .store
        .usage()
        .await
        .unwrap()
        .unvouched_deliveries;
    assert!(
        (100..=110).contains(&held),
        "{held} held: the share is 100, looked at every 10"
    );

    // The operator's hook is still taken, and the service is still ready.
    let (code, body) = app
        .post(
            &format!("{operator}&message=mine"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, readiness) = app.get("/readyz").await;
    assert_eq!(code, 200, "{readiness}");
    assert_eq!(
        readiness["outbox"]["unvouched"]["accepting"], false,
        "{readiness}"
    );

    // Retention deletes them (as it would after delivery.retention), and gives the room back.
    let db = app.dir.path().join("hooks.sqlite");
    let (before, _) = pages(&db).await;
    let store: Arc<dyn Store> = app.running.app.store.clone();
    let retention = Retention::new(store.clone(), Duration::ZERO, Duration::from_secs(1));
    retention.pass().await.unwrap();
    store.give_back().await.unwrap();
    let (after, free) = pages(&db).await;
    assert!(after < before, "{after} pages after, {before} before");
    assert_eq!(free, 0);
    admission.look().await;
    let (code, body) = app
        .post(
            "/webhook/log?message=again",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "taken again without a restart: {body}");
}
