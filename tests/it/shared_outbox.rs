//! Two instances' stores on one PostgreSQL database: what they must not both do.

use std::time::Duration;

use torrow_hooks::store::{Accepted, MailQueue, NewDelivery, PgOptions, PgStore, Store};

async fn two_instances() -> (PgStore, PgStore) {
    let name = format!("shared_{}_{}", std::process::id(), rand_suffix());
    let url = crate::support::shared_cluster().database(&name).await;
    let options = PgOptions {
        pool_size: 4,
        statement_timeout: Duration::from_secs(10),
        lease: Duration::from_secs(60),
    };
    (
        PgStore::connect(&url, options).await.unwrap(),
        PgStore::connect(&url, options).await.unwrap(),
    )
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

fn delivery(id: &str, key: &str) -> NewDelivery {
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
