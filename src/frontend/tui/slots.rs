//! The slot browser: slots 1–128 with name, tempo, age and marks for playing, queued,
//! unsaved and changed on disk.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::control::Controller;
use crate::store::SLOT_COUNT;

use super::draw::{panel, put};
use super::state::{Panel, UiState};
use super::theme;

/// Draws the browser.
pub fn draw(area: Rect, buf: &mut Buffer, ui: &UiState, ctl: &Controller) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let focused = ui.focus == Panel::Slots && ui.overlay.is_none();
    let used = ui.slots.iter().filter(|r| r.is_some()).count();
    let title = Line::from(vec![
        Span::raw(" Slots "),
        Span::styled(format!("· {used} of {SLOT_COUNT} used "), theme::dim()),
    ]);
    let inner = panel(area, buf, title, focused);
    if inner.height == 0 || inner.width < 8 {
        return;
    }
    let right = inner.right();
    // A legend under the list when there is room to spare.
    let legend = inner.height >= 20;
    let rows = (inner.height - if legend { 2 } else { 0 }) as usize;
    let total = SLOT_COUNT as usize;
    let cursor = ui.slot_cursor.clamp(1, SLOT_COUNT) as usize - 1;
    let first = cursor
        .saturating_sub(rows / 2)
        .min(total.saturating_sub(rows));
    let playing = ctl.slot();
    let queued = ctl.queued().map(|q| q.slot);
    let show_age = inner.width >= 28;
    let show_bpm = inner.width >= 18;
    let tail_w: u16 = if show_age {
        11
    } else if show_bpm {
        6
    } else {
        0
    };

    for row in 0..rows.min(total - first) {
        let n = first + row + 1;
        let y = inner.y + row as u16;
        let is_cursor = n - 1 == cursor;
        let Ok(slot) = crate::store::SlotNumber::new(n as u8) else {
            continue;
        };
        let (m1, m1_style) = if queued == Some(slot) {
            ("→", theme::pending())
        } else if playing == Some(slot) {
            ("▶", theme::playing())
        } else {
            (" ", theme::dim())
        };
        let info = ui.slots.get(n - 1).and_then(|r| r.as_ref());
        let (m2, m2_style) = if ctl.has_draft(slot) {
            ("*", theme::solo())
        } else if info.is_some_and(|r| r.changed) {
            ("~", theme::pending())
        } else {
            (" ", theme::dim())
        };
        let marker = if is_cursor { "▸" } else { " " };
        let mut x = put(buf, inner.x, y, right, marker, theme::title(focused));
        x = put(buf, x, y, right, m1, m1_style);
        x = put(buf, x, y, right, m2, m2_style);
        let num_style = if info.is_some() {
            theme::text()
        } else {
            theme::dim()
        };
        x = put(buf, x, y, right, &format!("{n:>3} "), num_style);
        let name_right = right.saturating_sub(tail_w);
        match info {
            Some(r) => {
                if let Some(err) = &r.error {
                    let text = format!("unreadable: {err}");
                    put(
                        buf,
                        x,
                        y,
                        name_right,
                        &text,
                        theme::level(crate::control::Level::Error),
                    );
                } else {
                    let name = if r.name.is_empty() {
                        "(no name)"
                    } else {
                        &r.name
                    };
                    let style = if playing == Some(slot) {
                        theme::strong()
                    } else {
                        theme::text()
                    };
                    put(buf, x, y, name_right, name, style);
                    if show_bpm {
                        let bpm = format!("{:>5.1}", r.bpm);
                        put(buf, name_right + 1, y, right, &bpm, theme::dim());
                    }
                    if show_age {
                        put(
                            buf,
                            name_right + 7,
                            y,
                            right,
                            &format!("{:>4}", r.age),
                            theme::dim(),
                        );
                    }
                }
            }
            None if ctl.has_draft(slot) => {
                put(buf, x, y, name_right, "(draft only)", theme::text());
            }
            None => {
                put(buf, x, y, name_right, "·", theme::dim());
            }
        }
        if is_cursor {
            let row_area = Rect {
                x: inner.x,
                y,
                width: inner.width,
                height: 1,
            };
            if focused {
                buf.set_style(row_area, theme::cursor());
            } else {
                buf.set_style(
                    row_area,
                    theme::cursor_unfocused(ratatui::style::Style::new()),
                );
            }
        }
    }
    if legend {
        let y = inner.bottom() - 2;
        put(
            buf,
            inner.x + 1,
            y,
            right,
            "▶ playing    → queued",
            theme::dim(),
        );
        put(
            buf,
            inner.x + 1,
            y + 1,
            right,
            "* draft      ~ changed on disk",
            theme::dim(),
        );
    }
}
