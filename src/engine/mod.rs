//! The audio-thread side: the [`Engine`] with its voices, buses, sequencer clock and meters.
//!
//! The engine knows nothing of sound cards, terminals or files: it is driven by
//! [`Engine::handle`] (messages from the control thread) and [`Engine::process`] (fill a
//! buffer), so the live callback, the offline renderer and the tests run the same code.
//! Everything is allocated in [`Engine::new`]; afterwards nothing allocates, frees, locks,
//! logs or does I/O. Replaced boxes are handed back through [`Engine::pop_garbage`].
//!
//! Per-step data (schema 1.1), as the sequencer plays it:
//! - A track without step data takes the path it always took (same samples as before).
//! - A step is decided when its hit is due (at its swung time), in step order per track: its
//!   condition and chance, then the note cycle moves on by one whether the step plays or not,
//!   so data on one step never changes the notes the other steps play. A step's `note`
//!   replaces the cycle's note for that hit only.
//! - `micro` moves every onset of the step by round(micro × samples per step); `ratchet` N
//!   plays N onsets at round(i × samples per step / N), each with 1/N of the step's gate.
//!   Onsets after the current sample wait in a preallocated queue of self-contained hits.
//! - A negative `micro` is decided one step early, right after the step before it, and plays
//!   in that step's time (step 1's in the last step of the loop before). At Play, on the
//!   first step of a slot just applied, and when the step before did not run this track,
//!   such a step plays on its grid time instead.
//! - Locks on track fields shape the hit's values (which, as every hit's, hold on the voice
//!   until its next hit). Locks on voice parameters no track sets (resonance, envelope,
//!   waveform, slide) return to the song's value one step after the hit, or at the voice's
//!   next hit if that comes first, so they never reach another track's hit on a shared voice.
//! - Chance draws from the slot's seed, a hash of the track's name, the step and the loop:
//!   the same slot renders the same samples whatever the buffer size.
//! - Loops are counted per track from Play or from when its slot was applied (`first` is
//!   loop 0; `A:B` plays when loop % B = A − 1); edits keep a track's count by name.
//!   `pre` reads the outcome of the track's most recently evaluated condition or chance
//!   (`pre` steps are not evaluated conditions themselves, as on Elektron machines); it
//!   starts false. Fill mode is set by [`EngineMsg::SetFill`], or for exactly one bar by
//!   [`EngineMsg::FillBar`].
//! - A bar-aligned load drops hits still waiting from the old slot at its first sample.

#[cfg(feature = "link")]
pub mod ableton;
mod clock;
pub mod link;
pub mod midi;
pub mod timeline;

/// Where a one-bar fill ([`EngineMsg::FillBar`]) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FillBar {
    /// None asked for.
    Off,
    /// Fill switches on at the next bar line.
    Waiting,
    /// Fill is on until the next bar line.
    Playing,
}
/// The step grid as it stands between two buffers ([`Engine::grid`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// The next sample the engine renders.
    pub sample: u64,
    /// The sequencer runs (or waits for its first step).
    pub running: bool,
    /// The step that starts next.
    pub next_step: u64,
    /// Its first sample.
    pub next_step_sample: u64,
    /// Samples per step at the tempo playing.
    pub samples_per_step: f64,
    /// The tempo playing.
    pub bpm: f64,
}
mod messages;
mod meter;
mod queue;
mod scene;
mod voice;

pub use clock::STEPS_PER_BAR;
pub use link::{EngineLink, EngineRunner, HostEvent, SharedStats};
pub use messages::{EngineEvent, EngineMsg, Garbage, LoadTiming, Position};
pub use meter::BAND_CENTRES;
pub use scene::{
    NO_STEP, STEP_ACCENT, STEP_HIT, STEP_REST, Scene, SceneTrack, StepPlay, TrackSet, pattern_steps,
};

use clock::Clock;
use meter::Analyser;
use midi::{HeldNotes, MidiEvent, NoteOut, Outbox, TickGrid};
use queue::FixedQueue;
use voice::{CONTROL_PERIOD, Ramp, SMOOTH_MS, Voice, largest_magnitude, tick_settling};

use crate::dsp::{AcidFilter, Delay, Distortion, Lfo, Limiter, Reverb, Smoother};
use crate::model::registry::{
    MAX_VOICES, Module, PARAM_COUNT, ParamId, VOICE_PARAM_COUNT, acid, delay, dist, lfo, reverb,
    voice as vp,
};
use crate::model::steps::Cond;

/// Longest sub-block; sub-blocks are also cut at every control period and event.
const MAX_FRAMES: usize = CONTROL_PERIOD as usize;
/// Longest span the buses (distortion, reverb, delay, master, limiter) run over at once: the
/// voices fill it sub-block by sub-block, and the buses run once over the whole while their
/// settings rest.
const BUS_FRAMES: usize = 512;
/// Events held before the oldest meter events are dropped.
const EVENT_CAPACITY: usize = 1024;
/// Replaced boxes held until the control thread collects them.
const GARBAGE_CAPACITY: usize = 256;
/// MIDI messages held until the runner moves them onto the MIDI ring: a period holds a few
/// dozen clock ticks, and at most every track's ratchet's note ons and offs.
const MIDI_CAPACITY: usize = 4096;
/// Gate changes remembered for tests.
const GATE_LOG_CAPACITY: usize = 1024;
/// "No gate-off scheduled".
const NEVER: u64 = u64::MAX;
/// lfo1 swings acid1's cutoff by this many Hz at full depth.
const LFO1_RANGE_HZ: f32 = 800.0;
/// Longest delay time the delay line must hold: a synced note value reaches
/// [`delay::SYNCED_MAX_S`] (a free time 0.6 s); the rest is room for the glide when the time
/// changes.
const DELAY_MAX_S: f32 = delay::SYNCED_MAX_S as f32 + 0.1;
/// Index of voice2, whose filter is acid1.
const ACID_VOICE: usize = 1;
/// Index of voice3, whose amplitude lfo2 modulates.
const TREMOLO_VOICE: usize = 2;
/// Velocity of an `x` step.
const HIT_VELOCITY: f32 = 0.6;
/// Velocity of an `X` step.
const ACCENT_VELOCITY: f32 = 1.0;
/// Hits waiting for their sample (micro-timing, ratchets, steps played early); one more is
/// dropped and counted. A step schedules at most 8 hits per track for itself and 8 for the
/// next; they live for under two steps.
const TIMED_CAPACITY: usize = 4096;

/// First flat id of the effect modules (acid1 … lfo2), after the 16 voice blocks.
const FX_BASE: usize = VOICE_PARAM_COUNT * MAX_VOICES;
/// Number of effect-module parameters.
const FX_COUNT: usize = PARAM_COUNT - FX_BASE;

/// One gate change, recorded for tests.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateRecord {
    /// Voice number, from 1.
    pub voice: u8,
    /// True when the gate opened.
    pub on: bool,
    /// Absolute sample of the change.
    pub sample: u64,
}

/// A bar-aligned load waiting for its bar.
#[derive(Debug)]
struct PendingLoad {
    scene: Box<Scene>,
    slot: u16,
    bar: u64,
}

/// The whole synthesizer and sequencer, driven one buffer at a time.
#[derive(Debug)]
pub struct Engine {
    sample_rate: f32,
    voices: Vec<Voice>,
    /// Current target of every registry parameter.
    params: [f32; PARAM_COUNT],
    /// The control side's song values (loads and SetParam; not the per-hit values the
    /// sequencer sets), so an Amend changes only what the performer changed.
    song_params: [f64; PARAM_COUNT],
    /// Control-rate smoothers of the effect parameters, indexed by `id − FX_BASE`.
    fx: Vec<Smoother>,
    acid: AcidFilter,
    acid_applied: [f32; 8],
    dist: Distortion,
    dist_applied: [f32; 3],
    /// An effect setting was set since the last control tick (its smoother may rest at a new
    /// value): the next tick passes the settings on even if no smoother moves.
    fx_dirty: bool,
    reverb: Reverb,
    reverb_applied: [f32; 2],
    reverb_mix: Smoother,
    delay: Delay,
    delay_applied: [f32; 4],
    delay_mix: Smoother,
    /// The tempo delay1's synced time was last set for (NaN while its time is free).
    delay_tempo: f64,
    lfo1: Lfo,
    lfo1_rate: f32,
    lfo2: Lfo,
    lfo2_rate: f32,
    /// voice3's tremolo gain at the last control tick, and its per-sample slope since then.
    lfo2_gain: f32,
    lfo2_step: f32,
    control_sample: u64,
    limiter: Limiter,
    analyser: Analyser,
    clock: Clock,
    sample: u64,
    tracks: Box<TrackSet>,
    pending: Option<PendingLoad>,
    /// Tracks waiting for the same bar a load waits for (quantised mutes).
    pending_tracks: Option<(Box<TrackSet>, u64)>,
    /// Hits of an odd step waiting for their swung time: (step, sample).
    swung: Option<(u64, u64)>,
    /// Hits of steps with per-step data waiting for their sample, latest first: the next
    /// due is taken from the end without shifting the rest.
    timed: Vec<TimedHit>,
    /// Timed hits dropped because `timed` was full.
    dropped_hits: u64,
    /// Voice parameters a step's lock holds, per voice (bits by `registry::voice` index).
    locked: [u16; MAX_VOICES],
    /// When each voice's locks return to the song's values.
    locked_until: [u64; MAX_VOICES],
    /// Fill mode: steps with `fill` play, steps with `!fill` do not.
    fill: bool,
    /// A one-bar fill: waiting for its bar, or playing it.
    fill_bar: FillBar,
    /// The bar whose first sample stops the transport ([`EngineMsg::StopAtBar`]).
    stop_at_bar: Option<u64>,
    /// Seed of the steps' chance.
    seed: u64,
    gate_off: [u64; MAX_VOICES],
    events: FixedQueue<EngineEvent>,
    dropped_events: u64,
    garbage: FixedQueue<Garbage>,
    garbage_overflow: u64,
    gate_log: FixedQueue<GateRecord>,
    /// MIDI clock out is on: Start, Stop, Song Position and 24 ticks per beat are emitted.
    midi_clock: bool,
    /// The clock ticks of the step playing.
    ticks: Option<TickGrid>,
    midi: FixedQueue<MidiEvent>,
    midi_dropped: u64,
    /// Notes sounding on outboard gear (tracks with a `midi` target).
    notes: HeldNotes,
    master_peak: [f32; 2],
    /// The limiter's deepest gain reduction since the last report, in dB.
    limiting_db: f32,
    /// Sample of the next meter report (`u64::MAX` while metering is off).
    next_report: u64,
    /// Meters (levels, spectrum) are computed and reported.
    metering: bool,
    scratch: Scratch,
}

/// Per-sub-block buffers.
#[derive(Debug)]
struct Scratch {
    voice: [f32; MAX_FRAMES],
    dry: [f32; BUS_FRAMES],
    reverb_send: [f32; BUS_FRAMES],
    delay_send: [f32; BUS_FRAMES],
    reverb_l: [f32; BUS_FRAMES],
    reverb_r: [f32; BUS_FRAMES],
    reverb_mix: [f32; BUS_FRAMES],
    delay_mix: [f32; BUS_FRAMES],
    mono: [f32; BUS_FRAMES],
}

impl Scratch {
    fn new() -> Scratch {
        let z = [0.0; BUS_FRAMES];
        Scratch {
            voice: [0.0; MAX_FRAMES],
            dry: z,
            reverb_send: z,
            delay_send: z,
            reverb_l: z,
            reverb_r: z,
            reverb_mix: z,
            delay_mix: z,
            mono: z,
        }
    }
}

/// True when every sample is finite.
#[inline(always)]
fn all_finite(buf: &[f32]) -> bool {
    largest_magnitude(buf) < f32::INFINITY.to_bits()
}

impl Engine {
    /// Creates an engine with `voices` voices (clamped to 1–16) at `sample_rate` Hz,
    /// allocating everything it will ever need.
    pub fn new(sample_rate: f32, voices: usize) -> Engine {
        let sample_rate = if sample_rate.is_finite() {
            sample_rate.clamp(1000.0, 768_000.0)
        } else {
            48000.0
        };
        let voices = voices.clamp(1, MAX_VOICES);
        let control_rate = sample_rate / CONTROL_PERIOD as f32;
        let fx = (0..FX_COUNT)
            .map(|i| {
                let d = ParamId((FX_BASE + i) as u16).spec().default as f32;
                Smoother::new(control_rate, SMOOTH_MS, d)
            })
            .collect();
        let d = |id: ParamId| id.spec().default as f32;
        let analyser = Analyser::new(sample_rate);
        let mut e = Engine {
            sample_rate,
            voices: (0..voices)
                .map(|i| {
                    Voice::new(
                        sample_rate,
                        0x9E37_79B9 ^ (i as u32 + 1).wrapping_mul(0x85EB_CA6B),
                    )
                })
                .collect(),
            params: [0.0; PARAM_COUNT],
            song_params: crate::model::ParamValues::default().0,
            fx,
            acid: AcidFilter::new(sample_rate),
            acid_applied: [f32::NAN; 8],
            dist: Distortion::new(sample_rate),
            dist_applied: [f32::NAN; 3],
            fx_dirty: true,
            reverb: Reverb::new(sample_rate),
            reverb_applied: [f32::NAN; 2],
            reverb_mix: Smoother::new(sample_rate, SMOOTH_MS, d(ParamId::reverb(reverb::MIX))),
            delay: Delay::new(sample_rate, DELAY_MAX_S),
            delay_applied: [f32::NAN; 4],
            delay_mix: Smoother::new(sample_rate, SMOOTH_MS, d(ParamId::delay(delay::MIX))),
            delay_tempo: f64::NAN,
            lfo1: Lfo::new(control_rate),
            lfo1_rate: f32::NAN,
            lfo2: Lfo::new(control_rate),
            lfo2_rate: f32::NAN,
            lfo2_gain: 1.0,
            lfo2_step: 0.0,
            control_sample: 0,
            limiter: Limiter::new(sample_rate),
            next_report: analyser.period,
            metering: true,
            analyser,
            clock: Clock::new(sample_rate),
            sample: 0,
            tracks: Box::default(),
            pending: None,
            pending_tracks: None,
            swung: None,
            timed: Vec::with_capacity(TIMED_CAPACITY),
            dropped_hits: 0,
            locked: [0; MAX_VOICES],
            locked_until: [NEVER; MAX_VOICES],
            fill: false,
            fill_bar: FillBar::Off,
            stop_at_bar: None,
            seed: 0,
            gate_off: [NEVER; MAX_VOICES],
            events: FixedQueue::new(EVENT_CAPACITY),
            dropped_events: 0,
            garbage: FixedQueue::new(GARBAGE_CAPACITY),
            garbage_overflow: 0,
            gate_log: FixedQueue::new(GATE_LOG_CAPACITY),
            midi_clock: false,
            ticks: None,
            midi: FixedQueue::new(MIDI_CAPACITY),
            midi_dropped: 0,
            notes: HeldNotes::default(),
            master_peak: [0.0; 2],
            limiting_db: 0.0,
            scratch: Scratch::new(),
        };
        for i in 0..PARAM_COUNT {
            let id = ParamId(i as u16);
            e.set_param(id, id.spec().default as f32);
        }
        e.apply_effects();
        e
    }

    /// The sample rate the engine runs at.
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// How many voices run.
    pub fn voices(&self) -> usize {
        self.voices.len()
    }

    /// Current target value of a registry parameter.
    pub fn param(&self, id: ParamId) -> f32 {
        self.params.get(id.index()).copied().unwrap_or(0.0)
    }

    /// Where the playhead is, the tempo, and what is queued.
    pub fn position(&self) -> Position {
        let step = self.clock.current_step();
        Position {
            sample: self.sample,
            running: self.clock.running,
            global_step: step,
            bar: step / STEPS_PER_BAR,
            step_in_bar: (step % STEPS_PER_BAR) as u8,
            bpm: self.clock.bpm,
            swing: self.clock.swing,
            queued_slot: self.pending.as_ref().map(|p| (p.slot, p.bar)),
        }
    }

    /// The oldest event not yet collected.
    pub fn pop_event(&mut self) -> Option<EngineEvent> {
        self.events.pop()
    }

    /// A replaced box, to be dropped by the caller (off the audio thread).
    pub fn pop_garbage(&mut self) -> Option<Garbage> {
        self.garbage.pop()
    }

    /// Events lost because the event queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Boxes leaked (not freed on the audio thread) because the garbage queue was full.
    pub fn garbage_overflow(&self) -> u64 {
        self.garbage_overflow
    }

    /// Fill mode (see [`EngineMsg::SetFill`]).
    pub fn fill(&self) -> bool {
        self.fill
    }

    /// Hits of steps with per-step data lost because too many waited at once.
    pub fn dropped_hits(&self) -> u64 {
        self.dropped_hits
    }

    /// Which loop (from 0) track `t` (file order) plays on global step `step`, counted from
    /// Play or from when its slot was applied: what `A:B` and `first` read.
    pub fn track_loop(&self, t: usize, step: u64) -> Option<u64> {
        self.tracks.tracks.get(t).map(|track| loop_of(track, step))
    }

    /// The next MIDI message to send, oldest first.
    pub fn pop_midi(&mut self) -> Option<MidiEvent> {
        self.midi.pop()
    }

    /// MIDI messages lost because the queue was full.
    pub fn midi_dropped(&self) -> u64 {
        self.midi_dropped
    }

    /// MIDI notes ended early because [`midi::MAX_HELD`] were held at once.
    pub fn notes_cut(&self) -> u64 {
        self.notes.cut
    }

    /// MIDI notes sounding now.
    pub fn held_notes(&self) -> usize {
        self.notes.len()
    }

    /// Test hook: the oldest recorded gate change (the log keeps the newest 1024).
    #[doc(hidden)]
    pub fn pop_gate_record(&mut self) -> Option<GateRecord> {
        self.gate_log.pop()
    }

    /// Test hook: acid1's cutoff including its envelope and lfo1, in Hz.
    #[doc(hidden)]
    pub fn acid_cutoff(&self) -> f32 {
        self.acid.current_cutoff()
    }

    /// Test hook: acid1's envelope level.
    #[doc(hidden)]
    pub fn acid_envelope(&self) -> f32 {
        self.acid.envelope()
    }

    /// Test hook: samples per step at the current tempo.
    #[doc(hidden)]
    pub fn samples_per_step(&self) -> f64 {
        self.clock.samples_per_step()
    }

    /// Test hook: how many voices are being processed (not asleep).
    #[doc(hidden)]
    pub fn awake_voices(&self) -> usize {
        self.voices.iter().filter(|v| v.awake).count()
    }

    /// Applies one message.
    pub fn handle(&mut self, msg: EngineMsg) {
        match msg {
            EngineMsg::SetParam { id, value } => {
                if id.index() < PARAM_COUNT {
                    self.song_params[id.index()] = value as f64;
                    self.set_param(id, value);
                }
            }
            EngineMsg::Gate { voice, on } => {
                let i = voice as usize;
                if (1..=self.voices.len()).contains(&i) {
                    self.gate_off[i - 1] = NEVER;
                    self.gate(i - 1, on, self.sample);
                }
            }
            EngineMsg::SetFill(on) => {
                self.fill = on;
                self.fill_bar = FillBar::Off;
            }
            EngineMsg::FillBar => {
                if self.fill_bar == FillBar::Off {
                    self.fill_bar = FillBar::Waiting;
                }
            }
            EngineMsg::Play => self.start_at(self.sample),
            EngineMsg::Stop => self.stop(),
            EngineMsg::MidiClock(on) => {
                self.midi_clock = on;
                if !on {
                    self.ticks = None;
                }
            }
            EngineMsg::SetBpm(bpm) => self.clock.set_bpm(bpm),
            EngineMsg::SetSwing(swing) => self.clock.set_swing(swing),
            EngineMsg::SetTracks(mut tracks) => {
                self.carry_note_indexes(&mut tracks.tracks);
                let old = std::mem::replace(&mut self.tracks, tracks);
                self.discard(Garbage::Tracks(old));
            }
            EngineMsg::QueueTracks { tracks, id } => {
                if let Some((old, _)) = self.pending_tracks.replace((tracks, id)) {
                    self.discard(Garbage::Tracks(old));
                }
                if !self.clock.running {
                    self.apply_at_bar();
                }
            }
            EngineMsg::CancelQueuedTracks => {
                if let Some((old, _)) = self.pending_tracks.take() {
                    self.discard(Garbage::Tracks(old));
                }
            }
            EngineMsg::Amend(scene) => self.amend(scene),
            EngineMsg::Load {
                scene,
                timing,
                slot,
            } => self.load(scene, timing, slot),
            EngineMsg::CancelQueued => {
                if let Some(p) = self.pending.take() {
                    self.discard(Garbage::Scene(p.scene));
                }
            }
            EngineMsg::ReleaseAll => self.release_all(),
            EngineMsg::StopAtBar(bar) => self.stop_at_bar = bar.filter(|_| self.clock.running),
            // The runner takes these; an engine driven on its own hands the box back.
            EngineMsg::AttachTimeline(sync) => self.discard(Garbage::Timeline(sync)),
            EngineMsg::DetachTimeline => {}
        }
    }

    /// Starts the sequencer with step 0 at `at` (now or later: an outside timeline starts it
    /// on its next bar line); ignored while it runs.
    pub fn start_at(&mut self, at: u64) {
        if !self.clock.running {
            let at = at.max(self.sample);
            self.clock.start(at);
            self.swung = None;
            // The grid shows each track's cycle from its first hit: a stop in mid-loop
            // must not leave the notes shifted against it.
            for t in self.tracks.tracks.iter_mut() {
                t.note_index = t.note_start;
            }
            self.timed.clear();
            self.restart_tracks(0);
            if self.midi_clock {
                // Position 0, then Start: the first tick (at step 0) is beat 1.
                self.send_midi(MidiEvent::song_position(0, at));
                self.send_midi(MidiEvent::realtime(midi::START, at));
            }
            self.emit(EngineEvent::Started { sample: at });
        }
    }

    /// Stops the sequencer (as [`EngineMsg::Stop`] does).
    pub fn stop_now(&mut self) {
        self.stop();
    }

    /// Where the step grid stands, for a clock steering it from outside.
    pub fn grid(&self) -> Grid {
        Grid {
            sample: self.sample,
            running: self.clock.running,
            next_step: self.clock.next_step,
            next_step_sample: self.clock.next_step_sample,
            samples_per_step: self.clock.samples_per_step(),
            bpm: self.clock.bpm,
        }
    }

    /// Turns the meters (levels, spectrum, limiting) on or off. Off, as in an offline render
    /// that shows none, the engine neither runs the analyser nor stops the buses at report
    /// times; the sound is the same either way. On again, reports resume one period later.
    pub fn set_metering(&mut self, on: bool) {
        if on == self.metering {
            return;
        }
        self.metering = on;
        self.next_report = if on {
            self.sample + self.analyser.period
        } else {
            u64::MAX
        };
    }

    /// Hands the tempo to an outside timeline (`true`: the song's tempo no longer moves the
    /// grid) or back to the song (`false`: its tempo plays again from the next step).
    pub fn set_external_tempo(&mut self, on: bool) {
        self.clock.set_external(on);
    }

    /// Steers the grid: step `next_step` (never before the clock's own next step) starts at
    /// sample `at` (never before now), the steps after it at `bpm`.
    pub fn steer(&mut self, next_step: u64, at: u64, bpm: f64) {
        if self.clock.running {
            let k = next_step.max(self.clock.next_step);
            self.clock.reanchor(k, at.max(self.sample), bpm);
        }
    }

    /// Stops the sequencer, releases every voice and installs a pending load at once.
    fn stop(&mut self) {
        self.stop_at_bar = None;
        if self.clock.running {
            self.clock.running = false;
            self.notes_off();
            if self.midi_clock {
                self.ticks = None;
                self.send_midi(MidiEvent::realtime(midi::STOP, self.sample));
            }
            self.swung = None;
            self.timed.clear();
            self.release_all();
            for v in 0..self.voices.len() {
                self.restore_locks(v, self.locked[v]);
            }
            self.emit(EngineEvent::Stopped {
                sample: self.sample,
            });
            if self.fill_bar == FillBar::Playing {
                self.fill_bar = FillBar::Off;
                self.fill = false;
                self.emit(EngineEvent::Fill {
                    on: false,
                    sample: self.sample,
                });
            }
            self.apply_at_bar();
        }
    }

    /// Puts an edited scene into the pending load, or applies it at once when none waits.
    fn amend(&mut self, mut scene: Box<Scene>) {
        if let Some(p) = self.pending.as_mut() {
            let old = std::mem::replace(&mut p.scene, scene);
            self.discard(Garbage::Scene(old));
        } else {
            self.clock.set_bpm(scene.bpm);
            self.clock.set_swing(scene.swing);
            self.seed = scene.seed;
            for i in 0..PARAM_COUNT {
                let v = scene.params.0[i];
                if v != self.song_params[i] {
                    self.song_params[i] = v;
                    self.set_param(ParamId(i as u16), v as f32);
                }
            }
            self.carry_note_indexes(&mut scene.tracks.tracks);
            std::mem::swap(&mut *self.tracks, &mut scene.tracks);
            self.discard(Garbage::Scene(scene));
        }
    }

    /// Installs a scene now, or holds it for the first sample of the next bar.
    fn load(&mut self, scene: Box<Scene>, timing: LoadTiming, slot: u16) {
        match timing {
            LoadTiming::Immediate => {
                self.release_all();
                self.notes_off();
                self.apply_scene(scene, slot);
            }
            LoadTiming::NextBar if !self.clock.running => self.apply_scene(scene, slot),
            LoadTiming::NextBar => {
                let bar = self.clock.next_step.div_ceil(STEPS_PER_BAR);
                let old = self.pending.replace(PendingLoad { scene, slot, bar });
                if let Some(old) = old {
                    self.discard(Garbage::Scene(old.scene));
                }
                self.emit(EngineEvent::Queued { slot, bar });
            }
        }
    }

    /// Renders interleaved stereo into `out` (`out.len() / 2` frames), running the
    /// sequencer sample-exactly.
    pub fn process(&mut self, out: &mut [f32]) {
        crate::platform::set_flush_to_zero();
        let frames = out.len() / 2;
        let mut done = 0;
        // Frames from `bus_from` to `done` are in the buses' scratch, the buses not yet run
        // over them. They run before anything that changes them: a step (a bar-aligned load
        // sets effect levels), a control tick that moves an effect's settings, a meter report,
        // a full scratch, and the end of the buffer.
        let mut bus_from = 0;
        while done < frames {
            if done - bus_from == BUS_FRAMES
                || (self.clock.running && self.clock.next_step_sample <= self.sample)
            {
                self.run_buses(out, bus_from, done);
                bus_from = done;
            }
            self.run_due_events();
            if self.sample.is_multiple_of(CONTROL_PERIOD) {
                if self.effect_settings_move() {
                    self.run_buses(out, bus_from, done);
                    bus_from = done;
                }
                self.control_tick();
            }
            let mut end = (self.sample / CONTROL_PERIOD + 1) * CONTROL_PERIOD;
            end = end.min(self.sample + (frames - done) as u64);
            end = end.min(self.sample + (bus_from + BUS_FRAMES - done) as u64);
            if self.clock.running {
                end = end.min(self.clock.next_step_sample);
            }
            if let Some((_, at)) = self.swung {
                end = end.min(at);
            }
            if let Some(t) = self.timed.last() {
                end = end.min(t.at);
            }
            if let Some(t) = self.ticks.and_then(|g| g.next_sample()) {
                end = end.min(t);
            }
            for &g in &self.gate_off[..self.voices.len()] {
                end = end.min(g);
            }
            end = end.min(self.notes.next_off());
            for v in 0..self.voices.len() {
                if self.locked[v] != 0 {
                    end = end.min(self.locked_until[v]);
                }
            }
            let n = (end.saturating_sub(self.sample) as usize).max(1);
            let resets = self.render_voices(done - bus_from, n);
            self.emit_resets(resets);
            self.sample += n as u64;
            done += n;
            if self.sample >= self.next_report {
                self.run_buses(out, bus_from, done);
                bus_from = done;
                self.report();
                self.next_report += self.analyser.period;
            }
        }
        self.run_buses(out, bus_from, frames);
    }

    /// True when the coming control tick may change an effect bus's settings: an effect
    /// setting still gliding, or a synced delay time whose tempo moved.
    fn effect_settings_move(&self) -> bool {
        (!self.delay_tempo.is_nan() && self.delay_tempo != self.clock.bpm)
            || self.fx.iter().any(|s| !s.is_settled())
    }

    /// Runs the buses over frames `from..to` of `out`, whose voices are in the buses' scratch
    /// from its start; the current sample is the one after the span.
    fn run_buses(&mut self, out: &mut [f32], from: usize, to: usize) {
        let n = to - from;
        if n == 0 {
            return;
        }
        let start = self.sample - n as u64;
        let out = &mut out[2 * from..2 * to];
        let resets = crate::platform::with_wide_lanes(
            #[inline(always)]
            || self.render_buses(n) + self.render_master(out, n, start),
        );
        self.emit_resets(resets);
    }

    fn emit_resets(&mut self, resets: u32) {
        for _ in 0..resets {
            self.emit(EngineEvent::UnitReset);
        }
    }

    fn emit(&mut self, ev: EngineEvent) {
        if let Err(ev) = self.events.push(ev) {
            self.dropped_events += 1;
            if !self.events.remove_first(EngineEvent::is_meter) {
                self.events.pop();
            }
            let _ = self.events.push(ev);
        }
    }

    /// Queues a MIDI message for the runner (counted when the queue is full).
    fn send_midi(&mut self, ev: MidiEvent) {
        if self.midi.push(ev).is_err() {
            self.midi_dropped += 1;
        }
    }

    /// The queue the engine's MIDI goes into.
    fn outbox(&mut self) -> (&mut HeldNotes, Outbox<'_>) {
        (
            &mut self.notes,
            Outbox {
                queue: &mut self.midi,
                dropped: &mut self.midi_dropped,
            },
        )
    }

    /// Ends every MIDI note now and sends all notes off on the channels that played.
    fn notes_off(&mut self) {
        let at = self.sample;
        let (notes, mut out) = self.outbox();
        notes.all_off(at, &mut out);
    }

    /// MIDI clock ticks due by the current sample.
    fn send_ticks(&mut self) {
        while let Some(mut g) = self.ticks {
            match g.next_sample() {
                Some(at) if at <= self.sample => {
                    self.send_midi(MidiEvent::realtime(midi::CLOCK, at));
                    g.next += 1;
                    self.ticks = Some(g);
                }
                _ => break,
            }
        }
    }

    fn discard(&mut self, g: Garbage) {
        if let Err(g) = self.garbage.push(g) {
            // Freeing here would break the real-time rule; leaking one box is the lesser harm
            // and only happens when the control thread stopped collecting.
            self.garbage_overflow += 1;
            std::mem::forget(g);
        }
    }

    fn gate(&mut self, v: usize, on: bool, sample: u64) {
        if on {
            self.wake(v);
        }
        self.voices[v].gate(on);
        if self.gate_log.is_full() {
            self.gate_log.pop();
        }
        let _ = self.gate_log.push(GateRecord {
            voice: v as u8 + 1,
            on,
            sample,
        });
    }

    /// Starts processing voice `v` (index from 0) if it was asleep.
    fn wake(&mut self, v: usize) {
        if !self.voices[v].awake && v == ACID_VOICE {
            // acid1 was not ticked while voice2 slept: start it clean at its current settings.
            self.acid.reset();
        }
        self.voices[v].wake();
    }

    fn release_all(&mut self) {
        for v in 0..self.voices.len() {
            self.gate_off[v] = NEVER;
            if self.voices[v].gate_open() {
                self.gate(v, false, self.sample);
            }
        }
    }

    /// Stores a parameter's clamped target and passes it to its unit.
    fn set_param(&mut self, id: ParamId, value: f32) {
        let i = id.index();
        let v = id.spec().clamp(value as f64) as f32;
        self.params[i] = v;
        match id.locate() {
            (Module::Voice(n), p) => {
                let n = n as usize;
                if n <= self.voices.len() {
                    let base = (n - 1) * VOICE_PARAM_COUNT;
                    let values = &self.params[base..base + VOICE_PARAM_COUNT];
                    self.voices[n - 1].set_param(p, v, values);
                }
            }
            (Module::Reverb, reverb::MIX) => self.reverb_mix.set_target(v),
            (Module::Delay, delay::MIX) => self.delay_mix.set_target(v),
            (Module::Delay, delay::TIME | delay::SYNC) => self.delay_time_target(),
            (Module::Acid, acid::DECAY) => {
                // The decay applies at once: pass it to the filter now.
                self.acid_applied[acid::DECAY] = f32::NAN;
                self.apply_acid();
            }
            _ => {
                self.fx[i - FX_BASE].set_target(v);
                self.fx_dirty = true;
            }
        }
    }

    /// Points delay1's time at its free `time`, or at its synced note value at the tempo
    /// playing now (which a clock follower may move).
    fn delay_time_target(&mut self) {
        let sync = self.params[ParamId::delay(delay::SYNC).index()];
        let time = ParamId::delay(delay::TIME).index();
        let target = match delay::synced_time(sync as f64, self.clock.bpm) {
            Some(t) => {
                self.delay_tempo = self.clock.bpm;
                t as f32
            }
            None => {
                self.delay_tempo = f64::NAN;
                self.params[time]
            }
        };
        self.fx[time - FX_BASE].set_target(target);
        self.fx_dirty = true;
    }

    fn fx_value(&self, id: ParamId) -> f32 {
        self.fx[id.index() - FX_BASE].value()
    }

    fn apply_acid(&mut self) {
        let f = |p: usize| self.fx_value(ParamId::acid(p));
        let a = [
            f(acid::CUTOFF),
            f(acid::RES),
            f(acid::ENV_AMOUNT),
            self.params[ParamId::acid(acid::DECAY).index()],
            f(acid::DRIVE),
            f(acid::MIX),
            f(acid::VOL_COMP),
            f(acid::ACCENT),
        ];
        if a != self.acid_applied {
            self.acid_applied = a;
            self.acid
                .set_params(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
        }
    }

    /// Passes the smoothed effect settings to their units where they changed.
    fn apply_effects(&mut self) {
        self.apply_acid();
        let d = [
            self.fx_value(ParamId::dist(dist::DRIVE)),
            self.fx_value(ParamId::dist(dist::MIX)),
            self.fx_value(ParamId::dist(dist::TONE)),
        ];
        if d != self.dist_applied {
            self.dist_applied = d;
            self.dist.set(d[0], d[1], d[2]);
        }
        let r = [
            self.fx_value(ParamId::reverb(reverb::ROOM)),
            self.fx_value(ParamId::reverb(reverb::DAMP)),
        ];
        if r != self.reverb_applied {
            self.reverb_applied = r;
            self.reverb.set(r[0], r[1]);
        }
        let l = [
            self.fx_value(ParamId::delay(delay::TIME)),
            self.fx_value(ParamId::delay(delay::FEEDBACK)),
            self.fx_value(ParamId::delay(delay::LOWCUT)),
            self.fx_value(ParamId::delay(delay::HIGHCUT)),
        ];
        if l != self.delay_applied {
            self.delay_applied = l;
            self.delay.set(l[0], l[1], l[2], l[3]);
        }
    }

    /// Control-rate work, every [`CONTROL_PERIOD`] samples: smoothing of effect settings,
    /// filter coefficients and the LFOs.
    fn control_tick(&mut self) {
        if !self.delay_tempo.is_nan() && self.delay_tempo != self.clock.bpm {
            self.delay_time_target();
        }
        // A resting smoother's tick changes nothing: only moving ones tick, and the units
        // hear of settings only when one moved or was set.
        let mut moved = std::mem::take(&mut self.fx_dirty);
        for s in self.fx.iter_mut().filter(|s| !s.is_settled()) {
            tick_settling(s);
            moved = true;
        }
        if moved {
            self.apply_effects();
        }

        let rate1 = self.fx_value(ParamId::lfo1(lfo::RATE));
        if rate1 != self.lfo1_rate {
            self.lfo1_rate = rate1;
            self.lfo1.set_rate(rate1);
        }
        let depth1 = self.fx_value(ParamId::lfo1(lfo::DEPTH));
        let m = self.lfo1.tick();
        self.acid.set_cutoff_mod(LFO1_RANGE_HZ * depth1 * m);

        let rate2 = self.fx_value(ParamId::lfo2(lfo::RATE));
        if rate2 != self.lfo2_rate {
            self.lfo2_rate = rate2;
            self.lfo2.set_rate(rate2);
        }
        let depth2 = self.fx_value(ParamId::lfo2(lfo::DEPTH));
        let m = self.lfo2.tick();
        let target = 1.0 - depth2 * (0.5 + 0.5 * m);
        // Ramp from where the gain is now to the new value over the coming period.
        let elapsed = self.sample.saturating_sub(self.control_sample) as f32;
        let now = self.lfo2_gain + self.lfo2_step * elapsed;
        self.lfo2_gain = now;
        self.lfo2_step = (target - now) / CONTROL_PERIOD as f32;
        self.control_sample = self.sample;

        for v in self.voices.iter_mut() {
            v.control_tick();
        }
        if self.voices.get(ACID_VOICE).is_some_and(|v| !v.awake) {
            // Keeps acid1's reported cutoff current (settings and lfo1) while it is idle.
            self.acid.reset();
        }
    }

    /// Everything due at the current sample: gate-offs, then a step start (with a
    /// bar-aligned load), then hits.
    fn run_due_events(&mut self) {
        let s = self.sample;
        if self.notes.next_off() <= s {
            let (notes, mut out) = self.outbox();
            notes.end_due(s, &mut out);
        }
        for v in 0..self.voices.len() {
            if self.gate_off[v] <= s {
                self.gate_off[v] = NEVER;
                self.gate(v, false, s);
            }
            if self.locked[v] != 0 && self.locked_until[v] <= s {
                self.restore_locks(v, self.locked[v]);
            }
        }
        while self.clock.running && self.clock.next_step_sample <= s {
            if let Some((k, _)) = self.swung.take() {
                self.fire_hits(k, s);
            }
            let k = self.clock.next_step;
            let at = self.clock.next_step_sample;
            let bar = k / STEPS_PER_BAR;
            if k.is_multiple_of(STEPS_PER_BAR) {
                self.apply_at_bar();
                self.emit(EngineEvent::Bar { bar, sample: at });
                if self.stop_at_bar.is_some_and(|b| bar >= b) {
                    // The bar is told (its listeners end what ends there), none of it plays.
                    self.stop();
                    break;
                }
                self.fill_bar_line(at);
            }
            self.emit(EngineEvent::Step {
                global_step: k,
                bar,
                step_in_bar: (k % STEPS_PER_BAR) as u8,
                sample: at,
            });
            let delay = self.clock.swing_delay(k);
            self.clock.advance();
            if self.midi_clock {
                // Six ticks share the step as it was scheduled (a tempo change re-anchors at
                // the next step), so the last one always comes before the next step's first.
                self.ticks = Some(TickGrid {
                    step_start: at,
                    sps: self.clock.next_step_sample.saturating_sub(at) as f64,
                    next: 0,
                });
                self.send_ticks();
            }
            if delay == 0 {
                self.fire_hits(k, at);
            } else {
                self.swung = Some((k, at + delay));
            }
        }
        if let Some((k, at)) = self.swung
            && at <= s
        {
            self.swung = None;
            self.fire_hits(k, at);
        }
        while let Some(t) = self.timed.pop_if(|t| t.at <= s) {
            self.play_hit(&t.hit, s);
        }
        self.send_ticks();
    }

    /// A bar line at sample `at`: a one-bar fill waiting begins, one playing ends.
    fn fill_bar_line(&mut self, at: u64) {
        let on = match self.fill_bar {
            FillBar::Off => return,
            FillBar::Waiting => {
                self.fill_bar = FillBar::Playing;
                true
            }
            FillBar::Playing => {
                self.fill_bar = FillBar::Off;
                false
            }
        };
        self.fill = on;
        self.emit(EngineEvent::Fill { on, sample: at });
    }

    /// Plays every active track's hit on `step`, at sample `at`.
    fn fire_hits(&mut self, step: u64, at: u64) {
        for t in 0..self.tracks.tracks.len() {
            let track = &mut self.tracks.tracks[t];
            let Some(v) = track.voice else { continue };
            let v = v as usize;
            if !track.active || track.steps.is_empty() || v == 0 || v > self.voices.len() {
                continue;
            }
            if !track.step_data.is_empty() {
                self.fire_step_data(t, step, at);
                continue;
            }
            let value = track.steps[(step % track.steps.len() as u64) as usize];
            if value == STEP_REST {
                continue;
            }
            let hit = make_hit(track, value, None, &self.clock, v as u8);
            self.play_hit(&hit, at);
        }
    }

    /// Step `step` of track `t`, which has per-step data (its grid time plus swing is `at`),
    /// then the track's next step when that one plays early (negative micro): it is decided
    /// now, after this one, so `pre` sees the steps in order.
    fn fire_step_data(&mut self, t: usize, step: u64, at: u64) {
        if self.tracks.tracks[t].ahead == step {
            self.tracks.tracks[t].ahead = NO_STEP;
        } else {
            self.play_step(t, step, at, at);
        }
        let next = step + 1;
        let track = &self.tracks.tracks[t];
        let pos = (next % track.steps.len() as u64) as usize;
        let early =
            track.steps[pos] != STEP_REST && track.step_data[pos].is_some_and(|d| d.micro < 0.0);
        // A slot switching at the next bar plays its own first step: the old one's is not
        // played early into the old slot's time.
        let switching = self.pending.is_some() && next.is_multiple_of(STEPS_PER_BAR);
        if early && !switching && self.clock.next_step == next {
            let base = self.clock.next_step_sample + self.clock.swing_delay(next);
            self.tracks.tracks[t].ahead = next;
            self.play_step(t, next, base, at);
        }
    }

    /// Decides and plays (or schedules) step `step` of track `t`, whose grid time plus swing
    /// is `base`; `now` is the current sample (nothing is scheduled before it).
    fn play_step(&mut self, t: usize, step: u64, base: u64, now: u64) {
        let track = &mut self.tracks.tracks[t];
        let Some(v) = track.voice else { return };
        let pos = (step % track.steps.len() as u64) as usize;
        let value = track.steps[pos];
        if value == STEP_REST {
            return;
        }
        let data = track.step_data[pos];
        let plays = data.is_none_or(|d| passes(track, &d, pos, step, self.fill, self.seed));
        // The note cycle moves on whether or not the step plays, so adding data to one step
        // never changes the notes the other steps play.
        let hit = make_hit(track, value, data.as_ref(), &self.clock, v);
        if !plays {
            return;
        }
        let (micro, ratchet) = data.map_or((0.0, 1), |d| (d.micro, d.ratchet.max(1)));
        let sps = self.clock.samples_per_step();
        let mut offset = (micro as f64 * sps).round() as i64;
        if base as i64 + offset < now as i64 {
            // An early step not decided early (at Play, after a load) plays on its grid time,
            // its ratchet's hits spaced from there.
            offset = 0;
        }
        for i in 0..ratchet as u64 {
            let sub = (i as f64 * sps / ratchet as f64).round() as i64;
            let onset = (base as i64 + offset + sub).max(now as i64) as u64;
            if onset <= now {
                self.play_hit(&hit, now);
            } else {
                self.schedule(onset, hit);
            }
        }
    }

    /// Holds a hit for sample `at` (latest first; same-time hits play in the order
    /// scheduled, so a new one goes before those already waiting for its sample).
    fn schedule(&mut self, at: u64, hit: Hit) {
        if self.timed.len() >= TIMED_CAPACITY {
            self.dropped_hits += 1;
            return;
        }
        let i = self.timed.partition_point(|t| t.at > at);
        self.timed.insert(i, TimedHit { at, hit });
    }

    /// Sounds one hit at sample `at`: the voice takes the hit's values and the step's locks
    /// (the locks of an earlier hit on the voice return first), then its gate opens.
    fn play_hit(&mut self, hit: &Hit, at: u64) {
        let n = hit.voice;
        let v = n as usize;
        let released = self.locked[v - 1] & !hit.lock_mask;
        if released != 0 {
            self.restore_locks(v - 1, released);
        }
        self.wake(v - 1);
        self.set_param(ParamId::voice(n, vp::FREQ), hit.freq);
        self.set_param(ParamId::voice(n, vp::AMP), hit.amp);
        self.set_param(ParamId::voice(n, vp::FILTER_FREQ), hit.cutoff);
        self.set_param(ParamId::voice(n, vp::REVERB_SEND), hit.reverb_send);
        self.set_param(ParamId::voice(n, vp::DELAY_SEND), hit.delay_send);
        if hit.lock_mask != 0 {
            for p in 0..VOICE_PARAM_COUNT {
                if hit.lock_mask & (1 << p) != 0 {
                    self.set_param(ParamId::voice(n, p), hit.locks[p]);
                }
            }
            self.locked[v - 1] = hit.lock_mask;
            self.locked_until[v - 1] = at + (self.clock.samples_per_step() + 0.5) as u64;
        }
        self.gate(v - 1, true, at);
        if (released | hit.lock_mask) & (1 << vp::FILTER_Q) != 0 {
            // A locked resonance, or its return, belongs to this hit from its first sample.
            self.voices[v - 1].land_q();
        }
        // The hit's level and cutoff sound from its first sample: smoothed over 20 ms they
        // would arrive after a short drum's attack and an accent would barely be heard.
        self.voices[v - 1].land_hit();
        if v - 1 == ACID_VOICE {
            self.acid.trigger(hit.accent);
        }
        self.gate_off[v - 1] = at + hit.gate_len;
        if let Some(o) = hit.midi {
            let note = midi::note_number(hit.freq);
            let velocity = midi::note_velocity(hit.midi_velocity);
            let off = at + hit.gate_len;
            let (notes, mut out) = self.outbox();
            notes.start(o, note, velocity, at, off, &mut out);
        }
    }

    /// Returns voice `v`'s (index from 0) parameters in `mask` from a step's lock to the
    /// song's values.
    fn restore_locks(&mut self, v: usize, mask: u16) {
        for p in 0..VOICE_PARAM_COUNT {
            if mask & (1 << p) != 0 {
                let id = ParamId::voice(v as u8 + 1, p);
                self.set_param(id, self.song_params[id.index()] as f32);
            }
        }
        self.locked[v] &= !mask;
    }

    /// Every track starts counting its loops at global step `anchor`, with no condition
    /// evaluated yet and no step played early.
    fn restart_tracks(&mut self, anchor: u64) {
        for t in self.tracks.tracks.iter_mut() {
            t.anchor = anchor;
            t.pre = false;
            t.ahead = NO_STEP;
        }
    }

    /// Keeps each track's place in its note cycle across a track swap, as long as the track
    /// (by name) still has the same notes; changed notes start their cycle again. Each lookup
    /// is a binary search in the old set's name index, so a swap costs O(n log n), not O(n²).
    ///
    /// Changed notes laid out one per hit (the keyboard piano's layout) belong to their
    /// steps: the cycle is placed where the playhead is in the track's loop, so each hit plays
    /// the note entered on it, as the grid shows, from the next hit on.
    fn carry_note_indexes(&self, tracks: &mut [SceneTrack]) {
        let next = self.next_hit_step();
        for t in tracks.iter_mut() {
            // Loop counts, `pre` and a step played early stay with the track's name.
            match self.tracks.find_named(&t.name) {
                Some(old) => {
                    t.anchor = old.anchor;
                    t.pre = old.pre;
                    t.ahead = old.ahead;
                }
                None => t.anchor = if self.clock.running { next } else { 0 },
            }
            if let Some(old) = self.tracks.find(&t.name, &t.notes) {
                t.note_index = old.note_index;
                continue;
            }
            let hits = |s: &[u8]| s.iter().filter(|&&v| v != STEP_REST).count();
            if !self.clock.running || t.notes.is_empty() || t.notes.len() != hits(&t.steps) {
                continue;
            }
            let at = (next % t.steps.len() as u64) as usize;
            t.note_index = t.note_index.wrapping_add(hits(&t.steps[..at]) as u64);
        }
    }

    /// The next step whose hits fire (a swung step has advanced the clock already).
    fn next_hit_step(&self) -> u64 {
        match self.swung {
            Some((k, _)) => k,
            None => self.clock.next_step,
        }
    }

    /// The bar the clock is in or about to start (the bar of the next step while running).
    fn bar_now(&self) -> u64 {
        if self.clock.running {
            self.clock.next_step / STEPS_PER_BAR
        } else {
            self.clock.current_step() / STEPS_PER_BAR
        }
    }

    /// Everything waiting for the bar takes effect: a queued load (which drops the queued
    /// tracks: they were the outgoing song's), else queued tracks (quantised mutes). Tracks
    /// applied and replaced at the same sample would only make the control side send the
    /// outgoing song's tracks back after the load.
    fn apply_at_bar(&mut self) {
        if let Some(p) = self.pending.take() {
            self.apply_scene(p.scene, p.slot);
            return;
        }
        if let Some((mut tracks, id)) = self.pending_tracks.take() {
            self.carry_note_indexes(&mut tracks.tracks);
            let old = std::mem::replace(&mut self.tracks, tracks);
            self.discard(Garbage::Tracks(old));
            self.emit(EngineEvent::TracksApplied {
                id,
                bar: self.bar_now(),
                sample: self.sample,
            });
        }
    }

    /// Applies a whole snapshot now; its box (holding the replaced tracks) goes to garbage.
    /// Tracks queued for the bar belonged to the song it replaces: they are dropped.
    fn apply_scene(&mut self, mut scene: Box<Scene>, slot: u16) {
        if let Some((old, _)) = self.pending_tracks.take() {
            self.discard(Garbage::Tracks(old));
        }
        if self.clock.running {
            // A slot arriving mid-song plays each track's notes as if it had played since
            // step 0, so every hit plays the note the grid shows on its step.
            let next = self.next_hit_step();
            for t in scene.tracks.tracks.iter_mut() {
                t.note_index = t.note_start.wrapping_add(hits_before(&t.steps, next));
            }
        }
        self.song_params = scene.params.0;
        self.clock.set_bpm(scene.bpm);
        self.clock.set_swing(scene.swing);
        self.seed = scene.seed;
        for i in 0..PARAM_COUNT {
            self.set_param(ParamId(i as u16), scene.params.0[i] as f32);
        }
        // Every parameter now has the new slot's value, and hits still waiting belong to the
        // old slot: the whole snapshot switches at this sample.
        self.locked = [0; MAX_VOICES];
        self.timed.clear();
        std::mem::swap(&mut *self.tracks, &mut scene.tracks);
        self.restart_tracks(if self.clock.running {
            self.clock.next_step
        } else {
            0
        });
        self.discard(Garbage::Scene(scene));
        let bar = self.bar_now();
        self.emit(EngineEvent::Applied {
            slot,
            bar,
            sample: self.sample,
        });
    }

    /// Renders one sub-block (at most [`MAX_FRAMES`] frames, no events inside).
    /// Every awake voice into frames `at..at + n` of the dry bus and the send buses;
    /// returns the units reset.
    fn render_voices(&mut self, at: usize, n: usize) -> u32 {
        let sc = &mut self.scratch;
        let span = at..at + n;
        sc.dry[span.clone()].fill(0.0);
        sc.reverb_send[span.clone()].fill(0.0);
        sc.delay_send[span.clone()].fill(0.0);
        let mut resets = 0u32;
        let tremolo = Ramp {
            base: self.lfo2_gain,
            step: self.lfo2_step,
            offset: self.sample.saturating_sub(self.control_sample) as u32,
        };
        for (i, v) in self.voices.iter_mut().enumerate() {
            if !v.awake {
                continue;
            }
            let gain = if i == TREMOLO_VOICE {
                tremolo
            } else {
                Ramp::UNITY
            };
            let buf = &mut sc.voice[..n];
            let peak = if i == ACID_VOICE {
                v.render_through(&mut self.acid, buf, gain)
            } else {
                v.render_own(buf, gain)
            };
            let peak = peak.unwrap_or_else(|| {
                v.reset_units();
                if i == ACID_VOICE {
                    self.acid.reset();
                }
                buf.fill(0.0);
                resets += 1;
                0.0
            });
            v.mix_into(
                &sc.voice[..n],
                peak,
                &mut sc.dry[span.clone()],
                &mut sc.reverb_send[span.clone()],
                &mut sc.delay_send[span.clone()],
            );
        }
        resets
    }

    /// The buses in place; returns the units reset.
    #[inline(always)]
    fn render_buses(&mut self, n: usize) -> u32 {
        let sc = &mut self.scratch;
        let mut resets = 0u32;
        // dry → dist1, delay send → delay1 wet.
        self.dist.process(&mut sc.dry[..n]);
        if !all_finite(&sc.dry[..n]) {
            self.dist.reset();
            sc.dry[..n].fill(0.0);
            resets += 1;
        }
        self.reverb.process(
            &sc.reverb_send[..n],
            &mut sc.reverb_l[..n],
            &mut sc.reverb_r[..n],
        );
        if !(all_finite(&sc.reverb_l[..n]) && all_finite(&sc.reverb_r[..n])) {
            self.reverb.reset();
            sc.reverb_l[..n].fill(0.0);
            sc.reverb_r[..n].fill(0.0);
            resets += 1;
        }
        self.delay.process(&mut sc.delay_send[..n]);
        if !all_finite(&sc.delay_send[..n]) {
            self.delay.reset();
            sc.delay_send[..n].fill(0.0);
            resets += 1;
        }
        resets
    }

    /// The master bus into `out`, the peaks and the analyser; returns the units reset.
    #[inline(always)]
    fn render_master(&mut self, out: &mut [f32], n: usize, start: u64) -> u32 {
        let sc = &mut self.scratch;
        let mut resets = 0u32;
        // Master bus, stage by stage: the return levels, the sum into the reverb buffers
        // (reused as the left and right master), the limiter, then the output.
        let (rm, dm) = (&mut sc.reverb_mix[..n], &mut sc.delay_mix[..n]);
        self.reverb_mix.process(rm);
        self.delay_mix.process(dm);
        let (left, right) = (&mut sc.reverb_l[..n], &mut sc.reverb_r[..n]);
        for j in 0..n {
            let dry = sc.dry[j];
            let echo = sc.delay_send[j] * dm[j];
            left[j] = dry + left[j] * rm[j] + echo;
            right[j] = dry + right[j] * rm[j] + echo;
        }
        self.limiter.process(left, right);
        self.limiting_db = self.limiting_db.max(self.limiter.gain_reduction_db());
        // The limiter's output is finite and within ±1 by construction; one integer pass
        // proves it (the bits of |x| order like its value) and gives the peaks.
        let mut peak = [largest_magnitude(left), largest_magnitude(right)];
        if peak[0].max(peak[1]) > 1.0f32.to_bits() {
            for x in left.iter_mut().chain(right.iter_mut()) {
                *x = if x.is_finite() {
                    x.clamp(-1.0, 1.0)
                } else {
                    0.0
                };
            }
            self.limiter.reset();
            resets += 1;
            peak = [largest_magnitude(left), largest_magnitude(right)];
        }
        if !self.metering {
            for (j, frame) in out.chunks_exact_mut(2).enumerate() {
                frame[0] = left[j];
                frame[1] = right[j];
            }
            return resets;
        }
        let peak = peak.map(f32::from_bits);
        for (j, frame) in out.chunks_exact_mut(2).enumerate() {
            let (l, r) = (left[j], right[j]);
            frame[0] = l;
            frame[1] = r;
            sc.mono[j] = 0.5 * (l + r);
        }
        self.master_peak = [
            self.master_peak[0].max(peak[0]),
            self.master_peak[1].max(peak[1]),
        ];
        self.analyser.feed(&sc.mono[..n], start);
        resets
    }

    /// Emits the meter events and restarts the peak windows.
    fn report(&mut self) {
        let mut voices = [0.0f32; 16];
        for (slot, v) in voices.iter_mut().zip(self.voices.iter_mut()) {
            *slot = v.peak;
            v.peak = 0.0;
        }
        let master = self.master_peak;
        self.master_peak = [0.0; 2];
        let limiting_db = std::mem::take(&mut self.limiting_db);
        self.emit(EngineEvent::Levels {
            voices,
            master,
            limiting_db,
        });
        let bands = self.analyser.report();
        self.emit(EngineEvent::Spectrum { bands });
    }
}

/// Hits a track of `steps` has played in global steps `0..step`.
fn hits_before(steps: &[u8], step: u64) -> u64 {
    if steps.is_empty() {
        return 0;
    }
    let len = steps.len() as u64;
    let hits = |s: &[u8]| s.iter().filter(|&&v| v != STEP_REST).count() as u64;
    (step / len) * hits(steps) + hits(&steps[..(step % len) as usize])
}

/// One hit, with every value it sets on its voice: built when its step is decided, played
/// then or later (micro-timing, ratchets), so it does not depend on the tracks at that time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Hit {
    /// Voice, from 1.
    voice: u8,
    freq: f32,
    amp: f32,
    cutoff: f32,
    reverb_send: f32,
    delay_send: f32,
    gate_len: u64,
    /// An `X` step: fires acid1's accent.
    accent: bool,
    /// Where the hit also goes as a MIDI note, and its velocity (0–1).
    midi: Option<NoteOut>,
    midi_velocity: f32,
    /// Voice parameters the step locks (bits by `registry::voice` index), and their values.
    lock_mask: u16,
    locks: [f32; VOICE_PARAM_COUNT],
}

/// A hit waiting for its sample.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TimedHit {
    at: u64,
    hit: Hit,
}

/// The hit of step value `value` (hit or accent) on `track` with step data `d`, moving the
/// track's note cycle on by one.
fn make_hit(
    track: &mut SceneTrack,
    value: u8,
    d: Option<&StepPlay>,
    clock: &Clock,
    voice: u8,
) -> Hit {
    let accent_gain = d.map_or(track.accent_gain, |d| d.accent_gain);
    let (velocity, gain) = if value == STEP_ACCENT {
        (ACCENT_VELOCITY, HIT_VELOCITY * accent_gain)
    } else {
        (HIT_VELOCITY, HIT_VELOCITY)
    };
    let cycled = if track.notes.is_empty() {
        track.base_freq
    } else {
        let f = track.notes[(track.note_index % track.notes.len() as u64) as usize];
        track.note_index = track.note_index.wrapping_add(1);
        f
    };
    let Some(d) = d else {
        return Hit {
            voice,
            freq: cycled,
            amp: track.base_amp * gain,
            cutoff: track.filter_freq + track.accent_boost * (velocity - 0.5),
            reverb_send: track.reverb_send,
            delay_send: track.delay_send,
            gate_len: clock.gate_len(track.gate_frac),
            accent: velocity >= ACCENT_VELOCITY,
            midi: track.midi,
            midi_velocity: velocity,
            lock_mask: 0,
            locks: [0.0; VOICE_PARAM_COUNT],
        };
    };
    let mut lock_mask = 0u16;
    let mut locks = [0.0; VOICE_PARAM_COUNT];
    for (p, lock) in d.voice_locks.iter().enumerate() {
        if let Some(v) = lock {
            lock_mask |= 1 << p;
            locks[p] = *v;
        }
    }
    Hit {
        voice,
        freq: d.note.unwrap_or(cycled),
        amp: d.base_amp * gain * d.velocity,
        cutoff: d.filter_freq + d.accent_boost * (velocity - 0.5),
        reverb_send: d.reverb_send,
        delay_send: d.delay_send,
        // A ratchet's hits share the step: each gate is its share of the step's gate.
        gate_len: clock.gate_len(d.gate_frac / d.ratchet.max(1) as f32),
        accent: velocity >= ACCENT_VELOCITY,
        midi: track.midi,
        midi_velocity: velocity * d.velocity,
        lock_mask,
        locks,
    }
}

/// Which loop (from 0) `track` plays on global step `step`: passes through its pattern
/// since its anchor (a first pass cut short by a bar-aligned load counts as one).
fn loop_of(track: &SceneTrack, step: u64) -> u64 {
    let len = track.steps.len().max(1) as u64;
    if step < track.anchor {
        0
    } else {
        step / len - track.anchor / len
    }
}

/// True when step data `d` on step `pos` (0-based) of `track`, global step `step`, plays:
/// its condition holds and its chance comes up. The outcome is what a later `pre` reads
/// (Elektron: the most recently evaluated condition; `pre` itself is not one, a chance is).
fn passes(
    track: &mut SceneTrack,
    d: &StepPlay,
    pos: usize,
    step: u64,
    fill: bool,
    seed: u64,
) -> bool {
    let lp = loop_of(track, step);
    let cond = match d.cond {
        None => true,
        Some(Cond::Loop { a, b }) => lp % b.max(1) as u64 == a.saturating_sub(1) as u64,
        Some(Cond::Fill(on)) => fill == on,
        Some(Cond::First(on)) => (lp == 0) == on,
        Some(Cond::Pre(on)) => track.pre == on,
    };
    let chance = d.chance >= 100.0
        || (chance_roll(seed, track.name_hash, pos as u64, lp) as u64) < chance_threshold(d.chance);
    let plays = cond && chance;
    let evaluated = match d.cond {
        Some(Cond::Pre(_)) => false,
        Some(_) => true,
        None => d.chance < 100.0,
    };
    if evaluated {
        track.pre = plays;
    }
    plays
}

/// A 32-bit draw for a step's chance: a function of the slot's seed, the track's name, the
/// step and the loop only, so a render is the same whatever the block size or the moment of
/// the call.
fn chance_roll(seed: u64, name_hash: u64, pos: u64, lp: u64) -> u32 {
    let mix = |mut z: u64| {
        // SplitMix64's finaliser.
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut x = mix(seed.wrapping_add(0x9E37_79B9_7F4A_7C15) ^ name_hash);
    x = mix(x ^ pos.wrapping_mul(0xD1B5_4A32_D192_ED03));
    x = mix(x ^ lp.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7));
    (x >> 32) as u32
}

/// Draws below this play: `chance` % of all 32-bit draws.
fn chance_threshold(chance: f32) -> u64 {
    (chance.clamp(0.0, 100.0) as f64 / 100.0 * 4_294_967_296.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_before_counts_whole_loops_and_the_part_loop() {
        let steps = pattern_steps("x.xX.");
        assert_eq!(hits_before(&steps, 0), 0);
        assert_eq!(hits_before(&steps, 3), 2);
        assert_eq!(hits_before(&steps, 5), 3);
        assert_eq!(hits_before(&steps, 16), 3 * 3 + 1);
        assert_eq!(hits_before(&[], 16), 0);
    }

    fn run(e: &mut Engine, frames: usize) -> Vec<f32> {
        let mut out = vec![0.0; frames * 2];
        for chunk in out.chunks_mut(256) {
            e.process(chunk);
        }
        out
    }

    #[test]
    fn chance_draws_cover_the_percentages_and_depend_only_on_their_inputs() {
        assert_eq!(chance_threshold(0.0), 0);
        assert_eq!(chance_threshold(100.0), 1 << 32);
        assert_eq!(chance_threshold(50.0), 1 << 31);
        let draw = chance_roll(1234, 77, 4, 9);
        assert_eq!(draw, chance_roll(1234, 77, 4, 9));
        assert_ne!(draw, chance_roll(1235, 77, 4, 9));
        assert_ne!(draw, chance_roll(1234, 77, 5, 9));
        assert_ne!(draw, chance_roll(1234, 77, 4, 10));
        // Roughly uniform: a quarter of 10 000 draws fall below 25 %.
        let below = (0..10_000u64)
            .filter(|&l| (chance_roll(1, 2, 3, l) as u64) < chance_threshold(25.0))
            .count();
        assert!((2300..=2700).contains(&below), "{below}");
    }

    #[test]
    fn loops_count_from_the_anchor_and_pre_skips_pre_steps() {
        let slot_track = crate::model::Track::new("t", "voice1", "x...........");
        let mut t = SceneTrack::from_track(&slot_track, 8, true);
        t.anchor = 16;
        // A 12-step track applied at step 16 (its position 4): loop 0 until it wraps at 24.
        assert_eq!(loop_of(&t, 16), 0);
        assert_eq!(loop_of(&t, 23), 0);
        assert_eq!(loop_of(&t, 24), 1);
        assert_eq!(loop_of(&t, 48), 3);
        let d = StepPlay::new(&slot_track, &crate::model::steps::StepData::default());
        let with = |cond| {
            let mut s = d;
            s.cond = cond;
            s
        };
        assert!(!passes(
            &mut t,
            &with(Some(Cond::Pre(true))),
            0,
            16,
            false,
            0
        ));
        assert!(passes(
            &mut t,
            &with(Some(Cond::First(true))),
            0,
            16,
            false,
            0
        ));
        assert!(t.pre);
        // A pre step does not change what the next pre reads.
        assert!(!passes(
            &mut t,
            &with(Some(Cond::Pre(false))),
            0,
            17,
            false,
            0
        ));
        assert!(t.pre);
        assert!(!passes(
            &mut t,
            &with(Some(Cond::Fill(true))),
            0,
            18,
            false,
            0
        ));
        assert!(!t.pre);
        let mut never = d;
        never.chance = 0.0;
        assert!(!passes(&mut t, &never, 0, 19, false, 0));
        let mut always = d;
        always.chance = 100.0;
        t.pre = true;
        assert!(passes(&mut t, &always, 0, 19, false, 0));
        assert!(t.pre, "a step without condition or chance is not evaluated");
    }

    #[test]
    fn types_crossing_threads_are_send() {
        fn send<T: Send>() {}
        send::<Engine>();
        send::<EngineMsg>();
        send::<EngineEvent>();
        send::<Garbage>();
        send::<Scene>();
        send::<Position>();
        send::<LoadTiming>();
    }

    #[test]
    fn set_param_clamps_to_the_registry_range() {
        let mut e = Engine::new(48000.0, 8);
        let id = ParamId::voice(3, vp::FREQ);
        e.handle(EngineMsg::SetParam { id, value: 9000.0 });
        assert_eq!(e.param(id), 5000.0);
        e.handle(EngineMsg::SetParam {
            id,
            value: f32::NAN,
        });
        assert_eq!(e.param(id), 440.0);
        let w = ParamId::voice(1, vp::WAVEFORM);
        e.handle(EngineMsg::SetParam { id: w, value: 2.4 });
        assert_eq!(e.param(w), 2.0);
    }

    #[test]
    fn a_gated_voice_sounds_and_sleeps_after_release() {
        let mut e = Engine::new(48000.0, 4);
        assert_eq!(e.awake_voices(), 0);
        e.handle(EngineMsg::Gate { voice: 1, on: true });
        let out = run(&mut e, 4800);
        assert!(out.iter().any(|x| x.abs() > 0.05));
        assert_eq!(e.awake_voices(), 1);
        e.handle(EngineMsg::Gate {
            voice: 1,
            on: false,
        });
        run(&mut e, 48000 * 2);
        assert_eq!(e.awake_voices(), 0);
        let out = run(&mut e, 4800);
        assert!(out.iter().all(|x| x.abs() < 1e-3));
    }

    #[test]
    fn meter_events_arrive_about_thirty_times_a_second() {
        let mut e = Engine::new(48000.0, 8);
        run(&mut e, 48000);
        let mut levels = 0;
        let mut spectra = 0;
        while let Some(ev) = e.pop_event() {
            match ev {
                EngineEvent::Levels { .. } => levels += 1,
                EngineEvent::Spectrum { .. } => spectra += 1,
                _ => {}
            }
        }
        assert_eq!((levels, spectra), (30, 30));
    }

    #[test]
    fn metering_off_reports_no_meters_and_changes_no_sample() {
        let (mut on, mut off) = (Engine::new(48000.0, 8), Engine::new(48000.0, 8));
        off.set_metering(false);
        for e in [&mut on, &mut off] {
            for (voice, send) in [(1, 0.0), (3, 0.4), (6, 0.7)] {
                e.handle(EngineMsg::SetParam {
                    id: ParamId::voice(voice, vp::REVERB_SEND),
                    value: send,
                });
                e.handle(EngineMsg::SetParam {
                    id: ParamId::voice(voice, vp::DELAY_SEND),
                    value: send / 2.0,
                });
                e.handle(EngineMsg::Gate { voice, on: true });
            }
        }
        // Odd buffer lengths: the bus spans fall differently from the report times.
        let render = |e: &mut Engine| {
            let mut out = vec![0.0; 48000 * 2];
            for chunk in out.chunks_mut(2 * 333) {
                e.process(chunk);
            }
            out
        };
        let (a, b) = (render(&mut on), render(&mut off));
        assert!(a.iter().any(|x| x.abs() > 0.05));
        let differ = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x.to_bits() != y.to_bits());
        assert_eq!(differ, None, "first differing sample");
        let meters = |e: &mut Engine| {
            std::iter::from_fn(|| e.pop_event())
                .filter(|ev| matches!(ev, EngineEvent::Levels { .. }))
                .count()
        };
        assert_eq!((meters(&mut on), meters(&mut off)), (30, 0));
        off.set_metering(true);
        run(&mut off, 24000);
        assert_eq!(meters(&mut off), 15);
    }

    #[test]
    fn levels_report_the_voice_that_plays() {
        let mut e = Engine::new(48000.0, 8);
        e.handle(EngineMsg::SetParam {
            id: ParamId::voice(4, vp::AMP),
            value: 0.5,
        });
        e.handle(EngineMsg::Gate { voice: 4, on: true });
        run(&mut e, 4800);
        let mut last = None;
        while let Some(ev) = e.pop_event() {
            if let EngineEvent::Levels { voices, master, .. } = ev {
                last = Some((voices, master));
            }
        }
        let (voices, master) = last.expect("levels were reported");
        assert!(voices[3] > 0.1, "{voices:?}");
        assert!(voices.iter().enumerate().all(|(i, &v)| i == 3 || v == 0.0));
        assert!(master[0] > 0.05 && master[0] <= 1.0 && master[0] == master[1]);
    }

    #[test]
    fn stopping_applies_a_pending_load_at_once() {
        let mut e = Engine::new(48000.0, 8);
        e.handle(EngineMsg::Play);
        run(&mut e, 1000);
        let scene = Scene {
            bpm: 150.0,
            ..Scene::default()
        };
        e.handle(EngineMsg::Load {
            scene: Box::new(scene),
            timing: LoadTiming::NextBar,
            slot: 9,
        });
        assert_eq!(e.position().queued_slot, Some((9, 1)));
        e.handle(EngineMsg::Stop);
        assert_eq!(e.position().queued_slot, None);
        assert_eq!(e.position().bpm, 150.0);
        let applied = std::iter::from_fn(|| e.pop_event()).any(|ev| {
            ev == EngineEvent::Applied {
                slot: 9,
                bar: 0,
                sample: 1000,
            }
        });
        assert!(applied);
    }

    #[test]
    fn a_full_event_queue_drops_meters_first() {
        let mut e = Engine::new(48000.0, 8);
        e.handle(EngineMsg::Play);
        // ~40 s without collecting: far more events than the queue holds.
        run(&mut e, 48000 * 40);
        assert!(e.dropped_events() > 0);
        let mut steps = 0;
        while let Some(ev) = e.pop_event() {
            if let EngineEvent::Step { .. } = ev {
                steps += 1;
            }
        }
        // Steps (8 per second at 120 BPM) survive while meters are dropped.
        assert!(steps >= 300, "{steps}");
    }
}
