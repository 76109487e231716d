//! The budget of one render, enforced while it runs (the rules checked before are in
//! [`super::guard`]). One render may take [`MAX_LOOP_STEPS`] loop steps, [`MAX_RENDER_TIME`] and
//! [`MAX_PRODUCED_BYTES`] of text made along the way; its output is capped at [`MAX_OUTPUT_BYTES`].
//!
//! - Every loop's list passes through [`loop_budget`] (its steps are charged when it starts) and
//!   every step calls [`loop_tick`] (the time is looked at on each).
//! - The filters that can make a text many times larger than what they are given are the
//!   service's own: [`replace`], [`join`] and [`indent`] work out the size of what they would
//!   make and charge it *before* making it, so `replace` chained seven times stops at the budget
//!   instead of building 100 MB (Tera's own filters build first).
//! - An expression with `~` passes through [`spent`], which charges what it made.
//!
//! A render runs on one thread from start to end ([`super::set::LocaleSet::render`] runs it on
//! the blocking pool), so the budget lives in a thread-local.

use std::cell::Cell;
use std::time::{Duration, Instant};

use tera::{Kwargs, State, TeraResult, Value};

use crate::i18n::Text;
use crate::t;

/// Loop steps one render may take, all loops together.
pub const MAX_LOOP_STEPS: usize = 20_000;
/// Wall time one render may take (looked at on every loop step and in the service's filters).
pub const MAX_RENDER_TIME: Duration = Duration::from_millis(500);
/// Bytes of text one render may write (every channel takes far less).
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;
/// Bytes of text one render may make along the way: what `replace`, `join`, `indent` and `~`
/// make, all together.
pub const MAX_PRODUCED_BYTES: usize = 1024 * 1024;
/// The filter every loop's list is passed through.
pub const LOOP_FILTER: &str = "loop_budget";
/// The function every loop step calls.
pub const LOOP_TICK: &str = "loop_tick";
/// The filter an expression with `~` is passed through.
pub const SPENT_FILTER: &str = "spent";

#[derive(Debug, Clone, Copy)]
struct Left {
    steps: usize,
    bytes: usize,
    deadline: Instant,
}

thread_local! {
    /// The budget of the render under way on this thread (renders never yield).
    static LEFT: Cell<Option<Left>> = const { Cell::new(None) };
    /// Why the render under way was stopped, if it was.
    static STOPPED: Cell<Option<Stop>> = const { Cell::new(None) };
}

#[derive(Debug, Clone, Copy)]
enum Stop {
    Steps,
    Time,
    Bytes,
}

/// The render budget of one render; dropped when the render ends.
pub struct Budget(());

impl Budget {
    pub fn start() -> Self {
        LEFT.with(|b| {
            b.set(Some(Left {
                steps: MAX_LOOP_STEPS,
                bytes: MAX_PRODUCED_BYTES,
                deadline: Instant::now() + MAX_RENDER_TIME,
            }))
        });
        STOPPED.with(|s| s.set(None));
        Budget(())
    }

    /// Why this render was stopped by the budget, if it was.
    pub fn stopped(&self) -> Option<Text> {
        STOPPED.with(|s| s.get()).map(|stop| match stop {
            Stop::Steps => t!("guard-budget-steps", max = MAX_LOOP_STEPS),
            Stop::Time => t!("guard-budget-time", ms = MAX_RENDER_TIME.as_millis() as u64),
            Stop::Bytes => t!("guard-budget-bytes", kib = MAX_PRODUCED_BYTES / 1024),
        })
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        LEFT.with(|b| b.set(None));
    }
}

/// Charges `steps` loop steps and `bytes` of text to the render under way, and looks at the
/// time; outside a render (a declared sender's URL, say) nothing is charged.
fn charge(steps: usize, bytes: usize) -> TeraResult<()> {
    LEFT.with(|b| {
        let Some(left) = b.get() else {
            return Ok(());
        };
        // The message is for the log; the operator reads [`Budget::stopped`].
        let stop = |why: Stop, what: &str| {
            STOPPED.with(|s| s.set(Some(why)));
            Err(tera::Error::message(format!(
                "stopped by the render budget ({what})"
            )))
        };
        if steps > left.steps {
            return stop(Stop::Steps, "loop steps");
        }
        if bytes > left.bytes {
            return stop(Stop::Bytes, "text made");
        }
        if Instant::now() > left.deadline {
            return stop(Stop::Time, "time");
        }
        b.set(Some(Left {
            steps: left.steps - steps,
            bytes: left.bytes - bytes,
            ..left
        }));
        Ok(())
    })
}

/// The [`LOOP_FILTER`]: charges a loop's steps to the render under way.
pub fn loop_budget(list: Value, _: Kwargs, _: &State) -> TeraResult<Value> {
    let steps = list
        .as_str()
        .map(|s| s.chars().count())
        .or_else(|| list.len())
        .unwrap_or(0);
    charge(steps, 0)?;
    Ok(list)
}

/// The [`LOOP_TICK`]: the time, looked at on every loop step; writes nothing.
pub fn loop_tick(_: Kwargs, _: &State) -> TeraResult<Value> {
    charge(0, 0)?;
    Ok(Value::from(""))
}

/// The [`SPENT_FILTER`]: charges the text an expression made.
pub fn spent(value: Value, _: Kwargs, _: &State) -> TeraResult<Value> {
    charge(0, value.as_str().map_or(0, str::len))?;
    Ok(value)
}

/// `replace(from, to)`, as Tera's, charging what it makes before making it.
pub fn replace(value: &str, kwargs: Kwargs, _: &State) -> TeraResult<Value> {
    let from = kwargs.must_get::<&str>("from")?;
    let to = kwargs.must_get::<&str>("to")?;
    // An empty `from` matches before every character and at the end.
    let matches = if from.is_empty() {
        value.chars().count() + 1
    } else {
        value.matches(from).count()
    };
    let size = value.len() - matches * from.len() + matches * to.len();
    charge(0, size)?;
    Ok(Value::from(value.replace(from, to)))
}

/// `join(sep)`, as Tera's (each item as it prints), charging what it makes before making it.
pub fn join(items: &[Value], kwargs: Kwargs, _: &State) -> TeraResult<Value> {
    let sep = kwargs.get::<&str>("sep")?.unwrap_or("");
    let parts: Vec<std::borrow::Cow<'_, str>> = items
        .iter()
        .map(|v| match v.as_str() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(v.to_string()),
        })
        .collect();
    let size =
        parts.iter().map(|p| p.len()).sum::<usize>() + sep.len() * parts.len().saturating_sub(1);
    charge(0, size)?;
    Ok(Value::from(parts.join(sep)))
}

/// `indent(width, indentation, first, blank)`, as Tera's, charging what it makes before making
/// it (a 1000-wide indent of many short lines is a thousand times larger).
pub fn indent(value: &str, kwargs: Kwargs, _: &State) -> TeraResult<Value> {
    let width = kwargs.get::<usize>("width")?.unwrap_or(4).min(1000);
    let indentation = kwargs.get::<&str>("indentation")?;
    let first = kwargs.get::<bool>("first")?.unwrap_or(false);
    let blank = kwargs.get::<bool>("blank")?.unwrap_or(false);
    if indentation.is_some_and(|i| i.chars().count() != 1) {
        return Err(tera::Error::message(
            "The `indentation` argument must contain exactly one character",
        ));
    }
    let unit = indentation.unwrap_or(" ").repeat(width);
    let indented =
        |n: usize, line: &str| (n == 0 && first) || (n > 0 && (!line.is_empty() || blank));
    let lines = value
        .lines()
        .enumerate()
        .filter(|(n, line)| indented(*n, line))
        .count();
    charge(0, value.len() + lines * unit.len())?;
    let mut out = String::with_capacity(value.len() + lines * unit.len());
    for (n, line) in value.lines().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        if indented(n, line) {
            out.push_str(&unit);
        }
        out.push_str(line);
    }
    Ok(Value::from(out))
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

/// Registers the budget's filters and function (the service's `replace`, `join` and `indent`
/// in place of Tera's).
pub fn register(tera: &mut tera::Tera) {
    tera.register_filter(LOOP_FILTER, loop_budget);
    tera.register_filter(SPENT_FILTER, spent);
    tera.register_function(LOOP_TICK, loop_tick);
    tera.register_filter("replace", replace);
    tera.register_filter("join", join);
    tera.register_filter("indent", indent);
}
