//! Hot reload: slot files edited in a text editor apply at the next bar.
//!
//! [`SlotWatcher`] watches the `slots/` directory (editors save by renaming a new file over
//! the old one, so a watch on the file itself would go stale). Its own thread groups the file
//! system's events per slot file ([`Debouncer`]) and reports a file once it has been quiet for
//! [`QUIET`], so an editor's burst of writes and renames becomes one read of the final
//! content. The watcher reads nothing itself: as a [`Service`] it turns each settled file into
//! [`Command::ReadSlotFile`], and the controller's disk thread reads that one file and decides
//! what the change means (reload, conflict, error, a mark in the slot list), telling the
//! frontends with notices.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::control::{Command, Controller, Level, Service, Waker};
use crate::store::{SlotNumber, Store};

/// How long a slot file must stay untouched before it is read: long enough to span the
/// rename/create/delete sequence of a save, short enough to keep reloads well under 100 ms.
pub const QUIET: Duration = Duration::from_millis(35);

/// A file written without pause for this long is read anyway, so a program that rewrites a
/// slot continuously still gets its changes heard.
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    // Each message holds its cause, so the cause is not also returned as `source()`.
    /// The slots folder is missing and could not be created.
    #[error("cannot create the slots folder {}: {error}", path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// The operating system refused the watch (inotify limits, permissions).
    #[error("cannot watch {} for changes: {error}", path.display())]
    Watch {
        /// The folder.
        path: PathBuf,
        /// notify's error.
        error: notify::Error,
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

/// Groups events per slot file and says when each file has settled: quiet for [`QUIET`], or
/// busy for [`MAX_DELAY`]. Pure: time is passed in.
#[derive(Debug, Default)]
pub struct Debouncer {
    bursts: BTreeMap<SlotNumber, Burst>,
}

impl Debouncer {
    /// An event about `slot`'s file at `at`.
    pub fn note(&mut self, slot: SlotNumber, at: Instant) {
        self.bursts
            .entry(slot)
            .and_modify(|b| b.last = b.last.max(at))
            .or_insert(Burst {
                first: at,
                last: at,
            });
    }

    /// The slot files settled at `now`, taken out of the debouncer.
    pub fn take_settled(&mut self, now: Instant) -> Vec<SlotNumber> {
        let ready: Vec<SlotNumber> = self
            .bursts
            .iter()
            .filter(|(_, b)| {
                now.saturating_duration_since(b.last) >= QUIET
                    || now.saturating_duration_since(b.first) >= MAX_DELAY
            })
            .map(|(&s, _)| s)
            .collect();
        for s in &ready {
            self.bursts.remove(s);
        }
        ready
    }

    /// When the next file settles, if any is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.bursts
            .values()
            .map(|b| (b.last + QUIET).min(b.first + MAX_DELAY))
            .min()
    }
}

/// What the watch thread tells the control loop.
#[derive(Debug)]
enum Settled {
    /// A slot file changed and is quiet now.
    File(SlotNumber),
    /// The kernel dropped events: every slot file must be looked at again.
    Rescan,
    /// The watch itself is in trouble (told once).
    Trouble(String),
}

/// Watches `slots/` and reports settled slot files (see the module documentation).
pub struct SlotWatcher {
    // Dropping it stops the notify thread, which ends the debounce thread.
    _watcher: RecommendedWatcher,
    settled: Receiver<Settled>,
    waker: Arc<OnceLock<Waker>>,
    /// Files reported to the controller so far.
    reported: u64,
}

impl SlotWatcher {
    /// Starts watching `<root>/slots` (created when missing). Only changes from now on are
    /// reported.
    pub fn new(root: &Path) -> Result<SlotWatcher, WatchError> {
        let slots_dir = Store::new(root).slots_dir();
        std::fs::create_dir_all(&slots_dir).map_err(|error| WatchError::CreateDir {
            path: slots_dir.clone(),
            error,
        })?;
        let (raw_tx, raw_rx) = mpsc::channel();
        let (out_tx, settled) = mpsc::channel();
        let waker: Arc<OnceLock<Waker>> = Arc::default();
        let watch_err = |error| WatchError::Watch {
            path: slots_dir.clone(),
            error,
        };
        // Stamped on arrival, so the quiet period is measured from the file system's point of
        // view however busy the debounce thread is.
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<Event>| {
            let _ = raw_tx.send((Instant::now(), ev));
        })
        .map_err(watch_err)?;
        watcher
            .watch(&slots_dir, RecursiveMode::NonRecursive)
            .map_err(watch_err)?;
        let wake = waker.clone();
        let dir = slots_dir.clone();
        std::thread::Builder::new()
            .name("chronus-watch".into())
            .spawn(move || debounce_loop(&raw_rx, &out_tx, &wake, &dir))
            .map_err(|e| watch_err(notify::Error::io(e)))?;
        Ok(SlotWatcher {
            _watcher: watcher,
            settled,
            waker,
            reported: 0,
        })
    }

    /// Settled slot files handed to the controller so far.
    pub fn reported(&self) -> u64 {
        self.reported
    }
}

/// The watch thread: raw events in, settled slot files out, until the watch is dropped.
fn debounce_loop(
    raw: &Receiver<(Instant, notify::Result<Event>)>,
    out: &Sender<Settled>,
    waker: &OnceLock<Waker>,
    slots_dir: &Path,
) {
    let mut debouncer = Debouncer::default();
    let mut troubled = false;
    loop {
        let received = match debouncer.next_deadline() {
            Some(at) => raw.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => raw.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let mut news = Vec::new();
        match received {
            Ok((at, Ok(ev))) => take_event(&mut debouncer, &mut news, at, &ev),
            Ok((_, Err(e))) => {
                if !troubled {
                    troubled = true;
                    news.push(Settled::Trouble(format!(
                        "watching {}: {e}",
                        slots_dir.display()
                    )));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        news.extend(
            debouncer
                .take_settled(Instant::now())
                .into_iter()
                .map(Settled::File),
        );
        if news.is_empty() {
            continue;
        }
        for n in news {
            if out.send(n).is_err() {
                return;
            }
        }
        if let Some(w) = waker.get() {
            w.wake();
        }
    }
}

/// Notes the slot files an event is about; a lost-events event asks for a rescan.
fn take_event(debouncer: &mut Debouncer, news: &mut Vec<Settled>, at: Instant, ev: &Event) {
    if ev.need_rescan() {
        news.push(Settled::Rescan);
        return;
    }
    let relevant = match ev.kind {
        // Reads open and close files; only a close after writing matters.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Any | EventKind::Other => true,
    };
    if !relevant {
        return;
    }
    for path in &ev.paths {
        if let Some(slot) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(watched_slot)
        {
            debouncer.note(slot, at);
        }
    }
}

impl Service for SlotWatcher {
    fn set_waker(&mut self, waker: Waker) {
        let _ = self.waker.set(waker);
    }

    fn poll(&mut self, ctl: &mut Controller) -> bool {
        let mut any = false;
        while let Ok(s) = self.settled.try_recv() {
            any = true;
            let cmd = match s {
                Settled::File(slot) => {
                    self.reported += 1;
                    Command::ReadSlotFile(slot)
                }
                Settled::Rescan => Command::RescanSlots,
                Settled::Trouble(text) => {
                    ctl.notify(Level::Warning, text);
                    continue;
                }
            };
            if let Err(e) = ctl.apply(cmd) {
                ctl.notify(Level::Error, e.to_string());
            }
        }
        any
    }
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
    fn a_burst_settles_once_quiet_or_after_the_longest_delay() {
        let t0 = Instant::now();
        let s3 = SlotNumber::new(3).unwrap();
        let s4 = SlotNumber::new(4).unwrap();
        let mut d = Debouncer::default();
        d.note(s3, t0);
        d.note(s3, t0 + Duration::from_millis(20));
        d.note(s4, t0 + Duration::from_millis(10));
        assert_eq!(d.next_deadline(), Some(t0 + Duration::from_millis(45)));
        assert!(d.take_settled(t0 + Duration::from_millis(44)).is_empty());
        assert_eq!(d.take_settled(t0 + Duration::from_millis(45)), [s4]);
        assert_eq!(d.take_settled(t0 + Duration::from_millis(55)), [s3]);
        assert_eq!(d.next_deadline(), None);
        // A file rewritten every 10 ms is still read after MAX_DELAY.
        let mut at = t0;
        while at < t0 + MAX_DELAY {
            d.note(s3, at);
            assert!(d.take_settled(at).is_empty());
            at += Duration::from_millis(10);
        }
        assert_eq!(d.take_settled(t0 + MAX_DELAY), [s3]);
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
            crate::model::slot::parse_slot_bytes(b"{\n  \"a\": \"\xff\"\n}", "/p/slot_001.json")
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/p/slot_001.json:2:9: syntax error: the file is not valid UTF-8 text"
        );
    }
}
