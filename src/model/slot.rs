//! Slot files, schema 1.x: the data types.
//!
//! Values are kept as `f64` so numbers written by the original engine (32-bit float noise such
//! as `0.05000000074505806`) survive a load/save round trip byte for byte.

use serde_json::{Map, Value};

use super::registry::{
    self, DEFAULT_VOICES, Module, ParamId, ParamValues, TRACK_FIELDS, delay, sequencer as seq_spec,
    track, voice,
};
use super::steps::Steps;

/// Keys a file carried that Chronus does not know, kept in order and written back unchanged.
pub type Extra = Map<String, Value>;

/// One pattern slot: the sequencer and every module's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// `chronus_version` as written in the file.
    pub chronus_version: String,
    /// The schema version a save writes: [`SCHEMA_VERSION`] for a slot made here or read from
    /// a 1.0 or 1.1 file (a 1.0 file, or one with no version, is upgraded as it is read, and
    /// written as 1.1 when saved); a newer 1.x file's own version, so its saves keep it.
    pub schema_version: String,
    /// Unix seconds when the slot was saved.
    pub timestamp: f64,
    /// `metadata`.
    pub metadata: Metadata,
    /// `sequencer`.
    pub sequencer: Sequencer,
    /// Every module parameter (voices and effects) in the registry's flat space.
    pub params: ParamValues,
    /// How many `voiceN` objects the `modules` section holds (written back the same way).
    pub voice_modules: usize,
    /// Unknown keys inside each module object, by module id (`voice1`, `acid1`, …); each value
    /// is an object. Unknown keys of a voice's nested `adsr` object sit under its `"adsr"` key.
    pub module_extra: Map<String, Value>,
    /// Unknown keys in `modules` that are not module objects Chronus knows.
    pub modules_extra: Extra,
    /// Unknown top-level keys (including `"$schema"`).
    pub extra: Extra,
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// Display name.
    pub name: String,
    /// Genre, when given.
    pub genre: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Unknown keys.
    pub extra: Extra,
}

/// `sequencer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequencer {
    /// Tempo, 30–300.
    pub bpm: f64,
    /// Swing, 0–0.6.
    pub swing: f64,
    /// `seed` (schema 1.1): the seed of the steps' chance; written only when the file had it
    /// or an edit set it (a missing seed plays as 0).
    pub seed: Option<u32>,
    /// Tracks, in file order.
    pub tracks: Vec<Track>,
    /// Unknown keys.
    pub extra: Extra,
}

impl Default for Sequencer {
    fn default() -> Self {
        Sequencer {
            bpm: seq_spec::BPM.default,
            swing: seq_spec::SWING.default,
            seed: None,
            tracks: Vec::new(),
            extra: Extra::new(),
        }
    }
}

/// One sequencer track.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Key in `sequencer.tracks` and the track's name.
    pub name: String,
    /// The voice it plays (`voice1` … `voice16`).
    pub voice_id: String,
    /// Steps: `X` accent, `x` hit, anything else rest.
    pub pattern: String,
    /// Notes in Hz, cycled on hits; empty = `base_freq`.
    pub notes: Vec<f64>,
    /// Frequency when `notes` is empty.
    pub base_freq: f64,
    /// Amplitude × velocity on hits.
    pub base_amp: f64,
    /// Voice cutoff on hits.
    pub filter_freq: f64,
    /// Cutoff + accent_boost × (velocity − 0.5).
    pub accent_boost: f64,
    /// Reverb send set on hits.
    pub reverb_send: f64,
    /// Delay send set on hits.
    pub delay_send: f64,
    /// Gate length as a fraction of a step.
    pub gate_frac: f64,
    /// Next note index.
    pub note_index: u64,
    /// Level in dB an accented (`X`) hit adds over a plain one.
    pub accent: f64,
    /// Performance state: muted tracks do not play (stored as `"muted": true` when set).
    pub muted: bool,
    /// Performance state: when any track is soloed only soloed tracks play.
    pub solo: bool,
    /// Where the track's hits also go as MIDI notes (`midi`), when anywhere.
    pub midi: Option<MidiTarget>,
    /// Per-step data (schema 1.1): notes, velocities, locks, timing, chance, conditions.
    pub steps: Steps,
    /// Unknown keys.
    pub extra: Extra,
}

/// A track's MIDI note output (`"midi": { "port": "Digitakt", "channel": 1 }`).
#[derive(Debug, Clone, PartialEq)]
pub struct MidiTarget {
    /// The first output port whose name contains this (case-sensitive); `chronus` is
    /// Chronus's own `chronus:out` (with `--midi-virtual`).
    pub port: String,
    /// MIDI channel, 1–16.
    pub channel: u8,
    /// Unknown keys inside the `midi` object.
    pub extra: Extra,
}

impl MidiTarget {
    /// A target on `port`, channel `channel` (1–16).
    pub fn new(port: &str, channel: u8) -> MidiTarget {
        MidiTarget {
            port: port.to_string(),
            channel,
            extra: Extra::new(),
        }
    }
}

impl Track {
    /// A track with every field at its registry default.
    pub fn new(name: &str, voice_id: &str, pattern: &str) -> Track {
        let d = |i: usize| TRACK_FIELDS[i].spec.default;
        Track {
            name: name.to_string(),
            voice_id: voice_id.to_string(),
            pattern: pattern.to_string(),
            notes: Vec::new(),
            base_freq: d(track::BASE_FREQ),
            base_amp: d(track::BASE_AMP),
            filter_freq: d(track::FILTER_FREQ),
            accent_boost: d(track::ACCENT_BOOST),
            reverb_send: d(track::REVERB_SEND),
            delay_send: d(track::DELAY_SEND),
            gate_frac: d(track::GATE_FRAC),
            note_index: 0,
            accent: d(track::ACCENT),
            muted: false,
            solo: false,
            midi: None,
            steps: Steps::default(),
            extra: Extra::new(),
        }
    }

    /// The voice this track plays, when its id names one.
    pub fn voice(&self) -> Option<u8> {
        match Module::parse(&self.voice_id)? {
            Module::Voice(n) => Some(n),
            _ => None,
        }
    }

    /// The numeric field at registry index `i` (one of the [`track`] constants).
    pub fn number(&self, i: usize) -> f64 {
        match i {
            track::BASE_FREQ => self.base_freq,
            track::BASE_AMP => self.base_amp,
            track::FILTER_FREQ => self.filter_freq,
            track::ACCENT_BOOST => self.accent_boost,
            track::REVERB_SEND => self.reverb_send,
            track::DELAY_SEND => self.delay_send,
            track::GATE_FRAC => self.gate_frac,
            track::NOTE_INDEX => self.note_index as f64,
            track::ACCENT => self.accent,
            _ => panic!("track field {i} is not numeric"),
        }
    }

    /// Sets the numeric field at registry index `i`, clamped; returns the stored value.
    pub fn set_number(&mut self, i: usize, v: f64) -> f64 {
        let v = TRACK_FIELDS[i].spec.clamp(v);
        match i {
            track::BASE_FREQ => self.base_freq = v,
            track::BASE_AMP => self.base_amp = v,
            track::FILTER_FREQ => self.filter_freq = v,
            track::ACCENT_BOOST => self.accent_boost = v,
            track::REVERB_SEND => self.reverb_send = v,
            track::DELAY_SEND => self.delay_send = v,
            track::GATE_FRAC => self.gate_frac = v,
            track::NOTE_INDEX => self.note_index = v as u64,
            track::ACCENT => self.accent = v,
            _ => panic!("track field {i} is not numeric"),
        }
        v
    }
}

/// What the parameter panel offers for one voice parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Heard {
    /// Editing `id` changes the sound; `value` is what sounds (a track's field where a track
    /// overrides the voice on every hit).
    Edit {
        /// The parameter an edit sets.
        id: ParamId,
        /// The value that sounds.
        value: f64,
    },
    /// Nothing plays this value: the voice's pitch comes from its tracks' notes, or slide
    /// has only one pitch to glide between.
    NotHeard(&'static str),
}

impl Slot {
    /// The track playing voice `n` whose fields sound: `prefer` (the selected track) when it
    /// plays the voice, else the first that does.
    pub fn sounding_track(&self, n: u8, prefer: Option<usize>) -> Option<&Track> {
        let tracks = &self.sequencer.tracks;
        prefer
            .and_then(|i| tracks.get(i))
            .filter(|t| t.voice() == Some(n))
            .or_else(|| tracks.iter().find(|t| t.voice() == Some(n)))
    }

    /// What the panel row of voice parameter `id` shows and edits: where it is heard, and
    /// the value that sounds. Voice2's own filter points to acid1, which replaces it.
    pub fn heard(&self, id: ParamId, prefer: Option<usize>) -> Heard {
        self.heard_at(id, prefer, self.sequencer.bpm)
    }

    /// [`Slot::heard`] when the song plays at `bpm` (an outside clock's tempo), which a
    /// synced delay time follows.
    pub fn heard_at(&self, id: ParamId, prefer: Option<usize>, bpm: f64) -> Heard {
        let (Module::Voice(n), p) = id.locate() else {
            return Heard::Edit {
                id,
                value: self.delay_time_at(id, bpm).unwrap_or(self.params.get(id)),
            };
        };
        if let Some(other) = registry::replaced_by(id) {
            return Heard::Edit {
                id: other,
                value: self.params.get(other),
            };
        }
        let playing: Vec<&Track> = self
            .sequencer
            .tracks
            .iter()
            .filter(|t| t.voice() == Some(n))
            .collect();
        if !playing.is_empty() {
            if p == voice::FREQ && playing.iter().all(|t| !t.notes.is_empty()) {
                return Heard::NotHeard("notes set the pitch");
            }
            let mut pitches: Vec<u64> = playing
                .iter()
                .flat_map(|t| {
                    if t.notes.is_empty() {
                        vec![t.base_freq.to_bits()]
                    } else {
                        t.notes.iter().map(|f| f.to_bits()).collect()
                    }
                })
                .collect();
            // The voice starts at its own freq: a first hit at another pitch glides too.
            pitches.push(self.params.get(ParamId::voice(n, voice::FREQ)).to_bits());
            pitches.sort_unstable();
            pitches.dedup();
            if p == voice::SLIDE_TIME && pitches.len() == 1 {
                return Heard::NotHeard("one pitch: nothing to slide");
            }
            // The envelope is released before its decay when every gate is shorter than the
            // attack (a gate is gate_frac of a 16th).
            let longest_gate =
                playing.iter().map(|t| t.gate_frac).fold(0.0, f64::max) * 15.0 / self.sequencer.bpm;
            let attack = self.params.get(ParamId::voice(n, voice::ATTACK));
            if (p == voice::DECAY || p == voice::SUSTAIN) && longest_gate <= attack {
                return Heard::NotHeard("the gate closes during the attack");
            }
            // With sustain 0, an envelope that has decayed before every gate-off has nothing
            // left to release.
            let shortest_gate =
                playing.iter().map(|t| t.gate_frac).fold(1.0, f64::min) * 15.0 / self.sequencer.bpm;
            let decay = self.params.get(ParamId::voice(n, voice::DECAY));
            let sustain = self.params.get(ParamId::voice(n, voice::SUSTAIN));
            if p == voice::RELEASE && sustain == 0.0 && shortest_gate >= attack + decay {
                return Heard::NotHeard("silent before the gate closes: nothing to release");
            }
        }
        let value = match (registry::track_override(p), self.sounding_track(n, prefer)) {
            (Some(field), Some(t)) => t.number(field),
            _ => self.params.get(id),
        };
        Heard::Edit { id, value }
    }

    /// The time delay1 plays when `id` is its `time` and a note value syncs it to the tempo.
    pub fn delay_time_heard(&self, id: ParamId) -> Option<f64> {
        self.delay_time_at(id, self.sequencer.bpm)
    }

    /// [`Slot::delay_time_heard`] when the song plays at `bpm` (an outside clock's tempo).
    pub fn delay_time_at(&self, id: ParamId, bpm: f64) -> Option<f64> {
        if id != ParamId::delay(delay::TIME) {
            return None;
        }
        delay::synced_time(self.params.get(ParamId::delay(delay::SYNC)), bpm)
    }

    /// Sets parameter `id` (clamped) and, where tracks override it on every hit, their field
    /// too, so the edit is heard; returns the stored value. Setting delay1's `time` frees it
    /// from the tempo (as turning a synced delay's time knob does on a hardware box).
    pub fn set_param_heard(&mut self, id: ParamId, v: f64) -> f64 {
        if id == ParamId::delay(delay::TIME) {
            self.params.set(ParamId::delay(delay::SYNC), 0.0);
        }
        let v = self.params.set(id, v);
        // Choosing a note value also moves the free time as near to it as its range allows:
        // a reader that knows no `sync` plays that, and freeing the time later starts there.
        if id == ParamId::delay(delay::SYNC)
            && let Some(t) = delay::synced_time(v, self.sequencer.bpm)
        {
            self.params
                .set(ParamId::delay(delay::TIME), registry::clean(t, 6));
        }
        if let (Module::Voice(n), p) = id.locate()
            && let Some(field) = registry::track_override(p)
        {
            for t in self.sequencer.tracks.iter_mut() {
                if t.voice() == Some(n) {
                    t.set_number(field, v);
                }
            }
        }
        v
    }

    /// Sets numeric field `field` of track `i` (clamped) and, where it overrides a voice
    /// parameter, the voice's parameter too, so both places show what sounds.
    pub fn set_track_number_heard(&mut self, i: usize, field: usize, v: f64) -> f64 {
        let Some(t) = self.sequencer.tracks.get_mut(i) else {
            return v;
        };
        let v = t.set_number(field, v);
        if let Some(n) = t.voice()
            && let Some(p) = (0..registry::VOICE_PARAM_COUNT)
                .find(|&p| registry::track_override(p) == Some(field))
        {
            self.params.set(ParamId::voice(n, p), v);
        }
        v
    }

    /// A new track on `voice_id` that sounds as the voice sounds now: a track overrides its
    /// voice's pitch, level, cutoff and sends on every hit, so registry defaults (440 Hz,
    /// 1000 Hz) would turn a 45 Hz kick voice into a beep. When another track already plays
    /// the voice, the new one takes that track's pitch, level, filter, accents, sends and
    /// gate; otherwise the voice's own parameters.
    pub fn new_track(&self, name: &str, voice_id: &str, pattern: &str) -> Track {
        let mut t = Track::new(name, voice_id, pattern);
        let Some(n) = t.voice() else { return t };
        if let Some(other) = self.sequencer.tracks.iter().find(|o| o.voice() == Some(n)) {
            let pitch = other.notes.first().copied().unwrap_or(other.base_freq);
            t.set_number(track::BASE_FREQ, pitch);
            for i in [
                track::BASE_AMP,
                track::FILTER_FREQ,
                track::ACCENT_BOOST,
                track::REVERB_SEND,
                track::DELAY_SEND,
                track::GATE_FRAC,
                track::ACCENT,
            ] {
                t.set_number(i, other.number(i));
            }
            return t;
        }
        let p = |i: usize| self.params.get(ParamId::voice(n, i));
        t.set_number(track::BASE_FREQ, p(voice::FREQ));
        t.set_number(track::BASE_AMP, p(voice::AMP));
        t.set_number(track::FILTER_FREQ, p(voice::FILTER_FREQ));
        t.set_number(track::REVERB_SEND, p(voice::REVERB_SEND));
        t.set_number(track::DELAY_SEND, p(voice::DELAY_SEND));
        t
    }
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            chronus_version: "1.0.0".to_string(),
            schema_version: SCHEMA_VERSION.to_string(),
            timestamp: 0.0,
            metadata: Metadata::default(),
            sequencer: Sequencer::default(),
            params: ParamValues::default(),
            voice_modules: DEFAULT_VOICES,
            module_extra: Map::new(),
            modules_extra: Extra::new(),
            extra: Extra::new(),
        }
    }
}

/// Slot files larger than this are refused before they are read whole.
pub const MAX_SLOT_BYTES: usize = 1 << 20;

/// The schema major version this Chronus reads and writes.
pub const SCHEMA_MAJOR: u64 = 1;

/// The schema version this Chronus writes: 1.1 adds per-step data (`steps`) and
/// `sequencer.seed`. Files of 1.0 load unchanged and are written as 1.1 when saved.
pub const SCHEMA_VERSION: &str = "1.1";

/// The minor number of a `1.x` version text (0 when there is none).
pub fn schema_minor(version: &str) -> u64 {
    version
        .split('.')
        .nth(1)
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0)
}

/// The version a save writes for a slot read as `read`: [`SCHEMA_VERSION`], or the file's own
/// when it is a newer 1.x (its keys this Chronus does not know are kept, so it stays that).
pub fn written_schema_version(read: &str) -> &str {
    if schema_minor(read) > schema_minor(SCHEMA_VERSION) {
        read
    } else {
        SCHEMA_VERSION
    }
}

/// A slot that loaded, with every problem the reader fixed on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The slot, with clamped values and defaults filled in.
    pub slot: Slot,
    /// One entry per clamped field, unknown key or unusable voice id.
    pub warnings: Vec<Warning>,
}

/// A problem the reader fixed or tolerated (the slot still loads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// JSON path of the field, e.g. `sequencer.tracks.kick.base_amp`.
    pub path: String,
    /// What was wrong and what the reader did about it.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a slot file could not be loaded. Every variant names the file (`origin`).
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// The text is not valid JSON (or not UTF-8).
    #[error("{origin}:{line}:{column}: syntax error: {message}")]
    Syntax {
        /// File name (or other origin) of the text.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (0 = before the first character of the line).
        column: usize,
        /// What the JSON parser expected.
        message: String,
    },
    /// Valid JSON that is not a valid slot.
    #[error("{}", invalid_message(origin, path, message))]
    Invalid {
        /// File name of the slot.
        origin: String,
        /// JSON path of the offending field (empty for the whole document).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file is larger than [`MAX_SLOT_BYTES`].
    #[error(
        "{origin} is {}; a slot file may be at most {}",
        size_text(*size),
        size_text(MAX_SLOT_BYTES as u64)
    )]
    TooLarge {
        /// File name.
        origin: String,
        /// Size in bytes.
        size: u64,
    },
    /// An object has the same key twice; JSON would keep only one of the two values.
    #[error(
        "{origin}: {path} is written twice, at line {} column {} and at line {} column {}; an object keeps only one of them, so rename or remove one",
        first.0, first.1, second.0, second.1
    )]
    DuplicateKey {
        /// File name.
        origin: String,
        /// JSON path of the member written twice.
        path: String,
        /// Line and column of the first.
        first: (usize, usize),
        /// Line and column of the second.
        second: (usize, usize),
    },
    /// Saved again, the slot would be larger than a slot file may be, so it could not be.
    #[error(
        "{origin}: saved again in full (every default and voice written out), this slot would be {}, over the {} a slot file may hold; make it smaller (fewer tracks, notes or extra keys)",
        size_text(*size),
        size_text(MAX_SLOT_BYTES as u64)
    )]
    TooLargeToSave {
        /// File name.
        origin: String,
        /// The most a save of it could write, in bytes.
        size: u64,
    },
    /// The path is not a regular file (a FIFO, socket, device or directory).
    #[error("{origin} is {kind}, not a {what}")]
    NotAFile {
        /// The path.
        origin: String,
        /// What it is: `a FIFO (named pipe)`, `a directory`.
        kind: String,
        /// What it was read as: `slot file`.
        what: &'static str,
    },
    /// The file could not be read.
    // The message holds the cause, so it is not also returned as `source()`: a chain printer
    // would say it twice.
    #[error("{origin}: {error}")]
    Io {
        /// File name.
        origin: String,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// A size over one of the slot limits ([`crate::model::limits`]).
    #[error("{}", invalid_message(origin, path, &error.to_string()))]
    Limit {
        /// File name.
        origin: String,
        /// JSON path of the field over its limit.
        path: String,
        /// The limit and the size found.
        error: crate::model::limits::LimitError,
    },
    /// The file was written for a newer schema than this Chronus reads.
    #[error(
        "{origin}: schema_version \"{found}\" is not supported: this Chronus reads schema version {supported}"
    )]
    Version {
        /// File name.
        origin: String,
        /// `schema_version` in the file.
        found: String,
        /// What this Chronus reads (`1.x`).
        supported: String,
    },
}

fn invalid_message(origin: &str, path: &str, message: &str) -> String {
    if path.is_empty() {
        format!("{origin}: {message}")
    } else {
        format!("{origin}: {path}: {message}")
    }
}

impl SlotError {
    /// The file (or other origin) the error is about.
    pub fn origin(&self) -> &str {
        match self {
            SlotError::Syntax { origin, .. }
            | SlotError::Invalid { origin, .. }
            | SlotError::TooLarge { origin, .. }
            | SlotError::NotAFile { origin, .. }
            | SlotError::DuplicateKey { origin, .. }
            | SlotError::TooLargeToSave { origin, .. }
            | SlotError::Io { origin, .. }
            | SlotError::Limit { origin, .. }
            | SlotError::Version { origin, .. } => origin,
        }
    }

    /// True when the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, SlotError::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
    }
}

pub use super::slot_read::{parse_slot, parse_slot_bytes};

/// A size as people read it: `812 bytes`, `2 KiB (2048 bytes)`, `3.2 MiB (3355443 bytes)`;
/// the exact count stays, so a limit and one byte past it never read the same.
pub fn size_text(bytes: u64) -> String {
    const KIB: u64 = 1024;
    let (unit, scale) = match bytes {
        b if b >= KIB * KIB * KIB => ("GiB", (KIB * KIB * KIB) as f64),
        b if b >= KIB * KIB => ("MiB", (KIB * KIB) as f64),
        b if b >= KIB => ("KiB", KIB as f64),
        _ => return format!("{bytes} bytes"),
    };
    let scaled = format!("{:.1}", bytes as f64 / scale);
    let scaled = scaled.strip_suffix(".0").unwrap_or(&scaled);
    format!("{scaled} {unit} ({bytes} bytes)")
}

impl Slot {
    /// The canonical file text: 2-space indent, keys in SLOT_FORMAT.md order (known keys, then
    /// unknown ones in their original order), trailing newline. Loading it gives this slot back
    /// and writing that again gives the same bytes.
    pub fn to_json(&self) -> String {
        super::slot_write::slot_to_json(self)
    }

    /// The longest file a save of this slot can write: as [`to_json`](Self::to_json) with a
    /// module object for every voice and the longest save stamps (time, transport).
    pub fn largest_saved_len(&self) -> usize {
        super::slot_write::largest_saved_len(self)
    }
}
