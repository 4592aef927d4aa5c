//! The one composition root of a playing Chronus: [`Session::start`] builds the engine, the
//! audio output (a device, or the paced internal clock), the recorder, the controller and the
//! services (OSC, the slot-file watcher) once, and [`Session::turn`] is the one loop turn the
//! tracker and headless mode share, in the same order, with device-loss recovery written once.

use std::path::Path;
use std::time::Duration;

use crate::audio::{self, AudioArgs, AudioOutput, Recorder};
use crate::control::{
    Command, ControlError, Controller, Level, Notice, Service, Waker, Wakeup, wake_pair,
};
use crate::engine::Engine;
use crate::engine::link::{self, EngineLink, EngineRunner};
use crate::sources::midi::{self, MidiArgs, MidiService, OutFeed};
use crate::sources::osc::{self as osc, OscArgs};
use crate::sources::watch::SlotWatcher;
use crate::store::Store;

/// Longest a turn waits for input when nothing wakes it: the engine's events (steps, bars,
/// meters) are read at this cadence, since the audio thread never makes a call that could
/// wake another thread.
pub const ENGINE_POLL: Duration = Duration::from_millis(5);

/// Longest quitting waits for saves and draft writes still under way (a save may wait up to
/// [`LOCK_TIMEOUT`](crate::store::worker::LOCK_TIMEOUT) for a lock).
pub const SHUTDOWN_DISK_WAIT: Duration = Duration::from_secs(15);

/// What a session is made of.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Audio device options.
    pub audio: AudioArgs,
    /// OSC options; `None` runs without OSC.
    pub osc: Option<OscArgs>,
    /// Watch the slots folder for files edited outside Chronus.
    pub watch: bool,
}

/// Where the sound goes, for status lines and machine-readable output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// `"device"` or `"internal"`.
    pub kind: &'static str,
    /// The device id when a device plays.
    pub device: Option<String>,
    /// One line: `alsa:jack 48000 Hz / 256 frames` or `internal clock …`.
    pub describe: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Frames per period.
    pub buffer: u32,
}

/// A running Chronus: engine, output, controller and services.
pub struct Session {
    ctl: Controller,
    /// MIDI waiting for a song that names a note port, when no MIDI flag opened it at start:
    /// the options and the engine's MIDI ring.
    midi_later: Option<(MidiArgs, OutFeed)>,
    output: Option<AudioOutput>,
    services: Vec<Box<dyn Service>>,
    waker: Waker,
    wakeup: Wakeup,
    startup: Vec<(Level, String)>,
}

impl Session {
    /// Builds everything once. Problems that leave the music playing (no sound card, an OSC
    /// port taken, no file watch) are not errors: they are kept as start-up messages.
    pub fn start(patterns: &Path, opts: &SessionOptions) -> Session {
        Session::start_with_midi(patterns, opts, None)
    }

    /// [`Session::start`] with MIDI: `midi` is the MIDI flags and whether the clock follows
    /// MIDI clock (`--clock midi`). Without a MIDI flag no MIDI client, port or thread is
    /// opened. A port that cannot be opened is a start-up message; the music plays on.
    pub fn start_with_midi(
        patterns: &Path,
        opts: &SessionOptions,
        midi: Option<(&MidiArgs, bool)>,
    ) -> Session {
        let voices = opts.audio.voices as usize;
        let mut recorder = Recorder::new();
        let mut engine_link: Option<EngineLink> = None;
        let later_args = midi.map(|(a, _)| a.clone()).unwrap_or_default();
        let midi = midi.filter(|(a, _)| a.wanted());
        let sends = midi.is_some_and(|(a, _)| a.midi_clock_out.is_some());
        // The ring is there from the start (memory only: no client, port or thread), so a song
        // naming a track's MIDI port can start MIDI output when it loads.
        let (p, c) = rtrb::RingBuffer::new(link::MIDI_RING);
        let (mut midi_tx, midi_rx) = (Some(p), Some(c));
        let (output, note) = audio::open(&opts.audio, |rate| {
            let engine = Engine::new(rate as f32, voices);
            let (mut runner, l) = link::link(engine, Some(recorder.attach(rate)));
            if let Some(p) = midi_tx.take() {
                runner.attach_midi(p);
            }
            engine_link = Some(l);
            runner
        });
        let Some(mut engine_link) = engine_link else {
            unreachable!("audio::open always makes the runner")
        };
        // No sound card is a normal state: news, not a fault.
        let mut startup: Vec<(Level, String)> =
            note.map(|n| (Level::Info, n)).into_iter().collect();
        let mut extra: Vec<Box<dyn Service>> = Vec::new();
        let mut midi_input = false;
        let ahead = midi::send_ahead(output.buffer, output.sample_rate);
        let feed = midi_rx.map(|ring| OutFeed {
            ring,
            stats: engine_link.stats.clone(),
            rate: engine_link.sample_rate,
            ahead,
        });
        let mut midi_later = None;
        if let Some((args, follow)) = midi {
            match MidiService::open(args, follow, feed, ahead) {
                Ok(s) => {
                    midi_input = s.reads();
                    if sends {
                        engine_link.send(crate::engine::EngineMsg::MidiClock(true));
                    }
                    extra.push(Box::new(s));
                }
                Err(e) => startup.push((Level::Error, format!("{e} — MIDI is off"))),
            }
        } else {
            midi_later = feed.map(|f| (later_args, f));
        }
        let mut session = Session::assemble(
            patterns,
            opts,
            engine_link,
            recorder,
            Some(output),
            startup,
            extra,
        );
        session.ctl.set_midi_input(midi_input);
        session.midi_later = midi_later;
        session
    }

    /// A session whose engine the caller renders block by block (tests, benchmarks): the
    /// controller, recorder and services are built exactly as [`Session::start`] builds them.
    pub fn offline(patterns: &Path, opts: &SessionOptions, rate: u32) -> (Session, EngineRunner) {
        let mut recorder = Recorder::new();
        let engine = Engine::new(rate as f32, opts.audio.voices as usize);
        let (runner, engine_link) = link::link(engine, Some(recorder.attach(rate)));
        let mut session = Session::assemble(
            patterns,
            opts,
            engine_link,
            recorder,
            None,
            Vec::new(),
            Vec::new(),
        );
        session
            .ctl
            .set_backend("offline", format!("rendered by the caller at {rate} Hz"));
        (session, runner)
    }

    /// The controller and the services around an engine link.
    fn assemble(
        patterns: &Path,
        opts: &SessionOptions,
        engine_link: EngineLink,
        recorder: Recorder,
        output: Option<AudioOutput>,
        mut startup: Vec<(Level, String)>,
        extra: Vec<Box<dyn Service>>,
    ) -> Session {
        let voices = opts.audio.voices as usize;
        let mut ctl = Controller::new(Store::new(patterns), voices, engine_link, recorder);
        if let Some(o) = &output {
            ctl.set_backend(o.kind(), o.describe());
        }
        let (waker, wakeup) = wake_pair();
        let mut services: Vec<Box<dyn Service>> = Vec::new();
        if let Some(args) = &opts.osc {
            match osc::services(args) {
                Ok(s) => services.extend(s),
                // A taken port is reported and the music plays on without OSC.
                Err(e) => startup.push((Level::Error, format!("{e:#} — OSC is off"))),
            }
        }
        services.extend(extra);
        if opts.watch {
            match SlotWatcher::new(patterns) {
                Ok(w) => {
                    ctl.set_watching(true);
                    services.push(Box::new(w));
                }
                Err(e) => startup.push((
                    Level::Warning,
                    format!("{e} — files edited outside Chronus will not reload"),
                )),
            }
        }
        for s in services.iter_mut() {
            s.set_waker(waker.clone());
        }
        ctl.set_waker(waker.clone());
        Session {
            ctl,
            midi_later: None,
            output,
            services,
            waker,
            wakeup,
            startup,
        }
    }

    /// The controller: what plays, what is queued, what is edited.
    pub fn ctl(&self) -> &Controller {
        &self.ctl
    }

    /// The controller, to apply commands.
    pub fn ctl_mut(&mut self) -> &mut Controller {
        &mut self.ctl
    }

    /// Applies one command (as a key, an OSC message or a file change would).
    pub fn apply(&mut self, cmd: Command) -> Result<Option<String>, ControlError> {
        let done = self.ctl.apply(cmd);
        // A load that names a track's MIDI port opens it now, before a Play that may follow
        // in the same breath: the song's first hit finds the port open.
        self.start_midi_for_notes();
        done
    }

    /// Messages found while starting (no sound card, OSC port taken, no file watch), in order;
    /// taking them leaves none.
    pub fn take_startup_messages(&mut self) -> Vec<(Level, String)> {
        std::mem::take(&mut self.startup)
    }

    /// A waker for another input thread (the keyboard).
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Where the sound goes now.
    pub fn backend(&self) -> BackendInfo {
        match &self.output {
            Some(o) => BackendInfo {
                kind: o.kind(),
                device: o.device_id().map(str::to_string),
                describe: o.describe(),
                sample_rate: o.sample_rate,
                buffer: o.buffer,
            },
            None => BackendInfo {
                kind: "none",
                device: None,
                describe: "no audio output".into(),
                sample_rate: self.ctl.sample_rate(),
                buffer: 0,
            },
        }
    }

    /// One status line per service (OSC address and clock source).
    pub fn status_lines(&self) -> Vec<String> {
        self.services
            .iter()
            .filter_map(|s| s.status_line())
            .collect()
    }

    /// Parks the loop until an input thread wakes it or `timeout` passed; true when woken.
    /// Loops that show the engine's events pass at most [`ENGINE_POLL`].
    pub fn wait(&self, timeout: Duration) -> bool {
        self.wakeup.wait(timeout)
    }

    /// One loop turn, the same for every frontend: services take in what arrived, the
    /// controller reads the engine's events, a lost device is replaced by the internal clock,
    /// and the turn's notices go to the services (clock and state out) and to the caller.
    pub fn turn(&mut self) -> Vec<Notice> {
        self.turn_with(&mut [])
    }

    /// [`Session::turn`] with services the caller holds on to (a test's OSC server, whose
    /// counters it reads), polled and observed after the session's own.
    pub fn turn_with(&mut self, extra: &mut [&mut dyn Service]) -> Vec<Notice> {
        for s in self.services.iter_mut() {
            s.poll(&mut self.ctl);
        }
        for s in extra.iter_mut() {
            s.poll(&mut self.ctl);
        }
        self.ctl.poll();
        self.start_midi_for_notes();
        self.recover_audio();
        let notices: Vec<Notice> = self.ctl.drain_notices().collect();
        for s in self.services.iter_mut() {
            s.observe(&self.ctl, &notices);
        }
        for s in extra.iter_mut() {
            s.observe(&self.ctl, &notices);
        }
        notices
    }

    /// A song named a track's MIDI port and no MIDI runs yet: MIDI output starts (on the
    /// backend of `--midi-backend`), and the service opens the port on its first poll.
    fn start_midi_for_notes(&mut self) {
        if self.midi_later.is_none() || self.ctl.midi_ports().names().is_empty() {
            return;
        }
        let Some((args, feed)) = self.midi_later.take() else {
            return;
        };
        let ahead = feed.ahead;
        match MidiService::open(&args, false, Some(feed), ahead) {
            Ok(mut s) => {
                s.set_waker(self.waker.clone());
                s.poll(&mut self.ctl);
                self.services.push(Box::new(s));
            }
            Err(e) => self.ctl.notify(
                Level::Error,
                format!("{e} — MIDI is off: tracks' notes are not sent"),
            ),
        }
    }

    /// When the audio device went away, the same engine — song, position, voices ringing —
    /// goes on playing on the internal clock: no new engine, nothing replayed.
    fn recover_audio(&mut self) -> bool {
        use std::sync::atomic::Ordering;
        if !self.ctl.stats().device_lost.swap(false, Ordering::Relaxed) {
            return false;
        }
        let Some(old) = self.output.take() else {
            return false;
        };
        let (rate, buffer) = (old.sample_rate, old.buffer);
        let out = match old.into_runner() {
            Some(runner) => audio::open_internal(runner, buffer),
            None => {
                // The runner could not be had back (the stream's thread died with it): a new
                // engine gets the whole song.
                let engine = Engine::new(rate as f32, self.ctl.voices());
                let (runner, l) = link::link(engine, Some(self.ctl.recorder_mut().attach(rate)));
                self.ctl.relink(l);
                audio::open_internal(runner, buffer)
            }
        };
        self.ctl.set_backend(out.kind(), out.describe());
        self.output = Some(out);
        self.ctl.notify(
            Level::Warning,
            "the audio device went away — playing on the internal clock",
        );
        true
    }

    /// Stops recording and the sequencer; returns the last notices. The output closes when
    /// the session is dropped.
    pub fn shutdown(&mut self) -> Vec<Notice> {
        for e in self.ctl.finish_recordings() {
            self.ctl.notify(Level::Error, e.to_string());
        }
        let _ = self.ctl.apply(Command::Stop);
        self.ctl.flush_drafts();
        std::thread::sleep(Duration::from_millis(20));
        self.ctl.poll();
        // The Stop's note offs and all notes off leave before the MIDI ports close.
        for s in self.services.iter_mut() {
            s.finish();
        }
        if !self.ctl.settle_disk(SHUTDOWN_DISK_WAIT) {
            self.ctl.notify(
                Level::Error,
                format!(
                    "the disk did not finish within {} s: a save or draft may not be written",
                    SHUTDOWN_DISK_WAIT.as_secs()
                ),
            );
        }
        self.ctl.drain_notices().collect()
    }
}
