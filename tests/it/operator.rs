//! Operator tools: live templates, preview, readiness (SPEC §1, §3).

use crate::support::{copy_templates, fixture, spawn_in};

async fn with_own_templates() -> (crate::support::TestApp, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let templates = copy_templates(dir.path());
    let app = spawn_in(
        dir,
        &format!(
            "[templates]\ndir = \"{}\"\ncheck_interval = \"0s\"\n",
            templates.display()
        ),
    )
    .await;
    (app, templates)
}

#[tokio::test]
async fn edited_template_is_used_without_restart_and_a_broken_one_is_refused() {
    let (app, templates) = with_own_templates().await;
    let event = fixture("booking-one-resource.json");
    let before = app.sent_text("message=a", &event).await;
    assert!(before.starts_with("a\n\nЗапись №180"));

    let file = templates.join("ru-RU/message.txt.tera");
    std::fs::write(&file, "Новый текст: {{ order_number }} {{ message }}").unwrap();
    assert_eq!(
        app.sent_text("message=b", &event).await,
        "Новый текст: №180 b"
    );

    std::fs::write(&file, "Сломано {% if %}").unwrap();
    assert_eq!(
        app.sent_text("message=c", &event).await,
        "Новый текст: №180 c",
        "the last good set stays"
    );
    let metrics = torrow_hooks::telemetry::render_metrics();
    assert!(
        metrics.contains("hooks_template_reload_failures_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_new_locale_folder_is_available_at_once() {
    let (app, templates) = with_own_templates().await;
    let (code, _) = app
        .get("/webhook/log?date_locales=de-DE&errorEmail=a%40b.ru")
        .await;
    assert_eq!(code, 400);
    let de = templates.join("de-DE");
    std::fs::create_dir_all(&de).unwrap();
    let locale = std::fs::read_to_string(templates.join("en-US/locale.toml")).unwrap();
    std::fs::write(
        de.join("locale.toml"),
        locale.replace("booking\"", "Buchung\""),
    )
    .unwrap();
    std::fs::write(
        de.join("message.txt.tera"),
        "{{ case_type_title }} {{ order_number }}: {{ start }}",
    )
    .unwrap();
    let (code, body) = app
        .get("/webhook/log?date_locales=de-DE&errorEmail=a%40b.ru")
        .await;
    assert_eq!(code, 200, "{body}");
    let text = app
        .sent_text("date_locales=de-DE", &fixture("booking-one-resource.json"))
        .await;
    assert_eq!(text, "Buchung №180: 5/8/2024 11:15 AM");
}

#[tokio::test]
async fn preview_renders_without_sending() {
    let (app, _) = with_own_templates().await;
    let (code, body) = app
        .post(
            "/preview/log?message=Hi&errorEmail=a%40b.ru",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["Status"], "Success");
    assert_eq!(body["Recipient"], "7911*****77");
    assert!(body["Text"]
        .as_str()
        .unwrap()
        .starts_with("Hi\n\nЗапись №180\n"));
    assert!(body.get("DeliveryId").is_none());
    assert!(app.sink().is_empty(), "preview never sends");
}

#[tokio::test]
async fn readiness_reports_database_and_locales() {
    let (app, _) = with_own_templates().await;
    let (code, body) = app.get("/readyz").await;
    assert_eq!(code, 200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["locales"], serde_json::json!(["en-US", "ru-RU"]));
}

#[test]
fn a_broken_template_set_stops_start_up_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let templates = copy_templates(dir.path());
    std::fs::write(templates.join("en-US/message.txt.tera"), "{% for x in %}").unwrap();
    let err = torrow_hooks::render::Templates::load(&templates, std::time::Duration::ZERO, &links())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("en-US/message.txt.tera"), "{err}");
    std::fs::write(templates.join("en-US/message.txt.tera"), "ok").unwrap();
    std::fs::write(templates.join("ru-RU/locale.toml"), "resource_name = 1").unwrap();
    let err = torrow_hooks::render::Templates::load(&templates, std::time::Duration::ZERO, &links())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("ru-RU/locale.toml"), "{err}");
}

fn links() -> torrow_hooks::settings::Links {
    torrow_hooks::Settings::with_overrides("").unwrap().links
}
