//! The user's work is never lost or silently replaced: saves that change nothing push no
//! history out, a symlinked slot's backup holds its content, a special file where a slot goes
//! stops the save, and temp files of writers that died go at the next start.

use std::fs;
use std::path::Path;
use std::process::Command as Process;

use chronus::model::Slot;
use chronus::store::{BACKUPS_PER_SLOT, SlotNumber, Store, StoreError, read_slot_file};

use crate::support::{HANG_BOUND, run_bounded};

fn n(v: u8) -> SlotNumber {
    SlotNumber::new(v).unwrap()
}

fn named(name: &str) -> Slot {
    let mut s = Slot::default();
    s.metadata.name = name.to_string();
    s.sequencer
        .tracks
        .push(chronus::model::Track::new("kick", "voice1", "X..."));
    s
}

/// The names of the backups of slot `slot`, newest first, by the song they hold.
fn backup_names(store: &Store, slot: u8) -> Vec<String> {
    store
        .backups(n(slot))
        .unwrap()
        .iter()
        .map(|p| read_slot_file(p).unwrap().slot.metadata.name)
        .collect()
}

#[test]
fn saves_that_change_nothing_make_no_backup_and_keep_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    for i in 0..BACKUPS_PER_SLOT + 1 {
        store.save(n(1), &named(&format!("v{i}"))).unwrap();
    }
    let history = backup_names(&store, 1);
    assert_eq!(history.len(), BACKUPS_PER_SLOT);
    // Saved again and again as a performer would: new time each time.
    let mut same = named(&format!("v{BACKUPS_PER_SLOT}"));
    for i in 0..30 {
        same.timestamp = 1_700_000_000.0 + i as f64 * 0.25;
        let info = store.save(n(1), &same).unwrap();
        assert!(info.unchanged && info.backup.is_none(), "{info:?}");
        // The file does carry the new save's time.
        assert_eq!(store.load(n(1)).unwrap().slot.timestamp, same.timestamp);
    }
    assert_eq!(
        backup_names(&store, 1),
        history,
        "no version was pushed out"
    );
    let info = store.save(n(1), &named("changed")).unwrap();
    assert!(!info.unchanged);
    assert_eq!(backup_names(&store, 1)[0], format!("v{BACKUPS_PER_SLOT}"));
}

#[test]
fn a_hand_written_file_of_the_same_song_is_kept_as_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let song = named("by hand");
    store.save(n(2), &song).unwrap();
    // The same song, laid out by a person: their text is theirs, so it is kept.
    let hand = song.to_json().replace("  ", "\t");
    fs::write(store.slot_path(n(2)), &hand).unwrap();
    let info = store.save(n(2), &song).unwrap();
    let backup = info.backup.expect("a backup of the hand-written text");
    assert_eq!(fs::read_to_string(backup).unwrap(), hand);
}

#[cfg(unix)]
#[test]
fn a_symlinked_slot_is_backed_up_by_its_content_not_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    store.ensure_dirs().unwrap();
    let elsewhere = dir.path().join("elsewhere.json");
    let original = named("linked").to_json();
    fs::write(&elsewhere, &original).unwrap();
    std::os::unix::fs::symlink(&elsewhere, store.slot_path(n(5))).unwrap();
    let info = store.save(n(5), &named("new")).unwrap();
    let backup = info.backup.expect("a backup");
    let meta = fs::symlink_metadata(&backup).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the backup is a file of its own"
    );
    assert_eq!(fs::read_to_string(&backup).unwrap(), original);
    // Whatever happens to the link's target later, the backup keeps the song.
    fs::write(&elsewhere, "changed later").unwrap();
    assert_eq!(fs::read_to_string(&backup).unwrap(), original);
    assert_eq!(store.load(n(5)).unwrap().slot.metadata.name, "new");
    // A link to nothing holds nothing to keep.
    std::os::unix::fs::symlink(dir.path().join("gone.json"), store.slot_path(n(6))).unwrap();
    let info = store.save(n(6), &named("six")).unwrap();
    assert!(info.backup.is_none() && !info.unchanged);
}

/// Makes a special file at a path.
type MakeAt = dyn Fn(&Path);

#[cfg(unix)]
#[test]
fn a_special_file_where_the_slot_goes_stops_the_save_and_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    store.ensure_dirs().unwrap();
    let path = store.slot_path(n(6));
    let kinds: [(&str, &MakeAt); 4] = [
        ("a FIFO (named pipe)", &|p| {
            assert!(Process::new("mkfifo").arg(p).status().unwrap().success())
        }),
        ("a directory", &|p| fs::create_dir(p).unwrap()),
        ("a character device", &|p| {
            std::os::unix::fs::symlink("/dev/null", p).unwrap()
        }),
        ("a socket", &|p| {
            std::mem::forget(std::os::unix::net::UnixListener::bind(p).unwrap())
        }),
    ];
    for (kind, make) in kinds {
        make(&path);
        let before = fs::symlink_metadata(&path).unwrap().file_type();
        let err = store.save(n(6), &named("six")).unwrap_err();
        assert!(
            matches!(err, StoreError::Occupied { .. }),
            "{kind}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "slot 6: {} is {kind}, not a slot file; it was left as it is and nothing was saved",
                path.display()
            )
        );
        assert_eq!(fs::symlink_metadata(&path).unwrap().file_type(), before);
        assert!(store.backups(n(6)).unwrap().is_empty(), "{kind}");
        let temps = fs::read_dir(store.slots_dir())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().contains(".tmp-")
            })
            .count();
        assert_eq!(temps, 0, "{kind}: no temp file left");
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            fs::remove_dir(&path).unwrap();
        } else {
            fs::remove_file(&path).unwrap();
        }
    }
}

/// Temp files as writers that died mid-write leave them, in each folder the store writes.
fn dead_writers_temps(store: &Store) -> Vec<std::path::PathBuf> {
    let temps = [
        store.slots_dir().join(".slot_001.json.tmp-4000000-0"),
        store.drafts_dir().join(".slot_002.json.tmp-4000001-3"),
        store.backups_dir().join(".slot_003.backup.tmp-4000002-7"),
    ];
    for t in &temps {
        fs::create_dir_all(t.parent().unwrap()).unwrap();
        fs::write(t, "{ \"half").unwrap();
    }
    temps.to_vec()
}

#[test]
fn temp_files_of_dead_writers_go_and_a_live_writers_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let dead = dead_writers_temps(&store);
    // A writer still at work holds a lock on its temp file.
    let live = store.slots_dir().join(".slot_004.json.tmp-1-1");
    let held = fs::File::create(&live).unwrap();
    held.lock().unwrap();
    // Not the store's: a user's file with a similar name.
    let users = store.slots_dir().join("slot_001.json.tmp-notes");
    fs::write(&users, "mine").unwrap();
    assert_eq!(store.remove_stale_temp_files(), dead.len());
    for t in &dead {
        assert!(!t.exists(), "{} is still there", t.display());
    }
    assert!(live.exists() && users.exists());
    drop(held);
    assert_eq!(
        store.remove_stale_temp_files(),
        1,
        "once its writer is gone"
    );
}

#[test]
fn headless_removes_temp_files_of_dead_writers_when_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    store.save(n(1), &named("one")).unwrap();
    let dead = dead_writers_temps(&store);
    let out = run_bounded(
        Process::new(env!("CARGO_BIN_EXE_chronus"))
            .arg("--patterns")
            .arg(dir.path())
            .args(["headless", "--no-audio", "--no-osc", "--seconds", "0.1"]),
        HANG_BOUND,
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("removed 3 temp files left by an earlier run that ended mid-write"),
        "{out:?}"
    );
    for t in &dead {
        assert!(!t.exists(), "{} is still there", t.display());
    }
}

/// A slot file with `member` written twice inside `object`, as text: where both copies start.
fn with_duplicate(before: &str, dup: &str, after: &str) -> String {
    format!("{before}{dup}{after}")
}

#[test]
fn a_key_written_twice_is_refused_naming_both_places() {
    let track = r#""kick": { "voice_id": "voice1", "pattern": "X..." }"#;
    // (text, member path, first line:col, second line:col), one per place a key can repeat.
    let cases = [
        (
            with_duplicate(
                "{\n  \"metadata\": {\"name\": \"a\"},\n",
                "  \"metadata\": {}\n",
                "}",
            ),
            "metadata",
            (2, 3),
            (3, 3),
        ),
        (
            format!("{{\"sequencer\": {{\"tracks\": {{\n  {track},\n  {track}\n}}}}}}"),
            "sequencer.tracks.kick",
            (2, 3),
            (3, 3),
        ),
        (
            "{\"sequencer\": {\"bpm\": 120, \"bpm\": 90}}".to_string(),
            "sequencer.bpm",
            (1, 16),
            (1, 28),
        ),
        (
            "{\"modules\": {\"voice1\": {\"adsr\": {\"attack\": 0.1,\n \"attack\": 0.2}}}}"
                .to_string(),
            "modules.voice1.adsr.attack",
            (1, 34),
            (2, 2),
        ),
        (
            "{\"_notes\": [{\"x\": 1}, {\"x\": 1, \"\\u0078\": 2}]}".to_string(),
            "_notes[1].x",
            (1, 24),
            (1, 32),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (text, member, first, second)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("dup{i}.json"));
        fs::write(&path, text).unwrap();
        let err = read_slot_file(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: {member} is written twice, at line {} column {} and at line {} column {}; an object keeps only one of them, so rename or remove one",
                path.display(),
                first.0,
                first.1,
                second.0,
                second.1
            ),
            "{text}"
        );
        // The command line says the same and the file is left as it is.
        let out = crate::support::chronus_bounded(&["check", path.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stdout.contains("is written twice"), "{out:?}");
        assert_eq!(&fs::read_to_string(&path).unwrap(), text);
    }
}

/// Numbers as people and other programs write them, each of which an `f64` would change,
/// and how a save writes them: every digit as written; an exponent is written `e+N`/`e-N`
/// (the one normalisation serde_json's arbitrary precision makes; the value is the same).
const EXACT_NUMBERS: [(&str, &str); 10] = [
    ("1e400", "1e+400"),
    ("-0.0", "-0.0"),
    (
        "0.1000000000000000055511151231257827",
        "0.1000000000000000055511151231257827",
    ),
    (
        "123456789012345678901234567890",
        "123456789012345678901234567890",
    ),
    ("1E+2", "1e+2"),
    ("5e-324", "5e-324"),
    ("18446744073709551616", "18446744073709551616"),
    ("-9223372036854775809", "-9223372036854775809"),
    ("2.50", "2.50"),
    ("1.0E-0", "1.0e-0"),
];

#[test]
fn numbers_in_unknown_keys_are_written_back_with_every_digit() {
    let written: Vec<&str> = EXACT_NUMBERS.iter().map(|(w, _)| *w).collect();
    let saved_as: Vec<&str> = EXACT_NUMBERS.iter().map(|(_, s)| *s).collect();
    let list = written.join(", ");
    let text = format!(
        r#"{{
  "_top": [{list}],
  "metadata": {{ "name": "exact", "_n": {n0} }},
  "sequencer": {{ "bpm": 120, "_n": {n1},
    "tracks": {{ "kick": {{ "voice_id": "voice1", "pattern": "X...", "_n": {n2} }} }} }},
  "modules": {{ "voice1": {{ "_n": {n3}, "adsr": {{ "_n": {n4} }} }},
               "acid1": {{ "_deep": {{ "n": [{list}] }} }}, "_m": {n5} }}
}}
"#,
        n0 = written[0],
        n1 = written[3],
        n2 = written[2],
        n3 = written[6],
        n4 = written[5],
        n5 = written[7],
    );
    let slot = chronus::model::slot::parse_slot(&text, "exact")
        .unwrap()
        .slot;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    store.save(n(9), &slot).unwrap();
    let saved = fs::read_to_string(store.slot_path(n(9))).unwrap();
    assert_eq!(
        saved.matches(&format!("[{}]", saved_as.join(", "))).count(),
        2
    );
    for (i, place) in [
        (0, "\"_n\": "),
        (3, "\"_n\": "),
        (2, "\"_n\": "),
        (7, "\"_m\": "),
    ] {
        let want = format!("{place}{}", saved_as[i]);
        assert!(saved.contains(&want), "{want} in {saved}");
    }
    // Loaded and saved again: the same song, the same bytes.
    let again = store.load(n(9)).unwrap().slot;
    assert_eq!(again, slot);
    assert_eq!(again.to_json(), saved);
}

#[test]
fn a_known_field_beyond_a_float_is_refused_by_name() {
    let err = chronus::model::slot::parse_slot(r#"{"sequencer": {"bpm": 1e400}}"#, "big")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "big: sequencer.bpm: the number 1e+400 is beyond what Chronus can hold (±1.8e308)"
    );
}

/// A slot whose largest save is exactly `MAX_SLOT_BYTES + extra` bytes: padded with texts
/// of at most 4000 characters (a text in a slot may hold 4096).
fn slot_saving_to(extra: isize) -> Slot {
    use chronus::model::slot::MAX_SLOT_BYTES;
    const CHUNK: usize = 4000;
    let target = MAX_SLOT_BYTES as isize + extra;
    let mut slot = named("limit");
    let pad = |slot: &mut Slot, chunks: usize, last: usize| {
        let mut v: Vec<serde_json::Value> = (0..chunks)
            .map(|_| serde_json::Value::String("x".repeat(CHUNK)))
            .collect();
        v.push(serde_json::Value::String("x".repeat(last)));
        slot.extra
            .insert("_padding".into(), serde_json::Value::Array(v));
    };
    pad(&mut slot, 0, 0);
    let base = slot.largest_saved_len() as isize;
    // Each full chunk costs its characters plus its quotes, comma and indent.
    pad(&mut slot, 1, 0);
    let per_chunk = slot.largest_saved_len() as isize - base;
    let chunks = ((target - base) / per_chunk) as usize;
    pad(&mut slot, chunks, 0);
    let last = (target - slot.largest_saved_len() as isize) as usize;
    pad(&mut slot, chunks, last);
    assert_eq!(slot.largest_saved_len() as isize, target);
    slot
}

#[test]
fn what_loads_can_be_saved_back_at_the_limit_and_one_byte_over_is_refused_at_load() {
    use chronus::model::slot::{MAX_SLOT_BYTES, SlotError, parse_slot};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    for extra in [-2isize, -1, 0] {
        let slot = slot_saving_to(extra);
        let loaded = parse_slot(&slot.to_json(), "at the limit").unwrap().slot;
        // Saved as the tracker saves: every voice, a time stamp.
        let mut stamped = loaded.clone();
        stamped.voice_modules = chronus::model::registry::MAX_VOICES;
        stamped.timestamp = 1_777_777_777.123;
        let info = store.save(n(10), &stamped).unwrap();
        assert!(info.bytes <= MAX_SLOT_BYTES, "{extra}");
        store.load(n(10)).unwrap();
    }
    for extra in [1isize, 2, 100] {
        let slot = slot_saving_to(extra);
        let text = slot.to_json();
        assert!(text.len() <= MAX_SLOT_BYTES, "the file itself fits");
        match parse_slot(&text, "over") {
            Err(SlotError::TooLargeToSave { size, .. }) => {
                assert_eq!(size as isize, MAX_SLOT_BYTES as isize + extra)
            }
            other => panic!("{extra}: {other:?}"),
        }
    }
    let err = parse_slot(&slot_saving_to(1).to_json(), "over").unwrap_err();
    assert_eq!(
        err.to_string(),
        "over: saved again in full (every default and voice written out), this slot would be 1 MiB (1048577 bytes), over the 1 MiB (1048576 bytes) a slot file may hold; make it smaller (fewer tracks, notes or extra keys)"
    );
}

/// Every file under `dir` with its bytes (links as where they point).
fn snapshot(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_symlink() {
                let to = fs::read_link(e.path()).unwrap();
                out.insert(e.path(), to.to_string_lossy().as_bytes().to_vec());
            } else if t.is_file() {
                out.insert(e.path(), fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// A patterns folder with slot 1 (and a backup of it) and a draft of slot 2, and a work
/// folder beside it.
fn songs_and_work() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let patterns = dir.path().join("patterns");
    let work = dir.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let store = Store::new(&patterns);
    store.save(n(1), &named("first")).unwrap();
    store.save(n(1), &named("second")).unwrap();
    store.write_draft(n(2), &named("draft")).unwrap();
    (dir, patterns, work)
}

fn render_to(patterns: &Path, work: &Path, out: Option<&Path>) -> crate::support::Finished {
    let mut cmd = Process::new(env!("CARGO_BIN_EXE_chronus"));
    cmd.current_dir(work)
        .arg("--patterns")
        .arg(patterns)
        .args(["render", "1", "--bars", "1", "--rate", "8000"]);
    if let Some(out) = out {
        cmd.arg("--out").arg(out);
    }
    run_bounded(&mut cmd, HANG_BOUND)
}

#[cfg(unix)]
#[test]
fn render_out_never_lands_among_the_songs_or_over_an_existing_file() {
    let (_dir, patterns, work) = songs_and_work();
    let store = Store::new(&patterns);
    let songs = snapshot(&patterns);
    let backup = store.backups(n(1)).unwrap()[0].clone();
    let refused = [
        (store.slot_path(n(1)), "slot files"),
        (store.slots_dir().join("new.wav"), "slot files"),
        (store.slots_dir().join("sub/deeper.wav"), "slot files"),
        (backup, "backups"),
        (store.draft_path(n(2)), "drafts"),
        (patterns.join("slots/../drafts/x.wav"), "drafts"),
    ];
    for (out, what) in &refused {
        let r = render_to(&patterns, &work, Some(out));
        assert_eq!(r.code, 1, "{}: {r:?}", out.display());
        assert!(
            r.stderr.contains(&format!("where Chronus keeps {what}")),
            "{}: {r:?}",
            out.display()
        );
    }
    // Outside the songs: a name taken by a file, a link to a slot, a FIFO.
    let take = work.join("take.wav");
    fs::write(&take, "an earlier render").unwrap();
    let link = work.join("link.wav");
    std::os::unix::fs::symlink(store.slot_path(n(1)), &link).unwrap();
    let fifo = work.join("fifo.wav");
    assert!(
        Process::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (out, went) in [
        (&take, "take-2.wav"),
        (&take, "take-3.wav"),
        (&link, "link-2.wav"),
        (&fifo, "fifo-2.wav"),
    ] {
        let r = render_to(&patterns, &work, Some(out));
        assert_eq!(r.code, 0, "{r:?}");
        assert!(
            r.stdout.contains(&work.join(went).display().to_string()),
            "{r:?}"
        );
        assert!(work.join(went).is_file());
    }
    assert_eq!(fs::read_to_string(&take).unwrap(), "an earlier render");
    // The default name too: a second render of slot 1 does not replace the first.
    for went in ["slot_001.wav", "slot_001-2.wav"] {
        let r = render_to(&patterns, &work, None);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains(went), "{r:?}");
    }
    assert_eq!(
        snapshot(&patterns),
        songs,
        "no slot, backup or draft changed"
    );
}

#[test]
fn a_recording_never_lands_among_the_songs_or_over_an_existing_file() {
    let (_dir, patterns, work) = songs_and_work();
    let songs = snapshot(&patterns);
    let slot_file = Store::new(&patterns).slot_path(n(1));
    let run = |record: &Path| {
        run_bounded(
            Process::new(env!("CARGO_BIN_EXE_chronus"))
                .current_dir(&work)
                .arg("--patterns")
                .arg(&patterns)
                .args(["headless", "--no-audio", "--no-osc", "--seconds", "0.2"])
                .arg("--record")
                .arg(record),
            HANG_BOUND,
        )
    };
    let r = run(&slot_file);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("where Chronus keeps slot files"), "{r:?}");
    let take = work.join("take.wav");
    fs::write(&take, "an earlier take").unwrap();
    let r = run(&take);
    assert_eq!(r.code, 0, "{r:?}");
    let went = work.join("take-2.wav");
    assert!(
        r.stdout
            .contains(&format!("recording to {}", went.display())),
        "{r:?}"
    );
    assert!(fs::metadata(&went).unwrap().len() > 44, "a WAV with sound");
    assert_eq!(fs::read_to_string(&take).unwrap(), "an earlier take");
    assert_eq!(snapshot(&patterns), songs);
}

#[test]
fn osc_recordings_and_schema_files_in_the_same_second_get_two_files() {
    use rosc::OscType;
    use std::time::Duration;
    let (_dir, patterns, work) = songs_and_work();
    let songs = snapshot(&patterns);
    let (child, port) = crate::support::spawn_headless(&patterns, &work, &["--seconds", "20"]);
    let child = KillOnDrop(Some(child));
    let osc = crate::support::OscClient::new(port);
    let wait = Duration::from_secs(5);
    let mut replies = Vec::new();
    for name in [None, None, Some("take"), Some("take")] {
        let args = name
            .map(|n| vec![OscType::String(n.into())])
            .unwrap_or_default();
        let started = osc
            .ask("/engine/record/start", args, wait)
            .expect("an answer");
        assert_eq!(started.addr, "/reply", "{started:?}");
        replies.push(format!("{:?}", started.args));
        let stopped = osc
            .ask("/engine/record/stop", vec![], wait)
            .expect("an answer");
        assert_eq!(stopped.addr, "/reply", "{stopped:?}");
    }
    let mut schemas = Vec::new();
    for _ in 0..2 {
        let m = osc
            .ask("/engine/schema", vec![OscType::String("file".into())], wait)
            .expect("an answer");
        assert_eq!(m.addr, "/reply", "{m:?}");
        schemas.push(format!("{:?}", m.args));
    }
    drop(child);
    let recordings: Vec<String> = fs::read_dir(work.join("recordings"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(recordings.len(), 4, "{recordings:?} from {replies:?}");
    assert!(
        recordings.contains(&"take.wav".to_string()),
        "{recordings:?}"
    );
    assert!(
        recordings.contains(&"take-2.wav".to_string()),
        "{recordings:?}"
    );
    let schema_files = fs::read_dir(&work)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("chronus_schema_")
        })
        .count();
    assert_eq!(schema_files, 2, "{schemas:?}");
    assert_ne!(schemas[0], schemas[1]);
    assert_eq!(snapshot(&patterns), songs);
}

/// Kills a child process when dropped, so a failing test leaves nothing running.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
