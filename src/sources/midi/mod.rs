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
use std::time::Instant;

use clap::{Args, ValueEnum};

pub use backend::{InMsg, MidiBackend, MidiError, OutFeed, Plan, Ports, Running, pick};
pub use clock_in::ClockIn;
pub use control_in::Controls;

use crate::control::{Command, Controller, Level, Notice, Service, Waker};
use crate::sources::osc::{FollowAction, FollowState, Follower};

/// Messages taken from the inbox per control-loop turn.
const MAX_PER_POLL: usize = 4096;

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

/// The MIDI service of the control loop.
pub struct MidiService {
    running: Running,
    backend: &'static str,
    clock: Option<(ClockIn, Follower)>,
    sends_clock: bool,
    announced: bool,
    received: u64,
    errors_told: bool,
    last_song_bpm: Option<f64>,
    /// The mapped controls (`midi.toml`) and MIDI learn, with MIDI input.
    controls: Option<Controls>,
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
        let running = b
            .open(&plan, feed.filter(|_| plan.sends))
            .map_err(|e| e.to_string())?;
        let compensation = ahead + running.period;
        Ok(MidiService {
            backend: b.name(),
            clock: follow.then(|| (ClockIn::new(compensation), Follower::new())),
            sends_clock: plan.sends,
            running,
            announced: false,
            received: 0,
            errors_told: false,
            last_song_bpm: None,
            controls: plan.reads().then(|| Controls::open(&args.map_path())),
        })
    }

    /// True when MIDI input is open (mapped controls, MIDI learn).
    pub fn reads(&self) -> bool {
        self.running.inbox.is_some()
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
        changed |= self.run_follower(ctl);
        changed
    }

    fn observe(&mut self, ctl: &Controller, notices: &[Notice]) {
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
        let dropped = self.running.shared.overflow.load(Relaxed);
        if dropped > 0 {
            parts.push(format!("{dropped} dropped"));
        }
        Some(parts.join(" · "))
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
