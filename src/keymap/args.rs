//! The arguments an [`Action`](super::Action) takes, each a type that knows its own syntax.
//!
//! The action table (`action.rs`) names the type of every argument; the type's [`Arg`] impl
//! supplies how it is written in the usage line, how one word of a `run` string becomes a value
//! and how the value is written back, so `Action::parse` and `Display` stay inverse.

use std::fmt;

pub use crate::model::registry::TrackFieldId;

/// The three values of a step (the same type the command path uses).
pub use crate::control::StepValue;

/// Slots are numbered 1–128 (SLOT_FORMAT.md).
const LAST_SLOT: u8 = 128;

/// One argument of an action, as written in a `run` string.
pub(crate) trait Arg: Sized {
    /// How the argument is written in the usage line (`up|down`, `±N`, `[N]`).
    const SYNTAX: &'static str;
    /// What is missing when the word is absent (`missing the step …`).
    const WHAT: &'static str;

    /// Reads one word; `None` when the `run` string has no more words.
    fn parse(word: Option<&str>) -> Result<Self, String>;

    /// Writes the argument back, with its leading space (nothing for an absent optional one).
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

fn required(word: Option<&str>, what: &str) -> Result<String, String> {
    word.map(str::to_string)
        .ok_or_else(|| format!("missing {what}"))
}

/// Declares an argument that is one of a fixed set of words, with its `Display` and [`Arg`].
macro_rules! word_arg {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $(#[doc = $first_doc:literal])* $first:ident = $first_word:literal
            $(, $(#[doc = $doc:literal])* $variant:ident = $word:literal)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = $first_doc])* #[doc = concat!("`", $first_word, "`")] $first,
            $($(#[doc = $doc])* #[doc = concat!("`", $word, "`")] $variant,)*
        }

        impl $name {
            /// Every value with its word, in declaration order.
            pub const WORDS: &[($name, &'static str)] =
                &[($name::$first, $first_word) $(, ($name::$variant, $word))*];

            /// The word naming this value in a `run` string.
            pub fn word(self) -> &'static str {
                match self {
                    $name::$first => $first_word,
                    $($name::$variant => $word,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.word())
            }
        }

        impl Arg for $name {
            const SYNTAX: &'static str = concat!($first_word $(, "|", $word)*);
            const WHAT: &'static str = $what;

            fn parse(word: Option<&str>) -> Result<Self, String> {
                let word = required(word, $what)?;
                $name::WORDS
                    .iter()
                    .find(|(_, w)| *w == word)
                    .map(|&(v, _)| v)
                    .ok_or_else(|| {
                        let words = $name::WORDS.iter().map(|&(_, w)| w);
                        match super::suggest(&word, words) {
                            Some(near) => {
                                format!("unknown argument `{word}` (did you mean `{near}`?)")
                            }
                            None => format!("unknown argument `{word}`"),
                        }
                    })
            }

            fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, " {}", self.word())
            }
        }
    };
}

word_arg! {
    /// A cursor movement; its meaning depends on the focused panel (see
    /// [`Action::Cursor`](super::Action::Cursor)).
    CursorMove, "the direction" {
        /// Previous row.
        Up = "up",
        /// Next row.
        Down = "down",
        /// Previous column (step, character).
        Left = "left",
        /// Next column.
        Right = "right",
        /// First column.
        Home = "home",
        /// Last column.
        End = "end",
        /// First row.
        Top = "top",
        /// Last row.
        Bottom = "bottom",
        /// One screenful up.
        PageUp = "page_up",
        /// One screenful down.
        PageDown = "page_down",
    }
}

word_arg! {
    /// Which panel gets the keyboard.
    Focus, "the panel" {
        /// The pattern grid.
        Grid = "grid",
        /// The parameter panel.
        Params = "params",
        /// The slot browser.
        Slots = "slots",
        /// The next panel in the cycle grid → params → slots.
        Next = "next",
        /// The previous panel in that cycle.
        Prev = "prev",
    }
}

word_arg! {
    /// Forward or backward through a list.
    Cycle, "next or prev" {
        Next = "next",
        Prev = "prev",
    }
}

word_arg! {
    /// Up or down a column.
    Vertical, "up or down" {
        Up = "up",
        Down = "down",
    }
}

word_arg! {
    /// A mute group.
    MuteGroupArg, "the mute group (1–4)" {
        One = "1",
        Two = "2",
        Three = "3",
        Four = "4",
    }
}

impl MuteGroupArg {
    /// The group's number.
    pub fn number(self) -> u8 {
        match self {
            MuteGroupArg::One => 1,
            MuteGroupArg::Two => 2,
            MuteGroupArg::Three => 3,
            MuteGroupArg::Four => 4,
        }
    }
}

word_arg! {
    /// Left or right along a row.
    Horizontal, "left or right" {
        Left = "left",
        Right = "right",
    }
}

word_arg! {
    /// Pick the next or previous item, or ask for one.
    Choice, "next, prev or prompt" {
        Next = "next",
        Prev = "prev",
        /// Ask, by typing.
        Prompt = "prompt",
    }
}

word_arg! {
    /// One step of a parameter: fine or coarse (the registry's `fine_step`/`coarse_step`), up
    /// or down.
    Nudge, "the step (+fine, -fine, +coarse, -coarse)" {
        FineUp = "+fine",
        FineDown = "-fine",
        CoarseUp = "+coarse",
        CoarseDown = "-coarse",
    }
}

impl Nudge {
    /// +1 or −1.
    pub fn sign(self) -> f64 {
        match self {
            Nudge::FineUp | Nudge::CoarseUp => 1.0,
            Nudge::FineDown | Nudge::CoarseDown => -1.0,
        }
    }

    /// Whether this is a coarse step.
    pub fn is_coarse(self) -> bool {
        matches!(self, Nudge::CoarseUp | Nudge::CoarseDown)
    }
}

impl Arg for StepValue {
    const SYNTAX: &'static str = "X|x|.";
    const WHAT: &'static str = "the step value (X, x or .)";

    fn parse(word: Option<&str>) -> Result<Self, String> {
        match required(word, Self::WHAT)?.as_str() {
            "X" => Ok(StepValue::Accent),
            "x" => Ok(StepValue::Hit),
            "." => Ok(StepValue::Rest),
            other => Err(format!("unknown argument `{other}`")),
        }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " {}", self.as_char())
    }
}

/// A pattern length change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthChange {
    /// `±N`: add or remove N steps.
    By(i32),
    /// `prompt`: type the new length.
    Prompt,
}

impl Arg for LengthChange {
    const SYNTAX: &'static str = "±N|prompt";
    const WHAT: &'static str = "the change (±N or prompt)";

    fn parse(word: Option<&str>) -> Result<Self, String> {
        let arg = required(word, Self::WHAT)?;
        if arg == "prompt" {
            return Ok(LengthChange::Prompt);
        }
        signed(&arg)?
            .parse::<i32>()
            .ok()
            .filter(|&n| n != 0)
            .map(LengthChange::By)
            .ok_or_else(|| format!("`{arg}` is not a non-zero whole number"))
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LengthChange::By(n) => write!(f, " {n:+}"),
            LengthChange::Prompt => f.write_str(" prompt"),
        }
    }
}

/// A signed, non-zero amount (`+1`, `-0.5`): the sign makes a binding read as a direction.
impl Arg for f64 {
    const SYNTAX: &'static str = "±N";
    const WHAT: &'static str = "the amount (like +1 or -0.5)";

    fn parse(word: Option<&str>) -> Result<Self, String> {
        let arg = required(word, Self::WHAT)?;
        let v: f64 = signed(&arg)?
            .parse()
            .map_err(|_| format!("`{arg}` is not a number"))?;
        if !v.is_finite() || v == 0.0 {
            return Err(format!("`{arg}` is not a non-zero amount"));
        }
        Ok(v)
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self >= 0.0 {
            write!(f, " +{self}")
        } else {
            write!(f, " {self}")
        }
    }
}

/// An optional slot number 1–128; without it the action asks (or takes the browser's slot).
impl Arg for Option<u8> {
    const SYNTAX: &'static str = "[N]";
    const WHAT: &'static str = "the slot";

    fn parse(word: Option<&str>) -> Result<Self, String> {
        let Some(arg) = word else {
            return Ok(None);
        };
        arg.parse::<u8>()
            .ok()
            .filter(|n| (1..=LAST_SLOT).contains(n))
            .map(Some)
            .ok_or_else(|| format!("slot `{arg}` is not a number from 1 to {LAST_SLOT}"))
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Some(n) => write!(f, " {n}"),
            None => Ok(()),
        }
    }
}

/// Amounts carry an explicit sign so a binding reads as a direction: `+1`, `-0.5`.
fn signed(arg: &str) -> Result<&str, String> {
    if arg.starts_with('+') || arg.starts_with('-') {
        Ok(arg.trim_start_matches('+'))
    } else {
        Err(format!("`{arg}` needs a sign, like +{arg} or -{arg}"))
    }
}

impl Arg for TrackFieldId {
    const SYNTAX: &'static str = "<field>";
    const WHAT: &'static str = "the field";

    fn parse(word: Option<&str>) -> Result<Self, String> {
        let arg = required(word, Self::WHAT)?;
        TrackFieldId::from_key(&arg).ok_or_else(|| {
            let names: Vec<&str> = TrackFieldId::all().map(TrackFieldId::key).collect();
            format!("unknown track field `{arg}` (fields: {})", names.join(", "))
        })
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " {}", self.key())
    }
}
