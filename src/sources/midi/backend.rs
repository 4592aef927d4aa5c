//! The MIDI backends behind one small trait: the system's MIDI through `midir` (the ALSA
//! sequencer on Linux, CoreMIDI on macOS, WinMM on Windows) and, on Linux, JACK MIDI through
//! the `jack` crate (libjack loaded at run time), so one build serves both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::control::Waker;
use crate::engine::SharedStats;
use crate::engine::midi::MidiEvent;

/// Messages received and not yet taken by the control loop (a second of dense clock and
/// controllers); more are counted and dropped.
pub const INBOX: usize = 4096;

/// One message received, stamped with when it arrived (Unix seconds; with JACK the frame it
/// belongs to, without the wake-up jitter of any thread).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InMsg {
    /// Arrival time, seconds since the Unix epoch.
    pub time: f64,
    /// How many of `bytes` are used.
    pub len: u8,
    /// The message (longer ones, system exclusive, are not kept).
    pub bytes: [u8; 3],
}

impl InMsg {
    /// A message of up to three bytes; `None` for longer ones (system exclusive).
    pub fn new(time: f64, msg: &[u8]) -> Option<InMsg> {
        if msg.is_empty() || msg.len() > 3 {
            return None;
        }
        let mut bytes = [0; 3];
        bytes[..msg.len()].copy_from_slice(msg);
        Some(InMsg {
            time,
            len: msg.len() as u8,
            bytes,
        })
    }

    /// The bytes in use.
    pub fn message(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// The ports a backend sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ports {
    /// Ports Chronus can read from (other programs' outputs, hardware inputs).
    pub inputs: Vec<String>,
    /// Ports Chronus can send to.
    pub outputs: Vec<String>,
}

/// What to open.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Read from the first port whose name contains this.
    pub input: Option<String>,
    /// Send the engine's MIDI to the first port whose name contains this.
    pub output: Option<String>,
    /// Offer Chronus's own ports (`chronus:in`, `chronus:out`) to other programs.
    pub virtual_ports: bool,
    /// The engine's MIDI goes out at all (clock out).
    pub sends: bool,
}

impl Plan {
    /// Something is read.
    pub fn reads(&self) -> bool {
        self.input.is_some() || self.virtual_ports
    }
}

/// The engine's side of an opened output: the ring the audio thread fills, and how to turn
/// an engine sample into a wall time.
pub struct OutFeed {
    /// MIDI from the engine, in sample order.
    pub ring: rtrb::Consumer<MidiEvent>,
    /// The engine's sample clock.
    pub stats: Arc<SharedStats>,
    /// The engine's sample rate.
    pub rate: u32,
    /// Seconds after its sample's wall time that a message is sent: the audio is rendered
    /// ahead of the sample's time by up to a period, and the message must be in the ring
    /// before the MIDI side's period that sends it.
    pub ahead: f64,
}

impl OutFeed {
    /// The wall time (Unix seconds) at which `ev` goes out.
    pub fn due(&self, ev: &MidiEvent) -> f64 {
        self.stats.sample_time(ev.sample, self.rate) + self.ahead
    }
}

/// Shared between the receiving side (a callback) and the control loop.
#[derive(Debug, Default)]
pub struct InboxShared {
    /// Messages dropped because the inbox was full.
    pub overflow: AtomicU64,
    /// Messages sent late (their time had passed when the sender saw them).
    pub late: AtomicU64,
    /// Messages sent.
    pub sent: AtomicU64,
    /// Messages taken from the engine's ring (sent, failed or dropped): when it equals the
    /// runner's count of messages queued, nothing is left to send.
    pub handled: AtomicU64,
    /// Note messages sent.
    pub notes_sent: AtomicU64,
    /// The control loop has opened the note ports named so far: until then the engine's
    /// messages wait in their ring (late rather than dropped for a port not yet open).
    pub ready: std::sync::atomic::AtomicBool,
    /// Note messages dropped because their port is not open (not there, or not yet).
    pub notes_dropped: AtomicU64,
    /// Woken after a message arrived (system MIDI only: JACK's callback wakes no thread).
    pub waker: OnceLock<Waker>,
}

impl InboxShared {
    /// Counts a message that found the inbox full.
    pub fn dropped(&self) {
        self.overflow.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the `chronus` port of a track's `midi` means: Chronus's own output port.
pub const OWN_PORT: &str = "chronus";

/// Opens the note outputs of a running backend, one per port index, off the audio thread.
pub trait NoteOutputs: Send {
    /// Sends the engine's notes for port `index` to the first output port whose name
    /// contains `name` ([`OWN_PORT`]: Chronus's own `chronus:out`, with `--midi-virtual`);
    /// returns what was connected, in words.
    fn open_notes(&mut self, index: u8, name: &str) -> Result<String, MidiError>;
}

/// Where a track port goes, for a sender.
pub enum NoteDest<C> {
    /// Chronus's own output port.
    Own,
    /// A connection of its own.
    Conn(C),
}

/// Open ports; dropping it closes them (and ends the threads and callbacks behind them).
pub struct Running {
    /// What was opened, in words (`jack: chronus:out → x:in`).
    pub describe: Vec<String>,
    /// Messages received.
    pub inbox: Option<rtrb::Consumer<InMsg>>,
    /// Counters.
    pub shared: Arc<InboxShared>,
    /// The connections, threads or client that keep it all open, and open note outputs.
    pub keep: Box<dyn NoteOutputs>,
    /// Extra send-ahead the backend needs (a JACK period), already in the feed; the receiving
    /// side uses the same for its own compensation.
    pub period: f64,
}

/// Why MIDI could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum MidiError {
    /// The backend itself is not there (no ALSA sequencer, no JACK server).
    #[error("{backend} MIDI is not available: {why}")]
    Unavailable {
        /// `alsa`, `jack`, …
        backend: &'static str,
        /// What the system said.
        why: String,
    },
    /// No port's name contains the text asked for.
    #[error("no {backend} MIDI {dir} port's name contains \"{name}\" ({})", list(.ports))]
    NoPort {
        /// The backend.
        backend: &'static str,
        /// `input` or `output`.
        dir: &'static str,
        /// What was asked for.
        name: String,
        /// The ports there are.
        ports: Vec<String>,
    },
    /// A track names Chronus's own port without `--midi-virtual`.
    #[error(
        "{backend} MIDI: port \"chronus\" is Chronus's own chronus:out, offered only with --midi-virtual"
    )]
    NoOwnPort {
        /// The backend.
        backend: &'static str,
    },
    /// A port was found but could not be opened or connected.
    #[error("{backend} MIDI: cannot open \"{port}\": {why}")]
    Open {
        /// The backend.
        backend: &'static str,
        /// The port.
        port: String,
        /// What the system said.
        why: String,
    },
}

fn list(ports: &[String]) -> String {
    if ports.is_empty() {
        "there are none".into()
    } else {
        format!("there are: {}", ports.join(", "))
    }
}

/// The first port whose name contains `name`.
pub fn pick<'a>(ports: &'a [String], name: &str) -> Option<&'a String> {
    ports.iter().find(|p| p.contains(name))
}

/// A way to reach MIDI ports.
pub trait MidiBackend {
    /// Its name on the command line (`alsa`, `jack`).
    fn name(&self) -> &'static str;
    /// The ports there are now.
    fn ports(&self) -> Result<Ports, MidiError>;
    /// Opens what `plan` asks for; `feed` is the engine's MIDI when the plan sends.
    fn open(&self, plan: &Plan, feed: Option<OutFeed>) -> Result<Running, MidiError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_picked_by_name_substring_first_match() {
        let ports = vec![
            "Midi Through:0".to_string(),
            "Digitakt MIDI 1".to_string(),
            "Digitakt MIDI 2".to_string(),
        ];
        assert_eq!(pick(&ports, "Digitakt"), Some(&ports[1]));
        assert_eq!(pick(&ports, "MIDI 2"), Some(&ports[2]));
        assert_eq!(
            pick(&ports, "digitakt"),
            None,
            "names match case-sensitively"
        );
        let e = MidiError::NoPort {
            backend: "jack",
            dir: "input",
            name: "x".into(),
            ports: ports.clone(),
        };
        assert_eq!(
            e.to_string(),
            "no jack MIDI input port's name contains \"x\" (there are: Midi Through:0, Digitakt MIDI 1, Digitakt MIDI 2)"
        );
    }

    #[test]
    fn long_messages_are_not_kept() {
        assert!(InMsg::new(0.0, &[0xF0, 1, 2, 0xF7]).is_none());
        assert!(InMsg::new(0.0, &[]).is_none());
        assert_eq!(
            InMsg::new(1.5, &[0xB0, 74, 64]).unwrap().message(),
            &[0xB0, 74, 64]
        );
    }
}
