//! Waking the control loop: input threads (keyboard, OSC receiver, file watcher) call
//! [`Waker::wake`] after they queued something, and the loop, parked in [`Wakeup::wait`],
//! turns at once instead of on its next timer tick.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

/// The sending side: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct Waker(SyncSender<()>);

impl Waker {
    /// Asks the loop to turn. A wake already pending is enough, so a flood costs nothing.
    pub fn wake(&self) {
        match self.0.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }
}

/// The loop's side.
#[derive(Debug)]
pub struct Wakeup(Receiver<()>);

impl Wakeup {
    /// Waits until woken or `timeout` passed; true when woken.
    pub fn wait(&self, timeout: Duration) -> bool {
        match self.0.recv_timeout(timeout) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => false,
        }
    }
}

/// A connected pair.
pub fn wake_pair() -> (Waker, Wakeup) {
    // One pending wake is all the loop needs to know.
    let (tx, rx) = mpsc::sync_channel(1);
    (Waker(tx), Wakeup(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_ends_the_wait_and_many_wakes_are_one() {
        let (waker, wakeup) = wake_pair();
        assert!(!wakeup.wait(Duration::from_millis(1)));
        for _ in 0..1000 {
            waker.wake();
        }
        assert!(wakeup.wait(Duration::from_secs(5)));
        assert!(!wakeup.wait(Duration::from_millis(1)));
        let w2 = waker.clone();
        std::thread::spawn(move || w2.wake());
        assert!(wakeup.wait(Duration::from_secs(5)));
    }
}
