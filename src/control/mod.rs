//! Every user intent as a [`Command`], and [`Controller::apply`]: the one place that changes
//! state. Keyboard, OSC and file changes all end up here, so they behave the same.
//!
//! Each edit changes the song model, then [`Controller`] sends the engine only what differs
//! (a parameter, the track set, tempo) through the [`EngineLink`].

pub mod wake;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::audio::recorder::{Recorder, RecordingInfo};
use crate::engine::link::{EngineLink, HostEvent, SharedStats};
use crate::engine::{EngineEvent, EngineMsg, LoadTiming, Scene, TrackSet};

use crate::model::ParamId;
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
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
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
        slot: u16,
        /// The bar it applies at.
        bar: u64,
        /// Queued because its file changed on disk.
        from_disk: bool,
    },
    /// A slot is now playing.
    SlotApplied {
        /// Slot number.
        slot: u16,
        /// Bar it applied at.
        bar: u64,
    },
    /// A slot was saved.
    Saved {
        /// Slot number.
        slot: u8,
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
    pub playing_slot: Option<u16>,
    /// A slot waiting for its bar.
    pub queued: Option<(u16, u64)>,
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
    /// Audio muted by `/engine/stop`.
    pub muted: bool,
    /// Play was pressed and no step has sounded yet (a load then applies at bar 0).
    pub fresh: bool,
}

struct UndoEntry {
    before: Slot,
    slot: Option<SlotNumber>,
    key: Option<String>,
    at: Instant,
}

const UNDO_LIMIT: usize = 500;
/// Undo key of a slot load (never merged with another step).
const LOAD_KEY: &str = "\u{0}load";

/// The control side: owns the song model and sends its changes to the engine.
pub struct Controller {
    /// The song on screen: what saves write and what the engine plays (or will at the bar).
    pub song: Slot,
    /// The slot the song came from or was last saved to.
    pub slot: Option<SlotNumber>,
    /// Edits not yet saved.
    pub dirty: bool,
    /// The pattern store.
    pub store: Store,
    /// Voices the engine runs.
    pub voices: usize,
    /// What the engine reports.
    pub status: EngineStatus,
    /// Where `record start` puts its files.
    pub recordings_dir: PathBuf,
    /// Content hash of the last file Chronus saved per slot, so the watcher can ignore it.
    pub own_saves: std::collections::HashMap<u8, u64>,
    link: EngineLink,
    recorder: Recorder,
    undo: VecDeque<UndoEntry>,
    redo: Vec<(Slot, Option<SlotNumber>)>,
    notices: VecDeque<Notice>,
}

impl Controller {
    /// A controller sending to `link`, with an empty song.
    pub fn new(store: Store, voices: usize, link: EngineLink, recorder: Recorder) -> Controller {
        let mut recorder = recorder;
        recorder.bind(link.stats.clone());
        Controller {
            song: Slot::default(),
            slot: None,
            dirty: false,
            store,
            voices,
            status: EngineStatus::default(),
            recordings_dir: PathBuf::from("recordings"),
            own_saves: Default::default(),
            link,
            recorder,
            undo: VecDeque::new(),
            redo: Vec::new(),
            notices: VecDeque::new(),
        }
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
            slot: self.slot.map(|s| s.get() as u16).unwrap_or(0),
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
                    let predicted = st.queued.replace((slot, bar));
                    if predicted != Some((slot, bar)) {
                        self.notices.push_back(Notice::SlotQueued {
                            slot,
                            bar,
                            from_disk: false,
                        });
                    }
                }
                EngineEvent::Applied { slot, bar, .. } => {
                    st.queued = None;
                    st.playing_slot = (slot != 0).then_some(slot);
                    if slot != 0 {
                        self.notices.push_back(Notice::SlotApplied { slot, bar });
                    }
                }
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
                    self.apply(Command::Stop)
                } else {
                    self.apply(Command::Play)
                }
            }
            Command::SetBpm(v) => {
                let r = self.edit(Some("bpm"), |s| {
                    s.sequencer.bpm = seq_spec::BPM.clamp(v);
                    Ok(Some(format!("BPM {:.1}", s.sequencer.bpm)))
                });
                // Always tell the engine: it may run a followed tempo the song doesn't hold.
                self.link.send(EngineMsg::SetBpm(self.song.sequencer.bpm));
                r
            }
            Command::FollowTempo(v) => {
                self.link.send(EngineMsg::SetBpm(seq_spec::BPM.clamp(v)));
                Ok(None)
            }
            Command::NudgeBpm(d) => {
                let v = self.song.sequencer.bpm + d;
                self.apply(Command::SetBpm(v))
            }
            Command::SetSwing(v) => self.edit(Some("swing"), |s| {
                s.sequencer.swing = seq_spec::SWING.clamp(v);
                Ok(Some(format!("swing {:.2}", s.sequencer.swing)))
            }),
            Command::NudgeSwing(d) => {
                let v = self.song.sequencer.swing + d;
                self.apply(Command::SetSwing(v))
            }
            Command::SetStep { track, step, value } => self.edit(None, |s| {
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
            Command::SetPattern { track, pattern } => self.edit(None, |s| {
                check_pattern(&pattern)?;
                track_mut(s, &track)?.pattern = pattern;
                Ok(None)
            }),
            Command::SetLength { track, len } => self.edit(None, |s| {
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
            Command::SetNotes { track, notes } => self.edit(None, |s| {
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
                self.edit(Some(&key), |s| {
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
            Command::SetTrackVoice { track, voice } => self.edit(None, |s| {
                let n = voice_number(&voice)?;
                track_mut(s, &track)?.voice_id = format!("voice{n}");
                Ok(None)
            }),
            Command::AddTrack(t) => self.edit(None, |s| {
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
            Command::RemoveTrack(name) => self.edit(None, |s| {
                let i = track_index(s, &name)?;
                s.sequencer.tracks.remove(i);
                Ok(Some(format!("removed track {name}")))
            }),
            Command::RenameTrack { from, to } => self.edit(None, |s| {
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
            Command::MoveTrack { track, delta } => self.edit(None, |s| {
                let i = track_index(s, &track)?;
                let last = s.sequencer.tracks.len() as isize - 1;
                let j = (i as isize + delta).clamp(0, last) as usize;
                let t = s.sequencer.tracks.remove(i);
                s.sequencer.tracks.insert(j, t);
                Ok(None)
            }),
            Command::Mute { track, on } => self.edit(None, |s| {
                let t = track_mut(s, &track)?;
                t.muted = on.unwrap_or(!t.muted);
                Ok(Some(format!(
                    "{track} {}",
                    if t.muted { "muted" } else { "unmuted" }
                )))
            }),
            Command::Solo { track, on } => self.edit(None, |s| {
                let t = track_mut(s, &track)?;
                t.solo = on.unwrap_or(!t.solo);
                Ok(Some(format!(
                    "{track} {}",
                    if t.solo { "solo" } else { "solo off" }
                )))
            }),
            Command::ReplaceTracks(tracks) => self.edit(None, |s| {
                for t in &tracks {
                    voice_number(&t.voice_id)?;
                }
                s.sequencer.tracks = tracks;
                Ok(None)
            }),
            Command::ClearTracks => {
                let r = self.edit(None, |s| {
                    s.sequencer.tracks.clear();
                    Ok(Some("cleared all tracks".into()))
                });
                self.link.send(EngineMsg::ReleaseAll);
                r
            }
            Command::SetName(name) => self.edit(None, |s| {
                s.metadata.name = name;
                Ok(None)
            }),
            Command::SetParam { id, value } => {
                let key = format!("param:{}", id.0);
                self.edit(Some(&key), |s| {
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
            Command::LoadSlot { slot, immediate } => {
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
                self.queue(slot, parsed, immediate, false)
            }
            Command::LoadBackup { slot } => {
                let Some((backup, parsed)) = self.store.load_backup_fallback(slot)? else {
                    return Err(ControlError::Invalid(format!(
                        "slot {slot} has no backup that loads"
                    )));
                };
                self.queue(slot, parsed, false, false)?;
                self.dirty = true;
                Ok(Some(format!(
                    "slot {slot}: loaded its backup {} — save to replace the slot file",
                    backup.display()
                )))
            }
            Command::QueueParsed { slot, parsed } => self.queue(slot, *parsed, false, true),
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
                self.apply(Command::Stop)?;
                if self.recorder.current().is_some() {
                    self.apply(Command::RecordStop)?;
                }
                self.link.stats.muted.store(true, Ordering::Relaxed);
                Ok(Some("audio off".into()))
            }
            Command::Undo => {
                let entry = self
                    .undo
                    .pop_back()
                    .ok_or(ControlError::NothingTo("undo"))?;
                if entry.key.as_deref() == Some(LOAD_KEY) && self.status.queued.is_some() {
                    // Undoing a load that has not reached its bar: it never happens.
                    self.link.send(EngineMsg::CancelQueued);
                    self.status.queued = None;
                }
                let current = std::mem::replace(&mut self.song, entry.before);
                let current_slot = std::mem::replace(&mut self.slot, entry.slot);
                self.sync(&current);
                self.redo.push((current, current_slot));
                self.dirty = true;
                Ok(Some("undone".into()))
            }
            Command::Redo => {
                let (next, next_slot) = self.redo.pop().ok_or(ControlError::NothingTo("redo"))?;
                let before = std::mem::replace(&mut self.song, next);
                let slot = std::mem::replace(&mut self.slot, next_slot);
                self.sync(&before);
                self.undo.push_back(UndoEntry {
                    before,
                    slot,
                    key: None,
                    at: Instant::now(),
                });
                self.dirty = true;
                Ok(Some("redone".into()))
            }
        }
    }

    /// Runs an edit of the song: remembers the state for undo, then sends the engine what
    /// changed. Edits with the same `coalesce` key within a second form one undo step (holding
    /// a key down on a parameter is one edit).
    fn edit(
        &mut self,
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
                    && last.at.elapsed().as_secs_f64() < 1.0
            }
            _ => false,
        };
        if merge {
            if let Some(last) = self.undo.back_mut() {
                last.at = Instant::now();
            }
        } else {
            self.undo.push_back(UndoEntry {
                before: before.clone(),
                slot: self.slot,
                key: coalesce.map(str::to_string),
                at: Instant::now(),
            });
            if self.undo.len() > UNDO_LIMIT {
                self.undo.pop_front();
            }
        }
        self.redo.clear();
        self.dirty = true;
        self.sync(&before);
        Ok(msg)
    }

    /// Sends the engine what differs between `before` and the current song. While a slot is
    /// waiting for its bar, the whole song is re-queued instead, so it still switches at once.
    fn sync(&mut self, before: &Slot) {
        if self.status.queued.is_some() {
            // The engine may have switched already without us knowing yet: Amend goes into
            // the pending snapshot if there still is one, and applies at once otherwise.
            let scene = Scene::from_slot(&self.song, self.voices);
            self.link.send(EngineMsg::Amend(Box::new(scene)));
            return;
        }
        let (a, b) = (&before.sequencer, &self.song.sequencer);
        if a.bpm != b.bpm {
            self.link.send(EngineMsg::SetBpm(b.bpm));
        }
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

    fn queue(
        &mut self,
        slot: SlotNumber,
        parsed: Parsed,
        immediate: bool,
        from_disk: bool,
    ) -> Result<Option<String>, ControlError> {
        for w in &parsed.warnings {
            self.notices
                .push_back(Notice::Message(Level::Warning, format!("slot {slot}: {w}")));
        }
        let voices = self.voices;
        for t in &parsed.slot.sequencer.tracks {
            // Say it once: the loader may have reported this track's voice already.
            let reported = parsed
                .warnings
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
        let before = std::mem::replace(&mut self.song, parsed.slot);
        self.undo.push_back(UndoEntry {
            before,
            slot: self.slot,
            key: Some(LOAD_KEY.to_string()),
            at: Instant::now(),
        });
        self.redo.clear();
        self.slot = Some(slot);
        self.dirty = false;
        let scene = Scene::from_slot(&self.song, self.voices);
        let timing = if immediate {
            if self.status.queued.take().is_some() {
                self.link.send(EngineMsg::CancelQueued);
            }
            LoadTiming::Immediate
        } else {
            LoadTiming::NextBar
        };
        let slot_tag = slot.get() as u16;
        self.link.send(EngineMsg::Load {
            scene: Box::new(scene),
            timing,
            slot: slot_tag,
        });
        let name = self.song.metadata.name.clone();
        if !immediate && self.status.running {
            // The engine confirms the exact bar; predict it so the screen can say it now.
            let bar = if self.status.fresh {
                0
            } else {
                self.status.bar + 1
            };
            self.status.queued = Some((slot_tag, bar));
            self.notices.push_back(Notice::SlotQueued {
                slot: slot_tag,
                bar,
                from_disk,
            });
            let what = if from_disk {
                format!("slot {slot} changed on disk — applies at bar {bar}")
            } else {
                format!("slot {slot} {name:?} queued — applies at bar {bar}")
            };
            Ok(Some(what))
        } else {
            Ok(Some(format!("slot {slot} {name:?} loaded")))
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
        self.slot = Some(slot);
        self.dirty = false;
        self.notices.push_back(Notice::Saved {
            slot: slot.get(),
            path: info.path.clone(),
        });
        Ok(Some(format!(
            "saved slot {slot} to {}",
            info.path.display()
        )))
    }
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

/// Formats a number compactly for messages (`0.25`, `1500`).
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
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
