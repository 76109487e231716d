//! Which messenger a Wappi profile is (`platform` in its status), and the API prefix for it.

use serde_json::Value;

use crate::params::quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Platform {
    WhatsApp,
    Telegram,
    Max,
}

impl Platform {
    /// The messenger of a profile's status; `Err` with Wappi's word for one this service cannot
    /// send to (VKontakte has no single-profile API at Wappi; an unknown code is not guessed).
    pub(super) fn from_status(value: &Value) -> Result<Platform, String> {
        let code = value
            .get("platform")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match code.as_str() {
            "" | "wz" | "wa" | "whatsapp" => Ok(Platform::WhatsApp),
            "tg" | "telegram" => Ok(Platform::Telegram),
            "max" => Ok(Platform::Max),
            _ => Err(crate::redact::cut(&code, 20)),
        }
    }

    pub(super) fn prefix(self) -> &'static str {
        match self {
            Platform::WhatsApp => "api",
            Platform::Telegram => "tapi",
            Platform::Max => "maxapi",
        }
    }
}

/// Why a profile of another platform cannot be used, and what works instead.
pub(super) fn not_a_messenger(profile: &str, code: &str) -> String {
    let what = if code == "vk" {
        "a VKontakte profile; Wappi's API sends through a single profile only to WhatsApp, Telegram and MAX".to_string()
    } else {
        format!(
            "platform \"{}\", which this service cannot send through",
            quote(code)
        )
    };
    format!(
        "Wappi reports profile {} as {what}: to reach clients on VKontakte, put the profile in a Wappi cascade and use cascadeId, or use the vk channel with your community's token",
        quote(profile)
    )
}
