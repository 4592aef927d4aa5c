//! Clean text: names (slot names, track names, file names) holding control characters reach
//! no output raw. The real binary's `check`, `slots list|show`, `render`, `headless` (text and
//! JSON) and its error messages are run on slots full of escape sequences, bells, line breaks
//! and bidirectional overrides; every line they print must be free of them, with the names
//! shown escaped (`\u{1b}`).

use std::path::Path;
use std::process::{Command, Output};

use chronus::model::text::is_unsafe_char;
use serde_json::json;

/// Names that would clear the screen, retitle the terminal, ring, break lines or reverse text.
const EVIL: [&str; 6] = [
    "clear\u{1b}[2J\u{1b}[H",
    "title\u{1b}]0;pwned\u{7}",
    "two\nlines\rback",
    "csi\u{9b}31m",
    "rev\u{202e}esrever",
    "tab\tdel\u{7f}",
];

/// Output lines must hold no control character but their line breaks.
pub fn assert_clean(what: &str, text: &str) {
    if let Some(c) = text.chars().find(|&c| c != '\n' && is_unsafe_char(c)) {
        panic!("{what}: raw {c:?} in the output:\n{text:?}");
    }
}

fn evil_slot(i: usize) -> serde_json::Value {
    let mut tracks = serde_json::Map::new();
    for (j, name) in EVIL.iter().enumerate() {
        tracks.insert(
            name.to_string(),
            json!({ "voice_id": format!("voice{}", 1 + j % 4), "pattern": "x.\u{1b}x", "name": "other\u{7}" }),
        );
    }
    json!({
        "metadata": { "name": EVIL[i % EVIL.len()], "genre": "g\u{1b}[5m", "tags": ["t\u{7}"] },
        "sequencer": { "bpm": 120, "tracks": tracks },
        "modules": { "voice1": { "\u{1b}[31mkey": 1 } },
    })
}

fn patterns(dir: &Path) {
    std::fs::create_dir_all(dir.join("slots")).unwrap();
    for n in 1..=3 {
        std::fs::write(
            dir.join(format!("slots/slot_{n:03}.json")),
            serde_json::to_string_pretty(&evil_slot(n)).unwrap(),
        )
        .unwrap();
    }
}

fn chronus(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chronus"))
        .current_dir(dir)
        .arg("--patterns")
        .arg(dir)
        .args(args)
        .output()
        .expect("chronus runs")
}

fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_slot_commands_show_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    patterns(dir.path());
    let list = both(&chronus(dir.path(), &["slots", "list"]));
    assert_clean("slots list", &list);
    assert!(list.contains("title\\u{1b}]0;pwned\\u{7}"), "{list}");
    // Escaped names line up: the tempo column starts at the same place on every row.
    let rows: Vec<usize> = list
        .lines()
        .filter(|l| l.contains("120.0"))
        .map(|l| {
            l.chars()
                .position(|c| c == '1' && l.contains("120.0"))
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(rows.len(), 3, "{list}");
    for n in ["1", "2", "3"] {
        let show = both(&chronus(dir.path(), &["slots", "show", n]));
        assert_clean("slots show", &show);
        assert!(show.contains("clear\\u{1b}[2J\\u{1b}[H"), "{show}");
        assert!(show.contains("two\\nlines\\rback"), "{show}");
    }
}

#[test]
fn check_names_files_and_quotes_values_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good\u{1b}[2J.json");
    std::fs::write(&good, evil_slot(0).to_string()).unwrap();
    let broken = dir.path().join("broken\u{7}\n.json");
    std::fs::write(&broken, "{ \"metadata\": ").unwrap();
    let out = chronus(
        dir.path(),
        &["check", good.to_str().unwrap(), broken.to_str().unwrap()],
    );
    let text = both(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_clean("check", &text);
    assert!(text.contains("good\\u{1b}[2J.json: warning: "), "{text}");
    assert!(text.contains("broken\\u{7}\\n.json:1:"), "{text}");
    assert!(
        text.contains("\"other\\u{7}\" differs from the track's key"),
        "{text}"
    );
}

#[test]
fn render_headless_and_errors_print_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    patterns(dir.path());
    let out = chronus(dir.path(), &["render", "2", "--bars", "1"]);
    assert!(out.status.success(), "{}", both(&out));
    assert_clean("render", &both(&out));
    let out = chronus(
        dir.path(),
        &[
            "headless",
            "--slot",
            "3",
            "--no-audio",
            "--no-osc",
            "--seconds",
            "0.3",
        ],
    );
    let text = both(&out);
    assert!(out.status.success(), "{text}");
    assert_clean("headless", &text);
    assert!(text.contains("two\\nlines\\rback"), "{text}");
    let out = chronus(
        dir.path(),
        &[
            "headless",
            "--slot",
            "1",
            "--no-audio",
            "--no-osc",
            "--seconds",
            "0.3",
            "--events",
            "json",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_clean("headless --events json", &text);
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    // An error about a file whose name holds control characters.
    let odd = dir.path().join("odd\u{1b}[31m");
    std::fs::create_dir_all(&odd).unwrap();
    let out = chronus(
        dir.path(),
        &["render", odd.join("missing.json").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_clean("an error message", &both(&out));
}
