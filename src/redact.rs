//! Masks for secrets and personal data in logs, answers and emails.

/// `…94b3`: at most the last 4 characters of a token.
pub fn token(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 4 {
        return "…".to_string();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("…{tail}")
}

/// `7911*****77`: the first 4 and the last 2 digits of a phone number.
pub fn phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 6))
}

/// A query string safe to log: secret values masked, phone numbers masked.
pub fn query(raw: &str) -> String {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| {
            let shown = match k.as_ref() {
                "apiToken" | "apiTokenInstance" => token(&v),
                "phone" => phone(&v),
                _ => v.into_owned(),
            };
            format!("{k}={shown}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks() {
        assert_eq!(
            super::token("9410830193ce4ad56fe4df0378d1a0a8da13672248d94697b3"),
            "…97b3"
        );
        assert_eq!(super::token("abc"), "…");
        assert_eq!(super::phone("79119998877"), "7911*****77");
        assert_eq!(
            super::query("apiToken=secret1234&phone=79119998877&x=1"),
            "apiToken=…1234&phone=7911*****77&x=1"
        );
    }
}
