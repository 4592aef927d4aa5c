//! The tracker screen: a ratatui view of the song a performer edits while it plays.
//!
//! Split the gitui way: [`UiState`] is plain data (focus, cursors, prompt, overlays), [`App`]
//! turns keys into actions and actions into [`Command`]s for the [`Controller`], and
//! [`draw()`] paints a frame from `&UiState` and `&Controller` without changing either.
//! [`run`] owns the terminal and the loop.

mod actions;
mod app;
mod draw;
mod grid;
mod meters;
mod overlay;
mod panels;
mod slots;
mod state;
mod theme;
mod transport;

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use crossterm::event::{self, Event, KeyEventKind};

use crate::app::{ENGINE_POLL, Session, SessionOptions};
use crate::control::{Command, ControlError, Controller, EngineStatus, Level, Notice, Waker};
use crate::keymap::Keymap;
use crate::store::{SlotNumber, StoreError};

pub use app::{App, format_age, grid_columns, range_text, selected_param, selected_voice};
pub use draw::{ScreenLayout, draw, draw_buffer, layout, shorten_middle};
pub use grid::StepView;
pub use meters::meter_fraction;
pub use overlay::help_scroll_range;
pub use panels::{decimals, format_value};
pub use state::{
    Clipboard, DiskChange, HIGHLIGHT_BARS, Hints, Message, Overlay, PANEL_MODULES, Panel, Prompt,
    PromptKind, Question, SlotRow, UiState,
};

/// Shortest time between two frames (60 fps).
const MIN_FRAME: Duration = Duration::from_millis(16);
/// Longest time between two frames while playing (30 fps), so the playhead moves smoothly.
const PLAYING_FRAME: Duration = Duration::from_millis(33);

/// Options of the tracker screen (`chronus` / `chronus play`).
#[derive(Debug, Args, Clone, Default)]
pub struct PlayArgs {
    /// Patterns folder (holds slots/, backups/).
    #[arg(long, global = true, default_value = "patterns")]
    pub patterns: PathBuf,
    /// Slot to load at start (1–128).
    #[arg(long, default_value = "1", allow_negative_numbers = true, value_parser = super::slot_arg)]
    pub slot: String,
    /// Start with an empty, stopped song (every voice at its default) in the first slot with
    /// no file, instead of loading --slot: a clean start, as the Music Chronus engine had.
    #[arg(long, conflicts_with = "slot")]
    pub empty: bool,
    /// Key bindings file (default: ./keymap.toml when present).
    #[arg(long)]
    pub keymap: Option<PathBuf>,
    /// Audio device options.
    #[command(flatten)]
    pub audio: crate::app::AudioArgs,
    /// OSC options.
    #[command(flatten)]
    pub osc: crate::sources::osc::OscArgs,
    /// Ableton Link options.
    #[command(flatten)]
    pub link: crate::control::LinkArgs,
    /// MIDI options.
    #[command(flatten)]
    pub midi: crate::sources::midi::MidiArgs,
}

/// Restores the terminal when dropped: on a normal exit and when an error unwinds `run`.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Leaves raw mode and the alternate screen and shows the cursor again (drawing hides it).
fn restore_terminal() {
    let _ = crossterm::execute!(io::stdout(), crossterm::cursor::Show);
    ratatui::restore();
}

/// Takes over the terminal; a panic from here on restores it before the message is printed.
fn take_terminal() -> anyhow::Result<ratatui::DefaultTerminal> {
    let terminal = ratatui::try_init().context("cannot take over the terminal")?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    Ok(terminal)
}

/// Loads the start slot; a missing file is not an error (the performer starts a new song).
fn load_start_slot(ctl: &mut Controller, app: &mut App, slot: SlotNumber) {
    match ctl.apply(Command::LoadSlot {
        slot,
        immediate: true,
    }) {
        Ok(msg) => {
            if let Some(msg) = msg {
                app.ui.say(Level::Info, msg);
            }
        }
        Err(ControlError::Store(e @ StoreError::Missing { .. })) => {
            ctl.start_new_song(slot);
            app.ui
                .say(Level::Info, format!("{e} — starting a new song"));
        }
        Err(e) => {
            ctl.start_new_song(slot);
            app.ui.say(
                Level::Error,
                format!("slot {slot} did not load: {e} — starting a new song"),
            );
        }
    }
}

/// `--empty`: the controller's empty song (nothing loaded, voices at their defaults, stopped)
/// becomes a new song in the first slot with neither a file nor a draft, as `N` picks, so a
/// save has somewhere to go; returns that slot.
fn start_empty(ctl: &mut Controller, app: &mut App) -> Option<SlotNumber> {
    let free = (1..=crate::store::SLOT_COUNT)
        .filter_map(|n| SlotNumber::new(n).ok())
        .find(|&n| !ctl.has_file(n) && !ctl.has_draft(n));
    match free {
        Some(n) => {
            ctl.start_new_song(n);
            app.ui
                .say(Level::Info, format!("empty song in slot {n} (--empty)"));
        }
        None => app.ui.say(
            Level::Warning,
            "empty song (--empty); every slot has a file or a draft: save with S to choose one",
        ),
    }
    free
}

/// What the input thread hands the loop.
enum Input {
    Key(crossterm::event::KeyEvent),
    Resize,
    Failed(String),
}

/// Reads the terminal on a thread of its own, so a key wakes the loop at once.
fn spawn_input(tx: mpsc::Sender<Input>, waker: Waker) {
    let spawned = std::thread::Builder::new()
        .name("chronus-keys".into())
        .spawn(move || {
            loop {
                let input = match event::read() {
                    Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => Input::Key(k),
                    Ok(Event::Resize(..)) => Input::Resize,
                    Ok(_) => continue,
                    Err(e) => Input::Failed(e.to_string()),
                };
                let failed = matches!(input, Input::Failed(_));
                if tx.send(input).is_err() || failed {
                    waker.wake();
                    return;
                }
                waker.wake();
            }
        });
    if let Err(e) = spawned {
        let _ =
            std::io::stderr().write_all(format!("chronus: no keyboard thread: {e}\n").as_bytes());
    }
}

/// Starts the session (audio first, before the alternate screen, so whatever the sound
/// system prints stays outside the tracker), loads the start slot and gathers the start-up
/// messages so none is lost.
fn start(args: &PlayArgs) -> anyhow::Result<(Session, App)> {
    let slot = SlotNumber::parse(&args.slot).map_err(|e| anyhow::anyhow!("--slot: {e}"))?;
    let opts = SessionOptions {
        audio: args.audio.clone(),
        osc: (!args.osc.no_osc).then(|| args.osc.clone()),
        watch: true,
    };
    let cleaned = crate::store::Store::new(&args.patterns).remove_stale_temp_files();
    let follow_midi = args.osc.clock == crate::sources::osc::ClockMode::Midi;
    // The MIDI map lives beside the keymap file: --keymap's folder, else the working one.
    let mut midi = args.midi.clone();
    if midi.midi_map.is_none()
        && let Some(dir) = args.keymap.as_deref().and_then(|k| k.parent())
    {
        midi.midi_map = Some(dir.join(crate::sources::midi::map::MAP_FILE));
    }
    let mut session = Session::start_with_midi(&args.patterns, &opts, Some((&midi, follow_midi)));
    let (keymap, keymap_error) = Keymap::load(args.keymap.as_deref());
    let restored = keymap.restored().to_vec();
    let mut app = App::new(keymap);
    for (level, text) in session.take_startup_messages() {
        app.ui.say(level, text);
    }
    if cleaned > 0 {
        app.ui
            .say(Level::Info, crate::frontend::headless::left_behind(cleaned));
    }
    // After the session's notes, so news about the song (drafts restored) is what shows.
    if args.empty {
        let at = start_empty(session.ctl_mut(), &mut app);
        app.ui.slot_cursor = at.map_or(slot.get(), |s| s.get());
    } else {
        load_start_slot(session.ctl_mut(), &mut app, slot);
        app.ui.slot_cursor = slot.get();
    }
    // Link joins with the start slot's tempo.
    session
        .ctl_mut()
        .set_link_start_stop(args.link.link_start_stop);
    if args.link.link
        && let Err(e) = session.apply(crate::control::Command::Link(Some(true)))
    {
        app.ui.say(Level::Error, format!("--link: {e}"));
    }
    if let Some(e) = keymap_error {
        // The error says which file, line and rule, and that the defaults are used.
        app.ui.say(Level::Error, e.to_string());
    }
    for note in restored {
        app.ui.say(Level::Warning, note);
    }
    let early: Vec<Notice> = session.ctl_mut().drain_notices().collect();
    app.on_notices(session.ctl(), &early);
    // The message line shows the most severe message not yet seen, so the start-up's errors
    // (a corrupt start slot, a broken keymap) stay in front of the notices that follow; the
    // line used to be put back to the message shown before the notices, which could cover a
    // newer error with an older warning.
    app.ui.show_unseen();
    app.refresh_slots(session.ctl());
    Ok((session, app))
}

/// When frames are drawn: on change at most at 60 fps, for the moving playhead and meters
/// at most at 30 fps.
struct Frames {
    needs_draw: bool,
    last_draw: Option<Instant>,
    shown: Shown,
}

impl Frames {
    /// Draws when a frame is due; returns how long the loop may sleep.
    fn draw(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        app: &mut App,
        ctl: &Controller,
        now: Instant,
    ) -> anyhow::Result<Duration> {
        // The engine's meters and position move on their own; redraw for them at most at the
        // playing frame rate, and only when they changed.
        let since = self.last_draw.map(|t| now.saturating_duration_since(t));
        let current = Shown::of(ctl.status());
        if current != self.shown && since.is_none_or(|d| d >= PLAYING_FRAME) {
            self.needs_draw = true;
        }
        if self.needs_draw && since.is_none_or(|d| d >= MIN_FRAME) {
            if let Ok(size) = terminal.size() {
                app.ui.screen = (size.width, size.height);
            }
            terminal
                .draw(|f| draw(f, &app.ui, ctl))
                .context("drawing the screen")?;
            self.needs_draw = false;
            self.last_draw = Some(now);
            self.shown = current;
        }
        Ok(if self.needs_draw {
            // A frame is due once the frame interval has passed.
            since.map_or(Duration::ZERO, |d| MIN_FRAME.saturating_sub(d))
        } else {
            PLAYING_FRAME
        })
    }
}

/// Raised by Ctrl-C sent as a signal, SIGTERM and SIGHUP (a closed terminal): the loop ends
/// as after `q`, the terminal restored and drafts flushed. (In raw mode the Ctrl-C key is a
/// key, not a signal.) Only one handler per process; a second set is harmless.
fn stop_on_signals(waker: Waker) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let raised = stop.clone();
    let _ = ctrlc::set_handler(move || {
        raised.store(true, Ordering::Relaxed);
        waker.wake();
    });
    stop
}

/// Runs the tracker until the performer quits: starts the session (audio, controller, OSC,
/// watcher), loads the start slot, takes the terminal, and turns the one loop, woken by keys,
/// OSC datagrams and file events. However the loop ends (quit, a signal, an error), edits
/// go to drafts/ and the terminal is restored.
pub fn run(args: &PlayArgs) -> anyhow::Result<()> {
    let (mut session, mut app) = start(args)?;
    let stop = stop_on_signals(session.waker());
    let mut terminal = take_terminal()?;
    let guard = TerminalGuard;
    let (tx, rx) = mpsc::channel();
    spawn_input(tx, session.waker());
    let looped = turn_until_quit(&mut session, &mut app, &mut terminal, &rx, &stop);
    session.ctl_mut().flush_drafts();
    drop(guard);
    for n in session.shutdown() {
        // What went wrong while quitting (a save that could not be made) is said on the
        // terminal the screen gave back.
        let failed = matches!(
            n,
            Notice::Message(Level::Error, _)
                | Notice::SaveFailed { .. }
                | Notice::SaveRefused { .. }
        );
        if failed && let Some(text) = session.ctl().describe(&n) {
            eprintln!("chronus: {text}");
        }
    }
    looped
}

/// The tracker's loop: keys, file changes and the session's turn, drawn as frames fall due,
/// until the performer quits or `stop` is raised.
fn turn_until_quit(
    session: &mut Session,
    app: &mut App,
    terminal: &mut ratatui::DefaultTerminal,
    keys: &mpsc::Receiver<Input>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut frames = Frames {
        needs_draw: true,
        last_draw: None,
        shown: Shown::of(session.ctl().status()),
    };
    while !app.ui.quit && !stop.load(Ordering::Relaxed) {
        while let Ok(input) = keys.try_recv() {
            match input {
                Input::Key(k) => app.handle_key(session.ctl_mut(), k),
                Input::Resize => {}
                Input::Failed(e) => anyhow::bail!("reading the keyboard: {e}"),
            }
            frames.needs_draw = true;
        }
        let notices = session.turn();
        if !notices.is_empty() {
            app.on_notices(session.ctl(), &notices);
            frames.needs_draw = true;
        }
        let now = Instant::now();
        frames.needs_draw |= app.tick(session.ctl_mut(), now);
        if app.ui.quit || stop.load(Ordering::Relaxed) {
            break;
        }
        let wait = frames.draw(terminal, app, session.ctl(), now)?;
        session.wait(wait.min(ENGINE_POLL));
    }
    Ok(())
}

/// The parts of the engine status the screen shows, to tell whether a redraw is due.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    running: bool,
    global_step: u64,
    bar: u64,
    playing: Option<crate::store::SlotNumber>,
    queued: Option<(crate::store::SlotNumber, u64)>,
    levels: Vec<u8>,
    spectrum: Vec<u8>,
    load: (u32, u32),
    xruns: u64,
    muted: bool,
}

impl Shown {
    fn of(st: &EngineStatus) -> Shown {
        // Quantised like the bars draw them, so invisible changes do not cost a frame.
        let q = |v: f32| (meter_fraction(v) * 64.0) as u8;
        Shown {
            running: st.running,
            global_step: st.global_step,
            bar: st.bar,
            playing: st.playing_slot,
            queued: st.queued,
            levels: st.levels.iter().chain(&st.master).map(|&v| q(v)).collect(),
            spectrum: st
                .spectrum
                .iter()
                .map(|&v| (v.clamp(0.0, 1.0) * 64.0) as u8)
                .collect(),
            load: ((st.load_mean * 10.0) as u32, (st.load_max * 10.0) as u32),
            xruns: st.xruns,
            muted: st.muted,
        }
    }
}
