//! What the tracker does for each [`Action`]: one file per group of the action table
//! (`keymap/action.rs`), each an `impl App` block with the group's handler and helpers.
//!
//! An action either changes the view (cursor, focus, prompt, overlay) or becomes a
//! [`Command`] applied to the [`Controller`] through [`App::run`]. Nothing here draws.

mod chains;
mod grid;
mod params;
mod prompt;
mod slots;
mod tracks;
mod transport;
mod view;

use std::time::Instant;

use crate::control::{Command, Controller, Level};
use crate::keymap::{Action, ActionGroup, Mode, Nudge, chord_label};
use crate::model::{ParamSpec, Track};

use super::app::App;

impl App {
    /// Performs an action outside prompts, questions and overlays: one line per group.
    pub(super) fn main_action(&mut self, ctl: &mut Controller, action: Action, now: Instant) {
        match action.group() {
            ActionGroup::View => self.view_action(ctl, action),
            ActionGroup::Transport => self.transport_action(ctl, action, now),
            ActionGroup::Grid => self.grid_action(ctl, action),
            ActionGroup::Tracks => self.track_action(ctl, action),
            ActionGroup::Params => self.param_action(ctl, action),
            ActionGroup::Slots => self.slot_action(ctl, action),
            ActionGroup::Chains => self.chain_action(ctl, action),
            ActionGroup::Prompt => self.open_command_prompt(action),
        }
    }

    /// Applies a command; its confirmation or error goes to the message line. Returns whether
    /// it was applied.
    fn run(&mut self, ctl: &mut Controller, cmd: Command) -> bool {
        if let Err(why) = self.editable(ctl, &cmd) {
            self.ui.say(Level::Warning, why);
            return false;
        }
        match ctl.apply_edited(cmd) {
            Ok(Some(text)) => {
                self.ui.say(Level::Info, text);
                true
            }
            Ok(None) => true,
            Err(e) => {
                self.ui.say(Level::Error, e.to_string());
                false
            }
        }
    }

    /// Like [`App::run`], but errors such as "nothing to undo" are warnings.
    fn run_quiet(&mut self, ctl: &mut Controller, cmd: Command) {
        if let Err(why) = self.editable(ctl, &cmd) {
            return self.ui.say(Level::Warning, why);
        }
        match ctl.apply_edited(cmd) {
            Ok(Some(text)) => self.ui.say(Level::Info, text),
            Ok(None) => {}
            Err(e) => self.ui.say(Level::Warning, e.to_string()),
        }
    }

    /// Refuses edits while the grid previews the queued slot (it is read-only).
    fn editable(&self, ctl: &Controller, cmd: &Command) -> Result<(), String> {
        match ctl.queued() {
            Some(q) if self.ui.preview && cmd.is_edit() => Err(format!(
                "previewing queued slot {} (read-only) — {} to go back and edit what plays",
                q.slot,
                self.preview_key()
            )),
            _ => Ok(()),
        }
    }

    fn preview_key(&self) -> String {
        self.keys
            .keymap()
            .keys_for(Mode::Grid, &Action::PreviewQueued)
            .map(chord_label)
            .unwrap_or_else(|| ":preview_queued".into())
    }

    fn selected<'a>(&self, ctl: &'a Controller) -> Option<&'a Track> {
        ctl.edited().sequencer.tracks.get(self.ui.track)
    }

    fn selected_name(&self, ctl: &Controller) -> Option<String> {
        self.selected(ctl).map(|t| t.name.clone())
    }
}

/// `v` moved one step of `nudge` in the parameter's musical scale (semitones, percent, dB).
fn nudged(spec: &ParamSpec, v: f64, nudge: Nudge) -> f64 {
    spec.nudged(v, nudge.sign() > 0.0, nudge.is_coarse())
}
