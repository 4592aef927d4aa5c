//! The selected track: select, add, remove, rename, move, voice, notes, length, fields,
//! mute/solo, and the track clipboard; plus what the track prompts read.

use crate::control::{self, Command, Controller, Level};
use crate::keymap::{Action, Choice, Cycle, LengthChange, Nudge, TrackFieldId, Vertical};
use crate::model::Track;
use crate::model::notes::{notes_to_names, read_notes};
use crate::model::registry::{MAX_VOICES, TRACK_FIELDS, audible_filter, track};

use super::super::app::{App, range_text};
use super::super::state::{Clipboard, Prompt, PromptKind};
use super::nudged;
use super::prompt::parse_in_range;

impl App {
    pub(super) fn track_action(&mut self, ctl: &mut Controller, action: Action) {
        match action {
            Action::TrackSelect(c) => self.track_select(ctl, c),
            Action::TrackAdd => {
                let name = free_name(&ctl.edited().sequencer.tracks, "track");
                self.ui.prompt = Some(Prompt::new(
                    PromptKind::AddTrack,
                    "Name of the new track",
                    name,
                ));
            }
            Action::TrackRemove => {
                if let Some(name) = self.selected_name(ctl) {
                    self.run(ctl, Command::RemoveTrack(name));
                }
            }
            Action::TrackRename => self.track_rename(ctl),
            Action::TrackMove(dir) => self.track_move(ctl, dir),
            Action::TrackVoice(choice) => self.track_voice(ctl, choice),
            Action::TrackNotes => self.track_notes(ctl),
            Action::TrackLength(change) => self.track_length(ctl, change),
            Action::TrackField(field) => self.track_field(ctl, field),
            Action::TrackFieldAdjust(field, nudge) => self.track_field_adjust(ctl, field, nudge),
            Action::FilterNudge(nudge) => self.filter_nudge(ctl, nudge),
            Action::Mute => {
                if let Some(track) = self.selected_name(ctl) {
                    self.run(ctl, Command::Mute { track, on: None });
                }
            }
            Action::Solo => {
                if let Some(track) = self.selected_name(ctl) {
                    self.run(ctl, Command::Solo { track, on: None });
                }
            }
            Action::MuteQuantize => {
                self.run(ctl, Command::SetMuteQuantize(None));
            }
            Action::MuteGroup(g) => {
                self.run(
                    ctl,
                    Command::MuteGroup {
                        group: g.number(),
                        on: None,
                    },
                );
            }
            Action::TrackMuteGroup => {
                if let Some(t) = self.selected(ctl) {
                    let now = control::mute_group(t).unwrap_or(0).to_string();
                    let label = format!("Mute group of {} (1–4, 0 = none)", t.name);
                    let kind = PromptKind::MuteGroup {
                        track: t.name.clone(),
                    };
                    self.ui.prompt = Some(Prompt::new(kind, label, now));
                }
            }
            Action::KeepMutes => {
                self.run(ctl, Command::KeepMutes);
            }
            Action::CopyTrack => {
                if let Some(t) = self.selected(ctl) {
                    let text = format!("copied track {}", t.name);
                    self.ui.clipboard = Some(Clipboard::Track(Box::new(t.clone())));
                    self.ui.say(Level::Info, text);
                }
            }
            Action::PasteTrack => self.paste_track(ctl),
            _ => {}
        }
    }

    fn track_select(&mut self, ctl: &Controller, c: Cycle) {
        let n = ctl.edited().sequencer.tracks.len();
        if n > 0 {
            self.ui.track = match c {
                Cycle::Next => (self.ui.track + 1) % n,
                Cycle::Prev => (self.ui.track + n - 1) % n,
            };
        }
    }

    fn track_rename(&mut self, ctl: &Controller) {
        if let Some(name) = self.selected_name(ctl) {
            let label = format!("New name for track {name}");
            self.ui.prompt = Some(Prompt::new(
                PromptKind::Rename {
                    track: name.clone(),
                },
                label,
                name,
            ));
        }
    }

    fn track_move(&mut self, ctl: &mut Controller, dir: Vertical) {
        if let Some(name) = self.selected_name(ctl) {
            let delta = match dir {
                Vertical::Up => -1,
                Vertical::Down => 1,
            };
            if self.run(ctl, Command::MoveTrack { track: name, delta }) {
                let n = ctl.edited().sequencer.tracks.len();
                self.ui.track = (self.ui.track as isize + delta).clamp(0, n as isize - 1) as usize;
            }
        }
    }

    fn track_notes(&mut self, ctl: &Controller) {
        if let Some(t) = self.selected(ctl) {
            let label = format!("Notes of {} (C2 d#3 60 261.63; empty = base_freq)", t.name);
            let prompt = Prompt::new(
                PromptKind::Notes {
                    track: t.name.clone(),
                },
                label,
                notes_to_names(&t.notes),
            );
            self.ui.prompt = Some(prompt);
        }
    }

    fn track_length(&mut self, ctl: &mut Controller, change: LengthChange) {
        let Some(t) = self.selected(ctl) else {
            return;
        };
        let (name, len) = (t.name.clone(), t.pattern.chars().count());
        match change {
            LengthChange::By(by) => {
                let len = (len as i64 + by as i64).clamp(1, control::MAX_PATTERN as i64);
                self.run(
                    ctl,
                    Command::SetLength {
                        track: name,
                        len: len as usize,
                    },
                );
            }
            LengthChange::Prompt => {
                let label = format!("Length of {name} in steps (1–{})", control::MAX_PATTERN);
                self.ui.prompt = Some(Prompt::new(
                    PromptKind::Length { track: name },
                    label,
                    len.to_string(),
                ));
            }
        }
    }

    fn track_field(&mut self, ctl: &Controller, field: TrackFieldId) {
        if let Some(t) = self.selected(ctl) {
            let f = &TRACK_FIELDS[field.index()];
            let label = format!("{} of {} ({})", f.key, t.name, range_text(&f.spec));
            let value = control::fmt_num(t.number(field.index()));
            self.ui.prompt = Some(Prompt::new(
                PromptKind::TrackField {
                    track: t.name.clone(),
                    field,
                },
                label,
                value,
            ));
        }
    }

    fn track_field_adjust(&mut self, ctl: &mut Controller, field: TrackFieldId, nudge: Nudge) {
        if let Some(t) = self.selected(ctl) {
            let spec = &TRACK_FIELDS[field.index()].spec;
            let value = nudged(spec, t.number(field.index()), nudge);
            let track = t.name.clone();
            self.run(
                ctl,
                Command::SetTrackField {
                    track,
                    field,
                    value,
                },
            );
        }
    }

    /// Sweeps the filter the selected track is heard through: acid1's cutoff on voice2 (whose
    /// own filter acid1 replaces), the track's cutoff elsewhere.
    fn filter_nudge(&mut self, ctl: &mut Controller, nudge: Nudge) {
        let Some(t) = self.selected(ctl) else {
            return;
        };
        match t.voice().and_then(audible_filter) {
            Some(id) => {
                let value = nudged(id.spec(), ctl.edited().params.get(id), nudge);
                self.run(ctl, Command::SetParam { id, value });
            }
            None => {
                if let Some(field) = TrackFieldId::new(track::FILTER_FREQ) {
                    self.track_field_adjust(ctl, field, nudge);
                }
            }
        }
    }

    fn track_voice(&mut self, ctl: &mut Controller, choice: Choice) {
        let Some(t) = self.selected(ctl) else {
            return;
        };
        let name = t.name.clone();
        let voices = ctl.voices().clamp(1, MAX_VOICES) as u8;
        let current = t.voice().unwrap_or(1).clamp(1, voices);
        let voice = match choice {
            Choice::Next => current % voices + 1,
            Choice::Prev => (current + voices - 2) % voices + 1,
            Choice::Prompt => {
                let label = format!("Voice for {name} (1–{voices})");
                self.ui.prompt = Some(Prompt::new(
                    PromptKind::Voice { track: name },
                    label,
                    current.to_string(),
                ));
                return;
            }
        };
        let cmd = Command::SetTrackVoice {
            track: name.clone(),
            voice: format!("voice{voice}"),
        };
        if self.run(ctl, cmd) {
            self.ui
                .say(Level::Info, format!("{name} plays voice{voice}"));
        }
    }

    fn paste_track(&mut self, ctl: &mut Controller) {
        let Some(Clipboard::Track(copied)) = self.ui.clipboard.clone() else {
            let text = match self.ui.clipboard {
                Some(Clipboard::Pattern(_)) => {
                    "the clipboard holds a whole pattern (paste it with paste_pattern)"
                }
                _ => "nothing copied yet",
            };
            self.ui.say(Level::Warning, text);
            return;
        };
        let tracks = ctl.edited().sequencer.tracks.clone();
        match tracks.get(self.ui.track) {
            Some(target) if target.name != copied.name => {
                // Over another track: take the copy's pattern and sound, keep the target's
                // name, voice and performance state.
                let mut t = (*copied).clone();
                t.name = target.name.clone();
                t.voice_id = target.voice_id.clone();
                t.muted = target.muted;
                t.solo = target.solo;
                let text = format!("pasted {} over {}", copied.name, target.name);
                if self.run(ctl, Command::AddTrack(Box::new(t))) {
                    self.ui.say(Level::Info, text);
                }
            }
            _ => {
                // Onto itself or into an empty song: add a copy below the selected track.
                let mut t = (*copied).clone();
                t.name = free_name(&tracks, &copied.name);
                t.muted = false;
                t.solo = false;
                let at = (self.ui.track + 1).min(tracks.len());
                let mut all = tracks;
                all.insert(at, t.clone());
                let text = format!("added {} (a copy of {})", t.name, copied.name);
                if self.run(ctl, Command::ReplaceTracks(all)) {
                    self.ui.track = at;
                    self.ui.say(Level::Info, text);
                }
            }
        }
    }

    /// The name typed after `track_add`: a new track below the selected one.
    pub(super) fn submit_add_track(
        &mut self,
        ctl: &mut Controller,
        text: &str,
    ) -> Result<(), String> {
        let name = text.to_string();
        if name.is_empty() {
            return Err("a track needs a name".into());
        }
        let tracks = ctl.edited().sequencer.tracks.clone();
        if tracks.iter().any(|t| t.name == name) {
            return Err(format!("a track named {name:?} exists already"));
        }
        let voice = free_voice(&tracks, ctl.voices());
        let t = ctl
            .edited()
            .new_track(&name, &format!("voice{voice}"), &".".repeat(16));
        let at = if tracks.is_empty() {
            0
        } else {
            (self.ui.track + 1).min(tracks.len())
        };
        let mut all = tracks;
        all.insert(at, t);
        self.apply_typed(ctl, Command::ReplaceTracks(all))?;
        self.ui.track = at;
        self.ui
            .say(Level::Info, format!("added track {name} on voice{voice}"));
        Ok(())
    }

    /// The new name typed after `track_rename`.
    pub(super) fn submit_rename(
        &mut self,
        ctl: &mut Controller,
        track: String,
        text: &str,
    ) -> Result<(), String> {
        self.apply_typed(
            ctl,
            Command::RenameTrack {
                from: track.clone(),
                to: text.to_string(),
            },
        )?;
        self.ui
            .say(Level::Info, format!("renamed {track} to {text}"));
        Ok(())
    }

    /// The notes typed after `track_notes`.
    pub(super) fn submit_notes(
        &mut self,
        ctl: &mut Controller,
        track: String,
        text: &str,
    ) -> Result<(), String> {
        // Read as OSC and slot files read notes: an entry out of range plays at the end of
        // the range, one that is no note is skipped, each said.
        let read = read_notes(text).map_err(|e| e.to_string())?;
        let names = notes_to_names(&read.hz);
        self.apply_typed(
            ctl,
            Command::SetNotes {
                track: track.clone(),
                notes: read.hz,
            },
        )?;
        let text = if names.is_empty() {
            format!("{track}: no notes (plays base_freq)")
        } else {
            format!("{track} notes: {names}")
        };
        if read.warnings.is_empty() {
            self.ui.say(Level::Info, text);
        } else {
            self.ui.say(
                Level::Warning,
                format!("{text} — {}", read.warnings.join("; ")),
            );
        }
        Ok(())
    }

    /// The voice typed after `track_voice prompt`.
    pub(super) fn submit_voice(
        &mut self,
        ctl: &mut Controller,
        track: String,
        text: &str,
    ) -> Result<(), String> {
        let voices = ctl.voices().clamp(1, MAX_VOICES);
        let digits = text.strip_prefix("voice").unwrap_or(text);
        let n: usize = digits
            .parse()
            .ok()
            .filter(|n| (1..=voices).contains(n))
            .ok_or_else(|| format!("\"{text}\" is not a voice: type 1–{voices}"))?;
        self.apply_typed(
            ctl,
            Command::SetTrackVoice {
                track: track.clone(),
                voice: format!("voice{n}"),
            },
        )?;
        self.ui.say(Level::Info, format!("{track} plays voice{n}"));
        Ok(())
    }

    /// The mute group typed after `track_mute_group`.
    pub(super) fn submit_mute_group(
        &mut self,
        ctl: &mut Controller,
        track: String,
        text: &str,
    ) -> Result<(), String> {
        let max = crate::model::limits::MAX_MUTE_GROUP as u8;
        let group: u8 = text.parse().ok().filter(|g| *g <= max).ok_or_else(|| {
            format!("\"{text}\" is not a mute group: type 1–{max}, or 0 for none")
        })?;
        self.apply_typed(ctl, Command::SetMuteGroup { track, group })
    }

    /// The length typed after `track_length prompt`.
    pub(super) fn submit_length(
        &mut self,
        ctl: &mut Controller,
        track: String,
        text: &str,
    ) -> Result<(), String> {
        let max = control::MAX_PATTERN;
        let len: usize = text
            .parse()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("\"{text}\" is not a length: type 1–{max}"))?;
        self.apply_typed(ctl, Command::SetLength { track, len })
    }

    /// The value typed after `track_field`.
    pub(super) fn submit_track_field(
        &mut self,
        ctl: &mut Controller,
        track: String,
        field: TrackFieldId,
        text: &str,
    ) -> Result<(), String> {
        let value = parse_in_range(text, &TRACK_FIELDS[field.index()].spec)?;
        self.apply_typed(
            ctl,
            Command::SetTrackField {
                track,
                field,
                value,
            },
        )
    }
}

/// `base` or `base2`, `base3`, … whichever no track uses yet.
fn free_name(tracks: &[Track], base: &str) -> String {
    let taken = |n: &str| tracks.iter().any(|t| t.name == n);
    let stem = base.trim_end_matches(|c: char| c.is_ascii_digit());
    let stem = if stem.is_empty() { base } else { stem };
    if !taken(base) && base != stem {
        return base.to_string();
    }
    (if stem == "track" { 1 } else { 2 }..)
        .map(|i| format!("{stem}{i}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_string())
}

/// The lowest voice no track plays; voice 1 when every voice is taken.
fn free_voice(tracks: &[Track], voices: usize) -> u8 {
    let voices = voices.clamp(1, MAX_VOICES) as u8;
    (1..=voices)
        .find(|v| !tracks.iter().any(|t| t.voice() == Some(*v)))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_names_count_up_from_the_copied_name() {
        let tracks = vec![
            Track::new("kick", "voice1", "X..."),
            Track::new("track1", "voice2", ""),
        ];
        assert_eq!(free_name(&tracks, "kick"), "kick2");
        assert_eq!(free_name(&tracks, "track"), "track2");
        assert_eq!(free_name(&tracks, "snare"), "snare2");
        assert_eq!(free_voice(&tracks, 8), 3);
    }
}
