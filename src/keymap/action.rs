//! What a key does: the [`Action`] named by a rule's `run` string (`bpm_nudge +1`).
//!
//! An action is an intent, not an effect: the tracker turns it into a `Command` (or a change
//! of its own view state, like the cursor) depending on the focused panel.
//!
//! Every action is declared once, in the `actions!` table below (in the manner of helix's
//! `static_commands!`): its variant, its `run` name, its arguments (typed; each type knows its
//! syntax, see `args.rs`) and its doc line. The enum, [`ACTIONS`] (read by the help overlay,
//! the `:` prompt's completion and the keymap file's error messages), `Action::parse` and
//! `Display` are all generated from that one table, so they cannot drift apart.

use std::fmt;
use std::str::FromStr;

use super::args::Arg;
pub use super::args::{
    Choice, CursorMove, Cycle, Focus, Horizontal, LengthChange, MuteGroupArg, Nudge, StepValue,
    TrackFieldId, Vertical,
};

/// One action as the table declares it: name, argument syntax and doc line, plus its parser.
#[derive(Clone, Copy)]
pub struct ActionSpec {
    /// The group it is declared in.
    pub group: ActionGroup,
    /// The `run` name (the first word of a `run` string).
    pub name: &'static str,
    /// The syntax of each argument, in order (`["<field>", "+fine|-fine|+coarse|-coarse"]`).
    pub args: &'static [&'static str],
    /// What the action does, one line.
    pub doc: &'static str,
    parse: fn(&[&str]) -> Result<Action, String>,
}

impl fmt::Debug for ActionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionSpec")
            .field("name", &self.name)
            .field("args", &self.args)
            .field("doc", &self.doc)
            .finish_non_exhaustive()
    }
}

impl ActionSpec {
    /// How the action is written: the name and its argument syntax (`bpm_nudge ±N`).
    pub fn usage(&self) -> String {
        std::iter::once(self.name)
            .chain(self.args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Looks an action up by its `run` name.
    pub fn find(name: &str) -> Option<&'static ActionSpec> {
        ACTIONS.iter().find(|s| s.name == name)
    }
}

/// The words of a `run` string after the name, taken one argument at a time.
struct Words<'a> {
    rest: std::slice::Iter<'a, &'a str>,
    takes_args: bool,
}

impl<'a> Words<'a> {
    fn new(words: &'a [&'a str], takes_args: bool) -> Words<'a> {
        Words {
            rest: words.iter(),
            takes_args,
        }
    }

    fn take<T: Arg>(&mut self) -> Result<T, String> {
        T::parse(self.rest.next().copied())
    }

    fn finish(mut self) -> Result<(), String> {
        match self.rest.next() {
            None => Ok(()),
            Some(extra) if self.takes_args => Err(format!("unexpected `{extra}`")),
            Some(extra) => Err(format!("takes no argument, found `{extra}`")),
        }
    }
}

/// Declares the actions, by group: `Group "title" { Variant(arg: Type, …) = "run_name": "doc"; }`.
macro_rules! actions {
    ($(
        $group:ident $title:literal {$(
            $variant:ident $(( $($arg:ident : $ty:ty),+ ))? = $name:literal : $doc:literal;
        )*}
    )*) => {
        /// The groups of the table; the tracker handles each group in a file of its own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ActionGroup {
            $(#[doc = $title] $group,)*
        }

        impl ActionGroup {
            /// What the group's actions are about, for the help overlay.
            pub fn title(self) -> &'static str {
                match self {
                    $(ActionGroup::$group => $title,)*
                }
            }
        }

        /// Every user intent a key can trigger (the table in `keymap/action.rs`).
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum Action {
            $($(
                #[doc = concat!("`", $name, "`: ", $doc)]
                $variant $(( $($ty),+ ))?,
            )*)*
        }

        /// Every action, in table order: the one list the help overlay, the `:` prompt and
        /// the keymap file's messages read.
        pub const ACTIONS: &[ActionSpec] = &[$($(
            ActionSpec {
                group: ActionGroup::$group,
                name: $name,
                args: &[$($(<$ty as Arg>::SYNTAX),+)?],
                doc: $doc,
                parse: |words| {
                    let takes_args = !(&[$($(stringify!($arg)),+)?] as &[&str]).is_empty();
                    #[allow(unused_mut)]
                    let mut words = Words::new(words, takes_args);
                    let action = Action::$variant $(( $(words.take::<$ty>()?),+ ))?;
                    words.finish()?;
                    Ok(action)
                },
            },
        )*)*];

        impl Action {
            /// The action's name (the first word of its `run` string).
            pub fn name(&self) -> &'static str {
                match self {
                    $($(Action::$variant { .. } => $name,)*)*
                }
            }

            /// The group the action is declared in.
            pub fn group(&self) -> ActionGroup {
                match self {
                    $($(Action::$variant { .. } => ActionGroup::$group,)*)*
                }
            }
        }

        impl fmt::Display for Action {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())?;
                match self {
                    $($(Action::$variant $(( $($arg),+ ))? => {
                        $($( $arg.write(f)?; )+)?
                        Ok(())
                    })*)*
                }
            }
        }
    };
}

actions! {
    View "screen, focus and overlays" {
        Noop = "noop": "do nothing; bind a key to it in `prepend_keymap` to disable a default";
        Quit = "quit": "leave Chronus (asks first when there are unsaved edits)";
        Help = "help": "show or hide the key help overlay";
        Cancel = "cancel": "close the overlay, prompt or dialog on top; otherwise clear the message line";
        Confirm = "confirm": "answer yes to the question a dialog asks";
        Messages = "messages": "show or hide the message log";
        Focus(to: Focus) = "focus": "move the keyboard focus to another panel";
        Cursor(to: CursorMove) = "cursor": "move within the focused panel (grid: steps and tracks; params: the parameter list; slots: the slot list; help: scroll; prompt: the text cursor)";
    }
    Transport "tempo, play and record" {
        PlayToggle = "play_toggle": "start playing, or stop where it is";
        Stop = "stop": "stop playing and return to the first step";
        BpmNudge(by: f64) = "bpm_nudge": "change the tempo by N BPM (N may be fractional: +0.1)";
        BpmSet = "bpm_set": "type an exact tempo";
        TapTempo = "tap_tempo": "set the tempo from the interval between repeated presses";
        SwingNudge(by: f64) = "swing_nudge": "change the swing by N (swing runs 0–0.6)";
        RecordToggle = "record_toggle": "start or stop recording the output to a WAV file";
        FillBar = "fill_bar": "fill for one bar: fill mode switches on at the next bar line and off at the one after, sample-exactly";
        LinkToggle = "link_toggle": "Ableton Link on or off: join the session on the local network (its tempo and bar lines) or leave it";
        Fill = "fill_toggle": "fill mode on or off (a toggle: terminals do not report key releases): steps with the `fill` condition play while it is on, `!fill` steps while it is off";
    }
    Grid "steps and edits of the pattern" {
        StepSet(value: StepValue) = "step_set": "make the step under the cursor an accent, a hit or a rest";
        StepCycle = "step_cycle": "turn the step under the cursor rest → hit → accent → rest";
        StepEdit = "step_edit": "edit the data of the step under the cursor: type KEY VALUE (note, velocity, micro, ratchet, chance, cond, or a parameter to lock, Tab completes); - removes a key, clear empties the step";
        StepChance(by: f64) = "step_chance": "change the chance of the step under the cursor by N % (100 % is always)";
        StepRatchet(by: f64) = "step_ratchet": "change the hits in the step under the cursor by N (1–8)";
        EditStep = "edit_step": "type how many steps the cursor moves on after each step entered (0–16)";
        Piano = "piano": "keyboard piano on or off: z-row and s-row play one octave, q-row and 2-row the next, - and = change octave; each note lands on the step under the cursor, or with a on every hit of the track";
        PatternType = "pattern_type": "type the selected track's steps as a row (`x.x.X...`)";
        PatternFill = "pattern_fill": "fill the selected track: N (a hit every N steps), N+O (from step O+1), K/N (Euclid) or K/N+R (rotated)";
        PatternRotate(to: Horizontal) = "pattern_rotate": "rotate the selected track's steps one step left or right";
        PatternReverse = "pattern_reverse": "play the selected track's steps backwards";
        PatternClear = "pattern_clear": "make every step of the selected track a rest";
        PatternDouble = "pattern_double": "double the selected track (its steps played twice)";
        PatternHalve = "pattern_halve": "halve the selected track (the second half is hidden; lengthen to bring it back)";
        CopyPattern = "copy_pattern": "copy the whole pattern (sequencer and modules)";
        PastePattern = "paste_pattern": "replace the whole pattern with the copied one";
        Undo = "undo": "undo the last edit";
        Redo = "redo": "redo the last undone edit";
    }
    Tracks "the selected track" {
        TrackSelect(to: Cycle) = "track_select": "select the next or previous track from any panel";
        TrackAdd = "track_add": "add a track below the selected one";
        TrackRemove = "track_remove": "remove the selected track";
        TrackRename = "track_rename": "type a new name for the selected track";
        TrackMove(to: Vertical) = "track_move": "move the selected track one row up or down";
        TrackVoice(to: Choice) = "track_voice": "change the voice the selected track plays";
        TrackNotes = "track_notes": "type the selected track's notes (note names like `a2 c3` or numbers)";
        TrackLength(change: LengthChange) = "track_length": "lengthen or shorten the selected track's pattern, or type a length";
        TrackField(field: TrackFieldId) = "track_field": "type an exact value for a numeric track field (base_amp, …)";
        TrackFieldAdjust(field: TrackFieldId, step: Nudge) = "track_field_adjust": "step a numeric track field up or down";
        FilterNudge(step: Nudge) = "filter_nudge": "sweep the cutoff the selected track is heard through (acid1 cutoff on voice2): a semitone (fine) or an octave (coarse)";
        Mute = "mute": "mute or unmute the selected track";
        Solo = "solo": "solo or unsolo the selected track";
        MuteQuantize = "mute_quantize": "mutes and solos wait for the next bar (on/off)";
        MuteGroup(group: MuteGroupArg) = "mute_group": "mute or unmute every track of mute group N";
        TrackMuteGroup = "track_mute_group": "type the mute group (1–4, 0 = none) of the selected track";
        KeepMutes = "keep_mutes": "keep the mutes and solos in the song: the next save writes them (otherwise they are performance state and never saved)";
        CopyTrack = "copy_track": "copy the selected track";
        PasteTrack = "paste_track": "paste the copied track over the selected one";
    }
    Params "the parameter panel" {
        ModuleSelect(to: Cycle) = "module_select": "show the next or previous module in the parameter panel";
        ParamAdjust(step: Nudge) = "param_adjust": "step the selected parameter up or down";
        ParamSet = "param_set": "type an exact value for the selected parameter";
        ParamDefault = "param_default": "reset the selected parameter to its default";
        MidiLearn = "midi_learn": "MIDI learn: the next CC or note received controls the selected parameter (a rule added to midi.toml); again or Esc cancels";
    }
    Slots "saving, loading and the files on disk" {
        Save = "save": "save the pattern to a slot, asking which (the current slot is proposed)";
        SaveCurrent = "save_current": "save the pattern to the slot it came from";
        NewSlot = "new_slot": "start a new empty song in the first empty slot (the current song's edits stay as its draft)";
        Revert = "revert": "drop the current slot's unsaved edits (its draft) and put the file's version back (undo brings the edits back)";
        Load(slot: Option<u8>) = "load": "load slot N (or ask which) at the start of the next bar";
        LoadNow(slot: Option<u8>) = "load_now": "load slot N (or ask which) immediately";
        LoadBackup(slot: Option<u8>) = "load_backup": "load the newest valid backup of slot N (or of the slot selected in the browser) at the next bar: the way back from a corrupt slot file";
        SlotLoad = "slot_load": "load the slot selected in the browser at the next bar";
        SlotLoadNow = "slot_load_now": "load the slot selected in the browser immediately";
        SlotSave = "slot_save": "save the pattern to the slot selected in the browser";
        SlotRename = "slot_rename": "rename the song (the name its slot file and the browser show)";
        Prepare(slot: Option<u8>) = "prepare": "prepare slot N (or ask which): edit it while another slot plays, unheard, its edits kept as its draft; while preparing, without N: back to what plays";
        SlotPrepare = "slot_prepare": "prepare the slot selected in the browser: edit it while another slot plays";
        PrepareQueue = "prepare_queue": "queue the prepared slot, with its edits, for the next bar (the screen goes back to what plays)";
        PreviewQueued = "preview_queued": "show the queued slot's song in the grid, read-only, or go back";
        TakeFile = "take_file": "the playing slot's file changed on disk under unsaved edits: play the file's version from the next bar (the edits stay in the undo history)";
        KeepEdits = "keep_edits": "the playing slot's file changed on disk under unsaved edits: keep the screen's edits and leave that version of the file alone";
    }
    Chains "chains (song mode) and the one-shot" {
        ChainEdit = "chain_edit": "open or create a chain: type `NAME [3 x4, 11 x1] loop|stop` (NAME alone opens chains/NAME.json)";
        ChainStart = "chain_start": "start the chain from its first entry at the next bar";
        ChainJump = "chain_jump": "jump to entry K of the running chain at the next bar (asks which)";
        ChainHold = "chain_hold": "hold the running chain's current slot, or release it (it moves on at the next bar)";
        ChainLeave = "chain_leave": "leave the running chain: the current slot keeps playing";
        ChainSave = "chain_save": "save the chain to patterns/chains/NAME.json";
        OneShot(slot: Option<u8>) = "oneshot": "play slot N (or ask which) for one bar from the next bar, then come back";
    }
    Prompt "the text prompt and the : command line" {
        Command = "command": "open the `:` prompt, where any action can be typed (`:bpm_set`)";
        PromptSubmit = "prompt_submit": "accept the text typed in the prompt";
        PromptComplete = "prompt_complete": "complete the action name typed in the `:` prompt";
        PromptBackspace = "prompt_backspace": "delete the character before the text cursor";
        PromptDelete = "prompt_delete": "delete the character under the text cursor";
        PromptClear = "prompt_clear": "delete all the typed text";
    }
}

/// Why a `run` string did not parse; the message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ActionParseError(pub String);

impl FromStr for Action {
    type Err = ActionParseError;

    fn from_str(text: &str) -> Result<Action, ActionParseError> {
        Action::parse(text).map_err(ActionParseError)
    }
}

impl Action {
    /// Parses a `run` string such as `step_set X` or `bpm_nudge -0.5`.
    pub fn parse(text: &str) -> Result<Action, String> {
        let mut words = text.split_whitespace();
        let Some(name) = words.next() else {
            return Err("empty action".into());
        };
        let args: Vec<&str> = words.collect();
        let spec = ActionSpec::find(name).ok_or_else(|| unknown_action(name))?;
        (spec.parse)(&args).map_err(|why| format!("`{text}`: {why} (usage: {})", spec.usage()))
    }

    /// The action's entry in [`ACTIONS`].
    pub fn spec(&self) -> &'static ActionSpec {
        let name = self.name();
        ACTIONS
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| unreachable!("`{name}` is declared in the table"))
    }
}

/// The action names starting with `prefix`, in table order (the `:` prompt's completion).
pub fn complete(prefix: &str) -> Vec<&'static ActionSpec> {
    ACTIONS
        .iter()
        .filter(|s| s.name.starts_with(prefix))
        .collect()
}

fn unknown_action(name: &str) -> String {
    match super::suggest(name, ACTIONS.iter().map(|s| s.name)) {
        Some(known) => format!("unknown action `{name}` (did you mean `{known}`?)"),
        None => format!("unknown action `{name}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An example `run` string for every action that takes arguments.
    fn example(name: &str) -> &str {
        match name {
            "bpm_nudge" => "bpm_nudge -0.5",
            "swing_nudge" => "swing_nudge +0.05",
            "cursor" => "cursor page_down",
            "focus" => "focus params",
            "track_select" => "track_select prev",
            "module_select" => "module_select next",
            "step_set" => "step_set .",
            "track_move" => "track_move down",
            "pattern_rotate" => "pattern_rotate left",
            "mute_group" => "mute_group 2",
            "track_voice" => "track_voice prompt",
            "track_length" => "track_length -4",
            "track_field" => "track_field gate_frac",
            "track_field_adjust" => "track_field_adjust filter_freq -coarse",
            "param_adjust" => "param_adjust +fine",
            "filter_nudge" => "filter_nudge -coarse",
            "load" => "load 128",
            "load_now" => "load_now",
            "load_backup" => "load_backup 3",
            "step_chance" => "step_chance -10",
            "step_ratchet" => "step_ratchet +1",
            other => other,
        }
    }

    #[test]
    fn every_declared_action_parses_and_prints_back() {
        for spec in ACTIONS {
            let example = example(spec.name);
            let action = Action::parse(example).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(action.name(), spec.name);
            assert_eq!(action.spec().name, spec.name);
            assert_eq!(action.group(), spec.group);
            assert_eq!(action.to_string(), example);
        }
    }

    #[test]
    fn usage_lines_come_from_the_argument_types() {
        let usage = |name: &str| ActionSpec::find(name).map(ActionSpec::usage);
        assert_eq!(usage("bpm_nudge").as_deref(), Some("bpm_nudge ±N"));
        assert_eq!(
            usage("cursor").as_deref(),
            Some("cursor up|down|left|right|home|end|top|bottom|page_up|page_down")
        );
        assert_eq!(
            usage("track_field_adjust").as_deref(),
            Some("track_field_adjust <field> +fine|-fine|+coarse|-coarse")
        );
        assert_eq!(usage("load").as_deref(), Some("load [N]"));
        assert_eq!(usage("step_set").as_deref(), Some("step_set X|x|."));
        assert_eq!(usage("quit").as_deref(), Some("quit"));
        let mut names: Vec<&str> = ACTIONS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ACTIONS.len(), "action names are unique");
    }

    #[test]
    fn bad_arguments_are_named() {
        let err = Action::parse("fly").unwrap_err();
        assert_eq!(err, "unknown action `fly`");
        assert!(
            Action::parse("undoo")
                .unwrap_err()
                .contains("did you mean `undo`")
        );
        assert!(
            Action::parse("bpm_nudge 1")
                .unwrap_err()
                .contains("needs a sign")
        );
        assert!(Action::parse("load 129").unwrap_err().contains("1 to 128"));
        assert!(
            Action::parse("track_field note_index")
                .unwrap_err()
                .contains("base_amp")
        );
        assert!(
            Action::parse("quit now")
                .unwrap_err()
                .contains("no argument")
        );
        assert!(
            Action::parse("step_set o")
                .unwrap_err()
                .contains("step_set X|x|.")
        );
        assert!(
            Action::parse("cursor lft")
                .unwrap_err()
                .contains("did you mean `left`")
        );
        assert!(
            Action::parse("track_field_adjust base_amp")
                .unwrap_err()
                .contains("missing the step")
        );
        assert!(
            Action::parse("load 1 2")
                .unwrap_err()
                .contains("unexpected `2`")
        );
    }

    #[test]
    fn completion_lists_the_table_in_order() {
        let names: Vec<&str> = complete("track_f").iter().map(|s| s.name).collect();
        assert_eq!(names, ["track_field", "track_field_adjust"]);
        assert_eq!(complete("").len(), ACTIONS.len());
        assert!(complete("zz").is_empty());
    }

    #[test]
    fn editable_track_fields_follow_the_registry() {
        use crate::model::registry::track;
        let keys: Vec<&str> = TrackFieldId::all().map(TrackFieldId::key).collect();
        assert_eq!(
            keys,
            [
                "base_freq",
                "base_amp",
                "filter_freq",
                "accent_boost",
                "reverb_send",
                "delay_send",
                "gate_frac",
                "accent"
            ]
        );
        assert_eq!(
            TrackFieldId::from_key("base_amp").map(TrackFieldId::index),
            Some(track::BASE_AMP)
        );
    }
}
