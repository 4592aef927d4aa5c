//! Master limiter: stereo-linked lookahead peak limiter followed by a safety clip.

/// Ceiling of the limiter: −3 dBFS.
const CEILING: f32 = 0.707_945_8;
/// Lookahead (and attack ramp) time.
const LOOKAHEAD_S: f32 = 0.0015;
/// Release time constant.
const RELEASE_S: f32 = 0.05;

/// Stereo-linked peak limiter with a −3 dBFS ceiling.
///
/// The audio is delayed by 1.5 ms. For each sample the gain needed to bring its louder
/// channel to the ceiling is computed; a sliding minimum over the lookahead window, an
/// exponential 50 ms release and a moving average over the window make a smooth gain curve
/// that has fully reached every peak's required gain by the time the peak leaves the delay.
/// A final clip to ±1.0 catches anything else. Non-finite input resets the limiter and is
/// replaced by silence, so the output is always finite and within ±1.0.
#[derive(Clone, Debug)]
pub struct Limiter {
    lookahead: usize,
    release: f32,
    avg_scale: f64,
    lines: Lines,
    cur: Cursor,
    /// Every recent requirement is 1 and the held gain and average rest (see `is_settled`).
    settled: bool,
    /// At least this many of the latest frames required no gain reduction (0: unknown).
    unity_run: usize,
}

/// The limiter's buffers, allocated in `new`.
#[derive(Clone, Debug)]
struct Lines {
    delay_l: Box<[f32]>,
    delay_r: Box<[f32]>,
    delay_gain: Box<[f32]>,
    window_val: Box<[f32]>,
    window_idx: Box<[u64]>,
    avg_buf: Box<[f32]>,
}

/// The limiter's scalar state: kept apart from the buffers so a block loop can hold it in
/// registers while it writes the buffers.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    delay_pos: usize,
    window_head: usize,
    window_len: usize,
    now: u64,
    held: f32,
    avg_pos: usize,
    avg_sum: f64,
    gain: f32,
}

impl Cursor {
    const START: Cursor = Cursor {
        delay_pos: 0,
        window_head: 0,
        window_len: 0,
        now: 0,
        held: 1.0,
        avg_pos: 0,
        avg_sum: 0.0,
        gain: 1.0,
    };
}

impl Limiter {
    /// Creates a limiter with its lookahead buffers sized for `sample_rate`.
    pub fn new(sample_rate: f32) -> Self {
        let lookahead = ((LOOKAHEAD_S * sample_rate).round() as usize).max(1);
        let window = lookahead + 1;
        // Power-of-two queue so indices wrap with a mask.
        let queue = window.next_power_of_two();
        Self {
            lookahead,
            release: (-1.0 / (RELEASE_S * sample_rate).max(1.0)).exp(),
            avg_scale: 1.0 / window as f64,
            lines: Lines {
                delay_l: vec![0.0; lookahead].into_boxed_slice(),
                delay_r: vec![0.0; lookahead].into_boxed_slice(),
                delay_gain: vec![1.0; lookahead].into_boxed_slice(),
                window_val: vec![1.0; queue].into_boxed_slice(),
                window_idx: vec![0; queue].into_boxed_slice(),
                avg_buf: vec![1.0; window].into_boxed_slice(),
            },
            cur: Cursor {
                avg_sum: window as f64,
                ..Cursor::START
            },
            settled: true,
            unity_run: usize::MAX,
        }
    }

    /// The lookahead delay in samples.
    pub fn latency(&self) -> usize {
        self.lookahead
    }

    /// Pushes a required gain and returns the minimum over the last `lookahead + 1` samples
    /// (monotonic queue: amortised O(1)).
    #[inline(always)]
    fn window_min(lines: &mut Lines, c: &mut Cursor, lookahead: usize, g: f32) -> f32 {
        let mask = lines.window_val.len() - 1;
        // Drop entries older than the window first, so the push below always has room.
        let oldest_allowed = c.now.saturating_sub(lookahead as u64);
        while c.window_len > 0 && lines.window_idx[c.window_head] < oldest_allowed {
            c.window_head = (c.window_head + 1) & mask;
            c.window_len -= 1;
        }
        while c.window_len > 0 {
            let back = (c.window_head + c.window_len - 1) & mask;
            if lines.window_val[back] >= g {
                c.window_len -= 1;
            } else {
                break;
            }
        }
        let slot = (c.window_head + c.window_len) & mask;
        lines.window_val[slot] = g;
        lines.window_idx[slot] = c.now;
        c.window_len += 1;
        lines.window_val[c.window_head]
    }

    /// Pushes a frame's required gain and returns the smoothed gain for the frame leaving
    /// the delay: sliding minimum, release, moving average.
    #[inline(always)]
    fn smoothed_gain(&mut self, c: &mut Cursor, needed: f32) -> f32 {
        let min = Self::window_min(&mut self.lines, c, self.lookahead, needed);
        c.now += 1;
        self.hold_and_average(c, min)
    }

    /// Moves the held gain towards the window's minimum `min` (at once down, with the
    /// release up) and returns the moving average of the held gains.
    #[inline(always)]
    fn hold_and_average(&mut self, c: &mut Cursor, min: f32) -> f32 {
        c.held = hold(c.held, min, self.release);
        let lines = &mut self.lines;
        let n = lines.avg_buf.len();
        c.avg_sum += f64::from(c.held) - f64::from(lines.avg_buf[c.avg_pos]);
        lines.avg_buf[c.avg_pos] = c.held;
        c.avg_pos += 1;
        if c.avg_pos == n {
            c.avg_pos = 0;
            // Re-add from scratch once per window so rounding never accumulates.
            c.avg_sum = lines.avg_buf.iter().map(|&v| f64::from(v)).sum();
        }
        (c.avg_sum * self.avg_scale) as f32
    }

    /// Limits one stereo frame of finite samples.
    #[inline(always)]
    fn step(&mut self, c: &mut Cursor, l: f32, r: f32) -> (f32, f32) {
        let needed = required_gain(l, r);
        let smoothed = self.smoothed_gain(c, needed);
        let lines = &mut self.lines;
        let p = c.delay_pos;
        let (dl, dr, needed_then) = (lines.delay_l[p], lines.delay_r[p], lines.delay_gain[p]);
        lines.delay_l[p] = l;
        lines.delay_r[p] = r;
        lines.delay_gain[p] = needed;
        c.delay_pos = if p + 1 == self.lookahead { 0 } else { p + 1 };

        c.gain = applied_gain(smoothed, needed_then);
        (
            (dl * c.gain).clamp(-1.0, 1.0),
            (dr * c.gain).clamp(-1.0, 1.0),
        )
    }

    /// Limits one stereo frame.
    #[inline]
    pub fn tick(&mut self, l: f32, r: f32) -> (f32, f32) {
        let (l, r) = if l.is_finite() && r.is_finite() {
            (l, r)
        } else {
            self.reset();
            (0.0, 0.0)
        };
        let mut c = self.cur;
        let out = self.step(&mut c, l, r);
        self.cur = c;
        // `process` checks again before it takes its shortcuts.
        self.settled = false;
        self.unity_run = 0;
        out
    }

    /// Current gain reduction in dB as a positive number (0 when not limiting).
    pub fn gain_reduction_db(&self) -> f32 {
        if self.cur.gain >= 1.0 {
            0.0
        } else {
            -20.0 * self.cur.gain.max(1e-10).log10()
        }
    }

    /// Clears the lookahead buffers and returns to unity gain.
    pub fn reset(&mut self) {
        let lines = &mut self.lines;
        lines.delay_l.fill(0.0);
        lines.delay_r.fill(0.0);
        lines.delay_gain.fill(1.0);
        lines.avg_buf.fill(1.0);
        self.cur = Cursor {
            avg_sum: lines.avg_buf.len() as f64,
            ..Cursor::START
        };
        self.settled = true;
        self.unity_run = usize::MAX;
    }

    /// Limits the stereo block in place (up to the shorter length).
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        crate::platform::with_wide_lanes(
            #[inline(always)]
            || self.process_wide(left, right),
        );
    }

    /// `process`, inlined into the wide-lane code.
    #[inline(always)]
    fn process_wide(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len().min(right.len());
        let (left, right) = (&mut left[..n], &mut right[..n]);
        // The bits of |x| order like its value, so one integer pass finds any non-finite
        // sample; only then is the per-sample check (and its reset) needed.
        if largest_magnitude(left, right) >= f32::INFINITY.to_bits() {
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                (*l, *r) = self.tick(*l, *r);
            }
            return;
        }
        for (l, r) in left.chunks_mut(CHUNK).zip(right.chunks_mut(CHUNK)) {
            if largest_magnitude(l, r) <= CEILING.to_bits() {
                if self.settled {
                    self.pass_through(l, r);
                    self.unity_run = self.unity_run.saturating_add(l.len());
                } else if self.unity_run >= self.lookahead {
                    self.release_chunk(l, r);
                    self.unity_run = self.unity_run.saturating_add(l.len());
                    self.settled = self.is_settled();
                } else {
                    self.limit_chunk(l, r);
                    self.settled = self.is_settled();
                }
            } else {
                self.limit_chunk(l, r);
                self.settled = self.is_settled();
            }
        }
    }

    /// True when every requirement in the lookahead is 1, the held gain is where the release
    /// leaves it (1, or the float just below that the release never climbs out of), every
    /// value in the average is that held gain and their sum is exact: then a chunk whose
    /// peaks stay under the ceiling changes none of them and the limiter is a delay with a
    /// constant gain.
    #[inline(always)]
    fn is_settled(&self) -> bool {
        let lines = &self.lines;
        let held = self.cur.held;
        (1.0 + (held - 1.0) * self.release).to_bits() == held.to_bits()
            && self.cur.avg_sum == f64::from(held) * lines.avg_buf.len() as f64
            && lines.avg_buf.iter().fold(true, |all, &v| all & (v == held))
            && lines
                .delay_gain
                .iter()
                .fold(true, |all, &v| all & (v == 1.0))
    }

    /// What `step` computes for a settled limiter and a chunk under the ceiling: every
    /// required gain is 1, so the sliding minimum stays 1, the held gain and the average stay
    /// as they are (the average at its exact sum), and the output is the delayed input times
    /// the constant gain the average gives.
    #[inline(always)]
    fn pass_through(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        let lines = &mut self.lines;
        let mut c = self.cur;
        swap_through_ring(left, &mut lines.delay_l, c.delay_pos);
        swap_through_ring(right, &mut lines.delay_r, c.delay_pos);
        c.delay_pos = (c.delay_pos + n) % self.lookahead;
        c.avg_pos = (c.avg_pos + n) % lines.avg_buf.len();
        c.now += n as u64;
        // The window holds only unity requirements: the newest stands for all of them.
        c.window_head = 0;
        c.window_len = 1;
        lines.window_val[0] = 1.0;
        lines.window_idx[0] = c.now - 1;
        c.gain = applied_gain((c.avg_sum * self.avg_scale) as f32, 1.0);
        if c.gain != 1.0 {
            let g = c.gain;
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                *l = (*l * g).clamp(-1.0, 1.0);
                *r = (*r * g).clamp(-1.0, 1.0);
            }
        }
        self.cur = c;
    }

    /// What `step` computes for a chunk under the ceiling when every requirement in the
    /// lookahead is 1 (the gain released after a peak): the sliding minimum is 1 throughout,
    /// so only the release and the average move.
    #[inline(always)]
    fn release_chunk(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        let mut gains = [0.0f32; CHUNK];
        let gains = &mut gains[..n];
        let mut c = self.cur;
        // The held gains (the only serial float chain) first, then their moving average.
        let mut h = c.held;
        for g in gains.iter_mut() {
            h = hold(h, 1.0, self.release);
            *g = h;
        }
        c.held = h;
        let mut smoothed = [0.0f32; CHUNK];
        let smoothed = &mut smoothed[..n];
        average_run(&mut self.lines, &mut c, self.avg_scale, gains, smoothed);
        c.now += n as u64;
        let lines = &mut self.lines;
        // The window holds only unity requirements: the newest stands for all of them.
        c.window_head = 0;
        c.window_len = 1;
        lines.window_val[0] = 1.0;
        lines.window_idx[0] = c.now - 1;
        // The requirements through the delay stay 1.
        swap_through_ring(left, &mut lines.delay_l, c.delay_pos);
        swap_through_ring(right, &mut lines.delay_r, c.delay_pos);
        c.delay_pos = (c.delay_pos + n) % self.lookahead;
        for (g, &s) in gains.iter_mut().zip(smoothed.iter()) {
            *g = applied_gain(s, 1.0);
        }
        c.gain = gains[n - 1];
        apply_gains(left, right, gains);
        self.cur = c;
    }

    /// `step` over a chunk of finite samples, with its independent parts as passes over the
    /// chunk: the required gains, the delay lines, and the gain applied to the delayed audio.
    #[inline(always)]
    fn limit_chunk(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        let mut needed = [0.0f32; CHUNK];
        let mut smoothed = [0.0f32; CHUNK];
        let (needed, smoothed) = (&mut needed[..n], &mut smoothed[..n]);
        for ((g, &l), &r) in needed.iter_mut().zip(left.iter()).zip(right.iter()) {
            *g = required_gain(l, r);
        }
        let unity_tail = needed.iter().rev().take_while(|&&g| g == 1.0).count();
        self.unity_run = if unity_tail == n {
            self.unity_run.saturating_add(n)
        } else {
            unity_tail
        };
        let mut c = self.cur;
        // The sliding minimum, the held gain and the moving average, each a pass of its own
        // (the same steps per frame as `smoothed_gain`: they share no state).
        let mut held = [0.0f32; CHUNK];
        let held = &mut held[..n];
        for (&g, m) in needed.iter().zip(held.iter_mut()) {
            *m = Self::window_min(&mut self.lines, &mut c, self.lookahead, g);
            c.now += 1;
        }
        let mut h = c.held;
        for m in held.iter_mut() {
            h = hold(h, *m, self.release);
            *m = h;
        }
        c.held = h;
        average_run(&mut self.lines, &mut c, self.avg_scale, held, smoothed);
        let lines = &mut self.lines;
        // Through the delay: the audio comes out delayed, and `needed` turns into the
        // requirement of each delayed sample.
        swap_through_ring(left, &mut lines.delay_l, c.delay_pos);
        swap_through_ring(right, &mut lines.delay_r, c.delay_pos);
        swap_through_ring(needed, &mut lines.delay_gain, c.delay_pos);
        c.delay_pos = (c.delay_pos + n) % self.lookahead;
        for (g, &s) in needed.iter_mut().zip(smoothed.iter()) {
            *g = applied_gain(s, *g);
        }
        c.gain = needed[n - 1];
        apply_gains(left, right, needed);
        self.cur = c;
    }
}

/// Frames per pass of [`Limiter::process`].
const CHUNK: usize = 64;

/// The gain that brings the louder channel of a frame to the ceiling (1 below it).
#[inline(always)]
fn required_gain(l: f32, r: f32) -> f32 {
    let peak = l.abs().max(r.abs());
    if peak > CEILING { CEILING / peak } else { 1.0 }
}

/// The gain applied to a delayed frame: the smoothed gain, at most the frame's own
/// requirement (the average is ≤ it by construction; `min` only guards against rounding).
#[inline(always)]
fn applied_gain(smoothed: f32, needed_then: f32) -> f32 {
    smoothed.min(needed_then).clamp(0.0, 1.0)
}

/// The largest `|x|` of both channels, as bits (which order like the values).
#[inline(always)]
fn largest_magnitude(left: &[f32], right: &[f32]) -> u32 {
    left.iter()
        .chain(right.iter())
        .fold(0u32, |m, x| m.max(x.to_bits() & 0x7fff_ffff))
}

/// Delays `buf` through the circular `ring` read and written at `pos`: each sample is
/// exchanged with the one `ring.len()` samples older, exactly as a sample-by-sample ring
/// would, but one contiguous stretch at a time.
#[inline(always)]
fn swap_through_ring(buf: &mut [f32], ring: &mut [f32], mut pos: usize) {
    let mut rest = buf;
    while !rest.is_empty() {
        let len = (ring.len() - pos).min(rest.len());
        let (now, later) = rest.split_at_mut(len);
        now.swap_with_slice(&mut ring[pos..pos + len]);
        rest = later;
        pos = if pos + len == ring.len() {
            0
        } else {
            pos + len
        };
    }
}

/// Multiplies each delayed frame by its gain and clips to ±1.
#[inline(always)]
fn apply_gains(left: &mut [f32], right: &mut [f32], gains: &[f32]) {
    for ((l, r), &g) in left.iter_mut().zip(right.iter_mut()).zip(gains) {
        *l = (*l * g).clamp(-1.0, 1.0);
        *r = (*r * g).clamp(-1.0, 1.0);
    }
}

/// The held gain after `held` meets the window's minimum `min`: down to it at once, up
/// towards it with the release factor.
#[inline(always)]
fn hold(held: f32, min: f32, release: f32) -> f32 {
    if min < held {
        min
    } else {
        min + (held - min) * release
    }
}

/// Pushes the held gains `held` (in order) into the moving average and writes the average
/// after each to `out`: what [`Limiter::hold_and_average`] returns, frame by frame. The
/// differences to the values they replace are a vectorisable pass, the running sum a plain
/// loop; the sum is re-added from scratch where the average's ring wraps, as there.
#[inline(always)]
fn average_run(lines: &mut Lines, c: &mut Cursor, avg_scale: f64, held: &[f32], out: &mut [f32]) {
    let window = lines.avg_buf.len();
    let mut at = 0;
    while at < held.len() {
        let len = (window - c.avg_pos).min(held.len() - at);
        let (h, o) = (&held[at..at + len], &mut out[at..at + len]);
        let ring = &mut lines.avg_buf[c.avg_pos..c.avg_pos + len];
        let mut sums = [0.0f64; CHUNK];
        let sums = &mut sums[..len];
        for ((d, &h), &old) in sums.iter_mut().zip(h).zip(ring.iter()) {
            *d = f64::from(h) - f64::from(old);
        }
        ring.copy_from_slice(h);
        let mut sum = c.avg_sum;
        for d in sums.iter_mut() {
            sum += *d;
            *d = sum;
        }
        c.avg_pos += len;
        if c.avg_pos == window {
            c.avg_pos = 0;
            // Re-add from scratch once per window so rounding never accumulates.
            sum = lines.avg_buf.iter().map(|&v| f64::from(v)).sum();
            sums[len - 1] = sum;
        }
        c.avg_sum = sum;
        for (o, &s) in o.iter_mut().zip(sums.iter()) {
            *o = (s * avg_scale) as f32;
        }
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::rng_stream;
    use super::*;

    const SR: f32 = 48_000.0;

    fn sine(freq: f32, amp: f32, i: usize) -> f32 {
        amp * (std::f32::consts::TAU * freq * i as f32 / SR).sin()
    }

    #[test]
    fn loud_sine_settles_at_minus_3_db_and_never_overshoots() {
        for &(freq, amp) in &[(1000.0, 4.0), (100.0, 2.0), (55.0, 10.0)] {
            let mut lim = Limiter::new(SR);
            let mut steady = 0.0f32;
            for i in 0..(2.0 * SR) as usize {
                let (l, r) = lim.tick(sine(freq, amp, i), 0.5 * sine(freq, amp, i));
                assert!(
                    l.abs() <= CEILING * 1.000_01 && r.abs() <= CEILING,
                    "{freq} Hz: sample {i}: {l}"
                );
                if i > SR as usize {
                    steady = steady.max(l.abs());
                }
            }
            let db = 20.0 * steady.log10();
            assert!(
                (db + 3.0).abs() < 0.1,
                "{freq} Hz × {amp}: steady peak {db} dBFS"
            );
            assert!(lim.gain_reduction_db() > 20.0 * (amp / CEILING).log10() - 0.5);
        }
    }

    #[test]
    fn quiet_signal_passes_unchanged_after_the_lookahead() {
        let mut lim = Limiter::new(SR);
        let d = lim.latency();
        assert_eq!(d, 72);
        let input: Vec<f32> = (0..4800).map(|i| sine(440.0, 0.5, i)).collect();
        for (i, &x) in input.iter().enumerate() {
            let (l, r) = lim.tick(x, -x);
            let want = if i >= d { input[i - d] } else { 0.0 };
            assert_eq!((l, r), (want, -want));
        }
        assert_eq!(lim.gain_reduction_db(), 0.0);
    }

    #[test]
    fn transient_is_caught_before_it_passes_and_released_in_about_50_ms() {
        let mut lim = Limiter::new(SR);
        let mut out = vec![];
        for i in 0..48_000 {
            let x = if (1000..1010).contains(&i) { 8.0 } else { 0.1 };
            out.push(lim.tick(x, x).0);
        }
        let d = lim.latency();
        assert!(out.iter().all(|v| v.abs() <= CEILING * 1.000_01));
        assert!(
            (out[1000 + d] - CEILING).abs() < 1e-4,
            "the peak lands on the ceiling"
        );
        // The gain ramps down over the lookahead rather than jumping.
        assert!(out[1000 + d - 36] < 0.1 && out[1000 + d - 36] > 0.1 * CEILING / 8.0);
        // 50 ms after the burst the gain has recovered most of the way (one time constant).
        let after = out[1010 + d + 2400 + d] / 0.1;
        assert!((0.55..0.75).contains(&after), "gain 50 ms later: {after}");
        assert!((out[47_000] / 0.1 - 1.0).abs() < 1e-3);
    }

    #[test]
    fn sliding_minimum_holds_a_peak_for_exactly_the_window() {
        // A falling staircase of peaks makes the required gain rise every sample, so the
        // queue fills to its capacity; the minimum must still be the oldest in the window.
        let mut lim = Limiter::new(SR);
        let window = lim.latency() as u64 + 1;
        for i in 0..1000u64 {
            let g = 0.1 + i as f32 * 1e-4;
            let mut c = lim.cur;
            let m = Limiter::window_min(&mut lim.lines, &mut c, lim.lookahead, g);
            c.now += 1;
            lim.cur = c;
            let oldest = i.saturating_sub(window - 1);
            assert_eq!(m, 0.1 + oldest as f32 * 1e-4, "sample {i}");
            assert!(lim.cur.window_len as u64 <= window);
        }
    }

    #[test]
    fn non_finite_and_huge_input_never_escape() {
        let mut lim = Limiter::new(SR);
        let noise = rng_stream(3, 50_000);
        for (i, &n) in noise.iter().enumerate() {
            let (l, r) = match i % 997 {
                0 => (f32::NAN, 0.2),
                1 => (0.1, f32::INFINITY),
                2..=300 => (3e38 * n, -3e38),
                301..=400 => (1e-40, -1e-42),
                _ => (50.0 * n, n),
            };
            let (a, b) = lim.tick(l, r);
            assert!(
                a.is_finite() && b.is_finite() && a.abs() <= 1.0 && b.abs() <= 1.0,
                "sample {i}"
            );
        }
    }

    /// Spans of every length, over quiet stretches (the plain delay), loud ones, the way back
    /// to unity gain and a non-finite sample, give what `tick` gives, bit for bit.
    #[test]
    fn spans_through_quiet_and_loud_stretches_match_tick() {
        let noise = rng_stream(6, 60_000);
        let input: Vec<(f32, f32)> = noise
            .iter()
            .enumerate()
            .map(|(i, &n)| match i {
                5_000..=5_100 | 30_000..=30_003 => (3.0 * n, -n),
                12_000..=20_000 => (2.0 * n, 0.1 * n),
                40_000 => (f32::NAN, 0.1),
                _ => (0.7 * n, 0.5 * n),
            })
            .collect();
        let mut a = Limiter::new(SR);
        let mut b = a.clone();
        let (mut l, mut r): (Vec<f32>, Vec<f32>) = input.iter().copied().unzip();
        let mut at = 0;
        let mut shortcut = 0;
        let mut releasing = 0;
        for len in [512, 1, 72, 73, 31, 200, 64, 1000, 7].into_iter().cycle() {
            if at == l.len() {
                break;
            }
            let end = (at + len).min(l.len());
            releasing += usize::from(!a.settled && a.unity_run >= a.lookahead);
            a.process(&mut l[at..end], &mut r[at..end]);
            shortcut += usize::from(a.settled);
            at = end;
        }
        assert!(
            shortcut > 100,
            "quiet spans run as a plain delay: {shortcut}"
        );
        assert!(releasing > 20, "spans run the release alone: {releasing}");
        for (i, &(x, y)) in input.iter().enumerate() {
            let (bl, br) = b.tick(x, y);
            assert_eq!(
                (l[i].to_bits(), r[i].to_bits()),
                (bl.to_bits(), br.to_bits()),
                "frame {i}"
            );
        }
    }

    #[test]
    fn process_matches_tick_and_reset_repeats() {
        let l_in: Vec<f32> = rng_stream(4, 5000).iter().map(|v| v * 3.0).collect();
        let r_in = rng_stream(5, 5000);
        let mut a = Limiter::new(SR);
        let mut b = a.clone();
        let (mut l, mut r) = (l_in.clone(), r_in.clone());
        a.process(&mut l, &mut r);
        for i in 0..l_in.len() {
            let (bl, br) = b.tick(l_in[i], r_in[i]);
            assert_eq!(
                (l[i].to_bits(), r[i].to_bits()),
                (bl.to_bits(), br.to_bits())
            );
        }
        a.reset();
        let (mut l2, mut r2) = (l_in.clone(), r_in.clone());
        a.process(&mut l2, &mut r2);
        assert_eq!((l, r), (l2, r2));
    }
}
