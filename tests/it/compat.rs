//! Coming from Music Chronus: its scripts' message sequences, unchanged, against Chronus —
//! the forms its song scripts, demos, tests and `chronusctl.py` send, written here as data.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{Live, Setup};
use chronus::control::{Command, Level, Notice, RecordFormat};
use chronus::model::registry::{ParamId, voice};
use chronus::model::slot::Track;
use chronus::sources::osc::OscServer;
use rosc::{OscMessage, OscPacket, OscType};
use serde_json::Value;

/// Longest a step of these tests waits for the real binary (it starts slowly on a busy
/// machine); a hang fails the test after it, never hangs it.
const BOUND: Duration = Duration::from_secs(60);

/// One argument as a Python script sends it (pythonosc: int, float, str).
#[derive(Debug, Clone, Copy)]
enum A {
    I(i32),
    F(f32),
    S(&'static str),
}

fn osc_args(args: &[A]) -> Vec<OscType> {
    args.iter()
        .map(|a| match *a {
            A::I(i) => OscType::Int(i),
            A::F(f) => OscType::Float(f),
            A::S(s) => OscType::String(s.to_string()),
        })
        .collect()
}

use A::{F, I, S};

/// The message sequences of the original's typical scripts, in the order a session sends
/// them: `chronusctl.py` (status, schema, set, gate), the polyphony demo (legacy aliases,
/// chords), `test_distortion_fix.py`, the acid demo, `chronus_song_techno_journey.py` and
/// `anthem_breakbeat_8voice.py` / `digital_dreams.py` (tracks with comma-separated notes, where
/// an all-digit entry is a MIDI number), `test_recording.py`, and the pattern save.
const SCRIPT: &[(&str, &[A])] = &[
    // chronusctl.py
    ("/engine/status", &[]),
    ("/seq/status", &[]),
    ("/engine/list", &[]),
    ("/engine/schema", &[S("stdout")]),
    ("/engine/start", &[]),
    ("/mod/voice1/freq", &[F(440.0)]),
    ("/gate/voice1", &[I(1)]),
    ("/gate/voice1", &[I(0)]),
    // examples/test_polyphony.py
    ("/mod/sine1/freq", &[I(440)]),
    ("/gate/adsr1", &[F(1.0)]),
    ("/gate/adsr1", &[F(0.0)]),
    ("/mod/voice2/freq", &[F(329.63)]),
    ("/mod/voice2/amp", &[F(0.2)]),
    ("/mod/voice2/send/delay", &[F(0.7)]),
    ("/mod/filter1/freq", &[I(800)]),
    ("/mod/adsr1/attack", &[F(0.01)]),
    ("/engine/list", &[I(1)]),
    // tests/test_distortion_fix.py, examples/demo_acid_bass.py
    ("/mod/dist1/drive", &[F(0.0)]),
    ("/mod/dist1/mix", &[F(0.0)]),
    ("/mod/voice1/wave", &[S("saw")]),
    ("/mod/voice2/osc/type", &[I(1)]),
    ("/mod/voice1/slide_time", &[F(0.05)]),
    ("/mod/acid1/cutoff", &[F(800.0)]),
    ("/mod/acid1/res", &[F(0.7)]),
    ("/mod/acid1/env_amount", &[F(3000.0)]),
    ("/mod/acid1/decay", &[F(0.3)]),
    ("/mod/acid1/accent", &[F(0.8)]),
    ("/mod/acid1/drive", &[F(0.4)]),
    ("/mod/acid1/mix", &[F(1.0)]),
    ("/mod/acid1/cutoff_offset", &[I(600)]),
    ("/mod/acid1/res_accent_boost", &[F(0.25)]),
    ("/mod/acid1/accent_decay", &[F(0.08)]),
    ("/gate/acid1", &[I(1)]),
    ("/gate/acid1", &[I(0)]),
    // examples/sequencer_pyo_integrated.py drives adsr1 by hand
    ("/mod/adsr1/freq", &[F(60.0)]),
    ("/gate/adsr1", &[F(1.0)]),
    ("/gate/adsr1", &[F(0.0)]),
    // compositions/chronus_songs/chronus_song_techno_journey.py
    ("/seq/stop", &[]),
    ("/seq/clear", &[]),
    ("/mod/reverb1/mix", &[F(0.1)]),
    ("/mod/reverb1/room", &[F(0.3)]),
    ("/mod/delay1/time", &[F(0.375)]),
    ("/mod/delay1/feedback", &[F(0.3)]),
    ("/mod/delay1/mix", &[I(0)]),
    ("/mod/lfo1/depth", &[I(0)]),
    ("/mod/lfo2/depth", &[I(0)]),
    (
        "/seq/add",
        &[S("kick"), S("voice1"), S("X...X...X...X..."), I(50), I(100)],
    ),
    ("/mod/voice1/adsr/attack", &[F(0.001)]),
    ("/mod/voice1/adsr/decay", &[F(0.05)]),
    ("/mod/voice1/adsr/release", &[F(0.1)]),
    ("/seq/bpm", &[I(128)]),
    ("/seq/start", &[]),
    (
        "/seq/add",
        &[
            S("bass"),
            S("voice2"),
            S("x.x.x.x.X.x.x.X."),
            I(110),
            I(800),
        ],
    ),
    ("/mod/voice2/amp", &[F(0.35)]),
    (
        "/seq/add",
        &[
            S("hats"),
            S("voice3"),
            S("..x...x...x...x."),
            I(4000),
            I(8000),
        ],
    ),
    ("/mod/voice3/amp", &[F(0.15)]),
    // Each section of a song script starts the sequencer again.
    ("/seq/start", &[]),
    ("/seq/update/pattern", &[S("hats"), S("x.x.x.x.x.x.x.x.")]),
    ("/seq/update/pattern", &[S("kick"), S("X...X...X..XX...")]),
    ("/seq/swing", &[F(0.1)]),
    // compositions/anthem_breakbeat_8voice.py and digital_dreams.py: notes text
    (
        "/seq/add",
        &[
            S("lead"),
            S("voice5"),
            S("..x.....x......."),
            F(523.25),
            I(2800),
            S("523.25,523.25,659.25,523.25,698.46"),
        ],
    ),
    (
        "/seq/add",
        &[
            S("sub"),
            S("voice6"),
            S("x.x.x...x.x....."),
            F(41.2),
            I(250),
            S("41.2,41.2,36.7,41.2,49,49,41.2,36.7"),
        ],
    ),
    ("/seq/update/notes", &[S("lead"), S("C5,E5,G5")]),
    ("/mod/voice5/amp", &[F(0.2)]),
    ("/mod/voice6/amp", &[F(0.4)]),
    ("/seq/remove", &[S("sub")]),
    // tests/test_recording.py: record/start with None sends no argument.
    ("/engine/record/start", &[]),
    ("/engine/record/status", &[]),
    ("/pattern/save", &[I(7)]),
    ("/pattern/list", &[]),
    ("/seq/status", &[]),
];

/// Messages the original handled whose every form above must draw no `/error`; the
/// addresses the original took and ignored draw one `/warning` each instead.
const IGNORED_BY_THE_ORIGINAL: [&str; 3] = [
    "/mod/acid1/cutoff_offset",
    "/mod/acid1/res_accent_boost",
    "/mod/acid1/accent_decay",
];

/// A `chronus headless --empty` of the real binary, its stdout read line by line.
struct Headless {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Headless {
    fn start(patterns: &Path, cwd: &Path, args: &[&str]) -> Headless {
        let port = crate::support::free_udp_port();
        let mut child = Process::new(env!("CARGO_BIN_EXE_chronus"))
            .current_dir(cwd)
            .arg("--patterns")
            .arg(patterns)
            .args(["headless", "--empty", "--no-audio"])
            .args(["--osc-port", &port.to_string(), "--osc-out", "127.0.0.1:9"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chronus headless");
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {line}"));
            }
        });
        Headless {
            child,
            port,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a printed line matching `pred`.
    fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no {what} within the bound; printed:\n{:#?}", self.seen),
            }
        }
    }

    /// Every JSON event printed so far.
    fn events(&mut self) -> Vec<Value> {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Ends the run as Ctrl-C would, and gathers what it printed.
    #[cfg(unix)]
    fn finish(mut self) -> Vec<String> {
        let sent = Process::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let started = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < BOUND,
                "headless did not end after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(status.success(), "headless exited with {status}");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Headless {
    /// A test that failed half way leaves no Chronus running behind it.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends and receives as a pythonosc script does, gathering every answer.
struct Client {
    socket: UdpSocket,
    to: SocketAddr,
    got: Vec<OscMessage>,
}

impl Client {
    fn new(port: u16) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Client {
            socket,
            to: ([127, 0, 0, 1], port).into(),
            got: Vec::new(),
        }
    }

    fn send(&self, addr: &str, args: Vec<OscType>) {
        let p = OscPacket::Message(OscMessage {
            addr: addr.into(),
            args,
        });
        self.socket
            .send_to(&rosc::encoder::encode(&p).unwrap(), self.to)
            .unwrap();
    }

    fn drain(&mut self) {
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = self.socket.recv(&mut buf) {
            if let Ok((_, OscPacket::Message(m))) = rosc::decoder::decode_udp(&buf[..n]) {
                self.got.push(m);
            }
        }
    }

    /// Sends `addr` and waits (bounded) until a `/reply` or `/error` about it arrives,
    /// resending while Chronus starts.
    fn ask(&mut self, addr: &str, args: Vec<OscType>) -> OscMessage {
        let deadline = Instant::now() + BOUND;
        let about = |m: &OscMessage| {
            (m.addr == "/reply" || m.addr == "/error")
                && m.args.first() == Some(&OscType::String(addr.into()))
        };
        let before = self.got.len();
        loop {
            self.send(addr, args.clone());
            let wait = Instant::now() + Duration::from_millis(500);
            while Instant::now() < wait {
                self.drain();
                if let Some(m) = self.got[before..].iter().find(|m| about(m)) {
                    return m.clone();
                }
            }
            assert!(Instant::now() < deadline, "no answer to {addr}");
        }
    }

    fn answers(&self, kind: &str, addr: &str) -> Vec<String> {
        self.got
            .iter()
            .filter(|m| m.addr == kind && m.args.first() == Some(&OscType::String(addr.into())))
            .map(|m| match m.args.get(1) {
                Some(OscType::String(s)) => s.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }
}

fn text(m: &OscMessage, i: usize) -> String {
    match m.args.get(i) {
        Some(OscType::String(s)) => s.clone(),
        other => panic!("argument {i} of {m:?} is {other:?}"),
    }
}

/// Reads a WAV file's samples as floats (either format Chronus writes).
fn wav_samples(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let samples = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => r
            .samples::<i16>()
            .map(|s| s.unwrap() as f32 / 32767.0)
            .collect(),
    };
    (spec, samples)
}

fn rms(s: &[f32]) -> f64 {
    (s.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

/// The acceptance test: a Music Chronus session's scripts, played over UDP against the
/// real `chronus headless --empty`, are answered without one `/error`, build the song they
/// describe, and sound (the `--record` file is finite and not silent).
#[cfg(unix)]
#[test]
fn the_originals_script_sequences_play_against_headless_empty() {
    let dir = tempfile::tempdir().unwrap();
    let patterns = dir.path().join("patterns");
    std::fs::create_dir_all(&patterns).unwrap();
    let take = dir.path().join("take.wav");
    let mut run = Headless::start(
        &patterns,
        dir.path(),
        &["--events", "json", "--record", take.to_str().unwrap()],
    );
    run.wait_line("the started event", |l| l.contains("\"event\":\"started\""));
    let started = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "started")
        .unwrap();
    // --empty: nothing loaded, nothing playing, no slot.
    assert_eq!(started["slot"], Value::Null);
    assert_eq!(started["running"], false);
    assert_eq!(started["tracks"], 0);

    let mut c = Client::new(run.port);
    // Chronus answers once it listens; the first query waits for that.
    c.ask("/engine/status", vec![]);
    for (addr, args) in SCRIPT {
        c.send(addr, osc_args(args));
        // A script sends as fast as Python runs; a short pause keeps the order of the
        // answers readable without depending on it.
        std::thread::sleep(Duration::from_millis(2));
    }
    // The script's last message is a query: its answer (the second /seq/status reply) means
    // every message before it was handled.
    let deadline = Instant::now() + BOUND;
    let is_status = |m: &&OscMessage| {
        m.addr == "/reply" && m.args.first() == Some(&OscType::String("/seq/status".into()))
    };
    while c.got.iter().filter(is_status).count() < 2 {
        assert!(
            Instant::now() < deadline,
            "the script was not answered: {:#?}",
            c.got
        );
        c.drain();
    }
    let status = c.got.iter().filter(is_status).nth(1).unwrap().clone();

    // No /error for anything the original handled.
    let errors: Vec<&OscMessage> = c.got.iter().filter(|m| m.addr == "/error").collect();
    assert!(errors.is_empty(), "errors: {errors:#?}");
    // The three acid settings the original took and ignored: one warning each, once.
    for addr in IGNORED_BY_THE_ORIGINAL {
        assert_eq!(c.answers("/warning", addr).len(), 1, "{addr}: {:#?}", c.got);
    }
    // The second /seq/start changed nothing and said so.
    let starts = c.answers("/reply", "/seq/start");
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert!(starts[1].starts_with("already playing"), "{starts:?}");
    // The schema came back to chronusctl's "stdout" as JSON and was printed as an event.
    let schema = c.answers("/reply", "/engine/schema");
    let schema: Value = serde_json::from_str(&schema[0]).unwrap();
    assert_eq!(schema["engine"], "chronus");
    run.wait_line("the schema event", |l| l.contains("\"event\":\"schema\""));

    // The sequencer holds what the script built: bpm, swing, running, tracks.
    assert_eq!(
        status.args[1],
        OscType::Float(128.0),
        "{status:?}\n{:#?}",
        c.got
    );
    assert_eq!(status.args[2], OscType::Float(0.1));
    assert_eq!(status.args[3], OscType::Int(1), "running");
    let tracks: Value = serde_json::from_str(&text(&status, 5)).unwrap();
    let names: Vec<&str> = tracks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kick", "bass", "hats", "lead"]);
    let track = |n: &str| {
        tracks
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(track("kick")["pattern"], "X...X...X..XX...");
    assert_eq!(track("kick")["base_freq"], 50.0);
    assert_eq!(track("kick")["filter_freq"], 100.0);
    assert_eq!(track("hats")["pattern"], "x.x.x.x.x.x.x.x.");
    assert_eq!(
        track("lead")["notes"],
        serde_json::json!([523.25, 659.26, 783.99])
    );

    // The slot the script saved holds the same song.
    let saved = std::fs::read_to_string(patterns.join("slots/slot_007.json")).unwrap();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["sequencer"]["bpm"], 128.0);
    assert_eq!(
        saved["sequencer"]["tracks"]["lead"]["notes"],
        serde_json::json!([523.25, 659.26, 783.99])
    );
    // `wave "saw"` and `/mod/adsr1/freq` reached voice1; the second waveform voice2.
    let module = |m: &str, p: &str| saved["modules"][m][p].as_f64();
    assert_eq!(module("voice1", "waveform"), Some(1.0));
    assert_eq!(module("voice2", "waveform"), Some(1.0));
    assert_eq!(module("voice1", "freq"), Some(60.0));

    // The script's own recording went beside the --record file.
    let rec = c.answers("/reply", "/engine/record/start");
    assert!(rec[0].contains("recordings"), "{rec:?}");
    // Let the music play a while, then end the run.
    run.wait_line("a few bars", |l| {
        l.contains("\"event\":\"bar\"") && l.contains("\"bar\":2")
    });
    let printed = run.finish();
    let recorded: Vec<Value> = printed
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "recorded")
        .collect();
    assert_eq!(recorded.len(), 2, "{printed:#?}");
    let (spec, samples) = wav_samples(&take);
    assert_eq!((spec.channels, spec.bits_per_sample), (2, 32));
    assert!(samples.iter().all(|s| s.is_finite()));
    let level = rms(&samples);
    assert!(level > 1e-3, "the --record file is silent (rms {level})");
    let script_take = recorded
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .find(|p| p.contains("recordings"))
        .unwrap();
    let (_, samples) = wav_samples(&dir.path().join(&script_take));
    assert!(samples.iter().all(|s| s.is_finite()));
    assert!(rms(&samples) > 1e-3, "the script's recording is silent");
}

/// A Chronus with an OSC server on a free port, rendered here block by block.
struct Rig {
    live: Live,
    server: OscServer,
    client: UdpSocket,
}

impl Rig {
    fn new() -> Rig {
        let server = OscServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_nonblocking(true).unwrap();
        Rig {
            live: Live::start(Setup::default()),
            server,
            client,
        }
    }

    /// Sends one message, turns until the server handled it, returns what came back.
    fn ask(&mut self, addr: &str, args: &[A]) -> Vec<OscMessage> {
        let p = OscPacket::Message(OscMessage {
            addr: addr.into(),
            args: osc_args(args),
        });
        let before = self.server.stats().datagrams;
        self.client
            .send_to(
                &rosc::encoder::encode(&p).unwrap(),
                self.server.local_addr(),
            )
            .unwrap();
        let deadline = Instant::now() + BOUND;
        while self.server.stats().datagrams == before {
            assert!(Instant::now() < deadline, "the server never got {addr}");
            self.turn();
        }
        self.turn();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = self.client.recv(&mut buf) {
            if let Ok((_, OscPacket::Message(m))) = rosc::decoder::decode_udp(&buf[..n]) {
                out.push(m);
            }
        }
        out
    }

    fn turn(&mut self) -> Vec<Notice> {
        self.live.turn_with(true, &mut [&mut self.server])
    }

    fn param(&self, id: ParamId) -> f64 {
        self.live.ctl().song().params.get(id)
    }

    fn track(&self, name: &str) -> Track {
        self.live
            .ctl()
            .song()
            .sequencer
            .tracks
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no track {name}"))
            .clone()
    }
}

fn of_kind(got: &[OscMessage], kind: &str) -> Vec<(String, String)> {
    got.iter()
        .filter(|m| m.addr == kind)
        .map(|m| {
            (
                text(m, 0),
                m.args.get(1).map(|_| text(m, 1)).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn seq_start_while_playing_changes_nothing_and_restart_starts_again() {
    let mut rig = Rig::new();
    rig.ask("/seq/add", &[S("kick"), S("voice1"), S("X...X...")]);
    let got = rig.ask("/seq/start", &[]);
    assert_eq!(
        of_kind(&got, "/reply"),
        [("/seq/start".into(), "playing".into())]
    );
    for _ in 0..200 {
        rig.turn();
    }
    let step = rig.live.ctl().status().global_step;
    assert!(step > 4, "step {step}");
    let got = rig.ask("/seq/start", &[]);
    let reply = of_kind(&got, "/reply");
    assert!(
        reply[0].1.starts_with("already playing: nothing changed"),
        "{reply:?}"
    );
    assert!(of_kind(&got, "/error").is_empty());
    assert!(
        rig.live.ctl().status().global_step >= step,
        "the start did not restart"
    );
    let got = rig.ask("/seq/restart", &[]);
    assert_eq!(of_kind(&got, "/reply")[0].1, "playing from step 0");
    assert!(rig.live.ctl().status().global_step < step);

    // A missing track: an error, and nothing changes.
    let before = rig.live.ctl().song().clone();
    let got = rig.ask("/seq/update/pattern", &[S("nope"), S("x...")]);
    assert_eq!(of_kind(&got, "/error").len(), 1, "{got:?}");
    let got = rig.ask("/seq/remove", &[S("nope")]);
    assert_eq!(of_kind(&got, "/error").len(), 1, "{got:?}");
    assert_eq!(rig.live.ctl().song(), &before);
}

#[test]
fn note_lists_clamp_and_skip_entries_with_a_warning_each() {
    let mut rig = Rig::new();
    let got = rig.ask(
        "/seq/add",
        &[
            S("bass"),
            S("voice2"),
            S("x.x."),
            I(55),
            I(800),
            S("C2,H2,200,45"),
        ],
    );
    assert!(of_kind(&got, "/error").is_empty(), "{got:?}");
    assert_eq!(rig.track("bass").notes, vec![65.41, 5000.0, 110.0]);
    let warnings = of_kind(&got, "/warning");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].1.contains("\"H2\" is not a note"),
        "{warnings:?}"
    );
    assert!(warnings[1].1.contains("\"200\""), "{warnings:?}");
    // Space-separated lists are lists, as on the tracker's prompt and in slot files.
    rig.ask("/seq/update/notes", &[S("bass"), S("C2 E2 G2")]);
    let spaced = rig.track("bass").notes;
    rig.ask("/seq/update/notes", &[S("bass"), S("C2,E2,G2")]);
    assert_eq!(rig.track("bass").notes, spaced);
    assert_eq!(spaced, vec![65.41, 82.41, 98.0]);
    // The same warning is not sent twice to the same sender.
    let got = rig.ask("/seq/update/notes", &[S("bass"), S("C2,H2")]);
    assert_eq!(of_kind(&got, "/warning").len(), 1);
    let got = rig.ask("/seq/update/notes", &[S("bass"), S("C2,H2")]);
    assert!(of_kind(&got, "/warning").is_empty(), "{got:?}");
    assert_eq!(rig.track("bass").notes, vec![65.41]);

    // Slot files: notes text reads the same way, each warning naming its JSON path.
    let doc = serde_json::json!({
        "sequencer": {"tracks": {"bass": {"voice_id": "voice2", "pattern": "x...",
            "notes": ["C2 E2", 98.0, "H2"]}, "lead": {"voice_id": "voice3",
            "pattern": "x...", "notes": "A4, 10000.0"}}},
        "modules": {"voice1": {"waveform": "saw"}}
    });
    let parsed = chronus::model::slot::parse_slot(&doc.to_string(), "slot.json").unwrap();
    // A waveform may be named in a slot file too, as over OSC and on the prompt.
    assert_eq!(
        parsed.slot.params.get(ParamId::voice(1, voice::WAVEFORM)),
        1.0
    );
    let tracks = &parsed.slot.sequencer.tracks;
    assert_eq!(tracks[0].notes, vec![65.41, 82.41, 98.0]);
    assert_eq!(tracks[1].notes, vec![440.0, 5000.0]);
    let warnings: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("sequencer.tracks.bass.notes[2]"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("sequencer.tracks.lead.notes"),
        "{warnings:?}"
    );
}

#[test]
fn addresses_the_original_ignored_are_warned_once_and_counted() {
    let mut rig = Rig::new();
    let freq = ParamId::voice(1, voice::FREQ);
    // A stream of the same no-op: one warning, no error, each counted.
    let mut warnings = 0;
    for _ in 0..5 {
        let got = rig.ask("/mod/acid1/cutoff_offset", &[I(600)]);
        assert!(of_kind(&got, "/error").is_empty(), "{got:?}");
        warnings += of_kind(&got, "/warning").len();
    }
    assert_eq!(warnings, 1);
    for (addr, args) in [
        ("/mod/voice1/freq", &[][..]),
        ("/gate/voice1", &[][..]),
        ("/gate/sine1", &[I(1)][..]),
        ("/gate/voice12", &[I(1)][..]),
        ("/mod/voice12/freq", &[I(300)][..]),
    ] {
        let before = rig.live.ctl().song().clone();
        let got = rig.ask(addr, args);
        assert!(of_kind(&got, "/error").is_empty(), "{addr}: {got:?}");
        let w = of_kind(&got, "/warning");
        assert_eq!(w.len(), 1, "{addr}: {got:?}");
        assert!(w[0].1.contains("nothing changed"), "{w:?}");
        assert_eq!(rig.live.ctl().song(), &before, "{addr}");
        assert!(rig.ask(addr, args).is_empty(), "{addr} warned twice");
    }
    assert_eq!(rig.param(freq), 440.0);
    // Meanings the registry has: `wave` is the waveform, adsr1 is voice1.
    let got = rig.ask("/mod/voice3/wave", &[S("square")]);
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(rig.param(ParamId::voice(3, voice::WAVEFORM)), 2.0);
    rig.ask("/mod/adsr1/freq", &[F(60.0)]);
    assert_eq!(rig.param(freq), 60.0);
    // The schema lists what was ignored under unknown_routes.
    let got = rig.ask("/engine/schema", &[]);
    let schema: Value = serde_json::from_str(&text(&got[0], 1)).unwrap();
    let unknown: Vec<&str> = schema["unknown_routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for addr in [
        "/mod/acid1/cutoff_offset",
        "/gate/sine1",
        "/mod/voice1/freq",
    ] {
        assert!(unknown.contains(&addr), "{addr} not in {unknown:?}");
    }
    assert_eq!(rig.server.stats().ignored, 5 + 2 * 5);
}

#[test]
fn waveform_numbers_map_as_the_original_did_and_say_so() {
    let mut rig = Rig::new();
    let wave = ParamId::voice(1, voice::WAVEFORM);
    for (value, plays, warned) in [
        (A::I(3), 3.0, None),
        (
            A::I(7),
            0.0,
            Some("waveform 7 is outside 0–5: plays 0 (sine), as Music Chronus did"),
        ),
        (
            A::F(1.7),
            1.0,
            Some("waveform 1.7 is not a whole number: plays 1 (saw), as Music Chronus did"),
        ),
        (
            A::I(-1),
            0.0,
            Some("waveform -1 is outside 0–5: plays 0 (sine), as Music Chronus did"),
        ),
        (A::S("saw"), 1.0, None),
        (A::S("square"), 2.0, None),
    ] {
        let got = rig.ask("/mod/voice1/osc/type", &[value]);
        assert_eq!(rig.param(wave), plays, "{value:?}");
        let w = of_kind(&got, "/warning");
        assert_eq!(
            w.first().map(|w| w.1.as_str()),
            warned,
            "{value:?}: {got:?}"
        );
        assert!(of_kind(&got, "/error").is_empty());
    }
    // Names go everywhere a parameter is typed by name: `wave` is the waveform.
    let got = rig.ask("/mod/voice2/wave", &[S("pink")]);
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(rig.param(ParamId::voice(2, voice::WAVEFORM)), 4.0);
    let e = rig.ask("/mod/voice1/osc/type", &[S("triangle")]);
    assert_eq!(of_kind(&e, "/error").len(), 1, "{e:?}");
}

#[test]
fn schema_stdout_replies_the_schema_and_asks_headless_to_print_it() {
    let mut rig = Rig::new();
    let got = rig.ask("/engine/schema", &[S("stdout")]);
    let reply = of_kind(&got, "/reply");
    let schema: Value = serde_json::from_str(&reply[0].1).unwrap();
    assert_eq!(schema["schema_version"], "1.0");
    let printed = rig.live.notices.iter().find_map(|(_, n)| match n {
        Notice::SchemaPrinted { json } => Some(json.clone()),
        _ => None,
    });
    let printed: Value = serde_json::from_str(&printed.expect("no SchemaPrinted")).unwrap();
    assert_eq!(printed, schema);
}

#[test]
fn every_error_and_warning_sent_is_a_notice_naming_the_sender() {
    let mut rig = Rig::new();
    let me = rig.client.local_addr().unwrap();
    rig.ask("/seq/bpm", &[S("fast")]);
    rig.ask("/mod/acid1/accent_decay", &[F(0.1)]);
    let answers: Vec<&Notice> = rig
        .live
        .notices
        .iter()
        .map(|(_, n)| n)
        .filter(|n| matches!(n, Notice::OscAnswer { .. }))
        .collect();
    assert_eq!(answers.len(), 2, "{answers:?}");
    match answers[0] {
        Notice::OscAnswer {
            level,
            address,
            message,
            from,
        } => {
            assert_eq!(*level, Level::Error);
            assert_eq!(address, "/seq/bpm");
            assert!(message.contains("fast"), "{message}");
            assert_eq!(*from, Some(me));
        }
        _ => unreachable!(),
    }
    assert!(matches!(
        answers[1],
        Notice::OscAnswer {
            level: Level::Warning,
            ..
        }
    ));
}

#[cfg(unix)]
#[test]
fn headless_shows_osc_errors_as_events_and_as_stderr_lines() {
    let dir = tempfile::tempdir().unwrap();
    for json in [true, false] {
        let args: &[&str] = if json { &["--events", "json"] } else { &[] };
        let mut run = Headless::start(dir.path(), dir.path(), args);
        let mut c = Client::new(run.port);
        let e = c.ask("/seq/bpm", vec![OscType::String("fast".into())]);
        assert_eq!(e.addr, "/error");
        let me = c.socket.local_addr().unwrap().to_string();
        if json {
            let line = run.wait_line("an osc_error event", |l| l.contains("osc_error"));
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["event"], "osc_error");
            assert_eq!(v["address"], "/seq/bpm");
            assert_eq!(v["from"], me.as_str());
            assert!(v["message"].as_str().unwrap().contains("fast"), "{v}");
        } else {
            let line = run.wait_line("a stderr line", |l| l.starts_with("stderr: OSC refused"));
            assert!(line.contains("/seq/bpm") && line.contains(&me), "{line}");
        }
        run.finish();
    }
}

/// Text mode prints the schema as Music Chronus printed it; `--record-bits 16` writes the
/// original's 16-bit files, and `--record-ends-on-stop` lets a script's `/engine/stop` end
/// the `--record` file, as it ended the original's recording.
#[cfg(unix)]
#[test]
fn headless_text_mode_prints_the_schema_and_records_sixteen_bits_until_engine_stop() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out16.wav");
    let mut run = Headless::start(
        dir.path(),
        dir.path(),
        &[
            "--record",
            out.to_str().unwrap(),
            "--record-bits",
            "16",
            "--record-ends-on-stop",
        ],
    );
    run.wait_line("the recording line", |l| {
        l.contains("recording to") && l.contains("16-bit stereo")
    });
    let mut c = Client::new(run.port);
    let reply = c.ask("/engine/schema", vec![OscType::String("stdout".into())]);
    assert_eq!(reply.addr, "/reply");
    run.wait_line("the schema banner", |l| l == "ENGINE PARAMETER SCHEMA");
    run.wait_line("the schema's JSON", |l| {
        l.contains("\"engine\": \"chronus\"")
    });
    let stop = c.ask("/engine/stop", vec![]);
    assert_eq!(text(&stop, 1), "audio off");
    run.wait_line("the --record file finished", |l| {
        l.starts_with("recorded") && l.contains("out16.wav")
    });
    run.finish();
    let (spec, samples) = wav_samples(&out);
    assert_eq!((spec.channels, spec.bits_per_sample), (2, 16));
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    assert!(samples.iter().all(|s| s.is_finite()));
    // A bad format is refused before anything runs, quoting the value.
    let bad = crate::support::chronus_bounded(&["headless", "--record-bits", "24"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("\"24\" is not a recording format"),
        "{bad:?}"
    );
}

/// `chronus --empty` opens the tracker on an empty, stopped song in the first slot with no
/// file, leaving slot 1's song on disk alone.
#[cfg(unix)]
#[test]
fn the_tracker_starts_empty_in_the_first_free_slot() {
    if !crate::support::tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = chronus::store::Store::new(dir.path());
    let mut song = chronus::model::slot::Slot::default();
    song.metadata.name = "busy".into();
    let kick = song.new_track("kick", "voice1", "X...X...");
    song.sequencer.tracks.push(kick);
    store
        .save(chronus::store::SlotNumber::new(1).unwrap(), &song)
        .unwrap();
    let tmux = crate::support::Tmux::new("compat-empty");
    let screen = tmux.start(dir.path(), &["--empty", "--no-osc"]);
    let screen = if screen.contains("empty song in slot 2") {
        screen
    } else {
        tmux.wait_for("the empty song", |s| s.contains("empty song in slot 2"))
    };
    assert!(!screen.contains("kick"), "{screen}");
    tmux.send(&["q"]);
    tmux.wait_gone("after q");
    // Nothing was written: slot 1 is as it was, slot 2 has no file.
    assert_eq!(
        store
            .load(chronus::store::SlotNumber::new(1).unwrap())
            .unwrap()
            .slot
            .metadata
            .name,
        "busy"
    );
    assert!(!dir.path().join("slots/slot_002.json").exists());
}

#[test]
fn recordings_a_script_starts_go_beside_the_run_file_and_engine_stop_leaves_it() {
    let mut live = Live::start(Setup::default());
    let run_file = live.dir.path().join("run.wav");
    let run_path = live
        .ctl_mut()
        .record_run_to(&run_file, RecordFormat::Float32)
        .unwrap();
    live.apply(Command::SetParam {
        id: ParamId::voice(1, voice::FREQ),
        value: 220.0,
    });
    live.apply(Command::Gate { voice: 1, on: true });
    live.run(4800);
    // The script's start makes a second file, 16-bit as the original wrote.
    let msg = live
        .apply(Command::RecordStartAs(
            Some("script".into()),
            RecordFormat::Int16,
        ))
        .unwrap();
    assert!(msg.contains("the --record file"), "{msg}");
    live.run(9600);
    // The script's /engine/stop ends its take; the run's file goes on.
    live.apply(Command::EngineStop);
    assert_eq!(live.ctl().recording(), Some(run_path.as_path()));
    live.apply(Command::EngineStart);
    live.apply(Command::Gate { voice: 1, on: true });
    live.run(4800);
    assert!(live.ctl_mut().finish_recordings().is_empty());
    live.gather();
    let done: Vec<_> = live
        .notices
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::Recorded(info) => Some(info.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(done.len(), 2);
    let (spec, take) = wav_samples(&done[0].path);
    assert_eq!(
        (spec.bits_per_sample, spec.sample_format),
        (16, hound::SampleFormat::Int)
    );
    assert!(rms(&take) > 1e-3);
    let (spec, whole) = wav_samples(&run_path);
    assert_eq!(
        (spec.bits_per_sample, spec.sample_format),
        (32, hound::SampleFormat::Float)
    );
    // The run's file holds more than the take: it went on after /engine/stop.
    assert!(
        whole.len() > take.len(),
        "{} vs {}",
        whole.len(),
        take.len()
    );
    assert!(whole.iter().all(|s| s.is_finite()) && rms(&whole) > 1e-3);
}

/// A flood of bad messages is told as at most [`MAX_ANSWER_NOTICES`] notices per turn and one
/// count, so a headless run's output stays bounded.
#[test]
fn a_flood_of_errors_is_told_one_by_one_up_to_a_bound_then_counted() {
    use chronus::sources::osc::MAX_ANSWER_NOTICES;
    let mut rig = Rig::new();
    let bad = |i: usize| {
        OscPacket::Message(OscMessage {
            addr: "/seq/bpm".into(),
            args: vec![OscType::String(format!("fast{i}"))],
        })
    };
    for b in 0..2 {
        let bundle = OscPacket::Bundle(rosc::OscBundle {
            timetag: rosc::OscTime {
                seconds: 0,
                fractional: 1,
            },
            content: (0..200).map(|i| bad(b * 200 + i)).collect(),
        });
        rig.client
            .send_to(
                &rosc::encoder::encode(&bundle).unwrap(),
                rig.server.local_addr(),
            )
            .unwrap();
    }
    // Both are usually waiting by the first turn (if not, the other branch below holds).
    std::thread::sleep(Duration::from_millis(100));
    let deadline = Instant::now() + BOUND;
    while rig.server.stats().datagrams < 2 {
        assert!(Instant::now() < deadline);
        rig.turn();
    }
    rig.turn();
    let told = rig
        .live
        .notices
        .iter()
        .filter(|(_, n)| matches!(n, Notice::OscAnswer { .. }))
        .count();
    let counted: Vec<&String> = rig
        .live
        .notices
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::Message(Level::Warning, t) if t.contains("more /error") => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(rig.server.stats().refused, 400);
    if rig.server.stats().received == 2 && counted.len() == 1 {
        // Both datagrams in one turn: 256 told, 144 counted.
        assert_eq!(told, MAX_ANSWER_NOTICES);
        assert!(counted[0].contains("144 more"), "{counted:?}");
    } else {
        // The datagrams came in two turns: each turn's 200 were all told.
        assert_eq!((told, counted.len()), (400, 0));
    }
}
