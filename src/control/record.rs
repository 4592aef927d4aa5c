//! Recording the master output, and audio on/off (`/engine/start`, `/engine/stop`).

use std::sync::atomic::Ordering;

use crate::audio::recorder::recording_file_name;

use super::{ControlError, Controller, Notice, Reply, describe};

impl Controller {
    /// Starts recording to `name` (cleaned) inside the recordings folder.
    pub(super) fn record_start(&mut self, name: Option<&str>) -> Reply {
        let wanted = self.recordings_dir.join(recording_file_name(name)?);
        let path = self.record_to(&wanted)?;
        Ok(Some(format!("recording to {}", path.display())))
    }

    pub(super) fn record_stop(&mut self) -> Reply {
        let info = self.recorder.stop().map_err(ControlError::Record)?;
        let notice = Notice::Recorded(info);
        let msg = describe(&notice, None);
        self.notices.push_back(notice);
        Ok(msg)
    }

    pub(super) fn engine_start(&mut self) -> Reply {
        self.link.stats.muted.store(false, Ordering::Relaxed);
        Ok(Some("audio on".into()))
    }

    /// Audio off: the sequencer stops and a recording ends.
    pub(super) fn engine_stop(&mut self) -> Reply {
        self.stop()?;
        if self.recorder.current().is_some() {
            self.record_stop()?;
        }
        self.link.stats.muted.store(true, Ordering::Relaxed);
        Ok(Some("audio off".into()))
    }
}
