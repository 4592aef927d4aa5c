//! Text a person reads: names with their control characters escaped, user text quoted at a
//! bounded length, numbers in a bounded readable form, and error chains that say each cause
//! once. Every text output (the screen, headless lines, `ctl`, `slots list`, error messages)
//! goes through these, so a name holding an escape sequence cannot drive the terminal and a
//! number or a pasted text cannot flood a line.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters of user text quoted in a message before it is cut with `…`.
pub const QUOTE_CHARS: usize = 64;

/// True for the characters escaped on output: C0 and C1 controls, DEL, and the bidirectional
/// formatting characters, which reorder what a terminal shows after them.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `s` with every control character written as an escape (`\n`, `\t`, `\u{1b}`), so it shows
/// as visible text on one line. Borrows when there is nothing to escape.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_where(s, is_unsafe_char)
}

/// Like [`escape`], but keeps line breaks: for messages that are several lines by design.
pub fn escape_keep_lines(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\n' && is_unsafe_char(c))
}

fn escape_where(s: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text (as serde_json writes it) with the characters it leaves raw inside strings (DEL,
/// C1 controls, bidirectional formatting) written as `\uXXXX` escapes: the same JSON value,
/// safe on a terminal.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe_char) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if is_unsafe_char(c) {
            // Every such character is in the Basic Multilingual Plane: one \u escape each.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// User text for a message: escaped and cut to [`QUOTE_CHARS`] characters (with `…`).
pub fn clip(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(QUOTE_CHARS).collect();
    let mut out = escape(&head).into_owned();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// User text quoted for a message: `"…"`, escaped and cut like [`clip`].
pub fn quote(s: &str) -> String {
    format!("\"{}\"", clip(s))
}

/// Formats a number compactly and boundedly for messages: `0.25`, `1500`, `1.5e12`,
/// `2.5e-7`, and words for the values that are not numbers (`not a number`, `infinity`).
/// Never longer than about a dozen characters, whatever the value.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "not a number".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "infinity" } else { "-infinity" }.to_string();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e9).contains(&a) {
        return scientific(v);
    }
    if v.fract() == 0.0 || a >= 1e8 {
        // `-0` reads as 0.
        return format!("{:.0}", v + 0.0);
    }
    // Four decimals, fewer for big numbers: at most nine significant digits in all.
    let int_digits = a.log10().floor().max(0.0) as usize + 1;
    let decimals = 4.min(9usize.saturating_sub(int_digits));
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s == "0" {
        // Below the 4 decimals shown: keep the value's size visible.
        return scientific(v);
    }
    s.to_string()
}

/// Formats a number exactly (the shortest text that reads back as the same value), for
/// messages that quote a value someone sent: `4.999999`, not a rounded `5`. Very large and
/// very small numbers take the exponent form (`1e300`, not 301 digits), so the text stays
/// under 25 characters; NaN and the infinities are words as in [`fmt_num`].
pub fn fmt_exact(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        fmt_num(v)
    } else if a >= 1e16 || (a != 0.0 && a < 1e-4) {
        format!("{v:e}")
    } else {
        format!("{}", v + 0.0)
    }
}

/// `1.5e12`: at most four significant digits.
fn scientific(v: f64) -> String {
    let s = format!("{v:.3e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let m = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{m}e{exp}")
        }
        None => s,
    }
}

/// An error and its causes on one line, `outer: cause: root`, leaving out a cause whose text
/// the line already holds (an error that prints its source and also returns it), so each cause
/// is said once. Control characters are escaped; line breaks stay.
pub fn error_chain<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut line = String::new();
    for e in chain {
        let text = e.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    escape_keep_lines(&line).into_owned()
}

/// [`error_chain`] of an error and everything it wraps.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    error_chain(std::iter::successors(Some(e), |e| e.source()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(escape("kick"), "kick");
        assert!(matches!(escape("kick"), Cow::Borrowed(_)));
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\ny\tz\r"), "x\\ny\\tz\\r");
        assert_eq!(escape("\u{7f}\u{9b}"), "\\u{7f}\\u{9b}");
        assert_eq!(escape("abc\u{202e}cba"), "abc\\u{202e}cba");
        // Joiners inside emoji are not controls.
        assert_eq!(escape("👩\u{200d}🎤 ドラム"), "👩\u{200d}🎤 ドラム");
        assert_eq!(escape_keep_lines("a\nb\u{7}"), "a\nb\\u{7}");
        let value = serde_json::json!({ "name": "a\u{1b}b\u{9b}c\u{202e}d\u{7f}" });
        let line = escape_json(&value.to_string()).into_owned();
        assert!(!line.chars().any(is_unsafe_char), "{line}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).unwrap(),
            value
        );
    }

    #[test]
    fn quoted_text_is_bounded() {
        let long = "é".repeat(1000);
        let q = quote(&long);
        assert_eq!(q.chars().count(), QUOTE_CHARS + 3);
        assert!(q.ends_with("…\""));
        assert_eq!(quote("a\u{0}"), "\"a\\u{0}\"");
    }

    #[test]
    fn numbers_print_short_whatever_their_size() {
        let cases = [
            (0.25, "0.25"),
            (1500.0, "1500"),
            (-0.0, "0"),
            (120.5, "120.5"),
            (1e300, "1e300"),
            (-1.5e12, "-1.5e12"),
            (2.5e-7, "2.5e-7"),
            (0.00004, "4e-5"),
            (123_456_789.0, "123456789"),
            (f64::NAN, "not a number"),
            (f64::INFINITY, "infinity"),
            (f64::NEG_INFINITY, "-infinity"),
            (f64::MAX, "1.798e308"),
            (f64::MIN_POSITIVE, "2.225e-308"),
        ];
        for (v, want) in cases {
            assert_eq!(fmt_num(v), want, "{v:e}");
        }
        for i in 0..2000 {
            let v = f64::from_bits(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i + 1));
            assert!(fmt_num(v).chars().count() <= 12, "{v:e}: {}", fmt_num(v));
            let exact = fmt_exact(v);
            assert!(exact.chars().count() <= 24, "{v:e}: {exact}");
            if v.is_finite() {
                assert_eq!(exact.parse::<f64>().unwrap(), v, "{exact}");
            }
        }
        assert_eq!(fmt_exact(4.999999), "4.999999");
        assert_eq!(fmt_exact(1e300), "1e300");
        assert_eq!(fmt_exact(-0.0), "0");
        assert_eq!(fmt_exact(f64::NAN), "not a number");
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read x: {}", self.0)
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_the_message_already_holds_is_said_once() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(error_text(&e), "cannot read x: disk on fire");
        let wrapped = anyhow::Error::new(e).context("saving slot 3");
        assert_eq!(
            error_chain(wrapped.chain()),
            "saving slot 3: cannot read x: disk on fire"
        );
    }
}
