//! One locale's templates, compiled together (so `include` reaches them, and only them), checked
//! by the rules of [`guard`] and against every built-in sample event before use.

use std::collections::BTreeMap;
use std::sync::Arc;

use tera::Tera;

use super::budget::{self, Budget, CappedText};
use super::folder::file_name;
use super::guard::{self, Instrumented};
use super::{context, samples, tidy, Locale, MessageContext, TemplateError};
use crate::i18n::Text;
use crate::settings::Links;
use crate::t;

/// Where a template's serving text comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// `templates/<locale>/<name>.txt.tera`.
    File,
    /// Saved in the console: version (row id) and when (Unix ms).
    Console { version: i64, saved_at: i64 },
}

/// A template's text and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub text: Arc<str>,
    pub origin: Origin,
}

impl Source {
    pub fn file(text: &str) -> Self {
        Source {
            text: text.into(),
            origin: Origin::File,
        }
    }
}

/// A locale's words and its compiled templates.
pub struct LocaleSet {
    pub locale: Locale,
    tera: Tera,
    sources: BTreeMap<String, Source>,
    /// Name → the source as compiled (to map error positions back).
    instrumented: BTreeMap<String, Instrumented>,
    /// Which templates have shown they render cheaply ([`super::cost`]).
    pub costs: super::cost::Costs,
}

impl LocaleSet {
    /// Checks, compiles and renders every template of `sources` on every sample. The error names
    /// the template at fault.
    pub fn compile(
        locale: Locale,
        sources: BTreeMap<String, Source>,
        links: &Links,
    ) -> Result<Self, (String, TemplateError)> {
        let assigned = guard::assigned_names(sources.values().map(|s| &*s.text));
        for (name, source) in &sources {
            if let Some(breach) = guard::check(&source.text, &assigned) {
                let (line, column) = guard::line_column(&source.text, breach.offset);
                return Err((
                    name.clone(),
                    TemplateError::Template {
                        file: file_name(name),
                        line,
                        column,
                        what: breach.what,
                    },
                ));
            }
        }
        let instrumented: BTreeMap<String, Instrumented> = sources
            .iter()
            .map(|(name, s)| (name.clone(), Instrumented::new(&s.text)))
            .collect();
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        budget::register(&mut tera);
        let costs = super::cost::Costs::new(sources.keys());
        let mut set = LocaleSet {
            locale,
            tera,
            sources,
            instrumented,
            costs,
        };
        let files: Vec<(String, &str)> = set
            .instrumented
            .iter()
            .map(|(name, i)| (file_name(name), i.text.as_str()))
            .collect();
        if let Err(e) = set.tera.add_raw_templates(files) {
            let error = set.error(e);
            let name = match &error {
                TemplateError::Template { file, .. } => file
                    .strip_suffix(super::TEMPLATE_SUFFIX)
                    .unwrap_or(file)
                    .to_string(),
                _ => set.sources.keys().next().cloned().unwrap_or_default(),
            };
            return Err((name, error));
        }
        let events = samples::events();
        for name in set.sources.keys() {
            set.check_samples(name, &events, links)
                .map_err(|e| (name.clone(), e))?;
        }
        Ok(set)
    }

    /// Renders `name` on every sample event, in full and in the phone-only form.
    fn check_samples(
        &self,
        name: &str,
        events: &[(&'static str, crate::event::CaseActionEvent)],
        links: &Links,
    ) -> Result<(), TemplateError> {
        for (sample, event) in events {
            for phone in [false, true] {
                let mut opts = samples::options("", phone);
                opts.template = name.to_string();
                let ctx = context::build(
                    event,
                    &opts,
                    &self.locale,
                    links,
                    context::DEFAULT_MAX_LINES,
                );
                self.render(name, &ctx).map_err(|e| TemplateError::Sample {
                    sample: sample.to_string(),
                    phone,
                    source: Box::new(e),
                })?;
            }
        }
        Ok(())
    }

    /// The template names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }

    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.get(name)
    }

    pub fn sources(&self) -> &BTreeMap<String, Source> {
        &self.sources
    }

    /// Renders template `name` within the render budget.
    pub fn render(&self, name: &str, ctx: &MessageContext) -> Result<String, TemplateError> {
        let file = file_name(name);
        let context = ctx.to_tera();
        let mut text = CappedText::default();
        let (rendered, stopped) = {
            let budget = Budget::start();
            let rendered = self.tera.render_to(&file, &context, &mut text);
            (rendered, budget.stopped())
        };
        if text.overflowed {
            return Err(TemplateError::Template {
                file,
                line: 1,
                column: 1,
                what: t!(
                    "guard-output-too-long",
                    kib = budget::MAX_OUTPUT_BYTES / 1024
                ),
            });
        }
        rendered.map_err(|e| {
            let mut error = self.error(e);
            // The budget's own words, at the place Tera names.
            if let (Some(why), TemplateError::Template { what, .. }) = (stopped, &mut error) {
                *what = why;
            }
            error
        })?;
        Ok(tidy(&String::from_utf8_lossy(&text.bytes)))
    }

    /// A Tera error as the operator's file, line, column and reason.
    fn error(&self, e: tera::Error) -> TemplateError {
        let report = match e.kind() {
            tera::ErrorKind::SyntaxError(r) | tera::ErrorKind::RenderingError(r) => Some(r),
            _ => None,
        };
        let Some(report) = report else {
            let what = e.to_string();
            return TemplateError::Template {
                file: String::new(),
                line: 1,
                column: 1,
                what: Text::verbatim(what.lines().next().unwrap_or("")),
            };
        };
        let file = report.filename().to_string();
        let name = file.strip_suffix(super::TEMPLATE_SUFFIX).unwrap_or(&file);
        let what = report.message();
        // Tera's own words, as Tera wrote them.
        let what = Text::verbatim(what.split(". Available variables").next().unwrap_or(what));
        let (line, column) = match (self.sources.get(name), self.instrumented.get(name)) {
            (Some(source), Some(inst)) => {
                let offset = inst.original_offset(report.span().range.start);
                guard::line_column(&source.text, offset)
            }
            _ => (report.span().start_line, report.span().start_col + 1),
        };
        TemplateError::Template {
            file,
            line,
            column,
            what,
        }
    }
}
