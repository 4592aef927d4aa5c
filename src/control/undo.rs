//! Undo and redo. Time is passed in: edits with the same key closer together than
//! [`COALESCE`] are one undo step (holding a key down on a parameter is one edit).

use std::time::{Duration, Instant};

use crate::engine::EngineMsg;
use crate::model::slot::Slot;
use crate::store::SlotNumber;

use super::{ControlError, Controller, Reply};

/// Undo steps kept; the oldest go first.
pub(super) const UNDO_LIMIT: usize = 500;
/// Undo key of a slot load (never merged with another step).
pub(super) const LOAD_KEY: &str = "\u{0}load";
/// Undo steps with the same key closer together than this are one step.
const COALESCE: Duration = Duration::from_secs(1);

/// A state to go back to on undo.
pub(super) struct UndoEntry {
    pub(super) before: Slot,
    pub(super) slot: Option<SlotNumber>,
    /// The file content `before` was compared with (what "dirty" meant then).
    pub(super) saved: Option<Slot>,
    pub(super) key: Option<String>,
    /// What the step changed ("tempo", "step 3 of kick").
    pub(super) label: String,
    pub(super) at: Instant,
}

/// A state to go back to on redo.
pub(super) struct RedoEntry {
    pub(super) song: Slot,
    pub(super) slot: Option<SlotNumber>,
    pub(super) saved: Option<Slot>,
    pub(super) label: String,
}

impl Controller {
    /// Runs an edit of the song: remembers the state for undo, then sends the engine what
    /// changed. Edits with the same `coalesce` key within [`COALESCE`] form one undo step.
    /// While a slot is queued, edits go to the playing song and are heard until the bar.
    pub(super) fn edit(
        &mut self,
        now: Instant,
        coalesce: Option<&str>,
        f: impl FnOnce(&mut Slot) -> Reply,
    ) -> Reply {
        let before = self.song.clone();
        // A refused edit changes nothing, whatever it did before it found the problem.
        let msg = match f(&mut self.song) {
            Ok(msg) => msg,
            Err(e) => {
                self.song = before;
                return Err(e);
            }
        };
        if self.song == before {
            return Ok(msg);
        }
        let merge = match (coalesce, self.undo.back()) {
            (Some(k), Some(last)) => {
                k != LOAD_KEY
                    && last.key.as_deref() == Some(k)
                    && now.saturating_duration_since(last.at) < COALESCE
            }
            _ => false,
        };
        if merge {
            if let Some(last) = self.undo.back_mut() {
                last.at = now;
                last.label.clone_from(&self.edit_label);
            }
        } else {
            self.push_undo(before.clone(), coalesce, now);
        }
        self.redo.clear();
        if !self.offstage
            && let Some(q) = self.queued.as_mut()
        {
            q.edited = true;
        }
        self.sync(&before);
        Ok(msg)
    }

    pub(super) fn push_undo(&mut self, before: Slot, key: Option<&str>, now: Instant) {
        self.undo.push_back(UndoEntry {
            before,
            slot: self.slot,
            saved: self.saved.clone(),
            key: key.map(str::to_string),
            label: self.edit_label.clone(),
            at: now,
        });
        if self.undo.len() > UNDO_LIMIT {
            self.undo.pop_front();
        }
    }

    /// Undoes the newest intent: a load still waiting for its bar, else the last edit.
    pub(super) fn undo(&mut self) -> Reply {
        // A chain's next entry or a one-shot's slot is not the performer's intent to undo.
        if !self.offstage
            && !self.queued_by_chain()
            && let Some(q) = self.queued.take()
        {
            // The load never happens.
            self.link.send(EngineMsg::CancelQueued);
            self.status.queued = None;
            return Ok(Some(format!("slot {} no longer queued", q.slot)));
        }
        let entry = self
            .undo
            .pop_back()
            .ok_or(ControlError::NothingTo("undo"))?;
        let song = self.keeping_mutes(entry.slot, entry.before);
        let mut current = self.restore(entry.slot, song, entry.saved);
        current.label.clone_from(&entry.label);
        self.redo.push(current);
        Ok(Some(format!("undone: {}", entry.label)))
    }

    pub(super) fn redo(&mut self, now: Instant) -> Reply {
        let next = self.redo.pop().ok_or(ControlError::NothingTo("redo"))?;
        let song = self.keeping_mutes(next.slot, next.song);
        let before = self.restore(next.slot, song, next.saved);
        self.undo.push_back(UndoEntry {
            before: before.song,
            slot: before.slot,
            saved: before.saved,
            key: None,
            label: next.label.clone(),
            at: now,
        });
        Ok(Some(format!("redone: {}", next.label)))
    }

    /// Mutes and solos are not undone: a step back within the same slot keeps them as the
    /// performer has them now.
    fn keeping_mutes(&self, slot: Option<SlotNumber>, mut song: Slot) -> Slot {
        if slot == self.slot {
            super::carry_mutes(&self.song, &mut song);
        }
        song
    }
}
