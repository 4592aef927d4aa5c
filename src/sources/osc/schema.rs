//! The address space as data: the fixed routes, the routes generated from the parameter
//! registry, `/engine/schema` (the original's JSON shape) and `/engine/list`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::model::registry::{
    EFFECT_MODULES, Module, ParamSpec, TRACK_FIELDS, TrackFieldKind, sequencer as seq_spec,
};

/// One fixed route: its address, its arguments and what it does.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// The OSC address.
    pub address: &'static str,
    /// Arguments, as written in the docs.
    pub args: &'static str,
    /// What it does.
    pub desc: &'static str,
}

const fn route(address: &'static str, args: &'static str, desc: &'static str) -> RouteDoc {
    RouteDoc {
        address,
        args,
        desc,
    }
}

/// Sequencer routes.
pub const SEQ_ROUTES: &[RouteDoc] = &[
    route(
        "/seq/add",
        "track voice pattern [base_freq] [filter_freq] [notes] [key=value …]",
        "add or replace a track; key=value sets any track field",
    ),
    route("/seq/remove", "track", "remove a track"),
    route("/seq/clear", "", "remove all tracks and release all voices"),
    route("/seq/start", "", "start from step 0"),
    route("/seq/stop", "", "stop and release all voices"),
    route("/seq/bpm", "bpm", "tempo, 30–300"),
    route("/seq/swing", "amount", "swing of odd 16ths, 0–0.6"),
    route(
        "/seq/update/pattern",
        "track pattern",
        "new pattern, same phase",
    ),
    route(
        "/seq/update/notes",
        "track notes",
        "new notes (Hz, MIDI numbers or names); resets the note index",
    ),
    route(
        "/seq/status",
        "",
        "reply: bpm swing running step tracks-json backend backend-kind (device, internal)",
    ),
];

/// Pattern slot routes.
pub const PATTERN_ROUTES: &[RouteDoc] = &[
    route("/pattern/save", "slot", "save the song to slot 1–128"),
    route(
        "/pattern/load",
        "slot [immediate]",
        "load a slot at the next bar, or at once when the 2nd argument is 1, true, immediate or now",
    ),
    route(
        "/pattern/list",
        "",
        "reply: slot name modified, for each used slot",
    ),
];

/// Engine routes.
pub const ENGINE_ROUTES: &[RouteDoc] = &[
    route("/engine/start", "", "audio on"),
    route(
        "/engine/stop",
        "",
        "audio off; stops the sequencer and any recording",
    ),
    route("/engine/status", "", "reply: a JSON status summary"),
    route(
        "/engine/list",
        "",
        "reply: the modules and parameters as text",
    ),
    route(
        "/engine/schema",
        "[json|file]",
        "reply: this schema as JSON, or write chronus_schema_YYYYMMDD_HHMMSS.json and reply its path",
    ),
    route(
        "/engine/record/start",
        "[name]",
        "record the master output to recordings/",
    ),
    route("/engine/record/stop", "", "stop recording"),
    route("/engine/record/status", "", "reply: recording (0/1) path"),
];

/// Addresses Chronus itself sends; received, they are ignored rather than counted as unknown
/// (a leader's `--osc-out` also carries its visual data and slot changes).
pub const IGNORED_INBOUND: &[&str] = &[
    "/viz/levels",
    "/viz/spectrum",
    "/chronus/slot/playing",
    "/chronus/slot/queued",
    "/reply",
    "/error",
];

/// The clock address (followed with `--clock follow`).
pub const CLOCK_ADDRESS: &str = "/chronus/clock";

/// Gate addresses besides `/gate/voiceN`, and the voice they open.
pub const GATE_ALIASES: &[(&str, u8)] = &[("acid1", 2), ("adsr1", 1), ("1", 1)];

/// Legacy parameter addresses (all voice1), as `/mod/…` paths.
pub const LEGACY_PARAMS: &[&str] = &[
    "sine1/freq",
    "filter1/freq",
    "filter1/q",
    "adsr1/attack",
    "adsr1/decay",
    "adsr1/sustain",
    "adsr1/release",
];

fn module_list(voices: usize) -> impl Iterator<Item = Module> {
    (1..=voices.min(crate::model::registry::MAX_VOICES) as u8)
        .map(Module::Voice)
        .chain(EFFECT_MODULES)
}

/// Every address the server answers, for an engine with `voices` voices.
pub fn registered_routes(voices: usize) -> Vec<String> {
    let mut out = Vec::new();
    for m in module_list(voices) {
        for p in m.params() {
            out.push(format!("/mod/{m}/{}", p.osc));
        }
    }
    out.extend(LEGACY_PARAMS.iter().map(|p| format!("/mod/{p}")));
    out.extend((1..=voices).map(|n| format!("/gate/voice{n}")));
    out.extend(GATE_ALIASES.iter().map(|(a, _)| format!("/gate/{a}")));
    for r in SEQ_ROUTES.iter().chain(PATTERN_ROUTES).chain(ENGINE_ROUTES) {
        out.push(r.address.to_string());
    }
    out.push(CLOCK_ADDRESS.to_string());
    out
}

fn param_json(p: &ParamSpec) -> Value {
    json!({
        "type": p.ty.as_str(),
        "min": p.min,
        "max": p.max,
        "default": p.default,
        "smoothing_ms": p.smoothing_ms,
        "unit": p.unit,
        "notes": p.desc,
    })
}

fn params_json(m: Module) -> Value {
    let mut params = Map::new();
    for p in m.params() {
        params.insert(p.osc.to_string(), param_json(p));
    }
    Value::Object(params)
}

fn routes_json(routes: &[RouteDoc]) -> Value {
    let mut m = Map::new();
    for r in routes {
        m.insert(
            r.address.to_string(),
            json!({"args": r.args, "description": r.desc}),
        );
    }
    Value::Object(m)
}

/// The registry as the original's schema JSON, with the unknown addresses seen so far.
pub fn schema_json(voices: usize, unknown: &BTreeMap<String, u64>, unknown_total: u64) -> Value {
    let mut modules = Map::new();
    let instances: Vec<String> = (1..=voices).map(|n| format!("voice{n}")).collect();
    modules.insert(
        "voice".into(),
        json!({
            "instances": instances,
            "osc_prefix": "/mod/voiceN/",
            "gate": "/gate/voiceN (v > 0 attack, v <= 0 release)",
            "params": params_json(Module::Voice(1)),
        }),
    );
    for m in EFFECT_MODULES {
        modules.insert(m.to_string(), json!({ "params": params_json(m) }));
    }
    let mut fields = Map::new();
    for f in TRACK_FIELDS.iter() {
        let v = match f.kind {
            TrackFieldKind::Number => param_json(&f.spec),
            TrackFieldKind::Text => json!({"type": "string", "notes": f.spec.desc}),
            TrackFieldKind::Voice => json!({"type": "voice", "notes": f.spec.desc}),
            TrackFieldKind::Pattern => json!({"type": "pattern", "notes": f.spec.desc}),
            TrackFieldKind::Notes => json!({"type": "notes", "notes": f.spec.desc}),
        };
        fields.insert(f.key.to_string(), v);
    }
    let mut out = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "engine": "chronus",
        "schema_version": "1.0",
        "modules": modules,
        "sequencer": {
            "commands": routes_json(SEQ_ROUTES),
            "pattern_notation": {"X": 1.0, "x": 0.6, ".": "rest"},
            "bpm": param_json(&seq_spec::BPM),
            "swing": param_json(&seq_spec::SWING),
            "track_fields": fields,
            "notes_text": "comma- or space-separated: 261.63 (Hz, has a dot), 60 (MIDI), C4 / A#2 / Eb3 (names, default octave 4)",
        },
        "pattern_commands": routes_json(PATTERN_ROUTES),
        "engine_commands": routes_json(ENGINE_ROUTES),
        "legacy_aliases": {
            "/mod/sine1/freq": "/mod/voice1/freq",
            "/mod/filter1/freq": "/mod/voice1/filter/freq",
            "/mod/filter1/q": "/mod/voice1/filter/q",
            "/mod/adsr1/*": "/mod/voice1/adsr/*",
            "/gate/adsr1": "/gate/voice1",
            "/gate/1": "/gate/voice1",
            "/gate/acid1": "/gate/voice2",
        },
        "registered_routes": registered_routes(voices),
        "unknown_routes": unknown.keys().collect::<Vec<_>>(),
    });
    if unknown_total > 0
        && let Value::Object(m) = &mut out
    {
        m.insert(
            "warning".into(),
            Value::from(format!(
                "{unknown_total} message(s) arrived for {} unknown address(es); see unknown_routes",
                unknown.len()
            )),
        );
    }
    out
}

/// The modules and their parameters as human-readable text (`/engine/list`).
pub fn engine_list(voices: usize) -> String {
    let mut out = String::new();
    let mut module = |title: String, m: Module| {
        out.push_str(&title);
        out.push('\n');
        for p in m.params() {
            let unit = if p.unit.is_empty() {
                String::new()
            } else {
                format!(" {}", p.unit)
            };
            out.push_str(&format!(
                "  {:<14} {}–{}{unit}, default {} — {}\n",
                p.osc,
                crate::control::fmt_num(p.min),
                crate::control::fmt_num(p.max),
                crate::control::fmt_num(p.default),
                p.desc
            ));
        }
    };
    module(
        format!("voice1 … voice{voices}  (/mod/voiceN/<param>, /gate/voiceN)"),
        Module::Voice(1),
    );
    for m in EFFECT_MODULES {
        module(format!("{m}  (/mod/{m}/<param>)"), m);
    }
    out.push_str("sequencer\n");
    for r in SEQ_ROUTES.iter().chain(PATTERN_ROUTES).chain(ENGINE_ROUTES) {
        out.push_str(&format!("  {} {}\n", r.address, r.args));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_keeps_the_original_shape_and_lists_unknown_routes() {
        let mut unknown = BTreeMap::new();
        let clean = schema_json(8, &unknown, 0);
        assert!(clean.get("warning").is_none());
        for key in [
            "version",
            "schema_version",
            "modules",
            "sequencer",
            "engine_commands",
            "registered_routes",
            "unknown_routes",
        ] {
            assert!(clean.get(key).is_some(), "{key}");
        }
        let attack = &clean["modules"]["voice"]["params"]["adsr/attack"];
        assert_eq!(attack["min"], 0.001);
        assert_eq!(attack["max"], 2.0);
        assert_eq!(attack["default"], 0.01);
        assert_eq!(attack["unit"], "s");
        assert_eq!(clean["modules"]["voice"]["instances"][7], "voice8");
        assert_eq!(clean["modules"]["acid1"]["params"]["res"]["max"], 0.98);
        assert_eq!(clean["sequencer"]["pattern_notation"]["x"], 0.6);
        unknown.insert("/nope".to_string(), 3);
        let warned = schema_json(8, &unknown, 3);
        assert_eq!(warned["unknown_routes"][0], "/nope");
        assert!(warned["warning"].as_str().unwrap().contains("3 message"));
    }

    #[test]
    fn routes_are_generated_from_the_registry() {
        let r = registered_routes(8);
        assert!(r.contains(&"/mod/voice8/osc/type".to_string()));
        assert!(r.contains(&"/mod/voice3/slide_time".to_string()));
        assert!(r.contains(&"/mod/delay1/highcut".to_string()));
        assert!(r.contains(&"/gate/acid1".to_string()));
        assert!(!r.contains(&"/mod/voice9/freq".to_string()));
        for addr in &r {
            if let Some(p) = addr.strip_prefix("/mod/") {
                assert!(
                    crate::model::registry::resolve_osc_param(p).is_some(),
                    "{addr}"
                );
            }
        }
        assert_eq!(
            r.iter().filter(|a| a.starts_with("/mod/")).count(),
            8 * 12 + 23 + 7
        );
        let text = engine_list(4);
        assert!(text.contains("voice1 … voice4"));
        assert!(text.contains("env_amount"));
    }
}
