//! One monophonic voice: freq → smoother → portamento → oscillator → × ADSR × amp → filter.
//!
//! A voice whose envelope is idle and whose filter tail has died away goes to sleep and costs
//! nothing until its gate opens again; while asleep its smoothers jump to their targets, as the
//! original's (always running) smoothers would have converged.

use crate::dsp::{AcidFilter, Adsr, LowPass, Oscillator, Portamento, Smoother, Waveform};
use crate::model::registry::{ParamId, voice as vp};

/// Samples between control-rate updates (filter coefficients, LFOs, effect settings).
pub const CONTROL_PERIOD: u64 = 32;
/// Output below this counts as silence when deciding to put a voice to sleep.
const QUIET_LEVEL: f32 = 1e-5;
/// Consecutive quiet samples (with the envelope idle) before a voice sleeps.
const QUIET_SAMPLES: u32 = 512;
/// Smoothing time of continuous parameters.
pub const SMOOTH_MS: f32 = 20.0;

/// The filter a voice runs its signal through (its own low-pass, or acid1 for voice2).
pub(crate) trait VoiceFilter {
    /// Filters `buf` in place.
    fn filter(&mut self, buf: &mut [f32]);
}

impl VoiceFilter for LowPass {
    #[inline(always)]
    fn filter(&mut self, buf: &mut [f32]) {
        self.process(buf);
    }
}

impl VoiceFilter for AcidFilter {
    #[inline]
    fn filter(&mut self, buf: &mut [f32]) {
        self.process(buf);
    }
}

/// The parts of a voice before its filter.
#[derive(Debug, Clone)]
pub(crate) struct VoiceCore {
    osc: Oscillator,
    adsr: Adsr,
    porta: Portamento,
    freq: Smoother,
    amp: Smoother,
}

/// A voice with its own filter, sends and sleep state.
#[derive(Debug, Clone)]
pub(crate) struct Voice {
    core: VoiceCore,
    lp: LowPass,
    cutoff: Smoother,
    q: Smoother,
    applied: (f32, f32),
    reverb_send: Smoother,
    delay_send: Smoother,
    /// Processed this sub-block; false while asleep.
    pub awake: bool,
    gate_open: bool,
    /// Consecutive quiet samples (whole control periods) with the envelope idle.
    quiet: u32,
    /// Peak output in the current control period.
    period_peak: f32,
    /// Peak output since the last meter report.
    pub peak: f32,
}

impl Voice {
    pub fn new(sample_rate: f32, seed: u32) -> Voice {
        let d = |p: usize| ParamId::voice(1, p).spec().default as f32;
        let control_rate = sample_rate / CONTROL_PERIOD as f32;
        let mut v = Voice {
            core: VoiceCore {
                osc: Oscillator::new(sample_rate, seed),
                adsr: Adsr::new(sample_rate),
                porta: Portamento::new(sample_rate),
                freq: Smoother::new(sample_rate, SMOOTH_MS, d(vp::FREQ)),
                amp: Smoother::new(sample_rate, SMOOTH_MS, d(vp::AMP)),
            },
            lp: LowPass::new(sample_rate),
            cutoff: Smoother::new(control_rate, SMOOTH_MS, d(vp::FILTER_FREQ)),
            q: Smoother::new(control_rate, SMOOTH_MS, d(vp::FILTER_Q)),
            applied: (d(vp::FILTER_FREQ), d(vp::FILTER_Q)),
            reverb_send: Smoother::new(sample_rate, SMOOTH_MS, d(vp::REVERB_SEND)),
            delay_send: Smoother::new(sample_rate, SMOOTH_MS, d(vp::DELAY_SEND)),
            awake: false,
            gate_open: false,
            quiet: 0,
            period_peak: 0.0,
            peak: 0.0,
        };
        v.core.porta.reset_to(d(vp::FREQ));
        v.core
            .adsr
            .set(d(vp::ATTACK), d(vp::DECAY), d(vp::SUSTAIN), d(vp::RELEASE));
        v.core.porta.set_time(d(vp::SLIDE_TIME));
        v.lp.set(v.applied.0, v.applied.1);
        v
    }

    /// Applies parameter `p` (a [`vp`] index) of this voice; `values` holds the voice's
    /// current targets (needed for the ADSR, which takes all four times at once).
    pub fn set_param(&mut self, p: usize, value: f32, values: &[f32]) {
        match p {
            vp::FREQ => self.core.freq.set_target(value),
            vp::AMP => self.core.amp.set_target(value),
            vp::WAVEFORM => self
                .core
                .osc
                .set_waveform(Waveform::from_index(value as i32)),
            vp::FILTER_FREQ => self.cutoff.set_target(value),
            vp::FILTER_Q => self.q.set_target(value),
            vp::ATTACK | vp::DECAY | vp::SUSTAIN | vp::RELEASE => self.core.adsr.set(
                values[vp::ATTACK],
                values[vp::DECAY],
                values[vp::SUSTAIN],
                values[vp::RELEASE],
            ),
            vp::REVERB_SEND => self.reverb_send.set_target(value),
            vp::DELAY_SEND => self.delay_send.set_target(value),
            vp::SLIDE_TIME => self.core.porta.set_time(value),
            _ => {}
        }
    }

    /// Jumps every smoother to its target (used while asleep and on waking).
    fn settle(&mut self) {
        self.core.freq.reset();
        self.core.amp.reset();
        self.core.porta.reset_to(self.core.freq.value());
        self.cutoff.reset();
        self.q.reset();
        self.reverb_send.reset();
        self.delay_send.reset();
        self.apply_filter();
    }

    fn apply_filter(&mut self) {
        let now = (self.cutoff.value(), self.q.value());
        if now != self.applied {
            self.applied = now;
            self.lp.set(now.0, now.1);
        }
    }

    /// Makes the voice run from now on, settled at its current targets.
    pub fn wake(&mut self) {
        if !self.awake {
            self.settle();
            self.awake = true;
            self.quiet = 0;
        }
    }

    /// Opens or closes the gate (opening wakes the voice).
    pub fn gate(&mut self, on: bool) {
        if on {
            self.wake();
        }
        self.gate_open = on;
        self.core.adsr.gate(on);
    }

    /// Jumps the resonance to its target: a step's lock of it (or its return at the next hit)
    /// sounds from the hit's first sample. Call before [`Voice::land_hit`], which applies it.
    pub fn land_q(&mut self) {
        self.q.reset();
    }

    /// Jumps the level and cutoff to the targets a hit just set, so the hit sounds at them.
    pub fn land_hit(&mut self) {
        self.core.amp.reset();
        self.cutoff.reset();
        self.apply_filter();
    }

    /// True while the gate is open (a release has not been asked for).
    pub fn gate_open(&self) -> bool {
        self.gate_open
    }

    /// Control-rate update: filter smoothing and coefficients, and the decision to sleep.
    /// Both happen only at control ticks (absolute sample times), so the output does not
    /// depend on how the host cuts its buffers.
    pub fn control_tick(&mut self) {
        if !self.awake {
            self.settle();
            return;
        }
        if self.core.adsr.is_idle() && self.period_peak < QUIET_LEVEL {
            self.quiet = self.quiet.saturating_add(CONTROL_PERIOD as u32);
        } else {
            self.quiet = 0;
        }
        self.period_peak = 0.0;
        if self.quiet >= QUIET_SAMPLES {
            self.sleep();
            self.settle();
            return;
        }
        // Resting smoothers' ticks change nothing.
        if !(self.cutoff.is_settled() && self.q.is_settled()) {
            tick_settling(&mut self.cutoff);
            tick_settling(&mut self.q);
            self.apply_filter();
        }
    }

    /// Renders into `buf` through the voice's own low-pass; returns the peak |output|, or
    /// `None` when a unit blew up (an output sample is not finite).
    pub fn render_own(&mut self, buf: &mut [f32], gain: Ramp) -> Option<f32> {
        let Voice { core, lp, .. } = self;
        crate::platform::with_wide_lanes(
            #[inline(always)]
            || render_core(core, lp, buf, gain),
        )
    }

    /// Renders into `buf` through `filter` (acid1 for voice2).
    pub fn render_through<F: VoiceFilter>(
        &mut self,
        filter: &mut F,
        buf: &mut [f32],
        gain: Ramp,
    ) -> Option<f32> {
        let core = &mut self.core;
        crate::platform::with_wide_lanes(
            #[inline(always)]
            || render_core(core, filter, buf, gain),
        )
    }

    /// Adds the rendered `buf` (whose peak |sample| is `peak`) to the dry and send buses and
    /// tracks the peaks.
    pub fn mix_into(
        &mut self,
        buf: &[f32],
        peak: f32,
        dry: &mut [f32],
        reverb: &mut [f32],
        delay: &mut [f32],
    ) {
        let (rs, ds) = (&mut self.reverb_send, &mut self.delay_send);
        if rs.is_settled() && ds.is_settled() {
            // Both sends at rest: dry and sends in one pass (a send at zero adds nothing).
            let (r, d) = (rs.value(), ds.value());
            crate::platform::with_wide_lanes(
                #[inline(always)]
                || match (r != 0.0, d != 0.0) {
                    (true, true) => mix3::<true, true>(buf, dry, reverb, delay, r, d),
                    (true, false) => mix3::<true, false>(buf, dry, reverb, delay, r, d),
                    (false, true) => mix3::<false, true>(buf, dry, reverb, delay, r, d),
                    (false, false) => mix3::<false, false>(buf, dry, reverb, delay, r, d),
                },
            );
        } else {
            for (d, &y) in dry.iter_mut().zip(buf) {
                *d += y;
            }
            add_send(rs, buf, reverb);
            add_send(ds, buf, delay);
        }
        self.peak = self.peak.max(peak);
        self.period_peak = self.period_peak.max(peak);
    }

    /// Stops processing; the filter state is cleared so waking starts clean.
    fn sleep(&mut self) {
        self.awake = false;
        self.quiet = 0;
        self.lp.reset();
    }

    /// Clears every unit after a non-finite output.
    pub fn reset_units(&mut self) {
        self.core.osc.reset();
        self.core.adsr.reset();
        self.lp.reset();
        self.applied = (f32::NAN, f32::NAN);
        self.settle();
    }
}

/// Adds `buf` to `dry`, and × `r` / × `d` to the reverb / delay bus where `R` / `D`.
#[inline(always)]
fn mix3<const R: bool, const D: bool>(
    buf: &[f32],
    dry: &mut [f32],
    reverb: &mut [f32],
    delay: &mut [f32],
    r: f32,
    d: f32,
) {
    let n = buf.len().min(dry.len()).min(reverb.len()).min(delay.len());
    let (buf, dry, reverb, delay) = (&buf[..n], &mut dry[..n], &mut reverb[..n], &mut delay[..n]);
    for i in 0..n {
        let y = buf[i];
        dry[i] += y;
        if R {
            reverb[i] += y * r;
        }
        if D {
            delay[i] += y * d;
        }
    }
}

/// Adds `buf` × the send level to a bus; a send resting at zero costs nothing.
#[inline]
fn add_send(send: &mut Smoother, buf: &[f32], bus: &mut [f32]) {
    if send.is_settled() {
        let level = send.value();
        if level != 0.0 {
            for (b, &y) in bus.iter_mut().zip(buf) {
                *b += y * level;
            }
        }
        return;
    }
    for (b, &y) in bus.iter_mut().zip(buf) {
        *b += y * send.tick();
    }
}

/// A gain that moves linearly through a control period: `base + step × (offset + i)` at the
/// sub-block's i-th sample (computed from the period start, not accumulated, so the result is
/// the same however the period is cut).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ramp {
    pub base: f32,
    pub step: f32,
    pub offset: u32,
}

impl Ramp {
    /// Unity gain.
    pub const UNITY: Ramp = Ramp {
        base: 1.0,
        step: 0.0,
        offset: 0,
    };
}

/// Moves a control-rate smoother one tick and lands it exactly on its target once close, so
/// "did it change" checks stop firing.
pub(crate) fn tick_settling(s: &mut Smoother) -> f32 {
    let v = s.tick();
    let t = s.target();
    if (t - v).abs() <= 1e-6 * t.abs().max(1e-3) {
        s.reset();
    }
    s.value()
}

/// Longest stretch a voice renders through its stack buffers at once.
const CHUNK: usize = CONTROL_PERIOD as usize;

/// Renders `buf` stage by stage (pitch, oscillator, envelope, amplitude, filter) over chunks
/// of at most [`CHUNK`] samples. Each stage does per sample exactly what a sample-by-sample
/// loop would, so the result is bit-identical to it; stages that are at rest (a settled
/// pitch or amplitude, a held envelope) fill their chunk with a constant instead.
#[inline(always)]
fn render_core<F: VoiceFilter>(
    v: &mut VoiceCore,
    filter: &mut F,
    buf: &mut [f32],
    gain: Ramp,
) -> Option<f32> {
    let mut largest = 0u32;
    let mut first = gain.offset;
    let unity = gain.step == 0.0 && gain.base == 1.0;
    for out in buf.chunks_mut(CHUNK) {
        let n = out.len();
        let held = v.freq.value();
        if v.freq.is_settled() && v.porta.rests_at(held) {
            v.osc.process_at(held, out);
        } else {
            let mut freq = [0.0f32; CHUNK];
            let freq = &mut freq[..n];
            v.freq.process(freq);
            v.porta.glide_in_place(freq);
            v.osc.process(freq, out);
        }
        let mut env = [0.0f32; CHUNK];
        let env = &mut env[..n];
        v.adsr.process(env);
        if unity && v.amp.is_settled() {
            let a = v.amp.value();
            for (x, &e) in out.iter_mut().zip(&*env) {
                *x = *x * e * a;
            }
        } else {
            let mut amp = [0.0f32; CHUNK];
            let amp = &mut amp[..n];
            v.amp.process(amp);
            if !unity {
                for (i, a) in amp.iter_mut().enumerate() {
                    *a *= gain.base + gain.step * (first + i as u32) as f32;
                }
            }
            for ((x, &e), &a) in out.iter_mut().zip(&*env).zip(&*amp) {
                *x = *x * e * a;
            }
        }
        filter.filter(out);
        largest = largest.max(largest_magnitude(out));
        first += n as u32;
    }
    (largest < f32::INFINITY.to_bits()).then(|| f32::from_bits(largest))
}

/// The largest |x| in `buf` as bits (above those of +∞ when a sample is NaN). The bits of a
/// non-negative float order like its value, and an integer maximum vectorises where a float
/// sum or maximum (a serial chain) does not.
#[inline(always)]
pub(crate) fn largest_magnitude(buf: &[f32]) -> u32 {
    buf.iter().fold(0, |m, x| m.max(x.to_bits() & 0x7fff_ffff))
}
