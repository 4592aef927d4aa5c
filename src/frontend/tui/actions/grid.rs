//! The pattern grid: steps, the whole pattern's clipboard, undo and redo.

use crate::control::{Command, Controller, Level, PatternOp, StepEdit, StepValue};
use crate::keymap::{Action, Horizontal, Key, KeyCode};
use crate::model::limits::MAX_EDIT_STEP;
use crate::model::notes::{midi_to_hz, note_name};

/// The keyboard piano's octave when it is turned on (its z key plays C3).
const PIANO_OCTAVE: u8 = 3;
/// The highest octave of its lower row.
const PIANO_TOP_OCTAVE: u8 = 7;

/// Semitones above the lower row's C for a key of the piano layout (Renoise, FastTracker):
/// the z-row white keys with the s-row black keys are one octave, the q-row with the 2-row
/// the next.
fn piano_semitone(c: char) -> Option<i32> {
    const LOWER: &str = "zsxdcvgbhnjm,l.;/";
    const UPPER: &str = "q2w3er5t6y7ui9o0p";
    LOWER
        .find(c)
        .or_else(|| UPPER.find(c).map(|i| i + 12))
        .map(|i| i as i32)
}

use super::super::app::App;
use super::super::state::{Clipboard, Prompt, PromptKind};

impl App {
    pub(super) fn grid_action(&mut self, ctl: &mut Controller, action: Action) {
        match action {
            Action::StepSet(v) => self.enter_step(ctl, v),
            Action::StepCycle => self.step_cycle(ctl),
            Action::Piano => {
                self.ui.piano = match self.ui.piano {
                    Some(_) => None,
                    None => Some(PIANO_OCTAVE),
                };
                // It always starts on the step under the cursor, as its help says.
                self.ui.piano_all = false;
                let text = match self.ui.piano {
                    Some(o) => format!(
                        "keyboard piano on (octave {o}): z s x d c v … and q 2 w 3 e … play notes, - = octave, Esc leaves"
                    ),
                    None => "keyboard piano off".into(),
                };
                self.ui.say(Level::Info, text);
            }
            Action::StepEdit => self.open_step_editor(ctl),
            Action::StepChance(by) => self.step_data(ctl, StepEdit::ChanceBy(by)),
            Action::StepRatchet(by) => self.step_data(ctl, StepEdit::RatchetBy(by.round() as i32)),
            Action::EditStep => {
                let label = format!("Edit step: steps the cursor moves on (0–{MAX_EDIT_STEP})");
                let now = ctl.edit_step().to_string();
                self.ui.prompt = Some(Prompt::new(PromptKind::EditStep, label, now));
            }
            Action::PatternType => {
                if let Some(t) = self.selected(ctl) {
                    let label = format!("Steps of {} (X accent, x hit, . rest)", t.name);
                    let kind = PromptKind::PatternRow {
                        track: t.name.clone(),
                    };
                    self.ui.prompt = Some(Prompt::new(kind, label, t.pattern.clone()));
                }
            }
            Action::PatternFill => {
                if let Some(t) = self.selected(ctl) {
                    let label = format!(
                        "Fill {}: N = a hit every N steps, N+O from step O+1, K/N Euclid, K/N+R rotated",
                        t.name
                    );
                    let kind = PromptKind::Fill {
                        track: t.name.clone(),
                    };
                    self.ui.prompt = Some(Prompt::new(kind, label, "4"));
                }
            }
            Action::PatternRotate(to) => self.pattern_op(
                ctl,
                PatternOp::Rotate(match to {
                    Horizontal::Left => -1,
                    Horizontal::Right => 1,
                }),
            ),
            Action::PatternReverse => self.pattern_op(ctl, PatternOp::Reverse),
            Action::PatternClear => self.pattern_op(ctl, PatternOp::Clear),
            Action::PatternDouble => self.pattern_op(ctl, PatternOp::Double),
            Action::PatternHalve => self.pattern_op(ctl, PatternOp::Halve),
            Action::CopyPattern => {
                let tracks = ctl.edited().sequencer.tracks.clone();
                let text = format!("copied the pattern ({} tracks)", tracks.len());
                self.ui.clipboard = Some(Clipboard::Pattern(tracks));
                self.ui.say(Level::Info, text);
            }
            Action::PastePattern => self.paste_pattern(ctl),
            Action::Undo => self.run_quiet(ctl, Command::Undo),
            Action::Redo => self.run_quiet(ctl, Command::Redo),
            _ => {}
        }
    }

    /// Opens the step editor on the step under the cursor; its label shows the step's data.
    pub(in super::super) fn open_step_editor(&mut self, ctl: &Controller) {
        let Some(t) = self.selected(ctl) else {
            return self
                .ui
                .say(Level::Warning, "no track to edit — add one first");
        };
        let step = self.ui.step;
        let summary = t
            .steps
            .at(step)
            .map_or("no step data".into(), |d| d.summary());
        let label = format!(
            "Step {} of {}: {summary} — KEY VALUE (note velocity micro ratchet chance cond, or a parameter to lock; - removes, clear)",
            step + 1,
            t.name
        );
        let kind = PromptKind::StepData {
            track: t.name.clone(),
            step,
        };
        self.ui.prompt = Some(Prompt::new(kind, label, ""));
    }

    /// Changes the step under the cursor's entry; the message line says what it holds now.
    fn step_data(&mut self, ctl: &mut Controller, edit: StepEdit) {
        let Some(track) = self.selected_name(ctl) else {
            return self
                .ui
                .say(Level::Warning, "no track to edit — add one first");
        };
        let step = self.ui.step;
        self.run(ctl, Command::SetStepData { track, step, edit });
    }

    /// Sets the step under the cursor; true when it was set.
    fn set_step(&mut self, ctl: &mut Controller, value: StepValue) -> bool {
        let Some(track) = self.selected_name(ctl) else {
            self.ui
                .say(Level::Warning, "no track to edit — add one first");
            return false;
        };
        let step = self.ui.step;
        let before = self.selected(ctl).map(|t| t.pattern.chars().count());
        let set = self.run(ctl, Command::SetStep { track, step, value });
        if set && let (Some(before), Some(t)) = (before, self.selected(ctl)) {
            let after = t.pattern.chars().count();
            if after != before {
                let text = format!("{}: now {after} steps", t.name);
                self.ui.say(Level::Info, text);
            }
        }
        set
    }

    /// A key pressed while the keyboard piano is on: a note on the step under the cursor,
    /// an octave change, or Esc to leave. False when the key is not the piano's.
    pub(in super::super) fn piano_key(&mut self, ctl: &mut Controller, key: Key) -> bool {
        let Some(octave) = self.ui.piano else {
            return false;
        };
        if key.ctrl || key.alt {
            return false;
        }
        let c = match key.code {
            KeyCode::Esc => {
                self.ui.piano = None;
                self.ui.say(Level::Info, "keyboard piano off");
                return true;
            }
            KeyCode::Char(c) => c,
            _ => return false,
        };
        match c {
            'a' => {
                self.ui.piano_all = !self.ui.piano_all;
                let text = if self.ui.piano_all {
                    "keyboard piano: each note goes on every hit of the track (a: the step under the cursor)"
                } else {
                    "keyboard piano: each note goes on the step under the cursor (a: every hit)"
                };
                self.ui.say(Level::Info, text);
                true
            }
            '-' | '=' | '+' => {
                let o = if c == '-' {
                    octave.saturating_sub(1)
                } else {
                    (octave + 1).min(PIANO_TOP_OCTAVE)
                };
                self.ui.piano = Some(o);
                self.ui
                    .say(Level::Info, format!("keyboard piano: octave {o}"));
                true
            }
            _ => match piano_semitone(c) {
                Some(semitone) => {
                    let midi = 12 * (octave as i32 + 1) + semitone;
                    self.enter_note(ctl, midi_to_hz(midi as f64));
                    true
                }
                None => false,
            },
        }
    }

    fn enter_note(&mut self, ctl: &mut Controller, hz: f64) {
        let Some(track) = self.selected_name(ctl) else {
            return self
                .ui
                .say(Level::Warning, "no track to play notes on — add one first");
        };
        if self.ui.piano_all {
            // One note cycled over every hit: the whole track plays it, the cursor stays.
            let cmd = Command::SetNotes {
                track: track.clone(),
                notes: vec![hz],
            };
            if self.run(ctl, cmd) {
                let text = format!("{track}: every hit plays {}", note_name(hz));
                self.ui.say(Level::Info, text);
            }
            return;
        }
        let step = self.ui.step;
        if self.run(ctl, Command::SetStepNote { track, step, hz }) {
            self.advance(ctl);
        }
    }

    /// Step entry: sets the step, then moves on by the edit step.
    fn enter_step(&mut self, ctl: &mut Controller, value: StepValue) {
        if self.set_step(ctl, value) {
            self.advance(ctl);
        }
    }

    /// Moves the cursor on by the edit step after a step was entered, wrapping round the
    /// track (Renoise's edit step).
    fn advance(&mut self, ctl: &Controller) {
        let len = self.selected(ctl).map_or(0, |t| t.pattern.chars().count());
        if len > 0 {
            self.ui.step = (self.ui.step + ctl.edit_step()) % len;
        }
    }

    fn pattern_op(&mut self, ctl: &mut Controller, op: PatternOp) {
        match self.selected_name(ctl) {
            Some(track) => {
                self.run(ctl, Command::EditPattern { track, op });
            }
            None => self
                .ui
                .say(Level::Warning, "no track to edit — add one first"),
        }
    }

    /// The edit step typed after `edit_step`.
    pub(super) fn submit_edit_step(
        &mut self,
        ctl: &mut Controller,
        text: &str,
    ) -> Result<(), String> {
        let n: usize = text
            .parse()
            .ok()
            .filter(|n| *n <= MAX_EDIT_STEP)
            .ok_or_else(|| format!("\"{text}\" is not an edit step: type 0–{MAX_EDIT_STEP}"))?;
        self.apply_typed(ctl, Command::SetEditStep(n))
    }

    /// The row typed after `pattern_type`: the track's steps, its length the row's.
    pub(super) fn submit_pattern_row(
        &mut self,
        ctl: &mut Controller,
        track: String,
        text: &str,
    ) -> Result<(), String> {
        let pattern = crate::control::parse_row(text)?;
        let len = pattern.chars().count();
        self.apply_typed(
            ctl,
            Command::SetPattern {
                track: track.clone(),
                pattern,
            },
        )?;
        self.ui
            .say(Level::Info, format!("{track}: {len} steps typed"));
        Ok(())
    }

    /// The fill typed after `pattern_fill`.
    pub(super) fn submit_fill(
        &mut self,
        ctl: &mut Controller,
        track: String,
        text: &str,
    ) -> Result<(), String> {
        let op = PatternOp::parse_fill(text)?;
        self.apply_typed(ctl, Command::EditPattern { track, op })
    }

    fn step_cycle(&mut self, ctl: &mut Controller) {
        if let Some(t) = self.selected(ctl) {
            let current = t
                .pattern
                .chars()
                .nth(self.ui.step)
                .map(StepValue::from_char)
                .unwrap_or(StepValue::Rest);
            self.set_step(ctl, current.cycle());
        }
    }

    fn paste_pattern(&mut self, ctl: &mut Controller) {
        match self.ui.clipboard.clone() {
            Some(Clipboard::Pattern(tracks)) => {
                let n = tracks.len();
                if self.run(ctl, Command::ReplaceTracks(tracks)) {
                    self.ui
                        .say(Level::Info, format!("pasted the pattern ({n} tracks)"));
                }
            }
            Some(Clipboard::Track(_)) => self.ui.say(
                Level::Warning,
                "the clipboard holds a track, not a pattern (paste it with paste_track)",
            ),
            None => self.ui.say(Level::Warning, "nothing copied yet"),
        }
    }
}
