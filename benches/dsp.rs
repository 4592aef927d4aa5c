//! Cost of each DSP unit per 128-frame block (the default device buffer).

use std::hint::black_box;

use chronus::dsp::{
    AcidFilter, Adsr, Biquad, Delay, Distortion, Lfo, Limiter, LowPass, Oscillator, Portamento,
    Reverb, Smoother, Waveform,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SR: f32 = 48_000.0;
const BLOCK: usize = 128;

/// A deterministic, musically plausible input block (a detuned saw-ish ramp).
fn input_block() -> [f32; BLOCK] {
    std::array::from_fn(|i| 0.3 * (((i * 7) % 64) as f32 / 32.0 - 1.0))
}

fn bench_units(c: &mut Criterion) {
    let mut g = c.benchmark_group("dsp_block128");
    g.throughput(Throughput::Elements(BLOCK as u64));
    let input = input_block();
    let freqs = [220.0f32; BLOCK];

    for w in [
        Waveform::Sine,
        Waveform::Saw,
        Waveform::Square,
        Waveform::White,
        Waveform::Pink,
        Waveform::Brown,
    ] {
        let mut osc = Oscillator::new(SR, 1);
        osc.set_waveform_immediate(w);
        let mut out = [0.0f32; BLOCK];
        g.bench_function(format!("osc_{w:?}").to_lowercase(), |b| {
            b.iter(|| {
                osc.process(black_box(&freqs), &mut out);
                black_box(&out);
            })
        });
    }

    let mut lp = LowPass::new(SR);
    lp.set(1200.0, 4.0);
    g.bench_function("lowpass", |b| {
        b.iter(|| {
            let mut buf = black_box(input);
            lp.process(&mut buf);
            black_box(buf)
        })
    });

    // The voice's per-sample filter modulation path: set() with a new cutoff every sample.
    let mut lp_mod = LowPass::new(SR);
    let mut cutoff = 500.0f32;
    g.bench_function("lowpass_set_every_sample", |b| {
        b.iter(|| {
            let mut buf = black_box(input);
            for x in buf.iter_mut() {
                cutoff = if cutoff > 4000.0 { 500.0 } else { cutoff + 1.0 };
                lp_mod.set(cutoff, 2.0);
                *x = lp_mod.tick(*x);
            }
            black_box(buf)
        })
    });

    let mut bq = Biquad::bandpass(SR, 1000.0, 2.0);
    g.bench_function("biquad", |b| {
        b.iter(|| {
            let mut buf = black_box(input);
            bq.process(&mut buf);
            black_box(buf)
        })
    });

    let mut adsr = Adsr::new(SR);
    adsr.set(0.5, 0.5, 0.7, 0.5);
    let mut n = 0u32;
    g.bench_function("adsr", |b| {
        b.iter(|| {
            // Cycle through attack, decay, sustain and release.
            n = n.wrapping_add(1);
            adsr.gate(n % 400 < 300);
            let mut out = [0.0f32; BLOCK];
            adsr.process(&mut out);
            black_box(out)
        })
    });

    let mut sm = Smoother::new(SR, 20.0, 0.0);
    g.bench_function("smoother", |b| {
        b.iter(|| {
            sm.set_target(if sm.target() > 0.5 { 0.0 } else { 1.0 });
            let mut out = [0.0f32; BLOCK];
            sm.process(&mut out);
            black_box(out)
        })
    });

    let mut acid = AcidFilter::new(SR);
    acid.set_params(600.0, 0.85, 2500.0, 0.25, 0.5, 1.0, 0.5, 0.7);
    let mut hits = 0u32;
    g.bench_function("acid", |b| {
        b.iter(|| {
            hits = hits.wrapping_add(1);
            if hits.is_multiple_of(12) {
                acid.trigger(hits.is_multiple_of(24));
            }
            let mut buf = black_box(input);
            acid.process(&mut buf);
            black_box(buf)
        })
    });

    let mut dist = Distortion::new(SR);
    dist.set(0.7, 0.5, 0.5);
    g.bench_function("dist", |b| {
        b.iter(|| {
            let mut buf = black_box(input);
            dist.process(&mut buf);
            black_box(buf)
        })
    });

    let mut reverb = Reverb::new(SR);
    reverb.set(0.7, 0.4);
    let (mut l, mut r) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
    g.bench_function("reverb", |b| {
        b.iter(|| {
            reverb.process(black_box(&input), &mut l, &mut r);
            black_box((&l, &r));
        })
    });

    let mut delay = Delay::new(SR, 0.6);
    delay.set(0.25, 0.5, 100.0, 5000.0);
    g.bench_function("delay", |b| {
        b.iter(|| {
            let mut buf = black_box(input);
            delay.process(&mut buf);
            black_box(buf)
        })
    });

    let mut lfo = Lfo::new(SR);
    lfo.set_rate(4.0);
    g.bench_function("lfo", |b| {
        b.iter(|| {
            let mut out = [0.0f32; BLOCK];
            lfo.process(&mut out);
            black_box(out)
        })
    });

    let mut limiter = Limiter::new(SR);
    g.bench_function("limiter", |b| {
        b.iter(|| {
            let mut left = black_box(input).map(|v| v * 4.0);
            let mut right = black_box(input);
            limiter.process(&mut left, &mut right);
            black_box((left, right))
        })
    });

    // One voice as the engine chains it: freq smoother → portamento → saw → × ADSR × amp →
    // low-pass with its cutoff/Q re-applied from smoothers every 32 samples.
    let mut osc = Oscillator::new(SR, 3);
    osc.set_waveform_immediate(Waveform::Saw);
    let mut env = Adsr::new(SR);
    env.gate(true);
    let mut freq = Smoother::new(SR, 20.0, 220.0);
    let mut amp = Smoother::new(SR, 20.0, 0.3);
    let mut porta = Portamento::new(SR);
    porta.set_time(0.05);
    let mut cut = Smoother::new(SR / 32.0, 20.0, 800.0);
    let mut filt = LowPass::new(SR);
    let mut step = 0u32;
    g.bench_function("voice_chain", |b| {
        b.iter(|| {
            step = step.wrapping_add(1);
            freq.set_target(if step.is_multiple_of(2) { 220.0 } else { 330.0 });
            cut.set_target(if step.is_multiple_of(3) {
                800.0
            } else {
                2000.0
            });
            let mut out = [0.0f32; BLOCK];
            for (i, o) in out.iter_mut().enumerate() {
                if i.is_multiple_of(32) {
                    filt.set(cut.tick(), 2.0);
                }
                let f = porta.tick(freq.tick());
                let s = osc.tick(f) * env.tick() * amp.tick();
                *o = filt.tick(s);
            }
            black_box(out)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_units);
criterion_main!(benches);
