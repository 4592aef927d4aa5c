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
    let inner = panel(area, buf, Line::from(" Levels · Spectrum "), false);
    if inner.height < 2 || inner.width < 4 {
        return;
    }
    let st = ctl.status();
    let voices = ctl.voices().min(st.levels.len());
    let levels_w = voices as u16 + 1 + 2;
    let spectrum_w = st.spectrum.len() as u16;
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
    draw_levels(
        levels_area,
        inner.right(),
        buf,
        &st.levels[..voices],
        &st.master,
    );
    if let Some(sa) = spectrum_area {
        draw_spectrum(sa, inner.right(), buf, &st.spectrum);
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
    fn the_meter_scale_runs_from_minus_48_db_to_full_scale() {
        assert_eq!(meter_fraction(1.0), 1.0);
        assert_eq!(meter_fraction(0.0), 0.0);
        assert!((meter_fraction(0.5) - (1.0 - 6.0206 / 48.0)).abs() < 1e-4);
        assert_eq!(meter_fraction(f32::NAN), 0.0);
    }
}
