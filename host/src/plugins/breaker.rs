//! The circuit breaker of one plugin: after `failures` failed calls in a row (traps, time
//! or memory limits, garbage answers, host-call floods) the plugin is switched off for
//! `cool_down_seconds`: its pages answer 503, its slots are left out and its jobs wait.
//! After the cool-down the next call goes through; one more failure switches it off again,
//! a success closes the breaker. Pure state; the portal stores each change for
//! `portal plugin status`.

use plugin_api::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// `[plugins.breaker]` in `portal.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Failed calls in a row that switch a plugin off.
    pub failures: u32,
    /// How long it stays off, in seconds.
    pub cool_down_seconds: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failures: 5, cool_down_seconds: 60 }
    }
}

/// What a call's outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing worth recording.
    None,
    /// A failure was counted; `open_until` is set when it switched the plugin off.
    Failed {
        /// Failed calls in a row.
        consecutive: u32,
        /// Until when the plugin is off, when this failure switched it off.
        open_until: Option<Timestamp>,
    },
    /// The plugin answered after failures: the breaker closed.
    Recovered,
}

#[derive(Debug, Default)]
struct State {
    consecutive: u32,
    open_until: Option<Timestamp>,
}

/// One plugin's breaker.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Breaker {
        Breaker { config, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(until)` while the plugin is switched off.
    pub fn admit(&self, now: Timestamp) -> Result<(), Timestamp> {
        match self.state().open_until {
            Some(until) if now < until => Err(until),
            _ => Ok(()),
        }
    }

    /// Counts a call that answered (even with a refusal of its own).
    pub fn success(&self) -> Change {
        let mut state = self.state();
        if state.consecutive == 0 {
            return Change::None;
        }
        *state = State::default();
        Change::Recovered
    }

    /// Counts a failed call at `now`.
    pub fn failure(&self, now: Timestamp) -> Change {
        let mut state = self.state();
        state.consecutive = state.consecutive.saturating_add(1);
        let cool_down = i64::try_from(self.config.cool_down_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        let opens = state.consecutive >= self.config.failures.max(1);
        state.open_until = opens.then(|| Timestamp(now.0.saturating_add(cool_down)));
        Change::Failed { consecutive: state.consecutive, open_until: state.open_until }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_closes_after_a_success() {
        let breaker = Breaker::new(BreakerConfig { failures: 3, cool_down_seconds: 60 });
        let t = Timestamp(1_000_000);
        assert_eq!(breaker.failure(t), Change::Failed { consecutive: 1, open_until: None });
        assert_eq!(breaker.success(), Change::Recovered, "a success resets the count");
        assert_eq!(breaker.success(), Change::None);
        breaker.failure(t);
        breaker.failure(t);
        assert_eq!(breaker.admit(t), Ok(()));
        let until = Timestamp(t.0 + 60_000);
        assert_eq!(breaker.failure(t), Change::Failed { consecutive: 3, open_until: Some(until) });
        assert_eq!(breaker.admit(Timestamp(t.0 + 59_999)), Err(until));
        let later = Timestamp(t.0 + 60_000);
        assert_eq!(breaker.admit(later), Ok(()), "after the cool-down one call goes through");
        let again = Timestamp(later.0 + 60_000);
        assert_eq!(breaker.failure(later), Change::Failed { consecutive: 4, open_until: Some(again) });
        assert_eq!(breaker.admit(later), Err(again), "one more failure switches it off again");
        assert_eq!(breaker.success(), Change::Recovered);
        assert_eq!(breaker.admit(later), Ok(()));
    }
}
