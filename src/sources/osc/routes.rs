//! The Music Chronus address space: each message becomes [`Command`]s through
//! [`Controller::apply`], or a query answered from the controller's state.
//!
//! Every address is declared once, in [`ROUTES`] (address or pattern, arguments, doc and
//! handler, in the manner of helix's `static_commands!`): the server dispatches by it, and
//! `/engine/schema`, `registered_routes` and `/engine/list` are generated from it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rosc::{OscMessage, OscType};
use serde_json::{Value, json};

use super::follow::Follower;
use super::schema::{self, CLOCK_ADDRESS};
use super::server::OscStats;
use super::wire::{self, clip, flag, number, text};
use crate::control::{Command, Controller, Notice, PatternOp, StepValue, parse_row};
use crate::model::registry::{
    MAX_VOICES, Module, TRACK_FIELDS, TrackFieldKind, resolve_osc_param, track as track_idx,
    voice as voice_idx, waveform_as_original,
};
use crate::model::slot::Track;
use crate::store::{SlotNumber, create_new_file};

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
    /// Accepted and ignored, as Music Chronus ignored it (an address it took without acting,
    /// a parameter with no value): nothing changed. Counted with the unknown routes and
    /// answered `/warning <address> <message>` once per sender, so a stream of the same
    /// message is not answered with a stream of warnings.
    Ignored(String),
    /// Done, but not quite as asked (an entry skipped, a value mapped as Music Chronus mapped
    /// it): `/warning <address> <message>` for each sentence (each sent once per sender),
    /// then the reply, if any.
    Warned(Option<Vec<OscType>>, Vec<String>),
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

/// The slot of argument 1, strictly ([`wire::slot_number`]): nothing is rounded into a slot
/// and T/F are not slot numbers.
fn slot_arg(msg: &OscMessage) -> Result<SlotNumber, String> {
    let a = arg(msg, 0, "a slot number 1–128")?;
    wire::slot_number(a).map_err(|e| e.to_string())
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

/// Which part of the address space a route belongs to (the `/engine/schema` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteGroup {
    /// `/mod/…`: module parameters, generated from the registry.
    Param,
    /// `/gate/…`: voice gates.
    Gate,
    /// `/seq/…`: the sequencer.
    Seq,
    /// `/pattern/…`: pattern slots.
    Pattern,
    /// `/engine/…`: audio, status, schema, recording.
    Engine,
    /// The clock, taken by the follower (`--clock follow`).
    Clock,
    /// What Chronus itself sends, heard back from a leader: ignored, not counted as unknown.
    Ignored,
}

impl RouteGroup {
    /// The group's name in `/engine/schema`'s `routes` list.
    pub fn name(self) -> &'static str {
        match self {
            RouteGroup::Param => "param",
            RouteGroup::Gate => "gate",
            RouteGroup::Seq => "sequencer",
            RouteGroup::Pattern => "pattern",
            RouteGroup::Engine => "engine",
            RouteGroup::Clock => "clock",
            RouteGroup::Ignored => "ignored",
        }
    }
}

/// One message as a handler sees it.
pub struct Call<'a> {
    /// The message.
    pub msg: &'a OscMessage,
    /// The server's own state, for the queries.
    pub view: &'a ServerView<'a>,
    /// What a pattern route's placeholders matched (`voice1/freq` of `/mod/voice1/freq`).
    pub tail: &'a str,
}

type Apply = fn(&mut Controller, &Call) -> Routed;

/// How a route is answered.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Applied to the controller (a command or a query).
    Apply(Apply),
    /// Fed to the clock follower by the server.
    Clock,
    /// Dropped without an answer.
    Ignore,
}

/// One entry of the address space: address, arguments, doc and handler, declared once.
#[derive(Clone, Copy)]
pub struct Route {
    /// The address, or a pattern whose `<placeholders>` stand for registry names
    /// (`/mod/<module>/<param>`).
    pub address: &'static str,
    /// The arguments, as written in the docs.
    pub args: &'static str,
    /// What it does.
    pub doc: &'static str,
    /// The schema section it is listed in.
    pub group: RouteGroup,
    /// What answers it.
    pub handler: Handler,
    /// The concrete addresses of a pattern route for an engine with this many voices.
    expand: Option<fn(usize) -> Vec<String>>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("address", &self.address)
            .field("args", &self.args)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl Route {
    const fn fixed(
        group: RouteGroup,
        address: &'static str,
        args: &'static str,
        doc: &'static str,
        apply: Apply,
    ) -> Route {
        Route {
            address,
            args,
            doc,
            group,
            handler: Handler::Apply(apply),
            expand: None,
        }
    }

    const fn pattern(
        group: RouteGroup,
        address: &'static str,
        args: &'static str,
        doc: &'static str,
        apply: Apply,
        expand: fn(usize) -> Vec<String>,
    ) -> Route {
        Route {
            address,
            args,
            doc,
            group,
            handler: Handler::Apply(apply),
            expand: Some(expand),
        }
    }

    const fn ignored(address: &'static str) -> Route {
        Route {
            address,
            args: "…",
            doc: "sent by Chronus; received (from a leader), ignored",
            group: RouteGroup::Ignored,
            handler: Handler::Ignore,
            expand: None,
        }
    }

    /// The fixed part of a pattern route (`/mod/`), or the whole address.
    fn prefix(&self) -> &'static str {
        match self.address.find('<') {
            Some(i) => &self.address[..i],
            None => self.address,
        }
    }

    /// What `addr` matched of this route: the placeholders' text, or `""` for a fixed route.
    pub fn matches<'a>(&self, addr: &'a str) -> Option<&'a str> {
        if self.expand.is_some() {
            addr.strip_prefix(self.prefix()).filter(|t| !t.is_empty())
        } else {
            (addr == self.address).then_some("")
        }
    }

    /// The concrete addresses this route answers, for an engine with `voices` voices.
    pub fn addresses(&self, voices: usize) -> Vec<String> {
        match self.expand {
            Some(expand) => expand(voices),
            None => vec![self.address.to_string()],
        }
    }
}

/// The address space, in the order `/engine/schema` lists it. Dispatch looks addresses up
/// here; `registered_routes`, the schema's command sections and `/engine/list` read it too.
pub const ROUTES: &[Route] = &[
    Route::pattern(
        RouteGroup::Param,
        "/mod/<module>/<param>",
        "value",
        "set a parameter (clamped to its range; osc/type, also called wave, takes a name or a number read as Music Chronus read it); modules voice1…voiceN and the effects, plus the legacy aliases; an unknown parameter, a voice that does not run or no value is ignored with one /warning, as Music Chronus ignored it",
        set_param,
        schema::param_addresses,
    ),
    Route::pattern(
        RouteGroup::Gate,
        "/gate/<voice>",
        "v",
        "open (v > 0, attack) or close (v <= 0, release) a voice's gate; an address with no running voice, or no value, is ignored with one /warning, as Music Chronus ignored it",
        gate,
        schema::gate_addresses,
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/add",
        "track voice pattern [base_freq] [filter_freq] [notes] [key=value …]",
        "add or replace a track; key=value sets any track field",
        seq_add,
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/remove",
        "track",
        "remove a track",
        |ctl, c| {
            let track = text_arg(c.msg, 0, "a track name")?;
            ack(ctl.apply(Command::RemoveTrack(track)))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/clear",
        "",
        "remove all tracks and release all voices",
        |ctl, _| ack(ctl.apply(Command::ClearTracks)),
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/start",
        "",
        "start from step 0; while playing it changes nothing (as in Music Chronus): /seq/restart starts again",
        seq_start,
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/restart",
        "",
        "start again from step 0, playing or not",
        |ctl, _| {
            if ctl.status().running {
                ctl.apply(Command::Stop).map_err(|e| e.to_string())?;
            }
            ack(ctl
                .apply(Command::Play)
                .map(|m| m.or(Some("playing from step 0".into()))))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/stop",
        "",
        "stop and release all voices",
        |ctl, _| {
            ack(ctl
                .apply(Command::Stop)
                .map(|m| m.or(Some("stopped".into()))))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/bpm",
        "bpm",
        "tempo, 30–300",
        |ctl, c| {
            let bpm = num_arg(c.msg, 0, "a tempo 30–300")?;
            ack(ctl.apply(Command::SetBpm(bpm)))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/swing",
        "amount",
        "swing of odd 16ths, 0–0.668 (0.668 = 66.7 % MPC, triplet feel)",
        |ctl, c| {
            let swing = num_arg(c.msg, 0, "a swing 0–0.668")?;
            ack(ctl.apply(Command::SetSwing(swing)))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/update/pattern",
        "track pattern",
        "new pattern, same phase",
        seq_update_pattern,
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/update/notes",
        "track notes",
        "new notes (Hz, MIDI numbers or names); resets the note index",
        seq_update_notes,
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/pattern/row",
        "track row",
        "type a track's steps in one go (X accent, x hit, . or - rest; spaces ignored); any other character is refused. Reply: message pattern",
        |ctl, c| {
            let track = text_arg(c.msg, 0, "a track name")?;
            let pattern = parse_row(&text_arg(c.msg, 1, "a row of steps (x.x.X...)")?)?;
            let cmd = Command::SetPattern {
                track: track.clone(),
                pattern,
            };
            pattern_ack(ctl, &track, cmd)
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/pattern/fill",
        "track every [offset]",
        "a hit every N steps from step offset+1, rests elsewhere; the 2nd argument may also be the fill prompt's text (4+2, 3/8+1). Reply: message pattern",
        pattern_fill,
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/pattern/euclid",
        "track hits steps [rotation]",
        "Euclid: hits spread evenly over steps (the track becomes that long), rotated right. Reply: message pattern",
        |ctl, c| {
            let count = |i: usize, what: &str| -> Result<usize, String> {
                let v = num_arg(c.msg, i, what)?;
                whole(v).ok_or_else(|| format!("{what}: {v} is not a whole number ≥ 0"))
            };
            let op = PatternOp::Euclid {
                hits: count(1, "hits")?,
                steps: count(2, "steps")?,
                rotation: match c.msg.args.get(3) {
                    Some(_) => count(3, "rotation")?,
                    None => 0,
                },
            };
            edit_pattern(ctl, c, op)
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/pattern/rotate",
        "track by",
        "move every step by places, wrapping (positive later, negative earlier). Reply: message pattern",
        |ctl, c| {
            let by = num_arg(c.msg, 1, "places to rotate")?;
            if by.fract() != 0.0 || by.abs() > 1e6 {
                return Err(format!("places to rotate: {by} is not a whole number"));
            }
            edit_pattern(ctl, c, PatternOp::Rotate(by as i32))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/pattern/reverse",
        "track",
        "steps in reverse order. Reply: message pattern",
        |ctl, c| edit_pattern(ctl, c, PatternOp::Reverse),
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/pattern/clear",
        "track",
        "every step of the track a rest; the length stays. Reply: message pattern",
        |ctl, c| edit_pattern(ctl, c, PatternOp::Clear),
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/pattern/double",
        "track",
        "the pattern played twice (at most 64 steps). Reply: message pattern",
        |ctl, c| edit_pattern(ctl, c, PatternOp::Double),
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/pattern/halve",
        "track",
        "the first half only; the second half is hidden and comes back when the track grows. Reply: message pattern",
        |ctl, c| edit_pattern(ctl, c, PatternOp::Halve),
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/step",
        "track step value",
        "set one step (numbered from 1, as on screen) to X (accent), x (hit) or . (rest); past the end the track grows. Reply: message pattern",
        |ctl, c| {
            let track = text_arg(c.msg, 0, "a track name")?;
            let step = step_arg(c.msg)?;
            let v = text_arg(c.msg, 2, "a step value (X, x or .)")?;
            let value = match v.trim() {
                "X" => StepValue::Accent,
                "x" => StepValue::Hit,
                "." | "-" => StepValue::Rest,
                other => {
                    return Err(format!(
                        "{:?} is not a step value: X (accent), x (hit) or . (rest)",
                        clip(other)
                    ));
                }
            };
            let cmd = Command::SetStep {
                track: track.clone(),
                step,
                value,
            };
            pattern_ack(ctl, &track, cmd)
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/step/note",
        "track step note",
        "the keyboard piano's entry: the step (from 1) becomes a hit playing the note (name, MIDI number or Hz); the track's notes are laid out one per hit. Reply: message pattern",
        |ctl, c| {
            let track = text_arg(c.msg, 0, "a track name")?;
            let step = step_arg(c.msg)?;
            let note = text_arg(c.msg, 2, "a note (C4, 60 or 261.6)")?;
            let hz = match crate::model::notes::parse_notes(&note)
                .map_err(|e| format!("note: {e}"))?
                .as_slice()
            {
                [hz] => *hz,
                _ => return Err(format!("{:?} is not one note", clip(&note))),
            };
            let cmd = Command::SetStepNote {
                track: track.clone(),
                step,
                hz,
            };
            pattern_ack(ctl, &track, cmd)
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/step/data",
        "track step key [value]",
        "change the step's entry (step from 1, inside the pattern): key note, velocity, micro, ratchet, chance, cond, or a parameter to lock (filter_freq, attack …); value - removes the key; key clear empties the entry. Part of the song (undo, saved in the track's steps map). Reply: message (the step's data)",
        |ctl, c| {
            let track = text_arg(c.msg, 0, "a track name")?;
            let step = step_arg(c.msg)?;
            let key = text_arg(c.msg, 2, "a step key (ratchet, chance, cond …)")?;
            let value = match c.msg.args.get(3) {
                None => None,
                Some(OscType::String(s)) => Some(s.clone()),
                Some(a) => Some(crate::model::fmt_num(
                    number(a).map_err(|e| format!("value: {e}"))?,
                )),
            };
            let edit = crate::control::StepEdit::parse(&key, value.as_deref())
                .map_err(|e| e.to_string())?;
            ack(ctl.apply(Command::SetStepData { track, step, edit }))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/fill",
        "[on]",
        "fill mode on (1), off (0) or toggled (no argument): steps with the fill condition play while it is on, !fill steps while it is off; performance state, kept across stop and slot loads, never saved",
        |ctl, c| ack(ctl.apply(Command::SetFill(on_arg(c.msg, 0)?))),
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/fill/bar",
        "",
        "fill for one bar: fill mode switches on at the first sample of the next bar (the first bar after play when stopped) and off at the first sample of the bar after",
        |ctl, _| ack(ctl.apply(Command::FillBar)),
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/edit_step",
        "steps",
        "how many steps step entry moves on after each step it sets, 0–16 (a performer setting, not saved)",
        |ctl, c| {
            let n = num_arg(c.msg, 0, "an edit step 0–16")?;
            let n = whole(n).ok_or_else(|| format!("edit step: {n} is not a whole number ≥ 0"))?;
            ack(ctl.apply(Command::SetEditStep(n)))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/mute",
        "track [on]",
        "mute (1), unmute (0) or toggle (no argument) a track; performance state, at the next bar when mutes are quantised",
        |ctl, c| {
            let track = text_arg(c.msg, 0, "a track name")?;
            let on = on_arg(c.msg, 1)?;
            ack(ctl.apply(Command::Mute { track, on }))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/solo",
        "track [on]",
        "solo (1), unsolo (0) or toggle (no argument) a track; at the next bar when mutes are quantised",
        |ctl, c| {
            let track = text_arg(c.msg, 0, "a track name")?;
            let on = on_arg(c.msg, 1)?;
            ack(ctl.apply(Command::Solo { track, on }))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/mute/group",
        "group [on]",
        "mute (1), unmute (0) or toggle (no argument: mute unless all are muted) every track of mute group 1–4",
        |ctl, c| {
            let group = group_arg(c.msg, 0)?;
            let on = on_arg(c.msg, 1)?;
            ack(ctl.apply(Command::MuteGroup { group, on }))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/mute/assign",
        "track group",
        "put a track in mute group 1–4 (0: none); part of the song",
        |ctl, c| {
            let track = text_arg(c.msg, 0, "a track name")?;
            let group = group_arg(c.msg, 1)?;
            ack(ctl.apply(Command::SetMuteGroup { track, group }))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/mute/quantize",
        "[on]",
        "mutes and solos wait for the first sample of the next bar while playing: on (1), off (0) or toggle (no argument)",
        |ctl, c| {
            let on = on_arg(c.msg, 0)?;
            ack(ctl.apply(Command::SetMuteQuantize(on)))
        },
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/mute/keep",
        "",
        "keep the mutes and solos as they are in the song: the next save writes them",
        |ctl, _| ack(ctl.apply(Command::KeepMutes)),
    ),
    Route::fixed(
        RouteGroup::Seq,
        "/seq/status",
        "",
        "reply: bpm swing running step tracks-json backend backend-kind (device, internal)",
        |ctl, _| Ok(seq_status(ctl)),
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/pattern/save",
        "slot",
        "save the song to slot 1–128",
        |ctl, c| {
            let slot = slot_arg(c.msg)?;
            // Written on the disk thread: the server answers when the disk reports it.
            ctl.apply(Command::SaveSlot { slot, force: true })
                .map_err(|e| e.to_string())?;
            Ok(Outcome::Silent)
        },
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/pattern/load",
        "slot [immediate]",
        "load a slot at the next bar, or at once when the 2nd argument is 1, true, immediate or now (0, false, bar or next_bar: the next bar; anything else is refused); slots are whole numbers 1–128 (5, 5.0, \"5\"), never T/F",
        pattern_load,
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/pattern/new",
        "",
        "start a new empty song in the first slot without a file (the tempo stays); reply: which slot",
        |ctl, _| ack(ctl.apply(Command::NewSong)),
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/pattern/list",
        "",
        "reply: slot name modified, for each used slot",
        |ctl, _| pattern_list(ctl),
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/pattern/prepare",
        "slot",
        "prepare a slot: the tracker's screen edits it while another plays, unheard, its edits kept as its draft (0 or none: back to what plays)",
        |ctl, c| {
            let slot = match c.msg.args.first() {
                None => None,
                Some(a) if text(a).is_ok_and(|t| t == "none") || number(a) == Ok(0.0) => None,
                Some(_) => Some(slot_arg(c.msg)?),
            };
            ack(ctl.apply(Command::Prepare(slot)))
        },
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/pattern/prepare/queue",
        "[immediate]",
        "queue the prepared slot with its edits at the next bar, or at once when the argument is 1, true, immediate or now",
        |ctl, c| {
            let immediate = match c.msg.args.first() {
                Some(a) => flag(a, &["immediate", "now"], &["bar", "next_bar"])
                    .map_err(|e| format!("argument 1: {e}"))?,
                None => false,
            };
            ack(ctl.apply(Command::QueuePrepared { immediate }))
        },
    ),
    // Chains (song mode) and the one-shot.
    Route::fixed(
        RouteGroup::Pattern,
        "/pattern/oneshot",
        "slot",
        "play a slot for one bar from the next bar, then the slot playing now again (refused while a chain runs)",
        |ctl, c| ack(ctl.apply(Command::OneShot(slot_arg(c.msg)?))),
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/chain/set",
        "name entries [loop|stop]",
        "set the chain being edited: entries typed as \"[3 x4, 11 x1, 7]\" (a slot alone plays one bar); loop (default) or stop at the end",
        chain_set,
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/chain/open",
        "name",
        "read patterns/chains/NAME.json to edit or start it",
        |ctl, c| ack(ctl.apply(Command::ChainOpen(text_arg(c.msg, 0, "a chain name")?))),
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/chain/save",
        "",
        "save the chain being edited to patterns/chains/NAME.json (atomic, the previous version kept as a backup)",
        |ctl, _| ack(ctl.apply(Command::ChainSave)),
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/chain/start",
        "[name]",
        "start a chain (read from its file when named, else the one being edited) from its first entry at the next bar",
        chain_start,
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/chain/jump",
        "entry",
        "jump to entry K (from 1) of the running chain at the next bar",
        |ctl, c| {
            let k = num_arg(c.msg, 0, "an entry number")?;
            if !(k.fract() == 0.0 && (1.0..=4096.0).contains(&k)) {
                return Err(format!(
                    "entry number {}: a whole number from 1",
                    clip(&k.to_string())
                ));
            }
            ack(ctl.apply(Command::ChainJump(k as usize)))
        },
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/chain/hold",
        "[0|1]",
        "hold the running chain's current slot (1), release it (0: it moves on at the next bar), or toggle",
        |ctl, c| {
            let on = match c.msg.args.first() {
                Some(a) => Some(
                    flag(a, &["on", "hold"], &["off", "release"])
                        .map_err(|e| format!("argument 1: {e}"))?,
                ),
                None => None,
            };
            ack(ctl.apply(Command::ChainHold(on)))
        },
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/chain/leave",
        "",
        "leave the running chain: the current slot keeps playing, a queued chain entry is cancelled",
        |ctl, _| ack(ctl.apply(Command::ChainLeave)),
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/chain/status",
        "",
        "reply: the running chain's position and next slot (or \"no chain running\"), and the chain being edited",
        |ctl, _| Ok(chain_status(ctl)),
    ),
    Route::fixed(
        RouteGroup::Pattern,
        "/chain/list",
        "",
        "reply: the names of the saved chains",
        |ctl, _| {
            let names = ctl.store().chain_names().map_err(|e| e.to_string())?;
            Ok(Outcome::Reply(
                names.into_iter().map(OscType::String).collect(),
            ))
        },
    ),
    Route::fixed(
        RouteGroup::Engine,
        "/engine/start",
        "",
        "audio on",
        |ctl, _| ack(ctl.apply(Command::EngineStart)),
    ),
    Route::fixed(
        RouteGroup::Engine,
        "/engine/stop",
        "",
        "audio off; stops the sequencer and any recording",
        |ctl, _| ack(ctl.apply(Command::EngineStop)),
    ),
    Route::fixed(
        RouteGroup::Engine,
        "/link",
        "[on]",
        "Ableton Link on (1), off (0) or switched over (no argument): join the session on the local network (tempo and bar lines shared with its peers) or leave it",
        |ctl, c| ack(ctl.apply(Command::Link(on_arg(c.msg, 0)?))),
    ),
    Route::fixed(
        RouteGroup::Engine,
        "/link/status",
        "",
        "reply: Link's state as JSON (enabled, peers, session tempo, start/stop sharing, the latest phase error in ms, realignments)",
        |ctl, _| {
            let status = link_json(ctl).to_string();
            Ok(Outcome::Reply(vec![OscType::String(status)]))
        },
    ),
    Route::fixed(
        RouteGroup::Engine,
        "/engine/status",
        "",
        "reply: a JSON status summary",
        |ctl, c| {
            let status = engine_status(ctl, c.view).to_string();
            Ok(Outcome::Reply(vec![OscType::String(status)]))
        },
    ),
    Route::fixed(
        RouteGroup::Engine,
        "/engine/list",
        "",
        "reply: the modules and parameters as text",
        |ctl, _| {
            let list = schema::engine_list(ctl.voices());
            Ok(Outcome::Reply(vec![OscType::String(list)]))
        },
    ),
    Route::fixed(
        RouteGroup::Engine,
        "/engine/schema",
        "[json|stdout|file]",
        "reply: this schema as JSON (stdout: also printed by headless, as Music Chronus printed it), or write chronus_schema_YYYYMMDD_HHMMSS.json and reply its path",
        engine_schema,
    ),
    Route::fixed(
        RouteGroup::Engine,
        "/engine/record/start",
        "[name] [bits]",
        "record the master output to recordings/ (WAV stereo, 32-bit float; bits 16 for 16-bit integer as Music Chronus wrote); beside a headless --record file it makes a second file",
        record_start,
    ),
    Route::fixed(
        RouteGroup::Engine,
        "/engine/record/stop",
        "",
        "stop recording",
        |ctl, _| ack(ctl.apply(Command::RecordStop)),
    ),
    Route::fixed(
        RouteGroup::Engine,
        "/engine/record/status",
        "",
        "reply: recording (0/1) path",
        |ctl, _| {
            let path = ctl.recording().map(|p| p.display().to_string());
            Ok(Outcome::Reply(vec![
                OscType::Int(i32::from(path.is_some())),
                OscType::String(path.unwrap_or_default()),
            ]))
        },
    ),
    Route {
        address: CLOCK_ADDRESS,
        args: "bar beat bpm (in a bundle whose timetag is the downbeat)",
        doc: "a leader's beat clock, followed with --clock follow (ignored otherwise)",
        group: RouteGroup::Clock,
        handler: Handler::Clock,
        expand: None,
    },
    Route::ignored("/viz/levels"),
    Route::ignored("/viz/spectrum"),
    Route::ignored("/chronus/slot/playing"),
    Route::ignored("/chronus/slot/queued"),
    Route::ignored("/reply"),
    Route::ignored("/error"),
    Route::ignored("/warning"),
];

/// The route answering `addr`, with what its placeholders matched.
pub fn find(addr: &str) -> Option<(&'static Route, &str)> {
    ROUTES
        .iter()
        .find_map(|r| r.matches(addr).map(|tail| (r, tail)))
}

/// Routes one message to the controller (the server takes the clock and ignored addresses
/// before, by the same table).
pub fn route(ctl: &mut Controller, msg: &OscMessage, view: &ServerView) -> Outcome {
    let Some((route, tail)) = find(&msg.addr) else {
        return Outcome::Unknown;
    };
    let Handler::Apply(apply) = route.handler else {
        return Outcome::Silent;
    };
    apply(ctl, &Call { msg, view, tail }).unwrap_or_else(Outcome::Refused)
}

/// A whole number ≥ 0 that fits a count of steps or a group.
fn whole(v: f64) -> Option<usize> {
    (v.fract() == 0.0 && (0.0..=1e6).contains(&v)).then_some(v as usize)
}

/// A step numbered from 1 (argument 2), as the screen numbers them; 0-based inside.
fn step_arg(msg: &OscMessage) -> Result<usize, String> {
    let v = num_arg(msg, 1, "a step number from 1")?;
    match whole(v) {
        Some(n) if n >= 1 => Ok(n - 1),
        _ => Err(format!("step: {v} is not a step number (1, 2, …)")),
    }
}

/// A mute group (0–4; the controller checks the range and says so).
fn group_arg(msg: &OscMessage, i: usize) -> Result<u8, String> {
    let v = num_arg(msg, i, "a mute group 1–4")?;
    whole(v)
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| format!("mute group: {v} is not a group number"))
}

/// An optional on/off argument: missing toggles.
fn on_arg(msg: &OscMessage, i: usize) -> Result<Option<bool>, String> {
    match msg.args.get(i) {
        Some(a) => flag(a, &["on"], &["off"])
            .map(Some)
            .map_err(|e| format!("argument {}: {e}", i + 1)),
        None => Ok(None),
    }
}

/// Applies an edit of one track's steps; replies its message and the pattern it left.
fn pattern_ack(ctl: &mut Controller, track: &str, cmd: Command) -> Routed {
    let said = ctl.apply(cmd).map_err(|e| e.to_string())?;
    let pattern = ctl
        .song()
        .sequencer
        .tracks
        .iter()
        .find(|t| t.name == track)
        .map(|t| t.pattern.clone())
        .unwrap_or_default();
    let said = said.unwrap_or_else(|| format!("{track}: {pattern}"));
    Ok(Outcome::Reply(vec![
        OscType::String(said),
        OscType::String(pattern),
    ]))
}

/// A whole-track edit of the track named by argument 1.
fn edit_pattern(ctl: &mut Controller, c: &Call, op: PatternOp) -> Routed {
    let track = text_arg(c.msg, 0, "a track name")?;
    let cmd = Command::EditPattern {
        track: track.clone(),
        op,
    };
    pattern_ack(ctl, &track, cmd)
}

fn pattern_fill(ctl: &mut Controller, c: &Call) -> Routed {
    let every = text_arg(c.msg, 1, "a hit every N steps")?;
    let text = match c.msg.args.get(2) {
        Some(a) => {
            let offset = number(a).map_err(|e| format!("offset: {e}"))?;
            let offset = whole(offset)
                .ok_or_else(|| format!("offset: {offset} is not a whole number ≥ 0"))?;
            format!("{}+{offset}", every.trim())
        }
        None => every,
    };
    let op = PatternOp::parse_fill(&text)?;
    edit_pattern(ctl, c, op)
}

fn seq_start(ctl: &mut Controller, _: &Call) -> Routed {
    // Music Chronus's start did nothing while running; scripts send it again (each section
    // of a song script starts it) and expect the music to go on in time.
    if ctl.status().running {
        return Ok(Outcome::Reply(vec![OscType::String(
            "already playing: nothing changed (/seq/restart starts again from step 0)".into(),
        )]));
    }
    ack(ctl
        .apply(Command::Play)
        .map(|m| m.or(Some("playing".into()))))
}

fn pattern_load(ctl: &mut Controller, c: &Call) -> Routed {
    let slot = slot_arg(c.msg)?;
    let immediate = match c.msg.args.get(1) {
        Some(a) => flag(a, &["immediate", "now"], &["bar", "next_bar"])
            .map_err(|e| format!("argument 2: {e}"))?,
        None => false,
    };
    ack(ctl.apply(Command::LoadSlot { slot, immediate }))
}

fn record_start(ctl: &mut Controller, c: &Call) -> Routed {
    let name = match c.msg.args.first() {
        Some(a) => match text(a) {
            Ok(t) if !t.trim().is_empty() => Some(t),
            Ok(_) => None,
            Err(e) => return Err(format!("name: {e}")),
        },
        None => None,
    };
    match c.msg.args.get(1) {
        None => ack(ctl.apply(Command::RecordStart(name))),
        Some(a) => {
            let bits = number(a).map_err(|e| format!("bits: {e}"))?;
            let format = (bits.fract() == 0.0 && (0.0..=64.0).contains(&bits))
                .then(|| crate::control::RecordFormat::from_bits(bits as u32))
                .flatten()
                .ok_or_else(|| format!("bits: {} is not 16 or 32", crate::model::fmt_num(bits)))?;
            ack(ctl.apply(Command::RecordStartAs(name, format)))
        }
    }
}

/// Music Chronus's acid1 settings that its own engine had disabled and Chronus has no
/// counterpart for: taken and ignored, as there.
const ORIGINAL_NO_OPS: [&str; 3] = [
    "acid1/cutoff_offset",
    "acid1/res_accent_boost",
    "acid1/accent_decay",
];

fn set_param(ctl: &mut Controller, c: &Call) -> Routed {
    // Music Chronus took every `/mod/…` address and ignored what it did not know.
    let Some(id) = resolve_osc_param(c.tail) else {
        let why = if ORIGINAL_NO_OPS.contains(&c.tail) {
            "disabled in Music Chronus and has no counterpart here (accents are acid1/accent \
             and a track's accent_boost): nothing changed"
        } else {
            "no such parameter (/engine/schema lists them): nothing changed"
        };
        return Ok(Outcome::Ignored(why.into()));
    };
    if let Module::Voice(n) = id.module()
        && n as usize > ctl.voices()
    {
        return Ok(Outcome::Ignored(format!(
            "voice{n} does not exist: {} voices run (--voices); nothing changed",
            ctl.voices()
        )));
    }
    let Some(first) = c.msg.args.first() else {
        return Ok(Outcome::Ignored(
            "sent without a value: nothing changed".into(),
        ));
    };
    // A choice may come by name (`/mod/delay1/sync "1/8."`, `/mod/voice1/osc/type "saw"`).
    let spec = id.spec();
    let value = match first {
        OscType::String(name) if let Some(v) = spec.choice_value(name) => v,
        // A parameter with named choices says which names it takes.
        OscType::String(name) if spec.choice_name(spec.min).is_some() => {
            num_arg(c.msg, 0, "a value").map_err(|_| {
                format!(
                    "{:?} is neither a number nor one of {}",
                    name.trim(),
                    spec.desc
                )
            })?
        }
        _ => num_arg(c.msg, 0, "a value")?,
    };
    if matches!(id.module(), Module::Voice(_)) && id.locate().1 == voice_idx::WAVEFORM {
        // Numbers as Music Chronus read them: 7 plays a sine, not a brown noise.
        let (value, why) =
            waveform_as_original(value).ok_or_else(|| "a waveform must be a number".to_string())?;
        ctl.apply(Command::SetParam { id, value })
            .map_err(|e| e.to_string())?;
        return Ok(match why {
            Some(why) => Outcome::Warned(None, vec![why]),
            None => Outcome::Silent,
        });
    }
    ctl.apply(Command::SetParam { id, value })
        .map(|_| Outcome::Silent)
        .map_err(|e| e.to_string())
}

fn gate(ctl: &mut Controller, c: &Call) -> Routed {
    let module = c.tail;
    // Music Chronus took every `/gate/…` address and ignored the ones it had no voice for.
    let voice = match schema::GATE_ALIASES.iter().find(|(a, _)| *a == module) {
        Some((_, v)) => *v,
        None => match Module::parse(module) {
            Some(Module::Voice(n)) => n,
            _ => {
                return Ok(Outcome::Ignored(
                    "no such voice (/gate/voice1 … or acid1, adsr1, 1): nothing changed".into(),
                ));
            }
        },
    };
    if voice as usize > ctl.voices() {
        return Ok(Outcome::Ignored(format!(
            "voice{voice} does not exist: {} voices run (--voices); nothing changed",
            ctl.voices()
        )));
    }
    if c.msg.args.is_empty() {
        return Ok(Outcome::Ignored(
            "sent without a value: nothing changed".into(),
        ));
    }
    let v = num_arg(c.msg, 0, "a gate value (> 0 opens, ≤ 0 closes)")?;
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

/// Applies one `key=value` to a track being built; returns the warnings of a notes list
/// whose entries were skipped or moved into range.
fn set_field(t: &mut Track, key: &str, value: &str) -> Result<Vec<String>, String> {
    let Some(i) = crate::model::registry::track_field_by_name(key) else {
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
            let read = crate::model::notes::read_notes(value).map_err(|e| format!("notes: {e}"))?;
            t.notes = read.hz.into_iter().map(|n| spec.clamp(n)).collect();
            t.note_index = 0;
            return Ok(notes_warnings(read.warnings));
        }
        TrackFieldKind::Pattern => t.pattern = value.to_string(),
        TrackFieldKind::Voice => t.voice_id = voice_id(value),
        TrackFieldKind::Text => t.name = value.to_string(),
    }
    Ok(Vec::new())
}

fn notes_warnings(warnings: Vec<String>) -> Vec<String> {
    warnings
        .into_iter()
        .map(|w| format!("notes: {w}"))
        .collect()
}

/// `/seq/add track voice pattern [base_freq] [filter_freq] [notes] [key=value …]`.
fn seq_add(ctl: &mut Controller, c: &Call) -> Routed {
    let msg = c.msg;
    let name = text_arg(msg, 0, "a track name")?;
    let voice = text_arg(msg, 1, "a voice (voice1…)")?;
    let pattern = text_arg(msg, 2, "a pattern")?;
    let mut t = ctl.song().new_track(&name, &voice_id(&voice), &pattern);
    let mut positional = 0;
    let mut warnings = Vec::new();
    for (i, a) in msg.args.iter().enumerate().skip(3) {
        if let OscType::String(s) = a
            && let Some((k, v)) = s.split_once('=')
        {
            warnings.extend(set_field(&mut t, k.trim(), v)?);
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
                warnings.extend(set_field(&mut t, "notes", &notes)?);
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
        .map_err(|e| e.to_string())?;
    Ok(replied(vec![OscType::String(summary)], warnings))
}

/// A reply, with the warnings of what was not done quite as asked.
fn replied(reply: Vec<OscType>, warnings: Vec<String>) -> Outcome {
    if warnings.is_empty() {
        Outcome::Reply(reply)
    } else {
        Outcome::Warned(Some(reply), warnings)
    }
}

fn seq_update_pattern(ctl: &mut Controller, c: &Call) -> Routed {
    let msg = c.msg;
    let track = text_arg(msg, 0, "a track name")?;
    let pattern = text_arg(msg, 1, "a pattern")?;
    ack(ctl.apply(Command::SetPattern { track, pattern }))
}

fn seq_update_notes(ctl: &mut Controller, c: &Call) -> Routed {
    let msg = c.msg;
    let track = text_arg(msg, 0, "a track name")?;
    arg(msg, 1, "notes")?;
    // Notes may come as one text or one argument per note.
    let parts = msg.args[1..]
        .iter()
        .map(|a| text(a).map_err(|e| format!("notes: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let read =
        crate::model::notes::read_notes(&parts.join(" ")).map_err(|e| format!("notes: {e}"))?;
    let n = read.hz.len();
    ctl.apply(Command::SetNotes {
        track: track.clone(),
        notes: read.hz,
    })
    .map_err(|e| e.to_string())?;
    Ok(replied(
        vec![OscType::String(format!("{track}: {n} notes"))],
        notes_warnings(read.warnings),
    ))
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
    let list: Vec<_> = ctl.slot_files().collect();
    let mut args = Vec::with_capacity(list.len() * 3);
    for info in list {
        let modified: chrono::DateTime<chrono::Local> = info.modified.into();
        let name = match &info.error {
            Some(e) => format!("(unreadable: {e})"),
            None => info.name.clone(),
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
        "link": link_json(ctl),
    })
}

/// Link's state for `/engine/status` and `/link/status`: `{"enabled": false}` while off.
fn link_json(ctl: &Controller) -> Value {
    match ctl.link_status() {
        Some(l) => json!({"enabled": true, "peers": l.peers, "tempo": l.tempo,
                          "start_stop": l.start_stop, "offset_ms": l.offset_ms,
                          "realigns": l.realigns, "latency_ms": l.latency_ms}),
        None => json!({"enabled": false, "start_stop": ctl.link_start_stop()}),
    }
}

fn engine_schema(ctl: &mut Controller, c: &Call) -> Routed {
    let view = c.view;
    let mode = match c.msg.args.first() {
        None => "json".to_string(),
        Some(a) => text(a)?.trim().to_ascii_lowercase(),
    };
    let voices = ctl.voices().min(MAX_VOICES);
    let schema = schema::schema_json(voices, view.unknown, view.unknown_total);
    match mode.as_str() {
        "json" | "" => Ok(Outcome::Reply(vec![OscType::String(schema.to_string())])),
        // `chronusctl.py schema` sends "stdout": Music Chronus printed the schema on its
        // console. The sender gets it too, as for json.
        "stdout" => {
            let json = serde_json::to_string_pretty(&schema).map_err(|e| e.to_string())?;
            ctl.push_notice(Notice::SchemaPrinted { json });
            Ok(Outcome::Reply(vec![OscType::String(schema.to_string())]))
        }
        "file" => {
            let name = format!(
                "chronus_schema_{}.json",
                chrono::Local::now().format("%Y%m%d_%H%M%S")
            );
            let mut body = serde_json::to_string_pretty(&schema).map_err(|e| e.to_string())?;
            body.push('\n');
            let path = write_new_file(ctl, Path::new(&name), body.as_bytes())?;
            let path = std::env::current_dir()
                .map(|d| d.join(&path))
                .unwrap_or(path);
            Ok(Outcome::Reply(vec![OscType::String(
                path.display().to_string(),
            )]))
        }
        other => Err(format!("{:?} is not json, stdout or file", clip(other))),
    }
}

/// Writes `body` to a new file at `path` (or the first free numbered name beside it; never
/// over an existing file, never among the songs); returns where it went.
fn write_new_file(ctl: &Controller, path: &Path, body: &[u8]) -> Result<PathBuf, String> {
    use std::io::Write;
    ctl.store()
        .check_output_path(path)
        .map_err(|e| e.to_string())?;
    let (mut file, path) = create_new_file(path).map_err(|e| e.to_string())?;
    if let Err(e) = file.write_all(body).and_then(|()| file.sync_all()) {
        let _ = std::fs::remove_file(&path);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(path)
}

fn chain_set(ctl: &mut Controller, c: &Call) -> Routed {
    let name = text_arg(c.msg, 0, "a chain name")?;
    let entries = text_arg(c.msg, 1, "the entries, like \"[3 x4, 11 x1]\"")?;
    let looping = match c.msg.args.get(2) {
        Some(a) => flag(a, &["loop"], &["stop"]).map_err(|e| format!("argument 3: {e}"))?,
        None => true,
    };
    ack(ctl.apply(Command::ChainSet {
        name,
        entries,
        looping,
    }))
}

fn chain_start(ctl: &mut Controller, c: &Call) -> Routed {
    let name = match c.msg.args.first() {
        Some(a) => Some(text(a).map_err(|e| format!("a chain name: {e}"))?),
        None => None,
    };
    ack(ctl.apply(Command::ChainStart(name)))
}

fn chain_status(ctl: &Controller) -> Outcome {
    let running = ctl
        .chain_view()
        .map_or_else(|| "no chain running".to_string(), |v| v.label());
    let edited = ctl.chain().map(|c| c.to_string()).unwrap_or_default();
    Outcome::Reply(vec![OscType::String(running), OscType::String(edited)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::registry::MAX_VOICES;

    #[test]
    fn every_address_a_route_lists_leads_back_to_that_route() {
        for route in ROUTES {
            for addr in route.addresses(MAX_VOICES) {
                let (found, _) = find(&addr).unwrap_or_else(|| panic!("{addr} is not found"));
                assert_eq!(found.address, route.address, "{addr}");
            }
        }
        assert_eq!(
            find("/mod/voice1/freq").map(|(_, t)| t),
            Some("voice1/freq")
        );
        assert!(find("/mod/").is_none());
        assert!(find("/seq/startx").is_none());
    }
}
