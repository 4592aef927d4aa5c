//! OSC over real UDP on 127.0.0.1: every route against a real controller and engine, replies
//! and errors to the sender, robustness against garbage, a parameter flood in a headless
//! process, `chronus ctl`, and two headless instances playing bar-aligned (leader/follower).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{Live, Rng, Setup};
use chronus::control::{Command, Level, Notice, Service};
use chronus::model::registry::{
    MAX_VOICES, ParamId, TRACK_FIELDS, acid, delay, resolve_osc_param, track, voice,
};
use chronus::model::slot::{Slot, Track};
use chronus::sources::osc::{
    ClockMode, OscArgs, OscServer, ROUTES, RouteGroup, decode, registered_routes, unix_from_ntp,
};
use chronus::store::{SlotNumber, Store};
use rosc::{OscBundle, OscMessage, OscPacket, OscTime, OscType};
use serde_json::Value;

const RATE: f32 = 48_000.0;
const VOICES: usize = 8;
const BLOCK: usize = 128;

fn s(v: &str) -> OscType {
    OscType::String(v.to_string())
}

fn encode(p: &OscPacket) -> Vec<u8> {
    rosc::encoder::encode(p).unwrap()
}

fn msg(addr: &str, args: Vec<OscType>) -> OscPacket {
    OscPacket::Message(OscMessage {
        addr: addr.to_string(),
        args,
    })
}

fn flatten(p: OscPacket, out: &mut Vec<OscMessage>) {
    match p {
        OscPacket::Message(m) => out.push(m),
        OscPacket::Bundle(b) => b.content.into_iter().for_each(|c| flatten(c, out)),
    }
}

/// A controller on a real engine (rendered here, no sound card), an OSC server on an
/// ephemeral port, and a client socket.
struct Rig {
    live: Live,
    server: OscServer,
    client: UdpSocket,
    /// Every beat so far: bar, beat, sample, and when it sounds by the clock of its turn.
    beats: Vec<(u64, u8, u64, f64)>,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(|s| s)
    }

    fn with(setup: impl FnOnce(OscServer) -> OscServer) -> Rig {
        Rig::serving(setup(
            OscServer::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
        ))
    }

    fn serving(server: OscServer) -> Rig {
        let live = Live::start(Setup {
            rate: RATE as u32,
            voices: VOICES as u8,
            period: BLOCK,
            ..Setup::default()
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_nonblocking(true).unwrap();
        Rig {
            live,
            server,
            client,
            beats: Vec::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn send_packet(&self, p: &OscPacket) {
        self.client.send_to(&encode(p), self.addr()).unwrap();
    }

    /// One control-loop turn: the server drains its socket, the engine renders a block, the
    /// controller reads its events and the server observes the notices.
    fn turn(&mut self) -> Vec<Notice> {
        let notices = self.live.turn_with(true, &mut [&mut self.server]);
        // The sample → time mapping moves with every block rendered (faster than real time
        // here), so a beat's time is taken in the turn that reported it, as the server does.
        for n in &notices {
            if let Notice::Beat { bar, beat, sample } = *n {
                self.beats
                    .push((bar, beat, sample, self.live.ctl().sample_time(sample)));
            }
        }
        notices
    }

    fn render_seconds(&mut self, seconds: f64) -> Vec<Notice> {
        let blocks = (seconds * RATE as f64 / BLOCK as f64).ceil() as usize;
        let mut all = Vec::new();
        for _ in 0..blocks {
            all.extend(self.turn());
        }
        all
    }

    /// Everything that came back to the client so far.
    fn received(&self) -> Vec<OscMessage> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = self.client.recv(&mut buf) {
            flatten(decode(&buf[..n]).unwrap(), &mut out);
        }
        out
    }

    /// Sends one packet, waits until the server handled it, returns what came back.
    fn ask_packet(&mut self, p: &OscPacket) -> Vec<OscMessage> {
        let before = self.server.stats().datagrams;
        self.send_packet(p);
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.server.stats().datagrams == before {
            assert!(
                Instant::now() < deadline,
                "the server never got the datagram"
            );
            self.turn();
        }
        self.turn();
        if self.live.ctl().disk_busy() > 0 {
            // A save answers once the disk thread has written it.
            assert!(self.live.ctl_mut().settle_disk(Duration::from_secs(20)));
            self.turn();
        }
        self.received()
    }

    fn ask(&mut self, addr: &str, args: Vec<OscType>) -> Vec<OscMessage> {
        self.ask_packet(&msg(addr, args))
    }

    /// The `/reply` arguments for `addr` (panics when an `/error` or nothing came).
    fn query(&mut self, addr: &str, args: Vec<OscType>) -> Vec<OscType> {
        let got = self.ask(addr, args);
        reply_for(&got, addr).unwrap_or_else(|| panic!("no /reply for {addr}: {got:?}"))
    }

    /// The `/error` text for `addr` (panics when none came).
    fn refused(&mut self, addr: &str, args: Vec<OscType>) -> String {
        let got = self.ask(addr, args);
        error_for(&got, addr).unwrap_or_else(|| panic!("no /error for {addr}: {got:?}"))
    }

    fn param(&self, id: ParamId) -> f64 {
        self.live.ctl().song().params.get(id)
    }

    fn track(&self, name: &str) -> &Track {
        self.live
            .ctl()
            .song()
            .sequencer
            .tracks
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no track {name}"))
    }

    /// Writes a slot file as another program would, and has the controller read it (as the
    /// slot watcher of a headless session would).
    fn save_slot(&mut self, n: u8, slot: &Slot) {
        let n = SlotNumber::new(n).unwrap();
        self.live.ctl().store().save(n, slot).unwrap();
        self.live.apply(Command::ReadSlotFile(n));
    }
}

fn reply_for(got: &[OscMessage], addr: &str) -> Option<Vec<OscType>> {
    got.iter()
        .find(|m| m.addr == "/reply" && m.args.first() == Some(&s(addr)))
        .map(|m| m.args[1..].to_vec())
}

fn warning_for(got: &[OscMessage], addr: &str) -> String {
    got.iter()
        .find(|m| m.addr == "/warning" && m.args.first() == Some(&s(addr)))
        .map(|m| text_of(&m.args, 1))
        .unwrap_or_else(|| panic!("no /warning for {addr}: {got:?}"))
}

fn error_for(got: &[OscMessage], addr: &str) -> Option<String> {
    got.iter()
        .find(|m| m.addr == "/error" && m.args.first() == Some(&s(addr)))
        .map(|m| match &m.args[1] {
            OscType::String(t) => t.clone(),
            other => panic!("error text is {other:?}"),
        })
}

fn text_of(args: &[OscType], i: usize) -> String {
    match &args[i] {
        OscType::String(t) => t.clone(),
        other => panic!("argument {i} is {other:?}"),
    }
}

fn song(name: &str, bpm: f64, tracks: &[(&str, &str, &str)]) -> Slot {
    let mut slot = Slot::default();
    slot.metadata.name = name.to_string();
    slot.sequencer.bpm = bpm;
    slot.sequencer.tracks = tracks.iter().map(|(n, v, p)| Track::new(n, v, p)).collect();
    slot
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// A voice past the running ones (`/mod/voice9/…` with 8 voices): a known address shape that is
/// refused for the voice, not listed and not "unknown".
fn names_a_missing_voice(addr: &str) -> Option<String> {
    let n: usize = addr
        .split('/')
        .find_map(|part| part.strip_prefix("voice"))?
        .parse()
        .ok()?;
    (n > VOICES).then(|| format!("voice{n}"))
}

#[test]
fn the_schema_lists_exactly_the_addresses_the_dispatcher_accepts() {
    let mut rig = Rig::new();
    let reply = rig.query("/engine/schema", vec![]);
    let schema: Value = serde_json::from_str(&text_of(&reply, 0)).unwrap();
    let listed: Vec<String> = schema["registered_routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, registered_routes(VOICES));
    let table = schema["routes"].as_array().unwrap();
    assert_eq!(
        table.len(),
        ROUTES.len(),
        "the schema lists the route table"
    );
    // Every listed address is accepted: answered, refused for its arguments, or (the clock
    // without --clock follow) taken silently, never "unknown".
    for addr in &listed {
        let got = rig.ask(addr, vec![]);
        let e = error_for(&got, addr).unwrap_or_default();
        assert!(!e.contains("unknown address"), "{addr}: {e}");
    }
    // A parameter or gate sent without a value is taken and ignored (Music Chronus's way),
    // and counted as such; nothing else is.
    assert!(
        rig.server
            .unknown_routes()
            .keys()
            .all(|k| k.starts_with("/mod/") || k.starts_with("/gate/")),
        "{:?}",
        rig.server.unknown_routes()
    );
    // Everything else is unknown: typos of every listed address, the addresses of voices that
    // do not run (refused naming the voice), bare prefixes, and what Chronus only sends.
    let mut probes: Vec<String> = registered_routes(MAX_VOICES);
    for addr in &listed {
        probes.push(format!("{addr}x"));
        probes.push(format!("{addr}/x"));
        probes.push(addr[..addr.len() - 1].to_string());
    }
    probes.extend(["/mod/", "/gate/", "/gate/voice0", "/seq", "/mod/voice1"].map(String::from));
    // Each once: a warning goes once to a sender.
    probes.sort();
    probes.dedup();
    for addr in probes.iter().filter(|p| !listed.contains(p)) {
        let got = rig.ask(addr, vec![OscType::Float(0.0)]);
        // Below /mod/ and /gate/ Music Chronus took every address: ignored, with a warning.
        if (addr.starts_with("/mod/") || addr.starts_with("/gate/"))
            && error_for(&got, addr).is_none()
        {
            assert!(
                warning_for(&got, addr).ends_with("nothing changed"),
                "{addr}: {got:?}"
            );
            continue;
        }
        let e = error_for(&got, addr).unwrap_or_else(|| panic!("{addr}: no error, {got:?}"));
        match names_a_missing_voice(addr) {
            Some(voice) if !e.contains("unknown address") => assert!(e.contains(&voice), "{e}"),
            _ => assert!(e.contains("unknown address"), "{addr} is accepted: {e}"),
        }
    }
    for route in ROUTES.iter().filter(|r| r.group == RouteGroup::Ignored) {
        assert!(!listed.contains(&route.address.to_string()));
        assert!(
            rig.ask(route.address, vec![]).is_empty(),
            "{}",
            route.address
        );
    }
}

#[test]
fn every_mod_route_sets_its_registry_parameter_with_any_numeric_type() {
    let mut rig = Rig::new();
    let routes: Vec<String> = registered_routes(VOICES)
        .into_iter()
        .filter(|r| r.starts_with("/mod/"))
        .collect();
    assert_eq!(routes.len(), VOICES * 12 + 24 + 7);
    for (i, route) in routes.iter().enumerate() {
        let id = resolve_osc_param(&route["/mod/".len()..]).unwrap();
        let spec = id.spec();
        // A value 3/7 of the way up the range, sent as each numeric type in turn.
        let v = spec.min + (spec.max - spec.min) * 3.0 / 7.0;
        let arg = match i % 5 {
            0 => OscType::Float(v as f32),
            1 => OscType::Double(v),
            2 => s(&format!("{v}")),
            3 => OscType::Int(v.round() as i32),
            _ => OscType::Long(v.round() as i64),
        };
        let sent = match i % 5 {
            // A float stands for the decimal it prints as (issue 13: no float noise).
            0 => (v as f32).to_string().parse::<f64>().unwrap(),
            // An edit keeps 12 significant digits, so sums of steps save as their decimal.
            1 | 2 => chronus::model::registry::clean(v, 12),
            _ => v.round(),
        };
        let got = rig.ask(route, vec![arg]);
        if route.ends_with("/osc/type") && sent.fract() != 0.0 {
            // A fractional waveform plays as Music Chronus played it (cut), and says so.
            assert!(
                warning_for(&got, route).contains("not a whole number"),
                "{got:?}"
            );
            assert_eq!(rig.param(id), sent.trunc(), "{route}");
            continue;
        }
        assert!(
            got.is_empty(),
            "{route}: setters answer nothing, got {got:?}"
        );
        assert_eq!(rig.param(id), spec.clamp(sent), "{route}");
    }
    // Clamping to the registry range; a waveform is read as Music Chronus read it (cut).
    rig.ask("/mod/voice4/osc/type", vec![OscType::Float(2.6)]);
    assert_eq!(rig.param(ParamId::voice(4, voice::WAVEFORM)), 2.0);
    rig.ask("/mod/voice1/freq", vec![OscType::Int(9000)]);
    assert_eq!(rig.param(ParamId::voice(1, voice::FREQ)), 5000.0);
    rig.ask("/mod/acid1/res", vec![OscType::Float(-4.0)]);
    assert_eq!(rig.param(ParamId::acid(acid::RES)), 0.0);
    // Legacy aliases reach voice1.
    rig.ask("/mod/sine1/freq", vec![OscType::Float(220.0)]);
    assert_eq!(rig.param(ParamId::voice(1, voice::FREQ)), 220.0);
    rig.ask("/mod/filter1/q", vec![s("4.5")]);
    assert_eq!(rig.param(ParamId::voice(1, voice::FILTER_Q)), 4.5);
    rig.ask("/mod/adsr1/release", vec![OscType::Float(1.25)]);
    assert_eq!(rig.param(ParamId::voice(1, voice::RELEASE)), 1.25);
    rig.ask("/mod/voice2/slide_time", vec![OscType::Float(0.4)]);
    assert!((rig.param(ParamId::voice(2, voice::SLIDE_TIME)) - 0.4).abs() < 1e-6);
    // Refusals name the problem; nothing changes.
    let before = rig.live.ctl().song().clone();
    // A voice that does not run, or no value: ignored as Music Chronus ignored them.
    let got = rig.ask("/mod/voice9/freq", vec![OscType::Float(300.0)]);
    assert!(
        warning_for(&got, "/mod/voice9/freq").contains("voice9 does not exist: 8 voices run"),
        "{got:?}"
    );
    let e = rig.refused("/mod/voice1/freq", vec![s("loud")]);
    assert!(e.contains("\"loud\" is not a number"), "{e}");
    let got = rig.ask("/mod/voice1/freq", vec![]);
    assert!(
        warning_for(&got, "/mod/voice1/freq").contains("without a value"),
        "{got:?}"
    );
    let e = rig.refused("/mod/voice1/freq", vec![OscType::Blob(vec![1, 2, 3])]);
    assert!(e.contains("blob"), "{e}");
    let e = rig.refused("/mod/voice1/freq", vec![OscType::Float(f32::NAN)]);
    assert!(e.contains("finite"), "{e}");
    let got = rig.ask("/mod/voice1/nope", vec![OscType::Float(1.0)]);
    assert!(
        warning_for(&got, "/mod/voice1/nope").contains("no such parameter"),
        "{got:?}"
    );
    assert_eq!(*rig.live.ctl().song(), before);
    assert_eq!(
        rig.server.unknown_routes().get("/mod/voice1/nope"),
        Some(&1)
    );
}

#[test]
fn gate_routes_open_the_voice_they_name() {
    // (address, voice index 0-based)
    let cases = [
        ("/gate/voice3", 2),
        ("/gate/voice8", 7),
        ("/gate/acid1", 1),
        ("/gate/adsr1", 0),
        ("/gate/1", 0),
    ];
    for (addr, voice_index) in cases {
        let mut rig = Rig::new();
        let got = rig.ask(addr, vec![OscType::Float(1.0)]);
        assert!(got.is_empty(), "{addr}: {got:?}");
        rig.render_seconds(0.15);
        let levels = rig.live.ctl().status().levels;
        for (i, l) in levels.iter().enumerate().take(VOICES) {
            if i == voice_index {
                assert!(*l > 0.02, "{addr}: voice{} level {l}", i + 1);
            } else {
                assert_eq!(*l, 0.0, "{addr}: voice{} should be silent", i + 1);
            }
        }
        // v ≤ 0 releases: after the release (0.5 s default) the voice is silent again.
        rig.ask(addr, vec![OscType::Int(0)]);
        rig.render_seconds(0.8);
        assert!(
            rig.live.ctl().status().levels[voice_index] < 1e-3,
            "{addr}: released level {}",
            rig.live.ctl().status().levels[voice_index]
        );
    }
    // Music Chronus took every /gate/ address and ignored what had no voice: a warning,
    // not an error (see compat.rs).
    let mut rig = Rig::new();
    let got = rig.ask("/gate/voice12", vec![OscType::Int(1)]);
    assert!(
        warning_for(&got, "/gate/voice12").contains("voice12 does not exist"),
        "{got:?}"
    );
    let got = rig.ask("/gate/voice1", vec![]);
    assert!(
        warning_for(&got, "/gate/voice1").contains("without a value"),
        "{got:?}"
    );
    let got = rig.ask("/gate/reverb1", vec![OscType::Int(1)]);
    assert!(
        warning_for(&got, "/gate/reverb1").contains("no such voice"),
        "{got:?}"
    );
    let e = rig.refused("/gate/voice1", vec![s("loud")]);
    assert!(e.contains("gate value"), "{e}");
}

#[test]
fn seq_add_takes_the_originals_positional_and_key_value_forms() {
    let mut rig = Rig::new();
    // Positional: track voice pattern base_freq filter_freq notes.
    let r = rig.query(
        "/seq/add",
        vec![
            s("bass"),
            s("voice2"),
            s("x.x.X..."),
            OscType::Float(55.0),
            OscType::Int(800),
            s("C2, E2 G2"),
        ],
    );
    assert_eq!(text_of(&r, 0), "track bass on voice2 pattern x.x.X...");
    let t = rig.track("bass");
    assert_eq!(
        (t.voice_id.as_str(), t.pattern.as_str()),
        ("voice2", "x.x.X...")
    );
    assert_eq!((t.base_freq, t.filter_freq), (55.0, 800.0));
    assert_eq!(t.notes, vec![65.41, 82.41, 98.0]);
    // key=value for every numeric track field, notes by MIDI number, voice given as a number.
    let r = rig.query(
        "/seq/add",
        vec![
            s("hat"),
            OscType::Int(3),
            s("x..."),
            s("gate_frac=0.1"),
            s("reverb_send=0.3"),
            s("delay_send=0.25"),
            s("base_amp=0.5"),
            s("accent_boost=900"),
            s("filter_freq=6000"),
            s("base_freq=8000"),
            s("notes=60,72"),
        ],
    );
    assert!(text_of(&r, 0).contains("voice3"));
    let t = rig.track("hat");
    assert_eq!(t.voice_id, "voice3");
    assert_eq!(t.number(track::GATE_FRAC), 0.1);
    assert_eq!(t.number(track::REVERB_SEND), 0.3);
    assert_eq!(t.number(track::DELAY_SEND), 0.25);
    assert_eq!(t.number(track::BASE_AMP), 0.5);
    assert_eq!(t.number(track::ACCENT_BOOST), 900.0);
    assert_eq!(t.number(track::FILTER_FREQ), 6000.0);
    // Clamped to the registry range (base_freq 20–5000).
    assert_eq!(t.number(track::BASE_FREQ), 5000.0);
    assert_eq!(t.notes, vec![261.63, 523.25]);
    // Mixed: positional base_freq then key=value.
    rig.query(
        "/seq/add",
        vec![
            s("lead"),
            s("voice4"),
            s("X"),
            s("110"),
            s("gate_frac=0.75"),
        ],
    );
    assert_eq!(rig.track("lead").base_freq, 110.0);
    assert_eq!(rig.track("lead").gate_frac, 0.75);
    // The same name replaces the track in place.
    rig.query("/seq/add", vec![s("bass"), s("voice5"), s("X...")]);
    let names: Vec<&str> = rig
        .live
        .ctl()
        .song()
        .sequencer
        .tracks
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["bass", "hat", "lead"]);
    assert_eq!(rig.track("bass").voice_id, "voice5");
    assert!(rig.track("bass").notes.is_empty());
    // Refusals leave the song alone.
    let before = rig.live.ctl().song().clone();
    let e = rig.refused("/seq/add", vec![s("x"), s("voice1"), s("x"), s("wobble=3")]);
    assert!(e.contains("unknown track field \"wobble\""), "{e}");
    assert!(e.contains(TRACK_FIELDS[track::GATE_FRAC].key), "{e}");
    let e = rig.refused(
        "/seq/add",
        vec![s("x"), s("voice1"), s("x"), s("gate_frac=lots")],
    );
    assert!(e.contains("gate_frac=\"lots\" is not a number"), "{e}");
    // A note that is no note is skipped with a warning, as Music Chronus skipped it.
    let got = rig.ask("/seq/add", vec![s("x"), s("voice1"), s("x"), s("notes=H9")]);
    assert!(
        warning_for(&got, "/seq/add").contains("\"H9\" is not a note"),
        "{got:?}"
    );
    rig.query("/seq/remove", vec![s("x")]);
    let e = rig.refused("/seq/add", vec![s("x"), s("drums"), s("x")]);
    assert!(e.contains("not a voice"), "{e}");
    let e = rig.refused("/seq/add", vec![s("x"), s("voice1")]);
    assert!(e.contains("needs a pattern"), "{e}");
    let e = rig.refused(
        "/seq/add",
        vec![
            s("x"),
            s("voice1"),
            s("x"),
            s("1"),
            s("2"),
            s("C4"),
            s("extra"),
        ],
    );
    assert!(e.contains("argument 7"), "{e}");
    assert_eq!(*rig.live.ctl().song(), before);
}

#[test]
fn seq_routes_change_the_sequencer() {
    let mut rig = Rig::new();
    rig.query("/seq/add", vec![s("kick"), s("voice1"), s("X...")]);
    rig.query("/seq/add", vec![s("bass"), s("voice2"), s("x.x.")]);
    // bpm and swing, clamped.
    assert_eq!(
        text_of(&rig.query("/seq/bpm", vec![OscType::Int(140)]), 0),
        "BPM 140.0"
    );
    assert_eq!(rig.live.ctl().song().sequencer.bpm, 140.0);
    rig.query("/seq/bpm", vec![s("500")]);
    assert_eq!(rig.live.ctl().song().sequencer.bpm, 300.0);
    rig.query("/seq/bpm", vec![OscType::Double(96.5)]);
    assert_eq!(rig.live.ctl().song().sequencer.bpm, 96.5);
    rig.query("/seq/swing", vec![OscType::Float(0.25)]);
    assert_eq!(rig.live.ctl().song().sequencer.swing, 0.25);
    rig.query("/seq/swing", vec![OscType::Float(0.9)]);
    assert_eq!(
        rig.live.ctl().song().sequencer.swing,
        0.668,
        "triplet feel is the top (issue 13)"
    );
    assert!(
        rig.refused("/seq/bpm", vec![s("fast")])
            .contains("\"fast\"")
    );
    // update pattern / notes.
    rig.query("/seq/update/pattern", vec![s("kick"), s("X.x.X.x.")]);
    assert_eq!(rig.track("kick").pattern, "X.x.X.x.");
    rig.query("/seq/update/notes", vec![s("bass"), s("A1 C2")]);
    assert_eq!(rig.track("bass").notes, vec![55.0, 65.41]);
    // One argument per note works too, and the note index is reset.
    let mut bass = rig.live.ctl().song().sequencer.tracks[1].clone();
    bass.note_index = 3;
    rig.live
        .ctl_mut()
        .apply(Command::AddTrack(Box::new(bass)))
        .unwrap();
    assert_eq!(rig.track("bass").note_index, 3);
    rig.query(
        "/seq/update/notes",
        vec![s("bass"), s("A1"), OscType::Int(40)],
    );
    assert_eq!(rig.track("bass").notes, vec![55.0, 82.41]);
    assert_eq!(rig.track("bass").note_index, 0);
    assert!(
        rig.refused("/seq/update/pattern", vec![s("nope"), s("x")])
            .contains("no track named")
    );
    // start / status / stop.
    rig.query("/seq/start", vec![]);
    rig.render_seconds(1.0);
    assert!(rig.live.ctl().status().running);
    let step = rig.live.ctl().status().global_step;
    assert!(step >= 5, "steps after 1 s at 96.5 BPM: {step}");
    let st = rig.query("/seq/status", vec![]);
    assert_eq!(st[0], OscType::Float(96.5));
    assert_eq!(st[1], OscType::Float(0.668));
    assert_eq!(st[2], OscType::Int(1));
    assert!(matches!(st[3], OscType::Int(n) if n as u64 >= step));
    let tracks: Value = serde_json::from_str(&text_of(&st, 4)).unwrap();
    assert_eq!(tracks[0]["name"], "kick");
    assert_eq!(tracks[1]["notes"][1], 82.41);
    // Start while playing changes nothing (Music Chronus's way); restart begins again at
    // step 0 (96.5 BPM: a step is 155 ms).
    rig.query("/seq/start", vec![]);
    assert!(rig.live.ctl().status().global_step >= step);
    rig.query("/seq/restart", vec![]);
    rig.render_seconds(0.05);
    assert!(rig.live.ctl().status().running);
    assert_eq!(rig.live.ctl().status().global_step, 0);
    rig.query("/seq/stop", vec![]);
    rig.render_seconds(0.05);
    assert!(!rig.live.ctl().status().running);
    // remove and clear.
    rig.query("/seq/remove", vec![s("kick")]);
    assert_eq!(rig.live.ctl().song().sequencer.tracks.len(), 1);
    assert!(
        rig.refused("/seq/remove", vec![s("kick")])
            .contains("no track named \"kick\"")
    );
    rig.query("/seq/clear", vec![]);
    assert!(rig.live.ctl().song().sequencer.tracks.is_empty());
}

#[test]
fn pattern_routes_save_load_and_list_slots() {
    let mut rig = Rig::new();
    rig.save_slot(3, &song("three", 100.0, &[("pad", "voice3", "x...")]));
    rig.query("/seq/add", vec![s("kick"), s("voice1"), s("X...x...")]);
    rig.ask("/mod/voice1/filter/freq", vec![OscType::Float(777.0)]);
    // /pattern/save 5 writes a valid slot 5 holding the song.
    let r = rig.query("/pattern/save", vec![OscType::Int(5)]);
    assert!(text_of(&r, 0).contains("slot_005.json"), "{r:?}");
    let loaded = rig
        .live
        .ctl()
        .store()
        .load(SlotNumber::new(5).unwrap())
        .unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.slot.sequencer.tracks,
        rig.live.ctl().song().sequencer.tracks
    );
    assert_eq!(
        loaded
            .slot
            .params
            .get(ParamId::voice(1, voice::FILTER_FREQ)),
        777.0
    );
    // "3.0" as text, as the original's clients send it; a float works too.
    rig.query("/pattern/save", vec![s("7.0")]);
    assert!(
        rig.live
            .ctl()
            .store()
            .slot_path(SlotNumber::new(7).unwrap())
            .exists()
    );
    rig.query("/pattern/save", vec![OscType::Float(8.0)]);
    assert!(
        rig.live
            .ctl()
            .store()
            .slot_path(SlotNumber::new(8).unwrap())
            .exists()
    );
    for (bad, why) in [
        (OscType::Int(0), "out of range"),
        (OscType::Int(129), "out of range"),
        (s("3.5"), "not a whole number"),
        (s("three"), "not a number"),
    ] {
        let e = rig.refused("/pattern/save", vec![bad.clone()]);
        assert!(e.contains(why), "{bad:?}: {e}");
    }
    // Load: bar-aligned while playing, at once with 1/true/immediate/now.
    rig.query("/seq/start", vec![]);
    rig.render_seconds(0.2);
    let r = rig.query("/pattern/load", vec![s("3.0")]);
    assert!(text_of(&r, 0).contains("queued"), "{r:?}");
    rig.render_seconds(0.05);
    assert_eq!(
        rig.live.ctl().status().queued.map(|q| q.0),
        Some(SlotNumber::new(3).unwrap())
    );
    for now in [
        OscType::Int(1),
        s("true"),
        s("immediate"),
        s("now"),
        OscType::Bool(true),
    ] {
        let r = rig.query("/pattern/load", vec![OscType::Int(5), now.clone()]);
        assert!(text_of(&r, 0).contains("loaded"), "{now:?}: {r:?}");
        rig.render_seconds(0.02);
        assert_eq!(
            rig.live.ctl().status().playing_slot,
            Some(SlotNumber::new(5).unwrap()),
            "{now:?}"
        );
        assert_eq!(rig.live.ctl().status().queued, None, "{now:?}");
        rig.query("/pattern/load", vec![OscType::Int(3)]);
        rig.render_seconds(0.02);
        assert_eq!(
            rig.live.ctl().status().queued.map(|q| q.0),
            Some(SlotNumber::new(3).unwrap()),
            "{now:?}"
        );
    }
    let e = rig.refused("/pattern/load", vec![OscType::Int(9)]);
    assert!(e.contains("slot 9 is empty"), "{e}");
    // List: slot, name, modification time per used slot.
    let list = rig.query("/pattern/list", vec![]);
    let slots: Vec<&OscType> = list.iter().step_by(3).collect();
    assert_eq!(
        slots,
        [
            &OscType::Int(3),
            &OscType::Int(5),
            &OscType::Int(7),
            &OscType::Int(8)
        ]
    );
    assert_eq!(list[1], s("three"));
    let modified = text_of(&list, 2);
    assert_eq!(modified.len(), "2025-01-01 10:00:00".len(), "{modified}");
}

#[test]
fn engine_routes_answer_and_act() {
    let mut rig = Rig::new();
    rig.query("/seq/add", vec![s("kick"), s("voice1"), s("X...")]);
    rig.query("/seq/start", vec![]);
    rig.render_seconds(0.3);
    // stop mutes and stops; start unmutes.
    let r = rig.query("/engine/stop", vec![]);
    assert_eq!(text_of(&r, 0), "audio off");
    rig.render_seconds(0.05);
    assert!(rig.live.ctl().status().muted);
    assert!(!rig.live.ctl().status().running);
    assert!(rig.live.last_block.iter().all(|&x| x == 0.0));
    rig.query("/engine/start", vec![]);
    rig.render_seconds(0.02);
    assert!(!rig.live.ctl().status().muted);
    // status.
    rig.query("/seq/bpm", vec![OscType::Int(128)]);
    let st: Value =
        serde_json::from_str(&text_of(&rig.query("/engine/status", vec![]), 0)).unwrap();
    assert_eq!(st["audio"], "on");
    assert_eq!(st["voices"], 8);
    assert_eq!(st["bpm"], 128.0);
    assert_eq!(st["tracks"], 1);
    assert_eq!(st["clock"]["source"], "internal");
    assert_eq!(st["osc"]["listen"], rig.addr().to_string());
    assert!(st["osc"]["messages"].as_u64().unwrap() >= 6);
    // list: human-readable.
    let list = text_of(&rig.query("/engine/list", vec![]), 0);
    assert!(list.contains("voice1 … voice8"), "{list}");
    assert!(list.contains("adsr/attack"));
    assert!(list.contains("/pattern/load slot [immediate]"));
    // schema: JSON by default and with "json"; unknown routes listed with a warning.
    let schema: Value =
        serde_json::from_str(&text_of(&rig.query("/engine/schema", vec![]), 0)).unwrap();
    assert_eq!(schema["schema_version"], "1.0");
    assert!(schema.get("warning").is_none());
    assert_eq!(
        schema["modules"]["voice"]["params"]["filter/q"]["max"],
        10.0
    );
    assert!(
        rig.refused("/no/such/route", vec![OscType::Int(1)])
            .contains("unknown address")
    );
    rig.refused("/no/such/route", vec![]);
    let schema: Value =
        serde_json::from_str(&text_of(&rig.query("/engine/schema", vec![s("json")]), 0)).unwrap();
    assert_eq!(
        schema["unknown_routes"],
        serde_json::json!(["/no/such/route"])
    );
    assert!(schema["warning"].as_str().unwrap().contains("2 message(s)"));
    assert!(
        rig.refused("/engine/schema", vec![s("xml")])
            .contains("not json, stdout or file")
    );
    // schema file: chronus_schema_YYYYMMDD_HHMMSS.json in the current directory.
    let r = rig.query("/engine/schema", vec![s("file")]);
    let path = std::path::PathBuf::from(text_of(&r, 0));
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    let written = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    assert!(
        name.starts_with("chronus_schema_") && name.ends_with(".json") && name.len() == 35,
        "{name}"
    );
    let written: Value = serde_json::from_str(&written.unwrap()).unwrap();
    assert_eq!(written["engine"], "chronus");
    // record start / status / stop.
    let r = rig.query("/engine/record/start", vec![s("take1.wav")]);
    assert!(text_of(&r, 0).contains("take1.wav"), "{r:?}");
    let st = rig.query("/engine/record/status", vec![]);
    assert_eq!(st[0], OscType::Int(1));
    assert!(text_of(&st, 1).ends_with("take1.wav"));
    rig.render_seconds(0.5);
    let r = rig.query("/engine/record/stop", vec![]);
    assert!(text_of(&r, 0).starts_with("recorded"), "{r:?}");
    let wav = hound::WavReader::open(rig.live.dir.path().join("recordings/take1.wav")).unwrap();
    assert_eq!(wav.spec().sample_rate, 48_000);
    assert!(wav.duration() >= 20_000, "{} frames", wav.duration());
    let st = rig.query("/engine/record/status", vec![]);
    assert_eq!(st[0], OscType::Int(0));
    assert!(
        rig.refused("/engine/record/stop", vec![])
            .contains("not recording")
    );
}

#[test]
fn replies_go_to_each_sender_and_bundles_are_unpacked() {
    let mut rig = Rig::new();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let status = encode(&msg("/seq/status", vec![]));
    other.send_to(&status, rig.addr()).unwrap();
    // The other socket's question is handled first: the receive thread may hand the two
    // datagrams over in different turns, and the client's answer is awaited by its own.
    let deadline = Instant::now() + Duration::from_secs(2);
    while rig.server.stats().datagrams == 0 {
        assert!(Instant::now() < deadline, "the server never got the status");
        rig.turn();
    }
    let got = rig.ask("/seq/bpm", vec![OscType::Int(99)]);
    // The client got its own answer only…
    assert!(reply_for(&got, "/seq/bpm").is_some());
    assert!(reply_for(&got, "/seq/status").is_none());
    // …and the other socket got the status.
    let mut buf = vec![0u8; 65_536];
    let n = other.recv(&mut buf).unwrap();
    let mut theirs = Vec::new();
    flatten(decode(&buf[..n]).unwrap(), &mut theirs);
    assert_eq!(theirs[0].addr, "/reply");
    assert_eq!(theirs[0].args[0], s("/seq/status"));
    // A bundle of several messages is handled message by message.
    let bundle = OscPacket::Bundle(OscBundle {
        timetag: OscTime {
            seconds: 0,
            fractional: 1,
        },
        content: vec![
            msg("/mod/voice2/amp", vec![OscType::Float(0.75)]),
            msg("/seq/swing", vec![OscType::Float(0.1)]),
            msg("/nope", vec![]),
        ],
    });
    let got = rig.ask_packet(&bundle);
    assert!((rig.param(ParamId::voice(2, voice::AMP)) - 0.75).abs() < 1e-6);
    // A 32-bit 0.1 is taken as the decimal it stands for (issue 13: files without float noise).
    assert_eq!(rig.live.ctl().song().sequencer.swing, 0.1);
    assert!(reply_for(&got, "/seq/swing").is_some());
    assert!(error_for(&got, "/nope").is_some());
    // What Chronus itself sends is not counted as unknown when it comes back.
    let got = rig.ask("/viz/levels", vec![OscType::Float(0.1)]);
    assert!(got.is_empty());
    assert!(rig.server.unknown_routes().get("/viz/levels").is_none());
}

#[test]
fn the_server_announces_itself_and_warns_when_it_listens_beyond_loopback() {
    let args = OscArgs {
        osc_bind: Some("0.0.0.0".parse().unwrap()),
        osc_port: 0,
        osc_out: vec!["127.0.0.1:9".into()],
        clock: ClockMode::Follow,
        ..OscArgs::default()
    };
    let mut rig = Rig::serving(OscServer::from_args(&args).unwrap());
    rig.server.poll(rig.live.ctl_mut());
    let messages: Vec<(Level, String)> = rig
        .live
        .ctl_mut()
        .drain_notices()
        .filter_map(|n| match n {
            Notice::Message(l, t) => Some((l, t)),
            _ => None,
        })
        .collect();
    let port = rig.addr().port();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0].0, Level::Info);
    assert_eq!(
        messages[0].1,
        format!(
            "OSC: listening on 0.0.0.0:{port}, sending to 127.0.0.1:9, following /chronus/clock"
        )
    );
    assert_eq!(messages[1].0, Level::Warning);
    assert!(
        messages[1].1.contains("anyone who can reach"),
        "{messages:?}"
    );
    let line = rig.server.status_line().unwrap();
    assert!(
        line.contains("clock follow: waiting for a leader"),
        "{line}"
    );
}

// ---------------------------------------------------------------------------------------------
// Out: visual data, the clock, slot changes
// ---------------------------------------------------------------------------------------------

#[test]
fn viz_clock_and_slot_changes_go_out() {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_nonblocking(true).unwrap();
    let to = sink.local_addr().unwrap();
    let mut rig = Rig::with(|s| s.with_outputs(vec![to]).unwrap());
    rig.save_slot(2, &song("two", 150.0, &[("kick", "voice1", "X...")]));
    rig.query("/pattern/load", vec![OscType::Int(2), s("now")]);
    rig.query("/seq/start", vec![]);
    // 150 BPM: a beat every 19 200 samples.
    rig.render_seconds(2.1);
    rig.query("/pattern/load", vec![OscType::Int(2)]);
    rig.render_seconds(0.05);
    let beats = rig.beats.clone();
    let mut buf = vec![0u8; 65_536];
    let mut clock = Vec::new();
    let mut by_addr: HashMap<String, Vec<OscMessage>> = HashMap::new();
    while let Ok(n) = sink.recv(&mut buf) {
        match decode(&buf[..n]).unwrap() {
            OscPacket::Bundle(b) => {
                let t = unix_from_ntp(b.timetag).unwrap();
                let mut inner = Vec::new();
                b.content.into_iter().for_each(|p| flatten(p, &mut inner));
                assert_eq!(inner.len(), 1);
                assert_eq!(inner[0].addr, "/chronus/clock");
                clock.push((t, inner.remove(0).args));
            }
            OscPacket::Message(m) => by_addr.entry(m.addr.clone()).or_default().push(m),
        }
    }
    // One bundle per beat, timetagged with when the beat sounds.
    assert!(beats.len() >= 5, "{beats:?}");
    assert_eq!(beats[0].2, beats[1].2 - 19_200);
    assert_eq!(clock.len(), beats.len());
    for ((bar, beat, _, time), (t, args)) in beats.iter().zip(&clock) {
        assert!((t - time).abs() < 1e-6, "timetag {t} vs beat time {time}");
        assert_eq!(
            args,
            &vec![
                OscType::Int(*bar as i32),
                OscType::Int(*beat as i32),
                OscType::Float(150.0)
            ]
        );
    }
    // Slot changes.
    assert_eq!(
        by_addr["/chronus/slot/playing"][0].args,
        vec![OscType::Int(2)]
    );
    let queued = &by_addr["/chronus/slot/queued"][0].args;
    assert_eq!(queued[0], OscType::Int(2));
    assert!(matches!(queued[1], OscType::Int(b) if b >= 1));
    // Visual data goes out at 10 Hz of wall-clock time: one level per voice, 8 bands. The
    // engine renders faster than real time here; the control loop turns every 2 ms.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1000) {
        rig.turn();
        std::thread::sleep(Duration::from_millis(2));
    }
    let (mut levels, mut spectrum) = (Vec::new(), Vec::new());
    while let Ok(n) = sink.recv(&mut buf) {
        if let OscPacket::Message(m) = decode(&buf[..n]).unwrap() {
            match m.addr.as_str() {
                "/viz/levels" => levels.push(m.args),
                "/viz/spectrum" => spectrum.push(m.args),
                _ => {}
            }
        }
    }
    assert!(
        (5..=11).contains(&levels.len()),
        "{} level messages in 1 s",
        levels.len()
    );
    assert_eq!(spectrum.len(), levels.len());
    assert!(levels.iter().all(|l| l.len() == VOICES));
    assert!(spectrum.iter().all(|b| b.len() == 8));
    assert!(
        levels
            .iter()
            .any(|l| matches!(l[0], OscType::Float(v) if v > 0.01)),
        "voice1 plays: {levels:?}"
    );
    assert!(
        levels
            .iter()
            .all(|l| l[1..].iter().all(|v| *v == OscType::Float(0.0)))
    );
}

// ---------------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------------

fn corpus() -> Vec<Vec<u8>> {
    let f = OscType::Float;
    let tt = OscTime {
        seconds: 3_900_000_000,
        fractional: 7,
    };
    let mut packets = vec![
        msg("/mod/voice1/freq", vec![f(330.0)]),
        msg("/mod/voice3/adsr/attack", vec![s("0.2")]),
        msg("/mod/acid1/cutoff", vec![OscType::Int(900)]),
        msg("/mod/delay1/time", vec![OscType::Double(0.3)]),
        msg("/mod/sine1/freq", vec![f(110.0)]),
        msg("/gate/voice2", vec![OscType::Int(1)]),
        msg("/gate/1", vec![OscType::Int(0)]),
        msg(
            "/seq/add",
            vec![
                s("kick"),
                s("voice1"),
                s("X..."),
                f(55.0),
                f(900.0),
                s("C2 E2"),
                s("gate_frac=0.2"),
            ],
        ),
        msg("/seq/update/pattern", vec![s("kick"), s("x.x.")]),
        msg("/seq/update/notes", vec![s("kick"), s("A1")]),
        msg("/seq/bpm", vec![f(133.0)]),
        msg("/seq/swing", vec![f(0.2)]),
        msg("/seq/start", vec![]),
        msg("/seq/status", vec![]),
        msg("/seq/remove", vec![s("kick")]),
        msg("/pattern/load", vec![s("3.0"), s("now")]),
        msg("/pattern/list", vec![]),
        msg("/engine/status", vec![]),
        msg("/engine/list", vec![]),
        msg("/engine/schema", vec![s("json")]),
        msg("/engine/record/status", vec![]),
        msg(
            "/chronus/clock",
            vec![OscType::Int(3), OscType::Int(1), f(120.0)],
        ),
        msg(
            "/nope/nothing",
            vec![OscType::Blob(vec![1, 2, 3]), OscType::Nil, OscType::Inf],
        ),
        OscPacket::Bundle(OscBundle {
            timetag: tt,
            content: vec![
                msg(
                    "/chronus/clock",
                    vec![OscType::Int(0), OscType::Int(0), f(90.0)],
                ),
                msg("/mod/voice4/amp", vec![f(0.1)]),
            ],
        }),
    ];
    // Nested bundles around a message.
    let mut nested = msg("/mod/voice2/filter/q", vec![f(3.0)]);
    for _ in 0..6 {
        nested = OscPacket::Bundle(OscBundle {
            timetag: tt,
            content: vec![nested.clone(), msg("/seq/status", vec![])],
        });
    }
    packets.push(nested);
    packets.iter().map(encode).collect()
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let base = &corpus[rng.below(corpus.len())];
    match rng.below(9) {
        // Random bytes of any length.
        0 => (0..rng.below(160)).map(|_| rng.next() as u8).collect(),
        // Truncated.
        1 => base[..rng.below(base.len())].to_vec(),
        // A few bytes flipped.
        2 => {
            let mut b = base.clone();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            b
        }
        // Type tags replaced with random (valid and invalid) tags.
        3 => {
            let mut b = base.clone();
            if let Some(comma) = b.iter().position(|&c| c == b',') {
                let tags = b",ifsbhdtTFNIcrm[]XZ";
                let mut i = comma + 1;
                while i < b.len() && b[i] != 0 {
                    b[i] = tags[rng.below(tags.len())];
                    i += 1;
                }
            }
            b
        }
        // Huge strings (address or argument).
        4 => {
            let big = "A".repeat(1000 + rng.below(60_000));
            if rng.below(2) == 0 {
                encode(&msg(
                    "/seq/add",
                    vec![s(&big), s("voice1"), s(&big), s(&big)],
                ))
            } else {
                encode(&msg(&format!("/mod/{big}"), vec![OscType::Float(1.0)]))
            }
        }
        // Bundles nested up to 40 deep, sometimes with lying element sizes.
        5 => {
            let mut b = base.clone();
            for _ in 0..1 + rng.below(40) {
                let mut outer = b"#bundle\0".to_vec();
                outer.extend_from_slice(&rng.next().to_be_bytes());
                let size = if rng.below(4) == 0 {
                    rng.next() as u32
                } else {
                    b.len() as u32
                };
                outer.extend_from_slice(&size.to_be_bytes());
                outer.extend_from_slice(&b);
                b = outer;
            }
            b
        }
        // Deeply nested arrays in the type tags.
        6 => {
            let depth = 1 + rng.below(3000);
            let mut m = b"/mod/voice1/freq\0\0\0\0,".to_vec();
            m.extend(std::iter::repeat_n(b'[', depth));
            m.push(b'f');
            m.extend(std::iter::repeat_n(b']', depth));
            m.push(0);
            while !m.len().is_multiple_of(4) {
                m.push(0);
            }
            m.extend_from_slice(&1.0f32.to_be_bytes());
            m
        }
        // Two packets glued together, or garbage appended.
        7 => {
            let mut b = base.clone();
            b.extend_from_slice(&corpus[rng.below(corpus.len())]);
            b
        }
        _ => {
            let mut b = base.clone();
            for _ in 0..4 * rng.below(8) {
                b.push(rng.next() as u8);
            }
            b
        }
    }
}

#[test]
fn garbage_never_panics_the_server_and_the_engine_keeps_playing() {
    let _one = HEAVY_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut rig = Rig::new();
    rig.save_slot(3, &song("three", 120.0, &[("pad", "voice3", "x...")]));
    rig.query("/seq/add", vec![s("kick"), s("voice1"), s("X...")]);
    rig.query("/seq/start", vec![]);
    let corpus = corpus();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    // 100 000 packets straight into decode + dispatch, rendering between batches.
    let mut answered = 0usize;
    for i in 0..100_000 {
        let p = mutate(&mut rng, &corpus);
        answered += rig.server.handle_datagram(rig.live.ctl_mut(), &p).len();
        if i % 200 == 0 {
            rig.turn();
            assert!(
                rig.live
                    .last_block
                    .iter()
                    .all(|x| x.is_finite() && x.abs() <= 1.0)
            );
        }
    }
    // 3 000 more through the real socket.
    for _ in 0..30 {
        for _ in 0..100 {
            let p = mutate(&mut rng, &corpus);
            let _ = rig.client.send_to(&p, rig.addr());
        }
        rig.turn();
        rig.received();
    }
    // The receive thread may still hold some (the kernel may have dropped others): handle
    // whatever arrives until the socket has been quiet a while, so a leftover cannot be taken
    // for the answer to the next question.
    let mut last = (rig.server.stats().received, Instant::now());
    while last.1.elapsed() < Duration::from_millis(200) {
        rig.turn();
        rig.received();
        let now = rig.server.stats().received;
        if now != last.0 {
            last = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let stats = rig.server.stats().clone();
    eprintln!(
        "fuzz: {:?} for 103 000 packets: {stats:?}, {answered} direct answers",
        started.elapsed()
    );
    assert!(stats.undecodable > 30_000, "{stats:?}");
    assert!(stats.messages > 20_000, "{stats:?}");
    assert!(rig.server.unknown_routes().len() <= 256);
    // The engine still plays and the server still answers.
    rig.query("/engine/start", vec![]);
    rig.query("/seq/bpm", vec![OscType::Int(120)]);
    rig.query("/seq/start", vec![]);
    rig.render_seconds(0.6);
    assert!(rig.live.ctl().status().running);
    assert!(
        rig.live.ctl().status().global_step >= 4,
        "{}",
        rig.live.ctl().status().global_step
    );
    let st = rig.query("/seq/status", vec![]);
    assert_eq!(st[0], OscType::Float(120.0));
    assert!(rig.live.last_block.iter().all(|x| x.is_finite()));

    // The same garbage at a follower: random clocks reach the phase-locked loop.
    let mut rig = Rig::with(|s| s.with_clock(ClockMode::Follow));
    rig.query("/seq/add", vec![s("kick"), s("voice1"), s("X...")]);
    rig.query("/seq/start", vec![]);
    for i in 0..20_000 {
        let p = mutate(&mut rng, &corpus);
        rig.server.handle_datagram(rig.live.ctl_mut(), &p);
        if i % 100 == 0 {
            rig.turn();
            assert!(
                rig.live
                    .last_block
                    .iter()
                    .all(|x| x.is_finite() && x.abs() <= 1.0)
            );
        }
    }
    let follow = rig.server.follow_status().unwrap();
    assert_ne!(
        follow.state,
        chronus::sources::osc::FollowState::Waiting,
        "{follow:?}"
    );
    assert!(rig.query("/seq/status", vec![]).len() == 7);
}

// ---------------------------------------------------------------------------------------------
// Child processes: headless flood, chronus ctl, leader/follower
// ---------------------------------------------------------------------------------------------

/// Tests that measure real processes, and the CPU-heavy garbage test, run one at a time so
/// they do not disturb each other's figures (the machine has two cores).
static HEAVY_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn patterns_with(slots: &[(u8, Slot)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    for (n, slot) in slots {
        store.save(SlotNumber::new(*n).unwrap(), slot).unwrap();
    }
    dir
}

/// A running `chronus headless --no-audio --events json` and its events, as they arrive.
struct Headless {
    child: Child,
    events: mpsc::Receiver<(Instant, Value)>,
    seen: Vec<(Instant, Value)>,
}

impl Headless {
    fn start(patterns: &Path, args: &[&str]) -> Headless {
        let mut child = Process::new(env!("CARGO_BIN_EXE_chronus"))
            .arg("--patterns")
            .arg(patterns)
            .args(["headless", "--no-audio", "--events", "json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send((Instant::now(), v));
                }
            }
        });
        Headless {
            child,
            events: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for an event matching `pred` (keeping everything seen); returns it with the
    /// instant it arrived.
    fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<(Instant, Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => {
                    let hit = pred(&ev.1);
                    self.seen.push(ev.clone());
                    if hit {
                        return Some(ev);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for the process to end and returns every event.
    fn finish(mut self) -> Vec<(Instant, Value)> {
        let status = self.child.wait().unwrap();
        while let Ok(ev) = self.events.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(ev);
        }
        assert!(status.success(), "headless exited with {status}");
        self.seen
    }
}

fn is_message(v: &Value, event: &str, needle: &str) -> bool {
    v["event"] == event && v["message"].as_str().is_some_and(|m| m.contains(needle))
}

#[test]
fn a_flood_of_parameter_messages_is_applied_while_the_engine_plays() {
    let _one = HEAVY_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = patterns_with(&[(
        1,
        song(
            "flood",
            120.0,
            &[("kick", "voice1", "X...x..."), ("bass", "voice2", "x.x.")],
        ),
    )]);
    let port = free_port();
    let mut h = Headless::start(
        dir.path(),
        &[
            "--seconds",
            "6",
            "--osc-port",
            &port.to_string(),
            "--osc-out",
            "127.0.0.1:9",
        ],
    );
    assert!(
        h.wait_for(Duration::from_secs(10), |v| is_message(
            v,
            "info",
            "OSC: listening"
        ))
        .is_some(),
        "no OSC: {:?}",
        h.seen
    );
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Four controllers sweeping cutoffs and amps: 10 messages every millisecond for 3 s.
    let targets = [
        "/mod/voice1/filter/freq",
        "/mod/voice2/filter/freq",
        "/mod/acid1/cutoff",
        "/mod/voice3/amp",
    ];
    let started = Instant::now();
    let mut sent = 0u64;
    for ms in 0..3000u64 {
        for k in 0..10 {
            let i = (sent % 4) as usize;
            let v = 200.0 + ((ms * 10 + k) % 3000) as f32;
            let v = if i == 3 { v / 5000.0 } else { v };
            let p = msg(targets[i], vec![OscType::Float(v)]);
            sender.send_to(&encode(&p), to).unwrap();
            sent += 1;
        }
        let next = started + Duration::from_millis(ms + 1);
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    let took = started.elapsed();
    // Let the control loop catch up, then ask once (the reply comes to this socket).
    std::thread::sleep(Duration::from_millis(1000));
    sender
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    sender
        .send_to(&encode(&msg("/engine/status", vec![])), to)
        .unwrap();
    let mut buf = vec![0u8; 65_536];
    let status = sender.recv(&mut buf).ok().and_then(|n| {
        let mut got = Vec::new();
        flatten(decode(&buf[..n]).unwrap(), &mut got);
        reply_for(&got, "/engine/status")
            .map(|r| serde_json::from_str::<Value>(&text_of(&r, 0)).unwrap())
    });
    let events = h.finish();
    let status = status.expect("no /engine/status after the flood");
    let handled = status["osc"]["messages"].as_u64().unwrap() - 1;
    let stopped = &events
        .iter()
        .rev()
        .find(|(_, v)| v["event"] == "stopped")
        .unwrap_or_else(|| panic!("no stopped event: {:?}", events.last()))
        .1;
    let bars = events.iter().filter(|(_, v)| v["event"] == "bar").count();
    eprintln!(
        "flood: sent {sent} messages in {took:?} ({:.0}/s); server handled {handled}, \
         refused {}; engine: late {} xruns {} load mean {:.2}% max {:.2}%, {bars} bars",
        sent as f64 / took.as_secs_f64(),
        status["osc"]["refused"],
        stopped["late"],
        stopped["xruns"],
        stopped["load_mean_pct"].as_f64().unwrap(),
        stopped["load_max_pct"].as_f64().unwrap(),
    );
    // Every message arrived and was applied; nothing was refused.
    assert_eq!(handled, sent);
    assert_eq!(status["osc"]["refused"], 0);
    // The engine kept playing: 6 s at 120 BPM is 3 bars.
    assert!(bars >= 2, "{bars} bars");
    assert_eq!(status["running"], true);
}

/// Runs `chronus ctl ARGS` against the rig's server, turning the rig until it exits:
/// (exit code, stdout, stderr).
fn ctl(rig: &mut Rig, args: &[&str]) -> (Option<i32>, String, String) {
    let port = rig.addr().port().to_string();
    let mut child = Process::new(env!("CARGO_BIN_EXE_chronus"))
        .args(["ctl", "--port", &port])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ctl hangs");
        rig.turn();
        std::thread::sleep(Duration::from_millis(1));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn chronus_ctl_prints_answers_and_exits_by_outcome() {
    let _one = HEAVY_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut rig = Rig::new();
    let (code, out, _) = ctl(&mut rig, &["status"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("\"voices\": 8"), "{out}");
    let (code, out, _) = ctl(&mut rig, &["set", "voice1", "filter/freq", "900"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("/mod/voice1/filter/freq 900 — ok"), "{out}");
    assert_eq!(rig.param(ParamId::voice(1, voice::FILTER_FREQ)), 900.0);
    // A short spelling, and a choice by its name: the delay synced to a dotted eighth.
    let (code, out, _) = ctl(&mut rig, &["set", "voice1", "cutoff", "700"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rig.param(ParamId::voice(1, voice::FILTER_FREQ)), 700.0);
    let (code, out, err) = ctl(&mut rig, &["set", "delay1", "sync", "1/8."]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(rig.param(ParamId::delay(delay::SYNC)), 7.0);
    let (code, _, err) = ctl(&mut rig, &["set", "delay1", "sync", "1/7"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("\"1/7\" is neither a number nor one of 0 free, 1 1/32,"),
        "{err}"
    );
    let (code, _, err) = ctl(&mut rig, &["set", "voice1", "nope", "1"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("/mod/voice1/nope: no such parameter") && err.contains("nothing changed"),
        "{err}"
    );
    let (code, _, _) = ctl(&mut rig, &["gate", "voice2", "on"]);
    assert_eq!(code, Some(0));
    let (code, out, _) = ctl(&mut rig, &["bpm", "133"]);
    assert_eq!((code, out.trim()), (Some(0), "BPM 133.0"));
    assert_eq!(rig.live.ctl().song().sequencer.bpm, 133.0);
    let (code, out, _) = ctl(
        &mut rig,
        &["raw", "/seq/add", "kick", "voice1", "X...", "gate_frac=0.2"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rig.track("kick").gate_frac, 0.2);
    let (code, out, _) = ctl(&mut rig, &["save", "4"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("slot_004.json"), "{out}");
    let (code, out, _) = ctl(&mut rig, &["list"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("4  "), "{out}");
    let (code, out, _) = ctl(&mut rig, &["load", "4", "--now"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("loaded"), "{out}");
    let (code, _, _) = ctl(&mut rig, &["seq-start"]);
    assert_eq!(code, Some(0));
    assert!(rig.live.ctl().status().running);
    let (code, _, _) = ctl(&mut rig, &["seq-stop"]);
    assert_eq!(code, Some(0));
    let (code, out, _) = ctl(&mut rig, &["schema"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("\"registered_routes\""));
    let (code, _, err) = ctl(&mut rig, &["load", "99"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("slot 99 is empty"), "{err}");
    let (code, _, err) = ctl(&mut rig, &["bpm", "fast"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("\"fast\" is not a number"), "{err}");
    // Nobody on the port: no answer, exit 1.
    let out = Process::new(env!("CARGO_BIN_EXE_chronus"))
        .args([
            "ctl",
            "--port",
            &free_port().to_string(),
            "--timeout",
            "0.3",
            "status",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no answer"));
}

#[test]
fn a_taken_port_is_an_error_event_and_the_music_plays_on() {
    let _one = HEAVY_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = patterns_with(&[(1, song("busy", 120.0, &[("kick", "voice1", "X...")]))]);
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let h = Headless::start(dir.path(), &["--seconds", "0.6", "--osc-port", &port]);
    let events = h.finish();
    let err = events
        .iter()
        .find(|(_, v)| v["event"] == "error")
        .map(|(_, v)| v["message"].as_str().unwrap().to_string())
        .expect("an error event");
    assert!(
        err.contains(&format!("cannot listen for OSC on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("OSC is off"), "{err}");
    assert!(events.iter().any(|(_, v)| v["event"] == "bar"));
    assert!(events.iter().any(|(_, v)| v["event"] == "stopped"));
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Two processes' bar times compared to the hundredth of a millisecond: it runs alone, after
/// the parallel suite (`make test` runs it with `--ignored --exact`), so other tests' load on
/// the cores does not stretch its clocks.
#[test]
#[ignore = "timed across two processes: make test runs it alone after the suite"]
fn a_follower_plays_bar_aligned_with_its_leader_and_falls_back_when_it_goes_silent() {
    let _one = HEAVY_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    // The leader plays at 240 BPM (a bar a second), the follower's own slot at 200 BPM.
    let dir = patterns_with(&[
        (1, song("leader", 240.0, &[("kick", "voice1", "X...")])),
        (2, song("follower", 200.0, &[("hat", "voice3", "x.x.")])),
    ]);
    let (pl, pf) = (free_port(), free_port());
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_out = sink.local_addr().unwrap().to_string();
    let mut follower = Headless::start(
        dir.path(),
        &[
            "--slot",
            "2",
            "--seconds",
            "13",
            "--osc-port",
            &pf.to_string(),
            "--clock",
            "follow",
            "--osc-out",
            &sink_out,
        ],
    );
    assert!(
        follower
            .wait_for(Duration::from_secs(10), |v| is_message(
                v,
                "info",
                "OSC: listening"
            ))
            .is_some()
    );
    let leader = Headless::start(
        dir.path(),
        &[
            "--seconds",
            "9",
            "--osc-port",
            &pl.to_string(),
            "--osc-out",
            &format!("127.0.0.1:{pf}"),
        ],
    );
    let follower_heard = follower.seen.first().map(|e| e.0).unwrap();
    let locked = follower.wait_for(Duration::from_secs(10), |v| is_message(v, "info", "locked"));
    let Some((locked_at, _)) = locked else {
        panic!("the follower never locked: {:?}", follower.seen);
    };
    let lead = leader.finish();
    let follow = follower.finish();
    let lead_bars: Vec<f64> = lead
        .iter()
        .filter(|(_, v)| v["event"] == "bar")
        .map(|(_, v)| v["time"].as_f64().unwrap())
        .collect();
    // Follower bars after the lock, while the leader still played.
    let last_lead = *lead_bars.last().unwrap();
    let follow_bars: Vec<(f64, f64)> = follow
        .iter()
        .filter(|(at, v)| v["event"] == "bar" && *at > locked_at)
        .map(|(_, v)| (v["time"].as_f64().unwrap(), v["bpm"].as_f64().unwrap()))
        .collect();
    let offsets: Vec<f64> = follow_bars
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t <= last_lead + 0.1)
        .map(|t| {
            let nearest = lead_bars
                .iter()
                .min_by(|a, b| (*a - t).abs().total_cmp(&(*b - t).abs()))
                .unwrap();
            (t - nearest) * 1000.0
        })
        .collect();
    assert!(offsets.len() >= 3, "bars after lock: {offsets:?}");
    let worst = offsets.iter().fold(0f64, |m, o| m.max(o.abs()));
    let med = median(&mut offsets.clone());
    eprintln!(
        "follow: locked after {:?}; {} bars compared, median offset {med:+.3} ms, worst {worst:.3} ms; offsets {offsets:.3?}",
        locked_at.duration_since(follower_heard),
        offsets.len()
    );
    // Each side stamps a bar from its own paced internal clock, whose callbacks land up to a
    // period (128 frames at 48 kHz, 2.67 ms) from where an ideal clock would put them; two
    // such clocks differ by up to two periods without either being out of step.
    let two_periods_ms = 2.0 * 128.0 / 48_000.0 * 1000.0;
    assert!(
        med.abs() <= two_periods_ms,
        "median offset {med} ms: {offsets:?}"
    );
    // The leader's tempo was taken over: bars of 1 s (240 BPM), not 1.2 s (200 BPM). A bar cut
    // short by a realignment does not move the median.
    let f_times: Vec<f64> = follow_bars
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t <= last_lead)
        .collect();
    let mut lengths: Vec<f64> = f_times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(lengths.len() >= 2, "{f_times:?}");
    let bar = median(&mut lengths);
    assert!((bar - 1.0).abs() < 0.002, "follower bar length {bar} s");
    // The leader stopped: the follower says so and keeps playing on its own clock.
    let fallback = follow
        .iter()
        .find(|(_, v)| is_message(v, "warning", "internal clock"))
        .expect("no fallback warning");
    assert!(
        follow
            .iter()
            .any(|(at, v)| v["event"] == "bar" && *at > fallback.0),
        "the follower kept playing after the fallback"
    );
}

/// The tracker's own save-as of slot 5 (refused on the disk thread: the file holds another
/// pattern) and an OSC client's `/pattern/save 5` are under way together: the client gets
/// its own save's answer, not the tracker's refusal.
#[test]
fn pattern_save_answers_each_sender_its_own_save() {
    let mut rig = Rig::new();
    rig.query("/seq/add", vec![s("kick"), s("voice1"), s("X...x...")]);
    let n5 = SlotNumber::new(5).unwrap();
    // Written behind Chronus's back, not read yet (no watcher here).
    rig.live
        .ctl()
        .store()
        .save(n5, &song("theirs", 100.0, &[("pad", "voice3", "x...")]))
        .unwrap();
    // The tracker's save-as (no force): refused by the disk thread.
    rig.live
        .session
        .apply(Command::SaveSlot {
            slot: n5,
            force: false,
        })
        .unwrap();
    let got = rig.ask("/pattern/save", vec![OscType::Int(5)]);
    let on_disk = rig.live.ctl().store().load(n5).unwrap().slot;
    assert_eq!(
        on_disk.sequencer.tracks,
        rig.live.ctl().song().sequencer.tracks
    );
    assert_eq!(error_for(&got, "/pattern/save"), None, "{got:?}");
    assert!(reply_for(&got, "/pattern/save").is_some(), "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// Values mean what they say, and every input has a limit
// ---------------------------------------------------------------------------------------------

#[test]
fn slot_arguments_are_never_rounded_and_t_f_are_not_slots() {
    let mut rig = Rig::new();
    rig.save_slot(1, &song("one", 120.0, &[("k", "voice1", "x...")]));
    rig.save_slot(5, &song("five", 120.0, &[("k", "voice1", "x...")]));
    let store = rig.live.ctl().store().clone();
    let files = || std::fs::read_dir(store.slots_dir()).unwrap().count();
    let before = (files(), rig.live.ctl().song().clone());
    let bad = [
        OscType::Bool(true),
        OscType::Bool(false),
        OscType::Float(5.5),
        OscType::Double(4.999_999_9),
        OscType::Float(f32::NAN),
        OscType::Double(f64::INFINITY),
        OscType::Int(0),
        OscType::Int(-1),
        OscType::Long(1 << 40),
        s("5.5"),
        s("1e0"),
        s("+5"),
        s(" 5"),
        s("5."),
        s("0x05"),
        s("five"),
        OscType::Char('5'),
        OscType::Nil,
        OscType::Blob(vec![5]),
    ];
    for addr in ["/pattern/save", "/pattern/load"] {
        for arg in &bad {
            let e = rig.refused(addr, vec![arg.clone()]);
            assert!(
                e.contains("a slot is a whole number 1–128") && e.len() < 300,
                "{addr} {arg:?}: {e}"
            );
        }
    }
    rig.render_seconds(0.05);
    assert_eq!((files(), rig.live.ctl().song().clone()), before);
    assert_eq!(rig.live.ctl().status().queued, None);
    // The plain forms work: int, whole float, digits with a zero fraction.
    for good in [OscType::Int(5), OscType::Float(5.0), s("5"), s("5.0")] {
        let r = rig.query("/pattern/load", vec![good.clone(), s("now")]);
        assert!(text_of(&r, 0).contains("loaded"), "{good:?}: {r:?}");
        rig.query("/pattern/load", vec![OscType::Int(1), s("now")]);
    }
    // The second argument of a load is yes/no, never a silent "no".
    for bad in [s("soon"), OscType::Int(2), OscType::Float(0.5)] {
        let e = rig.refused("/pattern/load", vec![OscType::Int(5), bad.clone()]);
        assert!(e.contains("is not a yes/no value"), "{bad:?}: {e}");
    }
}

#[test]
fn oversized_osc_arguments_are_refused_before_they_reach_the_song() {
    use chronus::model::limits::{MAX_OSC_ADDRESS_BYTES, MAX_OSC_BLOB_BYTES, MAX_OSC_STRING_BYTES};
    let mut rig = Rig::new();
    rig.query("/seq/add", vec![s("kick"), s("voice1"), s("x...")]);
    let before = rig.live.ctl().song().clone();
    let big = "q".repeat(MAX_OSC_STRING_BYTES + 1);
    let cases: Vec<(&str, Vec<OscType>)> = vec![
        ("/seq/add", vec![s(&big), s("voice1"), s("x")]),
        ("/seq/add", vec![s("k2"), s("voice1"), s(&big)]),
        ("/seq/update/pattern", vec![s("kick"), s(&big)]),
        ("/seq/update/notes", vec![s("kick"), s(&big)]),
        ("/seq/remove", vec![s(&big)]),
        ("/engine/record/start", vec![s(&big)]),
        (
            "/mod/voice1/freq",
            vec![OscType::Blob(vec![0; MAX_OSC_BLOB_BYTES + 1])],
        ),
        ("/nope", vec![s(&big)]),
    ];
    for (addr, args) in cases {
        let e = rig.refused(addr, args);
        assert!(
            e.contains("may hold at most") && e.contains("this one has"),
            "{addr}: {e}"
        );
    }
    let long_addr = format!("/mod/{}", "v".repeat(MAX_OSC_ADDRESS_BYTES));
    let got = rig.ask_packet(&msg(&long_addr, vec![OscType::Float(1.0)]));
    let e = got
        .iter()
        .find(|m| m.addr == "/error")
        .unwrap_or_else(|| panic!("{got:?}"));
    assert!(
        format!("{:?}", e.args).contains("an OSC address may hold at most 256 bytes"),
        "{e:?}"
    );
    assert_eq!(*rig.live.ctl().song(), before);
    assert!(rig.live.ctl().recording().is_none());
    assert!(rig.server.unknown_routes().keys().all(|k| k.len() < 300));
}

#[test]
fn song_limits_hold_over_osc_at_the_limit_and_one_past_it() {
    use chronus::model::limits::{MAX_NAME_CHARS, MAX_NOTES, MAX_PATTERN, MAX_TRACKS};
    let mut rig = Rig::new();
    // Tracks: the 64th is added, the 65th refused.
    for i in 0..MAX_TRACKS {
        rig.query("/seq/add", vec![s(&format!("t{i}")), s("voice1"), s("x")]);
    }
    let e = rig.refused("/seq/add", vec![s("one-more"), s("voice1"), s("x")]);
    assert!(
        e.contains("a slot may hold at most 64 tracks; this one has 65"),
        "{e}"
    );
    // Replacing a track of the same name is no new track.
    rig.query("/seq/add", vec![s("t0"), s("voice2"), s("X")]);
    rig.query("/seq/clear", vec![]);
    let name = |n: usize| "ド".repeat(n);
    rig.query("/seq/add", vec![s(&name(MAX_NAME_CHARS)), s("1"), s("x")]);
    let e = rig.refused(
        "/seq/add",
        vec![s(&name(MAX_NAME_CHARS + 1)), s("1"), s("x")],
    );
    assert!(
        e.contains("a track name may hold at most 64 characters; this one has 65"),
        "{e}"
    );
    rig.query(
        "/seq/add",
        vec![s("k"), s("1"), s(&"x".repeat(MAX_PATTERN))],
    );
    let e = rig.refused(
        "/seq/update/pattern",
        vec![s("k"), s(&"x".repeat(MAX_PATTERN + 1))],
    );
    assert!(e.contains("pattern of 65 steps is longer than 64"), "{e}");
    let notes = |n: usize| vec!["C2"; n].join(" ");
    rig.query("/seq/update/notes", vec![s("k"), s(&notes(MAX_NOTES))]);
    assert_eq!(rig.track("k").notes.len(), MAX_NOTES);
    let before = rig.live.ctl().song().clone();
    let e = rig.refused("/seq/update/notes", vec![s("k"), s(&notes(MAX_NOTES + 1))]);
    assert!(
        e.contains("a track may hold at most 256 notes; this one has 257"),
        "{e}"
    );
    let e = rig.refused(
        "/seq/add",
        vec![
            s("k2"),
            s("1"),
            s("x"),
            s(&format!("notes={}", notes(MAX_NOTES + 1))),
        ],
    );
    assert!(e.contains("this one has 257"), "{e}");
    assert_eq!(*rig.live.ctl().song(), before);
}

#[test]
fn osc_is_sent_from_the_interface_it_listens_on() {
    // 127.0.0.2 is loopback too (Linux answers the whole 127/8), but a socket bound to all
    // interfaces would send to 127.0.0.1 from 127.0.0.1: the source address tells them apart.
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let to = receiver.local_addr().unwrap();
    let Ok(server) = OscServer::bind("127.0.0.2:0".parse().unwrap()) else {
        eprintln!("skipped: 127.0.0.2 cannot be bound here");
        return;
    };
    let mut rig = Rig::serving(server.with_outputs(vec![to]).unwrap());
    assert_eq!(
        rig.server.out_addrs().0.map(|a| a.ip()),
        Some("127.0.0.2".parse().unwrap())
    );
    rig.query("/seq/start", vec![]);
    rig.render_seconds(0.3);
    let mut buf = [0u8; 2048];
    let (_, from) = receiver.recv_from(&mut buf).expect("nothing was sent out");
    assert_eq!(from.ip().to_string(), "127.0.0.2");

    // The command line's server listens on loopback by default and sends from it.
    let args = OscArgs {
        osc_port: 0,
        osc_out: vec![to.to_string()],
        ..OscArgs::default()
    };
    let server = OscServer::from_args(&args).unwrap();
    assert_eq!(
        server.out_addrs().0.map(|a| a.ip()),
        Some("127.0.0.1".parse().unwrap())
    );
}

#[test]
fn a_destination_the_listening_interface_cannot_reach_is_an_error_at_start() {
    // 192.0.2.1 (TEST-NET-1) is not on loopback: a server listening on 127.0.0.1 cannot send
    // there, and says so instead of losing every packet.
    let args = OscArgs {
        osc_port: 0,
        osc_out: vec!["127.0.0.1:5006".into(), "192.0.2.1:5006".into()],
        ..OscArgs::default()
    };
    let e = OscServer::from_args(&args)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.starts_with("--osc-out 192.0.2.1:5006: cannot be reached from 127.0.0.1")
            && e.contains("--osc-bind"),
        "{e}"
    );
    // Said once: the message holds its cause and returns none.
    let err = anyhow::Error::new(OscServer::from_args(&args).err().unwrap());
    assert_eq!(err.chain().count(), 1, "{err:#}");
}

#[test]
fn chronus_ctl_prints_names_with_their_control_characters_escaped() {
    let _one = HEAVY_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut rig = Rig::new();
    let evil = "bass\u{1b}[2J\u{9b}1m\u{202e}\u{7}";
    rig.save_slot(4, &song(evil, 120.0, &[(evil, "voice2", "x...")]));
    rig.query("/pattern/load", vec![OscType::Int(4), s("now")]);
    let runs: [&[&str]; 5] = [
        &["list"],
        &["raw", "/seq/status"],
        &["status"],
        &["raw", "/seq/remove", "zz\u{7}\u{1b}[31m"],
        &["raw", "/seq/add", evil, "voice1", "x"],
    ];
    for args in runs {
        let (code, out, err) = ctl(&mut rig, args);
        assert!(code.is_some(), "{args:?}");
        let both = format!("{out}{err}");
        if let Some(c) = both
            .chars()
            .find(|&c| c != '\n' && chronus::model::text::is_unsafe_char(c))
        {
            panic!("{args:?}: raw {c:?} in {both:?}");
        }
        assert!(
            both.contains("\\u{7}") || both.contains("\\u0007"),
            "{args:?}: {both}"
        );
    }
}

#[test]
fn the_schema_lists_every_limit_and_the_slot_rule() {
    let mut rig = Rig::new();
    let schema: Value =
        serde_json::from_str(&text_of(&rig.query("/engine/schema", vec![]), 0)).unwrap();
    for l in &chronus::model::limits::LIMITS {
        assert_eq!(schema["limits"][l.key]["max"], l.max, "{}", l.key);
        assert_eq!(schema["limits"][l.key]["unit"], l.unit, "{}", l.key);
    }
    assert!(
        schema["slot_arguments"]
            .as_str()
            .is_some_and(|r| r.contains("1–128")),
        "{}",
        schema["slot_arguments"]
    );
}

// ---------------------------------------------------------------------------------------------
// Pattern commands (issue 13): each answered to the sender with what it did and the pattern
// ---------------------------------------------------------------------------------------------

/// The `/reply` of a pattern route: its message and the track's pattern after it.
fn pattern_reply(rig: &mut Rig, addr: &str, args: Vec<OscType>) -> (String, String) {
    let got = rig.query(addr, args);
    (text_of(&got, 0), text_of(&got, 1))
}

#[test]
fn pattern_command_routes_edit_the_track_and_reply_the_pattern() {
    let mut rig = Rig::new();
    rig.query("/seq/add", vec![s("hat"), s("voice3"), s("X.......")]);
    let cases: Vec<(&str, Vec<OscType>, &str, &str)> = vec![
        (
            "/seq/pattern/fill",
            vec![s("hat"), OscType::Int(2)],
            "hat: a hit every 2 steps (x.x.x.x.)",
            "x.x.x.x.",
        ),
        (
            "/seq/pattern/fill",
            vec![s("hat"), OscType::Int(4), OscType::Int(2)],
            "hat: a hit every 4 steps from step 3 (..x...x.)",
            "..x...x.",
        ),
        (
            "/seq/pattern/fill",
            vec![s("hat"), s("3/8+1")],
            "hat: Euclid 3/8 rotated 1 (.x..x..x)",
            ".x..x..x",
        ),
        (
            "/seq/pattern/euclid",
            vec![s("hat"), OscType::Int(5), OscType::Float(8.0)],
            "hat: Euclid 5/8 (x.x.xx.x)",
            "x.x.xx.x",
        ),
        (
            "/seq/pattern/rotate",
            vec![s("hat"), OscType::Int(-1)],
            "hat: rotated left 1 (.x.xx.xx)",
            ".x.xx.xx",
        ),
        (
            "/seq/pattern/reverse",
            vec![s("hat")],
            "hat: reversed (xx.xx.x.)",
            "xx.xx.x.",
        ),
        (
            "/seq/pattern/double",
            vec![s("hat")],
            "hat: doubled (xx.xx.x.xx.xx.x.)",
            "xx.xx.x.xx.xx.x.",
        ),
        (
            "/seq/pattern/halve",
            vec![s("hat")],
            "hat: halved (xx.xx.x.)",
            "xx.xx.x.",
        ),
        (
            "/seq/pattern/clear",
            vec![s("hat")],
            "hat: cleared (........)",
            "........",
        ),
        (
            "/seq/pattern/row",
            vec![s("hat"), s("x.x. X-x-")],
            "hat: x.x.X.x.",
            "x.x.X.x.",
        ),
        (
            "/seq/step",
            vec![s("hat"), OscType::Int(2), s("X")],
            "hat: xXx.X.x.",
            "xXx.X.x.",
        ),
        (
            "/seq/step",
            vec![s("hat"), s("10"), s("x")],
            "hat: xXx.X.x..x",
            "xXx.X.x..x",
        ),
    ];
    for (addr, args, said, pattern) in cases {
        let (got_said, got_pattern) = pattern_reply(&mut rig, addr, args);
        assert_eq!(got_pattern, pattern, "{addr}");
        assert_eq!(rig.track("hat").pattern, pattern, "{addr}");
        assert_eq!(got_said, said, "{addr}");
    }
    // The keyboard piano's entry: step 4 plays E3; every hit keeps what it played.
    let (said, pattern) = pattern_reply(
        &mut rig,
        "/seq/step/note",
        vec![s("hat"), OscType::Int(4), s("E3")],
    );
    assert_eq!(
        (said.as_str(), pattern.as_str()),
        ("hat step 4: E3", "xXxxX.x..x")
    );
    let notes = chronus::control::step_notes(rig.track("hat"));
    assert_eq!(notes[3], Some(164.81));
    // Refusals name what is wrong; nothing changes.
    for (addr, args, needle) in [
        ("/seq/pattern/fill", vec![s("hat"), s("x")], "is not a fill"),
        (
            "/seq/pattern/fill",
            vec![s("nope"), OscType::Int(2)],
            "no track named",
        ),
        (
            "/seq/pattern/euclid",
            vec![s("hat"), OscType::Int(9), OscType::Int(8)],
            "9",
        ),
        (
            "/seq/pattern/rotate",
            vec![s("hat"), OscType::Float(1.5)],
            "1.5",
        ),
        (
            "/seq/pattern/row",
            vec![s("hat"), s("x.y.")],
            "\"y\" is not a step",
        ),
        (
            "/seq/step",
            vec![s("hat"), OscType::Int(0), s("x")],
            "not a step number",
        ),
        (
            "/seq/step",
            vec![s("hat"), OscType::Int(1), s("o")],
            "not a step value",
        ),
        (
            "/seq/step/note",
            vec![s("hat"), OscType::Int(1), s("C4 D4")],
            "not one note",
        ),
    ] {
        let err = rig.refused(addr, args);
        assert!(err.contains(needle), "{addr}: {err}");
        assert_eq!(
            rig.track("hat").pattern,
            "xXxxX.x..x",
            "{addr} changed the track"
        );
    }
    // Each route is one undo step, undone like the keys' edits.
    rig.live.apply(Command::Undo);
    assert_eq!(rig.track("hat").pattern, "xXx.X.x..x");
}

#[test]
fn mute_routes_mute_groups_quantise_edit_step_and_new_slot() {
    let mut rig = Rig::new();
    rig.query("/seq/add", vec![s("kick"), s("voice1"), s("x...")]);
    rig.query("/seq/add", vec![s("hat"), s("voice3"), s("x.x.")]);
    rig.query("/seq/add", vec![s("bass"), s("voice2"), s("x...")]);
    let said = |rig: &mut Rig, addr: &str, args: Vec<OscType>| text_of(&rig.query(addr, args), 0);
    assert_eq!(said(&mut rig, "/seq/mute", vec![s("bass")]), "bass muted");
    assert!(rig.track("bass").muted);
    assert_eq!(
        said(&mut rig, "/seq/mute", vec![s("bass"), OscType::Int(0)]),
        "bass unmuted"
    );
    assert_eq!(
        said(&mut rig, "/seq/solo", vec![s("bass"), s("on")]),
        "bass solo"
    );
    assert!(rig.track("bass").solo);
    assert_eq!(
        said(&mut rig, "/seq/solo", vec![s("bass")]),
        "bass solo off"
    );
    for t in ["kick", "hat"] {
        assert_eq!(
            said(&mut rig, "/seq/mute/assign", vec![s(t), OscType::Int(2)]),
            format!("{t} in mute group 2")
        );
    }
    assert_eq!(
        chronus::control::mute_group(rig.track("hat")),
        Some(2),
        "the group is part of the song"
    );
    assert!(
        rig.refused("/seq/mute/assign", vec![s("hat"), OscType::Int(9)])
            .contains('9')
    );
    assert!(
        rig.refused("/seq/mute/group", vec![OscType::Int(3)])
            .contains('3'),
        "an empty group says so"
    );
    // Quantised while playing: the group waits for the bar, then both are muted.
    assert_eq!(
        said(&mut rig, "/seq/mute/quantize", vec![OscType::Bool(true)]),
        "mutes and solos wait for the next bar"
    );
    assert!(rig.live.ctl().mute_quantize());
    rig.query("/seq/start", vec![]);
    rig.render_seconds(0.1);
    assert_eq!(
        said(&mut rig, "/seq/mute/group", vec![OscType::Int(2)]),
        "mute group 2 muted at the next bar: kick, hat"
    );
    assert!(!rig.track("kick").muted, "not before the bar");
    rig.render_seconds(2.0);
    assert!(rig.track("kick").muted && rig.track("hat").muted);
    assert_eq!(
        said(&mut rig, "/seq/mute/quantize", vec![]),
        "mutes and solos act at once"
    );
    assert!(
        rig.refused("/seq/mute/quantize", vec![s("maybe")])
            .contains("\"maybe\"")
    );
    assert_eq!(
        said(&mut rig, "/seq/mute/keep", vec![]),
        "mutes and solos kept in the song: the next save writes them"
    );
    // The edit step, a performer setting.
    assert_eq!(
        said(&mut rig, "/seq/edit_step", vec![OscType::Int(3)]),
        "edit step 3"
    );
    assert_eq!(rig.live.ctl().edit_step(), 3);
    assert!(
        rig.refused("/seq/edit_step", vec![OscType::Int(99)])
            .contains("99")
    );
    // A new empty song in the first slot without a file.
    rig.query("/seq/stop", vec![]);
    assert_eq!(
        said(&mut rig, "/pattern/new", vec![]),
        "new empty song in slot 1"
    );
    assert!(rig.live.ctl().song().sequencer.tracks.is_empty());
}

#[test]
fn pattern_route_refusals_escape_and_cut_what_the_sender_typed() {
    let mut rig = Rig::new();
    rig.query("/seq/add", vec![s("hat"), s("voice3"), s("X.......")]);
    let long = format!("\u{1b}[2J{}", "9".repeat(5_000));
    for (addr, args) in [
        ("/seq/pattern/fill", vec![s("hat"), s(&long)]),
        ("/seq/pattern/fill", vec![s("hat"), s("\u{1b}[2J")]),
        ("/seq/pattern/row", vec![s("hat"), s("x\u{1b}[2J")]),
        ("/seq/step/note", vec![s("hat"), OscType::Int(1), s(&long)]),
    ] {
        let err = rig.refused(addr, args);
        assert!(!err.contains('\u{1b}'), "{addr}: {err:?}");
        assert!(err.chars().count() < 400, "{addr}: {} chars", err.len());
    }
}

/// `/seq/step/data` edits a step's entry like the step editor; `/seq/fill` switches fill mode,
/// and the engine plays the `fill` step only while it is on (the `!fill` step only while off).
#[test]
fn step_data_and_fill_routes_edit_steps_and_switch_fill_steps() {
    let mut rig = Rig::new();
    rig.query("/seq/add", vec![s("t"), s("voice1"), s("x.x.")]);
    rig.query("/seq/bpm", vec![OscType::Int(240)]);
    let said = rig.query(
        "/seq/step/data",
        vec![s("t"), OscType::Int(1), s("cond"), s("fill")],
    );
    assert_eq!(text_of(&said, 0), "t step 1: cond fill");
    rig.query(
        "/seq/step/data",
        vec![s("t"), OscType::Int(3), s("cond"), s("!fill")],
    );
    let said = rig.query(
        "/seq/step/data",
        vec![s("t"), OscType::Int(3), s("ratchet"), OscType::Float(2.0)],
    );
    assert_eq!(text_of(&said, 0), "t step 3: ratchet 2 · cond !fill");
    let said = rig.query(
        "/seq/step/data",
        vec![s("t"), OscType::Int(3), s("cutoff"), OscType::Int(1800)],
    );
    assert_eq!(
        text_of(&said, 0),
        "t step 3: filter_freq 1800 · ratchet 2 · cond !fill"
    );
    rig.query(
        "/seq/step/data",
        vec![s("t"), OscType::Int(3), s("cutoff"), s("-")],
    );
    assert!(
        rig.refused(
            "/seq/step/data",
            vec![s("t"), OscType::Int(9), s("ratchet"), OscType::Int(2)]
        )
        .contains("past the end of \"t\" (4 steps)")
    );
    assert!(
        rig.refused(
            "/seq/step/data",
            vec![s("t"), OscType::Int(1), s("wobble"), OscType::Int(2)]
        )
        .contains("\"wobble\" is not a step key")
    );
    assert!(rig.live.ctl().is_dirty());

    rig.live.apply(Command::Play);
    // Which of the 4 steps each voice1 onset falls in, over `loops` loops.
    let step = (RATE as u64) / 16; // 240 BPM
    let start = rig.live.frames as u64;
    let steps_played = |rig: &mut Rig, loops: u64| {
        while rig.live.runner.engine_mut().pop_gate_record().is_some() {}
        let end = rig.live.frames as u64 + loops * 4 * step;
        let mut played = Vec::new();
        while (rig.live.frames as u64) < end {
            rig.turn();
            while let Some(g) = rig.live.runner.engine_mut().pop_gate_record() {
                if g.on && g.voice == 1 {
                    played.push(((g.sample - start) / step) % 4 + 1);
                }
            }
        }
        played
    };
    let off = steps_played(&mut rig, 2);
    assert_eq!(
        off,
        [3, 3, 3, 3],
        "fill off: step 3's two ratchet hits a loop"
    );
    assert_eq!(text_of(&rig.query("/seq/fill", vec![]), 0), "fill on");
    assert!(rig.live.ctl().fill());
    // The message lands within a step; whole loops after it play only step 1.
    steps_played(&mut rig, 1);
    let on = steps_played(&mut rig, 2);
    assert_eq!(on, [1, 1], "fill on: step 1 only");
    assert_eq!(
        text_of(&rig.query("/seq/fill", vec![OscType::Int(0)]), 0),
        "fill off"
    );
    steps_played(&mut rig, 1);
    assert_eq!(steps_played(&mut rig, 1), [3, 3]);
}

/// `/pattern/prepare N` opens a slot to prepare beside what plays, `/pattern/prepare/queue`
/// queues it with its edits, `/pattern/prepare 0` goes back; each answers in words.
#[test]
fn prepare_routes_open_a_slot_queue_it_and_go_back() {
    let mut rig = Rig::new();
    rig.query("/seq/add", vec![s("t"), s("voice1"), s("x.x.")]);
    rig.query("/pattern/save", vec![OscType::Int(4)]);
    rig.live.settle_disk();
    rig.query("/pattern/new", vec![]);
    let said = rig.query("/pattern/prepare", vec![OscType::Int(4)]);
    assert!(
        text_of(&said, 0).starts_with("preparing slot 4 "),
        "{said:?}"
    );
    assert_eq!(rig.live.ctl().prepared().unwrap().slot.get(), 4);
    assert!(
        rig.refused("/pattern/prepare", vec![OscType::Int(200)])
            .contains("128")
    );
    assert_eq!(
        text_of(&rig.query("/pattern/prepare", vec![OscType::Int(0)]), 0),
        "back to what plays; slot 4 set aside"
    );
    assert!(
        rig.refused("/pattern/prepare/queue", vec![])
            .contains("no slot is being prepared")
    );
    rig.query("/pattern/prepare", vec![OscType::Int(4)]);
    let said = rig.query("/pattern/prepare/queue", vec![s("now")]);
    assert!(text_of(&said, 0).contains("slot 4"), "{said:?}");
    assert_eq!(rig.live.ctl().slot().unwrap().get(), 4);
    assert!(rig.live.ctl().prepared().is_none());
}
