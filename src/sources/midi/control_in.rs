//! MIDI control in: what `midi.toml` maps, applied through the one command path, and MIDI
//! learn.
//!
//! A knob's sweep sends dozens of values a second; each turn of the control loop keeps only
//! the latest value per parameter and applies that one as a `SetParam` at the end of the
//! turn, so the engine hears at most one change per mapped parameter per turn, and the undo
//! history merges the sweep as it merges held-down nudges (one step per parameter while the
//! edits come less than a second apart). Buttons that send CCs act when the value rises
//! through 64 (a press), so a button's release does nothing but end a `fill_hold`.

use std::path::{Path, PathBuf};

use crate::control::{Command, Controller, Level};
use crate::model::ParamId;
use crate::store::read_user_file;
use crate::store::user_file::replace_user_file;

use super::map::{
    Incoming, MAP_READ, MapRule, MidiMap, MidiMapError, Target, Trigger, pad_command, position,
    with_learned,
};

/// The mapped controls of one MIDI input.
pub struct Controls {
    map: MidiMap,
    path: PathBuf,
    /// The latest value of every controller on every channel (`None`: none seen yet), to
    /// tell a button's press (a rise through 64) from its release.
    cc_last: Box<[[Option<u8>; 128]; 16]>,
    /// Parameter values waiting for the end of the turn, the latest per parameter, with the
    /// rule that set them.
    pending: Vec<(ParamId, f64, usize)>,
    /// Messages a rule acted on.
    mapped: u64,
    /// The latest thing a mapped control did, for the status line.
    last: Option<String>,
    /// Rules whose refusal was said already (said once each, not per message).
    told: Vec<usize>,
    /// What to say at the first turn (the map read, or why not).
    news: Option<(Level, String)>,
    /// The parameter MIDI learn waits for, as last seen.
    learning: Option<ParamId>,
}

impl Controls {
    /// Reads the map at `path` (no file: no rules). A broken file maps nothing; the error is
    /// said once, at the first turn.
    pub fn open(path: &Path) -> Controls {
        let (map, news) = match MidiMap::load(path) {
            Ok(Some(map)) => {
                let n = map.rules().len();
                let rules = if n == 1 { "rule" } else { "rules" };
                let news = (
                    Level::Info,
                    format!("MIDI map: {n} {rules} from {}", path.display()),
                );
                (map, Some(news))
            }
            Ok(None) => (MidiMap::default(), None),
            Err(e) => (MidiMap::default(), Some((Level::Error, e.to_string()))),
        };
        Controls {
            map,
            path: path.to_path_buf(),
            cc_last: Box::new([[None; 128]; 16]),
            pending: Vec::new(),
            mapped: 0,
            last: None,
            told: Vec::new(),
            news,
            learning: None,
        }
    }

    /// The rules in use.
    pub fn map(&self) -> &MidiMap {
        &self.map
    }

    /// Says what the map holds (or why it holds nothing) once.
    pub fn announce(&mut self, ctl: &mut Controller) {
        if let Some((level, text)) = self.news.take() {
            ctl.notify(level, text);
        }
    }

    /// Takes one message: MIDI learn's when armed, else the rule it fits, if any.
    pub fn on_message(&mut self, ctl: &mut Controller, bytes: &[u8]) {
        let Some(m) = Incoming::read(bytes) else {
            return;
        };
        self.learning = ctl.midi_learn();
        if let Some(id) = self.learning {
            if let Some(on) = m.trigger() {
                self.flush(ctl);
                self.learn(ctl, on, id);
            }
            return;
        }
        let was = match m {
            Incoming::Cc {
                channel,
                number,
                value,
            } => self.cc_last[channel as usize - 1][number as usize].replace(value),
            _ => None,
        };
        let Some((i, rule)) = self.map.find(&m) else {
            return;
        };
        match (rule.run, m) {
            (Target::Set(id), Incoming::Cc { value, .. }) => self.set(id, value, i),
            (Target::Set(id), Incoming::NoteOn { velocity, .. }) => self.set(id, velocity, i),
            (Target::FillHold, Incoming::Cc { value, .. }) => {
                let held = value >= 64;
                if was.is_none_or(|w| (w >= 64) != held) {
                    self.run(ctl, i, Command::SetFill(Some(held)));
                }
            }
            (Target::FillHold, Incoming::NoteOn { .. }) => {
                self.run(ctl, i, Command::SetFill(Some(true)))
            }
            (Target::FillHold, Incoming::NoteOff { .. }) => {
                self.run(ctl, i, Command::SetFill(Some(false)))
            }
            (Target::Action(a), Incoming::Cc { value, .. })
                if value >= 64 && was.is_none_or(|w| w < 64) =>
            {
                if let Some(cmd) = pad_command(a, ctl.recording().is_some()) {
                    self.run(ctl, i, cmd);
                }
            }
            (Target::Action(a), Incoming::NoteOn { .. }) => {
                if let Some(cmd) = pad_command(a, ctl.recording().is_some()) {
                    self.run(ctl, i, cmd);
                }
            }
            _ => {}
        }
    }

    /// Keeps `value` (0–127) for parameter `id`, replacing an older one of this turn.
    fn set(&mut self, id: ParamId, value: u8, rule: usize) {
        let v = id.spec().at_position(position(value));
        self.mapped += 1;
        match self.pending.iter_mut().find(|(p, _, _)| *p == id) {
            Some(p) => *p = (id, v, rule),
            None => self.pending.push((id, v, rule)),
        }
    }

    /// Applies the parameter values of this turn, one command each.
    pub fn flush(&mut self, ctl: &mut Controller) {
        for (id, value, rule) in std::mem::take(&mut self.pending) {
            match ctl.apply(Command::SetParam { id, value }) {
                Ok(text) => {
                    let on = self.map.rules()[rule].on;
                    let did = text.unwrap_or_else(|| id.label());
                    self.last = Some(format!("{on} → {did}"));
                }
                Err(e) => self.refused(ctl, rule, &e.to_string()),
            }
        }
        self.learning = ctl.midi_learn();
    }

    /// Runs an action's command, after this turn's parameter values (so they keep their
    /// order); what it did is said.
    fn run(&mut self, ctl: &mut Controller, rule: usize, cmd: Command) {
        self.flush(ctl);
        self.mapped += 1;
        let MapRule { on, run_text, .. } = &self.map.rules()[rule];
        let (on, run_text) = (*on, run_text.clone());
        match ctl.apply(cmd) {
            Ok(text) => {
                let did = text.unwrap_or_else(|| run_text.clone());
                self.last = Some(format!("{on} → {did}"));
                ctl.notify(Level::Info, format!("MIDI {on}: {did}"));
            }
            Err(e) => {
                let why = e.to_string();
                self.last = Some(format!("{on} → {run_text}: {why}"));
                ctl.notify(Level::Warning, format!("MIDI {on} ({run_text}): {why}"));
            }
        }
    }

    /// Says once per rule why its parameter change was refused.
    fn refused(&mut self, ctl: &mut Controller, rule: usize, why: &str) {
        if self.told.contains(&rule) {
            return;
        }
        self.told.push(rule);
        let r = &self.map.rules()[rule];
        ctl.notify(
            Level::Warning,
            format!("MIDI {} ({}): {why}", r.on, r.run_text),
        );
    }

    /// Maps `on` to parameter `id`: the rule is written to the map file (the other rules and
    /// the comments kept, the previous version as a backup) and used from the next message.
    fn learn(&mut self, ctl: &mut Controller, on: Trigger, id: ParamId) {
        let _ = ctl.apply(Command::MidiLearn(None));
        self.learning = None;
        match self.write_learned(on, id) {
            Ok((map, backup)) => {
                self.map = map;
                self.told.clear();
                let kept = backup
                    .map(|b| format!(" (previous version kept as {})", b.display()))
                    .unwrap_or_default();
                let text = format!(
                    "MIDI learn: {on} now sets {} — saved to {}{kept}",
                    id.label(),
                    self.path.display()
                );
                self.last = Some(format!("learned {on} → {}", id.label()));
                ctl.notify(Level::Info, text);
            }
            Err(why) => ctl.notify(
                Level::Error,
                format!("MIDI learn: {on} was not mapped to {}: {why}", id.label()),
            ),
        }
    }

    fn write_learned(
        &self,
        on: Trigger,
        id: ParamId,
    ) -> Result<(MidiMap, Option<PathBuf>), String> {
        let text = match read_user_file(&self.path, MAP_READ) {
            Ok(bytes) => Some(
                String::from_utf8(bytes)
                    .map_err(|_| format!("{} is not UTF-8 text", self.path.display()))?,
            ),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.to_string()),
        };
        let new = with_learned(text.as_deref(), &self.path, on, id).map_err(|e| match e {
            MidiMapError::Invalid { problems, .. } => format!(
                "{}:{} — fix the file first",
                self.path.display(),
                problems.first().map(|p| p.to_string()).unwrap_or_default()
            ),
            other => other.to_string(),
        })?;
        let map = MidiMap::parse(&new, &self.path).map_err(|e| e.to_string())?;
        let saved = replace_user_file(&self.path, &new, MAP_READ).map_err(|e| e.to_string())?;
        Ok((map, saved.backup))
    }

    /// The status line's part: the rules, the latest mapped action, learn when armed.
    pub fn status(&self) -> String {
        let n = self.map.rules().len();
        let mut s = format!("map {n} {}", if n == 1 { "rule" } else { "rules" });
        if let Some(id) = self.learning {
            s.push_str(&format!(", LEARN {}: move a control", id.label()));
        }
        if let Some(last) = &self.last {
            s.push_str(&format!(", {} mapped, last {last}", self.mapped));
        }
        s
    }
}
