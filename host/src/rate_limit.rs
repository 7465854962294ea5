//! Rate limits: counts events per key in fixed windows on the portal's clock, and says how
//! long to wait once a key has used its allowance. Used for sign-in attempts and for plugin
//! routes that declare a limit (sending messages). With one process (SQLite) the counts
//! live in memory, and a restart forgets them, which only ever lets someone in sooner; when
//! several processes share the database (PostgreSQL) they live in it
//! ([`crate::db::rate_limits`]), so a limit holds across the processes. Should the
//! database fail to count, the event is let through and the failure logged: the limit
//! protects the portal, it must not take it down.

use crate::clock::Clock;
use crate::db::{self, Db};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// In the database, expired windows are removed every this many events counted.
const PRUNE_EVERY: u32 = 1_024;

/// Past this many keys, expired windows are dropped before a new key is added.
const PRUNE_AT: usize = 10_000;

/// A key's allowance is used up until `retry_after` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// How long until the window ends, rounded up to whole seconds (at least 1).
    pub retry_after_secs: u64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started_ms: i64,
    length_ms: i64,
    count: u32,
}

/// Counters of events per key.
pub struct RateLimiter {
    clock: Clock,
    store: Store,
}

/// Where the windows are kept.
enum Store {
    /// In this process.
    Memory(Mutex<HashMap<String, Window>>),
    /// In the database, shared by its processes; `counted` since the last pruning.
    Shared { db: Db, counted: AtomicU32 },
}

/// The wait until a window that began at `started_ms` and lasts `length_ms` ends.
fn limited(started_ms: i64, length_ms: i64, now: i64) -> Limited {
    let left = started_ms.saturating_add(length_ms).saturating_sub(now);
    Limited { retry_after_secs: u64::try_from(left.saturating_add(999) / 1000).unwrap_or(1).max(1) }
}

impl RateLimiter {
    /// A limiter in this process's memory, reading time from `clock`.
    pub fn new(clock: Clock) -> RateLimiter {
        RateLimiter { clock, store: Store::Memory(Mutex::new(HashMap::new())) }
    }

    /// A limiter for `db`: in memory when one process serves it, in it when several may.
    pub fn for_db(clock: Clock, db: &Db) -> RateLimiter {
        if db.shared_by_processes() {
            RateLimiter { clock, store: Store::Shared { db: db.clone(), counted: AtomicU32::new(0) } }
        } else {
            RateLimiter::new(clock)
        }
    }

    /// Whether `key` has already had `limit` events in its current window.
    pub fn check(&self, key: &str, limit: u32) -> Result<(), Limited> {
        let now = self.clock.now().0;
        match &self.store {
            Store::Memory(windows) => {
                let windows = windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match windows.get(key) {
                    Some(w) if now < w.started_ms + w.length_ms && w.count >= limit => {
                        Err(limited(w.started_ms, w.length_ms, now))
                    }
                    _ => Ok(()),
                }
            }
            Store::Shared { db, .. } => {
                let window = db.counters().and_then(|conn| db::rate_limits::window(&conn, key));
                match window {
                    Ok(Some(w)) if w.open_at(now) && w.count >= i64::from(limit) => {
                        Err(limited(w.started_ms, w.length_ms, now))
                    }
                    Ok(_) => Ok(()),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot read a rate limit; the event is let through");
                        Ok(())
                    }
                }
            }
        }
    }

    /// Counts one event for `key` (a new window of `window` starts if the last one ended).
    pub fn record(&self, key: &str, window: Duration) {
        if let Store::Shared { .. } = self.store {
            // No limit: always counted.
            let _ = self.take(key, u32::MAX, window);
            return;
        }
        let Store::Memory(windows) = &self.store else { return };
        let now = self.clock.now().0;
        let length_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let mut windows = windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= PRUNE_AT && !windows.contains_key(key) {
            windows.retain(|_, w| now < w.started_ms + w.length_ms);
        }
        let w = windows.entry(key.to_owned()).or_insert(Window { started_ms: now, length_ms, count: 0 });
        if now >= w.started_ms + w.length_ms {
            *w = Window { started_ms: now, length_ms, count: 0 };
        }
        w.count = w.count.saturating_add(1);
    }

    /// Checks and, when allowed, counts one event: the usual "take one" of a limit.
    pub fn take(&self, key: &str, limit: u32, window: Duration) -> Result<(), Limited> {
        let Store::Shared { db, counted } = &self.store else {
            self.check(key, limit)?;
            self.record(key, window);
            return Ok(());
        };
        let now = self.clock.now().0;
        let length_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let taken = db.counters().and_then(|conn| {
            if counted.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
                db::rate_limits::prune(&conn, now)?;
            }
            if db::rate_limits::take(&conn, key, i64::from(limit), now, length_ms)? {
                return Ok(None);
            }
            db::rate_limits::window(&conn, key)
        });
        match taken {
            Ok(Some(w)) if w.open_at(now) => Err(limited(w.started_ms, w.length_ms, now)),
            Ok(_) => Ok(()),
            Err(err) => {
                tracing::error!(error = %err, "cannot count a rate limit; the event is let through");
                Ok(())
            }
        }
    }

    /// Forgets `key` (after a successful sign-in, its failures no longer count).
    pub fn clear(&self, key: &str) {
        match &self.store {
            Store::Memory(windows) => {
                windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
            }
            Store::Shared { db, .. } => {
                if let Err(err) = db.counters().and_then(|conn| db::rate_limits::clear(&conn, key)) {
                    tracing::error!(error = %err, "cannot clear a rate limit");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::Timestamp;

    #[test]
    fn a_key_is_limited_until_its_window_ends() {
        let clock = Clock::manual(Timestamp(1_000_000));
        limits_until_the_window_ends(&clock, &RateLimiter::new(clock.clone()));
    }

    /// The same in a database (a SQLite file here; the integration suite runs it on
    /// PostgreSQL with several processes).
    #[test]
    fn a_key_is_limited_in_the_database_as_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("p.db")).unwrap();
        let clock = Clock::manual(Timestamp(1_000_000));
        let limiter =
            RateLimiter { clock: clock.clone(), store: Store::Shared { db, counted: AtomicU32::new(0) } };
        limits_until_the_window_ends(&clock, &limiter);
    }

    fn limits_until_the_window_ends(clock: &Clock, limiter: &RateLimiter) {
        let minute = Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.take("a", 3, minute), Ok(()));
        }
        assert_eq!(limiter.take("a", 3, minute), Err(Limited { retry_after_secs: 60 }));
        assert_eq!(limiter.take("b", 3, minute), Ok(()), "keys are counted apart");
        clock.advance(59_500);
        assert_eq!(limiter.check("a", 3), Err(Limited { retry_after_secs: 1 }));
        clock.advance(500);
        assert_eq!(limiter.take("a", 3, minute), Ok(()), "a new window");
        limiter.clear("a");
        assert_eq!(limiter.check("a", 0), Ok(()), "a cleared key has no window");
        limiter.record("c", minute);
        assert_eq!(limiter.check("c", 2), Ok(()));
        limiter.record("c", minute);
        assert_eq!(limiter.check("c", 2), Err(Limited { retry_after_secs: 60 }), "recorded events count");
    }
}
