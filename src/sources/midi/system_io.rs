//! The system's MIDI through `midir`: the ALSA sequencer on Linux (PipeWire bridges it),
//! CoreMIDI on macOS, WinMM on Windows. Incoming messages are stamped when midir's thread
//! hands them over; the engine's messages are sent by a thread of their own at their due
//! time (it sleeps until then; it never touches the audio thread).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use midir::{Ignore, MidiInput, MidiOutput, MidiOutputConnection};

use super::backend::{
    INBOX, InMsg, InboxShared, MidiBackend, MidiError, NoteDest, NoteOutputs, OWN_PORT, OutFeed,
    Plan, Ports, Running, pick,
};
use crate::engine::link::unix_nanos;
use crate::engine::midi::CLOCK_PORT;
use crate::model::limits::MAX_MIDI_PORTS;

/// The system backend's name on the command line.
const NAME: &str = "alsa";
/// Longest the sender sleeps before looking at its ring again.
const IDLE: Duration = Duration::from_millis(1);

/// The system's MIDI.
pub struct System;

fn unavailable(why: impl std::fmt::Display) -> MidiError {
    let hint = if cfg!(target_os = "linux") {
        " (no ALSA sequencer: is /dev/snd/seq there? --midi-backend jack uses JACK MIDI)"
    } else {
        ""
    };
    MidiError::Unavailable {
        backend: NAME,
        why: format!("{why}{hint}"),
    }
}

fn input() -> Result<MidiInput, MidiError> {
    let mut i = MidiInput::new("chronus").map_err(unavailable)?;
    // Clock, Start and Stop are what Chronus listens for: nothing is filtered out.
    i.ignore(Ignore::None);
    Ok(i)
}

fn output() -> Result<MidiOutput, MidiError> {
    MidiOutput::new("chronus").map_err(unavailable)
}

fn now() -> f64 {
    unix_nanos() as f64 * 1e-9
}

/// What keeps the system ports open.
struct Keep {
    _input: Option<midir::MidiInputConnection<()>>,
    _idle_out: Option<MidiOutputConnection>,
    stop: Arc<AtomicBool>,
    sender: Option<JoinHandle<()>>,
    /// Note outputs for the sender thread.
    notes: Option<mpsc::Sender<(u8, NoteDest<MidiOutputConnection>)>>,
    /// Chronus's own output port exists.
    own: bool,
}

impl NoteOutputs for Keep {
    fn open_notes(&mut self, index: u8, name: &str) -> Result<String, MidiError> {
        let Some(tx) = self.notes.as_ref() else {
            return Err(MidiError::Unavailable {
                backend: NAME,
                why: "no MIDI sender runs".into(),
            });
        };
        let (dest, describe) = if name == OWN_PORT {
            if !self.own {
                return Err(MidiError::NoOwnPort { backend: NAME });
            }
            (NoteDest::Own, "MIDI notes: chronus:out (alsa)".to_string())
        } else {
            let (conn, found) = connect_output(name, "notes")?;
            (NoteDest::Conn(conn), format!("MIDI notes: {found} (alsa)"))
        };
        tx.send((index, dest)).map_err(|_| MidiError::Unavailable {
            backend: NAME,
            why: "the MIDI sender has stopped".into(),
        })?;
        Ok(describe)
    }
}

/// A connection to the first output port whose name contains `name`, and that port's name.
fn connect_output(name: &str, as_name: &str) -> Result<(MidiOutputConnection, String), MidiError> {
    let o = output()?;
    let ports = o.ports();
    let names: Vec<String> = ports.iter().filter_map(|p| o.port_name(p).ok()).collect();
    let Some(found) = pick(&names, name).cloned() else {
        return Err(MidiError::NoPort {
            backend: NAME,
            dir: "output",
            name: name.to_string(),
            ports: names,
        });
    };
    let port = ports
        .iter()
        .find(|p| o.port_name(p).ok().as_ref() == Some(&found))
        .cloned()
        .ok_or_else(|| MidiError::Open {
            backend: NAME,
            port: found.clone(),
            why: "it went away".into(),
        })?;
    let conn = o.connect(&port, as_name).map_err(|e| MidiError::Open {
        backend: NAME,
        port: found.clone(),
        why: e.to_string(),
    })?;
    Ok((conn, found))
}

impl Drop for Keep {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.sender.take() {
            let _ = s.join();
        }
    }
}

/// The sender's connections: clock, Chronus's own port, and the note ports by index.
struct Outs {
    clock: Option<MidiOutputConnection>,
    own: Option<MidiOutputConnection>,
    notes: Vec<Option<NoteDest<MidiOutputConnection>>>,
    added: mpsc::Receiver<(u8, NoteDest<MidiOutputConnection>)>,
}

impl Outs {
    fn conn(&mut self, port: u8) -> Option<&mut MidiOutputConnection> {
        if port == CLOCK_PORT {
            return match self.clock.as_mut() {
                Some(c) => Some(c),
                None => self.own.as_mut(),
            };
        }
        match self.notes.get_mut(port as usize)? {
            Some(NoteDest::Conn(c)) => Some(c),
            Some(NoteDest::Own) => self.own.as_mut(),
            None => None,
        }
    }
}

/// Sends each message of the feed at its due time, until `stop`.
fn send_loop(mut outs: Outs, mut feed: OutFeed, stop: Arc<AtomicBool>, shared: Arc<InboxShared>) {
    while !stop.load(Ordering::Relaxed) {
        while let Ok((i, dest)) = outs.added.try_recv() {
            if let Some(slot) = outs.notes.get_mut(i as usize) {
                *slot = Some(dest);
            }
        }
        let ready = shared.ready.load(Ordering::Acquire);
        let Ok(ev) = feed
            .ring
            .peek()
            .map_err(|_| ())
            .and_then(|e| if ready { Ok(e) } else { Err(()) })
        else {
            std::thread::sleep(IDLE);
            continue;
        };
        let ev = *ev;
        let wait = feed.due(&ev) - now();
        if wait > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(wait).min(IDLE));
            continue;
        }
        if wait < -0.001 {
            shared.late.fetch_add(1, Ordering::Relaxed);
        }
        let _ = feed.ring.pop();
        shared.handled.fetch_add(1, Ordering::Relaxed);
        let note = ev.port != CLOCK_PORT;
        match outs.conn(ev.port).map(|c| c.send(ev.message()).is_ok()) {
            Some(true) => {
                shared.sent.fetch_add(1, Ordering::Relaxed);
                if note {
                    shared.notes_sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(false) => {}
            None if note => {
                shared.notes_dropped.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
    }
}

impl MidiBackend for System {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ports(&self) -> Result<Ports, MidiError> {
        let i = input()?;
        let o = output()?;
        Ok(Ports {
            inputs: i
                .ports()
                .iter()
                .filter_map(|p| i.port_name(p).ok())
                .collect(),
            outputs: o
                .ports()
                .iter()
                .filter_map(|p| o.port_name(p).ok())
                .collect(),
        })
    }

    fn open(&self, plan: &Plan, feed: Option<OutFeed>) -> Result<Running, MidiError> {
        let shared = Arc::new(InboxShared::default());
        let mut describe = Vec::new();
        let (mut tx, rx) = rtrb::RingBuffer::<InMsg>::new(INBOX);
        let sh = shared.clone();
        let on_message = move |_stamp: u64, msg: &[u8], _: &mut ()| {
            if let Some(m) = InMsg::new(now(), msg) {
                if tx.push(m).is_err() {
                    sh.dropped();
                }
                if let Some(w) = sh.waker.get() {
                    w.wake();
                }
            }
        };
        let in_conn = if let Some(name) = &plan.input {
            let i = input()?;
            let ports = i.ports();
            let names: Vec<String> = ports.iter().filter_map(|p| i.port_name(p).ok()).collect();
            let Some(found) = pick(&names, name).cloned() else {
                return Err(MidiError::NoPort {
                    backend: NAME,
                    dir: "input",
                    name: name.clone(),
                    ports: names,
                });
            };
            let port = ports
                .iter()
                .find(|p| i.port_name(p).ok().as_ref() == Some(&found))
                .cloned();
            let Some(port) = port else {
                return Err(MidiError::Open {
                    backend: NAME,
                    port: found,
                    why: "it went away".into(),
                });
            };
            let c = i
                .connect(&port, "in", on_message, ())
                .map_err(|e| MidiError::Open {
                    backend: NAME,
                    port: found.clone(),
                    why: e.to_string(),
                })?;
            describe.push(format!("MIDI in: {found} (alsa)"));
            Some(c)
        } else if plan.virtual_ports {
            describe.push("MIDI in: chronus:in, for other programs (alsa)".into());
            Some(virtual_input(on_message)?)
        } else {
            None
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut sender = None;
        let mut notes_tx = None;
        // Chronus's own output: offered with `--midi-virtual`; clock out without a port name
        // goes there, and so do the notes of a track whose port is "chronus".
        let own = if plan.virtual_ports {
            describe.push("MIDI out: chronus:out, for other programs (alsa)".into());
            Some(virtual_output(output()?)?)
        } else {
            None
        };
        let has_own = own.is_some();
        let mut idle_out = None;
        if let Some(feed) = feed {
            let clock = match plan.output.as_deref().filter(|n| !n.is_empty()) {
                Some(name) if plan.sends => {
                    let (conn, found) = connect_output(name, "out")?;
                    describe.push(format!("MIDI out: {found} (alsa)"));
                    Some(conn)
                }
                _ => None,
            };
            let (tx, rx) = mpsc::channel();
            notes_tx = Some(tx);
            let outs = Outs {
                clock,
                own,
                notes: (0..MAX_MIDI_PORTS).map(|_| None).collect(),
                added: rx,
            };
            let (st, sh) = (stop.clone(), shared.clone());
            sender = Some(
                std::thread::Builder::new()
                    .name("chronus-midi-out".into())
                    .spawn(move || send_loop(outs, feed, st, sh))
                    .map_err(|e| unavailable(format!("cannot start the MIDI thread: {e}")))?,
            );
        } else {
            idle_out = own;
        }
        Ok(Running {
            describe,
            inbox: in_conn.is_some().then_some(rx),
            shared,
            keep: Box::new(Keep {
                _input: in_conn,
                _idle_out: idle_out,
                stop,
                sender,
                notes: notes_tx,
                own: has_own,
            }),
            period: 0.0,
        })
    }
}

#[cfg(unix)]
fn virtual_input(
    on_message: impl FnMut(u64, &[u8], &mut ()) + Send + 'static,
) -> Result<midir::MidiInputConnection<()>, MidiError> {
    use midir::os::unix::VirtualInput;
    input()?
        .create_virtual("in", on_message, ())
        .map_err(|e| MidiError::Open {
            backend: NAME,
            port: "chronus:in".into(),
            why: e.to_string(),
        })
}

#[cfg(unix)]
fn virtual_output(o: MidiOutput) -> Result<MidiOutputConnection, MidiError> {
    use midir::os::unix::VirtualOutput;
    o.create_virtual("out").map_err(|e| MidiError::Open {
        backend: NAME,
        port: "chronus:out".into(),
        why: e.to_string(),
    })
}

#[cfg(not(unix))]
fn virtual_input(
    _on_message: impl FnMut(u64, &[u8], &mut ()) + Send + 'static,
) -> Result<midir::MidiInputConnection<()>, MidiError> {
    Err(MidiError::Unavailable {
        backend: NAME,
        why: "this system's MIDI cannot offer ports of Chronus's own (--midi-virtual); name a port with --midi-in".into(),
    })
}

#[cfg(not(unix))]
fn virtual_output(_o: MidiOutput) -> Result<MidiOutputConnection, MidiError> {
    Err(MidiError::Unavailable {
        backend: NAME,
        why: "this system's MIDI cannot offer ports of Chronus's own (--midi-virtual); name a port with --midi-clock-out".into(),
    })
}
