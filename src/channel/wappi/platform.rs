//! Which messenger a Wappi profile is (`platform` in its status), and the API prefix for it.

use serde_json::Value;

use crate::i18n::Text;
use crate::params::quote;
use crate::t;

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
pub(super) fn not_a_messenger(profile: &str, code: &str) -> Text {
    if code == "vk" {
        t!(
            "vk-wappi-reports-profile-profile-vkontakte",
            profile = quote(profile)
        )
    } else {
        t!(
            "vk-wappi-reports-profile-profile-platform",
            profile = quote(profile),
            code = quote(code)
        )
    }
}
