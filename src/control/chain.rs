//! Chains (song mode) and the one-shot: what plays next is queued from the engine's bar
//! events. When the last bar of an entry begins, the next entry's slot is queued for the next
//! bar, and the engine switches at that bar's first sample; an entry on the slot that plays
//! already needs no load. Bars are counted from the bar an entry began.
//!
//! The one-shot ("play slot N for one bar and come back") queues N for the next bar and, when
//! N's bar begins, the slot it left for the bar after.

use std::time::Instant;

use crate::engine::EngineMsg;
use crate::model::chain::Chain;
use crate::store::SlotNumber;
use crate::store::worker::Job;

use super::{ControlError, Controller, Level, Notice, Reply};

/// An entry waiting for its bar.
#[derive(Debug, Clone, Copy)]
pub(super) struct NextEntry {
    entry: usize,
    bar: u64,
    /// Its slot was queued with the engine (else it plays already).
    reload: bool,
}

/// A chain that runs.
#[derive(Debug, Clone)]
pub(super) struct ChainRun {
    chain: Chain,
    entry: usize,
    /// The bar the current entry began (`None` before the first entry's bar).
    start: Option<u64>,
    next: Option<NextEntry>,
    hold: bool,
    /// The chain ends here: the transport stops when this bar begins.
    stop_at: Option<u64>,
}

/// A one-shot on the way.
#[derive(Debug, Clone, Copy)]
pub(super) struct OneShot {
    slot: SlotNumber,
    back: SlotNumber,
    /// The bar the one-shot slot begins, or (when `returning`) the bar the slot it left comes
    /// back.
    bar: u64,
    returning: bool,
}

/// What the screen shows of a running chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainView {
    /// The chain's name.
    pub name: String,
    /// The current entry, from 0.
    pub entry: usize,
    /// Entries in the chain.
    pub entries: usize,
    /// The current entry's slot.
    pub slot: u8,
    /// The bar of the entry that plays, from 1 (`None` before the chain's first bar).
    pub bar: Option<u64>,
    /// Bars the entry plays.
    pub repeats: u32,
    /// What comes next: a slot, or `None` at the end of a chain that stops.
    pub next: Option<u8>,
    /// The current slot is held.
    pub hold: bool,
}

impl ChainView {
    /// `chain set1 2/4 · slot 11 bar 1/1 → 3` (`→ stop` at the end, `hold` when held).
    pub fn label(&self) -> String {
        let bar = self
            .bar
            .map_or_else(|| "-".to_string(), |b| b.min(999_999).to_string());
        let next = match (self.hold, self.next) {
            (true, _) => "hold".to_string(),
            (false, Some(s)) => format!("→ {s}"),
            (false, None) => "→ stop".to_string(),
        };
        format!(
            "chain {} {}/{} · slot {} bar {bar}/{} {next}",
            self.name,
            self.entry + 1,
            self.entries,
            self.slot,
            self.repeats
        )
    }
}

fn slot_of(chain: &Chain, entry: usize) -> SlotNumber {
    SlotNumber::new(chain.entries[entry].slot).expect("chain entries hold slots 1–128")
}

impl Controller {
    /// The chain being edited or played (set, opened or started last), if any.
    pub fn chain(&self) -> Option<&Chain> {
        self.chain_run
            .as_ref()
            .map(|r| &r.chain)
            .or(self.chain_def.as_ref())
    }

    /// The running chain as the screen shows it.
    pub fn chain_view(&self) -> Option<ChainView> {
        let run = self.chain_run.as_ref()?;
        let e = run.chain.entries[run.entry];
        let next = match run.next {
            Some(n) => Some(run.chain.entries[n.entry].slot),
            None if run.stop_at.is_some() => None,
            None if run.entry + 1 < run.chain.entries.len() => {
                Some(run.chain.entries[run.entry + 1].slot)
            }
            None if run.chain.looping => Some(run.chain.entries[0].slot),
            None => None,
        };
        Some(ChainView {
            name: run.chain.name.clone(),
            entry: run.entry,
            entries: run.chain.entries.len(),
            slot: e.slot,
            bar: run
                .start
                .map(|s| self.status.bar.saturating_sub(s) + 1)
                .filter(|_| !self.status.fresh),
            repeats: e.repeats,
            next,
            hold: run.hold,
        })
    }

    /// Sets the chain being edited from its typed form (a running chain of the same name
    /// takes the new entries from its next entry on).
    pub(super) fn chain_set(&mut self, name: &str, entries: &str, looping: bool) -> Reply {
        let chain = Chain::parse(name, entries, looping)?;
        let msg = format!("chain {chain}");
        let mut requeue = None;
        if let Some(run) = self.chain_run.as_mut().filter(|r| r.chain.name == name) {
            run.entry = run.entry.min(chain.entries.len() - 1);
            if let Some(n) = run.next.as_mut() {
                let was = slot_of(&run.chain, n.entry);
                n.entry = n.entry.min(chain.entries.len() - 1);
                // The entry waiting for its bar now plays another slot: queue that one.
                if slot_of(&chain, n.entry) != was {
                    requeue = Some((n.entry, n.bar));
                }
            }
            run.chain = chain.clone();
        }
        self.chain_def = Some(chain);
        if let Some((entry, bar)) = requeue {
            self.chain_cancel_next();
            self.chain_queue(entry, bar, Instant::now())?;
        }
        Ok(Some(msg))
    }

    /// Reads chain `name` from `chains/NAME.json`. A small bounded read at the performer's
    /// command, as a slot load without a watcher makes.
    pub(super) fn chain_open(&mut self, name: &str) -> Reply {
        let chain = self.store.load_chain(name)?;
        let msg = format!("chain {chain}");
        self.chain_def = Some(chain);
        Ok(Some(msg))
    }

    /// Saves the chain being edited on the disk thread; the result comes back as a message.
    pub(super) fn chain_save(&mut self) -> Reply {
        let chain = self.chain().cloned().ok_or(ControlError::NoChain)?;
        self.worker.submit(Job::SaveChain(Box::new(chain)));
        Ok(None)
    }

    /// What the disk thread said of a chain save.
    pub(super) fn on_chain_saved(
        &mut self,
        name: String,
        result: Result<crate::store::chains::ChainSaved, crate::store::chains::ChainStoreError>,
    ) {
        match result {
            Ok(s) => {
                let backup = s
                    .backup
                    .map(|b| format!(" (the previous version is in {})", b.display()))
                    .unwrap_or_default();
                self.notify(
                    Level::Info,
                    format!("saved chain {name} to {}{backup}", s.path.display()),
                );
            }
            Err(e) => self.notify(Level::Error, format!("chain {name} not saved: {e}")),
        }
    }

    /// Starts a chain (opened from its file when named) from its first entry: at the next
    /// bar while playing, at once while stopped.
    pub(super) fn chain_start(&mut self, name: Option<&str>, now: Instant) -> Reply {
        if let Some(name) = name {
            self.chain_open(name)?;
        }
        let chain = self.chain().cloned().ok_or(ControlError::NoChain)?;
        self.chain_leave_quietly();
        self.oneshot_cancel();
        let name = chain.name.clone();
        self.chain_run = Some(ChainRun {
            chain,
            entry: 0,
            start: None,
            next: None,
            hold: false,
            stop_at: None,
        });
        let bar = self.next_bar();
        self.chain_queue(0, bar, now)?;
        Ok(Some(format!("chain {name} starts at bar {bar}")))
    }

    /// The bar a load given now applies at.
    fn next_bar(&self) -> u64 {
        if !self.status.running || self.status.fresh {
            0
        } else {
            self.status.bar + 1
        }
    }

    /// Jumps to entry `k` (from 1) at the next bar.
    pub(super) fn chain_jump(&mut self, k: usize, now: Instant) -> Reply {
        let run = self
            .chain_run
            .as_ref()
            .ok_or(ControlError::NoChainRunning)?;
        let len = run.chain.entries.len();
        if k == 0 || k > len {
            return Err(ControlError::ChainEntryOutOfRange { entry: k, len });
        }
        self.chain_cancel_next();
        self.chain_cancel_stop();
        if let Some(run) = self.chain_run.as_mut() {
            run.hold = false;
        }
        let bar = self.next_bar();
        self.chain_queue(k - 1, bar, now)?;
        Ok(Some(format!("chain: entry {k} at bar {bar}")))
    }

    /// Holds the current slot (`None` toggles): a queued next entry is cancelled; releasing
    /// moves on at the next bar when the entry's bars are over.
    pub(super) fn chain_hold(&mut self, on: Option<bool>, now: Instant) -> Reply {
        let run = self
            .chain_run
            .as_ref()
            .ok_or(ControlError::NoChainRunning)?;
        let on = on.unwrap_or(!run.hold);
        if on {
            self.chain_cancel_next();
            self.chain_cancel_stop();
        }
        let run = self.chain_run.as_mut().expect("checked above");
        run.hold = on;
        if on {
            let slot = run.chain.entries[run.entry].slot;
            return Ok(Some(format!("chain: holding slot {slot}")));
        }
        if self.status.running && !self.status.fresh {
            self.chain_plan(self.status.bar, now);
        }
        Ok(Some("chain: released".into()))
    }

    /// Leaves the chain: the current slot keeps playing, a queued chain entry is cancelled.
    pub(super) fn chain_leave(&mut self) -> Reply {
        let run = self
            .chain_run
            .as_ref()
            .ok_or(ControlError::NoChainRunning)?;
        let name = run.chain.name.clone();
        self.chain_leave_quietly();
        Ok(Some(format!(
            "left chain {name}; the current slot keeps playing"
        )))
    }

    /// A slot loaded by hand (not by the chain): the performer took over, so a running chain
    /// is left at once — its next entry would otherwise replace the load at the entry's end.
    /// A load of the slot the chain plays (its file read again) keeps the chain.
    pub(super) fn load_by_hand(
        &mut self,
        slot: SlotNumber,
        immediate: bool,
        now: Instant,
    ) -> Reply {
        let playing = self.chain_run.as_ref().map(|r| slot_of(&r.chain, r.entry));
        let reply = self.load(slot, immediate, now)?;
        if playing.is_some_and(|p| p != slot)
            && let Some(run) = self.chain_run.take()
        {
            // The queue is the load's now: only the chain's stop is cancelled.
            if run.stop_at.is_some() {
                self.link.send(EngineMsg::StopAtBar(None));
            }
            let name = run.chain.name.clone();
            self.chain_def = Some(run.chain);
            self.notify(
                Level::Info,
                format!("left chain {name}: slot {slot} was loaded by hand"),
            );
        }
        Ok(reply)
    }

    fn chain_leave_quietly(&mut self) {
        self.chain_cancel_next();
        self.chain_cancel_stop();
        if let Some(run) = self.chain_run.take() {
            self.chain_def = Some(run.chain);
        }
    }

    /// Cancels the stop waiting for the bar after the chain's last (in the engine too).
    fn chain_cancel_stop(&mut self) {
        if let Some(run) = self.chain_run.as_mut()
            && run.stop_at.take().is_some()
        {
            self.link.send(EngineMsg::StopAtBar(None));
        }
    }

    /// Cancels the entry waiting for its bar (and its slot load).
    fn chain_cancel_next(&mut self) {
        let Some(run) = self.chain_run.as_mut() else {
            return;
        };
        if let Some(n) = run.next.take()
            && n.reload
        {
            self.cancel_queued();
        }
    }

    /// True when the slot queued for the bar is a running chain's next entry or a one-shot's.
    pub(super) fn queued_by_chain(&self) -> bool {
        let Some(q) = self.queued.as_ref() else {
            return false;
        };
        let chain = self.chain_run.as_ref().is_some_and(|r| {
            r.next
                .is_some_and(|n| n.reload && slot_of(&r.chain, n.entry) == q.slot)
        });
        let oneshot = self
            .oneshot
            .is_some_and(|o| q.slot == if o.returning { o.back } else { o.slot });
        chain || oneshot
    }

    pub(super) fn cancel_queued(&mut self) {
        if self.queued.take().is_some() | self.status.queued.take().is_some() {
            self.link.send(EngineMsg::CancelQueued);
        }
    }

    /// Queues entry `entry` to begin at `bar`: its slot is loaded for that bar unless it
    /// plays already. A slot that does not load ends the chain.
    fn chain_queue(&mut self, entry: usize, bar: u64, now: Instant) -> Result<(), ControlError> {
        let Some(run) = self.chain_run.as_ref() else {
            return Ok(());
        };
        let slot = slot_of(&run.chain, entry);
        let name = run.chain.name.clone();
        let reload = self.slot != Some(slot);
        if reload {
            if let Err(e) = self.load(slot, false, now) {
                self.chain_leave_quietly();
                self.notify(
                    Level::Error,
                    format!("chain {name} stopped: slot {slot} does not load"),
                );
                return Err(e);
            }
        } else {
            self.cancel_queued();
        }
        // The slot of a load while stopped plays already: the entry begins with play.
        let reload = reload && self.status.running;
        let bar = self
            .queued
            .as_ref()
            .filter(|q| reload && q.slot == slot)
            .map_or(bar, |q| q.bar);
        if let Some(run) = self.chain_run.as_mut() {
            run.next = Some(NextEntry { entry, bar, reload });
        }
        Ok(())
    }

    /// After a bar began (or a hold was released): when the current entry's last bar plays,
    /// the next entry is queued for the bar after.
    fn chain_plan(&mut self, bar: u64, now: Instant) {
        let Some(run) = self.chain_run.as_mut() else {
            return;
        };
        let Some(start) = run.start else {
            return;
        };
        if run.hold || run.next.is_some() || run.stop_at.is_some() {
            return;
        }
        let last = start + run.chain.entries[run.entry].repeats as u64 - 1;
        if bar < last {
            return;
        }
        let next = run.entry + 1;
        if next < run.chain.entries.len() {
            let _ = self.chain_queue(next, bar + 1, now);
        } else if run.chain.looping {
            let _ = self.chain_queue(0, bar + 1, now);
        } else {
            // The engine stops on the bar line itself, before any of that bar sounds.
            run.stop_at = Some(bar + 1);
            self.link.send(EngineMsg::StopAtBar(Some(bar + 1)));
        }
    }

    /// A bar began at `sample`: chain entries and one-shots move on.
    pub(super) fn chain_on_bar(&mut self, bar: u64, sample: u64) {
        let now = Instant::now();
        self.oneshot_on_bar(bar, now);
        let Some(run) = self.chain_run.as_mut() else {
            return;
        };
        if run.stop_at.is_some_and(|s| bar >= s) {
            let name = run.chain.name.clone();
            self.chain_leave_quietly();
            let _ = self.stop();
            self.notices.push_back(Notice::ChainEnded { bar, sample });
            self.notify(Level::Info, format!("chain {name} ended at bar {bar}"));
            return;
        }
        if let Some(n) = run.next.filter(|n| bar >= n.bar) {
            let slot = slot_of(&run.chain, n.entry);
            if n.reload && self.slot != Some(slot) {
                let name = run.chain.name.clone();
                self.chain_run = None;
                self.notify(
                    Level::Warning,
                    format!("left chain {name}: another load replaced slot {slot} at bar {bar}"),
                );
                return;
            }
            let run = self.chain_run.as_mut().expect("checked above");
            run.entry = n.entry;
            run.start = Some(bar);
            run.next = None;
            self.notices.push_back(Notice::ChainEntry {
                entry: n.entry,
                slot,
                bar,
                sample,
            });
        }
        self.chain_plan(bar, now);
    }

    /// The engine confirmed the bar a load waits for.
    pub(super) fn chain_on_queued(&mut self, slot: SlotNumber, bar: u64) {
        if let Some(run) = self.chain_run.as_mut()
            && let Some(n) = run.next.as_mut()
            && n.reload
            && slot_of(&run.chain, n.entry) == slot
        {
            n.bar = bar;
        }
        if let Some(o) = self.oneshot.as_mut().filter(|o| {
            let want = if o.returning { o.back } else { o.slot };
            want == slot
        }) {
            o.bar = bar;
        }
    }

    /// The transport stopped: a running chain starts its current entry again with play.
    pub(super) fn chain_on_stopped(&mut self) {
        if let Some(run) = self.chain_run.as_mut() {
            let entry = run.next.map_or(run.entry, |n| n.entry);
            run.entry = entry;
            run.start = None;
            run.stop_at = None;
            run.next = Some(NextEntry {
                entry,
                bar: 0,
                reload: false,
            });
        }
        self.oneshot = None;
    }

    /// Plays slot `n` for one bar from the next bar, then the slot playing now again.
    pub(super) fn oneshot_start(&mut self, n: SlotNumber, now: Instant) -> Reply {
        if self.chain_run.is_some() {
            return Err(ControlError::OneShotInChain);
        }
        if !self.status.running {
            return Err(ControlError::OneShotStopped);
        }
        // A one-shot during another comes back to the slot the first one left.
        let back = match self.oneshot.filter(|o| o.back != n) {
            Some(o) => o.back,
            None => self.slot.ok_or(ControlError::OneShotNoSlot)?,
        };
        if back == n {
            return Err(ControlError::OneShotSame(n));
        }
        self.oneshot_cancel();
        self.load(n, false, now)?;
        let bar = self
            .queued
            .as_ref()
            .filter(|q| q.slot == n)
            .map_or(self.next_bar(), |q| q.bar);
        self.oneshot = Some(OneShot {
            slot: n,
            back,
            bar,
            returning: false,
        });
        Ok(Some(format!(
            "one-shot: slot {n} plays bar {bar}, slot {back} again from bar {}",
            bar + 1
        )))
    }

    fn oneshot_cancel(&mut self) {
        if self.oneshot.take().is_some() {
            self.cancel_queued();
        }
    }

    fn oneshot_on_bar(&mut self, bar: u64, now: Instant) {
        let Some(o) = self.oneshot else {
            return;
        };
        if bar < o.bar {
            return;
        }
        if o.returning {
            self.oneshot = None;
            if self.slot == Some(o.back) {
                self.notify(Level::Info, format!("one-shot over: slot {} again", o.back));
            }
            return;
        }
        if self.slot != Some(o.slot) {
            self.oneshot = None;
            self.notify(
                Level::Warning,
                format!("one-shot of slot {}: another load replaced it", o.slot),
            );
            return;
        }
        match self.load(o.back, false, now) {
            Ok(_) => {
                self.oneshot = Some(OneShot {
                    returning: true,
                    bar: bar + 1,
                    ..o
                });
            }
            Err(e) => {
                self.oneshot = None;
                self.notify(
                    Level::Error,
                    format!("one-shot: slot {} does not load again: {e}", o.back),
                );
            }
        }
    }
}
