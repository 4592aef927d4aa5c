//! The disk thread: every file operation of a playing Chronus — saves, draft writes, the slot
//! list, reading a slot file that changed — runs here, in the order it was asked for, so the
//! control loop never waits for a disk, a lock held by another program, or a file that will
//! not open. Results come back as [`Report`]s, in the same order; the owner is woken by the
//! callback given to [`DiskWorker::set_wake`].
//!
//! One thread, one queue: a slot file read after a save of the same slot reports after that
//! save, so the owner always knows its own writes before it hears of them from the disk. The
//! one exception to "in the order asked" is a save waiting for a lock another program holds:
//! meanwhile the jobs that share no file with it or with anything set aside (draft writes,
//! reads of other slots) go ahead, so edits are still mirrored to drafts.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::{SaveInfo, SlotInfo, SlotNumber, Store, StoreError, content_hash};
use crate::model::slot::{Parsed, Slot, SlotError, parse_slot_bytes};

/// Something for the disk thread to do.
#[derive(Debug)]
pub enum Job {
    /// Save a song to a slot (backup, atomic replace, under the slot's lock).
    Save {
        /// Which slot.
        slot: SlotNumber,
        /// The song, stamped as it is to be written.
        song: Box<Slot>,
        /// Refuse when the file holds a different pattern (other tracks): the caller's view
        /// of the file may be older than the file.
        refuse_other: bool,
        /// The song is the slot's own edits (not a save-as of another song): an existing
        /// draft of the slot is brought up to it before the file is replaced.
        own_edits: bool,
    },
    /// Mirror a slot's unsaved edits to its draft file.
    WriteDraft {
        /// Which slot.
        slot: SlotNumber,
        /// The edited song.
        song: Box<Slot>,
    },
    /// Remove a slot's draft file.
    RemoveDraft(SlotNumber),
    /// Read every slot file (the slot list).
    Scan,
    /// Read one slot file (it changed on disk).
    Read(SlotNumber),
    /// Save a chain to `chains/NAME.json` (backup, atomic replace).
    SaveChain(Box<crate::model::chain::Chain>),
}

/// What the disk thread did, in the order the jobs were given.
#[derive(Debug)]
pub enum Report {
    /// A save finished (or failed, having changed nothing the error does not name).
    Saved {
        /// Which slot.
        slot: SlotNumber,
        /// The song as written.
        song: Box<Slot>,
        /// What the save did.
        result: Result<SaveInfo, StoreError>,
    },
    /// A save is waiting for the slot's lock, held by another program.
    LockWait {
        /// Which slot.
        slot: SlotNumber,
    },
    /// A draft was written or removed.
    Draft {
        /// Which slot.
        slot: SlotNumber,
        /// The error, if it failed.
        result: Result<(), StoreError>,
    },
    /// Every slot file, read.
    Listing(Result<Vec<(SlotNumber, SlotFile)>, StoreError>),
    /// A chain save finished (or failed, changing nothing).
    ChainSaved {
        /// The chain's name.
        name: String,
        /// What the save did.
        result: Result<super::chains::ChainSaved, super::chains::ChainStoreError>,
    },
    /// One slot file, read.
    File {
        /// Which slot.
        slot: SlotNumber,
        /// What it holds now.
        file: SlotFile,
    },
}

/// A slot file as read from disk.
#[derive(Debug)]
pub enum SlotFile {
    /// There is none.
    Missing,
    /// It exists but cannot be read (permissions, not a regular file): the slot list's line
    /// says why in `error`.
    Unreadable(SlotInfo),
    /// Its content, parsed or not.
    Read {
        /// The line of the slot list it makes.
        info: SlotInfo,
        /// [`content_hash`] of its bytes.
        hash: u64,
        /// The song it holds, or why it does not load.
        parsed: Result<Box<Parsed>, SlotError>,
    },
}

impl SlotFile {
    /// The slot list's line for this file, when there is a file.
    pub fn info(&self) -> Option<&SlotInfo> {
        match self {
            SlotFile::Read { info, .. } | SlotFile::Unreadable(info) => Some(info),
            SlotFile::Missing => None,
        }
    }

    /// The song the file holds, when it loads.
    pub fn song(&self) -> Option<&Slot> {
        match self {
            SlotFile::Read { parsed: Ok(p), .. } => Some(&p.slot),
            _ => None,
        }
    }
}

/// How long a save waits for a slot's lock held by another program before giving up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Wakes the owner when a report is ready.
type Wake = Arc<OnceLock<Box<dyn Fn() + Send + Sync>>>;

/// How long dropping the worker waits for the jobs in flight before leaving the thread to
/// finish on its own (a read hung on a network file system must not hang quitting).
pub const DROP_WAIT: Duration = Duration::from_secs(5);

/// The handle of the disk thread: give it [`Job`]s, take its [`Report`]s.
pub struct DiskWorker {
    jobs: Option<Sender<Job>>,
    reports: Receiver<Report>,
    wake: Wake,
    /// Set when the owner goes away: saves stop waiting for locks.
    cancel: Arc<AtomicBool>,
    /// Told when the thread ends.
    ended: Receiver<()>,
    /// Jobs given whose report has not been taken yet.
    outstanding: usize,
    thread: Option<JoinHandle<()>>,
}

impl DiskWorker {
    /// Starts the disk thread for `store`.
    pub fn start(store: Store) -> DiskWorker {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (report_tx, reports) = mpsc::channel();
        let wake: Wake = Arc::default();
        let cancel = Arc::new(AtomicBool::new(false));
        let (ended_tx, ended) = mpsc::channel();
        let ctx = Ctx {
            store,
            tx: report_tx,
            wake: wake.clone(),
            cancel: cancel.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("chronus-disk".into())
            .spawn(move || {
                let mut queue = Queue::new(job_rx);
                while let Some((seq, job)) = queue.next() {
                    if !run(&ctx, &mut queue, seq, job) {
                        break;
                    }
                }
                let _ = ended_tx.send(());
            })
            .expect("the operating system refused a thread for disk work");
        DiskWorker {
            jobs: Some(jobs),
            reports,
            wake,
            cancel,
            ended,
            outstanding: 0,
            thread: Some(thread),
        }
    }

    /// Sets what wakes the owner when a report is ready (once; later calls are ignored).
    pub fn set_wake(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.wake.set(Box::new(wake));
    }

    /// Queues a job.
    pub fn submit(&mut self, job: Job) {
        if let Some(tx) = &self.jobs
            && tx.send(job).is_ok()
        {
            self.outstanding += 1;
        }
    }

    /// A report, when one is ready.
    pub fn try_recv(&mut self) -> Option<Report> {
        let r = self.reports.try_recv().ok()?;
        self.count(&r);
        Some(r)
    }

    /// Waits up to `timeout` for the next report.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Report> {
        match self.reports.recv_timeout(timeout) {
            Ok(r) => {
                self.count(&r);
                Some(r)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Jobs given whose final report has not been taken yet.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    fn count(&mut self, r: &Report) {
        // A lock wait is news about a save still under way, not its end.
        if !matches!(r, Report::LockWait { .. }) {
            self.outstanding = self.outstanding.saturating_sub(1);
        }
    }
}

impl Drop for DiskWorker {
    /// Lets the thread finish the jobs already given (a save in flight completes; one
    /// waiting for a lock gives up) and waits for it at most [`DROP_WAIT`].
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.jobs = None;
        if self.ended.recv_timeout(DROP_WAIT).is_ok()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
    }
}

/// What the disk thread works with.
struct Ctx {
    store: Store,
    tx: Sender<Report>,
    wake: Wake,
    cancel: Arc<AtomicBool>,
}

impl Ctx {
    fn wake(&self) {
        if let Some(w) = self.wake.get() {
            w();
        }
    }

    /// Sends a report and wakes the owner; false when the owner is gone.
    fn report(&self, r: Report) -> bool {
        let sent = self.tx.send(r).is_ok();
        self.wake();
        sent
    }
}

/// The jobs given, numbered in the order given, and those set aside while a save waited for
/// a lock.
struct Queue {
    rx: Receiver<Job>,
    backlog: VecDeque<(u64, Job)>,
    /// Jobs received so far (the next one's number).
    received: u64,
    /// Per slot, the number of the last job that wrote or removed its draft.
    drafted: BTreeMap<SlotNumber, u64>,
}

impl Queue {
    fn new(rx: Receiver<Job>) -> Queue {
        Queue {
            rx,
            backlog: VecDeque::new(),
            received: 0,
            drafted: BTreeMap::new(),
        }
    }

    fn number(&mut self, job: Job) -> (u64, Job) {
        self.received += 1;
        (self.received, job)
    }

    /// The next job: those set aside first, in the order given.
    fn next(&mut self) -> Option<(u64, Job)> {
        if let Some(j) = self.backlog.pop_front() {
            return Some(j);
        }
        let job = self.rx.recv().ok()?;
        Some(self.number(job))
    }

    /// Does a job that never waits for a lock.
    fn run_plain(&mut self, store: &Store, seq: u64, job: Job) -> Report {
        match job {
            // Saves that may wait for a lock go through `run`; here one would not wait.
            Job::Save { slot, song, .. } => {
                let result = store.save_waiting(slot, &song, Duration::ZERO, &mut || true);
                Report::Saved { slot, song, result }
            }
            Job::WriteDraft { slot, song } => {
                self.drafted.insert(slot, seq);
                Report::Draft {
                    slot,
                    result: store.write_draft(slot, &song).map(|_| ()),
                }
            }
            Job::RemoveDraft(slot) => {
                self.drafted.insert(slot, seq);
                Report::Draft {
                    slot,
                    result: store.remove_draft(slot),
                }
            }
            Job::Scan => Report::Listing(store.scan()),
            Job::SaveChain(chain) => Report::ChainSaved {
                name: chain.name.clone(),
                result: store.save_chain(&chain),
            },
            Job::Read(slot) => Report::File {
                slot,
                file: store.read_slot(slot),
            },
        }
    }

    /// While a save of `saving` waits for its lock: does the jobs that can go before it and
    /// sets the rest aside, in order. A job goes before when it is not a save and shares no
    /// file with the save or with a job set aside (where one of the two writes it): so a lock
    /// held by another program delays that save and what depends on it (a read of that file,
    /// the slot list), never the mirroring of edits to drafts. False when the owner is gone.
    fn run_beside(&mut self, ctx: &Ctx, saving: SlotNumber) -> bool {
        while let Ok(job) = self.rx.try_recv() {
            let (seq, job) = self.number(job);
            let p = job.part();
            let waiting = Part {
                thing: Thing::File(Some(saving)),
                writes: true,
            };
            let beside = !matches!(job, Job::Save { .. })
                && !p.overlaps(waiting)
                && self.backlog.iter().all(|(_, b)| !p.overlaps(b.part()));
            if !beside {
                self.backlog.push_back((seq, job));
            } else {
                let report = self.run_plain(&ctx.store, seq, job);
                if !ctx.report(report) {
                    return false;
                }
            }
        }
        true
    }
}

/// What a job reads or writes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Part {
    thing: Thing,
    writes: bool,
}

/// A file or set of files jobs share.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Thing {
    /// A slot file (`None`: every one).
    File(Option<SlotNumber>),
    /// A slot's draft.
    Draft(SlotNumber),
    /// The chain files (saves keep their order among themselves).
    Chains,
}

impl Part {
    /// True when two jobs with these parts must keep their order: they share a file and one
    /// of them writes it.
    fn overlaps(self, other: Part) -> bool {
        let shared = match (self.thing, other.thing) {
            (Thing::File(None), Thing::File(_)) | (Thing::File(_), Thing::File(None)) => true,
            (Thing::File(a), Thing::File(b)) => a == b,
            (Thing::Draft(a), Thing::Draft(b)) => a == b,
            (Thing::Chains, Thing::Chains) => true,
            _ => false,
        };
        shared && (self.writes || other.writes)
    }
}

impl Job {
    /// What the job reads or writes. (A save also brings the slot's draft up to date, but
    /// only when no later job wrote it: see [`run`].)
    fn part(&self) -> Part {
        let (thing, writes) = match self {
            Job::Save { slot, .. } => (Thing::File(Some(*slot)), true),
            Job::WriteDraft { slot, .. } | Job::RemoveDraft(slot) => (Thing::Draft(*slot), true),
            Job::Read(slot) => (Thing::File(Some(*slot)), false),
            Job::Scan => (Thing::File(None), false),
            Job::SaveChain(_) => (Thing::Chains, true),
        };
        Part { thing, writes }
    }
}

/// Does job number `seq` and reports it; false when the owner is gone.
fn run(ctx: &Ctx, queue: &mut Queue, seq: u64, job: Job) -> bool {
    let Job::Save {
        slot,
        song,
        refuse_other,
        own_edits,
    } = job
    else {
        let report = queue.run_plain(&ctx.store, seq, job);
        return ctx.report(report);
    };
    let store = &ctx.store;
    if refuse_other
        && let SlotFile::Read { parsed: Ok(p), .. } = store.read_slot(slot)
        && p.slot.sequencer.tracks != song.sequencer.tracks
    {
        let result = Err(StoreError::OtherPattern {
            slot,
            name: p.slot.metadata.name,
        });
        return ctx.report(Report::Saved { slot, song, result });
    }
    // A draft is brought up to what is saved before the file is replaced, so a kill between
    // the replace and the draft's removal leaves a draft equal to the file (dropped at the
    // next start), never an older one offered back as unsaved edits. A draft written after
    // this save was asked for (while an earlier save waited for a lock) holds newer edits and
    // is left alone. A save-as of another song leaves the slot's draft alone too: it holds
    // that slot's own edits, which the song saved is not.
    let newer_draft = queue.drafted.get(&slot).is_some_and(|&d| d > seq);
    if own_edits && !newer_draft && store.draft_path(slot).is_file() {
        let _ = store.write_draft(slot, &song);
    }
    let mut told = false;
    let mut owner_gone = false;
    let mut on_wait = || {
        if !told {
            told = true;
            owner_gone |= !ctx.report(Report::LockWait { slot });
        }
        owner_gone |= !queue.run_beside(ctx, slot);
        !owner_gone && !ctx.cancel.load(Ordering::Relaxed)
    };
    let result = store.save_waiting(slot, &song, LOCK_TIMEOUT, &mut on_wait);
    ctx.report(Report::Saved { slot, song, result }) && !owner_gone
}

impl Store {
    /// Reads every slot file in `slots/` (one walk of the folder; a missing folder gives none).
    pub fn scan(&self) -> Result<Vec<(SlotNumber, SlotFile)>, StoreError> {
        let mut out: Vec<(SlotNumber, SlotFile)> = super::slot_entries(&self.slots_dir())?
            .into_iter()
            .map(|(n, _)| (n, self.read_slot(n)))
            .filter(|(_, f)| !matches!(f, SlotFile::Missing))
            .collect();
        out.sort_by_key(|(n, _)| *n);
        Ok(out)
    }

    /// Reads slot `n`'s file: its bytes (bounded by the slot size limit), their hash, and the
    /// song they hold. Anything but a regular file is refused unopened.
    pub fn read_slot(&self, n: SlotNumber) -> SlotFile {
        let path = self.slot_path(n);
        let bytes = match super::read_user_file(&path, super::SLOT_FILE) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return SlotFile::Missing,
            Err(e) => {
                let modified = modified(&path);
                return unreadable(n, modified, e.to_string());
            }
        };
        let parsed = parse_slot_bytes(&bytes, &path.display().to_string()).map(Box::new);
        let info = slot_info(n, modified(&path), &parsed);
        SlotFile::Read {
            info,
            hash: content_hash(&bytes),
            parsed,
        }
    }
}

/// When `path` was last written (the epoch when that cannot be told).
fn modified(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH)
}

/// A slot file that cannot be read, and why.
fn unreadable(number: SlotNumber, modified: std::time::SystemTime, why: String) -> SlotFile {
    SlotFile::Unreadable(SlotInfo {
        number,
        name: String::new(),
        bpm: 0.0,
        tracks: 0,
        modified,
        error: Some(why),
    })
}

/// The slot list's line for a file read.
fn slot_info(
    number: SlotNumber,
    modified: std::time::SystemTime,
    parsed: &Result<Box<Parsed>, SlotError>,
) -> SlotInfo {
    match parsed {
        Ok(p) => SlotInfo {
            number,
            name: p.slot.metadata.name.clone(),
            bpm: p.slot.sequencer.bpm,
            tracks: p.slot.sequencer.tracks.len(),
            modified,
            error: None,
        },
        Err(e) => SlotInfo {
            number,
            name: String::new(),
            bpm: 0.0,
            tracks: 0,
            modified,
            error: Some(e.to_string()),
        },
    }
}

/// Takes `lock` (an open lock file), trying until `timeout`; `on_wait` is called at every
/// try another holder makes fail, and waiting stops when it returns false.
pub(super) fn lock_waiting(
    lock: &File,
    timeout: Duration,
    on_wait: &mut dyn FnMut() -> bool,
) -> Result<(), io::Error> {
    let start = Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                if !on_wait() {
                    return Err(io::Error::new(
                        io::ErrorKind::Interrupted,
                        "Chronus was quitting while another program held the lock",
                    ));
                }
                if start.elapsed() >= timeout {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "another program held the lock for {} s",
                            timeout.as_secs_f64()
                        ),
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(n: u8) -> SlotNumber {
        SlotNumber::new(n).unwrap()
    }

    #[test]
    fn reports_come_back_in_job_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DiskWorker::start(Store::new(dir.path()));
        let mut song = Slot::default();
        song.metadata.name = "first".into();
        w.submit(Job::Save {
            slot: slot(3),
            song: Box::new(song),
            refuse_other: true,
            own_edits: true,
        });
        w.submit(Job::Read(slot(3)));
        w.submit(Job::Scan);
        let a = w.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(a, Report::Saved { result: Ok(_), .. }), "{a:?}");
        let b = w.recv_timeout(Duration::from_secs(5)).unwrap();
        let Report::File { file, .. } = b else {
            panic!("{b:?}")
        };
        assert_eq!(file.info().unwrap().name, "first");
        let c = w.recv_timeout(Duration::from_secs(5)).unwrap();
        let Report::Listing(Ok(list)) = c else {
            panic!("{c:?}")
        };
        assert_eq!(list.len(), 1);
        assert_eq!(w.outstanding(), 0);
    }

    #[test]
    fn a_directory_or_fifo_named_like_a_slot_is_unreadable_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.ensure_dirs().unwrap();
        std::fs::create_dir(store.slot_path(slot(4))).unwrap();
        let f = store.read_slot(slot(4));
        assert!(
            matches!(&f, SlotFile::Unreadable(i) if i.error.as_ref().unwrap().contains("is a directory")),
            "{f:?}"
        );
    }

    #[test]
    fn a_held_lock_makes_the_save_wait_and_then_fail_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.ensure_dirs().unwrap();
        let lock_path = store.lock_path(slot(5));
        let held = File::create(&lock_path).unwrap();
        held.lock().unwrap();
        let mut waited = 0;
        let r = store.save_waiting(
            slot(5),
            &Slot::default(),
            Duration::from_millis(50),
            &mut || {
                waited += 1;
                true
            },
        );
        assert!(waited >= 2, "{waited}");
        let e = r.unwrap_err().to_string();
        assert!(e.contains("held the lock"), "{e}");
        assert!(!store.slot_path(slot(5)).exists());
    }

    /// Another program holds slot 5's lock: the save of slot 5 waits, and meanwhile draft
    /// writes (any slot) and reads of other slots are done; a read of slot 5 and a scan wait
    /// for the save, so every report of a slot still follows Chronus's own write to it.
    #[test]
    fn a_held_lock_delays_its_save_and_what_depends_on_it_not_the_drafts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.ensure_dirs().unwrap();
        let held = File::create(store.lock_path(slot(5))).unwrap();
        held.lock().unwrap();
        let mut w = DiskWorker::start(store.clone());
        let mut song = Slot::default();
        song.metadata.name = "five".into();
        w.submit(Job::Save {
            slot: slot(5),
            song: Box::new(song.clone()),
            refuse_other: false,
            own_edits: true,
        });
        w.submit(Job::WriteDraft {
            slot: slot(7),
            song: Box::new(song.clone()),
        });
        w.submit(Job::Read(slot(5)));
        w.submit(Job::Scan);
        w.submit(Job::WriteDraft {
            slot: slot(5),
            song: Box::new(song.clone()),
        });
        w.submit(Job::Read(slot(6)));
        let mut seen = Vec::new();
        let start = Instant::now();
        while seen.len() < 4 {
            let r = w.recv_timeout(Duration::from_secs(5)).expect("a report");
            seen.push(
                format!("{r:?}")
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(seen, ["LockWait", "Draft", "Draft", "File"]);
        assert!(store.draft_path(slot(7)).is_file());
        assert!(store.draft_path(slot(5)).is_file());
        assert!(
            !store.slot_path(slot(5)).exists(),
            "saved under a held lock"
        );
        // Closing the handle lets go (an explicit unlock fails under wine: its second
        // UnlockFile says "lock violation" where Windows says "not locked").
        drop(held);
        let saved = w.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            matches!(saved, Report::Saved { result: Ok(_), .. }),
            "{saved:?}"
        );
        let read = w.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            matches!(&read, Report::File { file, .. } if file.info().unwrap().name == "five"),
            "{read:?}"
        );
        let scan = w.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            matches!(scan, Report::Listing(Ok(ref l)) if l.len() == 1),
            "{scan:?}"
        );
        assert_eq!(w.outstanding(), 0);
    }

    /// A save brings the slot's draft up to what it writes before it replaces the file, so a
    /// kill before the draft is removed leaves a draft equal to the file, not an older one.
    #[test]
    fn a_save_brings_an_existing_draft_up_to_date_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let mut older = Slot::default();
        older.metadata.name = "older edit".into();
        store.write_draft(slot(3), &older).unwrap();
        let mut w = DiskWorker::start(store.clone());
        let mut saved = Slot::default();
        saved.metadata.name = "saved".into();
        w.submit(Job::Save {
            slot: slot(3),
            song: Box::new(saved),
            refuse_other: false,
            own_edits: true,
        });
        let r = w.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(r, Report::Saved { result: Ok(_), .. }), "{r:?}");
        let draft = super::super::read_slot_file(&store.draft_path(slot(3))).unwrap();
        assert_eq!(draft.slot.metadata.name, "saved");
        // No draft, none made.
        w.submit(Job::Save {
            slot: slot(4),
            song: Box::new(Slot::default()),
            refuse_other: false,
            own_edits: true,
        });
        w.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(!store.draft_path(slot(4)).exists());
    }
    /// A save-as of another song (not the slot's own edits) leaves the slot's draft alone:
    /// it holds that slot's edits, and the save may fail.
    #[test]
    fn a_save_as_leaves_the_target_slots_draft_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let mut edits = Slot::default();
        edits.metadata.name = "slot 3's edits".into();
        store.write_draft(slot(3), &edits).unwrap();
        let mut w = DiskWorker::start(store.clone());
        let mut other = Slot::default();
        other.metadata.name = "another song".into();
        w.submit(Job::Save {
            slot: slot(3),
            song: Box::new(other),
            refuse_other: false,
            own_edits: false,
        });
        let r = w.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(r, Report::Saved { result: Ok(_), .. }), "{r:?}");
        let draft = super::super::read_slot_file(&store.draft_path(slot(3))).unwrap();
        assert_eq!(draft.slot.metadata.name, "slot 3's edits");
    }
    /// A save of slot 5 set aside behind a save waiting for slot 1's lock does not bring
    /// slot 5's draft back to its older song once a later draft write or removal ran beside;
    /// saves still report in the order given and every job reports once.
    #[test]
    fn a_set_aside_save_never_clobbers_a_later_draft_job() {
        for remove in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::new(dir.path());
            store.ensure_dirs().unwrap();
            let named = |n: &str| {
                let mut s = Slot::default();
                s.metadata.name = n.into();
                Box::new(s)
            };
            store.write_draft(slot(5), &named("old draft")).unwrap();
            let held = File::create(store.lock_path(slot(1))).unwrap();
            held.lock().unwrap();
            let mut w = DiskWorker::start(store.clone());
            for (n, name) in [(1, "one"), (5, "five")] {
                w.submit(Job::Save {
                    slot: slot(n),
                    song: named(name),
                    refuse_other: false,
                    own_edits: true,
                });
            }
            w.submit(if remove {
                Job::RemoveDraft(slot(5))
            } else {
                Job::WriteDraft {
                    slot: slot(5),
                    song: named("newer edits"),
                }
            });
            let r = w.recv_timeout(Duration::from_secs(5)).unwrap();
            assert!(matches!(r, Report::LockWait { .. }), "{r:?}");
            let r = w.recv_timeout(Duration::from_secs(5)).unwrap();
            assert!(matches!(r, Report::Draft { result: Ok(()), .. }), "{r:?}");
            // Closing the handle lets go (an explicit unlock fails under wine: its second
            // UnlockFile says "lock violation" where Windows says "not locked").
            drop(held);
            for want in [1, 5] {
                let r = w.recv_timeout(Duration::from_secs(5)).unwrap();
                assert!(
                    matches!(r, Report::Saved { slot: s, result: Ok(_), .. } if s == slot(want)),
                    "{r:?}"
                );
            }
            assert_eq!(w.outstanding(), 0);
            let draft = store.draft_path(slot(5));
            if remove {
                assert!(!draft.exists());
            } else {
                let d = super::super::read_slot_file(&draft).unwrap();
                assert_eq!(d.slot.metadata.name, "newer edits");
            }
        }
    }
}
