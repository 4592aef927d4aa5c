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
use crate::control::{Command, Controller, Level, Notice, RecordFormat};
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
    /// Start with an empty, stopped song and every voice at its default, loading no slot (as
    /// the Music Chronus engine started): for scripts that build their song over OSC.
    #[arg(long, conflicts_with = "slot")]
    pub empty: bool,
    /// Record the master output to this WAV file, from start to end of the run (a script's
    /// /engine/record/start makes a second file beside it).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Bits per sample of recordings: 32 (float, the default) or 16 (integer, as Music
    /// Chronus wrote them); applies to --record and to recordings a script starts.
    #[arg(long, default_value = "32", value_parser = parse_record_bits)]
    pub record_bits: RecordFormat,
    /// Let a script's /engine/stop end the --record file too (as it ended Music Chronus's
    /// recording); without it the file goes on until the run ends.
    #[arg(long, requires = "record")]
    pub record_ends_on_stop: bool,
    /// Print events in a machine-readable format.
    #[arg(long, value_enum)]
    pub events: Option<EventsFormat>,
    /// OSC options.
    #[command(flatten)]
    pub osc: crate::sources::osc::OscArgs,
    /// Ableton Link options.
    #[command(flatten)]
    pub link: crate::control::LinkArgs,
    /// MIDI options.
    #[command(flatten)]
    pub midi: crate::sources::midi::MidiArgs,
}

/// `--record-bits`: 16 or 32.
fn parse_record_bits(text: &str) -> Result<RecordFormat, String> {
    text.trim()
        .parse::<u32>()
        .ok()
        .and_then(RecordFormat::from_bits)
        .ok_or_else(|| {
            format!(
                "{} is not a recording format: 32 (float) or 16 (integer)",
                crate::model::text::quote(text)
            )
        })
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
            Notice::OscAnswer { .. } => self.osc_answer(ctl, n),
            Notice::SchemaPrinted { json } => self.schema(json),
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
        // With Link on: its peers and the session's tempo (which is what plays).
        let link = ctl.link_status();
        let link_text = link
            .map(|l| format!(" | {}", l.header()))
            .unwrap_or_default();
        let human = format!(
            "bar {bar:>4} | slot {slot} {name:?} | {bpm:.1} BPM{link_text} | load {:.1}% (max {:.1}%) | xruns {} | late {}",
            st.load_mean, st.load_max, st.xruns, st.late
        );
        let link = link.map(|l| {
            json!({"peers": l.peers, "tempo": l.tempo, "offset_ms": l.offset_ms,
                   "realigns": l.realigns, "latency_ms": l.latency_ms})
        });
        self.emit(
            "bar",
            json!({"bar": bar, "sample": sample, "time": ctl.sample_time(sample),
                   "bpm": bpm, "song_bpm": ctl.song().sequencer.bpm,
                   "load_mean_pct": st.load_mean, "load_max_pct": st.load_max,
                   "xruns": st.xruns, "late": st.late, "link": link}),
            Some(human),
        );
    }

    /// An `/error` or `/warning` sent to an OSC client: an `osc_error` / `osc_warning` event,
    /// or a line on stderr (stdout keeps the status lines), so a headless performer sees
    /// what the script's sender was told.
    fn osc_answer(&mut self, ctl: &Controller, n: &Notice) {
        let Notice::OscAnswer {
            level,
            address,
            message,
            from,
        } = n
        else {
            return;
        };
        let event = if *level == Level::Error {
            "osc_error"
        } else {
            "osc_warning"
        };
        if self.json {
            self.emit(
                event,
                json!({"address": address, "message": message,
                       "from": from.map(|f| f.to_string())}),
                None,
            );
        } else if let Some(line) = ctl.describe(n) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}", escape_keep_lines(&line));
        }
    }

    /// `/engine/schema stdout`: the schema printed as Music Chronus printed it (between rules
    /// of `=`), or a `schema` event holding it.
    fn schema(&mut self, text: &str) {
        if self.json {
            let schema: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            self.emit("schema", json!({"schema": schema}), None);
        } else {
            let rule = "=".repeat(50);
            self.emit(
                "schema",
                json!({}),
                Some(format!(
                    "{rule}\nENGINE PARAMETER SCHEMA\n{rule}\n{text}\n{rule}"
                )),
            );
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
                   "bpm": ctl.song().sequencer.bpm, "running": ctl.status().running,
                   "tracks": ctl.song().sequencer.tracks.len()}),
            Some(match slot {
                Some(slot) => format!(
                    "playing slot {slot} {:?} at {:.1} BPM on {}",
                    ctl.song().metadata.name,
                    ctl.song().sequencer.bpm,
                    output.describe
                ),
                None => format!(
                    "empty song, stopped, at {:.1} BPM on {} (waiting for OSC: /seq/add, /seq/start …)",
                    ctl.song().sequencer.bpm,
                    output.describe
                ),
            }),
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
        | Notice::OscAnswer { .. }
        | Notice::SchemaPrinted { .. }
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
fn start_recording(
    session: &mut Session,
    printer: &mut EventPrinter,
    path: &Path,
    format: RecordFormat,
) -> bool {
    match session.ctl_mut().record_run_to(path, format) {
        // The file may be a numbered one beside the one asked for: say which.
        Ok(file) => {
            printer.message(
                Level::Info,
                &format!(
                    "recording to {} ({} stereo)",
                    file.display(),
                    format.describe()
                ),
            );
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
    // With --empty nothing is loaded: the controller starts with an empty song, no current
    // slot (so nothing is written until a script saves) and the registry's defaults.
    if !args.empty
        && let Err(e) = session.apply(Command::LoadSlot {
            slot,
            immediate: true,
        })
    {
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
    let recorder = session.ctl_mut().recorder_mut();
    recorder.set_default_format(args.record_bits);
    recorder.set_run_ends_with_engine(args.record_ends_on_stop);
    // Link joins with the start slot's tempo, before Play (which then waits for the
    // session's next bar line).
    session
        .ctl_mut()
        .set_link_start_stop(args.link.link_start_stop);
    if args.link.link
        && let Err(e) = session.apply(Command::Link(Some(true)))
    {
        printer.message(Level::Error, &error_text(&e));
        return Ok(ExitCode::from(1));
    }
    for n in session.ctl_mut().drain_notices().collect::<Vec<_>>() {
        printer.notice(session.ctl(), &n);
    }
    if let Some(path) = &args.record
        && !start_recording(&mut session, &mut printer, path, args.record_bits)
    {
        return Ok(ExitCode::from(1));
    }
    if !args.empty {
        session.apply(Command::Play)?;
    }
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
