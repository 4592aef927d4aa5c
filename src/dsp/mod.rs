//! Real-time DSP units of the Chronus engine.
//!
//! Every unit is a plain struct: it allocates only in `new`, processes `f32` samples one at a
//! time (`tick`, always inlined) or in blocks (`process`, bit-identical to repeated `tick`), is
//! deterministic (noise is seeded) and guards its feedback paths against denormals and
//! non-finite values: a unit whose state goes non-finite resets itself.

mod acid;
mod adsr;
// The BLEP design runs in build.rs; the library keeps its constants, the tests its function.
#[cfg_attr(not(test), allow(dead_code))]
mod blep_design;
mod control;
mod delay;
mod dist;
mod filter;
mod limiter;
mod osc;
mod reverb;
#[cfg(test)]
mod testutil;

pub use acid::AcidFilter;
pub use adsr::Adsr;
pub use control::{Lfo, Portamento, Smoother};
pub use delay::Delay;
pub use dist::Distortion;
pub use filter::{Biquad, LowPass};
pub use limiter::Limiter;
pub use osc::{Oscillator, Waveform};
pub use reverb::Reverb;

use std::f32::consts::{FRAC_PI_2, PI, TAU};

/// Returns 0 for tiny (|x| < 1e-20) and non-finite values, `x` otherwise. Always inlined,
/// so the feedback loops that use it are compiled for wide lanes too.
#[inline(always)]
pub fn flush_denormal(x: f32) -> f32 {
    let a = x.abs();
    if (1e-20..=f32::MAX).contains(&a) {
        x
    } else {
        0.0
    }
}

/// Largest input magnitude a feedback unit accepts; larger values are clamped so that no
/// internal gain can overflow `f32`.
const INPUT_LIMIT: f32 = 1.0e6;

/// Clamps `x` to ±[`INPUT_LIMIT`] and maps NaN to 0.
#[inline(always)]
pub(crate) fn sanitize(x: f32) -> f32 {
    if x.abs() <= INPUT_LIMIT {
        x
    } else if x.is_nan() {
        0.0
    } else {
        INPUT_LIMIT.copysign(x)
    }
}

/// Smooth saturator: a rational tanh-like curve, exactly ±1 beyond |x| = 3, slope 1 at 0.
#[inline(always)]
pub(crate) fn soft_clip(x: f32) -> f32 {
    if x.abs() >= 3.0 {
        1.0f32.copysign(x)
    } else {
        let x2 = x * x;
        x * (27.0 + x2) / (27.0 + 9.0 * x2)
    }
}

/// sin(t) for |t| <= π/2 (Taylor to degree 11: error < 6e-8).
#[inline]
fn sin_poly(t: f32) -> f32 {
    let t2 = t * t;
    t * (1.0
        + t2 * (-1.0 / 6.0
            + t2 * (1.0 / 120.0
                + t2 * (-1.0 / 5040.0 + t2 * (1.0 / 362_880.0 + t2 * (-1.0 / 39_916_800.0))))))
}

/// cos(t) for |t| <= π/2 (Taylor to degree 12: error < 7e-9).
#[inline]
fn cos_poly(t: f32) -> f32 {
    let t2 = t * t;
    1.0 + t2
        * (-0.5
            + t2 * (1.0 / 24.0
                + t2 * (-1.0 / 720.0
                    + t2 * (1.0 / 40_320.0
                        + t2 * (-1.0 / 3_628_800.0 + t2 * (1.0 / 479_001_600.0))))))
}

/// sin(2π·p) for a phase `p` in [0, 1), without a libm call.
#[inline]
pub(crate) fn sin_2pi(p: f32) -> f32 {
    // Fold the phase into [-1/4, 1/4] cycles, where the polynomial is accurate.
    let q = if p >= 0.5 { p - 1.0 } else { p };
    let q = if q > 0.25 {
        0.5 - q
    } else if q < -0.25 {
        -0.5 - q
    } else {
        q
    };
    sin_poly(q * TAU)
}

/// tan(π·x) for `x` in [0, 0.49]: the bilinear-transform prewarp of a cutoff `x = fc / fs`.
#[inline]
pub(crate) fn tan_pi(x: f32) -> f32 {
    let t = (x * PI).clamp(0.0, FRAC_PI_2 - 0.03);
    sin_poly(t) / cos_poly(t)
}

/// Phase increment per sample for `freq_hz`, clamped to [0, `max_dt`] (NaN → 0).
#[inline]
pub(crate) fn phase_step(freq_hz: f32, inv_sr: f32, max_dt: f32) -> f32 {
    let dt = freq_hz * inv_sr;
    if dt > 0.0 { dt.min(max_dt) } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_denormal_zeroes_tiny_and_non_finite() {
        assert_eq!(flush_denormal(1e-21), 0.0);
        assert_eq!(flush_denormal(-1e-30), 0.0);
        assert_eq!(flush_denormal(f32::NAN), 0.0);
        assert_eq!(flush_denormal(f32::INFINITY), 0.0);
        assert_eq!(flush_denormal(f32::NEG_INFINITY), 0.0);
        assert_eq!(flush_denormal(1e-19), 1e-19);
        assert_eq!(flush_denormal(-0.25), -0.25);
        assert_eq!(flush_denormal(f32::MAX), f32::MAX);
    }

    #[test]
    fn sanitize_clamps_and_removes_nan() {
        assert_eq!(sanitize(f32::NAN), 0.0);
        assert_eq!(sanitize(f32::INFINITY), INPUT_LIMIT);
        assert_eq!(sanitize(-1e30), -INPUT_LIMIT);
        assert_eq!(sanitize(0.5), 0.5);
    }

    #[test]
    fn fast_sine_matches_std_to_1e6() {
        let mut worst = 0.0f32;
        for i in 0..100_000 {
            let p = i as f32 / 100_000.0;
            worst = worst.max((sin_2pi(p) - (p * TAU).sin()).abs());
        }
        assert!(worst < 1e-6, "worst error {worst}");
    }

    #[test]
    fn fast_tan_matches_std_relatively() {
        for i in 1..=470 {
            let x = i as f32 / 1000.0;
            let exact = (f64::from(x) * std::f64::consts::PI).tan();
            let rel = ((f64::from(tan_pi(x)) - exact) / exact).abs();
            assert!(rel < 2e-6, "x {x}: relative error {rel}");
        }
    }

    #[test]
    fn soft_clip_is_bounded_monotonic_and_continuous() {
        let mut prev = soft_clip(-5.0);
        for i in -5000..=5000 {
            let y = soft_clip(i as f32 / 1000.0);
            assert!(y >= prev - 1e-6 && y.abs() <= 1.0 + 1e-6, "x {i}: {y}");
            assert!((y - prev).abs() < 2e-3);
            prev = y;
        }
        assert!((soft_clip(0.01) - 0.01).abs() < 1e-6);
        assert_eq!(
            (soft_clip(3.0), soft_clip(-7.5), soft_clip(1e30)),
            (1.0, -1.0, 1.0)
        );
    }

    /// Every unit in the engine's order, with parameters re-rolled every 256 samples between
    /// legal extremes and beyond, and hostile input mixed in.
    #[test]
    fn whole_chain_survives_random_and_extreme_settings() {
        use super::testutil::rng_stream;
        let sr = 48_000.0;
        let mut osc = Oscillator::new(sr, 1);
        let mut env = Adsr::new(sr);
        let mut lp = LowPass::new(sr);
        let mut acid = AcidFilter::new(sr);
        let mut dist = Distortion::new(sr);
        let mut reverb = Reverb::new(sr);
        let mut delay = Delay::new(sr, 0.6);
        let mut limiter = Limiter::new(sr);
        let noise = rng_stream(77, 96_000);
        for (i, &n) in noise.iter().enumerate() {
            if i.is_multiple_of(256) {
                let r: Vec<f32> = rng_stream(i as u32 + 1, 16)
                    .iter()
                    .map(|v| v.abs())
                    .collect();
                let extreme = (i / 256).is_multiple_of(3);
                osc.set_waveform(Waveform::from_index((r[0] * 6.0) as i32));
                env.set(r[1] * 0.01, r[2] * 0.1, r[3], r[4] * 0.05);
                env.gate(r[5] > 0.3);
                lp.set(
                    50.0 + 7950.0 * r[6],
                    if extreme { 10.0 } else { 0.5 + 9.5 * r[7] },
                );
                acid.set_params(
                    80.0 + 4920.0 * r[8],
                    if extreme { 0.98 } else { r[9] },
                    5000.0 * r[10],
                    0.02 + r[11],
                    if extreme { 1.0 } else { r[12] },
                    r[13],
                    r[14],
                    1.0,
                );
                acid.set_cutoff_mod((r[15] - 0.5) * 1600.0);
                acid.trigger(extreme);
                dist.set(if extreme { 1.0 } else { r[1] }, r[2], r[3]);
                reverb.set(r[4], r[5]);
                delay.set(
                    0.1 + 0.5 * r[6],
                    if extreme { 0.7 } else { r[7] * 0.7 },
                    20.0 + 980.0 * r[8],
                    1000.0 + 9000.0 * r[9],
                );
            }
            let hostile = match i % 5003 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2..=20 => 1e30,
                _ => 0.0,
            };
            let v = osc.tick(20.0 + 4980.0 * n.abs()) * env.tick() + hostile;
            let a = acid.tick(lp.tick(v) + hostile);
            let d = dist.tick(a * 4.0);
            let (rl, rr) = reverb.tick(a);
            let e = delay.tick(a);
            let (l, r) = limiter.tick(d + rl + e, d + rr + e);
            assert!(
                l.is_finite() && r.is_finite() && l.abs() <= 1.0 && r.abs() <= 1.0,
                "sample {i}: {l} {r}"
            );
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn flush_to_zero_flushes_denormal_arithmetic() {
        // Runs on its own test thread, so the MXCSR change stays local to this test.
        let tiny = std::hint::black_box(1.0e-37f32);
        assert!((tiny * 0.01) != 0.0, "denormal results exist before FTZ");
        crate::platform::set_flush_to_zero();
        let tiny = std::hint::black_box(1.0e-37f32);
        assert_eq!(tiny * 0.01, 0.0);
    }
}
