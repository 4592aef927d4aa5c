//! `--clock follow`: play in time with a leader's `/chronus/clock` bundles.
//!
//! Each bundle says "beat `beat` of bar `bar` sounds at time T (the timetag), at `bpm`". The
//! follower keeps the last few and predicts the leader's bar position at any instant. On every
//! local beat it compares that prediction with its own beat-in-bar (the bar is aligned beat 0
//! ↔ beat 0) and sets the local tempo to the leader's × (1 + gain × phase error), bent by at
//! most a few per cent — a proportional phase-locked loop. Both sides stamp beats with the
//! same wall clock, so the leader's tempo is a perfect feed-forward and no integral term is
//! needed. An error too large to steer away quickly restarts the local sequencer at the
//! leader's next bar; when the leader falls silent the local clock carries on alone.
//!
//! The follower is plain data driven by method calls (no sockets, no controller), so it is
//! tested against a simulated leader.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::control::Level;
use crate::model::registry::sequencer as seq_spec;

/// The leader counts as gone after this long without a clock bundle.
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Leader beats kept to predict its position (median of their predictions).
const HISTORY: usize = 4;
/// Tempo bend per beat of phase error.
const GAIN: f64 = 0.8;
/// Largest tempo bend, as a fraction of the leader's tempo.
const MAX_BEND: f64 = 0.04;
/// A phase error above this many beats (about six beats of the largest bend) restarts at the
/// leader's next bar instead of steering; smaller slips (an xrun on either side) are steered.
const REALIGN_BEATS: f64 = 0.25;
/// Within this offset for [`LOCK_BEATS`] beats in a row counts as locked.
const LOCK_MS: f64 = 2.0;
const LOCK_BEATS: u32 = 4;
/// Beyond this offset a lock is lost.
const UNLOCK_MS: f64 = 10.0;
/// A restart is sent this much before the leader's bar: the engine applies it at the start of
/// its next callback, a fraction of a buffer later.
const SEND_AHEAD_S: f64 = 0.0015;
/// A restart is never scheduled closer than this to now.
const START_MARGIN_S: f64 = 0.03;
/// A restart found this late is moved to the following bar.
const MISSED_S: f64 = 0.02;
/// Clock bundles more than this far from now are refused (a sender with a broken clock).
const MAX_SKEW_S: f64 = 60.0;
/// Offsets kept for the status display.
const OFFSETS_KEPT: usize = 16;

/// Where the follower stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowState {
    /// No leader heard yet: the local clock plays.
    Waiting,
    /// A leader is heard; the local sequencer is being started or moved onto its bars.
    Aligning,
    /// Steering the local tempo to the leader.
    Following,
    /// The leader went silent: the local clock plays on at the leader's last tempo.
    Lost,
}

/// What the follower reports for the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowStatus {
    /// Where the follower stands.
    pub state: FollowState,
    /// Offsets have stayed within 2 ms for several beats.
    pub locked: bool,
    /// The leader's tempo, once heard.
    pub leader_bpm: Option<f64>,
    /// The latest measured offset in ms (positive: this instance plays late).
    pub offset_ms: Option<f64>,
    /// Mean distance of the recent offsets from their median, in ms.
    pub jitter_ms: Option<f64>,
    /// How much the local tempo is bent from the leader's, in per cent.
    pub correction_pct: f64,
}

impl FollowStatus {
    /// Where the tempo comes from: `leader` or `internal`.
    pub fn source(&self) -> &'static str {
        match self.state {
            FollowState::Aligning | FollowState::Following => "leader",
            FollowState::Waiting | FollowState::Lost => "internal",
        }
    }

    /// One line for the status bar.
    pub fn describe(&self) -> String {
        let bpm = self
            .leader_bpm
            .map(|b| format!("{b:.1} BPM"))
            .unwrap_or_else(|| "-".into());
        match self.state {
            FollowState::Waiting => "clock follow: waiting for a leader (internal clock)".into(),
            FollowState::Aligning => format!("clock follow: aligning to the leader at {bpm}"),
            FollowState::Lost => {
                format!("clock follow: leader silent — internal clock at {bpm}")
            }
            FollowState::Following => {
                let offset = self
                    .offset_ms
                    .map(|o| format!("{o:+.1} ms"))
                    .unwrap_or_else(|| "-".into());
                let jitter = self
                    .jitter_ms
                    .map(|j| format!(" ±{j:.1}"))
                    .unwrap_or_default();
                format!(
                    "clock follow: {} · leader {bpm} · offset {offset}{jitter} · tempo {:+.2}%",
                    if self.locked { "locked" } else { "locking" },
                    self.correction_pct
                )
            }
        }
    }
}

/// What the follower asks the control loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowAction {
    /// Tell the performer.
    Notify(Level, String),
    /// Set the engine's tempo (not a song edit).
    Tempo(f64),
    /// Start the sequencer from step 0 now (stopping it first when it runs).
    Restart {
        /// The sequencer runs and must be stopped first.
        stop: bool,
    },
    /// Stop the sequencer: the leader stopped its transport (MIDI Stop).
    Stop,
}

#[derive(Debug, Clone, Copy)]
struct LeaderBeat {
    /// When the beat sounds, Unix seconds.
    time: f64,
    /// Beats since the leader started (bar × 4 + beat).
    pos: f64,
}

/// The clock follower (see the module docs).
#[derive(Debug)]
pub struct Follower {
    history: VecDeque<LeaderBeat>,
    leader_bpm: Option<f64>,
    last_heard: Option<Instant>,
    state: FollowState,
    locked: bool,
    good_beats: u32,
    want_start: bool,
    realign: bool,
    start_at: Option<f64>,
    awaiting_start: Option<Instant>,
    pending_tempo: Option<f64>,
    applied_tempo: Option<f64>,
    offsets: VecDeque<f64>,
    notes: Vec<(Level, String)>,
    stop_now: bool,
}

impl Default for Follower {
    fn default() -> Self {
        Follower::new()
    }
}

fn wrap_bar(e: f64) -> f64 {
    (e + 2.0).rem_euclid(4.0) - 2.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Follower {
    /// A follower that has heard nothing yet.
    pub fn new() -> Follower {
        Follower {
            history: VecDeque::new(),
            leader_bpm: None,
            last_heard: None,
            state: FollowState::Waiting,
            locked: false,
            good_beats: 0,
            want_start: false,
            realign: false,
            start_at: None,
            awaiting_start: None,
            pending_tempo: None,
            applied_tempo: None,
            offsets: VecDeque::new(),
            notes: Vec::new(),
            stop_now: false,
        }
    }

    /// The leader's tempo while following it (what this instance's own clock out announces).
    pub fn nominal_bpm(&self) -> Option<f64> {
        match self.state {
            FollowState::Waiting => None,
            _ => self.leader_bpm,
        }
    }

    /// The leader's position in beats at Unix time `t`.
    fn leader_pos(&self, t: f64) -> Option<f64> {
        let bpm = self.leader_bpm?;
        let mut est: Vec<f64> = self
            .history
            .iter()
            .map(|b| b.pos + (t - b.time) * bpm / 60.0)
            .collect();
        (!est.is_empty()).then(|| median(&mut est))
    }

    /// A `/chronus/clock` from the leader: beat `beat` of `bar` sounds at `time` at `bpm`.
    pub fn on_clock(
        &mut self,
        time: f64,
        bar: f64,
        beat: f64,
        bpm: f64,
        now: Instant,
        now_unix: f64,
    ) -> Result<(), String> {
        if !(seq_spec::BPM.min..=seq_spec::BPM.max).contains(&bpm) {
            return Err(format!("bpm {bpm} is outside 30–300"));
        }
        if bar < 0.0 || !(0.0..4.0).contains(&beat) {
            return Err(format!(
                "bar {bar} beat {beat} is not a position (bar ≥ 0, beat 0–3)"
            ));
        }
        if (time - now_unix).abs() > MAX_SKEW_S {
            return Err(format!(
                "the timetag is {:.0} s away from this machine's clock",
                time - now_unix
            ));
        }
        let pos = bar * 4.0 + beat;
        let tempo_changed = self.leader_bpm.is_none_or(|b| (b - bpm).abs() > 1e-6);
        let jumped = self.history.back().is_some_and(|last| pos <= last.pos)
            || self
                .leader_pos(time)
                .is_some_and(|p| (p - pos).abs() > 0.25);
        if tempo_changed || jumped {
            // A new tempo or a restarted leader: older beats no longer predict it.
            self.history.clear();
        }
        self.history.push_back(LeaderBeat { time, pos });
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        self.leader_bpm = Some(bpm);
        self.last_heard = Some(now);
        if matches!(self.state, FollowState::Waiting | FollowState::Lost) {
            self.state = FollowState::Aligning;
            self.want_start = true;
            self.notes.push((
                Level::Info,
                format!("clock: following the leader at {bpm:.1} BPM"),
            ));
        }
        Ok(())
    }

    /// The leader stopped its transport (MIDI Stop): stop too, and wait for it to start
    /// again (its next beat aligns anew, as the first one did).
    pub fn on_leader_stop(&mut self) {
        self.state = FollowState::Waiting;
        self.locked = false;
        self.good_beats = 0;
        self.want_start = false;
        self.realign = false;
        self.start_at = None;
        self.pending_tempo = None;
        self.history.clear();
        self.last_heard = None;
        self.offsets.clear();
        self.stop_now = true;
        self.notes
            .push((Level::Info, "clock: the leader stopped".to_string()));
    }

    /// The local sequencer started (step 0 begins).
    pub fn on_started(&mut self) {
        self.awaiting_start = None;
    }

    /// The song's tempo was replaced (slot applied, tempo edit): send the steered tempo again.
    pub fn retempo(&mut self) {
        if self.pending_tempo.is_none() {
            self.pending_tempo = self.applied_tempo;
        }
    }

    /// A local beat (`beat_in_bar` 0–3) sounds at Unix time `t`: measure and steer.
    pub fn on_local_beat(&mut self, beat_in_bar: u8, t: f64) {
        if self.awaiting_start.is_some()
            || self.start_at.is_some()
            || self.realign
            || !matches!(self.state, FollowState::Aligning | FollowState::Following)
        {
            return;
        }
        let (Some(bpm), Some(lp)) = (self.leader_bpm, self.leader_pos(t)) else {
            return;
        };
        let e = wrap_bar(lp - beat_in_bar as f64);
        let e_ms = e * 60.0 / bpm * 1000.0;
        self.offsets.push_back(e_ms);
        while self.offsets.len() > OFFSETS_KEPT {
            self.offsets.pop_front();
        }
        if e.abs() > REALIGN_BEATS {
            if self.state == FollowState::Following {
                self.notes.push((
                    Level::Warning,
                    format!("clock: {e_ms:+.0} ms off the leader — restarting at its next bar"),
                ));
            }
            self.state = FollowState::Aligning;
            self.realign = true;
            self.locked = false;
            self.good_beats = 0;
            return;
        }
        self.state = FollowState::Following;
        let bend = (GAIN * e).clamp(-MAX_BEND, MAX_BEND);
        self.pending_tempo = Some(bpm * (1.0 + bend));
        if e_ms.abs() <= LOCK_MS {
            self.good_beats += 1;
        } else {
            self.good_beats = 0;
        }
        if !self.locked && self.good_beats >= LOCK_BEATS {
            self.locked = true;
            self.notes.push((
                Level::Info,
                format!("clock: locked to the leader at {bpm:.1} BPM (offset {e_ms:+.2} ms)"),
            ));
        } else if self.locked && e_ms.abs() > UNLOCK_MS {
            self.locked = false;
            self.good_beats = 0;
            self.notes.push((
                Level::Warning,
                format!("clock: lost the lock ({e_ms:+.1} ms off the leader)"),
            ));
        }
    }

    /// Unix time of the leader's next bar start at least [`START_MARGIN_S`] from now.
    fn next_bar_time(&self, now_unix: f64) -> Option<f64> {
        let bpm = self.leader_bpm?;
        let from = now_unix + START_MARGIN_S;
        let p = self.leader_pos(from)?;
        let target = (p / 4.0).ceil() * 4.0;
        Some(from + (target - p) * 60.0 / bpm)
    }

    /// Called on every control-loop turn: notices the leader going silent, fires a scheduled
    /// restart, and hands out the tempo to set. `running` says whether the sequencer plays.
    pub fn tick(&mut self, now: Instant, now_unix: f64, running: bool) -> Vec<FollowAction> {
        let mut actions = Vec::new();
        if std::mem::take(&mut self.stop_now) {
            actions.push(FollowAction::Stop);
        }
        let silent = self
            .last_heard
            .is_some_and(|h| now.saturating_duration_since(h) > LEADER_TIMEOUT);
        if silent && matches!(self.state, FollowState::Aligning | FollowState::Following) {
            self.state = FollowState::Lost;
            self.locked = false;
            self.good_beats = 0;
            self.realign = false;
            self.want_start = false;
            self.start_at = None;
            self.pending_tempo = None;
            let bpm = self.leader_bpm.unwrap_or(seq_spec::BPM.default);
            self.notes.push((
                Level::Warning,
                format!(
                    "clock: no clock from the leader for {} s — playing on the internal clock at {bpm:.1} BPM",
                    LEADER_TIMEOUT.as_secs()
                ),
            ));
            // Drop the bend: play on at the leader's own tempo.
            if self.leader_bpm.is_some() {
                actions.push(FollowAction::Tempo(bpm));
                self.applied_tempo = Some(bpm);
            }
        }
        if let Some(since) = self.awaiting_start
            && now.saturating_duration_since(since) > Duration::from_secs(1)
        {
            self.awaiting_start = None;
        }
        if self.state == FollowState::Aligning && self.want_start {
            self.want_start = false;
            if !running {
                self.realign = true;
            }
        }
        if self.realign && self.start_at.is_none() {
            self.start_at = self.next_bar_time(now_unix);
            self.realign = self.start_at.is_none();
        }
        if let Some(t) = self.start_at {
            if now_unix > t + MISSED_S {
                self.start_at = self.next_bar_time(now_unix);
            } else if now_unix >= t - SEND_AHEAD_S {
                self.start_at = None;
                self.awaiting_start = Some(now);
                self.offsets.clear();
                if let Some(bpm) = self.leader_bpm {
                    self.pending_tempo = Some(bpm);
                }
                if let Some(bpm) = self.pending_tempo.take() {
                    actions.push(FollowAction::Tempo(bpm));
                    self.applied_tempo = Some(bpm);
                }
                actions.push(FollowAction::Restart { stop: running });
            }
        }
        if let Some(bpm) = self.pending_tempo.take() {
            actions.push(FollowAction::Tempo(bpm));
            self.applied_tempo = Some(bpm);
        }
        let notes = std::mem::take(&mut self.notes);
        let mut out: Vec<FollowAction> = notes
            .into_iter()
            .map(|(l, t)| FollowAction::Notify(l, t))
            .collect();
        out.extend(actions);
        out
    }

    /// The state for the screen.
    pub fn status(&self) -> FollowStatus {
        let jitter_ms = (self.offsets.len() >= 2).then(|| {
            let mut v: Vec<f64> = self.offsets.iter().copied().collect();
            let m = median(&mut v);
            v.iter().map(|o| (o - m).abs()).sum::<f64>() / v.len() as f64
        });
        let correction_pct = match (self.applied_tempo, self.leader_bpm) {
            (Some(a), Some(l)) if self.state == FollowState::Following => (a / l - 1.0) * 100.0,
            _ => 0.0,
        };
        FollowStatus {
            state: self.state,
            locked: self.locked,
            leader_bpm: self.leader_bpm,
            offset_ms: self.offsets.back().copied(),
            jitter_ms,
            correction_pct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local sequencer on a wall clock: beats every 4 steps, tempo changes from the next step
    /// (as the engine does), restarts at the time they are asked for.
    struct Local {
        bpm: f64,
        next_step_time: f64,
        step: u64,
        running: bool,
        pending_bpm: Option<f64>,
    }

    struct Sim {
        f: Follower,
        local: Local,
        leader_t0: f64,
        leader_bpm: f64,
        fed: u64,
        start: Instant,
        base: f64,
        restarts: Vec<f64>,
        offsets: Vec<f64>,
    }

    impl Sim {
        fn new(local_offset: f64, local_bpm: f64) -> Sim {
            Sim {
                f: Follower::new(),
                local: Local {
                    bpm: local_bpm,
                    next_step_time: 1000.0 + local_offset,
                    step: 0,
                    running: true,
                    pending_bpm: None,
                },
                leader_t0: 1000.0,
                leader_bpm: 120.0,
                fed: 0,
                start: Instant::now(),
                base: 1000.0,
                restarts: Vec::new(),
                offsets: Vec::new(),
            }
        }

        fn instant(&self, t: f64) -> Instant {
            self.start + Duration::from_secs_f64((t - 1000.0).max(0.0))
        }

        fn run_actions(&mut self, actions: Vec<FollowAction>, t: f64) {
            for a in actions {
                match a {
                    FollowAction::Tempo(b) => self.local.pending_bpm = Some(b),
                    FollowAction::Restart { .. } => {
                        self.local.running = true;
                        self.local.step = 0;
                        // The engine starts at its next callback: 1 ms later here.
                        self.local.next_step_time = t + 0.001;
                        self.restarts.push(t + 0.001);
                        if let Some(b) = self.local.pending_bpm.take() {
                            self.local.bpm = b;
                        }
                        self.f.on_started();
                    }
                    FollowAction::Notify(..) => {}
                    FollowAction::Stop => self.local.running = false,
                }
            }
        }

        /// Runs the simulation for `seconds`, in 1 ms control-loop turns.
        fn run(&mut self, seconds: f64, leader_alive: bool) {
            let end = self.base + seconds;
            let mut t = self.base;
            while t < end {
                t += 0.001;
                let leader_period = 60.0 / self.leader_bpm;
                // Leader bundles arrive 3 ms after the beat they announce.
                while leader_alive && self.leader_t0 + self.fed as f64 * leader_period + 0.003 <= t
                {
                    let bt = self.leader_t0 + self.fed as f64 * leader_period;
                    let (bar, beat) = ((self.fed / 4) as f64, (self.fed % 4) as f64);
                    self.f
                        .on_clock(bt, bar, beat, self.leader_bpm, self.instant(t), t)
                        .unwrap();
                    self.fed += 1;
                }
                while self.local.running && self.local.next_step_time <= t {
                    let st = self.local.next_step_time;
                    let k = self.local.step;
                    if k.is_multiple_of(4) {
                        self.f.on_local_beat(((k / 4) % 4) as u8, st);
                        if let Some(o) = self.f.status().offset_ms {
                            self.offsets.push(o);
                        }
                    }
                    self.local.step += 1;
                    self.local.next_step_time = st + 15.0 / self.local.bpm;
                }
                let a = self.f.tick(self.instant(t), t, self.local.running);
                self.run_actions(a, t);
                // The engine takes a new tempo at the next step boundary: the step already
                // scheduled keeps its time, the ones after it use the new length.
                if let Some(b) = self.local.pending_bpm.take() {
                    self.local.bpm = b;
                }
            }
            self.base = end;
        }
    }

    #[test]
    fn a_small_offset_is_steered_away_and_locks() {
        let mut s = Sim::new(0.030, 120.0);
        s.run(8.0, true);
        let st = s.f.status();
        assert!(s.restarts.is_empty(), "30 ms is steered, not restarted");
        assert_eq!(st.state, FollowState::Following);
        assert!(st.locked, "{st:?}");
        let last = st.offset_ms.unwrap();
        assert!(last.abs() < 0.1, "offset after 8 s: {last} ms");
        // The first measurement saw the 30 ms (local late).
        assert!((s.offsets[0] - 30.0).abs() < 0.5, "{:?}", &s.offsets[..4]);
    }

    #[test]
    fn a_different_tempo_is_taken_from_the_leader() {
        let mut s = Sim::new(0.010, 97.0);
        s.run(10.0, true);
        let st = s.f.status();
        assert!(st.locked, "{st:?}");
        assert!(
            (s.local.bpm - 120.0).abs() < 0.05,
            "local tempo {}",
            s.local.bpm
        );
    }

    #[test]
    fn a_large_offset_restarts_at_the_leaders_next_bar() {
        let mut s = Sim::new(0.75, 120.0);
        s.run(6.0, true);
        // The leader's bar after the first bundles begins at t = 1002.
        assert_eq!(s.restarts.len(), 1);
        assert!((s.restarts[0] - 1002.0).abs() <= 0.0005, "{:?}", s.restarts);
        let st = s.f.status();
        assert!(st.locked, "{st:?}");
        assert!(st.offset_ms.unwrap().abs() < 0.1, "{st:?}");
    }

    #[test]
    fn a_stopped_sequencer_starts_on_a_leader_bar() {
        let mut s = Sim::new(0.0, 120.0);
        s.local.running = false;
        s.run(2.1, true);
        // The leader's bars start every 2 s from t = 1000; its first bundle arrives 3 ms after
        // that bar began, so the next bar, at 1002, is the one to start on.
        assert_eq!(s.restarts.len(), 1);
        assert!((s.restarts[0] - 1002.0).abs() <= 0.0005, "{:?}", s.restarts);
        s.run(4.0, true);
        assert!(s.f.status().locked);
    }

    #[test]
    fn a_silent_leader_hands_back_to_the_internal_clock() {
        let mut s = Sim::new(0.005, 120.0);
        s.run(3.0, true);
        assert_eq!(s.f.status().source(), "leader");
        s.run(2.5, false);
        let st = s.f.status();
        assert_eq!(st.state, FollowState::Lost);
        assert_eq!(st.source(), "internal");
        assert!(!st.locked);
        assert!((s.local.bpm - 120.0).abs() < 1e-9, "the bend is dropped");
        assert!(st.describe().contains("internal clock at 120.0 BPM"));
    }

    #[test]
    fn nonsense_clock_messages_are_refused() {
        let mut f = Follower::new();
        let now = Instant::now();
        assert!(f.on_clock(1000.0, 0.0, 0.0, 500.0, now, 1000.0).is_err());
        assert!(f.on_clock(1000.0, -1.0, 0.0, 120.0, now, 1000.0).is_err());
        assert!(f.on_clock(5000.0, 0.0, 0.0, 120.0, now, 1000.0).is_err());
        assert_eq!(f.status().state, FollowState::Waiting);
        assert!(f.on_clock(1000.0, 0.0, 0.0, 120.0, now, 1000.0).is_ok());
        assert_eq!(f.status().state, FollowState::Aligning);
    }
}
