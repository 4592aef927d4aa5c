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
    /// MIDI options.
    #[command(flatten)]
    pub midi: crate::sources::midi::MidiArgs,
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
            Notice::Bar { bar, sample } => self.bar(ctl, *bar, *sample),
            Notice::Message(level, text) => self.message(*level, text),
            Notice::Beat { bar, beat, sample } => self.emit(
                "beat",
                json!({"bar": bar, "beat": beat, "sample": sample, "time": ctl.sample_time(*sample)}),
                None,
            ),
            _ => {
                if let Some((event, fields)) = event_of(n) {
                    self.emit(event, fields, human_line(ctl, n));
                }
            }
        }
    }

    /// A bar line: where it is, what plays and how the audio does.
    fn bar(&mut self, ctl: &Controller, bar: u64, sample: u64) {
        let st = ctl.status();
        let name = &ctl.song().metadata.name;
        let slot = ctl
            .slot()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into());
        // The tempo that plays: a follower runs its leader's, not the song's.
        let bpm = st.playing_bpm;
        let human = format!(
            "bar {bar:>4} | slot {slot} {name:?} | {bpm:.1} BPM | load {:.1}% (max {:.1}%) | xruns {} | late {}",
            st.load_mean, st.load_max, st.xruns, st.late
        );
        self.emit(
            "bar",
            json!({"bar": bar, "sample": sample, "time": ctl.sample_time(sample),
                   "bpm": bpm, "song_bpm": ctl.song().sequencer.bpm,
                   "load_mean_pct": st.load_mean, "load_max_pct": st.load_max,
                   "xruns": st.xruns, "late": st.late}),
            Some(human),
        );
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
        // `null` where the system keeps no count of a thread's waits (not Linux).
        let blocked = stats.blocked_count();
        self.emit(
            "stopped",
            json!({"seconds": seconds, "bars": bars, "xruns": st.xruns, "late": st.late,
                   "load_mean_pct": st.load_mean, "load_max_pct": st.load_max,
                   "callbacks": stats.callbacks.load(Ordering::Relaxed),
                   "blocked": blocked,
                   "events_dropped": stats.events_dropped.load(Ordering::Relaxed),
                   "record_dropped": dropped}),
            Some(format!(
                "stopped after {seconds:.2} s, {bars} bars, {} xruns, {} late callbacks",
                st.xruns, st.late
            )),
        );
    }
}

/// The `--events json` name and fields of a notice that is news (not timing).
fn event_of(n: &Notice) -> Option<(&'static str, Value)> {
    Some(match n {
        Notice::SlotQueued {
            slot,
            bar,
            from_disk,
        } => (
            "slot_queued",
            json!({"slot": slot, "bar": bar, "from_disk": from_disk}),
        ),
        Notice::SlotApplied { slot, bar } => ("slot_applied", json!({"slot": slot, "bar": bar})),
        Notice::ChainEntry {
            entry, slot, bar, ..
        } => (
            "chain_entry",
            json!({"entry": entry + 1, "slot": slot, "bar": bar}),
        ),
        Notice::ChainEnded { bar, .. } => ("chain_ended", json!({"bar": bar})),
        Notice::Saved { slot, path, .. } => (
            "saved",
            json!({"slot": slot, "path": path.display().to_string()}),
        ),
        Notice::SaveFailed { slot, error, .. } => {
            ("save_failed", json!({"slot": slot, "error": error}))
        }
        Notice::SaveRefused { slot, name, .. } => {
            ("save_refused", json!({"slot": slot, "name": name}))
        }
        Notice::SaveWaiting { slot } => ("save_waiting", json!({"slot": slot})),
        Notice::DiskReloaded { slot, diff } => (
            "disk_reloaded",
            json!({"slot": slot, "changes": diff.describe()}),
        ),
        Notice::DiskConflict { slot } => ("disk_conflict", json!({"slot": slot})),
        Notice::SlotFileFixed { slot } => ("slot_file_fixed", json!({"slot": slot})),
        Notice::Recorded(info) => (
            "recorded",
            json!({"path": info.path.display().to_string(), "seconds": info.seconds(), "frames": info.frames}),
        ),
        Notice::Bar { .. }
        | Notice::Beat { .. }
        | Notice::Message(..)
        | Notice::Started
        | Notice::Stopped
        | Notice::DiskConflictGone
        | Notice::SlotListChanged => return None,
    })
}

/// The line headless output prints for a slot, save or recording notice (or a message's
/// text): the sentence [`Controller::describe`] words, the same the TUI shows.
pub fn human_line(ctl: &Controller, n: &Notice) -> Option<String> {
    ctl.describe(n)
}

/// The start-up note when temp files of an earlier run that died mid-write were removed.
pub fn left_behind(count: usize) -> String {
    let files = if count == 1 { "file" } else { "files" };
    format!("removed {count} temp {files} left by an earlier run that ended mid-write")
}

/// Ends the run on Ctrl-C, SIGTERM and SIGHUP (a closed terminal): the flag is raised and
/// the loop woken, so it stops cleanly, drafts flushed. Only one handler per process; a
/// second set (tests calling run twice) is harmless.
fn stop_on_signals(session: &Session) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let raised = stop.clone();
    let waker = session.waker();
    let _ = ctrlc::set_handler(move || {
        raised.store(true, Ordering::Relaxed);
        waker.wake();
    });
    stop
}

/// Starts `--record`; false (said) when it cannot.
fn start_recording(session: &mut Session, printer: &mut EventPrinter, path: &Path) -> bool {
    match session.ctl_mut().record_to(path) {
        // The file may be a numbered one beside the one asked for: say which.
        Ok(file) => {
            printer.message(Level::Info, &format!("recording to {}", file.display()));
            true
        }
        Err(e) => {
            printer.message(Level::Error, &error_text(&e));
            false
        }
    }
}

/// Turns the loop until `stop` or `seconds` passed; returns the seconds played and the bars.
fn play(
    session: &mut Session,
    printer: &mut EventPrinter,
    stop: &AtomicBool,
    seconds: Option<f64>,
) -> (f64, u64) {
    let started = Instant::now();
    let deadline = seconds.map(|s| started + Duration::from_secs_f64(s.max(0.0)));
    let mut bars = 0u64;
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
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
    (started.elapsed().as_secs_f64(), bars)
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
    let cleaned = crate::store::Store::new(patterns).remove_stale_temp_files();
    let follow_midi = args.osc.clock == crate::sources::osc::ClockMode::Midi;
    let mut session = Session::start_with_midi(patterns, &opts, Some((&args.midi, follow_midi)));
    let stop = stop_on_signals(&session);
    if let Err(e) = session.apply(Command::LoadSlot {
        slot,
        immediate: true,
    }) {
        printer.message(Level::Error, &error_text(&e));
        return Ok(ExitCode::from(1));
    }
    printer.started(&session.backend(), session.ctl());
    for (level, text) in session.take_startup_messages() {
        printer.message(level, &text);
    }
    if cleaned > 0 {
        printer.message(Level::Info, &left_behind(cleaned));
    }
    for n in session.ctl_mut().drain_notices().collect::<Vec<_>>() {
        printer.notice(session.ctl(), &n);
    }
    if let Some(path) = &args.record
        && !start_recording(&mut session, &mut printer, path)
    {
        return Ok(ExitCode::from(1));
    }
    session.apply(Command::Play)?;
    let (seconds, bars) = play(&mut session, &mut printer, &stop, args.seconds);
    // Edits not yet mirrored (the drafts' debounce) go to drafts/ before anything else.
    session.ctl_mut().flush_drafts();
    for n in session.shutdown() {
        if !matches!(n, Notice::Bar { .. }) {
            printer.notice(session.ctl(), &n);
        }
    }
    printer.stopped(session.ctl(), seconds, bars);
    Ok(ExitCode::SUCCESS)
}
