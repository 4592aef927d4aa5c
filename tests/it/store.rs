//! The pattern store: atomic saves, backups, locking across threads and processes, crash
//! safety under SIGKILL, listing, and the `chronus slots` commands.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chronus::model::slot::{Slot, SlotError};
use chronus::store::{
    BACKUPS_PER_SLOT, SlotNumber, Store, StoreError, content_hash, read_slot_file,
};

/// Environment variable that turns [`helper_save_loop`] into a save loop in a child process.
const HELPER_ENV: &str = "CHRONUS_TEST_SAVE_LOOP";

fn fixture_slot() -> Slot {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original_engine.json");
    read_slot_file(&path).expect("fixture").slot
}

fn slot_named(name: &str) -> Slot {
    let mut s = fixture_slot();
    s.metadata.name = name.to_string();
    s
}

fn n(v: u8) -> SlotNumber {
    SlotNumber::new(v).unwrap()
}

fn temp_files(store: &Store) -> Vec<String> {
    std::fs::read_dir(store.slots_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.contains(".tmp-"))
        .collect()
}

#[test]
fn bad_slot_numbers_are_refused_quoting_the_value_and_range() {
    let cases = [
        (
            "0",
            "slot number \"0\" is out of range: slots are numbered 1–128",
        ),
        (
            "129",
            "slot number \"129\" is out of range: slots are numbered 1–128",
        ),
        (
            "-1",
            "slot number \"-1\" is not written plainly (digits, optionally followed by .0): slots are numbered 1–128",
        ),
        (
            "1.5",
            "slot number \"1.5\" is not a whole number: slots are numbered 1–128",
        ),
        (
            " 3 ",
            "slot number \" 3 \" is not written plainly (digits, optionally followed by .0): slots are numbered 1–128",
        ),
        (
            "abc",
            "slot number \"abc\" is not a number: slots are numbered 1–128",
        ),
    ];
    for (text, message) in cases {
        let err = SlotNumber::parse(text).unwrap_err();
        assert!(matches!(err, StoreError::BadSlotNumber { .. }));
        assert_eq!(err.to_string(), message);
    }
    for (text, value) in [("3", 3), ("3.0", 3), ("003", 3), ("128", 128), ("1", 1)] {
        assert_eq!(SlotNumber::parse(text).unwrap().get(), value);
        assert_eq!(text.parse::<SlotNumber>().unwrap().get(), value);
    }
    assert_eq!(SlotNumber::from_f64(7.0).unwrap().to_string(), "7");
    assert_eq!(
        SlotNumber::from_f64(2.5).unwrap_err().to_string(),
        "slot number \"2.5\" is not a whole number: slots are numbered 1–128"
    );
}

#[test]
fn save_creates_the_folders_and_load_gives_the_slot_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("patterns"));
    let slot = slot_named("first");
    let info = store.save(n(3), &slot).unwrap();
    for sub in ["slots", "backups", "library", "temp"] {
        assert!(store.root().join(sub).is_dir(), "{sub}");
    }
    assert_eq!(info.path, store.root().join("slots/slot_003.json"));
    assert_eq!(info.backup, None);
    let bytes = std::fs::read(&info.path).unwrap();
    assert_eq!(info.bytes, bytes.len());
    assert_eq!(info.content_hash, content_hash(&bytes));
    assert_eq!(bytes, slot.to_json().into_bytes());
    let loaded = store.load(n(3)).unwrap();
    assert!(loaded.warnings.is_empty());
    assert_eq!(loaded.slot, slot);
    assert!(temp_files(&store).is_empty());
}

#[test]
fn load_save_load_save_gives_byte_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (i, name) in ["slot_format_example.json", "original_engine.json"]
        .iter()
        .enumerate()
    {
        let slot_no = n(10 + i as u8);
        let first = read_slot_file(&fixtures.join(name)).unwrap().slot;
        store.save(slot_no, &first).unwrap();
        let a = std::fs::read(store.slot_path(slot_no)).unwrap();
        let second = store.load(slot_no).unwrap().slot;
        assert_eq!(second, first);
        let info = store.save(slot_no, &second).unwrap();
        let b = std::fs::read(store.slot_path(slot_no)).unwrap();
        assert_eq!(a, b, "{name}");
        // Nothing changed, so no backup pushes older versions out of the history.
        assert!(info.unchanged && info.backup.is_none(), "{name}: {info:?}");
    }
}

#[test]
fn a_missing_slot_is_reported_as_missing_and_a_missing_root_lists_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("nowhere"));
    let err = store.load(n(5)).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "slot 5 is empty ({} does not exist)",
            store.slot_path(n(5)).display()
        )
    );
    assert!(store.list().unwrap().is_empty());
    assert!(store.load_backup_fallback(n(5)).unwrap().is_none());
}

#[test]
fn load_errors_name_the_slot_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    std::fs::create_dir_all(store.slots_dir()).unwrap();
    let path = store.slot_path(n(9));
    std::fs::write(&path, "{\n  \"metadata\": {\n    \"name\": 1\n  }\n}\n").unwrap();
    let err = store.load(n(9)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "slot 9: {}: metadata.name: expected text, found the number 1",
            path.display()
        )
    );
    std::fs::write(&path, "{\n  \"metadata\": {\n").unwrap();
    match store.load(n(9)).unwrap_err() {
        StoreError::Slot {
            error: SlotError::Syntax { line, column, .. },
            ..
        } => assert_eq!((line, column), (3, 0)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn backups_keep_every_previous_version_pruned_to_the_newest_twenty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    for i in 0..25 {
        let info = store.save(n(1), &slot_named(&format!("v{i}"))).unwrap();
        assert_eq!(info.backup.is_some(), i > 0);
    }
    let backups = store.backups(n(1)).unwrap();
    assert_eq!(backups.len(), BACKUPS_PER_SLOT);
    // Newest first: v23 (replaced by v24) down to v4.
    let names: Vec<String> = backups
        .iter()
        .map(|p| read_slot_file(p).unwrap().slot.metadata.name)
        .collect();
    let expected: Vec<String> = (4..24).rev().map(|i| format!("v{i}")).collect();
    assert_eq!(names, expected);
    for p in &backups {
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("slot_001_") && name.ends_with(".backup"),
            "{name}"
        );
    }
    // Another slot's backups are not touched by slot 1's pruning.
    store.save(n(2), &slot_named("a")).unwrap();
    store.save(n(2), &slot_named("b")).unwrap();
    assert_eq!(store.backups(n(2)).unwrap().len(), 1);
    assert_eq!(store.backups(n(1)).unwrap().len(), BACKUPS_PER_SLOT);
}

#[test]
fn a_corrupt_slot_offers_the_newest_valid_backup() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    for name in ["v1", "v2", "v3"] {
        store.save(n(4), &slot_named(name)).unwrap();
    }
    std::fs::write(store.slot_path(n(4)), "{ \"half\": ").unwrap();
    assert!(matches!(
        store.load(n(4)),
        Err(StoreError::Slot {
            error: SlotError::Syntax { .. },
            ..
        })
    ));
    let (path, parsed) = store.load_backup_fallback(n(4)).unwrap().unwrap();
    assert_eq!(parsed.slot.metadata.name, "v2");
    // When the newest backup is itself broken, the next one is offered.
    std::fs::write(&path, "garbage").unwrap();
    let (older, parsed) = store.load_backup_fallback(n(4)).unwrap().unwrap();
    assert_ne!(older, path);
    assert_eq!(parsed.slot.metadata.name, "v1");
}

#[test]
fn list_shows_name_tempo_tracks_and_files_that_do_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    store.save(n(12), &slot_named("twelve")).unwrap();
    let mut small = Slot::default();
    small.metadata.name = "two".into();
    small.sequencer.bpm = 90.0;
    store.save(n(2), &small).unwrap();
    std::fs::write(store.slot_path(n(7)), "[]").unwrap();
    std::fs::write(store.slots_dir().join("notes.txt"), "not a slot").unwrap();
    std::fs::write(store.slots_dir().join("slot_200.json"), "{}").unwrap();
    let list = store.list().unwrap();
    let rows: Vec<(u8, &str, f64, usize, bool)> = list
        .iter()
        .map(|i| {
            (
                i.number.get(),
                i.name.as_str(),
                i.bpm,
                i.tracks,
                i.error.is_some(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (2, "two", 90.0, 0, false),
            (7, "", 0.0, 0, true),
            (12, "twelve", 125.0, 4, false)
        ]
    );
    assert!(list[1].error.as_ref().unwrap().contains("slot_007.json"));
    assert!(list[0].modified.elapsed().unwrap() < Duration::from_secs(600));
}

#[test]
fn two_threads_saving_one_slot_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut first = 0;
                for i in 0..100 {
                    let info = store.save(n(6), &slot_named(&format!("t{t}-{i}"))).unwrap();
                    first += usize::from(info.backup.is_none());
                    let loaded = store.load(n(6)).expect("always valid");
                    assert!(loaded.slot.metadata.name.starts_with('t'));
                }
                first
            })
        })
        .collect();
    let without_backup: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(without_backup, 1);
    assert_eq!(store.backups(n(6)).unwrap().len(), BACKUPS_PER_SLOT);
    assert!(temp_files(&store).is_empty());
}

/// Kills and reaps a child process when dropped, so a failing test leaves no save loop behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs this test binary again as a child that executes [`helper_save_loop`].
fn helper_command(spec: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        "store::helper_save_loop",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(HELPER_ENV, spec)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    cmd
}

/// Not a test on its own: in a child process started with [`HELPER_ENV`] set to
/// `root|slot|count|tag` it saves `count` versions (`tag-0`, `tag-1`, …; count 0 = until
/// killed) and reports how many of its saves found no previous version. Ignored, so a plain
/// test run never counts it as a passing test; without the variable it fails.
#[test]
#[ignore = "child process helper: run by other tests with CHRONUS_TEST_SAVE_LOOP set"]
fn helper_save_loop() {
    let spec = std::env::var(HELPER_ENV)
        .unwrap_or_else(|_| panic!("a child process helper: run only with {HELPER_ENV} set"));
    let parts: Vec<&str> = spec.split('|').collect();
    let store = Store::new(parts[0]);
    let slot = n(parts[1].parse().unwrap());
    let count: usize = parts[2].parse().unwrap();
    let tag = parts[3];
    let mut s = fixture_slot();
    println!("HELPER ready");
    let mut without_backup = 0;
    let mut i = 0;
    while count == 0 || i < count {
        s.metadata.name = format!("{tag}-{i}");
        let info = store.save(slot, &s).unwrap();
        without_backup += usize::from(info.backup.is_none());
        i += 1;
    }
    println!("HELPER done {without_backup}");
}

#[test]
fn two_processes_saving_500_times_each_leave_valid_json_and_ordered_backups() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let root = dir.path().to_str().unwrap();
    let children: Vec<_> = ["p0", "p1"]
        .iter()
        .map(|tag| {
            helper_command(&format!("{root}|8|500|{tag}"))
                .spawn()
                .unwrap()
        })
        .collect();
    let mut without_backup = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let done = text
            .lines()
            .find_map(|l| l.split("HELPER done ").nth(1))
            .unwrap_or_else(|| panic!("no report in {text}"));
        without_backup += done.parse::<usize>().unwrap();
    }
    // Exactly one save in 1000 found the slot empty; every other one made a backup.
    assert_eq!(without_backup, 1);
    let last = store.load(n(8)).unwrap().slot.metadata.name;
    assert!(last == "p0-499" || last == "p1-499", "{last}");
    let backups = store.backups(n(8)).unwrap();
    assert_eq!(backups.len(), BACKUPS_PER_SLOT);
    // Oldest first, each process's versions appear in the order it saved them, none twice.
    let mut seen: Vec<(String, usize)> = Vec::new();
    for path in backups.iter().rev() {
        let name = read_slot_file(path)
            .expect("backup is valid")
            .slot
            .metadata
            .name;
        let (tag, i) = name.split_once('-').unwrap();
        let i: usize = i.parse().unwrap();
        if let Some((_, prev)) = seen.iter().rev().find(|(t, _)| t == tag) {
            assert!(i > *prev, "{tag}-{i} after {tag}-{prev}");
        }
        seen.push((tag.to_string(), i));
    }
    assert!(!seen.contains(&(last.split_once('-').unwrap().0.to_string(), 499)));
    assert!(temp_files(&store).is_empty());
}

/// xorshift64*: a reproducible source of kill delays.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_partial_slot() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let root = dir.path().to_str().unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut loaded_ok = 0;
    for kill in 0..1000 {
        let mut child = KillOnDrop(
            helper_command(&format!("{root}|9|0|k{kill}"))
                .spawn()
                .unwrap(),
        );
        // Wait until the child is in its save loop, so the kill lands during saves.
        let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("HELPER ready") {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "child ended early"
            );
        }
        std::thread::sleep(Duration::from_micros(next_random(&mut rng) % 5000));
        drop(child);
        match store.load(n(9)) {
            Ok(p) => {
                assert!(p.warnings.is_empty());
                assert!(p.slot.metadata.name.starts_with('k'));
                loaded_ok += 1;
            }
            Err(StoreError::Missing { .. }) => assert_eq!(loaded_ok, 0, "slot vanished"),
            Err(e) => panic!("after kill {kill}: {e}"),
        }
    }
    assert!(
        loaded_ok > 900,
        "only {loaded_ok} kills came after a completed save"
    );
    for path in store.backups(n(9)).unwrap() {
        read_slot_file(&path).expect("every backup is a complete slot");
    }
    // The next save clears temp files that killed writers left behind, and prunes a backup
    // made by a writer killed between its backup and its pruning.
    store.save(n(9), &slot_named("final")).unwrap();
    assert!(temp_files(&store).is_empty(), "{:?}", temp_files(&store));
    assert_eq!(store.backups(n(9)).unwrap().len(), BACKUPS_PER_SLOT);
}

fn chronus(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chronus"))
        .args(args)
        .output()
        .expect("run chronus");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn slots_save_list_and_show_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let patterns = dir.path().join("patterns");
    let p = patterns.to_str().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original_engine.json");
    let f = fixture.to_str().unwrap();

    let (code, out, err) = chronus(&["slots", "list", "--patterns", p]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("no slots in {}\n", patterns.join("slots").display())
    );

    let (code, out, err) = chronus(&["slots", "save", "3", "--from", f, "--patterns", p]);
    assert_eq!(code, 0, "{err}");
    let slot_file = patterns.join("slots/slot_003.json");
    assert_eq!(
        out,
        format!(
            "saved slot 3: {} ({} bytes)\nslot 3 was empty: no backup needed\n",
            slot_file.display(),
            std::fs::metadata(&slot_file).unwrap().len()
        )
    );
    let stored = read_slot_file(&slot_file).unwrap().slot;
    let mut expected = fixture_slot();
    assert!(stored.timestamp > 1.7e9);
    expected.timestamp = stored.timestamp;
    assert_eq!(stored, expected);
    assert_eq!(
        std::fs::read_to_string(&slot_file).unwrap(),
        expected.to_json()
    );

    // The same song again: the file gets the new save's time, the history no new backup.
    let (code, out, _) = chronus(&["slots", "save", "3.0", "--from", f, "--patterns", p]);
    assert_eq!(code, 0);
    assert!(
        out.ends_with("slot 3 already held this song: no new backup\n"),
        "{out}"
    );
    assert!(Store::new(&patterns).backups(n(3)).unwrap().is_empty());

    let (code, out, _) = chronus(&["--patterns", p, "slots", "list"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("slot  name"), "{out}");
    assert!(
        lines[1].starts_with("   3  Pattern 3  125.0       4  20"),
        "{out}"
    );

    let (code, out, _) = chronus(&["slots", "show", "3", "--patterns", p]);
    assert_eq!(code, 0);
    assert!(out.starts_with("slot 3: Pattern 3\n"), "{out}");
    assert!(out.contains("tempo:   125 BPM, swing 0.1\n"), "{out}");
    assert!(
        out.contains("  bass  voice2   ..x...x...x.x...  notes C2 C2 D#2 C2\n"),
        "{out}"
    );
    assert!(
        out.contains("  voice2  freq 110 Hz, amp 0.35, waveform 1 (saw)"),
        "{out}"
    );
    assert!(!out.contains("voice5"), "defaults are not listed: {out}");

    // A file that does not validate is not stored and the slot keeps its content.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"sequencer\": {\"tracks\": {\"a\": {\"pattern\": \"x\"}}}}",
    )
    .unwrap();
    let before = std::fs::read(&slot_file).unwrap();
    let (code, _, err) = chronus(&[
        "slots",
        "save",
        "3",
        "--from",
        bad.to_str().unwrap(),
        "--patterns",
        p,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("sequencer.tracks.a.voice_id: missing"),
        "{err}"
    );
    assert_eq!(std::fs::read(&slot_file).unwrap(), before);

    let (code, _, err) = chronus(&["slots", "show", "129", "--patterns", p]);
    assert_eq!(code, 2);
    assert!(
        err.contains("slot number \"129\" is out of range: slots are numbered 1–128"),
        "{err}"
    );
    let (code, _, err) = chronus(&["slots", "show", "5", "--patterns", p]);
    assert_eq!(code, 1);
    assert!(err.contains("slot 5 is empty"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn store_paths_follow_the_layout() {
    let store = Store::new(PathBuf::from("/x/patterns"));
    assert_eq!(
        store.slot_path(n(1)),
        PathBuf::from("/x/patterns/slots/slot_001.json")
    );
    assert_eq!(
        store.slot_path(n(128)),
        PathBuf::from("/x/patterns/slots/slot_128.json")
    );
    assert_eq!(store.slots_dir(), PathBuf::from("/x/patterns/slots"));
    assert!(Store::is_temp_file(".slot_001.json.tmp-42-0"));
}
