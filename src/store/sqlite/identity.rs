//! Which outbox a SQLite file is. Each outbox has an id, kept inside it (`service_keys`) and in a
//! marker file beside it (`.<file>.id`, which `rm hooks.sqlite*` does not match). A start that
//! finds the marker but no outbox with that id (the file missing, empty, cut short, not a
//! database, or another one) refuses, saying what happened and how to go on: the deliveries
//! accepted into the lost file would otherwise vanish without a word, and the service would go on
//! with an empty outbox as if nothing had happened (docs/en/delivery.md, "The outbox file").
//! `torrow-hooks new-outbox` starts a new one on purpose.

use std::path::{Path, PathBuf};

use sqlx::SqlitePool;

use crate::i18n::Text;
use crate::store::{Shared, StoreError, StoreResult};
use crate::t;

/// The name of the outbox's id in `service_keys`.
const KEY: &str = "outbox-id";
/// SQLite's file header and its first bytes.
const HEADER: usize = 100;
const MAGIC: &[u8] = b"SQLite format 3\0";

/// The marker beside `path`: `data/.hooks.sqlite.id`.
pub(super) fn marker(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.id"))
}

/// The id the marker holds, when there is one.
fn marked(path: &Path) -> Option<String> {
    std::fs::read_to_string(marker(path))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// What is wrong with the file at `path` as an outbox, looked at before it is opened: missing,
/// empty, shorter than its header says, or not SQLite.
fn damage(path: &Path) -> Option<Text> {
    let bytes = match std::fs::read(path).map(|mut b| {
        b.truncate(HEADER);
        b
    }) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(t!("outbox-missing")),
        Err(e) => return Some(Text::verbatim(e.to_string())),
    };
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Some(t!("outbox-empty"));
    }
    if bytes.len() < HEADER {
        return Some(t!("outbox-cut-short"));
    }
    if !bytes.starts_with(MAGIC) {
        return Some(t!("outbox-not-sqlite"));
    }
    let page_size = match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([
        bytes[28], bytes[29], bytes[30], bytes[31],
    ]));
    // The page count is valid only when written by the same change as the counter (SQLite's
    // file format, "in-header database size").
    let valid = bytes[24..28] == bytes[92..96];
    (valid && pages * page_size > len).then(|| t!("outbox-cut-short"))
}

/// Before the file is opened (and made, when missing): where the marker says an outbox was, the
/// file must still be a whole database. Nothing to check on a first start.
pub(super) fn check_before_open(path: &Path) -> StoreResult<()> {
    let Some(id) = marked(path) else {
        return Ok(());
    };
    match damage(path) {
        None => Ok(()),
        Some(what) => Err(lost(path, &id, what)),
    }
}

/// After the file is opened and migrated: its id (made on its first start) is the marker's, and
/// the marker says so from now on.
pub(super) async fn settle(pool: &SqlitePool, path: &Path) -> StoreResult<()> {
    let fresh = uuid::Uuid::new_v4().to_string();
    let id = Shared(pool).shared_key(KEY, &fresh).await?;
    match marked(path) {
        Some(marked) if marked == id => return Ok(()),
        Some(marked) => return Err(lost(path, &marked, t!("outbox-another"))),
        None => {}
    }
    if let Err(e) = write_marker(path, &id) {
        // The CLI run by another user, say: the service itself writes it at its next start.
        tracing::warn!(marker = %marker(path).display(), error = %e, "cannot write the outbox's marker");
    }
    Ok(())
}

fn write_marker(path: &Path, id: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(marker(path))?;
    file.write_all(id.as_bytes())?;
    file.sync_all()
}

fn lost(path: &Path, id: &str, what: Text) -> StoreError {
    StoreError::Lost(t!(
        "outbox-lost",
        path = path.display().to_string(),
        what = what,
        id = id
    ))
}

/// What `torrow-hooks new-outbox` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewOutbox {
    /// The outbox at the path is whole: nothing to do.
    Whole,
    /// The marker was forgotten; a damaged file was kept under this name, if there was one.
    Forgotten { kept: Option<PathBuf> },
}

/// Lets the next start make a new, empty outbox where one was lost: the marker is forgotten and
/// a damaged file (with its log) is moved aside, kept for whoever wants to look at it.
pub fn start_new(path: &Path) -> std::io::Result<NewOutbox> {
    if marked(path).is_none() || damage(path).is_none() && !is_other(path) {
        return Ok(NewOutbox::Whole);
    }
    let mut kept = None;
    if path.exists() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let aside = PathBuf::from(format!("{}.lost-{stamp}", path.display()));
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", path.display()));
            if from.exists() {
                std::fs::rename(&from, format!("{}{suffix}", aside.display()))?;
            }
        }
        kept = Some(aside);
    }
    std::fs::remove_file(marker(path))?;
    Ok(NewOutbox::Forgotten { kept })
}

/// A whole database whose id is not the marker's (read without opening it for writing).
fn is_other(path: &Path) -> bool {
    let Some(id) = marked(path) else {
        return false;
    };
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return true;
    };
    let inside: Option<String> = conn
        .query_row(
            "SELECT value FROM service_keys WHERE name = ?1",
            [KEY],
            |row| row.get(0),
        )
        .ok();
    inside.as_deref() != Some(id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_shorter_than_its_header_says_is_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.sqlite");
        assert!(damage(&path).is_some(), "missing");
        std::fs::write(&path, b"").unwrap();
        assert!(damage(&path).is_some(), "empty");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (zeroblob(20000));")
            .unwrap();
        drop(conn);
        assert_eq!(damage(&path), None);
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        assert!(damage(&path).is_some(), "cut in half");
        assert_eq!(marker(&path), dir.path().join(".o.sqlite.id"));
    }
}
