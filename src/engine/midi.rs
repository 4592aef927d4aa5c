//! MIDI the engine sends, stamped with the sample it belongs to.
//!
//! The audio thread writes [`MidiEvent`]s (Copy, three bytes at most) into a preallocated
//! queue while it renders; the runner moves them onto an rtrb ring after each period, and a
//! MIDI thread (or the JACK process callback) sends each one at the wall time of its sample.
//! Clock is emitted only when MIDI clock out was switched on ([`super::EngineMsg::MidiClock`]);
//! notes only for tracks with a `midi` target ([`NoteOut`]).
//!
//! Notes: a hit of such a track sends note on at the sample it sounds and note off at the end
//! of its gate. Held notes live in a fixed table ([`HeldNotes`], [`MAX_HELD`] of them); when it
//! is full the oldest is ended early (and counted). Stop sends note off for every held note,
//! then Control Change 123 (all notes off) on every channel that played since the last Stop.
//! Each event carries the index of its port: [`CLOCK_PORT`] for clock, else the index of the
//! port's name in the control side's [`PortTable`].

use super::queue::FixedQueue;
use crate::model::limits::MAX_MIDI_PORTS;

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

/// Note off.
pub const NOTE_OFF: u8 = 0x80;
/// Note on.
pub const NOTE_ON: u8 = 0x90;
/// Control change.
pub const CONTROL_CHANGE: u8 = 0xB0;
/// The controller number of "all notes off".
pub const ALL_NOTES_OFF: u8 = 123;
/// The port index of clock messages (the port of `--midi-clock-out`).
pub const CLOCK_PORT: u8 = u8::MAX;
/// Notes held at once (across every track and port); one more ends the oldest early.
pub const MAX_HELD: usize = 128;

/// One MIDI message at an engine sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MidiEvent {
    /// The engine sample it belongs to.
    pub sample: u64,
    /// Where it goes: [`CLOCK_PORT`], or a note port's index in the [`PortTable`].
    pub port: u8,
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
            port: CLOCK_PORT,
            len: 1,
            bytes: [status, 0, 0],
        }
    }

    /// A Song Position Pointer at `sixteenths` (clamped to the 14 bits it has).
    pub fn song_position(sixteenths: u64, sample: u64) -> MidiEvent {
        let p = sixteenths.min(0x3FFF) as u16;
        MidiEvent {
            sample,
            port: CLOCK_PORT,
            len: 3,
            bytes: [SONG_POSITION, (p & 0x7F) as u8, (p >> 7) as u8],
        }
    }

    /// A three-byte channel message to `out`.
    pub fn channel(out: NoteOut, status: u8, data: [u8; 2], sample: u64) -> MidiEvent {
        MidiEvent {
            sample,
            port: out.port,
            len: 3,
            bytes: [
                status | (out.channel & 0x0F),
                data[0] & 0x7F,
                data[1] & 0x7F,
            ],
        }
    }

    /// The bytes in use.
    pub fn message(&self) -> &[u8] {
        &self.bytes[..(self.len as usize).min(3)]
    }
}

/// Where a track's notes go: a port (its index in the [`PortTable`]) and a channel (0–15,
/// the file's channel less one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoteOut {
    /// Port index.
    pub port: u8,
    /// Channel, 0–15.
    pub channel: u8,
}

/// The note ports a session's songs have named, in the order first named: a name keeps its
/// index for the whole session, so a message in flight goes where it was meant to when a
/// load switches targets. Kept on the control side; the MIDI service opens each one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortTable {
    names: Vec<String>,
    /// Names refused because the table was full.
    refused: u64,
}

impl PortTable {
    /// The index of `name`, given one if it has none; `None` when [`MAX_MIDI_PORTS`] names
    /// are taken already.
    pub fn index(&mut self, name: &str) -> Option<u8> {
        if let Some(i) = self.find(name) {
            return Some(i);
        }
        if self.names.len() >= MAX_MIDI_PORTS {
            self.refused += 1;
            return None;
        }
        self.names.push(name.to_string());
        Some((self.names.len() - 1) as u8)
    }

    /// The index `name` has, if any.
    pub fn find(&self, name: &str) -> Option<u8> {
        self.names.iter().position(|n| n == name).map(|i| i as u8)
    }

    /// The names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Names that found the table full (their tracks send no notes).
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

/// The MIDI note nearest to `hz` (A4 = 440 Hz = 69), clamped to 0–127.
pub fn note_number(hz: f32) -> u8 {
    if hz.is_nan() || hz <= 0.0 {
        return 0;
    }
    (69.0 + 12.0 * (hz / 440.0).log2())
        .round()
        .clamp(0.0, 127.0) as u8
}

/// A hit's MIDI velocity: its velocity (0.6 for `x`, 1.0 for `X`) times the step's
/// `velocity`, scaled to 1–127 (a note on with velocity 0 would be a note off).
pub fn note_velocity(v: f32) -> u8 {
    (v * 127.0).round().clamp(1.0, 127.0) as u8
}

#[derive(Debug, Clone, Copy, Default)]
struct Held {
    out: NoteOut,
    note: u8,
    off_at: u64,
}

/// The notes sounding on outboard gear, in the order they started, with their note-off
/// samples; allocated once.
#[derive(Debug)]
pub(crate) struct HeldNotes {
    held: [Held; MAX_HELD],
    len: usize,
    /// Channels that played a note since the last [`HeldNotes::all_off`], per port (bits).
    used: [u16; MAX_MIDI_PORTS],
    /// Notes ended early because the table was full.
    pub cut: u64,
}

impl Default for HeldNotes {
    fn default() -> Self {
        HeldNotes {
            held: [Held::default(); MAX_HELD],
            len: 0,
            used: [0; MAX_MIDI_PORTS],
            cut: 0,
        }
    }
}

/// The queue the engine's MIDI goes into, and its loss count.
pub(crate) struct Outbox<'a> {
    pub queue: &'a mut FixedQueue<MidiEvent>,
    pub dropped: &'a mut u64,
}

impl Outbox<'_> {
    fn send(&mut self, ev: MidiEvent) {
        if self.queue.push(ev).is_err() {
            *self.dropped += 1;
        }
    }
}

impl HeldNotes {
    /// How many notes are held.
    pub fn len(&self) -> usize {
        self.len
    }

    fn remove(&mut self, i: usize, at: u64, out: &mut Outbox) {
        let h = self.held[i];
        out.send(MidiEvent::channel(h.out, NOTE_OFF, [h.note, 0], at));
        self.held.copy_within(i + 1..self.len, i);
        self.len -= 1;
    }

    /// Note on at `at`, its note off due at `off_at`. The same note held on the same channel
    /// ends first (a synth would count two note ons and stop at the first off); a full table
    /// ends its oldest note.
    pub fn start(
        &mut self,
        o: NoteOut,
        note: u8,
        velocity: u8,
        at: u64,
        off_at: u64,
        out: &mut Outbox,
    ) {
        if let Some(i) = self.held[..self.len]
            .iter()
            .position(|h| h.out == o && h.note == note)
        {
            self.remove(i, at, out);
        }
        if self.len == MAX_HELD {
            self.cut += 1;
            self.remove(0, at, out);
        }
        self.held[self.len] = Held {
            out: o,
            note,
            off_at: off_at.max(at + 1),
        };
        self.len += 1;
        if let Some(u) = self.used.get_mut(o.port as usize) {
            *u |= 1 << (o.channel & 0x0F);
        }
        out.send(MidiEvent::channel(o, NOTE_ON, [note, velocity], at));
    }

    /// The earliest note-off sample, or `u64::MAX`.
    pub fn next_off(&self) -> u64 {
        self.held[..self.len]
            .iter()
            .map(|h| h.off_at)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Note off for every note due by `now`, each at its own sample.
    pub fn end_due(&mut self, now: u64, out: &mut Outbox) {
        let mut i = 0;
        while i < self.len {
            let h = self.held[i];
            if h.off_at <= now {
                self.remove(i, h.off_at, out);
            } else {
                i += 1;
            }
        }
    }

    /// Note off for every held note at `at`, then all notes off (CC 123) on every channel that
    /// played since the last time.
    pub fn all_off(&mut self, at: u64, out: &mut Outbox) {
        while self.len > 0 {
            self.remove(0, at, out);
        }
        for (port, bits) in self.used.iter_mut().enumerate() {
            for channel in 0..16u8 {
                if *bits & (1 << channel) != 0 {
                    let o = NoteOut {
                        port: port as u8,
                        channel,
                    };
                    out.send(MidiEvent::channel(
                        o,
                        CONTROL_CHANGE,
                        [ALL_NOTES_OFF, 0],
                        at,
                    ));
                }
            }
            *bits = 0;
        }
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
    fn notes_come_from_the_nearest_pitch_and_velocities_from_accent_times_velocity() {
        assert_eq!(note_number(440.0), 69);
        assert_eq!(note_number(261.63), 60);
        assert_eq!(note_number(55.0), 33);
        assert_eq!(
            note_number(450.0),
            69,
            "a third of a semitone up is still A4"
        );
        assert_eq!(note_number(5.0), 0);
        assert_eq!(note_number(20000.0), 127);
        assert_eq!(note_number(f32::NAN), 0);
        assert_eq!(note_velocity(0.6), 76);
        assert_eq!(note_velocity(1.0), 127);
        assert_eq!(note_velocity(0.6 * 0.5), 38);
        assert_eq!(note_velocity(0.0), 1);
    }

    #[test]
    fn the_port_table_keeps_an_index_per_name_and_holds_sixteen() {
        let mut t = PortTable::default();
        assert_eq!(t.index("Digitakt"), Some(0));
        assert_eq!(t.index("Model:Cycles"), Some(1));
        assert_eq!(t.index("Digitakt"), Some(0));
        for i in 2..MAX_MIDI_PORTS {
            assert_eq!(t.index(&format!("p{i}")), Some(i as u8));
        }
        assert_eq!(t.index("one more"), None);
        assert_eq!(t.refused(), 1);
        assert_eq!(t.find("Model:Cycles"), Some(1));
    }

    #[test]
    fn held_notes_end_at_their_sample_retrigger_and_cut_the_oldest_when_full() {
        let mut q = FixedQueue::new(1024);
        let mut dropped = 0;
        let mut out = Outbox {
            queue: &mut q,
            dropped: &mut dropped,
        };
        let mut h = HeldNotes::default();
        let a = NoteOut {
            port: 1,
            channel: 9,
        };
        h.start(a, 36, 100, 10, 60, &mut out);
        h.start(a, 38, 100, 20, 50, &mut out);
        assert_eq!(h.next_off(), 50);
        h.end_due(55, &mut out);
        // The same note again before its off: off first, then on, at the same sample.
        h.start(a, 36, 90, 58, 90, &mut out);
        h.all_off(70, &mut out);
        let got: Vec<(u64, u8, [u8; 3])> = std::iter::from_fn(|| q.pop())
            .map(|e| (e.sample, e.port, e.bytes))
            .collect();
        assert_eq!(
            got,
            [
                (10, 1, [0x99, 36, 100]),
                (20, 1, [0x99, 38, 100]),
                (50, 1, [0x89, 38, 0]),
                (58, 1, [0x89, 36, 0]),
                (58, 1, [0x99, 36, 90]),
                (70, 1, [0x89, 36, 0]),
                (70, 1, [0xB9, 123, 0]),
            ]
        );
        let mut q = FixedQueue::new(4 * MAX_HELD);
        let mut out = Outbox {
            queue: &mut q,
            dropped: &mut dropped,
        };
        for n in 0..=MAX_HELD as u64 {
            let o = NoteOut {
                port: 1,
                channel: (n / 128) as u8,
            };
            h.start(o, (n % 128) as u8, 1, n, 10_000, &mut out);
        }
        assert_eq!((h.len(), h.cut), (MAX_HELD, 1));
        // The oldest (note 0, channel 1) ended where the newest began.
        let offs: Vec<MidiEvent> = std::iter::from_fn(|| q.pop())
            .filter(|e| e.bytes[0] & 0xF0 == NOTE_OFF)
            .collect();
        assert_eq!(offs.len(), 1);
        assert_eq!(
            (offs[0].sample, offs[0].bytes),
            (MAX_HELD as u64, [0x80, 0, 0])
        );
        assert_eq!(dropped, 0);
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
