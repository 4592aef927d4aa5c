//! The pattern grid: one row per track, one column per step, the playhead and the cursor.
//!
//! Each track plays step `global_step % length`, so each row has its own playhead and steps
//! past a track's length stay blank: polymeters are visible at a glance.

use crate::model::notes::note_name;
use crate::model::text::escape;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use crate::control::Controller;

use super::draw::{panel, put};
use super::state::{Panel, UiState};
use super::theme;

/// Which steps are on screen and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepView {
    /// Column of the first step.
    pub x0: u16,
    /// Columns per step.
    pub cell: u16,
    /// First step shown.
    pub first: usize,
    /// Steps shown.
    pub count: usize,
}

impl StepView {
    /// Fits `cols` steps into `avail` columns, as wide as they fit (1–3 columns a step, a gap
    /// after every 4); when even one column a step is too wide, shows whole bars around the
    /// cursor.
    pub fn fit(x0: u16, avail: u16, cols: usize, cursor: usize) -> StepView {
        let avail = avail as usize;
        for cell in (1..=3).rev() {
            if cols * cell + cols / 4 - 1 <= avail {
                return StepView {
                    x0,
                    cell: cell as u16,
                    first: 0,
                    count: cols,
                };
            }
        }
        let groups = (avail + 1) / 5;
        let count = if groups >= 4 {
            groups / 4 * 16
        } else {
            groups * 4
        }
        .clamp(4, cols);
        let mut first = cursor / count * count;
        if first + count > cols {
            first = cols - count;
        }
        StepView {
            x0,
            cell: 1,
            first,
            count,
        }
    }

    /// Screen column of step `i` (which must be on screen).
    pub fn x(&self, i: usize) -> u16 {
        let k = i - self.first;
        self.x0 + (k as u16) * self.cell + (k / 4) as u16
    }

    /// Whether step `i` is on screen.
    pub fn shows(&self, i: usize) -> bool {
        i >= self.first && i < self.first + self.count
    }
}

/// Width of the name column.
fn name_width(inner_width: u16) -> u16 {
    if inner_width >= 70 { 10 } else { 8 }
}

/// The playhead's mark in the ruler above the steps.
pub const PLAYHEAD_MARK: char = '▼';

/// Draws the grid.
pub fn draw(area: Rect, buf: &mut Buffer, ui: &UiState, ctl: &Controller) {
    let song = super::draw::shown_song(ui, ctl);
    let preview = ui.preview.then(|| ctl.queued()).flatten();
    let tracks = &song.sequencer.tracks;
    let focused = ui.focus == Panel::Grid && ui.overlay.is_none();
    let cols = super::app::columns_of(song);
    let prepared = ctl.prepared().filter(|_| preview.is_none());
    let mut title = vec![match (preview, prepared) {
        (Some(q), _) => Span::styled(
            format!(" PREVIEW slot {} {:?} (read-only) ", q.slot, q.name),
            theme::pending(),
        ),
        (None, Some(p)) => Span::styled(
            format!(
                " PREPARING slot {} {:?}{} (not playing) ",
                p.slot,
                p.name,
                if p.dirty { " *" } else { "" }
            ),
            theme::pending(),
        ),
        (None, None) => Span::raw(" Pattern "),
    }];
    title.extend([Span::styled(
        match tracks.len() {
            1 => format!("· 1 track · {cols} steps "),
            n => format!("· {n} tracks · {cols} steps "),
        },
        theme::dim(),
    )]);
    if let Some(octave) = ui.piano {
        let scope = if ui.piano_all { " ALL HITS" } else { "" };
        title.push(Span::styled(
            format!("· PIANO oct {octave}{scope} "),
            theme::pending(),
        ));
    }
    if ctl.edit_step() != crate::control::DEFAULT_EDIT_STEP {
        title.push(Span::styled(
            format!("· edit step {} ", ctl.edit_step()),
            theme::dim(),
        ));
    }
    let inner = {
        let probe = Rect {
            x: area.x + 1,
            width: area.width.saturating_sub(2),
            ..area
        };
        let nw = name_width(probe.width);
        let x0 = probe.x + nw + 12;
        let view = StepView::fit(x0, probe.right().saturating_sub(x0), cols, ui.step);
        if view.count < cols {
            title.push(Span::styled(
                format!("· steps {}–{} ", view.first + 1, view.first + view.count),
                theme::dim(),
            ));
        }
        // The data of the step under the cursor, in words (the cell has room for a mark).
        let data = tracks
            .get(ui.track)
            .and_then(|t| t.steps.at(ui.step))
            .map(|d| d.summary());
        if let Some(data) = &data {
            title.push(Span::styled(
                format!("· step {} {data} ", ui.step + 1),
                theme::dim(),
            ));
        }
        // Cells too narrow for the whole note name: the title names the note under the cursor.
        if data.is_none()
            && let Some(Some(hz)) = tracks.get(ui.track).map(|t| {
                crate::control::step_notes(t)
                    .get(ui.step)
                    .copied()
                    .flatten()
            })
            && note_label(hz, view.cell).is_none_or(|shown| shown != note_name(hz))
        {
            title.push(Span::styled(
                format!("· step {} {} ", ui.step + 1, note_name(hz)),
                theme::dim(),
            ));
        }
        panel(area, buf, Line::from(title), focused)
    };
    if inner.height == 0 || inner.width < 20 {
        return;
    }
    let nw = name_width(inner.width);
    let x0 = inner.x + nw + 12;
    let right = inner.right();
    let view = StepView::fit(x0, right.saturating_sub(x0), cols, ui.step);
    let st = ctl.status();

    // Ruler: column heads and the number of each beat's first step.
    let y = inner.y;
    let mut x = put(buf, inner.x + 1, y, right, "track", theme::dim());
    x = x.max(inner.x + 1 + nw + 1);
    put(buf, x, y, right, "vc MS len", theme::dim());
    // A prepared slot does not play: no playhead crosses it.
    let playing = st.running && prepared.is_none();
    let ruler_head = playing.then(|| (st.global_step % cols as u64) as usize);
    for i in view.first..view.first + view.count {
        let sx = view.x(i);
        if sx >= right {
            break;
        }
        if i.is_multiple_of(4) {
            put(buf, sx, y, right, &(i + 1).to_string(), theme::dim());
        }
        if ruler_head == Some(i) {
            // A marker, not only a colour: the playhead shows on a monochrome terminal and to
            // a performer who cannot tell the colours apart. It stands in for the step's
            // number while it is there.
            if (i + 1) >= 10 && i.is_multiple_of(4) && sx + 1 < right {
                buf[(sx + 1, y)].set_char(' ');
            }
            let cell = buf[(sx, y)].style();
            buf[(sx, y)]
                .set_char(PLAYHEAD_MARK)
                .set_style(theme::playhead(cell));
        }
    }
    draw_gaps(buf, &view, y, right);

    let rows = inner.height.saturating_sub(1) as usize;
    if tracks.is_empty() {
        let text = format!("no tracks yet — press {} to add one", ui.hints.add_track);
        put(buf, inner.x + 1, y + 1, right, &text, theme::dim());
        return;
    }
    if rows == 0 {
        return;
    }
    let first_row = ui.track / rows * rows;
    let any_solo = tracks.iter().any(|t| t.solo);
    for (row, (ti, t)) in tracks
        .iter()
        .enumerate()
        .skip(first_row)
        .take(rows)
        .enumerate()
    {
        let y = inner.y + 1 + row as u16;
        let selected = ti == ui.track;
        let silent = t.muted || (any_solo && !t.solo);
        let marker_style = if focused {
            theme::title(true)
        } else {
            theme::selected()
        };
        put(
            buf,
            inner.x,
            y,
            right,
            if selected { "▸" } else { " " },
            marker_style,
        );
        let name_style = if silent {
            theme::dim()
        } else if selected {
            theme::strong()
        } else {
            theme::text()
        };
        let changes = ui.changes.as_ref();
        let name_style = if changes.is_some_and(|c| c.diff.track_changed(&t.name)) {
            theme::changed(name_style)
        } else {
            name_style
        };
        let name = escape(&t.name);
        put(buf, inner.x + 1, y, inner.x + 1 + nw, &name, name_style);
        let mut x = inner.x + 1 + nw + 1;
        let voice_ok = t.voice().is_some_and(|v| (v as usize) <= ctl.voices());
        let voice = match t.voice() {
            Some(v) => format!("v{v}"),
            None => "v?".into(),
        };
        let voice_style = if voice_ok {
            theme::text()
        } else {
            theme::level(crate::control::Level::Error)
        };
        put(buf, x, y, right, &voice, voice_style);
        x += 3;
        // A mute or solo waiting for the next bar shows what it will be, marked as pending.
        let (mute, mute_style) = match ctl.pending_mute(&t.name, false) {
            Some(m) => (if m { "M" } else { "·" }, theme::pending()),
            None if t.muted => ("M", theme::muted()),
            None => ("·", theme::dim()),
        };
        put(buf, x, y, right, mute, mute_style);
        let (solo, solo_style) = match ctl.pending_mute(&t.name, true) {
            Some(s) => (if s { "S" } else { "·" }, theme::pending()),
            None if t.solo => ("S", theme::solo()),
            None => ("·", theme::dim()),
        };
        put(buf, x + 1, y, right, solo, solo_style);
        let len = t.pattern.chars().count();
        put(buf, x + 3, y, right, &format!("{len:>2}"), theme::dim());

        if len == 0 {
            put(buf, view.x0, y, right, "(empty: silent)", theme::dim());
        }
        let head = (playing && len > 0).then(|| (st.global_step % len as u64) as usize);
        let steps: Vec<char> = t.pattern.chars().collect();
        // A track with notes shows on each hit the note it plays, as a tracker does.
        let notes = crate::control::step_notes(t);
        for i in view.first..view.first + view.count {
            let sx = view.x(i);
            if sx >= right {
                break;
            }
            let (ch, mut style) = match steps.get(i) {
                Some('X') => ('X', theme::accent()),
                Some('x') => ('x', theme::hit()),
                Some(_) => ('.', theme::rest()),
                None => (' ', theme::rest()),
            };
            if silent && ch != ' ' {
                style = theme::rest();
            }
            if changes.is_some_and(|c| c.step(&t.name, i)) {
                style = theme::changed(style);
            }
            if head == Some(i) {
                style = theme::playhead(style);
            }
            if selected && i == ui.step {
                style = if focused {
                    theme::cursor()
                } else {
                    theme::cursor_unfocused(style)
                };
            }
            // A step with data (schema 1.1) carries one mark after its hit (see
            // `StepData::mark`); in one-column cells it is underlined instead.
            let mark = (i < steps.len())
                .then(|| t.steps.at(i).and_then(|d| d.mark()))
                .flatten();
            let room = match mark {
                Some(_) if view.cell >= 2 => view.cell - 1,
                Some(_) => {
                    style = style.add_modifier(Modifier::UNDERLINED);
                    1
                }
                None => view.cell,
            };
            buf[(sx, y)].set_char(ch).set_style(style);
            let mut used = 1;
            if let Some(Some(hz)) = notes.get(i)
                && let Some(name) = note_label(*hz, room)
            {
                // The name replaces the hit mark; an accent keeps its style (bold).
                for (k, c) in name.chars().enumerate() {
                    let cx = sx + k as u16;
                    if cx < right {
                        buf[(cx, y)].set_char(c).set_style(style);
                    }
                }
                used = name.chars().count() as u16;
            }
            if let Some(m) = mark
                && view.cell >= 2
            {
                let mx = sx + used.min(view.cell - 1);
                if mx < right {
                    buf[(mx, y)].set_char(m).set_style(style);
                }
            }
        }
        draw_gaps(buf, &view, y, right);
    }
}

/// What a hit's cell of `cell` columns shows of the note it plays: the whole name (`C#4`)
/// from three columns where it fits, else the name without its octave (`C#` for `C#-1` in
/// three columns, or for `C#4` in two); in one column the hit mark stays. Where the octave is left out, the grid's
/// title names the whole note under the cursor.
fn note_label(hz: f64, cell: u16) -> Option<String> {
    let name = note_name(hz);
    let fits = |s: &str| s.chars().count() <= cell as usize;
    if cell < 2 {
        return None;
    }
    // Two columns show the pitch alone even where the whole name would fit: names of
    // neighbouring cells would run together.
    if cell >= 3 && fits(&name) {
        return Some(name);
    }
    let pitch = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
    fits(pitch).then(|| pitch.to_string())
}

/// Bar lines between bars, blanks between beats.
fn draw_gaps(buf: &mut Buffer, view: &StepView, y: u16, right: u16) {
    for k in (4..view.count).step_by(4) {
        let i = view.first + k;
        if i.is_multiple_of(16) {
            let gx = view.x(i) - 1;
            if gx < right {
                buf[(gx, y)].set_char('│').set_style(theme::dim());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::note_label;

    #[test]
    fn a_note_label_never_spills_out_of_its_cell() {
        let c4 = 261.63;
        let c_sharp_minus_1 = 8.66;
        let d_sharp_10 = 19_912.0;
        assert_eq!(note_label(c4, 3).as_deref(), Some("C4"));
        assert_eq!(note_label(c4, 2).as_deref(), Some("C"));
        assert_eq!(note_label(c4, 1), None);
        assert_eq!(note_label(c_sharp_minus_1, 3).as_deref(), Some("C#"));
        assert_eq!(note_label(c_sharp_minus_1, 4).as_deref(), Some("C#-1"));
        assert_eq!(note_label(d_sharp_10, 3).as_deref(), Some("D#"));
        for hz in [c4, c_sharp_minus_1, d_sharp_10, 27.5, 4186.0, 0.0] {
            for cell in 1..6 {
                if let Some(l) = note_label(hz, cell) {
                    assert!(l.chars().count() <= cell as usize, "{hz} in {cell}: {l}");
                }
            }
        }
    }
}
