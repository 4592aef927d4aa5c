//! Killing Chronus at any moment loses no saved slot and no edit already mirrored to a draft,
//! and leaves no temp file after the next start; SIGTERM and SIGHUP (a closed terminal) end
//! headless cleanly with every edit flushed to drafts/, and end the tracker with the terminal
//! restored. The real binary, edits sent over OSC (127.0.0.1 UDP) or typed into tmux.

use std::fs;
use std::path::Path;
use std::process::Command as Process;
use std::time::Duration;

use chronus::model::ParamId;
use chronus::model::registry::voice;
use chronus::store::{SlotNumber, Store, read_slot_file};
use rosc::OscType;

use crate::support::{OscClient, Tmux, finish_bounded, spawn_headless, tmux_present};

const SLOT_1: &str = "slots/slot_001.json";
const DRAFT_1: &str = "drafts/slot_001.json";

fn one() -> SlotNumber {
    SlotNumber::new(1).unwrap()
}

/// A patterns folder holding slot 1.
fn patterns() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut song = chronus::model::Slot::default();
    song.metadata.name = "kept".into();
    song.sequencer.tracks.push(chronus::model::Track::new(
        "kick",
        "voice1",
        "X...X...X...X...",
    ));
    Store::new(dir.path()).save(one(), &song).unwrap();
    dir
}

/// voice1's frequency in a slot file: the value the edits of these tests move.
fn freq_in(path: &Path) -> Option<f64> {
    let slot = read_slot_file(path).ok()?.slot;
    Some(slot.params.get(ParamId::voice(1, voice::FREQ)))
}

fn signal(pid: u32, name: &str) {
    let sent = Process::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -s {name} {pid}");
}

/// Waits until the headless process answers OSC (it is past its start).
fn wait_ready(osc: &OscClient) {
    let answer = osc.ask("/engine/status", vec![], Duration::from_secs(20));
    assert!(answer.is_some(), "headless never answered");
}

fn set_freq(osc: &OscClient, hz: f32) {
    osc.send("/mod/voice1/freq", vec![OscType::Float(hz)]);
}

/// Files a writer leaves while it works, anywhere in the patterns folder.
fn temp_files(dir: &Path) -> Vec<String> {
    ["slots", "drafts", "backups"]
        .iter()
        .filter_map(|d| fs::read_dir(dir.join(d)).ok())
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

#[test]
fn sigterm_sighup_and_sigint_end_headless_with_every_edit_in_its_draft() {
    for sig in ["TERM", "HUP", "INT"] {
        let dir = patterns();
        let slot_before = fs::read(dir.path().join(SLOT_1)).unwrap();
        let (child, port) = spawn_headless(dir.path(), dir.path(), &["--events", "json"]);
        let osc = OscClient::new(port);
        wait_ready(&osc);
        for i in 0..40 {
            set_freq(&osc, 200.0 + i as f32);
        }
        // Answered after every edit before it (one socket, handled in order); the last
        // edits are still inside the drafts' debounce.
        wait_ready(&osc);
        signal(child.id(), sig);
        let (status, out, _) = finish_bounded(child);
        assert!(status.success(), "{sig}: {status}: {out}");
        assert!(out.contains("\"event\":\"stopped\""), "{sig}: {out}");
        assert_eq!(freq_in(&dir.path().join(DRAFT_1)), Some(239.0), "{sig}");
        assert_eq!(
            fs::read(dir.path().join(SLOT_1)).unwrap(),
            slot_before,
            "{sig}"
        );
        assert!(temp_files(dir.path()).is_empty(), "{sig}");
    }
}

/// xorshift64*: reproducible kill moments.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// The newest value kept on disk: the draft's, or the slot file's when there is no draft (a
/// save takes the edits into the slot and removes the draft).
fn kept_freq(dir: &Path) -> f64 {
    freq_in(&dir.join(DRAFT_1))
        .or_else(|| freq_in(&dir.join(SLOT_1)))
        .expect("slot 1 loads")
}

/// One run: edits (and now and then a save) stream in until the signal lands `delay` into
/// them. Returns the value the draft or slot held just before the signal.
fn edit_and_signal(dir: &Path, sig: &str, delay: Duration) -> f64 {
    let (child, port) = spawn_headless(dir, dir, &[]);
    let osc = OscClient::new(port);
    wait_ready(&osc);
    let started = std::time::Instant::now();
    let mut hz = kept_freq(dir) as f32;
    let mut i = 0;
    while started.elapsed() < delay {
        hz += 1.0;
        set_freq(&osc, hz);
        if i % 25 == 24 {
            osc.send("/pattern/save", vec![OscType::Int(1)]);
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    let before = kept_freq(dir);
    signal(child.id(), sig);
    let (status, _, _) = finish_bounded(child);
    assert!(
        sig == "KILL" || status.success(),
        "{sig} after {delay:?}: {status}"
    );
    before
}

#[test]
fn a_signal_at_a_random_moment_of_editing_loses_nothing_kept_and_leaves_no_temp_file() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..6 {
        for sig in ["KILL", "TERM", "HUP"] {
            let dir = patterns();
            let delay = Duration::from_millis(next_random(&mut rng) % 400);
            let before = edit_and_signal(dir.path(), sig, delay);
            let after = kept_freq(dir.path());
            assert!(
                after >= before,
                "round {round}, {sig} after {delay:?}: {after} Hz kept, {before} Hz was on disk"
            );
            read_slot_file(&dir.path().join(SLOT_1)).expect("the slot file is whole");
            for b in Store::new(dir.path()).backups(one()).unwrap() {
                read_slot_file(&b).expect("every backup is whole");
            }
            // The next start clears what a killed writer left.
            let (next, _) = spawn_headless(dir.path(), dir.path(), &["--seconds", "0.1"]);
            let (status, out, _) = finish_bounded(next);
            assert!(status.success(), "{out}");
            let left = temp_files(dir.path());
            assert!(left.is_empty(), "round {round}, {sig}: {left:?}");
            assert_eq!(kept_freq(dir.path()), after, "the restart kept the edits");
        }
    }
}

/// The tracker in tmux, its output copied to `log` as it is written.
fn tracker_with_log(dir: &Path, name: &str) -> (Tmux, std::path::PathBuf) {
    let tmux = Tmux::new(name);
    tmux.start(dir, &["--no-osc"]);
    let log = dir.join("screen.log");
    let piped = tmux.run(&[
        "pipe-pane",
        "-o",
        "-t",
        "chronus",
        &format!("cat >> {}", log.display()),
    ]);
    assert!(piped.status.success(), "{piped:?}");
    (tmux, log)
}

/// Types an edit (step 2 becomes a hit) and waits until the screen shows it.
fn edit_in_tracker(tmux: &Tmux) {
    tmux.send(&["l", "x"]);
    tmux.wait_for("the edit", |s| s.contains("slot 1 \"kept\" *"));
}

#[test]
fn sigterm_ends_the_tracker_with_the_terminal_restored_and_the_edit_in_its_draft() {
    if !tmux_present() {
        return;
    }
    let dir = patterns();
    let slot_before = fs::read(dir.path().join(SLOT_1)).unwrap();
    let (tmux, log) = tracker_with_log(dir.path(), "sigterm");
    edit_in_tracker(&tmux);
    signal(tmux.pid(), "TERM");
    tmux.wait_gone("after SIGTERM");
    let draft = read_slot_file(&dir.path().join(DRAFT_1)).expect("a draft");
    assert_eq!(draft.slot.sequencer.tracks[0].pattern, "Xx..X...X...X...");
    assert_eq!(fs::read(dir.path().join(SLOT_1)).unwrap(), slot_before);
    // After the last frame: the alternate screen left and the cursor shown again.
    let out = fs::read(&log).unwrap();
    let text = String::from_utf8_lossy(&out);
    let tail = text.rsplit("\x1b[?1049h").next().unwrap_or(&text);
    assert!(
        tail.contains("\x1b[?1049l") && tail.contains("\x1b[?25h"),
        "the terminal was not restored: {:?}",
        &text[text.len().saturating_sub(200)..]
    );
}

#[test]
fn closing_the_tracker_s_terminal_keeps_the_edit_in_its_draft() {
    if !tmux_present() {
        return;
    }
    let dir = patterns();
    let (tmux, _) = tracker_with_log(dir.path(), "sighup");
    edit_in_tracker(&tmux);
    let pid = tmux.pid();
    // Closing the window: the terminal goes, and the process gets SIGHUP.
    let closed = tmux.run(&["kill-session", "-t", "chronus"]);
    assert!(closed.status.success(), "{closed:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let alive = || {
        Process::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    while alive() {
        assert!(
            std::time::Instant::now() < deadline,
            "chronus outlived its terminal"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let draft = read_slot_file(&dir.path().join(DRAFT_1)).expect("a draft");
    assert_eq!(draft.slot.sequencer.tracks[0].pattern, "Xx..X...X...X...");
    assert!(temp_files(dir.path()).is_empty());
}
