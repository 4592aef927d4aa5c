//! Keys written twice in one JSON object. A JSON parser keeps one of the two values without a
//! word, so a track pasted under a name already used would vanish; the slot reader refuses
//! such a file and names both places instead.
//!
//! The text has already been parsed by `serde_json` when this runs, so the scan only has to
//! follow the structure of valid JSON; it counts lines and columns as it goes (columns in
//! characters, like the reader's syntax errors).

use std::borrow::Cow;
use std::collections::HashMap;

use super::slot_read::child;

/// A key that appears twice in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// JSON path of the member, `sequencer.tracks.kick`.
    pub path: String,
    /// Line and column (1-based) where the key is first written.
    pub first: (usize, usize),
    /// Line and column (1-based) where it is written again.
    pub second: (usize, usize),
}

/// The first key written twice in one object of `text` (valid JSON), if any.
pub fn first_duplicate_key(text: &str) -> Option<DuplicateKey> {
    let mut scan = Scan {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        column: 1,
    };
    scan.value("").err()
}

struct Scan<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    column: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) {
        let Some(b) = self.peek() else { return };
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if b & 0xC0 != 0x80 {
            // Not a UTF-8 continuation byte: a new character.
            self.column += 1;
        }
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    /// A string starting at its opening quote; returns what is between the quotes, raw.
    fn string(&mut self) -> &'a str {
        self.bump();
        let start = self.pos;
        while let Some(b) = self.peek() {
            match b {
                b'"' => break,
                b'\\' => {
                    self.bump();
                    self.bump();
                }
                _ => self.bump(),
            }
        }
        let raw = &self.text[start..self.pos];
        self.bump();
        raw
    }

    fn value(&mut self, path: &str) -> Result<(), DuplicateKey> {
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.object(path),
            Some(b'[') => self.array(path),
            Some(b'"') => {
                self.string();
                Ok(())
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.bump();
                }
                Ok(())
            }
        }
    }

    fn object(&mut self, path: &str) -> Result<(), DuplicateKey> {
        self.bump();
        let mut seen: HashMap<Cow<'a, str>, (usize, usize)> = HashMap::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => return Ok(()),
                Some(b'}') => {
                    self.bump();
                    return Ok(());
                }
                Some(b'"') => {}
                // `,` between members (and nothing else in valid JSON).
                Some(_) => {
                    self.bump();
                    continue;
                }
            }
            let at = (self.line, self.column);
            let key = decode(self.string());
            let member = child(path, &key);
            if let Some(&first) = seen.get(&key) {
                return Err(DuplicateKey {
                    path: member,
                    first,
                    second: at,
                });
            }
            self.skip_space();
            // The `:`.
            self.bump();
            self.value(&member)?;
            seen.insert(key, at);
        }
    }

    fn array(&mut self, path: &str) -> Result<(), DuplicateKey> {
        self.bump();
        let mut index = 0;
        loop {
            self.skip_space();
            match self.peek() {
                None => return Ok(()),
                Some(b']') => {
                    self.bump();
                    return Ok(());
                }
                Some(b',') => {
                    self.bump();
                    index += 1;
                }
                Some(_) => self.value(&format!("{path}[{index}]"))?,
            }
        }
    }
}

/// A key as the parser sees it: escapes (`\u0061`) resolved, so `"a"` and `"\u0061"` are the
/// same key.
fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    serde_json::from_str::<String>(&format!("\"{raw}\"")).map_or(Cow::Borrowed(raw), Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a key is written: line and column.
    type At = (usize, usize);

    fn dup(text: &str) -> Option<(String, At, At)> {
        first_duplicate_key(text).map(|d| (d.path, d.first, d.second))
    }

    #[test]
    fn a_key_written_twice_is_found_with_both_places() {
        let text = "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, {\"y\": 2, \"y\": 3}]},\n  \"a\": 2\n}";
        assert_eq!(dup(text), Some(("b.x[1].y".to_string(), (3, 19), (3, 27))));
        assert_eq!(
            dup("{\"a\": 1,\n \"é\": \"}\\\"\", \"a\": 2}"),
            Some(("a".to_string(), (1, 2), (2, 14)))
        );
    }

    #[test]
    fn escaped_spellings_of_one_key_are_the_same_key() {
        assert_eq!(
            dup(r#"{"kick": 1, "\u006bick": 2}"#),
            Some(("kick".to_string(), (1, 2), (1, 13)))
        );
    }

    #[test]
    fn the_same_key_in_different_objects_is_fine() {
        assert_eq!(
            dup(r#"{"a": {"k": 1}, "b": {"k": 1}, "c": [{"k": 1}, {"k": 2}]}"#),
            None
        );
        assert_eq!(dup("[]"), None);
        assert_eq!(dup("12.5e3"), None);
    }
}
