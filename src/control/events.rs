//! Engine events → the status the screen shows and the notices the frontends and OSC get.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::engine::link::HostEvent;
use crate::engine::{EngineEvent, EngineMsg, Scene};
use crate::model::registry::MAX_VOICES;
use crate::store::SlotNumber;

use super::slots::Incoming;
use super::{Controller, Level, Notice, STEPS_PER_BEAT, tag_to_slot};

/// What the screen shows of the engine, updated from its events.
#[derive(Debug, Clone, Default)]
pub struct EngineStatus {
    /// Sequencer running.
    pub running: bool,
    /// Current bar since play.
    pub bar: u64,
    /// Step within the bar, 0–15.
    pub step_in_bar: u8,
    /// Steps since play.
    pub global_step: u64,
    /// Sample clock of the latest event.
    pub sample: u64,
    /// The slot the engine plays (after its bar-aligned switch).
    pub playing_slot: Option<SlotNumber>,
    /// A slot waiting for its bar.
    pub queued: Option<(SlotNumber, u64)>,
    /// Per-voice peak levels.
    pub levels: [f32; MAX_VOICES],
    /// Master peak (left, right).
    pub master: [f32; 2],
    /// The master limiter's deepest gain reduction in the last meter window, dB (0: none).
    pub limiting_db: f32,
    /// 8-band spectrum, 0–1.
    pub spectrum: [f32; 8],
    /// Mean callback load in % of the period.
    pub load_mean: f32,
    /// Max callback load in % of the period.
    pub load_max: f32,
    /// Callbacks that overran their period.
    pub late: u64,
    /// Device xruns / clock slips.
    pub xruns: u64,
    /// DSP units reset after going non-finite.
    pub unit_resets: u64,
    /// Where the sound goes (`alsa:jack …` or `internal clock …`).
    pub backend: String,
    /// What kind of backend plays, machine-readable: `device`, `internal` or `none`.
    pub backend_kind: &'static str,
    /// The tempo the engine actually runs (a follower's leader tempo), not only the song's.
    pub playing_bpm: f64,
    /// Audio muted by `/engine/stop`.
    pub muted: bool,
    /// Play was pressed and no step has sounded yet (a load then applies at bar 0).
    pub fresh: bool,
}

impl Controller {
    /// Reads the engine's events, retries pending messages and drops replaced boxes.
    /// Returns true when something the screen shows changed.
    pub fn poll(&mut self) -> bool {
        self.link.pump();
        self.link.collect_garbage();
        let mut changed = false;
        while let Some(ev) = self.link.try_event() {
            changed = true;
            self.on_event(ev);
        }
        self.status.muted = self.link.stats.muted.load(Ordering::Relaxed);
        changed |= self.poll_link();
        changed |= self.poll_disk();
        self.flush_draft_at(Instant::now(), false);
        changed
    }

    fn on_event(&mut self, ev: HostEvent) {
        match ev {
            HostEvent::Load {
                mean_pct,
                max_pct,
                late,
                xruns,
            } => {
                let st = &mut self.status;
                st.load_mean = mean_pct;
                st.load_max = max_pct;
                st.late = late;
                st.xruns = xruns;
            }
            HostEvent::Engine(e) => self.on_engine_event(e),
        }
    }

    fn on_engine_event(&mut self, e: EngineEvent) {
        let st = &mut self.status;
        match e {
            EngineEvent::Started { sample } => {
                st.running = true;
                st.sample = sample;
                self.notices.push_back(Notice::Started);
            }
            EngineEvent::Stopped { sample } => {
                st.running = false;
                st.sample = sample;
                self.notices.push_back(Notice::Stopped);
                // No bar is coming: what waited for one acts now.
                self.apply_pending_mutes();
                self.chain_on_stopped();
            }
            EngineEvent::Step {
                global_step,
                bar,
                step_in_bar,
                sample,
            } => self.on_step(global_step, bar, step_in_bar, sample),
            EngineEvent::Bar { bar, sample } => {
                st.bar = bar;
                self.notices.push_back(Notice::Bar { bar, sample });
                self.chain_on_bar(bar, sample);
            }
            EngineEvent::Queued { slot, bar } => {
                if let Some(slot) = tag_to_slot(slot) {
                    self.on_queued(slot, bar);
                    self.chain_on_queued(slot, bar);
                }
            }
            EngineEvent::Applied { slot, bar, .. } => self.on_applied(tag_to_slot(slot), bar),
            // The engine switched to the tracks with the waiting mutes at the bar's first
            // sample; the song takes them now (the engine already plays them).
            EngineEvent::TracksApplied { id, .. } => self.on_tracks_applied(id),
            EngineEvent::Levels {
                voices,
                master,
                limiting_db,
            } => {
                st.levels = voices;
                st.master = master;
                st.limiting_db = limiting_db;
            }
            EngineEvent::Spectrum { bands } => st.spectrum = bands,
            EngineEvent::Fill { on, .. } => {
                self.fill = on;
                let text = if on {
                    "fill on for one bar"
                } else {
                    "fill off"
                };
                self.notify(Level::Info, text);
            }
            EngineEvent::UnitReset => {
                st.unit_resets += 1;
                self.notify(Level::Warning, "a DSP unit went non-finite and was reset");
            }
        }
    }

    fn on_step(&mut self, global_step: u64, bar: u64, step_in_bar: u8, sample: u64) {
        let st = &mut self.status;
        st.global_step = global_step;
        st.fresh = false;
        st.bar = bar;
        st.step_in_bar = step_in_bar;
        st.sample = sample;
        let step = step_in_bar as u64;
        if step.is_multiple_of(STEPS_PER_BEAT) {
            self.notices.push_back(Notice::Beat {
                bar,
                beat: (step / STEPS_PER_BEAT) as u8,
                sample,
            });
        }
    }

    /// The engine confirmed the bar a load waits for; a notice only when it differs from the
    /// bar the controller predicted.
    fn on_queued(&mut self, slot: SlotNumber, bar: u64) {
        let predicted = self.status.queued.replace((slot, bar));
        if let Some(q) = self.queued.as_mut().filter(|q| q.slot == slot) {
            q.bar = bar;
        }
        if predicted != Some((slot, bar)) {
            self.notices.push_back(Notice::SlotQueued {
                slot,
                bar,
                from_disk: false,
            });
        }
    }

    /// The engine applied a load: a queued slot becomes the song now.
    fn on_applied(&mut self, slot: Option<SlotNumber>, bar: u64) {
        self.status.queued = None;
        self.status.playing_slot = slot;
        if let Some(q) = self.queued.take_if(|q| Some(q.slot) == slot) {
            let edited = q.edited;
            let incoming = Incoming {
                slot: q.slot,
                song: q.song,
                saved: q.saved,
                from_disk: q.from_disk,
            };
            self.switch_to(incoming, Instant::now());
            self.status.playing_bpm = self.song.sequencer.bpm;
            if edited {
                // An edit of the old song may have reached the engine after its switch.
                let scene = Scene::from_slot_routed(&self.song, self.voices, &mut self.midi_ports);
                self.link.send(EngineMsg::Amend(Box::new(scene)));
            }
        } else if self.queued.is_none() && slot != self.slot {
            // A load the controller no longer wants (undone just as its bar came): the
            // engine plays the controller's song again, without cutting voices.
            let scene = Scene::from_slot_routed(&self.song, self.voices, &mut self.midi_ports);
            self.link.send(EngineMsg::Amend(Box::new(scene)));
            self.status.playing_slot = self.slot;
        }
        // The load dropped the tracks the engine held for the bar: mutes still waiting (the
        // same slot loaded again keeps them) are queued anew.
        self.mutes_queued = false;
        self.queue_mutes();
        if let Some(slot) = slot {
            self.notices.push_back(Notice::SlotApplied { slot, bar });
        }
    }
}
