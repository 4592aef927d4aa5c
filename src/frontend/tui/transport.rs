//! The transport bar: what plays, how fast, where, what is queued, and how the audio is doing.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use crate::control::Controller;

use super::draw::put;
use super::state::UiState;
use super::theme;

type Parts = Vec<(String, Style)>;

fn width(parts: &Parts) -> usize {
    parts.iter().map(|(t, _)| t.chars().count()).sum()
}

/// The queue indicator: `→ slot 3 in 2 beats` (or `at bar N` while stopped).
pub fn queued_text(ctl: &Controller) -> Option<String> {
    let q = ctl.queued()?;
    Some(match ctl.beats_until_queued() {
        Some(0) => format!("→ slot {} now", q.slot),
        Some(1) => format!("→ slot {} in 1 beat", q.slot),
        Some(n) => format!("→ slot {} in {n} beats", q.slot),
        None => format!("→ slot {} at bar {}", q.slot, q.bar),
    })
}

/// The performance half: play state, tempo, position, slot, queue, recording.
fn left(ui: &UiState, ctl: &Controller) -> Parts {
    let st = ctl.status();
    let mut p: Parts = Vec::new();
    if st.muted {
        p.push((" ■ AUDIO OFF".into(), theme::recording()));
    } else if st.running {
        p.push((" ▶ PLAY".into(), theme::playing()));
    } else {
        p.push((" ■ STOP".into(), theme::text()));
    }
    // A tempo or swing a slot file changed on disk is highlighted like the steps.
    let diff = ui.changes.as_ref().map(|c| &c.diff);
    let mark = |style: Style, changed: bool| {
        if changed {
            theme::changed(style)
        } else {
            style
        }
    };
    p.push(("  ".into(), theme::dim()));
    let tempo = mark(
        theme::strong(),
        diff.is_some_and(|d| d.tempo_changed.is_some()),
    );
    let playing = ctl.playing();
    p.push((format!("{:.1}", playing.bpm), tempo));
    p.push((" BPM".into(), theme::dim()));
    p.push(("  swing ".into(), theme::dim()));
    let swing = mark(
        theme::text(),
        diff.is_some_and(|d| d.swing_changed.is_some()),
    );
    p.push((format!("{:.2}", playing.swing), swing));
    p.push(("  bar ".into(), theme::dim()));
    let step = st.step_in_bar;
    p.push((
        format!("{}.{}.{}", st.bar, step / 4 + 1, step % 4 + 1),
        theme::strong(),
    ));
    p.push(("  ".into(), theme::dim()));
    match playing.slot {
        Some(n) => {
            p.push((format!("slot {n}"), theme::strong()));
            if !playing.name.is_empty() {
                p.push((format!(" \"{}\"", playing.name), theme::text()));
            }
        }
        None => p.push(("new song".into(), theme::text())),
    }
    if ctl.is_dirty() {
        p.push((" *".into(), theme::solo()));
    }
    if let Some(text) = queued_text(ctl) {
        p.push(("  ".into(), theme::pending()));
        p.push((text, theme::pending()));
    }
    if ui.preview && ctl.queued().is_some() {
        p.push(("  PREVIEW".into(), theme::pending()));
    }
    let unseen = ui.unseen();
    if unseen > 1 {
        p.push((format!("  {unseen} new messages"), theme::dim()));
    }
    if ctl.recording().is_some() {
        p.push(("  ● REC".into(), theme::recording()));
    }
    p
}

/// The machine half: backend, callback load, xruns.
fn right(ctl: &Controller) -> Parts {
    let st = ctl.status();
    let mut p: Parts = Vec::new();
    let backend = if st.backend.is_empty() {
        "no audio".to_string()
    } else {
        st.backend.clone()
    };
    p.push((format!(" {backend}"), theme::dim()));
    p.push(("  load ".into(), theme::dim()));
    let load_style = if st.load_max >= 80.0 {
        theme::level(crate::control::Level::Warning)
    } else {
        theme::text()
    };
    p.push((format!("{:.1}%", st.load_mean), load_style));
    p.push((format!(" (max {:.1}%)", st.load_max), theme::dim()));
    p.push(("  xruns ".into(), theme::dim()));
    let xrun_style = if st.xruns > 0 {
        theme::level(crate::control::Level::Warning)
    } else {
        theme::text()
    };
    p.push((st.xruns.to_string(), xrun_style));
    p.push((" ".into(), theme::dim()));
    p
}

/// Terminal width from which the bar may take a single row.
const ONE_ROW: u16 = 160;

/// Rows the bar takes at this width: one on very wide screens when both halves fit side by
/// side, else two. Mostly decided by the width alone, so the screen does not jump when a
/// slot gets queued or recording starts.
pub fn rows(cols: u16, ui: &UiState, ctl: &Controller) -> u16 {
    if cols >= ONE_ROW && width(&left(ui, ctl)) + 2 + width(&right(ctl)) <= cols as usize {
        1
    } else {
        2
    }
}

fn put_parts(buf: &mut Buffer, x: u16, y: u16, right: u16, parts: &Parts) {
    let mut x = x;
    for (text, style) in parts {
        x = put(buf, x, y, right, text, *style);
    }
}

/// Draws the bar.
pub fn draw(area: Rect, buf: &mut Buffer, ui: &UiState, ctl: &Controller) {
    if area.height == 0 {
        return;
    }
    let l = left(ui, ctl);
    let r = right(ctl);
    put_parts(buf, area.x, area.y, area.right(), &l);
    if area.height >= 2 {
        put_parts(buf, area.x, area.y + 1, area.right(), &r);
    } else {
        let rw = width(&r) as u16;
        let x = area.right().saturating_sub(rw).max(area.x);
        put_parts(buf, x, area.y, area.right(), &r);
    }
}
