//! Slots: load (at once or at the next bar), queue, save, backups, revert, and the drafts
//! that keep each slot's unsaved edits (mirrored to `drafts/`).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::engine::{EngineMsg, LoadTiming, Scene};
use crate::model::slot::{Parsed, Slot, Warning};
use crate::store::worker::Job;
use crate::store::{SlotNumber, StoreError};

use super::undo::{LOAD_KEY, RedoEntry};
use super::{ControlError, Controller, DRAFT_DEBOUNCE, Level, Notice, Reply, describe, slot_tag};

/// A slot waiting for its bar: the song it brings, held apart from the playing one.
pub(super) struct Queued {
    pub(super) slot: SlotNumber,
    pub(super) song: Slot,
    pub(super) saved: Option<Slot>,
    pub(super) bar: u64,
    pub(super) from_disk: bool,
    /// Edits of the playing song were sent to the engine while this waited: once it applies,
    /// the engine gets this song again in case an edit crossed the switch.
    pub(super) edited: bool,
}

/// A song about to become the current one.
pub(super) struct Incoming {
    pub(super) slot: SlotNumber,
    pub(super) song: Slot,
    pub(super) saved: Option<Slot>,
    pub(super) from_disk: bool,
}

impl Incoming {
    /// A slot file's song: the file holds it, so it starts clean.
    fn from_file(slot: SlotNumber, song: Slot, from_disk: bool) -> Incoming {
        Incoming {
            slot,
            saved: Some(song.clone()),
            song,
            from_disk,
        }
    }
}

impl Controller {
    /// Reads `drafts/` into memory; drafts that do not load are reported and left alone, and
    /// drafts that hold what their slot file holds (a save finished, then Chronus was stopped
    /// before it removed the draft) are removed.
    pub(super) fn take_in_drafts(&mut self) {
        match self.store.drafts() {
            Ok(found) => {
                for (n, path, why) in found.unreadable {
                    self.notify(
                        Level::Warning,
                        format!(
                            "slot {n}: the draft {} does not load ({why}) — left as it is",
                            path.display()
                        ),
                    );
                }
                for (n, draft) in found.loaded {
                    if self
                        .file_song(n)
                        .is_some_and(|f| super::same_content(f, &draft))
                    {
                        self.remove_draft(n);
                    } else {
                        self.drafts.insert(n, draft);
                    }
                }
            }
            Err(e) => self.notify(Level::Warning, format!("drafts: {e}")),
        }
    }

    /// What loading `slot` brings: the current song when it is that slot's unsaved edit,
    /// its draft when it has one, else its file.
    pub(super) fn load(&mut self, slot: SlotNumber, immediate: bool, now: Instant) -> Reply {
        if self.slot == Some(slot) && self.is_dirty() {
            let mut msg = format!(
                "slot {slot} keeps its unsaved edits (revert drops them, save writes them)"
            );
            if let Some(q) = self.queued.take() {
                self.link.send(EngineMsg::CancelQueued);
                self.status.queued = None;
                msg = format!("slot {} no longer queued — {msg}", q.slot);
            }
            return Ok(Some(msg));
        }
        if let Some(draft) = self.drafts.get(&slot).cloned() {
            return self.load_draft(slot, draft, immediate, now);
        }
        let parsed = match self.file_for_load(slot) {
            Ok(p) => p,
            Err(error @ StoreError::Slot { .. }) => return Err(self.corrupt(slot, error)),
            Err(e) => return Err(e.into()),
        };
        let incoming = Incoming::from_file(slot, parsed.slot, false);
        let reply = self.queue(incoming, &parsed.warnings, immediate, now)?;
        self.acknowledge_file(slot);
        Ok(reply)
    }

    /// Loads a slot's draft (its unsaved edits of an earlier load or run).
    fn load_draft(
        &mut self,
        slot: SlotNumber,
        draft: Slot,
        immediate: bool,
        now: Instant,
    ) -> Reply {
        let saved = self.file_for_load(slot).ok().map(|p| p.slot);
        let incoming = Incoming {
            slot,
            song: draft,
            saved,
            from_disk: false,
        };
        let msg = self.queue(incoming, &[], immediate, now)?;
        let restored = format!(
            "slot {slot}: restored unsaved edits from {}",
            crate::store::drafts::draft_label(slot)
        );
        Ok(Some(match msg {
            Some(m) => format!("{restored} — {m}"),
            None => restored,
        }))
    }

    /// A slot file that does not load: point at its newest valid backup when it has one.
    pub(super) fn corrupt(&self, slot: SlotNumber, error: StoreError) -> ControlError {
        match self.store.load_backup_fallback(slot) {
            Ok(Some((backup, _))) => ControlError::Corrupt {
                slot,
                error,
                backup,
            },
            _ => ControlError::Store(error),
        }
    }

    /// Loads the newest valid backup of a slot at the next bar. The slot file does not hold
    /// this song: it stays unsaved until saved.
    pub(super) fn load_backup(&mut self, slot: SlotNumber, now: Instant) -> Reply {
        if self.prepared_with_edits(slot) {
            // Once it plays, the prepared edits win over what was loaded (they are the newest
            // work): the backup would never be heard.
            return Err(ControlError::BackupOfPrepared(slot));
        }
        let Some((backup, parsed)) = self.store.load_backup_fallback(slot)? else {
            return Err(ControlError::NoBackup { slot });
        };
        let incoming = Incoming {
            slot,
            song: parsed.slot,
            saved: None,
            from_disk: false,
        };
        self.queue(incoming, &parsed.warnings, false, now)?;
        Ok(Some(format!(
            "slot {slot}: loaded its backup {} — save to replace the slot file",
            backup.display()
        )))
    }

    /// Queues a slot whose file changed on disk for the next bar.
    pub(super) fn queue_parsed(&mut self, slot: SlotNumber, parsed: Parsed, now: Instant) -> Reply {
        let incoming = Incoming::from_file(slot, parsed.slot, true);
        self.queue(incoming, &parsed.warnings, false, now)
    }

    /// Hands `incoming` to the engine: at once (or at the next bar while stopped) it becomes
    /// the song now; while running it waits apart for its bar.
    pub(super) fn queue(
        &mut self,
        incoming: Incoming,
        warnings: &[Warning],
        immediate: bool,
        now: Instant,
    ) -> Reply {
        self.warn_loading(&incoming, warnings);
        let scene = Box::new(Scene::from_slot_routed(
            &incoming.song,
            self.voices,
            &mut self.midi_ports,
        ));
        if immediate || !self.status.running {
            self.load_now(incoming, scene, immediate, now)
        } else {
            self.wait_for_bar(incoming, scene)
        }
    }

    /// The song changes now: the engine plays it at once, or from bar 0 once started.
    fn load_now(
        &mut self,
        incoming: Incoming,
        scene: Box<Scene>,
        immediate: bool,
        now: Instant,
    ) -> Reply {
        if self.queued.take().is_some() || self.status.queued.take().is_some() {
            self.link.send(EngineMsg::CancelQueued);
        }
        let timing = if immediate {
            LoadTiming::Immediate
        } else {
            LoadTiming::NextBar
        };
        let slot = incoming.slot;
        self.link.send(EngineMsg::Load {
            scene,
            timing,
            slot: slot_tag(Some(slot)),
        });
        let name = incoming.song.metadata.name.clone();
        self.switch_to(incoming, now);
        self.status.playing_bpm = self.song.sequencer.bpm;
        Ok(Some(format!("slot {slot} {name:?} loaded")))
    }

    /// The song waits apart until the next bar, while the playing one stays editable.
    fn wait_for_bar(&mut self, incoming: Incoming, scene: Box<Scene>) -> Reply {
        let slot = incoming.slot;
        self.link.send(EngineMsg::Load {
            scene,
            timing: LoadTiming::NextBar,
            slot: slot_tag(Some(slot)),
        });
        // The engine confirms the exact bar; predict it so the screen can say it now.
        let bar = if self.status.fresh {
            0
        } else {
            self.status.bar + 1
        };
        let notice = Notice::SlotQueued {
            slot,
            bar,
            from_disk: incoming.from_disk,
        };
        let msg = describe(&notice, Some(&incoming.song.metadata.name));
        self.queued = Some(Queued {
            slot,
            song: incoming.song,
            saved: incoming.saved,
            bar,
            from_disk: incoming.from_disk,
            edited: false,
        });
        self.status.queued = Some((slot, bar));
        self.notices.push_back(notice);
        self.prepared_queued(slot);
        Ok(msg)
    }

    /// Reports what the loader adjusted, and tracks whose voice the engine does not run.
    fn warn_loading(&mut self, incoming: &Incoming, warnings: &[Warning]) {
        let slot = incoming.slot;
        for w in warnings {
            self.notify(Level::Warning, format!("slot {slot}: {w}"));
        }
        let voices = self.voices;
        for t in &incoming.song.sequencer.tracks {
            // Say it once: the loader may have reported this track's voice already.
            let reported = warnings
                .iter()
                .any(|w| w.path.ends_with(".voice_id") && w.path.contains(t.name.as_str()));
            if !reported && t.voice().is_none_or(|v| v as usize > voices) {
                self.notify(
                    Level::Warning,
                    format!(
                        "slot {slot}: track {:?} plays {} but {voices} voices run — it stays silent",
                        t.name, t.voice_id
                    ),
                );
            }
        }
    }

    /// Makes `incoming` the song (one undo step). The outgoing slot's unsaved edits become its
    /// draft.
    pub(super) fn switch_to(&mut self, incoming: Incoming, now: Instant) {
        let before = self.song.clone();
        self.push_undo(before, Some(LOAD_KEY), now);
        self.redo.clear();
        self.restore(Some(incoming.slot), incoming.song, incoming.saved);
    }

    /// Puts a song in place (a load, undo or redo) and tells the engine what changed; when the
    /// slot changes, the outgoing slot's unsaved edits are kept as its draft. Returns what was
    /// there before.
    pub(super) fn restore(
        &mut self,
        slot: Option<SlotNumber>,
        mut song: Slot,
        mut saved: Option<Slot>,
    ) -> RedoEntry {
        if self.slot != slot
            && let Some(n) = slot
            && let Some((newer, its_file)) = self.prepared_plays(n, &song)
        {
            song = newer;
            saved = its_file;
        }
        if self.slot != slot {
            self.keep_outgoing_draft();
            self.draft_written = None;
            // Mutes waiting for the bar were asked of the outgoing song's tracks, not of
            // tracks of the same name in another slot.
            self.pending_mutes.clear();
            if let Some(n) = slot
                && let Some(draft) = self.drafts.remove(&n)
            {
                // Its draft file stays as written until the next flush says otherwise.
                self.draft_written = Some((n, draft));
            }
        } else if let Some(n) = slot
            && !self.offstage
        {
            // A prepared song's draft is kept by `mirror_prepared`, which removes its file
            // too once no edits are left (an undo or revert of all of them).
            self.drafts.remove(&n);
        }
        let old_song = std::mem::replace(&mut self.song, song);
        let old_slot = std::mem::replace(&mut self.slot, slot);
        let old_saved = std::mem::replace(&mut self.saved, saved);
        self.sync(&old_song);
        RedoEntry {
            song: old_song,
            slot: old_slot,
            saved: old_saved,
            label: self.edit_label.clone(),
        }
    }

    /// The current slot is being left: its unsaved edits become its draft (or its draft goes).
    fn keep_outgoing_draft(&mut self) {
        let Some(out) = self.slot else {
            return;
        };
        if self.is_dirty() {
            self.drafts.insert(out, self.song.clone());
            self.write_draft(out);
        } else {
            self.drafts.remove(&out);
            self.remove_draft(out);
        }
    }

    /// Starts a new, empty song in the first slot with no file and no draft (one undo step;
    /// the outgoing slot's unsaved edits become its draft). The song keeps the tempo.
    pub(super) fn new_song(&mut self, now: Instant) -> Reply {
        let free = (1..=crate::store::SLOT_COUNT)
            .filter_map(|n| SlotNumber::new(n).ok())
            .find(|&n| {
                !self.has_file(n)
                    && !self.has_draft(n)
                    && self.slot != Some(n)
                    && !self.is_prepared(n)
            })
            .ok_or(ControlError::NoEmptySlot)?;
        let mut song = Slot::default();
        song.sequencer.bpm = self.song.sequencer.bpm;
        song.metadata.name = format!("Pattern {free}");
        // It replaces a slot waiting for the bar, as a load now does.
        if self.queued.take().is_some() || self.status.queued.take().is_some() {
            self.link.send(EngineMsg::CancelQueued);
        }
        // Clean until edited, like a slot whose file is missing: leaving it untouched
        // leaves no draft behind.
        self.switch_to(Incoming::from_file(free, song, false), now);
        self.link.send(EngineMsg::ReleaseAll);
        Ok(Some(format!("new empty song in slot {free}")))
    }

    /// Drops the current slot's unsaved edits and puts its file's version back (one undo step,
    /// so undo brings the edits back).
    pub(super) fn revert(&mut self, now: Instant) -> Reply {
        let Some(slot) = self.slot else {
            return Err(ControlError::NoSlotToRevert);
        };
        if !self.is_dirty() {
            return Ok(Some(format!("slot {slot} has no unsaved edits")));
        }
        let parsed = self.file_for_load(slot)?;
        let before = self.song.clone();
        self.push_undo(before, Some(LOAD_KEY), now);
        self.redo.clear();
        // The file's mutes are back: nothing is kept for the next save.
        self.keep_mutes.remove(&Some(slot));
        self.restore(Some(slot), parsed.slot.clone(), Some(parsed.slot));
        self.flush_draft_at(now, true);
        Ok(Some(format!(
            "slot {slot}: unsaved edits dropped, the file's version is back (undo brings them back)"
        )))
    }

    pub(super) fn write_draft(&mut self, n: SlotNumber) {
        let song = if self.slot == Some(n) {
            &self.song
        } else if let Some(d) = self.drafts.get(&n) {
            d
        } else {
            return;
        };
        let song = Box::new(song.clone());
        // One write per slot on the way: edits made meanwhile are written when it reports.
        if self.disk.draft_jobs.start(n) {
            self.worker.submit(Job::WriteDraft { slot: n, song });
        }
    }

    pub(super) fn remove_draft(&mut self, n: SlotNumber) {
        self.disk.draft_jobs.always(n);
        self.worker.submit(Job::RemoveDraft(n));
    }

    /// Mirrors the current slot's unsaved edits to its draft file now (and removes the file
    /// when there are none), so a crash loses nothing. Quitting calls it.
    pub fn flush_drafts(&mut self) {
        self.flush_draft_at(Instant::now(), true);
    }

    /// Writes the current slot's draft file when its edits changed since the last write and
    /// [`DRAFT_DEBOUNCE`] has passed (or `force`); removes it when the song is clean again.
    /// Returns true when it wrote or removed a file.
    pub fn flush_draft_at(&mut self, now: Instant, force: bool) -> bool {
        let want = self.slot.filter(|_| self.is_dirty());
        match (want, &self.draft_written) {
            (Some(n), Some((m, w))) if *m == n && *w == self.song => false,
            (Some(n), _) => {
                if !force
                    && self
                        .draft_at
                        .is_some_and(|t| now.saturating_duration_since(t) < DRAFT_DEBOUNCE)
                {
                    return false;
                }
                self.write_draft(n);
                self.draft_written = Some((n, self.song.clone()));
                self.draft_at = Some(now);
                true
            }
            (None, Some((m, _))) => {
                let m = *m;
                if !self.drafts.contains_key(&m) {
                    self.remove_draft(m);
                }
                self.draft_written = None;
                true
            }
            (None, None) => false,
        }
    }

    /// Saves the song to `slot` on the disk thread; without `force`, refuses to overwrite
    /// another slot whose file holds a different pattern. The result comes back as
    /// [`Notice::Saved`] or [`Notice::SaveFailed`], which makes `slot` the current one.
    pub(super) fn save(&mut self, slot: SlotNumber, force: bool) -> Reply {
        if self.slot != Some(slot) && self.is_prepared(slot) {
            return Err(ControlError::SlotPrepared(slot));
        }
        if !force
            && self.slot != Some(slot)
            && let Some(existing) = self.file_song(slot)
            && existing.sequencer.tracks != self.song.sequencer.tracks
        {
            return Err(ControlError::WouldOverwrite(
                slot,
                existing.metadata.name.clone(),
            ));
        }
        crate::model::limits::SAVES_IN_FLIGHT.check(self.disk.pending_saves.len() + 1)?;
        let song = self.stamped_song();
        let refuse_other = !force && self.slot != Some(slot);
        self.submit_save(slot, song, refuse_other);
        Ok(None)
    }

    /// The song as a save writes it: stamped with the time and the voice count (the transport
    /// position is runtime state, not part of the song).
    fn stamped_song(&self) -> Slot {
        let mut song = self.song.clone();
        if !self.keeps_mutes() {
            // Mutes and solos are performance state: the file keeps the ones it has.
            let file = self.saved.clone().unwrap_or_default();
            for t in &mut song.sequencer.tracks {
                t.muted = false;
                t.solo = false;
            }
            super::carry_mutes(&file, &mut song);
        }
        stamp(&mut song, self.voices);
        song
    }
}

/// Stamps a song about to be saved with the time and the voice count.
pub(super) fn stamp(song: &mut Slot, voices: usize) {
    song.timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0);
    song.voice_modules = song.voice_modules.max(voices);
}
