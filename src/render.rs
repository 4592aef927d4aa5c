//! Offline render: the live engine, driven by a loop instead of a sound card, writes bars of a
//! slot to a WAV file. The same slot always gives the same samples.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use crate::engine::{Engine, EngineMsg, LoadTiming, STEPS_PER_BAR, Scene};
use crate::model::registry::{MAX_VOICES, sequencer as seq_spec};
use crate::model::registry::{acid, delay, dist, reverb, voice};
use crate::model::slot::read_slot_file;
use crate::model::{ParamId, ParamValues, Slot, Track};
use crate::store::{SlotNumber, Store};

/// Frames per `process` call; the output does not depend on it.
const RENDER_BUFFER: usize = 512;

/// Frames that `bars` bars last at `bpm` and `sample_rate` (the start of step `bars × 16`).
pub fn bars_to_frames(bars: u32, bpm: f64, sample_rate: u32) -> usize {
    let sps = sample_rate as f64 * 15.0 / seq_spec::BPM.clamp(bpm);
    (bars as f64 * STEPS_PER_BAR as f64 * sps + 0.5).floor() as usize
}

/// Renders `bars` bars of `slot` (sequencer started at sample 0) as interleaved stereo.
pub fn render(slot: &Slot, bars: u32, sample_rate: u32, voices: usize) -> Vec<f32> {
    let mut engine = Engine::new(sample_rate as f32, voices);
    let scene = Box::new(Scene::from_slot(slot, engine.voices()));
    engine.handle(EngineMsg::Load {
        scene,
        timing: LoadTiming::Immediate,
        slot: 0,
    });
    engine.handle(EngineMsg::Play);
    let frames = bars_to_frames(bars, slot.sequencer.bpm, engine.sample_rate() as u32);
    let mut out = vec![0.0f32; frames * 2];
    for chunk in out.chunks_mut(RENDER_BUFFER * 2) {
        engine.process(chunk);
        while engine.pop_event().is_some() {}
        while engine.pop_garbage().is_some() {}
    }
    out
}

/// Writes interleaved stereo samples as a 32-bit float WAV file.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let write = || -> Result<(), hound::Error> {
        let mut w = hound::WavWriter::create(path, spec)?;
        for &s in samples {
            w.write_sample(s)?;
        }
        w.finalize()
    };
    write().with_context(|| format!("cannot write WAV file {}", path.display()))
}

/// Arguments of `chronus render`.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// Slot number (1–128, from the patterns folder) or a slot file path.
    pub target: String,
    /// Bars to render.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub bars: u32,
    /// Output WAV file (default: slot_NNN.wav, or the slot file's name with .wav).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sample rate in Hz.
    #[arg(long, default_value_t = 48000, value_parser = clap::value_parser!(u32).range(8000..=192_000))]
    pub rate: u32,
    /// Number of voices (1–16).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub voices: u8,
}

/// Where a render's slot came from, for messages and the default output name.
enum Source {
    Slot(SlotNumber),
    File(PathBuf),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Slot(n) => format!("slot {n}"),
            Source::File(p) => p.display().to_string(),
        }
    }

    fn default_out(&self) -> PathBuf {
        match self {
            Source::Slot(n) => PathBuf::from(format!("slot_{:03}.wav", n.get())),
            Source::File(p) => {
                let stem = p.file_stem().map(|s| s.to_os_string()).unwrap_or_default();
                let mut name = if stem.is_empty() {
                    "render".into()
                } else {
                    stem
                };
                name.push(".wav");
                PathBuf::from(name)
            }
        }
    }
}

/// Loads the slot named by `target`: an existing file path, else a slot number.
fn load_target(
    target: &str,
    patterns: &Path,
) -> anyhow::Result<(Source, crate::model::slot::Parsed)> {
    let path = Path::new(target);
    if path.is_file() {
        let parsed = read_slot_file(path)?;
        return Ok((Source::File(path.to_path_buf()), parsed));
    }
    let looks_numeric = !target.trim().is_empty()
        && target
            .trim()
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.');
    if !looks_numeric {
        anyhow::bail!(
            "render target \"{target}\": no such slot file (and not a slot number 1–128)"
        );
    }
    let n = SlotNumber::parse(target)?;
    let parsed = Store::new(patterns).load(n)?;
    Ok((Source::Slot(n), parsed))
}

/// Runs `chronus render`.
pub fn run(args: &RenderArgs, patterns: &Path) -> anyhow::Result<()> {
    let (source, parsed) = load_target(&args.target, patterns)?;
    for w in &parsed.warnings {
        eprintln!("warning: {}: {w}", source.describe());
    }
    let slot = &parsed.slot;
    let voices = (args.voices as usize).clamp(1, MAX_VOICES);
    let started = Instant::now();
    let samples = render(slot, args.bars, args.rate, voices);
    let elapsed = started.elapsed().as_secs_f64();
    let out = args.out.clone().unwrap_or_else(|| source.default_out());
    write_wav(&out, &samples, args.rate)?;
    let seconds = samples.len() as f64 / 2.0 / args.rate as f64;
    let speed = if elapsed > 0.0 {
        format!("{:.0}× realtime", seconds / elapsed)
    } else {
        "instant".to_string()
    };
    println!(
        "rendered {} bars ({seconds:.2} s) of {} \"{}\" to {} in {elapsed:.2} s ({speed})",
        args.bars,
        source.describe(),
        slot.metadata.name,
        out.display(),
    );
    Ok(())
}

/// Sets one voice's sound in a parameter table.
#[allow(clippy::too_many_arguments)]
fn voice_sound(
    p: &mut ParamValues,
    n: u8,
    wave: f64,
    freq: f64,
    amp: f64,
    cutoff: f64,
    q: f64,
    adsr: [f64; 4],
    sends: [f64; 2],
) {
    let mut set = |i: usize, v: f64| {
        p.set(ParamId::voice(n, i), v);
    };
    set(voice::WAVEFORM, wave);
    set(voice::FREQ, freq);
    set(voice::AMP, amp);
    set(voice::FILTER_FREQ, cutoff);
    set(voice::FILTER_Q, q);
    set(voice::ATTACK, adsr[0]);
    set(voice::DECAY, adsr[1]);
    set(voice::SUSTAIN, adsr[2]);
    set(voice::RELEASE, adsr[3]);
    set(voice::REVERB_SEND, sends[0]);
    set(voice::DELAY_SEND, sends[1]);
}

/// "Anthem Breakbeat 174", main drop, as SONGS.md describes it: a full 8-voice scene for
/// tests and benchmarks that must not depend on the files in `patterns/`.
#[doc(hidden)]
pub fn anthem_breakbeat() -> Slot {
    let mut slot = Slot::default();
    slot.metadata.name = "Anthem Breakbeat 174".to_string();
    slot.sequencer.bpm = 174.0;
    slot.sequencer.swing = 0.12;
    let p = &mut slot.params;
    voice_sound(
        p,
        1,
        0.0,
        45.0,
        0.3,
        200.0,
        2.5,
        [0.001, 0.11, 0.1, 0.18],
        [0.0, 0.0],
    );
    voice_sound(
        p,
        2,
        1.0,
        41.2,
        0.24,
        250.0,
        3.5,
        [0.01, 0.15, 0.5, 0.12],
        [0.0, 0.0],
    );
    p.set(ParamId::voice(2, voice::SLIDE_TIME), 0.04);
    voice_sound(
        p,
        3,
        3.0,
        200.0,
        0.26,
        5000.0,
        2.0,
        [0.001, 0.025, 0.1, 0.015],
        [0.2, 0.0],
    );
    voice_sound(
        p,
        4,
        4.0,
        9000.0,
        0.07,
        8000.0,
        1.5,
        [0.001, 0.002, 0.1, 0.003],
        [0.0, 0.0],
    );
    voice_sound(
        p,
        5,
        1.0,
        220.0,
        0.22,
        2200.0,
        9.0,
        [0.02, 0.09, 0.2, 0.12],
        [0.45, 0.2],
    );
    voice_sound(
        p,
        6,
        2.0,
        165.0,
        0.2,
        1800.0,
        11.0,
        [0.01, 0.11, 0.15, 0.14],
        [0.4, 0.25],
    );
    voice_sound(
        p,
        7,
        3.0,
        330.0,
        0.13,
        800.0,
        7.0,
        [0.04, 0.18, 0.35, 0.25],
        [0.55, 0.0],
    );
    voice_sound(
        p,
        8,
        2.0,
        440.0,
        0.17,
        3500.0,
        3.5,
        [0.001, 0.06, 0.1, 0.1],
        [0.0, 0.35],
    );
    p.set(ParamId::acid(acid::CUTOFF), 600.0);
    p.set(ParamId::acid(acid::RES), 0.75);
    p.set(ParamId::acid(acid::ENV_AMOUNT), 2000.0);
    p.set(ParamId::acid(acid::DECAY), 0.13);
    p.set(ParamId::acid(acid::DRIVE), 0.2);
    p.set(ParamId::reverb(reverb::ROOM), 0.92);
    p.set(ParamId::reverb(reverb::DAMP), 0.2);
    p.set(ParamId::reverb(reverb::MIX), 0.5);
    p.set(ParamId::delay(delay::TIME), 0.172);
    p.set(ParamId::delay(delay::FEEDBACK), 0.5);
    p.set(ParamId::delay(delay::MIX), 0.35);
    p.set(ParamId::dist(dist::DRIVE), 0.12);
    p.set(ParamId::dist(dist::MIX), 0.2);
    let hit = |name: &str, v: &str, pat: &str, freq: f64, amp: f64, cutoff: f64| {
        let mut t = Track::new(name, v, pat);
        t.base_freq = freq;
        t.base_amp = amp;
        t.filter_freq = cutoff;
        t
    };
    let mut bass = hit("bass", "voice2", "x.x.x.x.x.x.....", 41.2, 0.24, 250.0);
    bass.notes = vec![
        41.2, 41.2, 36.7, 41.2, 49.0, 49.0, 41.2, 36.7, 32.7, 32.7, 41.2, 49.0, 55.0, 55.0, 41.2,
        36.7,
    ];
    slot.sequencer.tracks = vec![
        hit("kick", "voice1", "X...x...X.x.x...", 45.0, 0.3, 200.0),
        hit("snare", "voice3", "....X..x..X.X.x.", 200.0, 0.26, 5000.0),
        hit("hats", "voice4", "xxxxxxxxxxxxxxxx", 9000.0, 0.07, 8000.0),
        bass,
        hit("hey1", "voice5", "..X.............", 220.0, 0.22, 2200.0),
        hit("hey2", "voice6", "......X.X.......", 165.0, 0.2, 1800.0),
        hit("crowd", "voice7", "........X.X.X.X.", 330.0, 0.13, 800.0),
        hit("stab", "voice8", "....x.......x...", 440.0, 0.17, 3500.0),
    ];
    slot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_lengths_round_to_whole_samples() {
        assert_eq!(bars_to_frames(1, 120.0, 48000), 96000);
        // 174 BPM at 48 kHz: 4137.93… samples per step.
        assert_eq!(bars_to_frames(8, 174.0, 48000), 529655);
        assert_eq!(bars_to_frames(1000, 137.0, 44100), 77_255_474);
    }
}
