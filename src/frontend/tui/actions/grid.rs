//! The pattern grid: steps, the whole pattern's clipboard, undo and redo.

use crate::control::{Command, Controller, Level, StepValue};
use crate::keymap::Action;

use super::super::app::App;
use super::super::state::Clipboard;

impl App {
    pub(super) fn grid_action(&mut self, ctl: &mut Controller, action: Action) {
        match action {
            Action::StepSet(v) => self.set_step(ctl, v),
            Action::StepCycle => self.step_cycle(ctl),
            Action::CopyPattern => {
                let tracks = ctl.song().sequencer.tracks.clone();
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

    fn set_step(&mut self, ctl: &mut Controller, value: StepValue) {
        let Some(track) = self.selected_name(ctl) else {
            self.ui
                .say(Level::Warning, "no track to edit — add one first");
            return;
        };
        let step = self.ui.step;
        let before = self.selected(ctl).map(|t| t.pattern.chars().count());
        if self.run(ctl, Command::SetStep { track, step, value })
            && let (Some(before), Some(t)) = (before, self.selected(ctl))
        {
            let after = t.pattern.chars().count();
            if after != before {
                let text = format!("{}: now {after} steps", t.name);
                self.ui.say(Level::Info, text);
            }
        }
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
