//! Every user intent as a [`Command`], and [`Controller::apply`]: the one place that changes
//! state. Keyboard, OSC and file changes all end up here, so they behave the same.
//!
//! `apply` is a table: one line per command, dispatching to handlers split by concern —
//! [`edit`] (the song: steps, patterns, tracks, parameters, tempo), [`slots`] (load, queue,
//! save, backups, revert, drafts), [`undo`] (undo, redo and coalescing, with time passed in),
//! [`record`] (recording, audio on/off), [`transport`] (play, stop, followed tempo, gates) and
//! [`events`] (engine events → status and notices). Each edit changes the song model, then the
//! [`Controller`] sends the engine only what differs through the [`EngineLink`]. What happened
//! is told as [`Notice`]s, worded for people in one place: [`describe`].

mod ableton;
mod chain;
mod disk;
mod edit;
mod error;
mod events;
mod notice;
mod pattern;
mod prepare;
mod record;
mod slots;
mod transport;
mod undo;
pub mod wake;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::audio::recorder::Recorder;
use crate::engine::link::{EngineLink, SharedStats};
use crate::engine::midi::PortTable;
use crate::engine::{EngineMsg, LoadTiming, STEPS_PER_BAR, Scene};
use crate::model::ParamId;
use crate::model::slot::{Parsed, Slot, Track};
pub use crate::model::steps::StepEdit;
use crate::store::worker::DiskWorker;
use crate::store::{SlotNumber, Store};

pub use crate::audio::recorder::RecordFormat;
pub use crate::model::fmt_num;
pub use ableton::{LinkArgs, LinkStatus};
pub use chain::ChainView;
pub use error::{ControlError, Quantity};
pub use events::EngineStatus;
pub use notice::{Level, Notice, describe};
pub use pattern::{
    HIDDEN_STEPS_KEY, MUTE_GROUP_KEY, PatternOp, hidden_steps, mute_group, parse_row, step_notes,
};
pub use prepare::PreparedView;
pub use wake::{Waker, Wakeup, wake_pair};

use slots::Queued;
use undo::{RedoEntry, UndoEntry};

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
    /// Ableton Link on (`Some(true)`), off, or switched over (`None`).
    Link(Option<bool>),
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
    /// Set a numeric track field.
    SetTrackField {
        /// Track name.
        track: String,
        /// Which field.
        field: crate::model::registry::TrackFieldId,
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
    /// Keyboard-piano entry: step `step` of the track becomes a hit playing `hz` (its notes
    /// are laid out one per hit).
    SetStepNote {
        /// Track name.
        track: String,
        /// Step index.
        step: usize,
        /// The note in Hz.
        hz: f64,
    },
    /// A whole-track edit: fill every N, Euclid, rotate, reverse, clear, double, halve.
    EditPattern {
        /// Track name.
        track: String,
        /// The edit.
        op: PatternOp,
    },
    /// Set how many steps step entry moves on after each step it sets (0–16; performer
    /// setting, not part of the song).
    SetEditStep(usize),
    /// Mute (or unmute) every track of a mute group (`None` toggles).
    MuteGroup {
        /// The group, 1–4.
        group: u8,
        /// New state, or toggle.
        on: Option<bool>,
    },
    /// Put a track in a mute group (0: none).
    SetMuteGroup {
        /// Track name.
        track: String,
        /// The group, 0–4.
        group: u8,
    },
    /// Mutes and solos wait for the next bar while playing (`None` toggles).
    SetMuteQuantize(Option<bool>),
    /// Keep the mutes and solos as they are now in the song: the next save writes them
    /// (otherwise they are performance state and a save leaves the file's as they were).
    KeepMutes,
    /// Start a new empty song in the first empty slot.
    NewSong,
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
    /// Start recording in a given sample format (`/engine/record/start name 16`).
    RecordStartAs(Option<String>, crate::audio::recorder::RecordFormat),
    /// Stop recording.
    RecordStop,
    /// Audio on (`/engine/start`).
    EngineStart,
    /// Audio off: stops the sequencer and any recording (`/engine/stop`).
    EngineStop,
    /// Drop the current slot's unsaved edits (its draft) and put its file's version back.
    Revert,
    /// Read one slot file again: it changed on disk (a file watcher saw it settle).
    ReadSlotFile(SlotNumber),
    /// Read every slot file again (the slot list; a watcher that lost events).
    RescanSlots,
    /// Settle a file changed on disk under unsaved edits: take the file's version, or keep
    /// the edits.
    ResolveConflict {
        /// Take the file's version (the edits stay in the undo history).
        take_file: bool,
    },
    /// Set the chain being edited from its typed form (`[3 x4, 11 x1]`).
    ChainSet {
        /// Its name (also its file name).
        name: String,
        /// The entries, typed.
        entries: String,
        /// Loop at the end (else the transport stops).
        looping: bool,
    },
    /// Read a chain from `chains/NAME.json` to edit or start it.
    ChainOpen(String),
    /// Save the chain being edited to `chains/NAME.json`.
    ChainSave,
    /// Start a chain (opened from its file when named, else the one being edited) from its
    /// first entry at the next bar.
    ChainStart(Option<String>),
    /// Jump to entry K (from 1) of the running chain at the next bar.
    ChainJump(usize),
    /// Hold the current slot of the running chain (`None` toggles).
    ChainHold(Option<bool>),
    /// Leave the running chain; the current slot keeps playing.
    ChainLeave,
    /// Play a slot for one bar from the next bar, then the slot playing now again.
    OneShot(SlotNumber),
    /// Fill mode on or off (`None` toggles): steps with the `fill` condition play while it
    /// is on, `!fill` steps while it is off. Performance state: not saved, kept across stop
    /// and slot loads.
    SetFill(Option<bool>),
    /// Fill for one bar: on at the first sample of the next bar, off at the first sample of
    /// the bar after (the engine switches it sample-exactly).
    FillBar,
    /// Change one key of a step's entry in the track's `steps` map (schema 1.1): note,
    /// velocity, a lock, micro, ratchet, chance, condition.
    SetStepData {
        /// Track name.
        track: String,
        /// Step index, from 0 (inside the track's pattern).
        step: usize,
        /// The change.
        edit: StepEdit,
    },
    /// Prepare slot N: edit it while another plays, without hearing it (`None`: back to
    /// editing what plays).
    Prepare(Option<SlotNumber>),
    /// Queue the prepared slot, with its edits, for the next bar (or at once).
    QueuePrepared {
        /// At once instead of at the next bar.
        immediate: bool,
    },
    /// Apply a song edit, undo, redo, revert or save to the prepared slot.
    OnPrepared(Box<Command>),
    /// Arm MIDI learn for a parameter (the next CC or note received is mapped to it), or
    /// with `None` disarm it. Arming the parameter armed already disarms it.
    MidiLearn(Option<ParamId>),
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
                | Command::Link(_)
                | Command::SetEditStep(_)
                | Command::Mute { .. }
                | Command::Solo { .. }
                | Command::KeepMutes
                | Command::MuteGroup { .. }
                | Command::SetMuteQuantize(_)
                | Command::Gate { .. }
                | Command::LoadSlot { .. }
                | Command::LoadBackup { .. }
                | Command::QueueParsed { .. }
                | Command::SaveSlot { .. }
                | Command::ReadSlotFile(_)
                | Command::RescanSlots
                | Command::ResolveConflict { .. }
                | Command::RecordStart(_)
                | Command::RecordStartAs(..)
                | Command::RecordStop
                | Command::EngineStart
                | Command::EngineStop
                | Command::ChainSet { .. }
                | Command::ChainOpen(_)
                | Command::ChainSave
                | Command::ChainStart(_)
                | Command::ChainJump(_)
                | Command::ChainHold(_)
                | Command::ChainLeave
                | Command::OneShot(_)
                | Command::SetFill(_)
                | Command::FillBar
                | Command::Prepare(_)
                | Command::QueuePrepared { .. }
                | Command::OnPrepared(_)
                | Command::MidiLearn(_)
        )
    }
}

impl Command {
    /// What an edit changes, in a few words, for "undone: …" and "redone: …".
    pub fn undo_label(&self) -> String {
        match self {
            Command::SetBpm(_) | Command::NudgeBpm(_) => "tempo".into(),
            Command::SetSwing(_) | Command::NudgeSwing(_) => "swing".into(),
            Command::SetStep { track, step, .. } => format!("step {} of {track}", step + 1),
            Command::SetPattern { track, .. } => format!("steps of {track}"),
            Command::SetLength { track, .. } => format!("length of {track}"),
            Command::SetNotes { track, .. } => format!("notes of {track}"),
            Command::SetTrackField { track, field, .. } => format!("{track} {}", field.key()),
            Command::SetTrackVoice { track, .. } => format!("voice of {track}"),
            Command::AddTrack(t) => format!("track {}", t.name),
            Command::RemoveTrack(name) => format!("removal of {name}"),
            Command::RenameTrack { from, .. } => format!("rename of {from}"),
            Command::MoveTrack { track, .. } => format!("move of {track}"),
            Command::EditPattern { track, op } => format!("{track} {}", op.describe()),
            Command::SetStepNote { track, step, .. } => {
                format!("note on step {} of {track}", step + 1)
            }
            Command::SetStepData { track, step, .. } => {
                format!("data of step {} of {track}", step + 1)
            }
            Command::KeepMutes => "mutes kept in the song".into(),
            Command::SetMuteGroup { track, .. } => format!("mute group of {track}"),
            Command::ReplaceTracks(_) => "tracks".into(),
            Command::ClearTracks => "clear of every track".into(),
            Command::SetName(_) => "song name".into(),
            Command::SetParam { id, .. } => id.label(),
            Command::LoadSlot { slot, .. } => format!("load of slot {slot}"),
            Command::LoadBackup { slot } => format!("backup of slot {slot}"),
            Command::QueueParsed { slot, .. } => format!("slot {slot} from disk"),
            Command::Revert => "revert".into(),
            Command::NewSong => "new song".into(),
            Command::ResolveConflict { .. } => "file from disk".into(),
            _ => "edit".into(),
        }
    }
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

/// Edits of the current slot reach its draft file at most this long after they were made.
pub const DRAFT_DEBOUNCE: Duration = Duration::from_millis(250);
/// Longest pattern a track may have (the limit lives with the others in `model::limits`).
pub use crate::model::limits::MAX_PATTERN;
/// Steps step entry moves on by default (Renoise's default edit step).
pub const DEFAULT_EDIT_STEP: usize = 1;
/// Beats in a bar: the beat notices and the countdown to a queued slot count these.
pub const BEATS_PER_BAR: u64 = 4;
/// Steps in a beat.
pub const STEPS_PER_BEAT: u64 = STEPS_PER_BAR / BEATS_PER_BAR;

/// What a handler answers: a short confirmation for the message line / OSC reply, if any.
type Reply = Result<Option<String>, ControlError>;

/// True when two songs hold the same content: what a save stamps (time, transport position,
/// voice count) does not count.
pub fn same_content(a: &Slot, b: &Slot) -> bool {
    a.chronus_version == b.chronus_version
        && a.schema_version == b.schema_version
        && a.metadata == b.metadata
        && a.sequencer.bpm == b.sequencer.bpm
        && a.sequencer.swing == b.sequencer.swing
        && a.sequencer.seed == b.sequencer.seed
        && a.sequencer.tracks.len() == b.sequencer.tracks.len()
        && a.sequencer
            .tracks
            .iter()
            .zip(&b.sequencer.tracks)
            .all(|(x, y)| same_track(x, y))
        && a.sequencer.extra == b.sequencer.extra
        && a.params == b.params
        && a.module_extra == b.module_extra
        && a.modules_extra == b.modules_extra
        && a.extra == b.extra
}

/// True when two tracks hold the same content; mutes and solos are performance state and
/// do not count.
fn same_track(a: &Track, b: &Track) -> bool {
    if a.muted == b.muted && a.solo == b.solo {
        return a == b;
    }
    Track {
        muted: b.muted,
        solo: b.solo,
        ..a.clone()
    } == *b
}

/// Gives the tracks of `to` the mutes and solos of the tracks of the same name in `from`
/// (tracks `from` lacks keep theirs).
fn carry_mutes(from: &Slot, to: &mut Slot) {
    for t in &mut to.sequencer.tracks {
        if let Some(o) = from.sequencer.tracks.iter().find(|o| o.name == t.name) {
            t.muted = o.muted;
            t.solo = o.solo;
        }
    }
}

/// True when the tracks of two songs are muted and soloed alike (by track name).
fn same_mutes(a: &Slot, b: &Slot) -> bool {
    a.sequencer.tracks.iter().all(|t| {
        let (muted, solo) = b
            .sequencer
            .tracks
            .iter()
            .find(|o| o.name == t.name)
            .map_or((false, false), |o| (o.muted, o.solo));
        t.muted == muted && t.solo == solo
    })
}

/// Mutes and solos waiting for the bar: (track, solo?) → the new state.
type PendingMutes = BTreeMap<(String, bool), bool>;

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
    /// The MIDI note ports the songs have named, by index (the engine's events carry it).
    midi_ports: PortTable,
    status: EngineStatus,
    recordings_dir: PathBuf,
    /// The slot files as last reported by the disk thread.
    disk: disk::DiskState,
    /// The disk thread: saves, drafts and slot-file reads.
    worker: DiskWorker,
    link: EngineLink,
    recorder: Recorder,
    undo: VecDeque<UndoEntry>,
    redo: Vec<RedoEntry>,
    /// What the command being applied changes (the label of the undo step it makes).
    edit_label: String,
    /// Steps step entry moves on after setting a step.
    edit_step: usize,
    /// Slots (`None`: the unsaved new song) whose next save writes the mutes and solos as
    /// they are (the performer asked). Kept per slot, so leaving and coming back keeps them.
    keep_mutes: std::collections::BTreeSet<Option<SlotNumber>>,
    /// Mutes and solos wait for the next bar while playing.
    mute_quantize: bool,
    /// Mutes and solos waiting for the next bar: (track, solo?) → the new state. At most
    /// two per track.
    pending_mutes: PendingMutes,
    /// The engine holds tracks with the pending mutes, to switch to at the bar.
    mutes_queued: bool,
    /// The pending mutes each recent set of queued tracks held, by the id it was queued
    /// with (newest last): the engine names the one that took effect, which may be older
    /// than the newest when a press came just as the bar began.
    queued_mutes: std::collections::VecDeque<(u64, PendingMutes)>,
    /// The id the next set of queued tracks gets.
    next_queue_id: u64,
    notices: VecDeque<Notice>,
    /// The chain being edited (set or opened last) while none runs.
    chain_def: Option<crate::model::chain::Chain>,
    /// The chain that runs.
    chain_run: Option<chain::ChainRun>,
    /// A one-shot on the way.
    oneshot: Option<chain::OneShot>,
    /// Fill mode: `fill` steps play.
    fill: bool,
    /// A slot being prepared (edited while another plays), or prepared and queued.
    prepared: Option<prepare::Prepared>,
    /// An edit of the prepared song is running: the engine is told nothing.
    offstage: bool,
    /// Ableton Link (off until switched on).
    ableton: ableton::LinkState,
    /// MIDI input is open (MIDI learn can be armed).
    midi_input: bool,
    /// The parameter MIDI learn waits to map, when armed.
    midi_learn: Option<ParamId>,
}

impl Controller {
    /// A controller sending to `link`, with an empty song. Drafts left in the store's
    /// `drafts/` folder (unsaved edits of an earlier run) are taken in: loading their slot
    /// restores them.
    pub fn new(store: Store, voices: usize, link: EngineLink, recorder: Recorder) -> Controller {
        let mut recorder = recorder;
        recorder.bind(link.stats.clone());
        let worker = DiskWorker::start(store.clone());
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
            midi_ports: PortTable::default(),
            status: EngineStatus {
                playing_bpm: Slot::default().sequencer.bpm,
                backend_kind: "none",
                ..EngineStatus::default()
            },
            recordings_dir: PathBuf::from("recordings"),
            disk: Default::default(),
            worker,
            link,
            recorder,
            undo: VecDeque::new(),
            redo: Vec::new(),
            edit_label: String::new(),
            edit_step: DEFAULT_EDIT_STEP,
            keep_mutes: std::collections::BTreeSet::new(),
            mute_quantize: false,
            pending_mutes: BTreeMap::new(),
            mutes_queued: false,
            queued_mutes: std::collections::VecDeque::new(),
            next_queue_id: 0,
            notices: VecDeque::new(),
            chain_def: None,
            chain_run: None,
            oneshot: None,
            fill: false,
            prepared: None,
            offstage: false,
            ableton: Default::default(),
            midi_input: false,
            midi_learn: None,
        };
        ctl.scan_now();
        ctl.take_in_drafts();
        ctl
    }

    /// Hands the controller the loop's waker: the disk thread wakes the loop when a save, a
    /// draft write or a file read is done.
    pub fn set_waker(&self, waker: Waker) {
        self.worker.set_wake(move || waker.wake());
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
            Some(saved) => {
                !same_content(&self.song, saved)
                    || (self.keeps_mutes() && !same_mutes(&self.song, saved))
            }
            None => true,
        }
    }

    /// Steps step entry moves on after setting a step (0: it stays).
    pub fn edit_step(&self) -> usize {
        self.edit_step
    }

    /// True while fill mode is on (`fill` steps play, `!fill` steps do not).
    pub fn fill(&self) -> bool {
        self.fill
    }

    /// The parameter MIDI learn waits to map, when armed.
    pub fn midi_learn(&self) -> Option<ParamId> {
        self.midi_learn
    }

    /// True when MIDI input is open (MIDI learn can be armed).
    pub fn midi_input(&self) -> bool {
        self.midi_input
    }

    /// Says whether MIDI input is open (the session, once MIDI is opened).
    pub fn set_midi_input(&mut self, open: bool) {
        self.midi_input = open;
        if !open {
            self.midi_learn = None;
        }
    }

    /// True when mutes and solos wait for the next bar while playing.
    pub fn mute_quantize(&self) -> bool {
        self.mute_quantize
    }

    /// The mute (`false`) or solo (`true`) state `track` takes at the next bar, if one waits.
    pub fn pending_mute(&self, track: &str, solo: bool) -> Option<bool> {
        self.pending_mutes.get(&(track.to_string(), solo)).copied()
    }

    /// True when the next save writes the mutes and solos as they are now.
    pub fn keeps_mutes(&self) -> bool {
        self.keep_mutes.contains(&self.slot)
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

    /// The MIDI note ports the songs have named so far, by the index the engine's note
    /// events carry.
    pub fn midi_ports(&self) -> &PortTable {
        &self.midi_ports
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
        let scene = Scene::from_slot_routed(&self.song, self.voices, &mut self.midi_ports);
        self.link.send(EngineMsg::Load {
            scene: Box::new(scene),
            timing: LoadTiming::Immediate,
            slot: slot_tag(self.slot),
        });
        if self.status.running {
            self.link.send(EngineMsg::Play);
        }
        self.link.send(EngineMsg::SetFill(self.fill));
        self.mutes_queued = false;
        self.queue_mutes();
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

    /// Starts a take of the master output to `path`, or to the first free
    /// numbered name beside it; never inside the slots, backups or drafts folders. Returns
    /// the file the recording goes to.
    pub fn record_to(&mut self, path: &std::path::Path) -> Result<PathBuf, ControlError> {
        self.store
            .check_output_path(path)
            .map_err(|e| ControlError::Record(e.into()))?;
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

    /// Adds a notice a service made (an OSC answer, a printed schema) to those the frontends
    /// take.
    pub fn push_notice(&mut self, n: Notice) {
        self.notices.push_back(n);
    }

    /// Adds a message for the performer.
    pub fn notify(&mut self, level: Level, text: impl Into<String>) {
        self.notices.push_back(Notice::Message(level, text.into()));
    }

    /// The sentence a person reads for `n` ([`describe`]), naming the song a queued slot
    /// brings while the controller still knows it.
    pub fn describe(&self, n: &Notice) -> Option<String> {
        let name = match n {
            Notice::SlotQueued { slot, .. } => self.slot_name(*slot),
            _ => None,
        };
        describe(n, name)
    }

    /// The `metadata.name` of slot `slot`'s song, when it is queued or current.
    fn slot_name(&self, slot: SlotNumber) -> Option<&str> {
        match &self.queued {
            Some(q) if q.slot == slot => Some(&q.song.metadata.name),
            _ if self.slot == Some(slot) => Some(&self.song.metadata.name),
            _ => None,
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

    /// The table of commands: one line each, to the handler of its concern.
    fn dispatch(&mut self, cmd: Command, now: Instant) -> Reply {
        edit::check_finite(&cmd)?;
        self.edit_label = cmd.undo_label();
        match cmd {
            Command::Play => self.play(),
            Command::Stop => self.stop(),
            Command::TogglePlay => self.toggle_play(),
            Command::SetBpm(v) => self.set_bpm(v, now),
            Command::FollowTempo(v) => self.follow_tempo(v),
            Command::NudgeBpm(d) => self.set_bpm(self.tempo_to_nudge() + d, now),
            Command::Link(on) => self.set_link(on),
            Command::SetSwing(v) => self.set_swing(v, now),
            Command::NudgeSwing(d) => self.set_swing(self.song.sequencer.swing + d, now),
            Command::SetStep { track, step, value } => self.set_step(&track, step, value, now),
            Command::SetPattern { track, pattern } => self.set_pattern(&track, pattern, now),
            Command::SetLength { track, len } => self.set_length(&track, len, now),
            Command::SetNotes { track, notes } => self.set_notes(&track, &notes, now),
            Command::SetTrackField {
                track,
                field,
                value,
            } => self.set_track_field(&track, field, value, now),
            Command::SetTrackVoice { track, voice } => self.set_track_voice(&track, &voice, now),
            Command::AddTrack(t) => self.add_track(*t, now),
            Command::RemoveTrack(name) => self.remove_track(&name, now),
            Command::RenameTrack { from, to } => self.rename_track(&from, &to, now),
            Command::MoveTrack { track, delta } => self.move_track(&track, delta, now),
            Command::Mute { track, on } => self.mute(&track, on),
            Command::Solo { track, on } => self.solo(&track, on),
            Command::EditPattern { track, op } => self.edit_pattern(&track, op, now),
            Command::SetStepNote { track, step, hz } => self.set_step_note(&track, step, hz, now),
            Command::SetEditStep(n) => self.set_edit_step(n),
            Command::KeepMutes => self.keep_mutes(),
            Command::MuteGroup { group, on } => self.mute_group(group, on),
            Command::SetMuteGroup { track, group } => self.set_mute_group(&track, group, now),
            Command::SetMuteQuantize(on) => self.set_mute_quantize(on),
            Command::NewSong => self.new_song(now),
            Command::ReplaceTracks(tracks) => self.replace_tracks(tracks, now),
            Command::ClearTracks => self.clear_tracks(now),
            Command::SetName(name) => self.set_name(name, now),
            Command::SetParam { id, value } => self.set_param(id, value, now),
            Command::Gate { voice, on } => self.gate(voice, on),
            Command::LoadSlot { slot, immediate } => self.load_by_hand(slot, immediate, now),
            Command::LoadBackup { slot } => self.load_backup(slot, now),
            Command::QueueParsed { slot, parsed } => self.queue_parsed(slot, *parsed, now),
            Command::SaveSlot { slot, force } => self.save(slot, force),
            Command::Revert => self.revert(now),
            Command::ReadSlotFile(slot) => self.read_slot_file(slot),
            Command::RescanSlots => self.rescan(),
            Command::ResolveConflict { take_file } => self.resolve_conflict(take_file),
            Command::RecordStart(name) => self.record_start(name.as_deref()),
            Command::RecordStartAs(name, format) => self.record_start_as(name.as_deref(), format),
            Command::RecordStop => self.record_stop(),
            Command::EngineStart => self.engine_start(),
            Command::EngineStop => self.engine_stop(),
            Command::ChainSet {
                name,
                entries,
                looping,
            } => self.chain_set(&name, &entries, looping),
            Command::ChainOpen(name) => self.chain_open(&name),
            Command::ChainSave => self.chain_save(),
            Command::ChainStart(name) => self.chain_start(name.as_deref(), now),
            Command::ChainJump(k) => self.chain_jump(k, now),
            Command::ChainHold(on) => self.chain_hold(on, now),
            Command::ChainLeave => self.chain_leave(),
            Command::OneShot(n) => self.oneshot_start(n, now),
            Command::SetFill(on) => self.set_fill(on),
            Command::FillBar => self.fill_bar(),
            Command::SetStepData { track, step, edit } => {
                self.set_step_data(&track, step, edit, now)
            }
            Command::Prepare(n) => self.prepare(n),
            Command::QueuePrepared { immediate } => self.queue_prepared(immediate, now),
            Command::OnPrepared(cmd) => self.on_prepared(*cmd, now),
            Command::MidiLearn(id) => self.set_midi_learn(id),
            Command::Undo => self.undo(),
            Command::Redo => self.redo(now),
        }
    }
}

impl Controller {
    fn set_midi_learn(&mut self, id: Option<ParamId>) -> Reply {
        match id {
            Some(_) if !self.midi_input => Err(ControlError::NoMidiInput),
            Some(id) if self.midi_learn != Some(id) => {
                self.midi_learn = Some(id);
                Ok(Some(format!(
                    "MIDI learn: move a knob or hit a pad to control {} (Esc cancels)",
                    id.label()
                )))
            }
            _ => Ok(self
                .midi_learn
                .take()
                .map(|id| format!("MIDI learn for {} cancelled", id.label()))),
        }
    }
}

/// The engine's tag of a slot: the engine's messages say 0 for "not from a slot", so the
/// `Option` becomes a number only here, at the engine boundary.
fn slot_tag(slot: Option<SlotNumber>) -> u16 {
    slot.map_or(0, |s| s.get() as u16)
}

/// The slot an engine tag names (0 and numbers past the last slot name none).
fn tag_to_slot(tag: u16) -> Option<SlotNumber> {
    u8::try_from(tag).ok().and_then(|n| SlotNumber::new(n).ok())
}

/// Beats (of [`STEPS_PER_BEAT`] steps) from the playhead to the start of bar `target`,
/// rounded up; 0 when that bar has begun. `fresh`: play was pressed and no step sounded yet.
pub fn beats_until(target: u64, bar: u64, step_in_bar: u8, fresh: bool) -> u64 {
    let at = if fresh {
        0
    } else {
        bar * STEPS_PER_BAR + step_in_bar as u64
    };
    (target * STEPS_PER_BAR)
        .saturating_sub(at)
        .div_ceil(STEPS_PER_BEAT)
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

    /// Called once at quit, after the sequencer was told to stop: a service with output in
    /// flight (MIDI's note offs) sends it before the process ends. The default does nothing.
    fn finish(&mut self) {}
}
