//! The event to POST: Torrow's real 90 KB sample when it is at hand, else our own fixture padded.

use std::path::{Path, PathBuf};

use crate::Args;

/// The event to POST and where it came from.
pub fn load(args: &Args) -> anyhow::Result<(Vec<u8>, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        args.event.clone(),
        std::env::var_os("TORROW_SAMPLE_EVENT").map(PathBuf::from),
        Some(root.join("../shared/fixtures/torrow/case-action-event.json")),
    ];
    for path in candidates.into_iter().flatten() {
        if path.is_file() {
            let bytes = with_valid_phone(std::fs::read(&path)?)?;
            return Ok((bytes, path.display().to_string()));
        }
    }
    let own = std::fs::read(root.join("tests/fixtures/order-many-resources.json"))?;
    Ok((
        pad_to_90_kb(&own)?,
        "own order fixture padded to 90 KB".into(),
    ))
}

/// The real sample's client phone is `234234`, which is refused (422); the load must go all the way
/// to Wappi, so each phone field (type 7) gets a valid number, in place: the bytes stay Torrow's.
fn with_valid_phone(mut event: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let parsed: serde_json::Value = serde_json::from_slice(&event)?;
    // One participant is an object, several an array (as everywhere in Torrow's events).
    let participants = match &parsed["CaseParticipants"] {
        serde_json::Value::Array(all) => all.iter().collect(),
        one => vec![one],
    };
    for participant in participants {
        let fields = participant["ContactInformation"]["Fields"].as_array();
        for field in fields.into_iter().flatten() {
            let phone = field["Value"].as_str().filter(|v| !v.is_empty());
            if let (Some(phone), true) = (phone, field["ParticipationFieldType"] == 7) {
                let old = format!("\"{phone}\"");
                let text = String::from_utf8(event)?;
                event = text.replacen(&old, "\"+79119998877\"", 1).into_bytes();
            }
        }
    }
    Ok(event)
}

/// Adds to `Service` an array of schedule-like objects the parser must skip, as Torrow's real
/// events carry ~35 KB of service description and settings the message does not use.
fn pad_to_90_kb(own: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut event: serde_json::Value = serde_json::from_slice(own)?;
    let mut extra = Vec::new();
    let mut bytes = own.len();
    while bytes < 90_000 {
        let n = extra.len();
        let item = serde_json::json!({
            "Id": format!("slot-{n:05}"),
            "Name": "Окно записи: мойка кузова, воск и сушка",
            "Start": "2024-06-16T09:00:00Z", "Duration": 5400, "Capacity": 3,
            "Tags": ["мойка", "воск", "сушка"], "Price": {"Value": 950.5, "Currency": "RUB"},
            "Flags": {"Online": true, "Confirm": false, "Hidden": null}
        });
        bytes += item.to_string().len() + 1;
        extra.push(item);
    }
    event["Service"]["Schedule"] = serde_json::Value::Array(extra);
    Ok(serde_json::to_vec(&event)?)
}
