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
        self.start_sized(dir, args, 120, 40)
    }

    /// [`Tmux::start`] in a terminal of `width`×`height`.
    pub fn start_sized(&self, dir: &Path, args: &[&str], width: u16, height: u16) -> String {
        let mut argv: Vec<String> = vec![
            "new-session".into(),
            "-d".into(),
            "-s".into(),
            "chronus".into(),
            "-x".into(),
            width.to_string(),
            "-y".into(),
            height.to_string(),
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
        // A narrow terminal has no room for the slot browser. The whole first frame, not the
        // first rows of it: a loaded machine can catch the terminal mid-draw.
        let rows = (height as usize).saturating_sub(2);
        self.wait_for("the tracker", |s| {
            s.contains("Pattern")
                && (s.contains("Slots") || width < 120)
                && s.lines().filter(|l| !l.trim().is_empty()).count() >= rows
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

/// The longest a command may take on a special file before it counts as hung.
pub const HANG_BOUND: Duration = Duration::from_secs(2);

/// What a bounded run of the real binary gave.
#[derive(Debug)]
pub struct Finished {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` (its output captured) to the end, or kills it once `limit` has passed and
/// fails the test with what it printed: a hang fails the test, it never hangs it.
pub fn run_bounded(cmd: &mut Process, limit: Duration) -> Finished {
    use std::io::Read;
    use std::process::Stdio;
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chronus");
    let pipe = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = pipe(Box::new(child.stdout.take().expect("stdout")));
    let err = pipe(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chronus") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still ran after {limit:?} (hung); it printed:\n{}\n{}",
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Finished {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// `chronus ARGS`, bounded by [`HANG_BOUND`].
pub fn chronus_bounded(args: &[&str]) -> Finished {
    run_bounded(
        Process::new(env!("CARGO_BIN_EXE_chronus")).args(args),
        HANG_BOUND,
    )
}

/// A UDP port nobody listens on right now.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Talks OSC to a running Chronus over 127.0.0.1 UDP, as a controller app would.
pub struct OscClient {
    socket: std::net::UdpSocket,
    to: std::net::SocketAddr,
}

impl OscClient {
    /// A client of the Chronus listening on `port`.
    pub fn new(port: u16) -> OscClient {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        OscClient {
            socket,
            to: ([127, 0, 0, 1], port).into(),
        }
    }

    /// Sends one message.
    pub fn send(&self, addr: &str, args: Vec<rosc::OscType>) {
        let packet = rosc::OscPacket::Message(rosc::OscMessage {
            addr: addr.to_string(),
            args,
        });
        let bytes = rosc::encoder::encode(&packet).expect("encode OSC");
        let _ = self.socket.send_to(&bytes, self.to);
    }

    /// Sends one message and waits up to `wait` for the answer (`/reply …` or `/error …`),
    /// resending while nothing comes (Chronus may still be starting).
    pub fn ask(
        &self,
        addr: &str,
        args: Vec<rosc::OscType>,
        wait: Duration,
    ) -> Option<rosc::OscMessage> {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            self.send(addr, args.clone());
            let answered = Instant::now() + Duration::from_millis(500);
            while Instant::now() < answered.min(deadline) {
                let Ok(n) = self.socket.recv(&mut buf) else {
                    continue;
                };
                if let Ok((_, rosc::OscPacket::Message(m))) = rosc::decoder::decode_udp(&buf[..n])
                    && (m.addr == "/reply" || m.addr == "/error")
                {
                    return Some(m);
                }
            }
        }
        None
    }
}

/// `chronus --patterns DIR headless --no-audio --osc-port PORT ARGS`, started in `cwd`, its
/// output gathered by threads; returns the child and its OSC port.
pub fn spawn_headless(patterns: &Path, cwd: &Path, args: &[&str]) -> (std::process::Child, u16) {
    use std::process::Stdio;
    let port = free_udp_port();
    let child = Process::new(env!("CARGO_BIN_EXE_chronus"))
        .current_dir(cwd)
        .arg("--patterns")
        .arg(patterns)
        .args(["headless", "--no-audio", "--osc-port", &port.to_string()])
        .args(["--osc-out", "127.0.0.1:9"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chronus headless");
    (child, port)
}
/// Waits up to [`HANG_BOUND`] for `child` to end; kills it and fails the test otherwise.
/// Returns its exit status and everything it printed.
pub fn finish_bounded(
    mut child: std::process::Child,
) -> (std::process::ExitStatus, String, String) {
    use std::io::Read;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > HANG_BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chronus still ran {HANG_BOUND:?} after it was told to stop (hung)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status, out, err)
}

/// A small deterministic generator (xorshift), so a failing run can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
