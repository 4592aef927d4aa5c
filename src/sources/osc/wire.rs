//! OSC on the wire: safe decoding of untrusted datagrams, argument conversion, NTP time.
//!
//! rosc decodes nested bundles and arrays recursively, so a crafted datagram (a few thousand
//! nested bundles, or `[[[[…` type tags) could exhaust the stack while decoding or dropping
//! the result. [`decode`] therefore scans the nesting first and refuses anything deeper than
//! a real sender ever produces.

use rosc::{OscMessage, OscPacket, OscTime, OscType};

use crate::model::limits::{self, LimitError};
use crate::model::text::{fmt_exact, quote};
use crate::store::{SLOT_COUNT, SlotNumber, SlotText, read_slot_text};

/// Deepest bundle nesting accepted (a bundle inside a bundle inside a bundle …).
pub const MAX_BUNDLE_DEPTH: usize = 8;
/// Deepest array nesting accepted in a message's type tags.
pub const MAX_ARRAY_DEPTH: usize = 4;
/// Largest datagram read (the UDP maximum).
pub const MAX_DATAGRAM: usize = 65_536;

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: f64 = 2_208_988_800.0;
const TWO_POW_32: f64 = 4_294_967_296.0;

/// Decodes one datagram, refusing packets nested too deeply to handle safely.
pub fn decode(bytes: &[u8]) -> Result<OscPacket, String> {
    if bytes.is_empty() {
        return Err("empty datagram".into());
    }
    if !bytes.len().is_multiple_of(4) {
        return Err(format!(
            "datagram of {} bytes is not a multiple of 4 (not OSC)",
            bytes.len()
        ));
    }
    check_nesting(bytes, 0)?;
    match rosc::decoder::decode_udp(bytes) {
        Ok((_, packet)) => Ok(packet),
        Err(e) => Err(format!("not a valid OSC packet: {e}")),
    }
}

/// Walks bundle elements and message type tags without decoding anything else.
fn check_nesting(b: &[u8], depth: usize) -> Result<(), String> {
    if b.starts_with(b"#bundle\0") {
        if depth >= MAX_BUNDLE_DEPTH {
            return Err(format!("bundles nested deeper than {MAX_BUNDLE_DEPTH}"));
        }
        let mut i = 16;
        while i + 4 <= b.len() {
            let n = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
            i += 4;
            let end = i.saturating_add(n).min(b.len());
            check_nesting(&b[i..end], depth + 1)?;
            i = end;
        }
        return Ok(());
    }
    // A message: the address string, padded, then the type tag string.
    let Some(addr_end) = b.iter().position(|&c| c == 0) else {
        return Ok(());
    };
    let tags_start = (addr_end + 4) & !3;
    let Some(tags) = b.get(tags_start..) else {
        return Ok(());
    };
    let tags = &tags[..tags.iter().position(|&c| c == 0).unwrap_or(tags.len())];
    let mut level = 0usize;
    for &t in tags {
        match t {
            b'[' => {
                level += 1;
                if level > MAX_ARRAY_DEPTH {
                    return Err(format!("arrays nested deeper than {MAX_ARRAY_DEPTH}"));
                }
            }
            b']' => level = level.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Encodes a packet; messages built here always encode.
pub fn encode(packet: &OscPacket) -> Option<Vec<u8>> {
    rosc::encoder::encode(packet).ok()
}

/// A message with an address and arguments.
pub fn message(addr: &str, args: Vec<OscType>) -> OscMessage {
    OscMessage {
        addr: addr.to_string(),
        args,
    }
}

/// The OSC type name of an argument, for error messages.
pub fn type_name(arg: &OscType) -> &'static str {
    match arg {
        OscType::Int(_) => "int",
        OscType::Float(_) => "float",
        OscType::String(_) => "string",
        OscType::Blob(_) => "blob",
        OscType::Time(_) => "timetag",
        OscType::Long(_) => "long",
        OscType::Double(_) => "double",
        OscType::Char(_) => "char",
        OscType::Color(_) => "color",
        OscType::Midi(_) => "midi",
        OscType::Bool(_) => "bool",
        OscType::Array(_) => "array",
        OscType::Nil => "nil",
        OscType::Inf => "inf",
    }
}

/// A numeric argument: int, float, double, long, bool or numeric text (`"3.0"`).
pub fn number(arg: &OscType) -> Result<f64, String> {
    let v = match arg {
        OscType::Int(i) => *i as f64,
        // A 32-bit float stands for the decimal it prints as (0.1, not 0.10000000149011612),
        // so what a peer sends saves without float noise.
        OscType::Float(f) => f.to_string().parse().unwrap_or(*f as f64),
        OscType::Double(d) => *d,
        OscType::Long(l) => *l as f64,
        OscType::Bool(b) => f64::from(u8::from(*b)),
        OscType::String(s) => match s.trim().parse::<f64>() {
            Ok(v) => v,
            Err(_) => return Err(format!("{} is not a number", quote(s))),
        },
        other => return Err(format!("a {} is not a number", type_name(other))),
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{} is not a finite number", shown(arg)))
    }
}

/// A text argument; numbers are accepted and written as text (a track named `1`).
pub fn text(arg: &OscType) -> Result<String, String> {
    match arg {
        OscType::String(s) => Ok(s.clone()),
        OscType::Int(i) => Ok(i.to_string()),
        OscType::Long(l) => Ok(l.to_string()),
        OscType::Float(f) => Ok(f.to_string()),
        OscType::Double(d) => Ok(d.to_string()),
        OscType::Char(c) => Ok(c.to_string()),
        other => Err(format!("a {} is not text", type_name(other))),
    }
}

/// A yes/no argument: 1/0 (int, float or text), true/false (T/F or text), or the words given
/// in `yes` and `no`. Anything else is refused rather than read as "no".
pub fn flag(arg: &OscType, yes: &[&str], no: &[&str]) -> Result<bool, FlagError> {
    let refused = || FlagError {
        shown: shown(arg),
        yes: yes.join(", "),
        no: no.join(", "),
    };
    match arg {
        OscType::Bool(b) => Ok(*b),
        OscType::String(s) => {
            let w = s.trim().to_ascii_lowercase();
            match w.as_str() {
                "1" | "true" => Ok(true),
                "0" | "false" => Ok(false),
                w if yes.contains(&w) => Ok(true),
                w if no.contains(&w) => Ok(false),
                _ => Err(refused()),
            }
        }
        other => match number(other) {
            Ok(1.0) => Ok(true),
            Ok(0.0) => Ok(false),
            _ => Err(refused()),
        },
    }
}

/// A yes/no argument that is neither.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown} is not a yes/no value: write 1, true, {yes} (yes) or 0, false, {no} (no)")]
pub struct FlagError {
    /// The argument as shown in messages.
    pub shown: String,
    /// The words that mean yes.
    pub yes: String,
    /// The words that mean no.
    pub no: String,
}

/// An argument as a message quotes it: text quoted and cut, numbers bounded, T/F named.
pub fn shown(arg: &OscType) -> String {
    match arg {
        OscType::String(s) => quote(s),
        OscType::Int(i) => i.to_string(),
        OscType::Long(l) => l.to_string(),
        OscType::Float(f) => shown_float(*f as f64),
        OscType::Double(d) => shown_float(*d),
        OscType::Bool(true) => "true (T)".to_string(),
        OscType::Bool(false) => "false (F)".to_string(),
        other => format!("a {}", type_name(other)),
    }
}

/// A float as a message quotes what was sent: exact, bounded, `NaN` named as such.
fn shown_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else {
        fmt_exact(v)
    }
}

/// Why an argument is not a slot number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotArgError {
    /// Text that is no number at all.
    #[error("{shown} is not a number: {SLOT_RULE}")]
    NotANumber {
        /// The argument as shown.
        shown: String,
    },
    /// A fraction: nothing is rounded into a slot.
    #[error("{shown} is not a whole number: {SLOT_RULE}")]
    NotWhole {
        /// The argument as shown.
        shown: String,
    },
    /// A whole number written with a sign, an exponent or spaces.
    #[error("{shown} is not written plainly: {SLOT_RULE}")]
    NotPlain {
        /// The argument as shown.
        shown: String,
    },
    /// A whole number outside 1–128.
    #[error("{shown} is out of range: {SLOT_RULE}")]
    OutOfRange {
        /// The argument as shown.
        shown: String,
    },
    /// T, F, a blob, nil, …: not numbers at all.
    #[error("{shown} is not a slot number: {SLOT_RULE}")]
    WrongType {
        /// The argument as shown.
        shown: String,
    },
}

/// What a slot argument must be, as messages say it.
pub const SLOT_RULE: &str = "a slot is a whole number 1–128, sent as an int (5), a float (5.0) or plain digits (\"5\", \"5.0\")";

/// A slot number from an OSC argument, strictly: an int or long, a float or double holding a
/// whole number, or text of plain digits with at most a zero fraction (`"5"`, `"5.0"`). Signs,
/// exponents, spaces, fractions (`5.5`), T/F and every other type are refused; nothing is
/// rounded into a slot.
pub fn slot_number(arg: &OscType) -> Result<SlotNumber, SlotArgError> {
    let shown = shown(arg);
    let value = match arg {
        OscType::Int(i) => *i as f64,
        OscType::Long(l) => *l as f64,
        OscType::Float(f) => *f as f64,
        OscType::Double(d) => *d,
        OscType::String(s) => match read_slot_text(s) {
            SlotText::Plain(v) => v,
            SlotText::Fraction => return Err(SlotArgError::NotWhole { shown }),
            SlotText::NotPlain => return Err(SlotArgError::NotPlain { shown }),
            SlotText::NotANumber => return Err(SlotArgError::NotANumber { shown }),
        },
        _ => return Err(SlotArgError::WrongType { shown }),
    };
    if !value.is_finite() {
        return Err(SlotArgError::NotANumber { shown });
    }
    if value.fract() != 0.0 {
        return Err(SlotArgError::NotWhole { shown });
    }
    if !(1.0..=SLOT_COUNT as f64).contains(&value) {
        return Err(SlotArgError::OutOfRange { shown });
    }
    SlotNumber::new(value as u8).map_err(|_| SlotArgError::OutOfRange { shown })
}

/// A message whose address or arguments are larger than the OSC limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// The address is too long.
    #[error("the address: {0}")]
    Address(LimitError),
    /// A string or blob argument is too long.
    #[error("argument {index}: {error}")]
    Argument {
        /// 1-based position of the argument (inside arrays, of the array).
        index: usize,
        /// The limit and the size found.
        error: LimitError,
    },
}

/// Checks a message against the OSC size limits ([`limits::OSC_ADDRESS`],
/// [`limits::OSC_STRING`], [`limits::OSC_BLOB`]), arrays included.
pub fn check_sizes(msg: &OscMessage) -> Result<(), SizeError> {
    limits::OSC_ADDRESS
        .check(msg.addr.len())
        .map_err(SizeError::Address)?;
    for (i, arg) in msg.args.iter().enumerate() {
        check_arg(arg).map_err(|error| SizeError::Argument {
            index: i + 1,
            error,
        })?;
    }
    Ok(())
}

fn check_arg(arg: &OscType) -> Result<(), LimitError> {
    match arg {
        OscType::String(s) => limits::OSC_STRING.check(s.len()),
        OscType::Blob(b) => limits::OSC_BLOB.check(b.len()),
        OscType::Array(a) => a.content.iter().try_for_each(check_arg),
        _ => Ok(()),
    }
}

/// Shortens user text quoted in a message, so a huge string cannot make a huge reply, and
/// escapes its control characters.
pub fn clip(s: &str) -> String {
    crate::model::text::clip(s)
}

/// The NTP timetag of a Unix time (seconds).
pub fn ntp_from_unix(t: f64) -> OscTime {
    let ntp = t + NTP_UNIX_OFFSET;
    if !ntp.is_finite() || ntp < 0.0 {
        return OscTime {
            seconds: 0,
            fractional: 1,
        };
    }
    let mut secs = ntp.floor();
    let mut frac = ((ntp - secs) * TWO_POW_32).round();
    if frac >= TWO_POW_32 {
        secs += 1.0;
        frac = 0.0;
    }
    OscTime {
        // NTP seconds wrap every 2^32 s (era 1 starts in 2036); the wrap is what NTP expects.
        seconds: (secs as u64 & 0xffff_ffff) as u32,
        fractional: frac as u32,
    }
}

/// The Unix time of an NTP timetag, or `None` for "immediately" (0.000…1).
pub fn unix_from_ntp(t: OscTime) -> Option<f64> {
    if t.seconds == 0 && t.fractional <= 1 {
        return None;
    }
    let mut s = t.seconds as f64 - NTP_UNIX_OFFSET + t.fractional as f64 / TWO_POW_32;
    if s < 0.0 {
        // Small era-0 values are era-1 times (after February 2036).
        s += TWO_POW_32;
    }
    Some(s)
}

/// Now, in seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    crate::engine::link::unix_nanos() as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosc::OscBundle;

    #[test]
    fn ntp_round_trip_keeps_sub_microsecond_precision() {
        for t in [1_700_000_000.123_456_7, 1_800_000_000.999_999_9, 0.5] {
            let back = unix_from_ntp(ntp_from_unix(t)).unwrap();
            assert!((back - t).abs() < 1e-6, "{t} → {back}");
        }
        let tt = ntp_from_unix(1_700_000_000.5);
        assert_eq!(tt.seconds, 3_908_988_800);
        assert_eq!(tt.fractional, 1 << 31);
        assert_eq!(
            unix_from_ntp(OscTime {
                seconds: 0,
                fractional: 1
            }),
            None
        );
    }

    #[test]
    fn numbers_come_from_every_numeric_type_and_from_text() {
        assert_eq!(number(&OscType::Int(3)), Ok(3.0));
        assert_eq!(number(&OscType::Float(0.5)), Ok(0.5));
        assert_eq!(number(&OscType::Float(0.1)), Ok(0.1));
        assert_eq!(number(&OscType::Float(1e-7)), Ok(1e-7));
        assert_eq!(number(&OscType::Double(2.25)), Ok(2.25));
        assert_eq!(number(&OscType::Long(-7)), Ok(-7.0));
        assert_eq!(number(&OscType::Bool(true)), Ok(1.0));
        assert_eq!(number(&OscType::String(" 3.0 ".into())), Ok(3.0));
        assert!(number(&OscType::String("abc".into())).is_err());
        assert!(number(&OscType::Float(f32::NAN)).is_err());
        assert!(number(&OscType::Nil).unwrap_err().contains("nil"));
    }

    #[test]
    fn yes_no_arguments_are_read_strictly() {
        let f = |a: OscType| flag(&a, &["now", "immediate"], &["bar", "next_bar"]);
        let s = |t: &str| OscType::String(t.into());
        for yes in [
            s("now"),
            s("IMMEDIATE"),
            s("true"),
            s("1"),
            OscType::Int(1),
            OscType::Float(1.0),
            OscType::Bool(true),
        ] {
            assert_eq!(f(yes.clone()), Ok(true), "{yes:?}");
        }
        for no in [
            s("bar"),
            s("false"),
            s("0"),
            OscType::Int(0),
            OscType::Double(0.0),
            OscType::Bool(false),
        ] {
            assert_eq!(f(no.clone()), Ok(false), "{no:?}");
        }
        for bad in [
            s("banana"),
            s(""),
            OscType::Int(2),
            OscType::Float(0.5),
            OscType::Nil,
            s("yes please"),
        ] {
            let e = f(bad.clone()).unwrap_err().to_string();
            assert!(e.contains("is not a yes/no value"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn slot_arguments_are_whole_numbers_written_plainly() {
        let s = |t: &str| OscType::String(t.into());
        let ok = [
            (OscType::Int(5), 5),
            (OscType::Long(128), 128),
            (OscType::Float(5.0), 5),
            (OscType::Double(1.0), 1),
            (s("5"), 5),
            (s("5.0"), 5),
            (s("007"), 7),
            (s("12.000"), 12),
        ];
        for (arg, n) in ok {
            assert_eq!(slot_number(&arg).map(SlotNumber::get), Ok(n), "{arg:?}");
        }
        let bad: [(OscType, &str); 22] = [
            (OscType::Bool(true), "true (T) is not a slot number"),
            (OscType::Bool(false), "false (F) is not a slot number"),
            (OscType::Float(5.5), "5.5 is not a whole number"),
            (OscType::Double(4.999999), "4.999999 is not a whole number"),
            (OscType::Float(f32::NAN), "NaN is not a number"),
            (OscType::Double(f64::INFINITY), "infinity is not a number"),
            (OscType::Double(1e300), "1e300 is out of range"),
            (OscType::Int(0), "0 is out of range"),
            (OscType::Int(129), "129 is out of range"),
            (OscType::Int(-3), "-3 is out of range"),
            (
                OscType::Long(i64::MAX),
                "9223372036854775807 is out of range",
            ),
            (s("5.5"), "\"5.5\" is not a whole number"),
            (s("1e0"), "\"1e0\" is not written plainly"),
            (s("+5"), "\"+5\" is not written plainly"),
            (s(" 5"), "\" 5\" is not written plainly"),
            (s("5."), "\"5.\" is not written plainly"),
            (s(".5e1"), "\".5e1\" is not written plainly"),
            (s("0x5"), "\"0x5\" is not a number"),
            (s("five"), "\"five\" is not a number"),
            (s(""), "\"\" is not a number"),
            (s("0"), "\"0\" is out of range"),
            (OscType::Nil, "a nil is not a slot number"),
        ];
        for (arg, want) in bad {
            let e = slot_number(&arg).unwrap_err().to_string();
            assert!(
                e.starts_with(want) && e.ends_with(SLOT_RULE),
                "{arg:?}: {e}"
            );
        }
    }

    #[test]
    fn strings_blobs_and_addresses_have_size_limits() {
        let m = |addr: &str, args: Vec<OscType>| message(addr, args);
        let text = |n: usize| OscType::String("é".repeat(n / 2));
        assert!(check_sizes(&m("/a", vec![text(limits::MAX_OSC_STRING_BYTES)])).is_ok());
        let e = check_sizes(&m(
            "/a",
            vec![OscType::Int(1), text(limits::MAX_OSC_STRING_BYTES + 2)],
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument 2: an OSC string may hold at most 4096 bytes; this one has 4098"
        );
        let blob = |n: usize| OscType::Blob(vec![0; n]);
        assert!(check_sizes(&m("/a", vec![blob(limits::MAX_OSC_BLOB_BYTES)])).is_ok());
        assert!(check_sizes(&m("/a", vec![blob(limits::MAX_OSC_BLOB_BYTES + 1)])).is_err());
        let nested = OscType::Array(rosc::OscArray {
            content: vec![OscType::Array(rosc::OscArray {
                content: vec![blob(limits::MAX_OSC_BLOB_BYTES + 1)],
            })],
        });
        assert!(check_sizes(&m("/a", vec![nested])).is_err());
        let addr = |n: usize| format!("/{}", "a".repeat(n - 1));
        assert!(check_sizes(&m(&addr(limits::MAX_OSC_ADDRESS_BYTES), vec![])).is_ok());
        assert_eq!(
            check_sizes(&m(&addr(limits::MAX_OSC_ADDRESS_BYTES + 1), vec![]))
                .unwrap_err()
                .to_string(),
            "the address: an OSC address may hold at most 256 bytes; this one has 257"
        );
    }

    fn nested_bundles(depth: usize) -> Vec<u8> {
        let mut p = OscPacket::Message(message("/seq/status", vec![]));
        for _ in 0..depth {
            p = OscPacket::Bundle(OscBundle {
                timetag: OscTime {
                    seconds: 0,
                    fractional: 1,
                },
                content: vec![p],
            });
        }
        encode(&p).unwrap()
    }

    #[test]
    fn deep_nesting_is_refused_before_rosc_sees_it() {
        assert!(decode(&nested_bundles(MAX_BUNDLE_DEPTH)).is_ok());
        let err = decode(&nested_bundles(MAX_BUNDLE_DEPTH + 1)).unwrap_err();
        assert!(err.contains("nested"), "{err}");
        // 20 000 nested bundles built by hand: refused without recursion.
        let mut b = Vec::new();
        for _ in 0..20_000 {
            b.extend_from_slice(b"#bundle\0\0\0\0\0\0\0\0\x01");
            b.extend_from_slice(&0xffff_fff0u32.to_be_bytes());
        }
        assert!(decode(&b).is_err());
        // 4 000 nested arrays in the type tags.
        let mut m = b"/a\0\0,".to_vec();
        m.extend(std::iter::repeat_n(b'[', 4000));
        m.extend(std::iter::repeat_n(b']', 4000));
        while !m.len().is_multiple_of(4) {
            m.push(0);
        }
        m.extend_from_slice(&[0, 0, 0, 0]);
        assert!(decode(&m).unwrap_err().contains("arrays"));
    }
}
