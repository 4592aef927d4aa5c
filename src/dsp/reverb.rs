//! Freeverb-style stereo reverb: 8 damped feedback combs in parallel, then 4 allpasses in
//! series, per side; the right side's delays are longer by a fixed spread.

use super::{flush_denormal, sanitize};

/// Comb delays in samples at 44.1 kHz (mutually prime-ish, 25–37 ms), scaled to the rate.
const COMB_TUNING: [usize; 8] = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
/// Allpass delays in samples at 44.1 kHz (5–12.6 ms).
const ALLPASS_TUNING: [usize; 4] = [556, 441, 341, 225];
/// Extra delay of the right side at 44.1 kHz: decorrelates the two channels.
const STEREO_SPREAD: usize = 23;
const TUNING_RATE: f32 = 44_100.0;
/// Input scaling: eight combs of gain up to 1/(1 − 0.98) sum up.
const INPUT_GAIN: f32 = 0.015;
/// Allpass coefficient.
const ALLPASS_GAIN: f32 = 0.5;
/// Comb feedback range: room 0 → 0.7, room 1 → 0.98.
const ROOM_OFFSET: f32 = 0.7;
const ROOM_SCALE: f32 = 0.28;
/// Damping range: damp 1 → a one-pole coefficient of 0.4 in each comb's feedback.
const DAMP_SCALE: f32 = 0.4;
/// Output scaling so a long tail has roughly the level of its input.
const OUTPUT_GAIN: f32 = 3.0;

/// Combs per side.
const COMBS: usize = 8;
/// All comb lines: left side 0..8, right side 8..16.
const LINES: usize = 2 * COMBS;
/// Allpasses per side.
const ALLPASSES: usize = 4;
/// Longest chunk processed at once (scratch size).
const MAX_CHUNK: usize = 128;

/// A circular delay line whose read and write position coincide (read the oldest sample,
/// then overwrite it with the newest).
#[derive(Clone, Debug)]
struct Line {
    buf: Box<[f32]>,
    pos: usize,
}

impl Line {
    fn new(len: usize) -> Self {
        Self {
            buf: vec![0.0; len.max(1)].into_boxed_slice(),
            pos: 0,
        }
    }

    /// Splits the next `n` positions into the part before and after the wrap.
    #[inline]
    fn first_len(&self, n: usize) -> usize {
        (self.buf.len() - self.pos).min(n)
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        self.pos += n;
        if self.pos >= self.buf.len() {
            self.pos -= self.buf.len();
        }
    }

    fn reset(&mut self) {
        self.buf.fill(0.0);
        self.pos = 0;
    }
}

/// Runs a Schroeder allpass (flat magnitude: w = x + g·w[n−D], y = w[n−D] − g·w) over a
/// segment whose delayed samples all predate it.
#[inline]
fn allpass_segment(buf: &mut [f32], sig: &mut [f32]) {
    for (d, s) in buf.iter_mut().zip(sig.iter_mut()) {
        let delayed = *d;
        let w = *s + ALLPASS_GAIN * delayed;
        *d = flush_denormal(w);
        *s = delayed - ALLPASS_GAIN * w;
    }
}

/// Stereo reverb returning only the wet signal; all delay memory is allocated in `new`.
///
/// Work is done in chunks no longer than the shortest delay line: within such a chunk every
/// sample a line reads was written before the chunk, so the 16 combs (two sides of 8) run
/// side by side as vector lanes and each allpass is a plain loop over the chunk (each
/// loop auto-vectorised, four samples a step). Comb memory moves in and out of the lanes
/// four samples of four combs at a time. Per sample the arithmetic (and its order)
/// is the same whatever the chunk length, so `tick` (a chunk of one) and `process` agree
/// bit for bit.
#[derive(Clone, Debug)]
pub struct Reverb {
    combs: [Line; LINES],
    /// Damping low-pass state of each comb.
    damp_state: [f32; LINES],
    allpasses: [Line; 2 * ALLPASSES],
    chunk: usize,
    feedback: f32,
    damp: f32,
    scratch: Box<Scratch>,
}

/// Per-chunk working memory, allocated once.
#[derive(Clone, Debug)]
struct Scratch {
    input: [f32; MAX_CHUNK],
    taps: [[f32; LINES]; MAX_CHUNK],
    feed: [[f32; LINES]; MAX_CHUNK],
    left: [f32; MAX_CHUNK],
    right: [f32; MAX_CHUNK],
}

impl Reverb {
    /// Creates the reverb with room 0.5 and damp 0.5 (the `reverb1` defaults).
    pub fn new(sample_rate: f32) -> Self {
        let scale = |n: usize, extra: usize| {
            ((n + extra) as f32 * sample_rate / TUNING_RATE).round() as usize
        };
        let combs: [Line; LINES] = std::array::from_fn(|k| {
            let extra = if k < COMBS { 0 } else { STEREO_SPREAD };
            Line::new(scale(COMB_TUNING[k % COMBS], extra))
        });
        let allpasses: [Line; 2 * ALLPASSES] = std::array::from_fn(|k| {
            let extra = if k < ALLPASSES { 0 } else { STEREO_SPREAD };
            Line::new(scale(ALLPASS_TUNING[k % ALLPASSES], extra))
        });
        let shortest = combs
            .iter()
            .chain(allpasses.iter())
            .map(|l| l.buf.len())
            .min()
            .unwrap_or(1);
        let mut r = Self {
            combs,
            damp_state: [0.0; LINES],
            allpasses,
            chunk: shortest.min(MAX_CHUNK),
            feedback: 0.0,
            damp: 0.0,
            scratch: Box::new(Scratch {
                input: [0.0; MAX_CHUNK],
                taps: [[0.0; LINES]; MAX_CHUNK],
                feed: [[0.0; LINES]; MAX_CHUNK],
                left: [0.0; MAX_CHUNK],
                right: [0.0; MAX_CHUNK],
            }),
        };
        r.set(0.5, 0.5);
        r
    }

    /// Sets room size and high-frequency damping (each 0..1; NaN keeps the old value).
    pub fn set(&mut self, room: f32, damp: f32) {
        if !room.is_nan() {
            self.feedback = ROOM_OFFSET + ROOM_SCALE * room.clamp(0.0, 1.0);
        }
        if !damp.is_nan() {
            self.damp = DAMP_SCALE * damp.clamp(0.0, 1.0);
        }
    }

    /// Feeds one mono sample and returns the wet (left, right) pair.
    #[inline]
    pub fn tick(&mut self, x: f32) -> (f32, f32) {
        let (mut l, mut r) = ([0.0f32], [0.0f32]);
        self.process_chunk(&[x], &mut l, &mut r);
        (l[0], r[0])
    }

    /// Processes at most `self.chunk` samples, inside which no comb line wraps: the combs as
    /// lanes (gather and sum per side, damp and feed back, write back), then the all-passes in
    /// series, then the output.
    fn process_chunk(&mut self, input: &[f32], left: &mut [f32], right: &mut [f32]) {
        let n = input.len();
        let sc = &mut *self.scratch;
        for (d, &x) in sc.input[..n].iter_mut().zip(input) {
            *d = sanitize(x) * INPUT_GAIN;
        }
        gather_taps(
            &self.combs,
            &mut sc.taps[..n],
            &mut sc.left[..n],
            &mut sc.right[..n],
        );
        let (fb, damp) = (self.feedback, self.damp);
        damp_and_feed(
            &sc.taps[..n],
            &sc.input[..n],
            &mut sc.feed[..n],
            &mut self.damp_state,
            (fb, damp),
        );
        write_back(&mut self.combs, &sc.feed[..n]);
        for (a, line) in self.allpasses.iter_mut().enumerate() {
            let sig = if a < ALLPASSES {
                &mut sc.left[..n]
            } else {
                &mut sc.right[..n]
            };
            let first = line.first_len(n);
            let pos = line.pos;
            let (head, tail) = sig.split_at_mut(first);
            allpass_segment(&mut line.buf[pos..pos + first], head);
            allpass_segment(&mut line.buf[..n - first], tail);
            line.advance(n);
        }
        let mut finite = true;
        for (o, &v) in left.iter_mut().zip(&sc.left[..n]) {
            *o = v * OUTPUT_GAIN;
            finite &= o.is_finite();
        }
        for (o, &v) in right.iter_mut().zip(&sc.right[..n]) {
            *o = v * OUTPUT_GAIN;
            finite &= o.is_finite();
        }
        if !finite {
            self.reset();
            left.fill(0.0);
            right.fill(0.0);
        }
    }

    /// Clears all delay lines.
    pub fn reset(&mut self) {
        self.combs.iter_mut().for_each(Line::reset);
        self.allpasses.iter_mut().for_each(Line::reset);
        self.damp_state = [0.0; LINES];
    }

    /// Processes `input` into the wet `left` and `right` outputs (up to the shortest length).
    pub fn process(&mut self, input: &[f32], left: &mut [f32], right: &mut [f32]) {
        let n = input.len().min(left.len()).min(right.len());
        let mut start = 0;
        while start < n {
            // A chunk ends where the first comb line wraps, so each comb's part of it is
            // one run of memory.
            let room = self
                .combs
                .iter()
                .map(|l| l.buf.len() - l.pos)
                .min()
                .unwrap_or(1);
            let end = (start + self.chunk.min(room)).min(n);
            self.process_chunk(
                &input[start..end],
                &mut left[start..end],
                &mut right[start..end],
            );
            start = end;
        }
    }
}

/// Every comb's outputs for the chunk, one lane per comb, and each side's sum of its combs
/// (in comb order, from 0). Four samples of four combs at a time: four loads from the lines
/// are summed as they are (a lane per sample) and transposed (a lane per comb) in registers.
/// No line may wrap inside the chunk.
fn gather_taps(
    combs: &[Line; LINES],
    taps: &mut [[f32; LINES]],
    left: &mut [f32],
    right: &mut [f32],
) {
    let n = taps.len();
    left.fill(0.0);
    right.fill(0.0);
    let full = n - n % 4;
    for g in (0..LINES).step_by(4) {
        let src: [&[f32]; 4] =
            std::array::from_fn(|l| &combs[g + l].buf[combs[g + l].pos..combs[g + l].pos + n]);
        let sum = if g < COMBS { &mut *left } else { &mut *right };
        for i in (0..full).step_by(4) {
            let q: [[f32; 4]; 4] = std::array::from_fn(|l| {
                let s = &src[l][i..i + 4];
                [s[0], s[1], s[2], s[3]]
            });
            let acc = &mut sum[i..i + 4];
            for (s, a) in acc.iter_mut().enumerate() {
                *a = (((*a + q[0][s]) + q[1][s]) + q[2][s]) + q[3][s];
            }
            for (s, row) in taps[i..i + 4].iter_mut().enumerate() {
                row[g..g + 4].copy_from_slice(&[q[0][s], q[1][s], q[2][s], q[3][s]]);
            }
        }
        for i in full..n {
            for (l, src) in src.iter().enumerate() {
                taps[i][g + l] = src[i];
                sum[i] += src[i];
            }
        }
    }
}

/// Damping low-pass and feedback for all combs at once; `(feedback, damp)`.
fn damp_and_feed(
    taps: &[[f32; LINES]],
    input: &[f32],
    feed: &mut [[f32; LINES]],
    state: &mut [f32; LINES],
    (fb, damp): (f32, f32),
) {
    // A local copy stays in registers (four vectors of four lanes) through the chunk.
    let mut st = *state;
    for ((taps, feed), &x) in taps.iter().zip(feed.iter_mut()).zip(input) {
        for k in 0..LINES {
            let s = flush_denormal(taps[k] + (st[k] - taps[k]) * damp);
            st[k] = s;
            feed[k] = x + s * fb;
        }
    }
    *state = st;
}

/// Writes each comb's feedback back into its line and moves it on: four samples of four
/// combs at a time, transposed back to a lane per sample. No line may wrap inside the chunk.
fn write_back(combs: &mut [Line; LINES], feed: &[[f32; LINES]]) {
    let n = feed.len();
    let full = n - n % 4;
    for (g, group) in combs.chunks_exact_mut(4).enumerate() {
        let g = 4 * g;
        let [a, b, c, d] = group else {
            unreachable!("chunks of four")
        };
        let mut dst: [&mut [f32]; 4] = [a, b, c, d].map(|l| &mut l.buf[l.pos..l.pos + n]);
        for i in (0..full).step_by(4) {
            let rows = &feed[i..i + 4];
            for (l, dst) in dst.iter_mut().enumerate() {
                dst[i..i + 4].copy_from_slice(&[
                    rows[0][g + l],
                    rows[1][g + l],
                    rows[2][g + l],
                    rows[3][g + l],
                ]);
            }
        }
        for i in full..n {
            for (l, dst) in dst.iter_mut().enumerate() {
                dst[i] = feed[i][g + l];
            }
        }
    }
    for line in combs.iter_mut() {
        line.advance(n);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::rng_stream;
    use super::*;

    const SR: f32 = 48_000.0;

    fn impulse_energy_after(room: f32, damp: f32, skip_s: f32) -> f32 {
        let mut r = Reverb::new(SR);
        r.set(room, damp);
        let n = (3.0 * SR) as usize;
        let skip = (skip_s * SR) as usize;
        (0..n)
            .map(|i| r.tick(if i == 0 { 1.0 } else { 0.0 }))
            .skip(skip)
            .map(|(l, r)| l * l + r * r)
            .sum()
    }

    #[test]
    fn output_is_wet_only_and_starts_after_the_shortest_comb() {
        let mut r = Reverb::new(SR);
        let first = (1116.0f32 * SR / 44_100.0).round() as usize;
        assert_eq!(r.chunk, 128);
        let out: Vec<(f32, f32)> = (0..first + 10)
            .map(|i| r.tick(if i == 0 { 1.0 } else { 0.0 }))
            .collect();
        assert!(
            out[..first].iter().all(|&(l, r)| l == 0.0 && r == 0.0),
            "no dry leak"
        );
        assert!(
            out[first].0 != 0.0,
            "left comb echo arrives after {first} samples"
        );
        assert!(out[first].1 == 0.0, "right side is delayed by the spread");
    }

    #[test]
    fn room_lengthens_and_damp_darkens_the_tail() {
        let small = impulse_energy_after(0.1, 0.5, 1.0);
        let large = impulse_energy_after(0.9, 0.5, 1.0);
        assert!(
            large > 100.0 * small,
            "room: tail energy {large} vs {small}"
        );
        let bright = impulse_energy_after(0.8, 0.0, 0.5);
        let dark = impulse_energy_after(0.8, 1.0, 0.5);
        assert!(bright > 2.0 * dark, "damp: tail energy {bright} vs {dark}");
    }

    #[test]
    fn channels_are_decorrelated() {
        let mut r = Reverb::new(SR);
        let input = rng_stream(1, 96_000);
        let (mut ll, mut rr, mut lr) = (0.0f64, 0.0f64, 0.0f64);
        for (i, &x) in input.iter().enumerate() {
            let (l, rt) = r.tick(x);
            if i > 48_000 {
                ll += f64::from(l * l);
                rr += f64::from(rt * rt);
                lr += f64::from(l * rt);
            }
        }
        let corr = lr / (ll * rr).sqrt();
        assert!(corr.abs() < 0.5, "correlation {corr}");
        assert!((ll / rr - 1.0).abs() < 0.3, "balanced sides");
    }

    #[test]
    fn tail_decays_to_exact_silence() {
        let mut r = Reverb::new(SR);
        r.set(1.0, 1.0);
        r.tick(1.0);
        let mut last = (1.0, 1.0);
        for _ in 0..(60.0 * SR) as usize {
            last = r.tick(0.0);
        }
        assert!(last.0.abs() < 1e-12 && last.1.abs() < 1e-12, "{last:?}");
    }

    #[test]
    fn extreme_input_never_produces_nan() {
        let mut r = Reverb::new(SR);
        r.set(1.0, 0.0);
        for i in 0..200_000 {
            let x = match i % 5000 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2..=2000 => 3e38,
                _ => 0.0,
            };
            let (l, rt) = r.tick(x);
            assert!(l.is_finite() && rt.is_finite(), "sample {i}");
        }
        r.set(f32::NAN, f32::NAN);
        assert!(r.tick(0.1).0.is_finite());
    }

    #[test]
    fn process_matches_tick_and_reset_repeats() {
        // 22.05 and 8 kHz make the shortest line shorter than a 128-sample chunk.
        for &rate in &[48_000.0, 22_050.0, 8_000.0] {
            let input = rng_stream(2, 5000);
            let mut a = Reverb::new(rate);
            a.set(0.7, 0.3);
            let mut b = a.clone();
            let (mut l, mut r) = (vec![0.0; 5000], vec![0.0; 5000]);
            a.process(&input, &mut l, &mut r);
            for (i, &x) in input.iter().enumerate() {
                let (bl, br) = b.tick(x);
                assert_eq!(
                    (l[i].to_bits(), r[i].to_bits()),
                    (bl.to_bits(), br.to_bits()),
                    "{rate} Hz, sample {i}"
                );
            }
            a.reset();
            let (mut l2, mut r2) = (vec![0.0; 5000], vec![0.0; 5000]);
            // Uneven block sizes must not matter either.
            let mut start = 0;
            for len in [1, 127, 128, 129, 300, 5000].iter().cycle() {
                let end = (start + len).min(5000);
                a.process(&input[start..end], &mut l2[start..end], &mut r2[start..end]);
                start = end;
                if start == 5000 {
                    break;
                }
            }
            assert_eq!((l, r), (l2, r2), "{rate} Hz");
        }
    }
}
