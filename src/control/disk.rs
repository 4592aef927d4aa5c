//! The slot files as the controller knows them: the slot list, which files changed on disk,
//! which do not load, and the hot reload of the playing slot — all from the disk thread's
//! [`Report`]s, so the control loop itself never touches a file for them.
//!
//! What happens when a slot file changed depends on the slot:
//! - the playing slot, valid: queued for the next bar, with a [`SlotDiff`] of what changed
//!   ([`Notice::DiskReloaded`]);
//! - the playing slot, broken: the error is shown and the last good version keeps playing;
//! - the playing slot while the song has unsaved edits: a conflict the performer settles with
//!   [`Command::ResolveConflict`](super::Command::ResolveConflict);
//! - any other slot: marked as changed on disk in the slot list.
//!
//! Content is compared by hash, so Chronus's own saves (whose reports always come first: one
//! disk thread, one queue), saves that change nothing and repeated events are all ignored.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use crate::model::diff::diff;
use crate::model::slot::{Parsed, Slot};
use crate::store::worker::{Job, Report, SlotFile};
use crate::store::{SaveInfo, SlotInfo, SlotNumber, StoreError};

use super::{Controller, Level, Notice, Reply};

/// The playing slot's file changed while the song had unsaved edits.
#[derive(Debug)]
pub(super) struct Conflict {
    pub(super) slot: SlotNumber,
    pub(super) parsed: Box<Parsed>,
}

/// A save given to the disk thread, waiting for its report.
#[derive(Debug)]
pub(super) struct PendingSave {
    /// Its number, told in the notices that end it.
    pub(super) id: u64,
    /// The slot it writes.
    pub(super) slot: SlotNumber,
    /// The slot the song was in when the save was asked for.
    pub(super) from: Option<SlotNumber>,
    /// It saves the prepared slot (not the song that plays).
    pub(super) prepared: bool,
}

/// Jobs that are worth doing once at a time per key: while one is with the disk thread,
/// asking again only marks it to be done again when it reports. So a flood of edits or of
/// file events keeps at most one draft write and one read per slot on the way, and the last
/// state always reaches the disk.
#[derive(Debug)]
pub(super) struct OneAtATime<K> {
    busy: BTreeMap<K, u32>,
    again: std::collections::BTreeSet<K>,
}

impl<K> Default for OneAtATime<K> {
    fn default() -> Self {
        OneAtATime {
            busy: BTreeMap::new(),
            again: std::collections::BTreeSet::new(),
        }
    }
}

impl<K: Ord + Copy> OneAtATime<K> {
    /// True when the job is to be given now; false when one is on the way (it is done again
    /// when that one reports).
    pub(super) fn start(&mut self, k: K) -> bool {
        if self.busy.contains_key(&k) {
            self.again.insert(k);
            return false;
        }
        self.busy.insert(k, 1);
        true
    }

    /// A job for `k` that goes now whatever is on the way (and makes a repeat moot).
    pub(super) fn always(&mut self, k: K) {
        self.again.remove(&k);
        *self.busy.entry(k).or_default() += 1;
    }

    /// A job for `k` reported; true when it is to be done again now.
    pub(super) fn done(&mut self, k: K) -> bool {
        match self.busy.get_mut(&k) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                self.busy.remove(&k);
                self.again.remove(&k)
            }
            None => false,
        }
    }
}

/// What the controller knows of the slot files (kept up to date by the disk thread).
#[derive(Debug, Default)]
pub(super) struct DiskState {
    pub(super) files: BTreeMap<SlotNumber, SlotFile>,
    /// Slots whose file was changed by another program since Chronus last read or wrote it.
    pub(super) changed: std::collections::BTreeSet<SlotNumber>,
    /// Slots whose file does not load (the condition of an error message).
    pub(super) broken: std::collections::BTreeSet<SlotNumber>,
    pub(super) conflict: Option<Conflict>,
    pub(super) pending_saves: std::collections::VecDeque<PendingSave>,
    /// The number of the last save given to the disk thread.
    pub(super) last_save: u64,
    /// Slots whose draft could not be written (the condition of an error message).
    pub(super) draft_failing: std::collections::BTreeSet<SlotNumber>,
    /// A watcher reports changed files: changes of the playing slot reload it.
    pub(super) watching: bool,
    /// Draft writes and removals on the way, per slot.
    pub(super) draft_jobs: OneAtATime<SlotNumber>,
    /// Reads on the way: of one slot file (`Some`) or of the whole folder (`None`).
    pub(super) reads: OneAtATime<Option<SlotNumber>>,
}

impl Controller {
    /// The slot list: one line per slot file, by number.
    pub fn slot_files(&self) -> impl Iterator<Item = &SlotInfo> {
        self.disk.files.values().filter_map(SlotFile::info)
    }

    /// The song slot `n`'s file holds, as last read (`None`: no file, or it does not load).
    pub fn file_song(&self, n: SlotNumber) -> Option<&Slot> {
        self.disk.files.get(&n).and_then(SlotFile::song)
    }

    /// What slot `n`'s file holds, for a load: the disk thread's last read when a watcher
    /// keeps it current (no file work on the control loop), else a read now. A file that does
    /// not load is read again now, for its precise error.
    pub(super) fn file_for_load(&self, n: SlotNumber) -> Result<Parsed, StoreError> {
        if self.disk.watching && !self.save_pending(n) {
            match self.disk.files.get(&n) {
                Some(SlotFile::Read { parsed: Ok(p), .. }) => return Ok((**p).clone()),
                None => {
                    let path = self.store.slot_path(n);
                    return Err(StoreError::Missing { slot: n, path });
                }
                Some(_) => {}
            }
        }
        self.store.load(n)
    }

    /// True when slot `n` has a file (valid or not).
    pub fn has_file(&self, n: SlotNumber) -> bool {
        self.disk.files.contains_key(&n)
    }

    /// True when slot `n`'s file was changed by another program since Chronus last read or
    /// wrote it (the browser's mark).
    pub fn changed_on_disk(&self, n: SlotNumber) -> bool {
        self.disk.changed.contains(&n)
    }

    /// Slots whose file does not load.
    pub fn broken_slots(&self) -> impl Iterator<Item = SlotNumber> + '_ {
        self.disk.broken.iter().copied()
    }

    /// The playing slot whose file changed under unsaved edits, waiting for an answer.
    pub fn pending_conflict(&self) -> Option<SlotNumber> {
        self.disk.conflict.as_ref().map(|c| c.slot)
    }

    /// True while a file watcher tells the controller about changed slot files.
    pub fn is_watching(&self) -> bool {
        self.disk.watching
    }

    /// Says whether a file watcher runs (set by the session that starts one).
    pub fn set_watching(&mut self, on: bool) {
        self.disk.watching = on;
    }

    /// Disk jobs given and not yet reported back (saves, drafts, reads).
    pub fn disk_busy(&self) -> usize {
        self.worker.outstanding()
    }

    /// Waits until every disk job given so far has reported back, taking the reports in,
    /// for at most `timeout`; false when time ran out. Quitting calls it so a save in flight
    /// finishes; tests call it to see a save's result.
    pub fn settle_disk(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.worker.outstanding() > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some(r) = self.worker.recv_timeout(left) {
                self.on_report(r);
            }
        }
        true
    }

    /// Takes in what the disk thread reported since the last turn.
    pub(super) fn poll_disk(&mut self) -> bool {
        let mut any = false;
        while let Some(r) = self.worker.try_recv() {
            self.on_report(r);
            any = true;
        }
        if let Some(c) = &self.disk.conflict
            && (!self.is_dirty() || self.slot != Some(c.slot))
        {
            self.disk.conflict = None;
            self.notices.push_back(Notice::DiskConflictGone);
            any = true;
        }
        any
    }

    fn on_report(&mut self, r: Report) {
        match r {
            Report::Saved { slot, song, result } => self.on_saved(slot, *song, result),
            Report::LockWait { slot } => self.notices.push_back(Notice::SaveWaiting { slot }),
            Report::Draft { slot, result } => self.on_draft(slot, result),
            Report::Listing(list) => {
                match list {
                    Ok(list) => self.on_listing(list),
                    Err(e) => self.notify(Level::Error, format!("slot list: {e}")),
                }
                if self.disk.reads.done(None) {
                    let _ = self.rescan();
                }
            }
            Report::ChainSaved { name, result } => self.on_chain_saved(name, result),
            Report::File { slot, file } => {
                self.on_file(slot, file, self.disk.watching);
                self.notices.push_back(Notice::SlotListChanged);
                if self.disk.reads.done(Some(slot)) {
                    let _ = self.read_slot_file(slot);
                }
            }
        }
    }

    /// Asks the disk thread to read slot `n`'s file again (it changed on disk); while a read
    /// of it is on the way, once more after that one.
    pub(super) fn read_slot_file(&mut self, n: SlotNumber) -> Reply {
        if self.disk.reads.start(Some(n)) {
            self.worker.submit(Job::Read(n));
        }
        Ok(None)
    }

    /// Asks the disk thread to read every slot file again (once more after a scan on the
    /// way).
    pub(super) fn rescan(&mut self) -> Reply {
        if self.disk.reads.start(None) {
            self.worker.submit(Job::Scan);
        }
        Ok(None)
    }

    /// Reads the slot list now, on this thread (start-up, before the loop runs).
    pub(super) fn scan_now(&mut self) {
        match self.store.scan() {
            Ok(list) => {
                for (n, file) in list {
                    self.disk.files.insert(n, file);
                }
            }
            Err(e) => self.notify(Level::Error, format!("slot list: {e}")),
        }
    }

    fn on_listing(&mut self, list: Vec<(SlotNumber, SlotFile)>) {
        let mut gone: Vec<SlotNumber> = self.disk.files.keys().copied().collect();
        for (n, file) in list {
            gone.retain(|&g| g != n);
            self.on_file(n, file, false);
        }
        for n in gone {
            self.on_file(n, SlotFile::Missing, false);
        }
        self.notices.push_back(Notice::SlotListChanged);
    }

    /// A slot file as read now. `reload`: a change of the playing slot is heard at the next
    /// bar (a watcher reported it); otherwise it is only marked.
    fn on_file(&mut self, n: SlotNumber, file: SlotFile, reload: bool) {
        let playing = self.slot == Some(n);
        let (hash, loads) = match &file {
            SlotFile::Missing => return self.file_removed(n, playing),
            SlotFile::Unreadable(info) => {
                let why = info.error.clone().unwrap_or_default();
                let same = matches!(self.disk.files.get(&n),
                    Some(SlotFile::Unreadable(old)) if old.error == info.error);
                self.disk.files.insert(n, file);
                self.set_broken(n, true);
                self.drop_conflict_of(n);
                if !same {
                    // Told once per trouble, not at every look at the folder.
                    self.notify(
                        Level::Error,
                        format!("slot {n}: cannot read its file: {why}"),
                    );
                }
                return;
            }
            SlotFile::Read { hash, parsed, .. } => (*hash, parsed.is_ok()),
        };
        // Chronus's own saves are recorded with the hash they wrote (reported before any
        // read of the file that follows), so hearing them back changes nothing.
        let known = match self.disk.files.get(&n) {
            Some(SlotFile::Read { hash: h, .. }) => Some(*h),
            _ => None,
        };
        self.disk.files.insert(n, file);
        if known == Some(hash) {
            return;
        }
        let fixed = loads && self.disk.broken.contains(&n);
        self.set_broken(n, !loads);
        // A new version of the file settles any question about the one before (the
        // question is asked again below when this one conflicts too).
        self.drop_conflict_of(n);
        if !fixed {
            // A file that loads again ends its error, and its mark with it.
            self.disk.changed.insert(n);
        }
        match (playing && reload, self.disk.files.get(&n)) {
            (true, Some(SlotFile::Read { parsed, .. })) => {
                let parsed = match parsed {
                    Ok(p) => Ok(p.clone()),
                    Err(e) => Err(e.to_string()),
                };
                self.playing_file_changed(n, parsed);
            }
            (_, Some(SlotFile::Read { parsed, .. })) => {
                let text = match parsed {
                    Ok(p) => format!("slot {n} {:?} changed on disk", p.slot.metadata.name),
                    Err(e) => format!("slot {n} changed on disk and does not load: {e}"),
                };
                let level = if loads { Level::Info } else { Level::Warning };
                self.notify(level, text);
                if loads {
                    self.prepared_file_changed(n);
                }
            }
            _ => {}
        }
    }

    fn file_removed(&mut self, n: SlotNumber, playing: bool) {
        self.set_broken(n, false);
        self.drop_conflict_of(n);
        if self.disk.files.remove(&n).is_none() {
            return;
        }
        self.disk.changed.insert(n);
        let tail = if playing {
            " — the loaded version keeps playing"
        } else {
            ""
        };
        let path = self.store.slot_path(n);
        self.notify(
            Level::Info,
            format!("slot {n}: {} was removed{tail}", path.display()),
        );
        self.prepared_file_removed(n);
    }

    /// Ends the question about slot `n`'s file changed under unsaved edits, if one is open.
    fn drop_conflict_of(&mut self, n: SlotNumber) {
        if self.disk.conflict.as_ref().is_some_and(|c| c.slot == n) {
            self.disk.conflict = None;
            self.notices.push_back(Notice::DiskConflictGone);
        }
    }

    /// Records whether slot `n`'s file loads; a file that loads again ends its error.
    fn set_broken(&mut self, n: SlotNumber, broken: bool) {
        if broken {
            self.disk.broken.insert(n);
        } else if self.disk.broken.remove(&n) {
            self.notices.push_back(Notice::SlotFileFixed { slot: n });
        }
    }

    /// The playing slot's file changed (a watcher saw it): reload it at the next bar, keep the
    /// last good version when it does not load, or ask when the song has unsaved edits.
    fn playing_file_changed(&mut self, n: SlotNumber, parsed: Result<Box<Parsed>, String>) {
        let p = match parsed {
            Err(e) => {
                return self.notify(
                    Level::Error,
                    format!("slot {n} changed on disk but does not load — the last good version keeps playing: {e}"),
                );
            }
            Ok(p) => p,
        };
        if p.slot == self.song {
            // Reformatted, or the same edit made on screen and in the file: the file holds
            // what plays.
            self.disk.changed.remove(&n);
            return;
        }
        if self.is_dirty() {
            self.disk.conflict = Some(Conflict { slot: n, parsed: p });
            self.notices.push_back(Notice::DiskConflict { slot: n });
            return;
        }
        self.reload(n, p);
    }

    /// Queues a changed playing slot for the next bar, like a bar-aligned load.
    fn reload(&mut self, n: SlotNumber, parsed: Box<Parsed>) {
        if let Some(q) = self.queued.as_ref().filter(|q| q.slot != n) {
            // Another slot (the performer's, a chain's next entry) takes over at the bar: the
            // reload would displace it. The file's version plays when slot n loads again.
            let text = format!(
                "slot {n} changed on disk; slot {} stays queued, and slot {n} plays the new version when loaded again",
                q.slot
            );
            return self.notify(Level::Info, text);
        }
        let d = diff(&self.song, &parsed.slot);
        let was_running = self.status.running;
        match self.queue_parsed(n, *parsed, Instant::now()) {
            Ok(_) => {
                // While running, the `SlotQueued` notice says when it applies.
                if !was_running {
                    self.notify(Level::Info, format!("slot {n} changed on disk — loaded"));
                }
                self.disk.changed.remove(&n);
                self.notices
                    .push_back(Notice::DiskReloaded { slot: n, diff: d });
            }
            Err(e) => self.notify(
                Level::Error,
                format!("slot {n} changed on disk but cannot be queued: {e}"),
            ),
        }
    }

    /// Settles a conflict: `take_file` queues the file's version for the next bar (the song's
    /// edits stay in the undo history); otherwise the edits stay and that version of the
    /// file is not offered again.
    pub(super) fn resolve_conflict(&mut self, take_file: bool) -> Reply {
        let Some(c) = self.disk.conflict.take() else {
            return Ok(Some(
                "no slot file is waiting: nothing changed on disk under your edits".into(),
            ));
        };
        self.notices.push_back(Notice::DiskConflictGone);
        if !take_file {
            return Ok(Some(format!(
                "kept your edits to slot {}; save to overwrite the file's version",
                c.slot
            )));
        }
        if self.slot != Some(c.slot) {
            return Ok(Some(format!(
                "slot {} is no longer the loaded slot — nothing to take",
                c.slot
            )));
        }
        self.reload(c.slot, c.parsed);
        Ok(None)
    }

    /// Gives a save to the disk thread; its result comes back as [`Notice::Saved`] or
    /// [`Notice::SaveFailed`].
    pub(super) fn submit_save(&mut self, slot: SlotNumber, song: Slot, refuse_other: bool) {
        self.submit_save_of(slot, song, refuse_other, false);
    }

    /// [`Controller::submit_save`] of the playing song, or of the prepared one (`prepared`).
    pub(super) fn submit_save_of(
        &mut self,
        slot: SlotNumber,
        song: Slot,
        refuse_other: bool,
        prepared: bool,
    ) {
        // A file this process is about to write is not another program's pattern.
        let refuse_other = refuse_other && !self.save_pending(slot);
        let own_edits = prepared || self.slot == Some(slot);
        self.disk.last_save += 1;
        self.disk.pending_saves.push_back(PendingSave {
            id: self.disk.last_save,
            slot,
            from: self.slot,
            prepared,
        });
        self.worker.submit(Job::Save {
            slot,
            song: Box::new(song),
            refuse_other,
            own_edits,
        });
    }

    /// True while a save to slot `n` is on its way to the disk.
    pub(super) fn save_pending(&self, n: SlotNumber) -> bool {
        self.disk.pending_saves.iter().any(|p| p.slot == n)
    }

    /// The number of the last save asked for ([`Notice::Saved`] and the notices of a save
    /// that did not happen carry it), so whoever asked can recognise its answer.
    pub fn last_save_id(&self) -> u64 {
        self.disk.last_save
    }

    fn on_saved(&mut self, slot: SlotNumber, song: Slot, result: Result<SaveInfo, StoreError>) {
        let pending = self.disk.pending_saves.pop_front();
        let id = pending.as_ref().map_or(0, |p| p.id);
        let info = match result {
            Ok(info) => info,
            Err(StoreError::OtherPattern { slot, name }) => {
                return self
                    .notices
                    .push_back(Notice::SaveRefused { slot, name, id });
            }
            Err(e) => {
                let error = e.to_string();
                return self
                    .notices
                    .push_back(Notice::SaveFailed { slot, error, id });
            }
        };
        self.disk.changed.remove(&slot);
        self.set_broken(slot, false);
        // The file holds the song now: any question about another version of it is moot.
        self.drop_conflict_of(slot);
        self.saved_everywhere(slot, &song);
        let of_prepared = pending.as_ref().is_some_and(|p| p.prepared);
        if of_prepared && self.is_prepared(slot) {
            self.saved_prepared(slot, &song);
        } else if !of_prepared && pending.is_some_and(|p| p.from == self.slot) {
            self.saved_current(slot, &song);
        } else if self.slot == Some(slot) {
            // The slot was loaded (or the prepared slot began playing) while its save was on
            // the way: the file holds the saved song, and the dirty mark compares with that.
            self.saved = Some(song.clone());
        } else if self
            .drafts
            .get(&slot)
            .is_some_and(|d| super::same_content(d, &song))
        {
            // The performer moved on (or prepared another slot) while it was written; its
            // draft is what was saved.
            self.drafts.remove(&slot);
            self.remove_draft(slot);
        }
        let listed = SlotInfo {
            number: slot,
            name: song.metadata.name.clone(),
            bpm: song.sequencer.bpm,
            tracks: song.sequencer.tracks.len(),
            modified: SystemTime::now(),
            error: None,
        };
        let parsed = Ok(Box::new(Parsed {
            slot: song,
            warnings: Vec::new(),
        }));
        let hash = info.content_hash;
        let file = SlotFile::Read {
            info: listed,
            hash,
            parsed,
        };
        self.disk.files.insert(slot, file);
        let path = info.path;
        self.notices.push_back(Notice::Saved { slot, path, id });
        self.notices.push_back(Notice::SlotListChanged);
    }

    /// Undo and redo steps of slot `slot` compare with what its file holds now.
    fn saved_everywhere(&mut self, slot: SlotNumber, song: &Slot) {
        for e in self.undo.iter_mut().filter(|e| e.slot == Some(slot)) {
            e.saved = Some(song.clone());
        }
        for e in self.redo.iter_mut().filter(|e| e.slot == Some(slot)) {
            e.saved = Some(song.clone());
        }
        self.prepared_saved_everywhere(slot, song);
    }

    /// The song now lives in `slot`'s file: it becomes the current slot (save as). The
    /// drafts of the old and the new slot go, unless edits came in while it was written:
    /// then the new slot's draft is written again at once.
    fn saved_current(&mut self, slot: SlotNumber, song: &Slot) {
        self.song.timestamp = song.timestamp;
        self.song.voice_modules = song.voice_modules;
        if let Some(old) = self.slot.filter(|&o| o != slot) {
            self.drafts.remove(&old);
            self.remove_draft(old);
        }
        self.drafts.remove(&slot);
        // The mutes kept for this save are in the file now.
        self.keep_mutes.remove(&self.slot);
        self.keep_mutes.remove(&Some(slot));
        self.slot = Some(slot);
        self.saved = Some(song.clone());
        self.draft_written = None;
        if self.is_dirty() {
            self.flush_draft_at(std::time::Instant::now(), true);
        } else {
            self.remove_draft(slot);
        }
    }

    fn on_draft(&mut self, slot: SlotNumber, result: Result<(), StoreError>) {
        if self.disk.draft_jobs.done(slot) {
            self.write_draft(slot);
        }
        match result {
            Ok(()) => {
                if self.disk.draft_failing.remove(&slot) {
                    self.notify(
                        Level::Info,
                        format!("slot {slot}: unsaved edits are mirrored to drafts/ again"),
                    );
                }
            }
            Err(e) => {
                self.disk.draft_failing.insert(slot);
                let text = format!("slot {slot}: unsaved edits not mirrored to drafts/: {e}");
                self.notify(Level::Error, text);
            }
        }
    }

    /// Forgets that slot `n`'s file changed on disk: Chronus just read it.
    pub(super) fn acknowledge_file(&mut self, n: SlotNumber) {
        self.disk.changed.remove(&n);
    }
}
