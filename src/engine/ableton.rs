//! Ableton Link through `rusty_link` (the `link` cargo feature): the session's control-side
//! handle ([`LinkSession`]) and its audio-side [`Timeline`].
//!
//! Making a [`LinkSession`] starts Link's own network thread and its discovery sockets, so
//! one is made only for `--link` or when Link is switched on; dropping the last handle (the
//! control side's and the timeline's, which the audio thread hands back as garbage) stops
//! them.

use std::sync::Arc;

use rusty_link::{AblLink, SessionState};

use super::timeline::{QUANTUM, Timeline};

/// The control side of a Link session: peers, the session's tempo, tempo proposals.
pub struct LinkSession {
    link: Arc<AblLink>,
    state: SessionState,
}

impl std::fmt::Debug for LinkSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSession").finish_non_exhaustive()
    }
}

/// The audio side: captures the session into state made here, off the audio thread.
struct LinkTimeline {
    link: Arc<AblLink>,
    state: SessionState,
}

impl LinkSession {
    /// Joins (or opens) the Link session on the local network at `bpm`; `start_stop` shares
    /// Play and Stop with the peers. Returns the control side and the audio side's timeline.
    pub fn join(bpm: f64, start_stop: bool) -> (LinkSession, Box<dyn Timeline>) {
        let link = Arc::new(AblLink::new(bpm));
        link.enable_start_stop_sync(start_stop);
        link.enable(true);
        let timeline = LinkTimeline {
            link: link.clone(),
            state: SessionState::new(),
        };
        (
            LinkSession {
                link,
                state: SessionState::new(),
            },
            Box::new(timeline),
        )
    }

    /// Other peers in the session.
    pub fn peers(&self) -> u64 {
        self.link.num_peers()
    }

    /// The session's tempo now.
    pub fn tempo(&mut self) -> f64 {
        self.link.capture_app_session_state(&mut self.state);
        self.state.tempo()
    }

    /// Whether the session's transport plays (meaningful with start/stop sync).
    pub fn is_playing(&mut self) -> bool {
        self.link.capture_app_session_state(&mut self.state);
        self.state.is_playing()
    }

    /// Proposes `bpm` to the session, from now on.
    pub fn propose_tempo(&mut self, bpm: f64) {
        self.link.capture_app_session_state(&mut self.state);
        let now = self.link.clock_micros();
        self.state.set_tempo(bpm, now);
        self.link.commit_app_session_state(&self.state);
    }

    /// Shares Play and Stop with the session, or stops sharing them.
    pub fn set_start_stop(&self, on: bool) {
        self.link.enable_start_stop_sync(on);
    }

    /// Leaves the session (the timeline's handle may still live a moment on the audio side).
    pub fn leave(&self) {
        self.link.enable(false);
    }
}

impl Timeline for LinkTimeline {
    fn capture(&mut self) -> i64 {
        self.link.capture_audio_session_state(&mut self.state);
        self.link.clock_micros()
    }

    fn tempo(&self) -> f64 {
        self.state.tempo()
    }

    fn beat_at(&self, t: i64) -> f64 {
        self.state.beat_at_time(t, QUANTUM)
    }

    fn time_at(&self, beat: f64) -> i64 {
        self.state.time_at_beat(beat, QUANTUM)
    }

    fn request_beat(&mut self, beat: f64, t: i64) {
        self.state.request_beat_at_time(beat, t, QUANTUM);
    }

    fn is_playing(&self) -> bool {
        self.state.is_playing()
    }

    fn time_for_is_playing(&self) -> i64 {
        self.state.time_for_is_playing()
    }

    fn set_playing(&mut self, playing: bool, t: i64) {
        self.state.set_is_playing(playing, t);
    }

    fn commit(&mut self) {
        self.link.commit_audio_session_state(&self.state);
    }
}
