//! The composition root: a whole session (engine on the internal clock, controller, OSC,
//! watcher) built by `Session::start` and turned as the tracker and headless mode turn it.

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chronus::app::{Session, SessionOptions};
use chronus::audio::AudioArgs;
use chronus::control::{Command, Level, Notice};
use chronus::sources::osc::OscArgs;
use chronus::store::SlotNumber;
use rosc::{OscMessage, OscPacket};

const SONG: &str = r#"{
  "metadata": { "name": "Session Song" },
  "sequencer": { "bpm": 240.0,
    "tracks": { "kick": { "name": "kick", "voice_id": "voice1", "pattern": "X...X...X...X..." } } }
}
"#;

fn patterns_with_song() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let slots = dir.path().join("slots");
    fs::create_dir_all(&slots).unwrap();
    fs::write(slots.join("slot_001.json"), SONG).unwrap();
    dir
}

fn options(osc: bool) -> SessionOptions {
    SessionOptions {
        audio: AudioArgs {
            no_audio: true,
            buffer: 128,
            voices: 4,
            ..AudioArgs::default()
        },
        osc: osc.then(|| OscArgs {
            osc_port: 0,
            osc_out: vec!["127.0.0.1:9".into()],
            ..OscArgs::default()
        }),
        watch: false,
    }
}

fn start(patterns: &Path, osc: bool) -> Session {
    let mut s = Session::start(patterns, &options(osc));
    s.apply(Command::LoadSlot {
        slot: SlotNumber::new(1).unwrap(),
        immediate: true,
    })
    .unwrap();
    s
}

/// Turns the session until `until` holds for a notice, or fails after 10 s.
fn turn_until(s: &mut Session, what: &str, until: impl Fn(&Notice) -> bool) -> Vec<Notice> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut all = Vec::new();
    loop {
        s.wait(Duration::from_millis(5));
        let got = s.turn();
        let done = got.iter().any(&until);
        all.extend(got);
        if done {
            return all;
        }
        assert!(Instant::now() < deadline, "no {what} in {all:?}");
    }
}

#[test]
fn a_lost_device_leaves_the_same_engine_playing_on_the_internal_clock() {
    let dir = patterns_with_song();
    let mut s = start(dir.path(), false);
    assert_eq!(s.backend().kind, "internal");
    s.apply(Command::Play).unwrap();
    // 240 BPM: a bar a second.
    turn_until(&mut s, "bar 1", |n| matches!(n, Notice::Bar { bar: 1, .. }));
    s.ctl().stats().device_lost.store(true, Ordering::Relaxed);
    let notices = turn_until(&mut s, "bar 2", |n| matches!(n, Notice::Bar { bar: 2, .. }));
    assert!(
        notices.iter().any(|n| matches!(
            n,
            Notice::Message(Level::Warning, t) if t.contains("went away")
        )),
        "{notices:?}"
    );
    // The same engine: the bar count goes on (a new engine would start again at bar 0 and
    // the song would be re-applied).
    assert!(
        !notices
            .iter()
            .any(|n| matches!(n, Notice::SlotApplied { .. } | Notice::Started)),
        "nothing replayed: {notices:?}"
    );
    assert_eq!(s.backend().kind, "internal");
    assert_eq!(s.ctl().status().backend, s.backend().describe);
    assert!(s.ctl().status().running);
    // A second turn does not switch again.
    let again = s.turn();
    assert!(
        !again
            .iter()
            .any(|n| matches!(n, Notice::Message(Level::Warning, _))),
        "{again:?}"
    );
}

fn osc_addr(s: &Session) -> SocketAddr {
    let line = s
        .status_lines()
        .into_iter()
        .find(|l| l.starts_with("OSC "))
        .expect("an OSC status line");
    line["OSC ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn an_osc_datagram_wakes_the_loop_and_is_answered_without_a_timer_tick() {
    let dir = patterns_with_song();
    let mut s = start(dir.path(), true);
    let addr = osc_addr(&s);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let bytes = rosc::encoder::encode(&OscPacket::Message(OscMessage {
        addr: "/seq/bpm".into(),
        args: vec![rosc::OscType::Float(133.0)],
    }))
    .unwrap();
    // Settle the first turn (the server announces itself).
    s.turn();
    for round in 0..20 {
        client.send_to(&bytes, addr).unwrap();
        // A wait far longer than any tick: only the datagram's wake-up ends it early.
        let woke = s.wait(Duration::from_secs(5));
        s.turn();
        assert!(woke, "round {round}: the datagram did not wake the loop");
        assert_eq!(s.ctl().song().sequencer.bpm, 133.0);
        // Another wake-up (the draft debounce, a disk report) may have ended the wait just
        // before the datagram arrived: its own wake-up then ends the next wait.
        let mut buf = [0u8; 1024];
        let mut reply = client.recv_from(&mut buf);
        for _ in 0..3 {
            if reply.is_ok() {
                break;
            }
            assert!(s.wait(Duration::from_secs(5)), "round {round}: no wake-up");
            s.turn();
            reply = client.recv_from(&mut buf);
        }
        let (n, _) = reply.expect("a reply");
        assert!(n > 0);
    }
}
