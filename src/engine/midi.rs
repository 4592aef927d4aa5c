//! MIDI the engine sends, stamped with the sample it belongs to.
//!
//! The audio thread writes [`MidiEvent`]s (Copy, three bytes at most) into a preallocated
//! queue while it renders; the runner moves them onto an rtrb ring after each period, and a
//! MIDI thread (or the JACK process callback) sends each one at the wall time of its sample.
//! Nothing is emitted unless MIDI clock out was switched on ([`super::EngineMsg::MidiClock`]).

/// MIDI clock ticks per quarter note.
pub const PPQN: u64 = 24;
/// Clock ticks per sequencer step (a 16th note).
pub const TICKS_PER_STEP: u64 = PPQN / 4;

/// Timing clock.
pub const CLOCK: u8 = 0xF8;
/// Start (from the song's beginning).
pub const START: u8 = 0xFA;
/// Continue (from the Song Position Pointer).
pub const CONTINUE: u8 = 0xFB;
/// Stop.
pub const STOP: u8 = 0xFC;
/// Song Position Pointer (two 7-bit data bytes, in 16ths).
pub const SONG_POSITION: u8 = 0xF2;

/// One MIDI message at an engine sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MidiEvent {
    /// The engine sample it belongs to.
    pub sample: u64,
    /// How many of `bytes` are used (1–3).
    pub len: u8,
    /// The message.
    pub bytes: [u8; 3],
}

impl MidiEvent {
    /// A one-byte real-time message.
    pub fn realtime(status: u8, sample: u64) -> MidiEvent {
        MidiEvent {
            sample,
            len: 1,
            bytes: [status, 0, 0],
        }
    }

    /// A Song Position Pointer at `sixteenths` (clamped to the 14 bits it has).
    pub fn song_position(sixteenths: u64, sample: u64) -> MidiEvent {
        let p = sixteenths.min(0x3FFF) as u16;
        MidiEvent {
            sample,
            len: 3,
            bytes: [SONG_POSITION, (p & 0x7F) as u8, (p >> 7) as u8],
        }
    }

    /// The bytes in use.
    pub fn message(&self) -> &[u8] {
        &self.bytes[..(self.len as usize).min(3)]
    }
}

/// Where the clock out stands inside the current step: the step's first sample, its length
/// and the next tick's index in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TickGrid {
    pub step_start: u64,
    pub sps: f64,
    pub next: u64,
}

impl TickGrid {
    /// The sample of the next tick in this step, when one is left.
    pub fn next_sample(&self) -> Option<u64> {
        (self.next < TICKS_PER_STEP).then(|| {
            self.step_start + (self.next as f64 * self.sps / TICKS_PER_STEP as f64).round() as u64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn song_position_splits_into_seven_bit_bytes() {
        let e = MidiEvent::song_position(0x1234, 7);
        assert_eq!(e.message(), &[0xF2, 0x34, 0x24]);
        assert_eq!(
            MidiEvent::song_position(1 << 20, 0).message(),
            &[0xF2, 0x7F, 0x7F]
        );
        assert_eq!(MidiEvent::realtime(CLOCK, 3).message(), &[0xF8]);
    }

    #[test]
    fn ticks_split_a_step_in_six() {
        let mut g = TickGrid {
            step_start: 1000,
            sps: 6000.0,
            next: 0,
        };
        let mut at = Vec::new();
        while let Some(s) = g.next_sample() {
            at.push(s);
            g.next += 1;
        }
        assert_eq!(at, [1000, 2000, 3000, 4000, 5000, 6000]);
    }
}
