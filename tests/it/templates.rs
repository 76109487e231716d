//! Templates the operator owns: `template=`, the shipped set for Torrow's actions, the editor's
//! API on both backends, instances sharing one PostgreSQL, and the render guard.

use serde_json::{json, Value};

use crate::support::{fixture, spawn, spawn_in, TestApp};

const ADMIN: &str = "editor-admin-token-0123456789";
const NAMES: &[&str] = &[
    "message",
    "changed",
    "reminder",
    "cancelled",
    "payment",
    "staff",
];

async fn admin_app(extra: &str) -> TestApp {
    spawn(&format!("[server]\nadmin_token = \"{ADMIN}\"\n{extra}")).await
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.expect("a JSON answer"))
}

#[tokio::test]
async fn template_selects_the_file_and_an_unknown_name_gets_a_did_you_mean() {
    let app = spawn("").await;
    let booking = fixture("booking-one-resource.json");
    let text = app.sent_text("template=reminder", &booking).await;
    assert!(
        text.starts_with("fsdfsdf, напоминаем: запись №180, 08.05.2024 11:15 (Мск)"),
        "{text}"
    );
    let (code, body) = app
        .post("/webhook/log?template=remindr", booking.clone())
        .await;
    assert_eq!(code, 400, "{body}");
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(
        error.contains("<remindr>") && error.contains("did you mean <reminder>"),
        "{error}"
    );
    for name in NAMES {
        assert!(error.contains(name), "available names listed: {error}");
    }
    let (code, body) = app
        .post("/webhook/log?template=..%2Fx", booking.clone())
        .await;
    assert_eq!(code, 400, "{body}");
    // Check mode knows it too.
    let (code, body) = app
        .get("/webhook/log?template=stafff&errorEmail=a%40b.ru")
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("did you mean <staff>"));
    let (code, body) = app
        .get("/webhook/log?template=staff&errorEmail=a%40b.ru")
        .await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
async fn a_locale_without_the_template_falls_back_to_the_default_one_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let templates = crate::support::copy_templates(dir.path());
    std::fs::remove_file(templates.join("en-US/staff.txt.tera")).unwrap();
    let app = spawn_in(
        dir,
        &format!(
            "[templates]\ndir = \"{}\"\ncheck_interval = \"0s\"\n",
            templates.display()
        ),
    )
    .await;
    let (code, body) = app
        .post(
            "/webhook/log?template=staff&date_locales=en-US",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["WarningMessage"]
            .as_str()
            .unwrap()
            .contains("template <staff> has no en-US version; the ru-RU one is used"),
        "{body}"
    );
    let text = app.sink().last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.starts_with("Новая запись №180"), "{text}");
}

/// Every shipped template on every sample, full and phone-only, in both locales; each words a
/// cancellation as one.
#[tokio::test]
async fn every_shipped_template_renders_every_sample_and_words_a_cancellation() {
    let app = spawn("").await;
    let samples = ["booking", "order", "event", "cancelled"];
    for locale in ["ru-RU", "en-US"] {
        for name in NAMES {
            for sample in samples {
                for phone in ["", "&phone=%2B79110001122"] {
                    let query =
                        format!("template={name}&date_locales={locale}&hide_url=false{phone}");
                    let asked = json!({"channel": "log", "query": query, "sample": sample});
                    let (code, body) = app.post("/api/preview", asked.to_string()).await;
                    assert_eq!(code, 200, "{name} {locale} {sample}: {body}");
                    let text = body["Text"].as_str().unwrap();
                    assert!(!text.trim().is_empty(), "{name} {locale} {sample}");
                    let lower = text.to_lowercase();
                    let cancels = lower.contains("отмен") || lower.contains("cancel");
                    if sample == "cancelled" {
                        assert!(
                            cancels,
                            "{name} {locale}: a cancellation reads as one: {text}"
                        );
                    } else if !["reminder", "cancelled"].contains(name) {
                        assert!(!cancels, "{name} {locale} {sample}: {text}");
                    }
                    if !phone.is_empty() {
                        assert_eq!(body["Recipient"], "7911*****22", "{name}");
                    }
                }
            }
        }
    }
    // Each action reads as itself.
    let order = fixture("order-many-resources.json");
    let expect = [
        ("changed", "Заказ №557 изменён. Теперь:"),
        ("payment", "Оплата получена: 1150,50 ₽. Спасибо!"),
        (
            "reminder",
            "Ксения, напоминаем: заказ №557, 16.06.2024 12:00 (Мск)",
        ),
        ("cancelled", "Заказ №557 отменён"),
    ];
    for (name, line) in expect {
        let text = app.sent_text(&format!("template={name}"), &order).await;
        assert!(text.contains(line), "{name}: {text}");
    }
}

#[tokio::test]
async fn staff_goes_to_the_phone_with_the_clients_name_and_phone() {
    let app = spawn("").await;
    let text = app
        .sent_text(
            "template=staff&phone=%2B79110001122",
            &fixture("order-many-resources.json"),
        )
        .await;
    assert_eq!(app.sink().last().unwrap()["recipient"], "79110001122");
    for part in [
        "Новый заказ №557",
        "Клиент: Ксения",
        "Телефон: 8 911",
        "Итого: 1150,50 ₽",
        "Время: 16.06.2024 12:00",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    // phone without template: the message alone, as before.
    let text = app
        .sent_text(
            "phone=%2B79110001122&message=Hi",
            &fixture("order-many-resources.json"),
        )
        .await;
    assert_eq!(text, "Hi");
}

async fn editor_saves_overrides_restores_and_withdraws() {
    let app = admin_app("").await;
    let booking = fixture("booking-one-resource.json");
    use reqwest::Method;
    // Anonymous callers see nothing.
    let (code, _) = app.get("/api/templates").await;
    assert_eq!(code, 401);
    let (code, _) = app.get("/api/templates/ru-RU/reminder").await;
    assert_eq!(code, 401);

    let (code, list) = call(&app, Method::GET, "/api/templates", None).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["templates"].as_array().unwrap().len(), 12, "{list}");
    let (code, shown) = call(&app, Method::GET, "/api/templates/ru-RU/reminder", None).await;
    assert_eq!(code, 200, "{shown}");
    assert_eq!(shown["serving"]["kind"], "file");
    let file = shown["file"].as_str().unwrap().to_string();
    // (Each POST below differs in `message`, so none is taken for a repeat of the one before.)
    assert!(shown["variables"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "client_name"));

    // A broken text: not saved, with its line and column.
    let (code, refused) = call(
        &app,
        Method::PUT,
        "/api/templates/ru-RU/reminder",
        Some(json!({"source": "Привет\n{{ order_number }", "note": "broken"})),
    )
    .await;
    assert_eq!(code, 422, "{refused}");
    assert_eq!(refused["errors"][0]["line"], 2, "{refused}");
    let text = app
        .sent_text("template=reminder&message=v1", &booking)
        .await;
    assert!(text.contains("напоминаем"), "the file still serves: {text}");

    // Saved: it serves at once, and the list says where from.
    let (code, saved) = call(
        &app,
        Method::PUT,
        "/api/templates/ru-RU/reminder",
        Some(json!({"source": "Не забудьте: {{ start }}", "note": "shorter"})),
    )
    .await;
    assert_eq!(code, 200, "{saved}");
    let first = saved["version"].as_i64().unwrap();
    assert_eq!(
        app.sent_text("template=reminder&message=v2", &booking)
            .await,
        "Не забудьте: 08.05.2024 11:15"
    );
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(
        ready["template_overrides"][0]["name"], "reminder",
        "{ready}"
    );
    let (_, saved) = call(
        &app,
        Method::PUT,
        "/api/templates/ru-RU/reminder",
        Some(json!({"source": "Ждём вас {{ start }}", "note": "warmer"})),
    )
    .await;
    assert!(saved["version"].as_i64().unwrap() > first);
    assert_eq!(
        app.sent_text("template=reminder&message=v3", &booking)
            .await,
        "Ждём вас 08.05.2024 11:15"
    );

    // History, newest first, with notes; restore the first version.
    let (_, shown) = call(&app, Method::GET, "/api/templates/ru-RU/reminder", None).await;
    let notes: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["note"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["warmer", "shorter"]);
    assert_eq!(shown["serving"]["kind"], "console");
    let (code, restored) = call(
        &app,
        Method::POST,
        "/api/templates/ru-RU/reminder/restore",
        Some(json!({"version": first})),
    )
    .await;
    assert_eq!(code, 200, "{restored}");
    assert_eq!(
        app.sent_text("template=reminder&message=v4", &booking)
            .await,
        "Не забудьте: 08.05.2024 11:15"
    );

    // Use the file again.
    let (code, _) = call(&app, Method::DELETE, "/api/templates/ru-RU/reminder", None).await;
    assert_eq!(code, 200);
    let (_, shown) = call(&app, Method::GET, "/api/templates/ru-RU/reminder", None).await;
    assert_eq!(shown["source"].as_str().unwrap(), file);
    assert_eq!(shown["history"].as_array().unwrap().len(), 4);

    // Create from an existing one under a new name, use it, delete it.
    let (code, _) = call(
        &app,
        Method::PUT,
        "/api/templates/ru-RU/vip",
        Some(json!({"source": file, "note": "from reminder"})),
    )
    .await;
    assert_eq!(code, 200);
    assert!(app
        .sent_text("template=vip&message=v5", &booking)
        .await
        .contains("напоминаем"));
    let (code, _) = call(&app, Method::DELETE, "/api/templates/ru-RU/vip", None).await;
    assert_eq!(code, 200);
    let (code, _) = app.post("/webhook/log?template=vip", booking.clone()).await;
    assert_eq!(code, 400);
    let (code, _) = call(&app, Method::DELETE, "/api/templates/ru-RU/message", None).await;
    assert_eq!(code, 400, "the file already serves");
}

crate::support::on_both_backends!(editor_saves_overrides_restores_and_withdraws);

#[tokio::test]
#[cfg_attr(
    not(postgres),
    ignore = "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
)]
async fn two_instances_on_one_postgresql_serve_the_same_new_version() {
    let name = format!("tpl_{}", std::process::id());
    let url = crate::support::shared_cluster().database(&name).await;
    let extra = format!(
        "[delivery]\ndatabase = \"{url}\"\n[templates]\ndir = \"{}\"\ncheck_interval = \"50ms\"\n",
        crate::support::templates_dir().display()
    );
    let a = admin_app(&extra).await;
    let b = admin_app(&extra).await;
    let (code, _) = call(
        &a,
        reqwest::Method::PUT,
        "/api/templates/ru-RU/reminder",
        Some(json!({"source": "Общий текст {{ order_number }}", "note": "shared"})),
    )
    .await;
    assert_eq!(code, 200);
    let asked =
        json!({"channel": "log", "query": "template=reminder", "sample": "booking"}).to_string();
    let mut seen = String::new();
    for _ in 0..200 {
        let (_, body) = b.post("/api/preview", asked.clone()).await;
        seen = body["Text"].as_str().unwrap_or("").to_string();
        if seen.starts_with("Общий текст") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(seen, "Общий текст №180");
}

#[tokio::test]
async fn a_runaway_loop_is_refused_at_save_and_stopped_in_a_file() {
    let app = admin_app("").await;
    for (source, why) in [
        ("{% for i in range(end=10000000) %}x{% endfor %}", "range"),
        (
            "{% for i in range(end=1000) %}{% for j in range(end=1000) %}{% endfor %}{% endfor %}",
            "render budget",
        ),
        (
            "{% set s = 'ab' %}{% set s = s ~ s %}{{ s }}",
            "may not use s",
        ),
        ("{{ [x for x in range(end=5)] }}", "comprehensions"),
    ] {
        let (code, body) = call(
            &app,
            reqwest::Method::PUT,
            "/api/templates/ru-RU/reminder",
            Some(json!({"source": source, "note": "loop"})),
        )
        .await;
        assert_eq!(code, 422, "{source}: {body}");
        assert!(
            body["ErrorMessage"].as_str().unwrap().contains(why),
            "{source}: {body}"
        );
    }
    // The same loop in a file: refused for its template only, the previous text serves.
    let dir = tempfile::tempdir().unwrap();
    let templates = crate::support::copy_templates(dir.path());
    let app = spawn_in(
        dir,
        &format!(
            "[templates]\ndir = \"{}\"\ncheck_interval = \"0s\"\n",
            templates.display()
        ),
    )
    .await;
    std::fs::write(
        templates.join("ru-RU/reminder.txt.tera"),
        "{% for i in range(end=300) %}{% for j in range(end=300) %}{{ j }}{% endfor %}{% endfor %}",
    )
    .unwrap();
    let text = app
        .sent_text("template=reminder", &fixture("booking-one-resource.json"))
        .await;
    assert!(text.contains("напоминаем"), "{text}");
    let (_, ready) = app.get("/readyz").await;
    let why = ready["refused_templates"]["ru-RU/reminder"]
        .as_str()
        .unwrap();
    assert!(why.contains("render budget"), "{why}");
    let (_, check) = app
        .get("/webhook/log?template=reminder&errorEmail=a%40b.ru")
        .await;
    assert!(
        check["WarningMessage"]
            .as_str()
            .unwrap()
            .contains("was refused"),
        "{check}"
    );
}

#[tokio::test]
async fn include_reaches_only_the_same_locale_and_try_previews_every_sample() {
    let app = admin_app("").await;
    let (code, tried) = call(
        &app,
        reqwest::Method::POST,
        "/api/templates/ru-RU/reminder/try",
        Some(json!({"source": "{% include \"../en-US/message.txt.tera\" %}"})),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(tried["ok"], false, "{tried}");
    let (_, tried) = call(
        &app,
        reqwest::Method::POST,
        "/api/templates/ru-RU/reminder/try",
        Some(json!({"source": "{% include \"cancelled.txt.tera\" %} {{ client_name }}", "event": serde_json::from_slice::<Value>(&fixture("order-many-resources.json")).unwrap()})),
    )
    .await;
    assert_eq!(tried["ok"], true, "{tried}");
    let previews = tried["previews"].as_array().unwrap();
    assert_eq!(previews.len(), 5, "four samples and the pasted event");
    assert!(
        previews[4]["text"].as_str().unwrap().contains("Ксения"),
        "{tried}"
    );
}

#[tokio::test]
async fn the_editor_answers_in_the_callers_language() {
    let app = admin_app("").await;
    let r = app
        .http
        .put(format!("{}/api/templates/ru-RU/reminder", app.base))
        .bearer_auth(ADMIN)
        .header("accept-language", "ru")
        .json(&json!({"source": "Привет\n{{ order_number }", "note": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(
        error.starts_with("Шаблон не сохранён: строка 2, позиция"),
        "{error}"
    );
    let r = app
        .http
        .put(format!("{}/api/templates/ru-RU/reminder", app.base))
        .bearer_auth(ADMIN)
        .header("accept-language", "ru")
        .json(&json!({"source": "Привет", "note": " "}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Напишите в одну строку"),
        "{body}"
    );
}

/// What a template makes along the way is bounded, not only what it writes: a chain of
/// `replace` (10⁸ characters, seen only through `length`), an 89 MB `join`, a wide `indent` and a
/// long `~` chain are refused when tried and when saved, before they are built.
#[tokio::test]
async fn text_made_along_the_way_is_bounded_and_such_a_template_cannot_be_saved() {
    let app = admin_app("").await;
    let chain = format!(
        "{{{{ \"xxxxxxxxxx\"{} | length }}}}",
        " | replace(from=\"x\", to=\"xxxxxxxxxx\")".repeat(7)
    );
    let concats = format!(
        "{{% set a = message{} %}}{{{{ a | length }}}}",
        " ~ message".repeat(17)
    );
    for (source, why) in [
        (chain.as_str(), "render budget"),
        (
            "{{ range(end=100000) | join(sep=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\") | length }}",
            "render budget",
        ),
        (
            "{{ range(end=3000) | join(sep=\"\n\") | indent(width=1000) | length }}",
            "render budget",
        ),
        (concats.as_str(), "more than 16"),
        ("{% for c in message ~ message %}{{ c }}{% endfor %}", "allowed only"),
    ] {
        let (code, tried) = call(
            &app,
            reqwest::Method::POST,
            "/api/templates/ru-RU/reminder/try",
            Some(json!({"source": source})),
        )
        .await;
        assert_eq!(code, 200, "{tried}");
        assert_eq!(tried["ok"], false, "{source}: {tried}");
        let (code, body) = call(
            &app,
            reqwest::Method::PUT,
            "/api/templates/ru-RU/reminder",
            Some(json!({"source": source, "note": "heavy"})),
        )
        .await;
        assert_eq!(code, 422, "{source}: {body}");
        assert!(
            body["ErrorMessage"].as_str().unwrap().contains(why),
            "{source}: {body}"
        );
    }
    // Within the budget, `~`, `replace` and `join` work as Tera's do.
    let fine =
        "{% set a = \"x\" ~ \"y\" %}{{ a ~ \"z\" }} {{ \"a-b\" | replace(from=\"-\", to=\"+\") }} \
                {{ [1, \"b\"] | join(sep=\",\") }}|{{ \"l1\nl2\" | indent(width=2) }}";
    let (code, tried) = call(
        &app,
        reqwest::Method::POST,
        "/api/templates/ru-RU/reminder/try",
        Some(json!({"source": fine})),
    )
    .await;
    assert_eq!(code, 200, "{tried}");
    assert_eq!(tried["ok"], true, "{tried}");
    let preview = tried["previews"][0]["text"].as_str().unwrap_or_default();
    assert_eq!(preview, "xyz a+b 1,b|l1\n  l2", "{tried}");
}

/// Renders run off the async workers: while 8 clients render a template that takes most of its
/// budget, the operations port still answers at once (within 100 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ops_port_answers_while_heavy_templates_render() {
    let app = spawn(&format!(
        "[server]\nadmin_token = \"{ADMIN}\"\nops_addr = \"127.0.0.1:0\"\n"
    ))
    .await;
    // 19,000 loop steps and about 300 KiB of text made: near the steps' and the bytes' budgets.
    let heavy = "Напоминание{% for i in range(end=19000) %}{% if \"абвгд\" | replace(from=\"а\", to=\"бб\") | length > 9 %}!{% endif %}{% endfor %}";
    let (code, body) = call(
        &app,
        reqwest::Method::PUT,
        "/api/templates/ru-RU/reminder",
        Some(json!({"source": heavy, "note": "heavy"})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rendered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (http, base) = (app.http.clone(), app.base.clone());
            let (stop, rendered) = (stop.clone(), rendered.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = http
                        .post(format!(
                            "{base}/preview/log?template=reminder&message=%D0%B0%D0%B0"
                        ))
                        .body(crate::support::fixture("booking-one-resource.json"))
                        .send()
                        .await
                        .unwrap();
                    let code = r.status().as_u16();
                    assert_eq!(code, 200, "{}", r.text().await.unwrap());
                    rendered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Once the renders are under way.
    for _ in 0..500 {
        if rendered.load(std::sync::atomic::Ordering::Relaxed) >= 8 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let ops = format!("http://{}/healthz", app.running.ops_addr.unwrap());
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let r = app.http.get(&ops).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        slowest = slowest.max(started.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert!(rendered.load(std::sync::atomic::Ordering::Relaxed) >= 8);
    assert!(
        slowest < std::time::Duration::from_millis(100),
        "/healthz took {slowest:?} while templates rendered"
    );
}
