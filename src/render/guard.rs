//! Keeps an operator's template from hanging a worker or exhausting memory.
//!
//! Tera has no loop limit, so the service bounds a template three ways:
//! - **Refused at save** ([`check`]): list comprehensions, components, assignments inside a loop,
//!   block assignments, an assignment that reads a variable the templates themselves assign
//!   (`set s = s ~ s` would double a text at every step), more than [`MAX_CONCATS`] `~` in one
//!   tag, and `~` anywhere but in `{{ … }}` and `set`. A `range()` larger than Tera's own limit
//!   fails on the samples, so it is refused at save too.
//! - **Stopped by the render budget** ([`super::budget`]): every `{% for %}` is rewritten to pass
//!   its list through `loop_budget` (steps) and to call `loop_tick` on every step (time); every
//!   tag with `~` passes its value through `spent` (text made) ([`Instrumented`]).
//! - **Output capped** ([`super::budget::CappedText`]).
//!
//! Each locale has a Tera of its own, so `include` reaches only templates of the same locale.

use crate::i18n::Text;
use crate::t;
use std::collections::BTreeSet;

use super::budget::{LOOP_FILTER, LOOP_TICK, SPENT_FILTER};

/// `~` in one tag at most: one tag then makes at most this many times its largest part.
pub const MAX_CONCATS: usize = 16;
/// Characters of one template's source.
pub const MAX_SOURCE_CHARS: usize = 20_000;

/// A rule the source breaks: what, and where (byte offset in the source).
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    pub offset: usize,
    pub what: Text,
}

/// One `{{ … }}`, `{% … %}` of a template: where its content is, and what kind.
struct Tag<'a> {
    block: bool,
    /// Content between the delimiters, without the `-` trim marks.
    content: &'a str,
    /// Byte offset of `content` in the source.
    start: usize,
}

/// The tags of `source`, skipping comments and `{% raw %}` blocks. String literals are honoured,
/// so a `%}` inside quotes does not end a tag.
fn tags(source: &str) -> Vec<Tag<'_>> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut raw = false;
    while i + 1 < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        let (block, close) = match bytes[i + 1] {
            b'{' => (false, "}}"),
            b'%' => (true, "%}"),
            b'#' => {
                i = source[i + 2..]
                    .find("#}")
                    .map_or(bytes.len(), |e| i + 2 + e + 2);
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        if raw && !block {
            i += 2;
            continue;
        }
        let mut j = i + 2;
        if j < bytes.len() && bytes[j] == b'-' {
            j += 1;
        }
        let start = j;
        let mut quote: Option<u8> = None;
        while j < bytes.len() {
            let b = bytes[j];
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if matches!(b, b'"' | b'\'' | b'`') => quote = Some(b),
                // Bytes, not `str`: `j` may be inside a multi-byte character (found by fuzzing).
                None if bytes[j..].starts_with(close.as_bytes()) => break,
                None => {}
            }
            j += 1;
        }
        let mut end = j.min(bytes.len());
        if end > start && bytes[end - 1] == b'-' {
            end -= 1;
        }
        let content = &source[start..end];
        let first = words(content).next().map(|(_, w)| w);
        if raw {
            if block && first == Some("endraw") {
                raw = false;
            }
        } else if block && first == Some("raw") {
            raw = true;
        } else {
            out.push(Tag {
                block,
                content,
                start,
            });
        }
        i = (j + 2).min(bytes.len());
    }
    out
}

/// The identifiers of an expression outside string literals, with their offsets, and the
/// character before each (to tell `a.b` and `x | f` from a variable).
fn words(content: &str) -> impl Iterator<Item = (usize, &str)> {
    words_with_lead(content).map(|(at, word, _)| (at, word))
}

fn words_with_lead(content: &str) -> impl Iterator<Item = (usize, &str, Option<char>)> {
    let bytes = content.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    let mut lead: Option<char> = None;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let b = bytes[i];
            if let Some(q) = quote {
                if b == q {
                    quote = None;
                    lead = Some('"');
                }
                i += 1;
                continue;
            }
            if matches!(b, b'"' | b'\'' | b'`') {
                quote = Some(b);
                i += 1;
                continue;
            }
            if b.is_ascii_alphabetic() || b == b'_' {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let before = lead;
                lead = Some('a');
                return Some((start, &content[start..i], before));
            }
            if !b.is_ascii_whitespace() {
                lead = Some(b as char);
            }
            i += 1;
        }
        None
    })
}

/// Words of an expression that name a variable (not an attribute, filter, test, keyword or
/// keyword argument).
fn variables(expr: &str) -> Vec<(usize, &str)> {
    const KEYWORDS: &[&str] = &[
        "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False",
        "None",
    ];
    let mut out = Vec::new();
    let mut after_is = false;
    for (at, word, lead) in words_with_lead(expr) {
        let rest = expr[at + word.len()..].trim_start();
        let kwarg = rest.starts_with('=') && !rest.starts_with("==");
        let call = rest.starts_with('(');
        let skip = matches!(lead, Some('.') | Some('|'))
            || after_is
            || kwarg
            || call
            || KEYWORDS.contains(&word);
        after_is = word == "is" || (after_is && word == "not");
        if !skip {
            out.push((at, word));
        }
    }
    out
}

/// The names the templates assign with `set` / `set_global` (all templates of a locale share
/// them through `include`).
pub fn assigned_names<'a>(sources: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for source in sources {
        for tag in tags(source).into_iter().filter(|t| t.block) {
            let mut w = words(tag.content);
            if let Some((_, "set" | "set_global")) = w.next() {
                if let Some((_, name)) = w.next() {
                    names.insert(name.to_string());
                }
            }
        }
    }
    names
}

/// The first rule `source` breaks, if any; `assigned` comes from [`assigned_names`] over every
/// template of the locale.
pub fn check(source: &str, assigned: &BTreeSet<String>) -> Option<Breach> {
    let chars = source.chars().count();
    if chars > MAX_SOURCE_CHARS {
        return Some(Breach {
            offset: 0,
            what: t!(
                "guard-source-too-long",
                chars = chars,
                max = MAX_SOURCE_CHARS
            ),
        });
    }
    let mut loops = 0usize;
    for tag in tags(source) {
        let mut w = words(tag.content);
        let first = if tag.block { w.next() } else { None };
        let keyword = first.map(|(_, k)| k);
        // `for` anywhere but at the start of a block tag is a list comprehension.
        let comprehension = words(tag.content)
            .skip(usize::from(keyword == Some("for")))
            .find(|(_, word)| *word == "for");
        if let Some((at, _)) = comprehension {
            return Some(Breach {
                offset: tag.start + at,
                what: t!("guard-no-comprehensions"),
            });
        }
        if let Some(breach) = concat_breach(&tag, keyword) {
            return Some(breach);
        }
        let at = tag.start + first.map_or(0, |(a, _)| a);
        match keyword {
            Some("for") => loops += 1,
            Some("endfor") => loops = loops.saturating_sub(1),
            Some("component" | "endcomponent") => {
                return Some(Breach {
                    offset: at,
                    what: t!("guard-no-components"),
                })
            }
            Some(set @ ("set" | "set_global")) => {
                if loops > 0 {
                    return Some(Breach {
                        offset: at,
                        what: t!("guard-set-in-loop", set = set),
                    });
                }
                let Some(eq) = find_assignment(tag.content) else {
                    return Some(Breach {
                        offset: at,
                        what: t!("guard-block-set", set = set),
                    });
                };
                let expr = &tag.content[eq + 1..];
                if let Some((pos, name)) = variables(expr)
                    .into_iter()
                    .find(|(_, v)| assigned.contains(*v))
                {
                    return Some(Breach {
                        offset: tag.start + eq + 1 + pos,
                        what: t!("guard-set-self-reference", set = set, name = name),
                    });
                }
            }
            _ => {}
        }
    }
    None
}

/// The offsets of the `~` of an expression, outside string literals.
fn concats(content: &str) -> Vec<usize> {
    let mut quote: Option<u8> = None;
    let mut out = Vec::new();
    for (i, &b) in content.as_bytes().iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if matches!(b, b'"' | b'\'' | b'`') => quote = Some(b),
            None if b == b'~' => out.push(i),
            None => {}
        }
    }
    out
}

/// `~` where its text could not be charged to the render budget (outside `{{ }}` and `set`), or
/// more of them in one tag than [`MAX_CONCATS`].
fn concat_breach(tag: &Tag<'_>, keyword: Option<&str>) -> Option<Breach> {
    let found = concats(tag.content);
    let first = *found.first()?;
    let charged = !tag.block || matches!(keyword, Some("set" | "set_global"));
    if !charged {
        return Some(Breach {
            offset: tag.start + first,
            what: t!("guard-concat-where"),
        });
    }
    (found.len() > MAX_CONCATS).then(|| Breach {
        offset: tag.start + found[MAX_CONCATS],
        what: t!("guard-too-many-concats", max = MAX_CONCATS),
    })
}

/// The offset of the `=` of `set name = …` (not `==`).
fn find_assignment(content: &str) -> Option<usize> {
    let mut quote: Option<u8> = None;
    let bytes = content.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if matches!(b, b'"' | b'\'' | b'`') => quote = Some(b),
            None if b == b'='
                && bytes.get(i + 1) != Some(&b'=')
                && !matches!(
                    i.checked_sub(1).map(|p| bytes[p]),
                    Some(b'=' | b'!' | b'<' | b'>')
                ) =>
            {
                return Some(i)
            }
            None => {}
        }
    }
    None
}

/// A source with every loop's list passed through [`LOOP_FILTER`] and a [`LOOP_TICK`] at the
/// start of every loop step, and every expression with `~` passed through [`SPENT_FILTER`]; and
/// where text was inserted (to map positions in errors back to what the operator wrote).
pub struct Instrumented {
    pub text: String,
    /// (offset in `text`, bytes inserted there), in order.
    inserts: Vec<(usize, usize)>,
}

impl Instrumented {
    pub fn new(source: &str) -> Self {
        // (offset in the source, text inserted there), in order of the source.
        let mut edits: Vec<(usize, String)> = Vec::new();
        for tag in tags(source) {
            let mut w = words(tag.content);
            let keyword = if tag.block { w.next() } else { None };
            let end = tag.start + tag.content.trim_end().len();
            match keyword.map(|(_, k)| k) {
                Some("for") => {
                    let Some((at, _)) = w.find(|(_, word)| *word == "in") else {
                        continue;
                    };
                    edits.push((tag.start + at + 2, " (".to_string()));
                    edits.push((end, format!(") | {LOOP_FILTER}")));
                    // After the tag's `%}` (or `-%}`): the step's tick trims what the tag trimmed.
                    let after = tag.start + tag.content.len();
                    let trims = source[after..].starts_with('-');
                    let close = after + usize::from(trims) + 2;
                    let tick = if trims {
                        format!("{{{{ {LOOP_TICK}() -}}}}")
                    } else {
                        format!("{{{{ {LOOP_TICK}() }}}}")
                    };
                    edits.push((close.min(source.len()), tick));
                }
                Some("set" | "set_global") if !concats(tag.content).is_empty() => {
                    let Some(eq) = find_assignment(tag.content) else {
                        continue;
                    };
                    edits.push((tag.start + eq + 1, " (".to_string()));
                    edits.push((end, format!(") | {SPENT_FILTER}")));
                }
                None if !tag.block && !concats(tag.content).is_empty() => {
                    let from = tag.start + (tag.content.len() - tag.content.trim_start().len());
                    edits.push((from, "(".to_string()));
                    edits.push((end, format!(") | {SPENT_FILTER}")));
                }
                _ => {}
            }
        }
        let mut text = String::with_capacity(source.len() + 32 * edits.len());
        let mut inserts = Vec::with_capacity(edits.len());
        let mut copied = 0;
        for (at, inserted) in edits {
            text.push_str(&source[copied..at]);
            inserts.push((text.len(), inserted.len()));
            text.push_str(&inserted);
            copied = at;
        }
        text.push_str(&source[copied..]);
        Instrumented { text, inserts }
    }

    /// The offset in the original source of `offset` in [`Self::text`].
    pub fn original_offset(&self, offset: usize) -> usize {
        let mut shift = 0;
        for &(at, len) in &self.inserts {
            if offset >= at + len {
                shift += len;
            } else if offset >= at {
                return at - shift;
            }
        }
        offset - shift
    }
}

/// 1-based line and column of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breach(source: &str) -> Option<String> {
        check(source, &assigned_names([source])).map(|b| b.what.to_string())
    }

    #[test]
    fn the_rules_refuse_what_can_grow_without_end() {
        assert!(breach("{{ [x for x in range(end=3)] }}")
            .unwrap()
            .contains("comprehension"));
        assert!(breach("{% for i in items %}{% set x = 1 %}{% endfor %}")
            .unwrap()
            .contains("inside"));
        assert!(breach("{% set s = 'a' %}{% set s = s ~ s %}")
            .unwrap()
            .contains("may not use s"));
        assert!(breach("{% set s %}x{% endset %}")
            .unwrap()
            .contains("block"));
        assert!(breach("{% component c() %}{% endcomponent %}").is_some());
        assert_eq!(
            breach("{% set x = message | replace(from=\"a\", to=\"b\") %}{{ x }}{% for r in resources %}{{ r.name }}{% endfor %}{# {% set y = x %} #}"),
            None
        );
        assert_eq!(breach("{{ \"%} for\" }}{% if a == b %}{% endif %}"), None);
    }

    #[test]
    fn letters_outside_quotes_in_a_tag_are_read_whole() {
        // Found by fuzzing: the tag's end was looked for inside a two-byte letter.
        assert_eq!(breach("{% if x == привет %}{% endif %}{{ имя }}"), None);
        assert!(Instrumented::new("{% for б in в %}{{ б }}{% endfor %}")
            .text
            .contains("loop_tick"));
    }

    #[test]
    fn loops_are_rewritten_and_positions_map_back() {
        let source = "a\n{%- for x in items -%}{{ x }}{% endfor %} {{ y }}";
        let i = Instrumented::new(source);
        assert_eq!(
            i.text,
            "a\n{%- for x in ( items) | loop_budget -%}{{ loop_tick() -}}{{ x }}{% endfor %} {{ y }}"
        );
        let y = i.text.find("y }}").unwrap();
        assert_eq!(i.original_offset(y), source.find("y }}").unwrap());
        assert_eq!(line_column(source, source.find("y }}").unwrap()), (2, 46));
    }
}
