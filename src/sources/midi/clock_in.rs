//! `--clock midi`: MIDI clock in, fed to the same [`Follower`] as `--clock follow`.
//!
//! Ticks (24 per quarter note) are counted from Start (position 0) or from the Song Position
//! Pointer (in 16ths, 6 ticks each) and Continue; every 24th tick is a beat whose time (its
//! arrival, less the sender's send-ahead) and tempo (smoothed over the last two beats of
//! ticks) the follower takes as a leader's beat. Stop stops the sequencer; a clock that goes
//! silent hands back to the internal clock after [`super::super::osc::Follower`]'s timeout.

use std::collections::VecDeque;
use std::time::Instant;

use crate::engine::midi::{CLOCK, CONTINUE, PPQN, SONG_POSITION, START, STOP, TICKS_PER_STEP};
use crate::model::registry::sequencer as seq_spec;
use crate::sources::osc::Follower;

use super::backend::InMsg;

/// Ticks the tempo is measured over (two beats).
const TEMPO_TICKS: usize = 2 * PPQN as usize + 1;
/// Fewest ticks to measure a tempo from (one beat).
const MIN_TEMPO_TICKS: usize = PPQN as usize + 1;
/// A tick interval this far (as a share) from the median is left out of the tempo.
const OUTLIER: f64 = 0.05;
/// Ticks in a row whose count disagrees with the time that passed before the time is
/// believed (ticks were lost rather than sent late).
const DISAGREE_TICKS: u32 = 6;
/// A gap between ticks longer than this (slower than 10 BPM) starts the measurement anew.
const GAP_S: f64 = 0.25;

/// The MIDI clock reader.
#[derive(Debug, Default)]
pub struct ClockIn {
    running: bool,
    /// The position (in ticks since the song's start) of the next tick.
    pos: u64,
    ticks: VecDeque<f64>,
    /// Seconds between a beat's sound and its tick's arrival (the sender's send-ahead).
    compensation: f64,
    /// Ticks received.
    pub received: u64,
    /// The latest beat handed to the follower: (its time before compensation, beats since
    /// the start).
    last_beat: Option<(f64, u64)>,
    /// The latest tick whose count and time agreed: (time, position).
    anchor: Option<(f64, u64)>,
    /// Ticks in a row whose count disagrees with their time.
    disagree: u32,
}

impl ClockIn {
    /// A reader that takes `compensation` seconds off each beat's arrival.
    pub fn new(compensation: f64) -> ClockIn {
        ClockIn {
            compensation,
            ticks: VecDeque::with_capacity(TEMPO_TICKS),
            ..ClockIn::default()
        }
    }

    /// The tempo of the recent ticks, to 0.01 BPM: the mean tick interval, leaving out the
    /// intervals more than [`OUTLIER`] off their median (a sender that slipped, a late
    /// wake-up), so one bad tick does not bend the tempo.
    pub fn bpm(&self) -> Option<f64> {
        let n = self.ticks.len();
        if n < MIN_TEMPO_TICKS {
            return None;
        }
        let mut iv = [0.0f64; TEMPO_TICKS];
        for (i, w) in (0..n - 1).map(|i| (i, self.ticks[i + 1] - self.ticks[i])) {
            iv[i] = w;
        }
        let iv = &mut iv[..n - 1];
        let mut sorted = [0.0f64; TEMPO_TICKS];
        sorted[..iv.len()].copy_from_slice(iv);
        let sorted = &mut sorted[..iv.len()];
        sorted.sort_by(f64::total_cmp);
        let med = sorted[sorted.len() / 2];
        let (sum, count) = iv
            .iter()
            .filter(|&&w| (w - med).abs() <= OUTLIER * med)
            .fold((0.0, 0u32), |(s, c), &w| (s + w, c + 1));
        (sum > 0.0 && count > 0).then(|| {
            let bpm = 60.0 * count as f64 / (PPQN as f64 * sum);
            (bpm * 100.0).round() / 100.0
        })
    }

    /// The latest beat handed to the follower: (arrival time, beats since the start).
    pub fn last_beat(&self) -> Option<(f64, u64)> {
        self.last_beat
    }

    /// The sender's transport runs (between Start or Continue and Stop).
    pub fn running(&self) -> bool {
        self.running
    }

    /// One message from the clock's port.
    pub fn on_message(
        &mut self,
        m: &InMsg,
        f: &mut Follower,
        now: Instant,
        now_unix: f64,
    ) -> Result<(), String> {
        match m.message() {
            [CLOCK] => {
                self.received += 1;
                if self.ticks.back().is_some_and(|&t| m.time - t > GAP_S) {
                    self.ticks.clear();
                    self.anchor = None;
                }
                if self.ticks.len() == TEMPO_TICKS {
                    self.ticks.pop_front();
                }
                let bpm = self.bpm();
                self.ticks.push_back(m.time);
                if !self.running {
                    return Ok(());
                }
                let mut pos = self.pos;
                // The position the time since the last agreeing tick gives. Ticks sent late
                // arrive bunched (they disagree, then agree again: the count was right);
                // ticks lost (a period the MIDI side skipped) leave the count short for
                // good: after [`DISAGREE_TICKS`] the time's position is taken.
                let by_time = match (self.anchor, bpm) {
                    (Some((t, p)), Some(bpm)) => {
                        let iv = 60.0 / (bpm * PPQN as f64);
                        Some(p + ((m.time - t) / iv).round().max(0.0) as u64)
                    }
                    _ => None,
                };
                match by_time {
                    Some(est) if est != pos => {
                        self.disagree += 1;
                        if self.disagree >= DISAGREE_TICKS {
                            pos = est;
                            self.disagree = 0;
                            self.anchor = Some((m.time, pos));
                        }
                    }
                    _ => {
                        self.disagree = 0;
                        self.anchor = Some((m.time, pos));
                    }
                }
                self.pos = pos + 1;
                // Beats are taken only from ticks whose count and time agree.
                if self.disagree == 0
                    && pos.is_multiple_of(PPQN)
                    && let Some(bpm) = bpm
                {
                    let bpm = seq_spec::BPM.clamp(bpm);
                    let beats = pos / PPQN;
                    self.last_beat = Some((m.time, beats));
                    return f.on_clock(
                        m.time - self.compensation,
                        (beats / 4) as f64,
                        (beats % 4) as f64,
                        bpm,
                        now,
                        now_unix,
                    );
                }
            }
            [START] => {
                self.running = true;
                self.pos = 0;
                self.anchor = None;
                self.disagree = 0;
            }
            [CONTINUE] => {
                self.running = true;
                self.anchor = None;
                self.disagree = 0;
            }
            [STOP] if self.running => {
                self.running = false;
                f.on_leader_stop();
            }
            [SONG_POSITION, lo, hi] => {
                let sixteenths = (*lo as u64 & 0x7F) | ((*hi as u64 & 0x7F) << 7);
                self.pos = sixteenths * TICKS_PER_STEP;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::osc::{FollowAction, FollowState};

    fn msg(t: f64, b: &[u8]) -> InMsg {
        InMsg::new(t, b).unwrap()
    }

    #[test]
    fn ticks_from_start_become_beats_at_the_clocks_tempo() {
        let mut c = ClockIn::new(0.010);
        let mut f = Follower::new();
        let now = Instant::now();
        let t0 = 1000.0;
        c.on_message(&msg(t0, &[START]), &mut f, now, t0).unwrap();
        // 126 BPM: a tick every 60 / 126 / 24 s, two bars of them.
        let dt = 60.0 / 126.0 / 24.0;
        for k in 0..192 {
            let t = t0 + k as f64 * dt;
            c.on_message(&msg(t, &[CLOCK]), &mut f, now, t).unwrap();
        }
        assert_eq!(c.bpm(), Some(126.0));
        let st = f.status();
        assert_eq!(st.leader_bpm, Some(126.0));
        assert_eq!(st.state, FollowState::Aligning);
        c.on_message(&msg(t0 + 5.0, &[STOP]), &mut f, now, t0 + 5.0)
            .unwrap();
        assert!(!c.running());
        let actions = f.tick(now, t0 + 5.0, true);
        assert!(actions.contains(&FollowAction::Stop), "{actions:?}");
        assert_eq!(f.status().state, FollowState::Waiting);
    }

    #[test]
    fn song_position_sets_where_continue_goes_on() {
        let mut c = ClockIn::new(0.0);
        let mut f = Follower::new();
        let now = Instant::now();
        // Bar 3 beat 2 = 16ths 8 × 4 + 2 × 4 = 40.
        c.on_message(&msg(0.0, &[SONG_POSITION, 40, 0]), &mut f, now, 0.0)
            .unwrap();
        assert_eq!(c.pos, 240);
        c.on_message(&msg(0.0, &[CONTINUE]), &mut f, now, 0.0)
            .unwrap();
        assert!(c.running());
        assert_eq!(c.pos, 240);
        c.on_message(&msg(0.0, &[SONG_POSITION, 0x7F, 0x7F]), &mut f, now, 0.0)
            .unwrap();
        assert_eq!(c.pos, 0x3FFF * 6);
    }

    #[test]
    fn one_late_tick_does_not_bend_the_tempo() {
        let mut c = ClockIn::new(0.0);
        let mut f = Follower::new();
        let now = Instant::now();
        for k in 0..49 {
            // 125 BPM, tick 30 arrives 4 ms late and the rest keep their times.
            let t = k as f64 * 0.02 + if k == 30 { 0.004 } else { 0.0 };
            c.on_message(&msg(t, &[CLOCK]), &mut f, now, t).unwrap();
        }
        assert_eq!(c.bpm(), Some(125.0));
    }

    #[test]
    fn lost_ticks_are_counted_from_the_time_that_passed() {
        let mut c = ClockIn::new(0.0);
        let mut f = Follower::new();
        let now = Instant::now();
        let t0 = 1000.0;
        c.on_message(&msg(t0, &[START]), &mut f, now, t0).unwrap();
        // 125 BPM (a tick every 20 ms); ticks 60–69 never arrive.
        for k in (0..100).filter(|k| !(60..70).contains(k)) {
            let t = t0 + k as f64 * 0.02;
            c.on_message(&msg(t, &[CLOCK]), &mut f, now, t).unwrap();
        }
        assert_eq!(c.pos, 100);
        let (t, beat) = c.last_beat().unwrap();
        assert_eq!(beat, 4, "tick 96 is beat 4");
        assert!((t - (t0 + 1.92)).abs() < 1e-9, "{t}");
        assert_eq!(f.status().leader_bpm, Some(125.0));
    }

    #[test]
    fn ticks_sent_late_and_bunched_keep_their_count() {
        let mut c = ClockIn::new(0.0);
        let mut f = Follower::new();
        let now = Instant::now();
        let t0 = 1000.0;
        c.on_message(&msg(t0, &[START]), &mut f, now, t0).unwrap();
        // Ticks 70–73 arrive together with tick 74; beat 3 (tick 72) is not taken from them.
        for k in 0..80 {
            let t = t0
                + if (70..74).contains(&k) {
                    74.0
                } else {
                    k as f64
                } * 0.02;
            c.on_message(&msg(t, &[CLOCK]), &mut f, now, t).unwrap();
        }
        assert_eq!(c.pos, 80);
        assert_eq!(
            c.last_beat().unwrap().1,
            2,
            "the bunched beat 3 is left out"
        );
        for k in 80..100 {
            let t = t0 + k as f64 * 0.02;
            c.on_message(&msg(t, &[CLOCK]), &mut f, now, t).unwrap();
        }
        let (t, beat) = c.last_beat().unwrap();
        assert_eq!(beat, 4);
        assert!((t - (t0 + 1.92)).abs() < 1e-9, "{t}");
    }

    #[test]
    fn a_gap_in_the_clock_starts_the_tempo_anew() {
        let mut c = ClockIn::new(0.0);
        let mut f = Follower::new();
        let now = Instant::now();
        for k in 0..30 {
            let t = k as f64 * 0.02;
            c.on_message(&msg(t, &[CLOCK]), &mut f, now, t).unwrap();
        }
        assert_eq!(c.bpm(), Some(125.0));
        c.on_message(&msg(10.0, &[CLOCK]), &mut f, now, 10.0)
            .unwrap();
        assert_eq!(c.bpm(), None);
        assert_eq!(c.received, 31);
    }
}
