//! Per-voice and master level meters and the 8-band spectrum, as vertical bars.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;

use crate::control::Controller;

use super::draw::{panel, put};
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
    let right = inner.right();

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
        let h = inner.height / 2;
        let la = Rect { height: h, ..inner };
        let sa = Rect {
            y: inner.y + h,
            height: inner.height - h,
            ..inner
        };
        (la, Some(sa))
    } else {
        (inner, None)
    };

    // Voices and master.
    let bar_h = levels_area.height.saturating_sub(1).min(8);
    let bottom = levels_area.y + bar_h;
    let labels_y = bottom;
    if bar_h > 0 {
        for v in 0..voices {
            let x = levels_area.x + v as u16;
            if x >= right {
                break;
            }
            let peak = st.levels[v];
            vbar(
                buf,
                x,
                bottom,
                bar_h,
                meter_fraction(peak),
                Some(to_db(peak)),
            );
            let label = char::from_digit(((v + 1) % 10) as u32, 10).unwrap_or('?');
            buf[(x, labels_y)].set_char(label).set_style(theme::dim());
        }
        let mx = levels_area.x + voices as u16 + 1;
        for (c, peak) in st.master.iter().enumerate() {
            let x = mx + c as u16;
            if x >= right {
                break;
            }
            vbar(
                buf,
                x,
                bottom,
                bar_h,
                meter_fraction(*peak),
                Some(to_db(*peak)),
            );
            let label = if c == 0 { 'L' } else { 'R' };
            buf[(x, labels_y)].set_char(label).set_style(theme::dim());
        }
    }

    // Spectrum, low to high.
    if let Some(sa) = spectrum_area {
        let bar_h = sa.height.saturating_sub(1).min(8);
        if bar_h == 0 {
            return;
        }
        let bottom = sa.y + bar_h;
        for (b, v) in st.spectrum.iter().enumerate() {
            let x = sa.x + b as u16;
            if x >= right {
                break;
            }
            vbar(buf, x, bottom, bar_h, *v, None);
        }
        put(buf, sa.x, bottom, right, "lo    hi", theme::dim());
    }
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
