//! Offline render: the live engine, driven by a loop instead of a sound card, writes bars of a
//! slot to a WAV file. The same slot always gives the same samples.
//!
//! The render streams: one block of [`RENDER_BUFFER`] frames at a time goes from the engine to
//! the file, so memory does not grow with the number of bars.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::engine::{Engine, EngineMsg, LoadTiming, STEPS_PER_BAR, Scene};
use crate::model::Slot;
use crate::model::limits::{self, LimitError};
use crate::model::registry::sequencer as seq_spec;
use crate::model::text::fmt_num;
use crate::store::create_new_file;

/// Frames per `process` call; the output does not depend on it.
const RENDER_BUFFER: usize = 512;
/// Bytes of one stereo frame of 32-bit float samples.
const FRAME_BYTES: u64 = 2 * 4;

/// Frames that `bars` bars last at `bpm` and `sample_rate` (the start of step `bars × 16`).
pub fn bars_to_frames(bars: u32, bpm: f64, sample_rate: u32) -> usize {
    let sps = sample_rate as f64 * 15.0 / seq_spec::BPM.clamp(bpm);
    (bars as f64 * STEPS_PER_BAR as f64 * sps + 0.5).floor() as usize
}

/// Bars of a slot rendered block by block (sequencer started at sample 0).
pub struct OfflineRender {
    engine: Engine,
    frames: usize,
    left: usize,
    block: Vec<f32>,
}

impl OfflineRender {
    /// Loads `slot` into a new engine of `voices` voices at `sample_rate` Hz, playing.
    pub fn new(slot: &Slot, bars: u32, sample_rate: u32, voices: usize) -> OfflineRender {
        let mut engine = Engine::new(sample_rate as f32, voices);
        // Nothing shows meters here: the engine computes none.
        engine.set_metering(false);
        let scene = Box::new(Scene::from_slot(slot, engine.voices()));
        engine.handle(EngineMsg::Load {
            scene,
            timing: LoadTiming::Immediate,
            slot: 0,
        });
        engine.handle(EngineMsg::Play);
        let frames = bars_to_frames(bars, slot.sequencer.bpm, engine.sample_rate() as u32);
        OfflineRender {
            engine,
            frames,
            left: frames,
            block: vec![0.0; RENDER_BUFFER * 2],
        }
    }

    /// Frames the whole render lasts.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The sample rate the engine runs at.
    pub fn sample_rate(&self) -> u32 {
        self.engine.sample_rate() as u32
    }

    /// The next block of interleaved stereo (the last may be shorter); `None` at the end.
    pub fn next_block(&mut self) -> Option<&[f32]> {
        if self.left == 0 {
            return None;
        }
        let n = self.left.min(RENDER_BUFFER);
        self.left -= n;
        let out = &mut self.block[..2 * n];
        self.engine.process(out);
        while self.engine.pop_event().is_some() {}
        while self.engine.pop_garbage().is_some() {}
        Some(out)
    }
}

/// Renders `bars` bars of `slot` (sequencer started at sample 0) as interleaved stereo, in
/// memory: for tests and short renders; [`render_to_wav`] streams to a file.
pub fn render(slot: &Slot, bars: u32, sample_rate: u32, voices: usize) -> Vec<f32> {
    let mut r = OfflineRender::new(slot, bars, sample_rate, voices);
    let mut out = Vec::with_capacity(r.frames() * 2);
    while let Some(block) = r.next_block() {
        out.extend_from_slice(block);
    }
    out
}

/// What a render to a file wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderInfo {
    /// The file written (a numbered name beside the one asked for when that was taken).
    pub path: PathBuf,
    /// Stereo frames written.
    pub frames: u64,
    /// Their sample rate.
    pub sample_rate: u32,
}

impl RenderInfo {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / self.sample_rate.max(1) as f64
    }
}

/// Why a render did not write its file.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The audio would not fit in a WAV file (32-bit sizes).
    #[error(
        "{bars} bars at {} BPM and {rate} Hz: {error} — render fewer bars or at a lower --rate",
        fmt_num(*bpm)
    )]
    TooLarge {
        /// Bars asked for.
        bars: u32,
        /// The slot's tempo.
        bpm: f64,
        /// The sample rate.
        rate: u32,
        /// The WAV limit and the bytes the render would take.
        error: LimitError,
    },
    /// The file could not be created where asked (or beside it).
    #[error(transparent)]
    Create(#[from] crate::store::OutputError),
    /// The file could not be written (nothing is left of it).
    #[error("cannot write WAV file {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: hound::Error,
    },
}

/// Whether `frames` stereo frames of 32-bit samples fit in a WAV file's audio data.
fn wav_fits(frames: u64) -> Result<(), LimitError> {
    let bytes = frames.saturating_mul(FRAME_BYTES);
    limits::WAV_BYTES.check(usize::try_from(bytes).unwrap_or(usize::MAX))
}

fn wav_spec(sample_rate: u32) -> hound::WavSpec {
    hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    }
}

/// A stereo 32-bit float WAV file of a length known before its first sample, written block by
/// block: the bytes hound writes (its WAVE_FORMAT_EXTENSIBLE header, then the samples), with
/// the sizes in the header from the start and each block converted in one pass rather than
/// sample by sample through hound's writer (which cost more than the limiter per frame).
struct FloatWav {
    out: BufWriter<std::fs::File>,
    bytes: Vec<u8>,
}

impl FloatWav {
    fn new(file: std::fs::File, rate: u32, frames: u64) -> std::io::Result<FloatWav> {
        use std::io::Write;
        let data = (frames * FRAME_BYTES) as u32;
        let mut h = Vec::with_capacity(68);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&(60 + data).to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&40u32.to_le_bytes());
        h.extend_from_slice(&0xfffeu16.to_le_bytes()); // WAVE_FORMAT_EXTENSIBLE
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * FRAME_BYTES as u32).to_le_bytes());
        h.extend_from_slice(&(FRAME_BYTES as u16).to_le_bytes());
        h.extend_from_slice(&32u16.to_le_bytes());
        h.extend_from_slice(&22u16.to_le_bytes());
        h.extend_from_slice(&32u16.to_le_bytes());
        h.extend_from_slice(&3u32.to_le_bytes()); // front left and right
        // KSDATAFORMAT_SUBTYPE_IEEE_FLOAT
        h.extend_from_slice(&[
            3, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71,
        ]);
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data.to_le_bytes());
        let mut out = BufWriter::with_capacity(1 << 16, file);
        out.write_all(&h)?;
        Ok(FloatWav {
            out,
            bytes: Vec::with_capacity(RENDER_BUFFER * FRAME_BYTES as usize),
        })
    }

    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        use std::io::Write;
        self.bytes.clear();
        self.bytes
            .extend(samples.iter().flat_map(|x| x.to_le_bytes()));
        self.out.write_all(&self.bytes)
    }

    fn finish(mut self) -> std::io::Result<()> {
        use std::io::Write;
        self.out.flush()
    }
}

/// Renders `bars` bars of `slot` into a 32-bit float WAV file at `path`, block by block:
/// memory stays the same whatever the length. A render too long for a WAV file is refused
/// before the file is created; a failed write removes the partial file.
pub fn render_to_wav(
    path: &Path,
    slot: &Slot,
    bars: u32,
    sample_rate: u32,
    voices: usize,
) -> Result<RenderInfo, RenderError> {
    let mut r = OfflineRender::new(slot, bars, sample_rate, voices);
    let rate = r.sample_rate();
    wav_fits(r.frames() as u64).map_err(|error| RenderError::TooLarge {
        bars,
        bpm: seq_spec::BPM.clamp(slot.sequencer.bpm),
        rate,
        error,
    })?;
    let (file, path) = create_new_file(path)?;
    let write = |r: &mut OfflineRender| -> Result<(), hound::Error> {
        let mut w = FloatWav::new(file, rate, r.frames() as u64)?;
        while let Some(block) = r.next_block() {
            w.write(block)?;
        }
        Ok(w.finish()?)
    };
    write(&mut r).map_err(|error| {
        let _ = std::fs::remove_file(&path);
        RenderError::Write {
            path: path.clone(),
            error,
        }
    })?;
    Ok(RenderInfo {
        path,
        frames: r.frames() as u64,
        sample_rate: rate,
    })
}

/// Writes interleaved stereo samples as a 32-bit float WAV file at `path`, or, when a file
/// is there already, at the first free numbered name beside it (`out-2.wav`): nothing is
/// overwritten. Returns the file written; a write that fails leaves no partial file.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<PathBuf, RenderError> {
    let (file, path) = create_new_file(path)?;
    let write = || -> Result<(), hound::Error> {
        let mut w = hound::WavWriter::new(BufWriter::new(file), wav_spec(sample_rate))?;
        for &s in samples {
            w.write_sample(s)?;
        }
        w.finalize()
    };
    match write() {
        Ok(()) => Ok(path),
        Err(error) => {
            let _ = std::fs::remove_file(&path);
            Err(RenderError::Write { path, error })
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

    /// The streamed file is byte for byte the one hound writes for the same samples.
    #[test]
    fn a_rendered_file_is_the_bytes_hound_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut slot = Slot::default();
        slot.sequencer.bpm = 133.0;
        slot.sequencer.tracks = vec![crate::model::Track::new("bass", "voice2", "x..xX.x.")];
        for rate in [44_100, 48_000] {
            let path = dir.path().join(format!("r{rate}.wav"));
            let info = render_to_wav(&path, &slot, 2, rate, 4).unwrap();
            let samples = render(&slot, 2, rate, 4);
            assert_eq!(info.frames as usize, samples.len() / 2);
            assert!(samples.iter().any(|x| x.abs() > 0.01), "the song sounds");
            let mut want = std::io::Cursor::new(Vec::new());
            let mut w = hound::WavWriter::new(&mut want, wav_spec(rate)).unwrap();
            for &x in &samples {
                w.write_sample(x).unwrap();
            }
            w.finalize().unwrap();
            assert!(want.get_ref().len() > 68 + 1000);
            assert!(
                std::fs::read(&info.path).unwrap() == *want.get_ref(),
                "{rate} Hz"
            );
        }
    }

    #[test]
    fn a_render_too_long_for_a_wav_file_is_refused_before_the_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.wav");
        let mut slot = Slot::default();
        slot.sequencer.bpm = 30.0;
        let e = render_to_wav(&path, &slot, limits::MAX_RENDER_BARS, 192_000, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "10000 bars at 30 BPM and 192000 Hz: a WAV file may hold at most 4294966271 bytes; \
             this one has 122880000000 — render fewer bars or at a lower --rate"
        );
        assert!(!path.exists());
        let most = limits::MAX_WAV_DATA_BYTES / FRAME_BYTES;
        assert!(wav_fits(most).is_ok());
        assert_eq!(
            wav_fits(most + 1).unwrap_err().found,
            (most + 1) * FRAME_BYTES
        );
    }
}
