//! Preparing a slot that does not play: the performer edits the next pattern while another
//! plays. The prepared song is edited apart from the one that plays — its own undo and redo,
//! its unsaved edits kept as the slot's draft (mirrored to `drafts/`, so nothing is lost) —
//! and nothing of it reaches the engine. Queueing it brings it in at the next bar with every
//! edit, and its undo history joins the playing song's once it plays.
//!
//! The song edits themselves are the same handlers as for the playing song: while one runs
//! on the prepared song, that song, its slot, file version and history are swapped into the
//! controller's place and the engine is told nothing ([`Controller::offstage`]).

use std::collections::VecDeque;
use std::time::Instant;

use crate::model::slot::Slot;
use crate::store::{SlotNumber, StoreError};

use super::slots::Incoming;
use super::undo::{RedoEntry, UNDO_LIMIT, UndoEntry};
use super::{Command, ControlError, Controller, Level, Reply, same_content};

/// A slot being prepared (or prepared and queued, until it plays).
pub(super) struct Prepared {
    pub(super) slot: SlotNumber,
    pub(super) song: Slot,
    /// What its file holds (`None`: the file does not hold this song at all).
    pub(super) saved: Option<Slot>,
    pub(super) undo: VecDeque<UndoEntry>,
    pub(super) redo: Vec<RedoEntry>,
    /// The screen edits it (false once queued: it waits to play, its history kept).
    pub(super) shown: bool,
}

impl Prepared {
    fn is_dirty(&self) -> bool {
        self.saved
            .as_ref()
            .is_none_or(|saved| !same_content(&self.song, saved))
    }
}

/// The slot being prepared, as a frontend shows it.
#[derive(Debug, Clone, Copy)]
pub struct PreparedView<'a> {
    /// Which slot.
    pub slot: SlotNumber,
    /// Its `metadata.name`.
    pub name: &'a str,
    /// Its song as edited.
    pub song: &'a Slot,
    /// True when it differs from its slot file (its edits are in its draft).
    pub dirty: bool,
}

impl Command {
    /// True for the commands that act on the prepared slot while it is being edited: song
    /// edits, undo, redo, revert and saving it. Transport, mutes, loads and the rest act on
    /// what plays.
    pub fn acts_on_prepared(&self) -> bool {
        match self {
            Command::NewSong | Command::OnPrepared(_) => false,
            Command::SaveSlot { .. } => true,
            c => c.is_edit(),
        }
    }
}

impl Controller {
    /// The slot being prepared (edited while another plays), while the screen edits it.
    pub fn prepared(&self) -> Option<PreparedView<'_>> {
        self.prepared
            .as_ref()
            .filter(|p| p.shown)
            .map(|p| PreparedView {
                slot: p.slot,
                name: &p.song.metadata.name,
                song: &p.song,
                dirty: p.is_dirty(),
            })
    }

    /// The song the edits of a frontend showing the edited song reach: the prepared slot's
    /// while one is prepared, else the one that plays.
    pub fn edited(&self) -> &Slot {
        self.prepared().map_or(&self.song, |p| p.song)
    }

    /// The slot of [`Controller::edited`].
    pub fn edited_slot(&self) -> Option<SlotNumber> {
        self.prepared().map_or(self.slot, |p| Some(p.slot))
    }

    /// Applies `cmd` to the edited song: to the prepared slot while one is prepared and the
    /// command acts on it ([`Command::acts_on_prepared`]), else as [`Controller::apply`].
    pub fn apply_edited(&mut self, cmd: Command) -> Reply {
        if self.prepared().is_some() && matches!(cmd, Command::Mute { .. } | Command::Solo { .. }) {
            // The track was picked on the prepared song: a track of the same name in what
            // plays is another track.
            return Err(ControlError::MuteOnPrepared);
        }
        if self.prepared().is_some() && cmd.acts_on_prepared() {
            self.apply(Command::OnPrepared(Box::new(cmd)))
        } else {
            self.apply(cmd)
        }
    }

    /// Opens slot `n` to prepare it (its draft when it has one, else its file, else a new
    /// empty song for it), or with `None` goes back to editing what plays.
    pub(super) fn prepare(&mut self, n: Option<SlotNumber>) -> Reply {
        let Some(n) = n else {
            return Ok(match self.prepared.as_mut().filter(|p| p.shown) {
                Some(p) => {
                    p.shown = false;
                    let tail = if p.is_dirty() {
                        " (its edits are kept as its draft)"
                    } else {
                        ""
                    };
                    Some(format!(
                        "back to what plays; slot {} set aside{tail}",
                        p.slot
                    ))
                }
                None => Some("editing what plays".into()),
            });
        };
        if self.slot == Some(n) {
            if let Some(p) = self.prepared.as_mut() {
                p.shown = false;
            }
            return Ok(Some(format!("slot {n} plays now: editing what plays")));
        }
        if let Some(q) = self.queued.as_ref().filter(|q| q.slot == n) {
            return Err(ControlError::PrepareQueued {
                slot: n,
                bar: q.bar,
            });
        }
        if let Some(p) = self.prepared.as_mut().filter(|p| p.slot == n) {
            p.shown = true;
            return Ok(Some(prepare_message(n, &p.song.metadata.name)));
        }
        let (song, saved) = self.prepared_song(n)?;
        let msg = prepare_message(n, &song.metadata.name);
        self.prepared = Some(Prepared {
            slot: n,
            song,
            saved,
            undo: VecDeque::new(),
            redo: Vec::new(),
            shown: true,
        });
        Ok(Some(msg))
    }

    /// What preparing slot `n` starts from: its draft, its file, or a new empty song (a slot
    /// with no file); a file that does not load is refused, pointing at its backup.
    fn prepared_song(&self, n: SlotNumber) -> Result<(Slot, Option<Slot>), ControlError> {
        let file = self.file_for_load(n);
        if let Some(draft) = self.drafts.get(&n) {
            return Ok((draft.clone(), file.ok().map(|p| p.slot)));
        }
        match file {
            Ok(p) => Ok((p.slot.clone(), Some(p.slot))),
            Err(StoreError::Missing { .. }) => {
                // Clean until edited, like a new song: leaving it untouched leaves nothing.
                let mut song = Slot::default();
                song.sequencer.bpm = self.song.sequencer.bpm;
                song.metadata.name = format!("Pattern {n}");
                Ok((song.clone(), Some(song)))
            }
            Err(error @ StoreError::Slot { .. }) => Err(self.corrupt(n, error)),
            Err(e) => Err(e.into()),
        }
    }

    /// Queues the prepared slot with its edits: at the next bar while playing (at once when
    /// `immediate`, or when stopped). The screen goes back to what plays.
    pub(super) fn queue_prepared(&mut self, immediate: bool, now: Instant) -> Reply {
        let p = self
            .prepared
            .as_mut()
            .filter(|p| p.shown)
            .ok_or(ControlError::NotPreparing)?;
        p.shown = false;
        let incoming = Incoming {
            slot: p.slot,
            song: p.song.clone(),
            saved: p.saved.clone(),
            from_disk: false,
        };
        self.queue(incoming, &[], immediate, now)
    }

    /// Runs a command on the prepared song.
    pub(super) fn on_prepared(&mut self, cmd: Command, now: Instant) -> Reply {
        let n = self.prepared().ok_or(ControlError::NotPreparing)?.slot;
        if !cmd.acts_on_prepared() {
            return Err(ControlError::NotForPrepared(cmd.undo_label()));
        }
        let reply = match cmd {
            Command::SaveSlot { slot, .. } if slot != n => {
                return Err(ControlError::PreparedSavesOwnSlot(n));
            }
            Command::SaveSlot { .. } => self.save_prepared(),
            cmd => self.offstage(|c| c.dispatch(cmd, now)),
        };
        self.mirror_prepared();
        reply.map(|m| m.map(|text| format!("slot {n} (not playing): {text}")))
    }

    /// Runs `f` with the prepared song, its slot, file version and history in place of the
    /// playing song's, telling the engine nothing.
    fn offstage(&mut self, f: impl FnOnce(&mut Controller) -> Reply) -> Reply {
        let Some(mut p) = self.prepared.take() else {
            return Err(ControlError::NotPreparing);
        };
        let playing = self.slot.replace(p.slot);
        // The playing slot's draft bookkeeping is its own: a revert of the prepared song
        // flushes against none, so the playing slot's draft file is left as it is.
        let written = self.draft_written.take();
        self.swap_prepared(&mut p);
        self.offstage = true;
        let reply = f(self);
        self.offstage = false;
        self.swap_prepared(&mut p);
        self.slot = playing;
        self.draft_written = written;
        self.prepared = Some(p);
        reply
    }

    fn swap_prepared(&mut self, p: &mut Prepared) {
        std::mem::swap(&mut self.song, &mut p.song);
        std::mem::swap(&mut self.saved, &mut p.saved);
        std::mem::swap(&mut self.undo, &mut p.undo);
        std::mem::swap(&mut self.redo, &mut p.redo);
    }

    /// Saves the prepared song to its own slot on the disk thread.
    fn save_prepared(&mut self) -> Reply {
        let p = self.prepared.as_ref().ok_or(ControlError::NotPreparing)?;
        crate::model::limits::SAVES_IN_FLIGHT.check(self.disk.pending_saves.len() + 1)?;
        let (slot, mut song) = (p.slot, p.song.clone());
        super::slots::stamp(&mut song, self.voices);
        self.submit_save_of(slot, song, false, true);
        Ok(None)
    }

    /// Keeps the slot's draft equal to the prepared song's unsaved edits (none: no draft).
    pub(super) fn mirror_prepared(&mut self) {
        let Some(p) = self.prepared.as_ref() else {
            return;
        };
        let n = p.slot;
        if p.is_dirty() {
            if self.drafts.get(&n) != Some(&p.song) {
                self.drafts.insert(n, p.song.clone());
                self.write_draft(n);
            }
        } else if self.drafts.remove(&n).is_some() {
            self.remove_draft(n);
        }
    }

    /// A save of the prepared slot is on disk: its edits are saved.
    pub(super) fn saved_prepared(&mut self, slot: SlotNumber, song: &Slot) {
        if let Some(p) = self.prepared.as_mut().filter(|p| p.slot == slot) {
            p.song.timestamp = song.timestamp;
            p.song.voice_modules = song.voice_modules;
            p.saved = Some(song.clone());
        }
        self.mirror_prepared();
    }

    /// The undo and redo steps of the prepared slot compare with what its file holds now.
    pub(super) fn prepared_saved_everywhere(&mut self, slot: SlotNumber, song: &Slot) {
        if let Some(p) = self.prepared.as_mut() {
            for e in p.undo.iter_mut().filter(|e| e.slot == Some(slot)) {
                e.saved = Some(song.clone());
            }
            for e in p.redo.iter_mut().filter(|e| e.slot == Some(slot)) {
                e.saved = Some(song.clone());
            }
        }
    }

    /// Slot `n`'s file changed on disk (another program): a prepared song with no edits shows
    /// the new version; one with edits keeps them, and a save overwrites the file.
    pub(super) fn prepared_file_changed(&mut self, n: SlotNumber) {
        let file = self.file_song(n).cloned();
        let Some(p) = self.prepared.as_mut().filter(|p| p.slot == n) else {
            return;
        };
        let Some(file) = file else {
            return;
        };
        let text = if p.is_dirty() {
            p.saved = Some(file);
            format!(
                "slot {n} changed on disk under its prepared edits: they are kept (save overwrites the file, revert takes its version)"
            )
        } else {
            p.song = file.clone();
            p.saved = Some(file);
            p.undo.clear();
            p.redo.clear();
            format!("slot {n} changed on disk: the prepared slot shows the new version")
        };
        self.notify(Level::Info, text);
        self.mirror_prepared();
    }

    /// Slot `n`'s file was removed: a song prepared for it is now unsaved (kept as a draft).
    pub(super) fn prepared_file_removed(&mut self, n: SlotNumber) {
        if let Some(p) = self.prepared.as_mut().filter(|p| p.slot == n) {
            p.saved = None;
        }
        self.mirror_prepared();
    }

    /// Slot `n` was queued for the bar: a song prepared for it waits with it (its edits are
    /// in what was queued) and the screen goes back to what plays.
    pub(super) fn prepared_queued(&mut self, n: SlotNumber) {
        if let Some(p) = self.prepared.as_mut().filter(|p| p.slot == n && p.shown) {
            p.shown = false;
            self.notify(
                Level::Info,
                format!("slot {n} is queued with its prepared edits: back to what plays"),
            );
        }
    }

    /// Slot `n` becomes the one that plays: a song prepared for it joins the playing song's
    /// history. Returns the prepared song and its file version when it holds edits newer than
    /// `song` (they win: the performer's last work is never dropped).
    pub(super) fn prepared_plays(
        &mut self,
        n: SlotNumber,
        song: &Slot,
    ) -> Option<(Slot, Option<Slot>)> {
        let p = self.prepared.take_if(|p| p.slot == n)?;
        let newer = (p.is_dirty() && p.song != *song).then(|| (p.song.clone(), p.saved.clone()));
        self.undo.extend(p.undo);
        while self.undo.len() > UNDO_LIMIT {
            self.undo.pop_front();
        }
        newer
    }

    /// True when slot `n` is prepared with edits its file does not hold.
    pub(super) fn prepared_with_edits(&self, n: SlotNumber) -> bool {
        self.prepared
            .as_ref()
            .is_some_and(|p| p.slot == n && p.is_dirty())
    }

    /// True when slot `n` is held by a prepared song (new songs and saves of the playing song
    /// leave it alone).
    pub(super) fn is_prepared(&self, n: SlotNumber) -> bool {
        self.prepared.as_ref().is_some_and(|p| p.slot == n)
    }
}

fn prepare_message(n: SlotNumber, name: &str) -> String {
    format!("preparing slot {n} {name:?}: edits are not heard until it is queued")
}
