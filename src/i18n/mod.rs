//! The operator's language. Every text an operator reads is a [`Text`]: a message id of the
//! catalogues (`locales/en/*.ftl`, `locales/ru/*.ftl`, Project Fluent) with named arguments,
//! made with [`crate::t!`] and rendered only at the edge, in the reader's language (a browser's
//! `Accept-Language` on GET, else `server.language`). A provider's own words travel as
//! [`Text::Verbatim`] arguments and are shown as received, after our explanation. `cargo test`
//! fails when a message is missing in either language, when the languages' arguments differ, or
//! when the code names an id the catalogues lack.

mod catalogue;
mod text;

pub use catalogue::page_texts;
pub use text::{Arg, Text};

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

/// An error chain in `lang`: each [`Text`] in it rendered, anything else (an I/O error, a
/// library's own words) as it says itself; the causes joined by ": ".
pub fn error_text(e: &anyhow::Error, lang: Lang) -> String {
    e.chain()
        .map(|cause| match cause.downcast_ref::<Text>() {
            Some(text) => text.render(lang),
            None => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// «7 символов»: a count of characters with the word the count needs (Russian plural rules:
/// 1 символ, 2 символа, 5 символов, 21 символ, 11 символов).
pub fn characters(lang: Lang, n: usize) -> String {
    crate::t!("count-characters", n = n).render(lang)
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

#[cfg(test)]
mod catalogue_tests {
    use std::collections::BTreeSet;

    use super::catalogue::{of, FILES};
    use super::*;

    fn ids(lang: Lang) -> BTreeSet<String> {
        of(lang).variables.keys().cloned().collect()
    }

    #[test]
    fn both_languages_have_every_message_with_the_same_arguments() {
        let (en, ru) = (ids(Lang::En), ids(Lang::Ru));
        let only_en: Vec<_> = en.difference(&ru).collect();
        let only_ru: Vec<_> = ru.difference(&en).collect();
        assert!(only_en.is_empty(), "no Russian for {only_en:?}");
        assert!(only_ru.is_empty(), "no English for {only_ru:?}");
        for id in &en {
            assert_eq!(
                of(Lang::En).variables[id],
                of(Lang::Ru).variables[id],
                "the arguments of {id} differ between locales/en and locales/ru"
            );
        }
    }

    /// Fluent drops the spaces a value starts with: a leading space must be written `{" "}`.
    #[test]
    fn no_message_starts_with_a_space_fluent_would_drop() {
        for lang in ["en", "ru"] {
            for file in FILES {
                let path = format!("{}/locales/{lang}/{file}.ftl", env!("CARGO_MANIFEST_DIR"));
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    assert!(!line.contains(" =  "), "{path}: {line}");
                }
            }
        }
    }

    #[test]
    fn every_message_renders_in_both_languages() {
        for lang in [Lang::En, Lang::Ru] {
            for (id, names) in &of(lang).variables {
                let mut args = Vec::new();
                for name in names {
                    args.push((
                        std::borrow::Cow::Owned(name.clone()),
                        Arg::Text(Text::verbatim(format!("<{name}>"))),
                    ));
                }
                let text = Text::Message {
                    id: id.clone().into(),
                    args,
                };
                let out = text.render(lang);
                assert!(!out.trim().is_empty(), "{id} renders empty in {lang:?}");
                assert!(!out.contains('\u{2068}'), "{id}: isolation marks");
                for name in names {
                    assert!(out.contains(&format!("<{name}>")), "{id} drops ${name}");
                }
            }
        }
    }

    /// Every `t!` of the code names a message of the catalogues, and every message of
    /// the catalogues is used.
    #[test]
    fn every_id_in_the_code_is_in_the_catalogues_and_none_is_left_over() {
        let pattern =
            regex::Regex::new(r#"(?:t!\(\s*|Text::message\(\s*)"([a-z][a-z0-9-]*)""#).unwrap();
        let known = ids(Lang::En);
        let mut used = BTreeSet::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path
                    .extension()
                    .is_some_and(|e| e == "rs" || e == "js" || e == "html")
                {
                    let source = std::fs::read_to_string(&path).unwrap();
                    for cap in pattern.captures_iter(&source) {
                        assert!(
                            known.contains(&cap[1]),
                            "{}: message {} is in no catalogue",
                            path.display(),
                            &cap[1]
                        );
                        used.insert(cap[1].to_string());
                    }
                }
            }
        }
        let unused: Vec<_> = known
            .iter()
            .filter(|id| {
                !used.contains(*id)
                    && !id.starts_with("console-")
                    && !id.starts_with("editor-ui-")
                    && !id.starts_with("param-help-")
            })
            .collect();
        assert!(unused.is_empty(), "messages no code uses: {unused:?}");
        // The console's pages name their words by key: `t("key")` and `data-t="key"`.
        let key = regex::Regex::new(r#"\bt\(\s*"([a-z_]+)"\s*[,)]|data-t="([a-z_]+)""#).unwrap();
        for (page, prefix) in [
            ("console.js", "console-"),
            ("index.html", "console-"),
            ("templates.js", "editor-ui-"),
            ("templates.html", "editor-ui-"),
        ] {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/console/").to_string() + page;
            let source = std::fs::read_to_string(&path).unwrap();
            for cap in key.captures_iter(&source) {
                let word = cap.get(1).or(cap.get(2)).unwrap().as_str();
                let id = format!("{prefix}{word}");
                assert!(
                    known.contains(&id),
                    "{page}: {word} is not in the catalogues ({id})"
                );
            }
        }
        assert!(FILES.len() > 1);
    }

    #[test]
    fn every_parameter_of_every_channel_has_its_help_in_both_languages() {
        let settings = crate::Settings::with_overrides("").unwrap();
        let registry = crate::channel::Registry::new(&settings).unwrap();
        let mut params: Vec<crate::params::Param> = crate::params::COMMON.to_vec();
        for name in registry.names().split(", ") {
            params.extend_from_slice(registry.get(name).unwrap().params());
        }
        assert!(params.len() > 30);
        for p in params {
            for lang in [Lang::En, Lang::Ru] {
                assert!(
                    of(lang).variables.contains_key(p.help.0),
                    "{}: no {lang:?} help {}",
                    p.name,
                    p.help.0
                );
            }
        }
    }

    #[test]
    fn russian_plurals_come_from_the_catalogue() {
        for (n, ru) in [
            (1, "1 символ"),
            (2, "2 символа"),
            (7, "7 символов"),
            (21, "21 символ"),
            (11, "11 символов"),
        ] {
            assert_eq!(crate::t!("count-characters", n = n).render(Lang::Ru), ru);
        }
        assert_eq!(
            crate::t!("count-characters", n = 1).render(Lang::En),
            "1 character"
        );
        assert_eq!(
            crate::t!("count-characters", n = 7).render(Lang::En),
            "7 characters"
        );
    }
}
