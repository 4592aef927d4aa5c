//! The transport: play, stop, a followed tempo, and gates opened by hand.

use crate::engine::EngineMsg;
use crate::model::registry::sequencer as seq_spec;

use super::{ControlError, Controller, Reply};

impl Controller {
    /// Starts the sequencer from step 0.
    pub(super) fn play(&mut self) -> Reply {
        if !self.status.running {
            self.status.bar = 0;
            self.status.global_step = 0;
            self.status.step_in_bar = 0;
            self.status.fresh = true;
        }
        self.link.send(EngineMsg::Play);
        self.status.running = true;
        Ok(None)
    }

    pub(super) fn stop(&mut self) -> Reply {
        self.link.send(EngineMsg::Stop);
        self.status.running = false;
        Ok(None)
    }

    pub(super) fn toggle_play(&mut self) -> Reply {
        if self.status.running {
            self.stop()
        } else {
            self.play()
        }
    }

    /// The engine runs `bpm` without the song changing (no undo step, nothing to save).
    pub(super) fn follow_tempo(&mut self, bpm: f64) -> Reply {
        self.send_bpm(seq_spec::BPM.clamp(bpm));
        Ok(None)
    }

    /// Fill mode on, off or toggled; the engine hears it at its next step.
    pub(super) fn set_fill(&mut self, on: Option<bool>) -> Reply {
        self.fill = on.unwrap_or(!self.fill);
        self.link.send(EngineMsg::SetFill(self.fill));
        Ok(Some(if self.fill { "fill on" } else { "fill off" }.into()))
    }

    /// Fill for the next bar only; the engine switches it on and off at the bar lines and
    /// tells (`EngineEvent::Fill`).
    pub(super) fn fill_bar(&mut self) -> Reply {
        self.link.send(EngineMsg::FillBar);
        Ok(Some("fill for the next bar".into()))
    }

    pub(super) fn gate(&mut self, voice: u8, on: bool) -> Reply {
        if voice == 0 || voice as usize > self.voices {
            return Err(ControlError::VoiceMissing {
                voice,
                voices: self.voices,
            });
        }
        self.link.send(EngineMsg::Gate { voice, on });
        Ok(None)
    }
}
