//! The Music Chronus address space: each message becomes [`Command`]s through
//! [`Controller::apply`], or a query answered from the controller's state.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rosc::{OscMessage, OscType};
use serde_json::{Value, json};

use super::follow::Follower;
use super::schema;
use super::server::OscStats;
use super::wire::{self, clip, flag, number, text};
use crate::control::{Command, Controller};
use crate::model::registry::{
    MAX_VOICES, Module, TRACK_FIELDS, TrackFieldKind, resolve_osc_param, track as track_idx,
};
use crate::model::slot::Track;
use crate::store::SlotNumber;

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done; setters that arrive in floods (`/mod`, `/gate`) answer nothing.
    Silent,
    /// Done; answer `/reply <address> <args…>`.
    Reply(Vec<OscType>),
    /// No such address: counted and answered with `/error`.
    Unknown,
    /// Refused: answered `/error <address> <message>`.
    Refused(String),
}

/// What the queries need to know about the server itself.
pub struct ServerView<'a> {
    /// Unknown addresses seen, with their counts.
    pub unknown: &'a BTreeMap<String, u64>,
    /// Messages that went to unknown addresses.
    pub unknown_total: u64,
    /// Traffic counters.
    pub stats: &'a OscStats,
    /// The clock follower, with `--clock follow`.
    pub follower: Option<&'a Follower>,
    /// Where the server listens.
    pub local: SocketAddr,
    /// Where it sends.
    pub dests: &'a [SocketAddr],
}

type Routed = Result<Outcome, String>;

fn ack(msg: Result<Option<String>, crate::control::ControlError>) -> Routed {
    match msg {
        Ok(m) => Ok(Outcome::Reply(vec![OscType::String(
            m.unwrap_or_else(|| "ok".into()),
        )])),
        Err(e) => Err(e.to_string()),
    }
}

fn arg<'a>(msg: &'a OscMessage, i: usize, what: &str) -> Result<&'a OscType, String> {
    msg.args
        .get(i)
        .ok_or_else(|| format!("needs {what} (argument {})", i + 1))
}

fn num_arg(msg: &OscMessage, i: usize, what: &str) -> Result<f64, String> {
    number(arg(msg, i, what)?).map_err(|e| format!("{what}: {e}"))
}

fn text_arg(msg: &OscMessage, i: usize, what: &str) -> Result<String, String> {
    text(arg(msg, i, what)?).map_err(|e| format!("{what}: {e}"))
}

fn slot_arg(msg: &OscMessage) -> Result<SlotNumber, String> {
    let a = arg(msg, 0, "a slot number 1–128")?;
    let r = match a {
        OscType::String(s) => SlotNumber::parse(s),
        other => SlotNumber::from_f64(number(other)?),
    };
    r.map_err(|e| e.to_string())
}

/// A voice id from `/seq/add` (`voice3`, or just `3`).
fn voice_id(v: &str) -> String {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        format!("voice{v}")
    } else {
        v.to_string()
    }
}

/// Routes one message (the clock and ignored addresses are handled by the server).
pub fn route(ctl: &mut Controller, msg: &OscMessage, view: &ServerView) -> Outcome {
    let addr = msg.addr.as_str();
    let r =
        if let Some(path) = addr.strip_prefix("/mod/") {
            set_param(ctl, msg, path)
        } else if let Some(m) = addr.strip_prefix("/gate/") {
            gate(ctl, msg, m)
        } else {
            match addr {
                "/seq/add" => seq_add(ctl, msg),
                "/seq/remove" => text_arg(msg, 0, "a track name")
                    .and_then(|t| ack(ctl.apply(Command::RemoveTrack(t)))),
                "/seq/clear" => ack(ctl.apply(Command::ClearTracks)),
                "/seq/start" => {
                    // Start always begins at step 0, also when already playing.
                    if ctl.status().running
                        && let Err(e) = ctl.apply(Command::Stop)
                    {
                        return Outcome::Refused(e.to_string());
                    }
                    ack(ctl
                        .apply(Command::Play)
                        .map(|m| m.or(Some("playing".into()))))
                }
                "/seq/stop" => ack(ctl
                    .apply(Command::Stop)
                    .map(|m| m.or(Some("stopped".into())))),
                "/seq/bpm" => num_arg(msg, 0, "a tempo 30–300")
                    .and_then(|v| ack(ctl.apply(Command::SetBpm(v)))),
                "/seq/swing" => num_arg(msg, 0, "a swing 0–0.6")
                    .and_then(|v| ack(ctl.apply(Command::SetSwing(v)))),
                "/seq/update/pattern" => seq_update_pattern(ctl, msg),
                "/seq/update/notes" => seq_update_notes(ctl, msg),
                "/seq/status" => Ok(seq_status(ctl)),
                "/pattern/save" => slot_arg(msg)
                    .and_then(|slot| ack(ctl.apply(Command::SaveSlot { slot, force: true }))),
                "/pattern/load" => slot_arg(msg).and_then(|slot| {
                    let immediate = msg
                        .args
                        .get(1)
                        .is_some_and(|a| flag(a, &["immediate", "now"]));
                    ack(ctl.apply(Command::LoadSlot { slot, immediate }))
                }),
                "/pattern/list" => pattern_list(ctl),
                "/engine/start" => ack(ctl.apply(Command::EngineStart)),
                "/engine/stop" => ack(ctl.apply(Command::EngineStop)),
                "/engine/status" => Ok(Outcome::Reply(vec![OscType::String(
                    engine_status(ctl, view).to_string(),
                )])),
                "/engine/list" => Ok(Outcome::Reply(vec![OscType::String(schema::engine_list(
                    ctl.voices(),
                ))])),
                "/engine/schema" => engine_schema(ctl, msg, view),
                "/engine/record/start" => {
                    let name = match msg.args.first() {
                        Some(a) => match text(a) {
                            Ok(t) if !t.trim().is_empty() => Some(t),
                            Ok(_) => None,
                            Err(e) => return Outcome::Refused(format!("name: {e}")),
                        },
                        None => None,
                    };
                    ack(ctl.apply(Command::RecordStart(name)))
                }
                "/engine/record/stop" => ack(ctl.apply(Command::RecordStop)),
                "/engine/record/status" => {
                    let path = ctl.recording().map(|p| p.display().to_string());
                    Ok(Outcome::Reply(vec![
                        OscType::Int(i32::from(path.is_some())),
                        OscType::String(path.unwrap_or_default()),
                    ]))
                }
                _ => Ok(Outcome::Unknown),
            }
        };
    r.unwrap_or_else(Outcome::Refused)
}

fn set_param(ctl: &mut Controller, msg: &OscMessage, path: &str) -> Routed {
    let Some(id) = resolve_osc_param(path) else {
        return Ok(Outcome::Unknown);
    };
    if let Module::Voice(n) = id.module()
        && n as usize > ctl.voices()
    {
        return Err(format!(
            "voice{n} does not exist: {} voices run (--voices)",
            ctl.voices()
        ));
    }
    let value = num_arg(msg, 0, "a value")?;
    ctl.apply(Command::SetParam { id, value })
        .map(|_| Outcome::Silent)
        .map_err(|e| e.to_string())
}

fn gate(ctl: &mut Controller, msg: &OscMessage, module: &str) -> Routed {
    let voice = match schema::GATE_ALIASES.iter().find(|(a, _)| *a == module) {
        Some((_, v)) => *v,
        None => match Module::parse(module) {
            Some(Module::Voice(n)) => n,
            _ => return Ok(Outcome::Unknown),
        },
    };
    let v = num_arg(msg, 0, "a gate value (> 0 opens, ≤ 0 closes)")?;
    ctl.apply(Command::Gate { voice, on: v > 0.0 })
        .map(|_| Outcome::Silent)
        .map_err(|e| e.to_string())
}

fn valid_keys() -> String {
    TRACK_FIELDS
        .iter()
        .map(|f| f.key)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies one `key=value` to a track being built.
fn set_field(t: &mut Track, key: &str, value: &str) -> Result<(), String> {
    let Some(i) = TRACK_FIELDS.iter().position(|f| f.key == key) else {
        return Err(format!(
            "unknown track field {:?} (known: {})",
            clip(key),
            valid_keys()
        ));
    };
    let field = &TRACK_FIELDS[i];
    match field.kind {
        TrackFieldKind::Number => {
            let v: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| format!("{key}={:?} is not a number", clip(value)))?;
            t.set_number(i, v);
        }
        TrackFieldKind::Notes => {
            let spec = TRACK_FIELDS[track_idx::BASE_FREQ].spec;
            let notes =
                crate::model::notes::parse_notes(value).map_err(|e| format!("notes: {e}"))?;
            t.notes = notes.into_iter().map(|n| spec.clamp(n)).collect();
            t.note_index = 0;
        }
        TrackFieldKind::Pattern => t.pattern = value.to_string(),
        TrackFieldKind::Voice => t.voice_id = voice_id(value),
        TrackFieldKind::Text => t.name = value.to_string(),
    }
    Ok(())
}

/// `/seq/add track voice pattern [base_freq] [filter_freq] [notes] [key=value …]`.
fn seq_add(ctl: &mut Controller, msg: &OscMessage) -> Routed {
    let name = text_arg(msg, 0, "a track name")?;
    let voice = text_arg(msg, 1, "a voice (voice1…)")?;
    let pattern = text_arg(msg, 2, "a pattern")?;
    let mut t = Track::new(&name, &voice_id(&voice), &pattern);
    let mut positional = 0;
    for (i, a) in msg.args.iter().enumerate().skip(3) {
        if let OscType::String(s) = a
            && let Some((k, v)) = s.split_once('=')
        {
            set_field(&mut t, k.trim(), v)?;
            continue;
        }
        match positional {
            0 => {
                let v = number(a).map_err(|e| format!("base_freq (argument {}): {e}", i + 1))?;
                t.set_number(track_idx::BASE_FREQ, v);
            }
            1 => {
                let v = number(a).map_err(|e| format!("filter_freq (argument {}): {e}", i + 1))?;
                t.set_number(track_idx::FILTER_FREQ, v);
            }
            2 => {
                let notes = text(a).map_err(|e| format!("notes (argument {}): {e}", i + 1))?;
                set_field(&mut t, "notes", &notes)?;
            }
            _ => {
                return Err(format!(
                    "argument {} ({:?}) is neither a positional argument nor key=value",
                    i + 1,
                    clip(&text(a).unwrap_or_else(|_| wire::type_name(a).to_string()))
                ));
            }
        }
        positional += 1;
    }
    let summary = format!("track {} on {} pattern {}", t.name, t.voice_id, t.pattern);
    ctl.apply(Command::AddTrack(Box::new(t)))
        .map(|_| Outcome::Reply(vec![OscType::String(summary)]))
        .map_err(|e| e.to_string())
}

fn seq_update_pattern(ctl: &mut Controller, msg: &OscMessage) -> Routed {
    let track = text_arg(msg, 0, "a track name")?;
    let pattern = text_arg(msg, 1, "a pattern")?;
    ack(ctl.apply(Command::SetPattern { track, pattern }))
}

fn seq_update_notes(ctl: &mut Controller, msg: &OscMessage) -> Routed {
    let track = text_arg(msg, 0, "a track name")?;
    arg(msg, 1, "notes")?;
    // Notes may come as one text or one argument per note.
    let parts = msg.args[1..]
        .iter()
        .map(|a| text(a).map_err(|e| format!("notes: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let notes =
        crate::model::notes::parse_notes(&parts.join(" ")).map_err(|e| format!("notes: {e}"))?;
    let n = notes.len();
    ctl.apply(Command::SetNotes {
        track: track.clone(),
        notes,
    })
    .map(|_| Outcome::Reply(vec![OscType::String(format!("{track}: {n} notes"))]))
    .map_err(|e| e.to_string())
}

fn seq_status(ctl: &Controller) -> Outcome {
    let seq = &ctl.song().sequencer;
    let tracks: Vec<Value> = seq
        .tracks
        .iter()
        .map(|t| {
            json!({"name": t.name, "voice": t.voice_id, "pattern": t.pattern, "notes": t.notes,
                   "base_freq": t.base_freq, "filter_freq": t.filter_freq,
                   "muted": t.muted, "solo": t.solo})
        })
        .collect();
    Outcome::Reply(vec![
        OscType::Float(seq.bpm as f32),
        OscType::Float(seq.swing as f32),
        OscType::Int(i32::from(ctl.status().running)),
        OscType::Int(ctl.status().global_step.min(i32::MAX as u64) as i32),
        OscType::String(Value::from(tracks).to_string()),
        OscType::String(ctl.status().backend.clone()),
        OscType::String(ctl.status().backend_kind.to_string()),
    ])
}

fn pattern_list(ctl: &Controller) -> Routed {
    let list = ctl.store().list().map_err(|e| e.to_string())?;
    let mut args = Vec::with_capacity(list.len() * 3);
    for info in list {
        let modified: chrono::DateTime<chrono::Local> = info.modified.into();
        let name = match &info.error {
            Some(e) => format!("(unreadable: {e})"),
            None => info.name,
        };
        args.push(OscType::Int(info.number.get() as i32));
        args.push(OscType::String(name));
        args.push(OscType::String(
            modified.format("%Y-%m-%d %H:%M:%S").to_string(),
        ));
    }
    Ok(Outcome::Reply(args))
}

fn engine_status(ctl: &Controller, view: &ServerView) -> Value {
    let st = ctl.status();
    let song = ctl.song();
    let follow = view.follower.map(|f| {
        let s = f.status();
        json!({"source": s.source(), "state": format!("{:?}", s.state).to_lowercase(),
               "locked": s.locked, "leader_bpm": s.leader_bpm, "offset_ms": s.offset_ms,
               "jitter_ms": s.jitter_ms, "correction_pct": s.correction_pct})
    });
    json!({
        "audio": if st.muted { "off" } else { "on" },
        "backend": st.backend,
        "backend_kind": st.backend_kind,
        "sample_rate": ctl.sample_rate(),
        "voices": ctl.voices(),
        "running": st.running,
        "bpm": song.sequencer.bpm,
        "playing_bpm": st.playing_bpm,
        "swing": song.sequencer.swing,
        "bar": st.bar,
        "step": st.step_in_bar,
        "song": song.metadata.name,
        "slot": ctl.slot(),
        "dirty": ctl.is_dirty(),
        "drafts": ctl.draft_slots(),
        "playing_slot": st.playing_slot,
        "queued": st.queued.map(|(slot, bar)| json!({"slot": slot, "bar": bar})),
        "tracks": song.sequencer.tracks.len(),
        "load_mean_pct": st.load_mean,
        "load_max_pct": st.load_max,
        "late": st.late,
        "xruns": st.xruns,
        "recording": ctl.recording().map(|p| p.display().to_string()),
        "osc": {
            "listen": view.local.to_string(),
            "out": view.dests.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "messages": view.stats.messages,
            "refused": view.stats.refused,
            "unknown": view.unknown_total,
            "undecodable": view.stats.undecodable,
        },
        "clock": follow.unwrap_or_else(|| json!({"source": "internal"})),
    })
}

fn engine_schema(ctl: &Controller, msg: &OscMessage, view: &ServerView) -> Routed {
    let mode = match msg.args.first() {
        None => "json".to_string(),
        Some(a) => text(a)?.trim().to_ascii_lowercase(),
    };
    let voices = ctl.voices().min(MAX_VOICES);
    let schema = schema::schema_json(voices, view.unknown, view.unknown_total);
    match mode.as_str() {
        "json" | "" => Ok(Outcome::Reply(vec![OscType::String(schema.to_string())])),
        "file" => {
            let name = format!(
                "chronus_schema_{}.json",
                chrono::Local::now().format("%Y%m%d_%H%M%S")
            );
            let mut body = serde_json::to_string_pretty(&schema).map_err(|e| e.to_string())?;
            body.push('\n');
            std::fs::write(&name, body).map_err(|e| format!("cannot write {name}: {e}"))?;
            let path = std::env::current_dir()
                .map(|d| d.join(&name))
                .unwrap_or_else(|_| name.clone().into());
            Ok(Outcome::Reply(vec![OscType::String(
                path.display().to_string(),
            )]))
        }
        other => Err(format!("{:?} is not json or file", clip(other))),
    }
}
