//! The text prompt: editing keys, Tab completion of action names, and reading the answer on
//! Enter (each kind of answer is read by its group's `submit_*`).

use std::time::Instant;

use crate::control::{Command, Controller, Level};
use crate::keymap::{self, Action, CursorMove};
use crate::model::ParamSpec;

use super::super::app::{App, range_text};
use super::super::state::{Prompt, PromptKind};

impl App {
    /// `command` opens the `:` prompt; the prompt's own keys do nothing outside a prompt.
    pub(super) fn open_command_prompt(&mut self, action: Action) {
        if action == Action::Command {
            self.ui.prompt = Some(Prompt::new(PromptKind::Command, "Action", ""));
        }
    }

    /// Performs an action while a prompt is open.
    pub(in super::super) fn prompt_action(&mut self, ctl: &mut Controller, action: Action) {
        let Some(prompt) = self.ui.prompt.as_mut() else {
            return;
        };
        match action {
            Action::Cancel | Action::Quit => {
                self.ui.prompt = None;
            }
            Action::PromptBackspace => prompt.backspace(),
            Action::PromptDelete => prompt.delete(),
            Action::PromptClear => prompt.clear(),
            Action::PromptComplete => match prompt.kind {
                PromptKind::StepData { .. } => complete_step_key(prompt),
                _ => complete_action(prompt),
            },
            Action::Cursor(m) => match m {
                CursorMove::Left => prompt.move_cursor(-1),
                CursorMove::Right => prompt.move_cursor(1),
                CursorMove::Home | CursorMove::Top | CursorMove::PageUp => prompt.cursor_to(false),
                CursorMove::End | CursorMove::Bottom | CursorMove::PageDown => {
                    prompt.cursor_to(true)
                }
                CursorMove::Up | CursorMove::Down => {}
            },
            Action::PromptSubmit => {
                // Taken out while it is read: answering may open a question or another
                // prompt (`:bpm_set`); a refused answer puts it back with the reason.
                if let Some(mut prompt) = self.ui.prompt.take() {
                    let text = prompt.text.trim().to_string();
                    if let Err(why) = self.submit(ctl, prompt.kind.clone(), &text) {
                        prompt.error = Some(why);
                        self.ui.prompt = Some(prompt);
                    }
                }
            }
            _ => {}
        }
        self.clamp(ctl);
    }

    /// Reads a submitted prompt; `Err` keeps the prompt open with the reason shown.
    fn submit(&mut self, ctl: &mut Controller, kind: PromptKind, text: &str) -> Result<(), String> {
        match kind {
            PromptKind::Bpm => self.submit_bpm(ctl, text),
            PromptKind::AddTrack => self.submit_add_track(ctl, text),
            PromptKind::Rename { track } => self.submit_rename(ctl, track, text),
            PromptKind::Notes { track } => self.submit_notes(ctl, track, text),
            PromptKind::Voice { track } => self.submit_voice(ctl, track, text),
            PromptKind::Length { track } => self.submit_length(ctl, track, text),
            PromptKind::TrackField { track, field } => {
                self.submit_track_field(ctl, track, field, text)
            }
            PromptKind::Param(id) => self.submit_param(ctl, id, text),
            PromptKind::Save => self.submit_save(ctl, text),
            PromptKind::SlotName => {
                self.apply_typed(ctl, Command::SetName(text.trim().to_string()))
            }
            PromptKind::Load { immediate } => self.submit_load(ctl, immediate, text),
            PromptKind::EditStep => self.submit_edit_step(ctl, text),
            PromptKind::Chain => self.submit_chain(ctl, text),
            PromptKind::ChainJump => {
                let k = text
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("entry \"{text}\": a whole number from 1"))?;
                self.apply_typed(ctl, Command::ChainJump(k))
            }
            PromptKind::OneShot => {
                let slot =
                    crate::store::SlotNumber::parse(text.trim()).map_err(|e| e.to_string())?;
                self.apply_typed(ctl, Command::OneShot(slot))
            }
            PromptKind::Prepare => {
                let slot =
                    crate::store::SlotNumber::parse(text.trim()).map_err(|e| e.to_string())?;
                self.prepare(ctl, slot);
                Ok(())
            }
            PromptKind::MuteGroup { track } => self.submit_mute_group(ctl, track, text),
            PromptKind::PatternRow { track } => self.submit_pattern_row(ctl, track, text),
            PromptKind::Fill { track } => self.submit_fill(ctl, track, text),
            PromptKind::StepData { track, step } => self.submit_step_data(ctl, track, step, text),
            PromptKind::Command => {
                let action = Action::parse(text)?;
                self.main_action(ctl, action, Instant::now());
                Ok(())
            }
        }
    }

    /// Reads the step editor's `KEY VALUE …` pairs, applies each as a command, and opens the
    /// editor again on the same step showing what it holds now (Esc leaves).
    fn submit_step_data(
        &mut self,
        ctl: &mut Controller,
        track: String,
        step: usize,
        text: &str,
    ) -> Result<(), String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() {
            return Ok(());
        }
        let mut edits = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let key = words[i];
            if key.eq_ignore_ascii_case("clear") {
                edits.push(crate::control::StepEdit::Clear);
                i += 1;
                continue;
            }
            let value = words.get(i + 1).copied();
            edits.push(crate::control::StepEdit::parse(key, value).map_err(|e| e.to_string())?);
            i += 2;
        }
        for edit in edits {
            self.apply_typed(
                ctl,
                Command::SetStepData {
                    track: track.clone(),
                    step,
                    edit,
                },
            )?;
        }
        self.open_step_editor(ctl);
        Ok(())
    }

    /// Applies a command typed into a prompt; an error keeps the prompt open with it.
    pub(super) fn apply_typed(&mut self, ctl: &mut Controller, cmd: Command) -> Result<(), String> {
        if self.ui.preview && ctl.queued().is_some() && cmd.is_edit() {
            return Err("the preview of the queued slot is read-only".into());
        }
        match ctl.apply_edited(cmd) {
            Ok(Some(msg)) => {
                self.ui.say(Level::Info, msg);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Completes the action name typed in the `:` prompt from the action table: the whole name
/// when one action matches, else the longest prefix they share (the line below lists them).
fn complete_action(prompt: &mut Prompt) {
    if prompt.kind != PromptKind::Command || prompt.text.contains(' ') {
        return;
    }
    let typed = prompt.text.trim().to_string();
    let found = keymap::complete(&typed);
    let Some(first) = found.first() else {
        prompt.error = Some(format!("no action starts with `{typed}`"));
        return;
    };
    let shared = found.iter().fold(first.name, |shared, s| {
        let n = shared
            .chars()
            .zip(s.name.chars())
            .take_while(|(a, b)| a == b)
            .count();
        &shared[..n]
    });
    let mut text = shared.to_string();
    prompt.error = None;
    match found.as_slice() {
        [only] if only.args.is_empty() => {}
        [only] => {
            text.push(' ');
            prompt.error = Some(format!("{} — {}", only.usage(), only.doc));
        }
        many => {
            let names: Vec<&str> = many.iter().map(|s| s.name).collect();
            prompt.error = Some(names.join(" "));
        }
    }
    prompt.text = text;
    prompt.selected = false;
    prompt.cursor = prompt.text.chars().count();
}

/// Completes the key being typed in the step editor (a word at a key's place: the first,
/// third …) from the step keys and every lockable parameter's key.
fn complete_step_key(prompt: &mut Prompt) {
    let words: Vec<&str> = prompt.text.split(' ').collect();
    if words.len().is_multiple_of(2) {
        return;
    }
    let typed = words.last().copied().unwrap_or("").to_string();
    let keys: Vec<&str> = crate::model::steps::STEP_KEYS
        .iter()
        .copied()
        .chain(crate::model::steps::LockTarget::all().map(|t| t.key()))
        .filter(|k| k.starts_with(&typed))
        .collect();
    let Some(first) = keys.first() else {
        prompt.error = Some(format!("no step key or parameter starts with `{typed}`"));
        return;
    };
    let shared = keys.iter().fold(*first, |shared, k| {
        let n = shared
            .chars()
            .zip(k.chars())
            .take_while(|(a, b)| a == b)
            .count();
        &shared[..n]
    });
    let mut text: String = words[..words.len() - 1]
        .iter()
        .map(|w| format!("{w} "))
        .collect();
    text.push_str(shared);
    if keys.len() == 1 {
        text.push(' ');
        prompt.error = None;
    } else {
        prompt.error = Some(keys.join(" "));
    }
    prompt.text = text;
    prompt.selected = false;
    prompt.cursor = prompt.text.chars().count();
}

pub(super) fn parse_in_range(text: &str, spec: &ParamSpec) -> Result<f64, String> {
    if let Some(v) = spec.choice_value(text) {
        return Ok(v);
    }
    let v: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("\"{text}\" is not a number"))?;
    if !spec.in_range(v) {
        let whole = if spec.ty == crate::model::registry::ParamType::Int {
            "a whole number in "
        } else {
            ""
        };
        return Err(format!(
            "\"{text}\" is out of range: {} takes {whole}{}",
            spec.name,
            range_text(spec)
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::registry::sequencer as seq_spec;

    #[test]
    fn typed_values_are_checked_against_the_registry() {
        let err = parse_in_range("9000", &seq_spec::BPM).unwrap_err();
        assert_eq!(err, "\"9000\" is out of range: bpm takes 30–300 BPM");
        assert_eq!(
            parse_in_range("abc", &seq_spec::BPM).unwrap_err(),
            "\"abc\" is not a number"
        );
        assert_eq!(parse_in_range("128.5", &seq_spec::BPM), Ok(128.5));
    }

    #[test]
    fn tab_completes_to_the_shared_prefix_then_the_usage() {
        let mut p = Prompt::new(PromptKind::Command, "Action", "track_fi");
        complete_action(&mut p);
        assert_eq!(p.text, "track_field");
        assert_eq!(p.error.as_deref(), Some("track_field track_field_adjust"));
        p.text = "bpm_n".into();
        complete_action(&mut p);
        assert_eq!(p.text, "bpm_nudge ");
        assert!(p.error.as_deref().unwrap().starts_with("bpm_nudge ±N — "));
        p.text = "zz".into();
        complete_action(&mut p);
        assert_eq!(p.text, "zz");
    }
}
