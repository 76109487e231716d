//! The live templates: each locale's files, with the versions saved in the console on top, as
//! last found good. Edits are picked up on use (files, looked at once per `check_interval`) or
//! when the store reports new console versions ([`Templates::set_overrides`]).
//!
//! A template whose newest text is refused (it breaks a rule, does not compile or fails on a
//! sample) leaves its previous text serving, with the reason kept for `/readyz`, check mode,
//! previews and the console; the other templates are not held back by it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::folder::{self, Fingerprint};
use super::set::{LocaleSet, Origin, Source};
use super::{context, TemplateError};
use crate::event::CaseActionEvent;
use crate::i18n::Text;
use crate::params::{Catalogue, Options};
use crate::settings::Links;
use crate::t;

/// The newest console version of a template, as the store keeps it; `source: None` means the
/// console version was withdrawn (the file serves again, or the template is gone).
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub locale: String,
    pub name: String,
    pub version: i64,
    pub saved_at: i64,
    pub source: Option<Arc<str>>,
}

/// What is serving now.
#[derive(Default)]
pub struct Serving {
    pub locales: BTreeMap<String, Arc<LocaleSet>>,
    /// (locale, template or "" for the locale itself) → why its newest text is not in use.
    problems: BTreeMap<(String, String), Text>,
    /// Locale → its template names.
    pub catalogue: Catalogue,
}

impl Serving {
    /// Why template `name` of `locale` is not serving its newest text, if it is not (the
    /// locale's own file counts too).
    pub fn problem(&self, locale: &str, name: &str) -> Option<Text> {
        let serving = self;
        let locale_wide = serving.problems.get(&(locale.to_string(), String::new()));
        let own = serving
            .problems
            .get(&(locale.to_string(), name.to_string()));
        let served = serving
            .locales
            .get(locale)
            .and_then(|set| set.source(name))
            .map(|s| match &s.origin {
                Origin::File => t!("template-previous-text-in-use"),
                Origin::Console { version, .. } => {
                    t!("template-console-version-in-use", version = *version)
                }
            })
            .unwrap_or_else(|| t!("template-not-available"));
        match (locale_wide, own) {
            (Some(why), _) => Some(t!("template-locale-refused", locale = locale, why = why)),
            (None, Some(why)) => Some(t!(
                "template-newest-refused",
                name = name,
                locale = locale,
                served = served,
                why = why
            )),
            (None, None) => None,
        }
    }
}

/// The live template store.
pub struct Templates {
    dir: PathBuf,
    links: Links,
    check_interval: Duration,
    /// Booked items listed in a message at most (`render.max_resource_lines`).
    max_lines: usize,
    serving: RwLock<Arc<Serving>>,
    /// When the files were last looked at, and each locale folder's files as they were then.
    watch: Mutex<(Instant, BTreeMap<String, Fingerprint>)>,
    /// The console versions, newest per (locale, name).
    overrides: Mutex<Vec<Override>>,
}

impl Templates {
    /// Loads every locale folder of `dir`; at start any bad file stops everything.
    pub fn load(
        dir: &Path,
        check_interval: Duration,
        links: &Links,
    ) -> Result<Self, TemplateError> {
        let folders = folder::locales(dir)?;
        if folders.is_empty() {
            return Err(TemplateError::NoLocales(dir.to_path_buf()));
        }
        let mut serving = Serving::default();
        let mut prints = BTreeMap::new();
        for (name, path) in folders {
            prints.insert(name.clone(), folder::fingerprint(&path));
            let files = folder::read(&path)?;
            let sources = files
                .templates
                .iter()
                .map(|(n, text)| (n.clone(), Source::file(text)))
                .collect();
            let set = LocaleSet::compile(files.locale, sources, links)
                .map_err(|(_, e)| e.in_folder(&path))?;
            serving.locales.insert(name, Arc::new(set));
        }
        serving.catalogue = catalogue(&serving.locales);
        Ok(Templates {
            dir: dir.to_path_buf(),
            links: links.clone(),
            check_interval,
            max_lines: context::DEFAULT_MAX_LINES,
            serving: RwLock::new(Arc::new(serving)),
            watch: Mutex::new((Instant::now(), prints)),
            overrides: Mutex::new(Vec::new()),
        })
    }

    /// Lists at most `max` booked items in a message (`render.max_resource_lines`).
    pub fn with_max_resource_lines(mut self, max: usize) -> Self {
        self.max_lines = max.max(1);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn links(&self) -> &Links {
        &self.links
    }

    pub fn max_lines(&self) -> usize {
        self.max_lines
    }

    /// What serves now (after looking for edited files, at most once per `check_interval`).
    pub fn current(&self) -> Arc<Serving> {
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

    /// Why template `name` of `locale` is not serving its newest text, if it is not.
    pub fn problem(&self, locale: &str, name: &str) -> Option<Text> {
        self.current().problem(locale, name)
    }

    /// Every refused edit: `locale` or `locale/name` → why (in English: `/readyz` is for
    /// monitoring).
    pub fn problems(&self) -> BTreeMap<String, String> {
        self.current()
            .problems
            .iter()
            .map(|((locale, name), why)| {
                let key = if name.is_empty() {
                    locale.clone()
                } else {
                    format!("{locale}/{name}")
                };
                (key, why.to_string())
            })
            .collect()
    }

    /// The newest console versions (withdrawn ones included).
    pub fn overrides(&self) -> Vec<Override> {
        self.overrides.lock().expect("overrides lock").clone()
    }

    /// Renders the template of `opts` (`opts.template` of `opts.locale`): off the async workers
    /// ([`super::off_thread`]), or in place once it has shown it renders cheaply
    /// ([`super::cost`]).
    pub async fn render(
        &self,
        event: &CaseActionEvent,
        opts: &Options,
    ) -> Result<String, TemplateError> {
        let (set, ctx) = self.context(event, opts)?;
        let name = opts.template.clone();
        let timed = |set: &LocaleSet, name: &str, ctx: &super::MessageContext| {
            let started = super::cost::thread_cpu();
            let text = set.render(name, ctx);
            set.costs
                .note(name, super::cost::thread_cpu().saturating_sub(started));
            text
        };
        if set.costs.in_place(&name) {
            return timed(&set, &name, &ctx);
        }
        super::off_thread(move || timed(&set, &name, &ctx)).await
    }

    /// [`Templates::render`] on the calling thread (tools, benchmarks, fuzzing).
    pub fn render_here(
        &self,
        event: &CaseActionEvent,
        opts: &Options,
    ) -> Result<String, TemplateError> {
        let (set, ctx) = self.context(event, opts)?;
        set.render(&opts.template, &ctx)
    }

    /// The locale's templates and the event as they see it.
    fn context(
        &self,
        event: &CaseActionEvent,
        opts: &Options,
    ) -> Result<(Arc<LocaleSet>, super::MessageContext), TemplateError> {
        let set = self
            .locale(&opts.locale)
            .ok_or_else(|| TemplateError::Unavailable(opts.locale.clone()))?;
        if set.source(&opts.template).is_none() {
            return Err(TemplateError::NoTemplate {
                locale: opts.locale.clone(),
                name: opts.template.clone(),
            });
        }
        let ctx = context::build(event, opts, &set.locale, &self.links, self.max_lines);
        Ok((set, ctx))
    }

    /// The locale's templates with `name` set to `text` (removed when `None`), checked like a
    /// saved edit would be.
    pub fn candidate(
        &self,
        locale: &str,
        name: &str,
        text: Option<&str>,
    ) -> Result<LocaleSet, TemplateError> {
        let set = self
            .locale(locale)
            .ok_or_else(|| TemplateError::Unavailable(locale.to_string()))?;
        let mut sources = set.sources().clone();
        match text {
            Some(text) => sources.insert(name.to_string(), Source::file(text)),
            None => sources.remove(name),
        };
        LocaleSet::compile(set.locale.clone(), sources, &self.links).map_err(|(_, e)| e)
    }

    /// The text of `name` in the locale's folder, if it has such a file.
    pub fn file_source(&self, locale: &str, name: &str) -> Option<String> {
        if !folder::valid_name(name) || !self.current().locales.contains_key(locale) {
            return None;
        }
        std::fs::read_to_string(self.dir.join(locale).join(folder::file_name(name))).ok()
    }

    /// Takes the store's newest console versions; when they differ from the ones in use, every
    /// locale is assembled again.
    pub fn set_overrides(&self, overrides: Vec<Override>) {
        {
            let mut current = self.overrides.lock().expect("overrides lock");
            if *current == overrides {
                return;
            }
            *current = overrides;
        }
        self.rebuild(None);
    }

    /// Reloads the locale folders whose files changed (looked at most once per `check_interval`).
    fn reload_if_changed(&self) {
        let changed: BTreeSet<String> = {
            // Another request looking already is enough: never queue behind it.
            let Ok(mut watch) = self.watch.try_lock() else {
                return;
            };
            if watch.0.elapsed() < self.check_interval {
                return;
            }
            watch.0 = Instant::now();
            let Ok(folders) = folder::locales(&self.dir) else {
                return;
            };
            let prints: BTreeMap<String, Fingerprint> = folders
                .iter()
                .map(|(name, path)| (name.clone(), folder::fingerprint(path)))
                .collect();
            if prints == watch.1 {
                return;
            }
            let changed = prints
                .iter()
                .filter(|(name, print)| watch.1.get(*name) != Some(print))
                .map(|(name, _)| name.clone())
                .collect();
            watch.1 = prints;
            changed
        };
        self.rebuild(Some(&changed));
    }

    /// Assembles the locales of `only` (all when `None`) again from their files and overrides.
    fn rebuild(&self, only: Option<&BTreeSet<String>>) {
        let Ok(folders) = folder::locales(&self.dir) else {
            return;
        };
        let overrides = self.overrides();
        let mut serving = self.serving.write().expect("template lock");
        let old = serving.clone();
        let mut next = Serving::default();
        for (locale, path) in &folders {
            let previous = old.locales.get(locale);
            if only.is_some_and(|only| !only.contains(locale)) {
                if let Some(set) = previous {
                    next.locales.insert(locale.clone(), set.clone());
                }
                for ((l, n), why) in old.problems.range((locale.clone(), String::new())..) {
                    if l != locale {
                        break;
                    }
                    next.problems.insert((l.clone(), n.clone()), why.clone());
                }
                continue;
            }
            let mine: Vec<&Override> = overrides.iter().filter(|o| &o.locale == locale).collect();
            let (set, problems) = self.assemble(locale, path, &mine, previous);
            if let Some(set) = set {
                next.locales.insert(locale.clone(), set);
            }
            for (name, why) in problems {
                next.problems.insert((locale.clone(), name), why);
            }
        }
        next.catalogue = catalogue(&next.locales);
        *serving = Arc::new(next);
    }

    /// One locale's serving set, and (template or "" → why) for every newest text refused.
    fn assemble(
        &self,
        locale: &str,
        path: &Path,
        overrides: &[&Override],
        previous: Option<&Arc<LocaleSet>>,
    ) -> (Option<Arc<LocaleSet>>, BTreeMap<String, Text>) {
        let mut problems = BTreeMap::new();
        let keep = || previous.cloned();
        let files = match folder::read(path) {
            Ok(files) => files,
            Err(e) => {
                refused(locale, "", &e);
                problems.insert(String::new(), e.public(locale));
                return (keep(), problems);
            }
        };
        let mut wanted: BTreeMap<String, Source> = files
            .templates
            .iter()
            .map(|(n, text)| (n.clone(), Source::file(text)))
            .collect();
        for o in overrides {
            if let Some(text) = &o.source {
                wanted.insert(
                    o.name.clone(),
                    Source {
                        text: text.clone(),
                        origin: Origin::Console {
                            version: o.version,
                            saved_at: o.saved_at,
                        },
                    },
                );
            }
        }
        let all = LocaleSet::compile(files.locale.clone(), wanted.clone(), &self.links);
        let Err((first, _)) = all else {
            let set = all.ok().map(Arc::new);
            if set.is_some() && previous.map(|p| p.sources()) != set.as_ref().map(|s| s.sources()) {
                metrics::counter!("hooks_template_reloads_total").increment(1);
                tracing::info!(locale, "templates reloaded");
            }
            return (set, problems);
        };
        // Something is refused: start from what served before (for the names still wanted) and
        // take each newer text that does not break the set.
        let mut base: BTreeMap<String, Source> = previous
            .map(|p| {
                p.sources()
                    .iter()
                    .filter(|(n, _)| wanted.contains_key(*n))
                    .map(|(n, s)| (n.clone(), s.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if let Err((_, e)) = LocaleSet::compile(files.locale.clone(), base.clone(), &self.links) {
            refused(locale, &first, &e);
            problems.insert(String::new(), e.public(locale));
            return (keep(), problems);
        }
        for (name, source) in &wanted {
            if base.get(name).map(|s| &s.text) == Some(&source.text) {
                base.insert(name.clone(), source.clone());
                continue;
            }
            let mut candidate = base.clone();
            candidate.insert(name.clone(), source.clone());
            match LocaleSet::compile(files.locale.clone(), candidate.clone(), &self.links) {
                Ok(_) => base = candidate,
                Err((_, e)) => {
                    refused(locale, name, &e);
                    problems.insert(name.clone(), e.public(locale));
                }
            }
        }
        let set = LocaleSet::compile(files.locale, base, &self.links)
            .ok()
            .map(Arc::new)
            .or_else(keep);
        (set, problems)
    }
}

fn refused(locale: &str, name: &str, e: &TemplateError) {
    metrics::counter!("hooks_template_reload_failures_total").increment(1);
    tracing::error!(locale, template = name, error = %e, "edited template refused; the previous version stays in use");
}

fn catalogue(locales: &BTreeMap<String, Arc<LocaleSet>>) -> Catalogue {
    locales
        .iter()
        .map(|(l, set)| (l.clone(), set.names().map(str::to_string).collect()))
        .collect()
}
