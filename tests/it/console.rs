//! The console in a real, headless Chromium driven through ChromeDriver (WebDriver).
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without them these
//! tests are reported as ignored (build.rs sets `cfg(chromium)`).

use std::{process::Stdio, time::Duration};

use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use wiremock::{
    matchers::{method, path, query_param},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, spawn, TestApp, TOKEN};
use torrow_hooks::store::State;

/// A ChromeDriver process and one headless Chromium session; both end when dropped.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let driver_path =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut driver = tokio::process::Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, so that Chromium goes with it even when a test fails.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{driver_path}: {e}"));
        // It says so on stdout once it listens.
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("started successfully") {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// The element, once it is there (bounded wait).
    async fn wait(&self, xpath: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|e| panic!("never appeared: {xpath}: {e}"))
    }

    /// The form control that sets the parameter `name`.
    async fn param(&self, name: &str) -> Element {
        self.wait(&format!("//*[@data-param='{name}']//*[@name='{name}']"))
            .await
    }

    async fn value(&self, id: &str) -> String {
        let element = self.client.find(Locator::Id(id)).await.unwrap();
        element.prop("value").await.unwrap().unwrap_or_default()
    }

    async fn button(&self, label: &str) -> Element {
        self.wait(&format!("//button[normalize-space(.)='{label}']"))
            .await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = self
            ._driver
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32));
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

async fn wappi_that_knows_cascade(cascade: &str) -> MockServer {
    let wappi = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/csender/cascade/get"))
        .and(query_param("cascade_id", cascade))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"cascade": {"name": "Салон", "order": []}})),
        )
        .mount(&wappi)
        .await;
    wappi
}

#[tokio::test]
#[cfg_attr(
    not(chromium),
    ignore = "Chromium/ChromeDriver not installed (apt-get install chromium chromium-driver; .ci/run does)"
)]
async fn build_check_preview_and_paste_a_hook_url_in_russian() {
    let wappi = wappi_that_knows_cascade("salon42").await;
    let app = spawn(&format!("[wappi]\nbase_url = \"{}\"\n", wappi.uri())).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", app.base))
        .await
        .unwrap();

    // The channel list comes from /api/channels; wappi is picked first.
    let cascade = browser.param("cascadeId").await;
    assert_eq!(
        browser.value("channel").await,
        "wappi",
        "the wappi channel is chosen"
    );
    cascade.send_keys("salon42").await.unwrap();
    browser
        .param("apiToken")
        .await
        .send_keys(TOKEN)
        .await
        .unwrap();
    browser
        .param("message")
        .await
        .send_keys("Ждём вас!\nДо встречи")
        .await
        .unwrap();
    let url = browser.value("hook-url").await;
    assert!(
        url.starts_with(&format!("{}/webhook/wappi?", app.base)),
        "{url}"
    );
    assert!(url.contains(&format!("apiToken={TOKEN}")), "{url}");
    assert!(url.contains("cascadeId=salon42"), "{url}");
    assert!(
        url.contains("message=%D0%96%D0%B4%D1%91%D0%BC%20%D0%B2%D0%B0%D1%81!%0A%D0%94%D0%BE%20"),
        "percent-encoded Cyrillic, %20 and %0A: {url}"
    );
    assert!(
        !url.contains("hide_contact_info"),
        "defaults stay out: {url}"
    );

    // Untick hide_contact_info: the URL says so and the preview shows the contact block.
    browser
        .param("hide_contact_info")
        .await
        .click()
        .await
        .unwrap();
    let url = browser.value("hook-url").await;
    assert!(url.contains("hide_contact_info=false"), "{url}");
    let bubble = browser
        .wait("//*[@aria-label='Preview']//*[@id='preview-text'][contains(., 'Контактная информация')]")
        .await;
    let text = bubble.text().await.unwrap();
    assert!(text.contains("Ждём вас!"), "{text}");
    assert!(text.contains("Запись №"), "{text}");
    let recipient = browser
        .client
        .find(Locator::Id("preview-recipient"))
        .await
        .unwrap();
    assert_eq!(recipient.text().await.unwrap(), "7911*****77");

    // Check against the Wappi stand-in.
    browser.button("Проверить").await.click().await.unwrap();
    let result = browser
        .wait("//div[@id='check-result' and contains(@class, 'success')]")
        .await;
    assert!(result.text().await.unwrap().contains("Успешно"));

    // Copy.
    browser.button("Копировать").await.click().await.unwrap();
    browser
        .wait("//*[@id='copy-status'][normalize-space(.)!='']")
        .await;

    browser
        .client
        .execute("window.scrollTo(0, 0)", vec![])
        .await
        .unwrap();
    let shot = browser.client.screenshot().await.unwrap();
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("console.png"), &shot).unwrap();
    assert!(shot.starts_with(b"\x89PNG"));

    // Paste a URL with a misspelt and a wrong parameter: the form fills in, the check runs, and
    // each message stands by its field.
    let pasted = format!(
        "https://hooks.example.com/webhook/wappi?cascadeId=salon42&apiToken={TOKEN}\
         &hide_adress=true&timezone=Europe%2FMoskow&sign_text=%D0%A1%D0%B0%D0%BB%D0%BE%D0%BD%20%C2%AB%D0%9B%D0%B8%D1%81%D0%B0%C2%BB"
    );
    browser
        .client
        .find(Locator::Id("paste"))
        .await
        .unwrap()
        .send_keys(&pasted)
        .await
        .unwrap();
    browser.button("Разобрать").await.click().await.unwrap();
    browser
        .wait("//div[@id='check-result' and contains(@class, 'error')]")
        .await;
    let by_zone = browser
        .wait("//*[@data-param='timezone']/p[contains(@class, 'field-message') and contains(., 'Europe/Moskow')]")
        .await;
    assert!(by_zone.is_displayed().await.unwrap());
    browser
        .wait("//*[@data-param='hide_address']/p[contains(@class, 'field-message') and contains(., 'hide_adress')]")
        .await;
    assert_eq!(
        browser
            .param("sign_text")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Салон «Лиса»")
    );
    assert_eq!(browser.value("extra").await, "hide_adress=true");
    // Round trip: the rebuilt URL holds every pasted parameter.
    let url = browser.value("hook-url").await;
    for pair in pasted.split_once('?').unwrap().1.split('&') {
        assert!(url.contains(pair), "{pair} missing from {url}");
    }

    // A phone screen: one column, nothing wider than the screen.
    browser.client.set_window_size(390, 844).await.unwrap();
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page is wider than a phone: {overflow}"
    );
    browser.client.set_window_size(1280, 1900).await.unwrap();

    // English.
    browser.button("English").await.click().await.unwrap();
    browser.button("Check").await;
    browser.button("Copy").await;
    let page_url = browser.client.current_url().await.unwrap();
    assert!(
        !page_url.as_str().contains(TOKEN),
        "no token in the page URL"
    );
    browser.client.clone().close().await.unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(chromium),
    ignore = "Chromium/ChromeDriver not installed (apt-get install chromium chromium-driver; .ci/run does)"
)]
async fn replay_a_dead_delivery_with_the_admin_token() {
    const ADMIN: &str = "console-admin-5b2e";
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&wappi)
        .await;
    let app: TestApp = spawn(&format!(
        "[wappi]\nbase_url = \"{}\"\n[server]\nadmin_token = \"{ADMIN}\"\n\
         [delivery]\nmax_age = \"200ms\"\nretry_schedule = [\"50ms\"]\n",
        wappi.uri()
    ))
    .await;
    let (code, body) = app
        .post(
            &format!("/webhook/wappi?cascadeId=salon42&apiToken={TOKEN}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let id = body["DeliveryId"].as_str().unwrap().to_string();
    app.wait_for(&id, |r| r.state == State::Dead).await;
    wappi.reset().await;
    Mock::given(method("POST"))
        .and(path("/csender/cascade/send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "done"})))
        .expect(1)
        .mount(&wappi)
        .await;

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", app.base))
        .await
        .unwrap();
    // Without the token: refused, nothing listed.
    browser.button("Показать").await.click().await.unwrap();
    browser
        .wait("//*[@id='deliveries-problem'][contains(., 'server.admin_token')]")
        .await;
    browser
        .wait("//*[@id='admin-token']")
        .await
        .send_keys(ADMIN)
        .await
        .unwrap();
    browser.button("Показать").await.click().await.unwrap();
    browser
        .wait(&format!(
            "//tr[@data-id='{id}']/td[contains(@class, 'state') and .='прекращено']"
        ))
        .await;
    browser
        .wait(&format!("//button[@aria-label='Открыть {id}']"))
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait("//*[@id='detail-text'][contains(., 'Запись №')]")
        .await;
    browser
        .button("Отправить снова")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait("//*[@id='replay-status'][contains(., 'Поставлено в очередь')]")
        .await;
    let sent = app.wait_for(&id, |r| r.state == State::Sent).await;
    assert!(sent.attempts >= 2);
    browser.button("Показать").await.click().await.unwrap();
    browser
        .wait(&format!(
            "//tr[@data-id='{id}']/td[contains(@class, 'state') and .='отправлено']"
        ))
        .await;
    browser.client.clone().close().await.unwrap();
}

/// The template editor: break the reminder and see the error with its line, fix it and watch the
/// preview follow, save with a note, restore the previous version, see the history.
#[tokio::test]
#[cfg_attr(
    not(chromium),
    ignore = "Chromium/ChromeDriver not installed (apt-get install chromium chromium-driver; .ci/run does)"
)]
async fn edit_preview_save_and_restore_a_template_in_russian() {
    const ADMIN: &str = "editor-admin-7c1d";
    let app = spawn(&format!("[server]\nadmin_token = \"{ADMIN}\"\n")).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/console/templates", app.base))
        .await
        .unwrap();
    let language = browser.wait("//button[@id='language']").await;
    if language.text().await.unwrap() == "Русский" {
        language.click().await.unwrap();
    }
    browser
        .wait("//input[@id='admin-token']")
        .await
        .send_keys(ADMIN)
        .await
        .unwrap();
    browser.button("Открыть").await.click().await.unwrap();
    browser
        .wait("//button[@aria-label='Изменить ru-RU/reminder']")
        .await
        .click()
        .await
        .unwrap();
    let source = browser
        .wait("//textarea[@id=//label[normalize-space(.)='Шаблон']/@for]")
        .await;
    browser
        .wait("//*[@aria-label='Предпросмотр шаблона']//*[contains(., 'напоминаем')]")
        .await;

    // Broken: the error names its line; nothing can be saved.
    source.clear().await.unwrap();
    source
        .send_keys("Напоминаем\n{{ order_number }")
        .await
        .unwrap();
    browser
        .wait("//ul[@id='errors']/li[contains(., 'строка 2')]")
        .await;
    // Fixed: the preview follows.
    source.clear().await.unwrap();
    source
        .send_keys("Ждём вас: {{ case_type_name }} {{ order_number }}, {{ start }}")
        .await
        .unwrap();
    browser
        .wait("//*[@aria-label='Предпросмотр шаблона']//*[@class='bubble'][contains(., 'Ждём вас: запись №180')]")
        .await;
    assert!(browser
        .client
        .find_all(Locator::XPath("//ul[@id='errors']/li"))
        .await
        .unwrap()
        .is_empty());

    // Saved with a note; it serves at once.
    let note = browser.wait("//input[@id='note']").await;
    note.send_keys("короче").await.unwrap();
    browser.button("Сохранить").await.click().await.unwrap();
    browser
        .wait("//*[@id='save-result'][contains(., 'Сохранено: версия')]")
        .await;
    let text = app
        .sent_text("template=reminder", &fixture("booking-one-resource.json"))
        .await;
    assert_eq!(text, "Ждём вас: запись №180, 08.05.2024 11:15");

    // A second version, then restore the first from the history.
    let source = browser.wait("//textarea[@id='source']").await;
    source.clear().await.unwrap();
    source
        .send_keys("Вторая версия {{ order_number }}")
        .await
        .unwrap();
    browser
        .wait("//*[@class='bubble'][contains(., 'Вторая версия №180')]")
        .await;
    browser
        .wait("//input[@id='note']")
        .await
        .send_keys("вторая")
        .await
        .unwrap();
    browser.button("Сохранить").await.click().await.unwrap();
    browser
        .wait("//*[@aria-label='История']//li[contains(., 'вторая')]")
        .await;
    browser
        .wait("//*[@aria-label='История']//button[@aria-label='Восстановить: короче']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait("//*[@aria-label='История']//li[contains(., 'restored version')]")
        .await;
    browser
        .wait("//*[@aria-label='История']//button[@aria-label='Сравнить с предыдущей: вторая']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait("//pre[@id='diff'][contains(., '+ Вторая версия')]")
        .await;
    let text = app
        .sent_text(
            "template=reminder&message=again",
            &fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(text, "Ждём вас: запись №180, 08.05.2024 11:15");

    browser
        .client
        .execute("window.scrollTo(0, 0)", vec![])
        .await
        .unwrap();
    let shot = browser.client.screenshot().await.unwrap();
    assert!(shot.starts_with(b"\x89PNG"));
    // The README's picture: written to docs/ on request, to target/ otherwise.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        root.join("docs/templates.png")
    } else {
        std::fs::create_dir_all(root.join("target")).unwrap();
        root.join("target/templates.png")
    };
    std::fs::write(target, &shot).unwrap();
}

/// At desktop width the sticky preview never covers the deliveries; at 390 px the page is no
/// wider than the screen, even with the deliveries table filled; the check's warnings are a list,
/// each once; errorEmail sits with the channel's access fields; a former name has no field until
/// a pasted URL has it.
#[tokio::test]
#[cfg_attr(
    not(chromium),
    ignore = "Chromium/ChromeDriver not installed (apt-get install chromium chromium-driver; .ci/run does)"
)]
async fn nothing_covers_anything_at_desktop_and_phone_width() {
    const ADMIN: &str = "layout-admin-41d2";
    let app = spawn(&format!("[server]\nadmin_token = \"{ADMIN}\"\n")).await;
    for n in 0..12 {
        app.sent_text(
            &format!("message=layout{n}&errorEmail=op%40example.com"),
            &fixture("booking-one-resource.json"),
        )
        .await;
    }
    let browser = Browser::start().await;
    browser.client.goto(&app.base).await.unwrap();
    browser
        .wait("//select[@id='channel']/option[@value='wappi']")
        .await;
    // errorEmail is in the channel's fieldset; apiTokenInstance (a former name) is hidden.
    let layout = browser
        .client
        .execute(
            r#"const email = document.querySelector("[data-param='errorEmail']");
               const legacy = document.querySelector("[data-param='apiTokenInstance']");
               return [email.closest('fieldset').id, legacy === null || legacy.hidden];"#,
            vec![],
        )
        .await
        .unwrap();
    // (The default channel may not be wappi; pick it to see its fields.)
    let select = browser.wait("//select[@id='channel']").await;
    select.select_by_value("wappi").await.unwrap();
    let layout2 = browser
        .client
        .execute(
            r#"const legacy = document.querySelector("[data-param='apiTokenInstance']");
               return [document.querySelector("[data-param='errorEmail']").closest('fieldset').id, legacy.hidden];"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(layout[0], "channel-params", "{layout:?}");
    // Russia's zones by Russian name with their offset from Moscow.
    let label = browser
        .client
        .execute(
            "return document.querySelector(\"#zones option[value='Asia/Yekaterinburg']\").label;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(label, json!("Екатеринбург (МСК+2)"));
    assert_eq!(layout2, json!(["channel-params", true]), "{layout2:?}");

    // The check: warnings as a list, each once.
    browser.button("Проверить").await.click().await.unwrap();
    browser.wait("//*[@id='check-result']//ul/li").await;
    let items = browser
        .client
        .execute(
            "return [...document.querySelectorAll('#check-result li')].map(li => li.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let items: Vec<String> = serde_json::from_value(items).unwrap();
    let unique: std::collections::BTreeSet<&String> = items.iter().collect();
    assert_eq!(unique.len(), items.len(), "each once: {items:?}");

    // The deliveries, filled.
    browser
        .wait("//input[@id='admin-token']")
        .await
        .send_keys(ADMIN)
        .await
        .unwrap();
    browser.button("Показать").await.click().await.unwrap();
    browser
        .wait("//table[@id='delivery-list']//tbody/tr[12]")
        .await;

    let overlaps = r#"
        const a = document.getElementById('preview').getBoundingClientRect();
        const b = document.getElementById('deliveries').getBoundingClientRect();
        return !(a.bottom <= b.top || b.bottom <= a.top || a.right <= b.left || b.right <= a.left);"#;
    browser.client.set_window_size(1280, 720).await.unwrap();
    for y in (0..40).map(|i| i * 100) {
        browser
            .client
            .execute(&format!("window.scrollTo(0, {y});"), vec![])
            .await
            .unwrap();
        let covered = browser.client.execute(overlaps, vec![]).await.unwrap();
        assert_eq!(
            covered,
            json!(false),
            "the preview covers the deliveries at scroll {y}"
        );
    }

    browser.client.set_window_size(390, 844).await.unwrap();
    let widths = browser
        .client
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            vec![],
        )
        .await
        .unwrap();
    let widths: Vec<i64> = serde_json::from_value(widths).unwrap();
    assert!(
        widths[0] <= widths[1],
        "the page is wider than the screen: {widths:?}"
    );
    for y in [0, 800, 1600, 100000] {
        browser
            .client
            .execute(&format!("window.scrollTo(0, {y});"), vec![])
            .await
            .unwrap();
        let covered = browser.client.execute(overlaps, vec![]).await.unwrap();
        assert_eq!(covered, json!(false), "at 390 px, scroll {y}");
    }
}
