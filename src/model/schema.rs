//! A JSON Schema (draft 2020-12) for slot files, generated from the parameter registry so
//! editors can complete and check slot files with the same ranges and defaults Chronus uses.
//!
//! Unknown keys are legal in slot files (they are kept), so no object forbids extra properties.

use serde_json::{Map, Value, json};

use super::limits::{
    LIMITS, MAX_COND_LOOPS, MAX_LOCKS_PER_STEP, MAX_MIDI_PORT_CHARS, MAX_NAME_CHARS, MAX_NOTES,
    MAX_PATTERN, MAX_STEP_ENTRIES, MAX_TAGS, MAX_TEXT_CHARS, MAX_TRACKS, MIDI_CHANNELS,
};
use super::registry::{
    EFFECT_MODULES, MAX_VOICES, Module, ParamSpec, ParamType, TRACK_FIELDS, TrackFieldKind,
    VOICE_PARAMS, sequencer, step, voice,
};
use super::steps::LockTarget;

/// Regular expression matching the keys of a track's `steps` map (step numbers from 1).
pub const STEP_KEY_PATTERN: &str = "^[1-9][0-9]?$";

/// Regular expression matching a step's `cond`.
pub const COND_PATTERN: &str =
    "^\\s*([0-9]{1,2}:[0-9]{1,2}|!?(fill|first|pre|FILL|FIRST|PRE))\\s*$";

/// Regular expression matching the voice module ids a slot may hold.
pub const VOICE_ID_PATTERN: &str = "^voice([1-9]|1[0-6])$";

fn describe(spec: &ParamSpec) -> String {
    if spec.unit.is_empty() {
        spec.desc.to_string()
    } else {
        format!("{} ({})", spec.desc, spec.unit)
    }
}

fn number_schema(spec: &ParamSpec) -> Value {
    let ty = match spec.ty {
        ParamType::Float => "number",
        ParamType::Int => "integer",
    };
    let default = match spec.ty {
        ParamType::Float => json!(spec.default),
        ParamType::Int => json!(spec.default as i64),
    };
    json!({
        "type": ty,
        "minimum": spec.min,
        "maximum": spec.max,
        "default": default,
        "description": describe(spec),
    })
}

/// Schema of one module object: its parameters, nested objects for dotted file keys.
fn module_schema(module: Module, title: &str) -> Value {
    let mut props = Map::new();
    for spec in module.params() {
        match spec.file_key.split_once('.') {
            Some((outer, inner)) => {
                let nested = props
                    .entry(outer.to_string())
                    .or_insert_with(|| json!({ "type": "object", "properties": {} }));
                nested["properties"][inner] = number_schema(spec);
            }
            None => {
                props.insert(spec.file_key.to_string(), number_schema(spec));
            }
        }
    }
    json!({ "type": "object", "description": title, "properties": props })
}

fn track_schema() -> Value {
    let freq = &VOICE_PARAMS[voice::FREQ];
    let mut props = Map::new();
    for field in &TRACK_FIELDS {
        let s = match field.kind {
            TrackFieldKind::Text => json!({
                "type": "string",
                "maxLength": MAX_NAME_CHARS,
                "description": field.spec.desc,
            }),
            TrackFieldKind::Voice => json!({
                "type": "string",
                "pattern": VOICE_ID_PATTERN,
                "description": field.spec.desc,
            }),
            TrackFieldKind::Pattern => json!({
                "type": "string",
                "maxLength": MAX_PATTERN,
                "description": field.spec.desc,
            }),
            TrackFieldKind::Notes => json!({
                "type": "array",
                "maxItems": MAX_NOTES,
                "items": { "type": "number", "minimum": freq.min, "maximum": freq.max },
                "description": field.spec.desc,
            }),
            TrackFieldKind::Number => number_schema(&field.spec),
        };
        props.insert(field.key.to_string(), s);
    }
    props.insert(
        "muted".into(),
        json!({ "type": "boolean", "default": false, "description": "performance state: the track does not play" }),
    );
    props.insert(
        "solo".into(),
        json!({ "type": "boolean", "default": false, "description": "performance state: only soloed tracks play" }),
    );
    props.insert(
        "midi".into(),
        json!({
            "type": "object",
            "description": "the track's hits also go out as MIDI notes: to the first output port whose name contains `port` (\"chronus\": Chronus's own chronus:out, with --midi-virtual), on `channel`",
            "required": ["port", "channel"],
            "properties": {
                "port": { "type": "string", "minLength": 1, "maxLength": MAX_MIDI_PORT_CHARS },
                "channel": { "type": "integer", "minimum": MIDI_CHANNELS.start(), "maximum": MIDI_CHANNELS.end() },
            },
        }),
    );
    props.insert(
        "steps".into(),
        json!({
            "type": "object",
            "description": format!("schema 1.1: per-step data keyed by step number, 1–{MAX_PATTERN} (\"1\" is the first step); the pattern still says which steps hit"),
            "maxProperties": MAX_STEP_ENTRIES,
            "patternProperties": { STEP_KEY_PATTERN: { "$ref": "#/$defs/step" } },
        }),
    );
    json!({
        "type": "object",
        "required": ["pattern", "voice_id"],
        "properties": props,
    })
}

/// Schema of one `steps` entry.
fn step_schema() -> Value {
    let mut locks = Map::new();
    for target in LockTarget::all() {
        locks.insert(target.key().to_string(), number_schema(target.spec()));
    }
    let freq = &VOICE_PARAMS[voice::FREQ];
    json!({
        "type": "object",
        "description": "one step's data; every key optional",
        "properties": {
            "note": {
                "type": ["string", "number"],
                "description": format!("the hit's pitch instead of the note cycle's (the cycle still moves on): a name (\"C3\"), a MIDI number as text (\"48\") or Hz ({}–{})", freq.min, freq.max),
            },
            "velocity": number_schema(&step::VELOCITY),
            "lock": {
                "type": "object",
                "description": "parameter locks: track fields and voice parameters (any of their names) held for this step only",
                "maxProperties": MAX_LOCKS_PER_STEP,
                "properties": locks,
            },
            "micro": number_schema(&step::MICRO),
            "ratchet": number_schema(&step::RATCHET),
            "chance": number_schema(&step::CHANCE),
            "cond": {
                "type": "string",
                "pattern": COND_PATTERN,
                "description": format!("trig condition: A:B (play on the A-th of every B loops, B at most {MAX_COND_LOOPS}), fill, !fill, first, !first, pre, !pre"),
            },
        },
    })
}

/// The JSON Schema for slot files (schema 1.x).
pub fn json_schema() -> Value {
    let mut defs = Map::new();
    defs.insert(
        "voice".into(),
        module_schema(
            Module::Voice(1),
            "a voice: oscillator → ADSR → low-pass, with sends",
        ),
    );
    defs.insert("track".into(), track_schema());
    defs.insert("step".into(), step_schema());
    let mut module_props = Map::new();
    for m in EFFECT_MODULES {
        let name = m.to_string();
        defs.insert(
            name.clone(),
            module_schema(m, &format!("{name} parameters")),
        );
        module_props.insert(name.clone(), json!({ "$ref": format!("#/$defs/{name}") }));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Chronus pattern slot",
        "description": format!(
            "A Chronus pattern slot file, schema 1.x. Out-of-range numbers load clamped with a warning; unknown keys are kept. Voices: voice1–voice{MAX_VOICES}. A file over a size limit (maxLength, maxItems, maxProperties; any text at most {MAX_TEXT_CHARS} characters) does not load."
        ),
        "x-chronus-limits": limits_json(),
        "type": "object",
        "properties": {
            "$schema": { "type": "string" },
            "chronus_version": { "type": "string", "default": "1.0.0" },
            "schema_version": {
                "type": "string",
                "pattern": "^1(\\.[0-9]+)*$",
                "default": "1.0",
                "description": "1.x loads; a missing version is read as 1.0; Chronus writes 1.1 (1.1 adds a track's steps and sequencer.seed)",
            },
            "timestamp": { "type": "number", "description": "Unix seconds when the slot was saved" },
            "metadata": {
                "type": "object",
                "properties": {
                    "name": { "type": "string", "maxLength": MAX_NAME_CHARS },
                    "genre": { "type": ["string", "null"], "maxLength": MAX_TEXT_CHARS },
                    "tags": {
                        "type": "array",
                        "maxItems": MAX_TAGS,
                        "items": { "type": "string", "maxLength": MAX_TEXT_CHARS },
                    },
                },
            },
            "sequencer": {
                "type": "object",
                "properties": {
                    "bpm": number_schema(&sequencer::BPM),
                    "swing": number_schema(&sequencer::SWING),
                    "seed": number_schema(&step::SEED),
                    "running": { "type": "boolean", "description": "runtime state the original engine wrote: read, never applied, not written by Chronus" },
                    "global_step": { "type": "integer", "minimum": 0, "description": "runtime state the original engine wrote: read, never applied, not written by Chronus" },
                    "tracks": {
                        "type": "object",
                        "description": "tracks keyed by name, played in file order",
                        "maxProperties": MAX_TRACKS,
                        "propertyNames": { "maxLength": MAX_NAME_CHARS },
                        "additionalProperties": { "$ref": "#/$defs/track" },
                    },
                },
            },
            "modules": {
                "type": "object",
                "properties": module_props,
                "patternProperties": { VOICE_ID_PATTERN: { "$ref": "#/$defs/voice" } },
            },
        },
        "$defs": defs,
    })
}

/// Every size limit as `{ key: { max, unit, what } }`, for schemas and `/engine/schema`.
pub fn limits_json() -> Value {
    let mut out = Map::new();
    for l in &LIMITS {
        out.insert(
            l.key.to_string(),
            json!({ "max": l.max, "unit": l.unit, "what": l.what }),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_carries_registry_ranges_and_defaults() {
        let s = json_schema();
        let attack = &s["$defs"]["voice"]["properties"]["adsr"]["properties"]["attack"];
        assert_eq!(attack["minimum"], json!(0.001));
        assert_eq!(attack["maximum"], json!(2.0));
        assert_eq!(attack["default"], json!(0.01));
        assert_eq!(
            s["$defs"]["voice"]["properties"]["waveform"]["type"],
            "integer"
        );
        assert_eq!(
            s["$defs"]["acid1"]["properties"]["res"]["maximum"],
            json!(0.98)
        );
        assert_eq!(
            s["properties"]["sequencer"]["properties"]["bpm"]["minimum"],
            json!(30.0)
        );
        assert_eq!(
            s["$defs"]["track"]["properties"]["gate_frac"]["default"],
            json!(0.5)
        );
        assert_eq!(
            s["properties"]["modules"]["patternProperties"][VOICE_ID_PATTERN]["$ref"],
            "#/$defs/voice"
        );
    }

    #[test]
    fn schema_covers_the_step_data_of_1_1() {
        let s = json_schema();
        let steps = &s["$defs"]["track"]["properties"]["steps"];
        assert_eq!(steps["maxProperties"], json!(MAX_STEP_ENTRIES));
        assert_eq!(
            steps["patternProperties"][STEP_KEY_PATTERN]["$ref"],
            "#/$defs/step"
        );
        let step = &s["$defs"]["step"]["properties"];
        assert_eq!(step["micro"]["minimum"], json!(-0.5));
        assert_eq!(step["ratchet"]["maximum"], json!(8.0));
        assert_eq!(step["ratchet"]["type"], "integer");
        assert_eq!(step["chance"]["maximum"], json!(100.0));
        assert_eq!(step["lock"]["maxProperties"], json!(MAX_LOCKS_PER_STEP));
        assert_eq!(
            step["lock"]["properties"]["adsr.attack"]["maximum"],
            json!(2.0)
        );
        assert_eq!(
            step["lock"]["properties"]["filter_freq"]["maximum"],
            json!(8000.0)
        );
        assert_eq!(
            s["properties"]["sequencer"]["properties"]["seed"]["type"],
            "integer"
        );
        // Every step number and no other matches the key pattern's digits.
        assert_eq!(
            MAX_PATTERN, 64,
            "STEP_KEY_PATTERN allows up to 99; the limit says 64"
        );
    }

    #[test]
    fn schema_carries_the_size_limits() {
        let s = json_schema();
        let tracks = &s["properties"]["sequencer"]["properties"]["tracks"];
        assert_eq!(tracks["maxProperties"], json!(MAX_TRACKS));
        assert_eq!(tracks["propertyNames"]["maxLength"], json!(MAX_NAME_CHARS));
        let track = &s["$defs"]["track"]["properties"];
        assert_eq!(track["pattern"]["maxLength"], json!(MAX_PATTERN));
        assert_eq!(track["notes"]["maxItems"], json!(MAX_NOTES));
        let meta = &s["properties"]["metadata"]["properties"];
        assert_eq!(meta["name"]["maxLength"], json!(MAX_NAME_CHARS));
        assert_eq!(meta["tags"]["maxItems"], json!(MAX_TAGS));
        for l in &LIMITS {
            assert_eq!(
                s["x-chronus-limits"][l.key]["max"],
                json!(l.max),
                "{}",
                l.key
            );
        }
    }
}
