//! Ableton Link: joining and leaving the session, its peers and tempo as controller state,
//! and tempo edits proposed to it. The audio side ([`crate::engine::timeline`]) steers the
//! grid; this side only says whether Link is on and what the session looks like.
//!
//! Nothing here opens a socket or starts a thread until Link is switched on (`--link`, the
//! `Alt-k` key, `/link`).

use std::sync::atomic::Ordering;

use crate::engine::EngineMsg;

#[cfg(not(feature = "link"))]
use super::ControlError;
use super::{Controller, Level, Reply};

/// Link's command-line options (the tracker and headless).
#[derive(Debug, clap::Args, Clone, Default)]
pub struct LinkArgs {
    /// Join the Ableton Link session on the local network: tempo and bar lines shared with
    /// its peers (Alt-k or /link switch it live).
    #[arg(long)]
    pub link: bool,
    /// With Link on, share Play and Stop with the session's peers.
    #[arg(long)]
    pub link_start_stop: bool,
}

/// What the transport shows of Link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkStatus {
    /// Other peers in the session.
    pub peers: u64,
    /// The session's tempo.
    pub tempo: f64,
    /// Play and Stop are shared with the session.
    pub start_stop: bool,
    /// The latest phase error the audio side measured at a buffer's start (before steering
    /// it away), in ms; positive: Chronus was late.
    pub offset_ms: Option<f64>,
    /// Times the grid moved to the session's next bar line.
    pub realigns: u64,
    /// The device's output latency the phase is compared at (ms; 0 on the internal clock).
    pub latency_ms: f64,
}

impl LinkStatus {
    /// `LINK 2 peers 128.0` for the transport; `peer` when one.
    pub fn header(&self) -> String {
        let peers = if self.peers == 1 { "peer" } else { "peers" };
        format!("LINK {} {peers} {:.1}", self.peers, self.tempo)
    }

    /// One sentence for replies and the message line.
    pub fn describe(&self) -> String {
        let peers = match self.peers {
            0 => "no other peers".to_string(),
            1 => "1 other peer".to_string(),
            n => format!("{n} other peers"),
        };
        format!(
            "Link on: {peers}, session tempo {:.1} BPM{}",
            self.tempo,
            if self.start_stop {
                ", start/stop shared"
            } else {
                ""
            }
        )
    }
}

/// The Link side of the controller (off until switched on).
#[derive(Debug, Default)]
pub struct LinkState {
    #[cfg(feature = "link")]
    session: Option<crate::engine::ableton::LinkSession>,
    /// Share Play and Stop with the session when Link is on (`--link-start-stop`).
    start_stop: bool,
    /// As last polled.
    status: Option<LinkStatus>,
}

impl Controller {
    /// Link's state for the transport, `ctl status` and OSC; `None` while Link is off.
    pub fn link_status(&self) -> Option<LinkStatus> {
        self.ableton.status
    }

    /// Whether Play and Stop are shared with the session when Link is on.
    pub fn link_start_stop(&self) -> bool {
        self.ableton.start_stop
    }

    /// Shares Play and Stop with the session (`--link-start-stop`); takes effect when Link is
    /// switched on (again).
    pub fn set_link_start_stop(&mut self, on: bool) {
        self.ableton.start_stop = on;
    }

    /// Switches Link on, off, or over (`None`).
    pub(super) fn set_link(&mut self, on: Option<bool>) -> Reply {
        let on = on.unwrap_or(self.ableton.status.is_none());
        if on == self.ableton.status.is_some() {
            return Ok(Some(match self.ableton.status {
                Some(s) => s.describe(),
                None => "Link is off".into(),
            }));
        }
        if on { self.link_on() } else { self.link_off() }
    }

    #[cfg(feature = "link")]
    fn link_on(&mut self) -> Reply {
        use crate::engine::timeline::TimelineSync;
        let bpm = self.status.playing_bpm;
        let (session, timeline) =
            crate::engine::ableton::LinkSession::join(bpm, self.ableton.start_stop);
        let sync = TimelineSync::new(timeline, self.sample_rate(), self.ableton.start_stop);
        self.link.send(EngineMsg::AttachTimeline(Box::new(sync)));
        self.ableton.session = Some(session);
        self.poll_link();
        let text = "Link on: joined the session (bars on its quantum of 4 beats)";
        self.notify(Level::Info, text);
        Ok(Some(text.into()))
    }

    #[cfg(not(feature = "link"))]
    fn link_on(&mut self) -> Reply {
        Err(ControlError::LinkUnavailable)
    }

    fn link_off(&mut self) -> Reply {
        self.link.send(EngineMsg::DetachTimeline);
        #[cfg(feature = "link")]
        if let Some(s) = self.ableton.session.take() {
            s.leave();
        }
        self.ableton.status = None;
        self.status.playing_bpm = self.song.sequencer.bpm;
        let text = format!(
            "Link off: the song's own clock at {:.1} BPM",
            self.song.sequencer.bpm
        );
        self.notify(Level::Info, text.clone());
        Ok(Some(text))
    }

    /// Reads the session's peers and tempo (every loop turn while Link is on); says when the
    /// peers change. True when something shown changed.
    pub(super) fn poll_link(&mut self) -> bool {
        #[cfg(feature = "link")]
        {
            let Some(session) = self.ableton.session.as_mut() else {
                return false;
            };
            let stats = &self.link.stats.timeline;
            let attached = stats.attached.load(Ordering::Relaxed);
            let offset_ms = (attached && stats.buffers.load(Ordering::Relaxed) > 0)
                .then(|| stats.offset_us.load(Ordering::Relaxed) as f64 / 1000.0);
            let next = LinkStatus {
                peers: session.peers(),
                tempo: session.tempo(),
                start_stop: self.ableton.start_stop,
                offset_ms,
                realigns: stats.realigns.load(Ordering::Relaxed),
                latency_ms: stats.latency_us.load(Ordering::Relaxed) as f64 / 1000.0,
            };
            let before = self.ableton.status.replace(next);
            if let Some(b) = before
                && b.peers != next.peers
            {
                let text = match next.peers {
                    0 => "Link: no other peers in the session".to_string(),
                    1 => format!("Link: 1 other peer, tempo {:.1} BPM", next.tempo),
                    n => format!("Link: {n} other peers, tempo {:.1} BPM", next.tempo),
                };
                self.notify(Level::Info, text);
            }
            // The tempo that plays is the session's.
            self.status.playing_bpm = next.tempo;
            before != Some(next)
        }
        #[cfg(not(feature = "link"))]
        {
            let _ = Ordering::Relaxed;
            false
        }
    }

    /// A tempo edit made here is proposed to the session (which then plays it everywhere).
    pub(super) fn propose_link_tempo(&mut self, bpm: f64) {
        #[cfg(feature = "link")]
        if let Some(session) = self.ableton.session.as_mut() {
            session.propose_tempo(bpm);
            self.status.playing_bpm = bpm;
        }
        #[cfg(not(feature = "link"))]
        let _ = bpm;
    }

    /// The tempo a nudge starts from: the session's while Link is on, else the song's.
    pub(super) fn tempo_to_nudge(&self) -> f64 {
        match self.ableton.status {
            Some(s) => s.tempo,
            None => self.song.sequencer.bpm,
        }
    }
}
