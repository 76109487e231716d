//! What the open connections of a SQLite outbox cannot see: its file removed (a cleanup script, a
//! mistaken `rm data/*`), replaced by another file, or truncated. Open connections keep writing
//! to a removed file's inode, so every POST would be answered 202 into a file that is gone; this
//! looks at the path itself so that the service refuses new POSTs at once instead.
//!
//! Only `stat`: the file is never opened here. Closing any descriptor of a SQLite file drops
//! every POSIX lock the process holds on it, and another process (the CLI) would then take the
//! outbox for unused and remove its write-ahead log under the service.

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
};

use crate::store::StorageFault;

/// SQLite's file header: a smaller outbox file has lost it.
const HEADER: u64 = 100;

pub(super) struct FileWatch {
    path: PathBuf,
    /// The file the connections opened: (device, inode).
    opened: Mutex<(u64, u64)>,
    /// The largest size seen. SQLite never shrinks an outbox file (no auto-vacuum, no VACUUM):
    /// a smaller file was cut short by someone else.
    largest: AtomicU64,
    /// Once cut short, always: a checkpoint may grow the file back, but not its contents.
    truncated: AtomicBool,
}

impl FileWatch {
    /// Remembers which file `path` is now (after it was created and migrated).
    pub(super) fn new(path: &Path) -> std::io::Result<FileWatch> {
        let meta = std::fs::metadata(path)?;
        Ok(FileWatch {
            path: path.to_path_buf(),
            opened: Mutex::new((meta.dev(), meta.ino())),
            largest: AtomicU64::new(meta.len()),
            truncated: AtomicBool::new(false),
        })
    }

    /// The connections hold the file now at the path (it was written back there).
    pub(super) fn reopened(&self) -> std::io::Result<()> {
        let meta = std::fs::metadata(&self.path)?;
        *self.opened.lock().expect("file watch lock") = (meta.dev(), meta.ino());
        self.largest.store(meta.len(), Ordering::SeqCst);
        Ok(())
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// The file at the path is not the one the connections hold, or is cut short.
    pub(super) fn fault(&self) -> Option<StorageFault> {
        // The largest size seen *before* this look: a size another thread recorded while this
        // `stat` was under way may be larger than what this one saw, and is no sign of a cut.
        let seen_before = self.largest.load(Ordering::SeqCst);
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            // Its folder gone too, or something else put in the folder's place.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Some(StorageFault::Removed(self.shown()))
            }
            Err(e) => {
                return Some(StorageFault::WriteFailed(crate::i18n::Text::verbatim(
                    format!("{}: {e}", self.shown()),
                )))
            }
        };
        if (meta.dev(), meta.ino()) != *self.opened.lock().expect("file watch lock") {
            return Some(StorageFault::Replaced(self.shown()));
        }
        if self.truncated(seen_before, meta.len()) {
            return Some(StorageFault::Truncated(self.shown()));
        }
        None
    }

    /// Smaller than it was before this look (`seen_before`), or than a header: then and ever
    /// after. Comparing with the largest size seen *now* would take a look that raced with a
    /// growth for a cut (a 503 under load, found by the loadgen).
    fn truncated(&self, seen_before: u64, len: u64) -> bool {
        self.largest.fetch_max(len, Ordering::SeqCst);
        if len < seen_before || len < HEADER {
            self.truncated.store(true, Ordering::SeqCst);
        }
        self.truncated.load(Ordering::SeqCst)
    }

    /// Whether a checkpoint may write the database file: it is still the one opened and whole.
    /// (Removed is fine: the open file is still ours to write.)
    pub(super) fn may_write_file(&self) -> bool {
        !matches!(
            self.fault(),
            Some(StorageFault::Replaced(_) | StorageFault::Truncated(_))
        )
    }

    /// The room left on the file system of the outbox's folder.
    pub(super) fn free_bytes(&self) -> Option<u64> {
        let folder = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        rustix::fs::statvfs(&folder)
            .ok()
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_look_that_raced_with_a_growth_is_no_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.sqlite");
        let _store = crate::store::SqliteStore::open(&path, false).await.unwrap();
        let watch = FileWatch::new(&path).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        // This look began before the file grew; another look has recorded the growth since.
        let seen_before = watch.largest.load(Ordering::SeqCst);
        watch.largest.fetch_max(size * 4, Ordering::SeqCst);
        assert!(!watch.truncated(seen_before, size));
        assert!(!watch.truncated.load(Ordering::SeqCst));
        // A real cut (smaller than before the look) is still seen.
        assert!(watch.truncated(size * 4, size));
    }

    #[tokio::test]
    async fn removal_replacement_and_truncation_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.sqlite");
        let _store = crate::store::SqliteStore::open(&path, false).await.unwrap();
        let watch = FileWatch::new(&path).unwrap();
        assert_eq!(watch.fault(), None);
        assert!(watch.free_bytes().unwrap() > 0);

        let bytes = std::fs::read(&path).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(bytes.len() as u64 / 2)
            .unwrap();
        assert!(matches!(watch.fault(), Some(StorageFault::Truncated(_))));
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(watch.fault(), Some(StorageFault::Truncated(_))));

        std::fs::remove_file(&path).unwrap();
        assert!(matches!(watch.fault(), Some(StorageFault::Removed(_))));
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(watch.fault(), Some(StorageFault::Replaced(_))));
    }
}
