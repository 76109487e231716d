//! A fault that repeats must not flood the log: a full disk refused every POST with an ERROR line
//! of its own (84,737 lines in 40 s, onto the disk that was already full). A warning or error is
//! written the first time it happens at a place in the code (its call site); while it goes on,
//! further ones there are counted, not written, and one line a period (`log.repeats_every`)
//! says how many there were. Once a place has been quiet for a whole period, its next one is
//! written again as a first.
//!
//! Kept by hand: tracing-subscriber has no rate limit, and the crates that add one either count
//! per message text (a refusal names the POST's cause, so every line differs) or drop without a
//! count. This is one hash-map look-up per warning or error; INFO and below pass untouched.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use tracing::{callsite::Identifier, field::Visit, Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The target of the count lines (never counted themselves).
const TARGET: &str = "torrow_hooks::repeats";

/// The layer; cheap to clone.
#[derive(Clone)]
pub struct Repeats {
    state: Arc<State>,
}

struct State {
    every: Duration,
    places: Mutex<HashMap<Identifier, Place>>,
}

/// One call site that logged a warning or an error.
struct Place {
    level: Level,
    at: String,
    /// The message of the first one written (the later ones may differ in their fields).
    message: String,
    /// When a line was last written for it (the event itself or a count).
    written: Instant,
    /// Held back since.
    held: u64,
}

impl Repeats {
    /// The layer, and a thread of its own that writes the counts (the log must speak even when
    /// the async runtime is stuck). The thread ends with the last clone of the layer.
    pub fn start(every: Duration) -> Repeats {
        let every = every.max(Duration::from_millis(100));
        let state = Arc::new(State {
            every,
            places: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&state);
        let tick = (every / 4).clamp(Duration::from_millis(25), Duration::from_secs(15));
        let _ = std::thread::Builder::new()
            .name("log-repeats".into())
            .spawn(move || counts(weak, tick));
        Repeats { state }
    }

    /// Whether `event` is written now (the first at its place, or the first after a quiet
    /// period); otherwise it is counted.
    fn admit(&self, event: &Event<'_>) -> bool {
        let meta = event.metadata();
        let now = Instant::now();
        let mut places = self.state.places.lock().expect("repeats lock");
        match places.get_mut(&meta.callsite()) {
            Some(place) if place.held == 0 && now - place.written >= self.state.every => {
                place.written = now;
                true
            }
            Some(place) => {
                place.held += 1;
                false
            }
            None => {
                let mut message = Message(String::new());
                event.record(&mut message);
                places.insert(
                    meta.callsite(),
                    Place {
                        level: *meta.level(),
                        at: format!(
                            "{}:{}",
                            meta.file().unwrap_or(meta.target()),
                            meta.line().unwrap_or(0)
                        ),
                        message: message.0,
                        written: now,
                        held: 0,
                    },
                );
                true
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for Repeats {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        // Levels compare by verbosity: INFO and below are greater than WARN.
        if *meta.level() > Level::WARN || meta.target() == TARGET {
            return true;
        }
        self.admit(event)
    }
}

/// Every `tick`: one line for each place that held some back for a whole period.
fn counts(state: Weak<State>, tick: Duration) {
    loop {
        std::thread::sleep(tick);
        let Some(state) = state.upgrade() else {
            return;
        };
        let now = Instant::now();
        let due: Vec<(Level, String, String, u64)> = {
            let mut places = state.places.lock().expect("repeats lock");
            places
                .values_mut()
                .filter(|p| p.held > 0 && now - p.written >= state.every)
                .map(|p| {
                    let held = std::mem::take(&mut p.held);
                    p.written = now;
                    (p.level, p.at.clone(), p.message.clone(), held)
                })
                .collect()
        };
        let period = humantime::format_duration(state.every).to_string();
        for (level, at, message, held) in due {
            if level == Level::ERROR {
                tracing::error!(target: TARGET, repeated = held, at = %at, within = %period, "{message} (again {held} times; written once)");
            } else {
                tracing::warn!(target: TARGET, repeated = held, at = %at, within = %period, "{message} (again {held} times; written once)");
            }
        }
    }
}

/// The `message` field of an event.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// Counts the events that reach the layer below.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Written {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
    }

    #[test]
    fn the_first_is_written_then_counted_once_a_period() {
        let written = Written::default();
        let repeats = Repeats::start(Duration::from_millis(200));
        let subscriber = tracing_subscriber::registry()
            .with(written.clone())
            .with(repeats);
        tracing::subscriber::with_default(subscriber, || {
            for n in 0..1000 {
                tracing::error!(n, "the disk is full");
                tracing::info!("an INFO line passes");
            }
            tracing::warn!("another place");
        });
        let lines = written.0.lock().unwrap().clone();
        assert_eq!(lines.iter().filter(|l| *l == "the disk is full").count(), 1);
        assert_eq!(lines.iter().filter(|l| l.contains("INFO")).count(), 1000);
        assert_eq!(lines.iter().filter(|l| *l == "another place").count(), 1);
    }
}
