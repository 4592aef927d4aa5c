//! JACK MIDI (Linux): a client `chronus` (JACK numbers a second one `chronus-01`) with ports
//! `in` and `out`, connected to the first ports whose names contain what was asked for. The
//! engine's messages are written in the JACK process callback at the frame of their due time,
//! and incoming messages are stamped with the frame they arrived at: the timing is JACK's,
//! with no thread's wake-up jitter in it. libjack is loaded at run time, so Chronus starts
//! without JACK installed.

use std::sync::Arc;

use jack::contrib::ClosureProcessHandler;
use jack::{Client, ClientOptions, Control, MidiIn, MidiOut, PortFlags, RawMidi};

use super::backend::{
    INBOX, InMsg, InboxShared, MidiBackend, MidiError, NoteDest, NoteOutputs, OWN_PORT, OutFeed,
    Plan, Ports, Running, pick,
};
use crate::engine::link::unix_nanos;
use crate::engine::midi::CLOCK_PORT;
use crate::model::limits::MAX_MIDI_PORTS;

/// A note port handed to the process callback.
type Attach = (u8, NoteDest<jack::Port<MidiOut>>);

const NAME: &str = "jack";
const MIDI_TYPE: &str = "8 bit raw midi";
/// A clock offset reading further than this from the smoothed one is taken anew (µs).
const OFFSET_JUMP_US: f64 = 1000.0;

/// JACK MIDI.
pub struct Jack;

fn unavailable(why: impl ToString) -> MidiError {
    MidiError::Unavailable {
        backend: NAME,
        why: why.to_string(),
    }
}

fn client() -> Result<Client, MidiError> {
    jack::set_logger(jack::LoggerType::None);
    let (c, _) = Client::new("chronus", ClientOptions::NO_START_SERVER).map_err(|e| {
        unavailable(format!(
            "{e} (is a JACK server running? JACK_DEFAULT_SERVER picks a named one)"
        ))
    })?;
    Ok(c)
}

/// Ports of other clients: (readable = they send, Chronus reads; writable).
fn other_ports(c: &Client) -> Ports {
    let own = format!("{}:", c.name());
    let mine = |p: &String| p.starts_with(&own);
    Ports {
        inputs: c
            .ports(None, Some(MIDI_TYPE), PortFlags::IS_OUTPUT)
            .into_iter()
            .filter(|p| !mine(p))
            .collect(),
        outputs: c
            .ports(None, Some(MIDI_TYPE), PortFlags::IS_INPUT)
            .into_iter()
            .filter(|p| !mine(p))
            .collect(),
    }
}

/// `unix µs − JACK µs`, smoothed: the two clocks are read back to back, and a reading delayed
/// between them only ever makes the difference larger.
struct ClockMap {
    offset: Option<f64>,
}

impl ClockMap {
    fn update(&mut self, c: &Client) -> f64 {
        let j = c.time() as f64;
        let u = unix_nanos() as f64 / 1000.0;
        let raw = u - j;
        let est = match self.offset {
            Some(o) if (raw - o).abs() < OFFSET_JUMP_US => {
                if raw < o {
                    raw
                } else {
                    o + (raw - o) * 0.01
                }
            }
            _ => raw,
        };
        self.offset = Some(est);
        est
    }
}

impl MidiBackend for Jack {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ports(&self) -> Result<Ports, MidiError> {
        let c = client()?;
        Ok(other_ports(&c))
    }

    fn open(&self, plan: &Plan, feed: Option<OutFeed>) -> Result<Running, MidiError> {
        let c = client()?;
        let me = c.name().to_string();
        let others = other_ports(&c);
        let in_from = match &plan.input {
            Some(n) => Some(pick(&others.inputs, n).cloned().ok_or(MidiError::NoPort {
                backend: NAME,
                dir: "input",
                name: n.clone(),
                ports: others.inputs.clone(),
            })?),
            None => None,
        };
        let out_to = match plan.output.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => Some(pick(&others.outputs, n).cloned().ok_or(MidiError::NoPort {
                backend: NAME,
                dir: "output",
                name: n.to_string(),
                ports: others.outputs.clone(),
            })?),
            None => None,
        };
        let open_err = |port: &str, e: jack::Error| MidiError::Open {
            backend: NAME,
            port: port.to_string(),
            why: e.to_string(),
        };
        let in_port = if plan.reads() {
            Some(
                c.register_port("in", MidiIn::default())
                    .map_err(|e| open_err("in", e))?,
            )
        } else {
            None
        };
        let mut out_port = if plan.sends || plan.virtual_ports {
            Some(
                c.register_port("out", MidiOut::default())
                    .map_err(|e| open_err("out", e))?,
            )
        } else {
            None
        };
        let rate = c.sample_rate() as f64;
        let period = c.buffer_size() as f64 / rate.max(1.0);
        let shared = Arc::new(InboxShared::default());
        let (mut in_tx, in_rx) = rtrb::RingBuffer::<InMsg>::new(INBOX);
        let mut feed = feed.map(|mut f| {
            f.ahead += period;
            f
        });
        let mut map = ClockMap { offset: None };
        let sh = shared.clone();
        let (attach_tx, mut attach_rx) = rtrb::RingBuffer::<Attach>::new(MAX_MIDI_PORTS);
        let mut notes: [Option<jack::Port<MidiOut>>; MAX_MIDI_PORTS] = Default::default();
        let mut to_own = [false; MAX_MIDI_PORTS];
        let process = ClosureProcessHandler::new(move |c: &Client, ps: &jack::ProcessScope| {
            while let Ok((i, dest)) = attach_rx.pop() {
                let i = i as usize % MAX_MIDI_PORTS;
                match dest {
                    NoteDest::Own => to_own[i] = true,
                    // Never replaced: a port index is opened once, so nothing is dropped here.
                    NoteDest::Conn(p) => notes[i] = Some(p),
                }
            }
            let offset = map.update(c);
            let Ok(t) = ps.cycle_times() else {
                return Control::Continue;
            };
            let n = ps.n_frames().max(1) as f64;
            let (start, next) = (t.current_usecs as f64, t.next_usecs as f64);
            let span = (next - start).max(1.0);
            if let Some(port) = in_port.as_ref() {
                for m in port.iter(ps) {
                    let us = start + m.time as f64 * span / n;
                    if let Some(msg) = InMsg::new((us + offset) * 1e-6, m.bytes)
                        && in_tx.push(msg).is_err()
                    {
                        sh.dropped();
                    }
                }
            }
            use std::sync::atomic::Ordering::{Acquire, Relaxed};
            // Each writer clears its port's buffer for this period, also when nothing is sent.
            let mut own = out_port.as_mut().map(|p| p.writer(ps));
            let mut note_w = notes.each_mut().map(|p| p.as_mut().map(|p| p.writer(ps)));
            let Some(f) = feed.as_mut().filter(|_| sh.ready.load(Acquire)) else {
                return Control::Continue;
            };
            // JACK wants the frames of one period in order, per port.
            let mut own_last = 0u32;
            let mut note_last = [0u32; MAX_MIDI_PORTS];
            while let Ok(ev) = f.ring.peek() {
                let us = f.due(ev) * 1e6 - offset;
                if us >= next {
                    break;
                }
                let frame = if us < start {
                    sh.late.fetch_add(1, Relaxed);
                    0
                } else {
                    (((us - start) * n / span) as u32).min(n as u32 - 1)
                };
                let ev = *ev;
                let _ = f.ring.pop();
                sh.handled.fetch_add(1, Relaxed);
                let i = ev.port as usize;
                let note = ev.port != CLOCK_PORT;
                let (w, last) = if !note || to_own.get(i) == Some(&true) {
                    (own.as_mut(), &mut own_last)
                } else if i < MAX_MIDI_PORTS {
                    (note_w[i].as_mut(), &mut note_last[i])
                } else {
                    (None, &mut own_last)
                };
                let Some(w) = w else {
                    if note {
                        sh.notes_dropped.fetch_add(1, Relaxed);
                    }
                    continue;
                };
                *last = (*last).max(frame);
                if w.write(&RawMidi {
                    time: *last,
                    bytes: ev.message(),
                })
                .is_ok()
                {
                    sh.sent.fetch_add(1, Relaxed);
                    if note {
                        sh.notes_sent.fetch_add(1, Relaxed);
                    }
                }
            }
            Control::Continue
        });
        let out_port_named = plan.sends || plan.virtual_ports;
        let active = c
            .activate_async((), process)
            .map_err(|e| unavailable(format!("cannot activate the client: {e}")))?;
        let mut describe = Vec::new();
        let ac = active.as_client();
        if let Some(src) = &in_from {
            let dst = format!("{me}:in");
            ac.connect_ports_by_name(src, &dst)
                .map_err(|e| open_err(src, e))?;
            describe.push(format!("MIDI in: {src} → {dst} (jack)"));
        } else if plan.virtual_ports && plan.reads() {
            describe.push(format!(
                "MIDI in: {me}:in, for other programs to connect (jack)"
            ));
        }
        if let Some(dst) = &out_to {
            let src = format!("{me}:out");
            ac.connect_ports_by_name(&src, dst)
                .map_err(|e| open_err(dst, e))?;
            describe.push(format!("MIDI out: {src} → {dst} (jack)"));
        } else if out_port_named {
            describe.push(format!(
                "MIDI out: {me}:out, for other programs to connect (jack)"
            ));
        }
        Ok(Running {
            describe,
            inbox: plan.reads().then_some(in_rx),
            shared,
            keep: Box::new(JackOutputs {
                active,
                attach: attach_tx,
                own: out_port_named,
            }),
            period,
        })
    }
}

/// The active client, and the way note ports reach its process callback.
struct JackOutputs<H: Send + 'static> {
    active: jack::AsyncClient<(), H>,
    attach: rtrb::Producer<Attach>,
    /// Chronus's own `out` port exists.
    own: bool,
}

impl<H: jack::ProcessHandler + Send + 'static> NoteOutputs for JackOutputs<H> {
    fn open_notes(&mut self, index: u8, name: &str) -> Result<String, MidiError> {
        let c = self.active.as_client();
        let me = c.name().to_string();
        let dest = if name == OWN_PORT {
            if !self.own {
                return Err(MidiError::NoOwnPort { backend: NAME });
            }
            NoteDest::Own
        } else {
            let others = other_ports(c);
            let Some(dst) = pick(&others.outputs, name).cloned() else {
                return Err(MidiError::NoPort {
                    backend: NAME,
                    dir: "output",
                    name: name.to_string(),
                    ports: others.outputs,
                });
            };
            let open_err = |e: jack::Error| MidiError::Open {
                backend: NAME,
                port: dst.clone(),
                why: e.to_string(),
            };
            let own_name = format!("notes-{}", index as usize + 1);
            let port = c
                .register_port(&own_name, MidiOut::default())
                .map_err(open_err)?;
            let src = format!("{me}:{own_name}");
            c.connect_ports_by_name(&src, &dst).map_err(open_err)?;
            if self.attach.push((index, NoteDest::Conn(port))).is_err() {
                return Err(MidiError::Open {
                    backend: NAME,
                    port: dst,
                    why: "too many note ports".into(),
                });
            }
            return Ok(format!("MIDI notes: {src} → {dst} (jack)"));
        };
        let _ = self.attach.push((index, dest));
        Ok(format!("MIDI notes: {me}:out (jack)"))
    }
}
