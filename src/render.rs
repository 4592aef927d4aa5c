//! Offline render: the live engine, driven by a loop instead of a sound card, writes bars of a
//! slot to a WAV file. The same slot always gives the same samples.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use crate::engine::{Engine, EngineMsg, LoadTiming, STEPS_PER_BAR, Scene};
use crate::model::Slot;
use crate::model::registry::{MAX_VOICES, sequencer as seq_spec};
use crate::model::slot::read_slot_file;
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
                let mut name = if stem.is_empty() { "render".into() } else { stem };
                name.push(".wav");
                PathBuf::from(name)
            }
        }
    }
}

/// Loads the slot named by `target`: an existing file path, else a slot number.
fn load_target(target: &str, patterns: &Path) -> anyhow::Result<(Source, crate::model::slot::Parsed)> {
    let path = Path::new(target);
    if path.is_file() {
        let parsed = read_slot_file(path)?;
        return Ok((Source::File(path.to_path_buf()), parsed));
    }
    let n = SlotNumber::parse(target).map_err(|_| {
        anyhow::anyhow!("render target \"{target}\" is neither a slot number (1–128) nor a slot file")
    })?;
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
