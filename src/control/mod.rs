//! Every user intent as a [`Command`], and [`Controller::apply`]: the one place that changes
//! state. Keyboard, OSC and file changes all end up here, so they behave the same.
//!
//! Each edit changes the song model, then [`Controller`] sends the engine only what differs
//! (a parameter, the track set, tempo) through the [`EngineLink`].

pub mod wake;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::audio::recorder::{Recorder, RecordingInfo};
use crate::engine::link::{EngineLink, HostEvent, SharedStats};
use crate::engine::{EngineEvent, EngineMsg, LoadTiming, STEPS_PER_BAR, Scene, TrackSet};

use crate::model::ParamId;
pub use crate::model::fmt_num;
use crate::model::registry::{MAX_VOICES, TRACK_FIELDS, TrackFieldKind, sequencer as seq_spec};
use crate::model::slot::{Parsed, Slot, Track};
use crate::store::{SlotNumber, Store};
pub use wake::{Waker, Wakeup, wake_pair};

/// What a step holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepValue {
    /// `X`: hit at velocity 1.0.
    Accent,
    /// `x`: hit at velocity 0.6.
    Hit,
    /// `.`: rest.
    Rest,
}

impl StepValue {
    /// The pattern character.
    pub fn as_char(self) -> char {
        match self {
            StepValue::Accent => 'X',
            StepValue::Hit => 'x',
            StepValue::Rest => '.',
        }
    }

    /// Reads a pattern character (anything but `X`/`x` is a rest).
    pub fn from_char(c: char) -> StepValue {
        match c {
            'X' => StepValue::Accent,
            'x' => StepValue::Hit,
            _ => StepValue::Rest,
        }
    }

    /// Rest → hit → accent → rest.
    pub fn cycle(self) -> StepValue {
        match self {
            StepValue::Rest => StepValue::Hit,
            StepValue::Hit => StepValue::Accent,
            StepValue::Accent => StepValue::Rest,
        }
    }
}

/// Every user intent.
#[derive(Debug, Clone)]
pub enum Command {
    /// Start the sequencer from step 0.
    Play,
    /// Stop the sequencer and release every voice.
    Stop,
    /// Play when stopped, stop when playing.
    TogglePlay,
    /// Set the tempo (30–300).
    SetBpm(f64),
    /// Set the engine's tempo without editing the song (clock follow): no undo step, the
    /// song's own tempo and saved state stay as they are.
    FollowTempo(f64),
    /// Change the tempo by an amount.
    NudgeBpm(f64),
    /// Set the swing (0–0.6).
    SetSwing(f64),
    /// Change the swing by an amount.
    NudgeSwing(f64),
    /// Set one step of a track (the pattern grows with rests when `step` is past its end).
    SetStep {
        /// Track name.
        track: String,
        /// Step index.
        step: usize,
        /// New content.
        value: StepValue,
    },
    /// Replace a track's pattern (same phase).
    SetPattern {
        /// Track name.
        track: String,
        /// The new pattern text.
        pattern: String,
    },
    /// Change a track's length: longer adds rests, shorter cuts.
    SetLength {
        /// Track name.
        track: String,
        /// New number of steps (0–64).
        len: usize,
    },
    /// Replace a track's notes (Hz); resets its note index.
    SetNotes {
        /// Track name.
        track: String,
        /// Notes in Hz.
        notes: Vec<f64>,
    },
    /// Set a numeric track field (registry index into `TRACK_FIELDS`).
    SetTrackField {
        /// Track name.
        track: String,
        /// Field index (`registry::track::*`).
        field: usize,
        /// New value (clamped).
        value: f64,
    },
    /// Point a track at another voice (`voice3`).
    SetTrackVoice {
        /// Track name.
        track: String,
        /// Voice id.
        voice: String,
    },
    /// Add a track, or replace the track of the same name in place.
    AddTrack(Box<Track>),
    /// Remove a track.
    RemoveTrack(String),
    /// Rename a track.
    RenameTrack {
        /// Current name.
        from: String,
        /// New name.
        to: String,
    },
    /// Move a track up (negative) or down in the list.
    MoveTrack {
        /// Track name.
        track: String,
        /// Places to move.
        delta: isize,
    },
    /// Mute or unmute a track (`None` toggles).
    Mute {
        /// Track name.
        track: String,
        /// New state, or toggle.
        on: Option<bool>,
    },
    /// Solo or unsolo a track (`None` toggles).
    Solo {
        /// Track name.
        track: String,
        /// New state, or toggle.
        on: Option<bool>,
    },
    /// Replace every track at once (paste a whole pattern).
    ReplaceTracks(Vec<Track>),
    /// Remove every track and release every voice.
    ClearTracks,
    /// Rename the song (`metadata.name`).
    SetName(String),
    /// Set a module parameter (clamped to its range).
    SetParam {
        /// Which parameter.
        id: ParamId,
        /// New value.
        value: f64,
    },
    /// Open (`true`) or close a voice's gate by hand.
    Gate {
        /// Voice number, 1-based.
        voice: u8,
        /// Gate state.
        on: bool,
    },
    /// Load a slot from disk, at the next bar or at once.
    LoadSlot {
        /// Which slot.
        slot: SlotNumber,
        /// When it applies.
        immediate: bool,
    },
    /// Load the newest valid backup of a slot (its file is corrupt) at the next bar; the
    /// song is then unsaved, so a save replaces the corrupt file.
    LoadBackup {
        /// Which slot.
        slot: SlotNumber,
    },
    /// Queue an already parsed slot (a file changed on disk) for the next bar.
    QueueParsed {
        /// Which slot.
        slot: SlotNumber,
        /// Its content.
        parsed: Box<Parsed>,
    },
    /// Save the song to a slot; without `force`, refuses to overwrite another slot that
    /// holds a different pattern.
    SaveSlot {
        /// Which slot.
        slot: SlotNumber,
        /// Overwrite without asking.
        force: bool,
    },
    /// Start recording the master output (`name` inside the recordings folder).
    RecordStart(Option<String>),
    /// Stop recording.
    RecordStop,
    /// Audio on (`/engine/start`).
    EngineStart,
    /// Audio off: stops the sequencer and any recording (`/engine/stop`).
    EngineStop,
    /// Drop the current slot's unsaved edits (its draft) and put its file's version back.
    Revert,
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
}

impl Command {
    /// True for commands that change the song (what a read-only preview refuses).
    pub fn is_edit(&self) -> bool {
        !matches!(
            self,
            Command::Play
                | Command::Stop
                | Command::TogglePlay
                | Command::FollowTempo(_)
                | Command::Gate { .. }
                | Command::LoadSlot { .. }
                | Command::LoadBackup { .. }
                | Command::QueueParsed { .. }
                | Command::SaveSlot { .. }
                | Command::RecordStart(_)
                | Command::RecordStop
                | Command::EngineStart
                | Command::EngineStop
        )
    }
}

/// Why a command was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No track of that name.
    #[error("no track named {0:?}")]
    NoTrack(String),
    /// A track of that name exists already.
    #[error("a track named {0:?} exists already")]
    TrackExists(String),
    /// A value was refused.
    #[error("{0}")]
    Invalid(String),
    /// The slot holds a different pattern; ask before overwriting.
    #[error("slot {0} holds a different pattern ({1:?}); save again to overwrite")]
    WouldOverwrite(SlotNumber, String),
    /// Nothing to undo or redo.
    #[error("nothing to {0}")]
    NothingTo(&'static str),
    /// A store (file) error.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A slot file that does not load, with a valid backup to fall back on.
    #[error(
        "{error} — its newest valid backup is {} (load it with B in the slot browser or :load_backup {slot})",
        backup.display()
    )]
    Corrupt {
        /// Which slot.
        slot: SlotNumber,
        /// Why the file does not load.
        error: crate::store::StoreError,
        /// The newest backup that loads.
        backup: PathBuf,
    },
    /// Recording failed.
    #[error("{0:#}")]
    Record(anyhow::Error),
}

/// Severity of a message for the screen's message line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something happened.
    Info,
    /// Something was adjusted or looks wrong.
    Warning,
    /// Something failed.
    Error,
}

/// Things that happened, for the screen's message line, `--events json` and OSC out.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A bar began (while playing).
    Bar {
        /// Bar number since play.
        bar: u64,
        /// Sample index of its first sample.
        sample: u64,
    },
    /// A beat began (every 4 steps while playing).
    Beat {
        /// Bar number.
        bar: u64,
        /// Beat in the bar, 0–3.
        beat: u8,
        /// Sample index of the beat.
        sample: u64,
    },
    /// The sequencer started.
    Started,
    /// The sequencer stopped.
    Stopped,
    /// A slot is queued for a bar.
    SlotQueued {
        /// Slot number.
        slot: SlotNumber,
        /// The bar it applies at.
        bar: u64,
        /// Queued because its file changed on disk.
        from_disk: bool,
    },
    /// A slot is now playing.
    SlotApplied {
        /// Slot number.
        slot: SlotNumber,
        /// Bar it applied at.
        bar: u64,
    },
    /// A slot was saved.
    Saved {
        /// Slot number.
        slot: SlotNumber,
        /// File written.
        path: PathBuf,
    },
    /// A recording finished.
    Recorded(RecordingInfo),
    /// A message for the performer.
    Message(Level, String),
}

/// What the screen shows of the engine, updated from its events.
#[derive(Debug, Clone, Default)]
pub struct EngineStatus {
    /// Sequencer running.
    pub running: bool,
    /// Current bar since play.
    pub bar: u64,
    /// Step within the bar, 0–15.
    pub step_in_bar: u8,
    /// Steps since play.
    pub global_step: u64,
    /// Sample clock of the latest event.
    pub sample: u64,
    /// The slot the engine plays (after its bar-aligned switch).
    pub playing_slot: Option<SlotNumber>,
    /// A slot waiting for its bar.
    pub queued: Option<(SlotNumber, u64)>,
    /// Per-voice peak levels.
    pub levels: [f32; MAX_VOICES],
    /// Master peak (left, right).
    pub master: [f32; 2],
    /// 8-band spectrum, 0–1.
    pub spectrum: [f32; 8],
    /// Mean callback load in % of the period.
    pub load_mean: f32,
    /// Max callback load in % of the period.
    pub load_max: f32,
    /// Callbacks that overran their period.
    pub late: u64,
    /// Device xruns / clock slips.
    pub xruns: u64,
    /// DSP units reset after going non-finite.
    pub unit_resets: u64,
    /// Where the sound goes (`alsa:jack …` or `internal clock …`).
    pub backend: String,
    /// What kind of backend plays, machine-readable: `device`, `internal` or `none`.
    pub backend_kind: &'static str,
    /// The tempo the engine actually runs (a follower's leader tempo), not only the song's.
    pub playing_bpm: f64,
    /// Audio muted by `/engine/stop`.
    pub muted: bool,
    /// Play was pressed and no step has sounded yet (a load then applies at bar 0).
    pub fresh: bool,
}

struct UndoEntry {
    before: Slot,
    slot: Option<SlotNumber>,
    /// The file content `before` was compared with (what "dirty" meant then).
    saved: Option<Slot>,
    key: Option<String>,
    at: Instant,
}

/// A state to go back to on redo.
struct RedoEntry {
    song: Slot,
    slot: Option<SlotNumber>,
    saved: Option<Slot>,
}

/// A slot waiting for its bar: the song it brings, held apart from the playing one.
struct Queued {
    slot: SlotNumber,
    song: Slot,
    saved: Option<Slot>,
    bar: u64,
    from_disk: bool,
    /// Edits of the playing song were sent to the engine while this waited: once it applies,
    /// the engine gets this song again in case an edit crossed the switch.
    edited: bool,
}

/// What plays now: the song the engine runs (and the screen edits).
#[derive(Debug, Clone, Copy)]
pub struct PlayingView<'a> {
    /// The slot it came from or was last saved to.
    pub slot: Option<SlotNumber>,
    /// `metadata.name`.
    pub name: &'a str,
    /// The song's tempo.
    pub bpm: f64,
    /// The song's swing.
    pub swing: f64,
    /// The song itself (tracks, parameters).
    pub song: &'a Slot,
}

/// A slot waiting for its bar.
#[derive(Debug, Clone, Copy)]
pub struct QueuedView<'a> {
    /// Which slot.
    pub slot: SlotNumber,
    /// Its `metadata.name`.
    pub name: &'a str,
    /// The bar it applies at.
    pub bar: u64,
    /// Queued because its file changed on disk.
    pub from_disk: bool,
    /// The song it brings.
    pub song: &'a Slot,
}

const UNDO_LIMIT: usize = 500;
/// Undo key of a slot load (never merged with another step).
const LOAD_KEY: &str = "\u{0}load";
/// Edits of the current slot reach its draft file at most this long after they were made.
pub const DRAFT_DEBOUNCE: Duration = Duration::from_millis(250);
/// Undo steps with the same key closer together than this are one step.
const COALESCE: Duration = Duration::from_secs(1);

/// True when two songs hold the same content: what a save stamps (time, transport position,
/// voice count) does not count.
pub fn same_content(a: &Slot, b: &Slot) -> bool {
    a.chronus_version == b.chronus_version
        && a.schema_version == b.schema_version
        && a.metadata == b.metadata
        && a.sequencer.bpm == b.sequencer.bpm
        && a.sequencer.swing == b.sequencer.swing
        && a.sequencer.tracks == b.sequencer.tracks
        && a.sequencer.extra == b.sequencer.extra
        && a.params == b.params
        && a.module_extra == b.module_extra
        && a.modules_extra == b.modules_extra
        && a.extra == b.extra
}

/// The control side: owns the song model and sends its changes to the engine. It is the one
/// owner of what plays, what is queued and what is edited; frontends read it through its
/// accessors.
pub struct Controller {
    /// The song that plays and is edited (a queued slot replaces it at its bar).
    song: Slot,
    /// The slot the song came from or was last saved to.
    slot: Option<SlotNumber>,
    /// What the slot file holds (as last loaded or saved); `None` when the file does not hold
    /// this song at all (a corrupt file, a draft of an empty slot), so the song is unsaved.
    saved: Option<Slot>,
    /// A slot waiting for its bar.
    queued: Option<Queued>,
    /// Unsaved edits of slots other than the current one (mirrored in `drafts/`).
    drafts: BTreeMap<SlotNumber, Slot>,
    /// The current slot's song as last written to its draft file (`None`: no draft file).
    draft_written: Option<(SlotNumber, Slot)>,
    /// When the current slot's draft was last written.
    draft_at: Option<Instant>,
    store: Store,
    voices: usize,
    status: EngineStatus,
    recordings_dir: PathBuf,
    own_saves: std::collections::HashMap<u8, u64>,
    link: EngineLink,
    recorder: Recorder,
    undo: VecDeque<UndoEntry>,
    redo: Vec<RedoEntry>,
    notices: VecDeque<Notice>,
}

impl Controller {
    /// A controller sending to `link`, with an empty song. Drafts left in the store's
    /// `drafts/` folder (unsaved edits of an earlier run) are taken in: loading their slot
    /// restores them.
    pub fn new(store: Store, voices: usize, link: EngineLink, recorder: Recorder) -> Controller {
        let mut recorder = recorder;
        recorder.bind(link.stats.clone());
        let mut ctl = Controller {
            song: Slot::default(),
            slot: None,
            saved: Some(Slot::default()),
            queued: None,
            drafts: BTreeMap::new(),
            draft_written: None,
            draft_at: None,
            store,
            voices,
            status: EngineStatus {
                playing_bpm: Slot::default().sequencer.bpm,
                backend_kind: "none",
                ..EngineStatus::default()
            },
            recordings_dir: PathBuf::from("recordings"),
            own_saves: Default::default(),
            link,
            recorder,
            undo: VecDeque::new(),
            redo: Vec::new(),
            notices: VecDeque::new(),
        };
        ctl.take_in_drafts();
        ctl
    }

    /// Reads `drafts/` into memory; drafts that do not load are reported and left alone.
    fn take_in_drafts(&mut self) {
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
                self.drafts.extend(found.loaded);
            }
            Err(e) => self.notify(Level::Warning, format!("drafts: {e}")),
        }
    }

    /// The song that plays and is edited.
    pub fn song(&self) -> &Slot {
        &self.song
    }

    /// The slot the song came from or was last saved to (`None`: a new song).
    pub fn slot(&self) -> Option<SlotNumber> {
        self.slot
    }

    /// What plays now (the queued slot takes over only at its bar).
    pub fn playing(&self) -> PlayingView<'_> {
        PlayingView {
            slot: self.slot,
            name: &self.song.metadata.name,
            bpm: self.song.sequencer.bpm,
            swing: self.song.sequencer.swing,
            song: &self.song,
        }
    }

    /// The slot waiting for its bar, if any.
    pub fn queued(&self) -> Option<QueuedView<'_>> {
        self.queued.as_ref().map(|q| QueuedView {
            slot: q.slot,
            name: &q.song.metadata.name,
            bar: q.bar,
            from_disk: q.from_disk,
            song: &q.song,
        })
    }

    /// Beats until the queued slot's bar (from the playhead), when one is queued while
    /// running; 0 when the bar has begun and the engine has not confirmed it yet.
    pub fn beats_until_queued(&self) -> Option<u64> {
        let q = self.queued.as_ref()?;
        if !self.status.running {
            return None;
        }
        Some(beats_until(
            q.bar,
            self.status.bar,
            self.status.step_in_bar,
            self.status.fresh,
        ))
    }

    /// True when the song differs from its slot file (or the file does not hold it).
    pub fn is_dirty(&self) -> bool {
        match &self.saved {
            Some(saved) => !same_content(&self.song, saved),
            None => true,
        }
    }

    /// Slots with unsaved edits: the drafts of other slots plus the current slot when it is
    /// dirty (a new song with no slot is not counted: it has no draft file).
    pub fn draft_slots(&self) -> Vec<SlotNumber> {
        let mut v: Vec<SlotNumber> = self.drafts.keys().copied().collect();
        if let Some(s) = self.slot
            && self.is_dirty()
            && !v.contains(&s)
        {
            v.push(s);
            v.sort();
        }
        v
    }

    /// True when slot `n` has unsaved edits (a draft, or the current dirty song).
    pub fn has_draft(&self, n: SlotNumber) -> bool {
        self.drafts.contains_key(&n) || (self.slot == Some(n) && self.is_dirty())
    }

    /// The pattern store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Voices the engine runs.
    pub fn voices(&self) -> usize {
        self.voices
    }

    /// What the engine reports.
    pub fn status(&self) -> &EngineStatus {
        &self.status
    }

    /// The engine status, to stage a screen in tests and benchmarks.
    #[doc(hidden)]
    pub fn status_mut(&mut self) -> &mut EngineStatus {
        &mut self.status
    }

    /// Where `record start` puts its files.
    pub fn recordings_dir(&self) -> &std::path::Path {
        &self.recordings_dir
    }

    /// Sets where `record start` puts its files.
    pub fn set_recordings_dir(&mut self, dir: impl Into<PathBuf>) {
        self.recordings_dir = dir.into();
    }

    /// Content hash of the last file Chronus saved per slot, so the watcher can ignore it.
    pub fn own_save_hash(&self, slot: SlotNumber) -> Option<u64> {
        self.own_saves.get(&slot.get()).copied()
    }

    /// Records which audio output plays (status lines, `/seq/status`).
    pub fn set_backend(&mut self, kind: &'static str, describe: String) {
        self.status.backend = describe;
        self.status.backend_kind = kind;
    }

    /// Starts a new song meant for `slot` (its file is missing or does not load): the next
    /// save writes there.
    pub fn start_new_song(&mut self, slot: SlotNumber) {
        self.slot = Some(slot);
        self.saved = Some(self.song.clone());
    }

    /// Replaces the engine link (after the audio output was reopened) and sends the whole
    /// current state to the new engine.
    pub fn relink(&mut self, link: EngineLink) {
        let muted = self.link.stats.muted.load(Ordering::Relaxed);
        link.stats.muted.store(muted, Ordering::Relaxed);
        self.link = link;
        self.recorder.bind(self.link.stats.clone());
        let scene = Scene::from_slot(&self.song, self.voices);
        self.link.send(EngineMsg::Load {
            scene: Box::new(scene),
            timing: LoadTiming::Immediate,
            slot: slot_tag(self.slot),
        });
        if self.status.running {
            self.link.send(EngineMsg::Play);
        }
    }

    /// The engine link's shared counters.
    pub fn stats(&self) -> &std::sync::Arc<SharedStats> {
        &self.link.stats
    }

    /// The engine's sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.link.sample_rate
    }

    /// Wall-clock time (seconds since the Unix epoch) at which engine sample `sample` plays.
    pub fn sample_time(&self, sample: u64) -> f64 {
        self.link.stats.sample_time(sample, self.link.sample_rate)
    }

    /// The file being recorded, if any.
    pub fn recording(&self) -> Option<&std::path::Path> {
        self.recorder.current()
    }

    /// Starts recording the master output to an explicit path (`--record FILE`).
    pub fn record_to(&mut self, path: &std::path::Path) -> Result<(), ControlError> {
        self.recorder.start(path).map_err(ControlError::Record)
    }

    /// The recorder, to attach a new audio side to it.
    pub fn recorder_mut(&mut self) -> &mut Recorder {
        &mut self.recorder
    }

    /// Sends a raw message to the engine (tests and benchmarks).
    pub fn send_engine(&mut self, msg: EngineMsg) {
        self.link.send(msg);
    }

    /// Takes the notices gathered since the last call.
    pub fn drain_notices(&mut self) -> impl Iterator<Item = Notice> + '_ {
        self.notices.drain(..)
    }

    /// Adds a message for the performer.
    pub fn notify(&mut self, level: Level, text: impl Into<String>) {
        self.notices.push_back(Notice::Message(level, text.into()));
    }

    /// Reads the engine's events, retries pending messages and drops replaced boxes.
    /// Returns true when something the screen shows changed.
    pub fn poll(&mut self) -> bool {
        self.link.pump();
        self.link.collect_garbage();
        let mut changed = false;
        while let Some(ev) = self.link.try_event() {
            changed = true;
            self.on_event(ev);
        }
        self.status.muted = self.link.stats.muted.load(Ordering::Relaxed);
        self.flush_draft_at(Instant::now(), false);
        changed
    }

    fn on_event(&mut self, ev: HostEvent) {
        let st = &mut self.status;
        match ev {
            HostEvent::Load {
                mean_pct,
                max_pct,
                late,
                xruns,
            } => {
                st.load_mean = mean_pct;
                st.load_max = max_pct;
                st.late = late;
                st.xruns = xruns;
            }
            HostEvent::Engine(e) => match e {
                EngineEvent::Started { sample } => {
                    st.running = true;
                    st.sample = sample;
                    self.notices.push_back(Notice::Started);
                }
                EngineEvent::Stopped { sample } => {
                    st.running = false;
                    st.sample = sample;
                    self.notices.push_back(Notice::Stopped);
                }
                EngineEvent::Step {
                    global_step,
                    bar,
                    step_in_bar,
                    sample,
                } => {
                    st.global_step = global_step;
                    st.fresh = false;
                    st.bar = bar;
                    st.step_in_bar = step_in_bar;
                    st.sample = sample;
                    if step_in_bar % 4 == 0 {
                        self.notices.push_back(Notice::Beat {
                            bar,
                            beat: step_in_bar / 4,
                            sample,
                        });
                    }
                }
                EngineEvent::Bar { bar, sample } => {
                    st.bar = bar;
                    self.notices.push_back(Notice::Bar { bar, sample });
                }
                EngineEvent::Queued { slot, bar } => {
                    let Some(slot) = tag_to_slot(slot) else {
                        return;
                    };
                    let predicted = st.queued.replace((slot, bar));
                    if let Some(q) = self.queued.as_mut().filter(|q| q.slot == slot) {
                        q.bar = bar;
                    }
                    if predicted != Some((slot, bar)) {
                        self.notices.push_back(Notice::SlotQueued {
                            slot,
                            bar,
                            from_disk: false,
                        });
                    }
                }
                EngineEvent::Applied { slot, bar, .. } => self.on_applied(tag_to_slot(slot), bar),
                EngineEvent::Levels { voices, master } => {
                    st.levels = voices;
                    st.master = master;
                }
                EngineEvent::Spectrum { bands } => st.spectrum = bands,
                EngineEvent::UnitReset => {
                    st.unit_resets += 1;
                    self.notices.push_back(Notice::Message(
                        Level::Warning,
                        "a DSP unit went non-finite and was reset".into(),
                    ));
                }
            },
        }
    }

    /// Applies one command. Returns a short confirmation for the message line / OSC reply.
    pub fn apply(&mut self, cmd: Command) -> Result<Option<String>, ControlError> {
        self.apply_at(cmd, Instant::now())
    }

    /// [`Controller::apply`] at a given time: undo steps of the same kind within a second
    /// form one step, and the current slot's draft file is written at most every
    /// [`DRAFT_DEBOUNCE`].
    pub fn apply_at(&mut self, cmd: Command, now: Instant) -> Result<Option<String>, ControlError> {
        let r = self.dispatch(cmd, now);
        self.flush_draft_at(now, false);
        r
    }

    fn dispatch(&mut self, cmd: Command, now: Instant) -> Result<Option<String>, ControlError> {
        check_finite(&cmd)?;
        match cmd {
            Command::Play => {
                if !self.status.running {
                    self.status.bar = 0;
                    self.status.global_step = 0;
                    self.status.step_in_bar = 0;
                    self.status.fresh = true;
                }
                self.link.send(EngineMsg::Play);
                self.status.running = true;
                Ok(None)
            }
            Command::Stop => {
                self.link.send(EngineMsg::Stop);
                self.status.running = false;
                Ok(None)
            }
            Command::TogglePlay => {
                if self.status.running {
                    self.dispatch(Command::Stop, now)
                } else {
                    self.dispatch(Command::Play, now)
                }
            }
            Command::SetBpm(v) => {
                let r = self.edit(now, Some("bpm"), |s| {
                    s.sequencer.bpm = seq_spec::BPM.clamp(v);
                    Ok(Some(format!("BPM {:.1}", s.sequencer.bpm)))
                });
                // Always tell the engine: it may run a followed tempo the song doesn't hold.
                self.send_bpm(self.song.sequencer.bpm);
                r
            }
            Command::FollowTempo(v) => {
                self.send_bpm(seq_spec::BPM.clamp(v));
                Ok(None)
            }
            Command::NudgeBpm(d) => {
                let v = self.song.sequencer.bpm + d;
                self.dispatch(Command::SetBpm(v), now)
            }
            Command::SetSwing(v) => self.edit(now, Some("swing"), |s| {
                s.sequencer.swing = seq_spec::SWING.clamp(v);
                Ok(Some(format!("swing {:.2}", s.sequencer.swing)))
            }),
            Command::NudgeSwing(d) => {
                let v = self.song.sequencer.swing + d;
                self.dispatch(Command::SetSwing(v), now)
            }
            Command::SetStep { track, step, value } => self.edit(now, None, |s| {
                let t = track_mut(s, &track)?;
                if step >= MAX_PATTERN {
                    return Err(ControlError::Invalid(format!(
                        "step {} is past the longest pattern ({MAX_PATTERN} steps)",
                        step + 1
                    )));
                }
                let mut chars: Vec<char> = t.pattern.chars().collect();
                while chars.len() <= step {
                    chars.push('.');
                }
                chars[step] = value.as_char();
                t.pattern = chars.into_iter().collect();
                Ok(None)
            }),
            Command::SetPattern { track, pattern } => self.edit(now, None, |s| {
                check_pattern(&pattern)?;
                track_mut(s, &track)?.pattern = pattern;
                Ok(None)
            }),
            Command::SetLength { track, len } => self.edit(now, None, |s| {
                if len > MAX_PATTERN {
                    return Err(ControlError::Invalid(format!(
                        "length {len} is out of range 0–{MAX_PATTERN}"
                    )));
                }
                let t = track_mut(s, &track)?;
                let mut chars: Vec<char> = t.pattern.chars().collect();
                chars.resize(len, '.');
                t.pattern = chars.into_iter().collect();
                Ok(Some(format!("{track}: {len} steps")))
            }),
            Command::SetNotes { track, notes } => self.edit(now, None, |s| {
                let spec = TRACK_FIELDS[crate::model::registry::track::BASE_FREQ].spec;
                let t = track_mut(s, &track)?;
                t.notes = notes.iter().map(|&n| spec.clamp(n)).collect();
                t.note_index = 0;
                Ok(None)
            }),
            Command::SetTrackField {
                track,
                field,
                value,
            } => {
                let key = format!("track:{track}:{field}");
                self.edit(now, Some(&key), |s| {
                    let f = TRACK_FIELDS
                        .get(field)
                        .filter(|f| f.kind == TrackFieldKind::Number);
                    let Some(f) = f else {
                        return Err(ControlError::Invalid(format!(
                            "track field {field} is not a number"
                        )));
                    };
                    let v = track_mut(s, &track)?.set_number(field, value);
                    Ok(Some(format!("{track} {} {}", f.key, fmt_num(v))))
                })
            }
            Command::SetTrackVoice { track, voice } => self.edit(now, None, |s| {
                let n = voice_number(&voice)?;
                track_mut(s, &track)?.voice_id = format!("voice{n}");
                Ok(None)
            }),
            Command::AddTrack(t) => self.edit(now, None, |s| {
                if t.name.trim().is_empty() {
                    return Err(ControlError::Invalid("a track needs a name".into()));
                }
                voice_number(&t.voice_id)?;
                check_pattern(&t.pattern)?;
                let tracks = &mut s.sequencer.tracks;
                match tracks.iter_mut().find(|x| x.name == t.name) {
                    Some(existing) => *existing = *t,
                    None => tracks.push(*t),
                }
                Ok(None)
            }),
            Command::RemoveTrack(name) => self.edit(now, None, |s| {
                let i = track_index(s, &name)?;
                s.sequencer.tracks.remove(i);
                Ok(Some(format!("removed track {name}")))
            }),
            Command::RenameTrack { from, to } => self.edit(now, None, |s| {
                let to = to.trim().to_string();
                if to.is_empty() {
                    return Err(ControlError::Invalid("a track needs a name".into()));
                }
                if to != from && s.sequencer.tracks.iter().any(|t| t.name == to) {
                    return Err(ControlError::TrackExists(to));
                }
                track_mut(s, &from)?.name = to;
                Ok(None)
            }),
            Command::MoveTrack { track, delta } => self.edit(now, None, |s| {
                let i = track_index(s, &track)?;
                let last = s.sequencer.tracks.len() as isize - 1;
                let j = (i as isize + delta).clamp(0, last) as usize;
                let t = s.sequencer.tracks.remove(i);
                s.sequencer.tracks.insert(j, t);
                Ok(None)
            }),
            Command::Mute { track, on } => self.edit(now, None, |s| {
                let t = track_mut(s, &track)?;
                t.muted = on.unwrap_or(!t.muted);
                Ok(Some(format!(
                    "{track} {}",
                    if t.muted { "muted" } else { "unmuted" }
                )))
            }),
            Command::Solo { track, on } => self.edit(now, None, |s| {
                let t = track_mut(s, &track)?;
                t.solo = on.unwrap_or(!t.solo);
                Ok(Some(format!(
                    "{track} {}",
                    if t.solo { "solo" } else { "solo off" }
                )))
            }),
            Command::ReplaceTracks(tracks) => self.edit(now, None, |s| {
                for t in &tracks {
                    voice_number(&t.voice_id)?;
                }
                s.sequencer.tracks = tracks;
                Ok(None)
            }),
            Command::ClearTracks => {
                let r = self.edit(now, None, |s| {
                    s.sequencer.tracks.clear();
                    Ok(Some("cleared all tracks".into()))
                });
                self.link.send(EngineMsg::ReleaseAll);
                r
            }
            Command::SetName(name) => self.edit(now, None, |s| {
                s.metadata.name = name;
                Ok(None)
            }),
            Command::SetParam { id, value } => {
                let key = format!("param:{}", id.0);
                self.edit(now, Some(&key), |s| {
                    let v = s.params.set(id, value);
                    Ok(Some(format!("{} {}", id.label(), fmt_num(v))))
                })
            }
            Command::Gate { voice, on } => {
                if voice == 0 || voice as usize > self.voices {
                    return Err(ControlError::Invalid(format!(
                        "voice{voice} does not exist (1–{})",
                        self.voices
                    )));
                }
                self.link.send(EngineMsg::Gate { voice, on });
                Ok(None)
            }
            Command::LoadSlot { slot, immediate } => self.load(slot, immediate, now),
            Command::LoadBackup { slot } => {
                let Some((backup, parsed)) = self.store.load_backup_fallback(slot)? else {
                    return Err(ControlError::Invalid(format!(
                        "slot {slot} has no backup that loads"
                    )));
                };
                // The slot file does not hold this song: it stays unsaved until saved.
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
            Command::QueueParsed { slot, parsed } => {
                let incoming = Incoming {
                    slot,
                    saved: Some(parsed.slot.clone()),
                    song: parsed.slot,
                    from_disk: true,
                };
                self.queue(incoming, &parsed.warnings, false, now)
            }
            Command::Revert => self.revert(now),
            Command::SaveSlot { slot, force } => self.save(slot, force),
            Command::RecordStart(name) => {
                let file = crate::audio::recorder::recording_file_name(name.as_deref())
                    .map_err(ControlError::Invalid)?;
                let path = self.recordings_dir.join(file);
                self.recorder.start(&path).map_err(ControlError::Record)?;
                Ok(Some(format!("recording to {}", path.display())))
            }
            Command::RecordStop => {
                let info = self.recorder.stop().map_err(ControlError::Record)?;
                let msg = format!(
                    "recorded {:.2} s to {}",
                    info.seconds(),
                    info.path.display()
                );
                self.notices.push_back(Notice::Recorded(info));
                Ok(Some(msg))
            }
            Command::EngineStart => {
                self.link.stats.muted.store(false, Ordering::Relaxed);
                Ok(Some("audio on".into()))
            }
            Command::EngineStop => {
                self.dispatch(Command::Stop, now)?;
                if self.recorder.current().is_some() {
                    self.dispatch(Command::RecordStop, now)?;
                }
                self.link.stats.muted.store(true, Ordering::Relaxed);
                Ok(Some("audio off".into()))
            }
            Command::Undo => {
                if let Some(q) = self.queued.take() {
                    // The newest intent is the load still waiting for its bar: it never happens.
                    self.link.send(EngineMsg::CancelQueued);
                    self.status.queued = None;
                    return Ok(Some(format!("slot {} no longer queued", q.slot)));
                }
                let entry = self
                    .undo
                    .pop_back()
                    .ok_or(ControlError::NothingTo("undo"))?;
                let current = self.restore(entry.slot, entry.before, entry.saved);
                self.redo.push(current);
                Ok(Some("undone".into()))
            }
            Command::Redo => {
                let next = self.redo.pop().ok_or(ControlError::NothingTo("redo"))?;
                let before = self.restore(next.slot, next.song, next.saved);
                self.undo.push_back(UndoEntry {
                    before: before.song,
                    slot: before.slot,
                    saved: before.saved,
                    key: None,
                    at: now,
                });
                Ok(Some("redone".into()))
            }
        }
    }

    /// Runs an edit of the song: remembers the state for undo, then sends the engine what
    /// changed. Edits with the same `coalesce` key within a second form one undo step (holding
    /// a key down on a parameter is one edit). While a slot is queued, edits go to the playing
    /// song and are heard until the bar.
    fn edit(
        &mut self,
        now: Instant,
        coalesce: Option<&str>,
        f: impl FnOnce(&mut Slot) -> Result<Option<String>, ControlError>,
    ) -> Result<Option<String>, ControlError> {
        let before = self.song.clone();
        let msg = f(&mut self.song)?;
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
            }
        } else {
            self.push_undo(before.clone(), coalesce, now);
        }
        self.redo.clear();
        if let Some(q) = self.queued.as_mut() {
            q.edited = true;
        }
        self.sync(&before);
        Ok(msg)
    }

    fn push_undo(&mut self, before: Slot, key: Option<&str>, now: Instant) {
        self.undo.push_back(UndoEntry {
            before,
            slot: self.slot,
            saved: self.saved.clone(),
            key: key.map(str::to_string),
            at: now,
        });
        if self.undo.len() > UNDO_LIMIT {
            self.undo.pop_front();
        }
    }

    /// Sends the engine what differs between `before` and the current song. A slot waiting
    /// for its bar keeps its own snapshot in the engine; these go to what plays until then.
    fn sync(&mut self, before: &Slot) {
        let (a, b) = (&before.sequencer, &self.song.sequencer);
        if a.bpm != b.bpm {
            let bpm = b.bpm;
            self.send_bpm(bpm);
            return self.sync_rest(before);
        }
        self.sync_rest(before);
    }

    fn sync_rest(&mut self, before: &Slot) {
        let (a, b) = (&before.sequencer, &self.song.sequencer);
        if a.swing != b.swing {
            self.link.send(EngineMsg::SetSwing(b.swing));
        }
        if a.tracks != b.tracks {
            let set = TrackSet::from_tracks(&b.tracks, self.voices);
            self.link.send(EngineMsg::SetTracks(Box::new(set)));
        }
        for id in ParamId::all(self.voices) {
            let v = self.song.params.get(id);
            if before.params.get(id) != v {
                self.link.send(EngineMsg::SetParam {
                    id,
                    value: v as f32,
                });
            }
        }
    }

    fn send_bpm(&mut self, bpm: f64) {
        self.status.playing_bpm = bpm;
        self.link.send(EngineMsg::SetBpm(bpm));
    }

    /// The engine applied a load: a queued slot becomes the song now.
    fn on_applied(&mut self, slot: Option<SlotNumber>, bar: u64) {
        self.status.queued = None;
        self.status.playing_slot = slot;
        if let Some(q) = self.queued.take_if(|q| Some(q.slot) == slot) {
            let edited = q.edited;
            let incoming = Incoming {
                slot: q.slot,
                song: q.song,
                saved: q.saved,
                from_disk: q.from_disk,
            };
            self.switch_to(incoming, Instant::now());
            self.status.playing_bpm = self.song.sequencer.bpm;
            if edited {
                // An edit of the old song may have reached the engine after its switch.
                let scene = Scene::from_slot(&self.song, self.voices);
                self.link.send(EngineMsg::Amend(Box::new(scene)));
            }
        } else if self.queued.is_none() && slot != self.slot {
            // A load the controller no longer wants (undone just as its bar came): the
            // engine plays the controller's song again, without cutting voices.
            let scene = Scene::from_slot(&self.song, self.voices);
            self.link.send(EngineMsg::Amend(Box::new(scene)));
            self.status.playing_slot = self.slot;
        }
        if let Some(slot) = slot {
            self.notices.push_back(Notice::SlotApplied { slot, bar });
        }
    }

    /// What loading `slot` brings: the current song when it is that slot's unsaved edit,
    /// its draft when it has one, else its file.
    fn load(
        &mut self,
        slot: SlotNumber,
        immediate: bool,
        now: Instant,
    ) -> Result<Option<String>, ControlError> {
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
            let saved = self.store.load(slot).ok().map(|p| p.slot);
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
            return Ok(Some(match msg {
                Some(m) => format!("{restored} — {m}"),
                None => restored,
            }));
        }
        let parsed = match self.store.load(slot) {
            Ok(p) => p,
            Err(error @ crate::store::StoreError::Slot { .. }) => {
                return Err(match self.store.load_backup_fallback(slot) {
                    Ok(Some((backup, _))) => ControlError::Corrupt {
                        slot,
                        error,
                        backup,
                    },
                    _ => ControlError::Store(error),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let incoming = Incoming {
            slot,
            saved: Some(parsed.slot.clone()),
            song: parsed.slot,
            from_disk: false,
        };
        self.queue(incoming, &parsed.warnings, immediate, now)
    }

    fn queue(
        &mut self,
        incoming: Incoming,
        warnings: &[crate::model::slot::Warning],
        immediate: bool,
        now: Instant,
    ) -> Result<Option<String>, ControlError> {
        let slot = incoming.slot;
        for w in warnings {
            self.notices
                .push_back(Notice::Message(Level::Warning, format!("slot {slot}: {w}")));
        }
        let voices = self.voices;
        for t in &incoming.song.sequencer.tracks {
            // Say it once: the loader may have reported this track's voice already.
            let reported = warnings
                .iter()
                .any(|w| w.path.ends_with(".voice_id") && w.path.contains(t.name.as_str()));
            if !reported && t.voice().is_none_or(|v| v as usize > voices) {
                self.notices.push_back(Notice::Message(
                    Level::Warning,
                    format!(
                        "slot {slot}: track {:?} plays {} but {voices} voices run — it stays silent",
                        t.name, t.voice_id
                    ),
                ));
            }
        }
        let scene = Scene::from_slot(&incoming.song, self.voices);
        let name = incoming.song.metadata.name.clone();
        let slot_tag = slot.get() as u16;
        if immediate || !self.status.running {
            if self.queued.take().is_some() || self.status.queued.take().is_some() {
                self.link.send(EngineMsg::CancelQueued);
            }
            let timing = if immediate {
                LoadTiming::Immediate
            } else {
                LoadTiming::NextBar
            };
            self.link.send(EngineMsg::Load {
                scene: Box::new(scene),
                timing,
                slot: slot_tag,
            });
            self.switch_to(incoming, now);
            self.status.playing_bpm = self.song.sequencer.bpm;
            return Ok(Some(format!("slot {slot} {name:?} loaded")));
        }
        self.link.send(EngineMsg::Load {
            scene: Box::new(scene),
            timing: LoadTiming::NextBar,
            slot: slot_tag,
        });
        // The engine confirms the exact bar; predict it so the screen can say it now.
        let bar = if self.status.fresh {
            0
        } else {
            self.status.bar + 1
        };
        let from_disk = incoming.from_disk;
        self.queued = Some(Queued {
            slot,
            song: incoming.song,
            saved: incoming.saved,
            bar,
            from_disk,
            edited: false,
        });
        self.status.queued = Some((slot, bar));
        self.notices.push_back(Notice::SlotQueued {
            slot,
            bar,
            from_disk,
        });
        Ok(Some(if from_disk {
            format!("slot {slot} changed on disk — applies at bar {bar}")
        } else {
            format!("slot {slot} {name:?} queued — applies at bar {bar}")
        }))
    }

    /// Makes `incoming` the song (one undo step). The outgoing slot's unsaved edits become its
    /// draft.
    fn switch_to(&mut self, incoming: Incoming, now: Instant) {
        let before = self.song.clone();
        self.push_undo(before.clone(), Some(LOAD_KEY), now);
        self.redo.clear();
        self.restore(Some(incoming.slot), incoming.song, incoming.saved);
    }

    /// Puts a song in place (a load, undo or redo) and tells the engine what changed; when the
    /// slot changes, the outgoing slot's unsaved edits are kept as its draft. Returns what was
    /// there before.
    fn restore(&mut self, slot: Option<SlotNumber>, song: Slot, saved: Option<Slot>) -> RedoEntry {
        if self.slot != slot {
            if let Some(out) = self.slot {
                if self.is_dirty() {
                    self.drafts.insert(out, self.song.clone());
                    self.write_draft(out);
                } else {
                    self.drafts.remove(&out);
                    self.remove_draft(out);
                }
            }
            self.draft_written = None;
            if let Some(n) = slot
                && let Some(draft) = self.drafts.remove(&n)
            {
                // Its draft file stays as written until the next flush says otherwise.
                self.draft_written = Some((n, draft));
            }
        } else if let Some(n) = slot {
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
        }
    }

    /// Drops the current slot's unsaved edits and puts its file's version back (one undo step,
    /// so undo brings the edits back).
    fn revert(&mut self, now: Instant) -> Result<Option<String>, ControlError> {
        let Some(slot) = self.slot else {
            return Err(ControlError::Invalid(
                "a new song has no slot file to revert to".into(),
            ));
        };
        if !self.is_dirty() {
            return Ok(Some(format!("slot {slot} has no unsaved edits")));
        }
        let parsed = self.store.load(slot)?;
        let before = self.song.clone();
        self.push_undo(before, Some(LOAD_KEY), now);
        self.redo.clear();
        self.restore(Some(slot), parsed.slot.clone(), Some(parsed.slot));
        self.flush_draft_at(now, true);
        Ok(Some(format!(
            "slot {slot}: unsaved edits dropped, the file's version is back (undo brings them back)"
        )))
    }

    fn write_draft(&mut self, n: SlotNumber) {
        let song = if self.slot == Some(n) {
            &self.song
        } else if let Some(d) = self.drafts.get(&n) {
            d
        } else {
            return;
        };
        if let Err(e) = self.store.write_draft(n, song) {
            let text = format!("slot {n}: unsaved edits not mirrored to drafts/: {e}");
            self.notify(Level::Error, text);
        }
    }

    fn remove_draft(&mut self, n: SlotNumber) {
        if let Err(e) = self.store.remove_draft(n) {
            self.notify(Level::Warning, format!("slot {n}: {e}"));
        }
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

    fn save(&mut self, slot: SlotNumber, force: bool) -> Result<Option<String>, ControlError> {
        if !force
            && self.slot != Some(slot)
            && let Ok(existing) = self.store.load(slot)
            && existing.slot.sequencer.tracks != self.song.sequencer.tracks
        {
            return Err(ControlError::WouldOverwrite(
                slot,
                existing.slot.metadata.name.clone(),
            ));
        }
        let mut song = self.song.clone();
        song.timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| (d.as_millis() as f64) / 1000.0)
            .unwrap_or(0.0);
        song.sequencer.running = self.status.running;
        song.sequencer.global_step = self.status.global_step;
        song.voice_modules = song.voice_modules.max(self.voices);
        let info = self.store.save(slot, &song)?;
        self.own_saves.insert(slot.get(), info.content_hash);
        self.song.timestamp = song.timestamp;
        self.song.voice_modules = song.voice_modules;
        // The edits now live in `slot`'s file: no draft of the old or the new slot is needed.
        if let Some(old) = self.slot.filter(|&o| o != slot) {
            self.drafts.remove(&old);
            self.remove_draft(old);
        }
        self.drafts.remove(&slot);
        self.remove_draft(slot);
        self.draft_written = None;
        self.slot = Some(slot);
        self.saved = Some(song);
        self.notices.push_back(Notice::Saved {
            slot,
            path: info.path.clone(),
        });
        Ok(Some(format!(
            "saved slot {slot} to {}",
            info.path.display()
        )))
    }
}

/// A song about to become the current one.
struct Incoming {
    slot: SlotNumber,
    song: Slot,
    saved: Option<Slot>,
    from_disk: bool,
}

/// The engine's tag of a slot (0 = not from a slot).
fn slot_tag(slot: Option<SlotNumber>) -> u16 {
    slot.map_or(0, |s| s.get() as u16)
}

/// The slot an engine tag names (0 and numbers past the last slot name none).
fn tag_to_slot(tag: u16) -> Option<SlotNumber> {
    u8::try_from(tag).ok().and_then(|n| SlotNumber::new(n).ok())
}

/// Beats (of [`STEPS_PER_BAR`]` / 4` steps) from the playhead to the start of bar `target`,
/// rounded up; 0 when that bar has begun. `fresh`: play was pressed and no step sounded yet.
pub fn beats_until(target: u64, bar: u64, step_in_bar: u8, fresh: bool) -> u64 {
    let per_beat = STEPS_PER_BAR / 4;
    let at = if fresh {
        0
    } else {
        bar * STEPS_PER_BAR + step_in_bar as u64
    };
    (target * STEPS_PER_BAR)
        .saturating_sub(at)
        .div_ceil(per_beat)
}

/// Refuses NaN and infinite numbers before they reach the song (clamping would quietly turn
/// them into defaults).
fn check_finite(cmd: &Command) -> Result<(), ControlError> {
    let (what, v) = match cmd {
        Command::SetBpm(v) | Command::FollowTempo(v) => ("BPM", *v),
        Command::NudgeBpm(v) => ("BPM change", *v),
        Command::SetSwing(v) | Command::NudgeSwing(v) => ("swing", *v),
        Command::SetParam { id, value } => return finite(&id.label(), *value),
        Command::SetTrackField { value, .. } => ("track value", *value),
        Command::SetNotes { notes, .. } => {
            return notes.iter().try_for_each(|n| finite("note", *n));
        }
        _ => return Ok(()),
    };
    finite(what, v)
}

fn finite(what: &str, v: f64) -> Result<(), ControlError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!("{what} {v} is not a number")))
    }
}

/// Longest pattern a track may have.
pub const MAX_PATTERN: usize = 64;

fn check_pattern(p: &str) -> Result<(), ControlError> {
    let n = p.chars().count();
    if n > MAX_PATTERN {
        return Err(ControlError::Invalid(format!(
            "pattern of {n} steps is longer than {MAX_PATTERN}"
        )));
    }
    Ok(())
}

fn voice_number(id: &str) -> Result<u8, ControlError> {
    match crate::model::Module::parse(id) {
        Some(crate::model::Module::Voice(n)) => Ok(n),
        _ => Err(ControlError::Invalid(format!(
            "{id:?} is not a voice (voice1–voice{MAX_VOICES})"
        ))),
    }
}

fn track_index(s: &Slot, name: &str) -> Result<usize, ControlError> {
    s.sequencer
        .tracks
        .iter()
        .position(|t| t.name == name)
        .ok_or_else(|| ControlError::NoTrack(name.to_string()))
}

fn track_mut<'a>(s: &'a mut Slot, name: &str) -> Result<&'a mut Track, ControlError> {
    let i = track_index(s, name)?;
    Ok(&mut s.sequencer.tracks[i])
}

/// Something the control loop polls on every turn, in the TUI and in headless mode alike:
/// the OSC server, the slot-file watcher. Each turns what it received into [`Command`]s
/// applied to the one [`Controller`], so every input behaves the same.
pub trait Service {
    /// Handles whatever arrived since the last call, without blocking. Returns true when
    /// something the screen shows may have changed.
    fn poll(&mut self, ctl: &mut Controller) -> bool;

    /// Called after the controller's notices were gathered (bars, slot changes), so services
    /// can send them on (OSC clock and state out). The default does nothing.
    fn observe(&mut self, _ctl: &Controller, _notices: &[Notice]) {}

    /// Hands the service the loop's waker: a service with a thread of its own (a socket, a
    /// file watch) wakes the loop when something arrived. The default keeps none.
    fn set_waker(&mut self, _waker: Waker) {}

    /// One line for the status bar (OSC address, clock source), when the service has one.
    fn status_line(&self) -> Option<String> {
        None
    }
}
