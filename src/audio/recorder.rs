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
    Start(
        u64,
        PathBuf,
        RecordFormat,
        mpsc::Sender<anyhow::Result<PathBuf>>,
    ),
    Stop(u64, mpsc::Sender<anyhow::Result<RecordingInfo>>),
    Quit,
}

/// How recorded samples are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordFormat {
    /// 32-bit float stereo: every sample as the engine made it (the default).
    #[default]
    Float32,
    /// 16-bit integer stereo, as Music Chronus recorded (clipped at full scale).
    Int16,
}

impl RecordFormat {
    /// Bits per sample.
    pub fn bits(self) -> u16 {
        match self {
            RecordFormat::Float32 => 32,
            RecordFormat::Int16 => 16,
        }
    }

    /// The format of `bits` bits per sample (16 or 32).
    pub fn from_bits(bits: u32) -> Option<RecordFormat> {
        match bits {
            32 => Some(RecordFormat::Float32),
            16 => Some(RecordFormat::Int16),
            _ => None,
        }
    }

    /// Bytes of one sample.
    fn sample_bytes(self) -> u64 {
        u64::from(self.bits() / 8)
    }

    /// Words for messages: `32-bit float` / `16-bit`.
    pub fn describe(self) -> &'static str {
        match self {
            RecordFormat::Float32 => "32-bit float",
            RecordFormat::Int16 => "16-bit",
        }
    }
}

/// Who a recording belongs to: the run's `--record` file, or the take that record
/// start/stop (the `R` key, `/engine/record/*`) control. Both may run at once, from the same
/// samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRole {
    /// `headless --record FILE`: goes on until the run ends.
    Run,
    /// Started and stopped by record start/stop.
    Take,
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

/// One file being written.
#[derive(Debug, Clone)]
struct Active {
    id: u64,
    role: RecordRole,
    path: PathBuf,
}

/// Writes the master output to WAV from its own thread, fed by a ring; the audio thread never
/// touches the file. Several files may be written at once from the one ring (the run's
/// `--record` file and a take), so the audio side does no more work for a second file.
pub struct Recorder {
    cmd: mpsc::Sender<RecorderCmd>,
    thread: Option<JoinHandle<()>>,
    stats: Option<Arc<SharedStats>>,
    active: Vec<Active>,
    next_id: u64,
    attached: bool,
    default_format: RecordFormat,
    run_ends_with_engine: bool,
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
            active: Vec::new(),
            next_id: 0,
            attached: false,
            default_format: RecordFormat::Float32,
            run_ends_with_engine: false,
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

    /// The format takes are recorded in when none is asked for.
    pub fn default_format(&self) -> RecordFormat {
        self.default_format
    }

    /// Sets the format takes are recorded in when none is asked for (`--record-bits`).
    pub fn set_default_format(&mut self, format: RecordFormat) {
        self.default_format = format;
    }

    /// Whether `/engine/stop` also ends the run's `--record` file.
    pub fn run_ends_with_engine(&self) -> bool {
        self.run_ends_with_engine
    }

    /// Makes `/engine/stop` also end the run's `--record` file (as it ended Music Chronus's
    /// recording), when the performer asks for it.
    pub fn set_run_ends_with_engine(&mut self, on: bool) {
        self.run_ends_with_engine = on;
    }

    /// The take being recorded, or else the run's `--record` file, if any.
    pub fn current(&self) -> Option<&Path> {
        self.path_of(RecordRole::Take)
            .or_else(|| self.path_of(RecordRole::Run))
    }

    /// The file `role` records to, if it records.
    pub fn path_of(&self, role: RecordRole) -> Option<&Path> {
        self.active
            .iter()
            .find(|a| a.role == role)
            .map(|a| a.path.as_path())
    }

    /// Starts a take in the default format (see [`Recorder::start_as`]).
    pub fn start(&mut self, path: &Path) -> anyhow::Result<PathBuf> {
        self.start_as(path, RecordRole::Take, self.default_format)
    }

    /// Starts recording the master output for `role` to `path` (the parent folder is
    /// created), or, when a file is there already, to the first free numbered name beside
    /// it (`take-2.wav`): nothing is ever overwritten. Returns the file the recording goes
    /// to. A role records one file at a time.
    pub fn start_as(
        &mut self,
        path: &Path,
        role: RecordRole,
        format: RecordFormat,
    ) -> anyhow::Result<PathBuf> {
        if let Some(cur) = self.path_of(role) {
            anyhow::bail!("already recording to {}", cur.display());
        }
        if !self.attached {
            anyhow::bail!("no audio output is running to record from");
        }
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = mpsc::channel();
        self.cmd
            .send(RecorderCmd::Start(id, path.to_path_buf(), format, tx))
            .map_err(|_| anyhow::anyhow!("the recorder thread has stopped"))?;
        let path = rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the recorder thread has stopped"))??;
        if let Some(s) = &self.stats {
            s.recording.store(true, Ordering::Relaxed);
        }
        self.active.push(Active {
            id,
            role,
            path: path.clone(),
        });
        Ok(path)
    }

    /// Stops the take and finishes its file.
    pub fn stop(&mut self) -> anyhow::Result<RecordingInfo> {
        self.stop_role(RecordRole::Take)
    }

    /// Stops `role`'s recording and finishes its file; the other goes on.
    pub fn stop_role(&mut self, role: RecordRole) -> anyhow::Result<RecordingInfo> {
        let Some(i) = self.active.iter().position(|a| a.role == role) else {
            match (role, self.path_of(RecordRole::Run)) {
                (RecordRole::Take, Some(run)) => anyhow::bail!(
                    "not recording a take (the --record file {} goes on until the run ends)",
                    run.display()
                ),
                _ => anyhow::bail!("not recording"),
            }
        };
        let done = self.active.remove(i);
        if self.active.is_empty() {
            if let Some(s) = &self.stats {
                s.recording.store(false, Ordering::Relaxed);
            }
            // A callback that read the flag just before it changed may still be pushing.
            std::thread::sleep(Duration::from_millis(20));
        }
        let (tx, rx) = mpsc::channel();
        self.cmd
            .send(RecorderCmd::Stop(done.id, tx))
            .map_err(|_| anyhow::anyhow!("the recorder thread has stopped"))?;
        rx.recv()
            .map_err(|_| anyhow::anyhow!("the recorder thread has stopped"))?
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for role in [RecordRole::Take, RecordRole::Run] {
            if self.path_of(role).is_some() {
                let _ = self.stop_role(role);
            }
        }
        let _ = self.cmd.send(RecorderCmd::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Writer = hound::WavWriter<BufWriter<File>>;

/// One file the writer thread fills.
struct Open {
    id: u64,
    writer: Writer,
    path: PathBuf,
    format: RecordFormat,
    /// Samples written.
    samples: u64,
    error: Option<String>,
}

fn recorder_thread(rx: mpsc::Receiver<RecorderCmd>) {
    let mut input: Option<(rtrb::Consumer<f32>, u32)> = None;
    let mut open: Vec<Open> = Vec::new();
    loop {
        let cmd = rx.recv_timeout(Duration::from_millis(10));
        // Move whatever the audio side has produced into the files (or discard it).
        if let Some((cons, _)) = input.as_mut() {
            drain_into(cons, &mut open);
        }
        match cmd {
            Ok(RecorderCmd::Attach(c, rate)) => input = Some((c, rate)),
            Ok(RecorderCmd::Start(id, path, format, reply)) => {
                let rate = input.as_ref().map(|(_, r)| *r).unwrap_or(DEFAULT_RATE);
                if open.is_empty()
                    && let Some((cons, _)) = input.as_mut()
                {
                    // Discard anything left over from before this recording (with another
                    // file open, it all went into that one just now).
                    let n = cons.slots();
                    if let Ok(c) = cons.read_chunk(n) {
                        c.commit_all();
                    }
                }
                let res = create_wav(&path, rate, format).map(|(writer, path)| {
                    open.push(Open {
                        id,
                        writer,
                        path: path.clone(),
                        format,
                        samples: 0,
                        error: None,
                    });
                    path
                });
                let _ = reply.send(res);
            }
            Ok(RecorderCmd::Stop(id, reply)) => {
                if let Some((cons, _)) = input.as_mut() {
                    drain_into(cons, &mut open);
                }
                let res = match open.iter().position(|o| o.id == id) {
                    Some(i) => finish(open.remove(i)),
                    None => Err(anyhow::anyhow!("not recording")),
                };
                let _ = reply.send(res);
            }
            Ok(RecorderCmd::Quit) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                for o in open.drain(..) {
                    let _ = o.writer.finalize();
                }
                return;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Finishes one file; says what it holds, or why it is not whole.
fn finish(o: Open) -> anyhow::Result<RecordingInfo> {
    let rate = o.writer.spec().sample_rate;
    match (o.writer.finalize(), o.error) {
        (Ok(()), None) => Ok(RecordingInfo {
            path: o.path,
            frames: o.samples / 2,
            sample_rate: rate,
        }),
        (_, Some(e)) => Err(anyhow::anyhow!("recording to {}: {e}", o.path.display())),
        (Err(e), None) => Err(anyhow::anyhow!("recording to {}: {e}", o.path.display())),
    }
}

fn drain_into(cons: &mut rtrb::Consumer<f32>, open: &mut [Open]) {
    let n = cons.slots();
    if n == 0 {
        return;
    }
    let Ok(chunk) = cons.read_chunk(n) else {
        return;
    };
    let (a, b) = chunk.as_slices();
    for o in open.iter_mut() {
        let bytes = o.format.sample_bytes();
        let fits = room(o.samples, limits::MAX_WAV_DATA_BYTES, bytes);
        if (n as u64) > fits && o.error.is_none() {
            // The WAV format counts bytes in 32 bits: what is past the limit is not written
            // (hound's count would overflow), the file keeps what fits and stop says so.
            let over = limits::WAV_BYTES
                .check(usize::try_from((o.samples + n as u64) * bytes).unwrap_or(usize::MAX))
                .err();
            o.error = over.map(|e| format!("{e}: the recording was cut there"));
        }
        for &s in a.iter().chain(b).take(fits.min(n as u64) as usize) {
            let written = match o.format {
                RecordFormat::Float32 => o.writer.write_sample(s),
                RecordFormat::Int16 => o.writer.write_sample(to_i16(s)),
            };
            if let Err(e) = written {
                o.error.get_or_insert_with(|| e.to_string());
                break;
            }
            o.samples += 1;
        }
    }
    chunk.commit_all();
}

/// A sample as 16 bits: full scale is ±1.0, beyond it clipped; not a number is silence.
fn to_i16(s: f32) -> i16 {
    if s.is_nan() {
        return 0;
    }
    (s.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// Samples that still fit in a WAV file of at most `limit_bytes` of audio data after
/// `written` samples of `sample_bytes` each, in whole stereo frames.
fn room(written: u64, limit_bytes: u64, sample_bytes: u64) -> u64 {
    let most = limit_bytes / sample_bytes / 2 * 2;
    most.saturating_sub(written)
}

/// A new WAV file at `path` or the first free numbered name beside it, and where it is.
fn create_wav(
    path: &Path,
    sample_rate: u32,
    format: RecordFormat,
) -> anyhow::Result<(Writer, PathBuf)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: format.bits(),
        sample_format: match format {
            RecordFormat::Float32 => hound::SampleFormat::Float,
            RecordFormat::Int16 => hound::SampleFormat::Int,
        },
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
    use super::{recording_file_name, room, to_i16};

    #[test]
    fn a_recording_stops_growing_at_the_wav_limit_on_a_whole_frame() {
        assert_eq!(room(0, 80, 4), 20);
        assert_eq!(room(18, 80, 4), 2);
        assert_eq!(room(20, 80, 4), 0);
        assert_eq!(room(25, 80, 4), 0);
        // 16-bit samples take half the room.
        assert_eq!(room(0, 80, 2), 40);
        // 4 GiB less the header: an odd number of samples would split a frame.
        assert_eq!(room(0, crate::model::limits::MAX_WAV_DATA_BYTES, 4) % 2, 0);
        assert_eq!(room(0, crate::model::limits::MAX_WAV_DATA_BYTES, 2) % 2, 0);
    }

    #[test]
    fn sixteen_bit_samples_clip_at_full_scale() {
        assert_eq!(to_i16(0.0), 0);
        assert_eq!(to_i16(0.5), 16384);
        assert_eq!(to_i16(1.0), 32767);
        assert_eq!(to_i16(-1.0), -32767);
        assert_eq!(to_i16(3.0), 32767);
        assert_eq!(to_i16(f32::NAN), 0);
        assert_eq!(to_i16(f32::NEG_INFINITY), -32767);
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
