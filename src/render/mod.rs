//! Rendering: operator-owned Tera templates, one per action (`template=`), per locale.
//!
//! A locale folder `templates/<locale>/` holds `locale.toml` (the locale's words and formats)
//! and named templates `<name>.txt.tera` ([`folder`]). Versions saved in the console live in the
//! outbox database and override the file of the same name on every instance ([`live`]). Every
//! template is bounded ([`guard`]) and must render each built-in sample event ([`samples`])
//! before it is used ([`set`]).

pub mod context;
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
