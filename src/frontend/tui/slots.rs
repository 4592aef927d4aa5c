//! The slot browser: slots 1–128 with name, tempo, age and marks for playing, queued,
//! unsaved and changed on disk. A `Table`: columns are measured by display width, so a name
//! with wide characters (`ドラム 🥁`) cannot push the tempo and age out of line.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Cell, HighlightSpacing, Paragraph, Row, StatefulWidget, Table, TableState, Widget,
};

use crate::control::{Controller, Level};
use crate::model::text::escape;
use crate::store::{SLOT_COUNT, SlotNumber};

use super::draw::{panel, split_v};
use super::state::{Panel, SlotRow, UiState};
use super::theme;

/// Which columns fit beside the name.
#[derive(Clone, Copy)]
struct Columns {
    bpm: bool,
    age: bool,
    /// Columns left for the name.
    name: usize,
}

impl Columns {
    fn for_width(width: u16) -> Columns {
        let (bpm, age) = (width >= 18, width >= 28);
        // The highlight symbol, the marks and number, and each column with its spacing.
        let taken = 1 + 5 + 1 + if bpm { 6 } else { 0 } + if age { 5 } else { 0 };
        Columns {
            bpm,
            age,
            name: (width as usize).saturating_sub(taken),
        }
    }

    /// Marks and number, name, then tempo and age when they fit.
    fn widths(self) -> Vec<Constraint> {
        let mut w = vec![Constraint::Length(5), Constraint::Fill(1)];
        if self.bpm {
            w.push(Constraint::Length(5));
        }
        if self.age {
            w.push(Constraint::Length(4));
        }
        w
    }
}

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
    // A legend under the list when there is room to spare.
    let legend = inner.height >= 20;
    let (list, legend_area) = split_v(inner, inner.height - if legend { 2 } else { 0 });
    let rows = list.height as usize;
    let total = SLOT_COUNT as usize;
    // The cursor stays in the middle of the list where it can.
    let cursor = ui.slot_cursor.clamp(1, SLOT_COUNT) as usize - 1;
    let first = cursor
        .saturating_sub(rows / 2)
        .min(total.saturating_sub(rows));
    let cols = Columns::for_width(inner.width);
    let row_highlight = if focused {
        theme::cursor()
    } else {
        theme::cursor_unfocused(Style::new())
    };
    let table = Table::new(
        (1..=SLOT_COUNT).map(|n| slot_row(n, ui, ctl, cols)),
        cols.widths(),
    )
    .column_spacing(1)
    .highlight_symbol(Line::styled("▸", theme::title(focused)))
    .highlight_spacing(HighlightSpacing::Always)
    .row_highlight_style(row_highlight);
    let mut state = TableState::new()
        .with_offset(first)
        .with_selected(Some(cursor));
    StatefulWidget::render(table, list, buf, &mut state);
    if legend {
        let (_, legend_area) = super::draw::split_h(legend_area, 1);
        Paragraph::new(vec![
            Line::raw("▶ playing  → queued  ✎ preparing"),
            Line::raw("* draft    ~ changed on disk"),
        ])
        .style(theme::dim())
        .render(legend_area, buf);
    }
}

/// One slot's row: marks, number, then name, tempo and age (or why it cannot be read).
fn slot_row(n: u8, ui: &UiState, ctl: &Controller, cols: Columns) -> Row<'static> {
    let Ok(slot) = SlotNumber::new(n) else {
        return Row::default();
    };
    let playing = ctl.slot() == Some(slot);
    let (m1, m1_style) = if ctl.queued().map(|q| q.slot) == Some(slot) {
        ("→", theme::pending())
    } else if playing {
        ("▶", theme::playing())
    } else if ctl.prepared().is_some_and(|p| p.slot == slot) {
        ("✎", theme::pending())
    } else {
        (" ", theme::dim())
    };
    let info = ui.slots.get(n as usize - 1).and_then(|r| r.as_ref());
    let (m2, m2_style) = if ctl.has_draft(slot) {
        ("*", theme::solo())
    } else if info.is_some_and(|r| r.changed) {
        ("~", theme::pending())
    } else {
        (" ", theme::dim())
    };
    let num_style = if info.is_some() {
        theme::text()
    } else {
        theme::dim()
    };
    let marks = Line::from(vec![
        Span::styled(m1, m1_style),
        Span::styled(m2, m2_style),
        Span::styled(format!("{n:>3}"), num_style),
    ]);
    let mut cells = vec![Cell::from(marks)];
    match info {
        Some(SlotRow {
            error: Some(err), ..
        }) => {
            let text = format!("unreadable: {}", escape(err));
            cells.push(Cell::from(Span::styled(text, theme::level(Level::Error))));
        }
        Some(r) => {
            let name = if r.name.is_empty() {
                "(no name)".to_string()
            } else {
                super::draw::shorten_middle(&escape(&r.name), cols.name)
            };
            let style = if playing {
                theme::strong()
            } else {
                theme::text()
            };
            cells.push(Cell::from(Span::styled(name, style)));
            if cols.bpm {
                let bpm = Line::styled(format!("{:.1}", r.bpm), theme::dim()).right_aligned();
                cells.push(Cell::from(bpm));
            }
            if cols.age {
                let age = Line::styled(r.age.to_string(), theme::dim()).right_aligned();
                cells.push(Cell::from(age));
            }
        }
        None if ctl.prepared().is_some_and(|p| p.slot == slot) && !ctl.has_draft(slot) => {
            cells.push(Cell::from(Span::styled("(new, preparing)", theme::text())));
        }
        None if ctl.has_draft(slot) => {
            cells.push(Cell::from(Span::styled("(draft only)", theme::text())));
        }
        None => cells.push(Cell::from(Span::styled("·", theme::dim()))),
    }
    Row::new(cells)
}
