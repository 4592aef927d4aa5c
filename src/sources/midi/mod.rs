//! MIDI: clock out (`--midi-clock-out`), clock in (`--clock midi --midi-in`), the ports of
//! `chronus devices`, and the choice of backend (`--midi-backend alsa|jack`, at run time).
//!
//! Without a MIDI flag nothing here runs: no client, no thread, no port. With one, a
//! [`MidiService`] joins the control loop like the OSC server: what arrives becomes commands
//! through the controller, and the engine's MIDI (stamped with its sample) leaves on a ring
//! that the backend's own thread or JACK process callback sends from, never the audio thread.

mod backend;
mod clock_in;
pub mod control_in;
#[cfg(target_os = "linux")]
mod jack_io;
pub mod map;
mod system_io;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

pub use backend::{
    InMsg, MidiBackend, MidiError, NoteOutputs, OWN_PORT, OutFeed, Plan, Ports, Running, pick,
};
pub use clock_in::ClockIn;
pub use control_in::Controls;

use crate::control::{Command, Controller, Level, Notice, Service, Waker};
use crate::engine::SharedStats;
use crate::sources::osc::{FollowAction, FollowState, Follower};

/// Messages taken from the inbox per control-loop turn.
const MAX_PER_POLL: usize = 4096;
/// Longest quitting waits for the MIDI still in flight (note offs, all notes off, Stop).
const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// Which MIDI system Chronus uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum MidiBackendKind {
    /// The system's MIDI: the ALSA sequencer on Linux (PipeWire bridges it), CoreMIDI on
    /// macOS, WinMM on Windows.
    #[default]
    #[value(alias = "system")]
    Alsa,
    /// JACK MIDI (Linux; needs a running JACK server).
    Jack,
}

/// MIDI options of the tracker and of headless mode.
#[derive(Debug, Args, Clone, Default, PartialEq, Eq)]
pub struct MidiArgs {
    /// MIDI system: alsa (the system's MIDI) or jack.
    #[arg(long, value_enum, default_value_t = MidiBackendKind::Alsa)]
    pub midi_backend: MidiBackendKind,
    /// Read MIDI from the first port whose name contains NAME: the controls midi.toml maps,
    /// MIDI learn, and clock for --clock midi.
    #[arg(long, value_name = "NAME")]
    pub midi_in: Option<String>,
    /// Send MIDI clock (24 PPQN, Start/Stop, Song Position) to the first port whose name
    /// contains NAME; without NAME to Chronus's own port (with --midi-virtual).
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub midi_clock_out: Option<String>,
    /// Offer Chronus's own ports (chronus:in, chronus:out) for other programs to connect to.
    #[arg(long)]
    pub midi_virtual: bool,
    /// The MIDI map (CCs and notes to parameters and actions; MIDI learn writes to it):
    /// default midi.toml beside the keymap file (the working directory, or --keymap's
    /// folder). Read only with MIDI input (--midi-in, --midi-virtual).
    #[arg(long, value_name = "FILE")]
    pub midi_map: Option<PathBuf>,
}

impl MidiArgs {
    /// True when any MIDI flag asks for MIDI.
    pub fn wanted(&self) -> bool {
        self.midi_in.is_some() || self.midi_clock_out.is_some() || self.midi_virtual
    }

    /// The MIDI map file: `--midi-map`, else `midi.toml` in the working directory.
    pub fn map_path(&self) -> PathBuf {
        self.midi_map
            .clone()
            .unwrap_or_else(|| PathBuf::from(map::MAP_FILE))
    }

    /// What to open; `follow` is `--clock midi`.
    pub fn plan(&self, follow: bool) -> Result<Plan, String> {
        if self.midi_clock_out.as_deref().is_some_and(str::is_empty) && !self.midi_virtual {
            return Err(
                "--midi-clock-out without a port name sends to Chronus's own port: add --midi-virtual, or name a port"
                    .into(),
            );
        }
        if follow && self.midi_in.is_none() && !self.midi_virtual {
            return Err("--clock midi needs --midi-in NAME (or --midi-virtual)".into());
        }
        Ok(Plan {
            input: self.midi_in.clone(),
            output: self.midi_clock_out.clone(),
            virtual_ports: self.midi_virtual,
            sends: self.midi_clock_out.is_some(),
        })
    }
}

/// The backend for `kind`, or why it cannot be had on this system.
pub fn backend(kind: MidiBackendKind) -> Result<Box<dyn MidiBackend>, MidiError> {
    match kind {
        MidiBackendKind::Alsa => Ok(Box::new(system_io::System)),
        #[cfg(target_os = "linux")]
        MidiBackendKind::Jack => Ok(Box::new(jack_io::Jack)),
        #[cfg(not(target_os = "linux"))]
        MidiBackendKind::Jack => Err(MidiError::Unavailable {
            backend: "jack",
            why: "JACK MIDI is built for Linux only; use --midi-backend alsa (the system's MIDI)"
                .into(),
        }),
    }
}

/// Lines for `chronus devices`: every backend's MIDI ports, or why it has none.
pub fn describe_ports() -> Vec<String> {
    let mut lines = Vec::new();
    for kind in [MidiBackendKind::Alsa, MidiBackendKind::Jack] {
        let name = kind.to_possible_value().map(|v| v.get_name().to_string());
        let name = name.unwrap_or_default();
        match backend(kind).and_then(|b| b.ports()) {
            Ok(p) => {
                lines.push(format!("MIDI ({name}):"));
                if p.inputs.is_empty() && p.outputs.is_empty() {
                    lines.push("  no ports".into());
                }
                for i in &p.inputs {
                    lines.push(format!("  in   {i}"));
                }
                for o in &p.outputs {
                    lines.push(format!("  out  {o}"));
                }
            }
            Err(e) => lines.push(format!("MIDI ({name}): {e}")),
        }
    }
    lines
}

/// Seconds after a sample's time that its MIDI goes out, for an engine whose periods are
/// `buffer` frames at `rate`: the audio is rendered up to a period ahead of its time, so two
/// periods leave the sender a whole one to pick each message up.
pub fn send_ahead(buffer: u32, rate: u32) -> f64 {
    2.0 * buffer as f64 / rate.max(1) as f64 + 0.001
}

/// A note port a song named, as the service found it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NotePort {
    /// Connected.
    Open,
    /// Not there (or not openable) when last tried; its notes are dropped and counted. The
    /// load that first named it is not a load "again": its own slot-applied is let pass.
    Missing { name: String, first: bool },
}

/// The MIDI service of the control loop.
pub struct MidiService {
    running: Running,
    /// The engine's counters (messages queued for the sender), when it feeds this service.
    stats: Option<Arc<SharedStats>>,
    /// The note ports, by the index the controller's port table gives them.
    note_ports: Vec<NotePort>,
    /// The table of ports was found full (told once).
    ports_full_told: bool,
    backend: &'static str,
    clock: Option<(ClockIn, Follower)>,
    sends_clock: bool,
    announced: bool,
    received: u64,
    errors_told: bool,
    last_song_bpm: Option<f64>,
    /// The mapped controls (`midi.toml`) and MIDI learn, with MIDI input.
    controls: Option<Controls>,
    /// A slot was applied and some note port is missing: try again on the next poll.
    retry: bool,
}

impl MidiService {
    /// Opens what the options ask for. `feed` carries the engine's MIDI (clock out);
    /// `ahead` is the engine side's send-ahead (see [`send_ahead`]), which a follower also
    /// takes off each beat it hears.
    pub fn open(
        args: &MidiArgs,
        follow: bool,
        feed: Option<OutFeed>,
        ahead: f64,
    ) -> Result<MidiService, String> {
        let plan = args.plan(follow)?;
        let b = backend(args.midi_backend).map_err(|e| e.to_string())?;
        let stats = feed.as_ref().map(|f| f.stats.clone());
        let running = b.open(&plan, feed).map_err(|e| e.to_string())?;
        let compensation = ahead + running.period;
        Ok(MidiService {
            stats,
            note_ports: Vec::new(),
            ports_full_told: false,
            backend: b.name(),
            clock: follow.then(|| (ClockIn::new(compensation), Follower::new())),
            sends_clock: plan.sends,
            running,
            announced: false,
            received: 0,
            errors_told: false,
            last_song_bpm: None,
            controls: plan.reads().then(|| Controls::open(&args.map_path())),
            retry: false,
        })
    }

    /// True when MIDI input is open (mapped controls, MIDI learn).
    pub fn reads(&self) -> bool {
        self.running.inbox.is_some()
    }

    /// Opens the note ports the songs named since the last turn.
    fn open_note_ports(&mut self, ctl: &mut Controller) -> bool {
        let names = ctl.midi_ports().names();
        if self.note_ports.len() >= names.len()
            && (self.ports_full_told || ctl.midi_ports().refused() == 0)
        {
            return false;
        }
        let fresh: Vec<String> = names[self.note_ports.len()..].to_vec();
        for name in fresh {
            let i = self.note_ports.len() as u8;
            let state = match self.open_note_port(ctl, i, &name) {
                NotePort::Missing { name, .. } => NotePort::Missing { name, first: true },
                open => open,
            };
            self.note_ports.push(state);
        }
        if ctl.midi_ports().refused() > 0 && !self.ports_full_told {
            self.ports_full_told = true;
            ctl.notify(
                Level::Warning,
                format!(
                    "MIDI notes: the songs name more than {} ports; tracks on the others send no notes",
                    crate::model::limits::MAX_MIDI_PORTS
                ),
            );
        }
        true
    }

    fn open_note_port(&mut self, ctl: &mut Controller, i: u8, name: &str) -> NotePort {
        match self.running.keep.open_notes(i, name) {
            Ok(describe) => {
                ctl.notify(Level::Info, describe);
                NotePort::Open
            }
            Err(e) => {
                ctl.notify(
                    Level::Warning,
                    format!(
                        "{e} — the notes of tracks on port {} are dropped (tried again when a slot naming it loads)",
                        crate::model::text::quote(name)
                    ),
                );
                NotePort::Missing {
                    name: name.to_string(),
                    first: false,
                }
            }
        }
    }

    /// A slot was applied: the ports it names that were missing are tried again.
    fn retry_missing(&mut self, ctl: &mut Controller) {
        let named: Vec<String> = ctl
            .song()
            .sequencer
            .tracks
            .iter()
            .filter_map(|t| t.midi.as_ref().map(|m| m.port.clone()))
            .collect();
        for i in 0..self.note_ports.len() {
            let NotePort::Missing { name, first } = self.note_ports[i].clone() else {
                continue;
            };
            if first {
                self.note_ports[i] = NotePort::Missing { name, first: false };
            } else if named.contains(&name) {
                self.note_ports[i] = self.open_note_port(ctl, i as u8, &name);
            }
        }
    }

    /// The clock follower's state, with `--clock midi`.
    pub fn follow_state(&self) -> Option<FollowState> {
        self.clock.as_ref().map(|(_, f)| f.status().state)
    }

    fn run_follower(&mut self, ctl: &mut Controller) -> bool {
        let Some((_, f)) = self.clock.as_mut() else {
            return false;
        };
        let song_bpm = ctl.song().sequencer.bpm;
        if self.last_song_bpm.is_some_and(|b| b != song_bpm) {
            f.retempo();
        }
        self.last_song_bpm = Some(song_bpm);
        let actions = f.tick(
            Instant::now(),
            crate::sources::osc::wire::unix_now(),
            ctl.status().running,
        );
        let changed = !actions.is_empty();
        for a in actions {
            match a {
                FollowAction::Notify(level, text) => {
                    ctl.notify(level, text.replacen("clock:", "MIDI clock:", 1))
                }
                FollowAction::Tempo(bpm) => {
                    let _ = ctl.apply(Command::FollowTempo(bpm));
                }
                FollowAction::Restart { stop } => {
                    if stop {
                        let _ = ctl.apply(Command::Stop);
                    }
                    let _ = ctl.apply(Command::Play);
                }
                FollowAction::Stop => {
                    let _ = ctl.apply(Command::Stop);
                }
            }
        }
        changed
    }
}

impl Service for MidiService {
    fn poll(&mut self, ctl: &mut Controller) -> bool {
        let mut changed = false;
        if !self.announced {
            self.announced = true;
            for line in &self.running.describe {
                ctl.notify(Level::Info, line.clone());
            }
            if let Some(c) = self.controls.as_mut() {
                c.announce(ctl);
            }
            changed = true;
        }
        if let Some(inbox) = self.running.inbox.as_mut() {
            let now = Instant::now();
            let now_unix = crate::sources::osc::wire::unix_now();
            for _ in 0..MAX_PER_POLL {
                let Ok(m) = inbox.pop() else { break };
                self.received += 1;
                changed = true;
                if let Some(c) = self.controls.as_mut() {
                    c.on_message(ctl, m.message());
                }
                if let Some((c, f)) = self.clock.as_mut()
                    && let Err(e) = c.on_message(&m, f, now, now_unix)
                    && !self.errors_told
                {
                    self.errors_told = true;
                    ctl.notify(Level::Warning, format!("MIDI clock refused: {e}"));
                }
            }
        }
        if let Some(c) = self.controls.as_mut() {
            c.flush(ctl);
        }
        changed |= self.open_note_ports(ctl);
        self.running.shared.ready.store(true, Ordering::Release);
        if std::mem::take(&mut self.retry) {
            self.retry_missing(ctl);
            changed = true;
        }
        changed |= self.run_follower(ctl);
        changed
    }

    fn observe(&mut self, ctl: &Controller, notices: &[Notice]) {
        let missing = self
            .note_ports
            .iter()
            .any(|p| matches!(p, NotePort::Missing { .. }));
        if missing
            && notices
                .iter()
                .any(|n| matches!(n, Notice::SlotApplied { .. }))
        {
            // Opened on the next poll, which may notify.
            self.retry = true;
        }
        let Some((_, f)) = self.clock.as_mut() else {
            return;
        };
        for n in notices {
            match n {
                Notice::Beat { beat, sample, .. } => {
                    f.on_local_beat(*beat, ctl.sample_time(*sample))
                }
                Notice::Started => f.on_started(),
                Notice::SlotApplied { .. } => f.retempo(),
                _ => {}
            }
        }
    }

    fn set_waker(&mut self, waker: Waker) {
        let _ = self.running.shared.waker.set(waker);
    }

    fn status_line(&self) -> Option<String> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut parts = vec![format!("MIDI ({})", self.backend)];
        if let Some((c, f)) = &self.clock {
            let st = f.status();
            let bpm = c
                .bpm()
                .map(|b| format!("{b:.2} BPM"))
                .unwrap_or_else(|| "no clock".into());
            let what = match st.state {
                FollowState::Waiting => "waiting for Start (internal clock)".to_string(),
                FollowState::Aligning => "aligning".to_string(),
                FollowState::Lost => "clock silent — internal clock".to_string(),
                FollowState::Following => {
                    let off = st
                        .offset_ms
                        .map(|o| format!(" offset {o:+.1} ms"))
                        .unwrap_or_default();
                    format!("{}{off}", if st.locked { "locked" } else { "locking" })
                }
            };
            parts.push(format!("clock in {bpm}, {what}"));
        } else if self.running.inbox.is_some() {
            parts.push(format!("{} received", self.received));
        }
        if let Some(c) = &self.controls {
            parts.push(c.status());
        }
        if self.sends_clock {
            let sh = &self.running.shared;
            parts.push(format!(
                "clock out: {} sent, {} late",
                sh.sent.load(Relaxed),
                sh.late.load(Relaxed)
            ));
        }
        if !self.note_ports.is_empty() {
            let sh = &self.running.shared;
            let mut notes = format!("notes out: {} sent", sh.notes_sent.load(Relaxed));
            let dropped = sh.notes_dropped.load(Relaxed);
            if dropped > 0 {
                let missing: Vec<String> = self
                    .note_ports
                    .iter()
                    .filter_map(|p| match p {
                        NotePort::Missing { name, .. } => Some(crate::model::text::quote(name)),
                        NotePort::Open => None,
                    })
                    .collect();
                notes.push_str(&format!(", {dropped} dropped"));
                if !missing.is_empty() {
                    notes.push_str(&format!(" (no port {})", missing.join(", ")));
                }
            }
            let cut = self.stats.as_ref().map_or(0, |s| s.notes_cut.load(Relaxed));
            if cut > 0 {
                notes.push_str(&format!(", {cut} cut short"));
            }
            parts.push(notes);
        }
        let dropped = self.running.shared.overflow.load(Relaxed);
        if dropped > 0 {
            parts.push(format!("{dropped} dropped"));
        }
        Some(parts.join(" · "))
    }

    fn finish(&mut self) {
        let Some(stats) = self.stats.as_ref() else {
            return;
        };
        // Everything the engine queued (the note offs and all notes off of the Stop that
        // quitting sent) is taken by the sender, then given a period to leave.
        let deadline = Instant::now() + FLUSH_WAIT;
        while Instant::now() < deadline {
            let queued = stats.midi_queued.load(Ordering::Acquire);
            if self.running.shared.handled.load(Ordering::Relaxed) >= queued {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_secs_f64(
            (self.running.period + 0.005).min(0.2),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        midi: MidiArgs,
    }

    #[test]
    fn flags_parse_and_no_flag_wants_nothing() {
        let a = Cli::parse_from(["x"]).midi;
        assert!(!a.wanted());
        assert_eq!(a.midi_backend, MidiBackendKind::Alsa);
        let a = Cli::parse_from([
            "x",
            "--midi-backend",
            "jack",
            "--midi-clock-out",
            "--midi-virtual",
        ])
        .midi;
        assert_eq!(a.midi_clock_out.as_deref(), Some(""));
        assert!(a.wanted());
        let p = a.plan(false).unwrap();
        assert!(p.sends && p.virtual_ports && p.reads());
        let a = Cli::parse_from(["x", "--midi-clock-out", "Digitakt"]).midi;
        assert_eq!(a.midi_clock_out.as_deref(), Some("Digitakt"));
        assert!(!a.plan(false).unwrap().reads());
        let e = Cli::parse_from(["x", "--midi-clock-out"])
            .midi
            .plan(false)
            .unwrap_err();
        assert!(e.contains("--midi-virtual"), "{e}");
        let e = Cli::parse_from(["x"]).midi.plan(true).unwrap_err();
        assert!(e.contains("--clock midi needs --midi-in"), "{e}");
        assert!(Cli::try_parse_from(["x", "--midi-backend", "oss"]).is_err());
        assert_eq!(
            Cli::parse_from(["x", "--midi-backend", "system"])
                .midi
                .midi_backend,
            MidiBackendKind::Alsa
        );
    }

    #[test]
    fn send_ahead_is_two_periods_and_a_millisecond() {
        assert!((send_ahead(256, 48000) - (2.0 * 256.0 / 48000.0 + 0.001)).abs() < 1e-12);
    }
}
