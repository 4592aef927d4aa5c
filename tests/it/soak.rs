//! The soak: headless on the internal clock for ten minutes (`CHRONUS_SOAK_SECONDS` sets
//! another length) under 1000 OSC messages a second of random valid edits and saves to random
//! slots, with the playing slot's file rewritten by "an editor" every second. At the end: not
//! one callback blocked, the resident memory of the last minute no higher than after the
//! first one (with 10 % slack for the allocator), and every slot file and backup loads.
//! Long by design: `make soak` runs it (`cargo test --test it soak -- --ignored`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use chronus::model::{Slot, Track};
use chronus::store::{SlotNumber, Store, read_slot_file};
use rosc::OscType;
use serde_json::Value;

use crate::support::{OscClient, Rng, free_udp_port};

/// Messages sent per second.
const RATE: u64 = 1000;

/// Resident set size of a process in KiB (Linux `/proc`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One random valid edit or save.
fn random_message(rng: &mut Rng) -> (&'static str, Vec<OscType>) {
    let steps = [
        "X...x...X...x...",
        "x.x.x.x.",
        "X..x..X.",
        "....X...",
        "xxxx",
    ];
    match rng.below(100) {
        0 => ("/pattern/save", vec![OscType::Int(2 + rng.below(8) as i32)]),
        1..=30 => (
            "/mod/voice1/filter/freq",
            vec![OscType::Float(100.0 + rng.below(5000) as f32)],
        ),
        31..=50 => (
            "/mod/acid1/cutoff",
            vec![OscType::Float(200.0 + rng.below(3000) as f32)],
        ),
        51..=60 => (
            "/seq/bpm",
            vec![OscType::Float(90.0 + rng.below(60) as f32)],
        ),
        61..=70 => (
            "/seq/swing",
            vec![OscType::Float(rng.below(60) as f32 / 100.0)],
        ),
        _ => (
            "/seq/update/pattern",
            vec![
                OscType::String("kick".into()),
                OscType::String(steps[rng.below(steps.len())].into()),
            ],
        ),
    }
}

/// The song the "editor" writes into slot 1, version `i`.
fn edited_song(i: u64) -> Slot {
    let mut s = Slot::default();
    s.metadata.name = format!("Take {i}");
    let kick = if i.is_multiple_of(2) {
        "X...X...X...X..."
    } else {
        "X...X...X..xX..."
    };
    s.sequencer.tracks.push(Track::new("kick", "voice1", kick));
    s.sequencer
        .tracks
        .push(Track::new("hat", "voice2", "..x...x...x...x."));
    s
}

/// Every slot file and backup in the folder loads.
fn assert_all_load(root: &Path) {
    let store = Store::new(root);
    let mut checked = 0;
    for n in 1..=128u8 {
        let slot = SlotNumber::new(n).unwrap();
        if store.slot_path(slot).exists() {
            store.load(slot).unwrap_or_else(|e| panic!("slot {n}: {e}"));
            checked += 1;
        }
        for b in store.backups(slot).unwrap() {
            read_slot_file(&b).unwrap_or_else(|e| panic!("{}: {e}", b.display()));
            checked += 1;
        }
    }
    eprintln!("soak: {checked} slot files and backups load");
}

#[test]
#[ignore = "ten minutes long: make soak"]
fn ten_minutes_of_edits_saves_and_hot_reloads_stay_flat_and_lose_nothing() {
    let seconds: u64 = std::env::var("CHRONUS_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    Store::new(root)
        .save(SlotNumber::new(1).unwrap(), &edited_song(0))
        .unwrap();
    let port = free_udp_port();
    let mut child = Process::new(env!("CARGO_BIN_EXE_chronus"))
        .current_dir(root)
        .arg("--patterns")
        .arg(root)
        .args(["headless", "--no-audio", "--events", "json", "--slot", "1"])
        .args(["--osc-port", &port.to_string(), "--osc-out", "127.0.0.1:9"])
        .args(["--seconds", &(seconds + 5).to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Read every line as it comes (a full pipe would stall the loop), keep the last event.
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut last: Option<Value> = None;
        let mut lines = 0u64;
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            lines += 1;
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["event"] == "stopped"
            {
                last = Some(v);
            }
        }
        (last, lines)
    });
    let osc = OscClient::new(port);
    assert!(
        osc.ask("/engine/status", vec![], Duration::from_secs(20))
            .is_some(),
        "headless never answered"
    );
    osc.send("/seq/start", vec![]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut rss = Vec::new();
    let mut next_edit = 1;
    while start.elapsed() < Duration::from_secs(seconds) {
        let due = start.elapsed().as_millis() as u64 * RATE / 1000;
        while sent < due {
            let (addr, args) = random_message(&mut rng);
            osc.send(addr, args);
            sent += 1;
        }
        let t = start.elapsed().as_secs();
        if t >= next_edit {
            let text = edited_song(t).to_json();
            std::fs::write(
                Store::new(root).slot_path(SlotNumber::new(1).unwrap()),
                text,
            )
            .unwrap();
            next_edit = t + 1;
            rss.push(rss_kib(pid));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = child.wait().unwrap();
    let (stopped, lines) = reader.join().unwrap();
    let stopped = stopped.expect("a stopped event");
    let minute = (rss.len() / 10).max(1);
    let early = *rss[..minute].iter().max().unwrap();
    let late = *rss[rss.len() - minute..].iter().max().unwrap();
    eprintln!(
        "soak: {seconds} s, {sent} messages, {lines} output lines, RSS first {} KiB, max of first tenth {early} KiB, max of last tenth {late} KiB, end {} KiB; stopped: {stopped}",
        rss[0],
        rss.last().unwrap()
    );
    assert!(status.success(), "{status:?}");
    assert_eq!(stopped["blocked"], 0, "{stopped}");
    assert!(
        late <= early + early / 10,
        "resident memory grew: {early} KiB → {late} KiB"
    );
    assert_all_load(root);
}
