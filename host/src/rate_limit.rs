//! Rate limits: counts events per key in fixed windows on the portal's clock, and says how
//! long to wait once a key has used its allowance. Used for sign-in attempts and for plugin
//! routes that declare a limit (sending messages). In memory, per process: a restart
//! forgets the counts, which only ever lets someone in sooner.

use crate::clock::Clock;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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
#[derive(Debug)]
pub struct RateLimiter {
    clock: Clock,
    windows: Mutex<HashMap<String, Window>>,
}

impl RateLimiter {
    /// A limiter reading time from `clock`.
    pub fn new(clock: Clock) -> RateLimiter {
        RateLimiter { clock, windows: Mutex::new(HashMap::new()) }
    }

    /// Whether `key` has already had `limit` events in its current window.
    pub fn check(&self, key: &str, limit: u32) -> Result<(), Limited> {
        let now = self.clock.now().0;
        let windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match windows.get(key) {
            Some(w) if now < w.started_ms + w.length_ms && w.count >= limit => Err(Limited {
                retry_after_secs: u64::try_from((w.started_ms + w.length_ms - now + 999) / 1000)
                    .unwrap_or(1)
                    .max(1),
            }),
            _ => Ok(()),
        }
    }

    /// Counts one event for `key` (a new window of `window` starts if the last one ended).
    pub fn record(&self, key: &str, window: Duration) {
        let now = self.clock.now().0;
        let length_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
        self.check(key, limit)?;
        self.record(key, window);
        Ok(())
    }

    /// Forgets `key` (after a successful sign-in, its failures no longer count).
    pub fn clear(&self, key: &str) {
        self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::Timestamp;

    #[test]
    fn a_key_is_limited_until_its_window_ends() {
        let clock = Clock::manual(Timestamp(1_000_000));
        let limiter = RateLimiter::new(clock.clone());
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
    }
}
