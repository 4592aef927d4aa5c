//! Notes as text (OSC, UI entry): `"C4, A#2 Eb3 261.63 60"` ↔ frequencies in Hz.
//!
//! A token with a `.` is Hz, an all-digit token is a MIDI note number, anything else is a note
//! name (`C4` = MIDI 60 = 261.63 Hz, `A#2`, `Eb3`, default octave 4). Equal temperament, A4 = 440.

/// Why a notes text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotesError {
    /// A token is neither Hz, a MIDI number nor a note name.
    #[error(
        "{} is not a note: write Hz with a dot (261.63), a MIDI number (60) or a note name (C4, A#2, Eb3)",
        quote(token)
    )]
    NotANote {
        /// The token as written.
        token: String,
    },
    /// A frequency that is not a positive number.
    #[error(
        "{} is not a usable frequency: Hz must be a positive number",
        quote(token)
    )]
    BadHz {
        /// The token as written.
        token: String,
    },
    /// A MIDI number above 127.
    #[error("{} is not a MIDI note number: those run from 0 to 127", quote(token))]
    BadMidi {
        /// The token as written.
        token: String,
    },
    /// More notes than a track holds.
    #[error(transparent)]
    TooMany(#[from] LimitError),
}

use super::limits::{self, LimitError};
use super::text::quote;

const NAMES: [&str; 12] = [
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];

/// Frequency of a MIDI note number, rounded to 0.01 Hz (at most 0.5 cent off at 20 Hz) so slot
/// files show `261.63` rather than `261.6255653005986`.
pub fn midi_to_hz(midi: f64) -> f64 {
    let hz = 440.0 * 2f64.powf((midi - 69.0) / 12.0);
    (hz * 100.0).round() / 100.0
}

/// Parses notes written as text into frequencies in Hz. Tokens are separated by commas and/or
/// whitespace; an empty text gives an empty list.
/// More than [`MAX_NOTES`](super::limits::MAX_NOTES) notes is an error.
pub fn parse_notes(text: &str) -> Result<Vec<f64>, NotesError> {
    let tokens = || {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
    };
    limits::NOTES.check(tokens().count())?;
    tokens().map(parse_note).collect()
}

/// Notes read from a script, a file or the prompt the way Music Chronus read them: one bad
/// entry does not refuse the list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadNotes {
    /// The notes, in Hz, each inside the voices' frequency range.
    pub hz: Vec<f64>,
    /// One sentence per entry that was skipped or moved into range, naming the entry.
    pub warnings: Vec<String>,
}

/// Reads notes text as a track plays it. Tokens are separated by commas and/or whitespace
/// (so `"C4 E4 G4"` is three notes, as on the tracker's prompt; Music Chronus split on
/// commas only and read that text as one C4 by accident). Each token is read as
/// [`parse_note`] reads it; a note outside the voices' frequency range (20–5000 Hz, a MIDI
/// number above 127, `C10`) plays at the nearest end of the range, and a token that is no
/// note at all is skipped, each with a warning naming the token. Only a list longer than
/// [`MAX_NOTES`](super::limits::MAX_NOTES) is refused whole.
pub fn read_notes(text: &str) -> Result<ReadNotes, LimitError> {
    let tokens = || {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
    };
    limits::NOTES.check(tokens().count())?;
    let mut out = ReadNotes::default();
    for token in tokens() {
        match read_note(token) {
            Ok((hz, None)) => out.hz.push(hz),
            Ok((hz, Some(why))) => {
                out.hz.push(hz);
                out.warnings.push(why);
            }
            Err(why) => out.warnings.push(why),
        }
    }
    Ok(out)
}

/// One token of [`read_notes`]: the frequency it plays and, when it was moved into range,
/// why; or why it is skipped.
fn read_note(token: &str) -> Result<(f64, Option<String>), String> {
    let spec = &super::registry::VOICE_PARAMS[super::registry::voice::FREQ];
    let raw = match parse_note(token) {
        Ok(hz) => hz,
        Err(NotesError::BadMidi { .. }) => {
            // All digits, above 127: far above the range whatever its size.
            f64::INFINITY
        }
        Err(NotesError::BadHz { .. }) => match token.parse::<f64>() {
            Ok(hz) if hz.is_finite() => hz,
            _ => return Err(skipped(token)),
        },
        Err(_) => match parse_name_any_octave(token) {
            Some(midi) => 440.0 * 2f64.powf((midi as f64 - 69.0) / 12.0),
            None => return Err(skipped(token)),
        },
    };
    if (spec.min..=spec.max).contains(&raw) {
        return Ok((raw, None));
    }
    let plays = raw.clamp(spec.min, spec.max);
    Ok((
        plays,
        Some(format!(
            "note {} is outside {}–{} Hz: plays {} Hz",
            quote(token),
            spec.min,
            spec.max,
            plays
        )),
    ))
}

fn skipped(token: &str) -> String {
    format!(
        "{} is not a note (Hz with a dot, a MIDI number or a name like C4): skipped",
        quote(token)
    )
}

/// A note name with any octave a script may write (`C10`, `A-3`), to its MIDI number, which
/// may lie outside 0–127.
fn parse_name_any_octave(token: &str) -> Option<i64> {
    let mut chars = token.chars();
    let letter = chars.next()?.to_ascii_uppercase();
    let semitone: i64 = match letter {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    };
    let rest = chars.as_str();
    let accidentals = rest
        .chars()
        .take_while(|c| matches!(c, '#' | '♯' | 'b' | '♭'))
        .collect::<Vec<_>>();
    let shift: i64 = accidentals
        .iter()
        .map(|c| if matches!(c, '#' | '♯') { 1 } else { -1 })
        .sum();
    let used: usize = accidentals.iter().map(|c| c.len_utf8()).sum();
    let octave_text = &rest[used..];
    // A few digits at most: anything longer is not an octave anybody means.
    if octave_text.len() > 4 {
        return None;
    }
    let octave: i64 = octave_text.parse().ok()?;
    Some((octave + 1) * 12 + semitone + shift)
}

/// Parses one note token (see [`parse_notes`]).
pub fn parse_note(token: &str) -> Result<f64, NotesError> {
    if token.contains('.') {
        return match token.parse::<f64>() {
            Ok(hz) if hz.is_finite() && hz > 0.0 => Ok(hz),
            Ok(_) => Err(NotesError::BadHz {
                token: token.to_string(),
            }),
            Err(_) => Err(NotesError::NotANote {
                token: token.to_string(),
            }),
        };
    }
    if token.bytes().all(|b| b.is_ascii_digit()) {
        return match token.parse::<u32>() {
            Ok(n) if n <= 127 => Ok(midi_to_hz(n as f64)),
            _ => Err(NotesError::BadMidi {
                token: token.to_string(),
            }),
        };
    }
    parse_name(token)
        .map(|midi| midi_to_hz(midi as f64))
        .ok_or_else(|| NotesError::NotANote {
            token: token.to_string(),
        })
}

/// A note name (`C`, `A#2`, `Eb3`, `c#-1`) to its MIDI number; octave 4 when none is given.
fn parse_name(token: &str) -> Option<i32> {
    let mut chars = token.chars();
    let letter = chars.next()?.to_ascii_uppercase();
    let mut semitone: i32 = match letter {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    };
    let rest = chars.as_str();
    let mut octave_at = rest.len();
    for (i, c) in rest.char_indices() {
        match c {
            '#' | '♯' => semitone += 1,
            'b' | '♭' => semitone -= 1,
            _ => {
                octave_at = i;
                break;
            }
        }
    }
    let octave_text = &rest[octave_at..];
    let octave: i32 = if octave_text.is_empty() {
        4
    } else {
        octave_text.parse().ok().filter(|o| (-1..=9).contains(o))?
    };
    let midi = (octave + 1) * 12 + semitone;
    (0..=127).contains(&midi).then_some(midi)
}

/// The name of the note nearest to `hz` (`261.63` → `C4`); `?` for a non-positive frequency.
pub fn note_name(hz: f64) -> String {
    if !(hz.is_finite() && hz > 0.0) {
        return "?".to_string();
    }
    let midi = (69.0 + 12.0 * (hz / 440.0).log2()).round() as i64;
    let name = NAMES[midi.rem_euclid(12) as usize];
    format!("{name}{}", midi.div_euclid(12) - 1)
}

/// Notes as names separated by spaces (`C2 C2 D#2`), for display.
pub fn notes_to_names(notes: &[f64]) -> String {
    notes
        .iter()
        .map(|&hz| note_name(hz))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_tokens_parse_to_hz() {
        assert_eq!(
            parse_notes("C4, A#2 Eb3 261.63 60").unwrap(),
            vec![261.63, 116.54, 155.56, 261.63, 261.63]
        );
        assert_eq!(parse_notes("A").unwrap(), vec![440.0]);
        assert_eq!(parse_notes("a4,,A5").unwrap(), vec![440.0, 880.0]);
        assert_eq!(parse_notes("F#1 C-1").unwrap(), vec![46.25, 8.18]);
        assert_eq!(parse_notes("  ").unwrap(), Vec::<f64>::new());
        assert_eq!(parse_notes("bb3").unwrap(), vec![233.08]);
    }

    #[test]
    fn bad_tokens_are_named() {
        assert_eq!(
            parse_notes("C4 H2").unwrap_err(),
            NotesError::NotANote {
                token: "H2".to_string()
            }
        );
        assert!(matches!(
            parse_notes("128"),
            Err(NotesError::BadMidi { .. })
        ));
        assert!(matches!(parse_notes("-5.0"), Err(NotesError::BadHz { .. })));
        assert!(matches!(
            parse_notes("C10"),
            Err(NotesError::NotANote { .. })
        ));
        assert!(matches!(
            parse_notes("1.2.3"),
            Err(NotesError::NotANote { .. })
        ));
        let msg = parse_notes("x").unwrap_err().to_string();
        assert!(msg.contains("\"x\" is not a note"), "{msg}");
        // A huge token is quoted cut short, its control characters escaped.
        let msg = parse_notes(&format!("\u{1b}{}", "Q".repeat(5000)))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("\"\\u{1b}QQQ") && msg.len() < 200, "{msg}");
    }

    #[test]
    fn read_notes_clamps_out_of_range_entries_and_skips_unreadable_ones() {
        let read = read_notes("C4, H2, 200, 10000.0, C10, 0.5, xyz, -3.0, 45").unwrap();
        assert_eq!(
            read.hz,
            vec![261.63, 5000.0, 5000.0, 5000.0, 20.0, 20.0, 110.0]
        );
        assert_eq!(read.warnings.len(), 7, "{:?}", read.warnings);
        assert!(read.warnings[0].contains("\"H2\" is not a note"));
        assert!(read.warnings[0].ends_with("skipped"));
        assert_eq!(
            read.warnings[1],
            "note \"200\" is outside 20–5000 Hz: plays 5000 Hz"
        );
        assert!(read.warnings[2].contains("\"10000.0\""));
        assert!(read.warnings[3].contains("\"C10\""));
        assert!(read.warnings[5].contains("\"xyz\""));
        assert!(read.warnings[6].contains("\"-3.0\""));
        // Spaces separate notes as commas do: three notes, not one C4.
        assert_eq!(
            read_notes("C4 E4 G4").unwrap().hz,
            vec![261.63, 329.63, 392.0]
        );
        assert_eq!(
            read_notes("C4,E4,G4").unwrap(),
            read_notes("C4 E4 G4").unwrap()
        );
        // A list that is too long is still refused whole.
        assert!(read_notes(&vec!["C4"; super::limits::MAX_NOTES + 1].join(",")).is_err());
    }

    #[test]
    fn a_track_holds_at_most_max_notes() {
        let at_limit = vec!["C4"; super::limits::MAX_NOTES].join(" ");
        assert_eq!(
            parse_notes(&at_limit).unwrap().len(),
            super::limits::MAX_NOTES
        );
        let over = format!("{at_limit} C4");
        assert_eq!(
            parse_notes(&over).unwrap_err().to_string(),
            "a track may hold at most 256 notes; this one has 257"
        );
    }

    #[test]
    fn names_round_trip_through_hz() {
        assert_eq!(note_name(261.63), "C4");
        assert_eq!(note_name(440.0), "A4");
        assert_eq!(note_name(41.2), "E1");
        assert_eq!(note_name(36.7), "D1");
        assert_eq!(note_name(8.18), "C-1");
        assert_eq!(note_name(0.0), "?");
        for midi in 0..=127 {
            let hz = midi_to_hz(midi as f64);
            let back = parse_notes(&note_name(hz)).unwrap();
            assert_eq!(back, vec![hz], "midi {midi}");
        }
        assert_eq!(notes_to_names(&[65.41, 77.78]), "C2 D#2");
    }
}
