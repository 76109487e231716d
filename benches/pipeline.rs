//! Per-iteration costs of the hot path: parse an event, render a message, event → text.
//! `TORROW_SAMPLE_EVENT=../shared/fixtures/torrow/case-action-event.json cargo bench` adds the
//! real 90 KB sample. Figures: BENCHMARKS.md.

use std::{hint::black_box, path::PathBuf, time::Duration};

use criterion::{criterion_group, criterion_main, Criterion};
use torrow_hooks::{
    event::CaseActionEvent,
    params::{Environment, Options, Query, Report},
    render::Templates,
    Settings,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bench(c: &mut Criterion) {
    let own = std::fs::read(root().join("tests/fixtures/order-many-resources.json")).unwrap();
    let real = std::env::var("TORROW_SAMPLE_EVENT")
        .ok()
        .map(|p| std::fs::read(p).unwrap());
    let settings = Settings::with_overrides("").unwrap();
    let templates = Templates::load(
        &root().join("templates"),
        Duration::from_secs(3600),
        &settings.links,
    )
    .unwrap();
    let locales = templates.locale_names();
    let env = Environment {
        locales: &locales,
        default_locale: "ru-RU",
        default_region: "RU",
    };
    let query = Query::parse("message=Hello&hide_contact_info=false&sign_text=Bye");
    let options = Options::parse(&query, &env, &mut Report::default()).unwrap();

    c.bench_function("parse own fixture", |b| {
        b.iter(|| CaseActionEvent::parse(black_box(&own)).unwrap())
    });
    let event = CaseActionEvent::parse(&own).unwrap();
    c.bench_function("render", |b| {
        b.iter(|| templates.render(black_box(&event), &options).unwrap())
    });
    c.bench_function("event to text (query, parse, recipient, render)", |b| {
        b.iter(|| {
            let query = Query::parse(black_box(
                "message=Hello&hide_contact_info=false&sign_text=Bye",
            ));
            let options = Options::parse(&query, &env, &mut Report::default()).unwrap();
            let event = CaseActionEvent::parse(black_box(&own)).unwrap();
            let to = torrow_hooks::recipient::from_event(&event, "RU").unwrap();
            (to, templates.render(&event, &options).unwrap())
        })
    });
    if let Some(real) = &real {
        c.bench_function("parse real 90 KB sample", |b| {
            b.iter(|| CaseActionEvent::parse(black_box(real)).unwrap())
        });
    }
    // The dedup key hashes the whole body: BLAKE3 (ours) against SHA-256 (the previous choice).
    let body = real.as_deref().unwrap_or(&own);
    let query = "cascadeId=c&apiToken=t&sign_text=Bye";
    c.bench_function("dedup key (BLAKE3) of the body", |b| {
        b.iter(|| torrow_hooks::hook::dedup_key("wappi", query, black_box(body)))
    });
    c.bench_function("baseline: SHA-256 of the body", |b| {
        use sha2::Digest;
        b.iter(|| sha2::Sha256::digest(black_box(body)))
    });
    // Baseline in the same run: serde_json into an untyped Value (the cheapest full parse).
    c.bench_function("baseline: serde_json Value of own fixture", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&own)).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
