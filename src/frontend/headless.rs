//! `chronus headless`: play without the screen until Ctrl-C or `--seconds`, printing a status
//! line per bar, or one JSON object per line per event (`--events json`) for scripts and tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::app::AudioArgs;
use crate::app::{BackendInfo, ENGINE_POLL, Session, SessionOptions};
use crate::control::{Command, Controller, Level, Notice};
use crate::model::text::{error_text, escape_json, escape_keep_lines};
use crate::store::SlotNumber;

/// How events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsFormat {
    /// One JSON object per line per event.
    Json,
}

/// Options of `chronus headless`.
#[derive(Debug, Args, Clone)]
pub struct HeadlessArgs {
    /// Slot to play (1–128).
    #[arg(long, default_value = "1", allow_negative_numbers = true, value_parser = super::slot_arg)]
    pub slot: String,
    /// Audio device options.
    #[command(flatten)]
    pub audio: AudioArgs,
    /// Stop after this many seconds, more than 0 and at most a year (default: run until
    /// Ctrl-C).
    #[arg(long, allow_negative_numbers = true, value_parser = crate::model::limits::parse_seconds)]
    pub seconds: Option<f64>,
    /// Record the master output to this WAV file.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Print events in a machine-readable format.
    #[arg(long, value_enum)]
    pub events: Option<EventsFormat>,
    /// OSC options.
    #[command(flatten)]
    pub osc: crate::sources::osc::OscArgs,
}

/// Prints what happens, as status lines or JSON lines.
pub struct EventPrinter {
    json: bool,
    out: std::io::Stdout,
}

impl EventPrinter {
    /// A printer for the chosen format.
    pub fn new(format: Option<EventsFormat>) -> EventPrinter {
        EventPrinter {
            json: format == Some(EventsFormat::Json),
            out: std::io::stdout(),
        }
    }

    fn emit(&mut self, event: &str, mut fields: Value, human: Option<String>) {
        let mut lock = self.out.lock();
        if self.json {
            if let Value::Object(m) = &mut fields {
                m.insert("event".into(), Value::from(event));
                let mut ordered = serde_json::Map::new();
                ordered.insert("event".into(), Value::from(event));
                for (k, v) in m.iter() {
                    if k != "event" {
                        ordered.insert(k.clone(), v.clone());
                    }
                }
                fields = Value::Object(ordered);
            }
            let _ = writeln!(lock, "{}", escape_json(&fields.to_string()));
        } else if let Some(line) = human {
            // Names and file names may hold control characters: shown escaped, never sent
            // to the terminal (JSON escapes them by itself).
            let _ = writeln!(lock, "{}", escape_keep_lines(&line));
        }
        let _ = lock.flush();
    }

    /// Prints one notice from the controller.
    pub fn notice(&mut self, ctl: &Controller, n: &Notice) {
        match n {
            Notice::Bar { bar, sample } => {
                let st = ctl.status();
                let name = &ctl.song().metadata.name;
                let slot = ctl.slot().map(|s| s.to_string()).unwrap_or_else(|| "-".into());
                // The tempo that plays: a follower runs its leader's, not the song's.
                let bpm = st.playing_bpm;
                let human = format!(
                    "bar {bar:>4} | slot {slot} {name:?} | {bpm:.1} BPM | load {:.1}% (max {:.1}%) | xruns {} | late {}",
                    st.load_mean, st.load_max, st.xruns, st.late
                );
                self.emit(
                    "bar",
                    json!({"bar": bar, "sample": sample, "time": ctl.sample_time(*sample),
                           "bpm": bpm, "song_bpm": ctl.song().sequencer.bpm,
                           "load_mean_pct": st.load_mean, "load_max_pct": st.load_max,
                           "xruns": st.xruns, "late": st.late}),
                    Some(human),
                );
            }
            Notice::SlotQueued {
                slot,
                bar,
                from_disk,
            } => self.emit(
                "slot_queued",
                json!({"slot": slot, "bar": bar, "from_disk": from_disk}),
                human_line(ctl, n),
            ),
            Notice::SlotApplied { slot, bar } => self.emit(
                "slot_applied",
                json!({"slot": slot, "bar": bar}),
                human_line(ctl, n),
            ),
            Notice::Saved { slot, path } => self.emit(
                "saved",
                json!({"slot": slot, "path": path}),
                human_line(ctl, n),
            ),
            Notice::Recorded(info) => self.emit(
                "recorded",
                json!({"path": info.path, "seconds": info.seconds(), "frames": info.frames}),
                human_line(ctl, n),
            ),
            Notice::Message(level, text) => self.message(*level, text),
            Notice::Beat { bar, beat, sample } => self.emit(
                "beat",
                json!({"bar": bar, "beat": beat, "sample": sample, "time": ctl.sample_time(*sample)}),
                None,
            ),
            Notice::Started | Notice::Stopped => {}
        }
    }

    /// Prints a message at a level.
    pub fn message(&mut self, level: Level, text: &str) {
        let (event, prefix) = match level {
            Level::Info => ("info", ""),
            Level::Warning => ("warning", "warning: "),
            Level::Error => ("error", "error: "),
        };
        self.emit(
            event,
            json!({"message": text}),
            Some(format!("{prefix}{text}")),
        );
    }

    /// Prints the `started` event.
    pub fn started(&mut self, output: &BackendInfo, ctl: &Controller) {
        let slot = ctl.slot().map(|s| s.get());
        self.emit(
            "started",
            json!({"backend": output.kind, "device": output.describe,
                   "device_id": output.device,
                   "sample_rate": output.sample_rate, "buffer": output.buffer,
                   "voices": ctl.voices(), "slot": slot, "name": ctl.song().metadata.name,
                   "bpm": ctl.song().sequencer.bpm}),
            Some(format!(
                "playing slot {} {:?} at {:.1} BPM on {}",
                slot.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                ctl.song().metadata.name,
                ctl.song().sequencer.bpm,
                output.describe
            )),
        );
    }

    /// Prints the `stopped` event with the run's counters.
    pub fn stopped(&mut self, ctl: &Controller, seconds: f64, bars: u64) {
        let st = ctl.status();
        let stats = ctl.stats();
        let dropped = stats.record_dropped.load(Ordering::Relaxed);
        self.emit(
            "stopped",
            json!({"seconds": seconds, "bars": bars, "xruns": st.xruns, "late": st.late,
                   "load_mean_pct": st.load_mean, "load_max_pct": st.load_max,
                   "callbacks": stats.callbacks.load(Ordering::Relaxed),
                   "blocked": stats.blocked.load(Ordering::Relaxed),
                   "events_dropped": stats.events_dropped.load(Ordering::Relaxed),
                   "record_dropped": dropped}),
            Some(format!(
                "stopped after {seconds:.2} s, {bars} bars, {} xruns, {} late callbacks",
                st.xruns, st.late
            )),
        );
    }
}

/// The line headless output prints for a slot, save or recording notice (or a message's
/// text): the sentence [`Controller::describe`] words, the same the TUI shows.
pub fn human_line(ctl: &Controller, n: &Notice) -> Option<String> {
    ctl.describe(n)
}

/// Runs `chronus headless`.
pub fn run(args: &HeadlessArgs, patterns: &Path) -> anyhow::Result<ExitCode> {
    let mut printer = EventPrinter::new(args.events);
    let slot = match SlotNumber::parse(&args.slot) {
        Ok(s) => s,
        Err(e) => {
            printer.message(Level::Error, &format!("--slot: {e}"));
            return Ok(ExitCode::from(1));
        }
    };
    let opts = SessionOptions {
        audio: args.audio.clone(),
        osc: Some(args.osc.clone()),
        watch: true,
    };
    let mut session = Session::start(patterns, &opts);
    if let Err(e) = session.apply(Command::LoadSlot {
        slot,
        immediate: true,
    }) {
        printer.message(Level::Error, &error_text(&e));
        return Ok(ExitCode::from(1));
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let waker = session.waker();
        // Only one handler per process; a second set (tests calling run twice) is harmless.
        let _ = ctrlc::set_handler(move || {
            stop.store(true, Ordering::Relaxed);
            waker.wake();
        });
    }
    printer.started(&session.backend(), session.ctl());
    for (level, text) in session.take_startup_messages() {
        printer.message(level, &text);
    }
    for n in session.ctl_mut().drain_notices().collect::<Vec<_>>() {
        printer.notice(session.ctl(), &n);
    }
    if let Some(path) = &args.record
        && let Err(e) = session.ctl_mut().record_to(path)
    {
        printer.message(Level::Error, &error_text(&e));
        return Ok(ExitCode::from(1));
    }
    session.apply(Command::Play)?;
    let started = Instant::now();
    let deadline = args
        .seconds
        .map(|s| started + Duration::from_secs_f64(s.max(0.0)));
    let mut bars = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        for n in session.turn() {
            if matches!(n, Notice::Bar { .. }) {
                bars += 1;
            }
            printer.notice(session.ctl(), &n);
        }
        let wait = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::MAX)
            .min(ENGINE_POLL);
        session.wait(wait);
    }
    let seconds = started.elapsed().as_secs_f64();
    for n in session.shutdown() {
        if !matches!(n, Notice::Bar { .. }) {
            printer.notice(session.ctl(), &n);
        }
    }
    printer.stopped(session.ctl(), seconds, bars);
    Ok(ExitCode::SUCCESS)
}
