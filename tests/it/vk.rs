//! The vk channel against a wiremock VK API, and Wappi profiles of other platforms.

use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, Request, ResponseTemplate,
};

use crate::support::{fixture, next_mail, smtp_listener, spawn, TestApp, TOKEN};
use torrow_hooks::store::State;

const VK_TOKEN: &str = "vk1.a.Zx9qP4mT7bW2sV8nK3cR6yH1jL5dF0gA";

async fn with_vk(extra: &str) -> (TestApp, MockServer) {
    let vk = MockServer::start().await;
    let app = spawn(&format!(
        "[vk]\nbase_url = \"{}\"\ntimeout = \"2s\"\n{extra}",
        vk.uri()
    ))
    .await;
    (app, vk)
}

fn hook(extra: &str) -> String {
    format!("/webhook/vk?vkToken={VK_TOKEN}&vkFieldName=VK{extra}")
}

fn form(request: &Request) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(&request.body).into_owned().collect()
}

fn vk_error(code: u64, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"error": {"error_code": code, "error_msg": msg}}))
}

async fn answer(vk: &MockServer, api: &str, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(format!("/method/{api}")))
        .respond_with(response)
        .mount(vk)
        .await;
}

#[tokio::test]
async fn check_names_the_community_and_refuses_a_bad_token_or_one_without_the_right() {
    let (app, vk) = with_vk("").await;
    answer(&vk, "groups.getTokenPermissions", ResponseTemplate::new(200).set_body_json(
        json!({"response": {"mask": 4096 + 262144, "permissions": [{"setting": 4096, "name": "messages"}]}}),
    ))
    .await;
    answer(
        &vk,
        "groups.getById",
        ResponseTemplate::new(200)
            .set_body_json(json!({"response": {"groups": [{"id": 1, "name": "Салон «Лиса»"}]}})),
    )
    .await;
    let (code, body) = app.get(&hook("&errorEmail=a%40b.ru")).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["WarningMessage"]
            .as_str()
            .unwrap()
            .contains("Салон «Лиса»"),
        "{body}"
    );
    // The token travels in the form body, never in a URL.
    for r in vk.received_requests().await.unwrap() {
        assert!(!r.url.as_str().contains(VK_TOKEN));
        assert_eq!(form(&r)["access_token"], VK_TOKEN);
        assert_eq!(form(&r)["v"], "5.199");
    }

    vk.reset().await;
    answer(&vk, "groups.getTokenPermissions", ResponseTemplate::new(200).set_body_json(
        json!({"response": {"mask": 262144, "permissions": [{"setting": 262144, "name": "manage"}]}}),
    ))
    .await;
    let (code, body) = app.get(&hook("")).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["Status"], "Wrong parameters");
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("no right to send messages"),
        "{body}"
    );
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("Работа с API"),
        "{body}"
    );

    vk.reset().await;
    answer(
        &vk,
        "groups.getTokenPermissions",
        vk_error(
            5,
            &format!("User authorization failed: invalid access_token {VK_TOKEN}"),
        ),
    )
    .await;
    let (code, body) = app.get(&hook("")).await;
    assert_eq!(code, 400, "{body}");
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(
        error.contains("refused the community token") && error.contains("VK error 5"),
        "{error}"
    );
    assert!(!body.to_string().contains(VK_TOKEN), "{body}");

    // Parameters are checked before VK is asked.
    let (code, body) = app.get("/webhook/vk?vkToken=short").await;
    assert_eq!(code, 400);
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(
        error.contains("<vkToken>") && error.contains("<vkFieldName>"),
        "{error}"
    );
}

#[tokio::test]
async fn the_send_keeps_its_random_id_across_a_500_and_reads_a_profile_link() {
    let (app, vk) = with_vk("").await;
    Mock::given(method("POST"))
        .and(path("/method/messages.send"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&vk)
        .await;
    answer(
        &vk,
        "messages.send",
        ResponseTemplate::new(200).set_body_json(json!({"response": 4242})),
    )
    .await;
    let (code, body) = app.post(&hook(""), fixture("booking-vk.json")).await;
    assert_eq!(code, 202, "{body}");
    let id = body["DeliveryId"].as_str().unwrap().to_string();
    let record = app.wait_for(&id, |r| r.state == State::Sent).await;
    assert_eq!(record.provider_id.as_deref(), Some("4242"));
    let sends: Vec<_> = vk
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(form)
        .collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(
        sends[0]["random_id"], sends[1]["random_id"],
        "the same random_id on the retry"
    );
    assert_ne!(sends[0]["random_id"], "0");
    assert_eq!(sends[0]["peer_id"], "777", "read from https://vk.com/id777");
    assert!(
        sends[0]["message"].contains("Запись №181"),
        "{}",
        sends[0]["message"]
    );
}

#[tokio::test]
async fn every_vk_error_class() {
    let (smtp, mut mails) = smtp_listener().await;
    let (app, vk) = with_vk(&format!(
        "[mail]\nsmtp_url = \"{smtp}\"\nthrottle = \"1s\"\n"
    ))
    .await;
    for (code, retried, says) in [
        (6, true, "too many requests"),
        (9, true, "flood control"),
        (5, false, "refused the community token"),
        (7, false, "no right to send messages"),
        (15, false, "no right to send messages"),
        (901, false, "«Разрешить сообщения»"),
        (902, false, "privacy settings"),
    ] {
        vk.reset().await;
        answer(
            &vk,
            "messages.send",
            vk_error(code, &format!("VK says {code} about {VK_TOKEN}")),
        )
        .await;
        let (status, body) = app
            .post(
                &hook(&format!("&message=e{code}&errorEmail=op%40example.com")),
                fixture("booking-vk.json"),
            )
            .await;
        let text = body.to_string();
        assert!(!text.contains(VK_TOKEN), "{text}");
        if retried {
            assert_eq!(status, 202, "{code}: {body}");
            assert!(
                body["Message"].as_str().unwrap().contains(says),
                "{code}: {body}"
            );
        } else {
            assert_eq!(status, 502, "{code}: {body}");
            let error = body["ErrorMessage"].as_str().unwrap();
            assert!(
                error.contains(says) && error.contains(&format!("VK error {code}")),
                "{code}: {error}"
            );
        }
    }
    // The failure reports never carry the token either.
    let mail = next_mail(&mut mails).await;
    assert!(!mail.data.contains(VK_TOKEN), "{}", mail.data);
    assert!(!mail.data.contains(&VK_TOKEN[..16]), "{}", mail.data);
}

#[tokio::test]
async fn a_missing_or_short_name_vk_id_is_422_with_what_to_do() {
    let (app, vk) = with_vk("").await;
    let mut event: Value = serde_json::from_slice(&fixture("booking-vk.json")).unwrap();
    let (code, body) = app
        .post(
            &hook("").replace("vkFieldName=VK", "vkFieldName=VkId"),
            serde_json::to_vec(&event).unwrap(),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(
        error.starts_with("No VK id in field <VkId>") && error.contains("booking form"),
        "{error}"
    );
    event["CaseParticipants"]["ContactInformation"]["Fields"][4]["Value"] =
        "https://vk.com/durov".into();
    let (code, body) = app
        .post(&hook(""), serde_json::to_vec(&event).unwrap())
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("short name"),
        "{body}"
    );
    assert!(vk.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_wappi_profile_of_vk_or_an_unknown_platform_is_wrong_parameters() {
    let wappi = MockServer::start().await;
    let app = spawn(&format!("[wappi]\nbase_url = \"{}\"\n", wappi.uri())).await;
    for (profile, platform, says) in [
        ("vkprof", "vk", "a VKontakte profile"),
        ("oddprof", "ok", "platform \"ok\""),
    ] {
        Mock::given(method("GET"))
            .and(path("/api/sync/get/status"))
            .and(wiremock::matchers::query_param("profile_id", profile))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "authorized": true, "platform": platform, "payment_expired_at": "2099-01-01T00:00:00Z", "app_status": "open"
            })))
            .mount(&wappi)
            .await;
        let url = format!("/webhook/wappi?apiToken={TOKEN}&profileId={profile}");
        let (code, body) = app.get(&url).await;
        assert_eq!(code, 400, "{body}");
        assert_eq!(body["Status"], "Wrong parameters");
        let error = body["ErrorMessage"].as_str().unwrap();
        assert!(
            error.contains(says) && error.contains("cascade") && error.contains("vk channel"),
            "{error}"
        );
        // A POST says the same as check mode: the URL's parameters are wrong.
        let (code, body) = app.post(&url, fixture("booking-one-resource.json")).await;
        assert_eq!(code, 400, "{body}");
        assert_eq!(body["Status"], "Wrong parameters");
        assert!(
            body["ErrorMessage"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
    let sends = wappi
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method == wiremock::http::Method::POST)
        .count();
    assert_eq!(
        sends, 0,
        "nothing was sent to a profile of another platform"
    );
}

#[tokio::test]
async fn a_refusal_reads_in_russian_with_vks_own_words_after_ours() {
    let (app, vk) = with_vk("[server]\nlanguage = \"ru\"\n").await;
    answer(
        &vk,
        "messages.send",
        vk_error(901, "Can't send messages for users without permission"),
    )
    .await;
    let (code, body) = app.post(&hook(""), fixture("booking-vk.json")).await;
    assert_eq!(code, 502, "{body}");
    let error = body["ErrorMessage"].as_str().unwrap();
    assert!(
        error.starts_with("клиент не разрешил сообщения от сообщества — попросите его нажать „Разрешить сообщения“")
            && error.ends_with("(ошибка VK 901: Can't send messages for users without permission)"),
        "{error}"
    );
    let (code, body) = app
        .post(
            &hook("").replace("vkFieldName=VK", "vkFieldName=Нет"),
            fixture("booking-vk.json"),
        )
        .await;
    assert_eq!(code, 422);
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Нет VK ID в поле <Нет>: добавьте"),
        "{body}"
    );
}
