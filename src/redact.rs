//! Masks for secrets and personal data in logs, answers, stored summaries and emails.
//!
//! Which parameters are secret is declared by the channels (parameters marked secret); nothing here
//! knows a provider. A parameter is secret when its name is a declared secret name or a near miss
//! of one: any letter case, `_`, `-` and spaces ignored, one or two letters off (`apitoken`,
//! `api_token`, `apiTokn`), unless it is exactly the name of a parameter that is not secret. Any
//! value equal to one of a request's secrets is masked wherever it appears, under any name and
//! inside any text. Values of parameters that no channel knows are never shown (names only).

use crate::params::quote;

/// A secret shorter than this is masked only where it stands alone as a parameter value: replacing
/// every occurrence of two or three characters would garble the texts around it.
const MIN_SCRUB_LEN: usize = 4;
/// A piece of a secret this long or longer is masked wherever it shows.
const MIN_PIECE: usize = 8;
/// Words of the bitmap of pieces: 4096 bits.
const SEEN_WORDS: usize = 64;

/// An 8-byte window as a number.
fn piece(window: &[u8]) -> u64 {
    u64::from_le_bytes(window.try_into().expect("an 8-byte window"))
}

/// The bitmap's bit for a piece (a multiplicative hash's top 12 bits).
fn seen_bit(piece: u64) -> usize {
    (piece.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize
}

/// Parameters whose values are the caller's free text: reports and logs give their length only.
const FREE_TEXT: &[&str] = &[
    "message",
    "sign_text",
    "resource_name",
    "detail_section_name",
    "case_type_name",
    "timezone_name",
];

/// Parameters shown in a masked query, at most.
const MAX_SHOWN_PARAMS: usize = 30;
/// Characters of a non-secret value shown in a masked query, at most.
const SHOWN_VALUE_CHARS: usize = 32;

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

/// The parameter names the channels declare: which are secret, which are known at all.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Declared secret names, folded.
    secret: Vec<String>,
    /// Every declared name that is not secret, folded.
    public: std::collections::HashSet<String>,
}

/// `apiToken`, `api_token`, `API-TOKEN `, `apitoken` → `apitoken`.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

impl Names {
    pub fn new<'a>(
        secret: impl IntoIterator<Item = &'a str>,
        public: impl IntoIterator<Item = &'a str>,
    ) -> Names {
        let mut secret: Vec<String> = secret.into_iter().map(fold).collect();
        secret.sort_unstable();
        secret.dedup();
        let public = public
            .into_iter()
            .map(fold)
            .filter(|p| !secret.contains(p))
            .collect();
        Names { secret, public }
    }

    /// A declared secret name, or a near miss of one that is not another declared name.
    pub fn is_secret(&self, name: &str) -> bool {
        let name = fold(name);
        if self.secret.contains(&name) {
            return true;
        }
        if name.is_empty() || self.public.contains(&name) {
            return false;
        }
        self.secret.iter().any(|s| {
            let allowed = match s.chars().count() {
                0..=3 => 0,
                4..=5 => 1,
                _ => 2,
            };
            allowed > 0 && strsim::damerau_levenshtein(&name, s) <= allowed
        })
    }

    /// Declared by some channel (or common to all), secret or not.
    pub fn is_known(&self, name: &str) -> bool {
        let name = fold(name);
        self.public.contains(&name) || self.secret.contains(&name)
    }
}

/// The secret values of one request.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
    /// Every 8-byte piece of the secrets, as a number, sorted ([`Secrets::scrub`]).
    pieces: Vec<u64>,
    /// A bit per piece's hash, to pass over most places of a text with one test.
    seen: Vec<u64>,
}

impl Secrets {
    /// The values of the parameters of `raw_query` whose names are secret (see [`Names`]).
    pub fn of(raw_query: &str, names: &Names) -> Secrets {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self::of_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), names)
    }

    /// The values of the (name, value) pairs whose names are secret (see [`Names`]).
    pub fn of_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, names: &Names) -> Secrets {
        let mut values: Vec<String> = pairs
            .filter(|(k, v)| !v.is_empty() && names.is_secret(k))
            .map(|(_, v)| v.to_string())
            .collect();
        // Longest first, so that a secret containing another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        let mut pieces: Vec<u64> = values
            .iter()
            .flat_map(|v| v.as_bytes().windows(MIN_PIECE).map(piece))
            .collect();
        pieces.sort_unstable();
        pieces.dedup();
        let mut seen = vec![0u64; if pieces.is_empty() { 0 } else { SEEN_WORDS }];
        for p in &pieces {
            let bit = seen_bit(*p);
            seen[bit / 64] |= 1 << (bit % 64);
        }
        Secrets {
            values,
            pieces,
            seen,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// `text` with every occurrence of a secret replaced by its mask.
    /// [`Secrets::scrub`] for every piece of a text.
    pub fn scrub_text(&self, text: &crate::i18n::Text) -> crate::i18n::Text {
        text.map_verbatim(&|s| self.scrub(s))
    }

    /// `text` with every secret masked: whole, as [`token`] shows it, and then any piece of one
    /// of [`MIN_PIECE`] bytes or more (a token's first 12 characters typed into a message, say)
    /// as `…`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.values.iter().filter(|s| s.len() >= MIN_SCRUB_LEN) {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), &token(secret));
            }
        }
        self.scrub_pieces(&out)
    }

    /// Masks every run of `text` made of [`MIN_PIECE`]-byte windows that also occur in a secret.
    /// Kept by hand: each window is read as a number and looked up in a bitmap, then in the
    /// sorted pieces; a hashed set of byte slices cost 7 % of a preview's CPU (BENCHMARKS.md).
    fn scrub_pieces(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        if self.pieces.is_empty() || bytes.len() < MIN_PIECE {
            return text.to_string();
        }
        let mut covered: Option<Vec<bool>> = None;
        for (at, window) in bytes.windows(MIN_PIECE).enumerate() {
            let p = piece(window);
            let bit = seen_bit(p);
            if self.seen[bit / 64] & (1 << (bit % 64)) == 0
                || self.pieces.binary_search(&p).is_err()
            {
                continue;
            }
            let covered = covered.get_or_insert_with(|| vec![false; bytes.len()]);
            covered[at..at + MIN_PIECE]
                .iter_mut()
                .for_each(|c| *c = true);
        }
        let Some(covered) = covered else {
            return text.to_string();
        };
        let mut out = String::with_capacity(text.len());
        let mut masking = false;
        for (at, ch) in text.char_indices() {
            let hidden = covered[at..at + ch.len_utf8()].contains(&true);
            if hidden && !masking {
                out.push('…');
            }
            if !hidden {
                out.push(ch);
            }
            masking = hidden;
        }
        out
    }

    fn is_secret_value(&self, value: &str) -> bool {
        self.values.iter().any(|s| s == value)
    }

    /// A query safe to log, store and mail: secrets masked (by name and by value), phones masked,
    /// free text reduced to its length, values of unknown parameters left out, other values cut
    /// short, at most 30 parameters.
    pub fn query(&self, raw_query: &str, names: &Names) -> String {
        let mut shown = Vec::new();
        let mut total = 0;
        for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
            total += 1;
            if shown.len() == MAX_SHOWN_PARAMS {
                continue;
            }
            let value = if names.is_secret(&k) || self.is_secret_value(&v) {
                token(&v)
            } else if !names.is_known(&k) {
                "(not shown)".to_string()
            } else if k == "phone" {
                phone(&v)
            } else if FREE_TEXT.contains(&k.as_ref()) {
                format!("({} characters)", v.chars().count())
            } else {
                self.scrub(&cut(&v, SHOWN_VALUE_CHARS))
            };
            shown.push(format!("{}={value}", self.scrub(&quote(&k))));
        }
        if total > shown.len() {
            shown.push(format!("… {} more", total - shown.len()));
        }
        shown.join("&")
    }
}

/// At most `max` characters of `text`, with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names::new(
            ["apiToken", "apiTokenInstance", "token"],
            ["phone", "message", "x", "cascadeId", "note", "timezone"],
        )
    }

    #[test]
    fn masks() {
        assert_eq!(
            token("9410830193ce4ad56fe4df0378d1a0a8da13672248d94697b3"),
            "…97b3"
        );
        assert_eq!(token("abc"), "…");
        assert_eq!(phone("79119998877"), "7911*****77");
        let raw = "apiToken=secret1234&phone=79119998877&x=1&message=hello";
        assert_eq!(
            Secrets::of(raw, &names()).query(raw, &names()),
            "apiToken=…1234&phone=7911*****77&x=1&message=(5 characters)"
        );
    }

    #[test]
    fn secret_names_are_matched_loosely_and_values_everywhere() {
        let raw =
            "apitoken=secret1234&apiToken%20=other5678&cascadeId=secret1234&note=xsecret1234x";
        let secrets = Secrets::of(raw, &names());
        let shown = secrets.query(raw, &names());
        assert!(
            !shown.contains("secret1234") && !shown.contains("other5678"),
            "{shown}"
        );
        assert_eq!(
            secrets.scrub("Wappi said: bad token secret1234 / other5678"),
            "Wappi said: bad token …1234 / …5678"
        );
    }

    #[test]
    fn a_piece_of_a_secret_is_masked_wherever_it_shows() {
        let raw = "apiToken=9410830193ce4ad56fe4df0378d1a0a8da13672248d94697b3";
        let secrets = Secrets::of(raw, &names());
        // Its first 12 characters typed into a message, and 8 from its middle.
        assert_eq!(
            secrets.scrub("Ваш код: 9410830193ce, и ещё 6fe4df03."),
            "Ваш код: …, и ещё …."
        );
        // Shorter pieces are no secret; the whole token keeps its usual mask.
        assert_eq!(secrets.scrub("9410830 ok"), "9410830 ok");
        assert_eq!(
            secrets.scrub("token 9410830193ce4ad56fe4df0378d1a0a8da13672248d94697b3"),
            "token …97b3"
        );
    }

    #[test]
    fn near_misses_of_secret_names_are_secret_and_unknown_values_are_not_shown() {
        let names = names();
        for secret in [
            "apiTokn",
            "api_token",
            "API-TOKEN",
            "apitokn ",
            "apiToken2",
            "tokne",
            "tokn",
        ] {
            assert!(names.is_secret(secret), "{secret}");
        }
        // Known names stay what they are, however close; unrelated names are not secret.
        for plain in ["timezone", "phone", "message", "cascadeId", "buy", "to"] {
            assert!(!names.is_secret(plain), "{plain}");
        }
        let raw = "apiTokn=abcdefgh123&buy=http%3A%2F%2Fevil.example&x=1";
        let shown = Secrets::of(raw, &names).query(raw, &names);
        assert_eq!(shown, "apiTokn=…h123&buy=(not shown)&x=1");
    }

    #[test]
    fn long_queries_are_cut() {
        let raw: String = (0..40)
            .map(|i| format!("x={}{i}&", "v".repeat(100)))
            .collect();
        let shown = Secrets::default().query(&raw, &names());
        assert!(shown.ends_with("… 10 more"), "{shown}");
        assert!(shown.len() < 40 * 40, "{}", shown.len());
    }
}
