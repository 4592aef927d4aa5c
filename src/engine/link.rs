//! The thread boundary: the control thread's [`EngineLink`] and the audio side's
//! [`EngineRunner`], joined by lock-free rtrb rings (commands in; events, replaced boxes and
//! recorded samples out). Whatever drives the runner (a sound card's callback, the paced
//! internal clock, a test loop) lives in `audio`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::midi::MidiEvent;
use super::timeline::{TimelineStats, TimelineSync};
use super::{Engine, EngineEvent, EngineMsg, Garbage, LoadTiming};

/// Capacity of the command ring (control → audio).
pub const COMMAND_RING: usize = 4096;
/// Capacity of the event ring (audio → control).
pub const EVENT_RING: usize = 8192;
/// Capacity of the ring returning replaced boxes to be dropped off the audio thread.
pub const GARBAGE_RING: usize = 2048;
/// Largest device buffer the runner renders in one piece (bigger ones are split).
pub const MAX_BLOCK: usize = 4096;
/// Capacity of the MIDI ring (audio → MIDI sender): clock ticks and the notes of every track.
pub const MIDI_RING: usize = 8192;
/// A callback starting this much later than the smoothed sample clock says, for
/// [`CLOCK_JUMP_CALLBACKS`] callbacks in a row, is a jump (an xrun, a paused process): the
/// clock is taken anew instead of glided to. One late callback alone is not.
const CLOCK_JUMP_S: f64 = 0.02;
/// Callbacks in a row that must start late before the smoothed clock jumps.
const CLOCK_JUMP_CALLBACKS: u32 = 8;
/// Share of the distance to a later callback start that the smoothed clock moves per callback.
const CLOCK_GLIDE: f64 = 0.005;
/// Most commands applied per callback, so a flood never stretches one period.
pub const MAX_COMMANDS_PER_CALLBACK: usize = 1024;

/// What the audio side reports back besides the engine's own events.
#[derive(Debug, Clone, Copy)]
pub enum HostEvent {
    /// An engine event (position, slot applied, levels, …).
    Engine(EngineEvent),
    /// Callback statistics over the last ~half second.
    Load {
        /// Mean time spent in the callback, in % of the period.
        mean_pct: f32,
        /// Longest callback, in % of the period.
        max_pct: f32,
        /// Callbacks that took longer than their period, since start.
        late: u64,
        /// Device under/overruns (or internal clock slips), since start.
        xruns: u64,
    },
}

/// Counters shared between the audio side and the control thread.
#[derive(Debug, Default)]
pub struct SharedStats {
    /// True while the recorder wants samples.
    pub recording: AtomicBool,
    /// True while output is muted (`/engine/stop`).
    pub muted: AtomicBool,
    /// Device under/overruns and internal clock slips.
    pub xruns: AtomicU64,
    /// Callbacks that took longer than their period.
    pub late: AtomicU64,
    /// Callbacks during which the audio thread blocked (a voluntary context switch: a lock,
    /// I/O, a page fault) — which it must never do. Lateness without blocking is the
    /// machine pausing the thread, not the thread waiting for something.
    pub blocked: AtomicU64,
    /// Callbacks run.
    pub callbacks: AtomicU64,
    /// Commands the audio side has applied, in total.
    pub commands_applied: AtomicU64,
    /// MIDI messages lost because the MIDI sender fell behind.
    pub midi_dropped: AtomicU64,
    /// MIDI messages put on the MIDI ring, in total.
    pub midi_queued: AtomicU64,
    /// MIDI notes the engine ended early because too many were held at once.
    pub notes_cut: AtomicU64,
    /// Recorded samples lost because the writer thread fell behind.
    pub record_dropped: AtomicU64,
    /// Events lost because the control thread fell behind.
    pub events_dropped: AtomicU64,
    /// Set by the device's error callback when the device is gone.
    pub device_lost: AtomicBool,
    /// The internal clock thread runs at real-time priority (SCHED_FIFO).
    pub realtime: AtomicBool,
    /// Engine sample clock at the start of the latest callback…
    pub clock_sample: AtomicU64,
    /// …and the wall-clock time then, in nanoseconds since the Unix epoch: the earliest start
    /// the recent callbacks allow (a callback is only ever woken late, never early), so
    /// timestamps derived from it do not carry the callbacks' wake-up jitter.
    pub clock_unix_nanos: AtomicU64,
    /// An outside timeline (Ableton Link) steering the engine: its tempo and phase error.
    pub timeline: TimelineStats,
}

impl SharedStats {
    /// [`SharedStats::blocked`], where the system lets the audio side count its waits
    /// (Linux); `None` elsewhere, so no report claims a count nobody kept.
    pub fn blocked_count(&self) -> Option<u64> {
        crate::platform::COUNTS_WAITS.then(|| self.blocked.load(Ordering::Relaxed))
    }

    /// When engine sample `sample` sounds(ed), in seconds since the Unix epoch, from the
    /// latest callback's clock pair (the output latency of the device is not included).
    pub fn sample_time(&self, sample: u64, sample_rate: u32) -> f64 {
        let base_sample = self.clock_sample.load(Ordering::Acquire);
        let base = self.clock_unix_nanos.load(Ordering::Acquire) as f64 * 1e-9;
        base + (sample as f64 - base_sample as f64) / sample_rate.max(1) as f64
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The control thread's end of the rings.
pub struct EngineLink {
    commands: rtrb::Producer<EngineMsg>,
    backlog: std::collections::VecDeque<EngineMsg>,
    events: rtrb::Consumer<HostEvent>,
    garbage: rtrb::Consumer<Garbage>,
    /// Counters shared with the audio side.
    pub stats: Arc<SharedStats>,
    /// Sample rate the engine runs at.
    pub sample_rate: u32,
}

impl EngineLink {
    /// Sends a message to the engine. Never blocks and never loses a message: when the ring
    /// is full the message waits in a backlog (parameter changes to the same parameter and
    /// track replacements coalesce there) and [`EngineLink::pump`] retries.
    pub fn send(&mut self, msg: EngineMsg) {
        if self.backlog.is_empty() {
            if let Err(rtrb::PushError::Full(m)) = self.commands.push(msg) {
                self.enqueue(m);
            }
        } else {
            self.enqueue(msg);
            self.pump();
        }
    }

    fn enqueue(&mut self, msg: EngineMsg) {
        let replaces = |old: &EngineMsg| match (old, &msg) {
            (EngineMsg::SetParam { id: a, .. }, EngineMsg::SetParam { id: b, .. }) => a == b,
            (EngineMsg::SetTracks(_), EngineMsg::SetTracks(_)) => true,
            (EngineMsg::Amend(_), EngineMsg::Amend(_)) => true,
            (EngineMsg::SetBpm(_), EngineMsg::SetBpm(_)) => true,
            (EngineMsg::SetSwing(_), EngineMsg::SetSwing(_)) => true,
            (EngineMsg::SetFill(_), EngineMsg::SetFill(_)) => true,
            // Each of these sets the tracks waiting for the bar outright (queued or none).
            (
                EngineMsg::QueueTracks { .. } | EngineMsg::CancelQueuedTracks,
                EngineMsg::QueueTracks { .. } | EngineMsg::CancelQueuedTracks,
            ) => true,
            _ => false,
        };
        // A load for the bar sets the waiting load outright: the loads for the bar and their
        // cancels just before it no longer matter (a flood of chain jumps holds one entry).
        if let EngineMsg::Load {
            timing: LoadTiming::NextBar,
            ..
        } = msg
        {
            while self.backlog.back().is_some_and(|m| {
                matches!(
                    m,
                    EngineMsg::CancelQueued
                        | EngineMsg::Load {
                            timing: LoadTiming::NextBar,
                            ..
                        }
                )
            }) {
                self.backlog.pop_back();
            }
        }
        // Only the newest message of a kind matters, but order against other kinds must hold,
        // so coalescing replaces the last queued message only when it is of the same kind.
        if let Some(last) = self.backlog.back_mut()
            && replaces(last)
        {
            *last = msg;
            return;
        }
        self.backlog.push_back(msg);
    }

    /// Retries messages that found the ring full. Call it on every control-loop turn.
    pub fn pump(&mut self) {
        while let Some(msg) = self.backlog.pop_front() {
            if let Err(rtrb::PushError::Full(m)) = self.commands.push(msg) {
                self.backlog.push_front(m);
                break;
            }
        }
    }

    /// Messages waiting for room in the ring.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// The next event from the audio side, without waiting.
    pub fn try_event(&mut self) -> Option<HostEvent> {
        self.events.pop().ok()
    }

    /// Drops the boxes the engine replaced (here, off the audio thread).
    pub fn collect_garbage(&mut self) -> usize {
        let mut n = 0;
        while let Ok(g) = self.garbage.pop() {
            drop(g);
            n += 1;
        }
        n
    }
}

/// The audio side: owns the engine and runs one period at a time.
pub struct EngineRunner {
    engine: Engine,
    commands: rtrb::Consumer<EngineMsg>,
    events: rtrb::Producer<HostEvent>,
    garbage: rtrb::Producer<Garbage>,
    record: Option<rtrb::Producer<f32>>,
    midi: Option<rtrb::Producer<MidiEvent>>,
    stats: Arc<SharedStats>,
    timeline: Option<Box<TimelineSync>>,
    /// From a callback's start to its first sample leaving the device, as the driver last
    /// reported it (µs; 0 on the internal clock, where nothing is heard).
    output_latency_us: i64,
    /// Smoothed `unix seconds − sample / rate` of the callbacks' starts.
    clock_offset: Option<f64>,
    /// Callbacks in a row that started [`CLOCK_JUMP_S`] late or more, and the earliest of
    /// their offsets.
    clock_late: (u32, f64),
    load_sum: f64,
    load_max: f64,
    load_count: u32,
    load_frames: u64,
}

/// Creates the rings around an engine: the audio side and the control side.
pub fn link(engine: Engine, record: Option<rtrb::Producer<f32>>) -> (EngineRunner, EngineLink) {
    let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(COMMAND_RING);
    let (ev_tx, ev_rx) = rtrb::RingBuffer::new(EVENT_RING);
    let (g_tx, g_rx) = rtrb::RingBuffer::new(GARBAGE_RING);
    let stats = Arc::new(SharedStats::default());
    let sample_rate = engine.sample_rate() as u32;
    let runner = EngineRunner {
        engine,
        commands: cmd_rx,
        events: ev_tx,
        garbage: g_tx,
        record,
        midi: None,
        stats: stats.clone(),
        timeline: None,
        output_latency_us: 0,
        clock_offset: None,
        clock_late: (0, f64::INFINITY),
        load_sum: 0.0,
        load_max: 0.0,
        load_count: 0,
        load_frames: 0,
    };
    let link = EngineLink {
        commands: cmd_tx,
        backlog: Default::default(),
        events: ev_rx,
        garbage: g_rx,
        stats,
        sample_rate,
    };
    (runner, link)
}

impl EngineRunner {
    /// Renders one period into `out` (interleaved stereo). Applies pending commands first,
    /// then forwards events, replaced boxes and recorded samples. Never blocks or allocates.
    pub fn render(&mut self, out: &mut [f32]) {
        let started = Instant::now();
        let waits_before = crate::platform::voluntary_switches();
        // The pair (sample, wall time) lets the control side timestamp bars and beats.
        let sample = self.engine.position().sample;
        let at = self.smoothed_start(unix_nanos(), sample);
        self.stats.clock_unix_nanos.store(at, Ordering::Release);
        self.stats.clock_sample.store(sample, Ordering::Release);
        let mut applied = 0u64;
        for _ in 0..MAX_COMMANDS_PER_CALLBACK {
            // A message may replace a boxed scene; only take one while there is room to hand
            // the old box back, so no box is ever dropped (or leaked) on this thread.
            if self.garbage.slots() == 0 {
                break;
            }
            match self.commands.pop() {
                Ok(msg) => self.handle(msg),
                Err(_) => break,
            }
            applied += 1;
            self.return_garbage();
        }
        if applied > 0 {
            self.stats
                .commands_applied
                .fetch_add(applied, Ordering::Release);
        }
        for chunk in out.chunks_mut(MAX_BLOCK * 2) {
            if let Some(sync) = self.timeline.as_mut() {
                sync.set_output_latency(self.output_latency_us);
                sync.steer(&mut self.engine, &self.stats.timeline);
            }
            self.engine.process(chunk);
        }
        if self.stats.muted.load(Ordering::Relaxed) {
            out.fill(0.0);
        }
        while let Some(ev) = self.engine.pop_event() {
            if self.events.push(HostEvent::Engine(ev)).is_err() {
                self.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.return_garbage();
        let mut queued = 0;
        while let Some(ev) = self.engine.pop_midi() {
            if let Some(m) = self.midi.as_mut() {
                if m.push(ev).is_err() {
                    self.stats.midi_dropped.fetch_add(1, Ordering::Relaxed);
                } else {
                    queued += 1;
                }
            }
        }
        if queued > 0 {
            self.stats.midi_queued.fetch_add(queued, Ordering::Release);
        }
        self.stats
            .notes_cut
            .store(self.engine.notes_cut(), Ordering::Relaxed);
        if let Some(rec) = self.record.as_mut()
            && self.stats.recording.load(Ordering::Relaxed)
        {
            let n = out.len().min(rec.slots());
            if let Ok(chunk) = rec.write_chunk_uninit(n) {
                chunk.fill_from_iter(out[..n].iter().copied());
            }
            if n < out.len() {
                self.stats
                    .record_dropped
                    .fetch_add((out.len() - n) as u64, Ordering::Relaxed);
            }
        }
        if let (Some(after), Some(before)) = (crate::platform::voluntary_switches(), waits_before)
            && after > before
        {
            self.stats.blocked.fetch_add(1, Ordering::Relaxed);
        }
        self.account(started, out.len() / 2);
    }

    /// The device's output latency (from the callback to the first sample heard), as its
    /// driver reports it with each callback; an outside timeline compares the beats Chronus
    /// makes heard with the session's.
    pub fn set_output_latency(&mut self, latency: std::time::Duration) {
        self.output_latency_us = latency.as_micros().min(i64::MAX as u128) as i64;
    }

    /// Applies one command: the timeline's own, Play and Stop through the timeline while one
    /// steers, the rest by the engine. Called only with room on the garbage ring.
    fn handle(&mut self, msg: EngineMsg) {
        match msg {
            EngineMsg::AttachTimeline(sync) => {
                if let Some(old) = self.timeline.replace(sync) {
                    let _ = self.garbage.push(Garbage::Timeline(old));
                }
                self.engine.set_external_tempo(true);
                self.stats.timeline.attached.store(true, Ordering::Relaxed);
            }
            EngineMsg::DetachTimeline => {
                if let Some(old) = self.timeline.take() {
                    let _ = self.garbage.push(Garbage::Timeline(old));
                }
                self.engine.set_external_tempo(false);
                self.stats.timeline.attached.store(false, Ordering::Relaxed);
            }
            EngineMsg::Play if self.timeline.is_some() => {
                if let Some(sync) = self.timeline.as_mut() {
                    sync.set_output_latency(self.output_latency_us);
                    sync.play(&mut self.engine);
                }
            }
            EngineMsg::Stop if self.timeline.is_some() => {
                if let Some(sync) = self.timeline.as_mut() {
                    sync.stop(&mut self.engine);
                }
            }
            other => self.engine.handle(other),
        }
    }

    /// The wall time (Unix ns) of `sample`, the first of this callback, from the smoothed
    /// offset: it follows an earlier start at once, a later one by [`CLOCK_GLIDE`] per
    /// callback (sound-card and system clocks drift apart slowly), and a jump once it has
    /// lasted [`CLOCK_JUMP_CALLBACKS`] callbacks (a single late callback moves nothing).
    fn smoothed_start(&mut self, now_nanos: u64, sample: u64) -> u64 {
        let rate = self.engine.sample_rate() as f64;
        let pos = sample as f64 / rate;
        let raw = now_nanos as f64 * 1e-9 - pos;
        let est = match self.clock_offset {
            None => raw,
            Some(est) if raw < est => {
                self.clock_late = (0, f64::INFINITY);
                raw
            }
            Some(est) if raw - est < CLOCK_JUMP_S => {
                self.clock_late = (0, f64::INFINITY);
                est + (raw - est) * CLOCK_GLIDE
            }
            Some(est) => {
                let (n, low) = self.clock_late;
                let low = low.min(raw);
                if n + 1 >= CLOCK_JUMP_CALLBACKS {
                    self.clock_late = (0, f64::INFINITY);
                    low
                } else {
                    self.clock_late = (n + 1, low);
                    est
                }
            }
        };
        self.clock_offset = Some(est);
        ((est + pos) * 1e9) as u64
    }

    /// Sends the engine's MIDI messages (clock out) to `ring`: the MIDI sender takes them
    /// from there. Without it the engine's MIDI is dropped.
    pub fn attach_midi(&mut self, ring: rtrb::Producer<MidiEvent>) {
        self.midi = Some(ring);
    }

    /// Moves boxes the engine replaced onto the return ring, as far as it has room.
    fn return_garbage(&mut self) {
        while self.garbage.slots() > 0 {
            match self.engine.pop_garbage() {
                Some(g) => {
                    let _ = self.garbage.push(g);
                }
                None => break,
            }
        }
    }

    fn account(&mut self, started: Instant, frames: usize) {
        let period = frames as f64 / self.engine.sample_rate() as f64;
        let load = started.elapsed().as_secs_f64() / period.max(1e-9);
        if load > 1.0 {
            self.stats.late.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.callbacks.fetch_add(1, Ordering::Relaxed);
        self.load_sum += load;
        self.load_max = self.load_max.max(load);
        self.load_count += 1;
        self.load_frames += frames as u64;
        if self.load_frames >= self.engine.sample_rate() as u64 / 2 {
            let ev = HostEvent::Load {
                mean_pct: (100.0 * self.load_sum / self.load_count as f64) as f32,
                max_pct: (100.0 * self.load_max) as f32,
                late: self.stats.late.load(Ordering::Relaxed),
                xruns: self.stats.xruns.load(Ordering::Relaxed),
            };
            let _ = self.events.push(ev);
            self.load_sum = 0.0;
            self.load_max = 0.0;
            self.load_count = 0;
            self.load_frames = 0;
        }
    }

    /// The engine's sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.engine.sample_rate() as u32
    }

    /// Test hook: the engine it drives (its gate log).
    #[doc(hidden)]
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The counters shared with the control side.
    pub fn stats(&self) -> &Arc<SharedStats> {
        &self.stats
    }
}
