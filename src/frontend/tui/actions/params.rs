//! The parameter panel: which module it shows, and stepping, typing or resetting a parameter.

use crate::control::{self, Command, Controller};
use crate::keymap::{Action, Cycle};
use crate::model::ParamId;

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
                let id = self.selected_param(ctl);
                let value = nudged(id.spec(), ctl.song().params.get(id), nudge);
                self.run(ctl, Command::SetParam { id, value });
            }
            Action::ParamSet => {
                let id = selected_param(&self.ui, ctl);
                let spec = id.spec();
                let label = format!("{} ({})", id.label(), range_text(spec));
                let value = control::fmt_num(ctl.song().params.get(id));
                self.ui.prompt = Some(Prompt::new(PromptKind::Param(id), label, value));
            }
            Action::ParamDefault => {
                let id = self.selected_param(ctl);
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
