//! GET /metrics: Prometheus text whose counters move by the right amounts. Its own test binary,
//! because the metrics recorder is process-wide.

mod common;

use common::fixture;

use std::collections::HashMap;

fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample line: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in: {line}"));
        samples.insert(name.to_string(), value);
    }
    samples
}

#[tokio::test]
async fn counters_move_by_the_right_amounts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let settings = torrow_hooks::Settings::with_overrides(&format!(
        "[server]\naddr = \"127.0.0.1:0\"\n[templates]\ndir = \"{}/templates\"\n\
         [delivery]\ndatabase = \"{d}/db.sqlite\"\n[log_sink]\npath = \"{d}/sink.jsonl\"\n[mail]\ndir = \"{d}/mail\"\nallowed_addresses = [\"a@b.ru\"]\n",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let running = torrow_hooks::start(settings).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let metrics = || async {
        http.get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = parse(&metrics().await);

    let event = fixture("booking-one-resource.json");
    for n in 0..3 {
        let r = http
            .post(format!("{base}/webhook/log?message=m{n}"))
            .body(event.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    for _ in 0..2 {
        let r = http
            .get(format!("{base}/webhook/log?hide_url=x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
    }
    let r = http
        .post(format!("{base}/webhook/log?errorEmail=a%40b.ru"))
        .body(fixture("invalid-phone.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    // The log channel has no credentials: an address the settings do not allow gets nothing.
    let r = http
        .post(format!(
            "{base}/webhook/log?errorEmail=x%40stranger.example"
        ))
        .body(fixture("invalid-phone.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);

    let text = metrics().await;
    let after = parse(&text);
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    assert_eq!(
        delta(r#"hooks_requests_total{channel="log",method="POST",status="200"}"#),
        3.0,
        "{text}"
    );
    assert_eq!(
        delta(r#"hooks_requests_total{channel="log",method="GET",status="400"}"#),
        2.0,
        "{text}"
    );
    assert_eq!(
        delta(r#"hooks_requests_total{channel="log",method="POST",status="422"}"#),
        2.0,
        "{text}"
    );
    assert_eq!(
        delta(r#"hooks_emails_refused_total{reason="not_allowed"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(
        delta(r#"hooks_deliveries_total{channel="log",outcome="sent"}"#),
        3.0,
        "{text}"
    );
    assert_eq!(
        delta(r#"hooks_attempt_duration_seconds_count{channel="log"}"#),
        3.0,
        "{text}"
    );
    assert!(
        text.contains("# TYPE hooks_attempt_duration_seconds histogram"),
        "{text}"
    );
    // The failure report for the 422 is mailed (as an .eml file) shortly after.
    for _ in 0..500 {
        let sent = parse(&metrics().await)
            .get("hooks_emails_sent_total")
            .copied()
            .unwrap_or(0.0);
        if sent
            - before
                .get("hooks_emails_sent_total")
                .copied()
                .unwrap_or(0.0)
            >= 1.0
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("hooks_emails_sent_total never moved");
}
