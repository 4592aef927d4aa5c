//! Feedback delay (send bus): mono in, wet out, crossfading between taps when the time changes.

use super::dist::{OnePole, Svf, keeps_one_pole_state, keeps_svf_state};
use super::{flush_denormal, sanitize};

/// Crossfade time between the old and the new tap when the delay time changes.
const CROSSFADE_S: f32 = 0.025;
/// Feedback ceiling: with the loop filters' gain ≤ 1, the loop always decays.
const MAX_FEEDBACK: f32 = 0.95;
/// Samples the feedback filters run at once without their per-sample guards.
const RUN: usize = 64;

/// Feedback delay returning only the wet signal.
///
/// A time change never moves the read position: the unit crossfades (25 ms, linear) from the
/// current tap to a tap at the new time, so there is neither a click nor a pitch bend. While a
/// crossfade runs, further changes are queued and the latest one starts when it ends, so a
/// smoothed sweep of the time becomes a chain of short crossfades ending exactly on target.
/// Echoes are sample-exact (time rounded to whole samples). The feedback path runs through a
/// one-pole high-pass (`lowcut`) and a Butterworth low-pass (`highcut`), so repeats thin out
/// and darken while the first echo is the untouched input.
#[derive(Clone, Debug)]
pub struct Delay {
    sample_rate: f32,
    buf: Box<[f32]>,
    write: usize,
    current: usize,
    next: usize,
    requested: usize,
    fade: f32,
    fade_step: f32,
    fading: bool,
    feedback: f32,
    /// The feedback path's one-pole high-pass and state-variable low-pass: the numbers of
    /// `filter::OnePole` and `filter::LowPass` (held to them by the tests), in the forms
    /// that can run a stretch without their per-sample guards.
    lowcut: OnePole,
    highcut: Svf,
}

impl Delay {
    /// Creates a delay able to reach `max_time_s`, set to 0.25 s, feedback 0.4, lowcut 100 Hz,
    /// highcut 5 kHz (the `delay1` defaults, time clamped to the maximum).
    pub fn new(sample_rate: f32, max_time_s: f32) -> Self {
        let max_samples = if max_time_s.is_finite() {
            (max_time_s.max(0.0) * sample_rate).ceil() as usize
        } else {
            0
        };
        let len = max_samples + 2;
        let mut d = Self {
            sample_rate,
            buf: vec![0.0; len].into_boxed_slice(),
            write: 0,
            current: 1,
            next: 1,
            requested: 1,
            fade: 0.0,
            fade_step: 1.0 / (CROSSFADE_S * sample_rate).max(1.0),
            fading: false,
            feedback: 0.0,
            lowcut: OnePole::new(sample_rate, 100.0),
            highcut: Svf::new(),
        };
        d.set(0.25, 0.4, 100.0, 5000.0);
        d.current = d.requested;
        d
    }

    /// Sets time (s, clamped to 1 sample..max), feedback (clamped to 0..0.95), lowcut and
    /// highcut (Hz) of the feedback path. NaN keeps the old value.
    pub fn set(&mut self, time_s: f32, feedback: f32, lowcut_hz: f32, highcut_hz: f32) {
        if !time_s.is_nan() {
            let samples = (time_s * self.sample_rate).round();
            let max = (self.buf.len() - 1) as f32;
            self.requested = samples.clamp(1.0, max) as usize;
        }
        if !feedback.is_nan() {
            self.feedback = feedback.clamp(0.0, MAX_FEEDBACK);
        }
        if !lowcut_hz.is_nan() {
            self.lowcut.set(self.sample_rate, lowcut_hz);
        }
        if !highcut_hz.is_nan() {
            self.highcut.set(
                self.sample_rate,
                highcut_hz,
                std::f32::consts::FRAC_1_SQRT_2,
            );
        }
    }

    /// The delay in samples the output is currently settling on.
    pub fn delay_samples(&self) -> usize {
        if self.fading { self.next } else { self.current }
    }

    #[inline(always)]
    fn read(line: &[f32], write: usize, delay: usize) -> f32 {
        let i = write + line.len() - delay;
        line[if i >= line.len() { i - line.len() } else { i }]
    }

    /// Feeds one sample and returns the wet output.
    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 {
        let mut line = std::mem::take(&mut self.buf);
        let y = self.step(&mut line, x);
        self.buf = line;
        y
    }

    /// One sample through the delay memory `line` (the unit's own buffer, lent out so the
    /// compiler knows that writing it cannot change the unit's other fields).
    #[inline(always)]
    fn step(&mut self, line: &mut [f32], x: f32) -> f32 {
        let x = sanitize(x);
        if !self.fading && self.requested != self.current {
            self.next = self.requested;
            self.fade = 0.0;
            self.fading = true;
        }
        let y = if self.fading {
            self.fade += self.fade_step;
            let a = Self::read(line, self.write, self.current);
            let b = Self::read(line, self.write, self.next);
            if self.fade >= 1.0 {
                self.current = self.next;
                self.fading = false;
                b
            } else {
                a + (b - a) * self.fade
            }
        } else {
            Self::read(line, self.write, self.current)
        };
        let fed = self.highcut.tick(self.lowcut.highpass(y)) * self.feedback;
        line[self.write] = flush_denormal(x + fed);
        self.write += 1;
        if self.write == line.len() {
            self.write = 0;
        }
        if y.is_finite() {
            y
        } else {
            self.clear(line);
            0.0
        }
    }

    /// Clears the delay memory and filters and jumps to the requested time without a crossfade.
    pub fn reset(&mut self) {
        let mut line = std::mem::take(&mut self.buf);
        self.clear(&mut line);
        self.buf = line;
    }

    fn clear(&mut self, line: &mut [f32]) {
        line.fill(0.0);
        self.write = 0;
        self.current = self.requested;
        self.next = self.requested;
        self.fading = false;
        self.fade = 0.0;
        self.lowcut.s = 0.0;
        (self.highcut.ic1, self.highcut.ic2) = (0.0, 0.0);
    }

    /// Processes `buf` in place (input → wet output).
    pub fn process(&mut self, buf: &mut [f32]) {
        let mut line = std::mem::take(&mut self.buf);
        crate::platform::with_wide_lanes(
            #[inline(always)]
            || self.process_with(&mut line, buf),
        );
        self.buf = line;
    }

    /// The block loop: while the time moves (a crossfade runs or a new time waits), sample by
    /// sample through [`Delay::step`]; otherwise in steady runs, each two plain loops without
    /// the crossfade, the wrap checks and the output guard (same arithmetic, same order).
    #[inline(always)]
    fn process_with(&mut self, line: &mut [f32], buf: &mut [f32]) {
        let mut i = 0;
        while i < buf.len() {
            if self.fading || self.requested != self.current {
                buf[i] = self.step(line, buf[i]);
                i += 1;
            } else {
                i += self.steady_run(line, &mut buf[i..]);
            }
        }
    }

    /// Processes the longest prefix of `buf` (at least one sample) in which neither the read
    /// nor the write position wraps and the samples read are not written; returns its length.
    /// The line holds only finite values (every write goes through `flush_denormal`), so a
    /// steady read is finite and needs no guard.
    ///
    /// First the feedback filters run over the samples read (the only serial work), their
    /// output parked in the slots about to be written; then one loop, vectorised across the
    /// samples, adds the input, flushes, writes the line and puts the taps out.
    #[inline(always)]
    fn steady_run(&mut self, line: &mut [f32], buf: &mut [f32]) -> usize {
        let len = line.len();
        let (w, d) = (self.write, self.current);
        let r = if w >= d { w - d } else { w + len - d };
        let limit = if r < w { d } else { len - d };
        let n = buf.len().min(len - w).min(len - r).min(limit);
        let (read, write) = if r < w {
            let (lo, hi) = line.split_at_mut(w);
            (&lo[r..r + n], &mut hi[..n])
        } else {
            let (lo, hi) = line.split_at_mut(r);
            (&hi[..n], &mut lo[w..w + n])
        };
        for (write, read) in write.chunks_mut(RUN).zip(read.chunks(RUN)) {
            if !self.feedback_unguarded(read, write) {
                let (mut lowcut, mut highcut) = (self.lowcut, self.highcut);
                for (slot, &y) in write.iter_mut().zip(read) {
                    *slot = highcut.tick(lowcut.highpass(y));
                }
                self.lowcut = lowcut;
                self.highcut = highcut;
            }
        }
        let feedback = self.feedback;
        for ((x, &y), slot) in buf[..n].iter_mut().zip(read).zip(write.iter_mut()) {
            *slot = flush_denormal(sanitize(*x) + *slot * feedback);
            *x = y;
        }
        self.write = if w + n == len { 0 } else { w + n };
        n
    }
}

impl Delay {
    /// The feedback filters over `read` (at most [`RUN`] samples) into `out`, without their
    /// per-sample guards: the two state recurrences in one plain loop, the states recorded
    /// and checked afterwards and the low-pass's outputs computed from them, in vectorised
    /// passes. When no guard would have acted, the output is exactly the guarded one: it is
    /// written, and true returned. Otherwise nothing is changed and false returned.
    #[inline(always)]
    fn feedback_unguarded(&mut self, read: &[f32], out: &mut [f32]) -> bool {
        let n = read.len().min(out.len()).min(RUN);
        let (read, out) = (&read[..n], &mut out[..n]);
        // h: the high-pass outputs; s: its states; c1, c2: the low-pass's states before
        // each sample (and after the last).
        let (mut h, mut s) = ([0.0f32; RUN], [0.0f32; RUN]);
        let (mut c1, mut c2) = ([0.0f32; RUN + 1], [0.0f32; RUN + 1]);
        let (mut lowcut, mut highcut) = (self.lowcut, self.highcut);
        (c1[0], c2[0]) = (highcut.ic1, highcut.ic2);
        {
            let (h, s) = (&mut h[..n], &mut s[..n]);
            let (n1s, n2s) = (&mut c1[1..][..n], &mut c2[1..][..n]);
            for i in 0..n {
                let (v, ns) = lowcut.raw(read[i]);
                lowcut.s = ns;
                let (n1, n2) = highcut.next(v);
                (highcut.ic1, highcut.ic2) = (n1, n2);
                (h[i], s[i], n1s[i], n2s[i]) = (v, ns, n1, n2);
            }
        }
        let mut kept = true;
        for &v in &s[..n] {
            kept &= keeps_one_pole_state(v);
        }
        for (&a, &b) in c1[1..=n].iter().zip(&c2[1..=n]) {
            kept &= keeps_svf_state(a, b);
        }
        if !kept {
            return false;
        }
        for (((o, &x), &a), &b) in out.iter_mut().zip(&h[..n]).zip(&c1[..n]).zip(&c2[..n]) {
            *o = highcut.output(a, b, x);
        }
        (self.lowcut, self.highcut) = (lowcut, highcut);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_block_equals_tick, rng_stream};
    use super::*;

    const SR: f32 = 48_000.0;

    #[test]
    fn impulse_returns_after_exactly_the_delay_time() {
        for &time in &[0.1f32, 0.25, 0.3333, 0.6] {
            let mut d = Delay::new(SR, 0.6);
            d.set(time, 0.5, 20.0, 10_000.0);
            d.reset();
            let n = (time * SR).round() as usize;
            let out: Vec<f32> = (0..3 * n + 10)
                .map(|i| d.tick(if i == 0 { 1.0 } else { 0.0 }))
                .collect();
            let first = out.iter().position(|&v| v != 0.0).unwrap();
            assert_eq!(first, n, "time {time}");
            assert_eq!(out[n], 1.0, "the first echo is the untouched input");
            // The second echo is the filtered feedback: its peak is near 2n and ≈ feedback.
            let (pos, peak) = out[n + 1..]
                .iter()
                .enumerate()
                .fold(
                    (0, 0.0f32),
                    |b, (i, &v)| if v > b.1 { (i + n + 1, v) } else { b },
                );
            assert!(pos.abs_diff(2 * n) <= 3, "second echo at {pos}");
            assert!((0.2..0.5).contains(&peak), "second echo level {peak}");
        }
    }

    #[test]
    fn feedback_filters_thin_and_darken_the_repeats() {
        // Energy of the repeats after the first echo of a 20 ms sine burst at `freq`.
        let repeats = |freq: f32, lowcut: f32, highcut: f32| {
            let mut d = Delay::new(SR, 0.6);
            d.set(0.1, 0.7, lowcut, highcut);
            d.reset();
            (0..48_000)
                .map(|i| {
                    d.tick(if i < 960 {
                        (std::f32::consts::TAU * freq * i as f32 / SR).sin()
                    } else {
                        0.0
                    })
                })
                .skip(9600)
                .map(|v| v * v)
                .sum::<f32>()
        };
        let bass_open = repeats(150.0, 20.0, 10_000.0);
        let bass_cut = repeats(150.0, 1000.0, 10_000.0);
        assert!(
            bass_cut < 0.05 * bass_open,
            "lowcut: {bass_cut} vs {bass_open}"
        );
        let treble_open = repeats(8000.0, 20.0, 10_000.0);
        let treble_cut = repeats(8000.0, 20.0, 1000.0);
        assert!(
            treble_cut < 0.05 * treble_open,
            "highcut: {treble_cut} vs {treble_open}"
        );
    }

    #[test]
    fn time_changes_crossfade_without_clicks() {
        let jumps = |crossfade: bool| {
            let mut d = Delay::new(SR, 0.6);
            d.set(0.25, 0.4, 100.0, 5000.0);
            d.reset();
            let mut prev = 0.0f32;
            let mut worst = 0.0f32;
            for i in 0..(3.0 * SR) as usize {
                if i.is_multiple_of(9600) && i >= 48_000 {
                    // Jump between far-apart times, and sweep in small steps in between.
                    let t = if (i / 9600).is_multiple_of(2) {
                        0.5
                    } else {
                        0.13 + (i % 7) as f32 * 0.01
                    };
                    d.set(t, 0.4, 100.0, 5000.0);
                    if !crossfade {
                        d.current = d.requested;
                    }
                }
                if i.is_multiple_of(64) && (96_000..110_000).contains(&i) {
                    d.set(
                        0.2 + (i - 96_000) as f32 / 14_000.0 * 0.3,
                        0.4,
                        100.0,
                        5000.0,
                    );
                }
                let x = 0.5 * (std::f32::consts::TAU * 440.0 * i as f32 / SR).sin();
                let y = d.tick(x);
                if i > 48_000 {
                    worst = worst.max((y - prev).abs());
                }
                prev = y;
            }
            worst
        };
        // A 440 Hz sine of amplitude ≤ 0.5/(1 − 0.4) moves at most ~0.048 per sample.
        let hard = jumps(false);
        assert!(
            hard > 0.3,
            "control: jumping the read position clicks ({hard})"
        );
        let soft = jumps(true);
        assert!(soft < 0.07, "crossfaded: largest step {soft}");
    }

    #[test]
    fn sweeps_end_exactly_on_the_requested_time() {
        let mut d = Delay::new(SR, 0.6);
        for i in 0..100 {
            d.set(0.1 + 0.004 * i as f32, 0.3, 100.0, 5000.0);
            for _ in 0..64 {
                d.tick(0.0);
            }
        }
        for _ in 0..4800 {
            d.tick(0.0);
        }
        assert_eq!(d.delay_samples(), (0.496 * SR).round() as usize);
        assert!(!d.fading);
    }

    #[test]
    fn extreme_settings_never_produce_nan_or_growth() {
        let mut d = Delay::new(SR, 0.6);
        // Feedback 50 is clamped to 0.95; NaN lowcut keeps 100 Hz; a negative highcut clamps.
        d.set(0.1, 50.0, f32::NAN, -3.0);
        d.set(0.1, 50.0, 20.0, 10_000.0);
        let noise = rng_stream(1, 240_000);
        let (mut first, mut last) = (0.0f32, 0.0f32);
        for (i, &n) in noise.iter().enumerate() {
            let x = match i {
                0..=100 => 1e30,
                101 => f32::NAN,
                102 => f32::INFINITY,
                103..=4799 => n,
                _ => 0.0,
            };
            let y = d.tick(x);
            assert!(y.is_finite(), "sample {i}");
            if (4800..9600).contains(&i) {
                first = first.max(y.abs());
            }
            if i >= 192_000 {
                last = last.max(y.abs());
            }
        }
        assert!(last < 0.2 * first, "repeats decay: {last} vs {first}");
        d.set(f32::NAN, f32::NAN, f32::NAN, f32::NAN);
        assert!(d.tick(0.0).is_finite());
    }

    #[test]
    fn steady_runs_match_tick_at_every_time_and_block_length() {
        // Times from one sample to the whole line (reads behind and ahead of the write
        // position), changed between and inside blocks of uneven lengths.
        let input = rng_stream(6, 30_000);
        let max_s = 0.05;
        let mut a = Delay::new(SR, max_s);
        let mut b = a.clone();
        let times = [1.0 / SR, 2.0 / SR, 0.001, 0.0231, max_s, 0.0117, 0.5 / SR];
        let (mut start, mut k) = (0, 0);
        for len in [1usize, 7, 64, 128, 2399, 3, 4000].iter().cycle() {
            let end = (start + len).min(input.len());
            let t = times[k % times.len()];
            k += 1;
            a.set(t, 0.8, 150.0, 4000.0);
            b.set(t, 0.8, 150.0, 4000.0);
            let mut block = input[start..end].to_vec();
            a.process(&mut block);
            for (i, &x) in input[start..end].iter().enumerate() {
                let y = b.tick(x);
                assert_eq!(
                    block[i].to_bits(),
                    y.to_bits(),
                    "time {t}, sample {}",
                    start + i
                );
            }
            start = end;
            if start == input.len() {
                break;
            }
        }
    }

    /// The feedback path's filters, set through `set` (NaN keeping the old values), give
    /// the bits of `filter::OnePole` and `filter::LowPass`, through silence long enough for
    /// their guards to flush the states and through non-finite and huge input.
    #[test]
    fn feedback_filters_give_the_bits_of_the_filter_module() {
        use super::super::filter::{LowPass, OnePole as FilterOnePole};
        let mut d = Delay::new(SR, 0.1);
        d.set(0.01, 0.5, 250.0, 3000.0);
        d.set(f32::NAN, f32::NAN, f32::NAN, f32::NAN);
        let mut lowcut = FilterOnePole::new(SR, 100.0);
        lowcut.set(250.0);
        let mut highcut = LowPass::new(SR);
        highcut.set(3000.0, std::f32::consts::FRAC_1_SQRT_2);
        let (mut a, mut b) = (d.lowcut, d.highcut);
        for (i, &n) in rng_stream(8, 60_000).iter().enumerate() {
            let x = match i {
                10_000..=40_000 => 0.0,
                45_000 => f32::NAN,
                45_001..=45_010 => 3e38,
                50_000..=50_500 => 1e-25 * n,
                _ => n,
            };
            let want = highcut.tick(lowcut.highpass(x));
            let got = b.tick(a.highpass(x));
            assert_eq!(got.to_bits(), want.to_bits(), "sample {i}");
        }
    }

    /// Blocks through the unguarded feedback runs give the bits of `tick` also where the
    /// filters' guards act: the repeats dying away into silence, and tiny input.
    #[test]
    fn steady_runs_match_tick_where_the_guards_act() {
        let noise = rng_stream(9, 150_000);
        let input: Vec<f32> = noise
            .iter()
            .enumerate()
            .map(|(i, &n)| match i {
                20_000..=120_000 => 0.0,
                130_000..=131_000 => 1e-22 * n,
                _ => n,
            })
            .collect();
        let mut a = Delay::new(SR, 0.05);
        a.set(0.004, 0.3, 150.0, 4000.0);
        a.reset();
        let mut b = a.clone();
        let mut out = input.clone();
        let mut at = 0;
        for len in [512, 1, 64, 65, 300, 7].into_iter().cycle() {
            if at == out.len() {
                break;
            }
            let end = (at + len).min(out.len());
            a.process(&mut out[at..end]);
            at = end;
        }
        for (i, &x) in input.iter().enumerate() {
            assert_eq!(out[i].to_bits(), b.tick(x).to_bits(), "sample {i}");
        }
        assert!(out[100_000..120_000].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn process_matches_tick_and_reset_repeats() {
        let input = rng_stream(5, 20_000);
        let mut a = Delay::new(SR, 0.6);
        a.set(0.1, 0.6, 200.0, 3000.0);
        a.reset();
        a.set(0.2, 0.6, 200.0, 3000.0);
        assert_block_equals_tick(&mut a, &input, |u, b| u.process(b), |u, x| u.tick(x));
        a.reset();
        let mut first = input.clone();
        a.process(&mut first);
        a.reset();
        let mut again = input.clone();
        a.process(&mut again);
        assert_eq!(first, again);
    }

    #[test]
    fn wide_lanes_and_the_portable_code_agree_bit_for_bit() {
        let input = rng_stream(7, 20_000);
        let run = |wide: bool| {
            crate::platform::allow_wide_lanes(wide);
            let mut d = Delay::new(SR, 0.05);
            d.set(0.0123, 0.8, 150.0, 4000.0);
            let mut out = input.clone();
            for (k, block) in out.chunks_mut(29).enumerate() {
                if k == 300 {
                    d.set(0.031, 0.8, 150.0, 4000.0);
                }
                d.process(block);
            }
            crate::platform::allow_wide_lanes(true);
            out
        };
        let (wide, portable) = (run(true), run(false));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&wide), bits(&portable));
        assert!(wide[15_000..].iter().any(|&v| v != 0.0));
    }
}
