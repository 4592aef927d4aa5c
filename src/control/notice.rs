//! Things that happened ([`Notice`]) and the one place that words them for a person
//! ([`describe`]): the TUI's message line, headless output and command replies all say the
//! same sentence for the same event.

use std::path::PathBuf;

use crate::audio::recorder::RecordingInfo;
use crate::model::diff::SlotDiff;
use crate::store::SlotNumber;

/// Severity of a message for the screen's message line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something happened.
    Info,
    /// Something was adjusted or looks wrong.
    Warning,
    /// Something failed.
    Error,
}

/// Things that happened, for the screen's message line, `--events json` and OSC out.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A bar began (while playing).
    Bar {
        /// Bar number since play.
        bar: u64,
        /// Sample index of its first sample.
        sample: u64,
    },
    /// A beat began (every [`super::STEPS_PER_BEAT`] steps while playing).
    Beat {
        /// Bar number.
        bar: u64,
        /// Beat in the bar, 0–3.
        beat: u8,
        /// Sample index of the beat.
        sample: u64,
    },
    /// The sequencer started.
    Started,
    /// The sequencer stopped.
    Stopped,
    /// A slot is queued for a bar.
    SlotQueued {
        /// Slot number.
        slot: SlotNumber,
        /// The bar it applies at.
        bar: u64,
        /// Queued because its file changed on disk.
        from_disk: bool,
    },
    /// A slot is now playing.
    SlotApplied {
        /// Slot number.
        slot: SlotNumber,
        /// Bar it applied at.
        bar: u64,
    },
    /// A slot was saved.
    Saved {
        /// Slot number.
        slot: SlotNumber,
        /// File written.
        path: PathBuf,
        /// Which save ([`super::Controller::last_save_id`] when it was asked for).
        id: u64,
    },
    /// A save failed (the error says what, if anything, changed on disk).
    SaveFailed {
        /// Slot number.
        slot: SlotNumber,
        /// What went wrong.
        error: String,
        /// Which save.
        id: u64,
    },
    /// A save was not made: the slot's file holds a different pattern (found on disk after
    /// the save was asked for); saving with `force` replaces it.
    SaveRefused {
        /// Slot number.
        slot: SlotNumber,
        /// The `metadata.name` of the pattern in the file.
        name: String,
        /// Which save.
        id: u64,
    },
    /// A save waits for the slot's lock, held by another program (ends with `Saved` or
    /// `SaveFailed`).
    SaveWaiting {
        /// Slot number.
        slot: SlotNumber,
    },
    /// The playing slot's file changed on disk and was queued for the next bar.
    DiskReloaded {
        /// Slot number.
        slot: SlotNumber,
        /// What the new version changes.
        diff: SlotDiff,
    },
    /// The playing slot's file changed on disk while the song has unsaved edits: take the
    /// file's version or keep the edits ([`super::Command::ResolveConflict`]).
    DiskConflict {
        /// Slot number.
        slot: SlotNumber,
    },
    /// The question of a [`Notice::DiskConflict`] is moot (saved, or another slot loaded).
    DiskConflictGone,
    /// A slot file that did not load loads again (or is gone): its error is over.
    SlotFileFixed {
        /// Slot number.
        slot: SlotNumber,
    },
    /// The slot list changed (a file written, changed, added or removed).
    SlotListChanged,
    /// A recording finished.
    Recorded(RecordingInfo),
    /// A message for the performer.
    Message(Level, String),
    /// A chain entry began (its slot switched at `sample`, the bar's first sample).
    ChainEntry {
        /// The entry, from 0.
        entry: usize,
        /// Its slot.
        slot: SlotNumber,
        /// The bar it began.
        bar: u64,
        /// The bar's first sample.
        sample: u64,
    },
    /// An OSC sender was answered `/error` (level Error: the message was refused) or
    /// `/warning` (level Warning: it was ignored, or applied differently from what it
    /// asked), so a headless run shows what a script cannot see.
    OscAnswer {
        /// Error or Warning.
        level: Level,
        /// The address of the message answered.
        address: String,
        /// The answer's text.
        message: String,
        /// Who sent the message (`None`: not known, as for a datagram handed in by a test).
        from: Option<std::net::SocketAddr>,
    },
    /// `/engine/schema stdout` asked for the schema to be printed, as Music Chronus printed
    /// it on its console (headless prints it; the sender also gets it as a reply).
    SchemaPrinted {
        /// The schema, as pretty-printed JSON.
        json: String,
    },
    /// A chain that stops reached its end: the transport was told to stop when bar `bar`
    /// (first sample `sample`) was reported.
    ChainEnded {
        /// The bar after the chain's last.
        bar: u64,
        /// Its first sample.
        sample: u64,
    },
}

/// The sentence a person reads for `n`, or `None` for notices that are timing rather than news
/// (bars, beats, start, stop). `slot_name` is the `metadata.name` of the song a slot load
/// brings, when known; a queued load names it (a change on disk does not: the watcher's own
/// line names it).
pub fn describe(n: &Notice, slot_name: Option<&str>) -> Option<String> {
    Some(match n {
        Notice::Bar { .. } | Notice::Beat { .. } | Notice::Started | Notice::Stopped => {
            return None;
        }
        Notice::SlotQueued {
            slot,
            bar,
            from_disk: true,
        } => format!("slot {slot} changed on disk — applies at bar {bar}"),
        Notice::SlotQueued { slot, bar, .. } => match slot_name {
            Some(name) => format!("slot {slot} {name:?} queued — applies at bar {bar}"),
            None => format!("slot {slot} queued — applies at bar {bar}"),
        },
        Notice::SlotApplied { slot, bar } => format!("slot {slot} playing from bar {bar}"),
        Notice::Saved { slot, path, .. } => format!("saved slot {slot} to {}", path.display()),
        Notice::SaveFailed { slot, error, .. } => {
            format!("slot {slot} not saved: {error}")
        }
        Notice::SaveRefused { slot, name, .. } => {
            format!("slot {slot} holds a different pattern ({name:?}); save again to overwrite")
        }
        Notice::SaveWaiting { slot } => format!(
            "saving slot {slot}: another program holds its lock — waiting (at most {} s)",
            crate::store::worker::LOCK_TIMEOUT.as_secs()
        ),
        Notice::DiskReloaded { slot, diff } => format!("slot {slot}: {}", diff.describe()),
        Notice::DiskConflict { slot } => format!(
            "slot {slot} changed on disk while you have unsaved edits — take the file's version or keep yours"
        ),
        Notice::SlotFileFixed { slot } => format!("slot {slot}: its file loads again"),
        Notice::DiskConflictGone | Notice::SlotListChanged => return None,
        Notice::Recorded(info) => format!(
            "recorded {:.2} s to {}",
            info.seconds(),
            info.path.display()
        ),
        Notice::Message(_, text) => text.clone(),
        Notice::ChainEntry {
            entry, slot, bar, ..
        } => format!("chain entry {} (slot {slot}) from bar {bar}", entry + 1),
        Notice::ChainEnded { .. } => return None,
        Notice::OscAnswer {
            level,
            address,
            message,
            from,
        } => {
            let what = if *level == Level::Error {
                "refused"
            } else {
                "warned"
            };
            let from = from.map(|f| format!(" from {f}")).unwrap_or_default();
            format!("OSC {what} {address}{from}: {message}")
        }
        Notice::SchemaPrinted { .. } => {
            "/engine/schema stdout: the schema went to the sender as a reply".to_string()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(n: u8) -> SlotNumber {
        SlotNumber::new(n).unwrap()
    }

    #[test]
    fn every_notice_is_worded_by_describe() {
        let info = RecordingInfo {
            path: PathBuf::from("rec/take.wav"),
            frames: 72_000,
            sample_rate: 48_000,
        };
        let cases: Vec<(Notice, Option<&str>, Option<&str>)> = vec![
            (Notice::Bar { bar: 3, sample: 9 }, None, None),
            (
                Notice::Beat {
                    bar: 3,
                    beat: 1,
                    sample: 9,
                },
                None,
                None,
            ),
            (Notice::Started, None, None),
            (Notice::Stopped, None, None),
            (
                Notice::SlotQueued {
                    slot: slot(3),
                    bar: 2,
                    from_disk: false,
                },
                Some("B"),
                Some("slot 3 \"B\" queued — applies at bar 2"),
            ),
            (
                Notice::SlotQueued {
                    slot: slot(3),
                    bar: 2,
                    from_disk: false,
                },
                None,
                Some("slot 3 queued — applies at bar 2"),
            ),
            (
                Notice::SlotQueued {
                    slot: slot(3),
                    bar: 1,
                    from_disk: true,
                },
                Some("B"),
                Some("slot 3 changed on disk — applies at bar 1"),
            ),
            (
                Notice::SlotApplied {
                    slot: slot(4),
                    bar: 8,
                },
                None,
                Some("slot 4 playing from bar 8"),
            ),
            (
                Notice::Saved {
                    slot: slot(5),
                    path: PathBuf::from("slots/slot_005.json"),
                    id: 1,
                },
                None,
                Some("saved slot 5 to slots/slot_005.json"),
            ),
            (
                Notice::Recorded(info),
                None,
                Some("recorded 1.50 s to rec/take.wav"),
            ),
            (
                Notice::OscAnswer {
                    level: Level::Error,
                    address: "/seq/bpm".into(),
                    message: "a tempo: \"fast\" is not a number".into(),
                    from: Some("127.0.0.1:5000".parse().unwrap()),
                },
                None,
                Some("OSC refused /seq/bpm from 127.0.0.1:5000: a tempo: \"fast\" is not a number"),
            ),
            (
                Notice::OscAnswer {
                    level: Level::Warning,
                    address: "/gate/sine1".into(),
                    message: "no such voice: nothing changed".into(),
                    from: None,
                },
                None,
                Some("OSC warned /gate/sine1: no such voice: nothing changed"),
            ),
            (
                Notice::Message(Level::Warning, "look out".into()),
                None,
                Some("look out"),
            ),
        ];
        for (n, name, want) in cases {
            assert_eq!(describe(&n, name).as_deref(), want, "{n:?}");
        }
    }
}
