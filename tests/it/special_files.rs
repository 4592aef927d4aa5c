//! Special files never hang anything: a FIFO, a socket, a device (through a symbolic link) or
//! a folder where Chronus expects a file it reads — a slot, a backup, a draft, a keymap,
//! `--from`, a render input — is refused by name, by the real binary, in bounded time.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::mpsc;
use std::time::Duration;

use chronus::keymap::{Keymap, KeymapError, MAX_KEYMAP_BYTES};
use chronus::model::Slot;

use crate::support::{HANG_BOUND, Tmux, chronus_bounded, run_bounded, tmux_present};

/// The kinds of special file tried at every place that reads a path.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Fifo,
    Socket,
    DevNull,
    DevZero,
    Folder,
}

const KINDS: [Kind; 5] = [
    Kind::Fifo,
    Kind::Socket,
    Kind::DevNull,
    Kind::DevZero,
    Kind::Folder,
];

impl Kind {
    /// How Chronus names it.
    fn text(self) -> &'static str {
        match self {
            Kind::Fifo => "a FIFO (named pipe)",
            Kind::Socket => "a socket",
            Kind::DevNull | Kind::DevZero => "a character device",
            Kind::Folder => "a directory",
        }
    }

    /// Makes one at `path` (its folder is created); what it returns keeps a socket open.
    fn make(self, path: &Path) -> Option<std::os::unix::net::UnixListener> {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        match self {
            Kind::Fifo => {
                let ok = Process::new("mkfifo").arg(path).status().unwrap();
                assert!(ok.success(), "mkfifo {}", path.display());
            }
            Kind::Socket => return Some(std::os::unix::net::UnixListener::bind(path).unwrap()),
            Kind::DevNull => std::os::unix::fs::symlink("/dev/null", path).unwrap(),
            Kind::DevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
            Kind::Folder => fs::create_dir(path).unwrap(),
        }
        None
    }
}

/// The sentence every reader gives for a special file at `path`.
fn refusal(path: &Path, kind: Kind, what: &str) -> String {
    format!("{} is {}, not a {what}", path.display(), kind.text())
}

fn song(name: &str) -> String {
    let mut s = Slot::default();
    s.metadata.name = name.to_string();
    s.sequencer
        .tracks
        .push(chronus::model::Track::new("kick", "voice1", "X..."));
    s.to_json()
}

fn write_slot(patterns: &Path, n: u8, text: &str) -> PathBuf {
    let path = patterns.join(format!("slots/slot_{n:03}.json"));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_refuses_every_kind_of_special_file_by_name() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let special = dir.path().join("slot_006.json");
        let _keep = kind.make(&special);
        let good = dir.path().join("good.json");
        fs::write(&good, song("good")).unwrap();
        let out = chronus_bounded(&["check", good.to_str().unwrap(), special.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{kind:?}: {out:?}");
        assert!(out.stdout.contains(": ok"), "{kind:?}: {out:?}");
        let want = format!("error: {}", refusal(&special, kind, "slot file"));
        assert!(out.stdout.contains(&want), "{kind:?}: {out:?}");
    }
}

#[test]
fn slots_list_and_show_name_a_special_slot_file() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().to_str().unwrap();
        write_slot(dir.path(), 1, &song("first"));
        let special = dir.path().join("slots/slot_006.json");
        let _keep = kind.make(&special);
        let list = chronus_bounded(&["slots", "list", "--patterns", p]);
        assert_eq!(list.code, 0, "{kind:?}: {list:?}");
        assert!(list.stdout.contains("first"), "{kind:?}: {list:?}");
        let want = format!(
            "   6  does not load: {}",
            refusal(&special, kind, "slot file")
        );
        assert!(list.stdout.contains(&want), "{kind:?}: {list:?}");
        let show = chronus_bounded(&["slots", "show", "6", "--patterns", p]);
        assert_eq!(show.code, 1, "{kind:?}: {show:?}");
        assert!(
            show.stderr.contains(&refusal(&special, kind, "slot file")),
            "{kind:?}: {show:?}"
        );
    }
}

#[test]
fn render_refuses_a_special_slot_and_a_special_input_file() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().to_str().unwrap();
        let special = dir.path().join("slots/slot_006.json");
        let _keep = kind.make(&special);
        let input = dir.path().join("input.json");
        let _keep_input = kind.make(&input);
        let wav = dir.path().join("out.wav");
        let w = wav.to_str().unwrap();
        for (target, path) in [("6", &special), (input.to_str().unwrap(), &input)] {
            let out = chronus_bounded(&["render", target, "--patterns", p, "--out", w]);
            assert_eq!(out.code, 1, "{kind:?} {target}: {out:?}");
            assert!(
                out.stderr.contains(&refusal(path, kind, "slot file")),
                "{kind:?} {target}: {out:?}"
            );
            assert!(
                !wav.exists(),
                "{kind:?} {target}: no WAV for a refused input"
            );
        }
    }
}

#[test]
fn slots_save_from_a_special_file_is_refused_and_changes_nothing() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().to_str().unwrap();
        let before = song("kept");
        let slot_2 = write_slot(dir.path(), 2, &before);
        let from = dir.path().join("from.json");
        let _keep = kind.make(&from);
        let out = chronus_bounded(&[
            "slots",
            "save",
            "2",
            "--from",
            from.to_str().unwrap(),
            "--patterns",
            p,
        ]);
        assert_eq!(out.code, 1, "{kind:?}: {out:?}");
        assert!(
            out.stderr.contains(&refusal(&from, kind, "slot file")),
            "{kind:?}: {out:?}"
        );
        assert_eq!(fs::read_to_string(&slot_2).unwrap(), before, "{kind:?}");
        assert!(!dir.path().join("backups").exists(), "{kind:?}: no backup");
    }
}

#[test]
fn a_special_newest_backup_is_passed_over_for_the_newest_valid_one() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().to_str().unwrap();
        write_slot(dir.path(), 3, "{ broken");
        let backups = dir.path().join("backups");
        let valid = backups.join("slot_003_1700000000.backup");
        fs::create_dir_all(&backups).unwrap();
        fs::write(&valid, song("older")).unwrap();
        let _keep = kind.make(&backups.join("slot_003_1800000000.backup"));
        let show = chronus_bounded(&["slots", "show", "3", "--patterns", p]);
        assert_eq!(show.code, 1, "{kind:?}: {show:?}");
        let offer = format!("its newest valid backup is {}", valid.display());
        assert!(show.stderr.contains(&offer), "{kind:?}: {show:?}");
    }
}

#[test]
fn headless_with_a_special_draft_warns_and_plays() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        write_slot(dir.path(), 1, &song("plays"));
        let draft = dir.path().join("drafts/slot_001.json");
        let _keep = kind.make(&draft);
        let out = run_bounded(
            Process::new(env!("CARGO_BIN_EXE_chronus"))
                .arg("--patterns")
                .arg(dir.path())
                .args(["headless", "--no-audio", "--no-osc", "--seconds", "0.2"]),
            HANG_BOUND,
        );
        assert_eq!(out.code, 0, "{kind:?}: {out:?}");
        assert!(out.stdout.contains("\"plays\""), "{kind:?}: {out:?}");
        assert!(
            out.stdout.contains(&refusal(&draft, kind, "slot file")),
            "{kind:?}: {out:?}"
        );
    }
}

/// `Keymap::load` on another thread, failing the test instead of hanging it.
fn load_keymap_bounded(path: &Path) -> Option<KeymapError> {
    let (tx, rx) = mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(Keymap::load(Some(&owned)));
    });
    let (keymap, error) = rx
        .recv_timeout(HANG_BOUND)
        .unwrap_or_else(|_| panic!("Keymap::load({}) hung", path.display()));
    assert_eq!(keymap, Keymap::defaults());
    error
}

#[test]
fn a_special_keymap_file_is_refused_by_name_and_the_defaults_load() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keymap.toml");
        let _keep = kind.make(&path);
        let error = load_keymap_bounded(&path).expect("an error");
        assert!(matches!(error, KeymapError::Read { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "key bindings: {}; using the default keys",
                refusal(&path, kind, "keymap file")
            )
        );
    }
}

#[test]
fn a_keymap_file_at_its_limit_is_read_and_one_byte_more_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keymap.toml");
    let limit = MAX_KEYMAP_BYTES;
    let mut text = "# padding\n".repeat(limit / 10);
    text.push_str(&"#".repeat(limit - text.len() - 1));
    text.push('\n');
    assert_eq!(text.len(), limit);
    fs::write(&path, &text).unwrap();
    assert!(load_keymap_bounded(&path).is_none());
    text.insert(0, '#');
    fs::write(&path, &text).unwrap();
    let error = load_keymap_bounded(&path).expect("too large");
    assert_eq!(
        error.to_string(),
        format!(
            "key bindings: {} is 256 KiB (262145 bytes); a keymap file may be at most 256 KiB (262144 bytes); using the default keys",
            path.display()
        )
    );
}

#[test]
fn a_keymap_that_is_not_utf8_points_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keymap.toml");
    fs::write(&path, b"# ok\n# b\xffd\n").unwrap();
    let error = load_keymap_bounded(&path).expect("not text");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:2:4: the file is not valid UTF-8 text; using the default keys",
            path.display()
        )
    );
}

#[test]
fn the_tracker_with_a_fifo_keymap_and_a_fifo_draft_says_so_and_runs() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_slot(dir.path(), 1, &song("tracker"));
    let keymap = dir.path().join("keys.toml");
    Kind::Fifo.make(&keymap);
    Kind::Fifo.make(&dir.path().join("drafts/slot_001.json"));
    let tmux = Tmux::new("fifo-keymap");
    tmux.start(
        dir.path(),
        &["--no-osc", "--keymap", keymap.to_str().unwrap()],
    );
    tmux.send(&["M"]);
    tmux.wait_for("both refusals in the message log", |s| {
        s.contains("not a keymap file") && s.contains("not a slot file")
    });
    tmux.send(&["Escape", "q"]);
    tmux.wait_gone("after q");
}

/// Headless on a special file named like the start slot says what it is and ends; the slot
/// list, the watcher and the disk thread never open it.
#[test]
fn headless_with_a_special_slot_file_says_so_and_ends() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let special = dir.path().join("slots/slot_006.json");
        let _keep = kind.make(&special);
        let out = run_bounded(
            Process::new(env!("CARGO_BIN_EXE_chronus"))
                .arg("--patterns")
                .arg(dir.path())
                .args(["headless", "--no-audio", "--no-osc", "--slot", "6"])
                .args(["--seconds", "0.2"]),
            HANG_BOUND,
        );
        assert_eq!(out.code, 1, "{kind:?}: {out:?}");
        assert!(
            out.stdout.contains(&refusal(&special, kind, "slot file")),
            "{kind:?}: {out:?}"
        );
    }
}

#[test]
fn waiting_is_bounded_by_the_rig_itself() {
    // The rig fails a command that outlives the bound instead of waiting for it.
    let slow = std::panic::catch_unwind(|| {
        run_bounded(Process::new("sleep").arg("5"), Duration::from_millis(100))
    });
    assert!(slow.is_err());
}

#[test]
fn a_slot_file_at_the_limit_is_read_and_larger_ones_are_refused_with_their_real_size() {
    use chronus::model::slot::MAX_SLOT_BYTES;
    let dir = tempfile::tempdir().unwrap();
    let text = song("limit");
    let at = dir.path().join("at.json");
    // JSON allows trailing white space: the file is exactly at the limit and loads.
    let mut padded = text.clone().into_bytes();
    padded.resize(MAX_SLOT_BYTES, b' ');
    fs::write(&at, &padded).unwrap();
    let out = chronus_bounded(&["check", at.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:?}");
    let cases = [
        (MAX_SLOT_BYTES as u64 + 1, "1 MiB (1048577 bytes)"),
        (3_355_443, "3.2 MiB (3355443 bytes)"),
        // Sparse: 10 GiB that take no disk, and must not be read or allocated.
        (10 << 30, "10 GiB (10737418240 bytes)"),
    ];
    for (size, shown) in cases {
        let path = dir.path().join(format!("{size}.json"));
        let file = fs::File::create(&path).unwrap();
        std::io::Write::write_all(&mut &file, text.as_bytes()).unwrap();
        file.set_len(size).unwrap();
        let out = chronus_bounded(&["check", path.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stdout.contains(&format!(
                "{} is {shown}; a slot file may be at most 1 MiB (1048576 bytes)",
                path.display()
            )),
            "{out:?}"
        );
    }
}
