//! Snapshots built on the control thread and handed to the audio thread in a `Box`.
//!
//! Everything here is resolved ahead of time (voice ids to numbers, pattern text to step
//! values, mute/solo to `active`, numbers clamped) so the audio thread only reads plain data.

use super::midi::{NoteOut, PortTable};
use crate::model::limits::{MAX_NOTES, MAX_PATTERN, MAX_TRACKS};
use crate::model::registry::{
    TRACK_FIELDS, VOICE_PARAM_COUNT, sequencer as seq_spec, step as step_spec, track, voice,
};
use crate::model::steps::{Cond, LockTarget, StepData};
use crate::model::{ParamId, ParamValues, Slot, Track};

/// "No step": a track has not played a step early (see [`SceneTrack::ahead`]).
pub const NO_STEP: u64 = u64::MAX;

/// A step value: rest.
pub const STEP_REST: u8 = 0;
/// A step value: hit at velocity 0.6 (`x`).
pub const STEP_HIT: u8 = 1;
/// A step value: accented hit at velocity 1.0 (`X`).
pub const STEP_ACCENT: u8 = 2;

/// A whole snapshot: tempo, swing, tracks and every module parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// Tempo, 30–300.
    pub bpm: f64,
    /// Swing, 0–0.6.
    pub swing: f64,
    /// The sequencer tracks.
    pub tracks: TrackSet,
    /// Every module parameter, voices 1–16 and the effects.
    pub params: ParamValues,
    /// Seed of the steps' chance (`sequencer.seed`, 0 when the file has none).
    pub seed: u64,
}

impl Scene {
    /// Builds the snapshot of a slot for an engine running `voices` voices; MIDI note ports
    /// are numbered in the order the slot names them.
    pub fn from_slot(slot: &Slot, voices: usize) -> Scene {
        Scene::from_slot_routed(slot, voices, &mut PortTable::default())
    }

    /// [`Scene::from_slot`] with MIDI note ports numbered by the session's `ports`.
    pub fn from_slot_routed(slot: &Slot, voices: usize, ports: &mut PortTable) -> Scene {
        Scene {
            bpm: seq_spec::BPM.clamp(slot.sequencer.bpm),
            swing: seq_spec::SWING.clamp(slot.sequencer.swing),
            seed: slot.sequencer.seed.unwrap_or(0) as u64,
            tracks: TrackSet::from_tracks_routed(&slot.sequencer.tracks, voices, ports),
            params: slot.params.clone(),
        }
    }
}

impl Default for Scene {
    fn default() -> Self {
        Scene {
            bpm: seq_spec::BPM.default,
            swing: seq_spec::SWING.default,
            tracks: TrackSet::default(),
            params: ParamValues::default(),
            seed: 0,
        }
    }
}

/// The sequencer tracks as the audio thread plays them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrackSet {
    /// Tracks in file order; later tracks win when two hit the same voice on one step.
    pub tracks: Vec<SceneTrack>,
    /// Positions in `tracks` ordered by name (then position), built off the audio thread, so
    /// the audio thread finds a track by name in logarithmic time.
    by_name: Vec<u16>,
}

impl TrackSet {
    /// Resolves slot tracks for an engine running `voices` voices (mute/solo into `active`).
    /// At most [`MAX_TRACKS`] tracks are taken, so the audio thread's work per step stays
    /// bounded even if a caller skipped the controller's checks.
    pub fn from_tracks(tracks: &[Track], voices: usize) -> TrackSet {
        TrackSet::from_tracks_routed(tracks, voices, &mut PortTable::default())
    }

    /// [`TrackSet::from_tracks`] with MIDI note ports numbered by the session's `ports`.
    pub fn from_tracks_routed(tracks: &[Track], voices: usize, ports: &mut PortTable) -> TrackSet {
        let tracks = &tracks[..tracks.len().min(MAX_TRACKS)];
        let any_solo = tracks.iter().any(|t| t.solo);
        let tracks: Vec<SceneTrack> = tracks
            .iter()
            .map(|t| {
                let mut s = SceneTrack::from_track(t, voices, !t.muted && (!any_solo || t.solo));
                s.midi = t.midi.as_ref().and_then(|m| {
                    Some(NoteOut {
                        port: ports.index(&m.port)?,
                        channel: m.channel.clamp(1, 16) - 1,
                    })
                });
                s
            })
            .collect();
        let mut by_name: Vec<u16> = (0..tracks.len() as u16).collect();
        by_name.sort_by(|&a, &b| tracks[a as usize].name.cmp(&tracks[b as usize].name));
        TrackSet { tracks, by_name }
    }

    /// The first track (in file order) named `name` that plays `notes`. Allocation-free and
    /// logarithmic in the number of tracks: the audio thread calls it for every track swap.
    pub fn find(&self, name: &str, notes: &[f32]) -> Option<&SceneTrack> {
        let first = self
            .by_name
            .partition_point(|&i| self.tracks[i as usize].name.as_str() < name);
        self.by_name[first..]
            .iter()
            .map(|&i| &self.tracks[i as usize])
            .take_while(|t| t.name == name)
            .find(|t| t.notes == notes)
    }

    /// The first track (in file order) named `name`. Allocation-free and logarithmic.
    pub fn find_named(&self, name: &str) -> Option<&SceneTrack> {
        let first = self
            .by_name
            .partition_point(|&i| self.tracks[i as usize].name.as_str() < name);
        self.by_name[first..]
            .iter()
            .map(|&i| &self.tracks[i as usize])
            .find(|t| t.name == name)
    }
}

/// One track, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneTrack {
    /// Track name (carries running note indexes across track swaps).
    pub name: String,
    /// Voice played, 1-based; `None` when the id is unknown or beyond the running voices.
    pub voice: Option<u8>,
    /// Step values: [`STEP_REST`], [`STEP_HIT`], [`STEP_ACCENT`].
    pub steps: Vec<u8>,
    /// Notes in Hz, cycled on hits.
    pub notes: Vec<f32>,
    /// Frequency when `notes` is empty.
    pub base_freq: f32,
    /// Amplitude × velocity on hits.
    pub base_amp: f32,
    /// Voice cutoff on hits.
    pub filter_freq: f32,
    /// Cutoff boost × (velocity − 0.5).
    pub accent_boost: f32,
    /// Gain of an accented hit over a plain one (linear, from the track's `accent` dB).
    pub accent_gain: f32,
    /// Reverb send set on hits.
    pub reverb_send: f32,
    /// Delay send set on hits.
    pub delay_send: f32,
    /// Gate length as a fraction of a step.
    pub gate_frac: f32,
    /// Index of the next note.
    pub note_index: u64,
    /// Index of the note the track's first hit plays (the slot's `note_index`): where the
    /// cycle starts again on Play.
    pub note_start: u64,
    /// False when muted, or when another track is soloed.
    pub active: bool,
    /// Per-step data by 0-based step, as long as `steps`; empty when no step of the track
    /// plays differently from its pattern (such a track plays exactly as before schema 1.1).
    pub step_data: Vec<Option<StepPlay>>,
    /// A hash of the name: with the slot's seed, the step and the loop it draws the chance.
    pub name_hash: u64,
    /// The global step from which the track counts its loops (Play, or the step at which its
    /// slot was applied); `A:B` and `first` read the loop count.
    pub anchor: u64,
    /// The outcome of the track's most recently evaluated condition, for `pre`.
    pub pre: bool,
    /// The global step whose hit was played early (negative micro), or [`NO_STEP`].
    pub ahead: u64,
    /// Where its hits also go as MIDI notes.
    pub midi: Option<NoteOut>,
}

/// One step's data, resolved off the audio thread: every value the hit needs, with the
/// step's locks already in place of the track's fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepPlay {
    /// Pitch instead of the note cycle's (a step note, else a `base_freq` lock).
    pub note: Option<f32>,
    /// Scales the hit's level.
    pub velocity: f32,
    /// `base_amp`, locked or the track's.
    pub base_amp: f32,
    /// `filter_freq`, locked or the track's.
    pub filter_freq: f32,
    /// `accent_boost`, locked or the track's.
    pub accent_boost: f32,
    /// Linear gain of an accented hit (from `accent`, locked or the track's).
    pub accent_gain: f32,
    /// `reverb_send`, locked or the track's.
    pub reverb_send: f32,
    /// `delay_send`, locked or the track's.
    pub delay_send: f32,
    /// `gate_frac`, locked or the track's.
    pub gate_frac: f32,
    /// Voice parameters locked for the step (by `registry::voice` index).
    pub voice_locks: [Option<f32>; VOICE_PARAM_COUNT],
    /// Fraction of a step the hit moves.
    pub micro: f32,
    /// Hits in the step.
    pub ratchet: u8,
    /// Probability the step plays, 0–100.
    pub chance: f32,
    /// Trig condition.
    pub cond: Option<Cond>,
}

impl StepPlay {
    /// Resolves step data `d` of track `t`.
    pub fn new(t: &Track, d: &StepData) -> StepPlay {
        let field = |i: usize| {
            let spec = &TRACK_FIELDS[i].spec;
            spec.clamp(d.lock(LockTarget::Track(i)).unwrap_or(t.number(i))) as f32
        };
        let freq = ParamId::voice(1, voice::FREQ).spec();
        let mut voice_locks = [None; VOICE_PARAM_COUNT];
        for (p, slot) in voice_locks.iter_mut().enumerate() {
            *slot = d
                .lock(LockTarget::Voice(p))
                .map(|v| ParamId::voice(1, p).spec().clamp(v) as f32);
        }
        StepPlay {
            note: d
                .note
                .or(d.lock(LockTarget::Track(track::BASE_FREQ)))
                .map(|hz| freq.clamp(hz) as f32),
            velocity: step_spec::VELOCITY.clamp(d.velocity.unwrap_or(1.0)) as f32,
            base_amp: field(track::BASE_AMP),
            filter_freq: field(track::FILTER_FREQ),
            accent_boost: field(track::ACCENT_BOOST),
            accent_gain: 10f32.powf(field(track::ACCENT) / 20.0),
            reverb_send: field(track::REVERB_SEND),
            delay_send: field(track::DELAY_SEND),
            gate_frac: field(track::GATE_FRAC),
            voice_locks,
            micro: step_spec::MICRO.clamp(d.micro.unwrap_or(0.0)) as f32,
            ratchet: step_spec::RATCHET.clamp(d.ratchet.unwrap_or(1) as f64) as u8,
            chance: step_spec::CHANCE.clamp(d.chance.unwrap_or(100.0)) as f32,
            cond: d.cond,
        }
    }
}

/// FNV-1a of a track name.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl SceneTrack {
    /// Resolves one slot track; `active` comes from the caller's mute/solo logic.
    pub fn from_track(t: &Track, voices: usize, active: bool) -> SceneTrack {
        let num = |i: usize| TRACK_FIELDS[i].spec.clamp(t.number(i)) as f32;
        let freq_spec = ParamId::voice(1, voice::FREQ).spec();
        SceneTrack {
            name: t.name.clone(),
            voice: t.voice().filter(|&v| (v as usize) <= voices),
            steps: pattern_steps(&t.pattern),
            notes: t
                .notes
                .iter()
                .take(MAX_NOTES)
                .map(|&n| freq_spec.clamp(n) as f32)
                .collect(),
            base_freq: num(track::BASE_FREQ),
            base_amp: num(track::BASE_AMP),
            filter_freq: num(track::FILTER_FREQ),
            accent_boost: num(track::ACCENT_BOOST),
            accent_gain: 10f32.powf(num(track::ACCENT) / 20.0),
            reverb_send: num(track::REVERB_SEND),
            delay_send: num(track::DELAY_SEND),
            gate_frac: num(track::GATE_FRAC),
            note_index: t.note_index,
            note_start: t.note_index,
            active,
            step_data: step_table(t),
            name_hash: name_hash(&t.name),
            anchor: 0,
            pre: false,
            ahead: NO_STEP,
            midi: None,
        }
    }
}

/// The per-step table of a track: empty when every step plays as its pattern says.
fn step_table(t: &Track) -> Vec<Option<StepPlay>> {
    let len = t.pattern.chars().count().min(MAX_PATTERN);
    let played = |i: usize| t.steps.at(i).filter(|d| !d.plays_as_pattern());
    if !(0..len).any(|i| played(i).is_some()) {
        return Vec::new();
    }
    (0..len)
        .map(|i| played(i).map(|d| StepPlay::new(t, d)))
        .collect()
}

/// Turns pattern text into step values: `X` accent, `x` hit, any other character a rest.
/// Steps past [`MAX_PATTERN`] are left out.
pub fn pattern_steps(pattern: &str) -> Vec<u8> {
    pattern
        .chars()
        .take(MAX_PATTERN)
        .map(|c| match c {
            'X' => STEP_ACCENT,
            'x' => STEP_HIT,
            _ => STEP_REST,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_map_every_character_to_one_step() {
        assert_eq!(pattern_steps("Xx.-é"), vec![2, 1, 0, 0, 0]);
        assert!(pattern_steps("").is_empty());
    }

    #[test]
    fn mute_solo_and_unknown_voices_resolve() {
        let mut a = Track::new("a", "voice1", "x...");
        let mut b = Track::new("b", "voice2", "X...");
        let c = Track::new("c", "voice12", "x...");
        let d = Track::new("d", "bogus", "x...");
        let set = TrackSet::from_tracks(&[a.clone(), b.clone(), c.clone(), d.clone()], 8);
        assert!(set.tracks.iter().all(|t| t.active));
        assert_eq!(
            set.tracks.iter().map(|t| t.voice).collect::<Vec<_>>(),
            vec![Some(1), Some(2), None, None]
        );
        b.solo = true;
        a.muted = false;
        let set = TrackSet::from_tracks(&[a.clone(), b.clone(), c], 16);
        assert_eq!(
            set.tracks.iter().map(|t| t.active).collect::<Vec<_>>(),
            vec![false, true, false]
        );
        assert_eq!(set.tracks[2].voice, Some(12));
        a.muted = true;
        b.solo = false;
        let set = TrackSet::from_tracks(&[a, b], 8);
        assert_eq!(
            set.tracks.iter().map(|t| t.active).collect::<Vec<_>>(),
            vec![false, true]
        );
    }

    #[test]
    fn tracks_are_found_by_name_and_notes_in_file_order() {
        let mut ts: Vec<Track> = ["m", "c", "x", "c", "a"]
            .iter()
            .map(|n| Track::new(n, "voice1", "x"))
            .collect();
        ts[1].notes = vec![110.0];
        ts[3].notes = vec![220.0];
        ts[3].note_index = 7;
        let set = TrackSet::from_tracks(&ts, 8);
        assert_eq!(set.find("c", &[220.0]).map(|t| t.note_index), Some(7));
        assert_eq!(set.find("c", &[110.0]).map(|t| t.note_index), Some(0));
        assert!(set.find("c", &[]).is_none());
        assert!(set.find("b", &[]).is_none());
        assert!(set.find("zz", &[]).is_none());
        assert_eq!(set.find("a", &[]).map(|t| t.name.as_str()), Some("a"));
    }

    #[test]
    fn a_scene_holds_at_most_the_limits_whatever_it_is_given() {
        let mut t = Track::new("t", "voice1", &"x".repeat(MAX_PATTERN * 3));
        t.notes = vec![100.0; MAX_NOTES * 2];
        let set = TrackSet::from_tracks(&vec![t; MAX_TRACKS + 5], 8);
        assert_eq!(set.tracks.len(), MAX_TRACKS);
        assert_eq!(set.tracks[0].steps.len(), MAX_PATTERN);
        assert_eq!(set.tracks[0].notes.len(), MAX_NOTES);
    }

    #[test]
    fn numbers_are_clamped_into_their_ranges() {
        let mut t = Track::new("t", "voice1", "x");
        t.base_amp = 3.0;
        t.gate_frac = 0.0;
        t.notes = vec![1.0, 110.0, 99999.0];
        let s = SceneTrack::from_track(&t, 8, true);
        assert_eq!(s.base_amp, 1.0);
        assert_eq!(s.gate_frac, 0.01);
        assert_eq!(s.notes, vec![20.0, 110.0, 5000.0]);
    }
}
