//! The parameter panel (generated from the registry) and the selected track's fields.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::control::{Controller, fmt_num};
use crate::model::notes::note_name;
use crate::model::registry::{EFFECT_MODULES, ParamType, TRACK_FIELDS, track};
use crate::model::{Module, ParamSpec};

use super::app::selected_voice;
use super::draw::{panel, panel_with, put};
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

/// A value as the panel shows it: fixed decimals for the parameter.
pub fn format_value(spec: &ParamSpec, v: f64) -> String {
    format!("{v:.*}", decimals(spec))
}

/// A value without trailing zeros (`0.3`, `1500`), for tight columns.
pub fn compact_value(spec: &ParamSpec, v: f64) -> String {
    let s = format_value(spec, v);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// For an int parameter whose description lists its choices (`0 sine, 1 saw, …`), the name
/// of choice `v`.
pub fn choice_name(spec: &ParamSpec, v: f64) -> Option<&'static str> {
    if spec.ty != ParamType::Int {
        return None;
    }
    let want = format!("{}", v as i64);
    spec.desc.split(", ").find_map(|item| {
        let (n, name) = item.split_once(' ')?;
        (n == want).then_some(name)
    })
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
        title = format!(" Params: {module} ({}) ", t.name);
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
    // Room for the selected parameter's description under the list when it all fits.
    let desc_row = specs.len() < rows;
    let list_rows = rows;
    let first = if sel < list_rows {
        0
    } else {
        sel + 1 - list_rows
    };
    let right = inner.right();
    let wide = inner.width >= 46;
    for (row, (i, spec)) in specs
        .iter()
        .enumerate()
        .skip(first)
        .take(list_rows)
        .enumerate()
    {
        let y = inner.y + row as u16;
        let id = module.param_id(i);
        let v = super::draw::shown_song(ui, ctl).params.get(id);
        let is_sel = i == sel;
        let x = inner.x;
        let (marker, name_style) = if is_sel {
            (
                "▸",
                if focused {
                    theme::cursor()
                } else {
                    theme::selected()
                },
            )
        } else {
            (" ", theme::text())
        };
        put(buf, x, y, right, marker, theme::title(focused));
        put(
            buf,
            x + 1,
            y,
            right,
            &format!("{:<10}", spec.name),
            name_style,
        );
        let value = format_value(spec, v);
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
        put(buf, x + 12, y, right, &format!("{value:>7}"), value_style);
        put(buf, x + 20, y, right, spec.unit, theme::dim());
        let mut rx = x + 23;
        if wide {
            rx = put(buf, rx, y, right, &gauge(spec, v, 10), theme::dim()) + 1;
        }
        let range = match choice_name(spec, v) {
            Some(name) => {
                let rx2 = put(buf, rx, y, right, name, theme::text());
                put(
                    buf,
                    rx2 + 1,
                    y,
                    right,
                    &format!("{}–{}", fmt_num(spec.min), fmt_num(spec.max)),
                    theme::dim(),
                );
                continue;
            }
            None => format!("{}–{}", fmt_num(spec.min), fmt_num(spec.max)),
        };
        // voice2 plays through acid1, which replaces its own low-pass: say so where a
        // performer would otherwise turn a knob and hear nothing.
        let range = if bypassed_by_acid(module, i) {
            "→ acid1".to_string()
        } else {
            range
        };
        put(buf, rx, y, right, &range, theme::dim());
    }
    if desc_row && specs.len() + 1 < rows {
        let y = inner.y + specs.len() as u16 + 1;
        let desc = if bypassed_by_acid(module, sel) {
            "acid1 replaces voice2's filter: use acid1 cutoff/res"
        } else {
            specs[sel].desc
        };
        put(buf, inner.x + 1, y, right, desc, theme::dim());
    }
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
        if inner.height > 0 {
            put(
                buf,
                inner.x + 1,
                inner.y,
                inner.right(),
                "no track",
                theme::dim(),
            );
        }
        return;
    };
    let len = t.pattern.chars().count();
    let mut marks = String::new();
    if t.muted {
        marks.push_str(" M");
    }
    if t.solo {
        marks.push_str(" S");
    }
    let title = Line::from(vec![
        Span::raw(format!(" {} ", t.name)),
        Span::styled(format!("{}{marks} ", t.voice_id), theme::dim()),
    ]);
    let inner = panel(area, buf, title, false);
    if inner.height == 0 {
        return;
    }
    let right = inner.right();
    let label_w = 13u16;
    let value_w = inner.width.saturating_sub(label_w) as usize;
    let numbers = [
        track::BASE_AMP,
        track::FILTER_FREQ,
        track::ACCENT_BOOST,
        track::REVERB_SEND,
        track::DELAY_SEND,
        track::GATE_FRAC,
        track::BASE_FREQ,
    ];
    // Notes may take the rows the other fields leave free.
    let note_rows = (inner.height as usize)
        .saturating_sub(1 + numbers.len())
        .max(1);
    let names: Vec<String> = t.notes.iter().map(|&hz| note_name(hz)).collect();
    let note_lines = if names.is_empty() {
        vec!["—".to_string()]
    } else {
        wrap_words(&names, value_w, note_rows)
    };
    // (label, value, unit, changed on disk)
    let changed = |key: &str| ui.changes.as_ref().is_some_and(|c| c.field(&t.name, key));
    let mut rows: Vec<(&str, String, &str, bool)> = Vec::new();
    rows.push(("length", format!("{len} steps"), "", false));
    let notes_changed = changed(TRACK_FIELDS[track::NOTES].key);
    for (i, line) in note_lines.into_iter().enumerate() {
        rows.push((if i == 0 { "notes" } else { "" }, line, "", notes_changed));
    }
    for i in numbers {
        let f = &TRACK_FIELDS[i];
        let value = format_value(&f.spec, t.number(i));
        rows.push((f.key, value, f.spec.unit, changed(f.key)));
    }
    for (row, (label, value, unit, changed)) in rows.iter().enumerate().take(inner.height as usize)
    {
        let y = inner.y + row as u16;
        put(buf, inner.x, y, right, label, theme::dim());
        let value_style = if *changed {
            theme::changed(theme::text())
        } else {
            theme::text()
        };
        let x = put(buf, inner.x + label_w, y, right, value, value_style);
        if !unit.is_empty() {
            put(buf, x + 1, y, right, unit, theme::dim());
        }
    }
}

/// Joins words into at most `max_lines` lines of `width` columns; a cut list ends in `…`.
fn wrap_words(words: &[String], width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![String::new()];
    for (i, w) in words.iter().enumerate() {
        let line = lines.last_mut().expect("one line");
        let needed = if line.is_empty() {
            w.len()
        } else {
            line.len() + 1 + w.len()
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
                    Some(cut) if line.len() + more.len() > width => {
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
/// module shown in the parameter panel is highlighted.
pub fn draw_modules(area: Rect, buf: &mut Buffer, ui: &UiState, ctl: &Controller) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let inner = panel(area, buf, Line::from(" Modules "), false);
    if inner.height < 2 {
        return;
    }
    let n = EFFECT_MODULES.len() as u16;
    let col_w = inner.width / n;
    if col_w < 8 {
        return;
    }
    for (c, module) in EFFECT_MODULES.iter().enumerate() {
        let x = inner.x + c as u16 * col_w;
        let right = x + col_w - 1;
        let shown = ui.module == c + 1;
        let head_style = if shown {
            theme::title(ui.focus == Panel::Params)
        } else {
            theme::text()
        };
        put(buf, x + 1, inner.y, right, &module.to_string(), head_style);
        for (i, spec) in module.params().iter().enumerate() {
            let y = inner.y + 1 + i as u16;
            if y >= inner.bottom() {
                break;
            }
            let id = module.param_id(i);
            let v = super::draw::shown_song(ui, ctl).params.get(id);
            let value = compact_value(spec, v);
            let value_style = if ui.changes.as_ref().is_some_and(|c| c.param(id)) {
                theme::changed(theme::text())
            } else {
                theme::text()
            };
            let vw = value.chars().count() as u16;
            let vx = right.saturating_sub(vw).max(x + 1);
            let selected = shown && ui.param == i;
            let name_style = if selected {
                theme::selected()
            } else {
                theme::dim()
            };
            put(buf, x + 1, y, vx.saturating_sub(1), spec.name, name_style);
            put(buf, vx, y, right, &value, value_style);
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

    #[test]
    fn values_show_as_many_decimals_as_a_fine_step_needs() {
        use crate::model::registry::{VOICE_PARAMS, voice};
        assert_eq!(format_value(&VOICE_PARAMS[voice::FREQ], 440.0), "440");
        assert_eq!(format_value(&VOICE_PARAMS[voice::AMP], 0.3), "0.300");
        assert_eq!(format_value(&VOICE_PARAMS[voice::ATTACK], 0.01), "0.010");
        assert_eq!(compact_value(&VOICE_PARAMS[voice::AMP], 0.3), "0.3");
        assert_eq!(
            choice_name(&VOICE_PARAMS[voice::WAVEFORM], 1.0),
            Some("saw")
        );
        assert_eq!(
            choice_name(&VOICE_PARAMS[voice::WAVEFORM], 5.0),
            Some("brown noise")
        );
        assert_eq!(choice_name(&VOICE_PARAMS[voice::AMP], 1.0), None);
    }
}
