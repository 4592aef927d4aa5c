//! Freeverb-style stereo reverb: 8 damped feedback combs in parallel, then 4 allpasses in
//! series, per side; the right side's delays are longer by a fixed spread.

use super::{flush_denormal, sanitize};

/// Comb delays in samples at 44.1 kHz (mutually prime-ish, 25–37 ms), scaled to the rate.
const COMB_TUNING: [usize; 8] = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
/// Allpass delays in samples at 44.1 kHz (5–12.6 ms).
const ALLPASS_TUNING: [usize; 4] = [556, 441, 341, 225];
/// Extra delay of the right side at 44.1 kHz: decorrelates the two channels.
const STEREO_SPREAD: usize = 23;
const TUNING_RATE: f32 = 44_100.0;
/// Input scaling: eight combs of gain up to 1/(1 − 0.98) sum up.
const INPUT_GAIN: f32 = 0.015;
/// Allpass coefficient.
const ALLPASS_GAIN: f32 = 0.5;
/// Comb feedback range: room 0 → 0.7, room 1 → 0.98.
const ROOM_OFFSET: f32 = 0.7;
const ROOM_SCALE: f32 = 0.28;
/// Damping range: damp 1 → a one-pole coefficient of 0.4 in each comb's feedback.
const DAMP_SCALE: f32 = 0.4;
/// Output scaling so a long tail has roughly the level of its input.
const OUTPUT_GAIN: f32 = 3.0;

/// Feedback comb with a one-pole low-pass (damping) in the loop.
#[derive(Clone, Debug)]
struct Comb {
    buf: Box<[f32]>,
    pos: usize,
    store: f32,
}

impl Comb {
    fn new(len: usize) -> Self {
        Self {
            buf: vec![0.0; len.max(1)].into_boxed_slice(),
            pos: 0,
            store: 0.0,
        }
    }

    #[inline]
    fn tick(&mut self, x: f32, feedback: f32, damp: f32) -> f32 {
        let y = self.buf[self.pos];
        self.store = flush_denormal(y + (self.store - y) * damp);
        self.buf[self.pos] = x + self.store * feedback;
        self.pos += 1;
        if self.pos == self.buf.len() {
            self.pos = 0;
        }
        y
    }

    fn reset(&mut self) {
        self.buf.fill(0.0);
        self.pos = 0;
        self.store = 0.0;
    }
}

/// Schroeder allpass (flat magnitude): w = x + g·w[n−D], y = w[n−D] − g·w.
#[derive(Clone, Debug)]
struct Allpass {
    buf: Box<[f32]>,
    pos: usize,
}

impl Allpass {
    fn new(len: usize) -> Self {
        Self {
            buf: vec![0.0; len.max(1)].into_boxed_slice(),
            pos: 0,
        }
    }

    #[inline]
    fn tick(&mut self, x: f32) -> f32 {
        let delayed = self.buf[self.pos];
        let w = x + ALLPASS_GAIN * delayed;
        self.buf[self.pos] = flush_denormal(w);
        self.pos += 1;
        if self.pos == self.buf.len() {
            self.pos = 0;
        }
        delayed - ALLPASS_GAIN * w
    }

    fn reset(&mut self) {
        self.buf.fill(0.0);
        self.pos = 0;
    }
}

/// One channel of the reverb.
#[derive(Clone, Debug)]
struct Side {
    combs: [Comb; 8],
    allpasses: [Allpass; 4],
}

impl Side {
    fn new(sample_rate: f32, extra: usize) -> Self {
        let scale = |n: usize| ((n + extra) as f32 * sample_rate / TUNING_RATE).round() as usize;
        Self {
            combs: COMB_TUNING.map(|n| Comb::new(scale(n))),
            allpasses: ALLPASS_TUNING.map(|n| Allpass::new(scale(n))),
        }
    }

    #[inline]
    fn tick(&mut self, x: f32, feedback: f32, damp: f32) -> f32 {
        let mut sum = 0.0;
        for c in &mut self.combs {
            sum += c.tick(x, feedback, damp);
        }
        for a in &mut self.allpasses {
            sum = a.tick(sum);
        }
        sum
    }

    fn reset(&mut self) {
        self.combs.iter_mut().for_each(Comb::reset);
        self.allpasses.iter_mut().for_each(Allpass::reset);
    }
}

/// Stereo reverb returning only the wet signal; all delay memory is allocated in `new`.
#[derive(Clone, Debug)]
pub struct Reverb {
    left: Side,
    right: Side,
    feedback: f32,
    damp: f32,
}

impl Reverb {
    /// Creates the reverb with room 0.5 and damp 0.5 (the `reverb1` defaults).
    pub fn new(sample_rate: f32) -> Self {
        let mut r = Self {
            left: Side::new(sample_rate, 0),
            right: Side::new(sample_rate, STEREO_SPREAD),
            feedback: 0.0,
            damp: 0.0,
        };
        r.set(0.5, 0.5);
        r
    }

    /// Sets room size and high-frequency damping (each 0..1; NaN keeps the old value).
    pub fn set(&mut self, room: f32, damp: f32) {
        if !room.is_nan() {
            self.feedback = ROOM_OFFSET + ROOM_SCALE * room.clamp(0.0, 1.0);
        }
        if !damp.is_nan() {
            self.damp = DAMP_SCALE * damp.clamp(0.0, 1.0);
        }
    }

    /// Feeds one mono sample and returns the wet (left, right) pair.
    #[inline]
    pub fn tick(&mut self, x: f32) -> (f32, f32) {
        let x = sanitize(x) * INPUT_GAIN;
        let l = self.left.tick(x, self.feedback, self.damp) * OUTPUT_GAIN;
        let r = self.right.tick(x, self.feedback, self.damp) * OUTPUT_GAIN;
        if l.is_finite() && r.is_finite() {
            (l, r)
        } else {
            self.reset();
            (0.0, 0.0)
        }
    }

    /// Clears all delay lines.
    pub fn reset(&mut self) {
        self.left.reset();
        self.right.reset();
    }

    /// Processes `input` into the wet `left` and `right` outputs (up to the shortest length).
    pub fn process(&mut self, input: &[f32], left: &mut [f32], right: &mut [f32]) {
        for ((&x, l), r) in input.iter().zip(left.iter_mut()).zip(right.iter_mut()) {
            (*l, *r) = self.tick(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::rng_stream;
    use super::*;

    const SR: f32 = 48_000.0;

    fn impulse_energy_after(room: f32, damp: f32, skip_s: f32) -> f32 {
        let mut r = Reverb::new(SR);
        r.set(room, damp);
        let n = (3.0 * SR) as usize;
        let skip = (skip_s * SR) as usize;
        (0..n)
            .map(|i| r.tick(if i == 0 { 1.0 } else { 0.0 }))
            .skip(skip)
            .map(|(l, r)| l * l + r * r)
            .sum()
    }

    #[test]
    fn output_is_wet_only_and_starts_after_the_shortest_comb() {
        let mut r = Reverb::new(SR);
        let first = (1116.0f32 * SR / 44_100.0).round() as usize;
        let out: Vec<(f32, f32)> = (0..first + 10)
            .map(|i| r.tick(if i == 0 { 1.0 } else { 0.0 }))
            .collect();
        assert!(
            out[..first].iter().all(|&(l, r)| l == 0.0 && r == 0.0),
            "no dry leak"
        );
        assert!(
            out[first].0 != 0.0,
            "left comb echo arrives after {first} samples"
        );
        assert!(out[first].1 == 0.0, "right side is delayed by the spread");
    }

    #[test]
    fn room_lengthens_and_damp_darkens_the_tail() {
        let small = impulse_energy_after(0.1, 0.5, 1.0);
        let large = impulse_energy_after(0.9, 0.5, 1.0);
        assert!(
            large > 100.0 * small,
            "room: tail energy {large} vs {small}"
        );
        let bright = impulse_energy_after(0.8, 0.0, 0.5);
        let dark = impulse_energy_after(0.8, 1.0, 0.5);
        assert!(bright > 2.0 * dark, "damp: tail energy {bright} vs {dark}");
    }

    #[test]
    fn channels_are_decorrelated() {
        let mut r = Reverb::new(SR);
        let input = rng_stream(1, 96_000);
        let (mut ll, mut rr, mut lr) = (0.0f64, 0.0f64, 0.0f64);
        for (i, &x) in input.iter().enumerate() {
            let (l, rt) = r.tick(x);
            if i > 48_000 {
                ll += f64::from(l * l);
                rr += f64::from(rt * rt);
                lr += f64::from(l * rt);
            }
        }
        let corr = lr / (ll * rr).sqrt();
        assert!(corr.abs() < 0.5, "correlation {corr}");
        assert!((ll / rr - 1.0).abs() < 0.3, "balanced sides");
    }

    #[test]
    fn tail_decays_to_exact_silence() {
        let mut r = Reverb::new(SR);
        r.set(1.0, 1.0);
        r.tick(1.0);
        let mut last = (1.0, 1.0);
        for _ in 0..(60.0 * SR) as usize {
            last = r.tick(0.0);
        }
        assert!(last.0.abs() < 1e-12 && last.1.abs() < 1e-12, "{last:?}");
    }

    #[test]
    fn extreme_input_never_produces_nan() {
        let mut r = Reverb::new(SR);
        r.set(1.0, 0.0);
        for i in 0..200_000 {
            let x = match i % 5000 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2..=2000 => 3e38,
                _ => 0.0,
            };
            let (l, rt) = r.tick(x);
            assert!(l.is_finite() && rt.is_finite(), "sample {i}");
        }
        r.set(f32::NAN, f32::NAN);
        assert!(r.tick(0.1).0.is_finite());
    }

    #[test]
    fn process_matches_tick_and_reset_repeats() {
        let input = rng_stream(2, 5000);
        let mut a = Reverb::new(SR);
        a.set(0.7, 0.3);
        let mut b = a.clone();
        let (mut l, mut r) = (vec![0.0; 5000], vec![0.0; 5000]);
        a.process(&input, &mut l, &mut r);
        for (i, &x) in input.iter().enumerate() {
            let (bl, br) = b.tick(x);
            assert_eq!(
                (l[i].to_bits(), r[i].to_bits()),
                (bl.to_bits(), br.to_bits())
            );
        }
        a.reset();
        let (mut l2, mut r2) = (vec![0.0; 5000], vec![0.0; 5000]);
        a.process(&input, &mut l2, &mut r2);
        assert_eq!((l, r), (l2, r2));
    }
}
