//! Unsaved edits kept per slot in `<patterns>/drafts/slot_NNN.json`, so switching slots or a
//! crash never loses them. Written like slot files (temp file, fsync, rename, fsync of the
//! folder), with the canonical slot writer, but without backups or locks: a draft is a
//! scratch copy only this process writes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::temp::TempFile;
use super::{SlotNumber, Store, StoreError, io_err, read_slot_file, slot_entries, sync_dir};
use crate::model::slot::{MAX_SLOT_BYTES, Slot};

impl Store {
    /// `<root>/drafts`.
    pub fn drafts_dir(&self) -> PathBuf {
        self.root().join("drafts")
    }

    /// The draft file of slot `n`: `<root>/drafts/slot_NNN.json`.
    pub fn draft_path(&self, n: SlotNumber) -> PathBuf {
        self.drafts_dir().join(n.file_name())
    }

    /// Writes slot `n`'s draft atomically (a crash leaves the old draft or the new one).
    pub fn write_draft(&self, n: SlotNumber, slot: &Slot) -> Result<PathBuf, StoreError> {
        let text = slot.to_json();
        if text.len() > MAX_SLOT_BYTES {
            return Err(StoreError::TooLarge {
                slot: n,
                size: text.len(),
            });
        }
        let dir = self.drafts_dir();
        fs::create_dir_all(&dir).map_err(io_err("create folder", &dir))?;
        let path = self.draft_path(n);
        let mut temp = TempFile::create(&dir, &format!(".{}.tmp-", n.file_name()))?;
        if let Err(e) = temp.write_synced(text.as_bytes()) {
            temp.discard();
            return Err(e);
        }
        if let Err(e) = temp.rename_to(&path) {
            temp.discard();
            return Err(io_err("rename the new draft to", &path)(e));
        }
        drop(temp);
        sync_dir(&dir)?;
        Ok(path)
    }

    /// Removes slot `n`'s draft; a missing draft is not an error.
    pub fn remove_draft(&self, n: SlotNumber) -> Result<(), StoreError> {
        let path = self.draft_path(n);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove draft", &path)(e)),
        }
    }

    /// Every draft on disk, by slot number: the ones that load, and the ones that do not
    /// (with the reason, for a warning). A missing folder gives nothing.
    pub fn drafts(&self) -> Result<Drafts, StoreError> {
        let mut out = Drafts::default();
        for (n, entry) in slot_entries(&self.drafts_dir())? {
            match read_slot_file(&entry.path()) {
                Ok(p) => out.loaded.push((n, p.slot)),
                Err(e) => out.unreadable.push((n, entry.path(), e.to_string())),
            }
        }
        out.loaded.sort_by_key(|(n, _)| *n);
        out.unreadable.sort_by_key(|(n, _, _)| *n);
        Ok(out)
    }
}

/// The drafts found on disk.
#[derive(Debug, Default)]
pub struct Drafts {
    /// Drafts that load.
    pub loaded: Vec<(SlotNumber, Slot)>,
    /// Drafts that do not load: slot, file, why.
    pub unreadable: Vec<(SlotNumber, PathBuf, String)>,
}

/// `drafts/slot_NNN.json`, as messages name a draft.
pub fn draft_label(n: SlotNumber) -> String {
    Path::new("drafts")
        .join(n.file_name())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_round_trips_byte_for_byte_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("chronus-drafts-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::new(&dir);
        let n = SlotNumber::new(7).unwrap();
        let mut song = Slot::default();
        song.metadata.name = "draft".into();
        let path = store.write_draft(n, &song).unwrap();
        assert_eq!(path, dir.join("drafts/slot_007.json"));
        assert_eq!(fs::read_to_string(&path).unwrap(), song.to_json());
        let found = store.drafts().unwrap();
        assert_eq!(found.loaded.len(), 1);
        assert_eq!(found.loaded[0].0, n);
        assert_eq!(found.loaded[0].1.metadata.name, "draft");
        let names: Vec<_> = fs::read_dir(store.drafts_dir()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left behind");
        store.remove_draft(n).unwrap();
        store.remove_draft(n).unwrap();
        assert!(store.drafts().unwrap().loaded.is_empty());
        let _ = fs::remove_dir_all(&dir);
    }
}
