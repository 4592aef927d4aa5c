//! The whole screen: layout, then each component draws its area from `&UiState` and
//! `&Controller`. Nothing here changes state, does I/O or waits for the audio thread.

use crate::model::text::escape_keep_lines;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::border;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Widget, Wrap};

use crate::control::{Controller, Level};

use super::state::{Panel, UiState};
use super::{grid, meters, overlay, panels, slots, theme, transport};

/// The song the grid and panels show: the queued slot's while previewing it, else the edited
/// one (a prepared slot's, or what plays).
pub fn shown_song<'a>(ui: &UiState, ctl: &'a Controller) -> &'a crate::model::Slot {
    match ctl.queued() {
        Some(q) if ui.preview => q.song,
        _ => ctl.edited(),
    }
}

/// The tempo the shown song plays at: an outside clock's (a followed leader, Link) while one
/// sets the tempo, else the song's own. A synced delay time shown follows it, as the engine's.
pub fn shown_bpm(ui: &UiState, ctl: &Controller) -> f64 {
    let playing = ctl.status().playing_bpm;
    if playing != ctl.song().sequencer.bpm {
        playing
    } else {
        shown_song(ui, ctl).sequencer.bpm
    }
}

/// Width from which the slot browser gets its own column beside the grid.
const WIDE: u16 = 110;
/// Body height from which the grid keeps room for 8 tracks.
const TALL: u16 = 36;
/// Height of the parameter panel row when the module overview is shown under it.
const PANELS_H: u16 = 15;
/// Height the module overview needs (the longest module, a header, borders).
const MODULES_H: u16 = 11;

/// Where each component goes on a screen of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenLayout {
    /// Transport bar (1 or 2 rows).
    pub transport: Rect,
    /// Pattern grid.
    pub grid: Rect,
    /// Parameter panel.
    pub params: Rect,
    /// Selected track's fields.
    pub track: Rect,
    /// Level meters and spectrum (empty when the slot browser takes their place).
    pub meters: Rect,
    /// Slot browser (empty when there is no room and it does not have the keyboard).
    pub slots: Rect,
    /// Overview of every effect module (only on tall screens).
    pub modules: Rect,
    /// Message line.
    pub message: Rect,
}

/// Splits the screen. Pure, so key handling and tests can reason about what is visible.
pub fn layout(area: Rect, ui: &UiState, ctl: &Controller) -> ScreenLayout {
    let transport_rows = transport::rows(area.width, ui, ctl).min(area.height);
    let transport = Rect {
        height: transport_rows,
        ..area
    };
    let message_rows = message_rows(ui, area.width);
    let message = Rect {
        y: area.bottom().saturating_sub(message_rows),
        height: area.height.saturating_sub(transport_rows).min(message_rows),
        ..area
    };
    let body = Rect {
        y: transport.bottom(),
        height: area.height.saturating_sub(transport_rows + message.height),
        ..area
    };
    let wide = area.width >= WIDE;
    let (left, slots_column) = if wide {
        let sw = (area.width * 3 / 10).clamp(30, 44);
        split_h(body, body.width - sw)
    } else {
        (body, Rect::default())
    };

    let tall = left.height >= TALL;
    let min_rows = if tall { 8 } else { 4 };
    let tracks = shown_song(ui, ctl).sequencer.tracks.len().max(min_rows) as u16;
    let min_bottom = 9u16;
    let grid_h = (tracks + 3)
        .min(left.height.saturating_sub(min_bottom))
        .max(5.min(left.height));
    // A wrapped message steals rows from the body; rather than let the module overview blink
    // out, give it the grid's empty padding rows (a short song doesn't need them).
    let used_rows = shown_song(ui, ctl).sequencer.tracks.len() as u16 + 3;
    let wanted = PANELS_H + MODULES_H;
    let bottom_h = left.height.saturating_sub(grid_h);
    let grid_h = if bottom_h < wanted && grid_h.saturating_sub(wanted - bottom_h) >= used_rows {
        grid_h - (wanted - bottom_h)
    } else {
        grid_h
    };
    let (grid, bottom) = split_v(left, grid_h);
    // Room to spare below the panels: an overview of every effect module.
    let (bottom, modules) = if bottom.height >= PANELS_H + MODULES_H {
        split_v(bottom, PANELS_H)
    } else {
        (bottom, Rect::default())
    };

    let w = bottom.width;
    let params_w = (w * 44 / 100).clamp(36.min(w), 46);
    let track_w = (w * 28 / 100).clamp(24.min(w - params_w), 30);
    let (params, rest) = split_h(bottom, params_w);
    let (track, meters_area) = split_h(rest, track_w.min(rest.width));

    let (track, meters, slots) = if wide {
        (track, meters_area, slots_column)
    } else if ui.focus == Panel::Slots {
        // No room for a column of its own: while it has the keyboard, the slot browser takes
        // the place of the track fields and the meters.
        (Rect::default(), Rect::default(), rest)
    } else {
        (track, meters_area, Rect::default())
    };
    ScreenLayout {
        transport,
        grid,
        params,
        track,
        meters,
        slots,
        modules,
        message,
    }
}

pub(super) fn split_h(r: Rect, left: u16) -> (Rect, Rect) {
    let left = left.min(r.width);
    (
        Rect { width: left, ..r },
        Rect {
            x: r.x + left,
            width: r.width - left,
            ..r
        },
    )
}

pub(super) fn split_v(r: Rect, top: u16) -> (Rect, Rect) {
    let top = top.min(r.height);
    (
        Rect { height: top, ..r },
        Rect {
            y: r.y + top,
            height: r.height - top,
            ..r
        },
    )
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, ui: &UiState, ctl: &Controller) {
    let area = frame.area();
    draw_buffer(area, frame.buffer_mut(), ui, ctl);
}

/// Draws the whole screen into a buffer (what [`draw`] does, without a terminal).
pub fn draw_buffer(area: Rect, buf: &mut Buffer, ui: &UiState, ctl: &Controller) {
    let l = layout(area, ui, ctl);
    transport::draw(l.transport, buf, ui, ctl);
    grid::draw(l.grid, buf, ui, ctl);
    panels::draw_params(l.params, buf, ui, ctl);
    panels::draw_track(l.track, buf, ui, ctl);
    meters::draw(l.meters, buf, ctl);
    slots::draw(l.slots, buf, ui, ctl);
    panels::draw_modules(l.modules, buf, ui, ctl);
    draw_message(l.message, buf, ui);
    if let Some(o) = &ui.overlay {
        overlay::draw_overlay(area, buf, ui, o);
    }
    if let Some(p) = &ui.prompt {
        overlay::draw_prompt(area, buf, ui, p);
    }
}

/// A panel frame with a title; returns the inner area.
pub fn panel(area: Rect, buf: &mut Buffer, title: Line<'_>, focused: bool) -> Rect {
    panel_with(area, buf, title, None, focused)
}

/// A panel frame with a title on the left and another on the right; returns the inner area.
pub fn panel_with(
    area: Rect,
    buf: &mut Buffer,
    title: Line<'_>,
    right_title: Option<Line<'_>>,
    focused: bool,
) -> Rect {
    if area.width < 3 || area.height < 2 {
        return Rect::default();
    }
    let mut block = Block::bordered()
        .border_set(border::ROUNDED)
        .border_style(theme::border(focused))
        .title(title.style(theme::title(focused)));
    if let Some(r) = right_title {
        block = block.title_top(r.style(theme::dim()).right_aligned());
    }
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

/// Writes `text` at (x, y), at most up to `right` (exclusive); returns the column after it.
/// Only the hand-painted grid uses this; ratatui measures by display width, so a wide
/// character that would cross `right` is left out rather than split.
pub fn put(buf: &mut Buffer, x: u16, y: u16, right: u16, text: &str, style: Style) -> u16 {
    if x >= right {
        return x;
    }
    let (end, _) = buf.set_stringn(x, y, text, (right - x) as usize, style);
    end
}

/// The hint at the right of the message line: a half-typed chord and the help key.
fn hint_text(ui: &UiState) -> String {
    let mut hint = String::new();
    if !ui.chord.is_empty() {
        hint.push_str(&ui.chord);
        hint.push_str("… ");
    }
    hint.push_str(&format!("{} help ", ui.hints.help));
    hint
}

/// Most rows a warning or an error may take, so a long one (a keymap file's mistake) can be
/// read whole.
const MESSAGE_ROWS: u16 = 3;

/// The message's mark and the paragraph its text is drawn with: warnings and errors wrap,
/// an info stays on one row.
fn message_widgets(ui: &UiState) -> Option<(Line<'_>, Paragraph<'_>)> {
    let m = ui.message.as_ref()?;
    let style = theme::level(m.level);
    let mark = match m.level {
        Level::Info => " ",
        Level::Warning => " ! ",
        Level::Error => " ✗ ",
    };
    let text = Paragraph::new(escape_keep_lines(&m.text)).style(style);
    let text = match m.level {
        Level::Info => text,
        _ => text.wrap(Wrap { trim: true }),
    };
    Some((Line::styled(mark, style), text))
}

/// Rows the message line takes at this width: as many as its wrapped text needs, at most
/// [`MESSAGE_ROWS`].
fn message_rows(ui: &UiState, width: u16) -> u16 {
    let Some((mark, text)) = message_widgets(ui) else {
        return 1;
    };
    let hint_w = Line::raw(hint_text(ui)).width() as u16;
    let room = width
        .saturating_sub(hint_w + 1 + mark.width() as u16)
        .max(10);
    (text.line_count(room) as u16).clamp(1, MESSAGE_ROWS)
}

fn draw_message(area: Rect, buf: &mut Buffer, ui: &UiState) {
    if area.height == 0 {
        return;
    }
    let hint = Line::styled(hint_text(ui), theme::dim());
    let hint_w = hint.width() as u16;
    let (text_area, _) = split_h(area, area.width.saturating_sub(hint_w + 1));
    match message_widgets(ui) {
        Some((mark, text)) => {
            let (mark_area, text_area) = split_h(text_area, mark.width() as u16);
            mark.render(mark_area, buf);
            text.render(text_area, buf);
        }
        None => {
            Line::styled(format!(" {} play/stop", ui.hints.play), theme::dim())
                .render(text_area, buf);
        }
    }
    if hint_w < area.width {
        // Only the hint's own cells: a styled line paints its style over all of its area,
        // which would grey out a wrapped message's last row.
        let last = Rect {
            x: area.right() - hint_w,
            y: area.bottom() - 1,
            width: hint_w,
            height: 1,
        };
        hint.render(last, buf);
    }
}

/// `text` in at most `max` columns: whole when it fits, else its start and its end around an
/// ellipsis, the end given the larger share, so names that differ only at the end ("Anthem
/// Breakbeat 174" and "Anthem Breakbeat 174 – fill") still look different.
pub fn shorten_middle(text: &str, max: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let w = |c: char| c.width().unwrap_or(0);
    let total: usize = text.chars().map(w).sum();
    if total <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let room = max - 1;
    let (head_room, tail_room) = (room * 2 / 5, room - room * 2 / 5);
    let mut head = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + w(c) > head_room {
            break;
        }
        used += w(c);
        head.push(c);
    }
    let mut tail: Vec<char> = Vec::new();
    let mut used = 0;
    for c in text.chars().rev() {
        if used + w(c) > tail_room {
            break;
        }
        used += w(c);
        tail.push(c);
    }
    let tail: String = tail.into_iter().rev().collect();
    format!("{}…{}", head.trim_end(), tail.trim_start())
}
