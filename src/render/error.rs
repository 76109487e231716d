//! Why a template or a locale folder cannot be used, kept with its source for the log, and
//! [`TemplateError::public`]: what an anonymous caller may read about it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{LOCALE_FILE, TEMPLATE_SUFFIX};

/// A locale folder or template that cannot be used; the message names the file, line and reason.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TemplateError {
    #[error("templates folder {:?} cannot be read ({source}); it is looked up from the working directory {:?} unless absolute: set templates.dir, or start from the folder that holds templates/ (see --config)", .dir, std::env::current_dir().unwrap_or_default())]
    Folder {
        dir: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("templates folder {} has no locale folders (e.g. ru-RU/ with message{TEMPLATE_SUFFIX} and {LOCALE_FILE})", .0.display())]
    NoLocales(PathBuf),
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("{}: {source}", .path.display())]
    LocaleFile {
        path: PathBuf,
        #[source]
        source: Arc<toml::de::Error>,
    },
    #[error("{}: {problem}", .path.display())]
    LocaleValue { path: PathBuf, problem: String },
    /// A template that does not compile, breaks a rule of [`super::guard`], or fails to render:
    /// the file, the place in it (1-based) and what is wrong, without the source text.
    #[error("{file}:{line}:{column}: {what}")]
    Template {
        file: String,
        line: usize,
        column: usize,
        what: String,
    },
    #[error("{source} (while rendering the built-in sample event \"{sample}\"{})", if *.phone { " with phone=" } else { "" })]
    Sample {
        sample: String,
        phone: bool,
        #[source]
        source: Box<TemplateError>,
    },
    #[error("locale {0} is no longer available")]
    Unavailable(String),
    #[error("template {name} of locale {locale} is not available")]
    NoTemplate { locale: String, name: String },
}

/// Where a template error is, for the editor: file, line, column, what.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Position {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The sample event it failed on, if it compiled.
    pub sample: Option<String>,
}

impl TemplateError {
    /// What an anonymous caller may read about this error in `locale`: the locale, the file and
    /// the line, never the template's source text or a path on the server (those are logged).
    pub fn public(&self, locale: &str) -> String {
        match self {
            TemplateError::Folder { .. } | TemplateError::NoLocales(_) => {
                "the templates folder cannot be read (the service log says why)".to_string()
            }
            TemplateError::Read { .. } => {
                format!("the files of locale {locale} cannot be read (the service log says why)")
            }
            TemplateError::LocaleFile { source, .. } => match source.span() {
                Some(span) => format!(
                    "{LOCALE_FILE} of locale {locale} is not valid TOML near byte {}",
                    span.start
                ),
                None => format!("{LOCALE_FILE} of locale {locale} is not valid TOML"),
            },
            TemplateError::LocaleValue { .. } => {
                format!("{LOCALE_FILE} of locale {locale} has a value that cannot be used (the service log says which)")
            }
            TemplateError::Template {
                file,
                line,
                column,
                what,
            } => {
                format!("template {file} of locale {locale}, line {line}, column {column}: {what}")
            }
            TemplateError::Sample {
                sample,
                phone,
                source,
            } => format!(
                "{} (with the built-in sample event \"{sample}\"{})",
                source.public(locale),
                if *phone { " and phone=" } else { "" }
            ),
            TemplateError::Unavailable(_) | TemplateError::NoTemplate { .. } => self.to_string(),
        }
    }

    /// The place of a template error, for the editor.
    pub fn position(&self) -> Option<Position> {
        match self {
            TemplateError::Template {
                file,
                line,
                column,
                what,
            } => Some(Position {
                file: file.clone(),
                line: *line,
                column: *column,
                message: what.clone(),
                sample: None,
            }),
            TemplateError::Sample { sample, source, .. } => source.position().map(|mut p| {
                p.sample = Some(sample.clone());
                p
            }),
            _ => None,
        }
    }

    /// The error with its file named by its path under `folder` (for start-up and the CLI).
    pub fn in_folder(self, folder: &Path) -> Self {
        match self {
            TemplateError::Template {
                file,
                line,
                column,
                what,
            } => TemplateError::Template {
                file: folder.join(file).display().to_string(),
                line,
                column,
                what,
            },
            TemplateError::Sample {
                sample,
                phone,
                source,
            } => TemplateError::Sample {
                sample,
                phone,
                source: Box::new(source.in_folder(folder)),
            },
            other => other,
        }
    }

    /// `file:line:column: what` with the file's path under `dir/locale`, for `templates check`.
    pub fn at_path(&self, folder: &Path) -> String {
        match self.position() {
            Some(p) => format!(
                "{}:{}:{}: {}{}",
                folder.join(&p.file).display(),
                p.line,
                p.column,
                p.message,
                p.sample
                    .map(|s| format!(" (sample event \"{s}\")"))
                    .unwrap_or_default()
            ),
            None => self.to_string(),
        }
    }
}
