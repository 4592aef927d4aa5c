//! OSC on the wire: safe decoding of untrusted datagrams, argument conversion, NTP time.
//!
//! rosc decodes nested bundles and arrays recursively, so a crafted datagram (a few thousand
//! nested bundles, or `[[[[…` type tags) could exhaust the stack while decoding or dropping
//! the result. [`decode`] therefore scans the nesting first and refuses anything deeper than
//! a real sender ever produces.

use rosc::{OscMessage, OscPacket, OscTime, OscType};

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
        OscType::Float(f) => *f as f64,
        OscType::Double(d) => *d,
        OscType::Long(l) => *l as f64,
        OscType::Bool(b) => f64::from(u8::from(*b)),
        OscType::String(s) => match s.trim().parse::<f64>() {
            Ok(v) => v,
            Err(_) => return Err(format!("{:?} is not a number", clip(s))),
        },
        other => return Err(format!("a {} is not a number", type_name(other))),
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{v} is not a finite number"))
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

/// A yes/no argument: 1/0, true/false, or the words given in `yes`.
pub fn flag(arg: &OscType, yes: &[&str]) -> bool {
    match arg {
        OscType::Bool(b) => *b,
        OscType::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            s == "true" || yes.contains(&s.as_str()) || s.parse::<f64>().is_ok_and(|v| v == 1.0)
        }
        other => number(other).is_ok_and(|v| v == 1.0),
    }
}

/// Shortens user text quoted in a message, so a huge string cannot make a huge reply.
pub fn clip(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
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
        assert_eq!(number(&OscType::Double(2.25)), Ok(2.25));
        assert_eq!(number(&OscType::Long(-7)), Ok(-7.0));
        assert_eq!(number(&OscType::Bool(true)), Ok(1.0));
        assert_eq!(number(&OscType::String(" 3.0 ".into())), Ok(3.0));
        assert!(number(&OscType::String("abc".into())).is_err());
        assert!(number(&OscType::Float(f32::NAN)).is_err());
        assert!(number(&OscType::Nil).unwrap_err().contains("nil"));
        assert!(flag(&OscType::String("now".into()), &["now", "immediate"]));
        assert!(flag(&OscType::Int(1), &[]));
        assert!(!flag(&OscType::Int(0), &[]));
        assert!(flag(&OscType::String("TRUE".into()), &[]));
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
