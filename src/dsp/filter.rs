//! Linear filters: the voice low-pass (TPT state-variable filter), an RBJ biquad and the
//! one-pole used inside the effects.

use super::tan_pi;

/// Highest cutoff, as a fraction of the sample rate, any filter accepts (keeps the prewarp finite).
const MAX_CUTOFF_RATIO: f32 = 0.47;
/// Lowest cutoff in Hz any filter accepts.
const MIN_CUTOFF_HZ: f32 = 1.0;
/// Samples [`LowPass::process`] filters at once (the engine's control period).
const BLOCK: usize = 32;
/// A block needs no per-sample guard while every state magnitude stays in
/// [`GUARD_LOW`, `GUARD_HIGH`] (then |ic1| + |ic2| is inside the guard's [1e-20, 1e30)).
const GUARD_LOW: f32 = 1e-20;
const GUARD_HIGH: f32 = 1e29;

/// Clamps a cutoff to the usable range for `sample_rate`; NaN becomes `fallback`.
#[inline]
fn clamp_cutoff(cutoff_hz: f32, sample_rate: f32, fallback: f32) -> f32 {
    if cutoff_hz.is_nan() {
        fallback
    } else {
        cutoff_hz.clamp(MIN_CUTOFF_HZ, MAX_CUTOFF_RATIO * sample_rate)
    }
}

/// Resets two state variables that left the sane range (non-finite or huge) and flushes
/// them to zero when they have decayed into denormal territory. Returns false on a reset.
#[inline]
fn guard_state(a: &mut f32, b: &mut f32) -> bool {
    let m = a.abs() + b.abs();
    if (1e-20..1e30).contains(&m) {
        return true;
    }
    *a = 0.0;
    *b = 0.0;
    m < 1e-20
}

/// Resonant 2-pole low-pass: a topology-preserving-transform (trapezoidal) state-variable
/// filter, unconditionally stable for every cutoff and Q and free of zipper noise under
/// per-sample modulation.
#[derive(Clone, Debug)]
pub struct LowPass {
    sample_rate: f32,
    cutoff: f32,
    q: f32,
    g: f32,
    k: f32,
    /// TPT coefficients a2 = g·a1, a3 = g·a2 with a1 = 1/(1 + g(g + k)).
    a2: f32,
    a3: f32,
    /// 2·(a1 − 1), computed without cancellation.
    p: f32,
    ic1: f32,
    ic2: f32,
}

impl LowPass {
    /// Creates a low-pass at 1000 Hz, Q 0.707.
    pub fn new(sample_rate: f32) -> Self {
        let mut f = Self {
            sample_rate,
            cutoff: f32::NAN,
            q: f32::NAN,
            g: 0.0,
            k: 0.0,
            a2: 0.0,
            a3: 0.0,
            p: 0.0,
            ic1: 0.0,
            ic2: 0.0,
        };
        f.set(1000.0, std::f32::consts::FRAC_1_SQRT_2);
        f
    }

    /// Sets cutoff (Hz, clamped to 1 Hz..0.47·fs) and Q (clamped to 0.05..100). Coefficients
    /// are recomputed only when a value actually changes, so calling this per sample is cheap.
    #[inline]
    pub fn set(&mut self, cutoff_hz: f32, q: f32) {
        let cutoff = clamp_cutoff(cutoff_hz, self.sample_rate, self.cutoff_or_default());
        let q = if q.is_nan() {
            self.q_or_default()
        } else {
            q.clamp(0.05, 100.0)
        };
        if cutoff == self.cutoff && q == self.q {
            return;
        }
        self.cutoff = cutoff;
        self.q = q;
        self.g = tan_pi(cutoff / self.sample_rate);
        self.k = 1.0 / q;
        let gk = self.g * (self.g + self.k);
        let a1 = 1.0 / (1.0 + gk);
        self.a2 = self.g * a1;
        self.a3 = self.g * self.a2;
        self.p = -2.0 * gk * a1;
    }

    fn cutoff_or_default(&self) -> f32 {
        if self.cutoff.is_nan() {
            1000.0
        } else {
            self.cutoff
        }
    }

    fn q_or_default(&self) -> f32 {
        if self.q.is_nan() {
            std::f32::consts::FRAC_1_SQRT_2
        } else {
            self.q
        }
    }

    /// The cutoff in effect (after clamping).
    pub fn cutoff(&self) -> f32 {
        self.cutoff
    }

    /// Filters one sample.
    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 {
        // The trapezoidal SVF update (v3 = x − ic2, v1 = a1·ic1 + a2·v3,
        // v2 = ic2 + a2·ic1 + a3·v3, ic ← 2v − ic) regrouped so each new state is the old
        // state plus small terms (precision at low cutoffs) with a dependency chain of one
        // multiply and two adds. Non-finite or absurd input needs no check of its own: it
        // drives the state out of range and the guard resets the filter.
        let (ic1, ic2) = (self.ic1, self.ic2);
        let y = (ic2 + self.a3 * x) + (self.a2 * ic1 - self.a3 * ic2);
        let q = 2.0 * self.a2;
        let r = 2.0 * self.a3;
        self.ic1 = (ic1 + q * x) + (self.p * ic1 - q * ic2);
        self.ic2 = (ic2 + r * x) + (q * ic1 - r * ic2);
        if guard_state(&mut self.ic1, &mut self.ic2) {
            y
        } else {
            0.0
        }
    }

    /// Clears the filter state.
    pub fn reset(&mut self) {
        self.ic1 = 0.0;
        self.ic2 = 0.0;
    }

    /// Filters `buf` in place (the same samples as [`LowPass::tick`] on each in turn).
    #[inline(always)]
    pub fn process(&mut self, buf: &mut [f32]) {
        for block in buf.chunks_mut(BLOCK) {
            if !self.block_unguarded(block) {
                // Some state left the guard's range: redo the block with the guard per sample.
                for x in block {
                    *x = self.tick(*x);
                }
            }
        }
    }

    /// Filters a block of at most [`BLOCK`] samples without the per-sample guard, and keeps
    /// the result only if every state stayed well inside the guard's range (so the guard
    /// would not have touched it and the samples are those of [`LowPass::tick`]); returns
    /// false, changing nothing, otherwise. Only the state recurrence is serial: the input
    /// terms come first and the outputs after, from the recorded states, in vectorisable
    /// passes.
    #[inline(always)]
    fn block_unguarded(&mut self, buf: &mut [f32]) -> bool {
        let n = buf.len().min(BLOCK);
        let (a2, a3, p) = (self.a2, self.a3, self.p);
        let (q, r) = (2.0 * a2, 2.0 * a3);
        let (mut qx, mut rx) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
        for ((qx, rx), &x) in qx.iter_mut().zip(rx.iter_mut()).zip(&*buf) {
            *qx = q * x;
            *rx = r * x;
        }
        // s1[i], s2[i]: the state before sample i (s1[n], s2[n]: after the block).
        let (mut s1, mut s2) = ([0.0f32; BLOCK + 1], [0.0f32; BLOCK + 1]);
        let (mut ic1, mut ic2) = (self.ic1, self.ic2);
        s1[0] = ic1;
        s2[0] = ic2;
        for i in 0..n {
            let n1 = (ic1 + qx[i]) + (p * ic1 - q * ic2);
            let n2 = (ic2 + rx[i]) + (q * ic1 - r * ic2);
            ic1 = n1;
            ic2 = n2;
            s1[i + 1] = n1;
            s2[i + 1] = n2;
        }
        // The guard keeps a state whose |ic1| + |ic2| lies in [1e-20, 1e30) and changes
        // nothing in a state of exact (+0.0) zeros: each of them +0.0 or of magnitude in
        // [1e-20, 1e29] is enough. The test works on the bits rotated left by one (twice
        // the magnitude's bits, plus the sign): +0.0 becomes 0 (then, less one, above every
        // bound), −0.0 becomes 1 (below), and NaN lies above every finite value.
        let (lo, hi) = (2 * GUARD_LOW.to_bits() - 1, 2 * GUARD_HIGH.to_bits() + 1);
        let (mut least, mut most) = (u32::MAX, 0u32);
        for (&a, &b) in s1[1..=n].iter().zip(&s2[1..=n]) {
            let (a, b) = (a.to_bits().rotate_left(1), b.to_bits().rotate_left(1));
            least = least.min(a.wrapping_sub(1)).min(b.wrapping_sub(1));
            most = most.max(a).max(b);
        }
        if least < lo || most > hi {
            return false;
        }
        for ((y, &c1), &c2) in buf.iter_mut().zip(&s1[..n]).zip(&s2[..n]) {
            let x = *y;
            *y = (c2 + a3 * x) + (a2 * c1 - a3 * c2);
        }
        self.ic1 = ic1;
        self.ic2 = ic2;
        true
    }

    /// The design's analytic magnitude at `freq_hz`: the bilinear transform of
    /// 1 / (s² + s/Q + 1) prewarped at the cutoff.
    pub fn magnitude_at(&self, freq_hz: f32) -> f32 {
        let w = (std::f64::consts::PI * f64::from(freq_hz) / f64::from(self.sample_rate)).tan();
        let o = w / f64::from(self.g);
        let k = f64::from(self.k);
        let re = 1.0 - o * o;
        let im = k * o;
        (1.0 / (re * re + im * im).sqrt()) as f32
    }
}

/// General second-order section with RBJ-cookbook coefficients (transposed direct form II).
#[derive(Clone, Debug)]
pub struct Biquad {
    b0: f32,
    b1: f32,
    b2: f32,
    a1: f32,
    a2: f32,
    z1: f32,
    z2: f32,
}

impl Biquad {
    fn from_rbj(b: [f64; 3], a: [f64; 3]) -> Self {
        let n = 1.0 / a[0];
        Self {
            b0: (b[0] * n) as f32,
            b1: (b[1] * n) as f32,
            b2: (b[2] * n) as f32,
            a1: (a[1] * n) as f32,
            a2: (a[2] * n) as f32,
            z1: 0.0,
            z2: 0.0,
        }
    }

    /// (cos ω, α) for a centre/cutoff frequency and Q, with both clamped to sane ranges.
    fn omega(sample_rate: f32, freq_hz: f32, q: f32) -> (f64, f64) {
        let f = f64::from(clamp_cutoff(freq_hz, sample_rate, 1000.0));
        let q = if q.is_nan() {
            0.707
        } else {
            f64::from(q.clamp(0.05, 100.0))
        };
        let w = std::f64::consts::TAU * f / f64::from(sample_rate);
        (w.cos(), w.sin() / (2.0 * q))
    }

    /// Band-pass with 0 dB peak gain at `center_hz`.
    pub fn bandpass(sample_rate: f32, center_hz: f32, q: f32) -> Self {
        let (c, al) = Self::omega(sample_rate, center_hz, q);
        Self::from_rbj([al, 0.0, -al], [1.0 + al, -2.0 * c, 1.0 - al])
    }

    /// Low-pass at `cutoff` with resonance `q`.
    pub fn lowpass(sample_rate: f32, cutoff: f32, q: f32) -> Self {
        let (c, al) = Self::omega(sample_rate, cutoff, q);
        let b = (1.0 - c) / 2.0;
        Self::from_rbj([b, 2.0 * b, b], [1.0 + al, -2.0 * c, 1.0 - al])
    }

    /// High-pass at `cutoff` with resonance `q`.
    pub fn highpass(sample_rate: f32, cutoff: f32, q: f32) -> Self {
        let (c, al) = Self::omega(sample_rate, cutoff, q);
        let b = (1.0 + c) / 2.0;
        Self::from_rbj([b, -2.0 * b, b], [1.0 + al, -2.0 * c, 1.0 - al])
    }

    /// Filters one sample.
    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 {
        let y = self.b0 * x + self.z1;
        self.z1 = self.b1 * x - self.a1 * y + self.z2;
        self.z2 = self.b2 * x - self.a2 * y;
        if guard_state(&mut self.z1, &mut self.z2) {
            y
        } else {
            0.0
        }
    }

    /// Clears the filter state.
    pub fn reset(&mut self) {
        self.z1 = 0.0;
        self.z2 = 0.0;
    }

    /// Filters `buf` in place.
    pub fn process(&mut self, buf: &mut [f32]) {
        for x in buf {
            *x = self.tick(*x);
        }
    }
}

/// Trapezoidal one-pole giving low-pass and high-pass outputs: the reference the effects'
/// own unguarded forms of it (dist.rs, used by the delay too) are held to in the tests.
#[cfg(test)]
#[derive(Clone, Debug)]
pub(crate) struct OnePole {
    sample_rate: f32,
    cutoff: f32,
    gain: f32,
    s: f32,
}

#[cfg(test)]
impl OnePole {
    /// Creates a one-pole at `cutoff_hz`.
    pub(crate) fn new(sample_rate: f32, cutoff_hz: f32) -> Self {
        let mut f = Self {
            sample_rate,
            cutoff: f32::NAN,
            gain: 0.0,
            s: 0.0,
        };
        f.set(cutoff_hz);
        f
    }

    /// Sets the cutoff (recomputed only on change).
    pub(crate) fn set(&mut self, cutoff_hz: f32) {
        let fallback = if self.cutoff.is_nan() {
            1000.0
        } else {
            self.cutoff
        };
        let c = clamp_cutoff(cutoff_hz, self.sample_rate, fallback);
        if c != self.cutoff {
            self.cutoff = c;
            let g = tan_pi(c / self.sample_rate);
            self.gain = g / (1.0 + g);
        }
    }

    /// Low-pass output for input `x`.
    #[inline]
    pub(crate) fn lowpass(&mut self, x: f32) -> f32 {
        let v = (x - self.s) * self.gain;
        let y = v + self.s;
        let s = y + v;
        self.s = if s.abs() < 1e-20 || !s.is_finite() {
            0.0
        } else {
            s
        };
        y
    }

    /// High-pass output for input `x`.
    #[inline]
    pub(crate) fn highpass(&mut self, x: f32) -> f32 {
        x - self.lowpass(x)
    }

    /// Clears the state.
    pub(crate) fn reset(&mut self) {
        self.s = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_block_equals_tick, magnitude_spectrum, rng_stream};
    use super::*;

    const SR: f32 = 48_000.0;

    fn impulse_response(f: &mut LowPass, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| f.tick(if i == 0 { 1.0 } else { 0.0 }))
            .collect()
    }

    #[test]
    fn lowpass_response_matches_analytic_magnitude_within_half_db() {
        for &(cutoff, q) in &[
            (50.0, 0.5),
            (300.0, 0.707),
            (1000.0, 2.0),
            (4000.0, 5.0),
            (8000.0, 10.0),
        ] {
            let mut f = LowPass::new(SR);
            f.set(cutoff, q);
            let n = 65_536;
            let mag = magnitude_spectrum(&impulse_response(&mut f, n));
            let mut worst = 0.0f32;
            for (bin, &m) in mag.iter().enumerate() {
                let hz = bin as f32 * SR / n as f32;
                if !(20.0..=15_000.0).contains(&hz) {
                    continue;
                }
                let want = f.magnitude_at(hz);
                // Compare in dB, but don't let -100 dB stop-band values dominate on rounding.
                let d = 20.0 * (m.max(1e-5) / want.max(1e-5)).log10();
                worst = worst.max(d.abs());
            }
            assert!(
                worst < 0.5,
                "cutoff {cutoff} q {q}: worst deviation {worst} dB"
            );
            // The analytic design itself: -3 dB·(Q=0.707) / Q gain at the cutoff, unity at DC.
            assert!(
                (f.magnitude_at(cutoff) - q).abs() < 1e-3 * q.max(1.0),
                "|H(fc)| = Q"
            );
            assert!((f.magnitude_at(1.0) - 1.0).abs() < 1e-3);
        }
    }

    #[test]
    fn lowpass_resonance_peak_sits_at_the_cutoff() {
        for &cutoff in &[200.0, 1000.0, 5000.0] {
            let mut f = LowPass::new(SR);
            f.set(cutoff, 8.0);
            let n = 65_536;
            let mag = magnitude_spectrum(&impulse_response(&mut f, n));
            let (bin, peak) = mag
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, m)| (i, *m))
                .unwrap();
            let hz = bin as f32 * SR / n as f32;
            assert!(
                (hz / cutoff - 1.0).abs() < 0.01,
                "peak at {hz} Hz for cutoff {cutoff}"
            );
            // Peak gain of a Q-8 resonator ≈ Q (18 dB).
            assert!((20.0 * peak.log10() - 18.06).abs() < 0.2, "peak {peak}");
        }
    }

    #[test]
    fn lowpass_process_matches_tick_and_reset_repeats() {
        let input = rng_stream(7, 1000);
        let mut a = LowPass::new(SR);
        a.set(1234.0, 3.0);
        let block = assert_block_equals_tick(&mut a, &input, |u, b| u.process(b), |u, x| u.tick(x));
        a.reset();
        let mut again = input.clone();
        a.process(&mut again);
        assert_eq!(block, again);
    }

    #[test]
    fn lowpass_survives_extremes_and_recovers_from_nan() {
        let mut f = LowPass::new(SR);
        for &(c, q) in &[
            (0.0, 0.0),
            (1e9, 1e9),
            (f32::NAN, f32::NAN),
            (-5.0, -1.0),
            (23_999.0, 100.0),
        ] {
            f.set(c, q);
            for i in 0..2000 {
                let x = match i % 4 {
                    0 => 1e30,
                    1 => f32::NAN,
                    2 => -f32::INFINITY,
                    _ => 0.5,
                };
                assert!(f.tick(x).is_finite());
            }
        }
        f.set(1000.0, 0.7);
        f.reset();
        let y: Vec<f32> = (0..4000).map(|_| f.tick(0.5)).collect();
        assert!(
            (y[3999] - 0.5).abs() < 1e-4,
            "DC passes after recovery: {}",
            y[3999]
        );
    }

    #[test]
    fn biquad_bandpass_peaks_at_unity_at_centre() {
        let n = 65_536;
        for &centre in &[60.0, 1000.0, 8000.0] {
            let mut b = Biquad::bandpass(SR, centre, 2.0);
            let ir: Vec<f32> = (0..n)
                .map(|i| b.tick(if i == 0 { 1.0 } else { 0.0 }))
                .collect();
            let mag = magnitude_spectrum(&ir);
            let bin = (centre * n as f32 / SR).round() as usize;
            assert!(
                (mag[bin] - 1.0).abs() < 0.01,
                "centre {centre}: {}",
                mag[bin]
            );
            let octave_up = (2.0 * centre * n as f32 / SR).round() as usize;
            assert!(mag[octave_up] < 0.6, "an octave up is attenuated");
        }
    }

    #[test]
    fn biquad_lowpass_and_highpass_are_minus_3db_at_cutoff_for_butterworth_q() {
        let n = 65_536;
        let q = std::f32::consts::FRAC_1_SQRT_2;
        let bin = (2000.0 * n as f32 / SR).round() as usize;
        let mut lp = Biquad::lowpass(SR, 2000.0, q);
        let mut hp = Biquad::highpass(SR, 2000.0, q);
        let l: Vec<f32> = (0..n)
            .map(|i| lp.tick(if i == 0 { 1.0 } else { 0.0 }))
            .collect();
        let h: Vec<f32> = (0..n)
            .map(|i| hp.tick(if i == 0 { 1.0 } else { 0.0 }))
            .collect();
        let (ml, mh) = (magnitude_spectrum(&l), magnitude_spectrum(&h));
        assert!((20.0 * ml[bin].log10() + 3.01).abs() < 0.05);
        assert!((20.0 * mh[bin].log10() + 3.01).abs() < 0.05);
        assert!((ml[1] - 1.0).abs() < 1e-3 && mh[1] < 1e-3);
    }

    #[test]
    fn biquad_process_matches_tick_and_reset_repeats_and_survives_nan() {
        let input = rng_stream(3, 777);
        let mut a = Biquad::bandpass(SR, 440.0, 4.0);
        let block = assert_block_equals_tick(&mut a, &input, |u, b| u.process(b), |u, x| u.tick(x));
        a.reset();
        let mut again = input.clone();
        a.process(&mut again);
        assert_eq!(block, again);
        assert!(a.tick(f32::NAN).is_finite() && a.tick(1.0).is_finite());
        let mut wild = Biquad::highpass(SR, f32::NAN, f32::NAN);
        assert!((0..100).all(|i| wild.tick(i as f32).is_finite()));
    }

    #[test]
    fn one_pole_low_and_high_pass_are_complementary() {
        let mut a = OnePole::new(SR, 500.0);
        let mut b = a.clone();
        for x in rng_stream(11, 500) {
            let sum = a.lowpass(x) + b.highpass(x);
            assert!((sum - x).abs() < 1e-6);
        }
    }

    #[test]
    fn lowpass_blocks_that_trip_the_guard_match_tick() {
        // A burst that blows the state up, NaN, silence long enough to decay into the
        // denormal range, and blocks of every length in between.
        let mut input = rng_stream(5, 3000);
        input[700] = 1e35;
        input[1500] = f32::NAN;
        input[1600..].fill(0.0);
        for cut in [1, 7, 31, 32, 33, 64] {
            let mut a = LowPass::new(SR);
            a.set(2000.0, 2.0);
            let mut b = a.clone();
            let mut buf = input.clone();
            for block in buf.chunks_mut(cut) {
                a.process(block);
            }
            for (i, (&x, &y)) in input.iter().zip(&buf).enumerate() {
                assert_eq!(
                    y.to_bits(),
                    b.tick(x).to_bits(),
                    "blocks of {cut}, sample {i}"
                );
            }
            assert_eq!((a.ic1, a.ic2), (0.0, 0.0), "decayed to exact silence");
        }
    }
}
