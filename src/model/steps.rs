//! Per-step data (schema 1.1): what a track's `steps` map adds to the hits its pattern plays.
//!
//! The pattern string stays the source of hits and accents; an entry keyed by step number
//! (from 1) adds a note, a velocity, parameter locks, micro-timing, a ratchet, a chance and a
//! trig condition to that step:
//!
//! ```json
//! "steps": { "5": { "note": "C3", "velocity": 0.8, "lock": { "filter_freq": 1800 },
//!                   "micro": 0.25, "ratchet": 2, "chance": 50, "cond": "1:4" } }
//! ```
//!
//! Every key is optional and written back only when the file had it, so a step reads as it
//! was written.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::limits::{MAX_COND_LOOPS, MAX_PATTERN};
use super::notes::{note_name, parse_note};
use super::registry::{
    Module, ParamSpec, TRACK_FIELDS, TrackFieldKind, VOICE_PARAMS, track, track_override,
};

/// Keys a file carried that Chronus does not know, kept in order and written back unchanged.
pub type Extra = Map<String, Value>;

/// What a parameter lock holds for its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockTarget {
    /// A numeric track field (an index into `TRACK_FIELDS`), which shapes the hit: pitch,
    /// level, cutoff, accent, sends, gate.
    Track(usize),
    /// A voice parameter no track field sets on each hit (a `registry::voice` index):
    /// resonance, envelope, waveform, slide.
    Voice(usize),
}

impl LockTarget {
    /// The lock a key names: a track field's key, or any name of a voice parameter (file key,
    /// OSC path, panel name: `cutoff` = `filter_freq` = `filter/freq`). A voice parameter that
    /// a track field sets on every hit (`freq`, `amp`, `filter_freq`, the sends) locks that
    /// field, since it is what sounds. `note_index` and the text fields are not lockable.
    pub fn resolve(key: &str) -> Option<LockTarget> {
        if let Some(i) = TRACK_FIELDS.iter().position(|f| f.key == key) {
            return Self::lockable_track_field(i).then_some(LockTarget::Track(i));
        }
        let p = Module::Voice(1).param_by_name(key)?.locate().1;
        Some(match track_override(p) {
            Some(i) => LockTarget::Track(i),
            None => LockTarget::Voice(p),
        })
    }

    fn lockable_track_field(i: usize) -> bool {
        TRACK_FIELDS[i].kind == TrackFieldKind::Number && i != track::NOTE_INDEX
    }

    /// The key a save writes (`filter_freq`, `adsr.attack`).
    pub fn key(self) -> &'static str {
        match self {
            LockTarget::Track(i) => TRACK_FIELDS[i].key,
            LockTarget::Voice(p) => VOICE_PARAMS[p].file_key,
        }
    }

    /// Range and default of the locked value.
    pub fn spec(self) -> &'static ParamSpec {
        match self {
            LockTarget::Track(i) => &TRACK_FIELDS[i].spec,
            LockTarget::Voice(p) => &VOICE_PARAMS[p],
        }
    }

    /// Every lockable target, track fields first, in registry order.
    pub fn all() -> impl Iterator<Item = LockTarget> {
        let tracks = (0..TRACK_FIELDS.len())
            .filter(|&i| Self::lockable_track_field(i))
            .map(LockTarget::Track);
        let voices = (0..VOICE_PARAMS.len())
            .filter(|&p| track_override(p).is_none())
            .map(LockTarget::Voice);
        tracks.chain(voices)
    }
}

/// A step's trig condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cond {
    /// `A:B`: plays on the A-th of every B loops of its track (`1:4`: loops 1, 5, 9 …).
    Loop {
        /// Which loop of the cycle, 1..=b.
        a: u8,
        /// Loops in the cycle, 1..=[`MAX_COND_LOOPS`].
        b: u8,
    },
    /// `fill` (true) or `!fill` (false): plays while fill mode is on (off).
    Fill(bool),
    /// `first` (true) or `!first` (false): plays in the first loop since the slot started or
    /// was loaded (in every other loop).
    First(bool),
    /// `pre` (true) or `!pre` (false): plays when the most recently evaluated condition of the
    /// track (a condition or a chance, not a `pre` itself) was true (false).
    Pre(bool),
}

/// Why a `cond` text is not a condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CondError {
    /// Not one of the forms.
    #[error(
        "{0} is not a condition: write A:B (1:4 plays on the first of every 4 loops), fill, !fill, first, !first, pre or !pre"
    )]
    Unknown(String),
    /// `A:B` with numbers out of range.
    #[error("{text}: {why}")]
    Range {
        /// The text given.
        text: String,
        /// What is wrong.
        why: String,
    },
}

impl Cond {
    /// Parses `A:B`, `fill`, `!fill`, `first`, `!first`, `pre`, `!pre` (surrounding spaces
    /// allowed; the words in any case).
    pub fn parse(text: &str) -> Result<Cond, CondError> {
        let t = text.trim();
        let quoted = || super::text::quote(text);
        let word = t.to_ascii_lowercase();
        let (negated, bare) = match word.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, word.as_str()),
        };
        match bare {
            "fill" => return Ok(Cond::Fill(!negated)),
            "first" => return Ok(Cond::First(!negated)),
            "pre" => return Ok(Cond::Pre(!negated)),
            _ => {}
        }
        let Some((a, b)) = t.split_once(':') else {
            return Err(CondError::Unknown(quoted()));
        };
        let whole = |s: &str| {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 3 && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let (Some(a), Some(b)) = (whole(a), whole(b)) else {
            return Err(CondError::Unknown(quoted()));
        };
        let range = |why: String| CondError::Range {
            text: quoted(),
            why,
        };
        if !(1..=MAX_COND_LOOPS).contains(&b) {
            return Err(range(format!(
                "B (the loops in the cycle) runs from 1 to {MAX_COND_LOOPS}"
            )));
        }
        if !(1..=b).contains(&a) {
            return Err(range(format!(
                "A (which loop of the {b} plays) runs from 1 to {b}"
            )));
        }
        Ok(Cond::Loop {
            a: a as u8,
            b: b as u8,
        })
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = |on: bool| if on { "" } else { "!" };
        match *self {
            Cond::Loop { a, b } => write!(f, "{a}:{b}"),
            Cond::Fill(on) => write!(f, "{}fill", not(on)),
            Cond::First(on) => write!(f, "{}first", not(on)),
            Cond::Pre(on) => write!(f, "{}pre", not(on)),
        }
    }
}

/// One step's entry. Every field is optional: `None` leaves the step as the pattern and the
/// track play it (and is not written).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepData {
    /// The hit's pitch in Hz, instead of the note cycle's (the cycle still moves on).
    pub note: Option<f64>,
    /// Scales the hit's level, 0–1.
    pub velocity: Option<f64>,
    /// Parameter locks, in file order, each target at most once.
    pub locks: Vec<(LockTarget, f64)>,
    /// Unknown keys inside `lock`.
    pub lock_extra: Extra,
    /// Moves the hit by this fraction of a step, −0.5–0.5.
    pub micro: Option<f64>,
    /// Hits in the step, 1–8, equally spaced.
    pub ratchet: Option<u8>,
    /// Probability that the step plays, 0–100 %.
    pub chance: Option<f64>,
    /// Trig condition.
    pub cond: Option<Cond>,
    /// Unknown keys.
    pub extra: Extra,
}

impl StepData {
    /// The locked value of `target`, when the step locks it.
    pub fn lock(&self, target: LockTarget) -> Option<f64> {
        self.locks
            .iter()
            .find(|(t, _)| *t == target)
            .map(|&(_, v)| v)
    }

    /// True when the entry changes nothing about how its step plays.
    pub fn plays_as_pattern(&self) -> bool {
        self.note.is_none()
            && self.velocity.is_none_or(|v| v == 1.0)
            && self.locks.is_empty()
            && self.micro.is_none_or(|m| m == 0.0)
            && self.ratchet.is_none_or(|r| r <= 1)
            && self.chance.is_none_or(|c| c >= 100.0)
            && self.cond.is_none()
    }
}

/// A track's `steps` map.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Steps {
    /// Entries by step number, from 1.
    pub entries: BTreeMap<u16, StepData>,
    /// Unknown keys of the map (`_comment`), kept.
    pub extra: Extra,
}

impl Steps {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.extra.is_empty()
    }

    /// The entry of 0-based step `i`, when there is one.
    pub fn at(&self, i: usize) -> Option<&StepData> {
        u16::try_from(i + 1).ok().and_then(|n| self.entries.get(&n))
    }
}

/// Reads a key of the `steps` map as a step number: plain digits without a leading zero,
/// 1 to [`MAX_PATTERN`].
pub fn step_number(key: &str) -> Option<u16> {
    if key.is_empty() || key.len() > 3 || key.starts_with('0') {
        return None;
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u16 = key.parse().ok()?;
    (1..=MAX_PATTERN as u16).contains(&n).then_some(n)
}

/// A note as a save writes it: its name when the name reads back to exactly this frequency
/// (`"C3"`), else the frequency in Hz.
pub fn note_value(hz: f64) -> Value {
    let name = note_name(hz);
    if parse_note(&name).ok() == Some(hz) {
        Value::String(name)
    } else {
        Value::from(if hz.is_finite() { hz } else { 0.0 })
    }
}

/// The `steps` object a save writes: entries in step order, each key in the order of the
/// issue's example (note, velocity, lock, micro, ratchet, chance, cond), unknown keys after.
pub fn steps_value(steps: &Steps) -> Value {
    let mut out = Map::new();
    let num = |v: f64| Value::from(if v.is_finite() { v } else { 0.0 });
    for (n, d) in &steps.entries {
        let mut obj = Map::new();
        if let Some(hz) = d.note {
            obj.insert("note".into(), note_value(hz));
        }
        if let Some(v) = d.velocity {
            obj.insert("velocity".into(), num(v));
        }
        if !d.locks.is_empty() || !d.lock_extra.is_empty() {
            let mut lock = Map::new();
            for &(target, v) in &d.locks {
                lock.insert(target.key().to_string(), num(v));
            }
            append(&mut lock, &d.lock_extra);
            obj.insert("lock".into(), Value::Object(lock));
        }
        if let Some(m) = d.micro {
            obj.insert("micro".into(), num(m));
        }
        if let Some(r) = d.ratchet {
            obj.insert("ratchet".into(), Value::from(r));
        }
        if let Some(c) = d.chance {
            obj.insert("chance".into(), num(c));
        }
        if let Some(c) = d.cond {
            obj.insert("cond".into(), Value::String(c.to_string()));
        }
        append(&mut obj, &d.extra);
        out.insert(n.to_string(), Value::Object(obj));
    }
    append(&mut out, &steps.extra);
    Value::Object(out)
}

/// The keys of a step's entry the step editor and `/seq/step/data` take besides parameter
/// names (which lock): `clear` empties the entry.
pub const STEP_KEYS: [&str; 7] = [
    "note", "velocity", "micro", "ratchet", "chance", "cond", "clear",
];

/// One change to a step's entry, as the step editor, the chance and ratchet keys and
/// `/seq/step/data` make it. `None` removes the key (the step plays as the pattern and the
/// track play it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepEdit {
    /// The step's own note in Hz.
    Note(Option<f64>),
    /// The hit's velocity, 0–1.
    Velocity(Option<f64>),
    /// Micro-timing, −0.5–0.5 of a step.
    Micro(Option<f64>),
    /// Hits in the step, 1–8.
    Ratchet(Option<u8>),
    /// Chance, 0–100 %.
    Chance(Option<f64>),
    /// Trig condition.
    Cond(Option<Cond>),
    /// A parameter lock.
    Lock(LockTarget, Option<f64>),
    /// Chance moved by this many percent (100 % is no chance key).
    ChanceBy(f64),
    /// Ratchet moved by this many hits (1 hit is no ratchet key).
    RatchetBy(i32),
    /// Every key of the entry removed.
    Clear,
}

/// Why a typed step edit was refused; each message quotes what was typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepEditError {
    /// Neither a step key nor a lockable parameter.
    #[error(
        "{0} is not a step key: note, velocity, micro, ratchet, chance, cond, clear, or a parameter to lock (filter_freq, attack …)"
    )]
    UnknownKey(String),
    /// The key needs a value.
    #[error("{0} needs a value (- removes it)")]
    Missing(String),
    /// Not a number.
    #[error("{key}: {text} is not a number")]
    NotANumber {
        /// The key.
        key: String,
        /// What was typed, quoted.
        text: String,
    },
    /// A number outside the key's range.
    #[error("{key}: {text} is out of range {range}")]
    OutOfRange {
        /// The key.
        key: String,
        /// What was typed, quoted.
        text: String,
        /// The range, as people read it.
        range: String,
    },
    /// Not a note.
    #[error("note: {0} is not a note (C3, A#2, a MIDI number or Hz)")]
    Note(String),
    /// Not a condition.
    #[error("cond: {0}")]
    Cond(#[from] CondError),
}

impl StepEdit {
    /// Reads `key value` as typed (`ratchet 4`, `cond fill`, `cutoff 1800`, `note C3`);
    /// a value of `-` or `none` removes the key; `clear` needs no value.
    pub fn parse(key: &str, value: Option<&str>) -> Result<StepEdit, StepEditError> {
        use super::registry::step as spec;
        let key = key.trim();
        let lower = key.to_ascii_lowercase();
        if lower == "clear" {
            return Ok(StepEdit::Clear);
        }
        let target = match lower.as_str() {
            "note" | "velocity" | "micro" | "ratchet" | "chance" | "cond" => None,
            _ => Some(
                LockTarget::resolve(key)
                    .ok_or_else(|| StepEditError::UnknownKey(super::text::quote(key)))?,
            ),
        };
        let value = value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| StepEditError::Missing(lower.clone()))?;
        let remove = matches!(value.to_ascii_lowercase().as_str(), "-" | "none");
        let number = |s: &ParamSpec, name: &str| -> Result<Option<f64>, StepEditError> {
            if remove {
                return Ok(None);
            }
            if let Some(v) = s.choice_value(value) {
                return Ok(Some(v));
            }
            let v: f64 = value
                .trim_end_matches('%')
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| StepEditError::NotANumber {
                    key: name.to_string(),
                    text: super::text::quote(value),
                })?;
            if !s.in_range(v) {
                return Err(StepEditError::OutOfRange {
                    key: name.to_string(),
                    text: super::text::quote(value),
                    range: format!("{}–{}", super::fmt_num(s.min), super::fmt_num(s.max)),
                });
            }
            Ok(Some(v))
        };
        Ok(match (target, lower.as_str()) {
            (Some(t), _) => StepEdit::Lock(t, number(t.spec(), t.key())?),
            (None, "note") => StepEdit::Note(if remove {
                None
            } else {
                Some(
                    parse_note(value)
                        .map_err(|_| StepEditError::Note(super::text::quote(value)))?,
                )
            }),
            (None, "velocity") => StepEdit::Velocity(number(&spec::VELOCITY, "velocity")?),
            (None, "micro") => StepEdit::Micro(number(&spec::MICRO, "micro")?),
            (None, "ratchet") => {
                StepEdit::Ratchet(number(&spec::RATCHET, "ratchet")?.map(|v| v as u8))
            }
            (None, "chance") => StepEdit::Chance(number(&spec::CHANCE, "chance")?),
            _ => StepEdit::Cond(if remove {
                None
            } else {
                Some(Cond::parse(value)?)
            }),
        })
    }

    /// Applies the change to an entry (values clamped to their ranges).
    pub fn apply(self, d: &mut StepData) {
        use super::registry::step as spec;
        let voice_freq = &VOICE_PARAMS[super::registry::voice::FREQ];
        match self {
            StepEdit::Note(v) => d.note = v.map(|hz| voice_freq.clamp(hz)),
            StepEdit::Velocity(v) => d.velocity = v.map(|x| spec::VELOCITY.clamp(x)),
            StepEdit::Micro(v) => d.micro = v.map(|x| spec::MICRO.clamp(x)),
            StepEdit::Ratchet(v) => d.ratchet = v.map(|x| spec::RATCHET.clamp(x as f64) as u8),
            StepEdit::Chance(v) => d.chance = v.map(|x| spec::CHANCE.clamp(x)),
            StepEdit::Cond(c) => d.cond = c,
            StepEdit::Lock(target, v) => {
                d.locks.retain(|(t, _)| *t != target);
                if let Some(v) = v {
                    d.locks.push((target, target.spec().clamp(v)));
                }
            }
            StepEdit::ChanceBy(by) => {
                let c = spec::CHANCE.clamp(d.chance.unwrap_or(100.0) + by);
                d.chance = (c < 100.0).then_some(c);
            }
            StepEdit::RatchetBy(by) => {
                let r = spec::RATCHET.clamp(d.ratchet.unwrap_or(1) as f64 + by as f64) as u8;
                d.ratchet = (r > 1).then_some(r);
            }
            StepEdit::Clear => *d = StepData::default(),
        }
    }
}

impl StepData {
    /// The entry in a few words for the message line and the step editor
    /// (`note C3 · ratchet 2 · chance 50% · cond fill`), or `no step data`.
    pub fn summary(&self) -> String {
        let n = super::fmt_num;
        let mut parts = Vec::new();
        if let Some(hz) = self.note {
            parts.push(format!("note {}", note_name(hz)));
        }
        if let Some(v) = self.velocity {
            parts.push(format!("velocity {}", n(v)));
        }
        for &(t, v) in &self.locks {
            parts.push(format!("{} {}", t.key(), n(v)));
        }
        if let Some(m) = self.micro {
            parts.push(format!("micro {}", n(m)));
        }
        if let Some(r) = self.ratchet {
            parts.push(format!("ratchet {r}"));
        }
        if let Some(c) = self.chance {
            parts.push(format!("chance {}%", n(c)));
        }
        if let Some(c) = self.cond {
            parts.push(format!("cond {c}"));
        }
        if parts.is_empty() {
            "no step data".into()
        } else {
            parts.join(" · ")
        }
    }

    /// The one mark a step's cell shows for its data, most telling first: a condition (`?`,
    /// `ᶠ` for `fill`), a ratchet (`²`…`⁸`), a chance (`%`), a lock (`*`), micro-timing
    /// (`~`), its own note or velocity (`'`). `None`: nothing to mark.
    pub fn mark(&self) -> Option<char> {
        const RATCHET: [char; 9] = ['¹', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸'];
        if let Some(c) = self.cond {
            return Some(if c == Cond::Fill(true) { 'ᶠ' } else { '?' });
        }
        if let Some(r) = self.ratchet.filter(|&r| r > 1) {
            return Some(RATCHET[(r as usize).min(8)]);
        }
        if self.chance.is_some() {
            return Some('%');
        }
        if !self.locks.is_empty() {
            return Some('*');
        }
        if self.micro.is_some_and(|m| m != 0.0) {
            return Some('~');
        }
        (self.note.is_some() || self.velocity.is_some()).then_some('\'')
    }
}

fn append(obj: &mut Map<String, Value>, extra: &Extra) {
    for (k, v) in extra {
        if !obj.contains_key(k) {
            obj.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::registry::voice;

    #[test]
    fn conditions_parse_and_print_back() {
        for (text, cond) in [
            ("1:4", Cond::Loop { a: 1, b: 4 }),
            (" 3:3 ", Cond::Loop { a: 3, b: 3 }),
            ("16:16", Cond::Loop { a: 16, b: 16 }),
            ("fill", Cond::Fill(true)),
            ("!fill", Cond::Fill(false)),
            ("FIRST", Cond::First(true)),
            ("!first", Cond::First(false)),
            ("pre", Cond::Pre(true)),
            ("!pre", Cond::Pre(false)),
        ] {
            assert_eq!(Cond::parse(text), Ok(cond), "{text}");
            assert_eq!(Cond::parse(&cond.to_string()), Ok(cond));
        }
        assert_eq!(
            Cond::parse("5:4").unwrap_err().to_string(),
            "\"5:4\": A (which loop of the 4 plays) runs from 1 to 4"
        );
        assert_eq!(
            Cond::parse("1:17").unwrap_err().to_string(),
            "\"1:17\": B (the loops in the cycle) runs from 1 to 16"
        );
        for bad in [
            "0:4", "1:0", "", "1:", ":4", "x:4", "1:4:2", "fil", "!!fill", "-1:4",
        ] {
            assert!(Cond::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lock_keys_resolve_through_every_alias_to_one_canonical_key() {
        let cutoff = LockTarget::Track(track::FILTER_FREQ);
        for key in ["filter_freq", "cutoff", "filter/freq", "filter.freq"] {
            assert_eq!(LockTarget::resolve(key), Some(cutoff), "{key}");
        }
        assert_eq!(cutoff.key(), "filter_freq");
        assert_eq!(
            LockTarget::resolve("amp"),
            Some(LockTarget::Track(track::BASE_AMP))
        );
        assert_eq!(
            LockTarget::resolve("base_amp"),
            Some(LockTarget::Track(track::BASE_AMP))
        );
        let attack = LockTarget::Voice(voice::ATTACK);
        for key in ["adsr.attack", "adsr/attack", "attack", "adsr_attack"] {
            assert_eq!(LockTarget::resolve(key), Some(attack), "{key}");
        }
        assert_eq!(attack.key(), "adsr.attack");
        assert_eq!(
            LockTarget::resolve("q"),
            Some(LockTarget::Voice(voice::FILTER_Q))
        );
        for bad in ["note_index", "notes", "name", "pattern", "nope", ""] {
            assert_eq!(LockTarget::resolve(bad), None, "{bad}");
        }
        // Every target resolves from its own key, and fits the locks-per-step limit.
        let all: Vec<LockTarget> = LockTarget::all().collect();
        for t in &all {
            assert_eq!(LockTarget::resolve(t.key()), Some(*t));
        }
        assert!(all.len() <= crate::model::limits::MAX_LOCKS_PER_STEP);
    }

    #[test]
    fn step_numbers_are_plain_and_in_range() {
        assert_eq!(step_number("1"), Some(1));
        assert_eq!(step_number("64"), Some(64));
        for bad in ["0", "65", "01", "+1", "1.0", " 1", "", "1000", "a"] {
            assert_eq!(step_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn notes_are_written_as_names_when_the_name_reads_back_exactly() {
        let c3 = parse_note("C3").unwrap();
        assert_eq!(note_value(c3), Value::String("C3".into()));
        assert_eq!(note_value(130.0), Value::from(130.0));
    }
}
