//! The pattern store: slot files under `<root>/slots/`, backups, atomic saves, locking.
//!
//! A save writes a temp file next to the slot, fsyncs it, keeps the old slot as a backup (a
//! hard link where the filesystem allows, a copy of the content for a symlinked slot; none
//! when the file already holds the same song), renames the temp file over the slot and fsyncs
//! the directory. A crash at any instant leaves the old or the new file, never a partial one,
//! and the temp file it leaves is removed at the next start (its writer's lock is gone). Saves
//! to one slot are serialised by an advisory lock on `slots/.slot_NNN.lock`, which holds
//! across threads and processes. Every file read goes through [`read_user_file`].

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

pub mod chains;
pub mod drafts;
pub mod output;
pub mod read;
mod save;
mod temp;
pub mod user_file;
pub mod worker;

pub use output::{OutputError, create_new_file};
pub use read::{ReadError, ReadLimit, SLOT_FILE, file_kind, read_slot_file, read_user_file};

use crate::model::slot::{Parsed, SlotError};

/// Highest slot number.
pub const SLOT_COUNT: u8 = 128;
/// Backups kept per slot; older ones are pruned after each save.
pub const BACKUPS_PER_SLOT: usize = 20;

/// A slot number, 1–128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotNumber(u8);

impl SlotNumber {
    /// A slot number from an integer; 0 and anything above 128 are refused.
    pub fn new(n: u8) -> Result<SlotNumber, StoreError> {
        if (1..=SLOT_COUNT).contains(&n) {
            Ok(SlotNumber(n))
        } else {
            Err(StoreError::BadSlotNumber {
                value: n.to_string(),
                reason: "is out of range",
            })
        }
    }

    /// Parses a slot number written plainly: `3`, `3.0` (the rule of [`read_slot_text`], the
    /// same for the command line, the prompt and OSC). Signs, spaces, exponents and fractions
    /// are refused; nothing is rounded into a slot.
    pub fn parse(s: &str) -> Result<SlotNumber, StoreError> {
        // Bounded and escaped: the text may be anything a user typed or sent.
        let bad = |reason| StoreError::BadSlotNumber {
            value: crate::model::text::clip(s),
            reason,
        };
        let v = match read_slot_text(s) {
            SlotText::Plain(v) => v,
            SlotText::Fraction => return Err(bad("is not a whole number")),
            SlotText::NotPlain => return Err(bad(NOT_PLAIN)),
            SlotText::NotANumber => return Err(bad("is not a number")),
        };
        Self::from_f64(v).map_err(|e| match e {
            StoreError::BadSlotNumber { reason, .. } => bad(reason),
            other => other,
        })
    }

    /// A slot number from a float (OSC sends them): whole numbers 1.0–128.0 only.
    pub fn from_f64(v: f64) -> Result<SlotNumber, StoreError> {
        let bad = |reason| StoreError::BadSlotNumber {
            value: crate::model::text::fmt_num(v),
            reason,
        };
        if !v.is_finite() {
            return Err(bad("is not a number"));
        }
        if v.fract() != 0.0 {
            return Err(bad("is not a whole number"));
        }
        if !(1.0..=SLOT_COUNT as f64).contains(&v) {
            return Err(bad("is out of range"));
        }
        Ok(SlotNumber(v as u8))
    }

    /// The number, 1–128.
    pub fn get(self) -> u8 {
        self.0
    }

    /// The slot's file name, `slot_003.json`.
    pub fn file_name(self) -> String {
        format!("slot_{:03}.json", self.0)
    }
}

impl serde::Serialize for SlotNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0)
    }
}

/// Why a whole number written with a sign, spaces, an exponent or a dangling `.` is refused.
const NOT_PLAIN: &str = "is not written plainly (digits, optionally followed by .0)";

/// How the text of a slot number reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlotText {
    /// Plain digits, at most a `.` and more digits after them: the value.
    Plain(f64),
    /// A number with a fraction, however written.
    Fraction,
    /// A whole number with a sign, an exponent, spaces or a dangling `.`.
    NotPlain,
    /// No number at all (or not a finite one).
    NotANumber,
}

/// Reads the text of a slot number: the one rule for every place a slot is typed or sent.
pub fn read_slot_text(s: &str) -> SlotText {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let plain = !int.is_empty() && digits(int) && digits(frac) && !s.ends_with('.');
    match s.trim().parse::<f64>() {
        // A fraction is judged by its digits: an f64 rounds 4.9999999999999999 to 5.
        Ok(_) if plain && frac.bytes().any(|b| b != b'0') => SlotText::Fraction,
        Ok(v) if plain => SlotText::Plain(v),
        Ok(v) if v.is_finite() && v.fract() != 0.0 => SlotText::Fraction,
        Ok(v) if v.is_finite() => SlotText::NotPlain,
        _ => SlotText::NotANumber,
    }
}

impl fmt::Display for SlotNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Delegating keeps width and alignment flags working (`{:>4}` in tables).
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for SlotNumber {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<SlotNumber, StoreError> {
        SlotNumber::parse(s)
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A slot number outside 1–128 or not a whole number.
    #[error("slot number \"{value}\" {reason}: slots are numbered 1–128")]
    BadSlotNumber {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The slot has no file.
    #[error("slot {slot} is empty ({} does not exist)", path.display())]
    Missing {
        /// The slot.
        slot: SlotNumber,
        /// Where its file would be.
        path: PathBuf,
    },
    /// The slot file exists but does not load.
    // Each message below holds its cause, so the cause is not also returned as `source()`
    // (an error chain says it once).
    #[error("slot {slot}: {error}")]
    Slot {
        /// The slot.
        slot: SlotNumber,
        /// What is wrong with the file.
        error: SlotError,
    },
    /// The slot's file holds a different pattern and the save was not meant to replace it.
    #[error("slot {slot} holds a different pattern ({name:?}); save again to overwrite")]
    OtherPattern {
        /// The slot.
        slot: SlotNumber,
        /// The `metadata.name` of the pattern in the file.
        name: String,
    },
    /// The slot would be larger than a slot file may be.
    #[error("slot {slot}: the slot would be {size} bytes, over the 1 MiB limit for slot files")]
    TooLarge {
        /// The slot.
        slot: SlotNumber,
        /// Size of the JSON text.
        size: usize,
    },
    /// Something that is not a regular file sits where the slot file goes; it is left alone.
    #[error("slot {slot}: {error}; it was left as it is and nothing was saved")]
    Occupied {
        /// The slot.
        slot: SlotNumber,
        /// What is there.
        error: ReadError,
    },
    /// The slot file was replaced, but its folder could not be synced to disk.
    #[error(
        "slot {slot} was saved to {}, but its folder could not be synced to disk ({error}); the save may not survive a power cut",
        path.display()
    )]
    NotSynced {
        /// The slot.
        slot: SlotNumber,
        /// The slot file, which holds the new version.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// A file-system operation failed.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        /// What the store was doing (`write`, `rename`, …).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
}

/// The slot files in `dir` (`slot_NNN.json`), each with its number; a missing folder gives
/// none.
fn slot_entries(dir: &Path) -> Result<Vec<(SlotNumber, fs::DirEntry)>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read directory", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("read directory", dir))?;
        if let Some(n) = entry.file_name().to_str().and_then(Store::slot_of_file) {
            out.push((n, entry));
        }
    }
    Ok(out)
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError + use<> {
    let path = path.to_path_buf();
    move |error| StoreError::Io {
        action,
        path,
        error,
    }
}

/// What a save did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveInfo {
    /// The slot file written.
    pub path: PathBuf,
    /// Where the previous version went, when it held another song.
    pub backup: Option<PathBuf>,
    /// True when the file already held this song (but for when it was saved): no backup was
    /// made, so saving again does not push older versions out.
    pub unchanged: bool,
    /// Bytes written.
    pub bytes: usize,
    /// [`content_hash`] of the bytes written (the watcher uses it to recognise its own saves).
    pub content_hash: u64,
}

/// One line of the slot list.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotInfo {
    /// The slot.
    pub number: SlotNumber,
    /// `metadata.name` (empty when the file does not load).
    pub name: String,
    /// Tempo (0 when the file does not load).
    pub bpm: f64,
    /// Number of tracks.
    pub tracks: usize,
    /// When the file was last written.
    pub modified: SystemTime,
    /// Why the file does not load, when it does not.
    pub error: Option<String>,
}

/// A stable 64-bit hash of file content (FNV-1a), the same in every process and version.
pub fn content_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The patterns folder: `slots/`, `backups/`, `library/`, `temp/`.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A backup file name taken apart: slot, unix seconds, same-second sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct BackupKey {
    secs: u64,
    seq: u32,
}

fn parse_backup_name(name: &str, slot: SlotNumber) -> Option<BackupKey> {
    let rest = name
        .strip_prefix(&format!("slot_{:03}_", slot.get()))?
        .strip_suffix(".backup")?;
    let (secs, seq) = match rest.split_once('_') {
        Some((s, q)) => (s, q.parse().ok()?),
        None => (rest, 0),
    };
    if !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(BackupKey {
        secs: secs.parse().ok()?,
        seq,
    })
}

fn backup_name(slot: SlotNumber, key: BackupKey) -> String {
    if key.seq == 0 {
        format!("slot_{:03}_{}.backup", slot.get(), key.secs)
    } else {
        format!("slot_{:03}_{}_{}.backup", slot.get(), key.secs, key.seq)
    }
}

impl Store {
    /// A store rooted at `root` (nothing is created until it is used).
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The patterns folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/slots`.
    pub fn slots_dir(&self) -> PathBuf {
        self.root.join("slots")
    }

    /// `<root>/backups`.
    pub fn backups_dir(&self) -> PathBuf {
        self.root.join("backups")
    }

    /// The file of slot `n`: `<root>/slots/slot_NNN.json`.
    pub fn slot_path(&self, n: SlotNumber) -> PathBuf {
        self.slots_dir().join(n.file_name())
    }

    /// The advisory lock file that serialises saves to slot `n`.
    pub fn lock_path(&self, n: SlotNumber) -> PathBuf {
        self.slots_dir().join(format!(".slot_{:03}.lock", n.get()))
    }

    /// True for files the store itself writes for bookkeeping (temp files of saves in progress,
    /// lock files), which a watcher of `slots/` must ignore.
    pub fn is_temp_file(name: &str) -> bool {
        let Some(rest) = name.strip_prefix(".slot_") else {
            return false;
        };
        rest.contains(".json.tmp-") || rest.ends_with(".lock")
    }

    /// The slot number a file name in `slots/` belongs to (`slot_003.json` → 3).
    pub fn slot_of_file(name: &str) -> Option<SlotNumber> {
        let digits = name.strip_prefix("slot_")?.strip_suffix(".json")?;
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        SlotNumber::new(digits.parse().ok()?).ok()
    }

    /// Creates `slots/`, `backups/`, `library/` and `temp/` when missing.
    pub fn ensure_dirs(&self) -> Result<(), StoreError> {
        for dir in ["slots", "backups", "library", "temp"] {
            let path = self.root.join(dir);
            fs::create_dir_all(&path).map_err(io_err("create directory", &path))?;
        }
        Ok(())
    }

    /// Loads slot `n`; [`StoreError::Missing`] when it has no file.
    pub fn load(&self, n: SlotNumber) -> Result<Parsed, StoreError> {
        let path = self.slot_path(n);
        read_slot_file(&path).map_err(|source| {
            if source.is_not_found() {
                StoreError::Missing { slot: n, path }
            } else {
                StoreError::Slot {
                    slot: n,
                    error: source,
                }
            }
        })
    }

    /// The backups of slot `n`, newest first.
    pub fn backups(&self, n: SlotNumber) -> Result<Vec<PathBuf>, StoreError> {
        Ok(self
            .backup_keys(n)?
            .into_iter()
            .rev()
            .map(|k| self.backups_dir().join(backup_name(n, k)))
            .collect())
    }

    /// Slot `n`'s backups, oldest first.
    fn backup_keys(&self, n: SlotNumber) -> Result<Vec<BackupKey>, StoreError> {
        let dir = self.backups_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read directory", &dir)(e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("read directory", &dir))?;
            if let Some(key) = entry
                .file_name()
                .to_str()
                .and_then(|s| parse_backup_name(s, n))
            {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// The newest backup of slot `n` that loads, for offering when the slot file is corrupt.
    pub fn load_backup_fallback(
        &self,
        n: SlotNumber,
    ) -> Result<Option<(PathBuf, Parsed)>, StoreError> {
        for path in self.backups(n)? {
            if let Ok(parsed) = read_slot_file(&path) {
                return Ok(Some((path, parsed)));
            }
        }
        Ok(None)
    }

    /// Every slot file, by number, with its name, tempo and track count (or why it does not
    /// load). A missing folder gives an empty list.
    pub fn list(&self) -> Result<Vec<SlotInfo>, StoreError> {
        // The same read the disk thread makes for the tracker's slot list.
        Ok(self
            .scan()?
            .into_iter()
            .filter_map(|(_, file)| file.info().cloned())
            .collect())
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    crate::platform::sync_dir(dir).map_err(io_err("sync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_slot_numbers_are_quoted_boundedly() {
        let cases = [
            SlotNumber::from_f64(1e300).unwrap_err(),
            SlotNumber::from_f64(f64::NAN).unwrap_err(),
            SlotNumber::parse(&"9".repeat(10_000)).unwrap_err(),
            SlotNumber::parse("\u{1b}[2J5").unwrap_err(),
        ];
        for e in cases {
            let text = e.to_string();
            assert!(text.len() < 200, "{text}");
            assert!(!text.contains('\u{1b}'), "{text}");
        }
        assert!(
            SlotNumber::from_f64(1e300)
                .unwrap_err()
                .to_string()
                .contains("1e300")
        );
    }

    /// "Nothing is rounded into a slot": a fraction too fine for an f64 is still a fraction.
    #[test]
    fn a_fraction_too_fine_for_a_float_is_not_rounded_into_a_slot() {
        for bad in [
            "4.9999999999999999",
            "5.0000000000000001",
            "0.99999999999999999",
        ] {
            assert!(SlotNumber::parse(bad).is_err(), "{bad} was taken as a slot");
        }
    }

    #[test]
    fn slot_numbers_accept_whole_numbers_in_range_only() {
        assert_eq!(SlotNumber::parse("3").unwrap().get(), 3);
        assert_eq!(SlotNumber::parse("3.0").unwrap().get(), 3);
        assert_eq!(SlotNumber::parse("128").unwrap().get(), 128);
        assert_eq!(SlotNumber::from_f64(1.0).unwrap().get(), 1);
        for bad in [
            "0", "129", "-1", "1.5", "abc", "", "inf", "NaN", "1e2", "+5", " 5", "5 ", "5.",
            "05e0", "0x5", "5,0", "٥",
        ] {
            let err = SlotNumber::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("\"{bad}\"")), "{err}");
            assert!(err.contains("1–128"), "{err}");
        }
        assert!(SlotNumber::new(0).is_err());
        assert!(SlotNumber::from_f64(f64::NAN).is_err());
    }

    #[test]
    fn backup_names_sort_in_save_order() {
        let n = SlotNumber::new(7).unwrap();
        let a = parse_backup_name("slot_007_1700000000.backup", n).unwrap();
        let b = parse_backup_name("slot_007_1700000000_2.backup", n).unwrap();
        let c = parse_backup_name("slot_007_1700000001.backup", n).unwrap();
        assert!(a < b && b < c);
        assert_eq!(parse_backup_name("slot_008_1700000000.backup", n), None);
        assert_eq!(parse_backup_name("slot_007_17x.backup", n), None);
        assert_eq!(backup_name(n, b), "slot_007_1700000000_2.backup");
    }

    #[test]
    fn bookkeeping_files_are_recognised() {
        assert!(Store::is_temp_file(".slot_003.json.tmp-123-4"));
        assert!(Store::is_temp_file(".slot_003.lock"));
        assert!(!Store::is_temp_file("slot_003.json"));
        assert!(!Store::is_temp_file(".slot_003.json.swp"));
        assert_eq!(
            Store::slot_of_file("slot_003.json").map(SlotNumber::get),
            Some(3)
        );
        assert_eq!(Store::slot_of_file("slot_000.json"), None);
        assert_eq!(Store::slot_of_file("slot_3.json"), None);
    }

    #[test]
    fn content_hash_is_fnv1a() {
        assert_eq!(content_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(content_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
