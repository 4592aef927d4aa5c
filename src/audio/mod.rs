//! Live audio: the only cpal code. Opens an output device and feeds the engine from its
//! callback, or — when there is no sound card — runs the same engine on a paced internal clock.
//!
//! The audio side ([`EngineRunner`]) owns the engine and talks to the control thread only
//! through lock-free rtrb rings: commands in, events and replaced boxes out, recorded samples
//! out to a writer thread.

pub mod recorder;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::engine::link::{EngineLink, EngineRunner, MAX_BLOCK, SharedStats};
use crate::model::limits;
use crate::platform;

pub use recorder::{Recorder, RecordingInfo, recording_file_name};

/// Audio device options shared by the tracker and headless mode.
#[derive(Debug, Args, Clone, Default)]
pub struct AudioArgs {
    /// Output device id (see `chronus devices`).
    #[arg(long)]
    pub device: Option<String>,
    /// Do not open a sound card: run on the internal clock.
    #[arg(long, conflicts_with = "device")]
    pub no_audio: bool,
    /// Device buffer size in frames (16–4096).
    #[arg(long, default_value_t = 128, allow_negative_numbers = true, value_parser = limits::parse_buffer)]
    pub buffer: u32,
    /// Sample rate in Hz, 8000–192000 (default: the device's, 48000 on the internal clock).
    #[arg(long, allow_negative_numbers = true, value_parser = limits::parse_rate)]
    pub rate: Option<u32>,
    /// Number of voices (1–16).
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = limits::parse_voices)]
    pub voices: u8,
}

/// Sample rate of the internal clock unless `--rate` says otherwise.
pub const DEFAULT_RATE: u32 = 48_000;
/// Smallest device buffer Chronus asks for.
pub const MIN_BUFFER: u32 = *limits::BUFFER_FRAMES.start();
// The command line's largest buffer is one the engine renders in one piece.
const _: () = assert!(*limits::BUFFER_FRAMES.end() == MAX_BLOCK as u32);

/// Where a device stream's runner goes when the stream is dropped, so the same engine can go
/// on playing somewhere else (kira's way: no new engine, no replayed song).
type RunnerHome = Arc<Mutex<Option<EngineRunner>>>;

/// Owns the runner inside a device callback; hands it home when the callback is dropped.
struct Homing {
    runner: Option<EngineRunner>,
    home: RunnerHome,
}

impl Drop for Homing {
    fn drop(&mut self) {
        if let Some(r) = self.runner.take()
            && let Ok(mut home) = self.home.lock()
        {
            *home = Some(r);
        }
    }
}

/// Where the sound goes.
pub enum Backend {
    /// A cpal output stream on a device.
    Device {
        /// The device id (`alsa:jack`).
        id: String,
        /// The running stream (dropping it stops the sound).
        stream: Option<cpal::Stream>,
        /// Receives the runner back when the stream is dropped.
        home: RunnerHome,
    },
    /// The paced internal clock: the engine renders in real time, output discarded or recorded.
    Internal {
        /// Set to stop the clock thread.
        stop: Arc<AtomicBool>,
        /// The clock thread; it returns the runner when it ends.
        thread: Option<JoinHandle<EngineRunner>>,
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

    /// The device id, or `None` on the internal clock.
    pub fn device_id(&self) -> Option<&str> {
        match &self.backend {
            Backend::Device { id, .. } => Some(id),
            Backend::Internal { .. } => None,
        }
    }

    /// True when running on the internal clock.
    pub fn is_internal(&self) -> bool {
        matches!(self.backend, Backend::Internal { .. })
    }

    /// Stops the output and hands back the runner it drove (with its engine, song and
    /// position intact), so it can go on playing on another output.
    pub fn into_runner(mut self) -> Option<EngineRunner> {
        self.stop()
    }

    fn stop(&mut self) -> Option<EngineRunner> {
        match &mut self.backend {
            Backend::Internal { stop, thread } => {
                stop.store(true, Ordering::Relaxed);
                thread.take().and_then(|t| t.join().ok())
            }
            Backend::Device { stream, home, .. } => {
                drop(stream.take());
                home.lock().ok().and_then(|mut h| h.take())
            }
        }
    }
}

impl Drop for AudioOutput {
    fn drop(&mut self) {
        drop(self.stop());
    }
}

/// Opens the audio output the options ask for. When no device can be opened (or `--no-audio`
/// is given), falls back to the internal clock and says why in the returned note.
/// `make` builds the runner (engine and rings) for the chosen sample rate; it is called once.
pub fn open(
    args: &AudioArgs,
    make: impl FnOnce(u32) -> EngineRunner,
) -> (AudioOutput, Option<String>) {
    let buffer = args.buffer.clamp(MIN_BUFFER, MAX_BLOCK as u32);
    let rate = args.rate.unwrap_or(DEFAULT_RATE);
    if args.no_audio {
        return (
            open_internal(make(rate), buffer),
            Some("audio off (--no-audio) — playing on the internal clock".into()),
        );
    }
    let mut make = Some(make);
    match open_device(args, buffer, &mut make) {
        Ok(out) => (out, None),
        Err((err, runner)) => {
            // A stream that failed after taking the runner hands it back unused.
            let runner = match (runner, make.take()) {
                (Some(r), _) => *r,
                (None, Some(m)) => m(rate),
                (None, None) => unreachable!("the runner is either made or returned"),
            };
            let note = format!("no sound card ({err:#}) — playing on the internal clock");
            (open_internal(runner, buffer), Some(note))
        }
    }
}

/// Links `engine` (recorded through `recorder`) and starts it on the paced internal clock:
/// the control side's link and the running output.
pub fn open_engine(
    engine: crate::engine::Engine,
    buffer: u32,
    recorder: &mut Recorder,
) -> (AudioOutput, EngineLink) {
    let rate = engine.sample_rate() as u32;
    let (runner, link) = crate::engine::link::link(engine, Some(recorder.attach(rate)));
    (open_internal(runner, buffer), link)
}

/// Starts `runner` on the paced internal clock.
pub fn open_internal(mut runner: EngineRunner, buffer: u32) -> AudioOutput {
    let sample_rate = runner.sample_rate();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let stats = runner.stats().clone();
    let frames = buffer as usize;
    let thread = std::thread::Builder::new()
        .name("chronus-clock".into())
        .spawn(move || {
            platform::set_flush_to_zero();
            let realtime = platform::promote_to_realtime(buffer, sample_rate);
            stats.realtime.store(realtime.is_some(), Ordering::Relaxed);
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
            runner
        })
        .expect("spawn the internal clock thread");
    AudioOutput {
        backend: Backend::Internal {
            stop,
            thread: Some(thread),
        },
        sample_rate,
        buffer,
        channels: 2,
    }
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

type DeviceError = (anyhow::Error, Option<Box<EngineRunner>>);

fn open_device(
    args: &AudioArgs,
    buffer: u32,
    make: &mut Option<impl FnOnce(u32) -> EngineRunner>,
) -> Result<AudioOutput, DeviceError> {
    let _quiet = platform::silence_alsa();
    let host = cpal::default_host();
    let device = find_device(&host, args.device.as_deref()).map_err(|e| (e, None))?;
    let id = device
        .id()
        .map(|i| i.to_string())
        .unwrap_or_else(|_| "default".into());
    let default = device
        .default_output_config()
        .with_context(|| format!("device {id}: no usable output configuration"))
        .map_err(|e| (e, None))?;
    let sample_rate = args.rate.unwrap_or(default.sample_rate());
    let channels = default.channels().max(1);
    let config = cpal::StreamConfig {
        channels,
        sample_rate,
        buffer_size: cpal::BufferSize::Fixed(buffer),
    };
    let format = default.sample_format();
    let Some(make) = make.take() else {
        return Err((anyhow::anyhow!("the engine was already made"), None));
    };
    let home: RunnerHome = Arc::new(Mutex::new(None));
    let homing = Homing {
        runner: Some(make(sample_rate)),
        home: home.clone(),
    };
    let back = |e: anyhow::Error| (e, home.lock().ok().and_then(|mut h| h.take()).map(Box::new));
    let stream = match format {
        cpal::SampleFormat::F32 => build::<f32>(&device, &config, homing),
        cpal::SampleFormat::I16 => build::<i16>(&device, &config, homing),
        cpal::SampleFormat::I32 => build::<i32>(&device, &config, homing),
        cpal::SampleFormat::U16 => build::<u16>(&device, &config, homing),
        cpal::SampleFormat::F64 => build::<f64>(&device, &config, homing),
        cpal::SampleFormat::U8 => build::<u8>(&device, &config, homing),
        cpal::SampleFormat::I8 => build::<i8>(&device, &config, homing),
        other => {
            drop(homing);
            return Err(back(anyhow::anyhow!(
                "device {id}: sample format {other} is not supported"
            )));
        }
    }
    .with_context(|| format!("device {id}: cannot open an output stream"))
    .map_err(back)?;
    if let Err(e) = stream.play() {
        drop(stream);
        return Err(back(
            anyhow::Error::new(e).context(format!("device {id}: cannot start the stream")),
        ));
    }
    Ok(AudioOutput {
        backend: Backend::Device {
            id,
            stream: Some(stream),
            home,
        },
        sample_rate,
        buffer,
        channels,
    })
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut homing: Homing,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample + cpal::FromSample<f32>,
{
    let channels = config.channels as usize;
    let stats: Arc<SharedStats> = match homing.runner.as_ref() {
        Some(r) => r.stats().clone(),
        None => Arc::default(),
    };
    let mut stereo = vec![0.0f32; MAX_BLOCK * 2];
    let mut ftz = false;
    device.build_output_stream::<T, _, _>(
        *config,
        move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
            if !ftz {
                platform::set_flush_to_zero();
                ftz = true;
            }
            let Some(runner) = homing.runner.as_mut() else {
                return;
            };
            let ts = info.timestamp();
            runner.set_output_latency(ts.playback.duration_since(ts.callback));
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
    let _quiet = platform::silence_alsa();
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
