//! TEMPORARY timing harness (removed before hand-off).
use super::*;
use std::hint::black_box;
use std::time::Instant;

fn min_ns_per_sample(mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..30 {
        let t = Instant::now();
        for _ in 0..100 {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / (100.0 * 128.0));
    }
    best
}

#[test]
#[ignore]
fn perf_report() {
    let sr = 48_000.0;
    let input: [f32; 128] = std::array::from_fn(|i| 0.3 * (((i * 7) % 64) as f32 / 32.0 - 1.0));
    let freqs = [220.0f32; 128];
    let mut out = [0.0f32; 128];
    for w in [Waveform::Sine, Waveform::Saw, Waveform::Pink] {
        let mut o = Oscillator::new(sr, 1);
        o.set_waveform_immediate(w);
        eprintln!(
            "osc {w:?}: {:.2}",
            min_ns_per_sample(|| {
                o.process(black_box(&freqs), &mut out);
                black_box(&out);
            })
        );
    }
    let mut lp = LowPass::new(sr);
    lp.set(1000.0, 3.0);
    eprintln!(
        "lowpass: {:.2}",
        min_ns_per_sample(|| {
            let mut b = black_box(input);
            lp.process(&mut b);
            black_box(b);
        })
    );
    let mut sm = Smoother::new(sr, 20.0, 0.0);
    eprintln!(
        "smoother: {:.2}",
        min_ns_per_sample(|| {
            sm.set_target(if sm.target() > 0.5 { 0.0 } else { 1.0 });
            sm.process(&mut out);
            black_box(&out);
        })
    );
    let mut ad = Adsr::new(sr);
    ad.gate(true);
    eprintln!(
        "adsr: {:.2}",
        min_ns_per_sample(|| {
            ad.process(&mut out);
            black_box(&out);
        })
    );
    let mut acid = AcidFilter::new(sr);
    acid.set_params(600.0, 0.85, 2500.0, 0.25, 0.5, 1.0, 0.5, 0.7);
    let mut k = 0;
    eprintln!(
        "acid: {:.2}",
        min_ns_per_sample(|| {
            k += 1;
            if k % 12 == 0 {
                acid.trigger(true)
            };
            let mut b = black_box(input);
            acid.process(&mut b);
            black_box(b);
        })
    );
    let mut acid2 = AcidFilter::new(sr);
    acid2.set_params(600.0, 0.85, 2500.0, 0.25, 0.5, 1.0, 0.5, 0.7);
    for _ in 0..48000 {
        acid2.tick(0.0);
    }
    eprintln!(
        "acid static: {:.2}",
        min_ns_per_sample(|| {
            let mut b = black_box(input);
            acid2.process(&mut b);
            black_box(b);
        })
    );
    eprintln!(
        "tan_pi: {:.2}",
        min_ns_per_sample(|| {
            let mut b = black_box(input);
            for v in b.iter_mut() {
                *v = tan_pi(v.abs() * 0.1 + 0.01);
            }
            black_box(b);
        })
    );
    eprintln!(
        "soft_clip: {:.2}",
        min_ns_per_sample(|| {
            let mut b = black_box(input);
            for v in b.iter_mut() {
                *v = soft_clip(*v * 3.0);
            }
            black_box(b);
        })
    );
    let mut d = Distortion::new(sr);
    d.set(0.7, 0.5, 0.5);
    eprintln!(
        "dist: {:.2}",
        min_ns_per_sample(|| {
            let mut b = black_box(input);
            d.process(&mut b);
            black_box(b);
        })
    );
    let mut rv = Reverb::new(sr);
    let (mut l, mut r) = ([0.0f32; 128], [0.0f32; 128]);
    eprintln!(
        "reverb: {:.2}",
        min_ns_per_sample(|| {
            rv.process(black_box(&input), &mut l, &mut r);
            black_box((&l, &r));
        })
    );
    let mut dl = Delay::new(sr, 0.6);
    eprintln!(
        "delay: {:.2}",
        min_ns_per_sample(|| {
            let mut b = black_box(input);
            dl.process(&mut b);
            black_box(b);
        })
    );
    let mut lim = Limiter::new(sr);
    eprintln!(
        "limiter: {:.2}",
        min_ns_per_sample(|| {
            let mut a = black_box(input).map(|v| v * 4.0);
            let mut b = black_box(input);
            lim.process(&mut a, &mut b);
            black_box((a, b));
        })
    );
    let mut osc = Oscillator::new(sr, 3);
    osc.set_waveform_immediate(Waveform::Saw);
    let mut env = Adsr::new(sr);
    env.gate(true);
    let mut freq = Smoother::new(sr, 20.0, 220.0);
    let mut amp = Smoother::new(sr, 20.0, 0.3);
    let mut porta = Portamento::new(sr);
    porta.set_time(0.05);
    let mut filt = LowPass::new(sr);
    let mut step = 0;
    eprintln!(
        "voice: {:.2}",
        min_ns_per_sample(|| {
            step += 1;
            freq.set_target(if step % 2 == 0 { 220.0 } else { 330.0 });
            amp.set_target(if step % 3 == 0 { 0.2 } else { 0.3 });
            for o in out.iter_mut() {
                let f = porta.tick(freq.tick());
                *o = filt.tick(osc.tick(f) * env.tick() * amp.tick());
            }
            black_box(&out);
        })
    );
}

#[test]
#[ignore]
fn alias_report() {
    use super::testutil::{blackman_harris, power_spectrum_windowed};
    let sr = 48_000.0f64;
    let db = |x: &[f32], f0: f64| {
        let n = x.len();
        let p = power_spectrum_windowed(x, &blackman_harris(n));
        let bin = sr / n as f64;
        let (mut h, mut a) = (0.0, 0.0);
        for (k, &pk) in p.iter().enumerate() {
            let hz = k as f64 * bin;
            if hz > 10_000.0 {
                break;
            }
            if (hz - (hz / f0).round() * f0).abs() <= 6.0 * bin {
                h += pk
            } else {
                a += pk
            }
        }
        10.0 * (a / h).log10()
    };
    for f0 in [1046.5f64, 4186.0] {
        for w in [Waveform::Saw, Waveform::Square] {
            let mut o = Oscillator::new(48_000.0, 1);
            o.set_waveform_immediate(w);
            for _ in 0..64 {
                o.tick(f0 as f32);
            }
            let x: Vec<f32> = (0..65_536).map(|_| o.tick(f0 as f32)).collect();
            eprintln!("{w:?} {f0}: {:.1} dB", db(&x, f0));
        }
        let naive: Vec<f32> = (0..65_536)
            .map(|i| (2.0 * ((i as f64 * f0 / sr).fract()) - 1.0) as f32)
            .collect();
        eprintln!("naive saw {f0}: {:.1} dB", db(&naive, f0));
    }
}
