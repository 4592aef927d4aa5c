//! Chains and the one-shot: a prompt to open or type a chain, start, jump, hold, leave, save.

use crate::control::{Command, Controller};
use crate::keymap::Action;
use crate::store::SlotNumber;

use super::super::app::App;
use super::super::state::{Prompt, PromptKind};

impl App {
    pub(super) fn chain_action(&mut self, ctl: &mut Controller, action: Action) {
        match action {
            Action::ChainEdit => {
                let text = ctl.chain().map(|c| c.to_string()).unwrap_or_default();
                self.ui.prompt = Some(Prompt::new(
                    PromptKind::Chain,
                    "Chain: NAME [3 x4, 11 x1] loop|stop (a name alone opens it)",
                    text,
                ));
            }
            Action::ChainStart => {
                self.run(ctl, Command::ChainStart(None));
            }
            Action::ChainJump => {
                let label = match ctl.chain_view() {
                    Some(v) => format!("Jump to chain entry (1–{})", v.entries),
                    None => "Jump to chain entry".to_string(),
                };
                self.ui.prompt = Some(Prompt::new(PromptKind::ChainJump, label, ""));
            }
            Action::ChainHold => {
                self.run(ctl, Command::ChainHold(None));
            }
            Action::ChainLeave => {
                self.run(ctl, Command::ChainLeave);
            }
            Action::ChainSave => {
                self.run(ctl, Command::ChainSave);
            }
            Action::OneShot(Some(n)) => match SlotNumber::new(n) {
                Ok(slot) => {
                    self.run(ctl, Command::OneShot(slot));
                }
                Err(e) => self.ui.say(crate::control::Level::Error, e.to_string()),
            },
            Action::OneShot(None) => {
                self.ui.prompt = Some(Prompt::new(
                    PromptKind::OneShot,
                    "Play slot for one bar, then come back (1–128)",
                    "",
                ));
            }
            _ => {}
        }
    }

    /// `NAME [entries] loop|stop` sets the chain; `NAME` alone opens `chains/NAME.json`.
    pub(super) fn submit_chain(&mut self, ctl: &mut Controller, text: &str) -> Result<(), String> {
        let Some((name, rest)) = text.split_once('[') else {
            return self.apply_typed(ctl, Command::ChainOpen(text.trim().to_string()));
        };
        let (entries, end) = rest.split_once(']').unwrap_or((rest, ""));
        let looping = match end.trim().to_ascii_lowercase().as_str() {
            "" | "loop" => true,
            "stop" => false,
            other => return Err(format!("\"{other}\": loop or stop")),
        };
        self.apply_typed(
            ctl,
            Command::ChainSet {
                name: name.trim().to_string(),
                entries: entries.to_string(),
                looping,
            },
        )
    }
}
