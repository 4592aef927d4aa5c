//! Slots: save, load (at the next bar or now, from a backup, from the browser), revert, the
//! queued slot's preview, and the answer to a file changed on disk under unsaved edits.

use crate::control::{Command, ControlError, Controller, Level};
use crate::keymap::Action;
use crate::store::SlotNumber;

use super::super::app::App;
use super::super::state::{Prompt, PromptKind};

impl App {
    pub(super) fn slot_action(&mut self, ctl: &mut Controller, action: Action) {
        match action {
            Action::TakeFile => self.settle_conflict(ctl, true),
            Action::KeepEdits => self.settle_conflict(ctl, false),
            Action::PreviewQueued => self.preview_queued(ctl),
            Action::Prepare(Some(n)) => match SlotNumber::new(n) {
                Ok(slot) => self.prepare(ctl, slot),
                Err(e) => self.ui.say(Level::Error, e.to_string()),
            },
            Action::Prepare(None) if ctl.prepared().is_some() => {
                self.run(ctl, Command::Prepare(None));
                self.clamp(ctl);
            }
            Action::Prepare(None) => {
                self.ui.prompt = Some(Prompt::new(
                    PromptKind::Prepare,
                    "Prepare slot (1–128): edit it while this one plays",
                    "",
                ));
            }
            Action::SlotPrepare => match SlotNumber::new(self.ui.slot_cursor) {
                Ok(slot) => self.prepare(ctl, slot),
                Err(e) => self.ui.say(Level::Error, e.to_string()),
            },
            Action::PrepareQueue if self.run(ctl, Command::QueuePrepared { immediate: false }) => {
                self.clamp(ctl);
                self.refresh_slots(ctl);
            }
            Action::Revert => self.revert(ctl),
            Action::Save => self.open_save_prompt(ctl),
            Action::SlotRename => {
                let name = ctl.edited().metadata.name.clone();
                self.ui.prompt = Some(Prompt::new(PromptKind::SlotName, "Name of the song", name));
            }
            Action::SaveCurrent => match ctl.edited_slot() {
                Some(slot) => self.save(ctl, slot, false),
                None => self.open_save_prompt(ctl),
            },
            Action::NewSlot => self.new_slot(ctl),
            Action::Load(n) => self.load_or_ask(ctl, n, false),
            Action::LoadBackup(n) => self.load_backup(ctl, n),
            Action::LoadNow(n) => self.load_or_ask(ctl, n, true),
            Action::SlotLoad | Action::SlotLoadNow => {
                let immediate = action == Action::SlotLoadNow;
                let n = self.ui.slot_cursor;
                self.load(ctl, n, immediate);
            }
            Action::SlotSave => {
                if let Ok(slot) = SlotNumber::new(self.ui.slot_cursor) {
                    self.save(ctl, slot, false);
                }
            }
            _ => {}
        }
    }

    fn new_slot(&mut self, ctl: &mut Controller) {
        if self.run(ctl, Command::NewSong) {
            self.ui.track = 0;
            self.ui.step = 0;
            if let Some(s) = ctl.slot() {
                self.ui.slot_cursor = s.get();
            }
            self.refresh_slots(ctl);
        }
    }

    fn revert(&mut self, ctl: &mut Controller) {
        if self.run(ctl, Command::Revert) {
            self.refresh_slots(ctl);
        }
    }

    /// Opens `slot` to prepare it: the grid and panels edit it, the cursor at its start.
    pub(super) fn prepare(&mut self, ctl: &mut Controller, slot: SlotNumber) {
        if self.run(ctl, Command::Prepare(Some(slot))) {
            self.ui.preview = false;
            self.ui.track = 0;
            self.ui.step = 0;
            self.clamp(ctl);
            self.refresh_slots(ctl);
        }
    }

    fn preview_queued(&mut self, ctl: &Controller) {
        let ui = &mut self.ui;
        match ctl.queued() {
            Some(q) => {
                ui.preview = !ui.preview;
                let text = if ui.preview {
                    format!("previewing queued slot {} {:?} (read-only)", q.slot, q.name)
                } else {
                    "back to what plays".to_string()
                };
                ui.say(Level::Info, text);
            }
            None => {
                ui.preview = false;
                ui.say(Level::Info, "no slot is queued: nothing to preview");
            }
        }
    }

    fn open_save_prompt(&mut self, ctl: &Controller) {
        let proposed = ctl.edited_slot().map(|s| s.to_string()).unwrap_or_default();
        self.ui.prompt = Some(Prompt::new(
            PromptKind::Save,
            "Save to slot (1–128)",
            proposed,
        ));
    }

    pub(super) fn save(&mut self, ctl: &mut Controller, slot: SlotNumber, force: bool) {
        match ctl.apply_edited(Command::SaveSlot { slot, force }) {
            Ok(text) => {
                if let Some(text) = text {
                    self.ui.say(Level::Info, text);
                }
                self.ui.slot_cursor = slot.get();
            }
            Err(ControlError::WouldOverwrite(slot, name)) => self.ask_overwrite(slot, &name),
            Err(e) => self.ui.say(Level::Error, e.to_string()),
        }
    }

    fn load_or_ask(&mut self, ctl: &mut Controller, n: Option<u8>, immediate: bool) {
        match n {
            Some(n) => self.load(ctl, n, immediate),
            None => {
                let label = if immediate {
                    "Load slot now (1–128)"
                } else {
                    "Load slot at the next bar (1–128)"
                };
                self.ui.prompt = Some(Prompt::new(PromptKind::Load { immediate }, label, ""));
            }
        }
    }

    fn load(&mut self, ctl: &mut Controller, n: u8, immediate: bool) {
        let slot = match SlotNumber::new(n) {
            Ok(s) => s,
            Err(e) => return self.ui.say(Level::Error, e.to_string()),
        };
        if self.run(ctl, Command::LoadSlot { slot, immediate }) {
            self.ui.track = 0;
            self.ui.step = 0;
            self.ui.slot_cursor = n;
            self.refresh_slots(ctl);
        }
    }

    fn load_backup(&mut self, ctl: &mut Controller, n: Option<u8>) {
        match SlotNumber::new(n.unwrap_or(self.ui.slot_cursor)) {
            Ok(slot) => {
                if self.run(ctl, Command::LoadBackup { slot }) {
                    self.ui.track = 0;
                    self.ui.step = 0;
                    self.refresh_slots(ctl);
                }
            }
            Err(e) => self.ui.say(Level::Error, e.to_string()),
        }
    }

    /// The slot typed after `save`.
    pub(super) fn submit_save(&mut self, ctl: &mut Controller, text: &str) -> Result<(), String> {
        // Spaces typed around the number are the prompt's, not the number's.
        let slot = SlotNumber::parse(text.trim()).map_err(|e| e.to_string())?;
        self.save(ctl, slot, false);
        Ok(())
    }

    /// The slot typed after `load` / `load_now`.
    pub(super) fn submit_load(
        &mut self,
        ctl: &mut Controller,
        immediate: bool,
        text: &str,
    ) -> Result<(), String> {
        let slot = SlotNumber::parse(text.trim()).map_err(|e| e.to_string())?;
        if !ctl.has_file(slot) && !ctl.has_draft(slot) {
            return Err(format!("slot \"{text}\" is empty"));
        }
        self.load(ctl, slot.get(), immediate);
        Ok(())
    }
}
