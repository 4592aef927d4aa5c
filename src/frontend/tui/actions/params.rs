//! The parameter panel: which module it shows, and stepping, typing or resetting a parameter.

use crate::control::{self, Command, Controller, Level};
use crate::keymap::{Action, Cycle};
use crate::model::ParamId;
use crate::model::registry::delay;
use crate::model::slot::Heard;

use super::super::app::{App, range_text, selected_param};
use super::super::state::{PANEL_MODULES, Prompt, PromptKind};
use super::nudged;
use super::prompt::parse_in_range;

impl App {
    pub(super) fn param_action(&mut self, ctl: &mut Controller, action: Action) {
        match action {
            Action::ModuleSelect(c) => {
                let ui = &mut self.ui;
                ui.module = match c {
                    Cycle::Next => (ui.module + 1) % PANEL_MODULES,
                    Cycle::Prev => (ui.module + PANEL_MODULES - 1) % PANEL_MODULES,
                };
                ui.param = 0;
            }
            Action::ParamAdjust(nudge) => {
                let Some((id, v)) = self.heard_param(ctl) else {
                    return;
                };
                // A synced delay time steps through the note values: freeing it would clamp
                // a long synced time to the free range and shorten it whichever way it went.
                let sync = ParamId::delay(delay::SYNC);
                if ctl.edited().delay_time_heard(id).is_some() {
                    let now = ctl.edited().params.get(sync);
                    let value = nudged(sync.spec(), now, nudge).max(1.0);
                    self.run(ctl, Command::SetParam { id: sync, value });
                    return;
                }
                let value = nudged(id.spec(), v, nudge);
                self.run(ctl, Command::SetParam { id, value });
            }
            Action::ParamSet => {
                let Some((id, v)) = self.heard_param(ctl) else {
                    return;
                };
                let spec = id.spec();
                let label = format!("{} ({})", id.label(), range_text(spec));
                let value = control::fmt_num(v);
                self.ui.prompt = Some(Prompt::new(PromptKind::Param(id), label, value));
            }
            Action::MidiLearn => {
                if let Some((id, _)) = self.heard_param(ctl) {
                    self.run(ctl, Command::MidiLearn(Some(id)));
                }
            }
            Action::ParamDefault => {
                let Some((id, _)) = self.heard_param(ctl) else {
                    return;
                };
                self.run(
                    ctl,
                    Command::SetParam {
                        id,
                        value: id.spec().default,
                    },
                );
            }
            _ => {}
        }
    }

    /// The parameter the selected row is heard through and the value that sounds (a row
    /// replaced by another control edits that one); `None`, with a message, for a row
    /// nothing plays.
    fn heard_param(&mut self, ctl: &Controller) -> Option<(ParamId, f64)> {
        let id = selected_param(&self.ui, ctl);
        match ctl.edited().heard(id, Some(self.ui.track)) {
            Heard::Edit { id, value } => Some((id, value)),
            Heard::NotHeard(why) => {
                self.ui.say(
                    Level::Warning,
                    format!("{} is not heard: {why}", id.label()),
                );
                None
            }
        }
    }

    /// The value typed after `param_set`.
    pub(super) fn submit_param(
        &mut self,
        ctl: &mut Controller,
        id: ParamId,
        text: &str,
    ) -> Result<(), String> {
        let value = parse_in_range(text, id.spec())?;
        self.apply_typed(ctl, Command::SetParam { id, value })
    }
}
