//! Measurement helpers for the DSP unit tests (FFT, windows, deterministic noise).

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// |FFT| of `x` for bins 0..=N/2, without a window (for decaying impulse responses).
pub fn magnitude_spectrum(x: &[f32]) -> Vec<f32> {
    power_spectrum_windowed(x, &vec![1.0; x.len()])
        .into_iter()
        .map(|p| p.sqrt() as f32)
        .collect()
}

/// |FFT|² of `x`·`window` for bins 0..=N/2.
pub fn power_spectrum_windowed(x: &[f32], window: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut buf: Vec<Complex<f64>> = x
        .iter()
        .zip(window)
        .map(|(&s, &w)| Complex::new(f64::from(s) * w, 0.0))
        .collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    buf[..=n / 2].iter().map(|c| c.norm_sqr()).collect()
}

/// 4-term Blackman-Harris window (-92 dB side lobes).
pub fn blackman_harris(n: usize) -> Vec<f64> {
    let (a0, a1, a2, a3) = (0.35875, 0.48829, 0.14128, 0.01168);
    (0..n)
        .map(|i| {
            let t = std::f64::consts::TAU * i as f64 / n as f64;
            a0 - a1 * t.cos() + a2 * (2.0 * t).cos() - a3 * (3.0 * t).cos()
        })
        .collect()
}

/// Frequency of the strongest spectral peak: Blackman-Harris window, then a parabola through
/// the log magnitudes of the peak bin and its neighbours.
pub fn peak_frequency(x: &[f32], sample_rate: f32) -> f64 {
    let p = power_spectrum_windowed(x, &blackman_harris(x.len()));
    let k = (1..p.len() - 1)
        .max_by(|&a, &b| p[a].total_cmp(&p[b]))
        .unwrap();
    let (l, c, r) = (p[k - 1].ln(), p[k].ln(), p[k + 1].ln());
    let delta = 0.5 * (l - r) / (l - 2.0 * c + r);
    (k as f64 + delta) * f64::from(sample_rate) / x.len() as f64
}

/// Deterministic uniform noise in [-1, 1).
pub fn rng_stream(seed: u32, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// Asserts that a unit's block `process` gives bit for bit what repeated `tick` gives from the
/// same state, and returns the block output. `unit` is left as `process` left it.
pub fn assert_block_equals_tick<U: Clone>(
    unit: &mut U,
    input: &[f32],
    process: impl Fn(&mut U, &mut [f32]),
    tick: impl Fn(&mut U, f32) -> f32,
) -> Vec<f32> {
    let mut b = unit.clone();
    let mut block = input.to_vec();
    process(unit, &mut block);
    for (i, &x) in input.iter().enumerate() {
        assert_eq!(block[i].to_bits(), tick(&mut b, x).to_bits(), "sample {i}");
    }
    block
}
