//! Keeps an operator's template from hanging a worker or exhausting memory.
//!
//! Tera has no loop limit, so the service bounds a template three ways:
//! - **Refused at save** ([`check`]): list comprehensions, components, assignments inside a loop,
//!   block assignments, and an assignment that reads a variable the templates themselves assign
//!   (`set s = s ~ s` would double a text at every step). A `range()` larger than Tera's own
//!   limit fails on the samples, so it is refused at save too.
//! - **Stopped by the render budget** ([`Budget`]): every `{% for %}` is rewritten to pass its list
//!   through the `loop_budget` filter, which counts the steps of one render across all loops
//!   (nested ones multiply) and stops it past [`MAX_LOOP_STEPS`] or [`MAX_RENDER_TIME`].
//! - **Output capped** ([`CappedText`]): rendering stops once the text passes [`MAX_OUTPUT_BYTES`].
//!
//! Each locale has a Tera of its own, so `include` reaches only templates of the same locale.

use crate::i18n::Text;
use crate::t;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Loop steps one render may take, all loops together.
pub const MAX_LOOP_STEPS: usize = 20_000;
/// Wall time one render may take (checked when a loop starts).
pub const MAX_RENDER_TIME: Duration = Duration::from_millis(500);
/// Bytes of text one render may write (every channel takes far less).
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;
/// Characters of one template's source.
pub const MAX_SOURCE_CHARS: usize = 20_000;
/// The filter every loop's list is passed through.
pub const LOOP_FILTER: &str = "loop_budget";

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
                None if source[j..].starts_with(close) => break,
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

/// A source with every loop's list passed through [`LOOP_FILTER`], and where text was inserted
/// (to map positions in errors back to what the operator wrote).
pub struct Instrumented {
    pub text: String,
    /// (offset in `text`, bytes inserted there), in order.
    inserts: Vec<(usize, usize)>,
}

impl Instrumented {
    pub fn new(source: &str) -> Self {
        let mut text = String::with_capacity(source.len() + 64);
        let mut inserts = Vec::new();
        let mut copied = 0;
        for tag in tags(source).into_iter().filter(|t| t.block) {
            let mut w = words(tag.content);
            if !matches!(w.next(), Some((_, "for"))) {
                continue;
            }
            let Some((at, _)) = w.find(|(_, word)| *word == "in") else {
                continue;
            };
            let expr_start = tag.start + at + 2;
            let expr_end = tag.start + tag.content.trim_end().len();
            text.push_str(&source[copied..expr_start]);
            inserts.push((text.len(), 2));
            text.push_str(" (");
            text.push_str(&source[expr_start..expr_end]);
            let tail = format!(") | {LOOP_FILTER}");
            inserts.push((text.len(), tail.len()));
            text.push_str(&tail);
            copied = expr_end;
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

thread_local! {
    /// The budget of the render under way on this thread (renders never yield).
    static BUDGET: Cell<Option<(usize, Instant)>> = const { Cell::new(None) };
    /// Why the render under way was stopped, if it was.
    static STOPPED: Cell<Option<Stop>> = const { Cell::new(None) };
}

#[derive(Debug, Clone, Copy)]
enum Stop {
    Steps,
    Time,
}

/// The render budget of one render; dropped when the render ends.
pub struct Budget(());

impl Budget {
    pub fn start() -> Self {
        BUDGET.with(|b| b.set(Some((MAX_LOOP_STEPS, Instant::now() + MAX_RENDER_TIME))));
        STOPPED.with(|s| s.set(None));
        Budget(())
    }

    /// Why this render was stopped by the budget, if it was.
    pub fn stopped(&self) -> Option<Text> {
        STOPPED.with(|s| s.get()).map(|stop| match stop {
            Stop::Steps => t!("guard-budget-steps", max = MAX_LOOP_STEPS),
            Stop::Time => t!("guard-budget-time", ms = MAX_RENDER_TIME.as_millis() as u64),
        })
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        BUDGET.with(|b| b.set(None));
    }
}

/// The [`LOOP_FILTER`]: charges a loop's steps to the render under way.
pub fn loop_budget(
    list: tera::Value,
    _: tera::Kwargs,
    _: &tera::State,
) -> tera::TeraResult<tera::Value> {
    let steps = list
        .as_str()
        .map(|s| s.chars().count())
        .or_else(|| list.len())
        .unwrap_or(0);
    BUDGET.with(|b| match b.get() {
        None => Ok(list),
        Some((left, deadline)) => {
            // The message is for the log; the operator reads [`Budget::stopped`].
            if steps > left {
                STOPPED.with(|s| s.set(Some(Stop::Steps)));
                return Err(tera::Error::message(
                    "stopped by the render budget (loop steps)",
                ));
            }
            if Instant::now() > deadline {
                STOPPED.with(|s| s.set(Some(Stop::Time)));
                return Err(tera::Error::message("stopped by the render budget (time)"));
            }
            b.set(Some((left - steps, deadline)));
            Ok(list)
        }
    })
}

/// The text being rendered, refusing to grow past [`MAX_OUTPUT_BYTES`].
#[derive(Default)]
pub struct CappedText {
    pub bytes: Vec<u8>,
    pub overflowed: bool,
}

impl std::io::Write for CappedText {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("the text is too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    fn loops_are_rewritten_and_positions_map_back() {
        let source = "a\n{%- for x in items -%}{{ x }}{% endfor %} {{ y }}";
        let i = Instrumented::new(source);
        assert_eq!(
            i.text,
            "a\n{%- for x in ( items) | loop_budget -%}{{ x }}{% endfor %} {{ y }}"
        );
        let y = i.text.find("y }}").unwrap();
        assert_eq!(i.original_offset(y), source.find("y }}").unwrap());
        assert_eq!(line_column(source, source.find("y }}").unwrap()), (2, 46));
    }
}
