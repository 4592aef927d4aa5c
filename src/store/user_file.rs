//! Rewriting a file of the user's settings that Chronus itself edits (`midi.toml`, when MIDI
//! learn adds a rule): the way slots are saved — a temp file written and synced beside it, the
//! previous version kept as `NAME.backup` beside it, a rename over the file, the folder synced —
//! so a crash leaves the old file or the new one, never half of one. Something that is not a
//! regular file under the name (a FIFO, a device, a folder) is refused and left alone; a
//! symbolic link keeps pointing where it did and the file it points to gets the new text.

use std::fs;
use std::path::{Path, PathBuf};

use super::read::{ReadError, ReadLimit, read_user_file};
use super::save::sync_folder;
use super::temp::{TempFile, remove_stale};
use super::{StoreError, io_err};
use crate::platform::FileKind;

/// Why a settings file could not be rewritten (nothing changed on disk).
#[derive(Debug, thiserror::Error)]
pub enum UserFileError {
    /// Something other than a regular file is there, or it cannot be read.
    #[error("{0}; it was left as it is")]
    Occupied(ReadError),
    /// The write itself failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What a rewrite did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFileSaved {
    /// The file written (a link's target).
    pub path: PathBuf,
    /// Where the previous version went, when there was one that differed.
    pub backup: Option<PathBuf>,
}

/// The backup of `path`: `NAME.backup` beside it.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".backup");
    path.with_file_name(name)
}

/// Replaces the file at `path` with `text` atomically, keeping the previous version as
/// `NAME.backup` beside it (when there was one and it differs). The old file is read through
/// [`read_user_file`] with `limit`, so a special file or an oversized one is refused.
pub fn replace_user_file(
    path: &Path,
    text: &str,
    limit: ReadLimit,
) -> Result<UserFileSaved, UserFileError> {
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(io_err("follow the link", path))?
        }
        _ => path.to_path_buf(),
    };
    let old = match read_user_file(&target, limit) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(UserFileError::Occupied(e)),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".user_{name}.tmp-");
    let mut temp = TempFile::create(&dir, &prefix)?;
    if let Err(e) = temp.write_synced(text.as_bytes()) {
        temp.discard();
        return Err(e.into());
    }
    let backup = match old {
        Some(old) if old != text.as_bytes() => {
            let to = backup_path(&target);
            if let Err(e) = keep_backup(&dir, &name, &target, &to) {
                temp.discard();
                return Err(e.into());
            }
            Some(to)
        }
        _ => None,
    };
    if let Err(e) = temp.rename_to(&target) {
        temp.discard();
        return Err(io_err("rename the new file to", &target)(e).into());
    }
    drop(temp);
    remove_stale(&dir, |f| f.starts_with(&format!(".user_{name}.")));
    sync_folder(&dir).map_err(io_err("sync directory", &dir))?;
    Ok(UserFileSaved {
        path: target,
        backup,
    })
}

/// Copies `from` (synced) to `to`, replacing an older backup atomically; a non-file at `to` is
/// refused.
fn keep_backup(dir: &Path, name: &str, from: &Path, to: &Path) -> Result<(), StoreError> {
    if let Ok(kind) = super::file_kind(to)
        && kind != FileKind::Regular
    {
        return Err(io_err("keep a backup at", to)(std::io::Error::other(
            format!("{kind} is there"),
        )));
    }
    let mut temp = TempFile::create(dir, &format!(".user_{name}.backup.tmp-"))?;
    if let Err(e) = temp.copy_synced(from) {
        temp.discard();
        return Err(e);
    }
    if let Err(e) = temp.rename_to(to) {
        temp.discard();
        return Err(io_err("rename the backup to", to)(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: ReadLimit = ReadLimit {
        what: "test file",
        max_bytes: 1024,
    };

    #[test]
    fn a_rewrite_keeps_the_previous_version_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("midi.toml");
        let saved = replace_user_file(&path, "a = 1\n", LIMIT).unwrap();
        assert_eq!(saved.backup, None, "nothing to keep the first time");
        assert_eq!(fs::read_to_string(&path).unwrap(), "a = 1\n");
        let saved = replace_user_file(&path, "a = 2\n", LIMIT).unwrap();
        assert_eq!(saved.backup, Some(dir.path().join("midi.toml.backup")));
        assert_eq!(fs::read_to_string(&path).unwrap(), "a = 2\n");
        assert_eq!(
            fs::read_to_string(dir.path().join("midi.toml.backup")).unwrap(),
            "a = 1\n"
        );
        // The same text again keeps the backup of the version before.
        assert_eq!(
            replace_user_file(&path, "a = 2\n", LIMIT).unwrap().backup,
            None
        );
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["midi.toml", "midi.toml.backup"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_keeps_pointing_at_its_file_and_a_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        fs::write(&real, "a = 1\n").unwrap();
        let link = dir.path().join("midi.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        replace_user_file(&link, "a = 2\n", LIMIT).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "a = 2\n");
        let fifo = dir.path().join("fifo.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            let e = replace_user_file(&fifo, "a = 1\n", LIMIT).unwrap_err();
            assert!(e.to_string().contains("FIFO"), "{e}");
            assert!(e.to_string().ends_with("it was left as it is"), "{e}");
        }
    }
}
