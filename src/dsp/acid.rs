//! TB-303 style filter: drive → 4-pole zero-delay-feedback ladder swept by its own
//! envelope → gain compensation → soft clip → dry/wet.

use super::{sanitize, soft_clip, tan_pi};

/// Lowest effective cutoff in Hz.
const MIN_CUTOFF_HZ: f32 = 80.0;
/// Highest effective cutoff in Hz (also kept ≤ 0.2·fs so the ladder stays well inside its
/// bounded range at low sample rates).
const MAX_CUTOFF_HZ: f32 = 5000.0;
/// Highest resonance; 4·0.98 keeps the ladder just short of self-oscillation.
const MAX_RES: f32 = 0.98;
/// Below this cutoff resonance is scaled down (linearly, to half at 80 Hz) so the bass end
/// does not boom.
const FULL_RES_CUTOFF_HZ: f32 = 300.0;
/// Filter envelope attack.
const ENV_ATTACK_S: f32 = 0.001;
/// Accent: the envelope sweep grows by this fraction of `env_amount` …
const ACCENT_ENV_BOOST: f32 = 0.5;
/// … plus this many Hz, both × accent × envelope.
const ACCENT_CUTOFF_HZ: f32 = 1000.0;
/// Accent moves resonance this fraction of the way to the maximum (× accent × envelope).
const ACCENT_RES_BOOST: f32 = 0.5;
/// Accent shortens the decay by this fraction (× accent).
const ACCENT_DECAY_CUT: f32 = 0.5;
/// Accent level boost in dB (× accent).
const ACCENT_GAIN_DB: f32 = 2.5;
/// The ladder coefficients follow the cutoff once it has moved this fraction (≈ 4 cents) …
const COEF_CUTOFF_TOLERANCE: f32 = 0.0025;
/// … or the feedback gain this much …
const COEF_K_TOLERANCE: f32 = 0.004;
/// … or, for any change, at least this often (samples), so they always land exactly.
const COEF_REFRESH: u32 = 16;
/// Time constant of the internal de-zipper on cutoff, resonance and accent gain: smooths
/// block-rate parameter updates (the engine smooths musically at ~20 ms before this).
const DEZIP_S: f32 = 0.001;

/// TB-303 style resonant low-pass with its own decay envelope and accent.
///
/// Signal path: `soft_clip(x·drive)` → linear zero-delay-feedback 4-pole ladder whose input
/// node is saturated (bounded at any resonance) → × (1 + k/2) partial passband makeup
/// × (1 − res·vol_comp) × accent gain → soft clip → `dry·(1 − mix) + wet·mix`.
/// The cutoff is `cutoff + cutoff_mod + env·env_amount` (plus the accent sweep), clamped to
/// 80–5000 Hz; the ladder is prewarped so the resonance peak sits on that cutoff.
#[derive(Clone, Debug)]
pub struct AcidFilter {
    inv_sr: f32,
    max_cutoff: f32,
    cutoff: f32,
    res: f32,
    env_amount: f32,
    decay_s: f32,
    drive: f32,
    mix: f32,
    vol_comp: f32,
    accent: f32,
    cutoff_mod: f32,
    drive_gain: f32,
    drive_makeup: f32,
    attack_step: f32,
    decay_step: f32,
    accent_decay_step: f32,
    sample_rate: f32,
    dezip: f32,
    accent_gain_target: f32,
    accent_hit: bool,
    motion: Motion,
    coef: LadderCoefs,
}

/// Everything that moves every sample, kept together so a block loop can hold it in
/// registers instead of writing it back to the filter after each sample.
#[derive(Clone, Copy, Debug)]
struct Motion {
    /// De-zippered cutoff (Hz, before envelope and clamping), resonance and accent gain.
    cutoff_s: f32,
    res_s: f32,
    accent_gain: f32,
    env: f32,
    env_rising: bool,
    /// Ladder states.
    s: [f32; 4],
    /// Samples since the coefficients were computed.
    coef_age: u32,
}

/// Ladder coefficients for one (cutoff, feedback) pair; the filter recomputes them only when
/// either has moved beyond the `COEF_*` tolerances.
#[derive(Clone, Debug)]
struct LadderCoefs {
    fc: f32,
    k: f32,
    /// G⁴ with G = g/(1 + g), g = tan(π·fc/fs).
    g4: f32,
    /// 2·G^j: how the loop input enters each new state.
    gp2: [f32; 4],
    /// 1/(1 + k·G⁴): resolves the zero-delay feedback loop.
    inv: f32,
    /// Column j: what state j contributes to the stage outputs' state parts c1…c4,
    /// (1 − G)·G^(i−j) for stage i ≥ j, else 0: `(col0·s1 + col1·s2) + (col2·s3 + col3·s4)`
    /// gives all four in one pass of lanes.
    cols: [[f32; 4]; 4],
    /// k·inv·(1 − G)·G^(3−j): each state's share of the resolved feedback.
    fb: [f32; 4],
}

impl LadderCoefs {
    fn new(fc: f32, k: f32, inv_sr: f32) -> Self {
        let g = tan_pi(fc * inv_sr);
        let gg = g / (1.0 + g);
        let keep = 1.0 - gg;
        let gp = [gg, gg * gg, gg * gg * gg, gg * gg * gg * gg];
        let kg = [keep, keep * gp[0], keep * gp[1], keep * gp[2]];
        let inv = 1.0 / (1.0 + k * gp[3]);
        let ki = k * inv;
        let fb = [ki * kg[3], ki * kg[2], ki * kg[1], ki * kg[0]];
        let mut cols = [[0.0f32; 4]; 4];
        for (j, col) in cols.iter_mut().enumerate() {
            col[j..].copy_from_slice(&kg[..4 - j]);
        }
        Self {
            fc,
            k,
            g4: gp[3],
            gp2: gp.map(|v| 2.0 * v),
            inv,
            cols,
            fb,
        }
    }

    /// Whether the ladder recomputes its coefficients for cutoff `fc` and feedback `k`,
    /// `age` samples (counting this one) after it last did.
    #[inline(always)]
    fn stale(&self, fc: f32, k: f32, age: u32) -> bool {
        (fc != self.fc || k != self.k)
            && (age >= COEF_REFRESH
                || (fc - self.fc).abs() > COEF_CUTOFF_TOLERANCE * self.fc
                || (k - self.k).abs() > COEF_K_TOLERANCE)
    }

    /// The offset in `fc`/`k` of the first sample whose coefficients are stale, when the
    /// sample before the first was `age` samples after the last recomputation; `fc.len()`
    /// when none is.
    #[inline(always)]
    fn first_stale(&self, fc: &[f32], k: &[f32], age: u32) -> usize {
        let far = COEF_CUTOFF_TOLERANCE * self.fc;
        // The offset from which the age reaches COEF_REFRESH.
        let old = COEF_REFRESH.saturating_sub(1).saturating_sub(age) as usize;
        for (i, (&f, &kk)) in fc.iter().zip(k).enumerate() {
            if (f != self.fc || kk != self.k)
                && (i >= old || (f - self.fc).abs() > far || (kk - self.k).abs() > COEF_K_TOLERANCE)
            {
                return i;
            }
        }
        fc.len().min(k.len())
    }

    /// One ladder step from states `s` with driven input `xin`: the ladder output and the
    /// new states.
    ///
    /// Four trapezoidal one-poles in series, written in state-space form: every stage
    /// output is y_j = G^j·u + c_j(states), so once the loop input u is known all four
    /// states update in parallel instead of one stage after another.
    #[inline(always)]
    fn step(&self, s: [f32; 4], xin: f32) -> (f32, [f32; 4]) {
        let [a, b, c, d] = &self.cols;
        let (mut cs, mut fb) = ([0.0f32; 4], [0.0f32; 4]);
        for j in 0..4 {
            cs[j] = (a[j] * s[0] + b[j] * s[1]) + (c[j] * s[2] + d[j] * s[3]);
            fb[j] = self.fb[j] * s[j];
        }
        let feedback = (fb[0] + fb[1]) + (fb[2] + fb[3]);
        // u = (xin − k·y4)/(1 + k·G⁴) solved without a unit delay, then saturated so the
        // loop stays bounded at any resonance.
        let u = soft_clip(xin * self.inv - feedback);
        let y4 = self.g4 * u + cs[3];
        let mut next = [0.0f32; 4];
        for j in 0..4 {
            next[j] = self.gp2[j] * u + (2.0 * cs[j] - s[j]);
        }
        (y4, next)
    }
}

/// Bits of the smallest and (one past) the largest state size the ladder keeps as it is.
const SIZE_LOW: u32 = 1e-20f32.to_bits();
const SIZE_HIGH: u32 = 1e30f32.to_bits();

/// Checks the ladder's new states: flushes them to zero once they are tiny; false (and
/// cleared states) when they blew up.
#[inline(always)]
fn states_ok(s: &mut [f32; 4]) -> bool {
    let size = s[0].abs() + s[1].abs() + s[2].abs() + s[3].abs();
    // A sum of magnitudes is +0 or more, or NaN: one unsigned test covers the usual case.
    if size.to_bits().wrapping_sub(SIZE_LOW) < SIZE_HIGH - SIZE_LOW {
        return true;
    }
    *s = [0.0; 4];
    size < 1e-20
}

impl AcidFilter {
    /// Creates the filter with the `acid1` defaults (cutoff 1500, res 0.45, env 2500 Hz,
    /// decay 0.25 s, drive 0.2, mix 1, vol_comp 0.5, accent 0.5).
    pub fn new(sample_rate: f32) -> Self {
        let mut f = Self {
            inv_sr: 1.0 / sample_rate,
            max_cutoff: MAX_CUTOFF_HZ.min(0.2 * sample_rate),
            cutoff: 1500.0,
            res: 0.45,
            env_amount: 2500.0,
            decay_s: 0.25,
            drive: 0.2,
            mix: 1.0,
            vol_comp: 0.5,
            accent: 0.5,
            cutoff_mod: 0.0,
            drive_gain: 1.0,
            drive_makeup: 1.0,
            attack_step: 1.0 / (ENV_ATTACK_S * sample_rate).max(1.0),
            decay_step: 0.0,
            accent_decay_step: 0.0,
            sample_rate,
            dezip: 1.0 - (-1.0 / (DEZIP_S * sample_rate).max(1.0)).exp(),
            accent_gain_target: 1.0,
            accent_hit: false,
            motion: Motion {
                cutoff_s: 1500.0,
                res_s: 0.45,
                accent_gain: 1.0,
                env: 0.0,
                env_rising: false,
                s: [0.0; 4],
                coef_age: COEF_REFRESH,
            },
            coef: LadderCoefs::new(1500.0, 0.0, 1.0 / sample_rate),
        };
        f.update_drive();
        f.update_decay();
        f
    }

    /// Sets all parameters (ranges as in the `acid1` registry; NaN keeps the old value).
    /// Derived coefficients are recomputed only for values that changed.
    #[allow(clippy::too_many_arguments)]
    pub fn set_params(
        &mut self,
        cutoff: f32,
        res: f32,
        env_amount: f32,
        decay_s: f32,
        drive: f32,
        mix: f32,
        vol_comp: f32,
        accent: f32,
    ) {
        let pick =
            |v: f32, old: f32, lo: f32, hi: f32| if v.is_nan() { old } else { v.clamp(lo, hi) };
        self.cutoff = pick(cutoff, self.cutoff, -1e5, 1e5);
        self.res = pick(res, self.res, 0.0, MAX_RES);
        self.env_amount = pick(env_amount, self.env_amount, 0.0, 1e5);
        self.mix = pick(mix, self.mix, 0.0, 1.0);
        self.vol_comp = pick(vol_comp, self.vol_comp, 0.0, 1.0);
        let drive = pick(drive, self.drive, 0.0, 1.0);
        if drive != self.drive {
            self.drive = drive;
            self.update_drive();
        }
        let decay_s = pick(decay_s, self.decay_s, 0.001, 60.0);
        let accent = pick(accent, self.accent, 0.0, 1.0);
        if decay_s != self.decay_s || accent != self.accent {
            self.decay_s = decay_s;
            self.accent = accent;
            self.update_decay();
            self.update_accent_gain();
        }
    }

    fn update_drive(&mut self) {
        self.drive_gain = 1.0 + 8.0 * self.drive;
        // Small signals gain √drive_gain; full-scale peaks stay ≤ 1/√drive_gain.
        self.drive_makeup = 1.0 / self.drive_gain.sqrt();
    }

    fn update_decay(&mut self) {
        let per_s = |s: f32| 1.0 / (s * self.sample_rate).max(1.0);
        self.decay_step = per_s(self.decay_s);
        self.accent_decay_step = per_s(self.decay_s * (1.0 - ACCENT_DECAY_CUT * self.accent));
    }

    fn update_accent_gain(&mut self) {
        self.accent_gain_target = 10f32.powf(ACCENT_GAIN_DB * self.accent_amount() / 20.0);
    }

    /// Adds `hz` to the cutoff (LFO modulation); may be negative.
    pub fn set_cutoff_mod(&mut self, hz: f32) {
        if hz.is_finite() {
            self.cutoff_mod = hz.clamp(-1e5, 1e5);
        }
    }

    /// Fires the envelope from its current value (1 ms attack, then `decay` to 0);
    /// `accent` selects the accented variant scaled by the `accent` parameter.
    pub fn trigger(&mut self, accent: bool) {
        self.motion.env_rising = true;
        self.accent_hit = accent;
        self.update_accent_gain();
    }

    /// The current envelope value (0..1).
    pub fn envelope(&self) -> f32 {
        self.motion.env
    }

    /// The effective cutoff in Hz for the current sample (after envelope, accent, modulation
    /// and clamping).
    pub fn current_cutoff(&self) -> f32 {
        let m = &self.motion;
        self.ladder_targets(m.cutoff_s, m.res_s, m.env).0
    }

    /// Accent strength of the current note: the `accent` parameter if it was accented.
    #[inline]
    fn accent_amount(&self) -> f32 {
        if self.accent_hit { self.accent } else { 0.0 }
    }

    /// Filters one sample.
    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 {
        let (x, xin) = self.drive_input(x);
        let mut m = self.motion;
        self.advance(&mut m);
        let (fc, k) = self.ladder_targets(m.cutoff_s, m.res_s, m.env);
        let y4 = self.ladder(&mut m, fc, k, xin);
        self.motion = m;
        match y4 {
            Some(y4) => self.mix_output(x, self.compensate(y4, k, m.res_s, m.accent_gain)),
            None => 0.0,
        }
    }

    /// The sanitised input and the driven signal entering the ladder.
    #[inline(always)]
    fn drive_input(&self, x: f32) -> (f32, f32) {
        let x = sanitize(x);
        (x, soft_clip(x * self.drive_gain) * self.drive_makeup)
    }

    /// One step of the de-zipper on cutoff, resonance and accent gain.
    #[inline(always)]
    fn dezip_controls(&self, m: &mut Motion) {
        m.cutoff_s += (self.cutoff + self.cutoff_mod - m.cutoff_s) * self.dezip;
        m.res_s += (self.res - m.res_s) * self.dezip;
        m.accent_gain += (self.accent_gain_target - m.accent_gain) * self.dezip;
    }

    /// The envelope decrement of the current note.
    #[inline(always)]
    fn decay(&self) -> f32 {
        if self.accent_hit {
            self.accent_decay_step
        } else {
            self.decay_step
        }
    }

    /// One step of the envelope.
    #[inline(always)]
    fn advance_envelope(&self, m: &mut Motion, decay: f32) {
        if m.env_rising {
            m.env += self.attack_step;
            if m.env >= 1.0 {
                m.env = 1.0;
                m.env_rising = false;
            }
        } else if m.env > 0.0 {
            m.env = (m.env - decay).max(0.0);
        }
    }

    /// Moves the controls and the envelope on by one sample.
    #[inline(always)]
    fn advance(&self, m: &mut Motion) {
        self.dezip_controls(m);
        self.advance_envelope(m, self.decay());
    }

    /// The ladder's cutoff and feedback gain for de-zippered cutoff and resonance and an
    /// envelope value.
    #[inline(always)]
    fn ladder_targets(&self, cutoff_s: f32, res_s: f32, env: f32) -> (f32, f32) {
        let a = self.accent_amount();
        let sweep = env * (self.env_amount * (1.0 + ACCENT_ENV_BOOST * a) + ACCENT_CUTOFF_HZ * a);
        let fc = (cutoff_s + sweep).clamp(MIN_CUTOFF_HZ, self.max_cutoff);
        let res = res_s + (MAX_RES - res_s) * ACCENT_RES_BOOST * a * env;
        let low_scale =
            0.5 + 0.5 * ((fc - MIN_CUTOFF_HZ) / (FULL_RES_CUTOFF_HZ - MIN_CUTOFF_HZ)).min(1.0);
        (fc, 4.0 * res * low_scale)
    }

    /// Runs the ladder on `xin` at cutoff `fc` and feedback `k`; returns its output, or
    /// `None` when the state blew up (and was reset).
    #[inline(always)]
    fn ladder(&mut self, m: &mut Motion, fc: f32, k: f32, xin: f32) -> Option<f32> {
        m.coef_age = m.coef_age.saturating_add(1);
        if self.coef.stale(fc, k, m.coef_age) {
            self.coef = LadderCoefs::new(fc, k, self.inv_sr);
            m.coef_age = 0;
        }
        let (y4, mut s) = self.coef.step(m.s, xin);
        let ok = states_ok(&mut s);
        m.s = s;
        ok.then_some(y4)
    }

    /// The ladder output with its partial passband makeup, volume compensation and accent
    /// gain.
    #[inline(always)]
    fn compensate(&self, y4: f32, k: f32, res_s: f32, accent_gain: f32) -> f32 {
        y4 * (1.0 + 0.5 * k) * (1.0 - res_s * self.vol_comp) * accent_gain
    }

    /// The output saturator and dry/wet mix.
    #[inline(always)]
    fn mix_output(&self, x: f32, wet: f32) -> f32 {
        x * (1.0 - self.mix) + soft_clip(wet) * self.mix
    }

    /// Clears the ladder, stops the envelope and settles the de-zippered controls.
    pub fn reset(&mut self) {
        self.accent_hit = false;
        self.update_accent_gain();
        self.motion = Motion {
            cutoff_s: self.cutoff + self.cutoff_mod,
            res_s: self.res,
            accent_gain: self.accent_gain_target,
            env: 0.0,
            env_rising: false,
            s: [0.0; 4],
            // The next sample recomputes the coefficients exactly, whatever came before.
            coef_age: COEF_REFRESH,
        };
    }

    /// Filters `buf` in place.
    ///
    /// Only the ladder is a recurrence, and the controls and the envelope (cheap ones):
    /// the input drive, the cutoff and feedback targets and the output stage run as passes
    /// over the block (which the compiler vectorises), computing exactly what `tick`
    /// computes. When the de-zippered controls have settled (a step leaves them unchanged)
    /// they are constant for the whole block and only the envelope moves.
    pub fn process(&mut self, buf: &mut [f32]) {
        crate::platform::with_wide_lanes(
            #[inline(always)]
            || {
                for block in buf.chunks_mut(CHUNK) {
                    self.process_chunk(block);
                }
            },
        );
    }

    /// `process` for at most [`CHUNK`] samples.
    #[inline(always)]
    fn process_chunk(&mut self, block: &mut [f32]) {
        let n = block.len();
        let mut xin = [0.0f32; CHUNK];
        let mut env = [0.0f32; CHUNK];
        let mut cutoff_s = [0.0f32; CHUNK];
        let mut res_s = [0.0f32; CHUNK];
        let mut accent_gain = [0.0f32; CHUNK];
        let mut fc = [0.0f32; CHUNK];
        let mut k = [0.0f32; CHUNK];
        let mut blown = [false; CHUNK];
        let xin = &mut xin[..n];
        let (env, cutoff_s, res_s) = (&mut env[..n], &mut cutoff_s[..n], &mut res_s[..n]);
        let (accent_gain, blown) = (&mut accent_gain[..n], &mut blown[..n]);
        for (x, d) in block.iter_mut().zip(xin.iter_mut()) {
            (*x, *d) = self.drive_input(*x);
        }

        let mut m = self.motion;
        // Each de-zippered control either rests (a step leaves it unchanged, and so every
        // later step) or moves every sample; the controls do not depend on one another.
        dezip_into(
            &mut m.cutoff_s,
            self.cutoff + self.cutoff_mod,
            self.dezip,
            cutoff_s,
        );
        dezip_into(&mut m.res_s, self.res, self.dezip, res_s);
        dezip_into(
            &mut m.accent_gain,
            self.accent_gain_target,
            self.dezip,
            accent_gain,
        );
        // The envelope: the attack sample by sample, then the decay, which is the same
        // step from 0 on (0 − decay clamps to 0).
        let decay = self.decay();
        let mut start = 0;
        while m.env_rising && start < n {
            self.advance_envelope(&mut m, decay);
            env[start] = m.env;
            start += 1;
        }
        let mut e = m.env;
        if e > 0.0 {
            for v in env[start..].iter_mut() {
                let d = e - decay;
                e = if d > 0.0 { d } else { 0.0 };
                *v = e;
            }
        } else {
            env[start..].fill(e);
        }
        m.env = e;
        let (fc, k) = (&mut fc[..n], &mut k[..n]);
        for i in 0..n {
            (fc[i], k[i]) = self.ladder_targets(cutoff_s[i], res_s[i], env[i]);
        }
        // The ladder writes its output over its input, in stretches of constant
        // coefficients: the samples where `ladder` would recompute them are found first.
        let mut any_blown = false;
        let mut age = m.coef_age;
        let mut s = m.s;
        let mut i = 0;
        while i < n {
            let coef = &self.coef;
            let end = i + coef.first_stale(&fc[i..], &k[i..], age);
            for (y, b) in xin[i..end].iter_mut().zip(blown[i..end].iter_mut()) {
                let (y4, mut next) = coef.step(s, *y);
                let ok = states_ok(&mut next);
                s = next;
                if ok {
                    *y = y4;
                } else {
                    (*b, any_blown) = (true, true);
                }
            }
            age = age.saturating_add((end - i) as u32);
            if end < n {
                self.coef = LadderCoefs::new(fc[end], k[end], self.inv_sr);
                age = 0;
                let (y4, mut next) = self.coef.step(s, xin[end]);
                let ok = states_ok(&mut next);
                s = next;
                if ok {
                    xin[end] = y4;
                } else {
                    (blown[end], any_blown) = (true, true);
                }
            }
            i = end + 1;
        }
        m.coef_age = age;
        m.s = s;
        self.motion = m;
        for i in 0..n {
            let wet = self.compensate(xin[i], k[i], res_s[i], accent_gain[i]);
            block[i] = self.mix_output(block[i], wet);
        }
        if any_blown {
            for (y, &b) in block.iter_mut().zip(blown.iter()) {
                if b {
                    *y = 0.0;
                }
            }
        }
    }
}

/// Moves a de-zippered control `v` towards `target` by `dezip` a sample, writing each
/// sample's value to `out`: a fill when a step leaves it unchanged.
#[inline(always)]
fn dezip_into(v: &mut f32, target: f32, dezip: f32, out: &mut [f32]) {
    let mut x = *v;
    if (x + (target - x) * dezip).to_bits() == x.to_bits() {
        out.fill(x);
        return;
    }
    for o in out.iter_mut() {
        x += (target - x) * dezip;
        *o = x;
    }
    *v = x;
}

/// Samples per pass of [`AcidFilter::process`].
const CHUNK: usize = 64;

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_block_equals_tick, magnitude_spectrum, rng_stream};
    use super::*;

    const SR: f32 = 48_000.0;

    fn filter(cutoff: f32, res: f32) -> AcidFilter {
        let mut f = AcidFilter::new(SR);
        f.set_params(cutoff, res, 0.0, 0.25, 0.0, 1.0, 0.0, 0.5);
        f.reset();
        f
    }

    /// Impulse response magnitude, with a small impulse so every saturator stays linear.
    fn response(f: &mut AcidFilter) -> Vec<f32> {
        let ir: Vec<f32> = (0..65_536)
            .map(|i| f.tick(if i == 0 { 1e-3 } else { 0.0 }))
            .collect();
        magnitude_spectrum(&ir)
    }

    fn peak_hz(mag: &[f32]) -> f32 {
        let bin = (1..mag.len())
            .max_by(|&a, &b| mag[a].total_cmp(&mag[b]))
            .unwrap();
        bin as f32 * SR / 65_536.0
    }

    #[test]
    fn resonance_peak_is_within_5_percent_of_the_cutoff() {
        for &cutoff in &[500.0, 1000.0, 2000.0, 4000.0] {
            let mut f = filter(cutoff, 0.9);
            assert_eq!(f.current_cutoff(), cutoff);
            let mag = response(&mut f);
            let hz = peak_hz(&mag);
            assert!(
                (hz / cutoff - 1.0).abs() < 0.05,
                "cutoff {cutoff}: peak at {hz} Hz"
            );
            let dc = mag[1];
            assert!(
                mag.iter().cloned().fold(0.0, f32::max) > 8.0 * dc,
                "a clear resonant peak"
            );
        }
    }

    #[test]
    fn ladder_rolls_off_24_db_per_octave() {
        let mut f = filter(500.0, 0.0);
        let mag = response(&mut f);
        let at = |hz: f32| mag[(hz * 65_536.0 / SR).round() as usize];
        let slope = 20.0 * (at(3000.0) / at(1500.0)).log10();
        assert!((slope + 24.0).abs() < 2.0, "{slope} dB/octave");
        // Unity small-signal gain at DC with no resonance, no drive.
        assert!((at(10.0) / 1e-3 - 1.0).abs() < 0.01, "{}", at(10.0) / 1e-3);
    }

    #[test]
    fn resonance_is_reduced_at_low_cutoff() {
        let ratio = |cutoff: f32| {
            let mag = response(&mut filter(cutoff, 0.9));
            mag.iter().cloned().fold(0.0, f32::max) / mag[1]
        };
        let (low, high) = (ratio(100.0), ratio(500.0));
        assert!(low < 0.5 * high, "peak/DC at 100 Hz {low} vs 500 Hz {high}");
    }

    #[test]
    fn vol_comp_scales_output_by_one_minus_res_times_comp() {
        let rms = |vol_comp: f32| {
            let mut f = AcidFilter::new(SR);
            f.set_params(3000.0, 0.9, 0.0, 0.25, 0.0, 1.0, vol_comp, 0.0);
            f.reset();
            let y: Vec<f32> = (0..48_000)
                .map(|i| f.tick(0.01 * (i as f32 * 0.02).sin()))
                .collect();
            (y[24_000..].iter().map(|v| v * v).sum::<f32>() / 24_000.0).sqrt()
        };
        let r = rms(1.0) / rms(0.0);
        assert!((r - 0.1).abs() < 0.002, "ratio {r}");
    }

    #[test]
    fn envelope_has_1ms_attack_and_linear_decay() {
        let mut f = AcidFilter::new(SR);
        f.set_params(500.0, 0.5, 2000.0, 0.2, 0.2, 1.0, 0.5, 1.0);
        f.reset();
        f.trigger(false);
        let env: Vec<f32> = (0..12_000)
            .map(|_| {
                f.tick(0.0);
                f.envelope()
            })
            .collect();
        let peak = env.iter().position(|&e| e == 1.0).unwrap() + 1;
        assert!(peak.abs_diff(48) <= 1, "peak after {peak} samples");
        assert!(
            (env[47 + 4800] - 0.5).abs() < 1e-3,
            "half way at decay/2: {}",
            env[47 + 4800]
        );
        let zero = env.iter().position(|&e| e == 0.0).unwrap();
        assert!(
            zero.abs_diff(48 + 9600) <= 2,
            "reaches 0 after the decay time: {zero}"
        );
    }

    #[test]
    fn accent_opens_the_filter_further_decays_faster_and_is_louder() {
        let run = |accent: bool| {
            let mut f = AcidFilter::new(SR);
            f.set_params(500.0, 0.5, 2000.0, 0.3, 0.0, 1.0, 0.0, 1.0);
            f.reset();
            f.trigger(accent);
            let mut peak = 0.0f32;
            let mut end = 0;
            let mut energy = 0.0;
            let input = rng_stream(4, 24_000);
            for (i, &x) in input.iter().enumerate() {
                let y = f.tick(0.05 * x);
                energy += y * y;
                peak = peak.max(f.current_cutoff());
                if f.envelope() > 0.0 {
                    end = i;
                }
            }
            (peak, end, energy)
        };
        let (plain_peak, plain_end, plain_energy) = run(false);
        let (acc_peak, acc_end, acc_energy) = run(true);
        assert_eq!(plain_peak, 2500.0);
        assert_eq!(acc_peak, 500.0 + 2000.0 * 1.5 + 1000.0);
        assert!(
            acc_end.abs_diff(plain_end / 2 + 24) <= 3,
            "accent halves the decay: {acc_end} vs {plain_end}"
        );
        assert!(
            acc_energy > plain_energy * 1.3,
            "accent is louder: {acc_energy} vs {plain_energy}"
        );
    }

    #[test]
    fn cutoff_mod_and_clamping() {
        let mut f = filter(1000.0, 0.5);
        f.set_cutoff_mod(-300.0);
        f.reset();
        assert_eq!(f.current_cutoff(), 700.0);
        f.set_cutoff_mod(-5000.0);
        f.reset();
        assert_eq!(f.current_cutoff(), 80.0);
        f.set_params(4900.0, 0.5, 5000.0, 0.25, 0.0, 1.0, 0.0, 0.0);
        f.set_cutoff_mod(800.0);
        f.reset();
        f.trigger(true);
        for _ in 0..100 {
            f.tick(0.1);
        }
        assert_eq!(f.current_cutoff(), 5000.0);
    }

    #[test]
    fn mix_zero_is_dry_bit_for_bit() {
        let mut f = AcidFilter::new(SR);
        f.set_params(800.0, 0.9, 3000.0, 0.3, 1.0, 0.0, 0.5, 1.0);
        f.trigger(true);
        for x in rng_stream(5, 2000) {
            assert_eq!(f.tick(x).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn extreme_settings_never_produce_nan_or_runaway() {
        let mut f = AcidFilter::new(SR);
        let noise = rng_stream(6, 96_000);
        for (i, &n) in noise.iter().enumerate() {
            if i.is_multiple_of(500) {
                let r = rng_stream(i as u32, 8);
                f.set_params(
                    r[0] * 6000.0,
                    0.98 + r[1],
                    5000.0 * r[2].abs(),
                    r[3],
                    1.0,
                    r[4].abs(),
                    r[5].abs(),
                    1.0,
                );
                f.set_cutoff_mod(r[6] * 2000.0);
                f.trigger(r[7] > 0.0);
            }
            let x = match i % 1000 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2..=50 => 1e30,
                _ => n,
            };
            let y = f.tick(x);
            assert!(y.is_finite() && y.abs() <= 1e6, "sample {i}: {y}");
        }
        // Self-oscillation-adjacent settings with a loud input stay bounded by the clipper.
        f.set_params(1000.0, 0.98, 0.0, 0.25, 1.0, 1.0, 0.0, 1.0);
        let peak = (0..48_000)
            .map(|i| f.tick(if i % 100 < 50 { 1.0 } else { -1.0 }).abs())
            .fold(0.0, f32::max);
        assert!(peak <= 1.0, "{peak}");
    }

    #[test]
    fn process_matches_tick_and_reset_repeats() {
        let input = rng_stream(8, 4000);
        let mut a = AcidFilter::new(SR);
        a.set_params(700.0, 0.8, 2500.0, 0.1, 0.4, 0.9, 0.5, 0.7);
        a.set_cutoff_mod(120.0);
        a.trigger(true);
        assert_block_equals_tick(&mut a, &input, |u, b| u.process(b), |u, x| u.tick(x));
        a.reset();
        a.trigger(true);
        let mut first = input.clone();
        a.process(&mut first);
        a.reset();
        a.trigger(true);
        let mut again = input.clone();
        a.process(&mut again);
        assert_eq!(first, again);
    }
}
