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
    INBOX, InMsg, InboxShared, MidiBackend, MidiError, OutFeed, Plan, Ports, Running, pick,
};
use crate::engine::link::unix_nanos;

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
        let process = ClosureProcessHandler::new(move |c: &Client, ps: &jack::ProcessScope| {
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
            if let Some(port) = out_port.as_mut() {
                // The writer clears the port's buffer for this period, also when nothing is
                // sent.
                let mut w = port.writer(ps);
                let Some(f) = feed.as_mut() else {
                    return Control::Continue;
                };
                let mut last = 0u32;
                while let Ok(ev) = f.ring.peek() {
                    let us = f.due(ev) * 1e6 - offset;
                    if us >= next {
                        break;
                    }
                    let frame = if us < start {
                        sh.late.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        0
                    } else {
                        (((us - start) * n / span) as u32).min(n as u32 - 1)
                    };
                    // JACK wants the frames of one period in order.
                    last = last.max(frame);
                    let ev = *ev;
                    let _ = f.ring.pop();
                    if w.write(&RawMidi {
                        time: last,
                        bytes: ev.message(),
                    })
                    .is_ok()
                    {
                        sh.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
            keep: Box::new(active),
            period,
        })
    }
}
