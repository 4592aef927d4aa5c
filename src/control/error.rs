//! Why a command was refused: one variant per mistake, each carrying the bad value and the
//! limits it broke, so a message can quote both.

use std::fmt;
use std::path::PathBuf;

use crate::audio::recorder::BadRecordingName;
use crate::model::ParamId;
use crate::model::fmt_num;
use crate::store::{SlotNumber, StoreError};

/// A number a command carries, named the way messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// A tempo.
    Bpm,
    /// A change of tempo.
    BpmChange,
    /// A swing amount (set or nudged).
    Swing,
    /// A module parameter.
    Param(ParamId),
    /// A numeric track field.
    TrackValue,
    /// A note in Hz.
    Note,
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantity::Bpm => f.write_str("BPM"),
            Quantity::BpmChange => f.write_str("BPM change"),
            Quantity::Swing => f.write_str("swing"),
            Quantity::Param(id) => f.write_str(&id.label()),
            Quantity::TrackValue => f.write_str("track value"),
            Quantity::Note => f.write_str("note"),
        }
    }
}

/// Why a command was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Link was asked for in a build without the `link` cargo feature.
    #[error("this Chronus was built without Ableton Link (the `link` cargo feature)")]
    LinkUnavailable,
    /// No track of that name.
    #[error("no track named {0:?}")]
    NoTrack(String),
    /// A track of that name exists already.
    #[error("a track named {0:?} exists already")]
    TrackExists(String),
    /// A track's new name is empty (or only blanks).
    #[error("a track needs a name")]
    EmptyTrackName,
    /// NaN or an infinity, refused before clamping would quietly turn it into a default.
    #[error("{}", not_finite(*what, *value))]
    NotFinite {
        /// What the number was for.
        what: Quantity,
        /// The number as given.
        value: f64,
    },
    /// A step past the longest pattern (`step` counts from 0; messages count from 1).
    #[error("step {} is past the longest pattern ({max} steps)", step + 1)]
    StepOutOfRange {
        /// The step index given.
        step: usize,
        /// The longest pattern.
        max: usize,
    },
    /// Step data for a step past the track's pattern (`step` counts from 0).
    #[error("step {} is past the end of {track:?} ({len} steps)", step + 1)]
    StepPastTrack {
        /// The track.
        track: String,
        /// The step index given.
        step: usize,
        /// Steps in the track's pattern.
        len: usize,
    },
    /// A track length past the longest pattern.
    #[error("length {len} is out of range 0–{max}")]
    LengthOutOfRange {
        /// The length given.
        len: usize,
        /// The longest pattern.
        max: usize,
    },
    /// A fill distance outside 1–64.
    #[error("a hit every {every} steps is out of range: every 1–64 steps")]
    FillOutOfRange {
        /// The distance given.
        every: usize,
    },
    /// A Euclid rhythm with more hits than steps, or a length past the longest pattern.
    #[error("Euclid {hits}/{steps} is out of range: 1–{max} steps and at most one hit per step")]
    EuclidOutOfRange {
        /// Hits given.
        hits: usize,
        /// Steps given.
        steps: usize,
        /// The longest pattern.
        max: usize,
    },
    /// An edit step past the limit.
    #[error("edit step {step} is out of range 0–{max}")]
    EditStepOutOfRange {
        /// The edit step given.
        step: usize,
        /// The largest edit step.
        max: usize,
    },
    /// A pattern longer than the longest pattern.
    #[error("pattern of {len} steps is longer than {max}")]
    PatternTooLong {
        /// Steps in the pattern given.
        len: usize,
        /// The longest pattern.
        max: usize,
    },
    /// A track field index that is not a numeric field.
    #[error("track field {field} is not a number")]
    FieldNotNumeric {
        /// The field index given.
        field: usize,
    },
    /// A voice id that names no voice.
    #[error("{id:?} is not a voice (voice1–voice{max})")]
    NotAVoice {
        /// The id given.
        id: String,
        /// The highest voice number there can be.
        max: usize,
    },
    /// A voice number the engine does not run.
    #[error("voice{voice} does not exist (1–{voices})")]
    VoiceMissing {
        /// The voice number given.
        voice: u8,
        /// Voices the engine runs.
        voices: usize,
    },
    /// A slot with no backup that loads.
    #[error("slot {slot} has no backup that loads")]
    NoBackup {
        /// Which slot.
        slot: SlotNumber,
    },
    /// A mute group no track belongs to.
    #[error("mute group {0} is empty: put tracks in it first (track_mute_group)")]
    EmptyMuteGroup(u8),
    /// A mute group past the last.
    #[error("mute group {group} is out of range 0–{max}")]
    MuteGroupOutOfRange {
        /// The group given.
        group: u8,
        /// The last group.
        max: usize,
    },
    /// Every slot holds a file or a draft.
    #[error("no empty slot left: every slot holds a file or unsaved edits")]
    NoEmptySlot,
    /// Revert with no slot file behind the song.
    #[error("a new song has no slot file to revert to")]
    NoSlotToRevert,
    /// A recording name with nothing usable left after cleaning.
    #[error("recording name {name:?} has no usable characters")]
    BadRecordingName {
        /// The name given.
        name: String,
    },
    /// The slot holds a different pattern; ask before overwriting.
    #[error("slot {0} holds a different pattern ({1:?}); save again to overwrite")]
    WouldOverwrite(SlotNumber, String),
    /// A prepared-slot command with no slot being prepared.
    #[error("no slot is being prepared: prepare one first (e in the slot browser, :prepare N)")]
    NotPreparing,
    /// A slot queued for its bar cannot be prepared.
    #[error(
        "slot {slot} is queued for bar {bar}: edit it once it plays (undo the queue to prepare it first)"
    )]
    PrepareQueued {
        /// Which slot.
        slot: SlotNumber,
        /// The bar it applies at.
        bar: u64,
    },
    /// A command that acts on what plays, sent to the prepared slot.
    #[error("{0} acts on what plays, not on the prepared slot")]
    NotForPrepared(String),
    /// A save of the prepared song to another slot.
    #[error("the prepared slot saves to its own slot {0}")]
    PreparedSavesOwnSlot(SlotNumber),
    /// A backup of the slot being prepared with edits (it would be replaced by them).
    #[error(
        "slot {0} is being prepared with unsaved edits: save or revert them first, then load its backup"
    )]
    BackupOfPrepared(SlotNumber),
    /// A mute or solo of a track picked on the prepared slot's grid.
    #[error(
        "mutes and solos act on what plays, not on the prepared slot: go back to what plays to mute its tracks"
    )]
    MuteOnPrepared,
    /// MIDI learn was asked for, but no MIDI input is open.
    #[error(
        "MIDI learn needs MIDI input: start Chronus with --midi-in NAME (a port of your controller) or --midi-virtual"
    )]
    NoMidiInput,
    /// A save of the playing song over the slot being prepared.
    #[error(
        "slot {0} is being prepared with its own edits: save it from the prepared view, or pick another slot"
    )]
    SlotPrepared(SlotNumber),
    /// Nothing to undo or redo.
    #[error("nothing to {0}")]
    NothingTo(&'static str),
    /// A store (file) error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A chain that does not read (its name or its typed entries).
    #[error(transparent)]
    Chain(#[from] crate::model::chain::ChainError),
    /// A chain file that does not load or save.
    #[error(transparent)]
    ChainFile(#[from] crate::store::chains::ChainStoreError),
    /// No chain set or opened yet.
    #[error("no chain yet: set one (/chain/set NAME \"[3 x4, 11 x1]\") or open one by name")]
    NoChain,
    /// A chain move with no chain running.
    #[error("no chain is running")]
    NoChainRunning,
    /// A jump past the chain's entries.
    #[error("chain entry {entry} is out of range 1–{len}")]
    ChainEntryOutOfRange {
        /// The entry asked for, from 1.
        entry: usize,
        /// Entries in the chain.
        len: usize,
    },
    /// A one-shot while a chain runs.
    #[error("a one-shot is refused while a chain runs: leave the chain first")]
    OneShotInChain,
    /// A one-shot while stopped.
    #[error("a one-shot needs the transport running")]
    OneShotStopped,
    /// A one-shot from a song with no slot.
    #[error(
        "a one-shot comes back to the playing slot, and this song has none: save it to a slot first"
    )]
    OneShotNoSlot,
    /// A one-shot of the slot that plays.
    #[error("slot {0} plays already")]
    OneShotSame(SlotNumber),
    /// A slot file that does not load, with a valid backup to fall back on.
    #[error(
        "{error} — its newest valid backup is {} (load it with B in the slot browser or :load_backup {slot})",
        backup.display()
    )]
    Corrupt {
        /// Which slot.
        slot: SlotNumber,
        /// Why the file does not load.
        error: StoreError,
        /// The newest backup that loads.
        backup: PathBuf,
    },
    /// Recording failed.
    #[error("{}", crate::model::text::error_chain(.0.chain()))]
    Record(anyhow::Error),
    /// A size over one of the limits (tracks, notes, name lengths).
    #[error(transparent)]
    Limit(#[from] crate::model::limits::LimitError),
}

impl From<BadRecordingName> for ControlError {
    fn from(e: BadRecordingName) -> ControlError {
        ControlError::BadRecordingName { name: e.name }
    }
}

fn not_finite(what: Quantity, value: f64) -> String {
    if value.is_nan() {
        format!("{what} is not a number")
    } else {
        format!("{what} {} is not a finite number", fmt_num(value))
    }
}

/// Refuses NaN and infinities.
pub(super) fn finite(what: Quantity, value: f64) -> Result<(), ControlError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ControlError::NotFinite { what, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SlotNumber;

    fn says(cases: impl IntoIterator<Item = (ControlError, &'static str)>) {
        for (e, want) in cases {
            assert_eq!(e.to_string(), want, "{e:?}");
        }
    }

    #[test]
    fn a_refused_track_edit_names_the_track() {
        says([
            (
                ControlError::NoTrack("kick".into()),
                "no track named \"kick\"",
            ),
            (
                ControlError::TrackExists("kick".into()),
                "a track named \"kick\" exists already",
            ),
            (ControlError::EmptyTrackName, "a track needs a name"),
        ]);
    }

    #[test]
    fn each_refused_value_is_quoted_with_its_limits() {
        says([
            (
                ControlError::NotFinite {
                    what: Quantity::Bpm,
                    value: f64::NAN,
                },
                "BPM is not a number",
            ),
            (
                ControlError::NotFinite {
                    what: Quantity::BpmChange,
                    value: f64::INFINITY,
                },
                "BPM change infinity is not a finite number",
            ),
            (
                ControlError::NotFinite {
                    what: Quantity::Note,
                    value: f64::NEG_INFINITY,
                },
                "note -infinity is not a finite number",
            ),
            (
                ControlError::StepOutOfRange { step: 64, max: 64 },
                "step 65 is past the longest pattern (64 steps)",
            ),
            (
                ControlError::LengthOutOfRange { len: 65, max: 64 },
                "length 65 is out of range 0–64",
            ),
            (
                ControlError::PatternTooLong { len: 65, max: 64 },
                "pattern of 65 steps is longer than 64",
            ),
            (
                ControlError::FieldNotNumeric { field: 2 },
                "track field 2 is not a number",
            ),
            (
                ControlError::NotAVoice {
                    id: "acid1".into(),
                    max: 16,
                },
                "\"acid1\" is not a voice (voice1–voice16)",
            ),
            (
                ControlError::VoiceMissing {
                    voice: 9,
                    voices: 8,
                },
                "voice9 does not exist (1–8)",
            ),
            (
                ControlError::Limit(crate::model::limits::TRACKS.check(65).unwrap_err()),
                "a slot may hold at most 64 tracks; this one has 65",
            ),
        ]);
    }

    #[test]
    fn slot_and_history_refusals_name_the_slot() {
        let slot = SlotNumber::new(7).unwrap();
        says([
            (
                ControlError::NoBackup { slot },
                "slot 7 has no backup that loads",
            ),
            (
                ControlError::NoSlotToRevert,
                "a new song has no slot file to revert to",
            ),
            (
                ControlError::BadRecordingName { name: "..".into() },
                "recording name \"..\" has no usable characters",
            ),
            (
                ControlError::WouldOverwrite(slot, "Dub".into()),
                "slot 7 holds a different pattern (\"Dub\"); save again to overwrite",
            ),
            (ControlError::NothingTo("redo"), "nothing to redo"),
        ]);
    }
}
