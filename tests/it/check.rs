//! Check mode (GET /webhook/<channel>): SPEC §1–2.

use crate::support::{fixture, spawn};

#[tokio::test]
async fn valid_log_url_is_verified() {
    let app = spawn("").await;
    let (code, body) = app
        .get("/webhook/log?message=%D0%92%D1%8B%20%D0%B7%D0%B0%D0%BF%D0%B8%D1%81%D0%B0%D0%BD%D1%8B&hide_contact_info=false&errorEmail=op%40example.com")
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        serde_json::json!({"Status": "Success", "Message": "The WebHook has been successfully verified"})
    );
}

#[tokio::test]
async fn missing_error_email_is_a_warning() {
    let app = spawn("").await;
    let (code, body) = app.get("/webhook/log").await;
    assert_eq!(code, 200);
    assert_eq!(
        body["WarningMessage"],
        "Parameter <errorEmail> is not set: errors will only be logged"
    );
}

#[tokio::test]
async fn each_bad_common_parameter_is_named() {
    let app = spawn("").await;
    let long = "x".repeat(4001);
    let cases: Vec<(String, &str)> = vec![
        (
            "errorEmail=not-an-address".into(),
            "Parameter <errorEmail> is not a valid email address <not-an-address>",
        ),
        (
            format!("message={long}"),
            "Parameter <message> is 4001 characters long, more than 4000",
        ),
        (
            "phone=12&message=hi".into(),
            "Parameter <phone> is not a valid phone number <12>",
        ),
        (
            "phone=79119998877".into(),
            "Parameter <phone> needs a non-empty <message>",
        ),
        (
            format!("resource_name={}", "r".repeat(201)),
            "Parameter <resource_name> is 201 characters long",
        ),
        (
            format!("detail_section_name={}", "d".repeat(201)),
            "Parameter <detail_section_name> is 201",
        ),
        (
            format!("case_type_name={}", "c".repeat(201)),
            "Parameter <case_type_name> is 201",
        ),
        (
            "hide_detail_section=1".into(),
            "Parameter <hide_detail_section> must be true or false, not <1>",
        ),
        (
            "hide_resource_description=yes".into(),
            "Parameter <hide_resource_description> must be true or false, not <yes>",
        ),
        (
            "hide_order_duration=no".into(),
            "Parameter <hide_order_duration> must be true or false",
        ),
        (
            "hide_address=y".into(),
            "Parameter <hide_address> must be true or false",
        ),
        (
            "hide_service_name=0".into(),
            "Parameter <hide_service_name> must be true or false",
        ),
        (
            "hide_order_description=on".into(),
            "Parameter <hide_order_description> must be true or false",
        ),
        (
            "hide_url=off".into(),
            "Parameter <hide_url> must be true or false, not <off>",
        ),
        (
            "hide_contact_info=truee".into(),
            "Parameter <hide_contact_info> must be true or false, not <truee>",
        ),
        (
            "date_locales=de-DE".into(),
            "Parameter <date_locales> has an unknown locale <de-DE>; available: en-US, ru-RU",
        ),
        (
            "timezone=Europe/Mosow".into(),
            "Parameter <timezone> has an unknown time zone <Europe/Mosow>",
        ),
        (
            format!("timezone_name={}", "z".repeat(51)),
            "Parameter <timezone_name> is 51 characters long, more than 50",
        ),
        (
            format!("sign_text={}", "s".repeat(1001)),
            "Parameter <sign_text> is 1001 characters long, more than 1000",
        ),
    ];
    for (query, expected) in cases {
        let (code, body) = app.get(&format!("/webhook/log?{query}")).await;
        assert_eq!(code, 400, "{query}: {body}");
        assert_eq!(body["Status"], "Wrong parameters");
        let message = body["ErrorMessage"].as_str().unwrap();
        assert!(message.starts_with(expected), "{query}: {message}");
        assert!(body["WarningMessage"].is_string());
    }
}

#[tokio::test]
async fn accepted_flag_spellings() {
    let app = spawn("").await;
    let (code, body) = app
        .get("/webhook/log?hide_url=TRUE&hide_address=False&errorEmail=a%40b.ru")
        .await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
async fn three_bad_values_are_all_reported() {
    let app = spawn("").await;
    let (code, body) = app
        .get("/webhook/log?errorEmail=a@&timezone=Mars/Base&hide_url=maybe")
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["ErrorMessage"],
        "Parameter <errorEmail> is not a valid email address <a@>: Invalid email domain; \
         Parameter <hide_url> must be true or false, not <maybe>; \
         Parameter <timezone> has an unknown time zone <Mars/Base>: use an IANA name such as <Europe/Moscow>, or <participant>"
    );
}

#[tokio::test]
async fn misspelt_parameter_gets_a_suggestion() {
    let app = spawn("").await;
    let (code, body) = app
        .get("/webhook/log?hdie_url=true&errorEmail=a%40b.ru&colour=red")
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        body["WarningMessage"],
        "unknown parameter <hdie_url> ignored (did you mean <hide_url>?); unknown parameter <colour> ignored"
    );
}

#[tokio::test]
async fn a_misspelt_required_parameter_and_zone_are_hinted_in_the_error() {
    let app = spawn("").await;
    let (code, body) = app
        .get(&format!(
            "/webhook/wappi?cascadeid=abc&apiToken={}&timezone=Europe/Moskow",
            crate::support::TOKEN
        ))
        .await;
    assert_eq!(code, 400, "{body}");
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(
        error.contains("(<cascadeid> was given: did you mean <cascadeId>?"),
        "{error}"
    );
    assert!(
        error.contains("unknown time zone <Europe/Moskow> (did you mean <Europe/Moscow>?)"),
        "{error}"
    );
}

#[tokio::test]
async fn unknown_channel_is_404_with_the_known_ones() {
    let app = spawn("").await;
    let (code, body) = app.get("/webhook/sms?message=x").await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        serde_json::json!({"Status": "Wrong parameters", "ErrorMessage": "unknown channel sms; known: green-api, log, telegram, vk, wappi, wazzup24", "WarningMessage": ""})
    );
    let (code, body) = app.post("/webhook/sms", "{}").await;
    assert_eq!(code, 404);
    assert_eq!(body["Status"], "Wrong parameters");
}

#[tokio::test]
async fn other_paths_and_methods_answer_json() {
    let app = spawn("").await;
    let (code, body) = app.get("/nothing/here").await;
    assert_eq!(code, 404);
    assert_eq!(body["Status"], "Error");
    let r = app
        .http
        .put(format!("{}/webhook/log", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["Status"], "Error");
    // A GET of /preview explains what preview is, not what /webhook does.
    let (code, body) = app.get("/preview/log?message=x").await;
    assert_eq!(code, 405);
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(
        error.contains("POST /preview/<channel>") && error.contains("without sending"),
        "{error}"
    );
    let (code, body) = app.get("/healthz").await;
    assert_eq!((code, body["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn the_longest_russian_texts_the_parameters_allow_fit_in_a_query() {
    let app = spawn("").await;
    // Each Cyrillic letter is two bytes of UTF-8, six once percent-encoded: the limits the
    // parameters name in characters must hold in Russian too.
    let query = |message: usize, sign_text: usize| {
        let russian = |n: usize| "ж".repeat(n);
        form_urlencoded::Serializer::new(String::new())
            .append_pair("message", &russian(message))
            .append_pair("sign_text", &russian(sign_text))
            .append_pair("resource_name", &russian(200))
            .append_pair("detail_section_name", &russian(200))
            .append_pair("case_type_name", &russian(200))
            .append_pair("timezone_name", &russian(50))
            .append_pair("errorEmail", "op@example.com")
            .finish()
    };
    let longest = query(4000, 1000);
    assert!(longest.len() > 32 * 1024, "{}", longest.len());
    let (code, body) = app.get(&format!("/webhook/log?{longest}")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["Status"], "Success", "{body}");
    // A message that, with the booking, fits the channel's 4,096 characters is sent.
    let long = query(2850, 0);
    assert!(long.len() > 16 * 1024, "{}", long.len());
    let (code, body) = app
        .post(
            &format!("/webhook/log?{long}"),
            fixture("booking-one-resource.json"),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["Status"], "Success", "{body}");
}
