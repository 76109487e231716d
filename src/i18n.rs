//! The operator's language. The service writes its answers, warnings, failure emails and CLI
//! messages in English; `locales/ru.toml` gives each of those texts in Russian, and [`tr`] puts
//! a text into the language asked for (a browser's `Accept-Language` on GET, else
//! `server.language`). The catalogue is a file a translator edits: each entry is the English text
//! with `{placeholders}` where the service puts values, and its translation using the same
//! placeholders. Values are translated too when they are catalogue texts themselves (a reason
//! inside a sentence). Texts the catalogue does not know stay in English.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use serde::Deserialize;

/// A language of operator-facing texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Ru,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    /// The first language of an `Accept-Language` header that we speak (`ru-RU,ru;q=0.9,en;q=0.8`
    /// → Russian), honouring the q-values.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut choices: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|item| {
                let mut parts = item.trim().split(';');
                let tag = parts.next()?.trim().to_ascii_lowercase();
                let q = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                let lang = match tag.split('-').next()? {
                    "ru" => Lang::Ru,
                    "en" => Lang::En,
                    _ => return None,
                };
                (q > 0.0).then_some((q, lang))
            })
            .collect();
        // Stable: among equal q-values the first listed wins.
        choices.sort_by(|a, b| b.0.total_cmp(&a.0));
        choices.first().map(|(_, lang)| *lang)
    }
}

/// `text` in `lang`.
pub fn tr(lang: Lang, text: &str) -> String {
    match lang {
        Lang::En => text.to_string(),
        Lang::Ru => RUSSIAN.translate(text, 0),
    }
}

/// «7 символов»: a count of characters with the word the count needs (Russian plural rules:
/// 1 символ, 2 символа, 5 символов, 21 символ, 11 символов).
pub fn characters(lang: Lang, n: usize) -> String {
    match lang {
        Lang::En if n == 1 => "1 character".to_string(),
        Lang::En => format!("{n} characters"),
        Lang::Ru => {
            let word = match (n % 10, n % 100) {
                (_, 11..=14) => "символов",
                (1, _) => "символ",
                (2..=4, _) => "символа",
                _ => "символов",
            };
            format!("{n} {word}")
        }
    }
}

/// Every `(N characters)` of a masked query (the length that stands for a hidden free text), in
/// `lang`.
pub fn character_counts(lang: Lang, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('(') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &after[digits..];
        let count = after[..digits].parse::<usize>().ok();
        match (count, tail.strip_prefix(" characters)")) {
            (Some(n), Some(remaining)) if digits > 0 => {
                out.push('(');
                out.push_str(&characters(lang, n));
                out.push(')');
                rest = remaining;
            }
            _ => {
                out.push('(');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `tr` for an optional text.
pub fn tr_opt(lang: Lang, text: Option<String>) -> Option<String> {
    text.map(|t| tr(lang, &t))
}

/// Every line of a multi-line text (an email, a CLI listing) on its own.
pub fn tr_lines(lang: Lang, text: &str) -> String {
    if lang == Lang::En {
        return text.to_string();
    }
    text.split('\n')
        .map(|line| tr(lang, line))
        .collect::<Vec<_>>()
        .join("\n")
}

static RUSSIAN: LazyLock<Catalogue> = LazyLock::new(|| {
    Catalogue::parse(include_str!("../locales/ru.toml")).expect("locales/ru.toml is valid")
});

struct Entry {
    pattern: Regex,
    /// Which entry wins when several match: one that starts with words (not a value), then the
    /// one with the most English outside placeholders.
    rank: (bool, usize),
    names: Vec<String>,
    translation: String,
}

struct Catalogue {
    set: RegexSet,
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct File {
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    en: String,
    tr: String,
}

const MAX_DEPTH: usize = 3;

impl Catalogue {
    fn parse(text: &str) -> Result<Catalogue, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let placeholder = Regex::new(r"\{([a-z_][a-z0-9_]*)\}").expect("a valid pattern");
        let mut entries = Vec::new();
        for m in file.messages {
            let mut pattern = String::from("(?s)^");
            let mut names = Vec::new();
            let mut last = 0;
            for cap in placeholder.captures_iter(&m.en) {
                let whole = cap.get(0).expect("group 0");
                if whole.start() == last && last > 0 && !names.is_empty() {
                    return Err(format!(
                        "{:?}: two placeholders side by side cannot be told apart",
                        m.en
                    ));
                }
                pattern.push_str(&regex::escape(&m.en[last..whole.start()]));
                // A value never spans "; ": that separates the parts of a message.
                pattern.push_str("((?:[^;]|;[^ ])*?)");
                names.push(cap[1].to_string());
                last = whole.end();
            }
            pattern.push_str(&regex::escape(&m.en[last..]));
            pattern.push('$');
            for used in placeholder.captures_iter(&m.tr) {
                if !names.iter().any(|n| *n == used[1]) {
                    return Err(format!(
                        "{:?}: the translation uses {{{}}}, which the English text does not have",
                        m.en, &used[1]
                    ));
                }
            }
            let literal =
                m.en.chars().count() - names.iter().map(|n| n.chars().count() + 2).sum::<usize>();
            entries.push(Entry {
                rank: (!m.en.starts_with('{'), literal),
                pattern: Regex::new(&pattern).map_err(|e| e.to_string())?,
                names,
                translation: m.tr,
            });
        }
        let set =
            RegexSet::new(entries.iter().map(|e| e.pattern.as_str())).map_err(|e| e.to_string())?;
        Ok(Catalogue { set, entries })
    }

    /// The whole text when the catalogue knows it; else its `; `-separated parts, each as long
    /// as the catalogue knows it (a part may itself hold `; `).
    fn translate(&self, text: &str, depth: usize) -> String {
        if text.is_empty() || depth > MAX_DEPTH {
            return text.to_string();
        }
        if let Some(done) = self.whole(text, depth) {
            return done;
        }
        let parts: Vec<&str> = text.split("; ").collect();
        if parts.len() == 1 {
            return text.to_string();
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < parts.len() {
            let found = (i + 1..=parts.len()).rev().find_map(|j| {
                let joined = parts[i..j].join("; ");
                self.whole(&joined, depth).map(|t| (j, t))
            });
            match found {
                Some((j, translated)) => {
                    out.push(translated);
                    i = j;
                }
                None => {
                    out.push(parts[i].to_string());
                    i += 1;
                }
            }
        }
        out.join("; ")
    }

    fn whole(&self, text: &str, depth: usize) -> Option<String> {
        // The most specific entry (the first among equals).
        let index = self
            .set
            .matches(text)
            .into_iter()
            .max_by_key(|i| (self.entries[*i].rank, std::cmp::Reverse(*i)))?;
        let entry = &self.entries[index];
        let caps = entry.pattern.captures(text)?;
        let mut out = entry.translation.clone();
        for (i, name) in entry.names.iter().enumerate() {
            let value = caps.get(i + 1).map_or("", |m| m.as_str());
            let value = self.translate(value, depth + 1);
            out = out.replace(&format!("{{{name}}}"), &value);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_plurals_of_characters() {
        for (n, ru) in [
            (1, "1 символ"),
            (2, "2 символа"),
            (4, "4 символа"),
            (5, "5 символов"),
            (7, "7 символов"),
            (11, "11 символов"),
            (14, "14 символов"),
            (21, "21 символ"),
            (22, "22 символа"),
            (111, "111 символов"),
        ] {
            assert_eq!(characters(Lang::Ru, n), ru);
        }
        assert_eq!(characters(Lang::En, 1), "1 character");
        assert_eq!(
            character_counts(Lang::Ru, "a=(1 characters)&message=(7 characters)&x=(y)"),
            "a=(1 символ)&message=(7 символов)&x=(y)"
        );
    }

    #[test]
    fn the_catalogue_loads_and_translates_with_values() {
        assert_eq!(
            tr(
                Lang::Ru,
                "Parameter <hide_url> must be true or false, not <maybe>"
            ),
            "Параметр <hide_url> должен быть true или false, а не <maybe>"
        );
        assert_eq!(
            tr(
                Lang::En,
                "Parameter <hide_url> must be true or false, not <maybe>"
            ),
            "Parameter <hide_url> must be true or false, not <maybe>"
        );
        // Several parts, one unknown: the known ones are translated, the unknown one kept.
        assert_eq!(
            tr(
                Lang::Ru,
                "Parameter <errorEmail> is not set: errors will only be logged; something new"
            ),
            "Параметр <errorEmail> не задан: ошибки будут только записаны в журнал; something new"
        );
        // A value that is itself a catalogue text.
        assert_eq!(
            tr(
                Lang::Ru,
                "The message is stored and will be retried: Wappi cannot be reached: connection refused (for cascade <c1>)"
            ),
            "Сообщение сохранено и будет отправлено повторно: Wappi недоступен: соединение отклонено (каскад <c1>)"
        );
    }

    #[test]
    fn email_lines_and_cli_labels() {
        assert_eq!(
            tr(
                Lang::Ru,
                "Delivery id: d-1 (resend with: torrow-hooks replay d-1)"
            ),
            "Доставка: d-1 (отправить снова: torrow-hooks replay d-1)"
        );
        assert_eq!(
            tr(
                Lang::Ru,
                "Why: Wappi answered HTTP 400 for cascade <c1>: no such chat"
            ),
            "Причина: Wappi ответил HTTP 400 (каскад <c1>): no such chat"
        );
        assert_eq!(
            tr(Lang::Ru, "failed after 2 attempt(s)"),
            "failed, попыток: 2"
        );
    }

    #[test]
    fn accept_language_picks_the_best_language_we_speak() {
        assert_eq!(
            Lang::from_accept_language("ru-RU,ru;q=0.9,en-US;q=0.8"),
            Some(Lang::Ru)
        );
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,ru;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("de-DE,en;q=0.5,ru;q=0.7"),
            Some(Lang::Ru)
        );
        assert_eq!(Lang::from_accept_language("de-DE"), None);
        assert_eq!(Lang::from_accept_language(""), None);
    }
}
