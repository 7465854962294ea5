//! The deliverer: hands each queued event (`db::extensions`) to its subscribing plugin
//! after the emitting call committed, in order per (subscriber, community). A delivery
//! the subscriber acknowledged is removed in the subscriber's own transaction (so its
//! writes and the removal commit together); a failed one waits, with a doubling delay
//! (`[plugins.events]`), and the events behind it wait for it. A subscriber switched off
//! by its breaker, or not loaded, keeps its queue: nothing is dropped.

use crate::db::{self, DbResult};
use crate::portal::Portal;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Wakes the deliverer when a commit queued deliveries.
#[derive(Default)]
pub struct Wake {
    woken: Mutex<bool>,
    bell: Condvar,
}

impl Wake {
    /// Wakes the deliverer.
    pub fn notify(&self) {
        *self.woken.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.bell.notify_all();
    }

    /// Waits until woken or `timeout` passed.
    pub fn wait(&self, timeout: Duration) {
        let woken = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut woken, _) = self
            .bell
            .wait_timeout_while(woken, timeout, |woken| !*woken)
            .unwrap_or_else(PoisonError::into_inner);
        *woken = false;
    }
}

/// What one pass of the deliverer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Deliveries the subscribers acknowledged.
    pub delivered: u64,
    /// Deliveries that failed (to be tried again later).
    pub failed: u64,
}

/// Most deliveries of one queue read at once.
const BATCH: u32 = 200;

/// Most rounds of one [`deliver_due`]: each round takes at most one batch of each queue, so
/// one busy queue never keeps the others waiting, and a call returns even while plugins
/// keep emitting to each other.
const ROUNDS: usize = 50;

/// Delivers what is due now, round-robin over the (subscriber, community) queues: each
/// round takes one batch of each queue in order, until the queue is empty, its head is not
/// due yet or failed, or its subscriber cannot be called (switched off, not loaded); those
/// queues wait for the next call. Each queue is read along its index.
pub fn deliver_due(portal: &Portal) -> DbResult<Pass> {
    let mut pass = Pass::default();
    let mut queues = db::extensions::queues(&*portal.db.get()?)?;
    for _ in 0..ROUNDS {
        let mut still = Vec::new();
        for (subscriber, community) in queues {
            let batch = db::extensions::next_of(&*portal.db.get()?, &subscriber, community, BATCH)?;
            let full = batch.len() == BATCH as usize;
            let mut open = true;
            for (pending, due_at) in batch {
                if due_at > portal.clock.now() {
                    open = false;
                    break;
                }
                match portal.deliver(&pending) {
                    Some(true) => pass.delivered += 1,
                    Some(false) => {
                        pass.failed += 1;
                        open = false;
                        break;
                    }
                    None => {
                        open = false;
                        break;
                    }
                }
            }
            if open && full {
                still.push((subscriber, community));
            }
        }
        if still.is_empty() {
            break;
        }
        queues = still;
    }
    Ok(pass)
}

/// Starts the deliverer thread: it delivers when a commit queued events, and every
/// `poll_ms` for retries that came due. It ends once the portal is dropped.
pub fn spawn(portal: Arc<Portal>) -> Result<std::thread::JoinHandle<()>, String> {
    let poll = Duration::from_millis(portal.config.plugins.events.poll_ms.max(10));
    let wake = portal.delivery_wake();
    let portal = Arc::downgrade(&portal);
    std::thread::Builder::new()
        .name("deliverer".into())
        .spawn(move || {
            loop {
                let Some(portal) = portal.upgrade() else { return };
                match deliver_due(&portal) {
                    Ok(pass) if pass.delivered + pass.failed > 0 => {
                        tracing::debug!(delivered = pass.delivered, failed = pass.failed, "events delivered");
                    }
                    Ok(_) => {}
                    Err(err) => tracing::error!(error = %err, "event delivery pass failed"),
                }
                drop(portal);
                wake.wait(poll);
            }
        })
        .map_err(|e| e.to_string())
}
