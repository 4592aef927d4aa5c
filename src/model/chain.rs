//! Chains (song mode): an ordered list of slots, each played for a number of bars, that loops
//! or stops at its end. A chain has a text form a performer types (`[3 x4, 11 x1, 3 x4, 7 x8]`)
//! and a JSON file, `patterns/chains/NAME.json`; both are read here, with errors that name
//! what was wrong and where, and both stay within the limits in [`super::limits`].

use std::fmt;

use serde_json::Value;

use super::limits::{MAX_CHAIN_ENTRIES, MAX_CHAIN_REPEATS, MAX_NAME_CHARS};
use super::text::quote;

/// The highest slot number (slots are numbered 1–128).
pub const MAX_CHAIN_SLOT: u8 = 128;
/// The schema version chain files are written with.
pub const CHAIN_SCHEMA_VERSION: &str = "1.1";
/// Longest chain name in bytes (UTF-8), so that its temp and backup file names fit the
/// 255 bytes most file systems allow.
pub const MAX_CHAIN_NAME_BYTES: usize = 192;
/// Largest chain file, in bytes (as for slot files).
pub const MAX_CHAIN_BYTES: usize = super::slot::MAX_SLOT_BYTES;

/// One entry of a chain: a slot played for `repeats` bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainEntry {
    /// The slot, 1–128.
    pub slot: u8,
    /// Bars it plays, 1–[`MAX_CHAIN_REPEATS`].
    pub repeats: u32,
}

/// A chain of slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Its name, which is also its file name (`NAME.json`).
    pub name: String,
    /// The entries, played in order (at least one).
    pub entries: Vec<ChainEntry>,
    /// Start again from the first entry after the last (else the transport stops).
    pub looping: bool,
}

/// Why a chain (its name, its text or its file) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A name that cannot be a file name.
    #[error("chain name {} {reason}", quote(name))]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry of the typed form that does not read.
    #[error(
        "chain entry {index} {}: expected a slot 1–128 with an optional repeat count, like `3 x4`",
        quote(text)
    )]
    BadEntry {
        /// The entry, counted from 1.
        index: usize,
        /// Its text.
        text: String,
    },
    /// A number out of its range.
    #[error("{path}: {value} is out of range {min}–{max}")]
    OutOfRange {
        /// Where (`entries[2].repeats`, or `entry 3` in the typed form).
        path: String,
        /// The value as given.
        value: String,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// No entries.
    #[error("a chain needs at least one entry")]
    Empty,
    /// Too many entries.
    #[error("a chain holds at most {max} entries; this one has {found}")]
    TooManyEntries {
        /// Entries found.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// JSON that does not parse.
    #[error("not valid JSON: {message} (line {line}, column {column})")]
    Syntax {
        /// serde_json's message.
        message: String,
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
    },
    /// A value of the wrong type, or a missing one.
    #[error("{path}: expected {expected}, found {found}")]
    Type {
        /// JSON path.
        path: String,
        /// What belongs there.
        expected: &'static str,
        /// What is there.
        found: String,
    },
    /// A key a chain file does not have.
    #[error("{path}: unknown key; a chain file has {expected}")]
    UnknownKey {
        /// JSON path of the key.
        path: String,
        /// The keys allowed there.
        expected: &'static str,
    },
    /// A newer major schema version.
    #[error(
        "schema_version {} is newer than this Chronus reads (1.x)",
        quote(found)
    )]
    Version {
        /// The version in the file.
        found: String,
    },
    /// The file is larger than a chain file may be.
    #[error("a chain file may be at most {max} bytes; this one is {size}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// Checks that `name` can name a chain file: 1–64 characters, no path separators, no `..`,
/// no control characters, no leading dot (temp files start with one) and none of the
/// characters some file systems refuse.
pub fn check_chain_name(name: &str) -> Result<(), ChainError> {
    let bad = |reason| {
        Err(ChainError::BadName {
            name: name.chars().take(MAX_NAME_CHARS + 1).collect(),
            reason,
        })
    };
    if name.trim().is_empty() {
        return bad("is empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return bad("is longer than 64 characters");
    }
    if name.len() > MAX_CHAIN_NAME_BYTES {
        // The temp and backup file names add about 60 bytes; most file systems stop at 255.
        return bad("is longer than 192 bytes in UTF-8 (48 emoji, 64 letters of most scripts)");
    }
    if name.chars().any(char::is_control) {
        return bad("holds a control character");
    }
    if name.contains(['/', '\\']) {
        return bad("holds a path separator");
    }
    if name.contains("..") {
        return bad("holds `..`");
    }
    if name.starts_with('.') {
        return bad("starts with a dot");
    }
    if name.contains(['<', '>', ':', '"', '|', '?', '*']) {
        return bad("holds one of < > : \" | ? *");
    }
    if name != name.trim() {
        return bad("starts or ends with a blank");
    }
    if name.ends_with('.') {
        // Windows drops a trailing dot: `set.` would be saved as `set`.
        return bad("ends with a dot");
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    let device = |prefix: &str| {
        stem.len() == 4
            && stem.as_bytes()[..3].eq_ignore_ascii_case(prefix.as_bytes())
            && matches!(stem.as_bytes()[3], b'1'..=b'9')
    };
    if ["CON", "PRN", "AUX", "NUL"]
        .iter()
        .any(|d| stem.eq_ignore_ascii_case(d))
        || device("COM")
        || device("LPT")
    {
        return bad("is a device name on Windows (CON, PRN, AUX, NUL, COM1–9, LPT1–9)");
    }
    Ok(())
}

fn check_entries(n: usize) -> Result<(), ChainError> {
    if n == 0 {
        return Err(ChainError::Empty);
    }
    if n > MAX_CHAIN_ENTRIES {
        return Err(ChainError::TooManyEntries {
            found: n,
            max: MAX_CHAIN_ENTRIES,
        });
    }
    Ok(())
}

impl Chain {
    /// A chain named `name` from its typed form (`[3 x4, 11, 7 x8]`; brackets optional,
    /// `3` alone plays one bar, `3x4` and `3 x 4` read too).
    pub fn parse(name: &str, text: &str, looping: bool) -> Result<Chain, ChainError> {
        check_chain_name(name)?;
        Ok(Chain {
            name: name.to_string(),
            entries: parse_entries(text)?,
            looping,
        })
    }

    /// The typed form: `[3 x4, 11 x1]`.
    pub fn entries_text(&self) -> String {
        let parts: Vec<String> = self
            .entries
            .iter()
            .map(|e| format!("{} x{}", e.slot, e.repeats))
            .collect();
        format!("[{}]", parts.join(", "))
    }

    /// Bars one pass through the chain takes.
    pub fn bars(&self) -> u64 {
        self.entries.iter().map(|e| e.repeats as u64).sum()
    }

    /// The file's text: stable, 2-space indent, trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\n");
        s.push_str(&format!(
            "  \"chronus_version\": \"{}\",\n",
            env!("CARGO_PKG_VERSION")
        ));
        s.push_str(&format!(
            "  \"schema_version\": \"{CHAIN_SCHEMA_VERSION}\",\n"
        ));
        s.push_str(&format!(
            "  \"name\": {},\n",
            Value::String(self.name.clone())
        ));
        s.push_str(&format!("  \"loop\": {},\n", self.looping));
        s.push_str("  \"entries\": [\n");
        for (i, e) in self.entries.iter().enumerate() {
            let comma = if i + 1 < self.entries.len() { "," } else { "" };
            s.push_str(&format!(
                "    {{ \"slot\": {}, \"repeats\": {} }}{comma}\n",
                e.slot, e.repeats
            ));
        }
        s.push_str("  ]\n}\n");
        s
    }

    /// Reads a chain file's bytes. `file_name` (the file's stem) names the chain when the
    /// file has no `name`; a `name` that differs from it is refused, so a chain is always
    /// found under its own name.
    pub fn from_json(bytes: &[u8], file_name: &str) -> Result<Chain, ChainError> {
        if bytes.len() > MAX_CHAIN_BYTES {
            return Err(ChainError::TooLarge {
                size: bytes.len(),
                max: MAX_CHAIN_BYTES,
            });
        }
        let v: Value = serde_json::from_slice(bytes).map_err(|e| ChainError::Syntax {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        let Value::Object(top) = v else {
            return Err(type_err("(top)", "an object", &v));
        };
        const TOP: &str = "chronus_version, schema_version, name, loop, entries";
        let mut name = None;
        let mut looping = true;
        let mut entries = None;
        for (k, v) in &top {
            match k.as_str() {
                "chronus_version" => {
                    string_at(v, k)?;
                }
                "schema_version" => {
                    let s = string_at(v, k)?;
                    if !(s == "1" || s.starts_with("1.")) {
                        return Err(ChainError::Version { found: short(s) });
                    }
                }
                "name" => name = Some(string_at(v, k)?.to_string()),
                "loop" => {
                    looping = v
                        .as_bool()
                        .ok_or_else(|| type_err("loop", "true or false", v))?
                }
                "entries" => entries = Some(read_entries(v)?),
                _ => {
                    return Err(ChainError::UnknownKey {
                        path: short(k),
                        expected: TOP,
                    });
                }
            }
        }
        let name = match name {
            Some(n) => {
                check_chain_name(&n)?;
                if !file_name.is_empty() && n != file_name {
                    return Err(ChainError::Type {
                        path: "name".into(),
                        expected: "the file's name",
                        found: quote(&n),
                    });
                }
                n
            }
            None => {
                check_chain_name(file_name)?;
                file_name.to_string()
            }
        };
        let entries = entries.ok_or(ChainError::Type {
            path: "entries".into(),
            expected: "a list of {\"slot\", \"repeats\"}",
            found: "nothing".into(),
        })?;
        Ok(Chain {
            name,
            entries,
            looping,
        })
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = if self.looping { "loop" } else { "stop" };
        write!(f, "{} {} {end}", self.name, self.entries_text())
    }
}

/// Text of at most 64 characters, for messages.
fn short(s: &str) -> String {
    s.chars().take(MAX_NAME_CHARS).collect()
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => short(&n.to_string()),
        Value::String(s) => quote(&short(s)),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn type_err(path: &str, expected: &'static str, v: &Value) -> ChainError {
    ChainError::Type {
        path: path.into(),
        expected,
        found: type_name(v),
    }
}

fn string_at<'a>(v: &'a Value, key: &str) -> Result<&'a str, ChainError> {
    v.as_str().ok_or_else(|| type_err(key, "text", v))
}

/// A whole number at `path` within `min..=max` (integral floats such as `4.0` read).
fn whole_at(v: &Value, path: &str, min: u64, max: u64) -> Result<u64, ChainError> {
    let Value::Number(n) = v else {
        return Err(type_err(path, "a whole number", v));
    };
    let x = n.as_f64().unwrap_or(f64::NAN);
    if !x.is_finite() || x.fract() != 0.0 {
        return Err(type_err(path, "a whole number", v));
    }
    if x < min as f64 || x > max as f64 {
        return Err(ChainError::OutOfRange {
            path: path.into(),
            value: short(&n.to_string()),
            min,
            max,
        });
    }
    Ok(x as u64)
}

fn read_entries(v: &Value) -> Result<Vec<ChainEntry>, ChainError> {
    let Value::Array(items) = v else {
        return Err(type_err("entries", "a list of {\"slot\", \"repeats\"}", v));
    };
    check_entries(items.len())?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("entries[{i}]");
        let Value::Object(o) = item else {
            return Err(type_err(&at, "an object {\"slot\", \"repeats\"}", item));
        };
        let mut slot = None;
        let mut repeats = 1;
        for (k, v) in o {
            let path = format!("{at}.{}", short(k));
            match k.as_str() {
                "slot" => slot = Some(whole_at(v, &path, 1, MAX_CHAIN_SLOT as u64)? as u8),
                "repeats" => repeats = whole_at(v, &path, 1, MAX_CHAIN_REPEATS as u64)? as u32,
                _ => {
                    return Err(ChainError::UnknownKey {
                        path,
                        expected: "slot, repeats",
                    });
                }
            }
        }
        let slot = slot.ok_or(ChainError::Type {
            path: format!("{at}.slot"),
            expected: "a slot number 1–128",
            found: "nothing".into(),
        })?;
        out.push(ChainEntry { slot, repeats });
    }
    Ok(out)
}

/// Reads the typed form's entries.
pub fn parse_entries(text: &str) -> Result<Vec<ChainEntry>, ChainError> {
    let t = text.trim();
    let t = t.strip_prefix('[').unwrap_or(t);
    let t = t.strip_suffix(']').unwrap_or(t);
    let parts: Vec<&str> = if t.trim().is_empty() {
        Vec::new()
    } else {
        t.split(',').collect()
    };
    check_entries(parts.len())?;
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| parse_entry(i + 1, p))
        .collect()
}

fn parse_entry(index: usize, text: &str) -> Result<ChainEntry, ChainError> {
    let bad = || ChainError::BadEntry {
        index,
        text: short(text.trim()),
    };
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let lower = compact.to_ascii_lowercase();
    let (slot, repeats) = match lower.split_once(['x', '*']) {
        Some((s, r)) => (s, Some(r)),
        None => (lower.as_str(), None),
    };
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let slot = number(slot).ok_or_else(bad)?;
    let range = |what: &str, v: u64, max: u64| {
        if (1..=max).contains(&v) {
            Ok(v)
        } else {
            Err(ChainError::OutOfRange {
                path: format!("chain entry {index} {what}"),
                value: v.to_string(),
                min: 1,
                max,
            })
        }
    };
    let slot = range("slot", slot, MAX_CHAIN_SLOT as u64)? as u8;
    let repeats = match repeats {
        Some(r) => range(
            "repeats",
            number(r).ok_or_else(bad)?,
            MAX_CHAIN_REPEATS as u64,
        )? as u32,
        None => 1,
    };
    Ok(ChainEntry { slot, repeats })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typed_form_reads_and_prints_back() {
        let c = Chain::parse("set1", "[3 x4, 11, 3x4 , 7 X 8]", true).unwrap();
        assert_eq!(c.entries_text(), "[3 x4, 11 x1, 3 x4, 7 x8]");
        assert_eq!(c.bars(), 17);
        let again = Chain::parse("set1", &c.entries_text(), true).unwrap();
        assert_eq!(again, c);
        assert_eq!(c.to_string(), "set1 [3 x4, 11 x1, 3 x4, 7 x8] loop");
    }

    #[test]
    fn typed_mistakes_name_the_entry() {
        let e = Chain::parse("a", "[3 x4, 11 y1]", true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "chain entry 2 \"11 y1\": expected a slot 1–128 with an optional repeat count, like `3 x4`"
        );
        let e = Chain::parse("a", "129", true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "chain entry 1 slot: 129 is out of range 1–128"
        );
        let e = Chain::parse("a", "1 x1000", true).unwrap_err();
        assert!(e.to_string().contains("1000 is out of range 1–999"), "{e}");
        assert_eq!(
            Chain::parse("a", "[]", true).unwrap_err(),
            ChainError::Empty
        );
        let many = vec!["1"; MAX_CHAIN_ENTRIES + 1].join(",");
        assert!(matches!(
            Chain::parse("a", &many, true),
            Err(ChainError::TooManyEntries { found: 257, .. })
        ));
    }

    #[test]
    fn names_must_be_file_names() {
        for bad in [
            "", "a/b", "..", "a..b", ".hidden", "a\u{7}", "a\\b", "x:y", " a",
        ] {
            assert!(check_chain_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_chain_name(&"n".repeat(65)).is_err());
        assert!(check_chain_name(&"語".repeat(64)).is_ok());
        assert!(check_chain_name(&"😀".repeat(64)).is_err());
        assert!(check_chain_name(&"😀".repeat(48)).is_ok());
        for good in ["set1", "Live set 2", "ä-ö_1"] {
            check_chain_name(good).unwrap();
        }
    }

    #[test]
    fn names_windows_reserves_for_devices_or_trims_are_refused() {
        for bad in [
            "CON", "con", "Nul", "aux", "PRN", "COM1", "lpt9", "con.txt", "set.",
        ] {
            assert!(check_chain_name(bad).is_err(), "{bad:?}");
        }
        for good in ["console", "COM", "com10x", "nul set", "a.b", "😀", "€1"] {
            check_chain_name(good).unwrap();
        }
    }

    #[test]
    fn the_file_round_trips_byte_for_byte() {
        let c = Chain::parse("set1", "[3 x4, 11 x1]", false).unwrap();
        let text = c.to_json();
        let back = Chain::from_json(text.as_bytes(), "set1").unwrap();
        assert_eq!(back, c);
        assert_eq!(back.to_json(), text);
        assert!(text.contains("\"schema_version\": \"1.1\""));
    }

    #[test]
    fn file_mistakes_name_the_path_and_what_belongs_there() {
        let err = |s: &str| Chain::from_json(s.as_bytes(), "c").unwrap_err().to_string();
        assert_eq!(
            err(r#"{"entries": [{"slot": 3, "repeats": "4"}]}"#),
            "entries[0].repeats: expected a whole number, found \"4\""
        );
        assert_eq!(
            err(r#"{"entries": [{"slot": 0}]}"#),
            "entries[0].slot: 0 is out of range 1–128"
        );
        assert_eq!(
            err(r#"{"entries": [{"slot": 1, "bars": 2}]}"#),
            "entries[0].bars: unknown key; a chain file has slot, repeats"
        );
        assert_eq!(
            err(r#"{"loop": 1, "entries": [{"slot": 1}]}"#),
            "loop: expected true or false, found 1"
        );
        assert_eq!(
            err(r#"{"schema_version": "2.0", "entries": [{"slot": 1}]}"#),
            "schema_version \"2.0\" is newer than this Chronus reads (1.x)"
        );
        assert!(err("[1,").starts_with("not valid JSON"));
        assert_eq!(
            err("{}"),
            "entries: expected a list of {\"slot\", \"repeats\"}, found nothing"
        );
        let c = Chain::from_json(br#"{"entries": [{"slot": 2.0, "repeats": 3}]}"#, "c").unwrap();
        assert_eq!(
            c.entries,
            vec![ChainEntry {
                slot: 2,
                repeats: 3
            }]
        );
        assert!(c.looping);
    }
}
