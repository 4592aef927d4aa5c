//! `chronus render`: bars of a slot (by number or file) to a WAV file, through the offline
//! render in `app::render`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::app::render::render_to_wav;
use crate::model::limits;
use crate::model::registry::MAX_VOICES;
use crate::model::text::escape;
use crate::store::{SlotNumber, Store, read_slot_file};

/// Arguments of `chronus render`.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// Slot number (1–128, from the patterns folder) or a slot file path.
    pub target: String,
    /// Bars to render (1–10000).
    #[arg(long, default_value_t = 4, allow_negative_numbers = true, value_parser = limits::parse_bars)]
    pub bars: u32,
    /// Output WAV file (default: slot_NNN.wav, or the slot file's name with .wav); an
    /// existing file is never replaced: the render goes to the first free `NAME-2.wav`, …
    /// instead.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sample rate in Hz (8000–192000).
    #[arg(long, default_value_t = 48000, allow_negative_numbers = true, value_parser = limits::parse_rate)]
    pub rate: u32,
    /// Number of voices (1–16).
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = limits::parse_voices)]
    pub voices: u8,
}

/// Where a render's slot came from, for messages and the default output name.
enum Source {
    Slot(SlotNumber),
    File(PathBuf),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Slot(n) => format!("slot {n}"),
            Source::File(p) => p.display().to_string(),
        }
    }

    fn default_out(&self) -> PathBuf {
        match self {
            Source::Slot(n) => PathBuf::from(format!("slot_{:03}.wav", n.get())),
            Source::File(p) => {
                let stem = p.file_stem().map(|s| s.to_os_string()).unwrap_or_default();
                let mut name = if stem.is_empty() {
                    "render".into()
                } else {
                    stem
                };
                name.push(".wav");
                PathBuf::from(name)
            }
        }
    }
}

/// Loads the slot named by `target`: an existing file path, else a slot number.
fn load_target(
    target: &str,
    patterns: &Path,
) -> anyhow::Result<(Source, crate::model::slot::Parsed)> {
    let path = Path::new(target);
    let looks_numeric = !target.trim().is_empty()
        && target
            .trim()
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.');
    // Whatever is at the path is read as a slot file, so a FIFO or a device is refused by
    // name instead of being taken for a slot number (or read); only a folder named like a
    // number leaves the number to mean a slot.
    let exists = std::fs::symlink_metadata(path).is_ok();
    if exists && !(looks_numeric && path.is_dir()) {
        let parsed = read_slot_file(path)?;
        return Ok((Source::File(path.to_path_buf()), parsed));
    }
    if !looks_numeric {
        anyhow::bail!(
            "render target \"{target}\": no such slot file (and not a slot number 1–128)"
        );
    }
    let n = SlotNumber::parse(target)?;
    let parsed = Store::new(patterns).load(n)?;
    Ok((Source::Slot(n), parsed))
}

/// Runs `chronus render`.
pub fn run(args: &RenderArgs, patterns: &Path) -> anyhow::Result<()> {
    let (source, parsed) = load_target(&args.target, patterns)?;
    let out = args.out.clone().unwrap_or_else(|| source.default_out());
    // Before the render's work: a path among the songs is refused at once.
    Store::new(patterns).check_output_path(&out)?;
    for w in &parsed.warnings {
        eprintln!(
            "{}",
            escape(&format!("warning: {}: {w}", source.describe()))
        );
    }
    let slot = &parsed.slot;
    let voices = (args.voices as usize).clamp(1, MAX_VOICES);
    let started = Instant::now();
    let info = render_to_wav(&out, slot, args.bars, args.rate, voices)?;
    let elapsed = started.elapsed().as_secs_f64();
    let seconds = info.seconds();
    let out = info.path;
    let speed = if elapsed > 0.0 {
        format!("{:.0}× realtime", seconds / elapsed)
    } else {
        "instant".to_string()
    };
    let line = format!(
        "rendered {} bars ({seconds:.2} s) of {} \"{}\" to {} in {elapsed:.2} s ({speed})",
        args.bars,
        source.describe(),
        slot.metadata.name,
        out.display(),
    );
    println!("{}", escape(&line));
    Ok(())
}
