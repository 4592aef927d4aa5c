//! Freeverb-style stereo reverb: 8 damped feedback combs in parallel, then 4 allpasses in
//! series, per side; the right side's delays are longer by a fixed spread.

use super::INPUT_LIMIT;

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
/// Allpasses per side.
const ALLPASSES: usize = 4;
/// Longest span processed at once (size of the scaled-input scratch).
const MAX_SPAN: usize = 256;

/// One sample of the eight combs of a side, a lane per comb.
type Frame = [f32; COMBS];

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

    /// Positions left before the line wraps.
    #[inline(always)]
    fn room(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
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

/// [`super::flush_denormal`], always inlined (so it is compiled for wide lanes too).
#[inline(always)]
fn flush(x: f32) -> f32 {
    let a = x.abs();
    if (1e-20..=f32::MAX).contains(&a) {
        x
    } else {
        0.0
    }
}

/// One side of the reverb: eight damped feedback combs summed, then four allpasses in series.
///
/// The comb memory is one ring of frames (a lane per comb) with one write position: the
/// feedback of all eight combs at a sample is one store, and comb k reads its lane `len[k]`
/// frames behind the write position. A run of samples in which no position wraps and whose
/// reads all predate it (no longer than the shortest comb) is a plain loop: eight loads, the
/// side's sum, the damping and feedback of all eight combs as one vector, one store.
#[derive(Clone, Debug)]
struct Side {
    ring: Box<[Frame]>,
    /// Each comb's delay in samples.
    len: [usize; COMBS],
    write: usize,
    /// Longest run: the shortest comb (reads must predate the run) and the scratch size.
    max_run: usize,
    /// Damping low-pass state of each comb.
    damp_state: Frame,
    allpasses: [Line; ALLPASSES],
}

impl Side {
    fn new(comb_len: [usize; COMBS], allpass_len: [usize; ALLPASSES]) -> Self {
        let len = comb_len.map(|l| l.max(1));
        let longest = len.iter().copied().max().unwrap_or(1);
        let shortest = len.iter().copied().min().unwrap_or(1);
        Self {
            // Room for a whole run beyond the longest comb: a run's writes never meet the
            // reads of the same run.
            ring: vec![[0.0; COMBS]; longest + MAX_SPAN].into_boxed_slice(),
            len,
            write: 0,
            max_run: shortest.min(MAX_SPAN),
            damp_state: [0.0; COMBS],
            allpasses: allpass_len.map(Line::new),
        }
    }

    fn reset(&mut self) {
        self.ring.fill([0.0; COMBS]);
        self.write = 0;
        self.damp_state = [0.0; COMBS];
        self.allpasses.iter_mut().for_each(Line::reset);
    }

    /// The wet output of this side for the scaled input `x` into `out`; returns the largest
    /// magnitude's bits of the output (above `f32::INFINITY`'s when a value is not finite).
    #[inline(always)]
    fn process(&mut self, x: &[f32], out: &mut [f32], (fb, damp): (f32, f32)) -> u32 {
        let n = x.len().min(out.len());
        let size = self.ring.len();
        let mut start = 0;
        while start < n {
            let w = self.write;
            let read: [usize; COMBS] = std::array::from_fn(|k| {
                (if w >= self.len[k] { w } else { w + size }) - self.len[k]
            });
            let mut m = (n - start).min(self.max_run).min(size - w);
            for &r in &read {
                m = m.min(size - r);
            }
            // Reads before the write position end at or before it (m ≤ every comb), reads
            // after it start beyond the run's writes (the ring is a run longer than any comb).
            let (before, after) = self.ring.split_at_mut(w);
            let (dst, beyond) = after.split_at_mut(m);
            let src: [&[Frame]; COMBS] = std::array::from_fn(|k| {
                let r = read[k];
                if r < w {
                    &before[r..r + m]
                } else {
                    &beyond[r - w - m..r - w]
                }
            });
            comb_run(
                src,
                dst,
                &x[start..start + m],
                &mut out[start..start + m],
                &mut self.damp_state,
                (fb, damp),
            );
            self.write = if w + m == size { 0 } else { w + m };
            start += m;
        }
        let mut peak = 0u32;
        let mut start = 0;
        while start < n {
            let m = self
                .allpasses
                .iter()
                .map(Line::room)
                .fold(n - start, usize::min);
            peak = peak.max(allpass_run(&mut self.allpasses, &mut out[start..start + m]));
            self.allpasses.iter_mut().for_each(|l| l.advance(m));
            start += m;
        }
        peak
    }
}

/// The combs over a run: per sample each comb's oldest sample (its lane of its own frame of
/// `src`), their sum into `sum` (in comb order, from 0), the damping low-pass and the feedback
/// `x + fb·state` of all combs stored as the frame `dst`.
#[inline(always)]
fn comb_run(
    src: [&[Frame]; COMBS],
    dst: &mut [Frame],
    x: &[f32],
    sum: &mut [f32],
    state: &mut Frame,
    (fb, damp): (f32, f32),
) {
    let n = dst.len();
    let (x, sum) = (&x[..n], &mut sum[..n]);
    let src: [&[Frame]; COMBS] = src.map(|s| &s[..n]);
    // A local copy stays in a register through the run.
    let mut st = *state;
    for i in 0..n {
        let taps: Frame = std::array::from_fn(|k| src[k][i][k]);
        sum[i] = (((((((0.0 + taps[0]) + taps[1]) + taps[2]) + taps[3]) + taps[4]) + taps[5])
            + taps[6])
            + taps[7];
        let x = x[i];
        let mut feed = [0.0; COMBS];
        for k in 0..COMBS {
            let s = flush(taps[k] + (st[k] - taps[k]) * damp);
            st[k] = s;
            feed[k] = x + s * fb;
        }
        dst[i] = feed;
    }
    *state = st;
}

/// The four allpasses in series (Schroeder: w = x + g·w[n−D], y = w[n−D] − g·w, flat
/// magnitude) and the output gain, in place over a run in which no allpass line wraps;
/// returns the largest magnitude's bits of the output.
#[inline(always)]
fn allpass_run(lines: &mut [Line; ALLPASSES], sig: &mut [f32]) -> u32 {
    let n = sig.len();
    let [a, b, c, d] = lines;
    let mut mem = [a, b, c, d].map(|l| &mut l.buf[l.pos..l.pos + n]);
    let mut peak = 0u32;
    for (i, v) in sig.iter_mut().enumerate() {
        let mut s = *v;
        for m in mem.iter_mut() {
            let delayed = m[i];
            let w = s + ALLPASS_GAIN * delayed;
            m[i] = flush(w);
            s = delayed - ALLPASS_GAIN * w;
        }
        let o = s * OUTPUT_GAIN;
        *v = o;
        peak = peak.max(o.to_bits() & 0x7fff_ffff);
    }
    peak
}

/// [`super::sanitize`], always inlined.
#[inline(always)]
fn sanitize(x: f32) -> f32 {
    if x.abs() <= INPUT_LIMIT {
        x
    } else if x.is_nan() {
        0.0
    } else {
        INPUT_LIMIT.copysign(x)
    }
}

/// Stereo reverb returning only the wet signal; all delay memory is allocated in `new`.
///
/// Each side runs its combs (a vector of eight lanes per sample, see [`Side`]) and then its
/// allpasses (a plain loop over the samples, vectorised across them) over the whole span it is
/// given, split only where a delay line wraps: every stage feeds the next one forward only, so
/// a span's result does not depend on its length and `tick` (a span of one) and `process`
/// agree bit for bit. The loops are compiled for wide lanes where the CPU has them.
#[derive(Clone, Debug)]
pub struct Reverb {
    sides: [Side; 2],
    feedback: f32,
    damp: f32,
    /// The scaled input of a span.
    input: Box<[f32; MAX_SPAN]>,
}

impl Reverb {
    /// Creates the reverb with room 0.5 and damp 0.5 (the `reverb1` defaults).
    pub fn new(sample_rate: f32) -> Self {
        let scale = |n: usize, extra: usize| {
            ((n + extra) as f32 * sample_rate / TUNING_RATE).round() as usize
        };
        let side = |extra: usize| {
            Side::new(
                COMB_TUNING.map(|n| scale(n, extra)),
                ALLPASS_TUNING.map(|n| scale(n, extra)),
            )
        };
        let mut r = Self {
            sides: [side(0), side(STEREO_SPREAD)],
            feedback: 0.0,
            damp: 0.0,
            input: Box::new([0.0; MAX_SPAN]),
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
        self.process(&[x], &mut l, &mut r);
        (l[0], r[0])
    }

    /// Clears all delay lines.
    pub fn reset(&mut self) {
        self.sides.iter_mut().for_each(Side::reset);
    }

    /// Processes `input` into the wet `left` and `right` outputs (up to the shortest length).
    pub fn process(&mut self, input: &[f32], left: &mut [f32], right: &mut [f32]) {
        crate::platform::with_wide_lanes(|| self.process_spans(input, left, right));
    }

    #[inline(always)]
    fn process_spans(&mut self, input: &[f32], left: &mut [f32], right: &mut [f32]) {
        let n = input.len().min(left.len()).min(right.len());
        let params = (self.feedback, self.damp);
        let mut start = 0;
        while start < n {
            let end = n.min(start + MAX_SPAN);
            let x = &mut self.input[..end - start];
            for (d, &v) in x.iter_mut().zip(&input[start..end]) {
                *d = sanitize(v) * INPUT_GAIN;
            }
            let [l, r] = &mut self.sides;
            let peak = l.process(x, &mut left[start..end], params).max(r.process(
                x,
                &mut right[start..end],
                params,
            ));
            if peak >= f32::INFINITY.to_bits() {
                self.reset();
                left[start..end].fill(0.0);
                right[start..end].fill(0.0);
            }
            start = end;
        }
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
