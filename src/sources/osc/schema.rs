//! The address space as documents: `/engine/schema` (the original's JSON shape),
//! `registered_routes` and `/engine/list`, all read from the one route table
//! ([`ROUTES`](super::routes::ROUTES)) and the parameter registry.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::routes::{ROUTES, Route, RouteGroup};
use crate::model::registry::{
    EFFECT_MODULES, Module, ParamSpec, TRACK_FIELDS, TrackFieldKind, sequencer as seq_spec,
};

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

/// The `/mod/<module>/<param>` addresses: every registry parameter of the running voices and
/// the effects, then the legacy aliases.
pub(super) fn param_addresses(voices: usize) -> Vec<String> {
    let mut out = Vec::new();
    for m in module_list(voices) {
        for p in m.params() {
            out.push(format!("/mod/{m}/{}", p.osc));
        }
    }
    out.extend(LEGACY_PARAMS.iter().map(|p| format!("/mod/{p}")));
    out
}

/// The `/gate/<voice>` addresses: each running voice, then the aliases.
pub(super) fn gate_addresses(voices: usize) -> Vec<String> {
    let voices = voices.min(crate::model::registry::MAX_VOICES);
    (1..=voices)
        .map(|n| format!("/gate/voice{n}"))
        .chain(GATE_ALIASES.iter().map(|(a, _)| format!("/gate/{a}")))
        .collect()
}

/// Every address the server answers, for an engine with `voices` voices: the route table
/// expanded (addresses Chronus only sends, heard back and ignored, are left out).
pub fn registered_routes(voices: usize) -> Vec<String> {
    ROUTES
        .iter()
        .filter(|r| r.group != RouteGroup::Ignored)
        .flat_map(|r| r.addresses(voices))
        .collect()
}

fn commands(group: RouteGroup) -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(move |r| r.group == group)
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

fn routes_json(group: RouteGroup) -> Value {
    let mut m = Map::new();
    for r in commands(group) {
        m.insert(
            r.address.to_string(),
            json!({"args": r.args, "description": r.doc}),
        );
    }
    Value::Object(m)
}

/// The whole route table: address (or pattern), arguments, description and section.
fn route_table_json() -> Value {
    ROUTES
        .iter()
        .map(|r| {
            json!({"address": r.address, "args": r.args, "description": r.doc,
                   "group": r.group.name()})
        })
        .collect()
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
            "commands": routes_json(RouteGroup::Seq),
            "pattern_notation": {"X": 1.0, "x": 0.6, ".": "rest"},
            "bpm": param_json(&seq_spec::BPM),
            "swing": param_json(&seq_spec::SWING),
            "track_fields": fields,
            "notes_text": "comma- or space-separated: 261.63 (Hz, has a dot), 60 (MIDI), C4 / A#2 / Eb3 (names, default octave 4)",
        },
        "pattern_commands": routes_json(RouteGroup::Pattern),
        "engine_commands": routes_json(RouteGroup::Engine),
        "routes": route_table_json(),
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
        "limits": crate::model::schema::limits_json(),
        "slot_arguments": super::wire::SLOT_RULE,
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
    let groups = [RouteGroup::Seq, RouteGroup::Pattern, RouteGroup::Engine];
    for r in groups.into_iter().flat_map(commands) {
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
            8 * 12 + 24 + 7
        );
        let text = engine_list(4);
        assert!(text.contains("voice1 … voice4"));
        assert!(text.contains("env_amount"));
    }
}
