//! The parameter panel (generated from the registry) and the selected track's fields.

use crate::model::text::escape;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, HighlightSpacing, Row, StatefulWidget, Table, TableState, Widget};
use unicode_width::UnicodeWidthStr;

use crate::control::{Controller, fmt_num};
use crate::model::notes::note_name;
use crate::model::registry::{EFFECT_MODULES, ParamType, TRACK_FIELDS, delay, track};
use crate::model::slot::Heard;
use crate::model::{Module, ParamId, ParamSpec, Track};

use super::app::selected_voice;
use super::draw::{panel, panel_with, split_h, split_v};
use super::state::{PANEL_MODULES, Panel, UiState};
use super::theme;

/// Decimals that show a fine step of this parameter (and its smallest value).
pub fn decimals(spec: &ParamSpec) -> usize {
    if spec.ty == ParamType::Int {
        return 0;
    }
    let places = |v: f64| -> usize {
        if v <= 0.0 || v >= 1.0 {
            0
        } else {
            (-v.log10().floor()) as usize
        }
    };
    places(spec.fine_step()).max(places(spec.min)).min(4)
}

/// Most decimals a value is shown with; smaller values show in exponent form.
const MAX_DECIMALS: usize = 5;

/// A value as the panel shows it: the decimals a fine step of the parameter needs, more when
/// the value itself needs them to be read within 5 % (0.002 s is `0.002`, never `0.00`).
pub fn format_value(spec: &ParamSpec, v: f64) -> String {
    let mut places = decimals(spec);
    let close = |places: usize| {
        let shown: f64 = format!("{v:.places$}").parse().unwrap_or(v);
        (shown - v).abs() <= 0.05 * v.abs()
    };
    while !close(places) {
        if places == MAX_DECIMALS {
            return format!("{v:.1e}");
        }
        places += 1;
    }
    format!("{v:.places$}")
}

/// A value without trailing zeros (`0.3`, `1500`), for tight columns.
pub fn compact_value(spec: &ParamSpec, v: f64) -> String {
    let s = format_value(spec, v);
    // Exponent form (`2.0e-10`) ends in its exponent: no zeros of it to trim.
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn gauge(spec: &ParamSpec, v: f64, width: usize) -> String {
    let span = spec.max - spec.min;
    let frac = if span > 0.0 {
        ((v - spec.min) / span).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = (frac * width as f64).round() as usize;
    let mut s = "━".repeat(filled);
    s.push_str(&"─".repeat(width - filled));
    s
}

/// The module the panel shows and its title.
fn module_title(ui: &UiState, ctl: &Controller) -> (Module, String) {
    let voice = selected_voice(ui, ctl);
    let module = ui.panel_module(voice);
    let mut title = format!(" Params: {module} ");
    if let Module::Voice(_) = module
        && let Some(t) = super::draw::shown_song(ui, ctl)
            .sequencer
            .tracks
            .get(ui.track)
    {
        title = format!(" Params: {module} ({}) ", escape(&t.name));
    }
    (module, title)
}

/// Draws the parameter panel: every parameter of the shown module with value, unit, range.
pub fn draw_params(area: Rect, buf: &mut Buffer, ui: &UiState, ctl: &Controller) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let focused = ui.focus == Panel::Params && ui.overlay.is_none();
    let (module, title) = module_title(ui, ctl);
    let line = Line::from(title);
    let position = Line::from(format!(" {}/{PANEL_MODULES} ", ui.module + 1));
    let inner = panel_with(area, buf, line, Some(position), focused);
    if inner.height == 0 {
        return;
    }
    let specs = module.params();
    let rows = inner.height as usize;
    let sel = ui.param.min(specs.len() - 1);
    // The selected parameter stays in view, at the bottom when the list scrolls.
    let first = (sel + 1).saturating_sub(rows);
    let wide = inner.width >= 46;
    // Name, value, unit, a gauge on wide panels, range (or choice and range).
    let name_w = specs
        .iter()
        .map(|p| p.name.width())
        .max()
        .unwrap_or(0)
        .max(10);
    let mut widths = vec![
        Constraint::Length(name_w as u16),
        Constraint::Length(7),
        Constraint::Length(2),
    ];
    if wide {
        widths.push(Constraint::Length(10));
    }
    widths.push(Constraint::Fill(1));
    let table = Table::new(
        (0..specs.len()).map(|i| param_row(ui, ctl, module, i, i == sel, focused, wide)),
        widths,
    )
    .column_spacing(1)
    .highlight_symbol(Line::styled("▸", theme::title(focused)))
    .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::new()
        .with_offset(first)
        .with_selected(Some(sel));
    StatefulWidget::render(table, inner, buf, &mut state);
    // The selected parameter's description under the list when it all fits.
    if specs.len() + 2 <= rows {
        let heard = super::draw::shown_song(ui, ctl).heard(module.param_id(sel), Some(ui.track));
        let synced = super::draw::shown_song(ui, ctl)
            .delay_time_heard(module.param_id(sel))
            .is_some();
        let desc = if synced {
            "synced: h/l step the note value; a typed time frees it"
        } else if bypassed_by_acid(module, sel) {
            "acid1 replaces voice2's filter: this row shows and sets acid1's"
        } else if let Heard::NotHeard(why) = heard {
            why
        } else {
            specs[sel].desc
        };
        let (_, below) = split_v(inner, specs.len() as u16 + 1);
        let (_, below) = split_h(below, 1);
        Line::styled(desc, theme::dim()).render(below, buf);
    }
}

/// One parameter's row: name, value, unit, gauge, and its range (or its choice's name).
fn param_row(
    ui: &UiState,
    ctl: &Controller,
    module: Module,
    i: usize,
    is_sel: bool,
    focused: bool,
    wide: bool,
) -> Row<'static> {
    let spec = &module.params()[i];
    let id = module.param_id(i);
    // The value that sounds: a track's field where it overrides the voice on every hit, the
    // replacing control's where another one is heard instead (voice2's filter → acid1).
    let bpm = super::draw::shown_bpm(ui, ctl);
    let heard = super::draw::shown_song(ui, ctl).heard_at(id, Some(ui.track), bpm);
    let (v, not_heard) = match heard {
        Heard::Edit {
            id: heard_id,
            value,
        } if heard_id == id => (value, None),
        Heard::Edit { .. } => (super::draw::shown_song(ui, ctl).params.get(id), None),
        Heard::NotHeard(why) => (super::draw::shown_song(ui, ctl).params.get(id), Some(why)),
    };
    let name_style = match (is_sel, focused) {
        (true, true) => theme::cursor(),
        (true, false) => theme::selected(),
        (false, _) => theme::text(),
    };
    let value_style = if is_sel {
        theme::strong()
    } else {
        theme::text()
    };
    let value_style = if ui.changes.as_ref().is_some_and(|c| c.param(id)) {
        theme::changed(value_style)
    } else {
        value_style
    };
    let value = match (heard, not_heard) {
        (Heard::Edit { id: other, value }, _) if other != id => {
            Line::from(format_value(other.spec(), value)).right_aligned()
        }
        (_, Some(_)) => Line::from("—").right_aligned(),
        _ => Line::from(format_value(spec, v)).right_aligned(),
    };
    let unit = if not_heard.is_some() { "" } else { spec.unit };
    let mut cells = vec![
        Cell::from(spec.name).style(name_style),
        Cell::from(value).style(value_style),
        Cell::from(Span::styled(unit, theme::dim())),
    ];
    if wide {
        cells.push(Cell::from(Span::styled(gauge(spec, v, 10), theme::dim())));
    }
    let range = format!("{}–{}", fmt_num(spec.min), fmt_num(spec.max));
    let song = super::draw::shown_song(ui, ctl);
    let synced = song.delay_time_at(id, bpm).and(delay::note_value_name(
        song.params.get(ParamId::delay(delay::SYNC)),
    ));
    let range = match spec.choice_name(v) {
        // A synced delay time: the note value it follows (`sync` sets it; a nudge here frees
        // the time, starting from what plays).
        _ if synced.is_some() => Line::from(vec![
            Span::styled("sync ", theme::dim()),
            Span::styled(synced.unwrap_or_default(), theme::text()),
        ]),
        Some(name) => Line::from(vec![
            Span::styled(name, theme::text()),
            Span::styled(format!(" {range}"), theme::dim()),
        ]),
        // voice2 plays through acid1, which replaces its own low-pass: the row shows and edits
        // the control that is heard, and says which.
        None if bypassed_by_acid(module, i) => Line::styled("→ acid1", theme::dim()),
        None if not_heard.is_some() => Line::styled("not heard", theme::dim()),
        None => Line::styled(range, theme::dim()),
    };
    cells.push(Cell::from(range));
    Row::new(cells)
}

/// Draws the selected track's fields: notes by name and every numeric field.
pub fn draw_track(area: Rect, buf: &mut Buffer, ui: &UiState, ctl: &Controller) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let Some(t) = super::draw::shown_song(ui, ctl)
        .sequencer
        .tracks
        .get(ui.track)
    else {
        let inner = panel(area, buf, Line::from(" Track "), false);
        let (_, text) = split_h(inner, 1);
        Line::styled("no track", theme::dim()).render(text, buf);
        return;
    };
    let mut marks = String::new();
    if t.muted {
        marks.push_str(" M");
    }
    if t.solo {
        marks.push_str(" S");
    }
    let title = Line::from(vec![
        Span::raw(format!(" {} ", escape(&t.name))),
        Span::styled(format!("{}{marks} ", escape(&t.voice_id)), theme::dim()),
    ]);
    let inner = panel(area, buf, title, false);
    if inner.height == 0 {
        return;
    }
    let widths = [Constraint::Length(LABEL_W), Constraint::Fill(1)];
    let table = Table::new(track_rows(ui, t, inner), widths).column_spacing(1);
    Widget::render(table, inner, buf);
}

/// Width of the track panel's labels (`accent_boost`).
const LABEL_W: u16 = 12;

/// The track panel's rows: length, notes (on the rows the other fields leave free), then
/// every numeric field with its unit.
fn track_rows(ui: &UiState, t: &Track, inner: Rect) -> Vec<Row<'static>> {
    let numbers = [
        track::BASE_AMP,
        track::FILTER_FREQ,
        track::ACCENT_BOOST,
        track::ACCENT,
        track::REVERB_SEND,
        track::DELAY_SEND,
        track::GATE_FRAC,
        track::BASE_FREQ,
    ];
    let value_w = inner.width.saturating_sub(LABEL_W + 1) as usize;
    let note_rows = (inner.height as usize)
        .saturating_sub(1 + numbers.len())
        .max(1);
    let names: Vec<String> = t.notes.iter().map(|&hz| note_name(hz)).collect();
    let note_lines = if names.is_empty() {
        vec!["—".to_string()]
    } else {
        wrap_words(&names, value_w, note_rows)
    };
    let changed = |key: &str| ui.changes.as_ref().is_some_and(|c| c.field(&t.name, key));
    let row = |label: &'static str, value: String, unit: &'static str, changed: bool| {
        let style = if changed {
            theme::changed(theme::text())
        } else {
            theme::text()
        };
        let mut value = vec![Span::styled(value, style)];
        if !unit.is_empty() {
            value.push(Span::styled(format!(" {unit}"), theme::dim()));
        }
        Row::new([
            Cell::from(Span::styled(label, theme::dim())),
            Cell::from(Line::from(value)),
        ])
    };
    let len = t.pattern.chars().count();
    let mut rows = vec![row("length", format!("{len} steps"), "", false)];
    let notes_changed = changed(TRACK_FIELDS[track::NOTES].key);
    for (i, line) in note_lines.into_iter().enumerate() {
        rows.push(row(
            if i == 0 { "notes" } else { "" },
            line,
            "",
            notes_changed,
        ));
    }
    for i in numbers {
        let f = &TRACK_FIELDS[i];
        let value = format_value(&f.spec, t.number(i));
        rows.push(row(f.key, value, f.spec.unit, changed(f.key)));
    }
    rows
}

/// Joins words into at most `max_lines` lines of `width` columns (display width); a cut
/// list ends in how many words did not fit (`+4`). Not a `Paragraph` wrap: that can only
/// cut the list off, and the count is what tells a performer there are more notes.
fn wrap_words(words: &[String], width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![String::new()];
    for (i, w) in words.iter().enumerate() {
        let line = lines.last_mut().expect("one line");
        let needed = if line.is_empty() {
            w.width()
        } else {
            line.width() + 1 + w.width()
        };
        if needed <= width || line.is_empty() {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(w);
            continue;
        }
        if lines.len() == max_lines {
            let line = lines.last_mut().expect("one line");
            let mut rest = words.len() - i;
            loop {
                let more = format!(" +{rest}");
                match line.rfind(' ') {
                    Some(cut) if line.width() + more.width() > width => {
                        line.truncate(cut);
                        rest += 1;
                    }
                    _ => {
                        line.push_str(&more);
                        return lines;
                    }
                }
            }
        }
        lines.push(w.clone());
    }
    lines
}

/// Draws every effect module side by side, values only: the whole sound at a glance. The
/// module shown in the parameter panel is highlighted. Names are shown whole; a panel too
/// narrow for that shortens them and names the selected parameter whole in its title.
pub fn draw_modules(area: Rect, buf: &mut Buffer, ui: &UiState, ctl: &Controller) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let song = super::draw::shown_song(ui, ctl);
    let bpm = super::draw::shown_bpm(ui, ctl);
    // Each module's cells: (name, value, changed), and the width they need whole.
    let columns: Vec<Vec<(&'static str, String, bool)>> = EFFECT_MODULES
        .iter()
        .map(|module| {
            module
                .params()
                .iter()
                .enumerate()
                .map(|(i, spec)| {
                    let id = module.param_id(i);
                    let v = song.delay_time_at(id, bpm).unwrap_or(song.params.get(id));
                    let value = match spec.choice_name(v) {
                        Some(name) => name.to_string(),
                        None => compact_value(spec, v),
                    };
                    let changed = ui.changes.as_ref().is_some_and(|c| c.param(id));
                    (spec.name, value, changed)
                })
                .collect()
        })
        .collect();
    let needed: Vec<u16> = EFFECT_MODULES
        .iter()
        .zip(&columns)
        .map(|(module, cells)| {
            let widest = cells
                .iter()
                .map(|(name, value, _)| name.width() + 1 + value.width())
                .max()
                .unwrap_or(0);
            widest.max(module.to_string().width()) as u16
        })
        .collect();
    let n = EFFECT_MODULES.len() as u16;
    let inner_w = area.width.saturating_sub(2);
    // Whole names: each column as wide as it needs, two blanks between columns (one when
    // tight), the space left shared out evenly. Otherwise equal columns, names cut, and the
    // selected parameter named whole in the title.
    let whole = |gap: u16| needed.iter().sum::<u16>() + gap * (n - 1) + 2;
    let gap = if whole(2) <= inner_w { 2 } else { 1 };
    let fits = whole(gap) <= inner_w;
    let widths: Vec<u16> = if fits {
        let extra = (inner_w - whole(gap)) / n;
        needed.iter().map(|w| w + extra).collect()
    } else {
        vec![(inner_w / n).saturating_sub(gap); n as usize]
    };
    let mut title = vec![Span::raw(" Modules ")];
    if !fits
        && ui.module >= 1
        && let Some(module) = EFFECT_MODULES.get(ui.module - 1)
        && let Some(spec) = module.params().get(ui.param)
    {
        let (_, value, _) = &columns[ui.module - 1][ui.param];
        title.push(Span::styled(
            format!("· {module} {} {value} {} ", spec.name, spec.unit).replace("  ", " "),
            theme::dim(),
        ));
    }
    let inner = panel(area, buf, Line::from(title), false);
    if inner.height < 2 || widths.iter().any(|&w| w < 6) {
        return;
    }
    let mut x = inner.x + 1;
    for (c, (module, cells)) in EFFECT_MODULES.iter().zip(&columns).enumerate() {
        let column = Rect {
            x,
            width: widths[c].min(inner.right().saturating_sub(x)),
            ..inner
        };
        x += widths[c] + gap;
        let shown = ui.module == c + 1;
        let head_style = if shown {
            theme::title(ui.focus == Panel::Params)
        } else {
            theme::text()
        };
        Line::styled(module.to_string(), head_style).render(column, buf);
        for (i, (name, value, changed)) in cells.iter().enumerate() {
            let (_, row) = split_v(column, i as u16 + 1);
            let value_style = if *changed {
                theme::changed(theme::text())
            } else {
                theme::text()
            };
            let value = Line::styled(value.clone(), value_style).right_aligned();
            let name_style = if shown && ui.param == i {
                theme::selected()
            } else {
                theme::dim()
            };
            // The name takes what the value leaves, less a blank between them.
            let name_w = row.width.saturating_sub(value.width() as u16 + 1);
            let (name_area, _) = split_h(row, name_w);
            Line::styled(*name, name_style).render(name_area, buf);
            value.render(row, buf);
        }
    }
}

/// True for voice2's own filter settings, which acid1 replaces in the sound.
fn bypassed_by_acid(module: crate::model::Module, param: usize) -> bool {
    use crate::model::registry::voice;
    module == crate::model::Module::Voice(2)
        && (param == voice::FILTER_FREQ || param == voice::FILTER_Q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn notes_wrap_and_say_how_many_did_not_fit() {
        let w = words("C2 C2 D#2 G2 A#2 C3");
        assert_eq!(wrap_words(&w, 9, 3), ["C2 C2 D#2", "G2 A#2 C3"]);
        assert_eq!(wrap_words(&w, 9, 1), ["C2 C2 +4"]);
        assert_eq!(wrap_words(&w, 40, 1), ["C2 C2 D#2 G2 A#2 C3"]);
    }

    /// Every row of every panel, over its whole range: what shows reads back within 5 %
    /// of the value and fits the value column (7 cells).
    #[test]
    fn every_row_shows_its_value_within_5_percent_in_7_cells() {
        use crate::model::registry::{TrackFieldKind, VOICE_PARAMS, sequencer, voice};
        let mut specs: Vec<&ParamSpec> = [
            Module::Voice(1),
            Module::Acid,
            Module::Dist,
            Module::Reverb,
            Module::Delay,
            Module::Lfo1,
            Module::Lfo2,
        ]
        .iter()
        .flat_map(|m| m.params())
        .collect();
        specs.extend(
            TRACK_FIELDS
                .iter()
                .filter(|f| f.kind == TrackFieldKind::Number)
                .map(|f| &f.spec),
        );
        specs.extend([&sequencer::BPM, &sequencer::SWING]);
        let mut checked = 0;
        for spec in specs {
            let mut values = vec![
                spec.min,
                spec.max,
                spec.default,
                spec.min + spec.fine_step(),
            ];
            // A sweep over the range, evenly in log where the range allows it.
            let low = spec.min.max(1e-4);
            for k in 0..=60 {
                let f = k as f64 / 60.0;
                values.push(spec.min + (spec.max - spec.min) * f);
                if spec.max > low {
                    values.push(low * (spec.max / low).powf(f));
                }
            }
            for v in values.into_iter().map(|v| spec.clamp(v)) {
                let shown = format_value(spec, v);
                assert!(
                    shown.width() <= 7,
                    "{} {v}: {shown:?} is too wide",
                    spec.name
                );
                let back: f64 = shown.parse().unwrap();
                assert!(
                    (back - v).abs() <= 0.05 * v.abs(),
                    "{} {v} shows as {shown}",
                    spec.name
                );
                checked += 1;
            }
        }
        assert!(checked > 5_000, "{checked}");
        assert_eq!(format_value(&VOICE_PARAMS[voice::DECAY], 0.002), "0.002");
        assert_eq!(format_value(&VOICE_PARAMS[voice::AMP], 0.0004), "0.0004");
        assert_eq!(format_value(&VOICE_PARAMS[voice::AMP], 1e-7), "1.0e-7");
    }

    #[test]
    fn compact_values_in_exponent_form_keep_their_exponent() {
        use crate::model::registry::{VOICE_PARAMS, voice};
        let amp = &VOICE_PARAMS[voice::AMP];
        for v in [1e-7, 2e-10, 3e-20] {
            let shown = compact_value(amp, v);
            let back: f64 = shown.parse().unwrap();
            assert!((back - v).abs() <= 0.05 * v, "{v} shows as {shown}");
        }
    }

    #[test]
    fn values_show_as_many_decimals_as_a_fine_step_needs() {
        use crate::model::registry::{VOICE_PARAMS, voice};
        assert_eq!(format_value(&VOICE_PARAMS[voice::FREQ], 440.0), "440");
        assert_eq!(format_value(&VOICE_PARAMS[voice::AMP], 0.3), "0.300");
        assert_eq!(format_value(&VOICE_PARAMS[voice::ATTACK], 0.01), "0.010");
        assert_eq!(compact_value(&VOICE_PARAMS[voice::AMP], 0.3), "0.3");
        assert_eq!(VOICE_PARAMS[voice::WAVEFORM].choice_name(1.0), Some("saw"));
        assert_eq!(
            VOICE_PARAMS[voice::WAVEFORM].choice_name(5.0),
            Some("brown noise")
        );
        assert_eq!(VOICE_PARAMS[voice::AMP].choice_name(1.0), None);
    }
}
