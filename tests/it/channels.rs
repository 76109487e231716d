//! What the channels declare about themselves: `GET /api/channels`.

use crate::support::spawn;

#[tokio::test]
async fn api_channels_lists_every_channel_with_its_parameters() {
    let app = spawn("").await;
    let (code, body) = app.get("/api/channels").await;
    assert_eq!(code, 200, "{body}");
    let common: Vec<&str> = body["common"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(common.len(), 19, "{common:?}");
    assert!(common.contains(&"hide_contact_info") && common.contains(&"errorEmail"));
    let channels = body["channels"].as_array().unwrap();
    let names: Vec<&str> = channels
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["green-api", "log", "telegram", "vk", "wappi", "wazzup24"]
    );
    let wappi = &channels[4];
    assert!(wappi["title"]["ru"].as_str().unwrap().starts_with("Wappi"));
    let telegram = body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "telegram")
        .unwrap();
    assert_eq!(telegram["title"]["ru"], "Telegram (ваш бот)");
    let token = wappi["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "apiToken")
        .expect("apiToken is declared");
    assert_eq!(token["required"], true);
    assert_eq!(token["secret"], true);
    assert!(!token["help"]["ru"].as_str().unwrap().is_empty());
    assert!(!token["help"]["en"].as_str().unwrap().is_empty());
    // Every parameter, common or not, has help in both languages.
    for p in body["common"]
        .as_array()
        .unwrap()
        .iter()
        .chain(wappi["params"].as_array().unwrap())
    {
        assert!(
            p["help"]["ru"].as_str().is_some_and(|h| !h.is_empty()),
            "{p}"
        );
        assert!(
            p["help"]["en"].as_str().is_some_and(|h| !h.is_empty()),
            "{p}"
        );
    }
}
