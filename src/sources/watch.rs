//! Hot reload: slot files edited in a text editor apply at the next bar.
//!
//! [`SlotWatcher`] watches the `slots/` directory (editors save by renaming a new file over
//! the old one, so a watch on the file itself would go stale). The notify thread only stamps
//! and forwards raw events; everything else happens in [`Service::poll`] on the control
//! thread: events are grouped per slot file and acted on once the file has been quiet for
//! [`QUIET`], so an editor's burst of writes and renames becomes one reload of the final
//! content.
//!
//! What happens to a changed file depends on the slot:
//! - the playing slot, valid: queued for the next bar through [`Command::QueueParsed`], with a
//!   [`SlotDiff`] describing what changed;
//! - the playing slot, broken: the error is shown and the last good version keeps playing;
//! - the playing slot while the screen has unsaved edits: a conflict the performer resolves
//!   with [`SlotWatcher::resolve_conflict`];
//! - any other slot: the slot browser is told to refresh ([`SlotWatcher::generation`]).
//!
//! Content is compared by [`content_hash`], so Chronus's own atomic saves
//! ([`Controller::own_saves`]), saves that change nothing and repeated events for one
//! version are all ignored.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::control::{Command, Controller, Level, Service, Waker};
use crate::model::slot::{MAX_SLOT_BYTES, Parsed, SlotError};
use crate::store::{SlotNumber, Store, content_hash};

/// How long a slot file must stay untouched before it is read: long enough to span the
/// rename/create/delete sequence of a save, short enough to keep reloads well under 100 ms.
pub const QUIET: Duration = Duration::from_millis(35);

/// A file written without pause for this long is read anyway, so a program that rewrites a
/// slot continuously still gets its changes heard.
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The slots folder is missing and could not be created.
    #[error("cannot create the slots folder {}: {source}", path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The operating system refused the watch (inotify limits, permissions).
    #[error("cannot watch {} for changes: {source}", path.display())]
    Watch {
        /// The folder.
        path: PathBuf,
        /// notify's error.
        #[source]
        source: notify::Error,
    },
}

pub use crate::model::diff::{SlotDiff, diff};

/// The slot a file name in `slots/` stands for; `None` for everything else an editor or the
/// store leaves there (`.slot_003.json.swp`, `slot_003.json~`, vim's `4913`, `.#slot_003.json`,
/// `*.tmp`, the store's temp and lock files).
pub fn watched_slot(name: &str) -> Option<SlotNumber> {
    if Store::is_temp_file(name) {
        return None;
    }
    Store::slot_of_file(name)
}

/// A slot file with events not yet acted on.
#[derive(Debug, Clone, Copy)]
struct Burst {
    first: Instant,
    last: Instant,
}

/// The playing slot's file changed while the screen had unsaved edits.
#[derive(Debug)]
struct Conflict {
    slot: SlotNumber,
    parsed: Box<Parsed>,
}

/// Watches `slots/` and applies changed slot files (see the module documentation).
pub struct SlotWatcher {
    slots_dir: PathBuf,
    // Dropping it stops the notify thread.
    _watcher: RecommendedWatcher,
    events: Receiver<(Instant, notify::Result<Event>)>,
    waker: Arc<OnceLock<Waker>>,
    bursts: BTreeMap<SlotNumber, Burst>,
    /// Hash of the content last handled per slot (`None` after the file went away).
    seen: HashMap<SlotNumber, u64>,
    /// The own-save hash of each slot already recognised once, so an editor that later
    /// restores those same bytes is not mistaken for Chronus saving again.
    own_handled: HashMap<u8, u64>,
    generation: u64,
    changed: BTreeMap<SlotNumber, u64>,
    /// Slots whose file changed on disk and does not load (the condition of an error message).
    broken: std::collections::BTreeSet<SlotNumber>,
    last_diff: Option<SlotDiff>,
    conflict: Option<Conflict>,
    reloads: u64,
    watch_errors: u64,
}

impl SlotWatcher {
    /// Starts watching `<root>/slots` (created when missing). Slot files present now count as
    /// already seen: only later changes are acted on.
    pub fn new(root: &Path) -> Result<SlotWatcher, WatchError> {
        let slots_dir = Store::new(root).slots_dir();
        std::fs::create_dir_all(&slots_dir).map_err(|source| WatchError::CreateDir {
            path: slots_dir.clone(),
            source,
        })?;
        let (tx, rx) = mpsc::channel();
        let waker: Arc<OnceLock<Waker>> = Arc::default();
        let wake = waker.clone();
        let watch_err = |source| WatchError::Watch {
            path: slots_dir.clone(),
            source,
        };
        // Stamped on arrival, so the quiet period is measured from the file system's point of
        // view however late the control loop gets to it.
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<Event>| {
            let _ = tx.send((Instant::now(), ev));
            if let Some(w) = wake.get() {
                w.wake();
            }
        })
        .map_err(watch_err)?;
        watcher
            .watch(&slots_dir, RecursiveMode::NonRecursive)
            .map_err(watch_err)?;
        let mut w = SlotWatcher {
            slots_dir,
            _watcher: watcher,
            events: rx,
            waker,
            bursts: BTreeMap::new(),
            seen: HashMap::new(),
            own_handled: HashMap::new(),
            generation: 0,
            changed: BTreeMap::new(),
            broken: Default::default(),
            last_diff: None,
            conflict: None,
            reloads: 0,
            watch_errors: 0,
        };
        for slot in w.slot_files() {
            if let Ok(bytes) = read_bounded(&w.slot_path(slot)) {
                w.seen.insert(slot, content_hash(&bytes));
            }
        }
        Ok(w)
    }

    /// The watched folder.
    pub fn slots_dir(&self) -> &Path {
        &self.slots_dir
    }

    /// Goes up by one whenever a slot file's content changed (from outside or by a save), so
    /// the slot browser knows to re-read its list.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Slots whose file was changed outside Chronus since the watcher started, each with the
    /// [`generation`](Self::generation) of its latest change (the browser's "modified" mark).
    pub fn changed_slots(&self) -> &BTreeMap<SlotNumber, u64> {
        &self.changed
    }

    /// Slots whose file changed on disk and does not load; a slot leaves the set when its
    /// file loads again (or is removed), which ends the error it caused.
    pub fn broken_slots(&self) -> &std::collections::BTreeSet<SlotNumber> {
        &self.broken
    }

    /// What the latest reload of the playing slot changed.
    pub fn last_diff(&self) -> Option<&SlotDiff> {
        self.last_diff.as_ref()
    }

    /// The playing slot whose file changed while the screen had unsaved edits, waiting for
    /// [`resolve_conflict`](Self::resolve_conflict).
    pub fn pending_conflict(&self) -> Option<SlotNumber> {
        self.conflict.as_ref().map(|c| c.slot)
    }

    /// Snapshots queued from disk so far.
    pub fn reloads(&self) -> u64 {
        self.reloads
    }

    /// Settles a conflict: `take_file` queues the file's version for the next bar (the screen's
    /// edits stay in the undo history); otherwise the screen's edits stay and that version of
    /// the file is not offered again.
    pub fn resolve_conflict(&mut self, ctl: &mut Controller, take_file: bool) {
        let Some(c) = self.conflict.take() else {
            return;
        };
        if take_file {
            if ctl.slot() == Some(c.slot) {
                self.queue(ctl, c.slot, *c.parsed);
            } else {
                ctl.notify(
                    Level::Warning,
                    format!(
                        "slot {} is no longer the loaded slot — nothing to take",
                        c.slot
                    ),
                );
            }
        } else {
            ctl.notify(
                Level::Info,
                format!(
                    "kept your edits to slot {}; save to overwrite the file's version",
                    c.slot
                ),
            );
        }
    }

    fn slot_path(&self, slot: SlotNumber) -> PathBuf {
        self.slots_dir.join(slot.file_name())
    }

    /// The slot files present in the folder now.
    fn slot_files(&self) -> Vec<SlotNumber> {
        let Ok(entries) = std::fs::read_dir(&self.slots_dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(watched_slot))
            .collect()
    }

    fn note(&mut self, slot: SlotNumber, at: Instant) {
        self.bursts
            .entry(slot)
            .and_modify(|b| b.last = b.last.max(at))
            .or_insert(Burst {
                first: at,
                last: at,
            });
    }

    /// Moves every event waiting in the channel into the per-slot bursts.
    fn drain(&mut self, ctl: &mut Controller) {
        loop {
            let (at, ev) = match self.events.try_recv() {
                Ok(x) => x,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            };
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    // One message per distinct trouble is enough; the watch keeps going.
                    self.watch_errors += 1;
                    if self.watch_errors == 1 {
                        ctl.notify(
                            Level::Warning,
                            format!("watching {}: {e}", self.slots_dir.display()),
                        );
                    }
                    continue;
                }
            };
            if ev.need_rescan() {
                // The kernel dropped events: look at every slot file again.
                let mut all: Vec<SlotNumber> = self.slot_files();
                all.extend(self.seen.keys().copied());
                for slot in all {
                    self.note(slot, at);
                }
                continue;
            }
            let relevant = match ev.kind {
                // Our own reads open and close files; only a close after writing matters.
                EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
                EventKind::Access(_) => false,
                EventKind::Modify(ModifyKind::Metadata(_)) => false,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
                EventKind::Any | EventKind::Other => true,
            };
            if !relevant {
                continue;
            }
            for path in &ev.paths {
                if let Some(slot) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(watched_slot)
                {
                    self.note(slot, at);
                }
            }
        }
    }

    /// Reads a settled slot file; `Err(changed)` when there is nothing to parse (the file
    /// went away, or cannot be read), saying whether the screen changed.
    fn read_settled(
        &mut self,
        ctl: &mut Controller,
        slot: SlotNumber,
        path: &Path,
        playing: bool,
    ) -> Result<Vec<u8>, bool> {
        match read_bounded(path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.broken.remove(&slot);
                if self.seen.remove(&slot).is_none() {
                    return Err(false);
                }
                self.generation += 1;
                self.changed.insert(slot, self.generation);
                let tail = if playing {
                    " — the loaded version keeps playing"
                } else {
                    ""
                };
                ctl.notify(
                    Level::Info,
                    format!("slot {slot}: {} was removed{tail}", path.display()),
                );
                Err(true)
            }
            Err(e) => {
                ctl.notify(
                    Level::Error,
                    format!("slot {slot}: cannot read {}: {e}", path.display()),
                );
                Err(true)
            }
        }
    }

    /// Reads a slot file whose burst of events is over and acts on it. Returns true when
    /// something the screen shows changed.
    fn settle(&mut self, ctl: &mut Controller, slot: SlotNumber) -> bool {
        let path = self.slot_path(slot);
        let playing = ctl.slot() == Some(slot);
        let bytes = match self.read_settled(ctl, slot, &path, playing) {
            Ok(b) => b,
            Err(changed) => return changed,
        };
        let hash = content_hash(&bytes);
        if self.seen.get(&slot) == Some(&hash) {
            return false;
        }
        self.seen.insert(slot, hash);
        self.generation += 1;
        let own = ctl.own_save_hash(slot).as_ref() == Some(&hash);
        if own && self.own_handled.get(&slot.get()) != Some(&hash) {
            self.own_handled.insert(slot.get(), hash);
            self.broken.remove(&slot);
            return true;
        }
        self.changed.insert(slot, self.generation);
        let parsed = parse_bytes(&bytes, &path);
        if parsed.is_err() {
            self.broken.insert(slot);
        } else {
            self.broken.remove(&slot);
        }
        if !playing {
            match parsed {
                Ok(p) => ctl.notify(
                    Level::Info,
                    format!("slot {slot} {:?} changed on disk", p.slot.metadata.name),
                ),
                Err(e) => ctl.notify(
                    Level::Warning,
                    format!("slot {slot} changed on disk and does not load: {e}"),
                ),
            }
            return true;
        }
        match parsed {
            Err(e) => ctl.notify(
                Level::Error,
                format!("slot {slot} changed on disk but does not load — the last good version keeps playing: {e}"),
            ),
            Ok(p) if p.slot == *ctl.song() => {
                // Reformatted, or the same edit made on screen and in the file.
            }
            Ok(p) if ctl.is_dirty() => {
                ctl.notify(
                    Level::Warning,
                    format!(
                        "slot {slot} changed on disk while you have unsaved edits — take the file's version or keep yours"
                    ),
                );
                self.conflict = Some(Conflict {
                    slot,
                    parsed: Box::new(p),
                });
            }
            Ok(p) => self.queue(ctl, slot, p),
        }
        true
    }

    /// Queues a changed playing slot for the next bar, like a bar-aligned load.
    fn queue(&mut self, ctl: &mut Controller, slot: SlotNumber, parsed: Parsed) {
        let d = diff(ctl.song(), &parsed.slot);
        let was_running = ctl.status().running;
        match ctl.apply(Command::QueueParsed {
            slot,
            parsed: Box::new(parsed),
        }) {
            Ok(_) => {
                self.reloads += 1;
                // While running, the controller's `SlotQueued` notice says when it applies.
                if !was_running {
                    ctl.notify(Level::Info, format!("slot {slot} changed on disk — loaded"));
                }
                ctl.notify(Level::Info, format!("slot {slot}: {}", d.describe()));
                self.last_diff = Some(d);
            }
            Err(e) => ctl.notify(
                Level::Error,
                format!("slot {slot} changed on disk but cannot be queued: {e}"),
            ),
        }
    }
}

impl Service for SlotWatcher {
    fn set_waker(&mut self, waker: Waker) {
        let _ = self.waker.set(waker);
    }

    fn poll(&mut self, ctl: &mut Controller) -> bool {
        let mut changed = false;
        // A conflict is moot once the screen's edits are saved or another slot is loaded.
        if let Some(c) = &self.conflict
            && (!ctl.is_dirty() || ctl.slot() != Some(c.slot))
        {
            self.conflict = None;
            changed = true;
        }
        self.drain(ctl);
        if self.bursts.is_empty() {
            return changed;
        }
        let now = Instant::now();
        let ready: Vec<SlotNumber> = self
            .bursts
            .iter()
            .filter(|(_, b)| {
                now.duration_since(b.last) >= QUIET || now.duration_since(b.first) >= MAX_DELAY
            })
            .map(|(&s, _)| s)
            .collect();
        for slot in ready {
            self.bursts.remove(&slot);
            changed |= self.settle(ctl, slot);
        }
        changed
    }
}

/// Reads a file, refusing to read more than one byte past the slot size limit.
fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_SLOT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Parses bytes already read (and hashed) from `path`, with the same errors as reading the
/// file through the store.
fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Parsed, SlotError> {
    crate::model::slot::parse_slot_bytes(bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::registry::acid;
    use crate::model::{ParamId, Slot, Track};

    fn slot_with(tracks: &[(&str, &str)]) -> Slot {
        let mut s = Slot::default();
        for (name, pattern) in tracks {
            s.sequencer.tracks.push(Track::new(name, "voice1", pattern));
        }
        s
    }

    #[test]
    fn diff_names_tracks_steps_fields_and_params() {
        let old = slot_with(&[("kick", "X...X...X...X..."), ("snare", "....X.......X...")]);
        let mut new = slot_with(&[("kick", "X...x...X...X...XXXX"), ("hat", "..x.")]);
        new.sequencer.bpm = 128.0;
        new.sequencer.tracks[0].base_amp = 0.9;
        new.params.set(ParamId::acid(acid::CUTOFF), 900.0);
        let d = diff(&old, &new);
        assert_eq!(d.tracks_added, ["hat"]);
        assert_eq!(d.tracks_removed, ["snare"]);
        assert_eq!(
            d.steps_changed,
            [("kick".to_string(), vec![4, 16, 17, 18, 19])]
        );
        assert_eq!(d.fields_changed, [("kick".to_string(), vec!["base_amp"])]);
        assert_eq!(d.params_changed, [ParamId::acid(acid::CUTOFF)]);
        assert_eq!(d.tempo_changed, Some((120.0, 128.0)));
        assert_eq!(d.swing_changed, None);
        assert!(d.step_changed("kick", 16) && !d.step_changed("kick", 0));
        assert!(d.track_changed("hat") && !d.track_changed("snare"));
        assert_eq!(
            d.describe(),
            "tempo 120 → 128; added hat; removed snare; kick steps 5, 17–20; kick base_amp; acid1/cutoff"
        );
    }

    #[test]
    fn rests_written_differently_are_the_same_step() {
        let d = diff(
            &slot_with(&[("kick", "X.-.")]),
            &slot_with(&[("kick", "X-.-")]),
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(d.describe(), "no audible change");
    }

    #[test]
    fn only_slot_files_are_watched() {
        assert_eq!(watched_slot("slot_003.json").map(SlotNumber::get), Some(3));
        for name in [
            ".slot_003.json.swp",
            ".slot_003.json.swx",
            "slot_003.json~",
            "4913",
            ".#slot_003.json",
            "slot_003.json.tmp",
            ".tmpA1b2C3",
            ".slot_003.json.tmp-123-4",
            ".slot_003.lock",
            "slot_3.json",
            "slot_129.json",
        ] {
            assert_eq!(watched_slot(name), None, "{name}");
        }
    }

    #[test]
    fn invalid_utf8_reports_line_and_column() {
        let err =
            parse_bytes(b"{\n  \"a\": \"\xff\"\n}", Path::new("/p/slot_001.json")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/p/slot_001.json:2:9: syntax error: the file is not valid UTF-8 text"
        );
    }
}
