//! Chains on disk: `chains/NAME.json`, saved the way slots are (a temp file written and
//! synced beside it, the previous version kept in `backups/` as `chain_<secs>_<seq>_NAME.backup`,
//! a rename over the file, the folder synced), listed and read bounded.
//!
//! Chain saves run on the disk thread, one at a time, so no lock file is needed between
//! saves of one Chronus; the temp files carry the writer's lock like every other store temp
//! file, so a crashed writer's leftovers are cleaned at the next start.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::read::{ReadError, ReadLimit, read_user_file};
use super::save::{next_backup_key, sync_folder};
use super::temp::{TempFile, remove_stale};
use super::{BACKUPS_PER_SLOT, BackupKey, Store, StoreError, io_err};
use crate::model::chain::{Chain, ChainError, MAX_CHAIN_BYTES, check_chain_name};

/// Chain files: at most [`MAX_CHAIN_BYTES`].
pub const CHAIN_FILE: ReadLimit = ReadLimit {
    what: "chain file",
    max_bytes: MAX_CHAIN_BYTES as u64,
};

/// What a chain save did.
#[derive(Debug, Clone)]
pub struct ChainSaved {
    /// The chain file.
    pub path: PathBuf,
    /// The backup of the previous version, when there was a different one.
    pub backup: Option<PathBuf>,
}

/// Why a chain could not be read or saved.
#[derive(Debug, thiserror::Error)]
pub enum ChainStoreError {
    /// The name cannot be a file name.
    #[error("{0}")]
    Name(ChainError),
    /// No chain of that name.
    #[error("no chain named {name:?} ({} does not exist)", path.display())]
    Missing {
        /// The name.
        name: String,
        /// Where its file would be.
        path: PathBuf,
    },
    /// The file does not read (not a file, too large, I/O).
    #[error("{0}")]
    Read(ReadError),
    /// The file does not load.
    #[error("{}: {error}", path.display())]
    Chain {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        error: ChainError,
    },
    /// The write failed (nothing changed).
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn temp_prefix(name: &str) -> String {
    format!(".chain_{name}.json.tmp-")
}

/// `chain_<secs>_<seq>_NAME.backup`: the key first, so a name holding `_` and digits never
/// reads as another chain's backup.
fn backup_name(name: &str, key: BackupKey) -> String {
    format!("chain_{}_{}_{name}.backup", key.secs, key.seq)
}

fn parse_backup_name(file: &str, name: &str) -> Option<BackupKey> {
    let rest = file.strip_prefix("chain_")?.strip_suffix(".backup")?;
    let (secs, rest) = rest.split_once('_')?;
    let (seq, rest) = rest.split_once('_')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if rest != name || !digits(secs) || !digits(seq) {
        return None;
    }
    Some(BackupKey {
        secs: secs.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

impl Store {
    /// `<root>/chains`.
    pub fn chains_dir(&self) -> PathBuf {
        self.root().join("chains")
    }

    /// The file of chain `name`: `<root>/chains/NAME.json` (the name is checked first).
    pub fn chain_path(&self, name: &str) -> Result<PathBuf, ChainStoreError> {
        check_chain_name(name).map_err(ChainStoreError::Name)?;
        Ok(self.chains_dir().join(format!("{name}.json")))
    }

    /// Reads chain `name`, bounded in size and time like a slot file.
    pub fn load_chain(&self, name: &str) -> Result<Chain, ChainStoreError> {
        let path = self.chain_path(name)?;
        let bytes = read_user_file(&path, CHAIN_FILE).map_err(|e| {
            if e.is_not_found() {
                ChainStoreError::Missing {
                    name: name.to_string(),
                    path: path.clone(),
                }
            } else {
                ChainStoreError::Read(e)
            }
        })?;
        Chain::from_json(&bytes, name).map_err(|error| ChainStoreError::Chain { path, error })
    }

    /// The names of the chains in `chains/` whose names are valid, sorted.
    pub fn chain_names(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.chains_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read directory", &dir)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(".json").map(str::to_string))
            .filter(|n| check_chain_name(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The backups of chain `name`, newest first.
    pub fn chain_backups(&self, name: &str) -> Result<Vec<PathBuf>, StoreError> {
        Ok(self
            .chain_backup_keys(name)?
            .into_iter()
            .rev()
            .map(|k| self.backups_dir().join(backup_name(name, k)))
            .collect())
    }

    fn chain_backup_keys(&self, name: &str) -> Result<Vec<BackupKey>, StoreError> {
        let dir = self.backups_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read directory", &dir)(e)),
        };
        let mut keys: Vec<BackupKey> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|f| parse_backup_name(&f, name))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Saves `chain` atomically to `chains/NAME.json`, keeping the previous version (when it
    /// differs) as a backup; the newest [`BACKUPS_PER_SLOT`] backups per chain are kept.
    pub fn save_chain(&self, chain: &Chain) -> Result<ChainSaved, ChainStoreError> {
        let path = self.chain_path(&chain.name)?;
        let text = chain.to_json();
        if text.len() > MAX_CHAIN_BYTES {
            return Err(ChainStoreError::Chain {
                path,
                error: ChainError::TooLarge {
                    size: text.len(),
                    max: MAX_CHAIN_BYTES,
                },
            });
        }
        let dir = self.chains_dir();
        for d in [&dir, &self.backups_dir()] {
            fs::create_dir_all(d).map_err(io_err("create directory", d))?;
        }
        let mut temp = TempFile::create(&dir, &temp_prefix(&chain.name))?;
        if let Err(e) = temp.write_synced(text.as_bytes()) {
            temp.discard();
            return Err(e.into());
        }
        let keys = self.chain_backup_keys(&chain.name)?;
        let backup = match self.keep_chain_backup(&chain.name, &path, &text, &keys) {
            Ok(b) => b,
            Err(e) => {
                temp.discard();
                return Err(e.into());
            }
        };
        if let Err(e) = temp.rename_to(&path) {
            temp.discard();
            if let Some(b) = &backup {
                let _ = fs::remove_file(b);
            }
            return Err(io_err("rename the new chain file to", &path)(e).into());
        }
        drop(temp);
        let excess = (keys.len() + usize::from(backup.is_some())).saturating_sub(BACKUPS_PER_SLOT);
        for key in keys.iter().take(excess) {
            let _ = fs::remove_file(self.backups_dir().join(backup_name(&chain.name, *key)));
        }
        remove_stale(&dir, |f| f.starts_with(&temp_prefix(&chain.name)));
        sync_folder(&dir).map_err(io_err("sync directory", &dir))?;
        Ok(ChainSaved { path, backup })
    }

    /// Copies the chain file now at `path` into `backups/` (synced) when it holds something
    /// other than `text`; nothing when there is no file.
    fn keep_chain_backup(
        &self,
        name: &str,
        path: &Path,
        text: &str,
        keys: &[BackupKey],
    ) -> Result<Option<PathBuf>, StoreError> {
        match read_user_file(path, CHAIN_FILE) {
            Ok(old) if old == text.as_bytes() => return Ok(None),
            Err(e) if e.is_not_found() => return Ok(None),
            // Too large or unreadable as a chain: still the user's, kept whole by the copy.
            _ => {}
        }
        let dir = self.backups_dir();
        let mut temp = TempFile::create(&dir, &format!(".chain_{name}.backup.tmp-"))?;
        if let Err(e) = temp.copy_synced(path) {
            temp.discard();
            return Err(e);
        }
        let mut key = next_backup_key(keys.last().copied());
        let mut backup = dir.join(backup_name(name, key));
        while fs::symlink_metadata(&backup).is_ok() {
            key.seq += 1;
            backup = dir.join(backup_name(name, key));
        }
        if let Err(e) = temp.rename_to(&backup) {
            temp.discard();
            return Err(io_err("rename the backup to", &backup)(e));
        }
        drop(temp);
        sync_folder(&dir).map_err(io_err("sync directory", &dir))?;
        Ok(Some(backup))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_the_name_check_accepts_saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        for (ch, n) in [("n", 64), ("é", 64), ("語", 64), ("😀", 64), ("😀", 48)] {
            let name = ch.repeat(n);
            let Ok(chain) = Chain::parse(&name, "[1 x2]", true) else {
                continue;
            };
            store
                .save_chain(&chain)
                .unwrap_or_else(|e| panic!("{ch}: {e}"));
            // Saved twice: the second keeps a backup, the longest name made from it.
            let mut again = chain.clone();
            again.looping = false;
            let saved = store.save_chain(&again).unwrap();
            assert!(saved.backup.is_some());
            assert_eq!(store.load_chain(&name).unwrap(), again);
        }
    }

    #[test]
    fn backup_names_read_back_for_names_with_underscores() {
        let k = BackupKey { secs: 17, seq: 2 };
        assert_eq!(parse_backup_name(&backup_name("a_1", k), "a_1"), Some(k));
        assert_eq!(parse_backup_name(&backup_name("a_1", k), "a"), None);
        assert_eq!(parse_backup_name(&backup_name("a", k), "a_1"), None);
    }
}
