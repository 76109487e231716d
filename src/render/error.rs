//! Why a template or a locale folder cannot be used, kept with its source for the log, and
//! [`TemplateError::public`]: what an anonymous caller may read about it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{LOCALE_FILE, TEMPLATE_SUFFIX};
use crate::i18n::Text;
use crate::t;

/// A locale folder or template that cannot be used; the message names the file, line and reason.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TemplateError {
    #[error("{}", self.text())]
    Folder {
        dir: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("{}", self.text())]
    NoLocales(PathBuf),
    #[error("{}", self.text())]
    Read {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("{}", self.text())]
    LocaleFile {
        path: PathBuf,
        #[source]
        source: Arc<toml::de::Error>,
    },
    #[error("{}", self.text())]
    LocaleValue { path: PathBuf, problem: Text },
    /// A template that does not compile, breaks a rule of [`super::guard`], or fails to render:
    /// the file, the place in it (1-based) and what is wrong, without the source text.
    #[error("{}", self.text())]
    Template {
        file: String,
        line: usize,
        column: usize,
        what: Text,
    },
    #[error("{}", self.text())]
    Sample {
        sample: String,
        phone: bool,
        #[source]
        source: Box<TemplateError>,
    },
    #[error("{}", self.text())]
    Unavailable(String),
    #[error("{}", self.text())]
    NoTemplate { locale: String, name: String },
}

/// Where a template error is, for the editor: file, line, column, what.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Position {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: Text,
    /// The sample event it failed on, if it compiled.
    pub sample: Option<String>,
}

impl TemplateError {
    /// What an anonymous caller may read about this error in `locale`: the locale, the file and
    /// the line, never the template's source text or a path on the server (those are logged).
    pub fn public(&self, locale: &str) -> Text {
        match self {
            TemplateError::Folder { .. } | TemplateError::NoLocales(_) => {
                t!("template-folder-unreadable-public")
            }
            TemplateError::Read { .. } => {
                t!("template-locale-unreadable", locale = locale)
            }
            TemplateError::LocaleFile { source, .. } => match source.span() {
                Some(span) => t!(
                    "template-locale-file-invalid-at",
                    file = LOCALE_FILE,
                    locale = locale,
                    byte = span.start
                ),
                None => t!(
                    "template-locale-file-invalid",
                    file = LOCALE_FILE,
                    locale = locale
                ),
            },
            TemplateError::LocaleValue { .. } => t!(
                "template-locale-file-bad-value",
                locale_file = LOCALE_FILE,
                locale = locale
            ),
            TemplateError::Template {
                file,
                line,
                column,
                what,
            } => t!(
                "template-error-at",
                file = file,
                locale = locale,
                line = *line,
                column = *column,
                what = what
            ),
            TemplateError::Sample { source, .. } => self.with_sample(source.public(locale)),
            TemplateError::Unavailable(_) | TemplateError::NoTemplate { .. } => self.text(),
        }
    }

    /// `error` said of the sample event this error names.
    fn with_sample(&self, error: Text) -> Text {
        match self {
            TemplateError::Sample {
                sample,
                phone: false,
                ..
            } => t!("template-error-with-sample", error = error, sample = sample),
            TemplateError::Sample { sample, .. } => {
                t!(
                    "template-error-with-sample-and-phone",
                    error = error,
                    sample = sample
                )
            }
            _ => error,
        }
    }

    /// The whole error, for the operator at the server (start-up, the CLI): paths included.
    pub fn text(&self) -> Text {
        match self {
            TemplateError::Folder { dir, source } => t!(
                "template-folder-unreadable",
                dir = format!("{dir:?}"),
                why = source.to_string(),
                cwd = format!("{:?}", std::env::current_dir().unwrap_or_default())
            ),
            TemplateError::NoLocales(dir) => t!(
                "template-folder-no-locales",
                dir = dir.display().to_string(),
                suffix = TEMPLATE_SUFFIX,
                locale_file = LOCALE_FILE
            ),
            TemplateError::Read { path, source } => t!(
                "template-file-problem",
                path = path.display().to_string(),
                why = source.to_string()
            ),
            TemplateError::LocaleFile { path, source } => t!(
                "template-file-problem",
                path = path.display().to_string(),
                why = source.to_string()
            ),
            TemplateError::LocaleValue { path, problem } => t!(
                "template-file-problem",
                path = path.display().to_string(),
                why = problem
            ),
            TemplateError::Template {
                file,
                line,
                column,
                what,
            } => t!(
                "template-file-line-column",
                file = file,
                line = *line,
                column = *column,
                what = what
            ),
            TemplateError::Sample { source, .. } => self.with_sample(source.text()),
            TemplateError::Unavailable(locale) => {
                t!("template-locale-unavailable", locale = locale)
            }
            TemplateError::NoTemplate { locale, name } => {
                t!("template-name-not-available", name = name, locale = locale)
            }
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
    pub fn at_path(&self, folder: &Path) -> Text {
        match self.position() {
            Some(p) => {
                let at = t!(
                    "template-file-line-column",
                    file = folder.join(&p.file).display().to_string(),
                    line = p.line,
                    column = p.column,
                    what = p.message
                );
                match p.sample {
                    Some(sample) => t!("template-sample-event-at", error = at, sample = sample),
                    None => at,
                }
            }
            None => self.text(),
        }
    }
}
