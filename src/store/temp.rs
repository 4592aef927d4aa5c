//! Temp files of atomic writes (slots, drafts, copied backups), and cleaning up after writers
//! that died.
//!
//! A writer holds an advisory lock on its temp file for as long as the file exists under its
//! temp name; the lock goes with the process, however it ends. So a temp file that can be
//! locked belongs to nobody alive and can go, which tells a dead writer's leftovers from a
//! live writer's work without looking at process ids (no `/proc` needed).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{StoreError, io_err};
use crate::platform::{self, FileKind};

/// Where locks are not supported, a temp file older than this is taken for a dead writer's.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// Tries at a fresh temp name before giving up (each failure means another writer or a
/// cleaner got in between, which does not repeat for long).
const TEMP_ATTEMPTS: usize = 64;

/// Distinguishes temp files of concurrent writes within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// True for the names the store gives its temp files (`.slot_003.json.tmp-<pid>-<n>`,
/// `.slot_003.backup.tmp-<pid>-<n>`).
pub(super) fn is_store_temp(name: &str) -> bool {
    (name.starts_with(".slot_") || name.starts_with(".chain_") || name.starts_with(".user_"))
        && name.contains(".tmp-")
}

/// A temp file being written, locked while it lives under its temp name.
pub(super) struct TempFile {
    file: File,
    path: PathBuf,
}

impl TempFile {
    /// A new, empty, locked temp file in `dir`, named `<prefix><pid>-<n>`.
    pub(super) fn create(dir: &Path, prefix: &str) -> Result<TempFile, StoreError> {
        let mut last = io::Error::other("no temp name was free");
        for _ in 0..TEMP_ATTEMPTS {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{prefix}{}-{n}", std::process::id()));
            let file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    last = e;
                    continue;
                }
                Err(e) => return Err(io_err("create", &path)(e)),
            };
            match file.try_lock() {
                // Unsupported locks: the cleaner falls back to the file's age.
                Ok(()) | Err(fs::TryLockError::Error(_)) => {}
                // A cleaner holds it and is about to remove it.
                Err(fs::TryLockError::WouldBlock) => continue,
            }
            // A cleaner that locked it first has removed it by the time the lock was ours.
            if fs::symlink_metadata(&path).is_ok() {
                return Ok(TempFile { file, path });
            }
        }
        Err(io_err("create a temp file in", dir)(last))
    }

    /// Writes `bytes` and waits until they are on disk.
    pub(super) fn write_synced(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.file
            .write_all(bytes)
            .map_err(io_err("write", &self.path))?;
        self.sync()
    }

    /// Copies the regular file `from` into it, streamed, and waits until it is on disk.
    pub(super) fn copy_synced(&mut self, from: &Path) -> Result<(), StoreError> {
        let mut src = platform::open_for_reading(from).map_err(io_err("read", from))?;
        io::copy(&mut src, &mut self.file).map_err(io_err("copy", from))?;
        self.sync()
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_all().map_err(io_err("sync", &self.path))
    }

    /// Gives the file its final name (replacing what is there, atomically; on Windows
    /// retrying while another program briefly holds the file); the lock goes when it is
    /// dropped.
    pub(super) fn rename_to(&self, to: &Path) -> io::Result<()> {
        platform::replace_file(&self.path, to)
    }

    /// Removes the file's name but keeps it open (tests: a temp file lost before its rename).
    #[cfg(test)]
    pub(super) fn discard_name_only(&self) {
        let _ = fs::remove_file(&self.path);
    }

    /// Removes the file (a write that did not complete).
    pub(super) fn discard(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Removes the temp files in `dir` whose name `wanted` accepts and whose writer is gone;
/// returns how many went. Errors are not reported: a file left now goes next time.
pub(super) fn remove_stale(dir: &Path, wanted: impl Fn(&str) -> bool) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // The entry's own type (a link is not followed): only regular files are ours.
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if regular && is_store_temp(name) && wanted(name) {
            removed += usize::from(remove_if_stale(&entry.path()));
        }
    }
    removed
}

/// Removes `path` when no living writer holds it (its lock can be had), or, where locks are
/// not supported, when it is old. The lock is held across the removal, so a writer that
/// created the file a moment ago cannot take it in between and then lose it.
fn remove_if_stale(path: &Path) -> bool {
    let Ok(file) = platform::open_for_reading(path) else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    if FileKind::of(&meta.file_type()) != FileKind::Regular {
        return false;
    }
    let stale = match file.try_lock() {
        Ok(()) => true,
        Err(fs::TryLockError::WouldBlock) => false,
        Err(fs::TryLockError::Error(_)) => meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP_AGE),
    };
    let removed = stale && fs::remove_file(path).is_ok();
    drop(file);
    removed
}
