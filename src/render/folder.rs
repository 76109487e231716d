//! A locale folder on disk: `locale.toml` and its named templates `<name>.txt.tera`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::{Locale, TemplateError, LOCALE_FILE, TEMPLATE_SUFFIX};

/// The template a hook URL without `template=` uses.
pub const DEFAULT_TEMPLATE: &str = "message";
/// Longest template name.
pub const MAX_NAME_CHARS: usize = 40;
/// Templates one locale may have (files and console-made ones together).
pub const MAX_TEMPLATES: usize = 100;

/// A template name is 1 to 40 of `a-z`, `0-9`, `_` and `-`.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The file a template of `name` lives in.
pub fn file_name(name: &str) -> String {
    format!("{name}{TEMPLATE_SUFFIX}")
}

/// What a locale folder holds.
pub struct Folder {
    pub locale: Locale,
    /// Template name → source.
    pub templates: BTreeMap<String, String>,
}

/// Reads `folder`: its `locale.toml` (required, checked) and every `<name>.txt.tera` with a valid
/// name. Files with other names are left alone.
pub fn read(folder: &Path) -> Result<Folder, TemplateError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| TemplateError::Read {
            path: path.to_path_buf(),
            source: Arc::new(e),
        })
    };
    let locale_path = folder.join(LOCALE_FILE);
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
    let mut templates = BTreeMap::new();
    for (name, path) in template_files(folder)? {
        if templates.len() >= MAX_TEMPLATES {
            tracing::warn!(folder = %folder.display(), "more than {MAX_TEMPLATES} templates; the rest are not read");
            break;
        }
        templates.insert(name, read(&path)?);
    }
    Ok(Folder { locale, templates })
}

/// The `<name>.txt.tera` files of `folder` with a valid name, sorted.
fn template_files(folder: &Path) -> Result<Vec<(String, PathBuf)>, TemplateError> {
    let entries = std::fs::read_dir(folder).map_err(|e| TemplateError::Read {
        path: folder.to_path_buf(),
        source: Arc::new(e),
    })?;
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let file = p.file_name()?.to_str()?;
            let name = file.strip_suffix(TEMPLATE_SUFFIX)?;
            if !valid_name(name) {
                tracing::warn!(file = %p.display(), "not a template name (a-z, 0-9, _ and -, at most {MAX_NAME_CHARS}); the file is not used");
                return None;
            }
            Some((name.to_string(), p.clone()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The locale folders of `dir`, by name.
pub fn locales(dir: &Path) -> Result<Vec<(String, PathBuf)>, TemplateError> {
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

/// Every file of a folder with its time and size, to notice an edit.
pub type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

pub fn fingerprint(folder: &Path) -> Fingerprint {
    let mut files: Fingerprint = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let meta = e.metadata().ok()?;
                    Some((e.path(), meta.modified().ok(), meta.len()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        for ok in ["message", "staff", "a", "x_1-2", &"a".repeat(40)] {
            assert!(super::valid_name(ok), "{ok}");
        }
        for bad in ["", "Message", "../x", "a.b", "имя", &"a".repeat(41), "a b"] {
            assert!(!super::valid_name(bad), "{bad}");
        }
    }
}
