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
        let code = value.get("platform").and_then(Value::as_str).unwrap_or("");
        match code.trim() {
            "" => Ok(Platform::WhatsApp),
            code => Self::from_code(code)
                .ok_or_else(|| crate::redact::cut(&code.to_ascii_lowercase(), 20)),
        }
    }

    /// The messenger of a platform code (a profile's status, a cascade's step), when it is one
    /// with an API this service uses.
    pub(super) fn from_code(code: &str) -> Option<Platform> {
        match code.trim().to_ascii_lowercase().as_str() {
            "wz" | "wa" | "whatsapp" => Some(Platform::WhatsApp),
            "tg" | "telegram" => Some(Platform::Telegram),
            "max" => Some(Platform::Max),
            _ => None,
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
