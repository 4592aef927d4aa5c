//! Writing slot files: [`Slot`] → canonical JSON text.
//!
//! The output is built as an ordered `Value` tree and printed by a small pretty-printer of our
//! own: objects one key per line, lists of plain values (notes, tags) on one line, so files
//! stay short and diff well. Floats are written the way `serde_json` prints `f64` (`120.0`,
//! `0.05000000074505806`), which reads back to the same value, so saving a loaded slot again
//! gives identical bytes.

use serde_json::{Map, Value};

use super::registry::{
    MAX_VOICES, Module, ParamId, ParamType, TRACK_FIELDS, TrackFieldKind, delay, track, voice,
};
use super::slot::{Slot, Track};

/// Voice parameters in the order SLOT_FORMAT.md lists them (the registry orders them for
/// panels); the four ADSR parameters are written as the nested `adsr` object.
const VOICE_FILE_ORDER: [usize; 12] = [
    voice::FREQ,
    voice::AMP,
    voice::FILTER_FREQ,
    voice::FILTER_Q,
    voice::ATTACK,
    voice::DECAY,
    voice::SUSTAIN,
    voice::RELEASE,
    voice::REVERB_SEND,
    voice::DELAY_SEND,
    voice::WAVEFORM,
    voice::SLIDE_TIME,
];

/// Effect modules in the order SLOT_FORMAT.md's example lists them.
const EFFECT_FILE_ORDER: [Module; 6] = [
    Module::Reverb,
    Module::Delay,
    Module::Acid,
    Module::Dist,
    Module::Lfo1,
    Module::Lfo2,
];

/// The canonical file text of `slot`.
pub(super) fn slot_to_json(slot: &Slot) -> String {
    let value = slot_value(slot);
    let mut out = String::with_capacity(8192);
    write_value(&value, 0, &mut out);
    out.push('\n');
    out
}

/// See [`Slot::largest_saved_len`].
pub(super) fn largest_saved_len(slot: &Slot) -> usize {
    let mut probe = slot.clone();
    probe.voice_modules = MAX_VOICES;
    // The longest a finite f64 prints, the longest u64, and `false` over `true`.
    probe.timestamp = -f64::MIN_POSITIVE;
    slot_to_json(&probe).len()
}

fn float(v: f64) -> Value {
    // JSON has no NaN/Inf. The model never holds them, but a stray one must neither break a
    // save nor write a file that does not load again (`null` would be a type error).
    Value::from(if v.is_finite() { v } else { 0.0 })
}

fn param_value(slot: &Slot, id: ParamId) -> Value {
    let v = slot.params.get(id);
    match id.spec().ty {
        ParamType::Float => float(v),
        ParamType::Int => Value::from(v as i64),
    }
}

fn slot_value(slot: &Slot) -> Value {
    let mut top = Map::new();
    if let Some(schema) = slot.extra.get("$schema") {
        top.insert("$schema".to_string(), schema.clone());
    }
    top.insert(
        "chronus_version".into(),
        slot.chronus_version.clone().into(),
    );
    let version = super::slot::written_schema_version(&slot.schema_version);
    top.insert("schema_version".into(), version.into());
    top.insert("timestamp".into(), float(slot.timestamp));

    let m = &slot.metadata;
    let mut meta = Map::new();
    meta.insert("name".into(), m.name.clone().into());
    if let Some(genre) = &m.genre {
        meta.insert("genre".into(), genre.clone().into());
    }
    meta.insert("tags".into(), m.tags.clone().into());
    append_extra(&mut meta, &m.extra);
    top.insert("metadata".into(), Value::Object(meta));

    let s = &slot.sequencer;
    let mut seq = Map::new();
    seq.insert("bpm".into(), float(s.bpm));
    seq.insert("swing".into(), float(s.swing));
    if let Some(seed) = s.seed {
        seq.insert("seed".into(), Value::from(seed));
    }
    // `running` and `global_step` are runtime state, not part of the song: never written
    // (SLOT_FORMAT.md: every reader takes them as optional).
    let mut tracks = Map::new();
    for t in &s.tracks {
        // Tracks are keyed by name; a repeated name (possible when tracks are built in code)
        // gets a suffix rather than silently replacing the earlier track.
        let mut key = t.name.clone();
        let mut k = 2;
        while tracks.contains_key(&key) {
            key = format!("{}_{k}", t.name);
            k += 1;
        }
        let mut value = track_value(t);
        value["name"] = Value::String(key.clone());
        tracks.insert(key, value);
    }
    seq.insert("tracks".into(), Value::Object(tracks));
    append_extra(&mut seq, &s.extra);
    top.insert("sequencer".into(), Value::Object(seq));

    top.insert("modules".into(), modules_value(slot));
    for (k, v) in &slot.extra {
        if k != "$schema" {
            top.insert(k.clone(), v.clone());
        }
    }
    Value::Object(top)
}

fn track_value(t: &Track) -> Value {
    let mut obj = Map::new();
    for (i, field) in TRACK_FIELDS.iter().enumerate() {
        // An optional field newer than the original engine: written only when set.
        if i == track::ACCENT && t.accent == field.spec.default {
            continue;
        }
        let v = match field.kind {
            TrackFieldKind::Text => t.name.clone().into(),
            TrackFieldKind::Voice => t.voice_id.clone().into(),
            TrackFieldKind::Pattern => t.pattern.clone().into(),
            TrackFieldKind::Notes => Value::Array(t.notes.iter().map(|&n| float(n)).collect()),
            TrackFieldKind::Number => match field.spec.ty {
                ParamType::Float => float(t.number(i)),
                ParamType::Int => Value::from(t.number(i) as u64),
            },
        };
        obj.insert(field.key.to_string(), v);
    }
    // Performance state is written only when set, so ordinary files do not carry it.
    if t.muted {
        obj.insert("muted".into(), true.into());
    }
    if t.solo {
        obj.insert("solo".into(), true.into());
    }
    if let Some(m) = &t.midi {
        let mut midi = Map::new();
        midi.insert("port".into(), m.port.clone().into());
        midi.insert("channel".into(), Value::from(m.channel));
        append_extra(&mut midi, &m.extra);
        obj.insert("midi".into(), Value::Object(midi));
    }
    if !t.steps.is_empty() {
        obj.insert("steps".into(), super::steps::steps_value(&t.steps));
    }
    append_extra(&mut obj, &t.extra);
    Value::Object(obj)
}

fn modules_value(slot: &Slot) -> Value {
    let mut modules = Map::new();
    // Voices beyond `voice_modules` are written too when something set them, so no edit is lost.
    let defaults = super::registry::ParamValues::default();
    let highest_set = (1..=MAX_VOICES as u8)
        .filter(|&n| {
            Module::Voice(n)
                .param_ids()
                .any(|id| slot.params.get(id) != defaults.get(id))
        })
        .max()
        .map_or(0, usize::from);
    let voices = slot.voice_modules.max(highest_set).min(MAX_VOICES);
    for n in 1..=voices as u8 {
        let module = Module::Voice(n);
        let extra = module_extra(slot, module);
        let mut obj = Map::new();
        let mut adsr = Map::new();
        for &p in &VOICE_FILE_ORDER {
            let id = ParamId::voice(n, p);
            let key = id.spec().file_key;
            match key.strip_prefix("adsr.") {
                Some(sub) => {
                    adsr.insert(sub.to_string(), param_value(slot, id));
                    if p == voice::RELEASE {
                        if let Some(Value::Object(more)) = extra.and_then(|e| e.get("adsr")) {
                            append_extra(&mut adsr, more);
                        }
                        obj.insert("adsr".into(), Value::Object(std::mem::take(&mut adsr)));
                    }
                }
                None => {
                    obj.insert(key.to_string(), param_value(slot, id));
                }
            }
        }
        if let Some(extra) = extra {
            for (k, v) in extra {
                if k != "adsr" {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
        modules.insert(module.to_string(), Value::Object(obj));
    }
    for module in EFFECT_FILE_ORDER {
        let mut obj = Map::new();
        for id in module.param_ids() {
            // A free delay time is the original format's only kind: `sync` is written only
            // when a note value is chosen, so older files round-trip byte for byte.
            if id == ParamId::delay(delay::SYNC) && slot.params.get(id) == 0.0 {
                continue;
            }
            obj.insert(id.spec().file_key.to_string(), param_value(slot, id));
        }
        if let Some(extra) = module_extra(slot, module) {
            append_extra(&mut obj, extra);
        }
        modules.insert(module.to_string(), Value::Object(obj));
    }
    append_extra(&mut modules, &slot.modules_extra);
    Value::Object(modules)
}

fn module_extra(slot: &Slot, module: Module) -> Option<&Map<String, Value>> {
    slot.module_extra.get(&module.to_string())?.as_object()
}

/// Appends unknown keys after the known ones; a key the known part already wrote wins.
fn append_extra(obj: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (k, v) in extra {
        if !obj.contains_key(k) {
            obj.insert(k.clone(), v.clone());
        }
    }
}

fn is_plain(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn write_indent(level: usize, out: &mut String) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_scalar(v: &Value, out: &mut String) {
    // Printing a scalar `Value` cannot fail; the fallback keeps the file valid regardless.
    out.push_str(&serde_json::to_string(v).unwrap_or_else(|_| "null".to_string()));
}

fn write_value(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (k, item)) in map.iter().enumerate() {
                write_indent(level + 1, out);
                write_scalar(&Value::String(k.clone()), out);
                out.push_str(": ");
                write_value(item, level + 1, out);
                if i + 1 < map.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            write_indent(level, out);
            out.push('}');
        }
        Value::Array(items) if items.iter().all(is_plain) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_scalar(item, out);
            }
            out.push(']');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                write_indent(level + 1, out);
                write_value(item, level + 1, out);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            write_indent(level, out);
            out.push(']');
        }
        _ => write_scalar(v, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::slot::parse_slot;

    #[test]
    fn repeated_track_names_and_stray_non_finite_values_still_save_loadably() {
        let mut slot = Slot::default();
        slot.sequencer
            .tracks
            .push(Track::new("kick", "voice1", "X..."));
        slot.sequencer
            .tracks
            .push(Track::new("kick", "voice2", "..x."));
        slot.timestamp = f64::NAN;
        let parsed = parse_slot(&slot_to_json(&slot), "saved").unwrap();
        let names: Vec<&str> = parsed
            .slot
            .sequencer
            .tracks
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["kick", "kick_2"]);
        assert_eq!(parsed.slot.sequencer.tracks[1].pattern, "..x.");
        assert_eq!(parsed.slot.timestamp, 0.0);
    }

    #[test]
    fn plain_lists_stay_on_one_line_and_objects_indent_by_two() {
        let v: Value =
            serde_json::from_str(r#"{"a":[1.0,2],"b":{"c":[]},"d":[{"e":true}],"f":{}}"#)
                .expect("test JSON");
        let mut out = String::new();
        write_value(&v, 0, &mut out);
        assert_eq!(
            out,
            "{\n  \"a\": [1.0, 2],\n  \"b\": {\n    \"c\": []\n  },\n  \"d\": [\n    {\n      \"e\": true\n    }\n  ],\n  \"f\": {}\n}"
        );
    }
}
