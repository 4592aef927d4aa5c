//! Turning key presses into actions, one press at a time, with chords (`g g`).

use super::action::Action;
use super::key::{Key, KeyCode};
use super::{Keymap, Mode};

/// What a key press did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dispatch {
    /// A rule matched: perform this action.
    Action(Action),
    /// The key started or continued a chord; wait for the next key.
    Pending,
    /// No rule binds the key (in a prompt, a printable key is text to insert).
    Unbound,
    /// Esc abandoned a pending chord.
    Cancelled,
}

/// The outcome of looking a key sequence up in one mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Lookup {
    /// The first rule that fits binds exactly this sequence.
    Exact(Action),
    /// The first rule that fits binds a longer chord starting with this sequence.
    Prefix,
    /// Nothing fits.
    None,
}

/// Feeds key presses through a [`Keymap`], remembering a half-typed chord per mode.
///
/// The caller passes key presses only (crossterm `KeyEventKind::Press`), converted with
/// [`Key::from_event`], together with the mode the screen is in.
#[derive(Debug, Clone)]
pub struct KeyDispatcher {
    keymap: Keymap,
    pending: Vec<Key>,
    pending_mode: Mode,
}

impl KeyDispatcher {
    /// A dispatcher over these bindings, with no chord pending.
    pub fn new(keymap: Keymap) -> KeyDispatcher {
        KeyDispatcher {
            keymap,
            pending: Vec::new(),
            pending_mode: Mode::Grid,
        }
    }

    /// The bindings in use.
    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    /// Replaces the bindings (after the keymap file changed) and drops any pending chord.
    pub fn set_keymap(&mut self, keymap: Keymap) {
        self.keymap = keymap;
        self.pending.clear();
    }

    /// The keys of the chord typed so far (empty when none), for the status line.
    pub fn pending(&self) -> &[Key] {
        &self.pending
    }

    /// Forgets a half-typed chord.
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// Handles one key press in `mode`.
    ///
    /// A chord belongs to the mode it started in: switching modes drops it. Esc drops a
    /// pending chord. A key that continues no chord drops the chord and counts on its own, so
    /// a stray prefix never swallows the next real command.
    pub fn feed(&mut self, mode: Mode, key: Key) -> Dispatch {
        if self.pending_mode != mode {
            self.pending.clear();
        }
        if !self.pending.is_empty() {
            if key.code == KeyCode::Esc {
                self.pending.clear();
                return Dispatch::Cancelled;
            }
            self.pending.push(key);
            match self.keymap.lookup(mode, &self.pending) {
                Lookup::Exact(action) => {
                    self.pending.clear();
                    return Dispatch::Action(action);
                }
                Lookup::Prefix => return Dispatch::Pending,
                Lookup::None => self.pending.clear(),
            }
        }
        match self.keymap.lookup(mode, std::slice::from_ref(&key)) {
            Lookup::Exact(action) => Dispatch::Action(action),
            Lookup::Prefix => {
                self.pending.push(key);
                self.pending_mode = mode;
                Dispatch::Pending
            }
            Lookup::None => Dispatch::Unbound,
        }
    }
}
