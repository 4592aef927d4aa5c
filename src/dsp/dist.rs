//! Master distortion: HP 20 Hz → asymmetric waveshaper → DC block → tone → gain
//! compensation → equal-power dry/wet.

use std::f32::consts::FRAC_PI_2;

use super::filter::{LowPass, OnePole};
use super::{sanitize, soft_clip};

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

/// Distortion insert with `drive`, `mix` and `tone` (all 0..1).
///
/// `tone` sweeps the post-shaper low-pass 1 → 8 kHz and the high-pass 500 → 100 Hz
/// (exponentially): 0 is dark and thin, 1 is bright and full. The wet path is scaled so a
/// −12 dBFS sine keeps its RMS level at any drive; dry and wet are mixed with equal power.
#[derive(Clone, Debug)]
pub struct Distortion {
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
    tone_lp: LowPass,
    tone_hp: OnePole,
    /// The wet chain is idle (mix 0) and its filters are cleared.
    bypassed: bool,
}

impl Distortion {
    /// Creates the insert with the `dist1` defaults (drive 0, mix 0, tone 0.5).
    pub fn new(sample_rate: f32) -> Self {
        let mut d = Self {
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
            tone_lp: LowPass::new(sample_rate),
            tone_hp: OnePole::new(sample_rate, 100.0),
            bypassed: false,
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
            self.tone_lp
                .set(1000.0 * 8f32.powf(tone), std::f32::consts::FRAC_1_SQRT_2);
            self.tone_hp.set(500.0 * 0.2f32.powf(tone));
        }
    }

    /// Gain that gives a sine at the reference level the same RMS after the shaper (and its
    /// DC removal) as before it; evaluated over one period, only when the drive changes.
    fn reference_makeup(&self) -> f32 {
        const POINTS: usize = 64;
        let (mut sum, mut sum_sq) = (0.0f32, 0.0f32);
        for i in 0..POINTS {
            let x = REFERENCE_LEVEL * (std::f32::consts::TAU * i as f32 / POINTS as f32).sin();
            let y = soft_clip(x * self.pre_gain + self.bias) - self.bias_out;
            sum += y;
            sum_sq += y * y;
        }
        let mean = sum / POINTS as f32;
        let rms = (sum_sq / POINTS as f32 - mean * mean).max(1e-12).sqrt();
        REFERENCE_LEVEL * std::f32::consts::FRAC_1_SQRT_2 / rms
    }

    /// Processes one sample.
    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 {
        let x = sanitize(x);
        if self.wet_gain == 0.0 {
            // At mix 0 (the default) the wet chain is inaudible: skip it, and start it from
            // a clean state when the mix opens again.
            if !self.bypassed {
                self.reset();
                self.bypassed = true;
            }
            return x;
        }
        self.bypassed = false;
        let h = self.input_hp.highpass(x);
        let shaped = soft_clip(h * self.pre_gain + self.bias) - self.bias_out;
        let w = self.dc_block.highpass(shaped);
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
        self.input_hp.reset();
        self.dc_block.reset();
        self.tone_lp.reset();
        self.tone_hp.reset();
    }

    /// Processes `buf` in place.
    pub fn process(&mut self, buf: &mut [f32]) {
        for x in buf {
            *x = self.tick(*x);
        }
    }
}

#[cfg(test)]
mod tests {
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
