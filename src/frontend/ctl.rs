//! `chronus ctl`: send one OSC command to a running Chronus and print its answer.
//!
//! Queries and most commands are answered with `/reply`. Parameter and gate setters are
//! answered only when they fail (so floods stay cheap), so after one of those `ctl` sends an
//! `/engine/status` query: the server handles datagrams in order, so an `/error` for the
//! setter arrives before the status reply, and the status reply confirms the setter was
//! received. Exit codes: 0 answered, 1 `/error` or no answer within the timeout, 2 a value on
//! the command line is unusable.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use rosc::{OscMessage, OscPacket, OscType};

use crate::model::limits;
use crate::model::text::{escape_keep_lines, fmt_exact};
use crate::sources::osc::DEFAULT_PORT;
use crate::sources::osc::wire::{self, MAX_DATAGRAM, message};

/// Options of `chronus ctl`.
#[derive(Debug, Args, Clone)]
pub struct CtlArgs {
    /// Host Chronus runs on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Its OSC port (1–65535).
    #[arg(long, default_value_t = DEFAULT_PORT, allow_negative_numbers = true, value_parser = limits::parse_port)]
    pub port: u16,
    /// Seconds to wait for the answer (0.01–3600).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true, value_parser = limits::parse_timeout)]
    pub timeout: f64,
    /// What to send.
    #[command(subcommand)]
    pub action: CtlAction,
}

/// What `chronus ctl` sends.
#[derive(Debug, Subcommand, Clone, PartialEq)]
pub enum CtlAction {
    /// Set a module parameter: `set voice1 filter/freq 800`.
    Set {
        /// Module (`voice1`, `acid1`, `delay1`, …).
        module: String,
        /// Parameter path (`freq`, `adsr/attack`, `osc/type`, …).
        param: String,
        /// New value (clamped to the parameter's range).
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Open or close a voice's gate: `gate voice1 on`.
    Gate {
        /// `voiceN` (also `acid1`, `adsr1`, `1`).
        module: String,
        /// `on` or `off` (also 1/0, true/false).
        state: String,
    },
    /// Start the sequencer from step 0.
    SeqStart,
    /// Stop the sequencer.
    SeqStop,
    /// Set the tempo.
    Bpm {
        /// Beats per minute, 30–300.
        bpm: String,
    },
    /// Save the song to a slot.
    Save {
        /// Slot 1–128.
        slot: String,
    },
    /// Load a slot at the next bar (or at once with --now).
    Load {
        /// Slot 1–128.
        slot: String,
        /// Switch at once instead of at the next bar.
        #[arg(long)]
        now: bool,
    },
    /// List the saved slots.
    List,
    /// Print the engine status.
    Status,
    /// Print the OSC schema (JSON).
    Schema,
    /// Send any message: `raw /mod/voice1/freq 440`. Arguments are ints, floats or text by
    /// their look; force a type with `i:`, `f:`, `d:` or `s:` (`s:3.0`).
    Raw {
        /// OSC address.
        address: String,
        /// Arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// A raw argument by its look, or by an explicit `i:`/`f:`/`d:`/`s:` prefix.
pub fn raw_arg(s: &str) -> Result<OscType, String> {
    let bad = |t: &str| format!("{s:?} is not {t}");
    if let Some(v) = s.strip_prefix("i:") {
        return v.parse().map(OscType::Int).map_err(|_| bad("an int"));
    }
    if let Some(v) = s.strip_prefix("f:") {
        return v.parse().map(OscType::Float).map_err(|_| bad("a float"));
    }
    if let Some(v) = s.strip_prefix("d:") {
        return v.parse().map(OscType::Double).map_err(|_| bad("a double"));
    }
    if let Some(v) = s.strip_prefix("s:") {
        return Ok(OscType::String(v.to_string()));
    }
    if let Ok(i) = s.parse::<i32>() {
        return Ok(OscType::Int(i));
    }
    match s.parse::<f32>() {
        Ok(f) if f.is_finite() => Ok(OscType::Float(f)),
        _ => Ok(OscType::String(s.to_string())),
    }
}

fn float(s: &str, what: &str) -> Result<OscType, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(OscType::Float(v)),
        _ => Err(format!("{what} {s:?} is not a number")),
    }
}

/// A slot read by the server's own rule (plain digits, `3` or `3.0`), sent as an int; a bad one
/// is refused here, before anything is sent.
fn slot(s: &str) -> Result<OscType, String> {
    wire::slot_number(&OscType::String(s.to_string()))
        .map(|n| OscType::Int(n.get() as i32))
        .map_err(|e| format!("slot {e}"))
}

/// The message an action sends.
pub fn build(action: &CtlAction) -> Result<OscMessage, String> {
    Ok(match action {
        CtlAction::Set {
            module,
            param,
            value,
        } => {
            // A number goes as a float; a choice's name (`saw`, `1/8.`) as text, which
            // Chronus looks up for the parameter.
            let arg = match float(value, "value") {
                Ok(v) => v,
                Err(_) if !value.trim().is_empty() => OscType::String(value.trim().to_string()),
                Err(e) => return Err(e),
            };
            message(
                &format!("/mod/{module}/{}", param.trim_matches('/')),
                vec![arg],
            )
        }
        CtlAction::Gate { module, state } => {
            let on = match state.to_ascii_lowercase().as_str() {
                "on" | "1" | "true" => 1,
                "off" | "0" | "false" => 0,
                _ => return Err(format!("gate state {state:?} is not on or off")),
            };
            message(&format!("/gate/{module}"), vec![OscType::Int(on)])
        }
        CtlAction::SeqStart => message("/seq/start", vec![]),
        CtlAction::SeqStop => message("/seq/stop", vec![]),
        CtlAction::Bpm { bpm } => message("/seq/bpm", vec![float(bpm, "bpm")?]),
        CtlAction::Save { slot: s } => message("/pattern/save", vec![slot(s)?]),
        CtlAction::Load { slot: s, now } => {
            let mut args = vec![slot(s)?];
            if *now {
                args.push(OscType::String("now".into()));
            }
            message("/pattern/load", args)
        }
        CtlAction::List => message("/pattern/list", vec![]),
        CtlAction::Status => message("/engine/status", vec![]),
        CtlAction::Schema => message("/engine/schema", vec![]),
        CtlAction::Raw { address, args } => {
            if !address.starts_with('/') {
                return Err(format!("address {address:?} must start with /"));
            }
            let args = args.iter().map(|a| raw_arg(a)).collect::<Result<_, _>>()?;
            message(address, args)
        }
    })
}

/// True for addresses answered only when they fail.
pub fn is_silent(address: &str) -> bool {
    address.starts_with("/mod/") || address.starts_with("/gate/")
}

/// An argument as printed: text with its control characters escaped (a slot or track name
/// may hold them), JSON pretty-printed.
fn show_arg(a: &OscType) -> String {
    escape_keep_lines(&show_raw(a)).into_owned()
}

fn show_raw(a: &OscType) -> String {
    match a {
        OscType::String(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
                serde_json::to_string_pretty(&v).unwrap_or_else(|_| s.clone())
            }
            _ => s.clone(),
        },
        OscType::Int(i) => i.to_string(),
        OscType::Long(l) => l.to_string(),
        OscType::Float(f) => short_f32(*f),
        OscType::Double(d) => fmt_exact(*d),
        OscType::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// A float as sent, in its own precision (`0.1`, not `0.10000000149011612`), with an exponent
/// when it is very large or small (`3.4028235e38`, not 39 digits).
fn short_f32(f: f32) -> String {
    let a = f.abs();
    if !f.is_finite() {
        fmt_exact(f as f64)
    } else if a >= 1e16 || (a != 0.0 && a < 1e-4) {
        format!("{f:e}")
    } else {
        format!("{}", f + 0.0)
    }
}

/// The text printed for a `/reply` to `address`.
pub fn format_reply(address: &str, args: &[OscType]) -> String {
    match address {
        "/pattern/list" => {
            if args.is_empty() {
                return "(no saved slots)".into();
            }
            args.chunks(3)
                .map(|c| c.iter().map(show_arg).collect::<Vec<_>>().join("  "))
                .collect::<Vec<_>>()
                .join("\n")
        }
        "/seq/status" if args.len() >= 5 => format!(
            "bpm {} · swing {} · {} · step {}\ntracks {}{}",
            show_arg(&args[0]),
            show_arg(&args[1]),
            if matches!(args[2], OscType::Int(1)) {
                "running"
            } else {
                "stopped"
            },
            show_arg(&args[3]),
            show_arg(&args[4]),
            args.get(5)
                .map(|b| format!("\nbackend {}", show_arg(b)))
                .unwrap_or_default()
        ),
        _ => args.iter().map(show_arg).collect::<Vec<_>>().join(" "),
    }
}

enum Answer {
    Reply(Vec<OscType>),
    Error(String),
}

fn collect(packet: OscPacket, out: &mut Vec<OscMessage>) {
    match packet {
        OscPacket::Message(m) => out.push(m),
        OscPacket::Bundle(b) => b.content.into_iter().for_each(|p| collect(p, out)),
    }
}

/// Waits for the `/reply` to `wanted`, or an `/error` for any of `sent`.
fn wait(socket: &UdpSocket, sent: &[&str], wanted: &str, deadline: Instant) -> Option<Answer> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        socket.set_read_timeout(Some(left)).ok()?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            // Nobody listens on the port (ICMP refused): no answer will come.
            Err(_) => return None,
        };
        let Ok(packet) = wire::decode(&buf[..n]) else {
            continue;
        };
        let mut msgs = Vec::new();
        collect(packet, &mut msgs);
        for m in msgs {
            let mut args = m.args.into_iter();
            let about = match args.next() {
                Some(OscType::String(s)) => s,
                _ => continue,
            };
            match m.addr.as_str() {
                "/error" if about.is_empty() || sent.contains(&about.as_str()) => {
                    let text = args.next().map(|a| show_arg(&a)).unwrap_or_default();
                    return Some(Answer::Error(format!("{about}: {text}")));
                }
                "/reply" if about == wanted => return Some(Answer::Reply(args.collect())),
                // Done, or ignored, but not quite as asked: said, and the answer still awaited.
                "/warning" if sent.contains(&about.as_str()) => {
                    let text = args.next().map(|a| show_arg(&a)).unwrap_or_default();
                    // Taken and ignored (as Music Chronus ignored it): the command failed.
                    if text.ends_with("nothing changed") {
                        return Some(Answer::Error(format!("{about}: {text}")));
                    }
                    eprintln!(
                        "chronus ctl: warning: {}",
                        escape_keep_lines(&format!("{about}: {text}"))
                    );
                }
                _ => {}
            }
        }
    }
}

/// Runs `chronus ctl`.
pub fn run(args: &CtlArgs) -> anyhow::Result<ExitCode> {
    // The command line checks the timeout; CtlArgs built by hand are checked the same way.
    let timeout = match limits::parse_timeout(&args.timeout.to_string()) {
        Ok(t) => Duration::from_secs_f64(t),
        Err(e) => {
            eprintln!("chronus ctl: --timeout: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let msg = match build(&args.action) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("chronus ctl: {}", escape_keep_lines(&e));
            return Ok(ExitCode::from(2));
        }
    };
    let target: SocketAddr = match (args.host.as_str(), args.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    {
        Some(a) => a,
        None => {
            eprintln!("chronus ctl: --host {:?} does not resolve", args.host);
            return Ok(ExitCode::from(2));
        }
    };
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let socket = UdpSocket::bind(bind)?;
    let mut sent = vec![msg.addr.clone()];
    let mut packets = vec![OscPacket::Message(msg.clone())];
    let wanted = if is_silent(&msg.addr) {
        packets.push(OscPacket::Message(message("/engine/status", vec![])));
        sent.push("/engine/status".into());
        "/engine/status".to_string()
    } else {
        msg.addr.clone()
    };
    for p in &packets {
        let bytes = wire::encode(p).ok_or_else(|| anyhow::anyhow!("cannot encode {}", msg.addr))?;
        socket.send_to(&bytes, target)?;
    }
    let sent: Vec<&str> = sent.iter().map(String::as_str).collect();
    match wait(&socket, &sent, &wanted, Instant::now() + timeout) {
        Some(Answer::Reply(reply)) => {
            let text = if wanted == msg.addr {
                format_reply(&wanted, &reply)
            } else {
                let shown: Vec<String> = msg.args.iter().map(show_arg).collect();
                format!("{} {} — ok", msg.addr, shown.join(" "))
            };
            // A closed pipe (`| head`) is not an error of the command.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Answer::Error(e)) => {
            eprintln!("chronus ctl: error: {}", escape_keep_lines(&e));
            Ok(ExitCode::from(1))
        }
        None => {
            eprintln!(
                "chronus ctl: no answer from {target} within {:.1} s (is Chronus running with OSC on that port?)",
                timeout.as_secs_f64()
            );
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_become_the_original_messages() {
        let set = CtlAction::Set {
            module: "voice1".into(),
            param: "filter/freq".into(),
            value: "800".into(),
        };
        let m = build(&set).unwrap();
        assert_eq!(m.addr, "/mod/voice1/filter/freq");
        assert_eq!(m.args, vec![OscType::Float(800.0)]);
        assert!(is_silent(&m.addr));
        let m = build(&CtlAction::Load {
            slot: "3.0".into(),
            now: true,
        })
        .unwrap();
        assert_eq!(m.args, vec![OscType::Int(3), OscType::String("now".into())]);
        for bad in ["T", "3.5", "1e0", "0", "129", "-1", ""] {
            let e = build(&CtlAction::Save { slot: bad.into() }).unwrap_err();
            assert!(
                e.starts_with("slot \"") && e.contains("1–128"),
                "{bad}: {e}"
            );
        }
        let m = build(&CtlAction::Gate {
            module: "acid1".into(),
            state: "off".into(),
        })
        .unwrap();
        assert_eq!(
            (m.addr.as_str(), &m.args[..]),
            ("/gate/acid1", &[OscType::Int(0)][..])
        );
        assert!(build(&CtlAction::Bpm { bpm: "fast".into() }).is_err());
        let raw = CtlAction::Raw {
            address: "/seq/add".into(),
            args: vec![
                "kick".into(),
                "voice1".into(),
                "X...".into(),
                "55.5".into(),
                "s:3.0".into(),
                "i:7".into(),
            ],
        };
        assert_eq!(
            build(&raw).unwrap().args,
            vec![
                OscType::String("kick".into()),
                OscType::String("voice1".into()),
                OscType::String("X...".into()),
                OscType::Float(55.5),
                OscType::String("3.0".into()),
                OscType::Int(7)
            ]
        );
    }

    #[test]
    fn numbers_in_replies_print_short() {
        for (arg, want) in [
            (OscType::Float(0.1), "0.1"),
            (OscType::Float(f32::MAX), "3.4028235e38"),
            (OscType::Float(f32::NAN), "not a number"),
            (OscType::Float(-0.0), "0"),
            (OscType::Double(1e300), "1e300"),
            (OscType::Double(-2.5e-9), "-2.5e-9"),
            (OscType::Double(128.5), "128.5"),
        ] {
            assert_eq!(show_arg(&arg), want, "{arg:?}");
        }
    }

    #[test]
    fn replies_print_readably() {
        let list = [
            OscType::Int(1),
            OscType::String("intro".into()),
            OscType::String("2025-01-01 10:00:00".into()),
        ];
        assert_eq!(
            format_reply("/pattern/list", &list),
            "1  intro  2025-01-01 10:00:00"
        );
        assert_eq!(format_reply("/pattern/list", &[]), "(no saved slots)");
        let json = [OscType::String("{\"a\":1}".into())];
        assert_eq!(format_reply("/engine/status", &json), "{\n  \"a\": 1\n}");
    }
}
