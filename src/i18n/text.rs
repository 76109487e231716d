//! A text for the operator as data: a message id of the catalogues with its named arguments,
//! rendered in the reader's language only at the edge (an HTTP answer, an email, the CLI, the
//! console). Texts are stored as JSON (a delivery's error), so a stored error is read in the
//! language of whoever reads it, later.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{catalogue, Lang};

/// A text for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Text {
    /// A message of `locales/<lang>/*.ftl` with its arguments.
    Message {
        id: Cow<'static, str>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        args: Vec<(Cow<'static, str>, Arg)>,
    },
    /// Texts shown one after another, separated by "; ".
    Parts { parts: Vec<Text> },
    /// Words that are not ours, shown as received: a provider's own error text, a value from a
    /// request, a file name, an error stored before texts were typed.
    Verbatim(String),
}

/// The value of a named argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Arg {
    /// A count: the catalogues choose plural forms by it («1 символ», «7 символов»).
    Number(i64),
    Text(Text),
}

/// `t!(<id>, name = value, …)`: a [`Text`] of the catalogues, `<id>` a string literal. A value is anything that
/// becomes an [`Arg`]: a string (shown as is), a number, or another `Text`.
#[macro_export]
macro_rules! t {
    ($id:literal $(, $name:ident = $value:expr)* $(,)?) => {
        $crate::i18n::Text::message($id)$(.arg(stringify!($name), $value))*
    };
}

impl Text {
    pub fn message(id: &'static str) -> Text {
        Text::Message {
            id: Cow::Borrowed(id),
            args: Vec::new(),
        }
    }

    pub fn verbatim(text: impl Into<String>) -> Text {
        Text::Verbatim(text.into())
    }

    /// `self` with the argument `name` set to `value`.
    pub fn arg(mut self, name: &'static str, value: impl Into<Arg>) -> Text {
        if let Text::Message { args, .. } = &mut self {
            args.push((Cow::Borrowed(name), value.into()));
        }
        self
    }

    /// The texts one after another, "; " between them; one text stays itself.
    pub fn parts(parts: impl IntoIterator<Item = Text>) -> Text {
        let mut all = Vec::new();
        for part in parts {
            match part {
                Text::Parts { parts } => all.extend(parts),
                Text::Verbatim(s) if s.is_empty() => {}
                other => all.push(other),
            }
        }
        match all.len() {
            1 => all.pop().expect("one part"),
            _ => Text::Parts { parts: all },
        }
    }

    /// `self` followed by `next`, "; " between them.
    pub fn then(self, next: Text) -> Text {
        Text::parts([self, next])
    }

    /// The message id, when this is one message.
    pub fn id(&self) -> Option<&str> {
        match self {
            Text::Message { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Text::Verbatim(s) => s.is_empty(),
            Text::Parts { parts } => parts.iter().all(Text::is_empty),
            Text::Message { .. } => false,
        }
    }

    /// The same text with every verbatim piece (and argument) passed through `f`: how secrets
    /// are scrubbed from a provider's words.
    pub fn map_verbatim(&self, f: &dyn Fn(&str) -> String) -> Text {
        match self {
            Text::Verbatim(s) => Text::Verbatim(f(s)),
            Text::Parts { parts } => Text::Parts {
                parts: parts.iter().map(|p| p.map_verbatim(f)).collect(),
            },
            Text::Message { id, args } => Text::Message {
                id: id.clone(),
                args: args
                    .iter()
                    .map(|(name, value)| {
                        let value = match value {
                            Arg::Text(t) => Arg::Text(t.map_verbatim(f)),
                            n => n.clone(),
                        };
                        (name.clone(), value)
                    })
                    .collect(),
            },
        }
    }

    /// The text in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        let mut out = String::new();
        self.write(lang, &mut out);
        out
    }

    fn write(&self, lang: Lang, out: &mut String) {
        match self {
            Text::Verbatim(s) => out.push_str(s),
            Text::Parts { parts } => {
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push_str("; ");
                    }
                    part.write(lang, out);
                }
            }
            Text::Message { id, args } => catalogue::format(lang, id, args, out),
        }
    }

    /// The text as stored in a database column: JSON.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("a text serialises")
    }

    /// A text read back from [`Text::to_stored`] (an object, or a JSON string for words that
    /// are not ours); anything else (an error stored by an older version, in English) is shown
    /// as it was stored.
    pub fn from_stored(stored: &str) -> Text {
        if stored.starts_with('{') || stored.starts_with('"') {
            if let Ok(text) = serde_json::from_str(stored) {
                return text;
            }
        }
        Text::Verbatim(stored.to_string())
    }
}

/// No text at all.
impl Default for Text {
    fn default() -> Text {
        Text::Parts { parts: Vec::new() }
    }
}

/// The English text: for logs and for tests.
impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

/// A text can be an error (`anyhow::Error::from(text)`); the CLI renders it in the operator's
/// language ([`crate::i18n::error_text`]).
impl std::error::Error for Text {}

/// Compares the English text (tests read best this way).
impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.render(Lang::En) == *other
    }
}

impl From<Text> for Arg {
    fn from(t: Text) -> Arg {
        Arg::Text(t)
    }
}

impl From<&Text> for Arg {
    fn from(t: &Text) -> Arg {
        Arg::Text(t.clone())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(Text::Verbatim(s))
    }
}

impl From<&String> for Arg {
    fn from(s: &String) -> Arg {
        Arg::Text(Text::Verbatim(s.clone()))
    }
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(Text::Verbatim(s.to_string()))
    }
}

impl From<Cow<'_, str>> for Arg {
    fn from(s: Cow<'_, str>) -> Arg {
        Arg::Text(Text::Verbatim(s.into_owned()))
    }
}

macro_rules! number_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(n: $t) -> Arg {
                Arg::Number(i64::try_from(n).unwrap_or(i64::MAX))
            }
        }
    )*};
}
number_arg!(usize, u64, u32, u16, u8, i64, i32);

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::Verbatim(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_survives_storage_and_old_errors_read_as_stored() {
        let text = crate::t!("answer-message-stored-will-retried-error", error = "boom")
            .then(Text::verbatim("Wappi: no such chat"));
        assert_eq!(Text::from_stored(&text.to_stored()), text);
        assert_eq!(
            Text::from_stored("Wappi answered HTTP 500"),
            Text::verbatim("Wappi answered HTTP 500")
        );
        assert_eq!(Text::from_stored("{not json"), Text::verbatim("{not json"));
        // Words that are not ours, alone, are stored as a JSON string, and read back unquoted.
        let alone = Text::verbatim("Wappi: \"no such chat\"");
        assert_eq!(Text::from_stored(&alone.to_stored()), alone);
        assert_eq!(
            Text::from_stored("\"unclosed"),
            Text::verbatim("\"unclosed")
        );
    }
}
