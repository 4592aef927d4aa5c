//! The command line, run as the real binary: every numeric flag of every subcommand refuses
//! bad numbers with clap's error quoting the value (exit 2), never a panic and never a silent
//! substitute; values at the edges of each range are taken.

use std::process::{Command, Output};

fn chronus(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_chronus"))
        .current_dir(dir.path())
        .args(args)
        .output()
        .expect("chronus runs")
}

/// Numbers no flag takes.
const NEVER: [&str; 12] = [
    "inf", "-inf", "+inf", "NaN", "nan", "1e400", "-5", "abc", "", " ", "0x10", "1,5",
];

/// Each numeric flag: the arguments around it, the flag, bad values beyond [`NEVER`], and
/// good values at the edges of its range.
#[allow(clippy::type_complexity)]
fn flags() -> Vec<(&'static [&'static str], &'static str, Vec<&'static str>)> {
    let whole = |extra: &[&'static str]| {
        let mut v = vec!["1.5", "99999999999999999999999"];
        v.extend_from_slice(extra);
        v
    };
    vec![
        (&[], "--buffer", whole(&["0", "15", "4097", "-128"])),
        (&[], "--rate", whole(&["0", "7999", "192001", "4294967296"])),
        (&[], "--voices", whole(&["0", "17", "256"])),
        (&[], "--osc-port", whole(&["65536", "-1"])),
        (
            &[],
            "--slot",
            whole(&["0", "129", "T", "1e0", "+5", " 5", "5."]),
        ),
        (
            &["headless"],
            "--seconds",
            vec!["0", "-0.5", "1e300", "31536001"],
        ),
        (&["headless"], "--buffer", whole(&["0"])),
        (&["headless"], "--rate", whole(&["0"])),
        (&["headless"], "--voices", whole(&["0"])),
        (&["headless"], "--osc-port", whole(&["70000"])),
        (&["headless"], "--slot", whole(&["0", "129"])),
        (&["render", "1"], "--bars", whole(&["0", "10001"])),
        (&["render", "1"], "--rate", whole(&["0", "192001"])),
        (&["render", "1"], "--voices", whole(&["0", "17"])),
        (&["ctl"], "--port", whole(&["0", "65536"])),
        (&["ctl"], "--timeout", vec!["0", "0.001", "3601", "1e300"]),
    ]
}

#[test]
fn every_numeric_flag_refuses_bad_numbers_with_the_value_quoted() {
    let mut checked = 0;
    for (before, flag, extra) in flags() {
        for bad in NEVER.iter().copied().chain(extra) {
            let mut args: Vec<&str> = before.to_vec();
            // `--flag=value` keeps a value such as "-5" or "" a value.
            let joined = format!("{flag}={bad}");
            args.push(&joined);
            if before == ["ctl"] {
                args.push("status");
            }
            let out = chronus(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains(&format!("invalid value '{bad}' for '{flag}")),
                "{args:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert!(err.lines().count() < 10, "{args:?}: {err}");
            checked += 1;
        }
    }
    // The slot a `slots` subcommand takes is positional: the same checks, the same error.
    for bad in NEVER
        .iter()
        .copied()
        .chain(["0", "129", "1.5", "T", "1e0", "+5", " 5", "5."])
    {
        for cmd in [&["slots", "show"][..], &["slots", "save"][..]] {
            let mut args = cmd.to_vec();
            args.extend(["--from", "x.json", "--", bad]);
            if cmd[1] == "show" {
                args.drain(2..4);
            }
            let out = chronus(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains(&format!("invalid value '{bad}' for '<SLOT>'")),
                "{args:?}: {err}"
            );
            checked += 1;
        }
    }
    assert!(checked > 230, "{checked}");
}

#[test]
fn a_negative_number_is_read_as_a_value_not_a_flag() {
    for (args, quoted) in [
        (vec!["headless", "--seconds", "-5"], "'-5'"),
        (vec!["render", "1", "--bars", "-3"], "'-3'"),
        (vec!["--rate", "-48000"], "'-48000'"),
        (vec!["ctl", "--timeout", "-1", "status"], "'-1'"),
    ] {
        let out = chronus(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(quoted) && err.contains("out of range"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn values_at_the_edges_of_each_range_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let patterns = dir.path().to_str().unwrap();
    std::fs::create_dir_all(dir.path().join("slots")).unwrap();
    std::fs::write(
        dir.path().join("slots/slot_128.json"),
        r#"{ "sequencer": { "tracks": { "k": { "voice_id": "voice1", "pattern": "x" } } } }"#,
    )
    .unwrap();
    // A run of the shortest length on the internal clock with the smallest buffer, lowest
    // rate and one voice.
    let out = chronus(&[
        "headless",
        "--patterns",
        patterns,
        "--no-audio",
        "--no-osc",
        "--seconds",
        "0.05",
        "--buffer",
        "16",
        "--rate",
        "8000",
        "--voices",
        "1",
        "--slot",
        "128",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The shortest timeout, to a port nobody answers on: parsed, waited, "no answer".
    let out = chronus(&["ctl", "--port", "1", "--timeout", "0.01", "status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no answer"), "{err}");
    // ctl checks slot numbers by the server's rule before it sends anything.
    for bad in ["T", "5.5", "1e0", "0"] {
        let out = chronus(&["ctl", "--port", "1", "load", bad]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains("a slot is a whole number 1–128"),
            "{bad}: {err}"
        );
    }
}

/// A slot of one track at 120 BPM (a bar is 2 s).
fn write_slot(dir: &std::path::Path, n: u8) {
    std::fs::create_dir_all(dir.join("slots")).unwrap();
    std::fs::write(
        dir.join(format!("slots/slot_{n:03}.json")),
        r#"{ "sequencer": { "bpm": 120, "tracks": { "k": { "voice_id": "voice1", "pattern": "x.x." } } } }"#,
    )
    .unwrap();
}

#[test]
fn render_streams_to_disk_in_memory_that_does_not_grow_with_length() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_slot(dir.path(), 3);
    let out = dir.path().join("long.wav");
    // 60 bars at 120 BPM, 48 kHz: 5 760 000 frames, 46 MB of samples. Held in memory they
    // would break a 32 MiB cap on the process's data; streamed, the render fits in it.
    let capped = Command::new("prlimit")
        .arg(format!("--data={}", 32 << 20))
        .arg(env!("CARGO_BIN_EXE_chronus"))
        .args(["--patterns", dir.path().to_str().unwrap(), "render", "3"])
        .args(["--bars", "60", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        capped.status.success(),
        "{}",
        String::from_utf8_lossy(&capped.stderr)
    );
    let wav = hound::WavReader::open(&out).unwrap();
    assert_eq!(wav.len(), 2 * 5_760_000);
    let header = std::fs::metadata(&out).unwrap().len() - 8 * 5_760_000;
    assert!(header < 100, "{header}");
}

#[test]
fn a_streamed_render_writes_the_same_bytes_as_one_held_in_memory() {
    use chronus::app::render::{render, render_to_wav, write_wav};
    let slot = crate::anthem::anthem_breakbeat();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let info = render_to_wav(&a, &slot, 3, 44_100, 8).unwrap();
    let samples = render(&slot, 3, 44_100, 8);
    write_wav(&b, &samples, 44_100).unwrap();
    assert_eq!(info.frames as usize * 2, samples.len());
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn a_render_that_cannot_be_written_leaves_no_file_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    write_slot(dir.path(), 3);
    let patterns = dir.path().to_str().unwrap();
    // A WAV file cannot hold 10 000 bars at 192 kHz: refused before anything is written.
    let wav = dir.path().join("huge.wav");
    let out = chronus(&[
        "--patterns",
        patterns,
        "render",
        "3",
        "--bars",
        "10000",
        "--rate",
        "192000",
        "--out",
        wav.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("a WAV file may hold at most 4294966271 bytes; this one has"),
        "{err}"
    );
    assert!(!wav.exists());
    // A folder that does not exist: the path is named once, with its cause.
    let nowhere = dir.path().join("no/such/dir/x.wav");
    let out = chronus(&[
        "--patterns",
        patterns,
        "render",
        "3",
        "--bars",
        "1",
        "--out",
        nowhere.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(err.contains(&nowhere.display().to_string()), "{err}");
}

#[test]
fn an_error_says_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let patterns = dir.path().to_str().unwrap();
    std::fs::create_dir_all(dir.path().join("slots")).unwrap();
    std::fs::write(
        dir.path().join("slots/slot_001.json"),
        "{ \"sequencer\": [ ",
    )
    .unwrap();
    let runs: [&[&str]; 3] = [
        &["slots", "show", "1"],
        &["render", "1", "--bars", "1"],
        &[
            "headless",
            "--slot",
            "1",
            "--no-audio",
            "--no-osc",
            "--seconds",
            "0.1",
        ],
    ];
    for args in runs {
        let mut all = vec!["--patterns", patterns];
        all.extend_from_slice(args);
        let out = chronus(&all);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert_eq!(text.matches("syntax error").count(), 1, "{args:?}: {text}");
        assert!(text.contains("slot_001.json:1:"), "{args:?}: {text}");
    }
}

#[test]
fn the_readme_documents_every_limit_and_range() {
    use chronus::model::limits::*;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for l in &LIMITS {
        let row = format!("| `{}` | {} {} |", l.key, l.max, l.unit);
        assert!(readme.contains(&row), "README lacks the row {row}");
    }
    let ranges = [
        format!("--buffer {}–{}", BUFFER_FRAMES.start(), BUFFER_FRAMES.end()),
        format!("--rate\n{}–{}", SAMPLE_RATES.start(), SAMPLE_RATES.end()),
        format!("--voices {}–{}", VOICE_COUNTS.start(), VOICE_COUNTS.end()),
        format!("--bars 1–{MAX_RENDER_BARS}"),
        format!("at most {MAX_HEADLESS_SECONDS}"),
        format!("--timeout {MIN_CTL_TIMEOUT}–{MAX_CTL_TIMEOUT}"),
    ];
    for r in ranges {
        assert!(readme.contains(&r), "README lacks {r:?}");
    }
}
