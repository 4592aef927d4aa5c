//! The tracker screen: a ratatui view of the song a performer edits while it plays.
//!
//! Split the gitui way: [`UiState`] is plain data (focus, cursors, prompt, overlays), [`App`]
//! turns keys into actions and actions into [`Command`]s for the [`Controller`], and
//! [`draw()`] paints a frame from `&UiState` and `&Controller` without changing either.
//! [`run`] owns the terminal and the loop.

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

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event, KeyEventKind};

use crate::audio::{self, Recorder};
use crate::cli::PlayArgs;
use crate::control::{Command, ControlError, Controller, EngineStatus, Level, Notice, Service};
use crate::engine::Engine;
use crate::keymap::Keymap;
use crate::store::{SlotNumber, Store, StoreError};
use crate::watch::SlotWatcher;

pub use app::{App, format_age, grid_columns, range_text, selected_param, selected_voice};
pub use draw::{ScreenLayout, draw, draw_buffer, layout};
pub use grid::StepView;
pub use meters::meter_fraction;
pub use panels::{choice_name, decimals, format_value};
pub use state::{
    Clipboard, DiskChange, HIGHLIGHT_BARS, Hints, Message, Overlay, PANEL_MODULES, Panel, Prompt,
    PromptKind, Question, SlotRow, UiState,
};

/// How long one loop turn waits for a key.
const TICK: Duration = Duration::from_millis(16);
/// Shortest time between two frames (60 fps).
const MIN_FRAME: Duration = Duration::from_millis(16);
/// Longest time between two frames while playing (30 fps), so the playhead moves smoothly.
const PLAYING_FRAME: Duration = Duration::from_millis(33);

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

/// Runs the tracker until the performer quits: opens audio, loads the start slot, takes the
/// terminal, and polls keys, engine events and `services` in one loop.
pub fn run(args: &PlayArgs, mut services: Vec<Box<dyn Service>>) -> anyhow::Result<()> {
    let slot = SlotNumber::parse(&args.slot).map_err(|e| anyhow::anyhow!("--slot: {e}"))?;
    let voices = args.audio.voices as usize;
    // Audio first, before the alternate screen, so whatever the sound system prints stays
    // outside the tracker.
    let mut recorder = Recorder::new();
    let (mut output, link, note) = audio::open(
        &args.audio,
        |rate| Engine::new(rate as f32, voices),
        &mut recorder,
    );
    let mut ctl = Controller::new(Store::new(&args.patterns), voices, link, recorder);
    ctl.set_backend(&output);

    let (keymap, keymap_error) = Keymap::load(args.keymap.as_deref());
    let mut app = App::new(keymap);
    load_start_slot(&mut ctl, &mut app, slot);
    app.ui.slot_cursor = slot.get();
    // Hot reload: held by the app (not boxed with the other services) so the screen can show
    // what changed; a watcher that cannot start leaves everything else working.
    match SlotWatcher::new(&args.patterns) {
        Ok(w) => app.set_watcher(w),
        Err(e) => app.ui.say(
            Level::Warning,
            format!("{e} — files edited outside Chronus will not reload"),
        ),
    }
    if let Some(note) = note {
        app.ui.say(Level::Warning, note);
    }
    if let Some(e) = keymap_error {
        // The error says which file, line and rule, and that the defaults are used.
        app.ui.say(Level::Error, e.to_string());
    }
    let early: Vec<Notice> = ctl.drain_notices().collect();
    // Keep the most important start-up message: notices first, then ours again on top.
    let start_message = app.ui.message.clone();
    app.on_notices(&ctl, &early);
    if start_message
        .as_ref()
        .is_some_and(|m| m.level != Level::Info)
    {
        app.ui.message = start_message;
    }
    app.refresh_slots(&ctl);

    let mut terminal = take_terminal()?;
    let guard = TerminalGuard;

    let mut needs_draw = true;
    let mut last_draw: Option<Instant> = None;
    let mut shown = Shown::of(ctl.status());
    loop {
        // Keys: wait up to one tick for the first, then take whatever else is queued.
        if event::poll(TICK).context("reading the keyboard")? {
            loop {
                match event::read().context("reading the keyboard")? {
                    Event::Key(k) if k.kind == KeyEventKind::Press => {
                        app.handle_key(&mut ctl, k);
                        needs_draw = true;
                    }
                    Event::Resize(..) => needs_draw = true,
                    _ => {}
                }
                if !event::poll(Duration::ZERO).context("reading the keyboard")? {
                    break;
                }
            }
        }

        ctl.poll();
        for svc in services.iter_mut() {
            if svc.poll(&mut ctl) {
                needs_draw = true;
            }
        }
        if app.poll_watcher(&mut ctl) {
            needs_draw = true;
        }
        if ctl.stats().device_lost.swap(false, Ordering::Relaxed) {
            let (out, link) = audio::open_internal(
                Engine::new(output.sample_rate as f32, ctl.voices()),
                output.buffer,
                ctl.recorder_mut(),
            );
            output = out;
            ctl.relink(link);
            ctl.set_backend(&output);
            app.ui.say(
                Level::Warning,
                "the audio device went away — playing on the internal clock",
            );
            needs_draw = true;
        }
        let notices: Vec<Notice> = ctl.drain_notices().collect();
        for svc in services.iter_mut() {
            svc.observe(&ctl, &notices);
        }
        if !notices.is_empty() {
            app.on_notices(&ctl, &notices);
            needs_draw = true;
        }
        let now = Instant::now();
        if app.tick(&ctl, now) {
            needs_draw = true;
        }
        if app.ui.quit {
            break;
        }

        // The engine's meters and position move on their own; redraw for them at most at the
        // playing frame rate, and only when they changed.
        let since = last_draw.map(|t| now.saturating_duration_since(t));
        let current = Shown::of(ctl.status());
        if current != shown && since.is_none_or(|d| d >= PLAYING_FRAME) {
            needs_draw = true;
        }
        if needs_draw && since.is_none_or(|d| d >= MIN_FRAME) {
            terminal
                .draw(|f| draw(f, &app.ui, &ctl))
                .context("drawing the screen")?;
            needs_draw = false;
            last_draw = Some(now);
            shown = current;
        }
    }

    drop(guard);
    if ctl.recording().is_some()
        && let Err(e) = ctl.apply(Command::RecordStop)
    {
        eprintln!("chronus: {e}");
    }
    let _ = ctl.apply(Command::Stop);
    drop(output);
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
