//! Freeverb-style stereo reverb: 8 damped feedback combs in parallel, then 4 allpasses in
//! series, per side; the right side's delays are longer by a fixed spread.

use super::sanitize;
use crate::platform::{Lanes, OnLanes, with_lanes};

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
/// Samples a vector step of the loops across samples handles (an AVX register of f32), and
/// the samples of a block of the combs.
const LANES: usize = 8;
/// Longest span processed at once (size of the scaled-input scratch): the buses' span.
const MAX_SPAN: usize = 512;

/// One sample of the eight combs of a side, a lane per comb.
type Frame = [f32; COMBS];

/// A circular delay line whose read and write position coincide (read the oldest sample,
/// then overwrite it with the newest).
///
/// The buffer has [`LANES`] positions of slack after the line's end, so a block of eight
/// samples can run on past the wrap: before it, the line's head is copied there (what the
/// block reads past the end), after it copied back (what the block wrote there).
#[derive(Clone, Debug)]
struct Line {
    buf: Box<[f32]>,
    /// Length of the line (the buffer is [`LANES`] longer).
    len: usize,
    pos: usize,
}

impl Line {
    fn new(len: usize) -> Self {
        let len = len.max(1);
        Self {
            buf: vec![0.0; len + LANES].into_boxed_slice(),
            len,
            pos: 0,
        }
    }

    /// Positions left before the line wraps.
    #[inline(always)]
    fn room(&self) -> usize {
        self.len - self.pos
    }

    /// Whether a block can run past this line's wrap: its head and the end the block writes
    /// before the wrap do not overlap.
    fn crossable(&self) -> bool {
        self.len >= 2 * LANES
    }

    /// Before a block of [`LANES`] samples: if it crosses the wrap, the head to the slack.
    #[inline(always)]
    fn head_to_slack(&mut self) {
        if self.room() < LANES {
            let (line, slack) = self.buf.split_at_mut(self.len);
            slack[..LANES].copy_from_slice(&line[..LANES]);
        }
    }

    /// After a block of [`LANES`] samples (before `advance`): if it crossed the wrap, what
    /// it wrote to the slack back to the head.
    #[inline(always)]
    fn slack_to_head(&mut self) {
        if self.room() < LANES {
            let (line, slack) = self.buf.split_at_mut(self.len);
            line[..LANES].copy_from_slice(&slack[..LANES]);
        }
    }

    #[inline(always)]
    fn advance(&mut self, n: usize) {
        self.pos += n;
        if self.pos >= self.len {
            self.pos -= self.len;
        }
    }

    fn reset(&mut self) {
        self.buf.fill(0.0);
        self.pos = 0;
    }
}

/// How many samples the next step over lines with `room` positions before the nearest wrap
/// goes, with `left` samples of the span left; true when it is a block across a wrap. Whole
/// blocks up to the wrap, then a block across it; samples one by one only at the span's end
/// (or where a line is too short to cross).
#[inline(always)]
fn step(room: usize, left: usize, crossable: bool) -> (usize, bool) {
    if room >= left {
        (left, false)
    } else if room >= LANES {
        (room - room % LANES, false)
    } else if left >= LANES && crossable {
        (LANES, true)
    } else {
        (room, false)
    }
}

/// One side of the reverb: eight damped feedback combs summed, then four allpasses in series.
#[derive(Clone, Debug)]
struct Side {
    combs: [Line; COMBS],
    /// Damping low-pass state of each comb.
    damp_state: Frame,
    allpasses: [Line; ALLPASSES],
    /// Whether blocks can run past the wraps of the combs' and of the allpasses' lines.
    crossable: (bool, bool),
}

impl Side {
    fn new(comb_len: [usize; COMBS], allpass_len: [usize; ALLPASSES]) -> Self {
        let (combs, allpasses) = (comb_len.map(Line::new), allpass_len.map(Line::new));
        Self {
            crossable: (
                combs.iter().all(Line::crossable),
                allpasses.iter().all(Line::crossable),
            ),
            combs,
            damp_state: [0.0; COMBS],
            allpasses,
        }
    }

    fn reset(&mut self) {
        self.combs.iter_mut().for_each(Line::reset);
        self.damp_state = [0.0; COMBS];
        self.allpasses.iter_mut().for_each(Line::reset);
    }

    /// The next `n` positions of each comb line's buffer, from its current one (none wraps
    /// within; a block across a wrap runs on into the slack).
    #[inline(always)]
    fn comb_run(&mut self, n: usize) -> ([&mut [f32]; COMBS], &mut Frame) {
        let [c0, c1, c2, c3, c4, c5, c6, c7] = &mut self.combs;
        let lines = [c0, c1, c2, c3, c4, c5, c6, c7].map(|l| &mut l.buf[l.pos..l.pos + n]);
        (lines, &mut self.damp_state)
    }

    /// The allpasses in place over `sig` (the summed combs); returns the largest magnitude's
    /// bits of the output (above `f32::INFINITY`'s when a value is not finite).
    #[inline(always)]
    fn allpasses(&mut self, sig: &mut [f32]) -> u32 {
        let n = sig.len();
        let mut peak = 0u32;
        let mut start = 0;
        while start < n {
            let room = self.allpasses.iter().map(Line::room).fold(n, usize::min);
            let (m, across) = step(room, n - start, self.crossable.1);
            if across {
                self.allpasses.iter_mut().for_each(Line::head_to_slack);
            }
            peak = peak.max(allpass_run(&mut self.allpasses, &mut sig[start..start + m]));
            if across {
                self.allpasses.iter_mut().for_each(Line::slack_to_head);
            }
            self.allpasses.iter_mut().for_each(|l| l.advance(m));
            start += m;
        }
        peak
    }
}

/// The combs of both sides over the scaled input `x`: the sum of each side's eight oldest
/// samples (in comb order, from 0) into `out`, and per sample the damping low-pass and the
/// feedback `x + fb·state` of all combs written back. Eight samples a block (see
/// [`comb_blocks`]) up to the nearest wrap of a line, then a block across it (see [`Line`]);
/// one by one only the samples at the span's end that do not fill a block.
#[inline(always)]
fn combs<L: Lanes>(
    lanes: L,
    sides: &mut [Side; 2],
    x: &[f32],
    [out_l, out_r]: [&mut [f32]; 2],
    params: (f32, f32),
) {
    let n = x.len().min(out_l.len()).min(out_r.len());
    let mut start = 0;
    let crossable = sides[0].crossable.0 && sides[1].crossable.0;
    while start < n {
        let room = sides
            .iter()
            .flat_map(|s| s.combs.iter().map(Line::room))
            .fold(n, usize::min);
        let (m, across) = step(room, n - start, crossable);
        if across {
            sides
                .iter_mut()
                .flat_map(|s| s.combs.iter_mut())
                .for_each(Line::head_to_slack);
        }
        let [l, r] = sides;
        let ((mut lines_l, state_l), (mut lines_r, state_r)) = (l.comb_run(m), r.comb_run(m));
        let (x, out_l, out_r) = (
            &x[start..start + m],
            &mut out_l[start..start + m],
            &mut out_r[start..start + m],
        );
        let full = m - m % LANES;
        comb_blocks(
            lanes,
            [
                lines_l.each_mut().map(|l| &mut l[..full]),
                lines_r.each_mut().map(|l| &mut l[..full]),
            ],
            &x[..full],
            [&mut out_l[..full], &mut out_r[..full]],
            [&mut *state_l, &mut *state_r],
            params,
        );
        for i in full..m {
            out_l[i] = comb_step(&mut lines_l, i, x[i], state_l, params);
            out_r[i] = comb_step(&mut lines_r, i, x[i], state_r, params);
        }
        sides
            .iter_mut()
            .flat_map(|s| s.combs.iter_mut())
            .for_each(|l| {
                if across {
                    l.slack_to_head();
                }
                l.advance(m);
            });
        start += m;
    }
}

/// The sum of the taps of a side's eight combs (from 0.0, in comb order).
#[inline(always)]
fn tap_sum(taps: &Frame) -> f32 {
    taps.iter().fold(0.0, |sum, &t| sum + t)
}

/// The sums of eight rows' values at each position (from 0.0, in row order): the taps' sums
/// of a block of eight samples, added as vectors.
#[inline(always)]
fn column_sum(rows: &[&mut [f32; LANES]; COMBS]) -> [f32; LANES] {
    let mut sum = [0.0; LANES];
    for row in rows {
        for (s, &v) in sum.iter_mut().zip(row.iter()) {
            *s += v;
        }
    }
    sum
}

/// [`super::flush_denormal`] in four vector instructions instead of five, with a shorter latency in
/// the combs' feedback chain: the bits of |x| are shifted so that infinities and NaNs wrap to
/// negative numbers, then one signed comparison keeps 1e-20 ≤ |x| ≤ `f32::MAX`. The same
/// result for every input (tested).
#[inline(always)]
fn flush_tiny(x: f32) -> f32 {
    /// Moves `f32::INFINITY`'s bits to `i32::MIN`.
    const SHIFT: i32 = 0x0080_0000;
    const LOWEST: i32 = 1e-20f32.to_bits() as i32 + SHIFT;
    let t = ((x.to_bits() & 0x7fff_ffff) as i32).wrapping_add(SHIFT);
    if t >= LOWEST { x } else { 0.0 }
}

/// One comb sample: the damping low-pass of a tap and the feedback `x + fb·state` of it.
#[inline(always)]
fn comb_lane(tap: f32, state: &mut f32, x: f32, (fb, damp): (f32, f32)) -> f32 {
    let s = flush_tiny(tap + (*state - tap) * damp);
    *state = s;
    x + s * fb
}

/// One sample of the eight combs of a side at position `i` of their runs; returns their taps'
/// sum.
#[inline(always)]
fn comb_step(
    lines: &mut [&mut [f32]; COMBS],
    i: usize,
    x: f32,
    state: &mut Frame,
    params: (f32, f32),
) -> f32 {
    let taps: Frame = std::array::from_fn(|k| lines[k][i]);
    for k in 0..COMBS {
        lines[k][i] = comb_lane(taps[k], &mut state[k], x, params);
    }
    tap_sum(&taps)
}

/// Both sides' combs over runs a whole number of blocks long in which no line wraps. A block
/// is eight consecutive samples of each of the eight lines of a side: read as eight vectors
/// and transposed (a vector per sample, a lane per comb), then the eight samples one after the
/// other over the combs' state, transposed back and written as eight samples per line. Each
/// line is longer than a block (at least 16 positions where a block crosses its wrap), so a
/// block never reads what it writes.
/// The two sides' serial chains are interleaved, so one's latency hides the other's.
#[inline(always)]
fn comb_blocks<L: Lanes>(
    lanes: L,
    [lines_l, lines_r]: [[&mut [f32]; COMBS]; 2],
    x: &[f32],
    [out_l, out_r]: [&mut [f32]; 2],
    [state_l, state_r]: [&mut Frame; 2],
    params: (f32, f32),
) {
    #[inline(always)]
    fn blocks(l: &mut [f32]) -> &mut [[f32; LANES]] {
        l.as_chunks_mut().0
    }
    let (x, _) = x.as_chunks::<LANES>();
    let n = x.len();
    // Each sliced on its own (not through `map`), so the compiler sees every length is `n`
    // and checks no index in the loop.
    let [l0, l1, l2, l3, l4, l5, l6, l7] = lines_l;
    let (l0, l1, l2, l3) = (
        &mut blocks(l0)[..n],
        &mut blocks(l1)[..n],
        &mut blocks(l2)[..n],
        &mut blocks(l3)[..n],
    );
    let (l4, l5, l6, l7) = (
        &mut blocks(l4)[..n],
        &mut blocks(l5)[..n],
        &mut blocks(l6)[..n],
        &mut blocks(l7)[..n],
    );
    let [r0, r1, r2, r3, r4, r5, r6, r7] = lines_r;
    let (r0, r1, r2, r3) = (
        &mut blocks(r0)[..n],
        &mut blocks(r1)[..n],
        &mut blocks(r2)[..n],
        &mut blocks(r3)[..n],
    );
    let (r4, r5, r6, r7) = (
        &mut blocks(r4)[..n],
        &mut blocks(r5)[..n],
        &mut blocks(r6)[..n],
        &mut blocks(r7)[..n],
    );
    let (out_l, out_r) = (&mut blocks(out_l)[..n], &mut blocks(out_r)[..n]);
    // Local copies stay in registers through the run.
    let (mut sl, mut sr) = (*state_l, *state_r);
    for b in 0..n {
        let rows_l = [
            &mut l0[b], &mut l1[b], &mut l2[b], &mut l3[b], &mut l4[b], &mut l5[b], &mut l6[b],
            &mut l7[b],
        ];
        let rows_r = [
            &mut r0[b], &mut r1[b], &mut r2[b], &mut r3[b], &mut r4[b], &mut r5[b], &mut r6[b],
            &mut r7[b],
        ];
        let taps_l = lanes.load_transposed(rows_l.each_ref().map(|r| &**r));
        let taps_r = lanes.load_transposed(rows_r.each_ref().map(|r| &**r));
        out_l[b] = column_sum(&rows_l);
        out_r[b] = column_sum(&rows_r);
        let mut feed_l = [[0.0; COMBS]; LANES];
        let mut feed_r = [[0.0; COMBS]; LANES];
        for j in 0..LANES {
            let x = x[b][j];
            for k in 0..COMBS {
                feed_l[j][k] = comb_lane(taps_l[j][k], &mut sl[k], x, params);
                feed_r[j][k] = comb_lane(taps_r[j][k], &mut sr[k], x, params);
            }
        }
        lanes.store_transposed(feed_l, rows_l);
        lanes.store_transposed(feed_r, rows_r);
    }
    (*state_l, *state_r) = (sl, sr);
}

/// The four allpasses in series (Schroeder: w = x + g·w[n−D], y = w[n−D] − g·w, flat
/// magnitude) and the output gain, in place over a run in which no allpass line wraps (or
/// one block across a wrap, see [`Line`]);
/// returns the largest magnitude's bits of the output.
#[inline(always)]
fn allpass_run(lines: &mut [Line; ALLPASSES], sig: &mut [f32]) -> u32 {
    let n = sig.len();
    let [a, b, c, d] = lines;
    let mut mem = [a, b, c, d].map(|l| &mut l.buf[l.pos..l.pos + n]);
    // One sample through the four stages and the output gain.
    let step = |s: f32, delayed: [f32; ALLPASSES]| {
        let mut s = s;
        let mut out = [0.0; ALLPASSES];
        for (o, &delayed) in out.iter_mut().zip(&delayed) {
            let w = s + ALLPASS_GAIN * delayed;
            *o = flush_tiny(w);
            s = delayed - ALLPASS_GAIN * w;
        }
        (s * OUTPUT_GAIN, out)
    };
    // Eight samples a step (one vector each), written so that no check is left inside.
    let mut peaks = [0u32; LANES];
    let full = n - n % LANES;
    let [m0, m1, m2, m3] = &mut mem;
    for ((((sig, m0), m1), m2), m3) in sig[..full]
        .chunks_exact_mut(LANES)
        .zip(m0[..full].chunks_exact_mut(LANES))
        .zip(m1[..full].chunks_exact_mut(LANES))
        .zip(m2[..full].chunks_exact_mut(LANES))
        .zip(m3[..full].chunks_exact_mut(LANES))
    {
        let mut s: [f32; LANES] = std::array::from_fn(|j| sig[j]);
        for m in [m0, m1, m2, m3] {
            let delayed: [f32; LANES] = std::array::from_fn(|j| m[j]);
            let w: [f32; LANES] = std::array::from_fn(|j| s[j] + ALLPASS_GAIN * delayed[j]);
            for j in 0..LANES {
                m[j] = flush_tiny(w[j]);
            }
            s = std::array::from_fn(|j| delayed[j] - ALLPASS_GAIN * w[j]);
        }
        for j in 0..LANES {
            let o = s[j] * OUTPUT_GAIN;
            sig[j] = o;
            peaks[j] = peaks[j].max(o.to_bits() & 0x7fff_ffff);
        }
    }
    let mut peak = peaks.into_iter().fold(0, u32::max);
    for i in full..n {
        let (o, written) = step(sig[i], std::array::from_fn(|a| mem[a][i]));
        for (m, w) in mem.iter_mut().zip(written) {
            m[i] = w;
        }
        sig[i] = o;
        peak = peak.max(o.to_bits() & 0x7fff_ffff);
    }
    peak
}

/// Stereo reverb returning only the wet signal; all delay memory is allocated in `new`.
///
/// Both sides run their combs (eight samples a block, a vector of eight lanes per sample, see
/// [`comb_blocks`]) and then each its allpasses (a plain loop over the samples, vectorised
/// across them) over the whole span they are given, eight samples a block, a block running on
/// past a line's wrap (see [`Line`]): every stage feeds the next one forward only, and each
/// sample's arithmetic is the same in a block and alone, so a span's result does not depend
/// on its length
/// and `tick` (a span of one) and `process` agree bit for bit. The loops are compiled for wide
/// lanes where the CPU has them.
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
        /// A call of `process_spans`, run with the CPU's lanes.
        struct Spans<'a> {
            reverb: &'a mut Reverb,
            input: &'a [f32],
            left: &'a mut [f32],
            right: &'a mut [f32],
        }
        impl OnLanes for Spans<'_> {
            type Output = ();
            #[inline(always)]
            fn run<L: Lanes>(self, lanes: L) {
                self.reverb
                    .process_spans(lanes, self.input, self.left, self.right);
            }
        }
        with_lanes(Spans {
            reverb: self,
            input,
            left,
            right,
        });
    }

    #[inline(always)]
    fn process_spans<L: Lanes>(
        &mut self,
        lanes: L,
        input: &[f32],
        left: &mut [f32],
        right: &mut [f32],
    ) {
        let n = input.len().min(left.len()).min(right.len());
        let params = (self.feedback, self.damp);
        let mut start = 0;
        while start < n {
            let end = n.min(start + MAX_SPAN);
            let x = &mut self.input[..end - start];
            for (d, &v) in x.iter_mut().zip(&input[start..end]) {
                *d = sanitize(v) * INPUT_GAIN;
            }
            let (out_l, out_r) = (&mut left[start..end], &mut right[start..end]);
            combs(
                lanes,
                &mut self.sides,
                x,
                [&mut *out_l, &mut *out_r],
                params,
            );
            let [l, r] = &mut self.sides;
            let peak = l.allpasses(out_l).max(r.allpasses(out_r));
            if peak >= f32::INFINITY.to_bits() {
                self.reset();
                out_l.fill(0.0);
                out_r.fill(0.0);
            }
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::flush_denormal;
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
    fn flush_tiny_is_flush_denormal() {
        let edges = [
            0.0,
            -0.0,
            1e-20,
            -1e-20,
            f32::from_bits(1e-20f32.to_bits() - 1),
            f32::from_bits(1e-20f32.to_bits() + 1),
            f32::MIN_POSITIVE,
            1e-45,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7fff_ffff),
            f32::from_bits(0xff80_0001),
            1.0,
            -0.5,
        ];
        // Every exponent with a spread of mantissas, both signs.
        let sweep = (0..=u32::MAX).step_by(4099).map(f32::from_bits);
        for x in edges.into_iter().chain(sweep) {
            assert_eq!(
                flush_tiny(x).to_bits(),
                flush_denormal(x).to_bits(),
                "{x:e} ({:#x})",
                x.to_bits()
            );
        }
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
        // 22.05 and 8 kHz make the shortest line shorter than a 128-sample chunk; at 1 kHz
        // the allpasses' lines are too short for a block to cross their wraps (the combs'
        // are not), at 300 Hz the combs' too.
        for &rate in &[48_000.0, 22_050.0, 8_000.0, 1_000.0, 300.0] {
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

    #[test]
    fn wide_lanes_and_the_portable_code_agree_bit_for_bit() {
        let input = rng_stream(3, 3000);
        let run = |wide: bool| {
            crate::platform::allow_wide_lanes(wide);
            let mut r = Reverb::new(SR);
            r.set(0.9, 0.2);
            let (mut l, mut rt) = (vec![0.0; 3000], vec![0.0; 3000]);
            for (k, (x, (l, rt))) in input
                .chunks(37)
                .zip(l.chunks_mut(37).zip(rt.chunks_mut(37)))
                .enumerate()
            {
                // Spans of 37 and of 1 samples cross every line's wrap.
                if k % 3 == 0 {
                    for j in 0..x.len() {
                        r.process(&x[j..j + 1], &mut l[j..j + 1], &mut rt[j..j + 1]);
                    }
                } else {
                    r.process(x, l, rt);
                }
            }
            crate::platform::allow_wide_lanes(true);
            (l, rt)
        };
        let (wide, portable) = (run(true), run(false));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&wide.0), bits(&portable.0));
        assert_eq!(bits(&wide.1), bits(&portable.1));
        assert!(
            wide.0[2000..].iter().any(|&v| v != 0.0),
            "the tail is heard"
        );
    }
}
