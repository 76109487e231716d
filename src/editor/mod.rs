//! What the template editor does, shared by the console's API and the CLI: list, show, try a
//! text on the samples, save, restore, withdraw; and keeping every instance on the newest
//! console versions ([`App::sync_templates`]).

use std::sync::Arc;

use serde::Serialize;

use crate::app::App;
use crate::event::CaseActionEvent;
use crate::i18n::{Lang, Text};
use crate::render::{
    context, folder, samples, LocaleSet, Origin, Override, Position, TemplateError,
};
use crate::store::{now_ms, StoreError, TemplateVersion};
use crate::t;

mod files;

pub use files::check_folder;

/// Versions of one template the editor shows, at most.
pub const MAX_HISTORY: i64 = 100;
/// Characters of a version's note.
pub const MAX_NOTE_CHARS: usize = 200;

/// Why an editor request was not done.
#[derive(Debug, thiserror::Error)]
pub enum EditorError {
    #[error("{}", self.text())]
    NotFound { locale: String, name: String },
    #[error("{}", self.text())]
    Invalid(Text),
    /// The text does not render: where and why.
    #[error("{}", self.text())]
    Refused(Vec<Position>),
    #[error("{}", self.text())]
    Store(#[from] StoreError),
}

impl EditorError {
    /// Why, in the reader's words.
    pub fn text(&self) -> Text {
        match self {
            EditorError::NotFound { locale, name } => {
                t!(
                    "editor-template-name-locale-locale",
                    name = name,
                    locale = locale
                )
            }
            EditorError::Invalid(why) => why.clone(),
            EditorError::Refused(positions) => t!(
                "editor-template-saved-why",
                why = Text::parts(positions.iter().map(|p| t!(
                    "editor-line-line-column-column-what",
                    line = p.line,
                    column = p.column,
                    what = &p.message
                )))
            ),
            EditorError::Store(e) => {
                t!(
                    "editor-template-store-could-used-error",
                    error = e.to_string()
                )
            }
        }
    }
}

/// Where a template error is, as the editor shows it: [`Position`] in the reader's language.
#[derive(Debug, Serialize)]
pub struct Mark {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub sample: Option<String>,
}

impl Mark {
    pub fn of(p: &Position, lang: Lang) -> Mark {
        Mark {
            file: p.file.clone(),
            line: p.line,
            column: p.column,
            message: p.message.render(lang),
            sample: p.sample.clone(),
        }
    }
}

/// One template in the list.
#[derive(Debug, Serialize)]
pub struct Listed {
    pub locale: String,
    pub name: String,
    /// What serves: the file, or a console version (with its time).
    pub serving: Origin,
    pub has_file: bool,
    /// Why its newest text is not the one serving, if it is not.
    pub problem: Option<String>,
}

/// One template in full, for the editor.
#[derive(Debug, Serialize)]
pub struct Shown {
    pub locale: String,
    pub name: String,
    pub serving: Origin,
    /// The text serving now.
    pub source: String,
    /// The shipped file's text, if there is a file.
    pub file: Option<String>,
    pub problem: Option<String>,
    pub history: Vec<TemplateVersion>,
    pub variables: Vec<String>,
}

/// A text tried on every sample (and on the operator's event).
#[derive(Debug, Serialize)]
pub struct Tried {
    pub ok: bool,
    pub errors: Vec<Mark>,
    pub previews: Vec<Preview>,
    pub variables: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Preview {
    pub sample: String,
    pub text: Option<String>,
    pub error: Option<String>,
}

impl App {
    /// Takes the newest console versions from the store when they changed (one cheap query when
    /// they did not).
    pub async fn sync_templates(&self) -> Result<(), StoreError> {
        let newest = self.store.newest_template_version().await?;
        if newest
            == self
                .templates_seen
                .load(std::sync::atomic::Ordering::Acquire)
        {
            return Ok(());
        }
        let versions = self.store.current_templates().await?;
        let overrides = versions
            .into_iter()
            .map(|v| Override {
                version: v.id,
                saved_at: v.saved_at,
                source: v.source.map(Arc::from),
                locale: v.locale,
                name: v.name,
            })
            .collect();
        // Each changed locale is compiled again, its samples rendered: off the async workers.
        let templates = self.templates.clone();
        crate::render::off_thread(move || templates.set_overrides(overrides)).await;
        self.templates_seen
            .store(newest, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Looks for console versions saved by any instance every `templates.check_interval`.
    pub async fn watch_templates(self: Arc<Self>) {
        let every = self
            .settings
            .templates
            .check_interval
            .max(std::time::Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = self.sync_templates().await {
                tracing::warn!(error = %e, "console template versions could not be read");
            }
        }
    }

    pub fn template_list(&self, lang: Lang) -> Vec<Listed> {
        listed(&self.templates, lang)
    }

    fn locale_set(&self, locale: &str) -> Result<Arc<LocaleSet>, EditorError> {
        self.templates
            .locale(locale)
            .ok_or_else(|| EditorError::Invalid(t!("editor-locale-locale", locale = locale)))
    }

    pub async fn template_show(
        &self,
        locale: &str,
        name: &str,
        lang: Lang,
    ) -> Result<Shown, EditorError> {
        let set = self.locale_set(locale)?;
        let file = self.templates.file_source(locale, name);
        let history = self
            .store
            .template_history(locale, name, MAX_HISTORY)
            .await?;
        let Some(source) = set.source(name) else {
            return Err(EditorError::NotFound {
                locale: locale.to_string(),
                name: name.to_string(),
            });
        };
        Ok(Shown {
            locale: locale.to_string(),
            name: name.to_string(),
            serving: source.origin.clone(),
            source: source.text.to_string(),
            file,
            problem: self.templates.problem(locale, name).map(|p| p.render(lang)),
            history,
            variables: variables(&set, self.templates.links()),
        })
    }

    /// Renders `text` as template `name` of `locale` on every sample and on `event`, without
    /// saving anything.
    pub fn template_try(
        &self,
        locale: &str,
        name: &str,
        text: &str,
        event: Option<&[u8]>,
        lang: Lang,
    ) -> Result<Tried, EditorError> {
        check_name(name)?;
        let base = self.locale_set(locale)?;
        let variables = variables(&base, self.templates.links());
        let set = match self.templates.candidate(locale, name, Some(text)) {
            Ok(set) => set,
            Err(e) => {
                return Ok(Tried {
                    ok: false,
                    errors: vec![Mark::of(&position(&e), lang)],
                    previews: Vec::new(),
                    variables,
                })
            }
        };
        let mut events: Vec<(String, Result<CaseActionEvent, Text>)> = samples::events()
            .into_iter()
            .map(|(n, e)| (n.to_string(), Ok(e)))
            .collect();
        if let Some(body) = event {
            events.push((
                t!("editor-your-event").render(lang),
                CaseActionEvent::parse(body).map_err(|e| e.text()),
            ));
        }
        let mut opts = samples::options(locale, false);
        opts.message = String::new();
        opts.sign_text = String::new();
        opts.template = name.to_string();
        opts.template_given = true;
        let previews = events
            .into_iter()
            .map(|(sample, event)| {
                let rendered = event.and_then(|event| {
                    let ctx = context::build(
                        &event,
                        &opts,
                        &set.locale,
                        self.templates.links(),
                        self.templates.max_lines(),
                    );
                    set.render(name, &ctx).map_err(|e| e.public(locale))
                });
                let (text, error) = match rendered {
                    Ok(t) => (Some(t), None),
                    Err(e) => (None, Some(e.render(lang))),
                };
                Preview {
                    sample,
                    text,
                    error,
                }
            })
            .collect();
        Ok(Tried {
            ok: true,
            errors: Vec::new(),
            previews,
            variables,
        })
    }

    /// The locale's templates with `name` set to `text`, compiled and rendered on every sample off
    /// the async workers.
    async fn candidate(
        &self,
        locale: &str,
        name: &str,
        text: Option<&str>,
    ) -> Result<crate::render::LocaleSet, crate::render::TemplateError> {
        let templates = self.templates.clone();
        let (locale, name, text) = (
            locale.to_string(),
            name.to_string(),
            text.map(str::to_string),
        );
        crate::render::off_thread(move || templates.candidate(&locale, &name, text.as_deref()))
            .await
    }

    /// Saves `text` as the console version of `name` (a new template when there is none), once it
    /// renders every sample.
    pub async fn template_save(
        &self,
        locale: &str,
        name: &str,
        text: &str,
        note: &str,
    ) -> Result<i64, EditorError> {
        check_name(name)?;
        let note = check_note(note)?;
        let set = self.locale_set(locale)?;
        if set.source(name).is_none() && set.sources().len() >= folder::MAX_TEMPLATES {
            return Err(EditorError::Invalid(t!(
                "editor-locale-locale-already-has-count",
                locale = locale,
                count = folder::MAX_TEMPLATES
            )));
        }
        self.candidate(locale, name, Some(text))
            .await
            .map_err(|e| EditorError::Refused(vec![position(&e)]))?;
        let id = self
            .store
            .save_template(locale, name, Some(text), note, now_ms())
            .await?;
        tracing::info!(
            locale,
            template = name,
            version = id,
            "template saved in the console"
        );
        self.sync_templates().await?;
        Ok(id)
    }

    /// Saves an older version again as the newest.
    pub async fn template_restore(
        &self,
        locale: &str,
        name: &str,
        version: i64,
    ) -> Result<i64, EditorError> {
        let history = self.store.template_history(locale, name, i64::MAX).await?;
        let Some(old) = history.into_iter().find(|v| v.id == version) else {
            return Err(EditorError::Invalid(t!(
                "editor-template-name-locale-has-version",
                name = name,
                locale = locale,
                version = version
            )));
        };
        let note =
            t!("editor-restored-version", version = version).render(self.settings.server.language);
        match old.source {
            Some(text) => self.template_save(locale, name, &text, &note).await,
            None => self.template_withdraw(locale, name, &note).await,
        }
    }

    /// Withdraws the console version: the file serves again, or a template made in the console
    /// is deleted. Refused when another template includes one that would be gone.
    pub async fn template_withdraw(
        &self,
        locale: &str,
        name: &str,
        note: &str,
    ) -> Result<i64, EditorError> {
        let set = self.locale_set(locale)?;
        let not_found = || EditorError::NotFound {
            locale: locale.to_string(),
            name: name.to_string(),
        };
        let source = set.source(name).ok_or_else(not_found)?;
        if source.origin == Origin::File {
            return Err(EditorError::Invalid(t!(
                "editor-template-name-locale-has-console",
                name = name,
                locale = locale
            )));
        }
        let file = self.templates.file_source(locale, name);
        self.candidate(locale, name, file.as_deref())
            .await
            .map_err(|e| EditorError::Refused(vec![position(&e)]))?;
        let id = self
            .store
            .save_template(locale, name, None, check_note(note)?, now_ms())
            .await?;
        tracing::info!(
            locale,
            template = name,
            version = id,
            "console template version withdrawn"
        );
        self.sync_templates().await?;
        Ok(id)
    }
}

fn check_name(name: &str) -> Result<(), EditorError> {
    if folder::valid_name(name) {
        Ok(())
    } else {
        Err(EditorError::Invalid(t!(
            "editor-template-name-1-max-z",
            max = folder::MAX_NAME_CHARS,
            name = crate::params::quote(name)
        )))
    }
}

fn check_note(note: &str) -> Result<&str, EditorError> {
    let note = note.trim();
    if note.is_empty() || note.contains('\n') || note.chars().count() > MAX_NOTE_CHARS {
        return Err(EditorError::Invalid(t!(
            "editor-write-one-line-note-1",
            max = MAX_NOTE_CHARS
        )));
    }
    Ok(note)
}

fn position(e: &TemplateError) -> Position {
    e.position().unwrap_or_else(|| Position {
        file: String::new(),
        line: 1,
        column: 1,
        message: e.text(),
        sample: None,
    })
}

/// The variables a template may use, as `name` or `list[].field`.
fn variables(set: &LocaleSet, links: &crate::settings::Links) -> Vec<String> {
    let (_, event) = samples::events().remove(1);
    let ctx = context::build(
        &event,
        &samples::options("", false),
        &set.locale,
        links,
        context::DEFAULT_MAX_LINES,
    );
    let mut out = Vec::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&ctx) {
        for (key, value) in map {
            match value.as_array().and_then(|a| a.first()) {
                Some(serde_json::Value::Object(item)) => {
                    out.extend(item.keys().map(|k| format!("{key}[].{k}")))
                }
                _ => out.push(key),
            }
        }
    }
    out
}

/// Every template of every locale, as `templates` serves them.
fn listed(templates: &crate::render::Templates, lang: Lang) -> Vec<Listed> {
    let serving = templates.current();
    let mut out = Vec::new();
    for (locale, set) in &serving.locales {
        for (name, source) in set.sources() {
            out.push(Listed {
                locale: locale.clone(),
                name: name.clone(),
                serving: source.origin.clone(),
                has_file: templates.file_source(locale, name).is_some(),
                problem: serving.problem(locale, name).map(|p| p.render(lang)),
            });
        }
    }
    out
}

/// `templates list` before the service ever ran (no outbox, so no console versions): the files
/// of `settings.templates.dir`.
pub fn file_list(settings: &crate::Settings, lang: Lang) -> Result<Vec<Listed>, Text> {
    let templates = crate::render::Templates::load(
        &settings.templates.dir,
        settings.templates.check_interval,
        &settings.links,
    )
    .map_err(|e| e.text())?;
    Ok(listed(&templates, lang))
}
