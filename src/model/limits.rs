//! Every input has a limit: the sizes a slot, an OSC message, a keymap file, a render and the
//! command line may reach, declared once. The slot reader, the controller, the OSC server, the
//! keymap reader and the command line check against these constants; the JSON Schema,
//! `/engine/schema` and the README list them from [`LIMITS`]. Going over a limit is an error
//! that names the limit and the size found, and changes nothing.
//!
//! The limits are far above what a song needs and small enough that the audio thread's work
//! per step, the memory an edit history holds and the time a load takes stay bounded.

use std::fmt;
use std::ops::RangeInclusive;

use super::text::{fmt_num, quote};

/// Tracks a slot holds.
pub const MAX_TRACKS: usize = 64;
/// Steps a track's pattern holds.
pub const MAX_PATTERN: usize = 64;
/// Entries in a track's `steps` map (one per step at most).
pub const MAX_STEP_ENTRIES: usize = MAX_PATTERN;
/// Parameter locks on one step (every track field and voice parameter a lock can hold).
pub const MAX_LOCKS_PER_STEP: usize = 16;
/// Most hits a ratchet plays in one step.
pub const MAX_RATCHET: usize = 8;
/// Largest B of a step's `A:B` condition (play on the A-th of every B loops).
pub const MAX_COND_LOOPS: u32 = 16;
/// Steps step entry may move on after each step it sets (Renoise's edit step).
pub const MAX_EDIT_STEP: usize = 16;
/// Mute groups a track may join (1–4).
pub const MAX_MUTE_GROUP: usize = 4;
/// Notes a track cycles through.
pub const MAX_NOTES: usize = 256;
/// Characters of a slot's name (`metadata.name`) or a track's name.
pub const MAX_NAME_CHARS: usize = 64;
/// Characters of any other text in a slot file (genre, tags, versions, voice ids, object keys,
/// and text inside keys Chronus does not know).
pub const MAX_TEXT_CHARS: usize = 4096;
/// Tags in `metadata.tags`.
pub const MAX_TAGS: usize = 64;
/// Bytes of an OSC address.
pub const MAX_OSC_ADDRESS_BYTES: usize = 256;
/// Bytes of one OSC string argument.
pub const MAX_OSC_STRING_BYTES: usize = 4096;
/// Bytes of one OSC blob argument.
pub const MAX_OSC_BLOB_BYTES: usize = 4096;
/// Bytes of a keymap file.
pub const MAX_KEYMAP_BYTES: usize = 256 * 1024;
/// Rules in a keymap file (all tables and lists together).
pub const MAX_KEYMAP_RULES: usize = 1024;
/// Keys in one chord of a keymap rule.
pub const MAX_CHORD_KEYS: usize = 8;
/// Bars one `chronus render` writes.
pub const MAX_RENDER_BARS: u32 = 10_000;
/// Saves given to the disk thread and not yet written (a slow disk, or a slot's lock held
/// by another program, makes them wait); one more is refused, not queued.
pub const MAX_SAVES_IN_FLIGHT: usize = 64;
/// Bytes of a WAV file's audio data (the format's 32-bit size fields, less the header).
pub const MAX_WAV_DATA_BYTES: u64 = u32::MAX as u64 - 1024;

/// Characters of a track's MIDI port name (`midi.port`).
pub const MAX_MIDI_PORT_CHARS: usize = 64;
/// Distinct MIDI ports a session sends notes to (`midi.port` across every slot it loads).
pub const MAX_MIDI_PORTS: usize = 16;
/// MIDI channels a track's `midi.channel` names.
pub const MIDI_CHANNELS: RangeInclusive<u8> = 1..=16;

/// Entries a chain holds.
pub const MAX_CHAIN_ENTRIES: usize = 256;
/// Bars one chain entry may repeat its slot.
pub const MAX_CHAIN_REPEATS: usize = 999;

/// Sample rates the command line accepts (`--rate`), in Hz.
pub const SAMPLE_RATES: RangeInclusive<u32> = 8_000..=192_000;
/// Device buffer sizes the command line accepts (`--buffer`), in frames (the largest is the
/// largest block the engine renders in one piece).
pub const BUFFER_FRAMES: RangeInclusive<u32> = 16..=4_096;
/// Voices the command line accepts (`--voices`).
pub const VOICE_COUNTS: RangeInclusive<u32> = 1..=16;
/// Longest `headless --seconds`, in seconds (a year).
pub const MAX_HEADLESS_SECONDS: f64 = 31_536_000.0;
/// Shortest `ctl --timeout`, in seconds.
pub const MIN_CTL_TIMEOUT: f64 = 0.01;
/// Longest `ctl --timeout`, in seconds.
pub const MAX_CTL_TIMEOUT: f64 = 3_600.0;

/// One limit, for the schema and the documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Key in `/engine/schema`'s `limits` object.
    pub key: &'static str,
    /// The largest size allowed.
    pub max: u64,
    /// What is counted (`tracks`, `characters`, `bytes`).
    pub unit: &'static str,
    /// What holds them, as a message says it (`a slot`).
    pub what: &'static str,
}

/// A slot's tracks.
pub const TRACKS: Limit = limit("tracks_per_slot", MAX_TRACKS, "tracks", "a slot");
/// A pattern's steps.
pub const PATTERN: Limit = limit("steps_per_pattern", MAX_PATTERN, "steps", "a pattern");
/// A track's `steps` entries.
pub const STEP_ENTRIES: Limit = limit(
    "step_entries_per_track",
    MAX_STEP_ENTRIES,
    "entries",
    "a track's steps",
);
/// A step's parameter locks.
pub const LOCKS: Limit = limit("locks_per_step", MAX_LOCKS_PER_STEP, "locks", "a step");
/// A track's notes.
pub const NOTES: Limit = limit("notes_per_track", MAX_NOTES, "notes", "a track");
/// A slot's name.
pub const SLOT_NAME: Limit = limit(
    "slot_name_chars",
    MAX_NAME_CHARS,
    "characters",
    "a slot name",
);
/// A track's name.
pub const TRACK_NAME: Limit = limit(
    "track_name_chars",
    MAX_NAME_CHARS,
    "characters",
    "a track name",
);
/// Any other text in a slot.
pub const SLOT_TEXT: Limit = limit(
    "slot_text_chars",
    MAX_TEXT_CHARS,
    "characters",
    "a text in a slot",
);
/// A slot's tags.
pub const TAGS: Limit = limit("tags_per_slot", MAX_TAGS, "tags", "a slot");
/// An OSC address.
pub const OSC_ADDRESS: Limit = limit(
    "osc_address_bytes",
    MAX_OSC_ADDRESS_BYTES,
    "bytes",
    "an OSC address",
);
/// An OSC string argument.
pub const OSC_STRING: Limit = limit(
    "osc_string_bytes",
    MAX_OSC_STRING_BYTES,
    "bytes",
    "an OSC string",
);
/// An OSC blob argument.
pub const OSC_BLOB: Limit = limit("osc_blob_bytes", MAX_OSC_BLOB_BYTES, "bytes", "an OSC blob");
/// A keymap file's size.
pub const KEYMAP_BYTES: Limit = limit("keymap_bytes", MAX_KEYMAP_BYTES, "bytes", "a keymap file");
/// A keymap file's rules.
pub const KEYMAP_RULES: Limit = limit("keymap_rules", MAX_KEYMAP_RULES, "rules", "a keymap file");
/// A chord's keys.
pub const CHORD_KEYS: Limit = limit("chord_keys", MAX_CHORD_KEYS, "keys", "a chord");
/// A render's bars.
pub const RENDER_BARS: Limit = limit("render_bars", MAX_RENDER_BARS as usize, "bars", "a render");
/// A WAV file's audio data.
pub const WAV_BYTES: Limit = limit(
    "wav_data_bytes",
    MAX_WAV_DATA_BYTES as usize,
    "bytes",
    "a WAV file",
);

/// The saves the disk thread holds.
pub const SAVES_IN_FLIGHT: Limit = limit(
    "saves_in_flight",
    MAX_SAVES_IN_FLIGHT,
    "saves",
    "the queue of saves not yet written",
);

/// A chain's entries.
pub const CHAIN_ENTRIES: Limit = limit("chain_entries", MAX_CHAIN_ENTRIES, "entries", "a chain");
/// A chain entry's repeats.
pub const CHAIN_REPEATS: Limit = limit(
    "chain_entry_repeats",
    MAX_CHAIN_REPEATS,
    "bars",
    "a chain entry",
);

const fn limit(key: &'static str, max: usize, unit: &'static str, what: &'static str) -> Limit {
    Limit {
        key,
        max: max as u64,
        unit,
        what,
    }
}

/// A track's MIDI port name.
pub const MIDI_PORT_NAME: Limit = limit(
    "midi_port_chars",
    MAX_MIDI_PORT_CHARS,
    "characters",
    "a MIDI port name",
);
/// Distinct MIDI ports of a session's notes.
pub const MIDI_PORTS: Limit = limit(
    "midi_note_ports",
    MAX_MIDI_PORTS,
    "ports",
    "a session's MIDI note outputs",
);

/// Every size limit, in the order the documentation lists them.
pub const LIMITS: [Limit; 22] = [
    TRACKS,
    PATTERN,
    STEP_ENTRIES,
    LOCKS,
    NOTES,
    SLOT_NAME,
    TRACK_NAME,
    SLOT_TEXT,
    TAGS,
    OSC_ADDRESS,
    OSC_STRING,
    OSC_BLOB,
    KEYMAP_BYTES,
    KEYMAP_RULES,
    CHORD_KEYS,
    RENDER_BARS,
    WAV_BYTES,
    SAVES_IN_FLIGHT,
    CHAIN_ENTRIES,
    CHAIN_REPEATS,
    MIDI_PORT_NAME,
    MIDI_PORTS,
];

impl Limit {
    /// `Ok` when `found` is within the limit, else the error naming both.
    pub fn check(&'static self, found: usize) -> Result<(), LimitError> {
        if found as u64 <= self.max {
            Ok(())
        } else {
            Err(LimitError {
                limit: self,
                found: found as u64,
            })
        }
    }

    /// Checks the characters of `text`; counts at most one past the limit, so a huge text
    /// costs no more than a short one.
    pub fn check_chars(&'static self, text: &str) -> Result<(), LimitError> {
        // A text of at most `max` bytes has at most `max` characters.
        if text.len() as u64 <= self.max {
            return Ok(());
        }
        let n = text.chars().count();
        self.check(n)
    }
}

/// A size over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} may hold at most {} {}; this one has {found}", limit.what, limit.max, limit.unit)]
pub struct LimitError {
    /// The limit broken.
    pub limit: &'static Limit,
    /// The size found.
    pub found: u64,
}

/// A number on the command line that is not one the flag takes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NumberError {
    /// Not a number at all.
    #[error("{} is not a number", quote(text))]
    NotANumber {
        /// The text given.
        text: String,
    },
    /// `inf`, `NaN` and the like.
    #[error("{} is not a finite number", quote(text))]
    NotFinite {
        /// The text given.
        text: String,
    },
    /// A fraction where a whole number is needed.
    #[error("{} is not a whole number", quote(text))]
    NotWhole {
        /// The text given.
        text: String,
    },
    /// Outside the range the flag takes.
    #[error("{} is out of range: {what} {}", quote(text), range_text(*min, *max, *open_min))]
    OutOfRange {
        /// The text given.
        text: String,
        /// What the number is (`the sample rate in Hz`).
        what: &'static str,
        /// Smallest value taken (or, with `open_min`, the value it must be above).
        min: f64,
        /// Largest value taken.
        max: f64,
        /// `min` itself is refused.
        open_min: bool,
    },
}

fn range_text(min: f64, max: f64, open_min: bool) -> String {
    if open_min {
        format!(
            "must be more than {} and at most {}",
            fmt_num(min),
            fmt_num(max)
        )
    } else {
        format!("runs from {} to {}", fmt_num(min), fmt_num(max))
    }
}

/// Reads a finite number in `min..=max` (`what` names it in the error). `min` itself is
/// refused when `open_min` (a duration must be longer than 0).
pub fn parse_number(
    text: &str,
    what: &'static str,
    min: f64,
    max: f64,
    open_min: bool,
) -> Result<f64, NumberError> {
    let t = text.trim();
    let v: f64 = t.parse().map_err(|_| NumberError::NotANumber {
        text: text.to_string(),
    })?;
    if !v.is_finite() {
        return Err(NumberError::NotFinite {
            text: text.to_string(),
        });
    }
    let low_ok = if open_min { v > min } else { v >= min };
    if !low_ok || v > max {
        return Err(NumberError::OutOfRange {
            text: text.to_string(),
            what,
            min,
            max,
            open_min,
        });
    }
    Ok(v)
}

/// Reads a whole number in `range` (`what` names it in the error).
pub fn parse_whole(
    text: &str,
    what: &'static str,
    range: RangeInclusive<u32>,
) -> Result<u32, NumberError> {
    let (min, max) = (*range.start() as f64, *range.end() as f64);
    let v = parse_number(text, what, min, max, false).map_err(|e| match e {
        // A huge integer reads as a float first; say it is out of range, not infinite.
        NumberError::NotFinite { text } if text.trim().bytes().all(|b| b.is_ascii_digit()) => {
            NumberError::OutOfRange {
                text,
                what,
                min,
                max,
                open_min: false,
            }
        }
        other => other,
    })?;
    if v.fract() != 0.0 {
        return Err(NumberError::NotWhole {
            text: text.to_string(),
        });
    }
    Ok(v as u32)
}

/// `--rate`: a sample rate in [`SAMPLE_RATES`].
pub fn parse_rate(text: &str) -> Result<u32, NumberError> {
    parse_whole(text, "the sample rate in Hz", SAMPLE_RATES)
}

/// `--buffer`: a buffer size in [`BUFFER_FRAMES`].
pub fn parse_buffer(text: &str) -> Result<u32, NumberError> {
    parse_whole(text, "the buffer size in frames", BUFFER_FRAMES)
}

/// `--voices`: a voice count in [`VOICE_COUNTS`].
pub fn parse_voices(text: &str) -> Result<u8, NumberError> {
    parse_whole(text, "the number of voices", VOICE_COUNTS).map(|v| v as u8)
}

/// `render --bars`: 1 to [`MAX_RENDER_BARS`].
pub fn parse_bars(text: &str) -> Result<u32, NumberError> {
    parse_whole(text, "the number of bars", 1..=MAX_RENDER_BARS)
}

/// `headless --seconds`: longer than 0, at most [`MAX_HEADLESS_SECONDS`].
pub fn parse_seconds(text: &str) -> Result<f64, NumberError> {
    parse_number(
        text,
        "the run time in seconds",
        0.0,
        MAX_HEADLESS_SECONDS,
        true,
    )
}

/// `ctl --timeout`: [`MIN_CTL_TIMEOUT`] to [`MAX_CTL_TIMEOUT`].
pub fn parse_timeout(text: &str) -> Result<f64, NumberError> {
    parse_number(
        text,
        "the timeout in seconds",
        MIN_CTL_TIMEOUT,
        MAX_CTL_TIMEOUT,
        false,
    )
}

/// `ctl --port`: a UDP port to send to, 1–65535.
pub fn parse_port(text: &str) -> Result<u16, NumberError> {
    parse_whole(text, "the UDP port", 1..=65_535).map(|v| v as u16)
}

/// `--osc-port`: a UDP port to listen on, 0–65535 (0: any free port).
pub fn parse_listen_port(text: &str) -> Result<u16, NumberError> {
    parse_whole(text, "the UDP port (0: any free port)", 0..=65_535).map(|v| v as u16)
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} may hold at most {} {}",
            self.what, self.max, self.unit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_passes_at_its_size_and_names_itself_beyond() {
        for l in &LIMITS {
            let max = l.max as usize;
            assert!(l.check(max).is_ok(), "{}", l.key);
            let e = l.check(max + 1).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "{} may hold at most {} {}; this one has {}",
                    l.what,
                    l.max,
                    l.unit,
                    max + 1
                )
            );
        }
        assert_eq!(
            TRACKS.check(65).unwrap_err().to_string(),
            "a slot may hold at most 64 tracks; this one has 65"
        );
        assert!(TRACK_NAME.check_chars(&"é".repeat(64)).is_ok());
        assert_eq!(
            TRACK_NAME.check_chars(&"é".repeat(65)).unwrap_err().found,
            65
        );
    }

    #[test]
    fn keys_are_unique() {
        for (i, a) in LIMITS.iter().enumerate() {
            assert!(LIMITS[i + 1..].iter().all(|b| b.key != a.key), "{}", a.key);
        }
    }

    #[test]
    fn command_line_numbers_are_refused_with_the_value_quoted() {
        let cases: [(&str, Result<f64, &str>); 12] = [
            ("10", Ok(10.0)),
            ("0.5", Ok(0.5)),
            (" 2 ", Ok(2.0)),
            ("inf", Err("\"inf\" is not a finite number")),
            ("NaN", Err("\"NaN\" is not a finite number")),
            ("-inf", Err("\"-inf\" is not a finite number")),
            ("1e400", Err("\"1e400\" is not a finite number")),
            (
                "-5",
                Err(
                    "\"-5\" is out of range: the run time in seconds must be more than 0 and at most 31536000",
                ),
            ),
            (
                "0",
                Err(
                    "\"0\" is out of range: the run time in seconds must be more than 0 and at most 31536000",
                ),
            ),
            (
                "1e300",
                Err(
                    "\"1e300\" is out of range: the run time in seconds must be more than 0 and at most 31536000",
                ),
            ),
            ("ten", Err("\"ten\" is not a number")),
            ("", Err("\"\" is not a number")),
        ];
        for (text, want) in cases {
            let got = parse_seconds(text).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_string), "{text:?}");
        }
        assert_eq!(parse_rate("48000"), Ok(48000));
        for bad in [
            "0",
            "7999",
            "192001",
            "44100.5",
            "-48000",
            "4294967296",
            "99999999999999999999999",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_buffer("0").unwrap_err().to_string(),
            "\"0\" is out of range: the buffer size in frames runs from 16 to 4096"
        );
        assert_eq!(
            parse_rate("44100.5").unwrap_err().to_string(),
            "\"44100.5\" is not a whole number"
        );
        assert_eq!(parse_listen_port("0"), Ok(0));
        assert!(parse_port("0").is_err());
    }
}
