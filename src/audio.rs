//! Live audio: the only cpal code. Opens an output device and feeds the engine from its
//! callback, or — when there is no sound card — runs the same engine on a paced internal clock.
//!
//! The audio side ([`EngineRunner`]) owns the [`Engine`] and talks to the control thread only
//! through lock-free rtrb rings: commands in, events and replaced boxes out, recorded samples
//! out to a writer thread.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::cli::AudioArgs;
use crate::engine::{Engine, EngineEvent, EngineMsg, Garbage};

/// Capacity of the command ring (control → audio).
pub const COMMAND_RING: usize = 4096;
/// Capacity of the event ring (audio → control).
pub const EVENT_RING: usize = 8192;
/// Capacity of the ring returning replaced boxes to be dropped off the audio thread.
pub const GARBAGE_RING: usize = 2048;
/// Largest device buffer the runner renders in one piece (bigger ones are split).
pub const MAX_BLOCK: usize = 4096;
/// Most commands applied per callback, so a flood never stretches one period.
pub const MAX_COMMANDS_PER_CALLBACK: usize = 1024;
/// Sample rate of the internal clock unless `--rate` says otherwise.
pub const DEFAULT_RATE: u32 = 48_000;

/// What the audio side reports back besides the engine's own events.
#[derive(Debug, Clone, Copy)]
pub enum HostEvent {
    /// An engine event (position, slot applied, levels, …).
    Engine(EngineEvent),
    /// Callback statistics over the last ~half second.
    Load {
        /// Mean time spent in the callback, in % of the period.
        mean_pct: f32,
        /// Longest callback, in % of the period.
        max_pct: f32,
        /// Callbacks that took longer than their period, since start.
        late: u64,
        /// Device under/overruns (or internal clock slips), since start.
        xruns: u64,
    },
}

/// Counters shared between the audio side and the control thread.
#[derive(Debug, Default)]
pub struct SharedStats {
    /// True while the recorder wants samples.
    pub recording: AtomicBool,
    /// True while output is muted (`/engine/stop`).
    pub muted: AtomicBool,
    /// Device under/overruns and internal clock slips.
    pub xruns: AtomicU64,
    /// Callbacks that took longer than their period.
    pub late: AtomicU64,
    /// Callbacks during which the audio thread blocked (a voluntary context switch: a lock,
    /// I/O, a page fault) — which it must never do. Lateness without blocking is the
    /// machine pausing the thread, not the thread waiting for something.
    pub blocked: AtomicU64,
    /// Callbacks run.
    pub callbacks: AtomicU64,
    /// Commands the audio side has applied, in total.
    pub commands_applied: AtomicU64,
    /// Recorded samples lost because the writer thread fell behind.
    pub record_dropped: AtomicU64,
    /// Events lost because the control thread fell behind.
    pub events_dropped: AtomicU64,
    /// Set by the device's error callback when the device is gone.
    pub device_lost: AtomicBool,
    /// The internal clock thread runs at real-time priority (SCHED_FIFO).
    pub realtime: AtomicBool,
    /// Engine sample clock at the start of the latest callback…
    pub clock_sample: AtomicU64,
    /// …and the wall-clock time then, in nanoseconds since the Unix epoch.
    pub clock_unix_nanos: AtomicU64,
}

impl SharedStats {
    /// When engine sample `sample` sounds(ed), in seconds since the Unix epoch, from the
    /// latest callback's clock pair (the output latency of the device is not included).
    pub fn sample_time(&self, sample: u64, sample_rate: u32) -> f64 {
        let base_sample = self.clock_sample.load(Ordering::Acquire);
        let base = self.clock_unix_nanos.load(Ordering::Acquire) as f64 * 1e-9;
        base + (sample as f64 - base_sample as f64) / sample_rate.max(1) as f64
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The control thread's end of the rings.
pub struct EngineLink {
    commands: rtrb::Producer<EngineMsg>,
    backlog: std::collections::VecDeque<EngineMsg>,
    events: rtrb::Consumer<HostEvent>,
    garbage: rtrb::Consumer<Garbage>,
    /// Counters shared with the audio side.
    pub stats: Arc<SharedStats>,
    /// Sample rate the engine runs at.
    pub sample_rate: u32,
}

impl EngineLink {
    /// Sends a message to the engine. Never blocks and never loses a message: when the ring
    /// is full the message waits in a backlog (parameter changes to the same parameter and
    /// track replacements coalesce there) and [`EngineLink::pump`] retries.
    pub fn send(&mut self, msg: EngineMsg) {
        if self.backlog.is_empty() {
            if let Err(rtrb::PushError::Full(m)) = self.commands.push(msg) {
                self.enqueue(m);
            }
        } else {
            self.enqueue(msg);
            self.pump();
        }
    }

    fn enqueue(&mut self, msg: EngineMsg) {
        let replaces = |old: &EngineMsg| match (old, &msg) {
            (EngineMsg::SetParam { id: a, .. }, EngineMsg::SetParam { id: b, .. }) => a == b,
            (EngineMsg::SetTracks(_), EngineMsg::SetTracks(_)) => true,
            (EngineMsg::Amend(_), EngineMsg::Amend(_)) => true,
            (EngineMsg::SetBpm(_), EngineMsg::SetBpm(_)) => true,
            (EngineMsg::SetSwing(_), EngineMsg::SetSwing(_)) => true,
            _ => false,
        };
        // Only the newest message of a kind matters, but order against other kinds must hold,
        // so coalescing replaces the last queued message only when it is of the same kind.
        if let Some(last) = self.backlog.back_mut()
            && replaces(last)
        {
            *last = msg;
            return;
        }
        self.backlog.push_back(msg);
    }

    /// Retries messages that found the ring full. Call it on every control-loop turn.
    pub fn pump(&mut self) {
        while let Some(msg) = self.backlog.pop_front() {
            if let Err(rtrb::PushError::Full(m)) = self.commands.push(msg) {
                self.backlog.push_front(m);
                break;
            }
        }
    }

    /// Messages waiting for room in the ring.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// The next event from the audio side, without waiting.
    pub fn try_event(&mut self) -> Option<HostEvent> {
        self.events.pop().ok()
    }

    /// Drops the boxes the engine replaced (here, off the audio thread).
    pub fn collect_garbage(&mut self) -> usize {
        let mut n = 0;
        while let Ok(g) = self.garbage.pop() {
            drop(g);
            n += 1;
        }
        n
    }
}

/// The audio side: owns the engine and runs one period at a time.
pub struct EngineRunner {
    engine: Engine,
    commands: rtrb::Consumer<EngineMsg>,
    events: rtrb::Producer<HostEvent>,
    garbage: rtrb::Producer<Garbage>,
    record: Option<rtrb::Producer<f32>>,
    stats: Arc<SharedStats>,
    load_sum: f64,
    load_max: f64,
    load_count: u32,
    load_frames: u64,
}

/// Creates the rings around an engine: the audio side and the control side.
pub fn link(engine: Engine, record: Option<rtrb::Producer<f32>>) -> (EngineRunner, EngineLink) {
    let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(COMMAND_RING);
    let (ev_tx, ev_rx) = rtrb::RingBuffer::new(EVENT_RING);
    let (g_tx, g_rx) = rtrb::RingBuffer::new(GARBAGE_RING);
    let stats = Arc::new(SharedStats::default());
    let sample_rate = engine.sample_rate() as u32;
    let runner = EngineRunner {
        engine,
        commands: cmd_rx,
        events: ev_tx,
        garbage: g_tx,
        record,
        stats: stats.clone(),
        load_sum: 0.0,
        load_max: 0.0,
        load_count: 0,
        load_frames: 0,
    };
    let link = EngineLink {
        commands: cmd_tx,
        backlog: Default::default(),
        events: ev_rx,
        garbage: g_rx,
        stats,
        sample_rate,
    };
    (runner, link)
}

impl EngineRunner {
    /// Renders one period into `out` (interleaved stereo). Applies pending commands first,
    /// then forwards events, replaced boxes and recorded samples. Never blocks or allocates.
    pub fn render(&mut self, out: &mut [f32]) {
        let started = Instant::now();
        let waits_before = voluntary_switches();
        // The pair (sample, wall time) lets the control side timestamp bars and beats.
        self.stats
            .clock_unix_nanos
            .store(unix_nanos(), Ordering::Release);
        self.stats
            .clock_sample
            .store(self.engine.position().sample, Ordering::Release);
        let mut applied = 0u64;
        for _ in 0..MAX_COMMANDS_PER_CALLBACK {
            // A message may replace a boxed scene; only take one while there is room to hand
            // the old box back, so no box is ever dropped (or leaked) on this thread.
            if self.garbage.slots() == 0 {
                break;
            }
            match self.commands.pop() {
                Ok(msg) => self.engine.handle(msg),
                Err(_) => break,
            }
            applied += 1;
            self.return_garbage();
        }
        if applied > 0 {
            self.stats
                .commands_applied
                .fetch_add(applied, Ordering::Release);
        }
        for chunk in out.chunks_mut(MAX_BLOCK * 2) {
            self.engine.process(chunk);
        }
        if self.stats.muted.load(Ordering::Relaxed) {
            out.fill(0.0);
        }
        while let Some(ev) = self.engine.pop_event() {
            if self.events.push(HostEvent::Engine(ev)).is_err() {
                self.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.return_garbage();
        if let Some(rec) = self.record.as_mut()
            && self.stats.recording.load(Ordering::Relaxed)
        {
            let n = out.len().min(rec.slots());
            if let Ok(mut chunk) = rec.write_chunk_uninit(n) {
                let (a, b) = chunk.as_mut_slices();
                let (src_a, src_b) = out[..n].split_at(a.len());
                for (d, s) in a.iter_mut().zip(src_a) {
                    d.write(*s);
                }
                for (d, s) in b.iter_mut().zip(src_b) {
                    d.write(*s);
                }
                // SAFETY: every slot of both slices was written just above.
                unsafe { chunk.commit_all() };
            }
            if n < out.len() {
                self.stats
                    .record_dropped
                    .fetch_add((out.len() - n) as u64, Ordering::Relaxed);
            }
        }
        if voluntary_switches() > waits_before {
            self.stats.blocked.fetch_add(1, Ordering::Relaxed);
        }
        self.account(started, out.len() / 2);
    }

    /// Moves boxes the engine replaced onto the return ring, as far as it has room.
    fn return_garbage(&mut self) {
        while self.garbage.slots() > 0 {
            match self.engine.pop_garbage() {
                Some(g) => {
                    let _ = self.garbage.push(g);
                }
                None => break,
            }
        }
    }

    fn account(&mut self, started: Instant, frames: usize) {
        let period = frames as f64 / self.engine.sample_rate() as f64;
        let load = started.elapsed().as_secs_f64() / period.max(1e-9);
        if load > 1.0 {
            self.stats.late.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.callbacks.fetch_add(1, Ordering::Relaxed);
        self.load_sum += load;
        self.load_max = self.load_max.max(load);
        self.load_count += 1;
        self.load_frames += frames as u64;
        if self.load_frames >= self.engine.sample_rate() as u64 / 2 {
            let ev = HostEvent::Load {
                mean_pct: (100.0 * self.load_sum / self.load_count as f64) as f32,
                max_pct: (100.0 * self.load_max) as f32,
                late: self.stats.late.load(Ordering::Relaxed),
                xruns: self.stats.xruns.load(Ordering::Relaxed),
            };
            let _ = self.events.push(ev);
            self.load_sum = 0.0;
            self.load_max = 0.0;
            self.load_count = 0;
            self.load_frames = 0;
        }
    }

    /// The engine's sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.engine.sample_rate() as u32
    }
}

/// Where the sound goes.
pub enum Backend {
    /// A cpal output stream on a device.
    Device {
        /// The device id (`alsa:jack`).
        id: String,
        /// The running stream (dropping it stops the sound).
        stream: cpal::Stream,
    },
    /// The paced internal clock: the engine renders in real time, output discarded or recorded.
    Internal {
        /// Set to stop the clock thread.
        stop: Arc<AtomicBool>,
        /// The clock thread.
        thread: Option<JoinHandle<()>>,
    },
}

/// A running audio output.
pub struct AudioOutput {
    /// Where the sound goes.
    pub backend: Backend,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Frames per period.
    pub buffer: u32,
    /// Output channels (1 or more; the engine renders stereo).
    pub channels: u16,
}

impl AudioOutput {
    /// A short description for status lines: `alsa:jack 48000 Hz / 256` or `internal clock …`.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Device { id, .. } => {
                format!("{id} {} Hz / {} frames", self.sample_rate, self.buffer)
            }
            Backend::Internal { .. } => format!(
                "internal clock {} Hz / {} frames",
                self.sample_rate, self.buffer
            ),
        }
    }

    /// The backend's kind for machine-readable output: `"device"` or `"internal"`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Device { .. } => "device",
            Backend::Internal { .. } => "internal",
        }
    }

    /// True when running on the internal clock.
    pub fn is_internal(&self) -> bool {
        matches!(self.backend, Backend::Internal { .. })
    }
}

impl Drop for AudioOutput {
    fn drop(&mut self) {
        if let Backend::Internal { stop, thread } = &mut self.backend {
            stop.store(true, Ordering::Relaxed);
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// Asks for real-time scheduling (SCHED_FIFO, a modest priority) for the calling thread, as
/// audio threads get from JACK or a sound server, so other work on a busy machine cannot
/// delay a period. Returns false, changing nothing, where the system does not allow it.
fn promote_to_realtime() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain libc calls on the current thread with a fully initialised argument.
        unsafe {
            let param = libc::sched_param { sched_priority: 20 };
            libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// How often the calling thread has given up the CPU to wait (a cheap syscall: no
/// allocation, no I/O).
fn voluntary_switches() -> i64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getrusage fills the zeroed struct it is given for the calling thread.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_THREAD, &mut usage) == 0 {
                return usage.ru_nvcsw;
            }
        }
    }
    0
}

/// Keeps ALSA's own error chatter off the terminal for this thread. The returned guard holds
/// the buffer ALSA writes into; keep it alive while ALSA is used from this thread.
pub fn silence_alsa() -> Option<impl Sized> {
    alsa::Output::local_error_handler().ok()
}

/// Opens the audio output the options ask for. When no device can be opened (or `--no-audio`
/// is given), falls back to the internal clock and says why in the returned note.
/// `make` builds a fresh engine for the chosen sample rate.
pub fn open(
    args: &AudioArgs,
    mut make: impl FnMut(u32) -> Engine,
    record: &mut Recorder,
) -> (AudioOutput, EngineLink, Option<String>) {
    let buffer = args.buffer.clamp(16, MAX_BLOCK as u32);
    if !args.no_audio {
        match open_device(args, buffer, &mut make, record) {
            Ok((out, link)) => return (out, link, None),
            Err(err) => {
                let rate = args.rate.unwrap_or(DEFAULT_RATE);
                let (out, link) = open_internal(make(rate), buffer, record);
                let note = format!("no sound card ({err:#}) — playing on the internal clock");
                return (out, link, Some(note));
            }
        }
    }
    let rate = args.rate.unwrap_or(DEFAULT_RATE);
    let (out, link) = open_internal(make(rate), buffer, record);
    (
        out,
        link,
        Some("audio off (--no-audio) — playing on the internal clock".into()),
    )
}

/// Starts the engine on the paced internal clock.
pub fn open_internal(
    engine: Engine,
    buffer: u32,
    record: &mut Recorder,
) -> (AudioOutput, EngineLink) {
    let sample_rate = engine.sample_rate() as u32;
    let (mut runner, link) = link(engine, Some(record.attach(sample_rate)));
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let stats = link.stats.clone();
    let frames = buffer as usize;
    let thread = std::thread::Builder::new()
        .name("chronus-clock".into())
        .spawn(move || {
            crate::dsp::set_flush_to_zero();
            stats
                .realtime
                .store(promote_to_realtime(), Ordering::Relaxed);
            let period = Duration::from_secs_f64(frames as f64 / sample_rate as f64);
            let mut buf = vec![0.0f32; frames * 2];
            let mut deadline = Instant::now();
            while !stop2.load(Ordering::Relaxed) {
                runner.render(&mut buf);
                deadline += period;
                let now = Instant::now();
                if now > deadline + period {
                    // Fell more than a period behind (the machine stalled us): count it and
                    // resynchronise rather than rendering a burst to catch up.
                    stats.xruns.fetch_add(1, Ordering::Relaxed);
                    deadline = now;
                } else if deadline > now {
                    std::thread::sleep(deadline - now);
                }
            }
        })
        .expect("spawn the internal clock thread");
    let out = AudioOutput {
        backend: Backend::Internal {
            stop,
            thread: Some(thread),
        },
        sample_rate,
        buffer,
        channels: 2,
    };
    (out, link)
}

fn find_device(host: &cpal::Host, id: Option<&str>) -> anyhow::Result<cpal::Device> {
    match id {
        None => host
            .default_output_device()
            .context("no default output device"),
        Some(id) => {
            let parsed: cpal::DeviceId = id.parse().with_context(|| {
                format!("--device {id:?} is not a device id (see `chronus devices`)")
            })?;
            if let Some(d) = host.device_by_id(&parsed) {
                return Ok(d);
            }
            // ALSA PCMs defined by plugins (such as `jack`) may not be listed; open by name.
            host.output_devices()
                .ok()
                .and_then(|mut ds| {
                    ds.find(|d| d.id().map(|i| i.to_string() == id).unwrap_or(false))
                })
                .with_context(|| {
                    format!("--device {id:?}: no such output device (see `chronus devices`)")
                })
        }
    }
}

fn open_device(
    args: &AudioArgs,
    buffer: u32,
    make: &mut impl FnMut(u32) -> Engine,
    record: &mut Recorder,
) -> anyhow::Result<(AudioOutput, EngineLink)> {
    let _quiet = silence_alsa();
    let host = cpal::default_host();
    let device = find_device(&host, args.device.as_deref())?;
    let id = device
        .id()
        .map(|i| i.to_string())
        .unwrap_or_else(|_| "default".into());
    let default = device
        .default_output_config()
        .with_context(|| format!("device {id}: no usable output configuration"))?;
    let sample_rate = args.rate.unwrap_or(default.sample_rate());
    let channels = default.channels().max(1);
    let config = cpal::StreamConfig {
        channels,
        sample_rate,
        buffer_size: cpal::BufferSize::Fixed(buffer),
    };
    let (runner, link) = link(make(sample_rate), Some(record.attach(sample_rate)));
    let stats = link.stats.clone();
    let stream = match default.sample_format() {
        cpal::SampleFormat::F32 => build::<f32>(&device, &config, runner, stats),
        cpal::SampleFormat::I16 => build::<i16>(&device, &config, runner, stats),
        cpal::SampleFormat::I32 => build::<i32>(&device, &config, runner, stats),
        cpal::SampleFormat::U16 => build::<u16>(&device, &config, runner, stats),
        cpal::SampleFormat::F64 => build::<f64>(&device, &config, runner, stats),
        cpal::SampleFormat::U8 => build::<u8>(&device, &config, runner, stats),
        cpal::SampleFormat::I8 => build::<i8>(&device, &config, runner, stats),
        other => anyhow::bail!("device {id}: sample format {other} is not supported"),
    }
    .with_context(|| format!("device {id}: cannot open an output stream"))?;
    stream
        .play()
        .with_context(|| format!("device {id}: cannot start the stream"))?;
    let out = AudioOutput {
        backend: Backend::Device { id, stream },
        sample_rate,
        buffer,
        channels,
    };
    Ok((out, link))
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut runner: EngineRunner,
    stats: Arc<SharedStats>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample + cpal::FromSample<f32>,
{
    let channels = config.channels as usize;
    let mut stereo = vec![0.0f32; MAX_BLOCK * 2];
    let mut ftz = false;
    device.build_output_stream::<T, _, _>(
        *config,
        move |data: &mut [T], _info| {
            if !ftz {
                crate::dsp::set_flush_to_zero();
                ftz = true;
            }
            for block in data.chunks_mut(MAX_BLOCK * channels) {
                let frames = block.len() / channels;
                let buf = &mut stereo[..frames * 2];
                runner.render(buf);
                for (frame, lr) in block.chunks_mut(channels).zip(buf.chunks(2)) {
                    if channels == 1 {
                        frame[0] = T::from_sample(0.5 * (lr[0] + lr[1]));
                    } else {
                        frame[0] = T::from_sample(lr[0]);
                        frame[1] = T::from_sample(lr[1]);
                        for s in &mut frame[2..] {
                            *s = T::from_sample(0.0f32);
                        }
                    }
                }
            }
        },
        move |err: cpal::Error| match err.kind() {
            cpal::ErrorKind::Xrun => {
                stats.xruns.fetch_add(1, Ordering::Relaxed);
            }
            cpal::ErrorKind::DeviceNotAvailable
            | cpal::ErrorKind::StreamInvalidated
            | cpal::ErrorKind::HostUnavailable => {
                stats.device_lost.store(true, Ordering::Relaxed);
            }
            _ => {}
        },
        None,
    )
}

/// One line per output device: `id  name`.
pub fn list_devices() -> anyhow::Result<Vec<(String, String)>> {
    let _quiet = silence_alsa();
    let mut rows = Vec::new();
    for host_id in cpal::available_hosts() {
        let Ok(host) = cpal::host_from_id(host_id) else {
            continue;
        };
        let default_id = host.default_output_device().and_then(|d| d.id().ok());
        let Ok(devices) = host.output_devices() else {
            continue;
        };
        for d in devices {
            let Ok(id) = d.id() else { continue };
            let name = d
                .description()
                .map(|desc| desc.name().to_string())
                .unwrap_or_default();
            let mark = if Some(&id) == default_id.as_ref() {
                " (default)"
            } else {
                ""
            };
            rows.push((id.to_string(), format!("{name}{mark}")));
        }
    }
    Ok(rows)
}

/// Samples of recorded audio the ring holds (~4 s of stereo at 48 kHz).
const RECORD_RING: usize = 48_000 * 2 * 4;

enum RecorderCmd {
    Attach(rtrb::Consumer<f32>, u32),
    Start(PathBuf, mpsc::Sender<anyhow::Result<()>>),
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

    /// Starts recording the master output to `path` (the parent folder is created).
    pub fn start(&mut self, path: &Path) -> anyhow::Result<()> {
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
        rx.recv()
            .map_err(|_| anyhow::anyhow!("the recorder thread has stopped"))??;
        if let Some(s) = &self.stats {
            s.recording.store(true, Ordering::Relaxed);
        }
        self.current = Some(path.to_path_buf());
        Ok(())
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
                let res = create_wav(&path, rate).map(|w| {
                    writer = Some((w, path.clone(), 0));
                    error = None;
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
        for &s in a.iter().chain(b) {
            if let Err(e) = w.write_sample(s) {
                error.get_or_insert_with(|| e.to_string());
                break;
            }
            *count += 1;
        }
    }
    chunk.commit_all();
}

fn create_wav(path: &Path, sample_rate: u32) -> anyhow::Result<Writer> {
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
    hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot create the recording {}", path.display()))
}

/// The file name a `record start [name]` writes inside the recordings folder. Names are
/// reduced to letters, digits, `-`, `_` and `.`, so they cannot escape the folder; no name
/// gives `chronus_YYYYMMDD_HHMMSS.wav`.
pub fn recording_file_name(name: Option<&str>) -> Result<String, String> {
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
        return Err(format!("recording name {name:?} has no usable characters"));
    }
    Ok(if clean.to_ascii_lowercase().ends_with(".wav") {
        clean.to_string()
    } else {
        format!("{clean}.wav")
    })
}

#[cfg(test)]
mod tests {
    use super::recording_file_name;

    #[test]
    fn recording_names_stay_inside_the_folder() {
        assert_eq!(recording_file_name(Some("take1")).unwrap(), "take1.wav");
        assert_eq!(
            recording_file_name(Some("../../etc/passwd")).unwrap(),
            "passwd.wav"
        );
        assert_eq!(
            recording_file_name(Some("..")).unwrap_err(),
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
