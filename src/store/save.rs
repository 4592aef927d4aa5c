//! Saving a slot: a temp file written and synced beside the slot, then, under the slot's
//! lock, the previous version kept as a backup and the temp file renamed over the slot.
//!
//! A save that fails before the rename changes nothing (its temp file and any backup it made
//! are removed); after the rename the save has happened, and what follows (pruning, syncing
//! the folder) can only be reported, never undo it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::read::{ReadError, SLOT_FILE, read_user_file};
use super::temp::{TempFile, remove_stale};
use super::{
    BACKUPS_PER_SLOT, BackupKey, SaveInfo, SlotNumber, Store, StoreError, backup_name,
    content_hash, io_err,
};
use crate::model::slot::{MAX_SLOT_BYTES, Slot, parse_slot_bytes};

/// What the slot file held before a save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Previous {
    /// Nothing (or a link to nothing): no backup is needed.
    Nothing,
    /// The same song, but for when it was saved: no backup, so saves that change nothing do
    /// not push older versions out of the history.
    Unchanged,
    /// Something else, kept as a backup: by a hard link to the file, or by a copy of the
    /// content when the slot is a symbolic link (whose target may change or go later).
    Changed { copy: bool },
}

/// `.slot_003.json.tmp-`: the start of slot 3's temp file names in `slots/`.
fn temp_prefix(n: SlotNumber) -> String {
    format!(".{}.tmp-", n.file_name())
}

/// True when `old` (the slot file's bytes) is exactly what saving `slot` writes, but for the
/// save's `timestamp`.
fn same_song(old: &[u8], slot: &Slot) -> bool {
    let Ok(parsed) = parse_slot_bytes(old, "") else {
        return false;
    };
    let mut probe = slot.clone();
    probe.timestamp = parsed.slot.timestamp;
    probe.to_json().as_bytes() == old
}

/// What is at `path` now, and how a save keeps it.
fn previous_version(n: SlotNumber, path: &Path, slot: &Slot) -> Result<Previous, StoreError> {
    let link = match fs::symlink_metadata(path) {
        Ok(m) => m.file_type().is_symlink(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Previous::Nothing),
        Err(e) => return Err(io_err("look at", path)(e)),
    };
    match read_user_file(path, SLOT_FILE) {
        Ok(bytes) if same_song(&bytes, slot) => Ok(Previous::Unchanged),
        Err(e) if e.is_not_found() => Ok(Previous::Nothing),
        // Not a slot file Chronus can read, but the user's: kept whole.
        Ok(_) | Err(ReadError::TooLarge { .. } | ReadError::Io { .. }) => {
            Ok(Previous::Changed { copy: link })
        }
        Err(error @ ReadError::NotAFile { .. }) => Err(StoreError::Occupied { slot: n, error }),
    }
}

/// The key of the next backup: now, or after the newest when the clock says otherwise (many
/// saves within a second, a clock that stepped back), so names stay in save order.
pub(super) fn next_backup_key(newest: Option<BackupKey>) -> BackupKey {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match newest {
        Some(last) if last.secs >= now => BackupKey {
            secs: last.secs,
            seq: last.seq + 1,
        },
        _ => BackupKey { secs: now, seq: 0 },
    }
}

pub(super) fn sync_folder(dir: &Path) -> io::Result<()> {
    crate::platform::sync_dir(dir)
}

impl Store {
    /// Saves `slot` as slot `n`, exactly as given (the caller sets `timestamp`), atomically,
    /// keeping the previous version as a backup unless it held the same song.
    pub fn save(&self, n: SlotNumber, slot: &Slot) -> Result<SaveInfo, StoreError> {
        self.save_waiting(n, slot, super::worker::LOCK_TIMEOUT, &mut || true)
    }

    /// [`Store::save`], waiting at most `timeout` for the slot's lock when another program
    /// holds it; `on_wait` is called at every failed try, and the wait ends (the save fails,
    /// nothing written) when it returns false.
    pub fn save_waiting(
        &self,
        n: SlotNumber,
        slot: &Slot,
        timeout: Duration,
        on_wait: &mut dyn FnMut() -> bool,
    ) -> Result<SaveInfo, StoreError> {
        let text = slot.to_json();
        if text.len() > MAX_SLOT_BYTES {
            return Err(StoreError::TooLarge {
                slot: n,
                size: text.len(),
            });
        }
        self.ensure_dirs()?;
        let path = self.slot_path(n);
        // Written and synced before taking the lock, so the lock is held only for the backup
        // and the rename.
        let mut temp = TempFile::create(&self.slots_dir(), &temp_prefix(n))?;
        if let Err(e) = temp.write_synced(text.as_bytes()) {
            temp.discard();
            return Err(e);
        }
        let lock = (timeout, on_wait);
        let (previous, backup) = self.replace_locked(n, slot, temp, &path, lock)?;
        Ok(SaveInfo {
            path,
            backup,
            unchanged: previous == Previous::Unchanged,
            bytes: text.len(),
            content_hash: content_hash(text.as_bytes()),
        })
    }

    /// Under the slot's lock: keep the old file as a backup, rename the temp file over it,
    /// then prune and sync.
    fn replace_locked(
        &self,
        n: SlotNumber,
        slot: &Slot,
        temp: TempFile,
        path: &Path,
        (timeout, on_wait): (Duration, &mut dyn FnMut() -> bool),
    ) -> Result<(Previous, Option<PathBuf>), StoreError> {
        let staged = match self.lock_slot(n, timeout, on_wait) {
            Ok(lock) => self.stage_backup(n, slot, path).map(|s| (lock, s)),
            Err(e) => Err(e),
        };
        let (lock, (previous, keys, backup)) = match staged {
            Ok(s) => s,
            Err(e) => {
                temp.discard();
                return Err(e);
            }
        };
        if let Err(e) = temp.rename_to(path) {
            temp.discard();
            if let Some(b) = &backup {
                let _ = fs::remove_file(b);
            }
            return Err(io_err("rename the new slot file to", path)(e));
        }
        drop(temp);
        // The slot holds the new version from here on: the save has happened.
        self.prune(n, &keys, backup.is_some());
        remove_stale(&self.slots_dir(), |name| name.starts_with(&temp_prefix(n)));
        drop(lock);
        sync_folder(&self.slots_dir()).map_err(|error| StoreError::NotSynced {
            slot: n,
            path: path.to_path_buf(),
            error,
        })?;
        Ok((previous, backup))
    }

    /// Opens and takes `slots/.slot_NNN.lock`, waiting at most `timeout` for another save
    /// of the slot (see [`Store::save_waiting`]).
    fn lock_slot(
        &self,
        n: SlotNumber,
        timeout: Duration,
        on_wait: &mut dyn FnMut() -> bool,
    ) -> Result<File, StoreError> {
        let lock_path = self.lock_path(n);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open lock file", &lock_path))?;
        super::worker::lock_waiting(&lock, timeout, on_wait).map_err(io_err("lock", &lock_path))?;
        Ok(lock)
    }

    /// Looks at the slot's current file and, when it holds another song, keeps it as a
    /// backup, on disk before the slot is replaced. Returns the backups there were before.
    fn stage_backup(
        &self,
        n: SlotNumber,
        slot: &Slot,
        path: &Path,
    ) -> Result<(Previous, Vec<BackupKey>, Option<PathBuf>), StoreError> {
        let keys = self.backup_keys(n)?;
        let previous = previous_version(n, path, slot)?;
        let Previous::Changed { copy } = previous else {
            return Ok((previous, keys, None));
        };
        let backup = self.make_backup(n, path, keys.last().copied(), copy)?;
        let dir = self.backups_dir();
        if let Err(e) = sync_folder(&dir) {
            let _ = fs::remove_file(&backup);
            return Err(io_err("sync directory", &dir)(e));
        }
        Ok((previous, keys, Some(backup)))
    }

    /// Keeps the current slot file as `backups/slot_NNN_<secs>[_seq].backup`: a hard link
    /// (the rename that follows gives the slot name a new inode, so the backup stays as is),
    /// or a copy of the content for a symbolic link or where hard links are not supported.
    fn make_backup(
        &self,
        n: SlotNumber,
        path: &Path,
        newest: Option<BackupKey>,
        copy: bool,
    ) -> Result<PathBuf, StoreError> {
        let mut key = next_backup_key(newest);
        if !copy {
            loop {
                let backup = self.backups_dir().join(backup_name(n, key));
                match fs::hard_link(path, &backup) {
                    Ok(()) => return Ok(backup),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => key.seq += 1,
                    // No hard links here: copy instead.
                    Err(_) => break,
                }
            }
        }
        self.copy_backup(n, path, key)
    }

    /// Copies what `path` holds into a temp file in `backups/`, then names it as the backup
    /// `key` (or the next free one), so a crash never leaves a partial backup.
    fn copy_backup(
        &self,
        n: SlotNumber,
        path: &Path,
        mut key: BackupKey,
    ) -> Result<PathBuf, StoreError> {
        let dir = self.backups_dir();
        let mut temp = TempFile::create(&dir, &format!(".slot_{:03}.backup.tmp-", n.get()))?;
        if let Err(e) = temp.copy_synced(path) {
            temp.discard();
            return Err(e);
        }
        // Under the slot's lock no other save names a backup of this slot, so a name found
        // free stays free until the rename.
        let mut backup = dir.join(backup_name(n, key));
        while fs::symlink_metadata(&backup).is_ok() {
            key.seq += 1;
            backup = dir.join(backup_name(n, key));
        }
        match temp.rename_to(&backup) {
            Ok(()) => Ok(backup),
            Err(e) => {
                temp.discard();
                Err(io_err("rename the backup to", &backup)(e))
            }
        }
    }

    /// Removes the oldest backups beyond [`BACKUPS_PER_SLOT`]: `keys` (read before the new
    /// backup, oldest first) plus the new one. A backup that cannot be removed now is removed
    /// by a later save; it never fails the save that already happened.
    fn prune(&self, n: SlotNumber, keys: &[BackupKey], made_backup: bool) {
        let total = keys.len() + usize::from(made_backup);
        let excess = total.saturating_sub(BACKUPS_PER_SLOT);
        for key in keys.iter().take(excess) {
            let _ = fs::remove_file(self.backups_dir().join(backup_name(n, *key)));
        }
    }

    /// Removes the temp files that writers which died mid-write (killed, power cut) left in
    /// `slots/`, `drafts/`, `chains/` and `backups/`; temp files of writers still running are
    /// kept. Returns how many went. Chronus calls it when it starts.
    pub fn remove_stale_temp_files(&self) -> usize {
        [
            self.slots_dir(),
            self.drafts_dir(),
            self.chains_dir(),
            self.backups_dir(),
        ]
        .iter()
        .map(|dir| remove_stale(dir, |_| true))
        .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_song_saved_again_differs_only_in_its_time_stamp() {
        let mut song = Slot::default();
        song.metadata.name = "same".into();
        song.timestamp = 1.5;
        let old = song.to_json();
        let mut again = song.clone();
        again.timestamp = 99.25;
        assert!(same_song(old.as_bytes(), &again));
        again.metadata.name = "other".into();
        assert!(!same_song(old.as_bytes(), &again));
        // The same song written by hand (other spacing) is kept: its text is the user's.
        let hand = old.replace("  ", "    ");
        assert!(!same_song(hand.as_bytes(), &song));
    }

    // The fault is injected by removing the temp file's name while it is open: on Windows
    // (and under wine) an open file removed keeps its name until closed, so the rename does
    // not fail there and this way of failing it does not exist.
    #[cfg(unix)]
    #[test]
    fn a_rename_that_fails_after_the_backup_leaves_no_backup_and_the_old_slot() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let n = SlotNumber::new(4).unwrap();
        let mut song = Slot::default();
        song.metadata.name = "v1".into();
        store.save(n, &song).unwrap();
        let before = fs::read(store.slot_path(n)).unwrap();
        // A temp file that vanished before its rename (the one step that cannot be staged).
        let temp = TempFile::create(&store.slots_dir(), &temp_prefix(n)).unwrap();
        temp.discard_name_only();
        song.metadata.name = "v2".into();
        let err = store
            .replace_locked(
                n,
                &song,
                temp,
                &store.slot_path(n),
                (Duration::from_secs(1), &mut || true),
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot rename the new slot file to"),
            "{err}"
        );
        assert_eq!(fs::read(store.slot_path(n)).unwrap(), before);
        assert!(store.backups(n).unwrap().is_empty(), "the backup went too");
        let left: Vec<_> = fs::read_dir(store.slots_dir())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
