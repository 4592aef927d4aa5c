//! Song edits: steps, patterns, tracks, parameters, tempo and swing. Each runs through
//! [`Controller::edit`] (one undo step, then the engine hears what changed).

use std::time::Instant;

use crate::engine::{EngineMsg, TrackSet};
use crate::model::ParamId;
use crate::model::limits;
use crate::model::registry::{
    MAX_VOICES, TRACK_FIELDS, TrackFieldId, clean, sequencer as seq_spec, track as track_field,
};
use crate::model::slot::{Slot, Track};

use super::error::{Quantity, finite};
use super::{Command, ControlError, Controller, MAX_PATTERN, Reply, StepValue, fmt_num};

/// Significant digits an edited number keeps: more than anyone types, few enough that sums of
/// steps (0.1 + 0.02 + 0.1) save as the decimal they mean (`0.22`, not 0.21999999999999997).
const EDIT_DIGITS: usize = 12;

impl Controller {
    pub(super) fn set_bpm(&mut self, v: f64, now: Instant) -> Reply {
        let r = self.edit(now, Some("bpm"), |s| {
            s.sequencer.bpm = seq_spec::BPM.clamp(clean(v, EDIT_DIGITS));
            Ok(Some(format!("BPM {:.1}", s.sequencer.bpm)))
        });
        // Always tell the engine: it may run a followed tempo the song doesn't hold.
        self.send_bpm(self.song.sequencer.bpm);
        if r.is_ok() {
            self.propose_link_tempo(self.song.sequencer.bpm);
        }
        r
    }

    pub(super) fn set_swing(&mut self, v: f64, now: Instant) -> Reply {
        self.edit(now, Some("swing"), |s| {
            s.sequencer.swing = seq_spec::SWING.clamp(clean(v, EDIT_DIGITS));
            let sw = s.sequencer.swing;
            Ok(Some(format!(
                "swing {:.1} % ({sw:.3})",
                seq_spec::swing_percent(sw)
            )))
        })
    }

    pub(super) fn set_step(
        &mut self,
        track: &str,
        step: usize,
        value: StepValue,
        now: Instant,
    ) -> Reply {
        self.edit(now, None, |s| {
            let t = track_mut(s, track)?;
            if step >= MAX_PATTERN {
                return Err(ControlError::StepOutOfRange {
                    step,
                    max: MAX_PATTERN,
                });
            }
            if t.pattern.chars().count() <= step {
                // Past the end: the track grows, taking back its hidden steps first.
                super::pattern::resize(t, step + 1);
            }
            let mut chars: Vec<char> = t.pattern.chars().collect();
            chars[step] = value.as_char();
            t.pattern = chars.into_iter().collect();
            Ok(None)
        })
    }

    pub(super) fn set_pattern(&mut self, track: &str, pattern: String, now: Instant) -> Reply {
        self.edit(now, None, |s| {
            check_pattern(&pattern)?;
            let t = track_mut(s, track)?;
            t.pattern = pattern;
            // A typed row is the whole track: steps hidden from an earlier length go.
            t.extra.remove(super::pattern::HIDDEN_STEPS_KEY);
            Ok(None)
        })
    }

    pub(super) fn set_length(&mut self, track: &str, len: usize, now: Instant) -> Reply {
        let key = format!("length:{track}");
        self.edit(now, Some(&key), |s| {
            if len > MAX_PATTERN {
                return Err(ControlError::LengthOutOfRange {
                    len,
                    max: MAX_PATTERN,
                });
            }
            let t = track_mut(s, track)?;
            super::pattern::resize(t, len);
            let hidden = super::pattern::hidden_steps(t).chars().count();
            Ok(Some(if hidden > 0 {
                format!("{track}: {len} steps ({hidden} hidden, lengthen to bring them back)")
            } else {
                format!("{track}: {len} steps")
            }))
        })
    }

    pub(super) fn set_notes(&mut self, track: &str, notes: &[f64], now: Instant) -> Reply {
        self.edit(now, None, |s| {
            limits::NOTES.check(notes.len())?;
            let spec = TRACK_FIELDS[track_field::BASE_FREQ].spec;
            let t = track_mut(s, track)?;
            t.notes = notes.iter().map(|&n| spec.clamp(n)).collect();
            t.note_index = 0;
            Ok(None)
        })
    }

    pub(super) fn set_track_field(
        &mut self,
        track: &str,
        field: TrackFieldId,
        value: f64,
        now: Instant,
    ) -> Reply {
        let key = format!("track:{track}:{}", field.index());
        self.edit(now, Some(&key), |s| {
            // A field that overrides its voice on every hit sets the voice's parameter too.
            let i = track_index(s, track)?;
            let v = s.set_track_number_heard(i, field.index(), clean(value, EDIT_DIGITS));
            Ok(Some(format!("{track} {} {}", field.key(), fmt_num(v))))
        })
    }

    pub(super) fn set_track_voice(&mut self, track: &str, voice: &str, now: Instant) -> Reply {
        // Stepping through the voices with repeated presses is one undo step.
        let key = format!("voice:{track}");
        self.edit(now, Some(&key), |s| {
            let n = voice_number(voice)?;
            track_mut(s, track)?.voice_id = format!("voice{n}");
            Ok(None)
        })
    }

    pub(super) fn add_track(&mut self, t: Track, now: Instant) -> Reply {
        self.edit(now, None, |s| {
            check_track(&t)?;
            let tracks = &mut s.sequencer.tracks;
            match tracks.iter_mut().find(|x| x.name == t.name) {
                Some(existing) => *existing = t,
                None => {
                    limits::TRACKS.check(tracks.len() + 1)?;
                    tracks.push(t);
                }
            }
            Ok(None)
        })
    }

    pub(super) fn remove_track(&mut self, name: &str, now: Instant) -> Reply {
        self.edit(now, None, |s| {
            let i = track_index(s, name)?;
            s.sequencer.tracks.remove(i);
            Ok(Some(format!("removed track {name}")))
        })
    }

    pub(super) fn rename_track(&mut self, from: &str, to: &str, now: Instant) -> Reply {
        // Mutes waiting for the bar follow the track to its new name (before the edit
        // queues the renamed tracks again).
        let new = to.trim().to_string();
        let moved: Vec<_> = self
            .pending_mutes
            .iter()
            .filter(|((name, _), _)| name == from)
            .map(|((_, solo), want)| (*solo, *want))
            .collect();
        let before = self.pending_mutes.clone();
        // The waiting mutes are what plays': a prepared song's rename leaves them alone.
        let moved = if self.offstage { Vec::new() } else { moved };
        for (solo, want) in &moved {
            self.pending_mutes.remove(&(from.to_string(), *solo));
            self.pending_mutes.insert((new.clone(), *solo), *want);
        }
        let r = self.edit(now, None, |s| {
            let to = to.trim().to_string();
            check_track_name(&to)?;
            if to != from && s.sequencer.tracks.iter().any(|t| t.name == to) {
                return Err(ControlError::TrackExists(to));
            }
            track_mut(s, from)?.name = to;
            Ok(None)
        });
        if r.is_err() {
            self.pending_mutes = before;
        }
        r
    }

    pub(super) fn move_track(&mut self, track: &str, delta: isize, now: Instant) -> Reply {
        // Moving a track several rows with repeated presses is one undo step.
        let key = format!("move:{track}");
        self.edit(now, Some(&key), |s| {
            let i = track_index(s, track)?;
            let last = s.sequencer.tracks.len() as isize - 1;
            let j = (i as isize + delta).clamp(0, last) as usize;
            let t = s.sequencer.tracks.remove(i);
            s.sequencer.tracks.insert(j, t);
            Ok(None)
        })
    }

    /// Mutes are performance state: heard at once (or at the next bar when quantised), but
    /// no undo step and no unsaved edit.
    pub(super) fn mute(&mut self, track: &str, on: Option<bool>) -> Reply {
        self.mute_or_solo(track, false, on)
    }

    /// Solos are performance state, like mutes.
    pub(super) fn solo(&mut self, track: &str, on: Option<bool>) -> Reply {
        self.mute_or_solo(track, true, on)
    }

    fn mute_or_solo(&mut self, track: &str, solo: bool, on: Option<bool>) -> Reply {
        let t = track_mut(&mut self.song, track)?;
        let now = if solo { t.solo } else { t.muted };
        let key = (track.to_string(), solo);
        // A toggle starts from what the next bar brings, so two presses cancel out.
        let next = self.pending_mutes.get(&key).copied().unwrap_or(now);
        let want = on.unwrap_or(!next);
        let word = match (solo, want) {
            (false, true) => "muted",
            (false, false) => "unmuted",
            (true, true) => "solo",
            (true, false) => "solo off",
        };
        if self.mute_quantize && self.status.running {
            let said = if want == now {
                self.pending_mutes.remove(&key);
                format!("{track} stays {word}")
            } else {
                self.pending_mutes.insert(key, want);
                format!("{track} {word} at the next bar")
            };
            self.queue_mutes();
            return Ok(Some(said));
        }
        self.pending_mutes.remove(&key);
        self.perform(|s| {
            let t = track_mut(s, track)?;
            if solo {
                t.solo = want;
            } else {
                t.muted = want;
            }
            Ok(Some(format!("{track} {word}")))
        })
    }

    /// Mutes (or unmutes) every track of mute group `group`; `None` mutes them unless all
    /// are muted already.
    pub(super) fn mute_group(&mut self, group: u8, on: Option<bool>) -> Reply {
        let members: Vec<(String, bool)> = self
            .song
            .sequencer
            .tracks
            .iter()
            .filter(|t| super::pattern::mute_group(t) == Some(group))
            .map(|t| (t.name.clone(), t.muted))
            .collect();
        if members.is_empty() {
            return Err(ControlError::EmptyMuteGroup(group));
        }
        let want = on.unwrap_or_else(|| {
            !members.iter().all(|(name, muted)| {
                self.pending_mutes
                    .get(&(name.clone(), false))
                    .copied()
                    .unwrap_or(*muted)
            })
        });
        for (name, _) in &members {
            self.mute_or_solo(name, false, Some(want))?;
        }
        let word = if want { "muted" } else { "unmuted" };
        let when = if self.mute_quantize && self.status.running {
            " at the next bar"
        } else {
            ""
        };
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        Ok(Some(format!(
            "mute group {group} {word}{when}: {}",
            names.join(", ")
        )))
    }

    /// Puts a track in mute group `group` (0: none). Part of the song: an undo step, saved.
    pub(super) fn set_mute_group(&mut self, track: &str, group: u8, now: Instant) -> Reply {
        if group as usize > limits::MAX_MUTE_GROUP {
            return Err(ControlError::MuteGroupOutOfRange {
                group,
                max: limits::MAX_MUTE_GROUP,
            });
        }
        self.edit(now, None, |s| {
            let t = track_mut(s, track)?;
            super::pattern::set_mute_group(t, group);
            Ok(Some(match group {
                0 => format!("{track} in no mute group"),
                g => format!("{track} in mute group {g}"),
            }))
        })
    }

    /// Mutes and solos wait for the next bar (`None` toggles).
    pub(super) fn set_mute_quantize(&mut self, on: Option<bool>) -> Reply {
        self.mute_quantize = on.unwrap_or(!self.mute_quantize);
        if !self.mute_quantize {
            self.apply_pending_mutes();
        }
        Ok(Some(if self.mute_quantize {
            "mutes and solos wait for the next bar".into()
        } else {
            "mutes and solos act at once".into()
        }))
    }

    /// Applies the mutes and solos waiting for the bar.
    pub(super) fn apply_pending_mutes(&mut self) {
        if self.pending_mutes.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending_mutes);
        let _ = self.perform(|s| {
            for ((name, solo), want) in pending {
                if let Some(t) = s.sequencer.tracks.iter_mut().find(|t| t.name == name) {
                    if solo {
                        t.solo = want;
                    } else {
                        t.muted = want;
                    }
                }
            }
            Ok(None)
        });
    }

    /// Hands the engine the tracks as the pending mutes and solos make them, to switch to at
    /// the first sample of the next bar (the sample a queued slot switches at); with none
    /// pending, drops what it holds. Called whenever the pending mutes or the tracks change.
    pub(super) fn queue_mutes(&mut self) {
        if self.pending_mutes.is_empty() || !self.status.running {
            if std::mem::take(&mut self.mutes_queued) {
                self.link.send(EngineMsg::CancelQueuedTracks);
            }
            return;
        }
        let mut tracks = self.song.sequencer.tracks.clone();
        for ((name, solo), want) in &self.pending_mutes {
            if let Some(t) = tracks.iter_mut().find(|t| &t.name == name) {
                if *solo {
                    t.solo = *want;
                } else {
                    t.muted = *want;
                }
            }
        }
        let set = TrackSet::from_tracks_routed(&tracks, self.voices, &mut self.midi_ports);
        let id = self.next_queue_id;
        self.next_queue_id += 1;
        self.link.send(EngineMsg::QueueTracks {
            tracks: Box::new(set),
            id,
        });
        self.mutes_queued = true;
        if self.queued_mutes.len() == QUEUED_MUTES_KEPT {
            self.queued_mutes.pop_front();
        }
        self.queued_mutes
            .push_back((id, self.pending_mutes.clone()));
    }

    /// The engine switched to the tracks queued as `id`: the mutes and solos that set held
    /// and that are still waiting take effect in the song. A press made after it was queued
    /// (the engine had not said so yet) keeps waiting for its own bar, and the engine plays
    /// the song's tracks again with what still waits queued anew.
    pub(super) fn on_tracks_applied(&mut self, id: u64) {
        let held = self
            .queued_mutes
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, m)| m.clone())
            .unwrap_or_default();
        self.queued_mutes.retain(|(i, _)| *i > id);
        for (key, want) in held {
            if self.pending_mutes.get(&key) != Some(&want) {
                continue;
            }
            self.pending_mutes.remove(&key);
            let (name, solo) = key;
            if let Some(t) = self
                .song
                .sequencer
                .tracks
                .iter_mut()
                .find(|t| t.name == name)
            {
                if solo {
                    t.solo = want;
                } else {
                    t.muted = want;
                }
            }
        }
        let set = TrackSet::from_tracks_routed(
            &self.song.sequencer.tracks,
            self.voices,
            &mut self.midi_ports,
        );
        self.link.send(EngineMsg::SetTracks(Box::new(set)));
        self.queue_mutes();
    }

    /// Changes performance state of the song (mutes, solos): the engine hears it, the undo
    /// history and the dirty mark do not see it.
    fn perform(&mut self, f: impl FnOnce(&mut Slot) -> Reply) -> Reply {
        let before = self.song.clone();
        match f(&mut self.song) {
            Ok(msg) => {
                self.sync(&before);
                Ok(msg)
            }
            Err(e) => {
                self.song = before;
                Err(e)
            }
        }
    }

    /// The next save writes the mutes and solos as they are now.
    pub(super) fn keep_mutes(&mut self) -> Reply {
        self.keep_mutes.insert(self.slot);
        Ok(Some(
            "mutes and solos kept in the song: the next save writes them".into(),
        ))
    }

    pub(super) fn set_edit_step(&mut self, n: usize) -> Reply {
        if n > limits::MAX_EDIT_STEP {
            return Err(ControlError::EditStepOutOfRange {
                step: n,
                max: limits::MAX_EDIT_STEP,
            });
        }
        self.edit_step = n;
        Ok(Some(format!("edit step {n}")))
    }

    pub(super) fn replace_tracks(&mut self, tracks: Vec<Track>, now: Instant) -> Reply {
        self.edit(now, None, |s| {
            limits::TRACKS.check(tracks.len())?;
            tracks.iter().try_for_each(check_track)?;
            s.sequencer.tracks = tracks;
            Ok(None)
        })
    }

    pub(super) fn clear_tracks(&mut self, now: Instant) -> Reply {
        let r = self.edit(now, None, |s| {
            s.sequencer.tracks.clear();
            Ok(Some("cleared all tracks".into()))
        });
        if !self.offstage {
            self.link.send(EngineMsg::ReleaseAll);
        }
        r
    }

    pub(super) fn set_name(&mut self, name: String, now: Instant) -> Reply {
        self.edit(now, None, |s| {
            limits::SLOT_NAME.check_chars(&name)?;
            s.metadata.name = name;
            Ok(None)
        })
    }

    pub(super) fn set_param(&mut self, id: ParamId, value: f64, now: Instant) -> Reply {
        let key = format!("param:{}", id.0);
        self.edit(now, Some(&key), |s| {
            // A voice parameter its tracks override on every hit sets their field too, so
            // the edit is heard (OSC, keys and typed values alike).
            let was_synced = s.delay_time_heard(id).is_some();
            let v = s.set_param_heard(id, clean(value, EDIT_DIGITS));
            let mut text = format!("{} {}", id.label(), fmt_num(v));
            if let Some(name) = id.spec().choice_name(v) {
                text.push_str(&format!(" ({name})"));
            }
            if was_synced {
                text.push_str(" (free: no longer synced to the tempo)");
            }
            Ok(Some(text))
        })
    }

    /// Sends the engine what differs between `before` and the current song. A slot waiting
    /// for its bar keeps its own snapshot in the engine; these go to what plays until then.
    pub(super) fn sync(&mut self, before: &Slot) {
        if self.offstage {
            // A prepared song: nothing of it is heard until it is queued.
            return;
        }
        let (a, b) = (&before.sequencer, &self.song.sequencer);
        if a.bpm != b.bpm {
            let bpm = b.bpm;
            self.send_bpm(bpm);
        }
        let (a, b) = (&before.sequencer, &self.song.sequencer);
        if a.swing != b.swing {
            self.link.send(EngineMsg::SetSwing(b.swing));
        }
        if a.tracks != b.tracks {
            let set = TrackSet::from_tracks_routed(&b.tracks, self.voices, &mut self.midi_ports);
            self.link.send(EngineMsg::SetTracks(Box::new(set)));
            // Tracks waiting for the bar must hold this edit too.
            self.queue_mutes();
        } else if self.pending_mutes.is_empty() {
            self.queue_mutes();
        }
        for id in ParamId::all(self.voices) {
            let v = self.song.params.get(id);
            if before.params.get(id) != v {
                self.link.send(EngineMsg::SetParam {
                    id,
                    value: v as f32,
                });
            }
        }
    }

    /// Sets the tempo the engine runs (the song's, or a followed leader's).
    pub(super) fn send_bpm(&mut self, bpm: f64) {
        if self.offstage {
            return;
        }
        self.status.playing_bpm = bpm;
        self.link.send(EngineMsg::SetBpm(bpm));
    }
}

/// Sets of queued tracks whose mutes are remembered until the engine says one applied (a
/// press or an edit each queues one; only those sent within one reply time matter).
const QUEUED_MUTES_KEPT: usize = 16;

/// Refuses NaN and infinite numbers before they reach the song (clamping would quietly turn
/// them into defaults).
pub(super) fn check_finite(cmd: &Command) -> Result<(), ControlError> {
    match cmd {
        Command::SetBpm(v) | Command::FollowTempo(v) => finite(Quantity::Bpm, *v),
        Command::NudgeBpm(v) => finite(Quantity::BpmChange, *v),
        Command::SetSwing(v) | Command::NudgeSwing(v) => finite(Quantity::Swing, *v),
        Command::SetParam { id, value } => finite(Quantity::Param(*id), *value),
        Command::SetTrackField { value, .. } => finite(Quantity::TrackValue, *value),
        Command::SetStepNote { hz, .. } => finite(Quantity::Note, *hz),
        Command::SetNotes { notes, .. } => {
            notes.iter().try_for_each(|n| finite(Quantity::Note, *n))
        }
        _ => Ok(()),
    }
}

/// A track that may join the song: a name within its limit, a voice, a pattern and notes
/// within theirs.
fn check_track(t: &Track) -> Result<(), ControlError> {
    check_track_name(&t.name)?;
    voice_number(&t.voice_id)?;
    check_pattern(&t.pattern)?;
    limits::NOTES.check(t.notes.len())?;
    Ok(())
}

fn check_track_name(name: &str) -> Result<(), ControlError> {
    if name.trim().is_empty() {
        return Err(ControlError::EmptyTrackName);
    }
    limits::TRACK_NAME.check_chars(name)?;
    Ok(())
}

fn check_pattern(p: &str) -> Result<(), ControlError> {
    let len = p.chars().count();
    if len > MAX_PATTERN {
        return Err(ControlError::PatternTooLong {
            len,
            max: MAX_PATTERN,
        });
    }
    Ok(())
}

fn voice_number(id: &str) -> Result<u8, ControlError> {
    match crate::model::Module::parse(id) {
        Some(crate::model::Module::Voice(n)) => Ok(n),
        _ => Err(ControlError::NotAVoice {
            id: id.to_string(),
            max: MAX_VOICES,
        }),
    }
}

fn track_index(s: &Slot, name: &str) -> Result<usize, ControlError> {
    s.sequencer
        .tracks
        .iter()
        .position(|t| t.name == name)
        .ok_or_else(|| ControlError::NoTrack(name.to_string()))
}

pub(super) fn track_mut<'a>(s: &'a mut Slot, name: &str) -> Result<&'a mut Track, ControlError> {
    let i = track_index(s, name)?;
    Ok(&mut s.sequencer.tracks[i])
}
