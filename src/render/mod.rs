//! Rendering: operator-editable Tera templates per locale, reloaded when their files change.

pub mod context;
pub mod locale;

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

/// A template set that cannot be used; the message names the file (and line, for templates).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// One consistent set of compiled templates and locale files.
pub struct TemplateSet {
    tera: Tera,
    locales: BTreeMap<String, Locale>,
}

impl TemplateSet {
    /// Reads every locale folder of `dir`; any bad file refuses the whole set.
    pub fn load(dir: &Path) -> Result<Self, TemplateError> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| TemplateError(format!("templates folder {}: {e}", dir.display())))?;
        let mut folders: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        folders.sort();
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        let mut locales = BTreeMap::new();
        let mut sources = Vec::new();
        for folder in folders {
            let name = folder
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let locale_path = folder.join(LOCALE_FILE);
            let text = std::fs::read_to_string(&locale_path)
                .map_err(|e| TemplateError(format!("{}: {e}", locale_path.display())))?;
            let locale: Locale = toml::from_str(&text)
                .map_err(|e| TemplateError(format!("{}: {e}", locale_path.display())))?;
            if let Some(problem) = locale.problems().into_iter().next() {
                return Err(TemplateError(format!(
                    "{}: {problem}",
                    locale_path.display()
                )));
            }
            let template_path = folder.join(TEMPLATE_FILE);
            let source = std::fs::read_to_string(&template_path)
                .map_err(|e| TemplateError(format!("{}: {e}", template_path.display())))?;
            sources.push((format!("{name}/{TEMPLATE_FILE}"), source));
            locales.insert(name, locale);
        }
        if locales.is_empty() {
            return Err(TemplateError(format!(
                "templates folder {} has no locale folders (e.g. ru-RU/ with {TEMPLATE_FILE} and {LOCALE_FILE})",
                dir.display()
            )));
        }
        tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))
            .map_err(|e| TemplateError(format!("template in {}: {e}", dir.display())))?;
        Ok(TemplateSet { tera, locales })
    }

    pub fn locale_names(&self) -> Vec<String> {
        self.locales.keys().cloned().collect()
    }

    pub fn locale(&self, name: &str) -> Option<&Locale> {
        self.locales.get(name)
    }

    pub fn render(&self, locale: &str, ctx: &MessageContext) -> Result<String, TemplateError> {
        let context =
            tera::Context::from_serialize(ctx).map_err(|e| TemplateError(e.to_string()))?;
        let text = self
            .tera
            .render(&format!("{locale}/{TEMPLATE_FILE}"), &context)
            .map_err(|e| TemplateError(format!("rendering {locale}/{TEMPLATE_FILE}: {e}")))?;
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

/// The live template store: serves the last good set and picks up edits on use.
pub struct Templates {
    dir: PathBuf,
    check_interval: Duration,
    current: RwLock<Arc<TemplateSet>>,
    watch: Mutex<(Instant, Fingerprint)>,
}

impl Templates {
    pub fn load(dir: &Path, check_interval: Duration) -> Result<Self, TemplateError> {
        let fingerprint = fingerprint(dir);
        let set = TemplateSet::load(dir)?;
        Ok(Templates {
            dir: dir.to_path_buf(),
            check_interval,
            current: RwLock::new(Arc::new(set)),
            watch: Mutex::new((Instant::now(), fingerprint)),
        })
    }

    /// The set to use now; reloads first when files changed (at most once per `check_interval`).
    pub fn current(&self) -> Arc<TemplateSet> {
        self.reload_if_changed();
        self.current.read().expect("template lock").clone()
    }

    pub fn render(
        &self,
        event: &CaseActionEvent,
        opts: &Options,
        links: &Links,
    ) -> Result<String, TemplateError> {
        let set = self.current();
        let locale = set.locale(&opts.locale).ok_or_else(|| {
            TemplateError(format!("locale {} is no longer available", opts.locale))
        })?;
        let ctx = context::build(event, opts, locale, links);
        set.render(&opts.locale, &ctx)
    }

    fn reload_if_changed(&self) {
        let mut watch = self.watch.lock().expect("template watch lock");
        if watch.0.elapsed() < self.check_interval {
            return;
        }
        watch.0 = Instant::now();
        let now = fingerprint(&self.dir);
        if now == watch.1 {
            return;
        }
        watch.1 = now;
        match TemplateSet::load(&self.dir) {
            Ok(set) => {
                *self.current.write().expect("template lock") = Arc::new(set);
                metrics::counter!("hooks_template_reloads_total").increment(1);
                tracing::info!(dir = %self.dir.display(), "templates reloaded");
            }
            Err(e) => {
                metrics::counter!("hooks_template_reload_failures_total").increment(1);
                tracing::error!(error = %e, "edited templates refused; the previous set stays in use");
            }
        }
    }
}

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for folder in entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
    {
        for name in [TEMPLATE_FILE, LOCALE_FILE] {
            let path = folder.join(name);
            let meta = std::fs::metadata(&path).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            files.push((path, modified, meta.map(|m| m.len()).unwrap_or(0)));
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    #[test]
    fn tidy_collapses_and_trims() {
        assert_eq!(super::tidy("\n\na  \n\n\n\nb\n \nc\n\n"), "a\n\nb\n\nc");
    }
}
