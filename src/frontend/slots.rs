//! `chronus check`, `chronus slots list|show|save` and `chronus schema`: slot files from the
//! command line. Output is plain text meant to stay stable for scripts; exit code 0 means
//! success, 1 means a file did not validate or an operation failed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::model::notes::{note_name, notes_to_names};
use crate::model::registry::{
    EFFECT_MODULES, Module, ParamSpec, ParamType, ParamValues, TRACK_FIELDS, TrackFieldKind,
    VOICE_PARAMS, sequencer, voice,
};
use crate::model::schema::json_schema;
use crate::model::slot::{Slot, Track};
use crate::model::text::{error_text, escape, escape_keep_lines};
use crate::store::{SlotNumber, Store, read_slot_file};

/// `chronus check FILE...`
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Slot files to validate.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Rewrite each file that loads as this Chronus saves it (schema 1.1), in place and
    /// atomically, keeping the previous version as a backup; say what changed. The files
    /// must be slots of a patterns folder (`…/slots/slot_NNN.json`), whose `backups/` keeps
    /// the old versions.
    #[arg(long)]
    pub upgrade: bool,
}

/// `chronus slots ...`
#[derive(Debug, Args, Clone)]
pub struct SlotsArgs {
    /// What to do with the slots.
    #[command(subcommand)]
    pub command: SlotsCommand,
}

/// The `slots` subcommands.
#[derive(Debug, Subcommand, Clone)]
pub enum SlotsCommand {
    /// List the slots: number, name, tempo, tracks, last change.
    List,
    /// Summarise one slot: tempo, tracks, modules that differ from their defaults.
    Show {
        /// Slot number, 1–128.
        slot: SlotNumber,
    },
    /// Validate FILE and store it as slot N (atomic, with a backup of the previous version).
    Save {
        /// Slot number, 1–128.
        slot: SlotNumber,
        /// The slot file to store.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
}

/// `chronus schema`
#[derive(Debug, Args, Clone)]
pub struct SchemaArgs {
    /// Print a JSON Schema (draft 2020-12) for slot files instead of the parameter table.
    #[arg(long)]
    pub json_schema: bool,
}

/// Prints a line of output with its control characters escaped: file names and slot names
/// may hold them, and the terminal must not act on them.
fn say(line: &str) {
    println!("{}", escape(line));
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Validates each file; exit 0 when all load (warnings allowed), 1 otherwise.
pub fn run_check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in &args.files {
        let name = file.display();
        match read_slot_file(file) {
            Ok(parsed) => {
                for w in &parsed.warnings {
                    say(&format!("{name}: warning: {w}"));
                }
                if args.upgrade {
                    if let Err(e) = upgrade(file, parsed.slot) {
                        failed += 1;
                        say(&format!("error: {name}: {}", error_text(e.as_ref())));
                    }
                } else if parsed.warnings.is_empty() {
                    say(&format!("{name}: ok"));
                } else {
                    let n = plural(parsed.warnings.len(), "warning");
                    say(&format!("{name}: ok ({n})"));
                }
            }
            Err(e) => {
                failed += 1;
                say(&format!("error: {}", error_text(&e)));
            }
        }
    }
    if failed > 0 && args.files.len() > 1 {
        let what = if args.upgrade {
            "did not validate or upgrade"
        } else {
            "did not validate"
        };
        println!("{} of {} {what}", plural(failed, "file"), args.files.len());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Why `check --upgrade` did not rewrite a file that loads.
#[derive(Debug, thiserror::Error)]
enum UpgradeError {
    /// Not `<root>/slots/slot_NNN.json`: there is no `backups/` to keep the old version in.
    #[error(
        "not upgraded: --upgrade rewrites slot files of a patterns folder (…/slots/slot_NNN.json), whose backups/ keeps the previous version; store this file in a slot with `chronus slots save N --from FILE`"
    )]
    NotASlotFile,
    /// The save failed; nothing changed.
    #[error("not upgraded: {0}")]
    Save(#[from] crate::store::StoreError),
}

/// Rewrites `file` (which loaded as `slot`) the way a save writes it, through the store's
/// atomic save with its backup; prints what changed.
fn upgrade(file: &Path, slot: Slot) -> Result<(), Box<dyn std::error::Error>> {
    let name = file.display();
    let old_text = std::fs::read_to_string(file)?;
    let new_text = slot.to_json();
    let old_value: serde_json::Value =
        serde_json::from_str(old_text.strip_prefix('\u{feff}').unwrap_or(&old_text))?;
    // A file without a version is a 1.0 file (SLOT_FORMAT.md).
    let old_version = old_value
        .get("schema_version")
        .and_then(|v| v.as_str())
        .unwrap_or("1.0")
        .to_string();
    let new_version = slot.schema_version.clone();
    if old_text == new_text {
        say(&format!("{name}: already {new_version}, nothing to change"));
        return Ok(());
    }
    let (root, n) = slot_location(file).ok_or(UpgradeError::NotASlotFile)?;
    let info = Store::new(root)
        .save(n, &slot)
        .map_err(UpgradeError::Save)?;
    let mut changes = Vec::new();
    if old_version != new_version {
        changes.push("schema_version".to_string());
    }
    let new_value: serde_json::Value = serde_json::from_str(&new_text)?;
    changes.extend(json_changes(&old_value, &new_value, MAX_CHANGES_SHOWN));
    if changes.is_empty() {
        changes.push("written in the canonical layout".to_string());
    }
    let arrow = if old_version == new_version {
        format!("{new_version} (rewritten)")
    } else {
        format!("{old_version} → {new_version}")
    };
    say(&format!("{name}: {arrow} ({})", changes.join("; ")));
    if let Some(b) = &info.backup {
        say(&format!("{name}: previous version kept as {}", b.display()));
    }
    Ok(())
}

/// How many changed keys an upgrade line names before it says how many more there are.
const MAX_CHANGES_SHOWN: usize = 6;

/// The patterns folder and slot number of `<root>/slots/slot_NNN.json`.
fn slot_location(file: &Path) -> Option<(PathBuf, SlotNumber)> {
    let n = Store::slot_of_file(file.file_name()?.to_str()?)?;
    let slots = file.parent()?;
    if slots.file_name()? != "slots" {
        return None;
    }
    // `slots/slot_003.json` given from inside the patterns folder: the root is "" (the
    // working folder), so messages name `backups/…` as the user would.
    Some((slots.parent()?.to_path_buf(), n))
}

/// The keys an upgrade removed, added or rewrote (`schema_version` aside), as JSON paths:
/// `sequencer.running dropped (runtime state)`, `modules.voice3 added`; at most `shown`,
/// then how many more.
fn json_changes(old: &serde_json::Value, new: &serde_json::Value, shown: usize) -> Vec<String> {
    fn walk(path: &str, old: &serde_json::Value, new: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value;
        let join = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in a {
                    match b.get(k) {
                        Some(w) => walk(&join(k), v, w, out),
                        None => out.push(format!("{} dropped", join(k))),
                    }
                }
                for k in b.keys().filter(|k| !a.contains_key(*k)) {
                    out.push(format!("{} added", join(k)));
                }
            }
            (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
            _ if old == new => {}
            _ => out.push(format!("{path} rewritten")),
        }
    }
    let mut all = Vec::new();
    walk("", old, new, &mut all);
    all.retain(|c| !c.starts_with("schema_version ") && !c.starts_with("timestamp "));
    if all.len() > shown {
        let more = all.len() - shown;
        all.truncate(shown);
        all.push(format!("{more} more"));
    }
    all
}

/// Runs `chronus slots ...` against the patterns folder `patterns`.
pub fn run_slots(args: &SlotsArgs, patterns: &Path) -> anyhow::Result<ExitCode> {
    let store = Store::new(patterns);
    match &args.command {
        SlotsCommand::List => print!("{}", escape_keep_lines(&list_text(&store)?)),
        SlotsCommand::Show { slot } => {
            let parsed = match store.load(*slot) {
                Ok(p) => p,
                Err(e) => {
                    if let Ok(Some((backup, _))) = store.load_backup_fallback(*slot) {
                        let text = format!(
                            "chronus: error: {}\nits newest valid backup is {}; restore it with: chronus slots save {slot} --from {}",
                            error_text(&e),
                            backup.display(),
                            backup.display()
                        );
                        eprintln!("{}", escape_keep_lines(&text));
                        return Ok(ExitCode::from(1));
                    }
                    return Err(e.into());
                }
            };
            for w in &parsed.warnings {
                say(&format!("warning: {w}"));
            }
            let text = show_text(*slot, &store.slot_path(*slot), &parsed.slot);
            print!("{}", escape_keep_lines(&text));
        }
        SlotsCommand::Save { slot, from } => {
            let parsed = read_slot_file(from)?;
            for w in &parsed.warnings {
                say(&format!("{}: warning: {w}", from.display()));
            }
            let mut s = parsed.slot;
            s.timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0);
            let info = store
                .save(*slot, &s)
                .with_context(|| format!("saving {} as slot {slot}", from.display()))?;
            say(&format!(
                "saved slot {slot}: {} ({} bytes)",
                info.path.display(),
                info.bytes
            ));
            match &info.backup {
                Some(b) => say(&format!("previous version kept as {}", b.display())),
                None if info.unchanged => say(&format!(
                    "slot {slot} already held this song: no new backup"
                )),
                None => say(&format!("slot {slot} was empty: no backup needed")),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the JSON Schema (`--json-schema`) or the parameter table.
pub fn run_schema(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    if args.json_schema {
        println!("{}", serde_json::to_string_pretty(&json_schema())?);
    } else {
        print!("{}", parameter_table());
    }
    Ok(ExitCode::SUCCESS)
}

fn list_text(store: &Store) -> anyhow::Result<String> {
    let slots = store.list()?;
    let mut out = String::new();
    if slots.is_empty() {
        writeln!(out, "no slots in {}", store.slots_dir().display())?;
        return Ok(out);
    }
    // Names as shown (control characters escaped), so the columns line up.
    let names: Vec<String> = slots.iter().map(|s| escape(&s.name).into_owned()).collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 40);
    writeln!(out, "slot  {:<width$}    bpm  tracks  modified", "name")?;
    for (s, name) in slots.iter().zip(&names) {
        let modified = chrono::DateTime::<chrono::Local>::from(s.modified)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        match &s.error {
            None => {
                let name: String = name.chars().take(width).collect();
                writeln!(
                    out,
                    "{:>4}  {name:<width$}  {:>5.1}  {:>6}  {modified}",
                    s.number, s.bpm, s.tracks
                )?
            }
            Some(e) => writeln!(out, "{:>4}  does not load: {}", s.number, escape(e))?,
        }
    }
    Ok(out)
}

/// A value with its unit, as short as it reads well (`55 Hz`, `0.3`).
fn value_text(spec: &ParamSpec, v: f64) -> String {
    let mut s = format!("{}", (v * 10000.0).round() / 10000.0);
    if spec.ty == ParamType::Int && spec.name == "waveform" {
        const WAVES: [&str; 6] = ["sine", "saw", "square", "white", "pink", "brown"];
        if let Some(w) = WAVES.get(v as usize) {
            s = format!("{s} ({w})");
        }
    }
    if !spec.unit.is_empty() {
        s.push(' ');
        s.push_str(spec.unit);
    }
    s
}

/// True when `v` differs from `default` by more than the 32-bit float noise that files from
/// the original engine carry (`0.30000001192092896` reads as the default 0.3).
fn differs(v: f64, default: f64) -> bool {
    (v - default).abs() > 1e-6 * default.abs().max(1.0)
}

fn show_text(n: SlotNumber, path: &Path, slot: &Slot) -> String {
    let mut out = String::new();
    let name = if slot.metadata.name.is_empty() {
        "(no name)".into()
    } else {
        escape(&slot.metadata.name)
    };
    let _ = writeln!(out, "slot {n}: {name}");
    let _ = writeln!(out, "file:    {}", path.display());
    if let Some(g) = &slot.metadata.genre {
        let _ = writeln!(out, "genre:   {}", escape(g));
    }
    if !slot.metadata.tags.is_empty() {
        let _ = writeln!(out, "tags:    {}", escape(&slot.metadata.tags.join(", ")));
    }
    let seq = &slot.sequencer;
    let seed = seq
        .seed
        .map(|s| format!(", chance seed {s}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "tempo:   {}, swing {}{seed}",
        value_text(&sequencer::BPM, seq.bpm),
        value_text(&sequencer::SWING, seq.swing)
    );
    let _ = writeln!(out, "tracks:  {}", seq.tracks.len());
    show_tracks(&mut out, &seq.tracks);
    show_modules(&mut out, slot);
    out
}

/// One line per track (name, voice, pattern, pitch), and a second with the fields that
/// differ from their defaults.
fn show_tracks(out: &mut String, tracks: &[Track]) {
    let width = |f: fn(&Track) -> usize| tracks.iter().map(f).max().unwrap_or(0);
    let name_w = width(|t| escape(&t.name).chars().count());
    let pat_w = width(|t| escape(&t.pattern).chars().count());
    for t in tracks {
        let pitch = if t.notes.is_empty() {
            format!(
                "{} ({})",
                value_text(&VOICE_PARAMS[voice::FREQ], t.base_freq),
                note_name(t.base_freq)
            )
        } else {
            format!("notes {}", notes_to_names(&t.notes))
        };
        let mut fields = Vec::new();
        for (i, f) in TRACK_FIELDS.iter().enumerate() {
            let skip = f.kind != TrackFieldKind::Number || f.key == "base_freq";
            if !skip && differs(t.number(i), f.spec.default) {
                fields.push(format!("{} {}", f.key, value_text(&f.spec, t.number(i))));
            }
        }
        if t.muted {
            fields.push("muted".to_string());
        }
        if t.solo {
            fields.push("solo".to_string());
        }
        let _ = writeln!(
            out,
            "  {:<name_w$}  {:<7}  {:<pat_w$}  {pitch}",
            escape(&t.name),
            escape(&t.voice_id),
            escape(&t.pattern)
        );
        if !fields.is_empty() {
            let _ = writeln!(out, "  {:<name_w$}  {}", "", fields.join(", "));
        }
        // Per-step data (schema 1.1), a line per step: what a file holds beyond the pattern.
        for (step, data) in &t.steps.entries {
            let _ = writeln!(out, "  {:<name_w$}  step {step}: {}", "", data.summary());
        }
    }
}

/// The module parameters that differ from their defaults, a line per module.
fn show_modules(out: &mut String, slot: &Slot) {
    let defaults = ParamValues::default();
    let modules = (1..=slot.voice_modules as u8)
        .map(Module::Voice)
        .chain(EFFECT_MODULES);
    let mut lines = Vec::new();
    for m in modules {
        let changed: Vec<String> = m
            .param_ids()
            .filter(|&id| differs(slot.params.get(id), defaults.get(id)))
            .map(|id| {
                let spec = id.spec();
                format!(
                    "{} {}",
                    spec.file_key,
                    value_text(spec, slot.params.get(id))
                )
            })
            .collect();
        if !changed.is_empty() {
            lines.push(format!("  {:<7} {}", m.to_string(), changed.join(", ")));
        }
    }
    if lines.is_empty() {
        let _ = writeln!(out, "modules: all at their defaults");
    } else {
        let _ = writeln!(out, "modules (values that differ from the defaults):");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
}

fn parameter_table() -> String {
    let mut rows: Vec<[String; 7]> = Vec::new();
    let range = |s: &ParamSpec| format!("{}–{}", s.min, s.max);
    let mut add = |module: &str, s: &ParamSpec, osc: &str| {
        rows.push([
            module.to_string(),
            s.file_key.to_string(),
            osc.to_string(),
            range(s),
            format!("{}", s.default),
            s.unit.to_string(),
            s.desc.to_string(),
        ]);
    };
    for s in &VOICE_PARAMS {
        add("voiceN", s, &format!("/mod/voiceN/{}", s.osc));
    }
    for m in EFFECT_MODULES {
        for s in m.params() {
            add(&m.to_string(), s, &format!("/mod/{m}/{}", s.osc));
        }
    }
    add("sequencer", &sequencer::BPM, "");
    add("sequencer", &sequencer::SWING, "");
    for f in TRACK_FIELDS
        .iter()
        .filter(|f| f.kind == TrackFieldKind::Number)
    {
        add("track", &f.spec, "");
    }
    let header = [
        "module",
        "file key",
        "OSC path",
        "range",
        "default",
        "unit",
        "description",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// Runs `chronus devices`: one line per output device, `id  name`.
pub fn run_devices() -> anyhow::Result<std::process::ExitCode> {
    let rows = crate::app::list_devices()?;
    if rows.is_empty() {
        println!("no output devices (Chronus plays on its internal clock)");
    }
    for (id, name) in rows {
        println!("{id:<40} {name}");
    }
    for line in crate::sources::midi::describe_ports() {
        println!("{line}");
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::slot::Track;

    #[test]
    fn show_lists_tracks_and_only_changed_modules() {
        let mut slot = Slot::default();
        slot.metadata.name = "Test".to_string();
        let mut t = Track::new("bass", "voice2", "x.x.");
        t.notes = vec![65.41, 77.78];
        t.gate_frac = 0.3;
        slot.sequencer.tracks.push(t);
        slot.params
            .set(crate::model::ParamId::voice(2, voice::WAVEFORM), 1.0);
        let text = show_text(SlotNumber::new(4).unwrap(), Path::new("x.json"), &slot);
        assert!(text.starts_with("slot 4: Test\n"), "{text}");
        assert!(text.contains("bass  voice2   x.x.  notes C2 D#2"), "{text}");
        assert!(text.contains("gate_frac 0.3"), "{text}");
        assert!(text.contains("  voice2  waveform 1 (saw)\n"), "{text}");
        assert!(!text.contains("voice1 "), "{text}");
    }

    #[test]
    fn parameter_table_has_a_row_per_parameter() {
        let t = parameter_table();
        let expected = VOICE_PARAMS.len()
            + EFFECT_MODULES
                .iter()
                .map(|m| m.params().len())
                .sum::<usize>()
            + 2
            + TRACK_FIELDS
                .iter()
                .filter(|f| f.kind == TrackFieldKind::Number)
                .count();
        assert_eq!(t.lines().count(), expected + 1);
        assert!(t.contains("/mod/voiceN/adsr/attack"), "{t}");
    }
}
