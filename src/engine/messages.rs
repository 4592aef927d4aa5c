//! What crosses the boundary between the control thread and the audio thread.

use super::scene::{Scene, TrackSet};
use super::timeline::TimelineSync;
use crate::model::ParamId;

/// A request to the engine, applied by [`super::Engine::handle`].
#[derive(Debug)]
pub enum EngineMsg {
    /// Sets a registry parameter (clamped to its range).
    SetParam {
        /// Which parameter.
        id: ParamId,
        /// New value before clamping.
        value: f32,
    },
    /// Opens (`on`) or closes a voice's gate; `voice` is 1-based, out-of-range ids are ignored.
    Gate {
        /// Voice number, from 1.
        voice: u8,
        /// True opens the gate (attack), false releases it.
        on: bool,
    },
    /// Starts the sequencer: global step 0 begins at the next sample processed (ignored
    /// while already running, so a double press never restarts the bar).
    Play,
    /// Stops the sequencer and releases every voice; a pending bar-aligned load applies now.
    Stop,
    /// Sets the tempo (30–300 BPM) from the next step on.
    SetBpm(f64),
    /// Sets the swing (0–0.6) of odd 16ths.
    SetSwing(f64),
    /// Turns fill mode on or off: steps with the `fill` condition play while it is on, steps
    /// with `!fill` while it is off. Read at each step's hit, so it takes effect at the next
    /// step.
    SetFill(bool),
    /// Fill for one bar: fill mode switches on at the first sample of the next bar (of the
    /// first bar after Play when stopped) and off at the first sample of the bar after, each
    /// switch told by [`EngineEvent::Fill`]. [`EngineMsg::SetFill`] cancels it; Stop ends a
    /// one-bar fill that is playing.
    FillBar,
    /// Replaces the tracks at once, keeping the playhead phase.
    SetTracks(Box<TrackSet>),
    /// Replaces the tracks at the first sample of the next bar, the sample a bar-aligned load
    /// switches at (at once when stopped): quantised mutes and solos. A newer one replaces
    /// the waiting one; any load that applies drops it.
    QueueTracks {
        /// The tracks to switch to.
        tracks: Box<TrackSet>,
        /// Named back in [`EngineEvent::TracksApplied`], so the sender knows which of the
        /// sets it queued took effect (a newer one may be on its way).
        id: u64,
    },
    /// Drops tracks waiting for the bar.
    CancelQueuedTracks,
    /// Loads a whole snapshot (tempo, swing, tracks, every module parameter).
    Load {
        /// The snapshot, built off the audio thread.
        scene: Box<Scene>,
        /// When it applies.
        timing: LoadTiming,
        /// The slot it came from (0 = not from a slot).
        slot: u16,
    },
    /// An edit of the whole song made while a bar-aligned load may be pending: replaces the
    /// pending snapshot when there is one (it still switches at its bar); otherwise applies
    /// tempo, swing, tracks and every parameter now, without releasing voices. Closes the race
    /// between the engine applying a load and the control side hearing about it.
    Amend(Box<Scene>),
    /// Drops a pending bar-aligned load.
    CancelQueued,
    /// Closes every voice's gate.
    ReleaseAll,
    /// Stops the transport at the first sample of bar `n` (after its bar event, before any
    /// of its hits): a chain that ends stops on its bar line, not a control-loop turn later.
    /// `None` cancels; Play, Stop and the stop itself clear it.
    StopAtBar(Option<u64>),
    /// An outside beat timeline (Ableton Link) takes over tempo and bar phase: the runner
    /// steers the grid onto it once per buffer, Play waits for its next bar line.
    AttachTimeline(Box<TimelineSync>),
    /// The song's own clock again (its tempo from the next step).
    DetachTimeline,
    /// MIDI clock out on or off: Song Position 0 and Start at Play, 24 ticks per beat while
    /// running, Stop at Stop (see [`super::midi`]).
    MidiClock(bool),
}

/// When a [`EngineMsg::Load`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadTiming {
    /// At the first sample of the next bar while running (at once when stopped).
    NextBar,
    /// Now: every voice is released and the snapshot applies before the next sample.
    Immediate,
}

/// A box the engine no longer needs, to be dropped off the audio thread.
#[derive(Debug)]
pub enum Garbage {
    /// A scene that was applied (it now holds the tracks it replaced) or superseded.
    Scene(Box<Scene>),
    /// A track set that was replaced.
    Tracks(Box<TrackSet>),
    /// An outside timeline let go of (its session is closed off the audio thread).
    Timeline(Box<TimelineSync>),
}

/// Something that happened on the audio thread, reported to the control thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EngineEvent {
    /// The sequencer started; step 0 begins at `sample`.
    Started {
        /// First sample of step 0.
        sample: u64,
    },
    /// The sequencer stopped at `sample`.
    Stopped {
        /// Sample at which it stopped.
        sample: u64,
    },
    /// A step began (on the grid; swung hits may sound later).
    Step {
        /// Steps since Play.
        global_step: u64,
        /// `global_step / 16`.
        bar: u64,
        /// `global_step % 16`.
        step_in_bar: u8,
        /// First sample of the step.
        sample: u64,
    },
    /// A bar began.
    Bar {
        /// Bar number since Play.
        bar: u64,
        /// First sample of the bar.
        sample: u64,
    },
    /// A bar-aligned load was received and will apply at the start of `bar`.
    Queued {
        /// The slot waiting.
        slot: u16,
        /// The bar it applies at.
        bar: u64,
    },
    /// A load applied.
    Applied {
        /// The slot applied (0 = not from a slot).
        slot: u16,
        /// The bar during which (or at whose start) it applied.
        bar: u64,
        /// The sample at which it applied.
        sample: u64,
    },
    /// Tracks queued for the bar replaced the playing ones.
    TracksApplied {
        /// The id they were queued with.
        id: u64,
        /// The bar at whose first sample they applied (or during which, when stopped).
        bar: u64,
        /// The sample at which they applied.
        sample: u64,
    },
    /// Peak levels since the previous `Levels` event (about 30 per second).
    Levels {
        /// Per-voice peak after the voice's filter (index 0 = voice1; unused voices stay 0).
        voices: [f32; 16],
        /// Master peak, left and right, after the limiter.
        master: [f32; 2],
        /// The most the master limiter reduced the gain, in dB (0: it did not touch the
        /// signal), looked at after every block.
        limiting_db: f32,
    },
    /// Master spectrum, 0..1 per band (−60..0 dB), about 30 per second.
    Spectrum {
        /// Bands centred at 63, 125, 250, 500, 1k, 2k, 4k and 8k Hz.
        bands: [f32; 8],
    },
    /// A DSP unit produced a non-finite value and was reset.
    UnitReset,
    /// A one-bar fill ([`EngineMsg::FillBar`]) switched fill mode on or off.
    Fill {
        /// Fill mode now.
        on: bool,
        /// The sample at which it switched (a bar's first sample, or the Stop's).
        sample: u64,
    },
}

impl EngineEvent {
    /// True for the meter events that may be dropped first when the event queue is full.
    pub fn is_meter(&self) -> bool {
        matches!(
            self,
            EngineEvent::Levels { .. } | EngineEvent::Spectrum { .. }
        )
    }
}

/// The playhead and transport, as last processed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// Samples processed since the engine was created.
    pub sample: u64,
    /// True while the sequencer runs.
    pub running: bool,
    /// The step that started last (0 before the first).
    pub global_step: u64,
    /// `global_step / 16`.
    pub bar: u64,
    /// `global_step % 16`.
    pub step_in_bar: u8,
    /// Tempo.
    pub bpm: f64,
    /// Swing.
    pub swing: f64,
    /// A pending bar-aligned load: (slot, bar it applies at).
    pub queued_slot: Option<(u16, u64)>,
}
