//! Level meters and an 8-band spectrum of the master, reported about 30 times a second.

use crate::dsp::Biquad;

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

/// Band-pass analyser on the mono master, decimated by two at high sample rates.
#[derive(Debug, Clone)]
pub(crate) struct Analyser {
    bands: [Biquad; 8],
    env: [f32; 8],
    release: f32,
    decimate: u64,
    /// Samples between reports.
    pub period: u64,
}

impl Analyser {
    pub fn new(sample_rate: f32) -> Analyser {
        // Two-fold decimation halves the cost; below 32 kHz the top band would alias.
        let decimate: u64 = if sample_rate >= 32000.0 { 2 } else { 1 };
        let rate = sample_rate / decimate as f32;
        Analyser {
            bands: BAND_CENTRES.map(|c| Biquad::bandpass(rate, c.min(rate * 0.45), BAND_Q)),
            env: [0.0; 8],
            release: (-1.0 / (RELEASE_S * rate)).exp(),
            decimate,
            period: ((sample_rate / REPORTS_PER_SECOND).round() as u64).max(1),
        }
    }

    /// Feeds the mono master; `first_sample` is the absolute index of `mono[0]` (the
    /// decimation follows absolute time so results do not depend on buffer sizes).
    pub fn feed(&mut self, mono: &[f32], first_sample: u64) {
        let skip = ((self.decimate - first_sample % self.decimate) % self.decimate) as usize;
        let mut i = skip;
        while i < mono.len() {
            let x = mono[i];
            for (b, e) in self.bands.iter_mut().zip(self.env.iter_mut()) {
                let y = b.tick(x).abs();
                *e = if y > *e { y } else { *e * self.release };
            }
            i += self.decimate as usize;
        }
        if !self.env.iter().all(|e| e.is_finite()) {
            self.reset();
        }
    }

    /// The bands mapped to 0..1 (−60..0 dB).
    pub fn bands(&self) -> [f32; 8] {
        self.env.map(|e| {
            if e <= 0.0 {
                0.0
            } else {
                ((20.0 * e.log10() - FLOOR_DB) / -FLOOR_DB).clamp(0.0, 1.0)
            }
        })
    }

    pub fn reset(&mut self) {
        self.bands.iter_mut().for_each(Biquad::reset);
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
        let b = a.bands();
        let loudest = (0..8).max_by(|&i, &j| b[i].total_cmp(&b[j])).unwrap();
        assert_eq!(loudest, 4, "{b:?}");
        assert!(b[4] > 0.8 && b[0] < b[4] - 0.3, "{b:?}");
    }
}
