//! How the shared outbox knows a POST it has stored, through another instance's accept under
//! way, retention and a replay.

use sqlx::Connection;
use torrow_hooks::store::{Accepted, Store};

use crate::shared_outbox::{answered_id, delivery, fresh_database, instance, one_instance, sent};

/// Another instance stores the same POST while this one's accept runs: the accept waits for the
/// key, then answers the other's delivery, committed while it waited.
#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn an_accept_that_waited_for_its_key_answers_what_held_it() {
    let url = fresh_database().await;
    let a = std::sync::Arc::new(instance(&url).await);
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    let now = 7_000_000;
    // The other instance's accept, as its writer makes it, not yet committed: the key's lock,
    // then its delivery.
    sqlx::raw_sql(
        "BEGIN; \
         SELECT pg_advisory_xact_lock(hashtextextended('k-same', 0)); \
         INSERT INTO deliveries (id, channel, query, dedup_key, recipient, text, summary, state, \
           created_at, next_attempt_at, updated_at) \
         VALUES ('theirs', 'log', '', 'k-same', '79001112233', 'their text', '{}', 'sending', \
           7000000, 7000000, 7000000);",
    )
    .execute(&mut other)
    .await
    .unwrap();
    let accept = {
        let a = a.clone();
        tokio::spawn(async move { a.accept(delivery("mine", "k-same"), now - 1_000, now).await })
    };
    // Bounded: the accept is seen waiting for the key's lock.
    let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut waiting = false;
    for _ in 0..1_000 {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if n > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(waiting, "the accept never waited for the key");
    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    let accepted = accept.await.unwrap().unwrap();
    let Accepted::Duplicate(record) = accepted else {
        panic!("the same POST is answered with the stored delivery: {accepted:?}")
    };
    assert_eq!(
        (record.id.as_str(), record.text.as_str()),
        ("theirs", "their text")
    );
    assert!(a.get("mine").await.unwrap().is_none(), "stored once");
}

/// Retention deletes a finished delivery and frees its key: the same POST later is a new
/// delivery, and a repeat of that one answers it.
#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn retention_frees_the_key_of_what_it_deletes() {
    let a = one_instance().await;
    let now = 8_000_000;
    a.accept(delivery("old", "k-old"), 0, now).await.unwrap();
    a.finish_attempt("old", 1, &sent("p-old"), now)
        .await
        .unwrap();
    let purged = a.purge(now + 10, now + 5, 0, 0, 100).await.unwrap();
    assert_eq!(purged.deliveries, 1);
    let again = a
        .accept(delivery("new", "k-old"), 0, now + 20)
        .await
        .unwrap();
    assert_eq!(answered_id(&again), ("new", "new".to_string()));
    let repeat = a
        .accept(delivery("new2", "k-old"), 0, now + 30)
        .await
        .unwrap();
    assert_eq!(answered_id(&repeat), ("duplicate", "new".to_string()));
}

/// A replayed delivery is its POST's latest again: the same POST within the dedup window from
/// the replay answers it, rather than being stored a second time.
#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn a_replayed_delivery_answers_its_post_again() {
    let a = one_instance().await;
    let now = 9_000_000;
    a.accept(delivery("gone", "k-gone"), 0, now).await.unwrap();
    let dead = torrow_hooks::store::Outcome::Dead {
        error: torrow_hooks::i18n::Text::verbatim("HTTP 500"),
    };
    a.finish_attempt("gone", 1, &dead, now).await.unwrap();
    let later = now + 3_600_000;
    assert_eq!(a.replay(None, later).await.unwrap(), ["gone"]);
    // A window that starts after the first accept, before the replay.
    let again = a
        .accept(delivery("again", "k-gone"), later - 60_000, later + 1)
        .await
        .unwrap();
    assert_eq!(answered_id(&again), ("duplicate", "gone".to_string()));
}
