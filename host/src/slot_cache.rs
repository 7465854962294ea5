//! Remembers plugins' answers to `Slots` requests (badges, disabled reasons) for plugins
//! whose manifest allows it (`slots_cache_seconds`), so that page after page of the same
//! member does not pay for a plugin call each time.
//!
//! An answer is reused only while three things hold:
//! - nothing was committed by this process since the call began (every commit counts, see
//!   [`crate::db::commits`]), so in-process writes are never hidden;
//! - it is younger than the plugin's `slots_cache_seconds`, which bounds how long a change
//!   made outside the process (the command line, another server) can go unseen;
//! - the key matches: plugin, community, member, the member's admin role and abilities for
//!   the plugin, and the page (profile or group shown).

use plugin_api::{AbilityName, CommunityId, SlotFill, SlotPage, Timestamp, UserId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most answers remembered at once; past it the cache starts over.
pub const MAX_ENTRIES: usize = 10_000;

/// What an answer depends on besides the database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlotKey {
    /// The plugin's id.
    pub plugin: String,
    /// The community.
    pub community: CommunityId,
    /// The member looking.
    pub viewer: UserId,
    /// Whether the member is a community admin.
    pub is_admin: bool,
    /// The member's abilities declared by the plugin.
    pub abilities: Vec<AbilityName>,
    /// The profile or group shown.
    pub page: SlotPage,
}

struct Entry {
    fills: Vec<SlotFill>,
    at: Timestamp,
}

/// The remembered answers, all taken at one commit count.
#[derive(Default)]
struct Inner {
    commits: u64,
    entries: HashMap<SlotKey, Entry>,
}

/// The cache of one portal.
#[derive(Default)]
pub struct SlotCache {
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Answers reused and answers asked for, since the portal started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Pages that reused an answer.
    pub hits: u64,
    /// Pages that asked the plugin (a cacheable plugin, with the cache on).
    pub misses: u64,
}

impl SlotCache {
    /// The answer for `key` if it was taken after the last commit (`commits` is the
    /// process's commit count now) and is at most `max_age_ms` old at `now`.
    pub fn get(&self, key: &SlotKey, commits: u64, now: Timestamp, max_age_ms: i64) -> Option<Vec<SlotFill>> {
        let found = {
            let inner = self.lock();
            let entry = inner.entries.get(key).filter(|_| inner.commits == commits);
            entry.filter(|e| e.at.0 <= now.0 && now.0 - e.at.0 <= max_age_ms).map(|e| e.fills.clone())
        };
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remembers an answer taken at `at` by a call that began when the commit count was
    /// `began` (read before its transaction began); `commits` is the count now. An answer
    /// that a commit may have overtaken is not kept.
    pub fn put(&self, key: SlotKey, fills: Vec<SlotFill>, began: u64, commits: u64, at: Timestamp) {
        if began != commits {
            return;
        }
        let mut inner = self.lock();
        if inner.commits > began {
            return;
        }
        if inner.commits < began || inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
            inner.commits = began;
        }
        inner.entries.insert(key, Entry { fills, at });
    }

    /// Hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats { hits: self.hits.load(Ordering::Relaxed), misses: self.misses.load(Ordering::Relaxed) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(viewer: i64) -> SlotKey {
        SlotKey {
            plugin: "conversations".into(),
            community: CommunityId(1),
            viewer: UserId(viewer),
            is_admin: false,
            abilities: vec![AbilityName("conversations.use".into())],
            page: SlotPage::default(),
        }
    }

    fn badge(n: u32) -> Vec<SlotFill> {
        vec![SlotFill { badge: Some(n), ..SlotFill::shown("unread_badge") }]
    }

    #[test]
    fn an_answer_is_reused_until_a_commit_or_its_age_runs_out() {
        let cache = SlotCache::default();
        assert_eq!(cache.get(&key(1), 5, Timestamp(1_000), 30_000), None);
        cache.put(key(1), badge(2), 5, 5, Timestamp(1_000));
        assert_eq!(cache.get(&key(1), 5, Timestamp(31_000), 30_000), Some(badge(2)));
        assert_eq!(cache.get(&key(2), 5, Timestamp(1_000), 30_000), None, "another member");
        assert_eq!(cache.get(&key(1), 5, Timestamp(31_001), 30_000), None, "too old");
        assert_eq!(cache.get(&key(1), 5, Timestamp(999), 30_000), None, "from the future");
        assert_eq!(cache.get(&key(1), 6, Timestamp(1_000), 30_000), None, "a commit since");
        let mut other_page = key(1);
        other_page.page.profile = Some(UserId(9));
        assert_eq!(cache.get(&other_page, 5, Timestamp(1_000), 30_000), None);
        let mut more_abilities = key(1);
        more_abilities.abilities.push(AbilityName("conversations.start".into()));
        assert_eq!(cache.get(&more_abilities, 5, Timestamp(1_000), 30_000), None);
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 7 });
    }

    #[test]
    fn an_answer_a_commit_overtook_is_not_kept() {
        let cache = SlotCache::default();
        // The call began at 5, something committed while it ran.
        cache.put(key(1), badge(2), 5, 6, Timestamp(1_000));
        assert_eq!(cache.get(&key(1), 6, Timestamp(1_000), 30_000), None);
        // A newer answer is there; a slower, older call does not replace it.
        cache.put(key(1), badge(3), 7, 7, Timestamp(2_000));
        cache.put(key(1), badge(2), 6, 6, Timestamp(2_000));
        assert_eq!(cache.get(&key(1), 7, Timestamp(2_000), 30_000), Some(badge(3)));
        // The first answer after a commit forgets every older one.
        cache.put(key(2), badge(1), 8, 8, Timestamp(3_000));
        assert_eq!(cache.get(&key(1), 8, Timestamp(3_000), 30_000), None);
        assert_eq!(cache.get(&key(2), 8, Timestamp(3_000), 30_000), Some(badge(1)));
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = SlotCache::default();
        for viewer in 0..MAX_ENTRIES as i64 {
            cache.put(key(viewer), badge(1), 1, 1, Timestamp(0));
        }
        assert!(cache.get(&key(0), 1, Timestamp(0), 1).is_some());
        cache.put(key(-1), badge(1), 1, 1, Timestamp(0));
        assert!(cache.get(&key(0), 1, Timestamp(0), 1).is_none());
        assert!(cache.get(&key(-1), 1, Timestamp(0), 1).is_some());
    }
}
