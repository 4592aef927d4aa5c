//! Reading slot files: JSON text → [`Slot`], following SLOT_FORMAT.md's reading rules.
//!
//! The text is parsed into a `serde_json::Value` (object key order preserved) and walked by
//! hand, so every problem can name its JSON path, out-of-range values can be clamped with a
//! warning instead of failing, and unknown keys can be kept for the next save.

use serde_json::{Map, Value};

use super::json_keys::first_duplicate_key;
use super::limits::{MIDI_CHANNELS, MIDI_PORT_NAME};
use super::notes;
use super::registry::{
    DEFAULT_VOICES, MAX_VOICES, Module, ParamSpec, ParamType, TRACK_FIELDS, TrackFieldKind,
    VOICE_PARAMS, sequencer as seq_spec, step as step_spec, track_field, voice,
};
use super::slot::{
    Extra, MAX_SLOT_BYTES, Metadata, MidiTarget, Parsed, SCHEMA_MAJOR, SCHEMA_VERSION, Sequencer,
    Slot, SlotError, Track, Warning, schema_minor,
};
use super::steps::{Cond, LockTarget, StepData, Steps, step_number};
use super::text::quote;

/// Keys the original engine wrote that Chronus does not use; kept without a warning.
const LEGACY_KEYS: [&str; 3] = ["voice_id", "module_id", "accent_disabled"];

/// Parses slot text. `origin` names the text in messages (usually the file path).
pub fn parse_slot(text: &str, origin: &str) -> Result<Parsed, SlotError> {
    if text.len() > MAX_SLOT_BYTES {
        return Err(SlotError::TooLarge {
            origin: origin.to_string(),
            size: text.len() as u64,
        });
    }
    // Some Windows editors start UTF-8 files with a byte-order mark; JSON parsers reject it.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_json::from_str(body).map_err(|e| syntax_error(origin, &e))?;
    if let Some(d) = first_duplicate_key(body) {
        return Err(SlotError::DuplicateKey {
            origin: origin.to_string(),
            path: d.path,
            first: d.first,
            second: d.second,
        });
    }
    super::slot_limits::check(&root, origin)?;
    let mut reader = Reader {
        origin,
        warnings: Vec::new(),
    };
    let slot = reader.slot(&root)?;
    // What loads must save: a file that would outgrow the limit once written in full (every
    // default filled in, every voice, the longest stamps) is refused now, not at the save.
    let saved = slot.largest_saved_len();
    if saved > MAX_SLOT_BYTES {
        return Err(SlotError::TooLargeToSave {
            origin: origin.to_string(),
            size: saved as u64,
        });
    }
    Ok(Parsed {
        slot,
        warnings: reader.warnings,
    })
}

/// Parses a slot file's bytes (read by `store::read_slot_file`, or by the watcher to hash
/// them): too large, not UTF-8 (with line and column), syntax, content.
pub fn parse_slot_bytes(bytes: &[u8], origin: &str) -> Result<Parsed, SlotError> {
    if bytes.len() > MAX_SLOT_BYTES {
        return Err(SlotError::TooLarge {
            origin: origin.to_string(),
            size: bytes.len() as u64,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_column(&bytes[..e.valid_up_to()]);
        SlotError::Syntax {
            origin: origin.to_string(),
            line,
            column,
            message: "the file is not valid UTF-8 text".to_string(),
        }
    })?;
    parse_slot(text, origin)
}

/// Line and column (both 1-based) of the position just after `prefix`.
fn line_column(prefix: &[u8]) -> (usize, usize) {
    let line = prefix.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = prefix
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&prefix[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

fn syntax_error(origin: &str, e: &serde_json::Error) -> SlotError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    SlotError::Syntax {
        origin: origin.to_string(),
        line: e.line(),
        column: e.column(),
        message,
    }
}

/// Appends an object key to a JSON path; keys that are not plain words are quoted.
pub(super) fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'));
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        // Quoted as JSON, with what JSON leaves raw (C1 controls, bidi overrides) escaped too.
        (_, false) => format!(
            "{path}[{}]",
            super::text::escape(&serde_json::to_string(key).unwrap_or_default())
        ),
    }
}

/// Describes a JSON value for "expected X, found Y" messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("text {}", serde_json::to_string(&shown).unwrap_or_default())
        }
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// Formats a number for messages: `1` rather than `1.0`, full precision otherwise, and
/// very large or small numbers in exponent form (`1e300`, not 301 digits).
fn num(v: f64) -> String {
    super::text::fmt_exact(v)
}

fn range_text(spec: &ParamSpec) -> String {
    let unit = if spec.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", spec.unit)
    };
    format!("{}–{}{unit}", num(spec.min), num(spec.max))
}

struct Reader<'a> {
    origin: &'a str,
    warnings: Vec<Warning>,
}

impl Reader<'_> {
    fn invalid(&self, path: &str, message: impl Into<String>) -> SlotError {
        SlotError::Invalid {
            origin: self.origin.to_string(),
            path: path.to_string(),
            message: message.into(),
        }
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.to_string(),
            message: message.into(),
        });
    }

    fn object<'v>(&self, v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, SlotError> {
        v.as_object()
            .ok_or_else(|| self.invalid(path, format!("expected an object, found {}", describe(v))))
    }

    fn string(&self, v: &Value, path: &str) -> Result<String, SlotError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.invalid(path, format!("expected text, found {}", describe(v)))),
        }
    }

    fn boolean(&self, v: &Value, path: &str) -> Result<bool, SlotError> {
        v.as_bool().ok_or_else(|| {
            self.invalid(
                path,
                format!("expected true or false, found {}", describe(v)),
            )
        })
    }

    fn raw_number(&self, v: &Value, path: &str) -> Result<f64, SlotError> {
        match v {
            // Numbers are kept as written (so unknown keys round-trip exactly); one beyond a
            // 64-bit float's range has no value Chronus could use.
            Value::Number(n) => n.as_f64().ok_or_else(|| {
                self.invalid(
                    path,
                    format!("the number {n} is beyond what Chronus can hold (±1.8e308)"),
                )
            }),
            _ => Err(self.invalid(path, format!("expected a number, found {}", describe(v)))),
        }
    }

    /// A number checked against `spec`: rounded when the field is whole-numbered, clamped into
    /// range, with a warning for each fix.
    fn number(&mut self, v: &Value, path: &str, spec: &ParamSpec) -> Result<f64, SlotError> {
        // A choice may be written by name (`"waveform": "saw"`), as everywhere else.
        if let Value::String(name) = v
            && let Some(x) = spec.choice_value(name)
        {
            return Ok(x);
        }
        let x = self.raw_number(v, path)?;
        let mut fixed = x;
        if spec.ty == ParamType::Int && x.fract() != 0.0 {
            fixed = x.round();
            self.warn(
                path,
                format!(
                    "{} is not a whole number, rounded to {}",
                    num(x),
                    num(fixed)
                ),
            );
        }
        let clamped = spec.clamp(fixed);
        if clamped != fixed {
            self.warn(
                path,
                format!(
                    "{} is out of range {}, clamped to {}",
                    num(fixed),
                    range_text(spec),
                    num(clamped)
                ),
            );
        }
        Ok(clamped)
    }

    /// Keeps an unknown key; tells the user unless it is a comment or a legacy field.
    fn unknown(&mut self, extra: &mut Extra, path: &str, key: &str, v: &Value) {
        let quiet = key.starts_with('_') || key.starts_with('$') || LEGACY_KEYS.contains(&key);
        if !quiet {
            self.warn(
                &child(path, key),
                "unknown key, kept unchanged (not used by this Chronus)",
            );
        }
        extra.insert(key.to_string(), v.clone());
    }

    fn slot(&mut self, root: &Value) -> Result<Slot, SlotError> {
        let top = root.as_object().ok_or_else(|| {
            self.invalid(
                "",
                format!(
                    "a slot file must hold a JSON object, found {}",
                    describe(root)
                ),
            )
        })?;
        let mut slot = Slot::default();
        // The version decides how the rest is read, so it is checked before anything else.
        // Held as the version a save writes: 1.0 (or none) reads as 1.1, which only adds.
        if let Some(v) = top.get("schema_version") {
            let read = self.schema_version(v)?;
            slot.schema_version = super::slot::written_schema_version(&read).to_string();
        }
        let mut modules = None;
        for (key, v) in top {
            match key.as_str() {
                "schema_version" => {}
                "chronus_version" => slot.chronus_version = self.string(v, key)?,
                "timestamp" => slot.timestamp = self.raw_number(v, key)?,
                "metadata" => slot.metadata = self.metadata(v)?,
                "sequencer" => slot.sequencer = self.sequencer(v)?,
                "modules" => modules = Some(v),
                _ => self.unknown(&mut slot.extra, "", key, v),
            }
        }
        if let Some(v) = modules {
            self.modules(v, &mut slot)?;
        }
        self.check_voice_ids(&slot);
        Ok(slot)
    }

    fn schema_version(&mut self, v: &Value) -> Result<String, SlotError> {
        let text = self.string(v, "schema_version")?;
        let major = text.split('.').next().unwrap_or("").trim();
        match major.parse::<u64>() {
            Ok(SCHEMA_MAJOR) => {
                // A newer minor version only adds keys, which are kept (SLOT_FORMAT.md): the
                // file loads, and the performer hears that something in it may not play.
                if schema_minor(&text) > schema_minor(SCHEMA_VERSION) {
                    self.warn(
                        "schema_version",
                        format!(
                            "{} is newer than the schema this Chronus knows ({SCHEMA_VERSION}): what it adds is kept but not played",
                            quote(&text)
                        ),
                    );
                }
                Ok(text)
            }
            Ok(_) => Err(SlotError::Version {
                origin: self.origin.to_string(),
                found: text,
                supported: format!("{SCHEMA_MAJOR}.x"),
            }),
            Err(_) => Err(self.invalid(
                "schema_version",
                format!("{} is not a version number such as \"1.0\"", describe(v)),
            )),
        }
    }

    fn metadata(&mut self, v: &Value) -> Result<Metadata, SlotError> {
        let obj = self.object(v, "metadata")?;
        let mut m = Metadata::default();
        for (key, v) in obj {
            let path = child("metadata", key);
            match key.as_str() {
                "name" => m.name = self.string(v, &path)?,
                "genre" => {
                    m.genre = match v {
                        Value::Null => None,
                        _ => Some(self.string(v, &path)?),
                    }
                }
                "tags" => {
                    let list = v.as_array().ok_or_else(|| {
                        self.invalid(
                            &path,
                            format!("expected a list of text, found {}", describe(v)),
                        )
                    })?;
                    m.tags = list
                        .iter()
                        .enumerate()
                        .map(|(i, t)| self.string(t, &format!("{path}[{i}]")))
                        .collect::<Result<_, _>>()?;
                }
                _ => self.unknown(&mut m.extra, "metadata", key, v),
            }
        }
        Ok(m)
    }

    fn sequencer(&mut self, v: &Value) -> Result<Sequencer, SlotError> {
        let obj = self.object(v, "sequencer")?;
        let mut s = Sequencer::default();
        for (key, v) in obj {
            let path = child("sequencer", key);
            match key.as_str() {
                "bpm" => s.bpm = self.number(v, &path, &seq_spec::BPM)?,
                "swing" => s.swing = self.number(v, &path, &seq_spec::SWING)?,
                // Runtime state the original engine wrote: checked, then left out of the song
                // (a save does not write it back).
                "running" => {
                    self.boolean(v, &path)?;
                }
                "global_step" => {
                    let x = self.raw_number(v, &path)?;
                    let fixed = x.round().max(0.0);
                    if fixed != x {
                        self.warn(
                            &path,
                            format!("{} is not a step number, read as {}", num(x), num(fixed)),
                        );
                    }
                }
                "seed" => s.seed = Some(self.number(v, &path, &step_spec::SEED)? as u32),
                "tracks" => s.tracks = self.tracks(v, &path)?,
                _ => self.unknown(&mut s.extra, "sequencer", key, v),
            }
        }
        Ok(s)
    }

    fn tracks(&mut self, v: &Value, path: &str) -> Result<Vec<Track>, SlotError> {
        let obj = v.as_object().ok_or_else(|| {
            self.invalid(
                path,
                format!(
                    "expected an object keyed by track name, found {}",
                    describe(v)
                ),
            )
        })?;
        obj.iter()
            .map(|(name, tv)| self.track(name, tv, &child(path, name)))
            .collect()
    }

    fn track(&mut self, name: &str, v: &Value, path: &str) -> Result<Track, SlotError> {
        let obj = self.object(v, path)?;
        let required = |key: &str| {
            obj.get(key).ok_or_else(|| {
                self.invalid(
                    &child(path, key),
                    format!("missing: every track needs a \"{key}\""),
                )
            })
        };
        let pattern = self.string(required("pattern")?, &child(path, "pattern"))?;
        let voice_id = self.string(required("voice_id")?, &child(path, "voice_id"))?;
        let mut t = Track::new(name, &voice_id, &pattern);
        for (key, v) in obj {
            let fpath = child(path, key);
            let Some(field) = track_field(key) else {
                match key.as_str() {
                    "muted" => t.muted = self.boolean(v, &fpath)?,
                    "solo" => t.solo = self.boolean(v, &fpath)?,
                    "steps" => t.steps = self.steps(v, &fpath, pattern.chars().count())?,
                    "midi" => t.midi = Some(self.midi(v, &fpath)?),
                    _ => self.unknown(&mut t.extra, path, key, v),
                }
                continue;
            };
            match field.kind {
                TrackFieldKind::Voice | TrackFieldKind::Pattern => {}
                TrackFieldKind::Text => {
                    let inner = self.string(v, &fpath)?;
                    if inner != name {
                        self.warn(
                            &fpath,
                            format!(
                                "{} differs from the track's key {}; the key is used",
                                quote(&inner),
                                quote(name)
                            ),
                        );
                    }
                }
                TrackFieldKind::Notes => t.notes = self.notes(v, &fpath)?,
                TrackFieldKind::Number => {
                    let i = TRACK_FIELDS
                        .iter()
                        .position(|f| f.key == field.key)
                        .unwrap_or_default();
                    let x = self.number(v, &fpath, &field.spec)?;
                    t.set_number(i, x);
                }
            }
        }
        Ok(t)
    }

    /// A track's MIDI note output: `{ "port": text, "channel": 1–16 }`, both required.
    fn midi(&mut self, v: &Value, path: &str) -> Result<MidiTarget, SlotError> {
        let obj = v.as_object().ok_or_else(|| {
            self.invalid(
                path,
                format!(
                    "expected an object such as {{ \"port\": \"Digitakt\", \"channel\": 1 }}, found {}",
                    describe(v)
                ),
            )
        })?;
        let mut port = None;
        let mut channel = None;
        let mut extra = Extra::new();
        for (key, v) in obj {
            let p = child(path, key);
            match key.as_str() {
                "port" => {
                    let name = self.string(v, &p)?;
                    if name.trim().is_empty() {
                        return Err(self.invalid(
                            &p,
                            "a port name is needed: the first output port whose name contains it gets the notes",
                        ));
                    }
                    MIDI_PORT_NAME
                        .check_chars(&name)
                        .map_err(|e| self.invalid(&p, e.to_string()))?;
                    port = Some(name);
                }
                "channel" => {
                    let x = self.raw_number(v, &p)?;
                    let ok = x.fract() == 0.0
                        && (*MIDI_CHANNELS.start() as f64..=*MIDI_CHANNELS.end() as f64)
                            .contains(&x);
                    if !ok {
                        return Err(self.invalid(
                            &p,
                            format!(
                                "{} is not a MIDI channel: channels are whole numbers {}–{}",
                                num(x),
                                MIDI_CHANNELS.start(),
                                MIDI_CHANNELS.end()
                            ),
                        ));
                    }
                    channel = Some(x as u8);
                }
                _ => self.unknown(&mut extra, path, key, v),
            }
        }
        let missing = |key: &str| {
            self.invalid(
                &child(path, key),
                format!("missing: a track's midi needs a \"{key}\""),
            )
        };
        Ok(MidiTarget {
            port: port.ok_or_else(|| missing("port"))?,
            channel: channel.ok_or_else(|| missing("channel"))?,
            extra,
        })
    }

    /// A track's `steps` map (schema 1.1); `pattern_len` is how many steps its pattern has.
    fn steps(&mut self, v: &Value, path: &str, pattern_len: usize) -> Result<Steps, SlotError> {
        let obj = v.as_object().ok_or_else(|| {
            self.invalid(
                path,
                format!(
                    "expected an object keyed by step number (\"1\" is the first step), found {}",
                    describe(v)
                ),
            )
        })?;
        let mut steps = Steps::default();
        for (key, sv) in obj {
            let spath = child(path, key);
            if key.starts_with('_') || key.starts_with('$') {
                steps.extra.insert(key.clone(), sv.clone());
                continue;
            }
            let Some(n) = step_number(key) else {
                return Err(self.invalid(
                    &spath,
                    format!(
                        "{} is not a step number: steps are numbered from 1 to {} without leading zeros (\"1\" is the first step)",
                        quote(key),
                        super::limits::MAX_PATTERN
                    ),
                ));
            };
            let data = self.step(sv, &spath)?;
            if n as usize > pattern_len {
                self.warn(
                    &spath,
                    format!(
                        "the pattern has {pattern_len} steps, so step {n} does not play; kept for when the pattern is longer"
                    ),
                );
            }
            steps.entries.insert(n, data);
        }
        Ok(steps)
    }

    fn step(&mut self, v: &Value, path: &str) -> Result<StepData, SlotError> {
        let obj = self.object(v, path)?;
        let mut d = StepData::default();
        for (key, v) in obj {
            let p = child(path, key);
            match key.as_str() {
                "note" => d.note = Some(self.step_note(v, &p)?),
                "velocity" => d.velocity = Some(self.number(v, &p, &step_spec::VELOCITY)?),
                "lock" => self.locks(v, &p, &mut d)?,
                "micro" => d.micro = Some(self.number(v, &p, &step_spec::MICRO)?),
                "ratchet" => d.ratchet = Some(self.number(v, &p, &step_spec::RATCHET)? as u8),
                "chance" => d.chance = Some(self.number(v, &p, &step_spec::CHANCE)?),
                "cond" => {
                    let text = self.string(v, &p)?;
                    d.cond = Some(Cond::parse(&text).map_err(|e| self.invalid(&p, e.to_string()))?);
                }
                _ => self.unknown(&mut d.extra, path, key, v),
            }
        }
        Ok(d)
    }

    /// A step's note: a name (`C3`), a MIDI number or Hz as text (`"48"`, `"130.81"`), or a
    /// number in Hz.
    fn step_note(&mut self, v: &Value, path: &str) -> Result<f64, SlotError> {
        let spec = &VOICE_PARAMS[voice::FREQ];
        let hz = match v {
            Value::Number(_) => self.raw_number(v, path)?,
            Value::String(s) => notes::parse_note(s.trim()).map_err(|_| {
                self.invalid(
                    path,
                    format!(
                        "{} is not a note: write a name (C3, A#2, Eb4), a MIDI number (\"48\") or Hz (130.81)",
                        quote(s)
                    ),
                )
            })?,
            _ => {
                return Err(self.invalid(
                    path,
                    format!(
                        "expected a note (a name such as \"C3\", or Hz), found {}",
                        describe(v)
                    ),
                ));
            }
        };
        let clamped = spec.clamp(hz);
        if clamped != hz {
            self.warn(
                path,
                format!(
                    "{} Hz is out of range {}, clamped to {}",
                    num(hz),
                    range_text(spec),
                    num(clamped)
                ),
            );
        }
        Ok(clamped)
    }

    /// A step's `lock` object: each key a track field or voice parameter (any alias), each
    /// target at most once.
    fn locks(&mut self, v: &Value, path: &str, d: &mut StepData) -> Result<(), SlotError> {
        let obj = v.as_object().ok_or_else(|| {
            self.invalid(
                path,
                format!(
                    "expected an object of parameter values (\"filter_freq\": 1800), found {}",
                    describe(v)
                ),
            )
        })?;
        let mut keys: Vec<(LockTarget, &str)> = Vec::new();
        for (key, lv) in obj {
            let p = child(path, key);
            let Some(target) = LockTarget::resolve(key) else {
                self.unknown(&mut d.lock_extra, path, key, lv);
                continue;
            };
            if let Some((_, first)) = keys.iter().find(|(t, _)| *t == target) {
                return Err(self.invalid(
                    &p,
                    format!(
                        "locks {} a second time ({} already does); keep one",
                        target.key(),
                        quote(first)
                    ),
                ));
            }
            keys.push((target, key));
            let x = self.number(lv, &p, target.spec())?;
            d.locks.push((target, x));
        }
        Ok(())
    }

    fn notes(&mut self, v: &Value, path: &str) -> Result<Vec<f64>, SlotError> {
        // Notes text (`"C2, C2, D#2"` or `"C2 C2 D#2"`) reads as OSC and the prompt read it.
        if let Value::String(s) = v {
            let mut out = Vec::new();
            self.notes_text(s, path, &mut out)?;
            return Ok(out);
        }
        let list = v.as_array().ok_or_else(|| {
            self.invalid(
                path,
                format!(
                    "expected a list of frequencies in Hz (or notes text), found {}",
                    describe(v)
                ),
            )
        })?;
        let spec = &VOICE_PARAMS[voice::FREQ];
        let mut out = Vec::with_capacity(list.len());
        for (i, n) in list.iter().enumerate() {
            let npath = format!("{path}[{i}]");
            if let Value::String(s) = n {
                // A hand-written note name (`"C4"`, or several) plays as the prompt reads it.
                self.notes_text(s, &npath, &mut out)?;
                continue;
            }
            out.push(self.number(n, &npath, spec)?);
        }
        super::limits::NOTES
            .check(out.len())
            .map_err(|e| self.invalid(path, e.to_string()))?;
        Ok(out)
    }

    /// Notes written as text at `path`: entries out of range play at the end of the range,
    /// entries that are no note are skipped, each with a warning naming the path.
    fn notes_text(&mut self, s: &str, path: &str, out: &mut Vec<f64>) -> Result<(), SlotError> {
        let read = notes::read_notes(s).map_err(|e| self.invalid(path, e.to_string()))?;
        for w in read.warnings {
            self.warn(path, w);
        }
        out.extend(read.hz);
        Ok(())
    }

    fn modules(&mut self, v: &Value, slot: &mut Slot) -> Result<(), SlotError> {
        let obj = self.object(v, "modules")?;
        let mut highest_voice = 0usize;
        for (key, mv) in obj {
            let path = child("modules", key);
            let Some(module) = Module::parse(key) else {
                if key.starts_with('_') || key.starts_with('$') {
                    slot.modules_extra.insert(key.clone(), mv.clone());
                } else {
                    let why = if key.starts_with("voice") {
                        format!(
                            "not a voice Chronus has (voice1–voice{MAX_VOICES}); kept unchanged"
                        )
                    } else {
                        "unknown module, kept unchanged".to_string()
                    };
                    self.warn(&path, why);
                    slot.modules_extra.insert(key.clone(), mv.clone());
                }
                continue;
            };
            if let Module::Voice(n) = module {
                highest_voice = highest_voice.max(n as usize);
            }
            let mobj = self.object(mv, &path)?;
            let mut extra = Extra::new();
            for (pkey, pv) in mobj {
                let ppath = child(&path, pkey);
                if matches!(module, Module::Voice(_)) && pkey == "adsr" {
                    let aobj = self.object(pv, &ppath)?;
                    let mut adsr_extra = Extra::new();
                    for (akey, av) in aobj {
                        let apath = child(&ppath, akey);
                        match module.param_by_file_key(&format!("adsr.{akey}")) {
                            Some(id) => {
                                let x = self.number(av, &apath, id.spec())?;
                                slot.params.set(id, x);
                            }
                            None => self.unknown(&mut adsr_extra, &ppath, akey, av),
                        }
                    }
                    if !adsr_extra.is_empty() {
                        // Unknown adsr keys ride in the module's extras under "adsr"; the
                        // writer merges them back into the nested object.
                        extra.insert("adsr".to_string(), Value::Object(adsr_extra));
                    }
                    continue;
                }
                match module.param_by_file_key(pkey) {
                    Some(id) if !pkey.contains('.') => {
                        let x = self.number(pv, &ppath, id.spec())?;
                        slot.params.set(id, x);
                    }
                    _ => self.unknown(&mut extra, &path, pkey, pv),
                }
            }
            if !extra.is_empty() {
                slot.module_extra.insert(key.clone(), Value::Object(extra));
            }
        }
        slot.voice_modules = if highest_voice == 0 {
            DEFAULT_VOICES
        } else {
            highest_voice
        };
        Ok(())
    }

    fn check_voice_ids(&mut self, slot: &Slot) {
        for t in &slot.sequencer.tracks {
            let path = child(&child("sequencer.tracks", &t.name), "voice_id");
            match t.voice() {
                None => self.warn(
                    &path,
                    format!(
                        "{} is not a voice id (voice1–voice{MAX_VOICES}); the track stays silent",
                        quote(&t.voice_id)
                    ),
                ),
                // Whether voiceN plays depends on how many voices the engine runs, not on
                // which module objects the file holds; the file alone can only be measured
                // against the default.
                Some(n) if n as usize > crate::model::registry::DEFAULT_VOICES => self.warn(
                    &path,
                    format!(
                        "{} is beyond the {} voices Chronus runs by default; the track stays silent unless Chronus runs with --voices {n} or more",
                        t.voice_id,
                        crate::model::registry::DEFAULT_VOICES
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_that_are_not_plain_words() {
        assert_eq!(child("", "sequencer"), "sequencer");
        assert_eq!(child("sequencer.tracks", "kick"), "sequencer.tracks.kick");
        assert_eq!(
            child("sequencer.tracks", "hey 1"),
            "sequencer.tracks[\"hey 1\"]"
        );
    }

    #[test]
    fn numbers_in_messages_stay_short() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(0.30000001192092896), "0.30000001192092896");
        assert_eq!(num(1e300), "1e300");
        assert_eq!(num(-2.5e-9), "-2.5e-9");
    }

    #[test]
    fn line_column_counts_characters_not_bytes() {
        assert_eq!(line_column(b""), (1, 1));
        assert_eq!(line_column(b"{\n  \"a\""), (2, 6));
        assert_eq!(line_column("é".as_bytes()), (1, 2));
    }
}
