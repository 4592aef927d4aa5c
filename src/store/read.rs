//! The one way Chronus reads a file whose path a user or another process controls: slot files,
//! backups, drafts, the keymap, `--from`, render input. A FIFO, socket, device or directory
//! under such a name must never hang or flood anything, so the path is looked at before it is
//! opened (nothing but a regular file is opened), opened without blocking, looked at again
//! through the open file (it may have been swapped in between), and read bounded by the limit
//! before anything is allocated for it.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::model::slot::{MAX_SLOT_BYTES, Parsed, SlotError, parse_slot_bytes, size_text};
use crate::platform::{self, FileKind};

/// What a file is read as (for messages) and the most it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimit {
    /// What the file is, as messages name it: `slot file`, `keymap file`.
    pub what: &'static str,
    /// The largest size accepted, in bytes.
    pub max_bytes: u64,
}

/// Slot files, their backups and drafts: at most [`MAX_SLOT_BYTES`].
pub const SLOT_FILE: ReadLimit = ReadLimit {
    what: "slot file",
    max_bytes: MAX_SLOT_BYTES as u64,
};

/// Why a file could not be read. Every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The path is not a regular file (a FIFO, socket, device or directory); it was not read
    /// (and, unless it changed under our feet, not even opened).
    #[error("{} is {kind}, not a {what}", path.display())]
    NotAFile {
        /// The path as given.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
        /// What it was expected to be.
        what: &'static str,
    },
    /// The file is larger than the limit; nothing of it was read beyond the limit.
    #[error("{} is {}; a {what} may be at most {}", path.display(), size_text(*size), size_text(*limit))]
    TooLarge {
        /// The path as given.
        path: PathBuf,
        /// Its real size (from its metadata), in bytes.
        size: u64,
        /// The limit, in bytes.
        limit: u64,
        /// What it was read as.
        what: &'static str,
    },
    /// The system refused (no such file, no permission, an I/O error).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path as given.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl ReadError {
    /// True when the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::NotAFile { path, .. }
            | ReadError::TooLarge { path, .. }
            | ReadError::Io { path, .. } => path,
        }
    }
}

impl From<ReadError> for SlotError {
    fn from(e: ReadError) -> SlotError {
        let origin = e.path().display().to_string();
        match e {
            ReadError::NotAFile { kind, what, .. } => SlotError::NotAFile {
                origin,
                kind: kind.to_string(),
                what,
            },
            ReadError::TooLarge { size, .. } => SlotError::TooLarge { origin, size },
            ReadError::Io { source, .. } => SlotError::Io {
                origin,
                error: source,
            },
        }
    }
}

/// What `path` is, following a symbolic link, without opening it.
pub fn file_kind(path: &Path) -> io::Result<FileKind> {
    Ok(FileKind::of(&std::fs::metadata(path)?.file_type()))
}

/// Reads the whole of `path` when it is a regular file of at most `limit.max_bytes` bytes.
/// Never blocks on a FIFO, never opens a socket or device, never reads or allocates more than
/// the limit (plus one byte, to notice a file that grew while it was read).
pub fn read_user_file(path: &Path, limit: ReadLimit) -> Result<Vec<u8>, ReadError> {
    let io_err = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_a_file = |kind| ReadError::NotAFile {
        path: path.to_path_buf(),
        kind,
        what: limit.what,
    };
    let too_large = |size| ReadError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit: limit.max_bytes,
        what: limit.what,
    };
    // Looked at before opening: opening a device can have effects of its own, and a socket
    // cannot be opened at all.
    match file_kind(path).map_err(io_err)? {
        FileKind::Regular => {}
        kind => return Err(not_a_file(kind)),
    }
    let file = platform::open_for_reading(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    match FileKind::of(&meta.file_type()) {
        FileKind::Regular => {}
        kind => return Err(not_a_file(kind)),
    }
    if meta.len() > limit.max_bytes {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&file)
        .take(limit.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > limit.max_bytes {
        // It grew while it was read (an editor writing in place): report its size now.
        let size = file.metadata().map_or(bytes.len() as u64, |m| m.len());
        return Err(too_large(size.max(bytes.len() as u64)));
    }
    Ok(bytes)
}

/// Reads and parses a slot file (a slot, a backup, a draft, `--from`, a render input).
pub fn read_slot_file(path: &Path) -> Result<Parsed, SlotError> {
    let bytes = read_user_file(path, SLOT_FILE)?;
    parse_slot_bytes(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: ReadLimit = ReadLimit {
        what: "test file",
        max_bytes: 10,
    };

    #[test]
    fn a_file_at_the_limit_reads_and_one_byte_more_is_refused_with_its_real_size() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("at");
        let over = dir.path().join("over");
        std::fs::write(&at, [b'a'; 10]).unwrap();
        std::fs::write(&over, [b'a'; 11]).unwrap();
        assert_eq!(read_user_file(&at, SMALL).unwrap().len(), 10);
        let err = read_user_file(&over, SMALL).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::TooLarge {
                    size: 11,
                    limit: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{} is 11 bytes; a test file may be at most 10 bytes",
                over.display()
            )
        );
    }

    #[test]
    fn a_directory_and_a_missing_file_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_user_file(dir.path(), SMALL).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} is a directory, not a test file", dir.path().display())
        );
        let missing = read_user_file(&dir.path().join("nope"), SMALL).unwrap_err();
        assert!(missing.is_not_found(), "{missing:?}");
        assert!(missing.to_string().contains("nope"), "{missing}");
    }

    #[test]
    fn sizes_read_in_the_unit_that_fits_with_the_exact_count() {
        assert_eq!(size_text(10), "10 bytes");
        assert_eq!(size_text(2048), "2 KiB (2048 bytes)");
        assert_eq!(size_text(1 << 20), "1 MiB (1048576 bytes)");
        assert_eq!(size_text(3_355_443), "3.2 MiB (3355443 bytes)");
    }
}
