//! The size limits of a slot file ([`super::limits`]), checked on the parsed JSON before it is
//! read: tracks, steps, notes, names, tags, and every text anywhere in the file (keys too).
//! A file over a limit does not load: the error names the JSON path, the limit and the size.

use serde_json::{Map, Value};

use super::limits::{self, Limit, LimitError};
use super::slot::SlotError;
use super::slot_read::child;

/// Checks `root` against every slot limit; the specific ones (a pattern's steps) come before
/// the general one (any text), so the message names what the text is.
pub(super) fn check(root: &Value, origin: &str) -> Result<(), SlotError> {
    let err = |path: String, error: LimitError| SlotError::Limit {
        origin: origin.to_string(),
        path,
        error,
    };
    if let Some(top) = root.as_object() {
        check_metadata(top).map_err(|(p, e)| err(p, e))?;
        check_tracks(top).map_err(|(p, e)| err(p, e))?;
    }
    check_texts(root, String::new()).map_err(|(p, e)| err(p, e))
}

type Found = (String, LimitError);

fn at(path: String, r: Result<(), LimitError>) -> Result<(), Found> {
    r.map_err(|e| (path, e))
}

fn check_metadata(top: &Map<String, Value>) -> Result<(), Found> {
    let Some(meta) = top.get("metadata").and_then(Value::as_object) else {
        return Ok(());
    };
    if let Some(Value::String(name)) = meta.get("name") {
        at("metadata.name".into(), limits::SLOT_NAME.check_chars(name))?;
    }
    if let Some(Value::Array(tags)) = meta.get("tags") {
        at("metadata.tags".into(), limits::TAGS.check(tags.len()))?;
    }
    Ok(())
}

fn check_tracks(top: &Map<String, Value>) -> Result<(), Found> {
    let Some(tracks) = top
        .get("sequencer")
        .and_then(|s| s.get("tracks"))
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    let path = "sequencer.tracks";
    at(path.into(), limits::TRACKS.check(tracks.len()))?;
    for (name, track) in tracks {
        let tpath = child(path, &clipped_key(name));
        at(tpath.clone(), limits::TRACK_NAME.check_chars(name))?;
        if let Some(Value::String(p)) = track.get("pattern") {
            at(child(&tpath, "pattern"), limits::PATTERN.check_chars(p))?;
        }
        if let Some(Value::Array(notes)) = track.get("notes") {
            at(child(&tpath, "notes"), limits::NOTES.check(notes.len()))?;
        }
        if let Some(Value::Object(steps)) = track.get("steps") {
            let spath = child(&tpath, "steps");
            at(spath.clone(), limits::STEP_ENTRIES.check(steps.len()))?;
            for (key, step) in steps {
                if let Some(Value::Object(lock)) = step.get("lock") {
                    let lpath = child(&child(&spath, &clipped_key(key)), "lock");
                    at(lpath, limits::LOCKS.check(lock.len()))?;
                }
            }
        }
    }
    Ok(())
}

/// Every string and object key in the document, at most [`limits::SLOT_TEXT`] characters.
fn check_texts(v: &Value, path: String) -> Result<(), Found> {
    match v {
        Value::String(s) => at(path, limits::SLOT_TEXT.check_chars(s)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_texts(item, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            let kpath = child(&path, &clipped_key(k));
            text_limit(&kpath, k, &limits::SLOT_TEXT)?;
            check_texts(item, kpath)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn text_limit(path: &str, text: &str, limit: &'static Limit) -> Result<(), Found> {
    at(path.to_string(), limit.check_chars(text))
}

/// A key as a path shows it: a key too long to quote whole is cut (the message then says how
/// long it is), so an error about a huge key stays short.
fn clipped_key(key: &str) -> String {
    const SHOWN: usize = 40;
    if key.chars().count() <= SHOWN {
        key.to_string()
    } else {
        let head: String = key.chars().take(SHOWN).collect();
        format!("{head}…")
    }
}
