//! The recorder: writes the master output to WAV from its own thread, fed by a ring from the
//! audio side, so the audio thread never touches a file.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use crate::engine::link::SharedStats;
use crate::model::limits;
use crate::store::create_new_file;

use super::DEFAULT_RATE;

/// Samples of recorded audio the ring holds (~4 s of stereo at 48 kHz).
const RECORD_RING: usize = 48_000 * 2 * 4;

enum RecorderCmd {
    Attach(rtrb::Consumer<f32>, u32),
    Start(PathBuf, mpsc::Sender<anyhow::Result<PathBuf>>),
    Stop(mpsc::Sender<anyhow::Result<RecordingInfo>>),
    Quit,
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingInfo {
    /// The WAV file.
    pub path: PathBuf,
    /// Frames written.
    pub frames: u64,
    /// Sample rate.
    pub sample_rate: u32,
}

impl RecordingInfo {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / self.sample_rate.max(1) as f64
    }
}

/// Writes the master output to WAV from its own thread, fed by a ring; the audio thread never
/// touches the file.
pub struct Recorder {
    cmd: mpsc::Sender<RecorderCmd>,
    thread: Option<JoinHandle<()>>,
    stats: Option<Arc<SharedStats>>,
    current: Option<PathBuf>,
    attached: bool,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// Starts the writer thread (idle until a recording starts).
    pub fn new() -> Recorder {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("chronus-recorder".into())
            .spawn(move || recorder_thread(rx))
            .expect("spawn the recorder thread");
        Recorder {
            cmd: tx,
            thread: Some(thread),
            stats: None,
            current: None,
            attached: false,
        }
    }

    /// Makes a ring for a new audio side and hands its reading end to the writer thread.
    pub fn attach(&mut self, sample_rate: u32) -> rtrb::Producer<f32> {
        let (tx, rx) = rtrb::RingBuffer::new(RECORD_RING);
        let _ = self.cmd.send(RecorderCmd::Attach(rx, sample_rate));
        self.attached = true;
        tx
    }

    /// Connects the recorder to the audio side's counters (its `recording` flag).
    pub fn bind(&mut self, stats: Arc<SharedStats>) {
        if let Some(old) = &self.stats {
            let on = old.recording.load(Ordering::Relaxed);
            stats.recording.store(on, Ordering::Relaxed);
        }
        self.stats = Some(stats);
    }

    /// The file being recorded, if any.
    pub fn current(&self) -> Option<&Path> {
        self.current.as_deref()
    }

    /// Starts recording the master output to `path` (the parent folder is created), or, when
    /// a file is there already, to the first free numbered name beside it (`take-2.wav`):
    /// nothing is ever overwritten. Returns the file the recording goes to.
    pub fn start(&mut self, path: &Path) -> anyhow::Result<PathBuf> {
        if let Some(cur) = &self.current {
            anyhow::bail!("already recording to {}", cur.display());
        }
        if !self.attached {
            anyhow::bail!("no audio output is running to record from");
        }
        let (tx, rx) = mpsc::channel();
        self.cmd
            .send(RecorderCmd::Start(path.to_path_buf(), tx))
            .map_err(|_| anyhow::anyhow!("the recorder thread has stopped"))?;
        let path = rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the recorder thread has stopped"))??;
        if let Some(s) = &self.stats {
            s.recording.store(true, Ordering::Relaxed);
        }
        self.current = Some(path.clone());
        Ok(path)
    }

    /// Stops recording and finishes the file.
    pub fn stop(&mut self) -> anyhow::Result<RecordingInfo> {
        if self.current.is_none() {
            anyhow::bail!("not recording");
        }
        if let Some(s) = &self.stats {
            s.recording.store(false, Ordering::Relaxed);
        }
        // A callback that read the flag just before it changed may still be pushing.
        std::thread::sleep(Duration::from_millis(20));
        let (tx, rx) = mpsc::channel();
        self.cmd
            .send(RecorderCmd::Stop(tx))
            .map_err(|_| anyhow::anyhow!("the recorder thread has stopped"))?;
        self.current = None;
        rx.recv()
            .map_err(|_| anyhow::anyhow!("the recorder thread has stopped"))?
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.current.is_some() {
            let _ = self.stop();
        }
        let _ = self.cmd.send(RecorderCmd::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Writer = hound::WavWriter<BufWriter<File>>;

fn recorder_thread(rx: mpsc::Receiver<RecorderCmd>) {
    let mut input: Option<(rtrb::Consumer<f32>, u32)> = None;
    let mut writer: Option<(Writer, PathBuf, u64)> = None;
    let mut error: Option<String> = None;
    loop {
        let cmd = rx.recv_timeout(Duration::from_millis(10));
        // Move whatever the audio side has produced into the file (or discard it).
        if let Some((cons, _)) = input.as_mut() {
            drain_into(cons, &mut writer, &mut error);
        }
        match cmd {
            Ok(RecorderCmd::Attach(c, rate)) => input = Some((c, rate)),
            Ok(RecorderCmd::Start(path, reply)) => {
                let rate = input.as_ref().map(|(_, r)| *r).unwrap_or(DEFAULT_RATE);
                if let Some((cons, _)) = input.as_mut() {
                    // Discard anything left over from before this recording.
                    let n = cons.slots();
                    if let Ok(c) = cons.read_chunk(n) {
                        c.commit_all();
                    }
                }
                let res = create_wav(&path, rate).map(|(w, path)| {
                    writer = Some((w, path.clone(), 0));
                    error = None;
                    path
                });
                let _ = reply.send(res);
            }
            Ok(RecorderCmd::Stop(reply)) => {
                if let Some((cons, _)) = input.as_mut() {
                    drain_into(cons, &mut writer, &mut error);
                }
                let res = match writer.take() {
                    Some((w, path, samples)) => {
                        let rate = w.spec().sample_rate;
                        match (w.finalize(), error.take()) {
                            (Ok(()), None) => Ok(RecordingInfo {
                                path,
                                frames: samples / 2,
                                sample_rate: rate,
                            }),
                            (_, Some(e)) => {
                                Err(anyhow::anyhow!("recording to {}: {e}", path.display()))
                            }
                            (Err(e), None) => {
                                Err(anyhow::anyhow!("recording to {}: {e}", path.display()))
                            }
                        }
                    }
                    None => Err(anyhow::anyhow!("not recording")),
                };
                let _ = reply.send(res);
            }
            Ok(RecorderCmd::Quit) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Some((w, _, _)) = writer.take() {
                    let _ = w.finalize();
                }
                return;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

fn drain_into(
    cons: &mut rtrb::Consumer<f32>,
    writer: &mut Option<(Writer, PathBuf, u64)>,
    error: &mut Option<String>,
) {
    let n = cons.slots();
    if n == 0 {
        return;
    }
    let Ok(chunk) = cons.read_chunk(n) else {
        return;
    };
    if let Some((w, _, count)) = writer.as_mut() {
        let (a, b) = chunk.as_slices();
        let fits = room(*count, limits::MAX_WAV_DATA_BYTES);
        if (n as u64) > fits && error.is_none() {
            // The WAV format counts bytes in 32 bits: what is past the limit is not written
            // (hound's count would overflow), the file keeps what fits and stop says so.
            let over = limits::WAV_BYTES
                .check(usize::try_from((*count + n as u64) * SAMPLE_BYTES).unwrap_or(usize::MAX))
                .err();
            *error = over.map(|e| format!("{e}: the recording was cut there"));
        }
        for &s in a.iter().chain(b).take(fits.min(n as u64) as usize) {
            if let Err(e) = w.write_sample(s) {
                error.get_or_insert_with(|| e.to_string());
                break;
            }
            *count += 1;
        }
    }
    chunk.commit_all();
}

/// Bytes of one recorded sample (32-bit float).
const SAMPLE_BYTES: u64 = 4;

/// Samples that still fit in a WAV file of at most `limit_bytes` of audio data after
/// `written` samples, in whole stereo frames.
fn room(written: u64, limit_bytes: u64) -> u64 {
    let most = limit_bytes / SAMPLE_BYTES / 2 * 2;
    most.saturating_sub(written)
}

/// A new WAV file at `path` or the first free numbered name beside it, and where it is.
fn create_wav(path: &Path, sample_rate: u32) -> anyhow::Result<(Writer, PathBuf)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let (file, path) = create_new_file(path)?;
    match hound::WavWriter::new(BufWriter::new(file), spec) {
        Ok(w) => Ok((w, path)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(anyhow::Error::new(e)
                .context(format!("cannot create the recording {}", path.display())))
        }
    }
}

/// A recording name with nothing usable left once cleaned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("recording name {name:?} has no usable characters")]
pub struct BadRecordingName {
    /// The name as given.
    pub name: String,
}

/// The file name a `record start [name]` writes inside the recordings folder. Names are
/// reduced to letters, digits, `-`, `_` and `.`, so they cannot escape the folder; no name
/// gives `chronus_YYYYMMDD_HHMMSS.wav` (a second recording within the same second, or a name
/// already taken, gets a numbered name from [`Recorder::start`]).
pub fn recording_file_name(name: Option<&str>) -> Result<String, BadRecordingName> {
    let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => {
            return Ok(chrono::Local::now()
                .format("chronus_%Y%m%d_%H%M%S.wav")
                .to_string());
        }
        Some(n) => n,
    };
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let clean = clean.trim_start_matches('.');
    if clean.is_empty() || clean.trim_end_matches(".wav").is_empty() {
        return Err(BadRecordingName {
            name: name.to_string(),
        });
    }
    Ok(if clean.to_ascii_lowercase().ends_with(".wav") {
        clean.to_string()
    } else {
        format!("{clean}.wav")
    })
}

#[cfg(test)]
mod tests {
    use super::{recording_file_name, room};

    #[test]
    fn a_recording_stops_growing_at_the_wav_limit_on_a_whole_frame() {
        assert_eq!(room(0, 80), 20);
        assert_eq!(room(18, 80), 2);
        assert_eq!(room(20, 80), 0);
        assert_eq!(room(25, 80), 0);
        // 4 GiB less the header: an odd number of samples would split a frame.
        assert_eq!(room(0, crate::model::limits::MAX_WAV_DATA_BYTES) % 2, 0);
    }

    #[test]
    fn recording_names_stay_inside_the_folder() {
        assert_eq!(recording_file_name(Some("take1")).unwrap(), "take1.wav");
        assert_eq!(
            recording_file_name(Some("../../etc/passwd")).unwrap(),
            "passwd.wav"
        );
        assert_eq!(
            recording_file_name(Some("..")).unwrap_err().to_string(),
            "recording name \"..\" has no usable characters"
        );
        assert_eq!(recording_file_name(Some("a b/c.WAV")).unwrap(), "c.WAV");
        let d = recording_file_name(None).unwrap();
        assert!(
            d.starts_with("chronus_") && d.ends_with(".wav") && d.len() == 27,
            "{d}"
        );
    }
}
