//! The sequencer clock, counted in samples.
//!
//! Step start times are computed from an anchor (`anchor_sample + round((k − anchor_step) ×
//! samples_per_step)`) rather than accumulated, so rounding never drifts however long it runs.
//! A tempo change moves the anchor to the next step boundary, leaving sounded steps in place.

use crate::model::registry::sequencer as seq_spec;

/// Steps per bar.
pub const STEPS_PER_BAR: u64 = 16;

/// Tempo, swing and the step grid.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    sample_rate: f64,
    pub running: bool,
    pub bpm: f64,
    pub swing: f64,
    sps: f64,
    anchor_step: u64,
    anchor_sample: u64,
    /// The step that starts next.
    pub next_step: u64,
    /// The first sample of `next_step`.
    pub next_step_sample: u64,
    /// An outside timeline (Ableton Link) sets the tempo: the song's tempo changes (edits,
    /// loaded slots) leave the grid alone.
    pub external: bool,
    /// The tempo last asked for by the song, played again when the outside timeline lets go.
    pub song_bpm: f64,
}

impl Clock {
    pub fn new(sample_rate: f32) -> Clock {
        let mut c = Clock {
            sample_rate: sample_rate as f64,
            running: false,
            bpm: seq_spec::BPM.default,
            swing: seq_spec::SWING.default,
            sps: 0.0,
            anchor_step: 0,
            anchor_sample: 0,
            next_step: 0,
            next_step_sample: 0,
            external: false,
            song_bpm: seq_spec::BPM.default,
        };
        c.sps = c.samples_per_step_at(c.bpm);
        c
    }

    fn samples_per_step_at(&self, bpm: f64) -> f64 {
        self.sample_rate * 15.0 / bpm
    }

    /// Samples per step at the current tempo (fractional).
    pub fn samples_per_step(&self) -> f64 {
        self.sps
    }

    fn step_start(&self, step: u64) -> u64 {
        self.anchor_sample + ((step - self.anchor_step) as f64 * self.sps + 0.5).floor() as u64
    }

    /// Starts with step 0 at `sample`.
    pub fn start(&mut self, sample: u64) {
        self.running = true;
        self.anchor_step = 0;
        self.anchor_sample = sample;
        self.next_step = 0;
        self.next_step_sample = sample;
    }

    /// Sets the tempo; while running, steps after the next boundary use it.
    pub fn set_bpm(&mut self, bpm: f64) {
        let bpm = seq_spec::BPM.clamp(bpm);
        self.song_bpm = bpm;
        if self.external {
            return;
        }
        if bpm == self.bpm {
            // Re-anchoring on the rounded sample of the next step would move the grid by up
            // to half a sample each time: repeated edits at the same tempo would make it drift.
            return;
        }
        self.bpm = bpm;
        self.sps = self.samples_per_step_at(self.bpm);
        if self.running {
            self.anchor_step = self.next_step;
            self.anchor_sample = self.next_step_sample;
        }
    }

    /// Moves the step grid onto an outside timeline (Ableton Link): step `next_step` starts
    /// at `sample` and the steps after it follow at `bpm` (any positive tempo: the session's
    /// may lie outside the song's 30–300). The caller keeps `next_step` at or after the
    /// clock's own next step, so no step plays twice.
    pub fn reanchor(&mut self, next_step: u64, sample: u64, bpm: f64) {
        if bpm.is_finite() && bpm > 0.0 {
            self.bpm = bpm;
            self.sps = self.samples_per_step_at(bpm);
        }
        self.anchor_step = next_step;
        self.anchor_sample = sample;
        self.next_step = next_step;
        self.next_step_sample = sample;
    }

    /// Hands the tempo to an outside timeline or back to the song (its tempo plays again
    /// from the next step).
    pub fn set_external(&mut self, on: bool) {
        self.external = on;
        if !on {
            let bpm = self.song_bpm;
            self.bpm = f64::NAN;
            self.set_bpm(bpm);
        }
    }

    /// Sets the swing amount.
    pub fn set_swing(&mut self, swing: f64) {
        self.swing = seq_spec::SWING.clamp(swing);
    }

    /// Consumes the step that starts now and schedules the one after it; returns its index.
    pub fn advance(&mut self) -> u64 {
        let k = self.next_step;
        self.next_step = k + 1;
        self.next_step_sample = self.step_start(k + 1);
        k
    }

    /// How many samples after its grid position a hit on `step` sounds.
    pub fn swing_delay(&self, step: u64) -> u64 {
        if step % 2 == 1 {
            (self.swing * self.sps / 2.0 + 0.5).floor() as u64
        } else {
            0
        }
    }

    /// Gate length in samples for a fraction of a step (at least one sample).
    pub fn gate_len(&self, gate_frac: f32) -> u64 {
        ((gate_frac as f64 * self.sps + 0.5).floor() as u64).max(1)
    }

    /// The step that started last, when any has.
    pub fn current_step(&self) -> u64 {
        self.next_step.saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_starts_are_rounded_from_the_anchor() {
        let mut c = Clock::new(44100.0);
        c.set_bpm(137.0);
        c.start(10);
        let sps = 44100.0 * 15.0 / 137.0;
        for k in 0..200_000u64 {
            let expect = 10 + (k as f64 * sps + 0.5).floor() as u64;
            assert_eq!(c.next_step_sample, expect, "step {k}");
            c.advance();
        }
    }

    #[test]
    fn setting_the_same_tempo_again_never_moves_the_grid() {
        let mut c = Clock::new(44100.0);
        c.set_bpm(137.0);
        c.start(0);
        let sps = 44100.0 * 15.0 / 137.0;
        for k in 0..50_000u64 {
            assert_eq!(
                c.next_step_sample,
                (k as f64 * sps + 0.5).floor() as u64,
                "step {k}"
            );
            c.set_bpm(137.0);
            c.advance();
        }
    }

    #[test]
    fn reanchoring_moves_the_next_step_and_the_grid_after_it() {
        let mut c = Clock::new(48000.0);
        c.start(0);
        c.advance();
        c.reanchor(5, 30_000, 60.0);
        assert_eq!((c.next_step, c.next_step_sample), (5, 30_000));
        assert_eq!(c.advance(), 5);
        assert_eq!(c.next_step_sample, 42_000);
        c.reanchor(7, 50_000, f64::NAN);
        assert_eq!(c.bpm, 60.0, "a broken tempo keeps the last one");
    }

    #[test]
    fn tempo_change_reanchors_at_the_next_boundary() {
        let mut c = Clock::new(48000.0);
        c.start(0);
        c.advance(); // step 0 sounding, next is step 1 at 6000
        assert_eq!(c.next_step_sample, 6000);
        c.set_bpm(60.0);
        assert_eq!(c.next_step_sample, 6000);
        c.advance();
        assert_eq!(c.next_step_sample, 6000 + 12000);
        assert_eq!(c.gate_len(0.5), 6000);
        c.set_swing(0.5);
        assert_eq!(c.swing_delay(3), 3000);
        assert_eq!(c.swing_delay(4), 0);
    }
}
