//! Colours and styles, in one place so the screen stays restrained and consistent.

use ratatui::style::{Color, Modifier, Style};

use crate::control::Level;

/// Plain text.
pub fn text() -> Style {
    Style::new().fg(Color::Gray)
}

/// Labels, units, ranges: quieter than values.
pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// Values and names that matter.
pub fn strong() -> Style {
    Style::new().fg(Color::White).add_modifier(Modifier::BOLD)
}

/// A panel border: brighter when the panel has the keyboard.
pub fn border(focused: bool) -> Style {
    if focused {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new().fg(Color::DarkGray)
    }
}

/// A panel title.
pub fn title(focused: bool) -> Style {
    if focused {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Gray)
    }
}

/// An accented step (`X`): the brightest thing in the grid.
pub fn accent() -> Style {
    Style::new()
        .fg(Color::LightYellow)
        .add_modifier(Modifier::BOLD)
}

/// A plain hit (`x`).
pub fn hit() -> Style {
    Style::new().fg(Color::Gray)
}

/// A rest (`.`).
pub fn rest() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// The step the sequencer is playing: a solid background that moves.
pub fn playhead(base: Style) -> Style {
    base.bg(Color::Blue).fg(Color::White)
}

/// The edit cursor where the keyboard is: inverted, unmistakable.
pub fn cursor() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::LightCyan)
        .add_modifier(Modifier::BOLD)
}

/// The edit cursor of a panel without the keyboard: underlined only.
pub fn cursor_unfocused(base: Style) -> Style {
    base.add_modifier(Modifier::UNDERLINED)
}

/// The selected row of a list without the keyboard.
pub fn selected() -> Style {
    Style::new().fg(Color::White).add_modifier(Modifier::BOLD)
}

/// Play state and REC.
pub fn playing() -> Style {
    Style::new()
        .fg(Color::LightGreen)
        .add_modifier(Modifier::BOLD)
}

/// Recording.
pub fn recording() -> Style {
    Style::new()
        .fg(Color::LightRed)
        .add_modifier(Modifier::BOLD)
}

/// Something waiting (a queued slot).
pub fn pending() -> Style {
    Style::new().fg(Color::LightMagenta)
}

/// Something a slot file changed on disk: magenta and underlined, so it reads apart from
/// the queued mark (light magenta) and the cursor.
pub fn changed(base: Style) -> Style {
    base.fg(Color::Magenta).add_modifier(Modifier::UNDERLINED)
}

/// Muted marks.
pub fn muted() -> Style {
    Style::new().fg(Color::Red)
}

/// Solo marks.
pub fn solo() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

/// A message of this level.
pub fn level(level: Level) -> Style {
    match level {
        Level::Info => Style::new().fg(Color::Gray),
        Level::Warning => Style::new().fg(Color::Yellow),
        Level::Error => Style::new()
            .fg(Color::LightRed)
            .add_modifier(Modifier::BOLD),
    }
}

/// Meter colour for a level in dB full scale.
pub fn meter(db: f32) -> Style {
    if db >= -1.0 {
        Style::new().fg(Color::LightRed)
    } else if db >= -9.0 {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new().fg(Color::Green)
    }
}
