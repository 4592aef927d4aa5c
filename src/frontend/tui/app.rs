//! Keys to actions to [`Command`]s: the tracker's input handling.
//!
//! A key goes through the [`KeyDispatcher`] in the [`Mode`] the screen is in; the resulting
//! [`Action`] either changes the view (cursor, focus, prompt, overlay) or becomes a
//! [`Command`] applied to the [`Controller`]. Nothing here draws.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::KeyEvent;

use crate::control::{self, Command, ControlError, Controller, Level, Notice, Service, StepValue};
use crate::keymap::{
    Action, Choice, CursorMove, Cycle, Dispatch, Focus, Key, KeyCode, KeyDispatcher, Keymap,
    LengthChange, Mode, Nudge, Vertical, chord_label,
};
use crate::model::notes::{notes_to_names, parse_notes};
use crate::model::registry::{MAX_VOICES, TRACK_FIELDS, sequencer as seq_spec};
use crate::model::{ParamId, ParamSpec, Track};
use crate::sources::watch::SlotWatcher;
use crate::store::{SLOT_COUNT, SlotInfo, SlotNumber};

use super::state::{
    Clipboard, DiskChange, HIGHLIGHT_BARS, Hints, Overlay, PANEL_MODULES, Panel, Prompt,
    PromptKind, Question, SlotRow, UiState,
};

/// Taps further apart than this start a new tap-tempo measurement.
const TAP_WINDOW: Duration = Duration::from_secs(2);
/// Taps kept for the tap-tempo average.
const MAX_TAPS: usize = 8;
/// How often the slot browser re-reads the slots folder.
pub const SLOT_REFRESH: Duration = Duration::from_secs(3);
/// Tracks moved by one page in the grid.
const GRID_PAGE: usize = 8;
/// Slots moved by one page in the browser.
const SLOT_PAGE: usize = 16;

/// The tracker's input side: the screen state plus the key bindings.
pub struct App {
    /// What the screen shows besides the song.
    pub ui: UiState,
    keys: KeyDispatcher,
    /// Modification time of each slot file when Chronus last read or wrote it (the browser's
    /// "changed on disk" mark when no watcher runs).
    seen: HashMap<u8, SystemTime>,
    slots_read: Option<Instant>,
    /// The hot-reload watcher on the slots folder, when it started.
    watcher: Option<SlotWatcher>,
    /// The watcher's reload count and generation last taken in.
    reloads_seen: u64,
    generation_seen: u64,
    /// The watcher generation at which Chronus last read or wrote each slot file: a change
    /// on disk newer than that is marked in the browser.
    acknowledged: HashMap<u8, u64>,
    /// Slots whose file did not load at the last look at the watcher.
    broken_seen: std::collections::BTreeSet<SlotNumber>,
}

impl App {
    /// An app using these bindings.
    pub fn new(keymap: Keymap) -> App {
        let label = |mode: Mode, action: Action, fallback: &str| {
            keymap
                .keys_for(mode, &action)
                .map(chord_label)
                .unwrap_or_else(|| fallback.to_string())
        };
        let hints = Hints {
            help: label(Mode::Grid, Action::Help, ":help"),
            confirm: label(Mode::Confirm, Action::Confirm, "y"),
            cancel: label(Mode::Confirm, Action::Cancel, "Esc"),
            submit: label(Mode::Prompt, Action::PromptSubmit, "Enter"),
            prompt_cancel: label(Mode::Prompt, Action::Cancel, "Esc"),
            add_track: label(Mode::Grid, Action::TrackAdd, ":track_add"),
            play: label(Mode::Grid, Action::PlayToggle, ":play_toggle"),
            take: label(Mode::Confirm, Action::TakeFile, ":take_file"),
            keep: label(Mode::Confirm, Action::KeepEdits, ":keep_edits"),
        };
        let ui = UiState::new(keymap.help(), hints);
        App {
            ui,
            keys: KeyDispatcher::new(keymap),
            seen: HashMap::new(),
            slots_read: None,
            watcher: None,
            reloads_seen: 0,
            generation_seen: 0,
            acknowledged: HashMap::new(),
            broken_seen: Default::default(),
        }
    }

    /// Hands the app the hot-reload watcher: from now on files changed on disk are
    /// highlighted, conflicts asked about, and the browser follows the watcher.
    pub fn set_watcher(&mut self, watcher: SlotWatcher) {
        self.reloads_seen = watcher.reloads();
        self.generation_seen = watcher.generation();
        self.watcher = Some(watcher);
    }

    /// The hot-reload watcher, when one runs.
    pub fn watcher(&self) -> Option<&SlotWatcher> {
        self.watcher.as_ref()
    }

    /// Polls the watcher (once per loop turn, like the other services) and takes in what it
    /// did: a reload to highlight, a conflict to ask about, a slot list to re-read. Returns
    /// true when the screen changed.
    pub fn poll_watcher(&mut self, ctl: &mut Controller) -> bool {
        let Some(w) = self.watcher.as_mut() else {
            return false;
        };
        let polled = w.poll(ctl);
        self.sync_watcher(ctl) | polled
    }

    /// Takes in the watcher's state after it acted.
    fn sync_watcher(&mut self, ctl: &Controller) -> bool {
        let Some(w) = self.watcher.as_ref() else {
            return false;
        };
        let mut changed = false;
        let (reloads, generation, conflict) = (w.reloads(), w.generation(), w.pending_conflict());
        let broken = w.broken_slots().clone();
        for &n in self.broken_seen.difference(&broken) {
            // The file loads again: its error is over, and so is its "changed on disk" mark.
            let about = format!("slot {n} changed on disk");
            self.ui.resolve(
                |t| t.starts_with(&about) && t.contains("does not load"),
                Some((Level::Info, format!("slot {n}: its file loads again"))),
            );
            self.seen.remove(&n.get());
            self.acknowledged.insert(n.get(), generation);
            changed = true;
        }
        self.broken_seen = broken;
        if reloads != self.reloads_seen {
            self.reloads_seen = reloads;
            if let (Some(diff), Some(slot)) = (w.last_diff(), ctl.slot()) {
                let queued = ctl
                    .status()
                    .queued
                    .filter(|&(s, _)| ctl.status().running && s == slot);
                self.ui.changes = Some(DiskChange {
                    slot,
                    diff: diff.clone(),
                    applies_at: queued.map(|(_, bar)| bar),
                    heard_from: None,
                });
                self.forget_seen(slot.get());
            }
            changed = true;
        }
        let asking = matches!(
            self.ui.overlay,
            Some(Overlay::Confirm {
                question: Question::Conflict(_),
                ..
            })
        );
        match conflict {
            // Asked once nothing else is: a half-typed prompt or another question comes first.
            Some(slot)
                if !asking
                    && self.ui.prompt.is_none()
                    && !matches!(self.ui.overlay, Some(Overlay::Confirm { .. })) =>
            {
                let when = if ctl.status().running {
                    "at the next bar"
                } else {
                    "now"
                };
                let text = format!(
                    "slot {slot} changed on disk while you have unsaved edits — {} the file's version {when} / {} your edits",
                    mnemonic(&self.ui.hints.take, "take"),
                    mnemonic(&self.ui.hints.keep, "keep"),
                );
                self.ui.overlay = Some(Overlay::Confirm {
                    question: Question::Conflict(slot),
                    text,
                });
                changed = true;
            }
            // Saved or another slot loaded meanwhile: nothing left to decide.
            None if asking => {
                self.ui.overlay = None;
                changed = true;
            }
            _ => {}
        }
        if generation != self.generation_seen {
            self.generation_seen = generation;
            self.refresh_slots(ctl);
            changed = true;
        }
        changed
    }

    /// Answers the conflict question: take the file's version or keep the screen's edits.
    fn settle_conflict(&mut self, ctl: &mut Controller, take_file: bool) {
        if matches!(
            self.ui.overlay,
            Some(Overlay::Confirm {
                question: Question::Conflict(_),
                ..
            })
        ) {
            self.ui.overlay = None;
        }
        match self.watcher.as_mut() {
            Some(w) if w.pending_conflict().is_some() => {
                w.resolve_conflict(ctl, take_file);
                self.sync_watcher(ctl);
            }
            _ => self.ui.say(
                Level::Info,
                "no slot file is waiting: nothing changed on disk under your edits",
            ),
        }
    }

    /// The mode keys are looked up in, from what is open and focused.
    pub fn mode(&self) -> Mode {
        if self.ui.prompt.is_some() {
            return Mode::Prompt;
        }
        match self.ui.overlay {
            Some(Overlay::Help { .. } | Overlay::Messages { .. }) => Mode::Help,
            Some(Overlay::Confirm { .. }) => Mode::Confirm,
            None => match self.ui.focus {
                Panel::Grid => Mode::Grid,
                Panel::Params => Mode::Params,
                Panel::Slots => Mode::Slots,
            },
        }
    }

    /// Handles one key press (callers pass presses only, not releases or repeats).
    pub fn handle_key(&mut self, ctl: &mut Controller, event: KeyEvent) {
        self.handle_key_at(ctl, event, Instant::now());
    }

    /// [`App::handle_key`] at a given time (tap tempo measures between presses).
    pub fn handle_key_at(&mut self, ctl: &mut Controller, event: KeyEvent, now: Instant) {
        let Some(key) = Key::from_event(&event) else {
            return;
        };
        let mode = self.mode();
        let dispatch = self.keys.feed(mode, key);
        self.ui.chord = chord_label(self.keys.pending());
        match dispatch {
            Dispatch::Action(action) => self.act_at(ctl, action, now),
            Dispatch::Pending | Dispatch::Cancelled => {}
            Dispatch::Unbound => {
                if let (Some(prompt), KeyCode::Char(c)) = (self.ui.prompt.as_mut(), key.code)
                    && !key.ctrl
                    && !key.alt
                {
                    prompt.insert(c);
                }
            }
        }
        self.clamp(ctl);
    }

    /// Performs one action.
    pub fn act(&mut self, ctl: &mut Controller, action: Action) {
        self.act_at(ctl, action, Instant::now());
    }

    /// [`App::act`] at a given time.
    pub fn act_at(&mut self, ctl: &mut Controller, action: Action, now: Instant) {
        // The performer acted with the message line in front of them.
        if action != Action::Cancel {
            self.ui.mark_shown_seen();
        }
        match self.mode() {
            Mode::Prompt => return self.prompt_action(ctl, action),
            Mode::Confirm => {
                let conflict = matches!(
                    self.ui.overlay,
                    Some(Overlay::Confirm {
                        question: Question::Conflict(_),
                        ..
                    })
                );
                match action {
                    Action::TakeFile | Action::Confirm if conflict => {
                        self.settle_conflict(ctl, true)
                    }
                    Action::KeepEdits | Action::Cancel | Action::Quit if conflict => {
                        self.settle_conflict(ctl, false)
                    }
                    Action::Confirm => self.confirm(ctl),
                    Action::Cancel | Action::Quit => {
                        self.ui.overlay = None;
                        self.ui.say(Level::Info, "cancelled");
                    }
                    _ => {}
                }
                return;
            }
            Mode::Help => {
                let lines = match &self.ui.overlay {
                    Some(Overlay::Messages { .. }) => self.ui.log.len(),
                    _ => super::overlay::help_line_count(&self.ui.help),
                };
                if let Some(Overlay::Help { scroll } | Overlay::Messages { scroll }) =
                    &mut self.ui.overlay
                {
                    match action {
                        Action::Cursor(m) => {
                            *scroll = match m {
                                CursorMove::Up => scroll.saturating_sub(1),
                                CursorMove::Down => (*scroll + 1).min(lines),
                                CursorMove::PageUp => scroll.saturating_sub(10),
                                CursorMove::PageDown => (*scroll + 10).min(lines),
                                CursorMove::Top | CursorMove::Home => 0,
                                CursorMove::Bottom | CursorMove::End => lines,
                                CursorMove::Left | CursorMove::Right => *scroll,
                            };
                            return;
                        }
                        Action::Cancel | Action::Help | Action::Quit | Action::Messages => {
                            self.ui.overlay = None;
                            return;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        self.main_action(ctl, action, now);
        self.clamp(ctl);
    }

    fn main_action(&mut self, ctl: &mut Controller, action: Action, now: Instant) {
        let ui = &mut self.ui;
        match action {
            Action::Noop | Action::Confirm => {}
            Action::TakeFile => self.settle_conflict(ctl, true),
            Action::KeepEdits => self.settle_conflict(ctl, false),
            Action::Quit => {
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
                    Some(
                        "The new song has unsaved edits (no slot, so no draft). Quit anyway?"
                            .into(),
                    )
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
            Action::Messages => {
                ui.overlay = match ui.overlay {
                    Some(Overlay::Messages { .. }) => None,
                    _ => {
                        ui.mark_all_seen();
                        Some(Overlay::Messages { scroll: 0 })
                    }
                }
            }
            Action::PreviewQueued => match ctl.queued() {
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
            },
            Action::Revert => {
                if self.run(ctl, Command::Revert) {
                    if let Some(s) = ctl.slot() {
                        self.forget_seen(s.get());
                    }
                    self.refresh_slots(ctl);
                }
            }
            Action::Help => {
                ui.overlay = match ui.overlay {
                    Some(Overlay::Help { .. }) => None,
                    _ => Some(Overlay::Help { scroll: 0 }),
                }
            }
            Action::Cancel => {
                if ui.overlay.take().is_none() {
                    ui.mark_shown_seen();
                    ui.message = None;
                    ui.show_unseen();
                }
            }
            Action::Command => {
                ui.prompt = Some(Prompt::new(PromptKind::Command, "Action", ""));
            }
            Action::PlayToggle => {
                self.run(ctl, Command::TogglePlay);
            }
            Action::Stop => {
                self.run(ctl, Command::Stop);
            }
            Action::BpmNudge(d) => {
                self.run(ctl, Command::NudgeBpm(d));
            }
            Action::BpmSet => {
                let bpm = control::fmt_num(ctl.song().sequencer.bpm);
                let label = format!("Tempo in BPM ({}–{})", seq_spec::BPM.min, seq_spec::BPM.max);
                ui.prompt = Some(Prompt::new(PromptKind::Bpm, label, bpm));
            }
            Action::TapTempo => self.tap(ctl, now),
            Action::SwingNudge(d) => {
                self.run(ctl, Command::NudgeSwing(d));
            }
            Action::RecordToggle => {
                let cmd = if ctl.recording().is_some() {
                    Command::RecordStop
                } else {
                    Command::RecordStart(None)
                };
                self.run(ctl, cmd);
            }
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
            Action::TrackSelect(c) => {
                let n = ctl.song().sequencer.tracks.len();
                if n > 0 {
                    ui.track = match c {
                        Cycle::Next => (ui.track + 1) % n,
                        Cycle::Prev => (ui.track + n - 1) % n,
                    };
                }
            }
            Action::ModuleSelect(c) => {
                ui.module = match c {
                    Cycle::Next => (ui.module + 1) % PANEL_MODULES,
                    Cycle::Prev => (ui.module + PANEL_MODULES - 1) % PANEL_MODULES,
                };
                ui.param = 0;
            }
            Action::StepSet(v) => self.set_step(ctl, v),
            Action::StepCycle => {
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
            Action::TrackAdd => {
                let name = free_name(&ctl.song().sequencer.tracks, "track");
                ui.prompt = Some(Prompt::new(
                    PromptKind::AddTrack,
                    "Name of the new track",
                    name,
                ));
            }
            Action::TrackRemove => {
                if let Some(name) = self.selected_name(ctl) {
                    self.run(ctl, Command::RemoveTrack(name));
                }
            }
            Action::TrackRename => {
                if let Some(name) = self.selected_name(ctl) {
                    let label = format!("New name for track {name}");
                    self.ui.prompt = Some(Prompt::new(
                        PromptKind::Rename {
                            track: name.clone(),
                        },
                        label,
                        name,
                    ));
                }
            }
            Action::TrackMove(dir) => {
                if let Some(name) = self.selected_name(ctl) {
                    let delta = match dir {
                        Vertical::Up => -1,
                        Vertical::Down => 1,
                    };
                    if self.run(ctl, Command::MoveTrack { track: name, delta }) {
                        let n = ctl.song().sequencer.tracks.len();
                        self.ui.track =
                            (self.ui.track as isize + delta).clamp(0, n as isize - 1) as usize;
                    }
                }
            }
            Action::TrackVoice(choice) => self.track_voice(ctl, choice),
            Action::TrackNotes => {
                if let Some(t) = self.selected(ctl) {
                    let label =
                        format!("Notes of {} (C2 d#3 60 261.63; empty = base_freq)", t.name);
                    let prompt = Prompt::new(
                        PromptKind::Notes {
                            track: t.name.clone(),
                        },
                        label,
                        notes_to_names(&t.notes),
                    );
                    self.ui.prompt = Some(prompt);
                }
            }
            Action::TrackLength(change) => {
                if let Some(t) = self.selected(ctl) {
                    let (name, len) = (t.name.clone(), t.pattern.chars().count());
                    match change {
                        LengthChange::By(by) => {
                            let len =
                                (len as i64 + by as i64).clamp(1, control::MAX_PATTERN as i64);
                            self.run(
                                ctl,
                                Command::SetLength {
                                    track: name,
                                    len: len as usize,
                                },
                            );
                        }
                        LengthChange::Prompt => {
                            let label =
                                format!("Length of {name} in steps (1–{})", control::MAX_PATTERN);
                            self.ui.prompt = Some(Prompt::new(
                                PromptKind::Length { track: name },
                                label,
                                len.to_string(),
                            ));
                        }
                    }
                }
            }
            Action::TrackField(field) => {
                if let Some(t) = self.selected(ctl) {
                    let f = &TRACK_FIELDS[field.index()];
                    let label = format!("{} of {} ({})", f.key, t.name, range_text(&f.spec));
                    let value = control::fmt_num(t.number(field.index()));
                    self.ui.prompt = Some(Prompt::new(
                        PromptKind::TrackField {
                            track: t.name.clone(),
                            field: field.index(),
                        },
                        label,
                        value,
                    ));
                }
            }
            Action::TrackFieldAdjust(field, nudge) => {
                if let Some(t) = self.selected(ctl) {
                    let spec = &TRACK_FIELDS[field.index()].spec;
                    let value = t.number(field.index()) + nudge_amount(spec, nudge);
                    let track = t.name.clone();
                    self.run(
                        ctl,
                        Command::SetTrackField {
                            track,
                            field: field.index(),
                            value,
                        },
                    );
                }
            }
            Action::Mute => {
                if let Some(track) = self.selected_name(ctl) {
                    self.run(ctl, Command::Mute { track, on: None });
                }
            }
            Action::Solo => {
                if let Some(track) = self.selected_name(ctl) {
                    self.run(ctl, Command::Solo { track, on: None });
                }
            }
            Action::ParamAdjust(nudge) => {
                let id = self.selected_param(ctl);
                let value = ctl.song().params.get(id) + nudge_amount(id.spec(), nudge);
                self.run(ctl, Command::SetParam { id, value });
            }
            Action::ParamSet => {
                let id = selected_param(ui, ctl);
                let spec = id.spec();
                let label = format!("{} ({})", id.label(), range_text(spec));
                let value = control::fmt_num(ctl.song().params.get(id));
                ui.prompt = Some(Prompt::new(PromptKind::Param(id), label, value));
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
            Action::CopyTrack => {
                if let Some(t) = self.selected(ctl) {
                    let text = format!("copied track {}", t.name);
                    self.ui.clipboard = Some(Clipboard::Track(Box::new(t.clone())));
                    self.ui.say(Level::Info, text);
                }
            }
            Action::PasteTrack => self.paste_track(ctl),
            Action::CopyPattern => {
                let tracks = ctl.song().sequencer.tracks.clone();
                let text = format!("copied the pattern ({} tracks)", tracks.len());
                ui.clipboard = Some(Clipboard::Pattern(tracks));
                ui.say(Level::Info, text);
            }
            Action::PastePattern => match ui.clipboard.clone() {
                Some(Clipboard::Pattern(tracks)) => {
                    let n = tracks.len();
                    if self.run(ctl, Command::ReplaceTracks(tracks)) {
                        self.ui
                            .say(Level::Info, format!("pasted the pattern ({n} tracks)"));
                    }
                }
                Some(Clipboard::Track(_)) => ui.say(
                    Level::Warning,
                    "the clipboard holds a track, not a pattern (paste it with paste_track)",
                ),
                None => ui.say(Level::Warning, "nothing copied yet"),
            },
            Action::Undo => self.run_quiet(ctl, Command::Undo),
            Action::Redo => self.run_quiet(ctl, Command::Redo),
            Action::Save => self.open_save_prompt(ctl),
            Action::SaveCurrent => match ctl.slot() {
                Some(slot) => self.save(ctl, slot, false),
                None => self.open_save_prompt(ctl),
            },
            Action::Load(n) => self.load_or_ask(ctl, n, false),
            Action::LoadBackup(n) => match SlotNumber::new(n.unwrap_or(self.ui.slot_cursor)) {
                Ok(slot) => {
                    if self.run(ctl, Command::LoadBackup { slot }) {
                        self.ui.track = 0;
                        self.ui.step = 0;
                        self.refresh_slots(ctl);
                    }
                }
                Err(e) => self.ui.say(Level::Error, e.to_string()),
            },
            Action::LoadNow(n) => self.load_or_ask(ctl, n, true),
            Action::SlotLoad | Action::SlotLoadNow => {
                let immediate = action == Action::SlotLoadNow;
                let n = ui.slot_cursor;
                self.load(ctl, n, immediate);
            }
            Action::SlotSave => {
                if let Ok(slot) = SlotNumber::new(ui.slot_cursor) {
                    self.save(ctl, slot, false);
                }
            }
            Action::PromptSubmit
            | Action::PromptBackspace
            | Action::PromptDelete
            | Action::PromptClear => {}
        }
    }

    /// Applies a command; its confirmation or error goes to the message line. Returns whether
    /// it was applied.
    fn run(&mut self, ctl: &mut Controller, cmd: Command) -> bool {
        if let Err(why) = self.editable(ctl, &cmd) {
            self.ui.say(Level::Warning, why);
            return false;
        }
        match ctl.apply(cmd) {
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
        match ctl.apply(cmd) {
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
        ctl.song().sequencer.tracks.get(self.ui.track)
    }

    fn selected_name(&self, ctl: &Controller) -> Option<String> {
        self.selected(ctl).map(|t| t.name.clone())
    }

    /// The parameter the panel's cursor is on.
    pub fn selected_param(&self, ctl: &Controller) -> ParamId {
        selected_param(&self.ui, ctl)
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

    fn cursor(&mut self, ctl: &Controller, m: CursorMove) {
        let ui = &mut self.ui;
        match ui.focus {
            Panel::Grid => {
                let tracks = ctl.song().sequencer.tracks.len();
                let last_track = tracks.saturating_sub(1);
                let cols = grid_columns(ctl);
                let track_len = ctl
                    .song()
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
            Panel::Params => {
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
                let s = ui.slot_cursor as usize;
                let last = SLOT_COUNT as usize;
                let s = match m {
                    CursorMove::Up | CursorMove::Left => s.saturating_sub(1),
                    CursorMove::Down | CursorMove::Right => s + 1,
                    CursorMove::PageUp => s.saturating_sub(SLOT_PAGE),
                    CursorMove::PageDown => s + SLOT_PAGE,
                    CursorMove::Top | CursorMove::Home => 1,
                    CursorMove::Bottom | CursorMove::End => last,
                };
                ui.slot_cursor = s.clamp(1, last) as u8;
            }
        }
    }

    fn track_voice(&mut self, ctl: &mut Controller, choice: Choice) {
        let Some(t) = self.selected(ctl) else {
            return;
        };
        let name = t.name.clone();
        let voices = ctl.voices().clamp(1, MAX_VOICES) as u8;
        let current = t.voice().unwrap_or(1).clamp(1, voices);
        let voice = match choice {
            Choice::Next => current % voices + 1,
            Choice::Prev => (current + voices - 2) % voices + 1,
            Choice::Prompt => {
                let label = format!("Voice for {name} (1–{voices})");
                self.ui.prompt = Some(Prompt::new(
                    PromptKind::Voice { track: name },
                    label,
                    current.to_string(),
                ));
                return;
            }
        };
        let cmd = Command::SetTrackVoice {
            track: name.clone(),
            voice: format!("voice{voice}"),
        };
        if self.run(ctl, cmd) {
            self.ui
                .say(Level::Info, format!("{name} plays voice{voice}"));
        }
    }

    fn tap(&mut self, ctl: &mut Controller, now: Instant) {
        let taps = &mut self.ui.taps;
        if taps
            .last()
            .is_some_and(|&last| now.saturating_duration_since(last) > TAP_WINDOW)
        {
            taps.clear();
        }
        taps.push(now);
        if taps.len() > MAX_TAPS {
            taps.remove(0);
        }
        if taps.len() < 2 {
            self.ui.say(Level::Info, "tap — keep tapping on the beat");
            return;
        }
        let span = taps[taps.len() - 1].saturating_duration_since(taps[0]);
        let interval = span.as_secs_f64() / (taps.len() - 1) as f64;
        if interval <= 0.0 {
            return;
        }
        let n = taps.len();
        let bpm = (60.0 / interval * 10.0).round() / 10.0;
        if self.run(ctl, Command::SetBpm(bpm)) {
            let shown = ctl.song().sequencer.bpm;
            self.ui
                .say(Level::Info, format!("tap tempo {shown:.1} BPM ({n} taps)"));
        }
    }

    fn paste_track(&mut self, ctl: &mut Controller) {
        let Some(Clipboard::Track(copied)) = self.ui.clipboard.clone() else {
            let text = match self.ui.clipboard {
                Some(Clipboard::Pattern(_)) => {
                    "the clipboard holds a whole pattern (paste it with paste_pattern)"
                }
                _ => "nothing copied yet",
            };
            self.ui.say(Level::Warning, text);
            return;
        };
        let tracks = ctl.song().sequencer.tracks.clone();
        match tracks.get(self.ui.track) {
            Some(target) if target.name != copied.name => {
                // Over another track: take the copy's pattern and sound, keep the target's
                // name, voice and performance state.
                let mut t = (*copied).clone();
                t.name = target.name.clone();
                t.voice_id = target.voice_id.clone();
                t.muted = target.muted;
                t.solo = target.solo;
                let text = format!("pasted {} over {}", copied.name, target.name);
                if self.run(ctl, Command::AddTrack(Box::new(t))) {
                    self.ui.say(Level::Info, text);
                }
            }
            _ => {
                // Onto itself or into an empty song: add a copy below the selected track.
                let mut t = (*copied).clone();
                t.name = free_name(&tracks, &copied.name);
                t.muted = false;
                t.solo = false;
                let at = (self.ui.track + 1).min(tracks.len());
                let mut all = tracks;
                all.insert(at, t.clone());
                let text = format!("added {} (a copy of {})", t.name, copied.name);
                if self.run(ctl, Command::ReplaceTracks(all)) {
                    self.ui.track = at;
                    self.ui.say(Level::Info, text);
                }
            }
        }
    }

    fn open_save_prompt(&mut self, ctl: &Controller) {
        let proposed = ctl.slot().map(|s| s.to_string()).unwrap_or_default();
        self.ui.prompt = Some(Prompt::new(
            PromptKind::Save,
            "Save to slot (1–128)",
            proposed,
        ));
    }

    fn save(&mut self, ctl: &mut Controller, slot: SlotNumber, force: bool) {
        match ctl.apply(Command::SaveSlot { slot, force }) {
            Ok(text) => {
                if let Some(text) = text {
                    self.ui.say(Level::Info, text);
                }
                self.forget_seen(slot.get());
                self.refresh_slots(ctl);
                self.ui.slot_cursor = slot.get();
            }
            Err(ControlError::WouldOverwrite(slot, name)) => {
                let text = if name.is_empty() {
                    format!("Slot {slot} holds a different pattern. Overwrite it?")
                } else {
                    format!("Slot {slot} holds a different pattern, {name:?}. Overwrite it?")
                };
                self.ui.overlay = Some(Overlay::Confirm {
                    question: Question::Overwrite(slot),
                    text,
                });
            }
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
            self.forget_seen(slot.get());
            self.refresh_slots(ctl);
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

    fn prompt_action(&mut self, ctl: &mut Controller, action: Action) {
        let Some(prompt) = self.ui.prompt.as_mut() else {
            return;
        };
        match action {
            Action::Cancel | Action::Quit => {
                self.ui.prompt = None;
            }
            Action::PromptBackspace => prompt.backspace(),
            Action::PromptDelete => prompt.delete(),
            Action::PromptClear => prompt.clear(),
            Action::Cursor(m) => match m {
                CursorMove::Left => prompt.move_cursor(-1),
                CursorMove::Right => prompt.move_cursor(1),
                CursorMove::Home | CursorMove::Top | CursorMove::PageUp => prompt.cursor_to(false),
                CursorMove::End | CursorMove::Bottom | CursorMove::PageDown => {
                    prompt.cursor_to(true)
                }
                CursorMove::Up | CursorMove::Down => {}
            },
            Action::PromptSubmit => {
                // Taken out while it is read: answering may open a question or another
                // prompt (`:bpm_set`); a refused answer puts it back with the reason.
                if let Some(mut prompt) = self.ui.prompt.take() {
                    let text = prompt.text.trim().to_string();
                    if let Err(why) = self.submit(ctl, prompt.kind.clone(), &text) {
                        prompt.error = Some(why);
                        self.ui.prompt = Some(prompt);
                    }
                }
            }
            _ => {}
        }
        self.clamp(ctl);
    }

    /// Reads a submitted prompt; `Err` keeps the prompt open with the reason shown.
    fn submit(&mut self, ctl: &mut Controller, kind: PromptKind, text: &str) -> Result<(), String> {
        let preview = self.ui.preview && ctl.queued().is_some();
        let apply = |ctl: &mut Controller, ui: &mut UiState, cmd: Command| -> Result<(), String> {
            if preview && cmd.is_edit() {
                return Err("the preview of the queued slot is read-only".into());
            }
            match ctl.apply(cmd) {
                Ok(Some(msg)) => {
                    ui.say(Level::Info, msg);
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        };
        match kind {
            PromptKind::Bpm => {
                let bpm = parse_in_range(text, &seq_spec::BPM)?;
                apply(ctl, &mut self.ui, Command::SetBpm(bpm))
            }
            PromptKind::AddTrack => {
                let name = text.to_string();
                if name.is_empty() {
                    return Err("a track needs a name".into());
                }
                let tracks = ctl.song().sequencer.tracks.clone();
                if tracks.iter().any(|t| t.name == name) {
                    return Err(format!("a track named {name:?} exists already"));
                }
                let voice = free_voice(&tracks, ctl.voices());
                let t = Track::new(&name, &format!("voice{voice}"), &".".repeat(16));
                let at = if tracks.is_empty() {
                    0
                } else {
                    (self.ui.track + 1).min(tracks.len())
                };
                let mut all = tracks;
                all.insert(at, t);
                apply(ctl, &mut self.ui, Command::ReplaceTracks(all))?;
                self.ui.track = at;
                self.ui
                    .say(Level::Info, format!("added track {name} on voice{voice}"));
                Ok(())
            }
            PromptKind::Rename { track } => {
                apply(
                    ctl,
                    &mut self.ui,
                    Command::RenameTrack {
                        from: track.clone(),
                        to: text.to_string(),
                    },
                )?;
                self.ui
                    .say(Level::Info, format!("renamed {track} to {text}"));
                Ok(())
            }
            PromptKind::Notes { track } => {
                let notes = parse_notes(text).map_err(|e| e.to_string())?;
                let names = notes_to_names(&notes);
                apply(
                    ctl,
                    &mut self.ui,
                    Command::SetNotes {
                        track: track.clone(),
                        notes,
                    },
                )?;
                let text = if names.is_empty() {
                    format!("{track}: no notes (plays base_freq)")
                } else {
                    format!("{track} notes: {names}")
                };
                self.ui.say(Level::Info, text);
                Ok(())
            }
            PromptKind::Voice { track } => {
                let voices = ctl.voices().clamp(1, MAX_VOICES);
                let digits = text.strip_prefix("voice").unwrap_or(text);
                let n: usize = digits
                    .parse()
                    .ok()
                    .filter(|n| (1..=voices).contains(n))
                    .ok_or_else(|| format!("\"{text}\" is not a voice: type 1–{voices}"))?;
                apply(
                    ctl,
                    &mut self.ui,
                    Command::SetTrackVoice {
                        track: track.clone(),
                        voice: format!("voice{n}"),
                    },
                )?;
                self.ui.say(Level::Info, format!("{track} plays voice{n}"));
                Ok(())
            }
            PromptKind::Length { track } => {
                let max = control::MAX_PATTERN;
                let len: usize = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| format!("\"{text}\" is not a length: type 1–{max}"))?;
                apply(ctl, &mut self.ui, Command::SetLength { track, len })
            }
            PromptKind::TrackField { track, field } => {
                let value = parse_in_range(text, &TRACK_FIELDS[field].spec)?;
                apply(
                    ctl,
                    &mut self.ui,
                    Command::SetTrackField {
                        track,
                        field,
                        value,
                    },
                )
            }
            PromptKind::Param(id) => {
                let value = parse_in_range(text, id.spec())?;
                apply(ctl, &mut self.ui, Command::SetParam { id, value })
            }
            PromptKind::Save => {
                let slot = SlotNumber::parse(text).map_err(|e| e.to_string())?;
                self.save(ctl, slot, false);
                Ok(())
            }
            PromptKind::Load { immediate } => {
                let slot = SlotNumber::parse(text).map_err(|e| e.to_string())?;
                if !ctl.store().slot_path(slot).exists() && !ctl.has_draft(slot) {
                    return Err(format!("slot \"{text}\" is empty"));
                }
                self.load(ctl, slot.get(), immediate);
                Ok(())
            }
            PromptKind::Command => {
                let action = Action::parse(text)?;
                self.main_action(ctl, action, Instant::now());
                Ok(())
            }
        }
    }

    /// Keeps the cursors inside the song after anything changed it (undo, load, remove).
    pub fn clamp(&mut self, ctl: &Controller) {
        let ui = &mut self.ui;
        let tracks = ctl.song().sequencer.tracks.len();
        ui.track = ui.track.min(tracks.saturating_sub(1));
        ui.step = ui.step.min(grid_columns(ctl) - 1);
        ui.module = ui.module.min(PANEL_MODULES - 1);
        let count = ui.panel_module(selected_voice(ui, ctl)).params().len();
        ui.param = ui.param.min(count - 1);
        ui.slot_cursor = ui.slot_cursor.clamp(1, SLOT_COUNT);
        if ctl.queued().is_none() {
            ui.preview = false;
        }
    }

    /// Takes in what happened since the last turn: messages for the message line, and a
    /// fresh slot list after saves and loads.
    pub fn on_notices(&mut self, ctl: &Controller, notices: &[Notice]) {
        let mut refresh = false;
        // The watcher's one-line summary of the latest reload, which joins the line saying
        // when it applies; warnings of the same turn (clamped values) are added to it so they
        // are not hidden behind it.
        let summary = self
            .ui
            .changes
            .as_ref()
            .map(|c| format!("slot {}: {}", c.slot, c.diff.describe()));
        let mut warnings: Vec<&str> = Vec::new();
        for n in notices {
            match n {
                Notice::Message(Level::Info, text)
                    if summary.as_ref() == Some(text)
                        && let Some(c) = &self.ui.changes =>
                {
                    let when = match c.applies_at {
                        Some(bar) => format!("applies at bar {bar}"),
                        None => "loaded".to_string(),
                    };
                    let line = format!(
                        "slot {} changed on disk — {when}: {}",
                        c.slot,
                        c.diff.describe()
                    );
                    if warnings.is_empty() {
                        self.ui.say(Level::Info, line);
                    } else {
                        let line = format!("{line} — {}", warnings.join("; "));
                        self.ui.say(Level::Warning, line);
                    }
                }
                Notice::Message(level, text) => {
                    if *level != Level::Info {
                        warnings.push(text);
                    }
                    self.ui.say(*level, text.clone());
                }
                Notice::SlotQueued {
                    slot,
                    bar,
                    from_disk: true,
                } => {
                    self.forget_seen(slot.get());
                    if let Some(c) = &mut self.ui.changes
                        && c.slot == *slot
                    {
                        c.applies_at = Some(*bar);
                    }
                    if let Some(text) = ctl.describe(n) {
                        self.ui.say(Level::Info, text);
                    }
                    refresh = true;
                }
                // A bar-aligned switch is news; a load while stopped was already reported.
                Notice::SlotApplied { slot, bar } if ctl.status().running => {
                    match &mut self.ui.changes {
                        Some(c) if c.slot == *slot && c.applies_at.is_some() => {
                            c.applies_at = None;
                            c.heard_from = Some(*bar);
                            let text = format!(
                                "slot {slot} changed on disk — applied at bar {bar}: {}",
                                c.diff.describe()
                            );
                            self.ui.say(Level::Info, text);
                        }
                        _ => {
                            if let Some(text) = ctl.describe(n) {
                                self.ui.say(Level::Info, text);
                            }
                        }
                    }
                }
                Notice::Saved { slot, .. } => {
                    self.forget_seen(slot.get());
                    if let Some(text) = ctl.describe(n) {
                        self.ui.say(Level::Info, text);
                    }
                    refresh = true;
                }
                Notice::Recorded(_) => {
                    if let Some(text) = ctl.describe(n) {
                        self.ui.say(Level::Info, text);
                    }
                }
                _ => {}
            }
        }
        if refresh {
            self.refresh_slots(ctl);
        }
        self.clamp(ctl);
    }

    /// Re-reads the slot list when it is older than [`SLOT_REFRESH`], and ends the highlight
    /// of a change from disk when its time is up. Returns true when the screen changed.
    pub fn tick(&mut self, ctl: &Controller, now: Instant) -> bool {
        let expired = self.expire_changes(ctl);
        if self
            .slots_read
            .is_some_and(|t| now.saturating_duration_since(t) < SLOT_REFRESH)
        {
            return expired;
        }
        let before = self.ui.slots.clone();
        self.refresh_slots(ctl);
        self.slots_read = Some(now);
        expired || before != self.ui.slots
    }

    /// Ends the highlight of a reload from disk once the file's version has played for
    /// [`HIGHLIGHT_BARS`] bars, or at once when the song is edited or another slot loaded.
    /// Returns true when it ended.
    fn expire_changes(&mut self, ctl: &Controller) -> bool {
        let Some(c) = &mut self.ui.changes else {
            return false;
        };
        let st = ctl.status();
        if c.applies_at.is_some() {
            // No longer queued: it plays now (or the transport stopped and it applied).
            if st.queued.is_none_or(|(s, _)| s != c.slot) {
                c.applies_at = None;
            }
        } else if st.running && c.heard_from.is_none_or(|b| st.bar < b) {
            // Heard from now on (it applied while stopped, or the transport restarted).
            c.heard_from = Some(st.bar);
        }
        let played = st.running
            && c.applies_at.is_none()
            && c.heard_from.is_some_and(|b| st.bar >= b + HIGHLIGHT_BARS);
        if played || (c.applies_at.is_none() && ctl.is_dirty()) || ctl.slot() != Some(c.slot) {
            self.ui.changes = None;
            return true;
        }
        false
    }

    /// Re-reads the slot list now.
    pub fn refresh_slots(&mut self, ctl: &Controller) {
        self.refresh_slots_at(ctl, SystemTime::now());
    }

    /// Re-reads the slot list, giving file ages relative to `now` (tests pass a fixed time).
    pub fn refresh_slots_at(&mut self, ctl: &Controller, now: SystemTime) {
        let list = match ctl.store().list() {
            Ok(list) => list,
            Err(e) => {
                self.ui.say(Level::Error, format!("slot list: {e}"));
                return;
            }
        };
        let mut rows = vec![None; SLOT_COUNT as usize];
        for info in list {
            let n = info.number.get();
            let changed = match &self.watcher {
                // Changed by someone else after Chronus last read or wrote it.
                Some(w) => w
                    .changed_slots()
                    .get(&info.number)
                    .is_some_and(|&g| g > self.acknowledged.get(&n).copied().unwrap_or(0)),
                None => *self.seen.entry(n).or_insert(info.modified) != info.modified,
            };
            rows[n as usize - 1] = Some(slot_row(&info, now, changed));
        }
        self.ui.slots = rows;
        self.slots_read = Some(Instant::now());
    }

    /// Forgets when a slot file was last seen: Chronus just read or wrote it, so its current
    /// state is not a "change on disk". The next refresh records the new time.
    fn forget_seen(&mut self, n: u8) {
        self.seen.remove(&n);
        if let Some(w) = &self.watcher {
            self.acknowledged.insert(n, w.generation());
        }
    }
}

fn slot_row(info: &SlotInfo, now: SystemTime, changed: bool) -> SlotRow {
    let age = now
        .duration_since(info.modified)
        .map(|d| format_age(d.as_secs()))
        .unwrap_or_else(|_| "now".into());
    SlotRow {
        name: info.name.clone(),
        bpm: info.bpm,
        tracks: info.tracks,
        age,
        error: info.error.clone(),
        changed,
    }
}

/// `[t]ake` when the key is the word's first letter, else `[<C-t>] take`.
fn mnemonic(key: &str, word: &str) -> String {
    match word.strip_prefix(key) {
        Some(rest) if key.chars().count() == 1 => format!("[{key}]{rest}"),
        _ => format!("[{key}] {word}"),
    }
}

/// A file age as a performer reads it: `12s`, `5m`, `3h`, `2d`, `7w`.
pub fn format_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        86_400..1_209_600 => format!("{}d", secs / 86_400),
        _ => format!("{}w", secs / 604_800),
    }
}

/// Steps the grid shows: the longest track rounded up to a bar, at least one bar.
pub fn grid_columns(ctl: &Controller) -> usize {
    columns_of(ctl.song())
}

/// Steps the grid shows for `song`.
pub fn columns_of(song: &crate::model::Slot) -> usize {
    let longest = song
        .sequencer
        .tracks
        .iter()
        .map(|t| t.pattern.chars().count())
        .max()
        .unwrap_or(0);
    longest.div_ceil(16).clamp(1, control::MAX_PATTERN / 16) * 16
}

/// The voice of the selected track (voice1 when there is none), within the running voices.
pub fn selected_voice(ui: &UiState, ctl: &Controller) -> u8 {
    let voices = ctl.voices().clamp(1, MAX_VOICES) as u8;
    ctl.song()
        .sequencer
        .tracks
        .get(ui.track)
        .and_then(Track::voice)
        .unwrap_or(1)
        .clamp(1, voices)
}

/// The parameter under the panel's cursor.
pub fn selected_param(ui: &UiState, ctl: &Controller) -> ParamId {
    let module = ui.panel_module(selected_voice(ui, ctl));
    let i = ui.param.min(module.params().len() - 1);
    module.param_id(i)
}

fn nudge_amount(spec: &ParamSpec, nudge: Nudge) -> f64 {
    let step = if nudge.is_coarse() {
        spec.coarse_step()
    } else {
        spec.fine_step()
    };
    nudge.sign() * step
}

/// `50–8000 Hz`
pub fn range_text(spec: &ParamSpec) -> String {
    let unit = if spec.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", spec.unit)
    };
    format!(
        "{}–{}{unit}",
        control::fmt_num(spec.min),
        control::fmt_num(spec.max)
    )
}

fn parse_in_range(text: &str, spec: &ParamSpec) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("\"{text}\" is not a number"))?;
    if !spec.in_range(v) {
        let whole = if spec.ty == crate::model::registry::ParamType::Int {
            "a whole number in "
        } else {
            ""
        };
        return Err(format!(
            "\"{text}\" is out of range: {} takes {whole}{}",
            spec.name,
            range_text(spec)
        ));
    }
    Ok(v)
}

/// `base` or `base2`, `base3`, … whichever no track uses yet.
fn free_name(tracks: &[Track], base: &str) -> String {
    let taken = |n: &str| tracks.iter().any(|t| t.name == n);
    let stem = base.trim_end_matches(|c: char| c.is_ascii_digit());
    let stem = if stem.is_empty() { base } else { stem };
    if !taken(base) && base != stem {
        return base.to_string();
    }
    (if stem == "track" { 1 } else { 2 }..)
        .map(|i| format!("{stem}{i}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_string())
}

/// The lowest voice no track plays; voice 1 when every voice is taken.
fn free_voice(tracks: &[Track], voices: usize) -> u8 {
    let voices = voices.clamp(1, MAX_VOICES) as u8;
    (1..=voices)
        .find(|v| !tracks.iter().any(|t| t.voice() == Some(*v)))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_names_count_up_from_the_copied_name() {
        let tracks = vec![
            Track::new("kick", "voice1", "X..."),
            Track::new("track1", "voice2", ""),
        ];
        assert_eq!(free_name(&tracks, "kick"), "kick2");
        assert_eq!(free_name(&tracks, "track"), "track2");
        assert_eq!(free_name(&tracks, "snare"), "snare2");
        assert_eq!(free_voice(&tracks, 8), 3);
    }

    #[test]
    fn ages_read_like_a_clock() {
        assert_eq!(format_age(5), "5s");
        assert_eq!(format_age(600), "10m");
        assert_eq!(format_age(3 * 3600 + 5), "3h");
        assert_eq!(format_age(2 * 86_400), "2d");
        assert_eq!(format_age(30 * 86_400), "4w");
    }

    #[test]
    fn typed_values_are_checked_against_the_registry() {
        let err = parse_in_range("9000", &seq_spec::BPM).unwrap_err();
        assert_eq!(err, "\"9000\" is out of range: bpm takes 30–300 BPM");
        assert_eq!(
            parse_in_range("abc", &seq_spec::BPM).unwrap_err(),
            "\"abc\" is not a number"
        );
        assert_eq!(parse_in_range("128.5", &seq_spec::BPM), Ok(128.5));
    }
}
