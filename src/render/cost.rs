//! Which renders may run in place. A render runs on the blocking pool ([`super::off_thread`]) so
//! that a template taking its whole budget holds up no request; but the hand-off costs two thread
//! wake-ups, a quarter of the CPU of a POST for the shipped templates (≈ 80 µs of ≈ 400 µs,
//! BENCHMARKS.md), which render in tens of microseconds. So each template of a compiled locale
//! keeps a record: after [`PROVEN`] renders on the pool in a row, none slower than [`CHEAP`] of
//! CPU, it renders in place; the first in-place render slower than [`CHEAP`] sends it back to the
//! pool for good (until the locale is compiled again). The most an in-place render can hold a worker is one
//! such render per template, within the render budget.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A render this fast is cheap.
pub const CHEAP: Duration = Duration::from_millis(1);
/// Cheap renders on the pool before a template renders in place.
pub const PROVEN: u32 = 64;
/// The mark of a template that was once not cheap.
const HEAVY: u32 = u32::MAX;

/// The CPU time this thread has used: a render's cost is its CPU, not the wall time it took on a
/// busy machine (which counts the other threads it waited for, and would mark every template
/// heavy under load).
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// One counter per template: cheap renders so far, or [`HEAVY`].
#[derive(Default)]
pub struct Costs(BTreeMap<String, AtomicU32>);

impl Costs {
    pub fn new<'a>(names: impl Iterator<Item = &'a String>) -> Self {
        Costs(names.map(|n| (n.clone(), AtomicU32::new(0))).collect())
    }

    /// Whether `name` renders in place.
    pub fn in_place(&self, name: &str) -> bool {
        self.0
            .get(name)
            .map(|c| c.load(Ordering::Relaxed))
            .is_some_and(|n| n != HEAVY && n >= PROVEN)
    }

    /// Records the CPU time a render of `name` took ([`thread_cpu`]): on the pool, a slow one
    /// starts the count again (the first renders of a template are often slow: cold caches);
    /// in place, a slow one sends the template to the pool for good.
    pub fn note(&self, name: &str, took: Duration) {
        let Some(counter) = self.0.get(name) else {
            return;
        };
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| match n {
            HEAVY => None,
            n if took > CHEAP && n >= PROVEN => Some(HEAVY),
            _ if took > CHEAP => Some(0),
            n => (n < PROVEN).then(|| n + 1),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proven_cheap_renders_in_place_until_one_is_slow() {
        let names = ["a".to_string()];
        let costs = Costs::new(names.iter());
        // A slow first render (cold caches) only starts the count again.
        costs.note("a", Duration::from_millis(3));
        for _ in 0..PROVEN {
            assert!(!costs.in_place("a"));
            costs.note("a", Duration::from_micros(50));
        }
        assert!(costs.in_place("a"));
        costs.note("a", Duration::from_millis(5));
        assert!(!costs.in_place("a"));
        for _ in 0..PROVEN * 2 {
            costs.note("a", Duration::from_micros(50));
        }
        assert!(!costs.in_place("a"), "once slow, always on the pool");
        assert!(!costs.in_place("unknown"));
    }
}
