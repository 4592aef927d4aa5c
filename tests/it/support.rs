//! The one test rig shared by the test modules: a real terminal (tmux) running the real
//! binary, driven key by key, its screen polled until it shows what a test waits for.

use std::path::Path;
use std::process::Command as Process;
use std::time::{Duration, Instant};

/// Whether tmux runs here. Without it the tests skip, except in CI, where they fail.
pub fn tmux_present() -> bool {
    let ok = Process::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is needed for the stage tests (CI is set, so this fails instead of skipping)"
        );
        eprintln!("skipped: `tmux -V` failed (tmux is not installed)");
    }
    ok
}

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A tmux server of its own for `test`, running chronus in session `chronus`.
    pub fn new(test: &str) -> Tmux {
        Tmux {
            socket: format!("chronus-it-{}-{test}", std::process::id()),
        }
    }

    /// Starts chronus with `--no-audio --patterns DIR` and `args`, in `DIR`, 120×40, and
    /// waits for the tracker.
    pub fn start(&self, dir: &Path, args: &[&str]) -> String {
        let mut argv: Vec<String> = vec![
            "new-session".into(),
            "-d".into(),
            "-s".into(),
            "chronus".into(),
            "-x".into(),
            "120".into(),
            "-y".into(),
            "40".into(),
            "-c".into(),
            dir.to_str().unwrap().into(),
            // Program and arguments apart: the pane's process is chronus itself, no shell.
            env!("CARGO_BIN_EXE_chronus").into(),
            "--no-audio".into(),
            "--patterns".into(),
            dir.to_str().unwrap().into(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = self.run(&argv);
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_for("the tracker", |s| {
            s.contains("Pattern") && s.contains("Slots")
        })
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        Process::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    pub fn capture(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "chronus"]).stdout)
            .into_owned()
    }

    /// The screen with its colours as escape sequences.
    pub fn capture_styled(&self) -> String {
        String::from_utf8_lossy(
            &self
                .run(&["capture-pane", "-p", "-e", "-t", "chronus"])
                .stdout,
        )
        .into_owned()
    }

    pub fn send(&self, keys: &[&str]) {
        for k in keys {
            let out = self.run(&["send-keys", "-t", "chronus", k]);
            assert!(out.status.success(), "send-keys {k}: {out:?}");
        }
    }

    pub fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "chronus"]).status.success()
    }

    /// The pane's process: chronus itself (the session runs the binary, not a shell).
    pub fn pid(&self) -> u32 {
        let out = self.run(&["list-panes", "-t", "chronus", "-F", "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("pane pid: {e}: {out:?}"))
    }

    /// Polls the screen until `ok` holds, or fails after a timeout with the last screen.
    pub fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.capture();
            if ok(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the session ends (chronus quit).
    pub fn wait_gone(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.alive() {
            assert!(
                Instant::now() < deadline,
                "{what}: chronus still runs:\n{}",
                self.capture()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

// ---------------------------------------------------------------------------------------------
// The in-process rig: a Session built by the one composition root, its engine rendered here.
// ---------------------------------------------------------------------------------------------

use std::path::PathBuf;

use chronus::app::{AudioArgs, Session, SessionOptions};
use chronus::control::{Command, ControlError, Controller, Notice, Service};
use chronus::engine::link::EngineRunner;

/// What a [`Live`] rig starts with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Sample rate of the engine.
    pub rate: u32,
    /// Voices the engine runs.
    pub voices: u8,
    /// Frames rendered per loop turn.
    pub period: usize,
    /// Watch the slots folder (hot reload), as the tracker and headless mode do.
    pub watch: bool,
    /// The patterns folder inside the rig's temp folder (`""`: the temp folder itself).
    pub patterns: &'static str,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            rate: 48_000,
            voices: 8,
            period: 256,
            watch: false,
            patterns: "patterns",
        }
    }
}

/// A session made by [`Session::offline`] (the same controller, recorder and services as the
/// tracker's and headless mode's) in a temp folder, its engine rendered period by period
/// here, each period followed by one [`Session::turn`]. Every notice is kept with the frame
/// count at which it was gathered.
pub struct Live {
    pub dir: tempfile::TempDir,
    /// The patterns folder.
    pub root: PathBuf,
    pub session: Session,
    pub runner: EngineRunner,
    pub setup: Setup,
    /// Frames rendered so far.
    pub frames: usize,
    /// The period [`Live::turn`] rendered last (interleaved stereo).
    pub last_block: Vec<f32>,
    pub notices: Vec<(usize, Notice)>,
}

impl Live {
    /// A rig as `setup` says; files in the patterns folder can be written before with
    /// [`Live::start_with`].
    pub fn start(setup: Setup) -> Live {
        Live::start_with(setup, |_| {})
    }

    /// A rig whose patterns folder `prepare` fills before the session starts.
    pub fn start_with(setup: Setup, prepare: impl FnOnce(&Path)) -> Live {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(setup.patterns);
        std::fs::create_dir_all(&root).unwrap();
        prepare(&root);
        let opts = SessionOptions {
            audio: AudioArgs {
                voices: setup.voices,
                ..AudioArgs::default()
            },
            osc: None,
            watch: setup.watch,
        };
        let (mut session, runner) = Session::offline(&root, &opts, setup.rate);
        session
            .ctl_mut()
            .set_recordings_dir(dir.path().join("recordings"));
        Live {
            dir,
            root,
            session,
            runner,
            last_block: vec![0.0; setup.period * 2],
            setup,
            frames: 0,
            notices: Vec::new(),
        }
    }

    pub fn ctl(&self) -> &Controller {
        self.session.ctl()
    }

    pub fn ctl_mut(&mut self) -> &mut Controller {
        self.session.ctl_mut()
    }

    /// Takes the notices gathered since the last call into [`Live::notices`].
    pub fn gather(&mut self) {
        let f = self.frames;
        let fresh: Vec<Notice> = self.session.ctl_mut().drain_notices().collect();
        self.notices.extend(fresh.into_iter().map(|n| (f, n)));
    }

    /// Applies a command that must succeed and waits for the file work it gave the disk
    /// thread (a save); returns its confirmation.
    pub fn apply(&mut self, cmd: Command) -> Option<String> {
        let what = format!("{cmd:?}");
        self.try_apply(cmd)
            .unwrap_or_else(|e| panic!("{what} was refused: {e}"))
    }

    /// Applies a command that may fail, waiting for its file work like [`Live::apply`].
    pub fn try_apply(&mut self, cmd: Command) -> Result<Option<String>, ControlError> {
        let r = self.session.apply(cmd);
        if self.ctl().disk_busy() > 0 {
            self.settle_disk();
        }
        self.gather();
        r
    }

    /// The sentence of the last notice for which `f` holds (as the message line says it).
    pub fn last_said(&self, f: impl Fn(&Notice) -> bool) -> Option<String> {
        self.notices
            .iter()
            .rev()
            .find(|(_, n)| f(n))
            .and_then(|(_, n)| self.ctl().describe(n))
    }

    /// Renders one period (when `render`) and turns the loop once, with `extra` services the
    /// test holds; returns the turn's notices (also kept in [`Live::notices`]).
    pub fn turn_with(&mut self, render: bool, extra: &mut [&mut dyn Service]) -> Vec<Notice> {
        if render {
            self.runner.render(&mut self.last_block);
            self.frames += self.setup.period;
        }
        // Notices of commands applied straight to the controller since the last turn are
        // part of this turn's, as the loop sees them.
        let notices = self.session.turn_with(extra);
        let f = self.frames;
        self.notices.extend(notices.iter().cloned().map(|n| (f, n)));
        notices
    }

    /// [`Live::turn_with`] without extra services.
    pub fn turn(&mut self, render: bool) -> Vec<Notice> {
        self.turn_with(render, &mut [])
    }

    /// Renders `frames` frames period by period, turning the loop after each; returns them.
    pub fn run(&mut self, frames: usize) -> Vec<f32> {
        let mut out = vec![0.0; frames * 2];
        for chunk in out.chunks_mut(self.setup.period * 2) {
            self.runner.render(chunk);
            self.frames += chunk.len() / 2;
            self.gather();
            let notices = self.session.turn();
            let f = self.frames;
            self.notices.extend(notices.into_iter().map(|n| (f, n)));
        }
        out
    }

    /// Renders without turning the loop: the control thread is busy elsewhere.
    pub fn run_unpolled(&mut self, frames: usize) -> Vec<f32> {
        let mut out = vec![0.0; frames * 2];
        for chunk in out.chunks_mut(self.setup.period * 2) {
            self.runner.render(chunk);
            self.frames += chunk.len() / 2;
        }
        out
    }

    /// Waits for the disk thread to report every job given so far (a save's result).
    pub fn settle_disk(&mut self) {
        assert!(
            self.session.ctl_mut().settle_disk(Duration::from_secs(20)),
            "the disk thread did not finish within 20 s"
        );
        self.gather();
    }

    /// The notices for which `f` holds, with their frame counts.
    pub fn notices_matching(&self, f: impl Fn(&Notice) -> bool) -> Vec<(usize, Notice)> {
        self.notices.iter().filter(|(_, n)| f(n)).cloned().collect()
    }
}
