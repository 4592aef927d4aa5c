//! Whole-track pattern edits (fill every N, Euclid, rotate, reverse, clear, double, halve)
//! and the non-destructive length of a track: steps cut off by a shorter length are kept as
//! the track's hidden steps and come back when it grows again (as on the Elektron boxes).
//!
//! The hidden steps are part of the song: they are undone, saved and reloaded with it. In a
//! slot file they are the track key `hidden_steps` (pattern characters), a key older readers
//! keep or ignore like any unknown key, so files stay compatible both ways.

use std::time::Instant;

use crate::model::slot::Track;
use crate::model::text::quote;

use super::{ControlError, Controller, MAX_PATTERN, Reply, StepValue};

/// The track key holding the steps past the track's length.
pub const HIDDEN_STEPS_KEY: &str = "hidden_steps";

/// A whole-track edit of the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternOp {
    /// A hit on every `every`th step starting at step `offset` (0-based), rests elsewhere;
    /// the length stays.
    Fill {
        /// Distance between hits (1–64).
        every: usize,
        /// First hit (0-based; taken modulo `every`).
        offset: usize,
    },
    /// `hits` hits spread as evenly as possible over `steps` steps, rotated right by
    /// `rotation`; the track becomes `steps` long.
    Euclid {
        /// Hits (0–`steps`).
        hits: usize,
        /// Steps (1–64).
        steps: usize,
        /// Steps to rotate right.
        rotation: usize,
    },
    /// Move every step by `by` places, wrapping (positive = later).
    Rotate(i32),
    /// Steps in reverse order.
    Reverse,
    /// Every step a rest; the length stays.
    Clear,
    /// The pattern played twice (twice as long, at most 64 steps).
    Double,
    /// The first half only; the second half is hidden (lengthening brings it back).
    Halve,
}

impl PatternOp {
    /// What the edit did, for the message line and the undo message.
    pub fn describe(&self) -> String {
        match *self {
            PatternOp::Fill { every, offset: 0 } => format!("a hit every {every} steps"),
            PatternOp::Fill { every, offset } => {
                format!("a hit every {every} steps from step {}", offset + 1)
            }
            PatternOp::Euclid {
                hits,
                steps,
                rotation: 0,
            } => format!("Euclid {hits}/{steps}"),
            PatternOp::Euclid {
                hits,
                steps,
                rotation,
            } => format!("Euclid {hits}/{steps} rotated {rotation}"),
            PatternOp::Rotate(by) if by < 0 => format!("rotated left {}", -by),
            PatternOp::Rotate(by) => format!("rotated right {by}"),
            PatternOp::Reverse => "reversed".into(),
            PatternOp::Clear => "cleared".into(),
            PatternOp::Double => "doubled".into(),
            PatternOp::Halve => "halved".into(),
        }
    }

    /// Reads what the fill prompt takes: `N` (every Nth step), `N+O` (from step O+1),
    /// `K/N` (Euclid) or `K/N+R` (Euclid rotated by R).
    pub fn parse_fill(text: &str) -> Result<PatternOp, String> {
        let bad = || {
            format!(
                "{} is not a fill: type N (a hit every N steps), N+O (from step O+1), \
                 K/N (Euclid: K hits over N steps) or K/N+R (rotated by R)",
                quote(text)
            )
        };
        let (head, shift) = match text.split_once('+') {
            Some((h, s)) => (h.trim(), s.trim().parse::<usize>().map_err(|_| bad())?),
            None => (text.trim(), 0),
        };
        let op = match head.split_once('/') {
            Some((k, n)) => PatternOp::Euclid {
                hits: k.trim().parse().map_err(|_| bad())?,
                steps: n.trim().parse().map_err(|_| bad())?,
                rotation: shift,
            },
            None => PatternOp::Fill {
                every: head.parse().map_err(|_| bad())?,
                offset: shift,
            },
        };
        Ok(op)
    }
}

/// Reads a row of steps typed in one go (`x.x.X...`; spaces ignored, `-` is a rest too) into
/// pattern text; any other character is refused, naming it.
pub fn parse_row(text: &str) -> Result<String, String> {
    let row: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(bad) = row.chars().find(|c| !matches!(c, 'X' | 'x' | '.' | '-')) {
        return Err(format!(
            "{} is not a step: type X (accent), x (hit) or . (rest)",
            quote(&bad.to_string())
        ));
    }
    Ok(row.replace('-', "."))
}

/// The track key holding its mute group (1–4), saved with the song.
pub const MUTE_GROUP_KEY: &str = "mute_group";

/// The mute group a track belongs to, if any.
pub fn mute_group(t: &Track) -> Option<u8> {
    t.extra
        .get(MUTE_GROUP_KEY)
        .and_then(|v| v.as_u64())
        .and_then(|g| u8::try_from(g).ok())
        .filter(|g| (1..=crate::model::limits::MAX_MUTE_GROUP as u8).contains(g))
}

/// Puts `t` in mute group `group` (0: none).
pub fn set_mute_group(t: &mut Track, group: u8) {
    if group == 0 {
        t.extra.remove(MUTE_GROUP_KEY);
    } else {
        t.extra.insert(MUTE_GROUP_KEY.into(), group.into());
    }
}

/// The steps a track hides past its length.
pub fn hidden_steps(t: &Track) -> &str {
    t.extra
        .get(HIDDEN_STEPS_KEY)
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

fn set_hidden(t: &mut Track, hidden: String) {
    if hidden.is_empty() {
        t.extra.remove(HIDDEN_STEPS_KEY);
    } else {
        t.extra.insert(HIDDEN_STEPS_KEY.into(), hidden.into());
    }
}

/// Makes `t` `len` steps long: a cut goes to the hidden steps (in front of those hidden
/// already), a longer length takes hidden steps back first, then adds rests.
pub fn resize(t: &mut Track, len: usize) {
    let mut all: Vec<char> = t.pattern.chars().collect();
    all.extend(hidden_steps(t).chars());
    // Rests past the last hit are not worth keeping hidden: a length is all they were.
    let keep = all
        .iter()
        .rposition(|&c| StepValue::from_char(c) != StepValue::Rest)
        .map_or(0, |i| i + 1)
        .max(len.min(all.len()));
    all.truncate(keep.min(MAX_PATTERN));
    if all.len() < len {
        all.resize(len, StepValue::Rest.as_char());
    }
    let hidden: String = all[len..].iter().collect();
    t.pattern = all[..len].iter().collect();
    set_hidden(t, hidden);
}

/// `hits` over `steps`, as even as possible, first hit on step 1 (before rotation).
pub fn euclid(hits: usize, steps: usize, rotation: usize) -> String {
    let hit = StepValue::Hit.as_char();
    let rest = StepValue::Rest.as_char();
    let cells: Vec<char> = (0..steps)
        .map(|i| if (i * hits) % steps < hits { hit } else { rest })
        .collect();
    rotate(&cells, rotation as i64)
}

fn rotate(cells: &[char], by: i64) -> String {
    let n = cells.len() as i64;
    if n == 0 {
        return String::new();
    }
    let by = by.rem_euclid(n) as usize;
    let split = cells.len() - by;
    cells[split..].iter().chain(&cells[..split]).collect()
}

/// Applies `op` to `t` (a bounded result or an error naming the limit).
pub fn apply_op(t: &mut Track, op: PatternOp) -> Result<(), ControlError> {
    let cells: Vec<char> = t.pattern.chars().collect();
    let len = cells.len();
    let rest = StepValue::Rest.as_char();
    match op {
        PatternOp::Fill { every, offset } => {
            if !(1..=MAX_PATTERN).contains(&every) {
                return Err(ControlError::FillOutOfRange { every });
            }
            let start = offset % every;
            t.pattern = (0..len)
                .map(|i| {
                    if i >= start && (i - start) % every == 0 {
                        StepValue::Hit.as_char()
                    } else {
                        rest
                    }
                })
                .collect();
        }
        PatternOp::Euclid {
            hits,
            steps,
            rotation,
        } => {
            if !(1..=MAX_PATTERN).contains(&steps) || hits > steps {
                return Err(ControlError::EuclidOutOfRange {
                    hits,
                    steps,
                    max: MAX_PATTERN,
                });
            }
            t.pattern = euclid(hits, steps, rotation % steps);
            set_hidden(t, String::new());
        }
        PatternOp::Rotate(by) => t.pattern = rotate(&cells, by as i64),
        PatternOp::Reverse => t.pattern = cells.iter().rev().collect(),
        PatternOp::Clear => t.pattern = std::iter::repeat_n(rest, len).collect(),
        PatternOp::Double => {
            if len * 2 > MAX_PATTERN {
                return Err(ControlError::LengthOutOfRange {
                    len: len * 2,
                    max: MAX_PATTERN,
                });
            }
            t.pattern = cells.iter().chain(&cells).collect();
            set_hidden(t, String::new());
        }
        PatternOp::Halve => resize(t, len.div_ceil(2).max(1).min(len)),
    }
    Ok(())
}

/// Plays `hz` on step `step` of `t` (keyboard-piano entry): the step becomes a hit (an
/// accent stays one) and the track's notes are laid out one per hit, in step order, so each
/// hit plays the note entered on it, loop after loop.
pub fn set_step_note(t: &mut Track, step: usize, hz: f64) -> Result<(), ControlError> {
    if step >= MAX_PATTERN {
        return Err(ControlError::StepOutOfRange {
            step,
            max: MAX_PATTERN,
        });
    }
    if t.pattern.chars().count() <= step {
        resize(t, step + 1);
    }
    let mut cells: Vec<char> = t.pattern.chars().collect();
    let is_hit = |c: char| StepValue::from_char(c) != StepValue::Rest;
    // What each hit plays now (the notes cycle from note_index; none: base_freq).
    let hits_before = cells[..step].iter().filter(|&&c| is_hit(c)).count();
    let old_hits = cells.iter().filter(|&&c| is_hit(c)).count();
    let mut per_hit: Vec<f64> = (0..old_hits)
        .map(|k| match t.notes.len() {
            0 => t.base_freq,
            n => t.notes[(t.note_index as usize + k) % n],
        })
        .collect();
    if is_hit(cells[step]) {
        per_hit[hits_before] = hz;
    } else {
        cells[step] = StepValue::Hit.as_char();
        per_hit.insert(hits_before, hz);
    }
    t.pattern = cells.into_iter().collect();
    t.notes = per_hit;
    t.note_index = 0;
    Ok(())
}

/// The note each step plays in the first loop (`None` on rests and on tracks without
/// notes): what the grid shows in the step's cell.
pub fn step_notes(t: &Track) -> Vec<Option<f64>> {
    let mut k = t.note_index as usize;
    t.pattern
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if StepValue::from_char(c) == StepValue::Rest {
                return None;
            }
            // A step's own note (schema 1.1) plays instead of the cycle's, which moves on.
            let own = t.steps.at(i).and_then(|d| d.note);
            let cycled = (!t.notes.is_empty()).then(|| t.notes[k % t.notes.len()]);
            if cycled.is_some() {
                k += 1;
            }
            own.or(cycled)
        })
        .collect()
}

impl Controller {
    /// Keyboard-piano entry on one step.
    pub(super) fn set_step_note(
        &mut self,
        track: &str,
        step: usize,
        hz: f64,
        now: Instant,
    ) -> Reply {
        self.edit(now, None, |s| {
            let spec =
                crate::model::registry::TRACK_FIELDS[crate::model::registry::track::BASE_FREQ].spec;
            let hz = spec.clamp(hz);
            let t = super::edit::track_mut(s, track)?;
            set_step_note(t, step, hz)?;
            Ok(Some(format!(
                "{track} step {}: {}",
                step + 1,
                crate::model::notes::note_name(hz)
            )))
        })
    }

    /// Changes one key of a step's entry; repeated chance and ratchet moves of the same step
    /// within a second are one undo step. An entry left empty is removed from the map.
    pub(super) fn set_step_data(
        &mut self,
        track: &str,
        step: usize,
        edit: crate::model::steps::StepEdit,
        now: Instant,
    ) -> Reply {
        use crate::model::steps::StepEdit;
        let key = match edit {
            StepEdit::ChanceBy(_) => Some(format!("chance:{track}:{step}")),
            StepEdit::RatchetBy(_) => Some(format!("ratchet:{track}:{step}")),
            _ => None,
        };
        self.edit(now, key.as_deref(), |s| {
            let t = super::edit::track_mut(s, track)?;
            let len = t.pattern.chars().count();
            if step >= len {
                return Err(ControlError::StepPastTrack {
                    track: track.to_string(),
                    step,
                    len,
                });
            }
            let n = (step + 1) as u16;
            let mut d = t.steps.entries.get(&n).cloned().unwrap_or_default();
            edit.apply(&mut d);
            let summary = d.summary();
            if d == crate::model::steps::StepData::default() {
                t.steps.entries.remove(&n);
            } else {
                t.steps.entries.insert(n, d);
            }
            Ok(Some(format!("{track} step {}: {summary}", step + 1)))
        })
    }

    /// Runs a whole-track edit; repeated rotations within a second are one undo step.
    pub(super) fn edit_pattern(&mut self, track: &str, op: PatternOp, now: Instant) -> Reply {
        let key = match op {
            PatternOp::Rotate(_) => Some(format!("rotate:{track}")),
            _ => None,
        };
        self.edit(now, key.as_deref(), |s| {
            let t = super::edit::track_mut(s, track)?;
            apply_op(t, op)?;
            Ok(Some(format!("{track}: {} ({})", op.describe(), t.pattern)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(p: &str) -> Track {
        Track::new("t", "voice1", p)
    }

    fn after(p: &str, op: PatternOp) -> String {
        let mut t = track(p);
        apply_op(&mut t, op).unwrap();
        t.pattern
    }

    #[test]
    fn euclid_spreads_hits_evenly_and_rotates() {
        assert_eq!(euclid(3, 8, 0), "x..x..x.");
        assert_eq!(euclid(5, 8, 0), "x.x.xx.x");
        assert_eq!(euclid(4, 16, 0), "x...x...x...x...");
        assert_eq!(euclid(3, 8, 1), ".x..x..x");
        assert_eq!(euclid(0, 4, 0), "....");
        assert_eq!(euclid(4, 4, 0), "xxxx");
    }

    #[test]
    fn fill_rotate_reverse_clear_double_halve() {
        let every2 = PatternOp::Fill {
            every: 2,
            offset: 0,
        };
        assert_eq!(after("X.......", every2), "x.x.x.x.");
        let offbeat = PatternOp::Fill {
            every: 4,
            offset: 2,
        };
        assert_eq!(after("........", offbeat), "..x...x.");
        assert_eq!(after("X..x", PatternOp::Rotate(1)), "xX..");
        assert_eq!(after("X..x", PatternOp::Rotate(-1)), "..xX");
        assert_eq!(after("X..x", PatternOp::Rotate(9)), "xX..");
        assert_eq!(after("Xx..", PatternOp::Reverse), "..xX");
        assert_eq!(after("Xx.x", PatternOp::Clear), "....");
        assert_eq!(after("X.x", PatternOp::Double), "X.xX.x");
        assert_eq!(after("X.x.x..X", PatternOp::Halve), "X.x.");
        assert_eq!(after("", PatternOp::Rotate(3)), "");
    }

    #[test]
    fn out_of_range_edits_are_refused() {
        let mut t = track(&"x".repeat(40));
        assert!(apply_op(&mut t, PatternOp::Double).is_err());
        let too_many = PatternOp::Euclid {
            hits: 9,
            steps: 8,
            rotation: 0,
        };
        assert!(apply_op(&mut t, too_many).is_err());
        let none = PatternOp::Fill {
            every: 0,
            offset: 0,
        };
        assert!(apply_op(&mut t, none).is_err());
    }

    #[test]
    fn shortening_hides_steps_and_lengthening_brings_them_back() {
        let mut t = track("X...x...X..x..x.");
        resize(&mut t, 4);
        assert_eq!(t.pattern, "X...");
        assert_eq!(hidden_steps(&t), "x...X..x..x");
        resize(&mut t, 2);
        assert_eq!(hidden_steps(&t), "..x...X..x..x");
        resize(&mut t, 8);
        assert_eq!(t.pattern, "X...x...");
        resize(&mut t, 20);
        assert_eq!(t.pattern, "X...x...X..x..x.....");
        assert_eq!(hidden_steps(&t), "");
        assert!(!t.extra.contains_key(HIDDEN_STEPS_KEY));
        // A cut of rests only hides nothing.
        let mut t = track("x.......");
        resize(&mut t, 2);
        assert_eq!(hidden_steps(&t), "");
    }

    #[test]
    fn piano_entry_lays_the_notes_out_one_per_hit() {
        let mut t = track("x...x...");
        t.base_freq = 55.0;
        set_step_note(&mut t, 4, 220.0).unwrap();
        assert_eq!(t.notes, vec![55.0, 220.0]);
        set_step_note(&mut t, 2, 110.0).unwrap();
        assert_eq!(t.pattern, "x.x.x...");
        assert_eq!(t.notes, vec![55.0, 110.0, 220.0]);
        set_step_note(&mut t, 9, 440.0).unwrap();
        assert_eq!(t.pattern, "x.x.x....x");
        assert_eq!(t.notes, vec![55.0, 110.0, 220.0, 440.0]);
        assert_eq!(
            step_notes(&t),
            vec![
                Some(55.0),
                None,
                Some(110.0),
                None,
                Some(220.0),
                None,
                None,
                None,
                None,
                Some(440.0)
            ]
        );
        // Notes that cycled unevenly are laid out as they played from note_index.
        let mut t = track("xxx.");
        t.notes = vec![1.0, 2.0];
        t.note_index = 1;
        set_step_note(&mut t, 3, 9.0).unwrap();
        assert_eq!(t.notes, vec![2.0, 1.0, 2.0, 9.0]);
        assert_eq!(t.note_index, 0);
    }

    #[test]
    fn the_fill_prompt_reads_every_n_offsets_and_euclid() {
        assert_eq!(
            PatternOp::parse_fill("2"),
            Ok(PatternOp::Fill {
                every: 2,
                offset: 0
            })
        );
        assert_eq!(
            PatternOp::parse_fill("4+2"),
            Ok(PatternOp::Fill {
                every: 4,
                offset: 2
            })
        );
        assert_eq!(
            PatternOp::parse_fill("3/8+1"),
            Ok(PatternOp::Euclid {
                hits: 3,
                steps: 8,
                rotation: 1
            })
        );
        assert!(PatternOp::parse_fill("x").is_err());
        assert!(PatternOp::parse_fill("3/").is_err());
    }
}
