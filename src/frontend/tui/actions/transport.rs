//! Transport: play, stop, tempo (nudge, typed, tapped), swing and recording.

use std::time::{Duration, Instant};

use crate::control::{self, Command, Controller, Level};
use crate::keymap::Action;
use crate::model::registry::sequencer as seq_spec;

use super::super::app::App;
use super::super::state::{Prompt, PromptKind};
use super::prompt::parse_in_range;

/// Taps further apart than this start a new tap-tempo measurement.
const TAP_WINDOW: Duration = Duration::from_secs(2);
/// Taps kept for the tap-tempo average.
const MAX_TAPS: usize = 8;

impl App {
    pub(super) fn transport_action(&mut self, ctl: &mut Controller, action: Action, now: Instant) {
        match action {
            Action::PlayToggle => {
                self.run(ctl, Command::TogglePlay);
            }
            Action::Stop => {
                self.run(ctl, Command::Stop);
            }
            Action::BpmNudge(d) => {
                self.run(ctl, Command::NudgeBpm(d));
            }
            Action::BpmSet => {
                let bpm = control::fmt_num(ctl.edited().sequencer.bpm);
                let label = format!("Tempo in BPM ({}–{})", seq_spec::BPM.min, seq_spec::BPM.max);
                self.ui.prompt = Some(Prompt::new(PromptKind::Bpm, label, bpm));
            }
            Action::TapTempo => self.tap(ctl, now),
            Action::Fill => {
                self.run(ctl, Command::SetFill(None));
            }
            Action::FillBar => {
                self.run(ctl, Command::FillBar);
            }
            Action::LinkToggle => {
                self.run(ctl, Command::Link(None));
            }
            Action::SwingNudge(d) => {
                self.run(ctl, Command::NudgeSwing(d));
            }
            Action::RecordToggle => {
                let cmd = if ctl.recording().is_some() {
                    Command::RecordStop
                } else {
                    Command::RecordStart(None)
                };
                self.run(ctl, cmd);
            }
            _ => {}
        }
    }

    fn tap(&mut self, ctl: &mut Controller, now: Instant) {
        let taps = &mut self.ui.taps;
        if taps
            .last()
            .is_some_and(|&last| now.saturating_duration_since(last) > TAP_WINDOW)
        {
            taps.clear();
        }
        taps.push(now);
        if taps.len() > MAX_TAPS {
            taps.remove(0);
        }
        if taps.len() < 2 {
            self.ui.say(Level::Info, "tap — keep tapping on the beat");
            return;
        }
        let span = taps[taps.len() - 1].saturating_duration_since(taps[0]);
        let interval = span.as_secs_f64() / (taps.len() - 1) as f64;
        if interval <= 0.0 {
            return;
        }
        let n = taps.len();
        let bpm = (60.0 / interval * 10.0).round() / 10.0;
        if self.run(ctl, Command::SetBpm(bpm)) {
            let shown = ctl.edited().sequencer.bpm;
            self.ui
                .say(Level::Info, format!("tap tempo {shown:.1} BPM ({n} taps)"));
        }
    }

    /// The tempo typed after `bpm_set`.
    pub(super) fn submit_bpm(&mut self, ctl: &mut Controller, text: &str) -> Result<(), String> {
        let bpm = parse_in_range(text, &seq_spec::BPM)?;
        self.apply_typed(ctl, Command::SetBpm(bpm))
    }
}
