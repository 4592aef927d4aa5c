//! Ableton Link: no thread or socket without `--link`; the audio side's steering never
//! allocates; and, end to end in a network namespace of the test's own (loopback only, so
//! Link's discovery never leaves it), two headless instances at different tempos share one
//! tempo and their bar lines, and a third Link peer (the Link library driven directly, as
//! Ableton's `link_hut` does) changes the tempo for both.

// The namespace test runs on Linux with the `link` feature only; its helpers stay unused
// elsewhere.
#![cfg_attr(not(all(target_os = "linux", feature = "link")), allow(dead_code))]

use std::path::Path;
use std::process::{Command as Process, Stdio};

use chronus::engine::link as engine_link;
use chronus::engine::timeline::{Timeline, TimelineSync};
use chronus::engine::{Engine, EngineMsg};

/// A session timeline without a network: beats at a steady tempo from an origin, on a clock
/// (µs) the test moves on with each buffer it renders, as a sound card's callbacks would.
struct Steady {
    origin: i64,
    bpm: f64,
    playing: bool,
    clock: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Timeline for Steady {
    fn capture(&mut self) -> i64 {
        self.clock.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn tempo(&self) -> f64 {
        self.bpm
    }
    fn beat_at(&self, t: i64) -> f64 {
        (t - self.origin) as f64 / 1e6 * self.bpm / 60.0
    }
    fn time_at(&self, beat: f64) -> i64 {
        self.origin + (beat * 60.0 / self.bpm * 1e6) as i64
    }
    fn request_beat(&mut self, beat: f64, t: i64) {
        let b = self.beat_at(t);
        let next = b + (beat - b).rem_euclid(4.0);
        self.origin = self.time_at(next - beat);
    }
    fn is_playing(&self) -> bool {
        self.playing
    }
    fn time_for_is_playing(&self) -> i64 {
        0
    }
    fn set_playing(&mut self, playing: bool, _t: i64) {
        self.playing = playing;
    }
    fn commit(&mut self) {}
}

/// The runner with a timeline attached: Play, Stop, tempo edits, loads and the steering
/// itself, buffer after buffer, never allocate on the audio thread.
#[test]
fn steering_by_a_timeline_never_allocates_on_the_audio_thread() {
    let engine = Engine::new(48_000.0, 8);
    let (mut runner, mut ctl) = engine_link::link(engine, None);
    let clock = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let timeline = Steady {
        origin: 300_000,
        bpm: 133.0,
        playing: false,
        clock: clock.clone(),
    };
    let sync = TimelineSync::new(Box::new(timeline), 48_000, true);
    ctl.send(EngineMsg::AttachTimeline(Box::new(sync)));
    let mut buf = vec![0.0f32; 256];
    let mut bars = 0;
    assert_no_alloc::assert_no_alloc(|| {
        for b in 0..4000 {
            match b % 1000 {
                0 => ctl.send(EngineMsg::Play),
                10 => ctl.send(EngineMsg::SetBpm(90.0)),
                900 => ctl.send(EngineMsg::Stop),
                _ => {}
            }
            // 128 frames at 48 kHz: the time one buffer plays.
            clock.store(b * 8000 / 3, std::sync::atomic::Ordering::Relaxed);
            runner.render(&mut buf);
            while let Some(ev) = ctl.try_event() {
                if let engine_link::HostEvent::Engine(chronus::engine::EngineEvent::Bar {
                    ..
                }) = ev
                {
                    bars += 1;
                }
            }
        }
        ctl.send(EngineMsg::DetachTimeline);
        runner.render(&mut buf);
    });
    assert!(bars > 0, "the sequencer played");
    let stats = &ctl.stats.timeline;
    assert_eq!(stats.tempo(), None, "detached");
    assert!(stats.buffers.load(std::sync::atomic::Ordering::Relaxed) >= 4000);
    // The detached timeline came back to be dropped here, off the audio thread.
    assert!(ctl.collect_garbage() >= 1);
}

/// Names of a process's threads and whether it holds any socket.
#[cfg(target_os = "linux")]
fn threads_and_sockets(pid: u32) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(n) = std::fs::read_to_string(t.path().join("comm")) {
                names.push(n.trim().to_string());
            }
        }
    }
    let sockets = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter(|f| {
                    std::fs::read_link(f.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0);
    (names, sockets)
}

/// Reads a child's JSON lines on a thread, each with the time it arrived.
struct Lines {
    rx: std::sync::mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
}

impl Lines {
    fn new(child: &mut std::process::Child) -> Lines {
        use std::io::BufRead;
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits (up to `secs`) for an event matching `f`; true when one came.
    fn wait_for(&mut self, secs: f64, f: impl Fn(&serde_json::Value) -> bool) -> bool {
        let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
        if self.seen.iter().any(&f) {
            return true;
        }
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(v) => {
                    let hit = f(&v);
                    self.seen.push(v);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    fn drain(&mut self) {
        while let Ok(v) = self.rx.try_recv() {
            self.seen.push(v);
        }
    }

    /// The bar events: (bar, unix time, bpm, link peers).
    fn bars(&self) -> Vec<(u64, f64, f64, u64)> {
        self.seen
            .iter()
            .filter(|v| v["event"] == "bar")
            .map(|v| {
                (
                    v["bar"].as_u64().unwrap_or(0),
                    v["time"].as_f64().unwrap_or(0.0),
                    v["bpm"].as_f64().unwrap_or(0.0),
                    v["link"]["peers"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }
}

fn is_bar(v: &serde_json::Value) -> bool {
    v["event"] == "bar"
}

/// A patterns folder whose slot 1 is the shipped slot `from` (its tempo with it).
fn patterns_with(dir: &Path, from: u8) {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("patterns/slots/slot_{from:03}.json"));
    std::fs::create_dir_all(dir.join("slots")).unwrap();
    std::fs::copy(src, dir.join("slots/slot_001.json")).unwrap();
}

fn headless(patterns: &Path, extra: &[&str], seconds: u32) -> std::process::Child {
    let mut args = vec![
        "--patterns".to_string(),
        patterns.display().to_string(),
        "headless".into(),
        "--no-audio".into(),
        "--no-osc".into(),
        "--events".into(),
        "json".into(),
        "--seconds".into(),
        seconds.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Process::new(env!("CARGO_BIN_EXE_chronus"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chronus headless")
}

/// Without `--link` Chronus starts no Link thread and opens no socket (here with OSC off,
/// so it opens none at all).
#[cfg(target_os = "linux")]
#[test]
fn without_link_no_link_thread_or_socket_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    patterns_with(dir.path(), 3);
    let mut child = headless(dir.path(), &[], 30);
    let mut lines = Lines::new(&mut child);
    assert!(lines.wait_for(20.0, is_bar), "it plays");
    let (threads, sockets) = threads_and_sockets(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !threads.iter().any(|t| t.starts_with("Link")),
        "threads: {threads:?}"
    );
    assert!(threads.iter().any(|t| t == "chronus-clock"), "{threads:?}");
    assert_eq!(sockets, 0, "sockets open without --link and OSC");
}

/// Set in the re-executed test that runs inside the network namespace.
#[cfg(all(target_os = "linux", feature = "link"))]
const IN_NETNS: &str = "CHRONUS_LINK_NETNS";

/// True when this process may make a network namespace of its own (root, or user
/// namespaces allowed), with `ip` to bring its loopback up.
#[cfg(all(target_os = "linux", feature = "link"))]
fn can_unshare() -> Result<(), String> {
    let ok = Process::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link set lo up && ip route add 224.0.0.0/4 dev lo",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match ok {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("`unshare -n` with `ip` failed ({s})")),
        Err(e) => Err(format!("`unshare` could not run: {e}")),
    }
}

/// The acceptance: two instances at 125 and 128 BPM share one tempo and their bar lines
/// (median bar-start offset ≤ 1 ms after they converge, within 2 s of the second joining);
/// a third peer that is not Chronus proposes 140 BPM and both follow, still bar-aligned.
/// Runs itself again inside `unshare -n` (a network namespace with loopback only).
#[cfg(all(target_os = "linux", feature = "link"))]
#[test]
#[ignore = "timed across processes: make test runs it alone after the suite"]
fn two_instances_and_a_third_peer_share_tempo_and_bar_lines_in_a_private_network() {
    let name =
        "link::two_instances_and_a_third_peer_share_tempo_and_bar_lines_in_a_private_network";
    if std::env::var_os(IN_NETNS).is_none() {
        if let Err(why) = can_unshare() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{why}: the Link test needs a network namespace (CI is set, so this fails instead of skipping)"
            );
            eprintln!("skipped: {why} — the Link test needs a network namespace of its own");
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let out = Process::new("unshare")
            .args([
                "-n",
                "sh",
                "-c",
                "ip link set lo up && ip route add 224.0.0.0/4 dev lo && exec \"$0\" \"$@\"",
            ])
            .arg(exe)
            .args([
                name,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(IN_NETNS, "1")
            .output()
            .expect("run the test inside unshare -n");
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("{err}");
        assert!(
            out.status.success() && text.contains("1 passed"),
            "inside the namespace:\n{text}\n{err}"
        );
        return;
    }
    // Inside: loopback is the only interface, so Link's multicast stays in here.
    let nets: Vec<String> = std::fs::read_to_string("/proc/self/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_string()))
        .collect();
    assert_eq!(nets, vec!["lo".to_string()], "a private network");

    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    patterns_with(a_dir.path(), 3); // 125 BPM
    patterns_with(b_dir.path(), 8); // 128 BPM
    let mut a = headless(a_dir.path(), &["--link"], 22);
    let mut a_lines = Lines::new(&mut a);
    assert!(a_lines.wait_for(20.0, is_bar), "A plays");
    let b_spawned = now_unix();
    let mut b = headless(b_dir.path(), &["--link"], 20);
    let mut b_lines = Lines::new(&mut b);
    // Three bars of both together (at 125 BPM a bar is 1.92 s).
    assert!(
        b_lines.wait_for(20.0, |v| is_bar(v) && v["bar"].as_u64() >= Some(2)),
        "B plays"
    );
    a_lines.drain();

    // The third peer: the Link library itself, as link_hut drives it.
    let peer = rusty_link::AblLink::new(100.0);
    peer.enable(true);
    let joined = std::time::Instant::now();
    while peer.num_peers() < 2 && joined.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(peer.num_peers(), 2, "the third peer sees both instances");
    let mut state = rusty_link::SessionState::new();
    peer.capture_app_session_state(&mut state);
    let session_before = state.tempo();
    let changed_at = now_unix();
    state.set_tempo(140.0, peer.clock_micros());
    peer.commit_app_session_state(&state);
    let follows = |v: &serde_json::Value| is_bar(v) && at_140(v["bpm"].as_f64().unwrap_or(0.0));
    assert!(a_lines.wait_for(10.0, follows), "A follows the third peer");
    assert!(b_lines.wait_for(10.0, follows), "B follows the third peer");
    let _ = a.wait();
    let _ = b.wait();
    a_lines.drain();
    b_lines.drain();
    drop(peer);

    let a_bars = a_lines.bars();
    let b_bars = b_lines.bars();
    // Each of B's bars against A's nearest bar line.
    let offset = |t: f64| {
        a_bars
            .iter()
            .map(|x| (t - x.1) * 1000.0)
            .min_by(|x, y| x.abs().total_cmp(&y.abs()))
            .unwrap()
    };
    let rows: Vec<(u64, f64, f64, f64)> = b_bars
        .iter()
        .map(|&(bar, t, bpm, _)| (bar, t, bpm, offset(t)))
        .collect();
    // Converged, in the words: B plays the session's one tempo (A's); from then on
    // the median of its bar starts' offsets from A's is at most 1 ms.
    let first_ok = rows
        .iter()
        .position(|r| (r.2 - session_before).abs() < 0.01)
        .expect("B plays the session's tempo");
    let converged = rows[first_ok].1 - b_spawned;
    let before: Vec<&(u64, f64, f64, f64)> = rows[first_ok..]
        .iter()
        .filter(|r| r.1 < changed_at)
        .collect();
    let after: Vec<&(u64, f64, f64, f64)> = rows[first_ok..]
        .iter()
        .filter(|r| r.1 > changed_at && at_140(r.2))
        .collect();
    let mut all: Vec<f64> = rows[first_ok..].iter().map(|r| r.3).collect();
    let med = median(&mut all);
    let mut abs: Vec<f64> = all.iter().map(|o| o.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let worst = abs.last().copied().unwrap_or(0.0);
    let a_tempo_before = a_bars
        .iter()
        .rev()
        .find(|x| x.1 < changed_at)
        .map(|x| x.2)
        .unwrap_or(0.0);
    let b_follow = rows
        .iter()
        .find(|r| r.1 > changed_at && at_140(r.2))
        .map(|r| r.1 - changed_at);
    let a_follow = a_bars
        .iter()
        .find(|x| x.1 > changed_at && at_140(x.2))
        .map(|x| x.1 - changed_at);
    eprintln!(
        "link figures: B converged {converged:.3} s after it was started (bar {}), session tempo \
         {session_before:.2} BPM (A's last before the change {a_tempo_before:.2}); \
         bar-start offset B−A over {} bars: median {med:+.4} ms, largest |offset| {worst:.4} ms; \
         third peer's 140 BPM reached as a bar's tempo after A {:.3?} s, B {:.3?} s; \
         {} bars at 140 BPM",
        rows[first_ok].0,
        all.len(),
        a_follow,
        b_follow,
        after.len()
    );
    for r in &rows {
        eprintln!(
            "  B bar {:>3} at {:.6} bpm {:>6.2} offset {:+.4} ms",
            r.0, r.1, r.2, r.3
        );
    }
    assert!(
        converged <= 2.0,
        "B converged {converged:.3} s after starting"
    );
    assert!(med.abs() <= 1.0, "median offset {med} ms");
    assert!(!before.is_empty() && after.len() >= 2, "{rows:?}");
    assert!(
        (session_before - 125.0).abs() < 0.01 || (session_before - 128.0).abs() < 0.01,
        "one of the two tempos: {session_before}"
    );
    assert!(
        before.iter().all(|r| (r.2 - session_before).abs() < 0.01),
        "{before:?}"
    );
}

/// The third peer's tempo, as the session carries it (Link's tempo is a float on the wire).
fn at_140(bpm: f64) -> bool {
    (bpm - 140.0).abs() < 0.01
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
