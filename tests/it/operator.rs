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
    assert!(before.contains("a\n\nЗапись №180"), "{before}");

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
        .contains("Hi\n\nЗапись №180\n"));
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
    let err =
        torrow_hooks::render::Templates::load(&templates, std::time::Duration::ZERO, &links())
            .err()
            .expect("refused");
    assert!(err.to_string().contains("en-US/message.txt.tera"), "{err}");
    std::fs::write(templates.join("en-US/message.txt.tera"), "ok").unwrap();
    std::fs::write(templates.join("ru-RU/locale.toml"), "resource_name = 1").unwrap();
    let err =
        torrow_hooks::render::Templates::load(&templates, std::time::Duration::ZERO, &links())
            .err()
            .expect("refused");
    assert!(err.to_string().contains("ru-RU/locale.toml"), "{err}");
}

fn links() -> torrow_hooks::settings::Links {
    torrow_hooks::Settings::with_overrides("").unwrap().links
}

#[tokio::test]
async fn a_template_that_compiles_but_cannot_render_is_refused_for_its_locale_only() {
    let (app, templates) = with_own_templates().await;
    let event = fixture("booking-one-resource.json");
    let before = app.sent_text("message=a", &event).await;
    let ru = templates.join("ru-RU/message.txt.tera");
    let original = std::fs::read_to_string(&ru).unwrap();
    std::fs::write(
        &ru,
        format!("Здравствуйте, {{{{ client_nickname }}}}!\n{original}"),
    )
    .unwrap();
    // The POST still goes out, with the previous text.
    let after = app.sent_text("message=b", &event).await;
    assert_eq!(after, before.replacen('a', "b", 1));
    let (code, ready) = app.get("/readyz").await;
    assert_eq!(code, 200, "{ready}");
    let why = ready["refused_templates"]["ru-RU/message"]
        .as_str()
        .unwrap();
    assert!(
        why.contains("message.txt.tera") && why.contains("ru-RU"),
        "{why}"
    );
    assert!(why.contains("client_nickname"), "{why}");
    assert!(why.contains("line 1"), "the line is named: {why}");
    // Anyone can read /readyz: no path on the server, no source text.
    let folder = templates.display().to_string();
    assert!(
        !why.contains(&folder) && !why.contains("Здравствуйте"),
        "{why}"
    );
    let (code, check) = app.get("/webhook/log?errorEmail=a%40b.ru").await;
    assert_eq!(code, 200);
    assert!(
        check["WarningMessage"]
            .as_str()
            .unwrap()
            .contains("template message (ru-RU) was refused"),
        "{check}"
    );
    // A good edit of another locale is not held back.
    std::fs::write(
        templates.join("en-US/message.txt.tera"),
        "EN {{ order_number }}",
    )
    .unwrap();
    assert_eq!(
        app.sent_text("message=a&date_locales=en-US", &event).await,
        "EN №180"
    );
    // Mending the template clears the warning.
    std::fs::write(&ru, original).unwrap();
    assert_eq!(
        app.sent_text("message=c", &event).await,
        before.replacen('a', "c", 1)
    );
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(ready["refused_templates"], serde_json::json!({}));
}

#[tokio::test]
async fn a_render_failure_at_run_time_is_stored_mailed_and_answered_422() {
    let (app, templates) = with_own_templates().await;
    let ru = templates.join("ru-RU/message.txt.tera");
    let original = std::fs::read_to_string(&ru).unwrap();
    // Fails only for a service that no built-in sample has, so the check lets it through.
    std::fs::write(
        &ru,
        format!("{{% if service_name == \"Консультация\" %}}{{{{ nope }}}}{{% endif %}}{original}"),
    )
    .unwrap();
    let (code, body) = app
        .post(
            "/webhook/log?phone=79119998877&message=Hi&errorEmail=op%40example.com",
            fixture("invalid-phone.json"),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .starts_with("The message template failed"),
        "{body}"
    );
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(error.contains("line 1"), "{error}");
    assert!(
        !error.contains("service_name ==") && !error.contains(&templates.display().to_string()),
        "no source text or path in an anonymous answer: {error}"
    );
    let id = body["DeliveryId"].as_str().expect("a DeliveryId");
    let record = app.record(id).await;
    assert_eq!(record.state, torrow_hooks::store::State::Failed);
    assert!(app.sink().is_empty(), "nothing was sent");
    let mut mails = Vec::new();
    for _ in 0..500 {
        mails = app.eml_files();
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains(id), "{}", mails[0]);
}
