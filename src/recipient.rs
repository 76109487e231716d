//! Who receives the message (SPEC §4): the phone from the event's contact fields, normalized.

use phonenumber::{country, Mode};

use crate::event::CaseActionEvent;

/// `ParticipationFieldType`s that hold a phone, in order of preference.
const PHONE_FIELD_TYPES: [i64; 3] = [7, 8, 9];

/// Why no recipient could be found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecipientError {
    #[error("{}", self.text())]
    Invalid(String),
    #[error("{}", self.text())]
    Missing,
}

impl RecipientError {
    /// The error in the reader's words.
    pub fn text(&self) -> crate::i18n::Text {
        match self {
            RecipientError::Invalid(value) => {
                crate::t!("param-valid-phone-number-event-value", value = value)
            }
            RecipientError::Missing => crate::t!("param-phone-number-event-contact-field"),
        }
    }
}

/// The raw phone text of the event's participant: the first non-empty field of type 7, then 8, then 9.
pub fn raw_phone(event: &CaseActionEvent) -> Option<&str> {
    let fields = &event.participant()?.contact_information.as_ref()?.fields;
    PHONE_FIELD_TYPES.iter().find_map(|wanted| {
        fields
            .iter()
            .filter(|f| f.participation_field_type == Some(*wanted))
            .filter_map(|f| f.value.as_deref())
            .map(str::trim)
            .find(|v| !v.is_empty())
    })
}

/// The normalized recipient of an event.
pub fn from_event(event: &CaseActionEvent, default_region: &str) -> Result<String, RecipientError> {
    let raw = raw_phone(event).ok_or(RecipientError::Missing)?;
    normalize(raw, default_region).ok_or_else(|| RecipientError::Invalid(raw.to_string()))
}

/// The trimmed value of the participant's contact field named `field` ("" when there is none).
pub fn field_value<'e>(event: &'e CaseActionEvent, field: &str) -> &'e str {
    event
        .participant()
        .and_then(|p| p.contact_information.as_ref())
        .and_then(|info| {
            info.fields
                .iter()
                .find(|f| f.name.as_deref().map(str::trim) == Some(field.trim()))
        })
        .and_then(|f| f.value.as_deref())
        .map(str::trim)
        .unwrap_or("")
}

/// `value` when it is a numeric id (digits, perhaps with a leading `-` for groups).
pub fn numeric_id(value: &str) -> Option<String> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let numeric =
        !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit());
    numeric.then(|| value.to_string())
}

/// Digits only, with the country code (`79119998877`), or `None` when it is no valid number.
///
/// `8` + 10 digits becomes `7` + 10 digits; 10 digits starting with `9` get a `7` in front; the result
/// must be valid for its country (libphonenumber metadata).
pub fn normalize(raw: &str, default_region: &str) -> Option<String> {
    let mut digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 11 && digits.starts_with('8') {
        digits.replace_range(0..1, "7");
    } else if digits.len() == 10 && digits.starts_with('9') {
        digits.insert(0, '7');
    }
    if is_russian_mobile(&digits) {
        return Some(digits);
    }
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    by_metadata(&digits, default_region)
}

/// `7` + `9` + nine digits: a Russian mobile number, which libphonenumber's metadata for Russia
/// takes whole (`9\d{9}`), and most clients' phone. Told apart without the metadata, whose
/// parse and check cost about 15 µs a POST (3.5 % of the service's CPU under load).
fn is_russian_mobile(digits: &str) -> bool {
    digits.len() == 11 && digits.starts_with("79")
}

/// The number in E.164 without its `+`, when libphonenumber's metadata takes it: as an
/// international number, else as a national one of `default_region`.
fn by_metadata(digits: &str, default_region: &str) -> Option<String> {
    let international = phonenumber::parse(None, format!("+{digits}"))
        .ok()
        .filter(phonenumber::is_valid);
    let number = international.or_else(|| {
        let region: country::Id = default_region.to_ascii_uppercase().parse().ok()?;
        phonenumber::parse(Some(region), digits)
            .ok()
            .filter(phonenumber::is_valid)
    })?;
    let e164 = number.format().mode(Mode::E164).to_string();
    Some(e164.trim_start_matches('+').to_string())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn russian_forms() {
        for raw in [
            "+7 (911) 999-88-77",
            "8 911 999 88 77",
            "9119998877",
            "79119998877",
        ] {
            assert_eq!(
                normalize(raw, "RU").as_deref(),
                Some("79119998877"),
                "{raw}"
            );
        }
    }

    /// The shortcut for Russian mobile numbers answers as the metadata does, for numbers spread
    /// over every prefix `79xx`.
    #[test]
    fn russian_mobiles_are_what_the_metadata_says() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for prefix in 0..1000 {
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let digits = format!("79{prefix:03}{:06}", state % 1_000_000);
                assert!(super::is_russian_mobile(&digits));
                assert_eq!(
                    super::by_metadata(&digits, "RU").as_deref(),
                    Some(digits.as_str()),
                    "{digits}"
                );
            }
        }
        // Other numbers of +7 (Kazakhstan's 7xx, Russian landlines) are left to the metadata.
        for other in ["77012345678", "74951234567", "7912345678", "791234567890"] {
            assert!(!super::is_russian_mobile(other), "{other}");
        }
    }

    #[test]
    fn foreign_and_invalid() {
        assert_eq!(
            normalize("+44 20 7946 0958", "RU").as_deref(),
            Some("442079460958")
        );
        assert_eq!(normalize("234234", "RU"), None);
        assert_eq!(normalize("", "RU"), None);
        assert_eq!(normalize("+7 (111) 000-00-00", "RU"), None);
    }
}
