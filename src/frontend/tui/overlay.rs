//! Windows over the screen: the key help, yes/no questions and text prompts.

use crate::model::text::{escape, escape_keep_lines};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};
use unicode_width::UnicodeWidthStr;

use crate::control::Level;
use crate::keymap::HelpSection;

use super::draw::{panel, split_h, split_v};
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

/// The help laid out in `columns` columns, each section whole in one column (a section is
/// never split), filled left to right and balanced by height.
fn help_columns(sections: &[HelpSection], columns: usize) -> Vec<Vec<HelpLine<'_>>> {
    let sections: Vec<&HelpSection> = sections.iter().filter(|s| !s.rows.is_empty()).collect();
    let height = |s: &HelpSection| 1 + s.rows.len();
    let total: usize = sections.iter().map(|s| height(s) + 1).sum();
    let target = total.div_ceil(columns.max(1));
    let mut out: Vec<Vec<HelpLine>> = vec![Vec::new()];
    for s in sections {
        let col = out.last_mut().expect("one column at least");
        if !col.is_empty() && col.len() + 1 + height(s) > target && out.len() < columns {
            out.push(Vec::new());
        }
        let col = out.last_mut().expect("one column at least");
        if !col.is_empty() {
            col.push(HelpLine::Blank);
        }
        col.push(HelpLine::Title(s.title));
        col.extend(s.rows.iter().map(|r| HelpLine::Row(&r.keys, &r.desc)));
    }
    out
}

/// Columns of help on a window `inner_width` wide: one per 50 columns, at most 3.
fn help_column_count(inner_width: u16) -> usize {
    ((inner_width as usize + 1) / 50).clamp(1, 3)
}

/// The inner size of the help window on a screen of `screen` (columns, rows).
fn help_inner(screen: (u16, u16)) -> (u16, u16) {
    let r = big_window_rect(Rect::new(0, 0, screen.0, screen.1));
    // Borders, and the blank column on the left.
    (r.width.saturating_sub(3), r.height.saturating_sub(2))
}

/// How far the help scrolls on a screen of `screen`, and its page: the rows it shows.
pub fn help_scroll_range(sections: &[HelpSection], screen: (u16, u16)) -> (usize, usize) {
    let (w, h) = help_inner(screen);
    let longest = help_paragraphs(sections, w)
        .iter()
        .map(|(p, width)| p.line_count(*width))
        .max()
        .unwrap_or(0);
    (longest.saturating_sub(h as usize), (h as usize).max(1))
}

/// The help's columns on a window `inner_width` wide, as wrapped paragraphs with the width
/// each is drawn at.
fn help_paragraphs(sections: &[HelpSection], inner_width: u16) -> Vec<(Paragraph<'_>, u16)> {
    let columns = help_columns(sections, help_column_count(inner_width));
    let col_w = (inner_width + 1) / columns.len().max(1) as u16;
    // Wide enough for nearly every binding; the rare longer one pushes its description right.
    let key_w = 12u16.min(col_w / 3) as usize;
    columns
        .into_iter()
        .map(|lines| {
            let text: Vec<Line> = lines
                .iter()
                .map(|line| match line {
                    HelpLine::Title(t) => Line::styled(*t, theme::title(true)),
                    HelpLine::Row(keys, desc) => {
                        // Descriptions come from the user's keymap file.
                        let keys = escape(keys);
                        let pad = " ".repeat(key_w.saturating_sub(keys.width()) + 1);
                        Line::from(vec![
                            Span::raw(" "),
                            Span::styled(keys, theme::strong()),
                            Span::raw(pad),
                            Span::styled(escape(desc), theme::text()),
                        ])
                    }
                    HelpLine::Blank => Line::default(),
                })
                .collect();
            let p = Paragraph::new(text).wrap(Wrap { trim: false });
            (p, col_w.saturating_sub(1))
        })
        .collect()
}

/// Draws an overlay.
pub fn draw_overlay(area: Rect, buf: &mut Buffer, ui: &UiState, overlay: &Overlay) {
    match overlay {
        Overlay::Help { scroll } => draw_help(area, buf, ui, *scroll),
        Overlay::Confirm { question, text } => draw_confirm(area, buf, ui, question, text),
        Overlay::Messages { scroll } => draw_messages(area, buf, ui, *scroll),
    }
}

/// A window over most of the screen with a title; returns its inner area less a blank
/// column on the left.
fn big_window(area: Rect, buf: &mut Buffer, title: String) -> Rect {
    let r = big_window_rect(area);
    Clear.render(r, buf);
    let inner = panel(r, buf, Line::from(title), true);
    split_h(inner, 1).1
}

/// Where [`big_window`] goes on `area`.
fn big_window_rect(area: Rect) -> Rect {
    let w = area.width.saturating_sub(4).max(20);
    let h = area.height.saturating_sub(2).max(5);
    centered(area, w, h)
}

/// The message log, newest first. `scroll` counts messages; a long one wraps.
fn draw_messages(area: Rect, buf: &mut Buffer, ui: &UiState, scroll: usize) {
    let title = format!(
        " Messages ({}) — Esc closes, ↑↓ PgUp PgDn scroll ",
        ui.log.len()
    );
    let inner = big_window(area, buf, title);
    if inner.height == 0 {
        return;
    }
    if ui.log.is_empty() {
        Line::styled("no messages yet", theme::dim()).render(inner, buf);
        return;
    }
    let entries: Vec<Line> = ui
        .log
        .iter()
        .rev()
        .map(|e| {
            let mark = match e.level {
                Level::Info => "  ",
                Level::Warning => "! ",
                Level::Error => "✗ ",
            };
            Line::from(vec![Span::raw(mark), Span::raw(escape_keep_lines(&e.text))])
                .style(theme::level(e.level))
        })
        .collect();
    let wrap = Wrap { trim: false };
    // Scrolled by whole messages: skip the rows the first `scroll` of them wrap onto.
    let scroll = scroll.min(entries.len() - 1);
    let skip: usize = entries[..scroll]
        .iter()
        .map(|l| Paragraph::new(l.clone()).wrap(wrap).line_count(inner.width))
        .sum();
    Paragraph::new(entries)
        .wrap(wrap)
        .scroll((skip.min(u16::MAX as usize) as u16, 0))
        .render(inner, buf);
}

fn draw_help(area: Rect, buf: &mut Buffer, ui: &UiState, scroll: usize) {
    let title = format!(" Keys — {} closes, ↑↓ PgUp PgDn scroll ", ui.hints.help);
    let inner = big_window(area, buf, title);
    if inner.height == 0 {
        return;
    }
    let (max, _) = help_scroll_range(&ui.help, (area.width, area.height));
    let scroll = scroll.min(max);
    let mut x = inner.x;
    for (p, width) in help_paragraphs(&ui.help, inner.width) {
        let column = Rect { x, width, ..inner };
        x += width + 1;
        // Every column scrolls with the first; a long description wraps within its column.
        p.scroll((scroll.min(u16::MAX as usize) as u16, 0))
            .render(column.intersection(inner), buf);
    }
}

/// Widest a question window grows before its text wraps.
const CONFIRM_MAX_W: u16 = 72;

/// The question's text as drawn: strong, wrapped at spaces.
fn question_text(text: &str) -> Paragraph<'_> {
    Paragraph::new(escape_keep_lines(text))
        .style(theme::strong())
        .wrap(Wrap { trim: true })
}

fn draw_confirm(area: Rect, buf: &mut Buffer, ui: &UiState, question: &Question, text: &str) {
    let max_w = area.width.saturating_sub(4).clamp(30, CONFIRM_MAX_W);
    let w = (escape_keep_lines(text).width() as u16 + 6).clamp(30, max_w);
    // Text from one column inside the border to one column before it.
    let paragraph = question_text(text);
    let lines = paragraph.line_count(w.saturating_sub(4)) as u16;
    let r = centered(area, w, 5 + lines);
    Clear.render(r, buf);
    let (title, keys) = match question {
        Question::Conflict(slot) => (
            format!(" Slot {slot} changed on disk "),
            format!(
                "{} take the file's version · {} keep your edits",
                ui.hints.take, ui.hints.keep
            ),
        ),
        Question::Quit => (
            " Are you sure? ".to_string(),
            format!(
                "{} quit · {} save and quit · {} no",
                ui.hints.confirm, ui.hints.save_quit, ui.hints.cancel
            ),
        ),
        Question::Overwrite(_) => (
            " Are you sure? ".to_string(),
            format!("{} yes · {} no", ui.hints.confirm, ui.hints.cancel),
        ),
    };
    let inner = panel(r, buf, Line::from(title), true);
    if inner.height == 0 {
        return;
    }
    // Keep the last row for the keys when there is room for them.
    let text_rows = inner
        .height
        .saturating_sub(if inner.height >= 3 { 3 } else { 1 })
        .max(1);
    let (_, body) = split_h(inner, 1);
    let (_, text_area) = split_v(body, 1);
    let (text_area, _) = split_v(text_area, text_rows);
    let (text_area, _) = split_h(text_area, text_area.width.saturating_sub(1));
    paragraph.render(text_area, buf);
    if inner.height >= 3 {
        let (_, keys_row) = split_v(body, inner.height - 1);
        Line::styled(keys, theme::dim()).render(keys_row, buf);
    }
}

/// Draws a text prompt: the question, the text with its cursor, and the last refusal.
pub fn draw_prompt(area: Rect, buf: &mut Buffer, ui: &UiState, p: &Prompt) {
    let label = escape(&p.label);
    let error = p.error.as_deref().map(escape);
    let want = label
        .width()
        .max(error.as_deref().map_or(0, str::width))
        .max(escape(&p.text).width() + 4) as u16
        + 6;
    let w = want.max(40).min(area.width.saturating_sub(4).max(20));
    let r = centered(area, w, 6);
    Clear.render(r, buf);
    let inner = panel(r, buf, Line::from(format!(" {label} ")), true);
    if inner.height == 0 {
        return;
    }
    let (_, body) = split_h(inner, 1);
    let row = |i: u16| split_v(split_v(body, i).1, 1).0;
    let (marker, field) = split_h(row(0), 2);
    Line::styled("› ", theme::title(true)).render(marker, buf);
    draw_field(field, buf, &p.text, p.cursor, p.selected);
    if let Some(err) = error
        && inner.height >= 2
    {
        Line::styled(err, theme::level(Level::Error)).render(row(1), buf);
    }
    if inner.height >= 3 {
        let keys = format!(
            "{} accept · {} cancel",
            ui.hints.submit, ui.hints.prompt_cancel
        );
        Line::styled(keys, theme::dim()).render(row(inner.height - 1), buf);
    }
}

/// The prompt's text with its cursor (a character index), scrolled left as far as the
/// cursor needs to stay visible, measured by display width. A control character shows as
/// its escape (`\u{1b}`), the cursor moving over it as over one character.
fn draw_field(area: Rect, buf: &mut Buffer, text: &str, cursor: usize, selected: bool) {
    let chars: Vec<String> = text
        .chars()
        .map(|c| escape(c.encode_utf8(&mut [0; 4])).into_owned())
        .collect();
    let cursor = cursor.min(chars.len());
    let width = |cs: &[String]| cs.iter().map(|c| c.width()).sum::<usize>();
    // Room for the text before the cursor and the cursor's own cell.
    let room = (area.width as usize).saturating_sub(1);
    let mut skip = 0;
    while skip < cursor && width(&chars[skip..cursor]) + 1 > room {
        skip += 1;
    }
    let shown: String = chars[skip..].concat();
    // A proposed answer shows selected: typing replaces it.
    let style = if selected {
        theme::selected()
    } else {
        theme::strong()
    };
    Line::styled(shown, style).render(area, buf);
    let cx = area.x + width(&chars[skip..cursor]) as u16;
    if cx < area.right() && area.height > 0 {
        buf[(cx, area.y)].set_style(theme::cursor());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_text_wraps_at_spaces() {
        let q = question_text("slot 3 changed on disk — [t]ake it");
        assert_eq!(q.line_count(14), 3);
        assert_eq!(question_text("short").line_count(14), 1);
    }
}
