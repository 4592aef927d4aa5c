//! Control-rate signals: parameter smoother, portamento and the sine LFO.

use super::{phase_step, sin_2pi};

/// Settles `value` onto `target` once the one-pole has stopped making progress (float
/// resolution) or is within a relative 1e-7 of it, so smoothing always ends exactly on target.
#[inline]
fn one_pole_step(value: f32, target: f32, coef: f32) -> f32 {
    let v = value + (target - value) * coef;
    if v == value || (target - v).abs() <= target.abs() * 1e-7 + 1e-12 {
        target
    } else {
        v
    }
}

/// One-pole parameter smoother; `time_ms` is the time to settle within 1 % of a step.
///
/// The state is the remaining distance to the target, so a sample costs one multiply, and the
/// value lands exactly on the target once the distance is below 1e-7 of it.
#[derive(Clone, Debug)]
pub struct Smoother {
    decay: f32,
    target: f32,
    /// value − target.
    offset: f32,
    /// Offsets at or below this snap to 0: 1e-7 of the target (plus a floor for target 0).
    snap: f32,
}

impl Smoother {
    /// Creates a smoother resting at `initial`.
    pub fn new(sample_rate: f32, time_ms: f32, initial: f32) -> Self {
        let samples = time_ms.max(0.0) * 0.001 * sample_rate;
        // ln(100) time constants reach 1 % of the step.
        let decay = if samples > 1.0 {
            (-(100.0f32.ln()) / samples).exp()
        } else {
            0.0
        };
        let initial = if initial.is_finite() { initial } else { 0.0 };
        Self {
            decay,
            target: initial,
            offset: 0.0,
            snap: Self::snap_for(initial),
        }
    }

    fn snap_for(target: f32) -> f32 {
        target.abs() * 1e-7 + 1e-12
    }

    /// Sets the value to glide to; non-finite values are ignored.
    pub fn set_target(&mut self, v: f32) {
        if v.is_finite() {
            self.offset = self.value() - v;
            self.target = v;
            self.snap = Self::snap_for(v);
            if !self.offset.is_finite() {
                self.offset = 0.0;
            }
        }
    }

    /// Jumps to `v` without smoothing; non-finite values are ignored.
    pub fn set_immediate(&mut self, v: f32) {
        if v.is_finite() {
            self.target = v;
            self.offset = 0.0;
            self.snap = Self::snap_for(v);
        }
    }

    /// The value being approached.
    pub fn target(&self) -> f32 {
        self.target
    }

    /// The current smoothed value.
    pub fn value(&self) -> f32 {
        self.target + self.offset
    }

    /// Whether the value has reached its target.
    pub fn is_settled(&self) -> bool {
        self.offset == 0.0
    }

    /// Advances one sample and returns the new value.
    #[inline]
    pub fn tick(&mut self) -> f32 {
        let o = self.offset * self.decay;
        self.offset = if o.abs() > self.snap { o } else { 0.0 };
        self.target + self.offset
    }

    /// Jumps to the target.
    pub fn reset(&mut self) {
        self.offset = 0.0;
    }

    /// Fills `out` with successive values.
    #[inline(always)]
    pub fn process(&mut self, out: &mut [f32]) {
        if self.is_settled() {
            out.fill(self.value());
            return;
        }
        // The offset only shrinks (× decay < 1, rounded), so if it is still above the snap
        // threshold after the block it was above it at every sample: walk without the test
        // first, and redo the block sample by sample only when it lands inside.
        let (decay, target) = (self.decay, self.target);
        let mut o = self.offset;
        for x in out.iter_mut() {
            o *= decay;
            *x = target + o;
        }
        if o.abs() > self.snap {
            self.offset = o;
            return;
        }
        let mut i = 0;
        while i < out.len() && self.offset != 0.0 {
            out[i] = self.tick();
            i += 1;
        }
        // Settled: every further tick returns the target.
        out[i..].fill(self.value());
    }
}

/// One-pole glide: after `time` seconds a step has covered 1 − 1/e ≈ 63.2 %; time 0 jumps.
///
/// After `new` or `reset` the first target is taken at once (there is no pitch to glide from).
#[derive(Clone, Debug)]
pub struct Portamento {
    sample_rate: f32,
    coef: f32,
    value: f32,
    primed: bool,
}

impl Portamento {
    /// Creates a portamento with glide time 0.
    pub fn new(sample_rate: f32) -> Self {
        Self {
            sample_rate,
            coef: 1.0,
            value: 0.0,
            primed: false,
        }
    }

    /// Sets the glide time constant in seconds (≤ 0 or non-finite: no glide).
    pub fn set_time(&mut self, seconds: f32) {
        let samples = seconds * self.sample_rate;
        self.coef = if samples.is_finite() && samples > 1e-3 {
            1.0 - (-1.0 / samples).exp()
        } else {
            1.0
        };
    }

    /// Advances one sample towards `target` and returns the glided value.
    #[inline]
    pub fn tick(&mut self, target: f32) -> f32 {
        if !target.is_finite() {
            return self.value;
        }
        if !self.primed || self.coef >= 1.0 {
            self.primed = true;
            self.value = target;
        } else if self.value != target {
            self.value = one_pole_step(self.value, target, self.coef);
        }
        self.value
    }

    /// True when gliding towards `target` would return `target` unchanged every sample.
    #[inline]
    pub fn rests_at(&self, target: f32) -> bool {
        self.primed && self.value == target
    }

    /// Jumps to `v` (the next glide starts from there).
    pub fn reset_to(&mut self, v: f32) {
        if v.is_finite() {
            self.value = v;
            self.primed = true;
        }
    }

    /// Forgets the current value: the next target is taken at once.
    pub fn reset(&mut self) {
        self.value = 0.0;
        self.primed = false;
    }

    /// Replaces each target in `buf` by its glided value (the same values as [`Portamento::tick`]
    /// on each in turn); without a glide time the pitch follows the targets with one select a
    /// sample.
    #[inline(always)]
    pub fn glide_in_place(&mut self, buf: &mut [f32]) {
        if self.coef < 1.0 {
            match buf.first() {
                Some(&t)
                    if self.primed && t != 0.0 && t.is_finite() && buf.iter().all(|&x| x == t) =>
                {
                    self.glide_to(t, buf)
                }
                _ => {
                    for x in buf {
                        *x = self.tick(*x);
                    }
                }
            }
            return;
        }
        let mut value = self.value;
        let mut primed = self.primed;
        for x in buf {
            if x.is_finite() {
                value = *x;
                primed = true;
            }
            *x = value;
        }
        self.value = value;
        self.primed = primed;
    }

    /// Glides towards the one finite, non-zero `target` that fills `buf` (primed, coef < 1):
    /// the same steps as [`Portamento::tick`], with the threshold hoisted, and a fill once the
    /// value has landed (a non-zero target equal to the value has the same bits).
    #[inline(always)]
    fn glide_to(&mut self, target: f32, buf: &mut [f32]) {
        let coef = self.coef;
        let snap = target.abs() * 1e-7 + 1e-12;
        let mut value = self.value;
        if coef <= 0.5 && value != target {
            // With coef ≤ 0.5 each step lands between the value and the target, so the
            // distance never grows and a stall repeats forever: if the block's last step still
            // moved and ended outside the snap distance, no step snapped. Walk without the test.
            let (mut prev, mut v) = (value, value);
            for x in buf.iter_mut() {
                prev = v;
                v += (target - v) * coef;
                *x = v;
            }
            if v != prev && (target - v).abs() > snap {
                self.value = v;
                return;
            }
        }
        let mut i = 0;
        while i < buf.len() && value != target {
            let v = value + (target - value) * coef;
            value = if v == value || (target - v).abs() <= snap {
                target
            } else {
                v
            };
            buf[i] = value;
            i += 1;
        }
        buf[i..].fill(value);
        self.value = value;
    }

    /// Glides through `target`, writing the glided values to `out`.
    pub fn process(&mut self, target: &[f32], out: &mut [f32]) {
        for (o, &t) in out.iter_mut().zip(target) {
            *o = self.tick(t);
        }
    }
}

/// Sine LFO with output in −1..1, starting at phase 0 (output 0, rising).
#[derive(Clone, Debug)]
pub struct Lfo {
    inv_sr: f32,
    phase: f32,
    step: f32,
}

impl Lfo {
    /// Creates an LFO at 1 Hz.
    pub fn new(sample_rate: f32) -> Self {
        let inv_sr = 1.0 / sample_rate;
        Self {
            inv_sr,
            phase: 0.0,
            step: phase_step(1.0, inv_sr, 0.5),
        }
    }

    /// Sets the rate in Hz (clamped to 0..sample_rate/2, NaN → 0).
    pub fn set_rate(&mut self, hz: f32) {
        self.step = phase_step(hz, self.inv_sr, 0.5);
    }

    /// Returns the current value and advances one sample.
    #[inline]
    pub fn tick(&mut self) -> f32 {
        let y = sin_2pi(self.phase);
        let p = self.phase + self.step;
        self.phase = if p >= 1.0 { p - 1.0 } else { p };
        y
    }

    /// Returns to phase 0.
    pub fn reset(&mut self) {
        self.phase = 0.0;
    }

    /// Fills `out` with successive values.
    pub fn process(&mut self, out: &mut [f32]) {
        for o in out {
            *o = self.tick();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f32 = 48_000.0;

    #[test]
    fn smoother_settles_within_one_percent_at_its_time_and_lands_exactly() {
        let mut s = Smoother::new(SR, 20.0, 0.0);
        s.set_target(1.0);
        let n = (0.020 * SR) as usize;
        let mut v = 0.0;
        for _ in 0..n - 1 {
            v = s.tick();
        }
        assert!(v < 0.99, "not settled one sample early: {v}");
        v = s.tick();
        assert!((0.9899..0.9903).contains(&v), "at 20 ms: {v}");
        for _ in 0..(SR as usize) {
            s.tick();
        }
        assert_eq!(s.value(), 1.0);
        assert!(s.is_settled());
    }

    #[test]
    fn smoother_reaches_large_and_zero_targets_exactly() {
        let mut s = Smoother::new(SR, 20.0, 440.0);
        s.set_target(4999.5);
        for _ in 0..48_000 {
            s.tick();
        }
        assert_eq!(s.value(), 4999.5);
        s.set_target(0.0);
        for _ in 0..48_000 {
            s.tick();
        }
        assert_eq!(s.value(), 0.0);
    }

    #[test]
    fn smoother_zero_time_and_immediate_jump() {
        let mut s = Smoother::new(SR, 0.0, 0.1);
        s.set_target(0.3);
        assert_eq!(s.tick(), 0.3);
        let mut s = Smoother::new(SR, 20.0, 0.1);
        s.set_immediate(0.7);
        assert_eq!(s.tick(), 0.7);
        s.set_target(f32::NAN);
        assert_eq!(s.target(), 0.7);
        s.set_target(0.2);
        s.tick();
        s.reset();
        assert_eq!(s.value(), 0.2);
    }

    #[test]
    fn smoother_process_matches_tick_and_reset_repeats() {
        let mut a = Smoother::new(SR, 20.0, 0.0);
        a.set_target(1.0);
        let mut b = a.clone();
        let mut block = [0.0f32; 300];
        a.process(&mut block);
        for &x in &block {
            assert_eq!(x.to_bits(), b.tick().to_bits());
        }
    }

    #[test]
    fn smoother_process_in_blocks_matches_tick_through_landing() {
        for (from, to, cut) in [
            (0.0, 1.0, 32),
            (440.0, -3.5, 7),
            (1.0, 0.0, 32),
            (-0.0, 2.0, 1),
        ] {
            let mut a = Smoother::new(SR, 5.0, from);
            a.set_target(to);
            let mut b = a.clone();
            let mut block = vec![0.0f32; 4000];
            for c in block.chunks_mut(cut) {
                a.process(c);
            }
            for (i, &x) in block.iter().enumerate() {
                assert_eq!(
                    x.to_bits(),
                    b.tick().to_bits(),
                    "{from} -> {to}, sample {i}"
                );
            }
            assert!(a.is_settled() && b.is_settled());
        }
    }

    #[test]
    fn glide_in_place_lands_like_tick_on_constant_and_zero_targets() {
        for (start, target) in [(100.0, 200.0), (200.0, -50.0), (30.0, 0.0), (-0.0, 0.0)] {
            let mut a = Portamento::new(SR);
            a.set_time(0.001);
            a.reset_to(start);
            let mut b = a.clone();
            let mut buf = vec![target; 2000];
            for block in buf.chunks_mut(32) {
                a.glide_in_place(block);
            }
            for (i, &y) in buf.iter().enumerate() {
                assert_eq!(
                    y.to_bits(),
                    b.tick(target).to_bits(),
                    "{start} -> {target}, sample {i}"
                );
            }
            assert_eq!(a.value.to_bits(), b.value.to_bits());
        }
    }

    #[test]
    fn portamento_covers_63_percent_after_its_time() {
        let mut p = Portamento::new(SR);
        p.set_time(0.1);
        assert_eq!(p.tick(100.0), 100.0, "first target is taken at once");
        let n = (0.1 * SR) as usize;
        let mut v = 0.0;
        for _ in 0..n {
            v = p.tick(200.0);
        }
        let frac = (v - 100.0) / 100.0;
        assert!((frac - 0.632_12).abs() < 0.001, "covered {frac}");
        for _ in 0..(2 * SR as usize) {
            v = p.tick(200.0);
        }
        assert_eq!(v, 200.0);
    }

    #[test]
    fn portamento_zero_time_jumps_and_reset_to_sets_start() {
        let mut p = Portamento::new(SR);
        p.set_time(0.0);
        p.tick(100.0);
        assert_eq!(p.tick(300.0), 300.0);
        p.set_time(0.05);
        p.reset_to(50.0);
        let v = p.tick(60.0);
        assert!(v > 50.0 && v < 50.01, "{v}");
        assert_eq!(p.tick(f32::NAN), v);
    }

    #[test]
    fn portamento_process_matches_tick_and_reset_repeats() {
        let mut a = Portamento::new(SR);
        a.set_time(0.01);
        let target: Vec<f32> = (0..500)
            .map(|i| if i < 200 { 220.0 } else { 330.0 })
            .collect();
        let mut b = a.clone();
        let mut out = vec![0.0; 500];
        a.process(&target, &mut out);
        for (i, &t) in target.iter().enumerate() {
            assert_eq!(out[i].to_bits(), b.tick(t).to_bits());
        }
        a.reset();
        let mut again = vec![0.0; 500];
        a.process(&target, &mut again);
        assert_eq!(out, again);
    }

    #[test]
    fn lfo_is_a_unit_sine_at_its_rate() {
        let mut l = Lfo::new(SR);
        l.set_rate(4.0);
        let out: Vec<f32> = (0..48_000).map(|_| l.tick()).collect();
        let max = out.iter().cloned().fold(f32::MIN, f32::max);
        let min = out.iter().cloned().fold(f32::MAX, f32::min);
        assert!((max - 1.0).abs() < 1e-4 && (min + 1.0).abs() < 1e-4);
        // 4 Hz: a quarter period (3000 samples) in, the sine peaks.
        assert!((out[3000] - 1.0).abs() < 1e-5, "{}", out[3000]);
        let rising = out.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        assert_eq!(
            rising, 3,
            "4 cycles: 3 upward zero crossings after the start"
        );
    }

    #[test]
    fn lfo_process_matches_tick_and_reset_repeats() {
        let mut a = Lfo::new(SR);
        a.set_rate(7.3);
        let mut b = a.clone();
        let mut block = [0.0f32; 256];
        a.process(&mut block);
        for &x in &block {
            assert_eq!(x.to_bits(), b.tick().to_bits());
        }
        a.reset();
        let mut again = [0.0f32; 256];
        a.process(&mut again);
        assert_eq!(block, again);
        a.set_rate(f32::NAN);
        assert!(a.tick().is_finite());
    }

    #[test]
    fn glide_in_place_matches_tick_with_and_without_a_glide_time() {
        let targets: Vec<f32> = (0..300)
            .map(|i| match i % 97 {
                13 => f32::NAN,
                40 => f32::INFINITY,
                _ => 100.0 + (i / 50) as f32 * 37.5,
            })
            .collect();
        for time in [0.0, 0.004] {
            let mut a = Portamento::new(SR);
            a.set_time(time);
            let mut b = a.clone();
            let mut buf = targets.clone();
            for block in buf.chunks_mut(32) {
                a.glide_in_place(block);
            }
            for (i, (&t, &y)) in targets.iter().zip(&buf).enumerate() {
                assert_eq!(y.to_bits(), b.tick(t).to_bits(), "time {time} sample {i}");
            }
            assert!(a.rests_at(b.value) && a.primed == b.primed);
        }
    }
}
