//! Design of the oscillator's BLEP residual table (a Kaiser-windowed sinc, integrated).
//!
//! This file is compiled twice: by `build.rs`, which writes the table into the build's
//! output as `f32` bit patterns (so no start of Chronus spends the ~61 M instructions of the
//! design), and by the unit tests, which compute it again at run time and compare every value
//! bit for bit with the table the oscillator reads. It uses nothing but `std`.

/// Half-length of the BLEP kernel in samples (= the oscillator's output delay).
pub const BLEP_HALF: usize = 8;
/// Taps of the kernel: it reaches `BLEP_HALF` samples either side of the step.
pub const BLEP_TAPS: usize = 2 * BLEP_HALF;
/// Sub-sample resolution of the table.
pub const BLEP_PHASES: usize = 128;
/// Values in the table: each tap stores `BLEP_PHASES + 1` points.
pub const BLEP_LEN: usize = BLEP_TAPS * (BLEP_PHASES + 1);
/// Cutoff of the band-limited step, as a fraction of the sample rate.
const BLEP_CUTOFF: f64 = 0.45;
/// Kaiser window shape: ~80 dB stop band.
const BLEP_KAISER_BETA: f64 = 8.0;

/// Modified Bessel function of the first kind, order 0 (for the Kaiser window).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= half / k as f64;
        sum += term * term;
        if term * term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// The BLEP residual table: for tap `j` (sample offset j − 8 from the step) and sub-sample
/// phase `i/128`, the band-limited step minus the naive step, at `j * 129 + i`. Each tap
/// stores 129 points so interpolation never straddles the step itself.
pub fn blep_residuals() -> Vec<f32> {
    let w = BLEP_HALF as f64;
    let kernel = |t: f64| -> f64 {
        let r = t / w;
        if r.abs() >= 1.0 {
            return 0.0;
        }
        let x = 2.0 * BLEP_CUTOFF * t;
        let sinc = if x.abs() < 1e-12 {
            1.0
        } else {
            (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
        };
        2.0 * BLEP_CUTOFF * sinc * bessel_i0(BLEP_KAISER_BETA * (1.0 - r * r).sqrt())
    };
    // Integrate the kernel on a fine grid (trapezoid, 64 steps per table point).
    const SUB: usize = 64;
    let points = BLEP_TAPS * BLEP_PHASES;
    let h = 1.0 / (BLEP_PHASES * SUB) as f64;
    let mut integral = vec![0.0f64; points + 1];
    let mut acc = 0.0;
    let mut prev = kernel(-w);
    for (i, slot) in integral.iter_mut().enumerate().skip(1) {
        for s in 1..=SUB {
            let t = -w + ((i - 1) * SUB + s) as f64 * h;
            let k = kernel(t);
            acc += 0.5 * (prev + k) * h;
            prev = k;
        }
        *slot = acc;
    }
    let total = integral[points];
    let mut table = Vec::with_capacity(BLEP_LEN);
    for j in 0..BLEP_TAPS {
        let naive = if j >= BLEP_HALF { 1.0 } else { 0.0 };
        for i in 0..=BLEP_PHASES {
            table.push((integral[j * BLEP_PHASES + i] / total - naive) as f32);
        }
    }
    table
}
