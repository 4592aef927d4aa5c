//! Per-voice and master level meters and the 8-band spectrum, as vertical bars.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Widget;

use crate::control::Controller;

use super::draw::{panel, split_v};
use super::theme;

/// Bottom of the meters' dB scale.
const FLOOR_DB: f32 = -48.0;
const EIGHTHS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A peak level (linear) on the meter scale, 0–1.
pub fn meter_fraction(peak: f32) -> f32 {
    let db = to_db(peak);
    ((db - FLOOR_DB) / -FLOOR_DB).clamp(0.0, 1.0)
}

fn to_db(peak: f32) -> f32 {
    if peak.is_finite() && peak > 0.0 {
        20.0 * peak.log10()
    } else {
        FLOOR_DB
    }
}

/// Draws one vertical bar of `height` rows with its bottom at `bottom` (exclusive).
fn vbar(buf: &mut Buffer, x: u16, bottom: u16, height: u16, frac: f32, db: Option<f32>) {
    let total = (frac.clamp(0.0, 1.0) * height as f32 * 8.0).round() as u32;
    for r in 0..height {
        let y = bottom - 1 - r;
        let level = total.saturating_sub(r as u32 * 8).min(8) as usize;
        // Each row takes the colour of the level it represents, so a loud bar turns yellow
        // and red towards its top.
        let row_db = FLOOR_DB * (1.0 - (r as f32 + 1.0) / height as f32);
        let style = match db {
            Some(_) => theme::meter(row_db),
            None => theme::text(),
        };
        let ch = EIGHTHS[level];
        buf[(x, y)].set_char(ch).set_style(style);
    }
}

/// Draws the meters: voices 1…N, master L and R, then the spectrum.
pub fn draw(area: Rect, buf: &mut Buffer, ctl: &Controller) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let st = ctl.status();
    let inner = panel(area, buf, title(st.master, st.limiting_db), false);
    if inner.height < 2 || inner.width < 4 {
        return;
    }
    let voices = ctl.voices().min(st.levels.len());
    let bars_w = voices as u16 + 1 + 2;
    let spectrum_w = st.spectrum.len() as u16;
    // The dB scale goes left of the bars when the panel has room for it.
    let scale = inner.width >= SCALE_W + bars_w + 2 + spectrum_w
        || (inner.width < bars_w + 2 + spectrum_w && inner.width >= SCALE_W + bars_w);
    let levels_w = bars_w + if scale { SCALE_W } else { 0 };
    let side_by_side = inner.width >= levels_w + 2 + spectrum_w;

    let (levels_area, spectrum_area) = if side_by_side {
        let la = Rect {
            width: levels_w,
            ..inner
        };
        let sa = Rect {
            x: inner.x + levels_w + 2,
            width: spectrum_w,
            ..inner
        };
        (la, Some(sa))
    } else if inner.height >= 6 {
        let (la, sa) = split_v(inner, inner.height / 2);
        (la, Some(sa))
    } else {
        (inner, None)
    };
    let bars_area = if scale {
        draw_scale(levels_area, buf);
        Rect {
            x: levels_area.x + SCALE_W,
            width: levels_area.width - SCALE_W,
            ..levels_area
        }
    } else {
        levels_area
    };
    draw_levels(
        bars_area,
        inner.right(),
        buf,
        &st.levels[..voices],
        &st.master,
    );
    if let Some(sa) = spectrum_area {
        draw_spectrum(sa, inner.right(), buf, &st.spectrum);
    }
}

/// Columns of the dB scale (`-12 `).
const SCALE_W: u16 = 4;

/// Limiter gain reduction (dB) from which the panel says the limiter is working.
const LIMITING_SHOWN_DB: f32 = 0.5;

/// The panel's title, with the clip and limiter light: `CLIP` (red) when the master reached
/// full scale, `LIM −3.2 dB` (yellow) while the limiter holds the level down.
fn title(master: [f32; 2], limiting_db: f32) -> Line<'static> {
    let mut spans = vec![ratatui::text::Span::raw(" Levels · Spectrum ")];
    let peak = master[0].max(master[1]);
    if to_db(peak) >= -0.1 {
        spans.push(ratatui::text::Span::styled(" CLIP ", theme::meter(0.0)));
    } else if limiting_db >= LIMITING_SHOWN_DB {
        spans.push(ratatui::text::Span::styled(
            format!(" LIM −{limiting_db:.1} dB "),
            theme::meter(-3.0),
        ));
    }
    Line::from(spans)
}

/// The rows of a bar `height` high whose top edge is at each mark of the scale (0, −12, −24,
/// −36 dB), from the top; rows too close to a mark above are left unlabelled.
fn scale_marks(height: u16) -> Vec<(u16, i32)> {
    let mut marks: Vec<(u16, i32)> = Vec::new();
    for db in [0, -12, -24, -36] {
        let frac = (db as f32 - FLOOR_DB) / -FLOOR_DB;
        let from_top = ((1.0 - frac) * height as f32).floor() as u16;
        if from_top < height && marks.last().is_none_or(|&(r, _)| from_top > r) {
            marks.push((from_top, db));
        }
    }
    marks
}

/// The dB scale beside the bars.
fn draw_scale(area: Rect, buf: &mut Buffer) {
    let bar_h = area.height.saturating_sub(1).min(8);
    for (row, db) in scale_marks(bar_h) {
        let label = Rect {
            y: area.y + row,
            height: 1,
            width: SCALE_W - 1,
            ..area
        };
        Line::styled(db.to_string(), theme::dim())
            .right_aligned()
            .render(label, buf);
    }
}

/// Voices' bars labelled 1…N, a gap, then master L and R; nothing at or past `right`.
fn draw_levels(area: Rect, right: u16, buf: &mut Buffer, voices: &[f32], master: &[f32]) {
    let bar_h = area.height.saturating_sub(1).min(8);
    if bar_h == 0 {
        return;
    }
    let bottom = area.y + bar_h;
    let voice_bars = voices.iter().enumerate().map(|(v, peak)| {
        let label = char::from_digit(((v + 1) % 10) as u32, 10).unwrap_or('?');
        (area.x + v as u16, *peak, label)
    });
    let mx = area.x + voices.len() as u16 + 1;
    let master_bars = master.iter().enumerate().map(|(c, peak)| {
        let label = if c == 0 { 'L' } else { 'R' };
        (mx + c as u16, *peak, label)
    });
    for (x, peak, label) in voice_bars.chain(master_bars) {
        if x >= right {
            continue;
        }
        let frac = meter_fraction(peak);
        vbar(buf, x, bottom, bar_h, frac, Some(to_db(peak)));
        buf[(x, bottom)].set_char(label).set_style(theme::dim());
    }
}

/// The spectrum, low to high, over its `lo    hi` label.
fn draw_spectrum(area: Rect, right: u16, buf: &mut Buffer, bands: &[f32]) {
    let bar_h = area.height.saturating_sub(1).min(8);
    if bar_h == 0 {
        return;
    }
    let bottom = area.y + bar_h;
    for (b, v) in bands.iter().enumerate() {
        let x = area.x + b as u16;
        if x >= right {
            break;
        }
        vbar(buf, x, bottom, bar_h, *v, None);
    }
    let labels = Rect {
        y: bottom,
        height: 1,
        width: right.saturating_sub(area.x),
        ..area
    };
    Line::styled("lo    hi", theme::dim()).render(labels, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_marks_sit_on_the_rows_their_levels_reach() {
        assert_eq!(scale_marks(8), vec![(0, 0), (2, -12), (4, -24), (6, -36)]);
        assert_eq!(scale_marks(4), vec![(0, 0), (1, -12), (2, -24), (3, -36)]);
        assert_eq!(scale_marks(2), vec![(0, 0), (1, -24)]);
        assert_eq!(scale_marks(0), vec![]);
    }

    #[test]
    fn the_light_says_clip_at_full_scale_and_lim_while_limiting() {
        let text = |l: Line| {
            l.spans
                .iter()
                .map(|s| s.content.to_string())
                .collect::<String>()
        };
        assert!(text(title([1.0, 0.2], 0.0)).contains("CLIP"));
        assert!(text(title([0.5, 0.5], 3.24)).contains("LIM −3.2 dB"));
        let quiet = text(title([0.5, 0.5], 0.1));
        assert!(!quiet.contains("LIM") && !quiet.contains("CLIP"), "{quiet}");
    }

    #[test]
    fn the_meter_scale_runs_from_minus_48_db_to_full_scale() {
        assert_eq!(meter_fraction(1.0), 1.0);
        assert_eq!(meter_fraction(0.0), 0.0);
        assert!((meter_fraction(0.5) - (1.0 - 6.0206 / 48.0)).abs() < 1e-4);
        assert_eq!(meter_fraction(f32::NAN), 0.0);
    }
}
