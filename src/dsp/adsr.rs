//! Linear-segment ADSR envelope with the original instrument's output curve (level^0.75).

/// Envelope stage.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Idle,
    Attack,
    Decay,
    Sustain,
    Release,
}

/// Time for the sustain stage to follow a changed sustain level over the full 0..1 range,
/// so that editing sustain on a held note does not click.
const SUSTAIN_SLEW_SECONDS: f64 = 0.005;

/// ADSR envelope with linear segments.
///
/// - Attack rises at a constant slope of 1/`attack` per second from wherever the level is
///   (a retrigger never drops to 0 first), so from silence the peak is reached after `attack`.
/// - Decay falls from 1 to `sustain` in `decay` seconds.
/// - Release falls from the level at gate-off to 0 in `release` seconds.
/// - `set` takes effect immediately, also in the middle of a segment.
///
/// The level is kept in f64 so that segment lengths are exact to the sample even for
/// seconds-long segments.
#[derive(Clone, Debug)]
pub struct Adsr {
    sample_rate: f64,
    attack_s: f64,
    decay_s: f64,
    sustain: f64,
    release_s: f64,
    stage: Stage,
    level: f64,
    release_from: f64,
    attack_step: f64,
    decay_step: f64,
    release_step: f64,
    sustain_step: f64,
    /// The curve of `curved_level`, so held levels (sustain, idle) skip the square roots.
    curved: f32,
    curved_level: f64,
}

impl Adsr {
    /// Creates an idle envelope with the voice defaults (0.01 s, 0.1 s, 0.7, 0.5 s).
    pub fn new(sample_rate: f32) -> Self {
        let sample_rate = f64::from(sample_rate);
        let mut e = Self {
            sample_rate,
            attack_s: 0.0,
            decay_s: 0.0,
            sustain: 0.0,
            release_s: 0.0,
            stage: Stage::Idle,
            level: 0.0,
            release_from: 0.0,
            attack_step: 1.0,
            decay_step: 1.0,
            release_step: 1.0,
            sustain_step: 1.0 / (SUSTAIN_SLEW_SECONDS * sample_rate).max(1.0),
            curved: 0.0,
            curved_level: 0.0,
        };
        e.set(0.01, 0.1, 0.7, 0.5);
        e
    }

    /// Sets the segment times (seconds, ≥ 0) and the sustain level (0..1); NaN values keep
    /// the previous setting.
    pub fn set(&mut self, attack_s: f32, decay_s: f32, sustain: f32, release_s: f32) {
        let keep = |v: f32, old: f64, lo: f64, hi: f64| {
            if v.is_nan() {
                old
            } else {
                f64::from(v).clamp(lo, hi)
            }
        };
        self.attack_s = keep(attack_s, self.attack_s, 0.0, 3600.0);
        self.decay_s = keep(decay_s, self.decay_s, 0.0, 3600.0);
        self.sustain = keep(sustain, self.sustain, 0.0, 1.0);
        self.release_s = keep(release_s, self.release_s, 0.0, 3600.0);
        self.attack_step = self.slope(1.0, self.attack_s);
        self.decay_step = self.slope(1.0 - self.sustain, self.decay_s);
        self.release_step = self.slope(self.release_from, self.release_s);
    }

    /// Per-sample step covering `span` in `seconds` (a segment shorter than one sample ends
    /// on the next sample).
    fn slope(&self, span: f64, seconds: f64) -> f64 {
        let samples = seconds * self.sample_rate;
        if samples > 1.0 {
            span / samples
        } else {
            f64::INFINITY
        }
    }

    /// Opens (attack from the current level) or closes (release from the current level) the gate.
    pub fn gate(&mut self, on: bool) {
        if on {
            self.stage = Stage::Attack;
        } else if self.stage != Stage::Idle && self.stage != Stage::Release {
            if self.level > 0.0 {
                self.stage = Stage::Release;
                self.release_from = self.level;
                self.release_step = self.slope(self.release_from, self.release_s);
            } else {
                self.stage = Stage::Idle;
            }
        }
    }

    /// True once the release has finished (or the gate never opened).
    pub fn is_idle(&self) -> bool {
        self.stage == Stage::Idle
    }

    /// The linear level (before the output curve).
    pub fn level(&self) -> f32 {
        self.level as f32
    }

    /// Advances one sample and returns the curved output level^0.75.
    #[inline]
    pub fn tick(&mut self) -> f32 {
        if !self.advance() {
            return 0.0;
        }
        if self.level != self.curved_level {
            self.curved_level = self.level;
            self.curved = curve(self.level as f32);
        }
        self.curved
    }

    /// Moves the linear level on by one sample; false while idle (output 0).
    #[inline(always)]
    fn advance(&mut self) -> bool {
        match self.stage {
            Stage::Idle => return false,
            Stage::Attack => {
                self.level += self.attack_step;
                if self.level >= 1.0 {
                    self.level = 1.0;
                    self.stage = Stage::Decay;
                }
            }
            Stage::Decay => {
                self.level -= self.decay_step;
                if self.level <= self.sustain {
                    self.level = self.sustain;
                    self.stage = Stage::Sustain;
                }
            }
            Stage::Sustain => {
                let d = self.sustain - self.level;
                if d != 0.0 {
                    self.level += d.clamp(-self.sustain_step, self.sustain_step);
                }
            }
            Stage::Release => {
                self.level -= self.release_step;
                if self.level <= 0.0 {
                    self.level = 0.0;
                    self.stage = Stage::Idle;
                }
            }
        }
        true
    }

    /// Returns to idle at level 0.
    pub fn reset(&mut self) {
        self.stage = Stage::Idle;
        self.level = 0.0;
        self.release_from = 0.0;
    }

    /// Fills `out` with successive output values.
    #[inline(always)]
    pub fn process(&mut self, out: &mut [f32]) {
        if self.stage == Stage::Idle {
            out.fill(0.0);
            return;
        }
        if self.stage == Stage::Sustain && self.level == self.sustain {
            // A held sustain changes nothing: the block is its curved value.
            let c = curve(self.level as f32);
            out.fill(c);
            self.curved_level = self.level;
            self.curved = c;
            return;
        }
        // The level walk is serial, the curve is not: walk first, a stage at a time without a
        // branch on the stage per sample, then curve the whole block in one vectorisable pass
        // (the same values `tick` computes).
        let mut level = self.level;
        let mut i = 0;
        while i < out.len() {
            let rest = &mut out[i..];
            match self.stage {
                Stage::Idle => {
                    rest.fill(0.0);
                    break;
                }
                Stage::Attack => {
                    let step = self.attack_step;
                    // The level only rises: still below the peak after the block means below
                    // it at every sample, so the block needs no test (else redo it with one).
                    if let Some(l) = walk(level, rest, |l| l + step, |l| l < 1.0) {
                        level = l;
                        break;
                    }
                    for o in rest.iter_mut() {
                        level += step;
                        i += 1;
                        if level >= 1.0 {
                            level = 1.0;
                            self.stage = Stage::Decay;
                            *o = 1.0;
                            break;
                        }
                        *o = level as f32;
                    }
                }
                Stage::Decay => {
                    let (step, sustain) = (self.decay_step, self.sustain);
                    if let Some(l) = walk(level, rest, |l| l - step, |l| l > sustain) {
                        level = l;
                        break;
                    }
                    for o in rest.iter_mut() {
                        level -= step;
                        i += 1;
                        if level <= sustain {
                            level = sustain;
                            self.stage = Stage::Sustain;
                            *o = level as f32;
                            break;
                        }
                        *o = level as f32;
                    }
                }
                Stage::Sustain => {
                    let (sustain, step) = (self.sustain, self.sustain_step);
                    while i < out.len() && level != sustain {
                        level += (sustain - level).clamp(-step, step);
                        out[i] = level as f32;
                        i += 1;
                    }
                    // Held from here on: the rest of the block is this level.
                    out[i..].fill(level as f32);
                    break;
                }
                Stage::Release => {
                    let step = self.release_step;
                    if let Some(l) = walk(level, rest, |l| l - step, |l| l > 0.0) {
                        level = l;
                        break;
                    }
                    for o in rest.iter_mut() {
                        level -= step;
                        i += 1;
                        if level <= 0.0 {
                            level = 0.0;
                            self.stage = Stage::Idle;
                            *o = 0.0;
                            break;
                        }
                        *o = level as f32;
                    }
                }
            }
        }
        self.level = level;
        for o in out.iter_mut() {
            *o = curve(*o);
        }
        self.curved_level = level;
        self.curved = curve(level as f32);
    }
}

/// Walks a monotone segment over `out` (writing each level as f32) without a test per
/// sample; returns the final level when it still passes `inside`, so that every earlier
/// level passed it too (the segment moves one way), or `None` to have the caller redo the
/// block sample by sample from `level`.
#[inline(always)]
fn walk(
    level: f64,
    out: &mut [f32],
    step: impl Fn(f64) -> f64,
    inside: impl Fn(f64) -> bool,
) -> Option<f64> {
    let mut l = level;
    for o in out.iter_mut() {
        l = step(l);
        *o = l as f32;
    }
    inside(l).then_some(l)
}

/// The output curve level^0.75 as √l · ⁴√l: two square roots instead of a powf.
#[inline(always)]
fn curve(level: f32) -> f32 {
    let s = level.sqrt();
    s * s.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f32 = 48_000.0;

    fn run(e: &mut Adsr, n: usize) -> Vec<f32> {
        (0..n).map(|_| e.tick()).collect()
    }

    #[test]
    fn attack_reaches_the_peak_at_the_attack_time() {
        for &attack in &[0.001f32, 0.01, 0.5, 2.0] {
            let mut e = Adsr::new(SR);
            e.set(attack, 0.1, 0.7, 0.5);
            e.gate(true);
            let out = run(&mut e, (attack * SR) as usize + 10);
            let first_peak = out.iter().position(|&v| v == 1.0).unwrap() + 1;
            let want = (attack * SR).round() as usize;
            assert!(
                first_peak.abs_diff(want) <= 1,
                "attack {attack}: peak at sample {first_peak}, want {want}"
            );
            // Linear: the level is half way at half the attack.
            e.reset();
            e.gate(true);
            run(&mut e, want / 2);
            assert!((e.level() - 0.5).abs() < 2.0 / want as f32);
        }
    }

    #[test]
    fn decay_lands_on_the_sustain_curve() {
        let mut e = Adsr::new(SR);
        e.set(0.01, 0.1, 0.5, 0.5);
        e.gate(true);
        let out = run(&mut e, 480 + 4800 + 100);
        let want = 0.5f32.powf(0.75);
        assert!(
            (out[480 + 4800 + 50] - want).abs() < 1e-6,
            "{}",
            out[480 + 4800 + 50]
        );
        assert!(
            (out[480 + 4800] - want).abs() < 1e-6,
            "decay ends after 0.1 s"
        );
        assert!(out[480 + 4790] > want + 1e-4, "still decaying just before");
        // The curve is applied everywhere: a quarter of the way down the decay.
        let level_mid = 1.0 - 0.25 * 0.5;
        assert!((out[479 + 1200] - (level_mid as f32).powf(0.75)).abs() < 1e-3);
    }

    #[test]
    fn retrigger_attacks_from_the_current_level() {
        let mut e = Adsr::new(SR);
        e.set(0.1, 0.1, 0.6, 0.2);
        e.gate(true);
        run(&mut e, 10_000);
        e.gate(false);
        run(&mut e, 4800);
        let before = e.level();
        assert!(
            (before - 0.3).abs() < 1e-3,
            "half way through the release: {before}"
        );
        e.gate(true);
        let next = e.tick();
        assert!(e.level() > before, "no drop to zero on retrigger");
        assert!((e.level() - before - 1.0 / 4800.0).abs() < 1e-6);
        assert!((next - e.level().powf(0.75)).abs() < 1e-6);
        // From 0.3 at the full-range slope, the peak comes after 70 % of the attack.
        let out = run(&mut e, 4000);
        let peak = out.iter().position(|&v| v == 1.0).unwrap() + 2;
        assert!(peak.abs_diff(3360) <= 1, "peak after {peak} samples");
    }

    #[test]
    fn release_falls_from_the_current_level_in_the_release_time() {
        let mut e = Adsr::new(SR);
        e.set(0.1, 0.1, 0.8, 0.25);
        e.gate(true);
        run(&mut e, 2400); // mid-attack, level 0.5
        let from = e.level();
        e.gate(false);
        let out = run(&mut e, 12_100);
        assert!((e.level()).abs() < 1e-9 && e.is_idle());
        let first = out[0].powf(4.0 / 3.0);
        assert!(
            (from - first - from / 12_000.0).abs() < 1e-6,
            "release starts at {from}: {first}"
        );
        let silent = out.iter().position(|&v| v == 0.0).unwrap() + 1;
        assert!(silent.abs_diff(12_000) <= 1, "release ended after {silent}");
        e.gate(false);
        assert!(e.is_idle());
    }

    #[test]
    fn times_apply_at_once_and_sustain_changes_glide() {
        let mut e = Adsr::new(SR);
        e.set(2.0, 0.1, 0.5, 0.5);
        e.gate(true);
        run(&mut e, 480);
        assert!((e.level() - 0.005).abs() < 1e-5);
        e.set(0.01, 0.1, 0.5, 0.5);
        run(&mut e, 100);
        assert!(
            (e.level() - (0.005 + 100.0 / 480.0)).abs() < 1e-4,
            "the new attack slope applies mid-segment"
        );
        run(&mut e, 10_000);
        e.set(0.01, 0.1, 0.9, 0.5);
        let out = run(&mut e, 300);
        let worst = out
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(worst < 0.01, "sustain edit glides: step {worst}");
        assert!((e.level() - 0.9).abs() < 1e-6);
    }

    #[test]
    fn zero_times_jump_and_nan_keeps_settings() {
        let mut e = Adsr::new(SR);
        e.set(0.0, 0.0, 0.25, 0.0);
        e.gate(true);
        assert_eq!(e.tick(), 1.0);
        assert_eq!(e.level(), 0.25f32.max(e.level()).min(1.0));
        e.tick();
        assert_eq!(e.level(), 0.25);
        e.set(f32::NAN, f32::NAN, f32::NAN, f32::NAN);
        e.gate(false);
        assert_eq!(e.tick(), 0.0);
        assert!(e.is_idle());
    }

    #[test]
    fn process_matches_tick_and_reset_repeats() {
        let mut a = Adsr::new(SR);
        a.set(0.003, 0.01, 0.4, 0.02);
        a.gate(true);
        let mut b = a.clone();
        let mut block = vec![0.0; 3000];
        a.process(&mut block[..1000]);
        a.gate(false);
        a.process(&mut block[1000..]);
        for (i, &v) in block.iter().enumerate() {
            if i == 1000 {
                b.gate(false);
            }
            assert_eq!(v.to_bits(), b.tick().to_bits(), "sample {i}");
        }
        a.reset();
        a.gate(true);
        let mut again = vec![0.0; 1000];
        a.process(&mut again);
        assert_eq!(&block[..1000], &again[..]);
    }

    #[test]
    fn process_matches_tick_through_every_stage_in_blocks_of_any_length() {
        for cut in [1, 5, 32, 100] {
            let mut a = Adsr::new(SR);
            a.set(0.002, 0.003, 0.5, 0.004);
            let mut b = a.clone();
            let mut block = vec![0.0; 2000];
            let mut want = vec![0.0; 2000];
            for (i, w) in want.iter_mut().enumerate() {
                match i {
                    10 => b.gate(true),
                    500 => b.set(0.002, 0.003, 0.9, 0.004),
                    900 => b.gate(false),
                    1000 => b.gate(true),
                    1100 => b.gate(false),
                    _ => {}
                }
                *w = b.tick();
            }
            let mut at = 0;
            while at < block.len() {
                let mut end = (at + cut).min(block.len());
                for edge in [10, 500, 900, 1000, 1100] {
                    if at == edge {
                        match edge {
                            500 => a.set(0.002, 0.003, 0.9, 0.004),
                            10 | 1000 => a.gate(true),
                            _ => a.gate(false),
                        }
                    }
                    if at < edge {
                        end = end.min(edge);
                    }
                }
                a.process(&mut block[at..end]);
                at = end;
            }
            for (i, (x, y)) in block.iter().zip(&want).enumerate() {
                assert_eq!(x.to_bits(), y.to_bits(), "blocks of {cut}, sample {i}");
            }
            assert!(a.is_idle());
        }
    }
}
