//! Offline render: the live engine, driven by a loop instead of a sound card, writes bars of a
//! slot to a WAV file. The same slot always gives the same samples.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::engine::{Engine, EngineMsg, LoadTiming, STEPS_PER_BAR, Scene};
use crate::model::Slot;
use crate::model::registry::sequencer as seq_spec;
use crate::store::create_new_file;

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

/// Writes interleaved stereo samples as a 32-bit float WAV file at `path`, or, when a file
/// is there already, at the first free numbered name beside it (`out-2.wav`): nothing is
/// overwritten. Returns the file written; a write that fails leaves no partial file.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> anyhow::Result<PathBuf> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let (file, path) = create_new_file(path)?;
    let write = || -> Result<(), hound::Error> {
        let mut w = hound::WavWriter::new(BufWriter::new(file), spec)?;
        for &s in samples {
            w.write_sample(s)?;
        }
        w.finalize()
    };
    match write() {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(anyhow::Error::new(e).context(format!("cannot write WAV file {}", path.display())))
        }
    }
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
