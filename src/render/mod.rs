//! Rendering: operator-editable Tera templates per locale, reloaded when their files change.
//!
//! Each locale folder is loaded on its own and used only after it has rendered every built-in
//! sample event without error ([`samples`]), so a template that compiles but fails (an undefined
//! variable, say) is refused like a syntax error. A refused edit leaves that locale's previous
//! version serving, with the reason kept for `/readyz` and check mode; other locales are not held
//! back by it.

pub mod context;
pub mod locale;
pub mod samples;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant, SystemTime},
};

use tera::Tera;

use crate::event::CaseActionEvent;
use crate::params::Options;
use crate::settings::Links;

pub use context::MessageContext;
pub use locale::Locale;

pub const TEMPLATE_FILE: &str = "message.txt.tera";
pub const LOCALE_FILE: &str = "locale.toml";

/// A locale folder that cannot be used; the message names the file, line and reason, and each
/// kind keeps its source.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TemplateError {
    #[error("templates folder {:?} cannot be read ({source}); it is looked up from the working directory {:?} unless absolute: set templates.dir, or start from the folder that holds templates/ (see --config)", .dir, std::env::current_dir().unwrap_or_default())]
    Folder {
        dir: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("templates folder {} has no locale folders (e.g. ru-RU/ with {TEMPLATE_FILE} and {LOCALE_FILE})", .0.display())]
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
    #[error("{template}: {source}")]
    Compile {
        template: String,
        #[source]
        source: Arc<tera::Error>,
    },
    #[error("{template}: {source}")]
    Render {
        template: String,
        #[source]
        source: Arc<tera::Error>,
    },
    #[error("{source} (while rendering the built-in sample event \"{sample}\"{})", if *.phone { " with phone=" } else { "" })]
    Sample {
        sample: &'static str,
        phone: bool,
        #[source]
        source: Box<TemplateError>,
    },
    #[error("locale {0} is no longer available")]
    Unavailable(String),
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
            TemplateError::Compile { template, source }
            | TemplateError::Render { template, source } => {
                let file = Path::new(template)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| TEMPLATE_FILE.to_string());
                format!("template {file} of locale {locale}{}", tera_line(source))
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
            TemplateError::Unavailable(l) => format!("locale {l} is no longer available"),
        }
    }
}

/// `, line 7: Variable `x` not found`: where and what, without the source text around it.
fn tera_line(e: &tera::Error) -> String {
    match e.kind() {
        tera::ErrorKind::SyntaxError(report) | tera::ErrorKind::RenderingError(report) => {
            let what = report.message();
            let what = what.split(". Available variables").next().unwrap_or(what);
            format!(", line {}: {what}", report.span().start_line)
        }
        _ => ": it could not be rendered (the service log says why)".to_string(),
    }
}

/// One locale folder, compiled and checked against the sample events.
pub struct LocaleSet {
    tera: Tera,
    pub locale: Locale,
    name: String,
}

impl LocaleSet {
    /// Reads, compiles and checks `folder`.
    pub fn load(folder: &Path, links: &Links) -> Result<Self, TemplateError> {
        let locale_path = folder.join(LOCALE_FILE);
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| TemplateError::Read {
                path: path.to_path_buf(),
                source: Arc::new(e),
            })
        };
        let text = read(&locale_path)?;
        let locale: Locale = toml::from_str(&text).map_err(|e| TemplateError::LocaleFile {
            path: locale_path.clone(),
            source: Arc::new(e),
        })?;
        if let Some(problem) = locale.problems().into_iter().next() {
            return Err(TemplateError::LocaleValue {
                path: locale_path,
                problem,
            });
        }
        let template_path = folder.join(TEMPLATE_FILE);
        let source = read(&template_path)?;
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        let name = template_path.display().to_string();
        tera.add_raw_template(&name, &source)
            .map_err(|e| TemplateError::Compile {
                template: name.clone(),
                source: Arc::new(e),
            })?;
        let set = LocaleSet { tera, locale, name };
        set.check_samples(links)?;
        Ok(set)
    }

    /// Renders every sample event, in full and in the phone-only form.
    fn check_samples(&self, links: &Links) -> Result<(), TemplateError> {
        for (sample, event) in samples::events() {
            for phone in [false, true] {
                let opts = samples::options("", phone);
                let ctx = context::build(
                    &event,
                    &opts,
                    &self.locale,
                    links,
                    context::DEFAULT_MAX_LINES,
                );
                self.render(&ctx).map_err(|e| TemplateError::Sample {
                    sample,
                    phone,
                    source: Box::new(e),
                })?;
            }
        }
        Ok(())
    }

    pub fn render(&self, ctx: &MessageContext) -> Result<String, TemplateError> {
        let failed = |e| TemplateError::Render {
            template: self.name.clone(),
            source: Arc::new(e),
        };
        let context = tera::Context::from_serialize(ctx).map_err(failed)?;
        let text = self.tera.render(&self.name, &context).map_err(failed)?;
        Ok(tidy(&text))
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

type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// What is serving now.
#[derive(Default)]
struct Serving {
    locales: BTreeMap<String, Arc<LocaleSet>>,
    /// Locale → why its newest files are not in use (it serves an older version, or none).
    problems: BTreeMap<String, String>,
}

/// The live template store: serves the last good version of each locale and picks up edits on use.
pub struct Templates {
    dir: PathBuf,
    links: Links,
    check_interval: Duration,
    /// Booked items listed in a message at most (`render.max_resource_lines`).
    max_lines: usize,
    serving: RwLock<Arc<Serving>>,
    /// When the files were last looked at, and each locale folder's files as they were then.
    watch: Mutex<(Instant, BTreeMap<String, Fingerprint>)>,
}

impl Templates {
    /// Loads every locale folder of `dir`; at start any bad folder stops everything.
    pub fn load(
        dir: &Path,
        check_interval: Duration,
        links: &Links,
    ) -> Result<Self, TemplateError> {
        let folders = folders(dir)?;
        if folders.is_empty() {
            return Err(TemplateError::NoLocales(dir.to_path_buf()));
        }
        let mut serving = Serving::default();
        let mut prints = BTreeMap::new();
        for (name, folder) in folders {
            prints.insert(name.clone(), fingerprint(&folder));
            serving
                .locales
                .insert(name, Arc::new(LocaleSet::load(&folder, links)?));
        }
        Ok(Templates {
            dir: dir.to_path_buf(),
            links: links.clone(),
            check_interval,
            max_lines: context::DEFAULT_MAX_LINES,
            serving: RwLock::new(Arc::new(serving)),
            watch: Mutex::new((Instant::now(), prints)),
        })
    }

    /// Lists at most `max` booked items in a message (`render.max_resource_lines`).
    pub fn with_max_resource_lines(mut self, max: usize) -> Self {
        self.max_lines = max.max(1);
        self
    }

    fn current(&self) -> Arc<Serving> {
        self.reload_if_changed();
        self.serving.read().expect("template lock").clone()
    }

    /// The locales that can be used now, sorted.
    pub fn locale_names(&self) -> Vec<String> {
        self.current().locales.keys().cloned().collect()
    }

    pub fn locale(&self, name: &str) -> Option<Arc<LocaleSet>> {
        self.current().locales.get(name).cloned()
    }

    /// Why `locale` is not serving its newest files, if it is not.
    pub fn problem(&self, locale: &str) -> Option<String> {
        self.current().problems.get(locale).map(|why| {
            format!("the templates of {locale} were edited but refused, so an older version is in use: {why}")
        })
    }

    /// Every locale whose newest files are refused, and why.
    pub fn problems(&self) -> BTreeMap<String, String> {
        self.current().problems.clone()
    }

    pub fn render(&self, event: &CaseActionEvent, opts: &Options) -> Result<String, TemplateError> {
        let set = self
            .locale(&opts.locale)
            .ok_or_else(|| TemplateError::Unavailable(opts.locale.clone()))?;
        let ctx = context::build(event, opts, &set.locale, &self.links, self.max_lines);
        set.render(&ctx)
    }

    /// Reloads the locale folders whose files changed (looked at most once per `check_interval`).
    fn reload_if_changed(&self) {
        let mut watch = self.watch.lock().expect("template watch lock");
        if watch.0.elapsed() < self.check_interval {
            return;
        }
        watch.0 = Instant::now();
        let Ok(folders) = folders(&self.dir) else {
            return;
        };
        let prints: BTreeMap<String, Fingerprint> = folders
            .iter()
            .map(|(name, folder)| (name.clone(), fingerprint(folder)))
            .collect();
        if prints == watch.1 {
            return;
        }
        let old = self.serving.read().expect("template lock").clone();
        let mut next = Serving::default();
        for (name, folder) in &folders {
            let unchanged = watch.1.get(name) == prints.get(name);
            let previous = old.locales.get(name);
            if unchanged {
                if let Some(set) = previous {
                    next.locales.insert(name.clone(), set.clone());
                }
                if let Some(why) = old.problems.get(name) {
                    next.problems.insert(name.clone(), why.clone());
                }
                continue;
            }
            match LocaleSet::load(folder, &self.links) {
                Ok(set) => {
                    next.locales.insert(name.clone(), Arc::new(set));
                    metrics::counter!("hooks_template_reloads_total").increment(1);
                    tracing::info!(locale = %name, "templates reloaded");
                }
                Err(e) => {
                    metrics::counter!("hooks_template_reload_failures_total").increment(1);
                    let kept = previous.is_some();
                    tracing::error!(
                        locale = %name,
                        error = %e,
                        "edited templates refused; {}",
                        if kept { "the previous version stays in use" } else { "this locale is not available" }
                    );
                    if let Some(set) = previous {
                        next.locales.insert(name.clone(), set.clone());
                    }
                    // Shown to anyone (`/readyz`, check mode): no source text, no path.
                    next.problems.insert(name.clone(), e.public(name));
                }
            }
        }
        watch.1 = prints;
        *self.serving.write().expect("template lock") = Arc::new(next);
    }
}

/// The locale folders of `dir`, by name.
fn folders(dir: &Path) -> Result<Vec<(String, PathBuf)>, TemplateError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TemplateError::Folder {
        dir: dir.to_path_buf(),
        source: Arc::new(e),
    })?;
    let mut folders: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter_map(|p| Some((p.file_name()?.to_str()?.to_string(), p)))
        .collect();
    folders.sort();
    Ok(folders)
}

fn fingerprint(folder: &Path) -> Fingerprint {
    let mut files = Vec::new();
    for name in [TEMPLATE_FILE, LOCALE_FILE] {
        let path = folder.join(name);
        let meta = std::fs::metadata(&path).ok();
        let modified = meta.as_ref().and_then(|m| m.modified().ok());
        files.push((path, modified, meta.map(|m| m.len()).unwrap_or(0)));
    }
    files
}

#[cfg(test)]
mod tests {
    #[test]
    fn tidy_collapses_and_trims() {
        assert_eq!(super::tidy("\n\na  \n\n\n\nb\n \nc\n\n"), "a\n\nb\n\nc");
    }
}
