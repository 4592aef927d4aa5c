//! What differs between two versions of a slot: for the message line ("kick steps 3–4,
//! tempo 120 → 128") and for the screen to highlight the tracks, steps and parameters a
//! reload changed.

use std::fmt::Write as _;

use super::fmt_num;
use super::registry::{PARAM_COUNT, TRACK_FIELDS, track as tf};
use super::{ParamId, Slot, Track};

/// What differs between two versions of a slot, for the message line and for the screen to
/// highlight changed tracks, steps and parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlotDiff {
    /// Tracks only the new version has, in its order.
    pub tracks_added: Vec<String>,
    /// Tracks only the old version had, in its order.
    pub tracks_removed: Vec<String>,
    /// Per track present in both: the 0-based steps whose content differs (a step that exists
    /// in only one version counts as changed).
    pub steps_changed: Vec<(String, Vec<usize>)>,
    /// Per track present in both: the other fields that differ (`TRACK_FIELDS` keys,
    /// `muted`, `solo`).
    pub fields_changed: Vec<(String, Vec<&'static str>)>,
    /// Module parameters that differ, in registry order.
    pub params_changed: Vec<ParamId>,
    /// Old and new tempo when the tempo changed.
    pub tempo_changed: Option<(f64, f64)>,
    /// Old and new swing when the swing changed.
    pub swing_changed: Option<(f64, f64)>,
    /// The new chance seed when `sequencer.seed` changed.
    pub seed_changed: Option<u32>,
    /// The new name when `metadata.name` changed.
    pub name_changed: Option<String>,
}

impl SlotDiff {
    /// True when nothing the performer can hear or see differs.
    pub fn is_empty(&self) -> bool {
        *self == SlotDiff::default()
    }

    /// True when `track`'s step `step` (0-based) changed, for highlighting.
    pub fn step_changed(&self, track: &str, step: usize) -> bool {
        self.steps_changed
            .iter()
            .any(|(t, steps)| t == track && steps.contains(&step))
    }

    /// True when anything about `track` changed (or it is new).
    pub fn track_changed(&self, track: &str) -> bool {
        self.tracks_added.iter().any(|t| t == track)
            || self.steps_changed.iter().any(|(t, _)| t == track)
            || self.fields_changed.iter().any(|(t, _)| t == track)
    }

    /// A one-line summary: `tempo 120 → 128; added hat; kick steps 5, 9–12; acid1/cutoff`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(name) = &self.name_changed {
            parts.push(format!("renamed to {name:?}"));
        }
        if let Some((a, b)) = self.tempo_changed {
            parts.push(format!("tempo {} → {}", fmt_num(a), fmt_num(b)));
        }
        if let Some((a, b)) = self.swing_changed {
            parts.push(format!("swing {} → {}", fmt_num(a), fmt_num(b)));
        }
        if let Some(seed) = self.seed_changed {
            parts.push(format!("seed {seed}"));
        }
        if !self.tracks_added.is_empty() {
            parts.push(format!("added {}", self.tracks_added.join(", ")));
        }
        if !self.tracks_removed.is_empty() {
            parts.push(format!("removed {}", self.tracks_removed.join(", ")));
        }
        for (track, steps) in &self.steps_changed {
            let word = if steps.len() == 1 { "step" } else { "steps" };
            parts.push(format!("{track} {word} {}", step_ranges(steps)));
        }
        for (track, fields) in &self.fields_changed {
            parts.push(format!("{track} {}", fields.join(", ")));
        }
        if !self.params_changed.is_empty() {
            const SHOWN: usize = 6;
            let mut s: Vec<String> = self
                .params_changed
                .iter()
                .take(SHOWN)
                .map(|id| id.label())
                .collect();
            if self.params_changed.len() > SHOWN {
                s.push(format!("{} more", self.params_changed.len() - SHOWN));
            }
            parts.push(s.join(", "));
        }
        if parts.is_empty() {
            "no audible change".to_string()
        } else {
            parts.join("; ")
        }
    }
}

/// 1-based step numbers with runs collapsed: `1–4, 9, 11`.
fn step_ranges(steps: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < steps.len() {
        let start = steps[i];
        let mut end = start;
        while i + 1 < steps.len() && steps[i + 1] == end + 1 {
            i += 1;
            end = steps[i];
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if end > start {
            let _ = write!(out, "{}–{}", start + 1, end + 1);
        } else {
            let _ = write!(out, "{}", start + 1);
        }
        i += 1;
    }
    out
}

/// What differs from `old` to `new`. Tracks are matched by name; steps are compared by what
/// they play (`X`, `x`, rest), so `-` and `.` are the same rest.
pub fn diff(old: &Slot, new: &Slot) -> SlotDiff {
    let mut d = SlotDiff::default();
    let (a, b) = (&old.sequencer, &new.sequencer);
    if a.bpm != b.bpm {
        d.tempo_changed = Some((a.bpm, b.bpm));
    }
    if a.swing != b.swing {
        d.swing_changed = Some((a.swing, b.swing));
    }
    if a.seed != b.seed {
        d.seed_changed = Some(b.seed.unwrap_or(0));
    }
    if old.metadata.name != new.metadata.name {
        d.name_changed = Some(new.metadata.name.clone());
    }
    let find = |tracks: &[Track], name: &str| tracks.iter().position(|t| t.name == name);
    for t in &b.tracks {
        match find(&a.tracks, &t.name) {
            None => d.tracks_added.push(t.name.clone()),
            Some(i) => {
                let before = &a.tracks[i];
                let mut steps = changed_steps(&before.pattern, &t.pattern);
                // Per-step data (schema 1.1) changes what a step plays as much as its hit does.
                let n = before
                    .pattern
                    .chars()
                    .count()
                    .max(t.pattern.chars().count());
                for i in 0..n {
                    if before.steps.at(i) != t.steps.at(i) && !steps.contains(&i) {
                        steps.push(i);
                    }
                }
                steps.sort_unstable();
                if !steps.is_empty() {
                    d.steps_changed.push((t.name.clone(), steps));
                }
                let fields = changed_fields(before, t);
                if !fields.is_empty() {
                    d.fields_changed.push((t.name.clone(), fields));
                }
            }
        }
    }
    for t in &a.tracks {
        if find(&b.tracks, &t.name).is_none() {
            d.tracks_removed.push(t.name.clone());
        }
    }
    d.params_changed = (0..PARAM_COUNT)
        .map(|i| ParamId(i as u16))
        .filter(|&id| old.params.get(id) != new.params.get(id))
        .collect();
    d
}

fn changed_steps(old: &str, new: &str) -> Vec<usize> {
    let plays = |c: Option<char>| match c {
        Some('X') => 2,
        Some('x') => 1,
        Some(_) => 0,
        None => -1,
    };
    let (a, b): (Vec<char>, Vec<char>) = (old.chars().collect(), new.chars().collect());
    (0..a.len().max(b.len()))
        .filter(|&i| plays(a.get(i).copied()) != plays(b.get(i).copied()))
        .collect()
}

fn changed_fields(a: &Track, b: &Track) -> Vec<&'static str> {
    let mut out = Vec::new();
    if a.voice_id != b.voice_id {
        out.push(TRACK_FIELDS[tf::VOICE_ID].key);
    }
    if a.notes != b.notes {
        out.push(TRACK_FIELDS[tf::NOTES].key);
    }
    for i in [
        tf::BASE_FREQ,
        tf::BASE_AMP,
        tf::FILTER_FREQ,
        tf::ACCENT_BOOST,
        tf::REVERB_SEND,
        tf::DELAY_SEND,
        tf::GATE_FRAC,
        tf::NOTE_INDEX,
        tf::ACCENT,
    ] {
        if a.number(i) != b.number(i) {
            out.push(TRACK_FIELDS[i].key);
        }
    }
    if a.muted != b.muted {
        out.push("muted");
    }
    if a.solo != b.solo {
        out.push("solo");
    }
    if a.midi != b.midi {
        out.push("midi");
    }
    out
}
