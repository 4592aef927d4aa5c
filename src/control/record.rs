//! Recording the master output, and audio on/off (`/engine/start`, `/engine/stop`).
//!
//! Two recordings may run at once from the same samples: the run's `--record` file
//! ([`RecordRole::Run`], until the run ends) and the take that record start/stop control
//! ([`RecordRole::Take`]: the `R` key, `/engine/record/*`).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::audio::recorder::{RecordFormat, RecordRole, recording_file_name};

use super::{ControlError, Controller, Notice, Reply, describe};

impl Controller {
    /// Starts a take to `name` (cleaned) inside the recordings folder, in the recorder's
    /// default format.
    pub(super) fn record_start(&mut self, name: Option<&str>) -> Reply {
        let format = self.recorder.default_format();
        self.record_start_as(name, format)
    }

    /// Starts a take to `name` inside the recordings folder in `format`.
    pub(super) fn record_start_as(&mut self, name: Option<&str>, format: RecordFormat) -> Reply {
        let wanted = self.recordings_dir.join(recording_file_name(name)?);
        let path = self.record_as(&wanted, RecordRole::Take, format)?;
        let beside = self
            .recorder
            .path_of(RecordRole::Run)
            .map(|run| format!(" (the --record file {} goes on)", run.display()))
            .unwrap_or_default();
        Ok(Some(format!(
            "recording to {} ({} stereo){beside}",
            path.display(),
            format.describe()
        )))
    }

    /// Starts the run's recording (`headless --record FILE`) to `path`, or the first free
    /// numbered name beside it, in `format`; it goes on until the run ends (or, when the
    /// performer asked, until `/engine/stop`). Returns the file.
    pub fn record_run_to(
        &mut self,
        path: &Path,
        format: RecordFormat,
    ) -> Result<PathBuf, ControlError> {
        self.record_as(path, RecordRole::Run, format)
    }

    fn record_as(
        &mut self,
        path: &Path,
        role: RecordRole,
        format: RecordFormat,
    ) -> Result<PathBuf, ControlError> {
        self.store()
            .check_output_path(path)
            .map_err(|e| ControlError::Record(e.into()))?;
        self.recorder
            .start_as(path, role, format)
            .map_err(ControlError::Record)
    }

    pub(super) fn record_stop(&mut self) -> Reply {
        self.record_stop_role(RecordRole::Take)
    }

    fn record_stop_role(&mut self, role: RecordRole) -> Reply {
        let info = self
            .recorder
            .stop_role(role)
            .map_err(ControlError::Record)?;
        let notice = Notice::Recorded(info);
        let msg = describe(&notice, None);
        self.notices.push_back(notice);
        Ok(msg)
    }

    /// Finishes every recording (the take, then the run's file) as the run ends; each
    /// finished file is told as [`Notice::Recorded`], each failure returned.
    pub fn finish_recordings(&mut self) -> Vec<ControlError> {
        let mut failed = Vec::new();
        for role in [RecordRole::Take, RecordRole::Run] {
            if self.recorder.path_of(role).is_some()
                && let Err(e) = self.record_stop_role(role)
            {
                failed.push(e);
            }
        }
        failed
    }

    pub(super) fn engine_start(&mut self) -> Reply {
        self.link.stats.muted.store(false, Ordering::Relaxed);
        Ok(Some("audio on".into()))
    }

    /// Audio off: the sequencer stops and a take ends. The run's `--record` file goes on
    /// (recording the silence) unless the performer asked for it to end here too.
    pub(super) fn engine_stop(&mut self) -> Reply {
        self.stop()?;
        if self.recorder.path_of(RecordRole::Take).is_some() {
            self.record_stop()?;
        }
        if self.recorder.run_ends_with_engine() && self.recorder.path_of(RecordRole::Run).is_some()
        {
            self.record_stop_role(RecordRole::Run)?;
        }
        self.link.stats.muted.store(true, Ordering::Relaxed);
        Ok(Some("audio off".into()))
    }
}
