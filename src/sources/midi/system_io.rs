//! The system's MIDI through `midir`: the ALSA sequencer on Linux (PipeWire bridges it),
//! CoreMIDI on macOS, WinMM on Windows. Incoming messages are stamped when midir's thread
//! hands them over; the engine's messages are sent by a thread of their own at their due
//! time (it sleeps until then; it never touches the audio thread).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use midir::{Ignore, MidiInput, MidiOutput, MidiOutputConnection};

use super::backend::{
    INBOX, InMsg, InboxShared, MidiBackend, MidiError, OutFeed, Plan, Ports, Running, pick,
};
use crate::engine::link::unix_nanos;

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
}

impl Drop for Keep {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.sender.take() {
            let _ = s.join();
        }
    }
}

/// Sends each message of the feed at its due time, until `stop`.
fn send_loop(
    mut conn: MidiOutputConnection,
    mut feed: OutFeed,
    stop: Arc<AtomicBool>,
    shared: Arc<InboxShared>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(ev) = feed.ring.peek() else {
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
        if conn.send(ev.message()).is_ok() {
            shared.sent.fetch_add(1, Ordering::Relaxed);
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
        if let Some(feed) = feed {
            let o = output()?;
            let conn = match plan.output.as_deref().filter(|n| !n.is_empty()) {
                Some(name) => {
                    let ports = o.ports();
                    let names: Vec<String> =
                        ports.iter().filter_map(|p| o.port_name(p).ok()).collect();
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
                    describe.push(format!("MIDI out: {found} (alsa)"));
                    o.connect(&port, "out").map_err(|e| MidiError::Open {
                        backend: NAME,
                        port: found,
                        why: e.to_string(),
                    })?
                }
                None => {
                    describe.push("MIDI out: chronus:out, for other programs (alsa)".into());
                    virtual_output(o)?
                }
            };
            let (st, sh) = (stop.clone(), shared.clone());
            sender = Some(
                std::thread::Builder::new()
                    .name("chronus-midi-out".into())
                    .spawn(move || send_loop(conn, feed, st, sh))
                    .map_err(|e| unavailable(format!("cannot start the MIDI thread: {e}")))?,
            );
        }
        // `--midi-virtual` offers both ports, even when nothing is sent on the output yet.
        let idle_out = if sender.is_none() && plan.virtual_ports {
            describe.push("MIDI out: chronus:out, for other programs (alsa)".into());
            Some(virtual_output(output()?)?)
        } else {
            None
        };
        Ok(Running {
            describe,
            inbox: in_conn.is_some().then_some(rx),
            shared,
            keep: Box::new(Keep {
                _input: in_conn,
                _idle_out: idle_out,
                stop,
                sender,
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
