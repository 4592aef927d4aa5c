//! The view: quitting, overlays (help, messages, questions), focus and the cursor.

use crate::control::{Command, Controller, Level};
use crate::keymap::{Action, CursorMove, Focus};
use crate::store::SLOT_COUNT;

use super::super::app::{App, grid_columns, selected_voice};
use super::super::state::{Overlay, PANEL_MODULES, Panel, Question};

/// Tracks moved by one page in the grid.
const GRID_PAGE: usize = 8;
/// Slots moved by one page in the browser.
const SLOT_PAGE: usize = 16;

impl App {
    pub(super) fn view_action(&mut self, ctl: &mut Controller, action: Action) {
        let ui = &mut self.ui;
        match action {
            Action::Quit => self.quit(ctl),
            Action::Messages => {
                ui.overlay = match ui.overlay {
                    Some(Overlay::Messages { .. }) => None,
                    _ => {
                        ui.mark_all_seen();
                        Some(Overlay::Messages { scroll: 0 })
                    }
                }
            }
            Action::Help => {
                ui.overlay = match ui.overlay {
                    Some(Overlay::Help { .. }) => None,
                    _ => Some(Overlay::Help { scroll: 0 }),
                }
            }
            Action::Cancel if ui.overlay.is_none() && ctl.midi_learn().is_some() => {
                self.run(ctl, Command::MidiLearn(None));
            }
            Action::Cancel => self.cancel(),
            Action::Cursor(m) => self.cursor(ctl, m),
            Action::Focus(f) => {
                ui.focus = match f {
                    Focus::Grid => Panel::Grid,
                    Focus::Params => Panel::Params,
                    Focus::Slots => Panel::Slots,
                    Focus::Next => ui.focus.next(),
                    Focus::Prev => ui.focus.prev(),
                };
                if ui.focus == Panel::Slots
                    && let Some(s) = ctl.slot()
                {
                    ui.slot_cursor = s.get();
                }
            }
            _ => {}
        }
    }

    /// Closes what is on top; with nothing open, clears the message line.
    fn cancel(&mut self) {
        let ui = &mut self.ui;
        if ui.overlay.take().is_none() {
            ui.mark_shown_seen();
            ui.message = None;
            ui.show_unseen();
        }
    }

    fn quit(&mut self, ctl: &mut Controller) {
        let ui = &mut self.ui;
        ctl.flush_drafts();
        let drafts = ctl.draft_slots().len();
        let text = if drafts > 0 {
            let what = match drafts {
                1 => "1 slot has".to_string(),
                n => format!("{n} slots have"),
            };
            Some(format!(
                "{what} unsaved drafts — quit anyway (they stay in drafts/ and come back next start)? {}/{}",
                ui.hints.confirm, ui.hints.cancel
            ))
        } else if ctl.is_dirty() {
            // A new song with no slot has no draft file: quitting loses it.
            Some("The new song has unsaved edits (no slot, so no draft). Quit anyway?".into())
        } else {
            None
        };
        match text {
            Some(text) => {
                ui.overlay = Some(Overlay::Confirm {
                    question: Question::Quit,
                    text,
                })
            }
            None => ui.quit = true,
        }
    }

    /// Performs an action while a yes/no question is asked.
    pub(in super::super) fn question_action(&mut self, ctl: &mut Controller, action: Action) {
        let conflict = matches!(
            self.ui.overlay,
            Some(Overlay::Confirm {
                question: Question::Conflict(_),
                ..
            })
        );
        match action {
            Action::TakeFile | Action::Confirm if conflict => self.settle_conflict(ctl, true),
            Action::KeepEdits | Action::Cancel | Action::Quit if conflict => {
                self.settle_conflict(ctl, false)
            }
            Action::Confirm => self.confirm(ctl),
            Action::SaveCurrent if matches!(self.question(), Some(Question::Quit)) => {
                self.save_and_quit(ctl)
            }
            Action::Cancel | Action::Quit => {
                self.ui.overlay = None;
                self.ui.say(Level::Info, "cancelled");
            }
            _ => {}
        }
    }

    fn question(&self) -> Option<&Question> {
        match &self.ui.overlay {
            Some(Overlay::Confirm { question, .. }) => Some(question),
            _ => None,
        }
    }

    /// Answers the quit question with "save, then quit": the song goes to its slot (the
    /// session waits for the disk before it ends). A new song with no slot needs one first.
    fn save_and_quit(&mut self, ctl: &mut Controller) {
        let Some(slot) = ctl.slot() else {
            self.ui.overlay = None;
            return self.ui.say(
                Level::Warning,
                "the new song has no slot yet: save it to one first (save), then quit",
            );
        };
        self.ui.overlay = None;
        match ctl.apply(crate::control::Command::SaveSlot { slot, force: false }) {
            Ok(_) => {
                ctl.flush_drafts();
                self.ui.quit = true;
            }
            Err(e) => self.ui.say(Level::Error, e.to_string()),
        }
    }

    fn confirm(&mut self, ctl: &mut Controller) {
        let Some(Overlay::Confirm { question, .. }) = self.ui.overlay.take() else {
            return;
        };
        match question {
            Question::Quit => {
                ctl.flush_drafts();
                self.ui.quit = true;
            }
            Question::Overwrite(slot) => self.save(ctl, slot, true),
            Question::Conflict(_) => self.settle_conflict(ctl, true),
        }
    }

    /// Scrolls or closes the help and message overlays; false when the action is not theirs.
    pub(in super::super) fn overlay_action(&mut self, action: Action) -> bool {
        // Messages scroll by whole messages; the help by rows, a page being what shows.
        let (lines, page) = match &self.ui.overlay {
            Some(Overlay::Messages { .. }) => (self.ui.log.len().saturating_sub(1), 10),
            _ => super::super::overlay::help_scroll_range(&self.ui.help, self.ui.screen),
        };
        let Some(Overlay::Help { scroll } | Overlay::Messages { scroll }) = &mut self.ui.overlay
        else {
            return false;
        };
        match action {
            Action::Cursor(m) => {
                *scroll = match m {
                    CursorMove::Up => scroll.saturating_sub(1),
                    CursorMove::Down => (*scroll + 1).min(lines),
                    CursorMove::PageUp => scroll.saturating_sub(page),
                    CursorMove::PageDown => (*scroll + page).min(lines),
                    CursorMove::Top | CursorMove::Home => 0,
                    CursorMove::Bottom | CursorMove::End => lines,
                    CursorMove::Left | CursorMove::Right => *scroll,
                };
                true
            }
            Action::Cancel | Action::Help | Action::Quit | Action::Messages => {
                self.ui.overlay = None;
                true
            }
            _ => false,
        }
    }

    fn cursor(&mut self, ctl: &Controller, m: CursorMove) {
        match self.ui.focus {
            Panel::Grid => self.grid_cursor(ctl, m),
            Panel::Params => {
                let ui = &mut self.ui;
                let count = ui.panel_module(selected_voice(ui, ctl)).params().len();
                ui.param = match m {
                    CursorMove::Up => ui.param.saturating_sub(1),
                    CursorMove::Down => (ui.param + 1).min(count - 1),
                    CursorMove::Top | CursorMove::Home | CursorMove::PageUp => 0,
                    CursorMove::Bottom | CursorMove::End | CursorMove::PageDown => count - 1,
                    CursorMove::Left => {
                        ui.module = (ui.module + PANEL_MODULES - 1) % PANEL_MODULES;
                        0
                    }
                    CursorMove::Right => {
                        ui.module = (ui.module + 1) % PANEL_MODULES;
                        0
                    }
                };
            }
            Panel::Slots => {
                let s = self.ui.slot_cursor as usize;
                let last = SLOT_COUNT as usize;
                let s = match m {
                    CursorMove::Up | CursorMove::Left => s.saturating_sub(1),
                    CursorMove::Down | CursorMove::Right => s + 1,
                    CursorMove::PageUp => s.saturating_sub(SLOT_PAGE),
                    CursorMove::PageDown => s + SLOT_PAGE,
                    CursorMove::Top | CursorMove::Home => 1,
                    CursorMove::Bottom | CursorMove::End => last,
                };
                self.ui.slot_cursor = s.clamp(1, last) as u8;
            }
        }
    }

    fn grid_cursor(&mut self, ctl: &Controller, m: CursorMove) {
        let ui = &mut self.ui;
        let tracks = ctl.edited().sequencer.tracks.len();
        let last_track = tracks.saturating_sub(1);
        let cols = grid_columns(ctl);
        let track_len = ctl
            .edited()
            .sequencer
            .tracks
            .get(ui.track)
            .map(|t| t.pattern.chars().count())
            .unwrap_or(0);
        match m {
            CursorMove::Up => ui.track = ui.track.saturating_sub(1),
            CursorMove::Down => ui.track = (ui.track + 1).min(last_track),
            CursorMove::Left => ui.step = ui.step.saturating_sub(1),
            CursorMove::Right => ui.step = (ui.step + 1).min(cols - 1),
            CursorMove::Home => ui.step = 0,
            CursorMove::End => ui.step = track_len.max(1) - 1,
            CursorMove::Top => ui.track = 0,
            CursorMove::Bottom => ui.track = last_track,
            CursorMove::PageUp => ui.track = ui.track.saturating_sub(GRID_PAGE),
            CursorMove::PageDown => ui.track = (ui.track + GRID_PAGE).min(last_track),
        }
    }
}
