//! Level meters and an 8-band spectrum of the master, reported about 30 times a second.

/// Band centres of the spectrum, in Hz.
pub const BAND_CENTRES: [f32; 8] = [63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0];
/// Reports per second.
const REPORTS_PER_SECOND: f32 = 30.0;
/// Band-pass resonance: wide enough that neighbouring octave bands overlap a little.
const BAND_Q: f32 = 1.4;
/// Release time of the band peak followers.
const RELEASE_S: f32 = 0.1;
/// The bottom of the spectrum's scale.
const FLOOR_DB: f32 = -60.0;

/// Eight RBJ band-pass biquads (0 dB at the centre) run side by side on the mono master,
/// decimated by two at high sample rates, with per-band peak followers.
///
/// The filters are written out here rather than taken from `dsp::Biquad` so the eight bands
/// can run as one straight-line loop over arrays (which the compiler vectorises): the input
/// is the limited master (|x| ≤ 1), so the per-sample guards a general filter needs are not.
#[derive(Debug, Clone)]
pub(crate) struct Analyser {
    b0: [f32; 8],
    a1: [f32; 8],
    a2: [f32; 8],
    z1: [f32; 8],
    z2: [f32; 8],
    /// Peak |band output| since the last report.
    window: [f32; 8],
    /// Followed level: peak hold with an exponential release applied per report.
    env: [f32; 8],
    release_per_report: f32,
    decimate: u64,
    /// Samples between reports.
    pub period: u64,
}

impl Analyser {
    pub fn new(sample_rate: f32) -> Analyser {
        // Two-fold decimation halves the cost; below 32 kHz the top band would alias.
        let decimate: u64 = if sample_rate >= 32000.0 { 2 } else { 1 };
        let rate = sample_rate / decimate as f32;
        let period = ((sample_rate / REPORTS_PER_SECOND).round() as u64).max(1);
        let mut a = Analyser {
            b0: [0.0; 8],
            a1: [0.0; 8],
            a2: [0.0; 8],
            z1: [0.0; 8],
            z2: [0.0; 8],
            window: [0.0; 8],
            env: [0.0; 8],
            release_per_report: (-(period as f32) / (RELEASE_S * sample_rate)).exp(),
            decimate,
            period,
        };
        for (k, &centre) in BAND_CENTRES.iter().enumerate() {
            let w = std::f32::consts::TAU * centre.min(rate * 0.45) / rate;
            let alpha = w.sin() / (2.0 * BAND_Q);
            let norm = 1.0 / (1.0 + alpha);
            a.b0[k] = alpha * norm;
            a.a1[k] = -2.0 * w.cos() * norm;
            a.a2[k] = (1.0 - alpha) * norm;
        }
        a
    }

    /// Feeds the mono master; `first_sample` is the absolute index of `mono[0]` (the
    /// decimation follows absolute time so results do not depend on buffer sizes).
    pub fn feed(&mut self, mono: &[f32], first_sample: u64) {
        let skip = ((self.decimate - first_sample % self.decimate) % self.decimate) as usize;
        // The eight bands fill one AVX2 register where there is one.
        crate::platform::with_wide_lanes(
            #[inline(always)]
            || self.feed_bands(mono, skip),
        );
    }

    #[inline(always)]
    fn feed_bands(&mut self, mono: &[f32], skip: usize) {
        let (b0, a1, a2) = (self.b0, self.a1, self.a2);
        let (mut z1, mut z2, mut window) = (self.z1, self.z2, self.window);
        let step = self.decimate as usize;
        let mut i = skip;
        while i < mono.len() {
            let x = mono[i];
            for k in 0..8 {
                // Band-pass: b1 = 0, b2 = −b0 (transposed direct form II).
                let y = b0[k] * x + z1[k];
                z1[k] = z2[k] - a1[k] * y;
                z2[k] = -b0[k] * x - a2[k] * y;
                window[k] = window[k].max(y.abs());
            }
            i += step;
        }
        (self.z1, self.z2, self.window) = (z1, z2, window);
    }

    /// Closes the report window; returns the bands mapped to 0..1 (−60..0 dB).
    pub fn report(&mut self) -> [f32; 8] {
        if !self
            .z1
            .iter()
            .chain(&self.z2)
            .chain(&self.window)
            .all(|v| v.is_finite())
        {
            self.reset();
        }
        for k in 0..8 {
            self.env[k] = self.window[k].max(self.env[k] * self.release_per_report);
            self.window[k] = 0.0;
        }
        self.env.map(|e| {
            if e <= 0.0 {
                0.0
            } else {
                ((20.0 * e.log10() - FLOOR_DB) / -FLOOR_DB).clamp(0.0, 1.0)
            }
        })
    }

    pub fn reset(&mut self) {
        self.z1 = [0.0; 8];
        self.z2 = [0.0; 8];
        self.window = [0.0; 8];
        self.env = [0.0; 8];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_1khz_tone_lights_the_1khz_band_most() {
        let sr = 48000.0;
        let mut a = Analyser::new(sr);
        let tone: Vec<f32> = (0..4800)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / sr).sin())
            .collect();
        a.feed(&tone[..100], 0);
        a.feed(&tone[100..], 100);
        let b = a.report();
        let loudest = (0..8).max_by(|&i, &j| b[i].total_cmp(&b[j])).unwrap();
        assert_eq!(loudest, 4, "{b:?}");
        assert!(b[4] > 0.8 && b[0] < b[4] - 0.3, "{b:?}");
        // 0 dB at the centre: a 0.5 sine reads −6 dB = 0.9 on the 60 dB scale.
        assert!((b[4] - 0.9).abs() < 0.01, "{b:?}");
        // Silence: the follower releases over the next reports.
        let silence = [0.0f32; 1600];
        let mut last = b[4];
        for _ in 0..5 {
            a.feed(&silence, 0);
            let now = a.report()[4];
            assert!(now < last, "{now} vs {last}");
            last = now;
        }
    }
}
