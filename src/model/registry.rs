//! The parameter registry: one table of every module parameter and track field.
//!
//! Defaults, clamping, the slot reader, OSC routes, `/engine/schema`, the parameter panel,
//! help text and the JSON Schema are all derived from these tables, so they cannot drift.
//!
//! Parameters live in one flat index space ([`ParamId`]): voice parameters first
//! (`voice * VOICE_PARAM_COUNT + p` for voices 1..=16), then the module parameters.

use std::fmt;

/// Most voices an engine can run.
pub const MAX_VOICES: usize = 16;
/// Voices an engine runs unless told otherwise.
pub const DEFAULT_VOICES: usize = 8;

/// How a parameter's value is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A continuous value.
    Float,
    /// A whole number (a waveform index).
    Int,
}

impl ParamType {
    /// The name used in schemas ("float" / "int").
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Float => "float",
            ParamType::Int => "int",
        }
    }
}

/// The kinds of module a parameter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleKind {
    /// `voice1` … `voice16`.
    Voice,
    /// `acid1`, the TB-303 style filter on voice2.
    Acid,
    /// `dist1`, the master distortion insert.
    Dist,
    /// `reverb1`, the reverb send bus.
    Reverb,
    /// `delay1`, the delay send bus.
    Delay,
    /// `lfo1`, modulating voice2's cutoff.
    Lfo1,
    /// `lfo2`, modulating voice3's amplitude.
    Lfo2,
}

/// One module instance (`voice3`, `acid1`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Module {
    /// A voice, numbered from 1.
    Voice(u8),
    /// `acid1`.
    Acid,
    /// `dist1`.
    Dist,
    /// `reverb1`.
    Reverb,
    /// `delay1`.
    Delay,
    /// `lfo1`.
    Lfo1,
    /// `lfo2`.
    Lfo2,
}

/// The non-voice modules, in the order slot files and panels list them.
pub const EFFECT_MODULES: [Module; 6] = [
    Module::Acid,
    Module::Dist,
    Module::Reverb,
    Module::Delay,
    Module::Lfo1,
    Module::Lfo2,
];

impl Module {
    /// The kind of module this is.
    pub fn kind(self) -> ModuleKind {
        match self {
            Module::Voice(_) => ModuleKind::Voice,
            Module::Acid => ModuleKind::Acid,
            Module::Dist => ModuleKind::Dist,
            Module::Reverb => ModuleKind::Reverb,
            Module::Delay => ModuleKind::Delay,
            Module::Lfo1 => ModuleKind::Lfo1,
            Module::Lfo2 => ModuleKind::Lfo2,
        }
    }

    /// Parses a module id as used in OSC paths and slot files (`voice3`, `acid1`).
    /// Voices are accepted from 1 to [`MAX_VOICES`].
    pub fn parse(id: &str) -> Option<Module> {
        match id {
            "acid1" => Some(Module::Acid),
            "dist1" => Some(Module::Dist),
            "reverb1" => Some(Module::Reverb),
            "delay1" => Some(Module::Delay),
            "lfo1" => Some(Module::Lfo1),
            "lfo2" => Some(Module::Lfo2),
            _ => {
                let n = id.strip_prefix("voice")?;
                if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let n: usize = n.parse().ok()?;
                (1..=MAX_VOICES)
                    .contains(&n)
                    .then_some(Module::Voice(n as u8))
            }
        }
    }

    /// The parameters of this module, in registry order.
    pub fn params(self) -> &'static [ParamSpec] {
        module_specs(self.kind())
    }

    /// The flat id of this module's parameter at `index` within [`Module::params`].
    pub fn param_id(self, index: usize) -> ParamId {
        let (base, _) = module_range(self);
        ParamId(base + index as u16)
    }

    /// Looks a parameter up by its OSC path (`adsr/attack`).
    pub fn param_by_osc(self, path: &str) -> Option<ParamId> {
        let i = self.params().iter().position(|p| p.osc == path)?;
        Some(self.param_id(i))
    }

    /// Looks a parameter up by its slot-file key (`adsr.attack`, `filter_freq`).
    pub fn param_by_file_key(self, key: &str) -> Option<ParamId> {
        let i = self.params().iter().position(|p| p.file_key == key)?;
        Some(self.param_id(i))
    }

    /// Looks a parameter up by any of its names: OSC path, slot-file key, screen name or a
    /// short alias, with `/`, `.` and `_` alike, so `cutoff` = `filter_freq` = `filter/freq`
    /// on voices.
    pub fn param_by_name(self, name: &str) -> Option<ParamId> {
        let want = same_separators(name);
        let matches = |key: &str| {
            self.params().iter().position(|p| {
                same_separators(p.osc) == key
                    || same_separators(p.file_key) == key
                    || same_separators(p.name) == key
            })
        };
        let i = matches(&want).or_else(|| {
            let (_, _, full) = SHORT_NAMES
                .iter()
                .find(|(kind, short, _)| *kind == self.kind() && *short == want)?;
            matches(&same_separators(full))
        })?;
        Some(self.param_id(i))
    }

    /// All parameter ids of this module.
    pub fn param_ids(self) -> impl Iterator<Item = ParamId> {
        let (base, len) = module_range(self);
        (base..base + len).map(ParamId)
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Module::Voice(n) => write!(f, "voice{n}"),
            Module::Acid => f.write_str("acid1"),
            Module::Dist => f.write_str("dist1"),
            Module::Reverb => f.write_str("reverb1"),
            Module::Delay => f.write_str("delay1"),
            Module::Lfo1 => f.write_str("lfo1"),
            Module::Lfo2 => f.write_str("lfo2"),
        }
    }
}

/// Short spellings accepted for parameters whose one name is longer: a performer types
/// `cutoff` or `q` for a voice's `filter_freq` or `filter_q`.
const SHORT_NAMES: [(ModuleKind, &str, &str); 6] = [
    (ModuleKind::Voice, "cutoff", "filter_freq"),
    // Music Chronus scripts sent `/mod/voiceN/wave "saw"`.
    (ModuleKind::Voice, "wave", "waveform"),
    (ModuleKind::Voice, "q", "filter_q"),
    (ModuleKind::Voice, "reverb", "reverb_send"),
    (ModuleKind::Voice, "delay", "delay_send"),
    (ModuleKind::Voice, "slide", "slide_time"),
];

/// One parameter's description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    /// The parameter's one name on screen (`filter_freq`, `attack`): its slot-file key
    /// without the `adsr.` nesting.
    pub name: &'static str,
    /// Path after `/mod/<module>/` (`adsr/attack`).
    pub osc: &'static str,
    /// Key in the slot file's module object; a dot means a nested object (`adsr.attack`).
    pub file_key: &'static str,
    /// Value type.
    pub ty: ParamType,
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
    /// Value when nothing sets it.
    pub default: f64,
    /// Smoothing time in milliseconds (0 = applies at once).
    pub smoothing_ms: f64,
    /// Unit shown after the value (`Hz`, `s`, empty for plain numbers).
    pub unit: &'static str,
    /// One-line description for help and schemas.
    pub desc: &'static str,
}

impl ParamSpec {
    /// Clamps `v` into range (and rounds ints). Non-finite values become the default.
    pub fn clamp(&self, v: f64) -> f64 {
        if !v.is_finite() {
            return self.default;
        }
        let v = v.clamp(self.min, self.max);
        match self.ty {
            ParamType::Float => v,
            ParamType::Int => v.round(),
        }
    }

    /// True when `v` lies inside the range (ints must be whole).
    pub fn in_range(&self, v: f64) -> bool {
        v.is_finite()
            && v >= self.min
            && v <= self.max
            && (self.ty == ParamType::Float || v.fract() == 0.0)
    }

    /// For an int parameter whose description lists its choices (`0 sine, 1 saw, …`), the
    /// name of choice `v`.
    pub fn choice_name(&self, v: f64) -> Option<&'static str> {
        if self.ty != ParamType::Int {
            return None;
        }
        let want = format!("{}", v as i64);
        self.desc.split(", ").find_map(|item| {
            let (n, name) = item.split_once(' ')?;
            (n == want).then_some(name)
        })
    }

    /// The choice named `name` (`saw`, `1/8.`), for an int parameter that lists choices.
    pub fn choice_value(&self, name: &str) -> Option<f64> {
        if self.ty != ParamType::Int {
            return None;
        }
        let name = name.trim();
        self.desc.split(", ").find_map(|item| {
            let (n, choice) = item.split_once(' ')?;
            choice
                .eq_ignore_ascii_case(name)
                .then(|| n.parse().ok())
                .flatten()
        })
    }

    /// How keyboard nudges move this parameter (from its unit and what it is).
    pub fn scale(&self) -> Scale {
        match (self.ty, self.unit, self.name) {
            (ParamType::Int, ..) => Scale::Linear,
            (_, "Hz", _) => Scale::Pitch,
            (_, "s", _) => Scale::Time,
            (_, "dB", _) => Scale::Decibels,
            (_, _, "amp" | "base_amp" | "reverb_send" | "delay_send") => Scale::Level,
            _ => Scale::Linear,
        }
    }

    /// `v` nudged one fine or coarse step up or down, in the parameter's musical scale,
    /// clamped, and rounded to a clean decimal (a save writes `0.22`, never
    /// `0.21999999999999997`).
    pub fn nudged(&self, v: f64, up: bool, coarse: bool) -> f64 {
        let sign = if up { 1.0 } else { -1.0 };
        let ratio = |fine: f64, coarse_ratio: f64| if coarse { coarse_ratio } else { fine };
        // Multiplicative scales cannot leave 0 by multiplying: below `floor` they step
        // between the bottom of the range and `floor`.
        let times = |r: f64, floor: f64| {
            let floor = floor.max(self.min);
            if up {
                if v < floor { floor } else { clean(v * r, 4) }
            } else {
                let down = v / r;
                if down < floor * 0.9999 {
                    self.min
                } else {
                    clean(down, 4)
                }
            }
        };
        let floor = self.scale().floor();
        let out = match self.scale() {
            Scale::Pitch => times(ratio(2f64.powf(1.0 / 12.0), 2.0), floor),
            Scale::Time => times(ratio(1.01, 1.1), floor),
            Scale::Level => times(10f64.powf(ratio(1.0, 6.0) / 20.0), floor),
            Scale::Decibels => clean(v + sign * ratio(1.0, 3.0), 6),
            Scale::Linear => {
                let step = if coarse {
                    self.coarse_step()
                } else {
                    self.fine_step()
                };
                clean(v + sign * step, 6)
            }
        };
        self.clamp(out)
    }

    /// The value at `position` (0 the bottom of a control's travel, 1 the top) in the
    /// parameter's musical scale, the one its nudges step through: frequencies, times and
    /// levels geometrically (equal travel, equal ratio: a knob sweeps octaves evenly) from
    /// the scale's floor or the minimum, whichever is higher, up to the maximum, with the
    /// bottom of the travel at the minimum itself; dB and plain numbers evenly; whole-number
    /// parameters rounded. Rounded to six significant digits (a saved knob reads `632.456`).
    pub fn at_position(&self, position: f64) -> f64 {
        let x = if position.is_finite() {
            position.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let v = match self.scale() {
            Scale::Pitch | Scale::Time | Scale::Level => {
                let lo = self.scale().floor().max(self.min);
                if x == 0.0 || lo >= self.max {
                    self.min
                } else {
                    lo * (self.max / lo).powf(x)
                }
            }
            Scale::Decibels | Scale::Linear => self.min + x * (self.max - self.min),
        };
        self.clamp(clean(v, 6))
    }

    /// A fine adjustment step for keyboard editing.
    pub fn fine_step(&self) -> f64 {
        match self.ty {
            ParamType::Int => 1.0,
            ParamType::Float => nice_step((self.max - self.min) / 200.0),
        }
    }

    /// A coarse adjustment step for keyboard editing.
    pub fn coarse_step(&self) -> f64 {
        match self.ty {
            ParamType::Int => 1.0,
            ParamType::Float => nice_step((self.max - self.min) / 20.0),
        }
    }
}

/// How keyboard nudges move a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Even steps (fine = 1/200, coarse = 1/20 of the range).
    Linear,
    /// A frequency: fine = 1 semitone, coarse = 1 octave.
    Pitch,
    /// A time: fine = 1 %, coarse = 10 %.
    Time,
    /// An amplitude: fine = 1 dB, coarse = 6 dB; below −60 dB it steps to 0.
    Level,
    /// A value in dB: fine = 1 dB, coarse = 3 dB.
    Decibels,
}

impl Scale {
    /// Where a multiplicative scale stops multiplying: nudges below it step to the minimum,
    /// and a control's travel runs geometrically from it (10 Hz, 1 ms, −60 dB). Linear
    /// scales have none (0).
    pub fn floor(self) -> f64 {
        match self {
            Scale::Pitch => 10.0,
            Scale::Time => 0.001,
            Scale::Level => 0.001,
            Scale::Decibels | Scale::Linear => 0.0,
        }
    }
}

/// `v` rounded to `digits` significant decimal digits: the double nearest that decimal, which
/// prints as it (so 0.1 + 0.02 + 0.1 saves as `0.22`).
pub fn clean(v: f64, digits: usize) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    format!("{:.*e}", digits.saturating_sub(1), v)
        .parse()
        .unwrap_or(v)
}

/// Rounds a raw step to 1, 2 or 5 × a power of ten. The power is applied as an exact
/// multiplication or division by 10^k (no `powf`, whose last bit differs between the C
/// runtimes of Linux and Windows), so a step of 0.001 is the double nearest 0.001 everywhere.
fn nice_step(raw: f64) -> f64 {
    let e = raw.log10().floor() as i32;
    let times_mag = |m: f64| {
        if e >= 0 {
            m * 10f64.powi(e)
        } else {
            m / 10f64.powi(-e)
        }
    };
    let r = raw / times_mag(1.0);
    let m = if r < 1.5 {
        1.0
    } else if r < 3.5 {
        2.0
    } else if r < 7.5 {
        5.0
    } else {
        10.0
    };
    times_mag(m)
}

// A table row reads best as one call with every column in order.
#[allow(clippy::too_many_arguments)]
const fn float(
    name: &'static str,
    osc: &'static str,
    file_key: &'static str,
    min: f64,
    max: f64,
    default: f64,
    smoothing_ms: f64,
    unit: &'static str,
    desc: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        osc,
        file_key,
        ty: ParamType::Float,
        min,
        max,
        default,
        smoothing_ms,
        unit,
        desc,
    }
}

/// Index of each voice parameter within [`VOICE_PARAMS`].
pub mod voice {
    /// `freq`
    pub const FREQ: usize = 0;
    /// `amp`
    pub const AMP: usize = 1;
    /// `osc/type` (`waveform`)
    pub const WAVEFORM: usize = 2;
    /// `filter/freq` (`filter_freq`)
    pub const FILTER_FREQ: usize = 3;
    /// `filter/q` (`filter_q`)
    pub const FILTER_Q: usize = 4;
    /// `adsr/attack`
    pub const ATTACK: usize = 5;
    /// `adsr/decay`
    pub const DECAY: usize = 6;
    /// `adsr/sustain`
    pub const SUSTAIN: usize = 7;
    /// `adsr/release`
    pub const RELEASE: usize = 8;
    /// `send/reverb` (`reverb_send`)
    pub const REVERB_SEND: usize = 9;
    /// `send/delay` (`delay_send`)
    pub const DELAY_SEND: usize = 10;
    /// `slide_time`
    pub const SLIDE_TIME: usize = 11;
}

/// A waveform number read as Music Chronus read it: the fraction cut off (Python's `int()`,
/// so 1.7 plays 1) and anything outside 0–5 played as 0 (sine), where a plain clamp would
/// have made 7 a brown noise. Returns the waveform and, when it is not the number sent, a
/// sentence saying what plays instead. `None` for a value that is not a finite number.
pub fn waveform_as_original(v: f64) -> Option<(f64, Option<String>)> {
    if !v.is_finite() {
        return None;
    }
    let spec = &VOICE_PARAMS[voice::WAVEFORM];
    let cut = v.trunc();
    let (plays, why) = if !(spec.min..=spec.max).contains(&cut) {
        (spec.default, "is outside 0–5")
    } else if cut != v {
        (cut, "is not a whole number")
    } else {
        return Some((v, None));
    };
    let name = spec.choice_name(plays).unwrap_or("sine");
    let shown = crate::model::fmt_num(v);
    Some((
        plays,
        Some(format!(
            "waveform {shown} {why}: plays {} ({name}), as Music Chronus did",
            plays as i64
        )),
    ))
}

/// Parameters of every voice.
pub const VOICE_PARAMS: [ParamSpec; 12] = [
    float(
        "freq",
        "freq",
        "freq",
        20.0,
        5000.0,
        440.0,
        20.0,
        "Hz",
        "oscillator frequency",
    ),
    float("amp", "amp", "amp", 0.0, 1.0, 0.3, 20.0, "", "output level"),
    ParamSpec {
        name: "waveform",
        osc: "osc/type",
        file_key: "waveform",
        ty: ParamType::Int,
        min: 0.0,
        max: 5.0,
        default: 0.0,
        smoothing_ms: 0.0,
        unit: "",
        desc: "0 sine, 1 saw, 2 square, 3 white, 4 pink, 5 brown noise",
    },
    float(
        "filter_freq",
        "filter/freq",
        "filter_freq",
        50.0,
        8000.0,
        1000.0,
        20.0,
        "Hz",
        "low-pass cutoff",
    ),
    float(
        "filter_q",
        "filter/q",
        "filter_q",
        0.5,
        10.0,
        2.0,
        20.0,
        "",
        "low-pass resonance",
    ),
    float(
        "attack",
        "adsr/attack",
        "adsr.attack",
        0.001,
        2.0,
        0.01,
        0.0,
        "s",
        "envelope attack time",
    ),
    float(
        "decay",
        "adsr/decay",
        "adsr.decay",
        0.0,
        2.0,
        0.1,
        0.0,
        "s",
        "envelope decay time",
    ),
    float(
        "sustain",
        "adsr/sustain",
        "adsr.sustain",
        0.0,
        1.0,
        0.7,
        0.0,
        "",
        "envelope sustain level",
    ),
    float(
        "release",
        "adsr/release",
        "adsr.release",
        0.01,
        3.0,
        0.5,
        0.0,
        "s",
        "envelope release time",
    ),
    float(
        "reverb_send",
        "send/reverb",
        "reverb_send",
        0.0,
        1.0,
        0.0,
        20.0,
        "",
        "send to reverb1",
    ),
    float(
        "delay_send",
        "send/delay",
        "delay_send",
        0.0,
        1.0,
        0.0,
        20.0,
        "",
        "send to delay1",
    ),
    float(
        "slide_time",
        "slide_time",
        "slide_time",
        0.0,
        1.5,
        0.0,
        0.0,
        "s",
        "portamento time",
    ),
];

/// Index of each acid1 parameter within [`ACID_PARAMS`].
pub mod acid {
    /// `cutoff`
    pub const CUTOFF: usize = 0;
    /// `res`
    pub const RES: usize = 1;
    /// `env_amount`
    pub const ENV_AMOUNT: usize = 2;
    /// `decay`
    pub const DECAY: usize = 3;
    /// `drive`
    pub const DRIVE: usize = 4;
    /// `mix`
    pub const MIX: usize = 5;
    /// `vol_comp`
    pub const VOL_COMP: usize = 6;
    /// `accent`
    pub const ACCENT: usize = 7;
}

/// Parameters of acid1.
pub const ACID_PARAMS: [ParamSpec; 8] = [
    float(
        "cutoff",
        "cutoff",
        "cutoff",
        80.0,
        5000.0,
        1500.0,
        20.0,
        "Hz",
        "ladder cutoff",
    ),
    float(
        "res",
        "res",
        "res",
        0.0,
        0.98,
        0.45,
        20.0,
        "",
        "ladder resonance",
    ),
    float(
        "env_amount",
        "env_amount",
        "env_amount",
        0.0,
        5000.0,
        2500.0,
        20.0,
        "Hz",
        "envelope to cutoff",
    ),
    float(
        "decay",
        "decay",
        "decay",
        0.02,
        1.0,
        0.25,
        0.0,
        "s",
        "envelope decay",
    ),
    float(
        "drive",
        "drive",
        "drive",
        0.0,
        1.0,
        0.2,
        20.0,
        "",
        "input saturation",
    ),
    float("mix", "mix", "mix", 0.0, 1.0, 1.0, 20.0, "", "dry/wet"),
    float(
        "vol_comp",
        "vol_comp",
        "vol_comp",
        0.0,
        1.0,
        0.5,
        20.0,
        "",
        "resonance gain compensation",
    ),
    float(
        "accent",
        "accent",
        "accent",
        0.0,
        1.0,
        0.5,
        20.0,
        "",
        "accent strength on X hits",
    ),
];

/// Index of each dist1 parameter.
pub mod dist {
    /// `drive`
    pub const DRIVE: usize = 0;
    /// `mix`
    pub const MIX: usize = 1;
    /// `tone`
    pub const TONE: usize = 2;
}

/// Parameters of dist1.
pub const DIST_PARAMS: [ParamSpec; 3] = [
    float(
        "drive",
        "drive",
        "drive",
        0.0,
        1.0,
        0.0,
        20.0,
        "",
        "waveshaper drive",
    ),
    float(
        "mix",
        "mix",
        "mix",
        0.0,
        1.0,
        0.0,
        20.0,
        "",
        "dry/wet (equal power)",
    ),
    float(
        "tone",
        "tone",
        "tone",
        0.0,
        1.0,
        0.5,
        20.0,
        "",
        "dark (0) to bright (1)",
    ),
];

/// Index of each reverb1 parameter.
pub mod reverb {
    /// `mix`
    pub const MIX: usize = 0;
    /// `room`
    pub const ROOM: usize = 1;
    /// `damp`
    pub const DAMP: usize = 2;
}

/// Parameters of reverb1.
pub const REVERB_PARAMS: [ParamSpec; 3] = [
    float(
        "mix",
        "mix",
        "mix",
        0.0,
        1.0,
        0.3,
        20.0,
        "",
        "wet return level",
    ),
    float("room", "room", "room", 0.0, 1.0, 0.5, 20.0, "", "room size"),
    float(
        "damp",
        "damp",
        "damp",
        0.0,
        1.0,
        0.5,
        20.0,
        "",
        "high-frequency damping",
    ),
];

/// Index of each delay1 parameter.
pub mod delay {
    /// `time`
    pub const TIME: usize = 0;
    /// `feedback`
    pub const FEEDBACK: usize = 1;
    /// `mix`
    pub const MIX: usize = 2;
    /// `lowcut`
    pub const LOWCUT: usize = 3;
    /// `highcut`
    pub const HIGHCUT: usize = 4;
    /// `sync`: 0 = free `time`, else a note value synced to the tempo.
    pub const SYNC: usize = 5;

    /// The note values `sync` chooses from (index 1 …), as shown and as their length in
    /// beats (quarter notes): straight, dotted (`.`) and triplet (`t`).
    pub const NOTE_VALUES: [(&str, f64); 13] = [
        ("1/32", 0.125),
        ("1/16t", 1.0 / 6.0),
        ("1/16", 0.25),
        ("1/16.", 0.375),
        ("1/8t", 1.0 / 3.0),
        ("1/8", 0.5),
        ("1/8.", 0.75),
        ("1/4t", 2.0 / 3.0),
        ("1/4", 1.0),
        ("1/4.", 1.5),
        ("1/2", 2.0),
        ("1/2.", 3.0),
        ("1/1", 4.0),
    ];

    /// Longest time a synced delay reaches (a half note at 60 BPM); a longer note value
    /// plays at this time, and the panel says so.
    pub const SYNCED_MAX_S: f64 = 2.0;

    /// The delay time note value `sync` (0 = free) plays at `bpm`, in seconds, or `None`
    /// when the time is free. Longer than [`SYNCED_MAX_S`] plays at that.
    pub fn synced_time(sync: f64, bpm: f64) -> Option<f64> {
        // NaN tempo or choice: free.
        let synced = sync >= 1.0 && bpm > 0.0;
        if !synced {
            return None;
        }
        let (_, beats) = NOTE_VALUES[(sync as usize - 1).min(NOTE_VALUES.len() - 1)];
        Some((beats * 60.0 / bpm).min(SYNCED_MAX_S))
    }

    /// The name of note value `sync` (`1/8.`), or `None` for free time.
    pub fn note_value_name(sync: f64) -> Option<&'static str> {
        (sync >= 1.0).then(|| NOTE_VALUES[(sync as usize - 1).min(NOTE_VALUES.len() - 1)].0)
    }
}

/// Parameters of delay1.
pub const DELAY_PARAMS: [ParamSpec; 6] = [
    float(
        "time",
        "time",
        "time",
        0.1,
        0.6,
        0.25,
        20.0,
        "s",
        "delay time",
    ),
    float(
        "feedback", "feedback", "feedback", 0.0, 0.7, 0.4, 20.0, "", "repeats",
    ),
    float(
        "mix",
        "mix",
        "mix",
        0.0,
        1.0,
        0.3,
        20.0,
        "",
        "wet return level",
    ),
    float(
        "lowcut",
        "lowcut",
        "lowcut",
        20.0,
        1000.0,
        100.0,
        20.0,
        "Hz",
        "high-pass in the loop",
    ),
    float(
        "highcut",
        "highcut",
        "highcut",
        1000.0,
        10000.0,
        5000.0,
        20.0,
        "Hz",
        "low-pass in the loop",
    ),
    ParamSpec {
        name: "sync",
        osc: "sync",
        file_key: "sync",
        ty: ParamType::Int,
        min: 0.0,
        max: 13.0,
        default: 0.0,
        smoothing_ms: 0.0,
        unit: "",
        desc: "0 free, 1 1/32, 2 1/16t, 3 1/16, 4 1/16., 5 1/8t, 6 1/8, 7 1/8., 8 1/4t, 9 1/4, \
               10 1/4., 11 1/2, 12 1/2., 13 1/1",
    },
];

/// Index of each LFO parameter.
pub mod lfo {
    /// `rate`
    pub const RATE: usize = 0;
    /// `depth`
    pub const DEPTH: usize = 1;
}

/// Parameters of lfo1 (sine → voice2 / acid cutoff, ± 800 Hz × depth).
pub const LFO1_PARAMS: [ParamSpec; 2] = [
    float(
        "rate", "rate", "rate", 0.01, 10.0, 0.25, 20.0, "Hz", "speed",
    ),
    float(
        "depth",
        "depth",
        "depth",
        0.0,
        1.0,
        0.7,
        20.0,
        "",
        "± 800 Hz on voice2 cutoff",
    ),
];

/// Parameters of lfo2 (sine → voice3 amplitude).
pub const LFO2_PARAMS: [ParamSpec; 2] = [
    float("rate", "rate", "rate", 0.01, 10.0, 4.0, 20.0, "Hz", "speed"),
    float(
        "depth",
        "depth",
        "depth",
        0.0,
        1.0,
        0.3,
        20.0,
        "",
        "tremolo on voice3 amplitude",
    ),
];

/// Number of parameters per voice.
pub const VOICE_PARAM_COUNT: usize = VOICE_PARAMS.len();
const VOICE_BLOCK: usize = VOICE_PARAM_COUNT * MAX_VOICES;
const ACID_BASE: usize = VOICE_BLOCK;
const DIST_BASE: usize = ACID_BASE + ACID_PARAMS.len();
const REVERB_BASE: usize = DIST_BASE + DIST_PARAMS.len();
const DELAY_BASE: usize = REVERB_BASE + REVERB_PARAMS.len();
const LFO1_BASE: usize = DELAY_BASE + DELAY_PARAMS.len();
const LFO2_BASE: usize = LFO1_BASE + LFO1_PARAMS.len();
/// Size of the flat parameter space (every voice up to 16 plus every module).
pub const PARAM_COUNT: usize = LFO2_BASE + LFO2_PARAMS.len();

fn module_specs(kind: ModuleKind) -> &'static [ParamSpec] {
    match kind {
        ModuleKind::Voice => &VOICE_PARAMS,
        ModuleKind::Acid => &ACID_PARAMS,
        ModuleKind::Dist => &DIST_PARAMS,
        ModuleKind::Reverb => &REVERB_PARAMS,
        ModuleKind::Delay => &DELAY_PARAMS,
        ModuleKind::Lfo1 => &LFO1_PARAMS,
        ModuleKind::Lfo2 => &LFO2_PARAMS,
    }
}

fn module_range(m: Module) -> (u16, u16) {
    let (base, len) = match m {
        Module::Voice(n) => {
            debug_assert!((1..=MAX_VOICES as u8).contains(&n));
            ((n as usize - 1) * VOICE_PARAM_COUNT, VOICE_PARAM_COUNT)
        }
        Module::Acid => (ACID_BASE, ACID_PARAMS.len()),
        Module::Dist => (DIST_BASE, DIST_PARAMS.len()),
        Module::Reverb => (REVERB_BASE, REVERB_PARAMS.len()),
        Module::Delay => (DELAY_BASE, DELAY_PARAMS.len()),
        Module::Lfo1 => (LFO1_BASE, LFO1_PARAMS.len()),
        Module::Lfo2 => (LFO2_BASE, LFO2_PARAMS.len()),
    };
    (base as u16, len as u16)
}

/// A parameter's index in the flat parameter space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub u16);

impl ParamId {
    /// The id of voice `n`'s (1-based) parameter `p` (one of the [`voice`] constants).
    pub const fn voice(n: u8, p: usize) -> ParamId {
        ParamId(((n as usize - 1) * VOICE_PARAM_COUNT + p) as u16)
    }

    /// The id of acid1's parameter `p` (one of the [`acid`] constants).
    pub const fn acid(p: usize) -> ParamId {
        ParamId((ACID_BASE + p) as u16)
    }
    /// The id of dist1's parameter `p`.
    pub const fn dist(p: usize) -> ParamId {
        ParamId((DIST_BASE + p) as u16)
    }
    /// The id of reverb1's parameter `p`.
    pub const fn reverb(p: usize) -> ParamId {
        ParamId((REVERB_BASE + p) as u16)
    }
    /// The id of delay1's parameter `p`.
    pub const fn delay(p: usize) -> ParamId {
        ParamId((DELAY_BASE + p) as u16)
    }
    /// The id of lfo1's parameter `p`.
    pub const fn lfo1(p: usize) -> ParamId {
        ParamId((LFO1_BASE + p) as u16)
    }
    /// The id of lfo2's parameter `p`.
    pub const fn lfo2(p: usize) -> ParamId {
        ParamId((LFO2_BASE + p) as u16)
    }

    /// The flat index, for indexing [`ParamValues`].
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The module this parameter belongs to and its index within the module.
    pub fn locate(self) -> (Module, usize) {
        let i = self.0 as usize;
        assert!(i < PARAM_COUNT, "parameter id {i} out of range");
        if i < VOICE_BLOCK {
            return (
                Module::Voice((i / VOICE_PARAM_COUNT + 1) as u8),
                i % VOICE_PARAM_COUNT,
            );
        }
        let table = [
            (LFO2_BASE, Module::Lfo2),
            (LFO1_BASE, Module::Lfo1),
            (DELAY_BASE, Module::Delay),
            (REVERB_BASE, Module::Reverb),
            (DIST_BASE, Module::Dist),
            (ACID_BASE, Module::Acid),
        ];
        let (base, m) = table.into_iter().find(|(b, _)| i >= *b).expect("acid base");
        (m, i - base)
    }

    /// The module this parameter belongs to.
    pub fn module(self) -> Module {
        self.locate().0
    }

    /// The parameter's description.
    pub fn spec(self) -> &'static ParamSpec {
        let (m, i) = self.locate();
        &m.params()[i]
    }

    /// `voice3/adsr/attack`-style label used in messages.
    pub fn label(self) -> String {
        format!("{}/{}", self.module(), self.spec().osc)
    }

    /// Every parameter id for an engine with `voices` voices, in registry order.
    pub fn all(voices: usize) -> impl Iterator<Item = ParamId> {
        let voices = voices.min(MAX_VOICES);
        (0..voices * VOICE_PARAM_COUNT)
            .chain(VOICE_BLOCK..PARAM_COUNT)
            .map(|i| ParamId(i as u16))
    }
}

/// A value for every parameter in the flat space.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamValues(pub [f64; PARAM_COUNT]);

impl Default for ParamValues {
    fn default() -> Self {
        let mut v = [0.0; PARAM_COUNT];
        for (i, slot) in v.iter_mut().enumerate() {
            *slot = ParamId(i as u16).spec().default;
        }
        ParamValues(v)
    }
}

impl ParamValues {
    /// The value of one parameter.
    pub fn get(&self, id: ParamId) -> f64 {
        self.0[id.index()]
    }

    /// Sets one parameter, clamped to its range; returns the stored value.
    pub fn set(&mut self, id: ParamId, v: f64) -> f64 {
        let v = id.spec().clamp(v);
        self.0[id.index()] = v;
        v
    }
}

/// A parameter name with `/` and `.` written as `_` (`filter/freq` → `filter_freq`).
fn same_separators(name: &str) -> String {
    name.replace(['/', '.'], "_")
}

/// The index in [`TRACK_FIELDS`] of a track field named by its key or by the voice
/// parameter it overrides (`cutoff`, `filter/freq`, `freq`, `amp`, `send/reverb` …).
pub fn track_field_by_name(name: &str) -> Option<usize> {
    if let Some(i) = TRACK_FIELDS.iter().position(|f| f.key == name) {
        return Some(i);
    }
    let p = Module::Voice(1).param_by_name(name)?.locate().1;
    track_override(p)
}

/// The voice whose own low-pass acid1 replaces.
pub const ACID_VOICE: u8 = 2;

/// The parameter that is heard in place of voice `n`'s own cutoff, when something replaces
/// its filter: acid1's cutoff for voice2.
pub fn audible_filter(n: u8) -> Option<ParamId> {
    (n == ACID_VOICE).then_some(ParamId::acid(acid::CUTOFF))
}

/// The parameter heard in place of `id`, when something replaces it in the sound: acid1's
/// cutoff and resonance for voice2's own filter.
pub fn replaced_by(id: ParamId) -> Option<ParamId> {
    match id.locate() {
        (Module::Voice(ACID_VOICE), voice::FILTER_FREQ) => Some(ParamId::acid(acid::CUTOFF)),
        (Module::Voice(ACID_VOICE), voice::FILTER_Q) => Some(ParamId::acid(acid::RES)),
        _ => None,
    }
}

/// The track field that overrides voice parameter `p` (a [`voice`] index) on every hit of a
/// track playing the voice.
pub fn track_override(p: usize) -> Option<usize> {
    match p {
        voice::FREQ => Some(track::BASE_FREQ),
        voice::AMP => Some(track::BASE_AMP),
        voice::FILTER_FREQ => Some(track::FILTER_FREQ),
        voice::REVERB_SEND => Some(track::REVERB_SEND),
        voice::DELAY_SEND => Some(track::DELAY_SEND),
        _ => None,
    }
}

/// Resolves an OSC parameter address below `/mod/` (`voice3/adsr/attack`, legacy
/// `sine1/freq`, `filter1/q`, `adsr1/decay`) to a parameter id.
pub fn resolve_osc_param(path: &str) -> Option<ParamId> {
    let path = path.trim_start_matches('/');
    let (module, rest) = path.split_once('/')?;
    match module {
        "sine1" if rest == "freq" => return Some(ParamId::voice(1, voice::FREQ)),
        "filter1" => {
            return match rest {
                "freq" => Some(ParamId::voice(1, voice::FILTER_FREQ)),
                "q" => Some(ParamId::voice(1, voice::FILTER_Q)),
                _ => None,
            };
        }
        // `adsr1` stood for voice1 in the first Music Chronus engines (`/gate/adsr1` opens
        // voice1); its demos also sent voice1's other parameters there (`/mod/adsr1/freq`).
        "adsr1" => {
            return Module::Voice(1)
                .param_by_osc(&format!("adsr/{rest}"))
                .or_else(|| Module::Voice(1).param_by_name(rest));
        }
        _ => {}
    }
    let module = Module::parse(module)?;
    module
        .param_by_osc(rest)
        .or_else(|| module.param_by_name(rest))
}

/// Sequencer-wide settings.
pub mod sequencer {
    use super::{ParamSpec, float};

    /// Tempo.
    pub const BPM: ParamSpec = float("bpm", "bpm", "bpm", 30.0, 300.0, 120.0, 0.0, "BPM", "tempo");
    /// Swing of odd 16ths.
    /// Up to 0.668: the off-16th lands a third of a step late, a triplet feel (66.7 % in MPC
    /// terms, see [`swing_percent`]).
    pub const SWING: ParamSpec = float(
        "swing",
        "swing",
        "swing",
        0.0,
        0.668,
        0.0,
        0.0,
        "",
        "delays odd 16ths by swing × half a step (0.668 = 66.7 % MPC, triplet feel)",
    );

    /// Swing as MPC/Elektron percent: where the off-16th falls in its pair of 16ths (50 %
    /// straight, 66.7 % a triplet).
    pub fn swing_percent(swing: f64) -> f64 {
        50.0 + 25.0 * swing
    }
}

/// Per-step values (schema 1.1): a track's `steps` entries, and the slot's chance seed.
pub mod step {
    use super::{ParamSpec, ParamType, float};

    /// `velocity`: scales the hit's level (the pattern's `x`/`X` still set the accent).
    pub const VELOCITY: ParamSpec = float(
        "velocity",
        "velocity",
        "velocity",
        0.0,
        1.0,
        1.0,
        0.0,
        "",
        "level of this step's hit × the track's (1 = as the pattern plays it)",
    );
    /// `micro`: moves the hit by a fraction of a step.
    pub const MICRO: ParamSpec = float(
        "micro",
        "micro",
        "micro",
        -0.5,
        0.5,
        0.0,
        0.0,
        "steps",
        "moves the hit early (−) or late (+) by this fraction of a step",
    );
    /// `ratchet`: hits in the step, equally spaced.
    pub const RATCHET: ParamSpec = ParamSpec {
        name: "ratchet",
        osc: "ratchet",
        file_key: "ratchet",
        ty: ParamType::Int,
        min: 1.0,
        max: crate::model::limits::MAX_RATCHET as f64,
        default: 1.0,
        smoothing_ms: 0.0,
        unit: "",
        desc: "hits in the step, equally spaced (1 = one hit)",
    };
    /// `chance`: the probability that the step plays.
    pub const CHANCE: ParamSpec = float(
        "chance",
        "chance",
        "chance",
        0.0,
        100.0,
        100.0,
        0.0,
        "%",
        "probability that the step plays, drawn from the slot's seed",
    );
    /// `sequencer.seed`: makes chance reproducible.
    pub const SEED: ParamSpec = ParamSpec {
        name: "seed",
        osc: "seed",
        file_key: "seed",
        ty: ParamType::Int,
        min: 0.0,
        max: u32::MAX as f64,
        default: 0.0,
        smoothing_ms: 0.0,
        unit: "",
        desc: "seed of the steps' chance: the same seed plays the same choices",
    };
}

/// How a track field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackFieldKind {
    /// Free text.
    Text,
    /// A voice id (`voice1` … `voice16`).
    Voice,
    /// A step pattern (`X`, `x`, rest).
    Pattern,
    /// A list of frequencies in Hz.
    Notes,
    /// A number with a range (see [`TrackField::spec`]).
    Number,
}

/// One field of a sequencer track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackField {
    /// Key in the slot file and in `/seq/add key=value`.
    pub key: &'static str,
    /// Storage kind.
    pub kind: TrackFieldKind,
    /// Range and default for numeric fields (ignored for the others).
    pub spec: ParamSpec,
}

const fn track_number(
    key: &'static str,
    min: f64,
    max: f64,
    default: f64,
    unit: &'static str,
    desc: &'static str,
) -> TrackField {
    TrackField {
        key,
        kind: TrackFieldKind::Number,
        spec: float(key, key, key, min, max, default, 0.0, unit, desc),
    }
}

const fn track_other(key: &'static str, kind: TrackFieldKind, desc: &'static str) -> TrackField {
    TrackField {
        key,
        kind,
        spec: float(key, key, key, 0.0, 0.0, 0.0, 0.0, "", desc),
    }
}

/// Index of each track field within [`TRACK_FIELDS`].
pub mod track {
    /// `name`
    pub const NAME: usize = 0;
    /// `voice_id`
    pub const VOICE_ID: usize = 1;
    /// `pattern`
    pub const PATTERN: usize = 2;
    /// `notes`
    pub const NOTES: usize = 3;
    /// `base_freq`
    pub const BASE_FREQ: usize = 4;
    /// `base_amp`
    pub const BASE_AMP: usize = 5;
    /// `filter_freq`
    pub const FILTER_FREQ: usize = 6;
    /// `accent_boost`
    pub const ACCENT_BOOST: usize = 7;
    /// `reverb_send`
    pub const REVERB_SEND: usize = 8;
    /// `delay_send`
    pub const DELAY_SEND: usize = 9;
    /// `gate_frac`
    pub const GATE_FRAC: usize = 10;
    /// `note_index`
    pub const NOTE_INDEX: usize = 11;
    /// `accent`
    pub const ACCENT: usize = 12;
}

/// Every track field, in slot-file order.
pub const TRACK_FIELDS: [TrackField; 13] = [
    track_other("name", TrackFieldKind::Text, "track name"),
    track_other(
        "voice_id",
        TrackFieldKind::Voice,
        "voice the track plays (voice1…)",
    ),
    track_other(
        "pattern",
        TrackFieldKind::Pattern,
        "steps: X accent, x hit, . rest",
    ),
    track_other(
        "notes",
        TrackFieldKind::Notes,
        "notes in Hz, cycled on hits",
    ),
    track_number(
        "base_freq",
        20.0,
        5000.0,
        440.0,
        "Hz",
        "frequency when notes is empty",
    ),
    track_number(
        "base_amp",
        0.0,
        1.0,
        0.3,
        "",
        "amplitude × velocity on hits",
    ),
    track_number(
        "filter_freq",
        50.0,
        8000.0,
        1000.0,
        "Hz",
        "voice cutoff on hits",
    ),
    track_number(
        "accent_boost",
        0.0,
        5000.0,
        1500.0,
        "Hz",
        "cutoff + boost × (velocity − 0.5)",
    ),
    track_number(
        "reverb_send",
        0.0,
        1.0,
        0.0,
        "",
        "voice reverb send on hits",
    ),
    track_number("delay_send", 0.0, 1.0, 0.0, "", "voice delay send on hits"),
    track_number(
        "gate_frac",
        0.01,
        1.0,
        0.5,
        "",
        "gate length as a fraction of a step",
    ),
    TrackField {
        key: "note_index",
        kind: TrackFieldKind::Number,
        spec: ParamSpec {
            name: "note_index",
            osc: "note_index",
            file_key: "note_index",
            ty: ParamType::Int,
            min: 0.0,
            max: 1_000_000.0,
            default: 0.0,
            smoothing_ms: 0.0,
            unit: "",
            desc: "next note to play",
        },
    },
    // Last, and written only when it differs from its default, so files that never set it
    // keep the shape the original engine reads and writes.
    track_number(
        "accent",
        0.0,
        12.0,
        6.0,
        "dB",
        "level an X hit adds over an x hit",
    ),
];

/// Looks a track field up by key.
pub fn track_field(key: &str) -> Option<&'static TrackField> {
    TRACK_FIELDS.iter().find(|f| f.key == key)
}

/// A numeric track field a key may edit: an index into the registry's `TRACK_FIELDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrackFieldId(usize);

impl TrackFieldId {
    /// The fields keys may edit: every numeric one except the playback position `note_index`.
    pub fn all() -> impl Iterator<Item = TrackFieldId> {
        (0..TRACK_FIELDS.len())
            .filter(|&i| TRACK_FIELDS[i].kind == TrackFieldKind::Number && i != track::NOTE_INDEX)
            .map(TrackFieldId)
    }

    /// Looks an editable field up by its slot-file key (`base_amp`) or an alias
    /// ([`track_field_by_name`]: `cutoff` = `filter_freq`).
    pub fn from_key(key: &str) -> Option<TrackFieldId> {
        let i = track_field_by_name(key)?;
        TrackFieldId::all().find(|f| f.index() == i)
    }

    /// The numeric field at `index` (a `registry::track::*` constant); `None` for the text
    /// fields and positions past the table.
    pub fn new(index: usize) -> Option<TrackFieldId> {
        TRACK_FIELDS
            .get(index)
            .filter(|f| f.kind == TrackFieldKind::Number)
            .map(|_| TrackFieldId(index))
    }

    /// Index into `TRACK_FIELDS` (compare with the `registry::track::*` constants).
    pub fn index(self) -> usize {
        self.0
    }

    /// The slot-file key.
    pub fn key(self) -> &'static str {
        TRACK_FIELDS[self.0].key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_ids_round_trip_through_locate() {
        for i in 0..PARAM_COUNT {
            let id = ParamId(i as u16);
            let (m, p) = id.locate();
            assert_eq!(m.param_id(p), id);
        }
        assert_eq!(PARAM_COUNT, 16 * 12 + 8 + 3 + 3 + 6 + 2 + 2);
    }

    #[test]
    fn defaults_lie_in_range_and_match_engine_md() {
        for id in ParamId::all(MAX_VOICES) {
            let s = id.spec();
            assert!(s.in_range(s.default), "{}", id.label());
        }
        let d = ParamValues::default();
        assert_eq!(d.get(ParamId::voice(3, voice::AMP)), 0.3);
        assert_eq!(d.get(ParamId::acid(acid::RES)), 0.45);
        assert_eq!(d.get(ParamId::lfo2(lfo::RATE)), 4.0);
        assert_eq!(d.get(ParamId::delay(delay::HIGHCUT)), 5000.0);
    }

    #[test]
    fn osc_paths_resolve_including_legacy_aliases() {
        assert_eq!(
            resolve_osc_param("voice3/adsr/attack"),
            Some(ParamId::voice(3, voice::ATTACK))
        );
        assert_eq!(
            resolve_osc_param("voice16/osc/type"),
            Some(ParamId::voice(16, voice::WAVEFORM))
        );
        assert_eq!(
            resolve_osc_param("sine1/freq"),
            Some(ParamId::voice(1, voice::FREQ))
        );
        assert_eq!(
            resolve_osc_param("filter1/q"),
            Some(ParamId::voice(1, voice::FILTER_Q))
        );
        assert_eq!(
            resolve_osc_param("adsr1/release"),
            Some(ParamId::voice(1, voice::RELEASE))
        );
        assert_eq!(
            resolve_osc_param("acid1/env_amount"),
            Some(ParamId::acid(acid::ENV_AMOUNT))
        );
        assert_eq!(resolve_osc_param("voice17/freq"), None);
        assert_eq!(resolve_osc_param("voice01/freq"), None);
        assert_eq!(resolve_osc_param("voice1/nope"), None);
    }

    #[test]
    fn a_control_travels_each_parameter_in_its_musical_scale() {
        // acid1 cutoff, 80–5000 Hz: geometric, the middle an octave-even sqrt(80 × 5000).
        let cutoff = ParamId::acid(acid::CUTOFF).spec();
        assert_eq!(cutoff.at_position(0.0), 80.0);
        assert_eq!(cutoff.at_position(1.0), 5000.0);
        assert_eq!(cutoff.at_position(0.5), clean((80.0f64 * 5000.0).sqrt(), 6));
        assert_eq!(cutoff.at_position(0.5), 632.456);
        // A quarter of the travel is a quarter of the octaves.
        let q = cutoff.at_position(0.25);
        assert!(((q / 80.0).log2() - (5000.0f64 / 80.0).log2() / 4.0).abs() < 1e-4);
        // A decay time from 0: the bottom is 0, then 1 ms up to 2 s geometrically.
        let decay = ParamId::voice(1, voice::DECAY).spec();
        assert_eq!(decay.at_position(0.0), 0.0);
        assert_eq!(decay.at_position(1.0), 2.0);
        assert_eq!(decay.at_position(0.5), clean((0.001f64 * 2.0).sqrt(), 6));
        // A level: −60 dB to full, the middle at −30 dB.
        let amp = ParamId::voice(1, voice::AMP).spec();
        assert_eq!(amp.at_position(0.0), 0.0);
        assert_eq!(amp.at_position(0.5), clean(10f64.powf(-1.5), 6));
        assert_eq!(amp.at_position(1.0), 1.0);
        // Plain numbers evenly; whole numbers rounded; out of range and NaN held in.
        let res = ParamId::acid(acid::RES).spec();
        assert_eq!(res.at_position(0.5), 0.49);
        let wave = ParamId::voice(1, voice::WAVEFORM).spec();
        assert_eq!(wave.at_position(0.5), 3.0);
        assert_eq!(wave.at_position(0.49), 2.0);
        assert_eq!(res.at_position(2.0), 0.98);
        assert_eq!(res.at_position(f64::NAN), 0.0);
    }

    #[test]
    fn nudges_move_in_musical_steps_and_save_clean_numbers() {
        let cutoff = VOICE_PARAMS[voice::FILTER_FREQ];
        assert_eq!(cutoff.scale(), Scale::Pitch);
        assert_eq!(cutoff.nudged(1000.0, true, true), 2000.0);
        assert_eq!(cutoff.nudged(1000.0, false, true), 500.0);
        assert_eq!(cutoff.nudged(440.0, true, false), 466.2);
        assert_eq!(cutoff.nudged(466.2, false, false), 440.0);
        assert_eq!(
            cutoff.nudged(60.0, false, true),
            50.0,
            "clamped at the bottom"
        );
        let attack = VOICE_PARAMS[voice::ATTACK];
        assert_eq!(attack.nudged(0.5, true, true), 0.55);
        assert_eq!(attack.nudged(0.5, true, false), 0.505);
        let amp = VOICE_PARAMS[voice::AMP];
        assert_eq!(amp.scale(), Scale::Level);
        assert_eq!(amp.nudged(0.5, false, true), 0.2506, "−6 dB");
        assert_eq!(amp.nudged(0.0, true, false), 0.001, "up from silence");
        assert_eq!(amp.nudged(0.001, false, false), 0.0, "down to silence");
        let decay = VOICE_PARAMS[voice::DECAY];
        assert_eq!(decay.nudged(0.0, true, false), 0.001);
        let q = VOICE_PARAMS[voice::FILTER_Q];
        assert_eq!(q.scale(), Scale::Linear);
        let (mut v, mut raw) = (0.6, 0.6);
        for _ in 0..3 {
            v = q.nudged(v, true, false);
            raw += q.fine_step();
        }
        assert_eq!(
            format!("{raw}"),
            "0.7500000000000001",
            "plain adding leaves noise"
        );
        assert_eq!(format!("{v}"), "0.75");
        assert_eq!(clean(0.21999999999999997, 6), 0.22);
        assert_eq!(clean(0.1f32 as f64, 6), 0.1);
        let accent = TRACK_FIELDS[track::ACCENT].spec;
        assert_eq!(accent.nudged(6.0, true, false), 7.0);
        assert_eq!(accent.nudged(6.0, false, true), 3.0);
        // Swing reaches a triplet feel: the off-16th a third of a step late, 66.7 % MPC.
        let top = sequencer::SWING.max;
        assert!((top / 2.0 - 1.0 / 3.0).abs() < 0.001);
        assert_eq!(format!("{:.1}", sequencer::swing_percent(top)), "66.7");
        assert_eq!(sequencer::swing_percent(0.0), 50.0);
    }

    #[test]
    fn one_name_per_parameter_with_the_other_spellings_as_aliases() {
        let cutoff = ParamId::voice(3, voice::FILTER_FREQ);
        for path in [
            "voice3/filter/freq",
            "voice3/filter_freq",
            "voice3/cutoff",
            "voice3/filter.freq",
        ] {
            assert_eq!(resolve_osc_param(path), Some(cutoff), "{path}");
        }
        assert_eq!(
            resolve_osc_param("voice1/attack"),
            Some(ParamId::voice(1, voice::ATTACK))
        );
        assert_eq!(
            resolve_osc_param("voice1/reverb_send"),
            Some(ParamId::voice(1, voice::REVERB_SEND))
        );
        assert_eq!(
            resolve_osc_param("acid1/cutoff"),
            Some(ParamId::acid(acid::CUTOFF))
        );
        assert_eq!(resolve_osc_param("voice1/nope"), None);
        for name in ["filter_freq", "cutoff", "filter/freq"] {
            assert_eq!(
                track_field_by_name(name),
                Some(track::FILTER_FREQ),
                "{name}"
            );
        }
        assert_eq!(track_field_by_name("send/reverb"), Some(track::REVERB_SEND));
        assert_eq!(track_field_by_name("freq"), Some(track::BASE_FREQ));
        assert_eq!(track_field_by_name("q"), None);
    }

    #[test]
    fn clamp_rounds_ints_and_replaces_non_finite() {
        let w = ParamId::voice(1, voice::WAVEFORM).spec();
        assert_eq!(w.clamp(2.6), 3.0);
        assert_eq!(w.clamp(9.0), 5.0);
        assert_eq!(w.clamp(f64::NAN), 0.0);
        let f = ParamId::voice(1, voice::FREQ).spec();
        assert_eq!(f.clamp(8000.0), 5000.0);
        assert_eq!(f.fine_step(), 20.0);
        assert_eq!(f.coarse_step(), 200.0);
    }
}
