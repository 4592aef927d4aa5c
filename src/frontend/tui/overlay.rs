//! Windows over the screen: the key help, yes/no questions and text prompts.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Widget};

use crate::keymap::HelpSection;

use super::draw::{panel, put};
use super::state::{Overlay, Prompt, Question, UiState};
use super::theme;

/// A `w`×`h` rectangle centred in `area` (shrunk to fit).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// One line of the help text.
enum HelpLine<'a> {
    Title(&'a str),
    Row(&'a str, &'a str),
    Blank,
}

fn help_lines(sections: &[HelpSection]) -> Vec<HelpLine<'_>> {
    let mut out = Vec::new();
    for s in sections.iter().filter(|s| !s.rows.is_empty()) {
        if !out.is_empty() {
            out.push(HelpLine::Blank);
        }
        out.push(HelpLine::Title(s.title));
        for r in &s.rows {
            out.push(HelpLine::Row(&r.keys, &r.desc));
        }
    }
    out
}

/// Lines in the help text (the scroll limit).
pub fn help_line_count(sections: &[HelpSection]) -> usize {
    help_lines(sections).len()
}

/// Draws an overlay.
pub fn draw_overlay(area: Rect, buf: &mut Buffer, ui: &UiState, overlay: &Overlay) {
    match overlay {
        Overlay::Help { scroll } => draw_help(area, buf, ui, *scroll),
        Overlay::Confirm { question, text } => draw_confirm(area, buf, ui, question, text),
        Overlay::Messages { scroll } => draw_messages(area, buf, ui, *scroll),
    }
}

/// The message log, newest first.
fn draw_messages(area: Rect, buf: &mut Buffer, ui: &UiState, scroll: usize) {
    let w = area.width.saturating_sub(4).max(20);
    let h = area.height.saturating_sub(2).max(5);
    let r = centered(area, w, h);
    Clear.render(r, buf);
    let title = Line::from(format!(
        " Messages ({}) — Esc closes, ↑↓ PgUp PgDn scroll ",
        ui.log.len()
    ));
    let inner = panel(r, buf, title, true);
    if inner.height == 0 {
        return;
    }
    if ui.log.is_empty() {
        put(
            buf,
            inner.x + 1,
            inner.y,
            inner.right(),
            "no messages yet",
            theme::dim(),
        );
        return;
    }
    let scroll = scroll.min(ui.log.len().saturating_sub(1));
    for (row, e) in ui
        .log
        .iter()
        .rev()
        .skip(scroll)
        .take(inner.height as usize)
        .enumerate()
    {
        let mark = match e.level {
            crate::control::Level::Info => "  ",
            crate::control::Level::Warning => "! ",
            crate::control::Level::Error => "✗ ",
        };
        let y = inner.y + row as u16;
        let x = put(
            buf,
            inner.x + 1,
            y,
            inner.right(),
            mark,
            theme::level(e.level),
        );
        put(buf, x, y, inner.right(), &e.text, theme::level(e.level));
    }
}

fn draw_help(area: Rect, buf: &mut Buffer, ui: &UiState, scroll: usize) {
    let w = area.width.saturating_sub(4).max(20);
    let h = area.height.saturating_sub(2).max(5);
    let r = centered(area, w, h);
    Clear.render(r, buf);
    let title = Line::from(format!(
        " Keys — {} closes, ↑↓ PgUp PgDn scroll ",
        ui.hints.help
    ));
    let inner = panel(r, buf, title, true);
    if inner.height == 0 {
        return;
    }
    let lines = help_lines(&ui.help);
    let scroll = scroll.min(lines.len().saturating_sub(1));
    let columns: u16 = if inner.width >= 100 { 2 } else { 1 };
    let col_w = inner.width / columns;
    let rows = inner.height as usize;
    // Wide enough for nearly every binding; the rare longer one pushes its description right.
    let key_w = 12u16.min(col_w / 3);
    let mut it = lines.iter().skip(scroll);
    for c in 0..columns {
        let x0 = inner.x + c * col_w + 1;
        let right = (inner.x + (c + 1) * col_w).min(inner.right());
        for row in 0..rows {
            let Some(line) = it.next() else {
                return;
            };
            let y = inner.y + row as u16;
            match line {
                HelpLine::Title(t) => {
                    put(buf, x0, y, right, t, theme::title(true));
                }
                HelpLine::Row(keys, desc) => {
                    let end = put(buf, x0 + 1, y, right, keys, theme::strong());
                    let dx = (x0 + 2 + key_w).max(end + 1);
                    put(buf, dx, y, right, desc, theme::text());
                }
                HelpLine::Blank => {}
            }
        }
    }
}

/// Widest a question window grows before its text wraps.
const CONFIRM_MAX_W: u16 = 72;

fn draw_confirm(area: Rect, buf: &mut Buffer, ui: &UiState, question: &Question, text: &str) {
    let max_w = area.width.saturating_sub(4).clamp(30, CONFIRM_MAX_W);
    let w = (text.chars().count() as u16 + 6).clamp(30, max_w);
    // Text from one column inside the border to one column before it.
    let lines = wrap(text, w.saturating_sub(4) as usize);
    let r = centered(area, w, 5 + lines.len() as u16);
    Clear.render(r, buf);
    let (title, keys) = match question {
        Question::Conflict(slot) => (
            format!(" Slot {slot} changed on disk "),
            format!(
                "{} take the file's version · {} keep your edits",
                ui.hints.take, ui.hints.keep
            ),
        ),
        Question::Quit | Question::Overwrite(_) => (
            " Are you sure? ".to_string(),
            format!("{} yes · {} no", ui.hints.confirm, ui.hints.cancel),
        ),
    };
    let inner = panel(r, buf, Line::from(title), true);
    if inner.height == 0 {
        return;
    }
    let right = inner.right();
    // Keep the last row for the keys when there is room for them.
    let text_rows = inner
        .height
        .saturating_sub(if inner.height >= 3 { 3 } else { 1 });
    for (i, line) in lines.iter().take(text_rows.max(1) as usize).enumerate() {
        let y = inner.y + 1 + i as u16;
        if y < inner.bottom() {
            put(buf, inner.x + 1, y, right, line, theme::strong());
        }
    }
    if inner.height >= 3 {
        put(
            buf,
            inner.x + 1,
            inner.bottom() - 1,
            right,
            &keys,
            theme::dim(),
        );
    }
}

/// Splits `text` into lines of at most `width` characters at spaces (a longer word is cut
/// by the window).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("one line");
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if len > 0 {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// Draws a text prompt: the question, the text with its cursor, and the last refusal.
pub fn draw_prompt(area: Rect, buf: &mut Buffer, ui: &UiState, p: &Prompt) {
    let want = p
        .label
        .chars()
        .count()
        .max(p.error.as_deref().map_or(0, |e| e.chars().count()))
        .max(p.text.chars().count() + 4) as u16
        + 6;
    let w = want.max(40).min(area.width.saturating_sub(4).max(20));
    let r = centered(area, w, 6);
    Clear.render(r, buf);
    let inner = panel(r, buf, Line::from(format!(" {} ", p.label)), true);
    if inner.height == 0 {
        return;
    }
    let right = inner.right();
    let y = inner.y;
    let x = put(buf, inner.x + 1, y, right, "› ", theme::title(true));
    // Keep the cursor visible in long texts by scrolling the text left.
    let room = right.saturating_sub(x + 1) as usize;
    let skip = (p.cursor + 1).saturating_sub(room);
    let shown: String = p.text.chars().skip(skip).collect();
    put(buf, x, y, right, &shown, theme::strong());
    let cx = x + (p.cursor - skip) as u16;
    if cx < right {
        let cell = &mut buf[(cx, y)];
        let ch = cell.symbol().chars().next().unwrap_or(' ');
        cell.set_char(ch).set_style(theme::cursor());
    }
    if let Some(err) = &p.error
        && inner.height >= 2
    {
        put(
            buf,
            inner.x + 1,
            y + 1,
            right,
            err,
            theme::level(crate::control::Level::Error),
        );
    }
    if inner.height >= 3 {
        let keys = format!(
            "{} accept · {} cancel",
            ui.hints.submit, ui.hints.prompt_cancel
        );
        put(
            buf,
            inner.x + 1,
            inner.bottom() - 1,
            right,
            &keys,
            theme::dim(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_text_wraps_at_spaces() {
        assert_eq!(
            wrap("slot 3 changed on disk — [t]ake it", 14),
            ["slot 3 changed", "on disk —", "[t]ake it"]
        );
        assert_eq!(wrap("short", 14), ["short"]);
    }
}
