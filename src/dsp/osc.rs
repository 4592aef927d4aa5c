//! Band-limited oscillator (sine, saw, square) and seeded coloured noise (white, pink, brown).
//!
//! Saw and square are band-limited with a windowed-sinc BLEP: every discontinuity adds the
//! difference between an ideal band-limited step and the naive step, read from a 16-tap table
//! with 128 sub-sample phases. The correction reaches 8 samples back, so the output is delayed
//! by 8 samples (0.17 ms at 48 kHz); every waveform shares the delay so crossfades line up.

use super::blep_design::{BLEP_HALF, BLEP_LEN, BLEP_PHASES, BLEP_TAPS};
use super::{phase_step, sin_2pi};

/// Gain of white noise, as in the original instrument.
const WHITE_GAIN: f32 = 0.7;
/// Gain of pink noise, as in the original instrument.
const PINK_GAIN: f32 = 0.85;
/// Gain of brown noise, as in the original instrument.
const BROWN_GAIN: f32 = 1.0;
/// RMS of the pink and brown generators before their gains (peaks stay near ±1).
const COLOURED_NOISE_RMS: f64 = 0.3;
/// Variance of uniform white noise in [-1, 1).
const WHITE_VARIANCE: f64 = 1.0 / 3.0;

/// Length of the BLEP delay window: the 8 samples waiting to leave and the 8 ahead that
/// corrections already reach.
const RING: usize = 16;
/// Samples a block loop renders at once (the engine's control period).
const BLOCK: usize = 32;
/// Highest phase increment: above 0.45·fs the waveforms are not meaningful and a square
/// could have two edges in one sample.
const MAX_DT: f32 = 0.45;
/// Waveform switch crossfade time.
const FADE_SECONDS: f32 = 0.005;
/// Poles of the pink filter.
const PINK_POLES: usize = 10;

/// Oscillator waveform (`osc/type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Waveform {
    /// Pure sine.
    Sine = 0,
    /// Band-limited rising saw.
    Saw = 1,
    /// Band-limited 50 % square.
    Square = 2,
    /// Uniform white noise × 0.7.
    White = 3,
    /// Pink (−3 dB/octave) noise × 0.85.
    Pink = 4,
    /// Brown (−6 dB/octave) noise × 1.0.
    Brown = 5,
}

const ALL_WAVEFORMS: [Waveform; 6] = [
    Waveform::Sine,
    Waveform::Saw,
    Waveform::Square,
    Waveform::White,
    Waveform::Pink,
    Waveform::Brown,
];

impl Waveform {
    /// The waveform with index `i` (0 sine … 5 brown), clamping out-of-range indices.
    pub fn from_index(i: i32) -> Waveform {
        ALL_WAVEFORMS[i.clamp(0, 5) as usize]
    }
}

// The BLEP residual table, designed at build time (build.rs, from `blep_design.rs`).
include!(concat!(env!("OUT_DIR"), "/blep_table.rs"));

/// The BLEP residual table: for tap `j` (sample offset j − 8 from the step) and sub-sample
/// phase `i/128`, the band-limited step minus the naive step, at `j * 129 + i`.
fn blep_table() -> &'static [f32; BLEP_LEN] {
    &BLEP
}

/// Turns a user seed into a non-zero xorshift state (avalanche so nearby seeds differ).
fn seed_state(seed: u32) -> u32 {
    let mut z = seed.wrapping_add(0x9E37_79B9);
    z = (z ^ (z >> 16)).wrapping_mul(0x85EB_CA6B);
    z = (z ^ (z >> 13)).wrapping_mul(0xC2B2_AE35);
    z ^= z >> 16;
    if z == 0 { 0x6D2B_79F5 } else { z }
}

/// Oscillator for all six waveforms, with click-free waveform switching.
#[derive(Clone, Debug)]
pub struct Oscillator {
    seed: u32,
    tables: Tables,
    run: Run,
    /// The BLEP delay line as a window over time: `ring[j]` is the sample due out `j` samples
    /// from now; `ring[BLEP_HALF]` receives the naive value of the sample being rendered.
    /// Outside [`Run`], since the BLEP corrections write it by address.
    ring: [f32; RING],
    /// The steps of the block being rendered (kept here so no block clears it first).
    steps: Steps,
}

/// What an oscillator reads but never changes while running.
#[derive(Clone, Debug)]
struct Tables {
    inv_sr: f32,
    fade_step: f32,
    pink_pole: [f32; PINK_POLES],
    pink_in: [f32; PINK_POLES],
    pink_direct: f32,
    brown_pole: f32,
    brown_in: f32,
    blep: &'static [f32],
}

/// Everything an oscillator changes while running, kept apart from [`Tables`] so a block
/// loop can work on a local copy (whose scalars stay in registers) and store it once.
#[derive(Clone, Copy, Debug)]
struct Run {
    phase: f32,
    wave: Waveform,
    /// Per-waveform crossfade gains; exactly one-hot on `wave` unless `fading`.
    gains: [f32; 6],
    fading: bool,
    rng: u32,
    pink_state: [f32; PINK_POLES],
    brown_state: f32,
}

impl Oscillator {
    /// Creates a sine oscillator; `seed` fixes the noise sequence.
    pub fn new(sample_rate: f32, seed: u32) -> Self {
        let sr = f64::from(sample_rate);
        // Pink: parallel one-poles with geometrically spaced poles, weighted ∝ 1/√pole, so
        // the sum follows 1/√f (−3 dB/octave) from ~10 Hz to the top pole; the direct white
        // term plays the role of the next pole above.
        let top = (0.42 * sr).min(20_000.0);
        let ratio = (top / 10.0).powf(1.0 / PINK_POLES as f64);
        let mut pole = [0.0f64; PINK_POLES];
        let mut input = [0.0f64; PINK_POLES];
        for i in 0..PINK_POLES {
            let f = 10.0 * ratio.powi(i as i32);
            pole[i] = (-std::f64::consts::TAU * f / sr).exp();
            input[i] = (1.0 - pole[i]) / f.sqrt();
        }
        let mut direct = 1.0 / (10.0 * ratio.powi(PINK_POLES as i32)).sqrt();
        let mut var = direct * direct;
        for i in 0..PINK_POLES {
            var += 2.0 * direct * input[i];
            for j in 0..PINK_POLES {
                var += input[i] * input[j] / (1.0 - pole[i] * pole[j]);
            }
        }
        let norm = COLOURED_NOISE_RMS / (var * WHITE_VARIANCE).sqrt();
        direct *= norm;
        let brown_pole = (-std::f64::consts::TAU * 5.0 / sr).exp();
        let brown_in =
            COLOURED_NOISE_RMS * (1.0 - brown_pole * brown_pole).sqrt() / WHITE_VARIANCE.sqrt();
        let mut gains = [0.0; 6];
        gains[Waveform::Sine as usize] = 1.0;
        Self {
            seed,
            tables: Tables {
                inv_sr: 1.0 / sample_rate,
                fade_step: 1.0 / (FADE_SECONDS * sample_rate).max(1.0),
                pink_pole: pole.map(|p| p as f32),
                pink_in: input.map(|c| (c * norm) as f32),
                pink_direct: direct as f32,
                brown_pole: brown_pole as f32,
                brown_in: brown_in as f32,
                blep: blep_table(),
            },
            run: Run {
                phase: 0.0,
                wave: Waveform::Sine,
                gains,
                fading: false,
                rng: seed_state(seed),
                pink_state: [0.0; PINK_POLES],
                brown_state: 0.0,
            },
            ring: [0.0; RING],
            steps: Steps::new(),
        }
    }

    /// Switches waveform with a 5 ms linear crossfade from whatever is sounding now.
    pub fn set_waveform(&mut self, w: Waveform) {
        let r = &mut self.run;
        if w == r.wave {
            return;
        }
        if r.gains[w as usize] == 0.0 {
            r.clear_noise_state(w);
        }
        r.wave = w;
        r.fading = true;
    }

    /// Switches waveform at once, without a crossfade (for silent voices, e.g. on load).
    pub fn set_waveform_immediate(&mut self, w: Waveform) {
        let r = &mut self.run;
        if r.gains[w as usize] == 0.0 {
            r.clear_noise_state(w);
        }
        r.wave = w;
        r.fading = false;
        r.gains = [0.0; 6];
        r.gains[w as usize] = 1.0;
    }

    /// The selected waveform (the crossfade target while switching).
    pub fn waveform(&self) -> Waveform {
        self.run.wave
    }

    /// Returns the next sample at `freq_hz` (clamped to 0..0.45·fs; NaN → 0 Hz).
    #[inline]
    pub fn tick(&mut self, freq_hz: f32) -> f32 {
        self.run.tick(&self.tables, &mut self.ring, freq_hz)
    }

    /// Returns to phase 0, restarts the noise sequence from the seed, clears the BLEP delay
    /// line and finishes any crossfade.
    pub fn reset(&mut self) {
        let r = &mut self.run;
        r.phase = 0.0;
        r.rng = seed_state(self.seed);
        r.pink_state = [0.0; PINK_POLES];
        r.brown_state = 0.0;
        self.ring = [0.0; RING];
        r.fading = false;
        r.gains = [0.0; 6];
        r.gains[r.wave as usize] = 1.0;
    }

    /// Renders `out.len()` samples at the per-sample frequencies in `freq_hz`.
    #[inline(always)]
    pub fn process(&mut self, freq_hz: &[f32], out: &mut [f32]) {
        for (f, o) in freq_hz.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
            let mut dt = [0.0f32; BLOCK];
            for (d, &f) in dt.iter_mut().zip(f) {
                *d = phase_step(f, self.tables.inv_sr, MAX_DT);
            }
            self.block(&dt, o);
        }
    }

    /// Renders `out.len()` samples at the constant frequency `freq_hz` (the same samples as
    /// [`Oscillator::process`] with every frequency `freq_hz`).
    #[inline(always)]
    pub fn process_at(&mut self, freq_hz: f32, out: &mut [f32]) {
        let dt = [phase_step(freq_hz, self.tables.inv_sr, MAX_DT); BLOCK];
        for o in out.chunks_mut(BLOCK) {
            self.block(&dt, o);
        }
    }

    /// One block of at most [`BLOCK`] samples with the phase increments `dt`.
    #[inline(always)]
    fn block(&mut self, dt: &[f32; BLOCK], out: &mut [f32]) {
        if self.run.fading {
            let (t, ring) = (&self.tables, &mut self.ring);
            for (o, &d) in out.iter_mut().zip(dt) {
                *o = self.run.tick_dt(t, ring, d);
            }
            return;
        }
        let (r, t, steps) = (&mut self.run, &self.tables, &mut self.steps);
        let mut naive = [0.0f32; BLOCK];
        steps.len = 0;
        // Without a crossfade the waveform cannot change inside the block: choose it once.
        match r.wave {
            Waveform::Sine => {
                r.walk::<{ Waveform::Sine as u8 }>(dt, &mut naive, steps, out.len());
                for x in naive.iter_mut() {
                    *x = sin_2pi(*x);
                }
            }
            Waveform::Saw => {
                r.walk::<{ Waveform::Saw as u8 }>(dt, &mut naive, steps, out.len());
                for x in naive.iter_mut() {
                    *x = 2.0 * *x - 1.0;
                }
            }
            Waveform::Square => {
                r.walk::<{ Waveform::Square as u8 }>(dt, &mut naive, steps, out.len());
                for x in naive.iter_mut() {
                    *x = if *x < 0.5 { 1.0 } else { -1.0 };
                }
            }
            noise => {
                // The phase keeps moving for a later switch to a pitched waveform.
                r.skip(dt, out.len());
                r.noise_block(t, noise, &mut naive, out.len());
            }
        }
        merge(&mut self.ring, t.blep, &naive, steps, out);
    }
}

/// The band-limiting steps found in one block, in time order (at most one per sample).
#[derive(Clone, Debug)]
struct Steps {
    at: [usize; BLOCK],
    since: [f32; BLOCK],
    amp: [f32; BLOCK],
    len: usize,
}

impl Steps {
    fn new() -> Steps {
        Steps {
            at: [0; BLOCK],
            since: [0.0; BLOCK],
            amp: [0.0; BLOCK],
            len: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, at: usize, since: f32, amp: f32) {
        let k = self.len & (BLOCK - 1);
        self.at[k] = at;
        self.since[k] = since;
        self.amp[k] = amp;
        self.len = k + 1;
    }
}

/// Sends a block's naive values through the BLEP delay window `ring`, adding each step's
/// correction between the naive values before and after it (the order the per-sample path
/// adds them in, so the sums round the same), and writes the samples leaving it to `out`.
#[inline(always)]
fn merge(
    ring: &mut [f32; RING],
    blep: &[f32],
    naive: &[f32; BLOCK],
    steps: &Steps,
    out: &mut [f32],
) {
    let n = out.len().min(BLOCK);
    let mut line = [0.0f32; RING + BLOCK];
    line[..RING].copy_from_slice(ring);
    let mut from = 0;
    for k in 0..steps.len.min(BLOCK) {
        let at = steps.at[k].min(n);
        for (l, &x) in line[BLEP_HALF + from..BLEP_HALF + at]
            .iter_mut()
            .zip(&naive[from..at])
        {
            *l += x;
        }
        add_step(&mut line[at..at + RING], blep, steps.since[k], steps.amp[k]);
        from = at;
    }
    for (l, &x) in line[BLEP_HALF + from..BLEP_HALF + n]
        .iter_mut()
        .zip(&naive[from..n])
    {
        *l += x;
    }
    out[..n].copy_from_slice(&line[..n]);
    ring.copy_from_slice(&line[n..n + RING]);
}

impl Run {
    /// One sample at `freq_hz`.
    #[inline(always)]
    fn tick(&mut self, t: &Tables, ring: &mut [f32; RING], freq_hz: f32) -> f32 {
        self.tick_dt(t, ring, phase_step(freq_hz, t.inv_sr, MAX_DT))
    }

    /// One sample with the phase increment `dt`.
    #[inline(always)]
    fn tick_dt(&mut self, t: &Tables, ring: &mut [f32; RING], dt: f32) -> f32 {
        let step = self.advance(dt);
        let naive = if self.fading {
            self.render_crossfade(t, ring, step)
        } else {
            match self.wave {
                Waveform::Sine => sin_2pi(step.p),
                Waveform::Saw => self.saw(t, ring, step),
                Waveform::Square => self.square(t, ring, step),
                noise => self.render_noise(t, noise, 1.0),
            }
        };
        self.push(ring, naive)
    }

    /// Moves the phase on by one sample of increment `dt`.
    #[inline(always)]
    fn advance(&mut self, dt: f32) -> Step {
        let p0 = self.phase;
        let mut p = p0 + dt;
        let wrapped = p >= 1.0;
        if wrapped {
            p -= 1.0;
        }
        self.phase = p;
        Step { p0, p, dt, wrapped }
    }

    /// Adds this sample's naive value to the BLEP delay window and returns the sample leaving it.
    #[inline(always)]
    fn push(&mut self, ring: &mut [f32; RING], naive: f32) -> f32 {
        ring[BLEP_HALF] += naive;
        let y = ring[0];
        ring.copy_within(1.., 0);
        ring[RING - 1] = 0.0;
        y
    }

    /// Moves the phase through a block of `n` samples, writing each sample's new phase to
    /// `phase` and the band-limiting steps of waveform `W` (saw: wraps; square: wraps and
    /// half-way crossings) to `steps`; the same arithmetic as [`Run::advance`] and
    /// [`Run::saw`] / [`Run::square`].
    #[inline(always)]
    fn walk<const W: u8>(
        &mut self,
        dt: &[f32; BLOCK],
        phase: &mut [f32; BLOCK],
        steps: &mut Steps,
        n: usize,
    ) {
        let mut p = self.phase;
        for (i, (ph, &dt)) in phase[..n.min(BLOCK)].iter_mut().zip(dt).enumerate() {
            let p0 = p;
            p = p0 + dt;
            if p >= 1.0 {
                p -= 1.0;
                if W == Waveform::Saw as u8 {
                    steps.push(i, p / dt, -2.0);
                } else if W == Waveform::Square as u8 {
                    steps.push(i, p / dt, 2.0);
                }
            } else if W == Waveform::Square as u8 && p0 < 0.5 && p >= 0.5 {
                steps.push(i, (p - 0.5) / dt, -2.0);
            }
            *ph = p;
        }
        self.phase = p;
    }

    /// The naive saw at full gain, with the BLEP correction of a wrap.
    #[inline(always)]
    fn saw(&mut self, t: &Tables, ring: &mut [f32; RING], s: Step) -> f32 {
        if s.wrapped {
            add_step(ring, t.blep, s.p / s.dt, -2.0);
        }
        2.0 * s.p - 1.0
    }

    /// The naive square at full gain, with the BLEP corrections of its edges.
    #[inline(always)]
    fn square(&mut self, t: &Tables, ring: &mut [f32; RING], s: Step) -> f32 {
        if s.wrapped {
            add_step(ring, t.blep, s.p / s.dt, 2.0);
        } else if s.p0 < 0.5 && s.p >= 0.5 {
            add_step(ring, t.blep, (s.p - 0.5) / s.dt, -2.0);
        }
        if s.p < 0.5 { 1.0 } else { -1.0 }
    }

    /// Moves the phase through a block of `n` samples without recording it (the same phases
    /// as [`Run::advance`]).
    #[inline(always)]
    fn skip(&mut self, dt: &[f32; BLOCK], n: usize) {
        let mut p = self.phase;
        for &dt in &dt[..n.min(BLOCK)] {
            p += dt;
            p = if p >= 1.0 { p - 1.0 } else { p };
        }
        self.phase = p;
    }

    /// The naive values of `n` samples of noise waveform `w` (the values of
    /// [`Run::render_noise`] at gain 1): the generator's states first (the only serial part
    /// of white noise), then their conversion; pink's poles all at once as lanes, added to
    /// the sum in the order `render_noise` adds them.
    #[inline(always)]
    fn noise_block(&mut self, t: &Tables, w: Waveform, naive: &mut [f32; BLOCK], n: usize) {
        let n = n.min(BLOCK);
        let mut bits = [0u32; BLOCK];
        let mut s = self.rng;
        for b in bits[..n].iter_mut() {
            s = xorshift(s);
            *b = s;
        }
        self.rng = s;
        let mut x = [0.0f32; BLOCK];
        for (x, &b) in x.iter_mut().zip(&bits) {
            *x = white_of(b);
        }
        match w {
            Waveform::White => {
                for (y, &x) in naive.iter_mut().zip(&x) {
                    *y = 1.0 * WHITE_GAIN * x;
                }
            }
            Waveform::Pink => {
                // The ten poles side by side as lanes, then their sum in render_noise's order.
                let mut st = self.pink_state;
                for (o, &x) in naive[..n].iter_mut().zip(&x[..n]) {
                    for ((s, &p), &c) in st.iter_mut().zip(&t.pink_pole).zip(&t.pink_in) {
                        *s = p * *s + c * x;
                    }
                    let mut y = t.pink_direct * x;
                    for &s in &st {
                        y += s;
                    }
                    *o = 1.0 * PINK_GAIN * y;
                }
                self.pink_state = st;
            }
            _ => {
                let mut st = self.brown_state;
                for (o, &x) in naive[..n].iter_mut().zip(&x[..n]) {
                    st = t.brown_pole * st + t.brown_in * x;
                    *o = 1.0 * BROWN_GAIN * st;
                }
                self.brown_state = st;
            }
        }
    }

    fn clear_noise_state(&mut self, w: Waveform) {
        match w {
            Waveform::Pink => self.pink_state = [0.0; PINK_POLES],
            Waveform::Brown => self.brown_state = 0.0,
            _ => {}
        }
    }

    /// Advances every audible waveform's crossfade gain and sums them.
    fn render_crossfade(&mut self, t: &Tables, ring: &mut [f32; RING], step: Step) -> f32 {
        let mut sum = 0.0;
        let mut settled = true;
        for w in ALL_WAVEFORMS {
            let i = w as usize;
            let g = self.gains[i];
            let g = if w == self.wave {
                (g + t.fade_step).min(1.0)
            } else if g > 0.0 {
                (g - t.fade_step).max(0.0)
            } else {
                continue;
            };
            self.gains[i] = g;
            settled &= g == if w == self.wave { 1.0 } else { 0.0 };
            if g > 0.0 {
                sum += self.render(t, ring, w, g, step);
            }
        }
        self.fading = !settled;
        sum
    }

    /// The naive value of `w` at the new phase, times `gain`; band-limiting corrections for
    /// any discontinuity inside this sample go straight into the delay ring.
    #[inline]
    fn render(
        &mut self,
        t: &Tables,
        ring: &mut [f32; RING],
        w: Waveform,
        gain: f32,
        s: Step,
    ) -> f32 {
        match w {
            Waveform::Sine => gain * sin_2pi(s.p),
            Waveform::Saw => {
                if s.wrapped {
                    add_step(ring, t.blep, s.p / s.dt, -2.0 * gain);
                }
                gain * (2.0 * s.p - 1.0)
            }
            Waveform::Square => {
                if s.wrapped {
                    add_step(ring, t.blep, s.p / s.dt, 2.0 * gain);
                } else if s.p0 < 0.5 && s.p >= 0.5 {
                    let since = (s.p - 0.5) / s.dt;
                    add_step(ring, t.blep, since, -2.0 * gain);
                }
                if s.p < 0.5 { gain } else { -gain }
            }
            noise => self.render_noise(t, noise, gain),
        }
    }

    /// One sample of a noise waveform, times `gain`.
    #[inline(always)]
    fn render_noise(&mut self, t: &Tables, w: Waveform, gain: f32) -> f32 {
        match w {
            Waveform::White => gain * WHITE_GAIN * self.white(),
            Waveform::Pink => {
                let x = self.white();
                let mut y = t.pink_direct * x;
                for i in 0..PINK_POLES {
                    let st = t.pink_pole[i] * self.pink_state[i] + t.pink_in[i] * x;
                    self.pink_state[i] = st;
                    y += st;
                }
                gain * PINK_GAIN * y
            }
            Waveform::Brown => {
                let x = self.white();
                self.brown_state = t.brown_pole * self.brown_state + t.brown_in * x;
                gain * BROWN_GAIN * self.brown_state
            }
            _ => 0.0,
        }
    }

    /// Uniform white noise in [-1, 1) from a xorshift32 generator.
    #[inline(always)]
    fn white(&mut self) -> f32 {
        self.rng = xorshift(self.rng);
        white_of(self.rng)
    }
}

/// Adds `amp` × the BLEP residual of a step that happened `since` samples (0 ≤ since < 1)
/// before the current sample to the delay `window` (its first 16 samples, the first due out
/// next; the current sample is at [`BLEP_HALF`]).
#[inline(never)]
fn add_step(window: &mut [f32], blep: &[f32], since: f32, amp: f32) {
    let at = (since * BLEP_PHASES as f32).clamp(0.0, BLEP_PHASES as f32 - 1e-3);
    let i0 = at as usize;
    let frac = at - i0 as f32;
    for (j, w) in window.iter_mut().take(BLEP_TAPS).enumerate() {
        let t = j * (BLEP_PHASES + 1) + i0;
        let (a, b) = (blep[t], blep[t + 1]);
        *w += amp * (a + frac * (b - a));
    }
}

/// The next state of a xorshift32 generator.
#[inline(always)]
fn xorshift(mut s: u32) -> u32 {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    s
}

/// Uniform white noise in [-1, 1) from a xorshift32 state.
#[inline(always)]
fn white_of(s: u32) -> f32 {
    (s >> 8) as f32 * (1.0 / (1u32 << 23) as f32) - 1.0
}

/// Phase movement during one sample.
#[derive(Clone, Copy)]
struct Step {
    p0: f32,
    p: f32,
    dt: f32,
    wrapped: bool,
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{blackman_harris, peak_frequency, power_spectrum_windowed};
    use super::*;

    const SR: f32 = 48_000.0;

    fn render(w: Waveform, freq: f32, n: usize, skip: usize) -> Vec<f32> {
        let mut o = Oscillator::new(SR, 1);
        o.set_waveform_immediate(w);
        for _ in 0..skip {
            o.tick(freq);
        }
        (0..n).map(|_| o.tick(freq)).collect()
    }

    #[test]
    fn pitch_is_within_half_a_percent_by_fft_peak() {
        for w in [Waveform::Sine, Waveform::Saw, Waveform::Square] {
            for &f in &[55.0, 110.0, 440.0, 1234.5, 3520.0, 4999.0] {
                let x = render(w, f, 32_768, 64);
                let measured = peak_frequency(&x, SR);
                let err = (measured / f64::from(f) - 1.0).abs();
                assert!(err < 0.005, "{w:?} at {f} Hz measured {measured}");
                assert!(err < 0.0005, "{w:?} at {f} Hz: {err} is suspiciously large");
            }
        }
    }

    /// Energy of non-harmonic bins below 10 kHz relative to the harmonics' energy, in dB.
    fn alias_to_harmonic_db(x: &[f32], f0: f64) -> f64 {
        let n = x.len();
        let p = power_spectrum_windowed(x, &blackman_harris(n));
        let bin_hz = f64::from(SR) / n as f64;
        let (mut harmonic, mut alias) = (0.0, 0.0);
        for (k, &pk) in p.iter().enumerate() {
            let hz = k as f64 * bin_hz;
            if hz > 10_000.0 {
                break;
            }
            let nearest = (hz / f0).round() * f0;
            // Blackman-Harris main lobe: ±4 bins; allow 6.
            if (hz - nearest).abs() <= 6.0 * bin_hz {
                harmonic += pk;
            } else {
                alias += pk;
            }
        }
        10.0 * (alias / harmonic).log10()
    }

    fn naive_saw(f0: f64, n: usize) -> Vec<f32> {
        let dt = f0 / f64::from(SR);
        (0..n)
            .map(|i| (2.0 * ((i as f64 * dt).fract()) - 1.0) as f32)
            .collect()
    }

    #[test]
    fn saw_aliases_are_50_db_below_harmonics_and_naive_saw_fails() {
        for &f0 in &[1046.5, 4186.0] {
            let x = render(Waveform::Saw, f0 as f32, 65_536, 64);
            let db = alias_to_harmonic_db(&x, f0);
            assert!(
                db < -50.0,
                "band-limited saw at {f0} Hz: aliases at {db:.1} dB"
            );
            // The windowed-sinc BLEP actually reaches ≈ −89 dB; guard against regressions.
            assert!(db < -80.0, "saw at {f0} Hz: aliases at {db:.1} dB");
            let naive = alias_to_harmonic_db(&naive_saw(f0, 65_536), f0);
            assert!(
                naive > -50.0,
                "control: the naive saw at {f0} Hz must fail ({naive:.1} dB)"
            );
        }
    }

    #[test]
    fn square_aliases_are_50_db_below_harmonics() {
        for &f0 in &[1046.5, 4186.0] {
            let x = render(Waveform::Square, f0 as f32, 65_536, 64);
            let db = alias_to_harmonic_db(&x, f0);
            assert!(db < -50.0, "square at {f0} Hz: aliases at {db:.1} dB");
        }
    }

    #[test]
    fn saw_and_square_have_unit_amplitude_and_no_dc() {
        for w in [Waveform::Saw, Waveform::Square] {
            let x = render(w, 100.0, 48_000, 64);
            let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64;
            let peak = x.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
            assert!(mean.abs() < 1e-3, "{w:?} DC {mean}");
            // Gibbs overshoot: ~9 % of the jump of 2.
            assert!((1.0..1.2).contains(&peak), "{w:?} peak {peak}");
        }
        let s = render(Waveform::Sine, 100.0, 48_000, 64);
        let peak = s.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        assert!((peak - 1.0).abs() < 1e-4);
    }

    fn band_power_db(x: &[f32], lo: f64, hi: f64) -> f64 {
        // Welch average of 4096-point Blackman-Harris segments.
        let n = 4096;
        let win = blackman_harris(n);
        let mut acc = vec![0.0; n / 2 + 1];
        for seg in x.chunks_exact(n) {
            for (a, p) in acc.iter_mut().zip(power_spectrum_windowed(seg, &win)) {
                *a += p;
            }
        }
        let bin_hz = f64::from(SR) / n as f64;
        let total: f64 = acc
            .iter()
            .enumerate()
            .filter(|(k, _)| (lo..hi).contains(&(*k as f64 * bin_hz)))
            .map(|(_, p)| p)
            .sum();
        10.0 * total.log10()
    }

    fn octave_slopes(w: Waveform) -> Vec<f64> {
        let x = render(w, 0.0, 4096 * 200, 4800);
        let mut bands = vec![];
        let mut lo = 100.0;
        while lo < 12_800.0 {
            bands.push(band_power_db(&x, lo, 2.0 * lo));
            lo *= 2.0;
        }
        // Power per octave band: pink is flat, brown falls 3 dB per octave.
        bands.windows(2).map(|b| b[1] - b[0]).collect()
    }

    #[test]
    fn pink_noise_falls_3_db_per_octave() {
        for (i, s) in octave_slopes(Waveform::Pink).iter().enumerate() {
            // Equal power per octave ⇔ −3 dB/octave density.
            assert!(s.abs() < 1.0, "octave {i}: band power changes by {s:.2} dB");
        }
    }

    #[test]
    fn brown_noise_falls_6_db_per_octave() {
        for (i, s) in octave_slopes(Waveform::Brown).iter().enumerate() {
            assert!(
                (s + 3.0).abs() < 1.0,
                "octave {i}: band power changes by {s:.2} dB"
            );
        }
    }

    #[test]
    fn noise_levels_follow_the_original_gains() {
        let rms = |w| {
            let x = render(w, 0.0, 480_000, 4800);
            (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
        };
        let white = rms(Waveform::White);
        assert!(
            (white / (0.7 / 3f64.sqrt()) - 1.0).abs() < 0.01,
            "white {white}"
        );
        let pink = rms(Waveform::Pink);
        assert!((pink / (0.85 * 0.3) - 1.0).abs() < 0.05, "pink {pink}");
        let brown = rms(Waveform::Brown);
        assert!((brown / 0.3 - 1.0).abs() < 0.15, "brown {brown}");
    }

    #[test]
    fn noise_is_seeded() {
        let mut a = Oscillator::new(SR, 42);
        let mut b = Oscillator::new(SR, 42);
        let mut c = Oscillator::new(SR, 43);
        for o in [&mut a, &mut b, &mut c] {
            o.set_waveform_immediate(Waveform::White);
        }
        let xa: Vec<f32> = (0..1000).map(|_| a.tick(0.0)).collect();
        let xb: Vec<f32> = (0..1000).map(|_| b.tick(0.0)).collect();
        let xc: Vec<f32> = (0..1000).map(|_| c.tick(0.0)).collect();
        assert_eq!(xa, xb);
        assert!(xa.iter().zip(&xc).filter(|(p, q)| p != q).count() > 900);
    }

    #[test]
    fn waveform_switch_crossfades_without_a_click() {
        // Sine → saw at a quarter period of 100 Hz: sine is at +1, saw at −0.5.
        let switch_at = 120 + BLEP_HALF;
        let jump = |immediate: bool| {
            let mut o = Oscillator::new(SR, 1);
            let mut prev = 0.0;
            let mut worst = 0.0f32;
            for i in 0..400 {
                if i == 120 {
                    if immediate {
                        o.set_waveform_immediate(Waveform::Saw);
                    } else {
                        o.set_waveform(Waveform::Saw);
                    }
                }
                let y = o.tick(100.0);
                if i >= switch_at - 2 && i < 400 {
                    worst = worst.max((y - prev).abs());
                }
                prev = y;
            }
            worst
        };
        let hard = jump(true);
        assert!(hard > 1.0, "control: a hard switch jumps ({hard})");
        let soft = jump(false);
        assert!(soft < 0.03, "crossfaded switch: largest step {soft}");
        let mut o = Oscillator::new(SR, 1);
        o.set_waveform(Waveform::Pink);
        assert_eq!(o.waveform(), Waveform::Pink);
        for _ in 0..242 {
            o.tick(100.0);
        }
        assert!(!o.run.fading, "the crossfade ends after 5 ms");
    }

    #[test]
    fn the_build_time_blep_table_is_the_run_time_design_bit_for_bit() {
        let designed = super::super::blep_design::blep_residuals();
        let built = blep_table();
        assert_eq!(designed.len(), built.len());
        for (i, (d, b)) in designed.iter().zip(built.iter()).enumerate() {
            assert_eq!(d.to_bits(), b.to_bits(), "value {i}: {d} vs {b}");
        }
        // FNV-1a over the little-endian bits of the table the oscillator computed at every
        // start before the table moved to build time (commit de3c037, `blep_table()`).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in built.iter().flat_map(|v| v.to_bits().to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        assert_eq!(h, 0xc627_1e7b_61e5_a840);
    }

    #[test]
    fn from_index_clamps() {
        assert_eq!(Waveform::from_index(-3), Waveform::Sine);
        assert_eq!(Waveform::from_index(2), Waveform::Square);
        assert_eq!(Waveform::from_index(99), Waveform::Brown);
    }

    #[test]
    fn process_matches_tick_and_reset_repeats_for_every_waveform() {
        let freqs: Vec<f32> = (0..2000).map(|i| 50.0 + 3.0 * i as f32).collect();
        for w in ALL_WAVEFORMS {
            let mut a = Oscillator::new(SR, 9);
            a.set_waveform(Waveform::Saw);
            a.tick(440.0);
            a.set_waveform(w);
            let mut b = a.clone();
            let mut block = vec![0.0; freqs.len()];
            a.process(&freqs, &mut block);
            for (i, &f) in freqs.iter().enumerate() {
                assert_eq!(block[i].to_bits(), b.tick(f).to_bits(), "{w:?} sample {i}");
            }
            a.reset();
            let mut first = vec![0.0; freqs.len()];
            a.process(&freqs, &mut first);
            a.reset();
            let mut again = vec![0.0; freqs.len()];
            a.process(&freqs, &mut again);
            assert_eq!(first, again, "{w:?}");
        }
    }

    #[test]
    fn extreme_frequencies_stay_finite_and_bounded() {
        for w in ALL_WAVEFORMS {
            let mut o = Oscillator::new(SR, 5);
            o.set_waveform_immediate(w);
            for i in 0..20_000 {
                let f = match i % 5 {
                    0 => f32::NAN,
                    1 => 1e12,
                    2 => -100.0,
                    3 => f32::INFINITY,
                    _ => 23_999.0,
                };
                let y = o.tick(f);
                assert!(y.is_finite() && y.abs() < 3.0, "{w:?}: {y}");
            }
        }
    }

    #[test]
    fn blocks_at_a_constant_pitch_and_dense_steps_match_tick() {
        // Up to 0.45·fs, where a square has an edge nearly every sample, and blocks that
        // do not line up with the oscillator's own.
        for w in ALL_WAVEFORMS {
            for f in [30.0, 440.0, 5000.0, 17_000.0, 21_600.0, 40_000.0] {
                let mut a = Oscillator::new(SR, 3);
                a.set_waveform_immediate(w);
                let mut b = a.clone();
                let mut c = a.clone();
                let mut block = vec![0.0; 1000];
                for part in block.chunks_mut(45) {
                    a.process_at(f, part);
                }
                let mut varied = vec![0.0; 1000];
                c.process(&[f; 1000], &mut varied);
                for i in 0..1000 {
                    let want = b.tick(f).to_bits();
                    assert_eq!(block[i].to_bits(), want, "{w:?} at {f} Hz, sample {i}");
                    assert_eq!(varied[i].to_bits(), want, "{w:?} at {f} Hz, sample {i}");
                }
            }
        }
    }
}
