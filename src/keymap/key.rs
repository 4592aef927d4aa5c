//! Key notation: `a`, `X`, `<Space>`, `<C-s>`, `<S-Up>`, and its conversion from crossterm.
//!
//! One pressed key is a [`Key`]. Characters carry their case instead of a shift flag, because
//! terminals report `A` (not shift + `a`) and `?` (not shift + `/`); only named keys such as
//! arrows keep `shift`. The notation written by [`Key`]'s `Display` parses back to the same key.

use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode as TermCode, KeyEvent, KeyModifiers};

/// What was pressed, without modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyCode {
    /// A printable character (`' '` is the space bar), with its case.
    Char(char),
    /// Enter / Return.
    Enter,
    /// Escape.
    Esc,
    /// Tab.
    Tab,
    /// Shift + Tab.
    BackTab,
    /// Backspace.
    Backspace,
    /// Delete.
    Delete,
    /// Insert.
    Insert,
    /// Home.
    Home,
    /// End.
    End,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Function key `F1`…`F12`.
    F(u8),
}

/// The highest function key the notation accepts.
pub const MAX_FUNCTION_KEY: u8 = 12;

/// One key press: a code and its modifiers, normalised so equal presses compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key itself.
    pub code: KeyCode,
    /// Control held.
    pub ctrl: bool,
    /// Alt (Option, Meta) held.
    pub alt: bool,
    /// Shift held; always `false` for characters, whose case already says it.
    pub shift: bool,
}

/// Named keys of the notation, in the order the help lists them; the first name is canonical.
const NAMED: [(&str, KeyCode); 17] = [
    ("Space", KeyCode::Char(' ')),
    ("Enter", KeyCode::Enter),
    ("Esc", KeyCode::Esc),
    ("Tab", KeyCode::Tab),
    ("BackTab", KeyCode::BackTab),
    ("Backspace", KeyCode::Backspace),
    ("Delete", KeyCode::Delete),
    ("Insert", KeyCode::Insert),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("PageUp", KeyCode::PageUp),
    ("PageDown", KeyCode::PageDown),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("Lt", KeyCode::Char('<')),
];

/// Other spellings people write; accepted, never printed.
const ALIASES: [(&str, KeyCode); 10] = [
    ("Gt", KeyCode::Char('>')),
    ("Return", KeyCode::Enter),
    ("CR", KeyCode::Enter),
    ("Escape", KeyCode::Esc),
    ("BS", KeyCode::Backspace),
    ("Del", KeyCode::Delete),
    ("Ins", KeyCode::Insert),
    ("PgUp", KeyCode::PageUp),
    ("PgDn", KeyCode::PageDown),
    ("Minus", KeyCode::Char('-')),
];

impl Key {
    /// A key without modifiers.
    pub const fn plain(code: KeyCode) -> Key {
        Key {
            code,
            ctrl: false,
            alt: false,
            shift: false,
        }
    }

    /// A plain character key (`'A'` is shift + a).
    pub const fn char(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    /// The key with Control held.
    pub const fn with_ctrl(mut self) -> Key {
        self.ctrl = true;
        self
    }

    /// The key with Alt held.
    pub const fn with_alt(mut self) -> Key {
        self.alt = true;
        self
    }

    /// The key with Shift held (letters become upper case; other characters ignore it).
    pub fn with_shift(self) -> Key {
        Key::normalised(self.code, self.ctrl, self.alt, true)
    }

    /// Builds a key, folding shift into a character's case and Shift+Tab into BackTab.
    fn normalised(code: KeyCode, ctrl: bool, alt: bool, shift: bool) -> Key {
        let (code, shift) = match code {
            KeyCode::Char(c) => (KeyCode::Char(if shift { upper(c) } else { c }), false),
            KeyCode::Tab if shift => (KeyCode::BackTab, false),
            KeyCode::BackTab => (KeyCode::BackTab, false),
            other => (other, shift),
        };
        Key {
            code,
            ctrl,
            alt,
            shift,
        }
    }

    /// Converts a terminal key event; `None` for keys the notation cannot name (media keys,
    /// Caps Lock, function keys above F12) or presses with Super/Hyper/Meta held.
    pub fn from_event(event: &KeyEvent) -> Option<Key> {
        let m = event.modifiers;
        if m.intersects(KeyModifiers::SUPER | KeyModifiers::HYPER | KeyModifiers::META) {
            return None;
        }
        let code = match event.code {
            TermCode::Char(c) if !c.is_control() => KeyCode::Char(c),
            TermCode::Enter => KeyCode::Enter,
            TermCode::Esc => KeyCode::Esc,
            TermCode::Tab => KeyCode::Tab,
            TermCode::BackTab => KeyCode::BackTab,
            TermCode::Backspace => KeyCode::Backspace,
            TermCode::Delete => KeyCode::Delete,
            TermCode::Insert => KeyCode::Insert,
            TermCode::Home => KeyCode::Home,
            TermCode::End => KeyCode::End,
            TermCode::PageUp => KeyCode::PageUp,
            TermCode::PageDown => KeyCode::PageDown,
            TermCode::Up => KeyCode::Up,
            TermCode::Down => KeyCode::Down,
            TermCode::Left => KeyCode::Left,
            TermCode::Right => KeyCode::Right,
            TermCode::F(n) if (1..=MAX_FUNCTION_KEY).contains(&n) => KeyCode::F(n),
            _ => return None,
        };
        let (mut ctrl, mut alt) = (
            m.contains(KeyModifiers::CONTROL),
            m.contains(KeyModifiers::ALT),
        );
        // AltGr: Windows reports the symbols it types (`@`, `{`, `€` on European layouts) with
        // Ctrl and Alt held. The character is what was typed; Ctrl+Alt with a letter or a digit
        // stays a chord.
        if let KeyCode::Char(c) = code
            && ctrl
            && alt
            && !c.is_ascii_alphanumeric()
        {
            (ctrl, alt) = (false, false);
        }
        Some(Key::normalised(
            code,
            ctrl,
            alt,
            m.contains(KeyModifiers::SHIFT),
        ))
    }

    /// A short label for the help overlay and status line: `←`, `C-r`, `S-Tab`, `PgUp`, `x`.
    pub fn label(&self) -> String {
        let mut out = String::new();
        if self.ctrl {
            out.push_str("C-");
        }
        if self.alt {
            out.push_str("A-");
        }
        if self.shift {
            out.push_str("S-");
        }
        match self.code {
            KeyCode::Char(' ') => out.push_str("Space"),
            KeyCode::Char(c) => out.push(c),
            KeyCode::Enter => out.push_str("Enter"),
            KeyCode::Esc => out.push_str("Esc"),
            KeyCode::Tab => out.push_str("Tab"),
            KeyCode::BackTab => out.push_str("S-Tab"),
            KeyCode::Backspace => out.push_str("Bksp"),
            KeyCode::Delete => out.push_str("Del"),
            KeyCode::Insert => out.push_str("Ins"),
            KeyCode::Home => out.push_str("Home"),
            KeyCode::End => out.push_str("End"),
            KeyCode::PageUp => out.push_str("PgUp"),
            KeyCode::PageDown => out.push_str("PgDn"),
            KeyCode::Up => out.push('↑'),
            KeyCode::Down => out.push('↓'),
            KeyCode::Left => out.push('←'),
            KeyCode::Right => out.push('→'),
            KeyCode::F(n) => {
                out.push('F');
                out.push_str(&n.to_string());
            }
        }
        out
    }

    /// Every key the notation names without modifiers (for tests and documentation).
    pub fn named_codes() -> impl Iterator<Item = KeyCode> {
        NAMED
            .iter()
            .map(|&(_, code)| code)
            .chain((1..=MAX_FUNCTION_KEY).map(KeyCode::F))
    }
}

fn upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        // 'ß' upper-cases to "SS": no single key produces that, so keep the character.
        _ => c,
    }
}

impl TryFrom<KeyEvent> for Key {
    type Error = UnsupportedKey;

    fn try_from(event: KeyEvent) -> Result<Key, UnsupportedKey> {
        Key::from_event(&event).ok_or(UnsupportedKey(event))
    }
}

/// A terminal key event that has no place in the key notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("key {0:?} cannot be bound")]
pub struct UnsupportedKey(pub KeyEvent);

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = code_name(self.code);
        if !(self.ctrl || self.alt || self.shift) && name.chars().count() == 1 {
            return f.write_str(&name);
        }
        f.write_str("<")?;
        if self.ctrl {
            f.write_str("C-")?;
        }
        if self.alt {
            f.write_str("A-")?;
        }
        if self.shift {
            f.write_str("S-")?;
        }
        write!(f, "{name}>")
    }
}

/// The notation name of a code: the character itself, or a bracket name without brackets.
fn code_name(code: KeyCode) -> String {
    if let Some((name, _)) = NAMED.iter().find(|(_, c)| *c == code) {
        return (*name).to_string();
    }
    match code {
        // Inside brackets a bare `>` would read as the closing bracket.
        KeyCode::Char('>') => "Gt".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        other => format!("{other:?}"),
    }
}

/// Why a key notation did not parse; the message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad key `{text}`: {reason}")]
pub struct KeyParseError {
    /// The notation as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for Key {
    type Err = KeyParseError;

    fn from_str(text: &str) -> Result<Key, KeyParseError> {
        parse_key(text).map_err(|reason| KeyParseError {
            text: text.to_string(),
            reason,
        })
    }
}

fn parse_key(text: &str) -> Result<Key, String> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (None, _) => return Err("empty key".into()),
        (Some(c), None) => return plain_char(c).map(Key::char),
        _ => {}
    }
    let Some(inner) = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
        if text.starts_with('<') {
            return Err("missing the closing `>`".into());
        }
        return Err(
            "a key is one character or a name in angle brackets, like <Space> or <C-s>".into(),
        );
    };
    let (mut ctrl, mut alt, mut shift) = (false, false, false);
    let mut rest = inner;
    // A modifier is a letter and a dash; the final part (which may itself be `-`) is the key.
    while rest.chars().count() > 1 {
        let flag = match rest.get(..2) {
            Some("C-" | "c-") => &mut ctrl,
            Some("A-" | "a-" | "M-" | "m-") => &mut alt,
            Some("S-" | "s-") => &mut shift,
            _ => break,
        };
        if *flag {
            return Err(format!("modifier `{}` given twice", &rest[..1]));
        }
        *flag = true;
        rest = &rest[2..];
    }
    let code = if rest.chars().count() == 1 {
        let c = rest.chars().next().unwrap_or(' ');
        KeyCode::Char(plain_char(c)?)
    } else if rest.is_empty() {
        return Err("nothing after the modifiers".into());
    } else {
        named(rest).ok_or_else(|| {
            if let Some((modifier, _)) = rest.split_once('-') {
                format!("unknown modifier `{modifier}-` (use C-, A- or S-)")
            } else {
                format!(
                    "unknown key name `{rest}` (names: Space, Enter, Esc, Tab, BackTab, \
                     Backspace, Delete, Insert, Home, End, PageUp, PageDown, Up, Down, Left, \
                     Right, F1…F12, Lt)"
                )
            }
        })?
    };
    if let (true, KeyCode::Char(c)) = (shift, code)
        && upper(c) == c
        && c.to_lowercase().eq(std::iter::once(c))
    {
        return Err(format!(
            "shift with `{}` is ambiguous: write the character shift produces",
            Key::char(c)
        ));
    }
    Ok(Key::normalised(code, ctrl, alt, shift))
}

fn plain_char(c: char) -> Result<char, String> {
    if c == ' ' {
        Err("write the space bar as <Space>".into())
    } else if c.is_control() || c.is_whitespace() {
        Err(format!(
            "{c:?} cannot be bound; use a key name like <Tab> or <C-x>"
        ))
    } else {
        Ok(c)
    }
}

fn named(name: &str) -> Option<KeyCode> {
    if let Some(n) = name
        .strip_prefix('F')
        .or_else(|| name.strip_prefix('f'))
        .and_then(|d| d.parse::<u8>().ok())
    {
        return (1..=MAX_FUNCTION_KEY).contains(&n).then_some(KeyCode::F(n));
    }
    NAMED
        .iter()
        .chain(ALIASES.iter())
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, code)| code)
}

/// Formats a chord (a key sequence) in notation, one key after the other: `gg`, `<C-w>h`.
pub fn chord_notation(keys: &[Key]) -> String {
    keys.iter().map(Key::to_string).collect()
}

/// Formats a chord for the help overlay: `g g`, `C-w h`.
pub fn chord_label(keys: &[Key]) -> String {
    keys.iter().map(Key::label).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    /// How Windows consoles report keys: shifted symbols with Shift held (`!` for Shift+1),
    /// capitals with Shift, AltGr symbols with Ctrl+Alt. Each reads as the character typed,
    /// as the same keys do in a Unix terminal.
    #[test]
    fn windows_key_reports_read_as_the_character_typed() {
        let ev = |c: char, m: KeyModifiers| {
            Key::from_event(&KeyEvent::new(TermCode::Char(c), m)).unwrap()
        };
        let sc = KeyModifiers::SHIFT;
        let altgr = KeyModifiers::CONTROL | KeyModifiers::ALT;
        assert_eq!(ev('!', sc), ev('!', KeyModifiers::NONE));
        assert_eq!(ev('!', sc), key("!"));
        assert_eq!(ev('A', sc), key("A"));
        assert_eq!(ev('a', sc), key("A"));
        assert_eq!(ev('?', sc), key("?"));
        for c in ['@', '{', '}', '[', ']', '\\', '|', '~', '€', '²'] {
            assert_eq!(ev(c, altgr), Key::char(c), "{c}");
        }
        assert_eq!(ev('x', altgr), Key::char('x').with_ctrl().with_alt());
        assert_eq!(ev('s', KeyModifiers::CONTROL), key("<C-s>"));
    }

    #[test]
    fn shift_folds_into_letters_and_backtab() {
        assert_eq!(key("<S-a>"), Key::char('A'));
        assert_eq!(key("<C-S-x>"), Key::char('X').with_ctrl());
        assert_eq!(key("<S-Tab>"), Key::plain(KeyCode::BackTab));
        assert!(key("<S-Up>").shift);
        assert_eq!(key("<lt>"), Key::char('<'));
        assert_eq!(key("<"), Key::char('<'));
        assert_eq!(key("<C-->"), Key::char('-').with_ctrl());
        assert_eq!(key("<C-S>"), Key::char('S').with_ctrl());
    }

    #[test]
    fn bad_notation_is_explained() {
        for bad in [
            "", "<C-", "ab", "<Foo>", "<C->", "<S-1>", "<C-C-x>", " ", "<F13>", "<X-a>",
        ] {
            let err = bad.parse::<Key>().unwrap_err();
            assert_eq!(err.text, bad);
            assert!(!err.reason.is_empty());
        }
    }
}
