//! Rendering: operator-owned Tera templates, one per action (`template=`), per locale.
//!
//! A locale folder `templates/<locale>/` holds `locale.toml` (the locale's words and formats)
//! and named templates `<name>.txt.tera` ([`folder`]). Versions saved in the console live in the
//! outbox database and override the file of the same name on every instance ([`live`]). Every
//! template is bounded ([`guard`]) and must render each built-in sample event ([`samples`])
//! before it is used ([`set`]).

pub mod budget;
pub mod context;
pub mod cost;
pub mod error;
pub mod folder;
pub mod guard;
pub mod live;
pub mod locale;
pub mod samples;
pub mod set;

pub use context::MessageContext;
pub use error::{Position, TemplateError};
pub use folder::{valid_name, DEFAULT_TEMPLATE};
pub use live::{Override, Serving, Templates};
pub use locale::Locale;
pub use set::{LocaleSet, Origin, Source};

pub const TEMPLATE_SUFFIX: &str = ".txt.tera";
pub const LOCALE_FILE: &str = "locale.toml";

/// Renders (and template compiles, which render every sample) run on tokio's blocking pool, a
/// few at a time, never on the async workers: a template that takes its whole time budget holds
/// up neither the requests under way nor `/healthz`. At most as many at once as the machine has
/// cores; the rest wait their turn (asynchronously).
pub async fn off_thread<T, F>(work: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    static RENDERS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.max(2))
    });
    let _turn = RENDERS
        .acquire()
        .await
        .expect("the semaphore is never closed");
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Plain-text clean-up: trailing spaces cut, runs of blank lines collapsed to one, trimmed.
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = false;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run = true;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_run {
                out.push('\n');
            }
        }
        blank_run = false;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn tidy_collapses_and_trims() {
        assert_eq!(super::tidy("\n\na  \n\n\n\nb\n \nc\n\n"), "a\n\nb\n\nc");
    }
}
