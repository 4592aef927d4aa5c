//! An outside beat timeline (Ableton Link) steering the sequencer from the audio thread.
//!
//! Once per buffer, before the engine renders, [`TimelineSync::steer`] captures the session
//! (a realtime-safe snapshot), finds the host time of the buffer's first sample and compares
//! the engine's step grid with the session's beats: a bar of the engine (16 steps) is the
//! session's quantum of 4 beats, so engine step `k` belongs on session beat `k / 4` modulo 4.
//! The session's tempo is the feed-forward; the phase error is steered away at the next step
//! boundary (at most [`MAX_CORRECTION`] of a step per buffer, so a jittery clock never makes
//! steps jump), and an error over [`REALIGN_STEPS`] moves the grid to the session's next bar
//! line (the rest of the current bar is dropped; no bar line is skipped or played twice).
//!
//! The host time of a sample is when it leaves the device: the callback's host time plus the
//! device's output latency (as Link asks of its peers: each compares the beats it makes
//! heard). It comes from a filter over the (sample, host time) pairs taken at each buffer: a buffer never starts before its time, so the earliest pair is the truest;
//! the estimate follows an earlier pair at once and a later one slowly (a sound card's clock
//! drifts against the host's by a few parts per million).
//!
//! Nothing here allocates, locks or waits: the timeline is captured into state made on the
//! control thread, and the sync itself is plain arithmetic.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use super::{Engine, STEPS_PER_BAR};

/// Beats per bar shared with the session (Link's quantum).
pub const QUANTUM: f64 = 4.0;
/// Steps per beat.
const STEPS_PER_BEAT: f64 = 4.0;
/// A phase error above this many steps moves the grid to the session's next bar line.
pub const REALIGN_STEPS: f64 = 1.0;
/// The most the next step boundary moves per buffer while steering, as a fraction of a step.
pub const MAX_CORRECTION: f64 = 0.02;
/// A host-time pair this far (µs) from the estimate resets the filter (an xrun, a resync).
const FILTER_RESET_US: f64 = 3000.0;
/// How fast the estimate follows pairs later than it, per buffer.
const FILTER_RISE: f64 = 0.002;
/// A start or realignment is never scheduled closer than this to now (µs).
const START_MARGIN_US: i64 = 2000;
/// The most output latency believed (µs): a device reporting more is taken at this.
const MAX_LATENCY_US: i64 = 1_000_000;

/// A beat timeline shared with other instruments. Every method is called on the audio
/// thread and must not allocate, lock or wait.
pub trait Timeline: Send {
    /// Takes a snapshot of the session; returns the host time now, in microseconds.
    fn capture(&mut self) -> i64;
    /// The session's tempo in the snapshot.
    fn tempo(&self) -> f64;
    /// The session's beat at host time `t` (quantum 4).
    fn beat_at(&self, t: i64) -> f64;
    /// The host time of session beat `beat` (quantum 4).
    fn time_at(&self, beat: f64) -> i64;
    /// Maps `beat` to host time `t` when alone in the session, or to the next time with the
    /// same phase when there are peers (a quantised launch); changes the snapshot only.
    fn request_beat(&mut self, beat: f64, t: i64);
    /// Whether the session's transport plays (start/stop sync).
    fn is_playing(&self) -> bool;
    /// Host time at which the session's transport started or stopped.
    fn time_for_is_playing(&self) -> i64;
    /// Starts or stops the session's transport at `t` in the snapshot.
    fn set_playing(&mut self, playing: bool, t: i64);
    /// Sends the snapshot (as changed) to the session.
    fn commit(&mut self);
}

/// What the audio side tells the control side about the sync (read on any thread).
#[derive(Debug, Default)]
pub struct TimelineStats {
    /// A timeline steers the engine.
    pub attached: AtomicBool,
    /// The session's tempo the engine plays, as f64 bits.
    pub tempo_bits: AtomicU64,
    /// The latest phase error at a buffer's start, in microseconds (positive: the engine
    /// plays late), before it was steered away.
    pub offset_us: AtomicI64,
    /// Times the grid was moved to the session's next bar line.
    pub realigns: AtomicU64,
    /// Buffers steered.
    pub buffers: AtomicU64,
    /// The output latency added to each buffer's host time, in microseconds.
    pub latency_us: AtomicI64,
}

impl TimelineStats {
    /// The session's tempo the engine plays, once a timeline steered it.
    pub fn tempo(&self) -> Option<f64> {
        let t = f64::from_bits(self.tempo_bits.load(Ordering::Relaxed));
        (self.attached.load(Ordering::Relaxed) && t > 0.0).then_some(t)
    }
}

/// The audio side of a timeline: steers the engine's grid once per buffer.
pub struct TimelineSync {
    timeline: Box<dyn Timeline>,
    start_stop: bool,
    rate: f64,
    /// Host µs of sample 0, estimated.
    origin_us: Option<f64>,
    /// The session's transport as last seen (start/stop sync).
    session_playing: Option<bool>,
    /// From a buffer's callback to its first sample leaving the device (µs).
    latency_us: i64,
}

impl std::fmt::Debug for TimelineSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimelineSync")
            .field("start_stop", &self.start_stop)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

/// `x` wrapped into [-m/2, m/2).
fn wrap(x: f64, m: f64) -> f64 {
    (x + m / 2.0).rem_euclid(m) - m / 2.0
}

impl TimelineSync {
    /// A sync for an engine at `sample_rate`; `start_stop` shares Play and Stop with the
    /// session. Built off the audio thread.
    pub fn new(timeline: Box<dyn Timeline>, sample_rate: u32, start_stop: bool) -> TimelineSync {
        TimelineSync {
            timeline,
            start_stop,
            rate: sample_rate.max(1) as f64,
            origin_us: None,
            session_playing: None,
            latency_us: 0,
        }
    }

    /// The device's output latency: a buffer's first sample is heard this long (µs) after
    /// its callback starts. Read with each buffer, so a device that changes it is followed.
    pub fn set_output_latency(&mut self, us: i64) {
        self.latency_us = us.clamp(0, MAX_LATENCY_US);
    }

    /// The session's snapshot, taken now; returns the host time at which a sample rendered
    /// now is heard.
    fn capture(&mut self) -> i64 {
        self.timeline.capture() + self.latency_us
    }

    /// Host time of engine sample `s`, from the filtered origin.
    fn host_us(&self, s: u64) -> f64 {
        self.origin_us.unwrap_or(0.0) + s as f64 * 1e6 / self.rate
    }

    /// The engine sample that sounds at host time `t` (µs), relative to sample `s0` at `t0`.
    fn sample_at(&self, t: f64, s0: u64, t0: f64) -> u64 {
        let s = s0 as f64 + (t - t0) * self.rate / 1e6;
        if s <= s0 as f64 {
            s0
        } else {
            (s + 0.5).floor() as u64
        }
    }

    fn filter(&mut self, now_us: i64, sample: u64) {
        let measured = now_us as f64 - sample as f64 * 1e6 / self.rate;
        self.origin_us = Some(match self.origin_us {
            Some(o) if (measured - o).abs() < FILTER_RESET_US => {
                if measured < o {
                    measured
                } else {
                    o + FILTER_RISE * (measured - o)
                }
            }
            _ => measured,
        });
    }

    /// The session's next bar line at least [`START_MARGIN_US`] after `t` (host µs).
    fn next_bar_time(&self, t: i64) -> i64 {
        let from = t + START_MARGIN_US;
        let beat = self.timeline.beat_at(from);
        let bar = (beat / QUANTUM).ceil() * QUANTUM;
        self.timeline.time_at(bar).max(from)
    }

    /// Play pressed here: the sequencer starts on the session's next bar line (at once when
    /// alone in the session, which then counts its bars from here); with start/stop sync the
    /// session's transport starts too.
    pub fn play(&mut self, engine: &mut Engine) {
        if engine.grid().running {
            return;
        }
        let now = self.capture();
        let s0 = engine.grid().sample;
        self.filter(now, s0);
        let t0 = self.host_us(s0);
        let from = t0 as i64 + START_MARGIN_US;
        self.timeline.request_beat(0.0, from);
        if self.start_stop {
            self.timeline.set_playing(true, from);
        }
        self.timeline.commit();
        let start = self.timeline.time_at(0.0).max(from);
        self.session_playing = Some(true);
        engine.start_at(self.sample_at(start as f64, s0, t0));
    }

    /// Stop pressed here: the sequencer stops; with start/stop sync the session's too.
    pub fn stop(&mut self, engine: &mut Engine) {
        engine.stop_now();
        if self.start_stop {
            let now = self.capture();
            self.timeline.set_playing(false, now);
            self.timeline.commit();
            self.session_playing = Some(false);
        }
    }

    /// Once per buffer, before the engine renders: follow the session's transport (with
    /// start/stop sync), take its tempo and steer the grid onto its beats.
    pub fn steer(&mut self, engine: &mut Engine, stats: &TimelineStats) {
        let now = self.capture();
        let g = engine.grid();
        self.filter(now, g.sample);
        let t0 = self.host_us(g.sample);
        let tempo = self.timeline.tempo();
        stats.tempo_bits.store(tempo.to_bits(), Ordering::Relaxed);
        stats.buffers.fetch_add(1, Ordering::Relaxed);
        stats.latency_us.store(self.latency_us, Ordering::Relaxed);
        if self.start_stop {
            let playing = self.timeline.is_playing();
            let changed = self.session_playing != Some(playing);
            self.session_playing = Some(playing);
            if changed && playing && !g.running {
                // Another peer started: play from the session's bar line at (or after) its
                // start time.
                let from = (self.timeline.time_for_is_playing()).max(t0 as i64);
                let at = self.next_bar_time(from - START_MARGIN_US);
                engine.start_at(self.sample_at(at as f64, g.sample, t0));
                return;
            }
            if changed && !playing && g.running {
                engine.stop_now();
                return;
            }
        }
        if !(g.running && tempo.is_finite() && tempo > 0.0) {
            return;
        }
        let sps = self.rate * 15.0 / tempo;
        // Where the session stands, in steps, when the engine's next step starts (a start
        // waiting for its bar line included): the error is its distance from that step,
        // modulo a bar.
        let t_next = t0 + (g.next_step_sample - g.sample) as f64 * 1e6 / self.rate;
        let p = self.timeline.beat_at(t_next as i64) * STEPS_PER_BEAT;
        let err = wrap(p - g.next_step as f64, STEPS_PER_BAR as f64);
        stats.offset_us.store(
            (err / STEPS_PER_BEAT * 60.0 / tempo * 1e6) as i64,
            Ordering::Relaxed,
        );
        if err.abs() > REALIGN_STEPS {
            let at = self.next_bar_time(t0 as i64);
            let k = g.next_step.div_ceil(STEPS_PER_BAR) * STEPS_PER_BAR;
            engine.steer(k, self.sample_at(at as f64, g.sample, t0), tempo);
            stats.realigns.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // The session beat of the engine's next step, and when it sounds.
        let target = self.timeline.time_at((p - err) / STEPS_PER_BEAT) as f64;
        let want = g.sample as f64 + (target - t0) * self.rate / 1e6;
        let limit = (MAX_CORRECTION * sps).max(1.0);
        let have = g.next_step_sample as f64;
        let at = have + (want - have).clamp(-limit, limit);
        let at = if at <= g.sample as f64 {
            g.sample
        } else {
            (at + 0.5).floor() as u64
        };
        engine.steer(g.next_step, at, tempo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session timeline in simulated host time: beats at a tempo from an origin.
    struct FakeTimeline {
        now: std::sync::Arc<AtomicI64>,
        origin: i64,
        bpm: f64,
        playing: bool,
        play_time: i64,
        peers: bool,
    }

    impl Timeline for FakeTimeline {
        fn capture(&mut self) -> i64 {
            self.now.load(Ordering::Relaxed)
        }
        fn tempo(&self) -> f64 {
            self.bpm
        }
        fn beat_at(&self, t: i64) -> f64 {
            (t - self.origin) as f64 / 1e6 * self.bpm / 60.0
        }
        fn time_at(&self, beat: f64) -> i64 {
            self.origin + (beat * 60.0 / self.bpm * 1e6).round() as i64
        }
        fn request_beat(&mut self, beat: f64, t: i64) {
            if self.peers {
                let b = self.beat_at(t);
                let shift = (b - beat).rem_euclid(QUANTUM);
                let next = if shift == 0.0 { b } else { b + QUANTUM - shift };
                // Renumber so that `beat` falls on `next`.
                self.origin = self.time_at(next - beat);
            } else {
                self.origin = t - (beat * 60.0 / self.bpm * 1e6).round() as i64;
            }
        }
        fn is_playing(&self) -> bool {
            self.playing
        }
        fn time_for_is_playing(&self) -> i64 {
            self.play_time
        }
        fn set_playing(&mut self, playing: bool, t: i64) {
            self.playing = playing;
            self.play_time = t;
        }
        fn commit(&mut self) {}
    }

    const RATE: u32 = 48_000;
    const BUF: usize = 128;

    struct Rig {
        engine: Engine,
        sync: TimelineSync,
        now: std::sync::Arc<AtomicI64>,
        stats: TimelineStats,
    }

    impl Rig {
        fn new(bpm: f64, song_bpm: f64, peers: bool, origin: i64) -> Rig {
            let now = std::sync::Arc::new(AtomicI64::new(1_000_000_000));
            let tl = FakeTimeline {
                now: now.clone(),
                origin,
                bpm,
                playing: false,
                play_time: 0,
                peers,
            };
            let mut engine = Engine::new(RATE as f32, 8);
            engine.handle(super::super::EngineMsg::SetBpm(song_bpm));
            engine.set_external_tempo(true);
            Rig {
                engine,
                sync: TimelineSync::new(Box::new(tl), RATE, false),
                now,
                stats: TimelineStats::default(),
            }
        }

        /// Renders `buffers` buffers; the host clock runs with the samples, each buffer
        /// starting `jitter(i)` µs late. Returns the bar lines' host times (µs).
        fn run(&mut self, buffers: usize, jitter: impl Fn(usize) -> i64) -> Vec<(u64, f64)> {
            let base = 1_000_000_000i64;
            let mut out = vec![0.0f32; BUF * 2];
            let mut bars = Vec::new();
            for i in 0..buffers {
                let s = self.engine.grid().sample;
                let t = base + (s as f64 * 1e6 / RATE as f64) as i64 + jitter(i);
                self.now.store(t, Ordering::Relaxed);
                self.sync.steer(&mut self.engine, &self.stats);
                self.engine.process(&mut out);
                while let Some(ev) = self.engine.pop_event() {
                    if let super::super::EngineEvent::Bar { bar, sample } = ev {
                        bars.push((bar, base as f64 + sample as f64 * 1e6 / RATE as f64));
                    }
                }
            }
            bars
        }

        fn play(&mut self) {
            let s = self.engine.grid().sample;
            self.now.store(
                1_000_000_000 + (s as f64 * 1e6 / RATE as f64) as i64,
                Ordering::Relaxed,
            );
            self.sync.play(&mut self.engine);
        }
    }

    /// How far (µs) a bar line at `t` is from the session's nearest bar line.
    fn bar_error(origin: i64, bpm: f64, t: f64) -> f64 {
        let bar_us = 4.0 * 60.0 / bpm * 1e6;
        wrap(t - origin as f64, bar_us)
    }

    #[test]
    fn a_start_waits_for_the_sessions_next_bar_and_stays_on_its_bar_lines() {
        // The session's bar lines (at 130 BPM) are at origin + k × 1.846 s; the song is at 97.
        let origin = 1_000_000_000 + 700_000;
        let mut r = Rig::new(130.0, 97.0, true, origin);
        r.play();
        let bars = r.run(375 * 12, |i| ((i * 7919) % 200) as i64);
        assert!(bars.len() >= 5, "{bars:?}");
        // The first bar line is the session's first one after Play (at 0.7 s).
        assert!((bars[0].1 - origin as f64).abs() < 25.0, "{bars:?}");
        for (bar, t) in &bars {
            let e = bar_error(origin, 130.0, *t);
            assert!(e.abs() < 25.0, "bar {bar} is {e} µs off the session");
        }
        assert_eq!(r.engine.grid().bpm, 130.0, "the session's tempo plays");
        assert_eq!(r.stats.realigns.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn alone_a_start_is_immediate_and_the_session_counts_bars_from_it() {
        let mut r = Rig::new(120.0, 120.0, false, 0);
        r.play();
        let bars = r.run(375 * 5, |_| 0);
        let first = bars[0].1;
        assert!((first - 1_000_000_000.0).abs() < 2500.0, "{bars:?}");
        assert_eq!(bars.len(), 3, "{bars:?}");
        assert!((bars[1].1 - first - 2e6).abs() < 25.0, "{bars:?}");
    }

    #[test]
    fn a_grid_off_the_session_is_moved_to_its_next_bar_line() {
        let origin = 1_000_000_000 + 300_000;
        let mut r = Rig::new(120.0, 120.0, true, origin);
        // Started by the song's own Play, half a beat off the session.
        r.engine.start_at(0);
        let bars = r.run(375 * 8, |_| 0);
        assert_eq!(r.stats.realigns.load(Ordering::Relaxed), 1);
        // Every bar on the session's bar lines, none skipped or repeated.
        let numbers: Vec<u64> = bars.iter().map(|b| b.0).collect();
        assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
        for (bar, t) in &bars {
            let e = bar_error(origin, 120.0, *t);
            assert!(e.abs() < 25.0, "bar {bar} is {e} µs off the session");
        }
    }

    #[test]
    fn a_small_offset_is_steered_away_without_a_jump() {
        let origin = 1_000_000_000 + 3_000; // 3 ms: steered, not realigned
        let mut r = Rig::new(120.0, 120.0, true, origin);
        r.engine.start_at(0);
        let bars = r.run(375 * 10, |_| 0);
        assert_eq!(r.stats.realigns.load(Ordering::Relaxed), 0);
        let last = bars.last().unwrap().1;
        assert!(bar_error(origin, 120.0, last).abs() < 25.0, "{bars:?}");
    }

    #[test]
    fn with_output_latency_the_bars_are_heard_on_the_sessions_bar_lines() {
        // A device that plays each buffer 12.5 ms after its callback: the bar lines leave the
        // engine 12.5 ms early, so that they are heard on the session's.
        let origin = 1_000_000_000 + 400_000;
        let latency = 12_500;
        let mut r = Rig::new(125.0, 125.0, true, origin);
        r.sync.set_output_latency(latency);
        r.engine.start_at(0);
        let bars = r.run(375 * 10, |_| 0);
        assert!(bars.len() >= 4, "{bars:?}");
        for (bar, t) in &bars[1..] {
            let heard = bar_error(origin, 125.0, *t + latency as f64);
            assert!(
                heard.abs() < 25.0,
                "bar {bar} is heard {heard} µs off the session"
            );
        }
        assert_eq!(r.stats.latency_us.load(Ordering::Relaxed), latency);
        // Nothing is believed beyond a second.
        r.sync.set_output_latency(i64::MAX);
        assert_eq!(r.sync.latency_us, MAX_LATENCY_US);
    }

    #[test]
    fn start_stop_sync_follows_the_sessions_transport() {
        let origin = 1_000_000_000;
        let mut r = Rig::new(120.0, 120.0, true, origin);
        r.sync.start_stop = true;
        r.run(10, |_| 0);
        assert!(!r.engine.grid().running);
        // A peer starts the session's transport.
        {
            let now = r.now.load(Ordering::Relaxed);
            let tl = &mut r.sync.timeline;
            tl.set_playing(true, now);
        }
        let bars = r.run(375 * 3, |_| 0);
        assert!(r.engine.grid().running);
        assert!(bar_error(origin, 120.0, bars[0].1).abs() < 25.0, "{bars:?}");
        let now = r.now.load(Ordering::Relaxed);
        r.sync.timeline.set_playing(false, now);
        r.run(2, |_| 0);
        assert!(!r.engine.grid().running);
    }
}
