//! Files Chronus creates where a user points it (`render --out`, `--record`, recordings,
//! `/engine/schema file`): never over anything that is there already, and never among the
//! slots, backups and drafts.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::Store;

/// Numbered names tried after the one asked for (`take-2.wav` … `take-10000.wav`).
const MAX_NUMBERED: u32 = 10_000;

/// Why an output file was not created.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The path is inside a folder the store keeps songs in.
    #[error(
        "{} is inside {}, where Chronus keeps {what}; choose a place outside the slots, backups and drafts folders",
        path.display(),
        folder.display()
    )]
    InStore {
        /// The path asked for.
        path: PathBuf,
        /// The store's folder it is in.
        folder: PathBuf,
        /// What that folder holds.
        what: &'static str,
    },
    /// The system refused to create the file.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Every numbered name is taken.
    #[error("{} and the {MAX_NUMBERED} numbered names after it are all taken", path.display())]
    NoFreeName {
        /// The path asked for.
        path: PathBuf,
    },
}

/// `take.wav` → `take-2.wav` (`k` = 2, 3, …).
fn numbered(path: &Path, k: u32) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{k}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{k}"),
    };
    path.with_file_name(name)
}

/// Creates a new, empty file at `path`, or, when anything is there already (a file, a link,
/// a FIFO), at the first free numbered name beside it (`take-2.wav`, `take-3.wav`, …).
/// What is there is never opened, followed, truncated or replaced. Returns the file and
/// where it is.
pub fn create_new_file(path: &Path) -> Result<(File, PathBuf), OutputError> {
    let candidates =
        std::iter::once(path.to_path_buf()).chain((2..=MAX_NUMBERED).map(|k| numbered(path, k)));
    for candidate in candidates {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(file) => return Ok((file, candidate)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(OutputError::Create {
                    path: candidate,
                    source,
                });
            }
        }
    }
    Err(OutputError::NoFreeName {
        path: path.to_path_buf(),
    })
}

/// The folder `path` would be created in, resolved (links, `..`) as far as it exists.
fn resolved_folder(path: &Path) -> Option<PathBuf> {
    let mut folder = path.parent()?.to_path_buf();
    if folder.as_os_str().is_empty() {
        folder = PathBuf::from(".");
    }
    // A folder that does not exist yet (the recorder creates it) is judged by its nearest
    // existing ancestor plus the rest.
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = fs::canonicalize(&folder) {
            return Some(rest.iter().rev().fold(real, |p, part| p.join(part)));
        }
        rest.push(folder.file_name()?.to_os_string());
        folder = folder.parent()?.to_path_buf();
        if folder.as_os_str().is_empty() {
            folder = PathBuf::from(".");
        }
    }
}

impl Store {
    /// Refuses an output path inside this store's `slots/`, `backups/` or `drafts/` (or a
    /// folder within them): files there are songs Chronus reads, and nothing else goes there.
    pub fn check_output_path(&self, path: &Path) -> Result<(), OutputError> {
        let Some(folder) = resolved_folder(path) else {
            return Ok(());
        };
        let kept = [
            (self.slots_dir(), "slot files"),
            (self.backups_dir(), "backups"),
            (self.drafts_dir(), "drafts"),
        ];
        for (dir, what) in kept {
            let Ok(dir) = fs::canonicalize(&dir) else {
                continue;
            };
            if folder.starts_with(&dir) {
                return Err(OutputError::InStore {
                    path: path.to_path_buf(),
                    folder: dir,
                    what,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(
            numbered(Path::new("a/take.wav"), 2),
            Path::new("a/take-2.wav")
        );
        assert_eq!(numbered(Path::new("take"), 3), Path::new("take-3"));
        assert_eq!(numbered(Path::new("x.tar.gz"), 2), Path::new("x.tar-2.gz"));
    }
}
