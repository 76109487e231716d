//! POST /webhook/log: the rendered text as the log sink receives it (SPEC §3–4).

use crate::support::{fixture, spawn};

const MESSAGE: &str = "message=%D0%92%D1%8B%20%D0%B7%D0%B0%D0%BF%D0%B8%D1%81%D0%B0%D0%BD%D1%8B%20%D0%BD%D0%B0%20%D1%83%D1%81%D0%BB%D1%83%D0%B3%D1%83";

/// The SPEC §3 layout for tests/fixtures/booking-one-resource.json (its own values).
const FULL: &str = "Здравствуйте, fsdfsdf!
Вы записаны на услугу

Запись №180
Услуга: Назначить встречу
Время: 08.05.2024 11:15 (Мск)
Продолжительность: 15 мин.

Детали записи
Услуги/ресурсы:
1. Телефонный разговор — Короткий телефонный разговор (не более 15 минут); 1 шт.

Контактная информация
ФИО: fsdfsdf
Телефон: +7 (911) 999-88-77
Email: sdfdsf@sdf.sdf
Тема встречи: sdfsdf

Ссылка на услугу: https://torrow.net/app/tabs/tab-search/service;id=svc-100
Ссылка на запись: https://torrow.net/app/tabs/tab-search/case;id=case-180";

#[tokio::test]
async fn booking_matches_the_spec_layout() {
    let app = spawn("").await;
    let text = app
        .sent_text(
            &format!("{MESSAGE}&hide_contact_info=false"),
            &fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(text, FULL);
    let line = &app.sink()[0];
    assert_eq!(line["recipient"], "79119998877");
    assert_eq!(line["channel"], "log");
    assert!(line["delivery_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(line["time"].is_string());
}

#[tokio::test]
async fn contact_info_is_hidden_by_default() {
    let app = spawn("").await;
    let text = app
        .sent_text(MESSAGE, &fixture("booking-one-resource.json"))
        .await;
    assert!(!text.contains("Контактная информация"));
    // The client is greeted by name; the contact fields themselves stay hidden.
    assert!(text.starts_with("Здравствуйте, fsdfsdf!\n"), "{text}");
    assert!(!text.contains("ФИО: fsdfsdf"));
}

/// `FULL` without the given lines, blank runs collapsed as the service does.
fn without(lines: &[&str]) -> String {
    let kept: Vec<&str> = FULL
        .lines()
        .filter(|l| !lines.iter().any(|x| l.starts_with(x)))
        .collect();
    torrow_hooks::render::tidy(&kept.join("\n"))
}

async fn flag_removes(flag: &str, lines: &[&str]) {
    let app = spawn("").await;
    let text = app
        .sent_text(
            &format!("{MESSAGE}&hide_contact_info=false&{flag}=true"),
            &fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(text, without(lines), "{flag}");
    assert_ne!(text, FULL);
}

#[tokio::test]
async fn hide_service_name() {
    flag_removes("hide_service_name", &["Услуга:"]).await;
}

#[tokio::test]
async fn hide_order_duration() {
    flag_removes("hide_order_duration", &["Продолжительность:"]).await;
}

#[tokio::test]
async fn hide_resource_description() {
    let app = spawn("").await;
    let text = app
        .sent_text(
            &format!("{MESSAGE}&hide_resource_description=true"),
            &fixture("booking-one-resource.json"),
        )
        .await;
    assert!(text.contains("\n1. Телефонный разговор; 1 шт.\n"), "{text}");
    assert!(!text.contains("Короткий"));
}

#[tokio::test]
async fn hide_detail_section() {
    flag_removes(
        "hide_detail_section",
        &["Детали записи", "Услуги/ресурсы:", "1. "],
    )
    .await;
}

#[tokio::test]
async fn hide_contact_info() {
    let app = spawn("").await;
    let text = app
        .sent_text(
            &format!("{MESSAGE}&hide_contact_info=true"),
            &fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(
        text,
        without(&[
            "Контактная информация",
            "ФИО:",
            "Телефон:",
            "Email:",
            "Тема встречи:"
        ])
    );
}

#[tokio::test]
async fn hide_url() {
    flag_removes("hide_url", &["Ссылка на"]).await;
}

#[tokio::test]
async fn hide_address_and_description() {
    let app = spawn("").await;
    let order = fixture("order-many-resources.json");
    let full = app.sent_text("hide_contact_info=true", &order).await;
    assert!(
        full.contains("\nАдрес: Советский р-н, ул. Верхняя улица, 18В\n"),
        "{full}"
    );
    assert!(
        full.contains("\nОписание: Код доступа 4321\nДействует до 12:00\n"),
        "{full}"
    );
    let no_address = app.sent_text("hide_address=true", &order).await;
    assert_eq!(
        no_address,
        full.replace("Адрес: Советский р-н, ул. Верхняя улица, 18В\n", "")
    );
    let no_description = app.sent_text("hide_order_description=true", &order).await;
    assert_eq!(
        no_description,
        full.replace("Описание: Код доступа 4321\nДействует до 12:00\n", "")
    );
}

#[tokio::test]
async fn many_resources_prices_and_totals() {
    let app = spawn("").await;
    let text = app
        .sent_text("", &fixture("order-many-resources.json"))
        .await;
    let expected = "Здравствуйте, Ксения!

Заказ №557
Услуга: Записаться на мойку
Время: 16.06.2024 12:00 (Мск)
Продолжительность: 1 ч. 30 мин.
Адрес: Советский р-н, ул. Верхняя улица, 18В
Описание: Код доступа 4321
Действует до 12:00

Детали заказа
Услуги/ресурсы:
1. Комплексная мойка — Наружная мойка кузова; 1 шт.; 950 ₽
2. Воск; кол-во 2; 200,50 ₽
3. Дополнительно; кол-во 1
Итого: 1150,50 ₽

Ссылка на услугу: https://torrow.net/app/tabs/tab-search/service;id=svc-wash
Ссылка на заказ: https://torrow.net/app/tabs/tab-search/case;id=case-557";
    assert_eq!(text, expected);
    // The phone came from field type 9, written as 8 911 …
    assert_eq!(app.sink()[0]["recipient"], "79119998877");
}

#[tokio::test]
async fn english_locale() {
    let app = spawn("").await;
    let text = app
        .sent_text(
            "date_locales=en-US&message=See%20you&sign_text=Team",
            &fixture("order-many-resources.json"),
        )
        .await;
    let expected = "Hello, Ксения!
See you

Order №557
Service: Записаться на мойку
Time: 6/16/2024 12:00 PM (MSK)
Duration: 1 h 30 min
Address: Советский р-н, ул. Верхняя улица, 18В
Description: Код доступа 4321
Действует до 12:00

Order details
Services/resources:
1. Комплексная мойка — Наружная мойка кузова; 1 pcs; 950 RUB
2. Воск; qty 2; 200.50 RUB
3. Дополнительно; qty 1
Total: 1150.50 RUB

Service link: https://torrow.net/app/tabs/tab-search/service;id=svc-wash
Link to the order: https://torrow.net/app/tabs/tab-search/case;id=case-557

Team";
    assert_eq!(text, expected);
}

#[tokio::test]
async fn another_time_zone_shifts_the_time_and_names_it() {
    let app = spawn("").await;
    let text = app
        .sent_text(
            "timezone=Asia/Yekaterinburg",
            &fixture("booking-one-resource.json"),
        )
        .await;
    assert!(text.contains("\nВремя: 08.05.2024 13:15 (+05)\n"), "{text}");
    let named = app
        .sent_text(
            "timezone=Asia/Yekaterinburg&timezone_name=%D0%95%D0%BA%D0%B1",
            &fixture("booking-one-resource.json"),
        )
        .await;
    assert!(
        named.contains("\nВремя: 08.05.2024 13:15 (Екб)\n"),
        "{named}"
    );
}

#[tokio::test]
async fn participant_time_zone() {
    let app = spawn("").await;
    let text = app
        .sent_text(
            "timezone=participant",
            &fixture("booking-one-resource.json"),
        )
        .await;
    assert!(text.contains("\nВремя: 08.05.2024 13:15 (+05)\n"), "{text}");
}

#[tokio::test]
async fn a_cancellation_of_each_kind_says_so_and_drops_the_booking_message() {
    let app = spawn("").await;
    // message = "Вы записаны": a confirmation text that must not reach a cancelled client.
    let query = |locale: &str| {
        format!("message=%D0%92%D1%8B%20%D0%B7%D0%B0%D0%BF%D0%B8%D1%81%D0%B0%D0%BD%D1%8B&hide_url=true&date_locales={locale}")
    };
    let cases = [
        (
            "cancelled-booking.json",
            "Запись №180 отменена\nУслуга: Назначить встречу\nВремя: 08.05.2024 11:15 (Мск)",
            "Booking №180 has been cancelled\nService: Назначить встречу\nTime: 5/8/2024 11:15 AM (MSK)",
        ),
        (
            "cancelled-order.json",
            "Заказ №557 отменён\nУслуга: Записаться на мойку\nВремя: 16.06.2024 12:00 (Мск)\nАдрес: Советский р-н, ул. Верхняя улица, 18В",
            "Order №557 has been cancelled\nService: Записаться на мойку\nTime: 6/16/2024 12:00 PM (MSK)\nAddress: Советский р-н, ул. Верхняя улица, 18В",
        ),
        (
            "cancelled-event.json",
            "Участие в мероприятии №42 отменено\nУслуга: Мастер-класс\nВремя: 01.09.2024 18:00 (Мск)",
            "Event participation №42 has been cancelled\nService: Мастер-класс\nTime: 9/1/2024 6:00 PM (MSK)",
        ),
    ];
    for (file, ru, en) in cases {
        // The client is greeted by name first when the form has it.
        let text = app.sent_text(&query("ru-RU"), &fixture(file)).await;
        assert!(text.ends_with(ru), "{file}: {text}");
        assert!(!text.contains("Вы записаны"), "{file}: {text}");
        let text = app.sent_text(&query("en-US"), &fixture(file)).await;
        assert!(text.ends_with(en), "{file}: {text}");
    }
    assert_eq!(app.sink()[0]["recipient"], "79119998877");
}

#[tokio::test]
async fn fixed_phone_sends_only_the_message() {
    let app = spawn("").await;
    let (code, body) = app
        .post(
            "/webhook/log?phone=%2B7%20(911)%20999-88-77&message=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82",
            fixture("invalid-phone.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let sink = app.sink();
    assert_eq!(sink[0]["recipient"], "79119998877");
    assert_eq!(sink[0]["text"], "Привет");
}

#[tokio::test]
async fn invalid_or_missing_phone_is_422() {
    let app = spawn("").await;
    let (code, body) = app
        .post("/webhook/log", fixture("invalid-phone.json"))
        .await;
    assert_eq!(code, 422);
    assert_eq!(body["Status"], "Error");
    assert_eq!(
        body["ErrorMessage"],
        "No valid phone number in the event: <234234>"
    );
    let (code, body) = app
        .post("/webhook/log", fixture("missing-phone.json"))
        .await;
    assert_eq!(code, 422);
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .starts_with("No phone number in the event"));
    assert!(app.sink().is_empty());
}

#[tokio::test]
async fn message_is_text_not_template_code() {
    let app = spawn("").await;
    let text = app
        .sent_text(
            "message=%7B%7B%207*7%20%7D%7D&sign_text=%7B%25%20if%20true%20%25%7Dx",
            &fixture("booking-one-resource.json"),
        )
        .await;
    assert!(text.contains("\n{{ 7*7 }}\n"), "{text}");
    assert!(text.ends_with("\n{% if true %}x"), "{text}");
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = spawn("").await;
    let (code, body) = app.post("/webhook/log", vec![b' '; 2 * 1024 * 1024]).await;
    assert_eq!(code, 413);
    assert_eq!(body["Status"], "Error");
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("server.body_limit"));
}

#[tokio::test]
async fn not_json_is_422_with_a_clear_message() {
    let app = spawn("").await;
    let (code, body) = app.post("/webhook/log", "not json").await;
    assert_eq!(code, 422);
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .starts_with("The request body is not valid JSON for a Torrow event"));
    let (code, body) = app.post("/webhook/log", "").await;
    assert_eq!(code, 422);
    assert!(body["ErrorMessage"]
        .as_str()
        .unwrap()
        .starts_with("The request body is empty"));
}

#[tokio::test]
async fn wrong_parameters_on_post_are_400() {
    let app = spawn("").await;
    let (code, body) = app
        .post(
            "/webhook/log?hide_url=perhaps",
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(body["Status"], "Wrong parameters");
    assert!(app.sink().is_empty());
}

#[tokio::test]
async fn the_shipped_message_greets_the_client_by_name_in_each_locale() {
    let app = spawn("").await;
    let booking = fixture("booking-one-resource.json");
    let ru = app.sent_text("message=x", &booking).await;
    assert!(ru.starts_with("Здравствуйте, fsdfsdf!\nx\n"), "{ru}");
    let en = app
        .sent_text("message=y&date_locales=en-US", &booking)
        .await;
    assert!(en.starts_with("Hello, fsdfsdf!\ny\n"), "{en}");
    // No name in the form: no greeting with an empty name.
    let mut nameless: serde_json::Value = serde_json::from_slice(&booking).unwrap();
    for field in nameless["CaseParticipants"]["ContactInformation"]["Fields"]
        .as_array_mut()
        .unwrap()
    {
        if field["ParticipationFieldType"] == 1 {
            field["Value"] = "".into();
        }
    }
    let text = app
        .sent_text("message=x", &serde_json::to_vec(&nameless).unwrap())
        .await;
    assert!(text.starts_with("x\n"), "{text}");
}

/// Moscow time reads «Мск» however it was chosen: by default, as MSK/МСК, or as the participant's
/// own zone; MSK is not taken for MST.
#[tokio::test]
async fn moscow_time_is_named_alike_and_msk_means_moscow() {
    let app = spawn("").await;
    let mut moscow: serde_json::Value =
        serde_json::from_slice(&fixture("booking-one-resource.json")).unwrap();
    moscow["CaseParticipants"]["ParticipantTimeZone"] = "Europe/Moscow".into();
    let body = serde_json::to_vec(&moscow).unwrap();
    for (n, zone) in ["participant", "MSK", "%D0%9C%D0%A1%D0%9A", "msk"]
        .iter()
        .enumerate()
    {
        let text = app
            .sent_text(&format!("timezone={zone}&message=m{n}"), &body)
            .await;
        assert!(
            text.contains("\nВремя: 08.05.2024 11:15 (Мск)\n"),
            "{zone}: {text}"
        );
    }
    let (code, body) = app
        .get("/webhook/log?timezone=MSK&errorEmail=a%40b.ru")
        .await;
    assert_eq!(code, 200, "{body}");
}
