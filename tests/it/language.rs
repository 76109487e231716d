//! Answers, failure emails and the check texts in the operator's language: Russian by default
//! (`server.language`), the browser's on GET (`Accept-Language`); `Status` stays Torrow's.

use serde_json::Value;
use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

use crate::support::{fixture, next_mail, smtp_listener, spawn, TestApp, TOKEN};

async fn get_in(app: &TestApp, path: &str, accept: Option<&str>) -> (u16, Value) {
    let mut request = app.http.get(format!("{}{path}", app.base));
    if let Some(accept) = accept {
        request = request.header("accept-language", accept);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// What is left of a Russian answer once values in `<…>` and known names are taken out: it
/// must not hold English words (an untranslated text).
fn english_words(text: &str) -> Vec<String> {
    let without_values = regex::Regex::new(r"<[^>]*>").unwrap().replace_all(text, "");
    let allowed = [
        "Wappi",
        "IANA",
        "JSON",
        "HTTP",
        "true",
        "false",
        "errorEmail",
        "Europe",
        "Moscow",
        "participant",
        "GREEN",
        "Telegram",
        "Wazzup24",
        "apiToken",
        "cascadeId",
        "profileId",
        "apiTokenInstance",
        "whatsapp",
        "example",
        "green",
        "wappi",
        "telegram",
        "wazzup",
        "nothing",
        "BotFather",
        "TelegramId",
        "AAFQ",
        "viber",
        "only",
        "apiUrl",
        "idInstance",
        "apiUrlMax",
        "idInstanceMax",
        "apiTokenInstanceMax",
        "MAX",
        "WhatsApp",
        "console",
        "key_api",
        "channel_id",
        "chat_type",
        "https",
        "telegramToken",
        "telegramFieldName",
    ];
    regex::Regex::new(r"[A-Za-z]{4,}")
        .unwrap()
        .find_iter(&without_values)
        .map(|m| m.as_str().to_string())
        .filter(|w| !allowed.iter().any(|a| a.eq_ignore_ascii_case(w)))
        .collect()
}

#[tokio::test]
async fn a_browser_gets_its_language_and_torrow_gets_the_setting() {
    let app = spawn("[server]\nlanguage = \"ru\"\n").await;
    let bad = "/webhook/log?hide_url=maybe&timezone=Europe/Moskow&hdie_url=1";
    let (code, ru) = get_in(&app, bad, Some("ru-RU,ru;q=0.9,en;q=0.8")).await;
    assert_eq!(
        (code, &ru["Status"]),
        (400, &Value::from("Wrong parameters"))
    );
    let error = ru["ErrorMessage"].as_str().unwrap();
    assert!(
        error.contains("Параметр <hide_url> должен быть true или false, а не <maybe>"),
        "{error}"
    );
    assert!(
        error.contains("неизвестный часовой пояс <Europe/Moskow> (может быть, <Europe/Moscow>?)"),
        "{error}"
    );
    let warning = ru["WarningMessage"].as_str().unwrap();
    assert!(
        warning.contains("неизвестный параметр <hdie_url> пропущен (может быть, <hide_url>?)"),
        "{warning}"
    );
    assert!(english_words(error).is_empty(), "{error}");
    assert!(english_words(warning).is_empty(), "{warning}");

    let (_, en) = get_in(&app, bad, Some("en-US,en;q=0.9")).await;
    assert!(en["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("Parameter <hide_url> must be true or false, not <maybe>"));

    // No Accept-Language (Torrow, curl): the setting.
    let (code, ok) = get_in(&app, "/webhook/log?errorEmail=a%40b.ru", None).await;
    assert_eq!((code, &ok["Status"]), (200, &Value::from("Success")));
    assert_eq!(ok["Message"], "Вебхук успешно проверен");
    let (code, posted) = app
        .post("/webhook/log", fixture("booking-one-resource.json"))
        .await;
    assert_eq!((code, &posted["Status"]), (200, &Value::from("Success")));
    assert_eq!(posted["Message"], "Сообщение доставлено");
    assert_eq!(
        posted["WarningMessage"],
        "Параметр <errorEmail> не задан: ошибки будут только записаны в журнал"
    );
}

#[tokio::test]
async fn every_check_answer_of_every_channel_reads_in_russian() {
    let wappi = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_string("{\"detail\":\"bad\"}"))
        .mount(&wappi)
        .await;
    let app = spawn(&format!(
        "[server]\nlanguage = \"ru\"\n[wappi]\nbase_url = \"{}\"\n",
        wappi.uri()
    ))
    .await;
    let urls = [
        "/webhook/wappi?cascadeid=c1".to_string(),
        "/webhook/wappi?apiToken=a!b&cascadeId=c-1&profileId=p".to_string(),
        format!("/webhook/wappi?apiTokenInstance={TOKEN}&cascadeId=c1&errorEmail=ivan%40mail"),
        format!("/webhook/wappi?apiToken={TOKEN}&cascadeId=c1&phone=12&date_locales=de-DE"),
        format!("/webhook/wappi?apiToken={TOKEN}&cascadeId=c1&errorEmail=a%40b.ru"),
        "/webhook/nothing?x=1".to_string(),
        // The other channels' own parameter checks.
        "/webhook/telegram?telegramFieldName=".to_string(),
        "/webhook/telegram?telegramToken=abc&telegramFieldName=*TelegramId".to_string(),
        "/webhook/wazzup24?key_api=a%20b&chat_type=viber".to_string(),
        "/webhook/green-api?apiUrl=http://x.example&idInstance=abc&apiTokenInstance=t%20t"
            .to_string(),
        "/webhook/green-api?repeat=maybe".to_string(),
    ];
    for url in urls {
        let (_, answer) = get_in(&app, &url, None).await;
        for key in ["ErrorMessage", "WarningMessage", "Message"] {
            let text = answer[key].as_str().unwrap_or("");
            assert!(
                english_words(text).is_empty(),
                "{url}: {key} not translated: {text}"
            );
        }
    }
}

#[tokio::test]
async fn the_failure_email_is_russian_with_one_time_format() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string("{\"detail\":\"no such chat\"}"))
        .mount(&wappi)
        .await;
    let (smtp, mut mails) = smtp_listener().await;
    let app = spawn(&format!(
        "[server]\nlanguage = \"ru\"\n[wappi]\nbase_url = \"{}\"\n[mail]\nsmtp_url = \"{smtp}\"\n",
        wappi.uri()
    ))
    .await;
    let (code, _) = app
        .post(
            &format!("/webhook/wappi?cascadeId=c1&apiToken={TOKEN}&errorEmail=op%40example.com"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 502);
    let mail = next_mail(&mut mails).await;
    let text = mail.data.clone();
    assert!(
        text.contains("Что случилось: Доставка не удалась"),
        "{text}"
    );
    assert!(
        text.contains("Причина: Wappi ответил HTTP 400 (каскад <c1>)"),
        "{text}"
    );
    assert!(
        text.contains("Время записи: 2024-05-08 11:15 MSK"),
        "{text}"
    );
    let when = regex::Regex::new(r"Когда: \d{4}-\d\d-\d\d \d\d:\d\d MSK").unwrap();
    assert!(when.is_match(&text), "{text}");
    assert!(text.contains("Канал: wappi (каскад Wappi <c1>)"), "{text}");
    assert!(
        text.contains("Недоставленное сообщение (первые 200 из"),
        "{text}"
    );
    assert!(!text.contains("What failed"), "{text}");
    // One time format: no RFC 3339 time anywhere.
    let rfc3339 = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:").unwrap();
    assert!(!rfc3339.is_match(&text), "{text}");
}

/// A delivery's error is kept as a message with its arguments: one stored error reads in
/// Russian for one reader and in English for another, with the provider's own words as sent.
#[tokio::test]
async fn a_stored_error_reads_in_each_readers_language() {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_string("{\"detail\":\"no such chat 42\"}"),
        )
        .mount(&wappi)
        .await;
    let app = spawn(&format!(
        "[server]\nlanguage = \"ru\"\nadmin_token = \"adm-1\"\n[wappi]\nbase_url = \"{}\"\n",
        wappi.uri()
    ))
    .await;
    let hook = format!("/webhook/wappi?cascadeId=c1&apiToken={TOKEN}");
    let (code, body) = app.post(&hook, fixture("booking-one-resource.json")).await;
    assert_eq!(code, 502, "{body}");
    assert_eq!(
        body["ErrorMessage"],
        "Wappi ответил HTTP 400 (каскад <c1>): no such chat 42"
    );
    let id = body["DeliveryId"].as_str().unwrap();
    let read = |accept: &'static str| {
        let request = app
            .http
            .get(format!("{}/api/deliveries/{id}", app.base))
            .bearer_auth("adm-1")
            .header("accept-language", accept);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let english = read("en-GB,en;q=0.9").await;
    assert_eq!(
        english["last_error"],
        "Wappi answered HTTP 400 for cascade <c1>: no such chat 42"
    );
    assert_eq!(
        english["attempts_made"][0]["error"],
        "Wappi answered HTTP 400 for cascade <c1>: no such chat 42"
    );
    assert_eq!(english["target"], "Wappi cascade <c1>");
    let russian = read("ru-RU").await;
    assert_eq!(
        russian["last_error"],
        "Wappi ответил HTTP 400 (каскад <c1>): no such chat 42"
    );
    assert_eq!(russian["target"], "каскад Wappi <c1>");
    // The row holds the message id and its arguments, not a sentence in one language.
    let record = app.record(id).await;
    let stored = record.last_error.unwrap();
    assert_eq!(stored.id(), Some("wappi-wappi-answered-http-code-target"));
}
