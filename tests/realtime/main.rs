//! Real-time tests: the live command path, headless runs on the internal clock and through a
//! JACK dummy server, recording, and saving while playing. They run one at a time (a process-
//! wide lock) in their own test binary, so timing is not disturbed by the parallel suite.

use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chronus::app::{AudioArgs, Session, SessionOptions};
use chronus::control::{Command, Controller, Notice};
use chronus::engine::{Engine, EngineEvent, EngineMsg, LoadTiming, Scene};
use chronus::model::registry::{ParamId, voice};
use chronus::model::slot::{Slot, Track};
use chronus::store::{SlotNumber, Store};
use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());

/// A session's options: 8 voices, 128-frame periods, no OSC, no watcher; `internal`: no sound
/// card (the paced internal clock).
fn options(internal: bool) -> SessionOptions {
    SessionOptions {
        audio: AudioArgs {
            no_audio: internal,
            buffer: 128,
            voices: 8,
            ..AudioArgs::default()
        },
        osc: None,
        watch: false,
    }
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const BIN: &str = env!("CARGO_BIN_EXE_chronus");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A one-track song at `bpm`: a sine on voice1 hitting every beat.
fn simple_song(bpm: f64) -> Slot {
    let mut s = Slot::default();
    s.metadata.name = format!("Test {bpm}");
    s.sequencer.bpm = bpm;
    let mut t = Track::new("kick", "voice1", "X...x...X...x...");
    t.base_freq = 110.0;
    t.gate_frac = 0.5;
    s.sequencer.tracks.push(t);
    s
}

fn temp_patterns(slots: &[(u8, Slot)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    for (n, s) in slots {
        store.save(SlotNumber::new(*n).unwrap(), s).unwrap();
    }
    dir
}

fn peak(buf: &[f32]) -> f32 {
    buf.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// The real command path across threads: a producer thread sends through the ring while an
/// engine loop thread renders periods. A parameter change shows in the output within one
/// period of being sent.
#[test]
fn parameter_change_reaches_output_within_one_period() {
    let _g = serial();
    let (mut runner, mut link) = chronus::engine::link::link(Engine::new(48_000.0, 8), None);
    // Hold a steady sine on voice1.
    link.send(EngineMsg::SetParam {
        id: ParamId::voice(1, voice::AMP),
        value: 0.5,
    });
    link.send(EngineMsg::Gate { voice: 1, on: true });
    let periods_done = Arc::new(AtomicU64::new(0));
    let done2 = periods_done.clone();
    let total = 400u64;
    let engine_loop = std::thread::spawn(move || {
        let mut buf = vec![0.0f32; 256];
        let mut peaks = Vec::with_capacity(total as usize);
        for _ in 0..total {
            runner.render(&mut buf);
            peaks.push(peak(&buf));
            done2.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_micros(300));
        }
        peaks
    });
    // Producer: once the tone has settled, silence voice1 by gating it off; note the period.
    while periods_done.load(Ordering::SeqCst) < 200 {
        std::thread::yield_now();
    }
    let sent_after = periods_done.load(Ordering::SeqCst);
    link.send(EngineMsg::SetParam {
        id: ParamId::voice(1, voice::AMP),
        value: 0.0,
    });
    let peaks = engine_loop.join().unwrap();
    let before = peaks[(sent_after - 1) as usize];
    assert!(before > 0.05, "tone before the change: peak {before}");
    // The message was sent after period `sent_after` finished; the very next period renders
    // with it applied, so its output already falls (amp is smoothed over ~20 ms).
    let next = (sent_after) as usize;
    let falling = peaks[next + 1] < before * 0.98;
    assert!(
        falling,
        "peaks around the change: {:?}",
        &peaks[next - 2..next + 4]
    );
    // And the change completes: silence once the smoother has settled (~20 ms = 8 periods).
    assert!(
        peaks[next + 40] < 0.01,
        "after 40 periods: {}",
        peaks[next + 40]
    );
}

/// A bar-aligned load requested mid-bar through the Controller (ring → engine loop) applies
/// at exactly the first sample of the next bar.
#[test]
fn bar_aligned_load_applies_at_next_bar_through_the_command_path() {
    let _g = serial();
    let dir = temp_patterns(&[(1, simple_song(120.0)), (2, simple_song(120.0))]);
    let (mut session, mut runner) = Session::offline(dir.path(), &options(false), 48_000);
    let ctl = session.ctl_mut();
    ctl.apply(Command::LoadSlot {
        slot: SlotNumber::new(1).unwrap(),
        immediate: true,
    })
    .unwrap();
    ctl.apply(Command::Play).unwrap();
    let mut buf = vec![0.0f32; 256];
    // 120 BPM at 48 kHz: 6000 samples per step, 96 000 per bar. Play until mid bar 0.
    let mut rendered = 0u64;
    while rendered < 40_000 {
        runner.render(&mut buf);
        rendered += 128;
        ctl.poll();
    }
    assert!(
        ctl.drain_notices().any(|n| n
            == Notice::SlotApplied {
                slot: SlotNumber::new(1).unwrap(),
                bar: 0
            }),
        "slot 1 applied at once while stopped"
    );
    ctl.apply(Command::LoadSlot {
        slot: SlotNumber::new(2).unwrap(),
        immediate: false,
    })
    .unwrap();
    assert_eq!(
        ctl.status().queued,
        Some((SlotNumber::new(2).unwrap(), 1)),
        "predicted bar"
    );
    let mut applied = None;
    while rendered < 200_000 && applied.is_none() {
        runner.render(&mut buf);
        rendered += 128;
        while let Some(ev) = ctl_event(ctl) {
            if let Notice::SlotApplied { slot, bar } = ev {
                applied = Some((slot, bar));
            }
        }
    }
    assert_eq!(
        applied,
        Some((SlotNumber::new(2).unwrap(), 1)),
        "slot 2 applies at bar 1"
    );
    assert_eq!(ctl.status().playing_slot, Some(SlotNumber::new(2).unwrap()));
}

fn ctl_event(ctl: &mut Controller) -> Option<Notice> {
    ctl.poll();
    ctl.drain_notices().next()
}

/// The sample index at which a queued snapshot applies, read from the engine's own event.
#[test]
fn queued_scene_applies_at_first_sample_of_next_bar() {
    let _g = serial();
    let mut engine = Engine::new(44_100.0, 8);
    let song = simple_song(137.0);
    engine.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(&song, 8)),
        timing: LoadTiming::Immediate,
        slot: 1,
    });
    engine.handle(EngineMsg::Play);
    let mut buf = vec![0.0f32; 256];
    for _ in 0..300 {
        engine.process(&mut buf);
    }
    engine.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(&simple_song(90.0), 8)),
        timing: LoadTiming::NextBar,
        slot: 2,
    });
    let sps = 44_100.0 * 15.0 / 137.0;
    let mut got = None;
    for _ in 0..2000 {
        engine.process(&mut buf);
        while let Some(ev) = engine.pop_event() {
            if let EngineEvent::Applied {
                slot: 2,
                bar,
                sample,
            } = ev
            {
                got = Some((bar, sample));
            }
        }
    }
    let (bar, sample) = got.expect("applied");
    let expected = ((bar * 16) as f64 * sps + 0.5).floor() as u64;
    assert_eq!(sample, expected, "bar {bar}");
}

fn run_headless(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> (Vec<Value>, String, i32) {
    let mut cmd = Proc::new(BIN);
    cmd.arg("headless").args(args).current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run chronus headless");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let events = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (events, stderr, out.status.code().unwrap_or(-1))
}

fn events_named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

/// No device at all: `headless --seconds 3 --events json` starts on the internal clock,
/// reports bars and beats (3 s at 120 BPM = 1.5 bars = 6 beats) and exits 0.
#[test]
fn headless_without_a_device_runs_on_the_internal_clock() {
    let _g = serial();
    let dir = temp_patterns(&[(1, simple_song(120.0))]);
    let patterns = dir.path().to_str().unwrap();
    let (events, stderr, code) = run_headless(
        &[
            "--no-audio",
            "--seconds",
            "3",
            "--events",
            "json",
            "--patterns",
            patterns,
        ],
        dir.path(),
        &[],
    );
    assert_eq!(code, 0, "stderr: {stderr}");
    let started = events_named(&events, "started");
    assert_eq!(started.len(), 1, "{events:?}");
    assert_eq!(started[0]["backend"], "internal");
    assert_eq!(started[0]["slot"], 1);
    let bars = events_named(&events, "bar");
    let beats = events_named(&events, "beat");
    assert!((1..=2).contains(&bars.len()), "bars: {}", bars.len());
    assert!((5..=7).contains(&beats.len()), "beats: {}", beats.len());
    let stopped = events_named(&events, "stopped");
    assert_eq!(stopped.len(), 1);
    // Late callbacks are the VM host pausing the thread: printed, not asserted. The cause
    // Chronus controls is waiting: the clock thread never blocked on a lock or I/O.
    eprintln!("late callbacks: {}", stopped[0]["late"]);
    assert_eq!(stopped[0]["blocked"], 0, "{:?}", stopped[0]);
    assert!(stderr.trim().is_empty(), "nothing on stderr: {stderr}");
}

/// The same with a real (absent) sound card: the default device cannot be opened here, so
/// Chronus says so once and plays on the internal clock.
#[test]
fn headless_falls_back_when_the_device_cannot_open() {
    let _g = serial();
    let dir = temp_patterns(&[(1, simple_song(120.0))]);
    let patterns = dir.path().to_str().unwrap();
    let (events, stderr, code) = run_headless(
        &[
            "--device",
            "alsa:nonexistent_pcm",
            "--seconds",
            "1",
            "--events",
            "json",
            "--patterns",
            patterns,
        ],
        dir.path(),
        &[],
    );
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(events_named(&events, "started")[0]["backend"], "internal");
    let infos = events_named(&events, "info");
    assert!(
        infos
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("internal clock")),
        "{events:?}"
    );
    assert!(
        !stderr.contains("ALSA lib"),
        "ALSA chatter leaked: {stderr}"
    );
}

/// Saving a slot every 100 ms while playing for 60 s causes no late callback: the audio thread
/// never waits for file work.
#[test]
fn saving_while_playing_never_makes_a_callback_late() {
    let _g = serial();
    let dir = temp_patterns(&[(1, simple_song(174.0))]);
    // As headless mode runs: the engine on the paced internal clock, saves on the disk thread.
    let mut session = Session::start(dir.path(), &options(true));
    let ctl = session.ctl_mut();
    ctl.apply(Command::LoadSlot {
        slot: SlotNumber::new(1).unwrap(),
        immediate: true,
    })
    .unwrap();
    ctl.apply(Command::Play).unwrap();
    let start = Instant::now();
    let mut saves = 0;
    let mut next = start;
    while start.elapsed() < Duration::from_secs(60) {
        ctl.poll();
        if Instant::now() >= next {
            let step = saves % 16;
            ctl.apply(Command::SetStep {
                track: "kick".into(),
                step,
                value: chronus::control::StepValue::Hit,
            })
            .unwrap();
            ctl.apply(Command::SaveSlot {
                slot: SlotNumber::new(1).unwrap(),
                force: true,
            })
            .unwrap();
            saves += 1;
            next += Duration::from_millis(100);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(600));
    ctl.poll();
    let late = ctl.stats().late.load(Ordering::Relaxed);
    let blocked = ctl.stats().blocked.load(Ordering::Relaxed);
    let callbacks = ctl.stats().callbacks.load(Ordering::Relaxed);
    eprintln!(
        "saves {saves}, callbacks {callbacks}, blocked {blocked}, late {late}, load mean {:.2}% max {:.2}%, real-time clock thread: {}",
        ctl.status().load_mean,
        ctl.status().load_max,
        ctl.stats().realtime.load(Ordering::Relaxed)
    );
    assert!(saves >= 590, "saves: {saves}");
    assert!(callbacks > 22_000, "callbacks: {callbacks}");
    // The audio thread never waited: not one callback blocked. Lateness is printed, not
    // asserted: a callback the VM's host pauses runs past its period without the thread
    // waiting for anything, which says nothing about Chronus.
    assert_eq!(blocked, 0, "the audio thread blocked while saving");
    assert!(
        ctl.settle_disk(Duration::from_secs(20)),
        "the saves finished"
    );
    drop(session);
}

#[path = "../fixtures/jack.rs"]
mod jack;
use jack::jack_or_skip;

/// End to end through cpal: slot 1 plays on `alsa:jack` (a JACK dummy server) for 5 s with
/// `--record`; the WAV holds the periods rendered after it began (5 s ± 0.25 s) and is not
/// silent, and no callback of ours was late or blocked. The xruns JACK reports are bounded, not zero: a dummy server without real-time
/// priority on a loaded 2-core CI machine misses its own wake-ups now and then (CI saw one in
/// 945 callbacks with our load at 15 % max), which says nothing about Chronus; an engine too
/// slow for its period shows as `late` in every period and as hundreds of xruns.
#[test]
fn plays_slot_one_through_jack_and_records_it() {
    let _g = serial();
    let Some(jack) = jack_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("take.wav");
    let patterns = repo().join("patterns");
    let (events, stderr, code) = run_headless(
        &[
            "--slot",
            "1",
            "--patterns",
            patterns.to_str().unwrap(),
            "--device",
            "alsa:jack",
            "--buffer",
            "256",
            "--seconds",
            "5",
            "--record",
            wav.to_str().unwrap(),
            "--events",
            "json",
        ],
        dir.path(),
        &[
            ("JACK_DEFAULT_SERVER", &jack.name),
            ("JACK_NO_START_SERVER", "1"),
        ],
    );
    drop(jack);
    assert_eq!(code, 0, "stderr: {stderr}\nevents: {events:?}");
    let started = events_named(&events, "started");
    assert_eq!(started[0]["backend"], "device", "{events:?}\n{stderr}");
    assert!(
        started[0]["device"]
            .as_str()
            .unwrap()
            .starts_with("alsa:jack")
    );
    let stopped = events_named(&events, "stopped")[0].clone();
    assert_eq!(stopped["late"], 0, "{stopped}");
    assert_eq!(stopped["blocked"], 0, "{stopped}");
    assert!(stopped["xruns"].as_u64().unwrap() <= 5, "{stopped}");
    let reader = hound::WavReader::open(&wav).expect("recording exists");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 48_000));
    let frames = reader.duration() as f64;
    let seconds = frames / 48_000.0;
    eprintln!("recorded {seconds:.4} s; stopped: {stopped}");
    // The recording holds every period JACK asked for after it began: all the callbacks'
    // frames but the few before `--record` took effect (about 60 ms of start-up here). The
    // dummy server's clock is its own and falls behind the wall clock on a loaded machine (CI
    // saw 939 periods in 5.0015 s where 948 is usual), so the length is held to the periods
    // rendered, and only loosely to the wall clock's 5 s.
    let rendered = stopped["callbacks"].as_u64().unwrap() as f64 * 256.0;
    assert!(
        frames <= rendered && frames >= rendered - 0.25 * 48_000.0,
        "recording is {frames} frames of the {rendered} rendered"
    );
    assert!((seconds - 5.0).abs() <= 0.25, "recording is {seconds} s");
    let samples: Vec<f32> = reader.into_samples::<f32>().map(Result::unwrap).collect();
    let rms = (samples.iter().map(|x| x * x).sum::<f32>() / samples.len() as f32).sqrt();
    assert!(rms > 0.01, "recording is silent (rms {rms})");
}
