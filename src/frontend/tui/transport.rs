//! The transport bar: what plays, how fast, where, what is queued, and how the audio is doing.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::control::Controller;
use crate::model::registry::sequencer;
use crate::model::text::escape;

use super::state::UiState;
use super::theme;

type Parts = Vec<Span<'static>>;

/// Display width (a slot name may hold wide characters).
fn width(parts: &Parts) -> usize {
    parts.iter().map(Span::width).sum()
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

/// How the count of unseen messages shows in the header: it gives way before the rest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unseen {
    /// `3 new messages`
    Full,
    /// `3 new`
    Short,
    /// Left out (the message line still shows the most severe one).
    Hidden,
}

/// How the running chain shows in the header: it gives way after the unseen count and before
/// the slot name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ChainAs {
    /// `chain set1 2/4 · slot 11 bar 1/1 → 3`
    Full,
    /// `chain 2/4 → 3`
    Short,
    /// Left out.
    Hidden,
}

/// What the header's performance half shows, from everything down to the bare minimum.
#[derive(Clone, Copy)]
struct Fit {
    /// Columns the slot name may take.
    name_room: usize,
    unseen: Unseen,
    chain: ChainAs,
    /// The swing shows.
    swing: bool,
    /// The PREVIEW mark shows (the grid's title still says it previews).
    preview: bool,
}

impl Fit {
    /// Everything, whole.
    const ALL: Fit = Fit {
        name_room: usize::MAX,
        unseen: Unseen::Full,
        chain: ChainAs::Full,
        swing: true,
        preview: true,
    };
}

/// The running chain's text in the header, when a chain runs.
fn chain_text(ctl: &Controller, chain_as: ChainAs) -> Option<String> {
    let v = ctl.chain_view()?;
    Some(match chain_as {
        ChainAs::Full => v.label(),
        ChainAs::Short => {
            let next = match (v.hold, v.next) {
                (true, _) => "hold".to_string(),
                (false, Some(s)) => format!("→ {s}"),
                (false, None) => "→ stop".to_string(),
            };
            format!("chain {}/{} {next}", v.entry + 1, v.entries)
        }
        ChainAs::Hidden => return None,
    })
}

/// The performance half: play state, tempo, position, slot, queue, chain, recording, then how
/// many messages are unseen, as much of it as `fit` says.
fn left(ui: &UiState, ctl: &Controller, fit: Fit) -> Parts {
    let Fit {
        name_room,
        unseen: unseen_as,
        chain: chain_as,
        ..
    } = fit;
    let st = ctl.status();
    let mut p: Parts = Vec::new();
    if st.muted {
        p.push(Span::styled(" ■ AUDIO OFF", theme::recording()));
    } else if st.running {
        p.push(Span::styled(" ▶ PLAY", theme::playing()));
    } else {
        p.push(Span::styled(" ■ STOP", theme::text()));
    }
    // Fill is a performance state as telling as the play state: it stands beside it.
    if ctl.fill() {
        p.push(Span::styled(" FILL", theme::recording()));
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
    p.push(Span::styled("  ", theme::dim()));
    let tempo = mark(
        theme::strong(),
        diff.is_some_and(|d| d.tempo_changed.is_some()),
    );
    let playing = ctl.playing();
    // With Link on, the session's tempo is the one that plays (and the one shown), with its
    // peers beside it; the song keeps its own tempo for its file.
    let link = ctl.link_status();
    let bpm = link.map_or(playing.bpm, |l| l.tempo);
    p.push(Span::styled(format!("{bpm:.1}"), tempo));
    p.push(Span::styled(" BPM", theme::dim()));
    if let Some(l) = link {
        let peers = match (fit.swing, l.peers) {
            (true, 1) => " 1 peer".to_string(),
            (true, n) => format!(" {n} peers"),
            (false, n) => format!(" {n}"),
        };
        p.push(Span::styled(" LINK", theme::playing()));
        p.push(Span::styled(peers, theme::text()));
    }
    if fit.swing {
        p.push(Span::styled("  swing ", theme::dim()));
        let swing = mark(
            theme::text(),
            diff.is_some_and(|d| d.swing_changed.is_some()),
        );
        p.push(Span::styled(
            format!("{:.1}%", sequencer::swing_percent(playing.swing)),
            swing,
        ));
    }
    p.push(Span::styled("  bar ", theme::dim()));
    let step = st.step_in_bar;
    p.push(Span::styled(
        format!("{}.{}.{}", st.bar, step / 4 + 1, step % 4 + 1),
        theme::strong(),
    ));
    p.push(Span::styled("  ", theme::dim()));
    match playing.slot {
        Some(n) => {
            p.push(Span::styled(format!("slot {n}"), theme::strong()));
            // Quotes and the space before them take 3 columns; a name with less room than a
            // few characters is left out rather than shown as an ellipsis alone.
            if !playing.name.is_empty() && name_room >= 3 + 6 {
                let name = super::draw::shorten_middle(&escape(playing.name), name_room - 3);
                p.push(Span::styled(format!(" \"{name}\""), theme::text()));
            }
        }
        None => p.push(Span::styled("new song", theme::text())),
    }
    if ctl.is_dirty() {
        p.push(Span::styled(" *", theme::solo()));
    }
    if let Some(text) = queued_text(ctl) {
        p.push(Span::styled("  ", theme::pending()));
        p.push(Span::styled(text, theme::pending()));
    }
    if let Some(text) = chain_text(ctl, chain_as) {
        p.push(Span::styled("  ", theme::dim()));
        p.push(Span::styled(escape(&text).into_owned(), theme::pending()));
    }
    if ui.preview && ctl.queued().is_some() && fit.preview {
        p.push(Span::styled("  PREVIEW", theme::pending()));
    }
    if ctl.recording().is_some() {
        p.push(Span::styled("  ● REC", theme::recording()));
    }
    let unseen = ui.unseen();
    if unseen > 1 {
        match unseen_as {
            Unseen::Full => p.push(Span::styled(
                format!("  {unseen} new messages"),
                theme::dim(),
            )),
            Unseen::Short => p.push(Span::styled(format!("  {unseen} new"), theme::dim())),
            Unseen::Hidden => {}
        }
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
    p.push(Span::styled(format!(" {backend}"), theme::dim()));
    p.push(Span::styled("  load ", theme::dim()));
    let load_style = if st.load_max >= 80.0 {
        theme::level(crate::control::Level::Warning)
    } else {
        theme::text()
    };
    p.push(Span::styled(format!("{:.1}%", st.load_mean), load_style));
    p.push(Span::styled(
        format!(" (max {:.1}%)", st.load_max),
        theme::dim(),
    ));
    p.push(Span::styled("  xruns ", theme::dim()));
    let xrun_style = if st.xruns > 0 {
        theme::level(crate::control::Level::Warning)
    } else {
        theme::text()
    };
    p.push(Span::styled(st.xruns.to_string(), xrun_style));
    p.push(Span::styled(" ", theme::dim()));
    p
}

/// The performance half fitted to `cols`. What gives way, in order: the count of unseen
/// messages (shortened, then left out), the running chain's full text (to its short form),
/// the slot name (shortened, then left out), the swing (Link's peers then show as a bare
/// count, `LINK 2`), the PREVIEW mark (the grid's title
/// still says it previews), then the chain's short form. The play state, tempo, position,
/// queue countdown and REC always show whole, at 80 columns late in a long set too.
fn left_fitted(ui: &UiState, ctl: &Controller, cols: usize) -> Parts {
    let mut fit = Fit::ALL;
    let first: [fn(&mut Fit); 4] = [
        |_| {},
        |f| f.unseen = Unseen::Short,
        |f| f.unseen = Unseen::Hidden,
        |f| f.chain = ChainAs::Short,
    ];
    for step in first {
        step(&mut fit);
        let whole = left(ui, ctl, fit);
        if width(&whole) <= cols {
            return whole;
        }
    }
    // The name shortens to what is left, once the rest fits without it.
    let rest: [fn(&mut Fit); 4] = [
        |_| {},
        |f| f.swing = false,
        |f| f.preview = false,
        |f| f.chain = ChainAs::Hidden,
    ];
    for step in rest {
        step(&mut fit);
        let bare = width(&left(
            ui,
            ctl,
            Fit {
                name_room: 0,
                ..fit
            },
        ));
        if bare <= cols {
            let whole = width(&left(ui, ctl, fit));
            let over = whole.saturating_sub(cols);
            let name_width = whole - bare;
            return left(
                ui,
                ctl,
                Fit {
                    name_room: name_width.saturating_sub(over),
                    ..fit
                },
            );
        }
    }
    left(
        ui,
        ctl,
        Fit {
            name_room: 0,
            ..fit
        },
    )
}

/// Terminal width from which the bar may take a single row.
const ONE_ROW: u16 = 160;

/// Rows the bar takes at this width: one on very wide screens when both halves fit side by
/// side, else two. Mostly decided by the width alone, so the screen does not jump when a
/// slot gets queued or recording starts.
pub fn rows(cols: u16, ui: &UiState, ctl: &Controller) -> u16 {
    if cols >= ONE_ROW && width(&left(ui, ctl, Fit::ALL)) + 2 + width(&right(ctl)) <= cols as usize
    {
        1
    } else {
        2
    }
}

/// Draws the bar.
pub fn draw(area: Rect, buf: &mut Buffer, ui: &UiState, ctl: &Controller) {
    if area.height == 0 {
        return;
    }
    let row = |i: u16| Rect {
        y: area.y + i,
        height: 1,
        ..area
    };
    Line::from(left_fitted(ui, ctl, area.width as usize)).render(row(0), buf);
    let r = Line::from(right(ctl));
    if area.height >= 2 {
        r.render(row(1), buf);
    } else {
        r.right_aligned().render(row(0), buf);
    }
}
