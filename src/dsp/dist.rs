//! Master distortion: HP 20 Hz → asymmetric waveshaper → DC block → tone → gain
//! compensation → equal-power dry/wet.

use std::f32::consts::FRAC_PI_2;

use super::{sanitize, soft_clip, tan_pi};

/// Input high-pass: keeps sub-sonic energy from driving the shaper.
const INPUT_HP_HZ: f32 = 20.0;
/// DC blocker after the asymmetric shaper.
const DC_BLOCK_HZ: f32 = 10.0;
/// Shaper pre-gain at full drive (+34 dB).
const MAX_DRIVE_GAIN: f32 = 50.0;
/// Shaper bias at full drive: asymmetry that adds even harmonics.
const MAX_BIAS: f32 = 0.2;
/// Sine peak level at which the wet path keeps its RMS whatever the drive (−12 dBFS).
const REFERENCE_LEVEL: f32 = 0.25;
/// Samples per pass of [`Distortion::process`].
const CHUNK: usize = 128;

/// Distortion insert with `drive`, `mix` and `tone` (all 0..1).
///
/// `tone` sweeps the post-shaper low-pass 1 → 8 kHz and the high-pass 500 → 100 Hz
/// (exponentially): 0 is dark and thin, 1 is bright and full. The wet path is scaled so a
/// −12 dBFS sine keeps its RMS level at any drive; dry and wet are mixed with equal power.
///
/// The filters compute what `filter::OnePole` and `filter::LowPass` compute (the tests hold
/// them to those bits); they live here so that `process` can run them without their
/// per-sample state guards when no guard would act.
#[derive(Clone, Debug)]
pub struct Distortion {
    sample_rate: f32,
    drive: f32,
    mix: f32,
    tone: f32,
    pre_gain: f32,
    bias: f32,
    bias_out: f32,
    makeup: f32,
    dry_gain: f32,
    wet_gain: f32,
    input_hp: OnePole,
    dc_block: OnePole,
    tone_lp: Svf,
    tone_hp: OnePole,
    /// The wet chain is idle (mix 0) and its filters are cleared.
    bypassed: bool,
    /// Scratch for [`Distortion::process_unguarded`] (kept here so no pass clears it).
    work: Box<Work>,
}

/// Trapezoidal one-pole (high-pass output), as `filter::OnePole`.
#[derive(Clone, Copy, Debug)]
pub(super) struct OnePole {
    /// g/(1 + g) with g = tan(π·fc/fs).
    gain: f32,
    pub(super) s: f32,
}

impl OnePole {
    pub(super) fn new(sample_rate: f32, cutoff_hz: f32) -> Self {
        let mut f = Self { gain: 0.0, s: 0.0 };
        f.set(sample_rate, cutoff_hz);
        f
    }

    pub(super) fn set(&mut self, sample_rate: f32, cutoff_hz: f32) {
        let g = tan_pi(clamp_cutoff(cutoff_hz, sample_rate) / sample_rate);
        self.gain = g / (1.0 + g);
    }

    /// High-pass output for `x` and the new state, unguarded.
    #[inline(always)]
    pub(super) fn raw(&self, x: f32) -> (f32, f32) {
        let v = (x - self.s) * self.gain;
        let y = v + self.s;
        (x - y, y + v)
    }

    /// High-pass output for `x`; a tiny or non-finite state is flushed to 0.
    #[inline(always)]
    pub(super) fn highpass(&mut self, x: f32) -> f32 {
        let (h, s) = self.raw(x);
        self.s = if keeps_one_pole_state(s) { s } else { 0.0 };
        h
    }
}

/// A one-pole state the guard leaves alone: finite and not below 1e-20 in magnitude.
#[inline(always)]
pub(super) fn keeps_one_pole_state(s: f32) -> bool {
    let a = s.abs();
    (1e-20..=f32::MAX).contains(&a)
}

/// A state-variable pair the guard leaves alone: |a| + |b| in [1e-20, 1e30).
#[inline(always)]
pub(super) fn keeps_svf_state(ic1: f32, ic2: f32) -> bool {
    let m = ic1.abs() + ic2.abs();
    (1e-20..1e30).contains(&m)
}

/// The effects' cutoff range, as `filter`'s.
fn clamp_cutoff(cutoff_hz: f32, sample_rate: f32) -> f32 {
    cutoff_hz.clamp(1.0, 0.47 * sample_rate)
}

/// The trapezoidal state-variable low-pass of `filter::LowPass`, same coefficients and order
/// of operations.
#[derive(Clone, Copy, Debug)]
pub(super) struct Svf {
    a2: f32,
    a3: f32,
    p: f32,
    /// 2·a2 and 2·a3.
    q: f32,
    r: f32,
    pub(super) ic1: f32,
    pub(super) ic2: f32,
}

impl Svf {
    pub(super) fn new() -> Self {
        Self {
            a2: 0.0,
            a3: 0.0,
            p: 0.0,
            q: 0.0,
            r: 0.0,
            ic1: 0.0,
            ic2: 0.0,
        }
    }

    pub(super) fn set(&mut self, sample_rate: f32, cutoff_hz: f32, q: f32) {
        let cutoff = clamp_cutoff(cutoff_hz, sample_rate);
        let g = tan_pi(cutoff / sample_rate);
        let k = 1.0 / q.clamp(0.05, 100.0);
        let gk = g * (g + k);
        let a1 = 1.0 / (1.0 + gk);
        self.a2 = g * a1;
        self.a3 = g * self.a2;
        self.p = -2.0 * gk * a1;
        self.q = 2.0 * self.a2;
        self.r = 2.0 * self.a3;
    }

    /// Output for `x` and the new states, unguarded.
    #[inline(always)]
    pub(super) fn raw(&self, x: f32) -> (f32, f32, f32) {
        let (ic1, ic2) = (self.ic1, self.ic2);
        let y = (ic2 + self.a3 * x) + (self.a2 * ic1 - self.a3 * ic2);
        let (n1, n2) = self.next(x);
        (y, n1, n2)
    }

    /// The new states for input `x`, unguarded.
    #[inline(always)]
    pub(super) fn next(&self, x: f32) -> (f32, f32) {
        let (ic1, ic2) = (self.ic1, self.ic2);
        let n1 = (ic1 + self.q * x) + (self.p * ic1 - self.q * ic2);
        let n2 = (ic2 + self.r * x) + (self.q * ic1 - self.r * ic2);
        (n1, n2)
    }

    /// The output for input `x` from the states before it, `ic1` and `ic2`.
    #[inline(always)]
    pub(super) fn output(&self, ic1: f32, ic2: f32, x: f32) -> f32 {
        (ic2 + self.a3 * x) + (self.a2 * ic1 - self.a3 * ic2)
    }

    /// Filters one sample; states that decayed below 1e-20 or blew up are cleared (and a
    /// blow-up outputs 0).
    #[inline(always)]
    pub(super) fn tick(&mut self, x: f32) -> f32 {
        let (y, n1, n2) = self.raw(x);
        if keeps_svf_state(n1, n2) {
            (self.ic1, self.ic2) = (n1, n2);
            return y;
        }
        let tiny = n1.abs() + n2.abs() < 1e-20;
        (self.ic1, self.ic2) = (0.0, 0.0);
        if tiny { y } else { 0.0 }
    }
}

impl Distortion {
    /// Creates the insert with the `dist1` defaults (drive 0, mix 0, tone 0.5).
    pub fn new(sample_rate: f32) -> Self {
        let mut d = Self {
            sample_rate,
            drive: f32::NAN,
            mix: f32::NAN,
            tone: f32::NAN,
            pre_gain: 1.0,
            bias: 0.0,
            bias_out: 0.0,
            makeup: 1.0,
            dry_gain: 1.0,
            wet_gain: 0.0,
            input_hp: OnePole::new(sample_rate, INPUT_HP_HZ),
            dc_block: OnePole::new(sample_rate, DC_BLOCK_HZ),
            tone_lp: Svf::new(),
            tone_hp: OnePole::new(sample_rate, 100.0),
            bypassed: false,
            work: Box::new(Work::new()),
        };
        d.set(0.0, 0.0, 0.5);
        d
    }

    /// Sets drive, mix and tone (each clamped to 0..1; NaN keeps the old value).
    pub fn set(&mut self, drive: f32, mix: f32, tone: f32) {
        let pick = |v: f32, old: f32| {
            if v.is_nan() {
                if old.is_nan() { 0.0 } else { old }
            } else {
                v.clamp(0.0, 1.0)
            }
        };
        let (drive, mix, tone) = (
            pick(drive, self.drive),
            pick(mix, self.mix),
            pick(tone, self.tone),
        );
        if drive != self.drive {
            self.drive = drive;
            self.pre_gain = MAX_DRIVE_GAIN.powf(drive);
            self.bias = MAX_BIAS * drive;
            self.bias_out = soft_clip(self.bias);
            self.makeup = self.reference_makeup();
        }
        if mix != self.mix {
            self.mix = mix;
            let angle = mix * FRAC_PI_2;
            // Exact endpoints so mix 0 is bit-for-bit dry.
            self.dry_gain = if mix == 0.0 { 1.0 } else { angle.cos() };
            self.wet_gain = if mix == 1.0 { 1.0 } else { angle.sin() };
        }
        if tone != self.tone {
            self.tone = tone;
            let sr = self.sample_rate;
            self.tone_lp.set(
                sr,
                1000.0 * 8f32.powf(tone),
                std::f32::consts::FRAC_1_SQRT_2,
            );
            self.tone_hp.set(sr, 500.0 * 0.2f32.powf(tone));
        }
    }

    /// Gain that gives a sine at the reference level the same RMS after the shaper (and its
    /// DC removal) as before it; evaluated over one period, only when the drive changes.
    fn reference_makeup(&self) -> f32 {
        const POINTS: usize = 64;
        let (mut sum, mut sum_sq) = (0.0f32, 0.0f32);
        for i in 0..POINTS {
            let x = REFERENCE_LEVEL * (std::f32::consts::TAU * i as f32 / POINTS as f32).sin();
            let y = self.shape(x);
            sum += y;
            sum_sq += y * y;
        }
        let mean = sum / POINTS as f32;
        let rms = (sum_sq / POINTS as f32 - mean * mean).max(1e-12).sqrt();
        REFERENCE_LEVEL * std::f32::consts::FRAC_1_SQRT_2 / rms
    }

    /// The biased waveshaper with its resting DC removed.
    #[inline(always)]
    fn shape(&self, h: f32) -> f32 {
        soft_clip(h * self.pre_gain + self.bias) - self.bias_out
    }

    /// Processes one sample.
    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 {
        let x = sanitize(x);
        if self.wet_gain == 0.0 {
            self.bypass();
            return x;
        }
        self.bypassed = false;
        self.tick_wet(x)
    }

    /// At mix 0 (the default) the wet chain is inaudible: it is skipped, and starts from a
    /// clean state when the mix opens again.
    #[inline(always)]
    fn bypass(&mut self) {
        if !self.bypassed {
            self.reset();
            self.bypassed = true;
        }
    }

    /// The wet chain and the mix for one sanitised sample.
    #[inline(always)]
    fn tick_wet(&mut self, x: f32) -> f32 {
        let h = self.input_hp.highpass(x);
        let w = self.dc_block.highpass(self.shape(h));
        let w = self.tone_lp.tick(w);
        let w = self.tone_hp.highpass(w) * self.makeup;
        let y = self.dry_gain * x + self.wet_gain * w;
        if y.is_finite() {
            y
        } else {
            self.reset();
            0.0
        }
    }

    /// Clears all filter states.
    pub fn reset(&mut self) {
        self.bypassed = false;
        self.input_hp.s = 0.0;
        self.dc_block.s = 0.0;
        (self.tone_lp.ic1, self.tone_lp.ic2) = (0.0, 0.0);
        self.tone_hp.s = 0.0;
    }

    /// Processes `buf` in place: bit for bit what `tick` gives.
    pub fn process(&mut self, buf: &mut [f32]) {
        crate::platform::with_wide_lanes(
            #[inline(always)]
            || {
                for x in buf.iter_mut() {
                    *x = sanitize(*x);
                }
                if self.wet_gain == 0.0 {
                    self.bypass();
                    return;
                }
                self.bypassed = false;
                for block in buf.chunks_mut(CHUNK) {
                    if !self.process_unguarded(block) {
                        for x in block.iter_mut() {
                            *x = self.tick_wet(*x);
                        }
                    }
                }
            },
        );
    }

    /// The wet chain over `buf` (sanitised samples, at most [`CHUNK`]) without the filters'
    /// per-sample guards. When no guard would have acted and every output is finite, the
    /// result is exactly the guarded one: it is kept and true returned. Otherwise nothing is
    /// changed and false returned.
    ///
    /// The recurrences share one loop, each at its own sample so that none waits on
    /// another: the input high-pass [`AHEAD`] samples ahead of the DC blocker (its outputs
    /// are shaped in a vectorised pass before the DC blocker reaches them), the low-pass on
    /// the DC blocker's output, the tone high-pass [`BEHIND`] samples behind the low-pass.
    /// The states are recorded and checked afterwards, and the mix is a vectorised pass.
    #[inline(always)]
    fn process_unguarded(&mut self, buf: &mut [f32]) -> bool {
        let n = buf.len().min(CHUNK);
        let ahead_end = n.saturating_sub(AHEAD);
        let (pre_gain, bias, bias_out) = (self.pre_gain, self.bias, self.bias_out);
        // Every record is written before it is read: the scratch needs no clearing, and
        // the padding past the input holds finite samples of earlier chunks.
        let w = &mut *self.work;
        w.input[..n].copy_from_slice(&buf[..n]);

        // The input high-pass alone over the first samples.
        let mut input_hp = self.input_hp;
        let p = n.min(AHEAD);
        for i in 0..p {
            let (v, s) = input_hp.raw(w.input[i]);
            input_hp.s = s;
            (w.shaped[i], w.first[i]) = (v, s);
        }
        let mut chain = Chain {
            input_hp,
            dc_block: self.dc_block,
            tone_lp: self.tone_lp,
            tone_hp: self.tone_hp,
            ys: [0.0; BEHIND],
        };
        let mut t0 = 0;
        while t0 < n {
            let t1 = (t0 + AHEAD).min(n);
            for v in w.shaped[t0..t1].iter_mut() {
                // `shape`, on the copied settings.
                *v = soft_clip(*v * pre_gain + bias) - bias_out;
            }
            if t0 == 0 {
                // The tone high-pass has no input over the first steps: it runs on zeros
                // and gets its state back.
                let b = t1.min(BEHIND);
                let s = chain.tone_hp.s;
                chain.run(w, 0, b);
                chain.tone_hp.s = s;
                chain.run(w, b, t1);
            } else {
                chain.run(w, t0, t1);
            }
            t0 = t1;
        }
        // The tone high-pass catches up on the low-pass outputs it has not taken yet.
        let m = n.min(BEHIND);
        for (k, &y) in chain.ys[BEHIND - m..].iter().enumerate() {
            let (v, s) = chain.tone_hp.raw(y);
            chain.tone_hp.s = s;
            (w.wet[n - m + BEHIND + k], w.last[k]) = (v, s);
        }
        // The input high-pass ran on padding past the end: its state after the last sample
        // is the one recorded there.
        if n > AHEAD {
            chain.input_hp.s = w.rec_in[n - 1 - AHEAD];
        } else {
            chain.input_hp.s = input_hp.s;
        }

        let mut kept = true;
        let one_poles: [&[f32]; 5] = [
            &w.first[..p],
            &w.rec_in[..ahead_end],
            &w.rec_dc[..n],
            &w.rec_hp[BEHIND.min(n)..n],
            &w.last[..m],
        ];
        for states in one_poles {
            for &s in states {
                kept &= keeps_one_pole_state(s);
            }
        }
        for (&a, &b) in w.rec_n1[..n].iter().zip(&w.rec_n2[..n]) {
            kept &= keeps_svf_state(a, b);
        }
        let (dry_gain, wet_gain, makeup) = (self.dry_gain, self.wet_gain, self.makeup);
        let out = &mut w.out;
        for ((o, &x), &y) in out[..n]
            .iter_mut()
            .zip(&w.input[..n])
            .zip(&w.wet[BEHIND..n + BEHIND])
        {
            *o = dry_gain * x + wet_gain * (y * makeup);
            kept &= o.abs() <= f32::MAX;
        }
        if kept {
            buf[..n].copy_from_slice(&out[..n]);
            self.input_hp = chain.input_hp;
            self.dc_block = chain.dc_block;
            self.tone_lp = chain.tone_lp;
            self.tone_hp = chain.tone_hp;
        }
        kept
    }
}

/// Samples the input high-pass runs ahead of the DC blocker in
/// [`Distortion::process_unguarded`] (its first ones alone, before the others start).
const AHEAD: usize = 16;
/// Samples the tone high-pass runs behind the low-pass there.
const BEHIND: usize = 3;

/// The per-sample records of [`Distortion::process_unguarded`].
#[derive(Clone)]
struct Work {
    /// The input, padded with zeros for the input high-pass running past the end.
    input: [f32; CHUNK + AHEAD],
    /// The input high-pass's outputs, shaped in place before the DC blocker takes them.
    shaped: [f32; CHUNK + AHEAD],
    /// `wet[t]`: the tone high-pass's output for sample t − BEHIND.
    wet: [f32; CHUNK + BEHIND],
    /// The input high-pass's states over the first samples, and after sample t + AHEAD.
    first: [f32; AHEAD],
    rec_in: [f32; CHUNK],
    /// The DC blocker's and the low-pass's states after sample t.
    rec_dc: [f32; CHUNK],
    rec_n1: [f32; CHUNK],
    rec_n2: [f32; CHUNK],
    /// The tone high-pass's state after sample t − BEHIND, and after the last ones.
    rec_hp: [f32; CHUNK],
    last: [f32; BEHIND],
    /// The mixed output.
    out: [f32; CHUNK],
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Work")
    }
}

impl Work {
    fn new() -> Self {
        Self {
            input: [0.0; CHUNK + AHEAD],
            shaped: [0.0; CHUNK + AHEAD],
            wet: [0.0; CHUNK + BEHIND],
            first: [0.0; AHEAD],
            rec_in: [0.0; CHUNK],
            rec_dc: [0.0; CHUNK],
            rec_n1: [0.0; CHUNK],
            rec_n2: [0.0; CHUNK],
            rec_hp: [0.0; CHUNK],
            last: [0.0; BEHIND],
            out: [0.0; CHUNK],
        }
    }
}

/// The wet chain's filters in [`Distortion::process_unguarded`], and the low-pass outputs
/// the tone high-pass has not taken yet (oldest first).
#[derive(Clone, Copy)]
struct Chain {
    input_hp: OnePole,
    dc_block: OnePole,
    tone_lp: Svf,
    tone_hp: OnePole,
    ys: [f32; BEHIND],
}

impl Chain {
    /// Steps `a..b` (at most [`AHEAD`] of them, shaped already): at step t the input
    /// high-pass takes sample t + AHEAD, the DC blocker and the low-pass sample t, the tone
    /// high-pass the low-pass output of step t − BEHIND.
    #[inline(always)]
    fn run(&mut self, w: &mut Work, a: usize, b: usize) {
        let len = b - a;
        let (done, ahead) = w.shaped.split_at_mut(a + AHEAD);
        let input = &w.input[a + AHEAD..][..len];
        let shaped = &done[a..][..len];
        let ahead = &mut ahead[..len];
        let wet = &mut w.wet[a..][..len];
        let rec_in = &mut w.rec_in[a..][..len];
        let rec_dc = &mut w.rec_dc[a..][..len];
        let rec_n1 = &mut w.rec_n1[a..][..len];
        let rec_n2 = &mut w.rec_n2[a..][..len];
        let rec_hp = &mut w.rec_hp[a..][..len];
        let mut c = *self;
        let [mut y0, mut y1, mut y2] = c.ys;
        for i in 0..len {
            let (h, s) = c.input_hp.raw(input[i]);
            c.input_hp.s = s;
            (ahead[i], rec_in[i]) = (h, s);
            let (d, s) = c.dc_block.raw(shaped[i]);
            c.dc_block.s = s;
            rec_dc[i] = s;
            let (y, n1, n2) = c.tone_lp.raw(d);
            (c.tone_lp.ic1, c.tone_lp.ic2) = (n1, n2);
            (rec_n1[i], rec_n2[i]) = (n1, n2);
            let (v, s) = c.tone_hp.raw(y0);
            c.tone_hp.s = s;
            (wet[i], rec_hp[i]) = (v, s);
            (y0, y1, y2) = (y1, y2, y);
        }
        c.ys = [y0, y1, y2];
        *self = c;
    }
}

#[cfg(test)]
mod tests {
    use super::super::filter::{LowPass, OnePole};
    use super::super::testutil::{
        assert_block_equals_tick, blackman_harris, power_spectrum_windowed, rng_stream,
    };
    use super::*;

    const SR: f32 = 48_000.0;

    fn sine(freq: f32, amp: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| amp * (std::f32::consts::TAU * freq * i as f32 / SR).sin())
            .collect()
    }

    fn peak(x: &[f32]) -> f32 {
        x.iter().fold(0.0, |m, v| m.max(v.abs()))
    }

    #[test]
    fn mix_zero_is_dry_bit_for_bit() {
        let mut d = Distortion::new(SR);
        d.set(1.0, 0.0, 0.3);
        for x in rng_stream(1, 2000) {
            assert_eq!(d.tick(x).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn opening_the_mix_starts_the_wet_chain_from_a_clean_state() {
        let input = rng_stream(9, 2000);
        let mut d = Distortion::new(SR);
        d.set(0.8, 0.5, 0.5);
        d.process(&mut input.clone());
        d.set(0.8, 0.0, 0.5);
        let mut dry = input[..1000].to_vec();
        d.process(&mut dry);
        assert_eq!(dry, input[..1000]);
        d.set(0.8, 0.5, 0.5);
        let mut reopened = input[1000..].to_vec();
        d.process(&mut reopened);
        let mut fresh = Distortion::new(SR);
        fresh.set(0.8, 0.5, 0.5);
        let mut want = input[1000..].to_vec();
        fresh.process(&mut want);
        assert_eq!(reopened, want);
    }

    #[test]
    fn reference_level_keeps_its_rms_at_any_drive() {
        for &drive in &[0.0, 0.3, 0.7, 1.0] {
            let mut d = Distortion::new(SR);
            d.set(drive, 1.0, 1.0);
            let mut y = sine(1000.0, REFERENCE_LEVEL, 48_000);
            d.process(&mut y);
            let rms = (y[24_000..].iter().map(|v| v * v).sum::<f32>() / 24_000.0).sqrt();
            let db = 20.0 * (rms / (REFERENCE_LEVEL * std::f32::consts::FRAC_1_SQRT_2)).log10();
            // Within 1 dB: the tone filters only shave the highest harmonics.
            assert!(db.abs() < 1.0, "drive {drive}: {db} dB");
        }
    }

    #[test]
    fn drive_adds_harmonics_including_even_ones() {
        let harmonic_db = |drive: f32, k: usize| {
            let mut d = Distortion::new(SR);
            d.set(drive, 1.0, 1.0);
            // 750 Hz = bin 1024 of a 65536 FFT: harmonics land on exact bins.
            let mut y = sine(750.0, 0.25, 65_536 + 4800);
            d.process(&mut y);
            let p = power_spectrum_windowed(&y[4800..], &blackman_harris(65_536));
            10.0 * (p[1024 * k] / p[1024]).log10()
        };
        assert!(
            harmonic_db(0.0, 3) < -30.0,
            "clean at drive 0: {}",
            harmonic_db(0.0, 3)
        );
        assert!(
            harmonic_db(1.0, 3) > -15.0,
            "3rd harmonic at drive 1: {}",
            harmonic_db(1.0, 3)
        );
        assert!(
            harmonic_db(1.0, 2) > -40.0,
            "asymmetry gives a 2nd harmonic: {}",
            harmonic_db(1.0, 2)
        );
    }

    #[test]
    fn tone_moves_the_low_pass_and_high_pass() {
        let level = |tone: f32, freq: f32| {
            let mut d = Distortion::new(SR);
            d.set(0.0, 1.0, tone);
            let mut y = sine(freq, 0.01, 48_000);
            d.process(&mut y);
            peak(&y[24_000..]) / 0.01
        };
        assert!(
            level(0.0, 6000.0) < 0.1 && level(1.0, 6000.0) > 0.7,
            "treble follows tone"
        );
        assert!(
            level(0.0, 150.0) < 0.4 && level(1.0, 150.0) > 0.6,
            "bass follows tone"
        );
        assert!(level(0.0, 10.0) < 0.02, "sub-sonic input is removed");
    }

    #[test]
    fn equal_power_mix_at_half() {
        let mut d = Distortion::new(SR);
        d.set(0.0, 0.5, 0.5);
        assert!((d.dry_gain - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!((d.dry_gain.powi(2) + d.wet_gain.powi(2) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn extreme_inputs_never_produce_nan() {
        let mut d = Distortion::new(SR);
        for (i, x) in rng_stream(2, 50_000).into_iter().enumerate() {
            if i.is_multiple_of(1000) {
                let r = rng_stream(i as u32, 3);
                d.set(
                    if i.is_multiple_of(3000) {
                        1.0
                    } else {
                        r[0].abs()
                    },
                    r[1].abs(),
                    r[2].abs(),
                );
            }
            let x = match i % 700 {
                0 => f32::NAN,
                1 => f32::NEG_INFINITY,
                2..=40 => 3e38,
                _ => x,
            };
            assert!(d.tick(x).is_finite(), "sample {i}");
        }
        d.set(f32::NAN, f32::NAN, f32::NAN);
        assert!(d.tick(0.5).is_finite());
    }

    /// The original chain, built from `filter`'s one-pole and state-variable low-pass, with
    /// the insert's own gains.
    struct Reference {
        input_hp: OnePole,
        dc_block: OnePole,
        tone_lp: LowPass,
        tone_hp: OnePole,
    }

    impl Reference {
        fn new(d: &Distortion) -> Self {
            let mut tone_hp = OnePole::new(SR, 100.0);
            tone_hp.set(500.0 * 0.2f32.powf(d.tone));
            let mut tone_lp = LowPass::new(SR);
            tone_lp.set(1000.0 * 8f32.powf(d.tone), std::f32::consts::FRAC_1_SQRT_2);
            Self {
                input_hp: OnePole::new(SR, INPUT_HP_HZ),
                dc_block: OnePole::new(SR, DC_BLOCK_HZ),
                tone_lp,
                tone_hp,
            }
        }

        fn tick(&mut self, d: &Distortion, x: f32) -> f32 {
            let x = sanitize(x);
            let h = self.input_hp.highpass(x);
            let shaped = soft_clip(h * d.pre_gain + d.bias) - d.bias_out;
            let w = self.dc_block.highpass(shaped);
            let w = self.tone_lp.tick(w);
            let w = self.tone_hp.highpass(w) * d.makeup;
            let y = d.dry_gain * x + d.wet_gain * w;
            if y.is_finite() {
                y
            } else {
                self.input_hp.reset();
                self.dc_block.reset();
                self.tone_lp.reset();
                self.tone_hp.reset();
                0.0
            }
        }
    }

    /// Blocks of every length through the unguarded passes give the bits of the original
    /// guarded chain: over noise, over silence long enough for the guards to flush the
    /// states, and over non-finite and huge input.
    #[test]
    fn process_gives_the_bits_of_the_filter_chain() {
        let noise = rng_stream(11, 120_000);
        let input: Vec<f32> = noise
            .iter()
            .enumerate()
            .map(|(i, &n)| match i {
                20_000..=90_000 => 0.0,
                95_000 => f32::NAN,
                95_001..=95_010 => 3e38,
                100_000..=100_500 => 1e-25 * n,
                _ => 0.3 * n,
            })
            .collect();
        for &(drive, mix, tone) in &[(0.7, 0.5, 0.5), (1.0, 1.0, 0.0), (0.0, 0.3, 1.0)] {
            let mut d = Distortion::new(SR);
            d.set(drive, mix, tone);
            let mut reference = Reference::new(&d);
            let mut out = input.clone();
            let mut at = 0;
            for len in [1, 7, 64, 65, 200, 512, 31].into_iter().cycle() {
                if at == out.len() {
                    break;
                }
                let end = (at + len).min(out.len());
                d.process(&mut out[at..end]);
                at = end;
            }
            for (i, (&x, &y)) in input.iter().zip(&out).enumerate() {
                let want = reference.tick(&d, x);
                assert_eq!(
                    y.to_bits(),
                    want.to_bits(),
                    "{drive} {mix} {tone}: sample {i}"
                );
            }
        }
    }

    #[test]
    fn process_matches_tick_and_reset_repeats() {
        let input = rng_stream(3, 3000);
        let mut a = Distortion::new(SR);
        a.set(0.8, 0.6, 0.2);
        let block = assert_block_equals_tick(&mut a, &input, |u, b| u.process(b), |u, x| u.tick(x));
        a.reset();
        let mut again = input.clone();
        a.process(&mut again);
        assert_eq!(block, again);
    }
}
