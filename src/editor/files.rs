//! The templates as files, for operators who keep them in git: `templates check DIR` without the
//! service, and `templates export DIR` of the live versions.

use crate::app::App;
use crate::i18n::Text;
use crate::render::{folder, LocaleSet, TemplateError};

/// `templates check DIR`: every problem of every locale folder of `dir`, as
/// `path:line:column: what`; empty when every template renders every sample.
pub fn check_folder(dir: &std::path::Path, links: &crate::settings::Links) -> Vec<Text> {
    let locales = match folder::locales(dir) {
        Ok(l) if l.is_empty() => return vec![TemplateError::NoLocales(dir.to_path_buf()).text()],
        Ok(l) => l,
        Err(e) => return vec![e.text()],
    };
    let mut problems = Vec::new();
    for (_, path) in locales {
        let files = match folder::read(&path) {
            Ok(f) => f,
            Err(e) => {
                problems.push(e.text());
                continue;
            }
        };
        let mut sources: std::collections::BTreeMap<String, crate::render::Source> = files
            .templates
            .iter()
            .map(|(n, t)| (n.clone(), crate::render::Source::file(t)))
            .collect();
        // Each broken template is reported, then left out to look at the others.
        while !sources.is_empty() {
            match LocaleSet::compile(files.locale.clone(), sources.clone(), links) {
                Ok(_) => break,
                Err((name, e)) => {
                    problems.push(e.at_path(&path));
                    if sources.remove(&name).is_none() {
                        break;
                    }
                }
            }
        }
    }
    problems
}

impl App {
    /// `templates export DIR`: writes every locale's serving templates (console versions
    /// included) and its `locale.toml` under `dir`; returns the files written.
    pub fn export_templates(
        &self,
        dir: &std::path::Path,
    ) -> std::io::Result<Vec<std::path::PathBuf>> {
        let mut written = Vec::new();
        for (locale, set) in &self.templates.current().locales {
            let to = dir.join(locale);
            std::fs::create_dir_all(&to)?;
            let words = self
                .templates
                .dir()
                .join(locale)
                .join(crate::render::LOCALE_FILE);
            let target = to.join(crate::render::LOCALE_FILE);
            std::fs::copy(&words, &target)?;
            written.push(target);
            for (name, source) in set.sources() {
                let target = to.join(folder::file_name(name));
                std::fs::write(&target, source.text.as_bytes())?;
                written.push(target);
            }
        }
        Ok(written)
    }
}
