//! Two instances' stores on one PostgreSQL database: what they must not both do.

use std::time::Duration;

use torrow_hooks::store::{Accepted, MailQueue, NewDelivery, PgOptions, PgStore, Store};

async fn two_instances() -> (PgStore, PgStore) {
    let url = fresh_database().await;
    (instance(&url).await, instance(&url).await)
}

/// One instance on a database of its own: what a single store's group commit does.
pub(crate) async fn one_instance() -> PgStore {
    instance(&fresh_database().await).await
}

pub(crate) async fn fresh_database() -> String {
    let name = format!("shared_{}_{}", std::process::id(), rand_suffix());
    crate::support::shared_cluster().database(&name).await
}

pub(crate) async fn instance(url: &str) -> PgStore {
    let options = PgOptions {
        pool_size: 4,
        statement_timeout: Duration::from_secs(10),
        lease: Duration::from_secs(60),
    };
    PgStore::connect(url, options).await.unwrap()
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

pub(crate) fn delivery(id: &str, key: &str) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        channel: "log".into(),
        query: String::new(),
        dedup_key: key.into(),
        recipient: "79119998877".into(),
        text: "text".into(),
        summary: "{}".into(),
        error_email: None,
        failed: None,
        unvouched: false,
    }
}

#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn one_mail_claim_one_accept_and_one_claimant_per_row() {
    let (a, b) = two_instances().await;
    let now = 1_000_000;

    // The same POST at both at once: stored once, both answer its id.
    let (x, y) = tokio::join!(
        a.accept(delivery("d-a", "same"), 0, now),
        b.accept(delivery("d-b", "same"), 0, now)
    );
    let ids: Vec<(bool, String)> = [x.unwrap(), y.unwrap()]
        .into_iter()
        .map(|r| match r {
            Accepted::New(r) => (true, r.id),
            Accepted::Duplicate(r) => (false, r.id),
        })
        .collect();
    assert_eq!(ids.iter().filter(|(new, _)| *new).count(), 1, "{ids:?}");
    assert_eq!(ids[0].1, ids[1].1);

    // Due rows: each is claimed by one instance only.
    for i in 0..40 {
        a.accept(delivery(&format!("r{i}"), &format!("k{i}")), 0, now)
            .await
            .unwrap();
    }
    // Their leases (60 s) run out: both instances try to take them at once.
    let later = now + 61_000;
    let (x, y) = tokio::join!(a.claim_due(later, 100), b.claim_due(later, 100));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(
        x.len() + y.len(),
        41,
        "every row once: {} + {}",
        x.len(),
        y.len()
    );
    assert!(x.iter().all(|r| !y.iter().any(|s| s.id == r.id)));
    // While held, nobody else gets them.
    assert!(a.claim_due(later + 1, 100).await.unwrap().is_empty());

    // A failure digest: one instance claims the address; the other waits.
    a.enqueue_mail("op@example.com", "{}", now, 30)
        .await
        .unwrap();
    b.enqueue_mail("op@example.com", "{}", now, 30)
        .await
        .unwrap();
    let throttle = 3_600_000;
    let (x, y) = tokio::join!(
        a.claim_mail("op@example.com", now, throttle, 120_000),
        b.claim_mail("op@example.com", now, throttle, 120_000)
    );
    assert_eq!(
        [x.unwrap(), y.unwrap()].iter().filter(|c| **c).count(),
        1,
        "exactly one instance mails"
    );
    let batch = a.unsent_mail("op@example.com", 50).await.unwrap();
    assert_eq!(batch.items.len(), 2, "one digest holds the reports of both");
    a.mark_mailed("op@example.com", batch.up_to, now)
        .await
        .unwrap();
    // Within the throttle period nobody mails it again.
    assert!(!b
        .claim_mail("op@example.com", now + 1_000, throttle, 120_000)
        .await
        .unwrap());
    assert!(b
        .claim_mail("op@example.com", now + throttle, throttle, 120_000)
        .await
        .unwrap());
    // A failed send gives the claim back.
    b.release_mail("op@example.com").await.unwrap();
    assert!(a
        .claim_mail("op@example.com", now + throttle, throttle, 120_000)
        .await
        .unwrap());
}

/// Accepts committed in groups: many at once on two instances, keys shared between them in
/// opposite orders, each POST twice. Every key is stored once, each duplicate answers the stored
/// id, and the attempts' ends queued with them are all written.
#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn grouped_accepts_store_each_post_once_across_instances() {
    let (a, b) = two_instances().await;
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let now = 2_000_000;
    let mut calls = Vec::new();
    for i in 0..40 {
        for (n, store) in [(0, a.clone()), (1, b.clone())] {
            // a takes the keys upwards, b downwards: batches lock them in one order regardless.
            let k = if n == 0 { i } else { 39 - i };
            let key = format!("key-{k:02}");
            let id = format!("d-{n}-{k:02}");
            calls.push(tokio::spawn(async move {
                (key.clone(), store.accept(delivery(&id, &key), 0, now).await)
            }));
        }
    }
    let mut stored = std::collections::BTreeMap::<String, String>::new();
    let mut answers = Vec::new();
    for call in calls {
        let (key, accepted) = call.await.unwrap();
        match accepted.unwrap() {
            Accepted::New(r) => assert!(
                stored.insert(key.clone(), r.id.clone()).is_none(),
                "{key} stored twice"
            ),
            Accepted::Duplicate(r) => answers.push((key, r.id)),
        }
    }
    assert_eq!(stored.len(), 40);
    assert_eq!(answers.len(), 40);
    for (key, id) in answers {
        assert_eq!(stored[&key], id, "{key}: a duplicate answers the stored id");
    }
    // Every attempt's end is written, whichever instance's writers grouped it.
    let ends: Vec<_> = stored
        .values()
        .enumerate()
        .map(|(i, id)| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let id = id.clone();
            tokio::spawn(async move {
                let outcome = torrow_hooks::store::Outcome::Sent {
                    provider_id: Some(format!("p-{id}")),
                    warning: None,
                };
                store.finish_attempt(&id, 1, &outcome, now + 1).await
            })
        })
        .collect();
    for end in ends {
        end.await.unwrap().unwrap();
    }
    for id in stored.values() {
        let record = a.get(id).await.unwrap().unwrap();
        assert_eq!(record.state, torrow_hooks::store::State::Sent);
        assert_eq!(record.attempts, 1);
        assert_eq!(
            record.provider_id.as_deref(),
            Some(format!("p-{id}").as_str())
        );
        assert_eq!(a.attempts(id).await.unwrap().len(), 1);
    }
}

pub(crate) fn answered_id(accepted: &Accepted) -> (&'static str, String) {
    match accepted {
        Accepted::New(r) => ("new", r.id.clone()),
        Accepted::Duplicate(r) => ("duplicate", r.id.clone()),
    }
}

/// One batch of the group commit accepts its POSTs in one statement: a key that comes twice or
/// three times in it is stored once and the others answer that delivery, a key already stored
/// answers the stored one, and each write gets its own answer in its place.
#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn one_batch_stores_a_key_once_and_answers_each_write_in_its_place() {
    use torrow_hooks::{i18n::Text, store::State};
    let a = one_instance().await;
    let now = 5_000_000;
    a.accept(delivery("stored", "k-stored"), 0, now - 100)
        .await
        .unwrap();
    a.accept(delivery("expired", "k-expired"), 0, now - 100)
        .await
        .unwrap();
    let mut failed = delivery("f1", "k-failed");
    failed.failed = Some(Text::verbatim("no template"));
    let writes = vec![
        (delivery("a1", "k-a"), now - 10, now),
        (delivery("b1", "k-b"), now - 10, now),
        (delivery("a2", "k-a"), now - 10, now),
        (delivery("again", "k-stored"), now - 1_000, now),
        (delivery("a3", "k-a"), now - 10, now),
        (failed, now - 10, now),
        // The dedup window of this one starts after the stored delivery.
        (delivery("later", "k-expired"), now - 50, now),
        // This very write, committed before without its commit confirmed: written again.
        (delivery("stored", "k-stored"), now - 1_000, now),
    ];
    let (accepted, _) = a.write_as_one_batch(writes, Vec::new()).await;
    let answers: Vec<_> = accepted
        .iter()
        .map(|a| answered_id(a.as_ref().unwrap()))
        .collect();
    let expected = [
        ("new", "a1"),
        ("new", "b1"),
        ("duplicate", "a1"),
        ("duplicate", "stored"),
        ("duplicate", "a1"),
        ("new", "f1"),
        ("new", "later"),
        ("new", "stored"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(how, id)| (*how, id.to_string()))
        .collect();
    assert_eq!(answers, expected);

    // What an accept answers is what is stored.
    for (answer, id) in [(&accepted[0], "a1"), (&accepted[5], "f1")] {
        let Ok(Accepted::New(answered)) = answer else {
            panic!("{id} is new")
        };
        let stored = a.get(id).await.unwrap().unwrap();
        assert_eq!(format!("{answered:?}"), format!("{stored:?}"));
    }
    assert_eq!(a.get("f1").await.unwrap().unwrap().state, State::Failed);
    assert_eq!(a.get("a1").await.unwrap().unwrap().state, State::Sending);
    let ids: Vec<String> = a
        .recent(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut ids = ids;
    ids.sort();
    assert_eq!(ids, ["a1", "b1", "expired", "f1", "later", "stored"]);
}

/// One instance with a delivery accepted at `now` for each of `ids` (key `k-<id>`).
async fn instance_with_accepted(ids: &[&str], now: i64) -> PgStore {
    let a = one_instance().await;
    for id in ids {
        a.accept(delivery(id, &format!("k-{id}")), 0, now)
            .await
            .unwrap();
    }
    a
}

pub(crate) fn sent(provider_id: &str) -> torrow_hooks::store::Outcome {
    torrow_hooks::store::Outcome::Sent {
        provider_id: Some(provider_id.into()),
        warning: None,
    }
}

/// An attempt's end that retries a minute after `now`.
fn retry(now: i64) -> torrow_hooks::store::Outcome {
    torrow_hooks::store::Outcome::Retry {
        next_attempt_at: now + 60_000,
        error: torrow_hooks::i18n::Text::verbatim("HTTP 502"),
    }
}

/// One batch records its attempts' ends in one statement: two ends of one delivery in the same
/// batch are both kept, in order, an end written twice counts once, and a delivery accepted in
/// the batch can end in it.
#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn one_batch_records_each_attempts_end_once_and_in_order() {
    use torrow_hooks::store::State;
    let now = 6_000_000;
    let a = instance_with_accepted(&["d1", "d2"], now).await;
    let ends = vec![
        ("d1".to_string(), 1, retry(now), now + 1),
        ("d2".to_string(), 1, sent("p-d2"), now + 1),
        ("d1".to_string(), 2, sent("p-d1"), now + 2),
        ("d2".to_string(), 1, sent("p-d2"), now + 1),
        ("m1".to_string(), 1, sent("p-m1"), now + 3),
    ];
    let (accepted, finished) = a
        .write_as_one_batch(vec![(delivery("m1", "k-m1"), 0, now)], ends)
        .await;
    assert!(matches!(accepted[..], [Ok(Accepted::New(_))]));
    assert_eq!(finished.len(), 5);
    assert!(finished.iter().all(Result::is_ok), "{finished:?}");

    let d1 = a.get("d1").await.unwrap().unwrap();
    assert_eq!(
        (d1.state, d1.attempts, d1.provider_id.as_deref()),
        (State::Sent, 2, Some("p-d1"))
    );
    let outcomes: Vec<_> = a
        .attempts("d1")
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.number, t.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [(1, "retry".to_string()), (2, "sent".to_string())]
    );
    for id in ["d2", "m1"] {
        let record = a.get(id).await.unwrap().unwrap();
        assert_eq!((record.state, record.attempts), (State::Sent, 1), "{id}");
        assert_eq!(a.attempts(id).await.unwrap().len(), 1, "{id}");
    }
}

/// A batch of attempts' ends alone records each end once, whether it is one round (one
/// statement, committed on its own) or two (one delivery's end written twice).
#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn a_batch_of_attempts_ends_alone_records_each_once() {
    use torrow_hooks::store::State;
    let now = 7_000_000;
    let a = instance_with_accepted(&["e1", "e2"], now).await;
    let first_ends = || {
        vec![
            ("e1".to_string(), 1, retry(now), now + 1),
            ("e2".to_string(), 1, sent("p-e2"), now + 1),
        ]
    };
    for ends in [first_ends(), first_ends()] {
        let (_, finished) = a.write_as_one_batch(vec![], ends).await;
        assert!(finished.iter().all(Result::is_ok), "{finished:?}");
    }
    let again = vec![
        ("e1".to_string(), 2, sent("p-e1"), now + 2),
        ("e1".to_string(), 2, sent("p-e1"), now + 2),
    ];
    let (_, finished) = a.write_as_one_batch(vec![], again).await;
    assert!(finished.iter().all(Result::is_ok), "{finished:?}");

    let e1 = a.get("e1").await.unwrap().unwrap();
    assert_eq!(
        (e1.state, e1.attempts, e1.provider_id.as_deref()),
        (State::Sent, 2, Some("p-e1"))
    );
    let e2 = a.get("e2").await.unwrap().unwrap();
    assert_eq!((e2.state, e2.attempts), (State::Sent, 1));
    for (id, rows) in [("e1", 2), ("e2", 1)] {
        assert_eq!(a.attempts(id).await.unwrap().len(), rows, "{id}");
    }
}

/// A write the database refuses fails alone: the batch is tried again write by write, and the
/// others of the batch are stored.
#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn a_refused_write_fails_alone_and_the_rest_of_its_batch_is_stored() {
    let a = one_instance().await;
    let mut refused = delivery("bad", "k-bad");
    // PostgreSQL keeps no NUL in text.
    refused.text = "a\0b".into();
    let writes = vec![
        (delivery("ok1", "k-1"), 0, 1_000),
        (refused, 0, 1_000),
        (delivery("ok2", "k-2"), 0, 1_000),
    ];
    let (accepted, _) = a.write_as_one_batch(writes, Vec::new()).await;
    assert!(matches!(accepted[0], Ok(Accepted::New(_))));
    assert!(accepted[1].is_err());
    assert!(matches!(accepted[2], Ok(Accepted::New(_))));
    assert!(a.get("ok1").await.unwrap().is_some());
    assert!(a.get("bad").await.unwrap().is_none());
    assert!(a.get("ok2").await.unwrap().is_some());
}

/// A writer plans its statements once per connection. Planned while the statistics say the
/// outbox is empty (retention emptied it, then autovacuum ran), the statement that records the
/// attempts' ends still finds its rows by id, rather than read the whole table as it grows.
#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn the_ends_planned_on_an_emptied_outbox_find_their_rows_by_id() {
    use sqlx::Connection;
    let url = fresh_database().await;
    let a = instance(&url).await;
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("VACUUM ANALYZE deliveries")
        .execute(&mut db)
        .await
        .unwrap();
    let plan = a.plan_of_the_attempts_ends().await.unwrap();
    assert!(plan.contains("Index Cond: (id = ANY"), "{plan}");
    assert!(!plan.contains("Seq Scan on deliveries"), "{plan}");
}
