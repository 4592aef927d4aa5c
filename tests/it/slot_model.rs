//! Slot files: reading rules, canonical writing, notes, JSON Schema and `chronus check`.

use std::path::{Path, PathBuf};
use std::process::Command;

use chronus::model::notes::{note_name, parse_notes};
use chronus::model::registry::{ParamId, acid, lfo, voice};
use chronus::model::slot::{MAX_SLOT_BYTES, SlotError, parse_slot};
use chronus::store::read_slot_file;
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture")
}

/// A small valid slot with one track, for tests that change one thing.
fn base_doc() -> Value {
    json!({
        "schema_version": "1.0",
        "metadata": { "name": "t" },
        "sequencer": {
            "bpm": 120.0,
            "tracks": {
                "kick": { "voice_id": "voice1", "pattern": "X...", "base_amp": 0.5 }
            }
        },
        "modules": { "voice1": { "freq": 55.0 } }
    })
}

fn parse_value(v: &Value) -> Result<chronus::model::slot::Parsed, SlotError> {
    parse_slot(&v.to_string(), "test.json")
}

fn invalid_at(v: &Value) -> (String, String) {
    match parse_value(v) {
        Err(SlotError::Invalid { path, message, .. }) => (path, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn slot_format_example_loads_with_every_value() {
    let parsed = read_slot_file(&fixture("slot_format_example.json")).expect("example loads");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let s = parsed.slot;
    assert_eq!(s.metadata.name, "Pattern 1");
    assert_eq!(s.metadata.genre.as_deref(), Some("techno"));
    assert_eq!(s.metadata.tags, vec!["acid", "303"]);
    assert_eq!(s.timestamp, 1704654321.456);
    assert_eq!(s.sequencer.bpm, 120.0);
    assert_eq!(s.sequencer.tracks.len(), 1);
    let kick = &s.sequencer.tracks[0];
    assert_eq!(
        (
            kick.name.as_str(),
            kick.voice_id.as_str(),
            kick.pattern.as_str()
        ),
        ("kick", "voice1", "X...X...X...X...")
    );
    assert_eq!(kick.notes, vec![55.0]);
    assert_eq!(
        (
            kick.base_amp,
            kick.filter_freq,
            kick.gate_frac,
            kick.note_index
        ),
        (0.5, 150.0, 0.2, 0)
    );
    assert_eq!(s.params.get(ParamId::voice(1, voice::FREQ)), 55.0);
    assert_eq!(s.params.get(ParamId::voice(1, voice::ATTACK)), 0.001);
    assert_eq!(s.params.get(ParamId::voice(1, voice::SUSTAIN)), 0.0);
    assert_eq!(s.params.get(ParamId::acid(acid::CUTOFF)), 1500.0);
    // Not in the file: the registry default.
    assert_eq!(s.params.get(ParamId::acid(acid::ACCENT)), 0.5);
    assert_eq!(s.params.get(ParamId::lfo2(lfo::RATE)), 4.0);
    assert_eq!(s.voice_modules, 1);
}

#[test]
fn slot_format_example_writes_the_canonical_golden_text() {
    let parsed = read_slot_file(&fixture("slot_format_example.json")).unwrap();
    let golden = fixture("slot_format_example.canonical.json");
    // CHRONUS_BLESS=1 rewrites the golden file after a deliberate format change.
    if std::env::var_os("CHRONUS_BLESS").is_some() {
        std::fs::write(&golden, parsed.slot.to_json()).unwrap();
    }
    assert_eq!(
        parsed.slot.to_json(),
        fixture_text("slot_format_example.canonical.json")
    );
}

#[test]
fn original_engine_file_loads_and_keeps_its_extra_keys_and_float_noise() {
    let parsed = read_slot_file(&fixture("original_engine.json")).expect("original file loads");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let s = &parsed.slot;
    assert_eq!(s.sequencer.bpm, 125.0);
    assert_eq!(s.sequencer.swing, 0.10000000149011612);
    assert_eq!(s.voice_modules, 8);
    assert_eq!(s.metadata.genre, None);
    let names: Vec<&str> = s.sequencer.tracks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["kick", "bass", "lead", "hats"]);
    assert_eq!(s.sequencer.tracks[1].note_index, 7);
    assert_eq!(s.sequencer.tracks[3].gate_frac, 0.05000000074505806);
    assert_eq!(
        s.params.get(ParamId::voice(2, voice::AMP)),
        0.3499999940395355
    );
    assert_eq!(s.params.get(ParamId::voice(3, voice::WAVEFORM)), 2.0);
    assert_eq!(s.module_extra["voice1"]["module_id"], "voice1");
    assert_eq!(s.module_extra["acid1"]["module_id"], "acid1");
    assert_eq!(s.sequencer.tracks[0].extra["accent_disabled"], true);

    let text = s.to_json();
    assert!(
        text.contains("\"gate_frac\": 0.05000000074505806,"),
        "{text}"
    );
    assert!(text.contains("\"accent_disabled\": true"), "{text}");
    assert!(text.contains("\"module_id\": \"lfo2\""), "{text}");
    let again = parse_slot(&text, "saved").unwrap();
    assert_eq!(&again.slot, s);
    assert_eq!(again.slot.to_json(), text);
}

#[test]
fn canonical_text_is_a_fixed_point_for_both_fixtures() {
    for name in ["slot_format_example.json", "original_engine.json"] {
        let first = parse_slot(&fixture_text(name), name)
            .unwrap()
            .slot
            .to_json();
        let second = parse_slot(&first, name).unwrap().slot.to_json();
        assert_eq!(first, second, "{name}");
        assert!(first.ends_with("}\n"));
        assert!(first.starts_with("{\n  \"chronus_version\": \"1.0.0\",\n"));
    }
}

#[test]
fn keys_are_written_in_slot_format_order() {
    let text = parse_slot(&fixture_text("original_engine.json"), "o")
        .unwrap()
        .slot
        .to_json();
    let order = |keys: &[&str]| {
        let pos: Vec<usize> = keys
            .iter()
            .map(|k| {
                text.find(&format!("\"{k}\":"))
                    .unwrap_or_else(|| panic!("{k}"))
            })
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{keys:?} in {text}");
    };
    order(&[
        "chronus_version",
        "schema_version",
        "timestamp",
        "metadata",
        "sequencer",
        "modules",
    ]);
    order(&["bpm", "swing", "tracks"]);
    order(&[
        "voice1", "voice2", "voice8", "reverb1", "delay1", "acid1", "dist1", "lfo1", "lfo2",
    ]);
    order(&[
        "base_freq",
        "base_amp",
        "filter_freq",
        "accent_boost",
        "reverb_send",
        "delay_send",
        "gate_frac",
        "note_index",
    ]);
    order(&[
        "filter_q",
        "adsr",
        "attack",
        "release",
        "waveform",
        "slide_time",
    ]);
}

#[test]
fn unknown_keys_are_kept_at_every_level_and_written_back() {
    let mut doc = base_doc();
    doc["$schema"] = json!("./slot.schema.json");
    doc["_comment"] = json!("hand-written");
    doc["future_top"] = json!({ "x": [1, 2.5, "y"] });
    doc["metadata"]["mood"] = json!("dark");
    doc["sequencer"]["time_signature"] = json!("4/4");
    doc["sequencer"]["tracks"]["kick"]["probability"] = json!(0.5);
    doc["modules"]["voice1"]["_note"] = json!("the kick");
    doc["modules"]["voice1"]["adsr"] = json!({ "attack": 0.002, "curve": "exp" });
    doc["modules"]["reverb1"] = json!({ "mix": 0.4, "shimmer": 0.1 });
    doc["modules"]["chorus1"] = json!({ "rate": 1.0 });
    let parsed = parse_value(&doc).unwrap();
    let paths: Vec<&str> = parsed.warnings.iter().map(|w| w.path.as_str()).collect();
    // Comments and "$schema" pass quietly; other unknown keys are pointed out (typos).
    // Modules are read last, after every other top-level key.
    assert_eq!(
        paths,
        [
            "metadata.mood",
            "sequencer.tracks.kick.probability",
            "sequencer.time_signature",
            "future_top",
            "modules.voice1.adsr.curve",
            "modules.reverb1.shimmer",
            "modules.chorus1",
        ]
    );
    let text = parsed.slot.to_json();
    assert!(
        text.starts_with("{\n  \"$schema\": \"./slot.schema.json\",\n"),
        "{text}"
    );
    for needle in [
        "\"_comment\": \"hand-written\"",
        "\"future_top\": {\n    \"x\": [1, 2.5, \"y\"]\n  }\n}",
        "\"mood\": \"dark\"",
        "\"time_signature\": \"4/4\"",
        "\"probability\": 0.5",
        "\"_note\": \"the kick\"",
        "\"release\": 0.5,\n        \"curve\": \"exp\"\n      }",
        "\"shimmer\": 0.1",
        "\"chorus1\": {\n      \"rate\": 1.0\n    }",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    let again = parse_slot(&text, "again").unwrap();
    assert_eq!(again.slot, parsed.slot);
    assert_eq!(again.slot.to_json(), text);
}

#[test]
fn out_of_range_values_are_clamped_with_one_warning_each() {
    let mut doc = base_doc();
    doc["sequencer"]["bpm"] = json!(400);
    doc["sequencer"]["tracks"]["kick"]["base_amp"] = json!(1.5);
    doc["sequencer"]["tracks"]["hats"] =
        json!({ "voice_id": "voice1", "pattern": "x.", "base_freq": 8000, "notes": [10.0, 100.0] });
    doc["modules"]["voice1"]["waveform"] = json!(7);
    doc["modules"]["voice1"]["adsr"] = json!({ "attack": 0.0 });
    doc["modules"]["voice2"] = json!({ "waveform": 2.6 });
    doc["modules"]["acid1"] = json!({ "res": 1.2 });
    let parsed = parse_value(&doc).unwrap();
    let shown: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        shown,
        [
            "sequencer.bpm: 400 is out of range 30–300 BPM, clamped to 300",
            "sequencer.tracks.kick.base_amp: 1.5 is out of range 0–1, clamped to 1",
            "sequencer.tracks.hats.base_freq: 8000 is out of range 20–5000 Hz, clamped to 5000",
            "sequencer.tracks.hats.notes[0]: 10 is out of range 20–5000 Hz, clamped to 20",
            "modules.voice1.waveform: 7 is out of range 0–5, clamped to 5",
            "modules.voice1.adsr.attack: 0 is out of range 0.001–2 s, clamped to 0.001",
            "modules.voice2.waveform: 2.6 is not a whole number, rounded to 3",
            "modules.acid1.res: 1.2 is out of range 0–0.98, clamped to 0.98",
        ]
    );
    let s = &parsed.slot;
    assert_eq!(s.sequencer.bpm, 300.0);
    assert_eq!(s.sequencer.tracks[0].base_amp, 1.0);
    assert_eq!(s.sequencer.tracks[1].base_freq, 5000.0);
    assert_eq!(s.sequencer.tracks[1].notes, vec![20.0, 100.0]);
    assert_eq!(s.params.get(ParamId::voice(1, voice::WAVEFORM)), 5.0);
    assert_eq!(s.params.get(ParamId::voice(2, voice::WAVEFORM)), 3.0);
    assert_eq!(s.params.get(ParamId::acid(acid::RES)), 0.98);
    // The clamped values are what a save writes; reading that back warns no more.
    let again = parse_slot(&s.to_json(), "again").unwrap();
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
}

#[test]
fn integers_and_integral_floats_are_both_accepted() {
    let mut doc = base_doc();
    doc["sequencer"]["bpm"] = json!(120);
    doc["sequencer"]["global_step"] = json!(64.0);
    doc["sequencer"]["tracks"]["kick"]["note_index"] = json!(3.0);
    doc["sequencer"]["tracks"]["kick"]["filter_freq"] = json!(150);
    doc["modules"]["voice1"]["waveform"] = json!(1.0);
    let parsed = parse_value(&doc).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let s = parsed.slot;
    assert_eq!(s.sequencer.bpm, 120.0);
    assert_eq!(s.sequencer.tracks[0].note_index, 3);
    assert_eq!(s.sequencer.tracks[0].filter_freq, 150.0);
    assert_eq!(s.params.get(ParamId::voice(1, voice::WAVEFORM)), 1.0);
    let text = s.to_json();
    assert!(text.contains("\"bpm\": 120.0,"), "{text}");
    assert!(text.contains("\"note_index\": 3\n"), "{text}");
    assert!(text.contains("\"waveform\": 1,"), "{text}");
}

#[test]
fn wrong_types_are_errors_naming_the_json_path() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "/sequencer/bpm",
            json!("fast"),
            "sequencer.bpm",
            "expected a number, found text \"fast\"",
        ),
        (
            "/sequencer/tracks/kick/base_amp",
            json!("0.5"),
            "sequencer.tracks.kick.base_amp",
            "expected a number, found text \"0.5\"",
        ),
        (
            "/sequencer/tracks/kick/voice_id",
            json!(1),
            "sequencer.tracks.kick.voice_id",
            "expected text, found the number 1",
        ),
        (
            "/sequencer/tracks/kick/notes",
            json!([null]),
            "sequencer.tracks.kick.notes[0]",
            "expected a number, found null",
        ),
        (
            "/sequencer/tracks/kick/muted",
            json!("yes"),
            "sequencer.tracks.kick.muted",
            "expected true or false, found text \"yes\"",
        ),
        (
            "/metadata/name",
            json!(5),
            "metadata.name",
            "expected text, found the number 5",
        ),
        (
            "/metadata/tags",
            json!(["a", 2]),
            "metadata.tags[1]",
            "expected text, found the number 2",
        ),
        (
            "/modules/voice1/adsr",
            json!(0.1),
            "modules.voice1.adsr",
            "expected an object, found the number 0.1",
        ),
        (
            "/modules/voice1/amp",
            json!(null),
            "modules.voice1.amp",
            "expected a number, found null",
        ),
        (
            "/sequencer/tracks",
            json!([]),
            "sequencer.tracks",
            "expected an object keyed by track name, found a list",
        ),
        (
            "/sequencer/running",
            json!(1),
            "sequencer.running",
            "expected true or false, found the number 1",
        ),
    ];
    for (pointer, bad, path, message) in cases {
        let mut doc = base_doc();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        doc.pointer_mut(parent).unwrap()[key] = bad;
        assert_eq!(
            invalid_at(&doc),
            (path.to_string(), message.to_string()),
            "{pointer}"
        );
    }
    let err = parse_slot(
        "{\"sequencer\": {\"bpm\": \"fast\"}}",
        "slots/slot_009.json",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "slots/slot_009.json: sequencer.bpm: expected a number, found text \"fast\""
    );
    let err = parse_slot("[1, 2]", "a.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "a.json: a slot file must hold a JSON object, found a list"
    );
}

#[test]
fn tracks_need_a_pattern_and_a_voice_id() {
    for key in ["pattern", "voice_id"] {
        let mut doc = base_doc();
        doc["sequencer"]["tracks"]["kick"]
            .as_object_mut()
            .unwrap()
            .remove(key);
        assert_eq!(
            invalid_at(&doc),
            (
                format!("sequencer.tracks.kick.{key}"),
                format!("missing: every track needs a \"{key}\"")
            )
        );
    }
}

#[test]
fn syntax_errors_name_file_line_and_column() {
    let text = "{\n  \"sequencer\": {\n    \"bpm\": 120.0\n    \"swing\": 0.1\n  }\n}\n";
    let err = parse_slot(text, "slot_004.json").unwrap_err();
    match &err {
        SlotError::Syntax { line, column, .. } => assert_eq!((*line, *column), (4, 5)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "slot_004.json:4:5: syntax error: expected `,` or `}`"
    );
    let err = parse_slot("", "empty.json").unwrap_err();
    assert!(matches!(err, SlotError::Syntax { line: 1, .. }), "{err}");
    let err = parse_slot("{\"a\": 1} trailing", "t.json").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("t.json:1:10: syntax error: trailing characters"),
        "{err}"
    );
}

#[test]
fn invalid_utf8_is_a_syntax_error_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, b"{\n  \"metadata\": {\"name\": \"caf\xe9\"}\n}\n").unwrap();
    match read_slot_file(&path) {
        Err(SlotError::Syntax {
            line,
            column,
            message,
            ..
        }) => {
            assert_eq!((line, column), (2, 28));
            assert_eq!(message, "the file is not valid UTF-8 text");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn schema_versions_1x_load_and_higher_majors_are_refused() {
    let mut doc = base_doc();
    doc["schema_version"] = json!("1.7");
    assert_eq!(parse_value(&doc).unwrap().slot.schema_version, "1.7");
    // A missing version reads as 1.0, which is held as the 1.1 a save writes (1.1 only adds).
    doc.as_object_mut().unwrap().remove("schema_version");
    assert_eq!(parse_value(&doc).unwrap().slot.schema_version, "1.1");
    // A newer file may be shaped differently: the version is checked before anything else.
    doc["schema_version"] = json!("2.0");
    doc["sequencer"] = json!("reorganised");
    let err = parse_value(&doc).unwrap_err();
    assert!(
        matches!(&err, SlotError::Version { found, .. } if found == "2.0"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "test.json: schema_version \"2.0\" is not supported: this Chronus reads schema version 1.x"
    );
    doc["schema_version"] = json!(2.0);
    assert_eq!(
        invalid_at(&doc),
        (
            "schema_version".to_string(),
            "expected text, found the number 2.0".to_string()
        )
    );
}

#[test]
fn files_over_one_mebibyte_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    let mut doc = base_doc();
    doc["_padding"] = json!("x".repeat(MAX_SLOT_BYTES));
    let text = doc.to_string();
    std::fs::write(&path, &text).unwrap();
    match read_slot_file(&path) {
        Err(SlotError::TooLarge { size, origin }) => {
            assert_eq!(size, text.len() as u64);
            assert_eq!(origin, path.display().to_string());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_slot(&text, "huge"),
        Err(SlotError::TooLarge { .. })
    ));
    let msg = read_slot_file(&path).unwrap_err().to_string();
    assert!(
        msg.ends_with("; a slot file may be at most 1 MiB (1048576 bytes)"),
        "{msg}"
    );
}

#[test]
fn unknown_voice_ids_are_reported_and_their_tracks_kept() {
    let mut doc = base_doc();
    doc["sequencer"]["tracks"]["pad"] = json!({ "voice_id": "voice12", "pattern": "X..." });
    doc["sequencer"]["tracks"]["fx"] = json!({ "voice_id": "sampler", "pattern": "x..." });
    doc["modules"]["voice8"] = json!({});
    let parsed = parse_value(&doc).unwrap();
    let shown: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        shown,
        [
            "sequencer.tracks.pad.voice_id: voice12 is beyond the 8 voices Chronus runs by default; the track stays silent unless Chronus runs with --voices 12 or more",
            "sequencer.tracks.fx.voice_id: \"sampler\" is not a voice id (voice1–voice16); the track stays silent",
        ]
    );
    assert_eq!(parsed.slot.sequencer.tracks.len(), 3);
    assert_eq!(parsed.slot.sequencer.tracks[1].voice(), Some(12));
    assert_eq!(parsed.slot.sequencer.tracks[2].voice(), None);
}

#[test]
fn voice_modules_follow_the_highest_voice_in_the_file() {
    let mut doc = base_doc();
    assert_eq!(parse_value(&doc).unwrap().slot.voice_modules, 1);
    doc["modules"]["voice16"] = json!({ "amp": 0.2 });
    let s = parse_value(&doc).unwrap().slot;
    assert_eq!(s.voice_modules, 16);
    assert!(s.to_json().contains("\"voice15\": {"));
    doc["modules"] = json!({});
    assert_eq!(parse_value(&doc).unwrap().slot.voice_modules, 8);
    doc["modules"]["voice17"] = json!({ "amp": 0.2 });
    let parsed = parse_value(&doc).unwrap();
    assert_eq!(
        parsed.warnings[0].to_string(),
        "modules.voice17: not a voice Chronus has (voice1–voice16); kept unchanged"
    );
    assert!(
        parsed
            .slot
            .to_json()
            .contains("\"voice17\": {\n      \"amp\": 0.2\n    }")
    );
}

#[test]
fn running_and_global_step_load_but_are_runtime_state_never_written() {
    // Issue 13: the transport's state is not part of the song. The original engine's files
    // carry it and still load; a save leaves it out.
    let mut doc = base_doc();
    doc["sequencer"]["running"] = json!(true);
    doc["sequencer"]["global_step"] = json!(4711);
    let parsed = parse_value(&doc).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let text = parsed.slot.to_json();
    assert!(!text.contains("\"running\""), "{text}");
    assert!(!text.contains("\"global_step\""), "{text}");
    assert_eq!(parse_slot(&text, "saved").unwrap().slot, parsed.slot);
    // A wrong type is still an error that names the field.
    doc["sequencer"]["running"] = json!("yes");
    assert!(parse_value(&doc).is_err());
}

#[test]
fn muted_and_solo_are_written_only_when_set() {
    let mut doc = base_doc();
    doc["sequencer"]["tracks"]["snare"] =
        json!({ "voice_id": "voice3", "pattern": "....X...", "muted": true, "solo": false });
    let s = parse_value(&doc).unwrap().slot;
    assert!(s.sequencer.tracks[1].muted);
    assert!(!s.sequencer.tracks[1].solo);
    let text = s.to_json();
    assert_eq!(text.matches("\"muted\"").count(), 1, "{text}");
    assert!(!text.contains("\"solo\""), "{text}");
    assert!(
        text.contains("\"note_index\": 0,\n        \"muted\": true\n"),
        "{text}"
    );
}

#[test]
fn tracks_keep_their_file_order_and_names_come_from_keys() {
    let mut doc = base_doc();
    let tracks = doc["sequencer"]["tracks"].as_object_mut().unwrap();
    for name in ["zeta", "alpha", "mid"] {
        tracks.insert(name.into(), json!({ "voice_id": "voice1", "pattern": "x" }));
    }
    tracks["alpha"]["name"] = json!("beta");
    let parsed = parse_value(&doc).unwrap();
    let names: Vec<&str> = parsed
        .slot
        .sequencer
        .tracks
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["kick", "zeta", "alpha", "mid"]);
    assert_eq!(
        parsed.warnings[0].to_string(),
        "sequencer.tracks.alpha.name: \"beta\" differs from the track's key \"alpha\"; the key is used"
    );
}

#[test]
fn notes_text_parses_to_hz_and_back_to_names() {
    assert_eq!(
        parse_notes("C4, A#2 Eb3 261.63 60").unwrap(),
        vec![261.63, 116.54, 155.56, 261.63, 261.63]
    );
    assert_eq!(note_name(261.63), "C4");
    assert_eq!(note_name(65.41), "C2");
    let err = parse_notes("C4 zz").unwrap_err().to_string();
    assert!(err.starts_with("\"zz\" is not a note"), "{err}");
}

/// A JSON value of bounded size for mutation tests.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (-1.0e4..1.0e4f64).prop_map(Value::from),
        "[a-zA-Z0-9#. ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer inside `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, item) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(item, p, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(item, p, out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_byte_string_makes_the_loader_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.json");
        std::fs::write(&path, &bytes).unwrap();
        let _ = read_slot_file(&path);
        let _ = parse_slot(&String::from_utf8_lossy(&bytes), "fuzz");
    }

    #[test]
    fn truncated_or_spliced_valid_files_never_panic(cut in 0usize..4000, junk in "[\\[\\]{}:,\"0-9a-z. -]{0,12}") {
        let text = fixture_text("original_engine.json");
        let cut = cut.min(text.len());
        let mut spliced = text[..cut].to_string();
        spliced.push_str(&junk);
        spliced.push_str(&text[cut..]);
        let _ = parse_slot(&text[..cut], "cut");
        let _ = parse_slot(&spliced, "spliced");
    }

    #[test]
    fn mutated_valid_files_never_panic_and_save_stably(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, arb_json()), 1..6),
    ) {
        let mut doc: Value = serde_json::from_str(&fixture_text("original_engine.json")).unwrap();
        for (index, op, value) in edits {
            let mut all = Vec::new();
            pointers(&doc, String::new(), &mut all);
            if all.is_empty() {
                doc = value;
                continue;
            }
            let target = all[index.index(all.len())].clone();
            let (parent, key) = target.rsplit_once('/').unwrap();
            let key = key.replace("~1", "/").replace("~0", "~");
            match (op, doc.pointer_mut(parent).and_then(Value::as_object_mut)) {
                (0, Some(m)) => {
                    m.shift_remove(&key);
                }
                (1, Some(m)) => {
                    m.insert(format!("{key}_new"), value);
                }
                _ => *doc.pointer_mut(&target).unwrap() = value,
            }
        }
        if let Ok(parsed) = parse_slot(&doc.to_string(), "mutated") {
            let text = parsed.slot.to_json();
            let again = parse_slot(&text, "saved").expect("a saved slot loads");
            prop_assert_eq!(&again.slot, &parsed.slot);
            prop_assert_eq!(again.slot.to_json(), text);
        }
    }
}

fn chronus(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chronus"))
        .args(args)
        .output()
        .expect("run chronus");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_reports_ok_warnings_and_errors_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = fixture("slot_format_example.json");
    let good_s = good.to_str().unwrap();
    let (code, out, _) = chronus(&["check", good_s]);
    assert_eq!((code, out), (0, format!("{good_s}: ok\n")));

    let warn = dir.path().join("warn.json");
    let mut doc = base_doc();
    doc["sequencer"]["tracks"]["kick"]["base_amp"] = json!(1.5);
    std::fs::write(&warn, doc.to_string()).unwrap();
    let warn_s = warn.to_str().unwrap();
    let (code, out, _) = chronus(&["check", warn_s]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "{warn_s}: warning: sequencer.tracks.kick.base_amp: 1.5 is out of range 0–1, clamped to 1\n{warn_s}: ok (1 warning)\n"
        )
    );

    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        "{\n  \"sequencer\": {\n    \"bpm\": 120.0\n    \"swing\": 0.1\n  }\n}\n",
    )
    .unwrap();
    let broken_s = broken.to_str().unwrap();
    let missing = dir.path().join("nope.json");
    let missing_s = missing.to_str().unwrap();
    let (code, out, err) = chronus(&["check", good_s, broken_s, missing_s]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{good_s}: ok"));
    assert_eq!(
        lines[1],
        format!("error: {broken_s}:4:5: syntax error: expected `,` or `}}`")
    );
    assert!(
        lines[2].starts_with(&format!("error: {missing_s}: No such file")),
        "{out}"
    );
    assert_eq!(lines[3], "2 files of 3 did not validate");
    assert!(!err.contains("panicked"), "{err}");

    let (code, _, err) = chronus(&["check"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn schema_command_prints_a_json_schema_from_the_registry() {
    let (code, out, err) = chronus(&["schema", "--json-schema"]);
    assert_eq!(code, 0, "{err}");
    let schema: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(
        schema["$defs"]["voice"]["properties"]["filter_freq"]["maximum"],
        json!(8000.0)
    );
    assert_eq!(
        schema["$defs"]["delay1"]["properties"]["feedback"]["maximum"],
        json!(0.7)
    );
    assert_eq!(
        schema["$defs"]["track"]["required"],
        json!(["pattern", "voice_id"])
    );
    assert!(
        schema["properties"]["modules"]["patternProperties"]["^voice([1-9]|1[0-6])$"].is_object()
    );
    let (code, table, _) = chronus(&["schema"]);
    assert_eq!(code, 0);
    assert!(
        table.lines().any(|l| l.starts_with("acid1")
            && l.contains("/mod/acid1/res")
            && l.contains("0–0.98")),
        "{table}"
    );
}

#[test]
fn shipped_demo_slots_load_without_warnings_in_canonical_form() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns/slots");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let parsed = read_slot_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            parsed.warnings.is_empty(),
            "{}: {:?}",
            path.display(),
            parsed.warnings
        );
        let s = parsed.slot;
        assert_eq!(s.voice_modules, 8, "{}", path.display());
        assert!(!s.sequencer.tracks.is_empty(), "{}", path.display());
        assert!(s.metadata.genre.is_some(), "{}", path.display());
        assert_eq!(
            s.to_json(),
            std::fs::read_to_string(&path).unwrap(),
            "{}",
            path.display()
        );
        names.push((
            path.file_name().unwrap().to_str().unwrap().to_string(),
            s.metadata.name,
        ));
    }
    names.sort();
    assert!(names.len() >= 9, "{names:?}");
    assert_eq!(
        names[0],
        (
            "slot_001.json".to_string(),
            "Anthem Breakbeat 174".to_string()
        )
    );
    let acid = read_slot_file(&dir.join("slot_007.json")).unwrap().slot;
    let res = acid.params.get(ParamId::acid(acid::RES));
    assert!((0.8..=0.95).contains(&res), "{res}");
    assert_eq!(acid.params.get(ParamId::voice(2, voice::SLIDE_TIME)), 0.06);
    assert_eq!(acid.params.get(ParamId::voice(2, voice::WAVEFORM)), 1.0);
}

/// A slot document with `f` applied, as text.
fn doc_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut doc = base_doc();
    f(&mut doc);
    doc
}

/// `n` tracks named `t0`, `t1`, …
fn tracks(n: usize) -> Value {
    let mut map = serde_json::Map::new();
    for i in 0..n {
        map.insert(
            format!("t{i}"),
            json!({ "voice_id": "voice1", "pattern": "x..." }),
        );
    }
    Value::Object(map)
}

/// A document at each limit (it loads) and one past it (refused at `path`, naming the limit).
fn limit_cases() -> Vec<(&'static str, Value, Value, &'static str)> {
    use chronus::model::limits::*;
    let track = |name: &str, pattern: String, notes: usize| {
        let mut t = serde_json::Map::new();
        t.insert(
            name.to_string(),
            json!({ "voice_id": "voice1", "pattern": pattern, "notes": vec![110.0; notes] }),
        );
        Value::Object(t)
    };
    let name = |n: usize| "ド".repeat(n);
    vec![
        (
            "tracks",
            doc_with(|d| d["sequencer"]["tracks"] = tracks(MAX_TRACKS)),
            doc_with(|d| d["sequencer"]["tracks"] = tracks(MAX_TRACKS + 1)),
            "sequencer.tracks",
        ),
        (
            "pattern",
            doc_with(|d| d["sequencer"]["tracks"] = track("k", "x".repeat(MAX_PATTERN), 0)),
            doc_with(|d| d["sequencer"]["tracks"] = track("k", "é".repeat(MAX_PATTERN + 1), 0)),
            "sequencer.tracks.k.pattern",
        ),
        (
            "notes",
            doc_with(|d| d["sequencer"]["tracks"] = track("k", "x".into(), MAX_NOTES)),
            doc_with(|d| d["sequencer"]["tracks"] = track("k", "x".into(), MAX_NOTES + 1)),
            "sequencer.tracks.k.notes",
        ),
        (
            "track name",
            doc_with(|d| d["sequencer"]["tracks"] = track(&name(MAX_NAME_CHARS), "x".into(), 0)),
            doc_with(|d| {
                d["sequencer"]["tracks"] = track(&name(MAX_NAME_CHARS + 1), "x".into(), 0)
            }),
            "sequencer.tracks[",
        ),
        (
            "slot name",
            doc_with(|d| d["metadata"]["name"] = json!(name(MAX_NAME_CHARS))),
            doc_with(|d| d["metadata"]["name"] = json!(name(MAX_NAME_CHARS + 1))),
            "metadata.name",
        ),
        (
            "tags",
            doc_with(|d| d["metadata"]["tags"] = json!(vec!["t"; MAX_TAGS])),
            doc_with(|d| d["metadata"]["tags"] = json!(vec!["t"; MAX_TAGS + 1])),
            "metadata.tags",
        ),
        (
            "genre",
            doc_with(|d| d["metadata"]["genre"] = json!("g".repeat(MAX_TEXT_CHARS))),
            doc_with(|d| d["metadata"]["genre"] = json!("g".repeat(MAX_TEXT_CHARS + 1))),
            "metadata.genre",
        ),
        (
            "a text in an unknown key",
            doc_with(|d| d["_comment"] = json!(name(MAX_TEXT_CHARS))),
            doc_with(|d| d["_comment"] = json!(name(MAX_TEXT_CHARS + 1))),
            "_comment",
        ),
        (
            "an unknown key's name",
            doc_with(|d| d["modules"]["voice1"][name(MAX_TEXT_CHARS)] = json!(1)),
            doc_with(|d| d["modules"]["voice1"][name(MAX_TEXT_CHARS + 1)] = json!(1)),
            "modules.voice1[",
        ),
        (
            "a text deep in a list",
            doc_with(|d| d["_x"] = json!([[{ "a": "q".repeat(MAX_TEXT_CHARS) }]])),
            doc_with(|d| d["_x"] = json!([[{ "a": "q".repeat(MAX_TEXT_CHARS + 1) }]])),
            "_x[0][0].a",
        ),
        (
            "a voice id",
            doc_with(|d| {
                d["sequencer"]["tracks"]["kick"]["voice_id"] = json!("v".repeat(MAX_TEXT_CHARS))
            }),
            doc_with(|d| {
                d["sequencer"]["tracks"]["kick"]["voice_id"] = json!("v".repeat(MAX_TEXT_CHARS + 1))
            }),
            "sequencer.tracks.kick.voice_id",
        ),
    ]
}

#[test]
fn every_slot_limit_loads_at_its_size_and_refuses_one_more() {
    for (what, at, over, path) in limit_cases() {
        let parsed = parse_value(&at).unwrap_or_else(|e| panic!("{what} at its limit: {e}"));
        let reparsed = parse_slot(&parsed.slot.to_json(), "again")
            .unwrap_or_else(|e| panic!("{what} at its limit does not load back: {e}"));
        assert_eq!(reparsed.slot.sequencer, parsed.slot.sequencer, "{what}");
        match parse_value(&over) {
            Err(SlotError::Limit {
                path: p,
                error,
                origin,
            }) => {
                assert!(p.starts_with(path), "{what}: path {p}");
                assert_eq!(error.found, error.limit.max + 1, "{what}");
                assert_eq!(origin, "test.json");
                let msg = parse_value(&over).unwrap_err().to_string();
                assert!(
                    msg.starts_with(&format!(
                        "test.json: {p}: {} may hold at most ",
                        error.limit.what
                    )) && msg.ends_with(&format!("; this one has {}", error.found))
                        && msg.len() < 300,
                    "{what}: {msg}"
                );
            }
            other => panic!("{what} over its limit: {other:?}"),
        }
    }
}

#[test]
fn a_file_over_a_limit_fails_check_with_the_limit_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.json");
    let doc = doc_with(|d| d["sequencer"]["tracks"] = tracks(65));
    std::fs::write(&path, doc.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chronus"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("sequencer.tracks: a slot may hold at most 64 tracks; this one has 65"),
        "{text}"
    );
}

/// A track's `midi` target: read, written back in place (after `solo`, before `steps`) with
/// its unknown keys, refused with the JSON path when wrong, and in the JSON Schema.
#[test]
fn a_tracks_midi_target_round_trips_and_bad_ones_name_their_path() {
    let mut doc = base_doc();
    doc["sequencer"]["tracks"]["kick"]["solo"] = json!(true);
    doc["sequencer"]["tracks"]["kick"]["steps"] = json!({ "1": { "velocity": 0.5 } });
    doc["sequencer"]["tracks"]["kick"]["midi"] =
        json!({ "_note": "the TR", "channel": 10, "port": "Digitakt" });
    let slot = parse_value(&doc).unwrap().slot;
    let m = slot.sequencer.tracks[0].midi.as_ref().unwrap();
    assert_eq!((m.port.as_str(), m.channel), ("Digitakt", 10));
    let text = slot.to_json();
    let again = parse_slot(&text, "again").unwrap().slot;
    assert_eq!(again, slot);
    assert_eq!(again.to_json(), text, "a fixed point");
    let solo = text.find("\"solo\"").unwrap();
    let midi = text.find("\"midi\"").unwrap();
    let steps = text.find("\"steps\"").unwrap();
    assert!(solo < midi && midi < steps, "{text}");
    assert!(
        text.contains(
            "\"midi\": {\n          \"port\": \"Digitakt\",\n          \"channel\": 10,\n          \"_note\": \"the TR\"\n        }"
        ),
        "{text}"
    );
    // Without a midi key nothing is written.
    let plain = parse_value(&base_doc()).unwrap().slot;
    assert!(plain.sequencer.tracks[0].midi.is_none());
    assert!(!plain.to_json().contains("midi"));

    let path = "sequencer.tracks.kick.midi";
    let cases: Vec<(Value, String, &str)> = vec![
        (
            json!("Digitakt"),
            path.into(),
            "expected an object such as { \"port\": \"Digitakt\", \"channel\": 1 }, found text \"Digitakt\"",
        ),
        (
            json!({ "port": "Digitakt", "channel": 0 }),
            format!("{path}.channel"),
            "0 is not a MIDI channel: channels are whole numbers 1–16",
        ),
        (
            json!({ "port": "Digitakt", "channel": 17 }),
            format!("{path}.channel"),
            "17 is not a MIDI channel: channels are whole numbers 1–16",
        ),
        (
            json!({ "port": "Digitakt", "channel": 1.5 }),
            format!("{path}.channel"),
            "1.5 is not a MIDI channel: channels are whole numbers 1–16",
        ),
        (
            json!({ "port": "Digitakt", "channel": "1" }),
            format!("{path}.channel"),
            "expected a number, found text \"1\"",
        ),
        (
            json!({ "port": 3, "channel": 1 }),
            format!("{path}.port"),
            "expected text, found the number 3",
        ),
        (
            json!({ "port": " ", "channel": 1 }),
            format!("{path}.port"),
            "a port name is needed: the first output port whose name contains it gets the notes",
        ),
        (
            json!({ "port": "x".repeat(65), "channel": 1 }),
            format!("{path}.port"),
            "a MIDI port name may hold at most 64 characters; this one has 65",
        ),
        (
            json!({ "channel": 1 }),
            format!("{path}.port"),
            "missing: a track's midi needs a \"port\"",
        ),
        (
            json!({ "port": "Digitakt" }),
            format!("{path}.channel"),
            "missing: a track's midi needs a \"channel\"",
        ),
    ];
    for (value, want_path, want) in cases {
        let mut doc = base_doc();
        doc["sequencer"]["tracks"]["kick"]["midi"] = value.clone();
        let (p, message) = invalid_at(&doc);
        assert_eq!(
            (p.as_str(), message.as_str()),
            (want_path.as_str(), want),
            "{value}"
        );
    }

    let schema = chronus::model::schema::json_schema();
    let m = &schema["$defs"]["track"]["properties"]["midi"];
    assert_eq!(m["required"], json!(["port", "channel"]));
    assert_eq!(m["properties"]["channel"]["minimum"], 1);
    assert_eq!(m["properties"]["channel"]["maximum"], 16);
    assert_eq!(m["properties"]["port"]["maxLength"], 64);
}
