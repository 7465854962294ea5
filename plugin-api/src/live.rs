//! Live updates: the topics a plugin publishes with [`HostCall::Publish`](crate::HostCall)
//! and the regions of a page that listen to them.
//!
//! A topic is a plugin's path of lowercase segments, e.g. `conversation/7`. The host
//! prefixes it with the plugin id (`conversations:conversation/7`), so a plugin can only
//! speak for itself, and sends it over server-sent events to the members named in the
//! call, after the call's transaction has committed.
//!
//! A page region listens by carrying `data-live="{plugin}:{topic}"`. It listens to that
//! topic and to every topic below it: `conversations:conversation` hears
//! `conversations:conversation/7`, while `conversations:conversation/7` hears neither
//! `conversations:conversation/70` nor `conversations:conversation`. When it hears one, the
//! portal's script fetches the page again and replaces the region with its new version;
//! without JavaScript, a reload shows the same thing.

use serde::{Deserialize, Serialize};

/// Most topics in one call.
pub const MAX_TOPICS: usize = 16;
/// Longest topic, in bytes.
pub const MAX_TOPIC_LEN: usize = 100;

/// Checks a plugin's topic: 1 to [`MAX_TOPIC_LEN`] bytes of segments of `a-z`, `0-9`, `-`
/// and `_`, separated by single `/`.
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return Err(format!("a topic has 1 to {MAX_TOPIC_LEN} bytes"));
    }
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    if topic.split('/').all(segment_ok) {
        Ok(())
    } else {
        Err(format!("topic `{}` must be segments of a-z, 0-9, - and _ separated by /", topic.escape_debug()))
    }
}

/// The full topic the host sends: `{plugin}:{topic}`.
pub fn full_topic(plugin: &str, topic: &str) -> String {
    format!("{plugin}:{topic}")
}

/// Whether a region listening to `listener` hears `topic` (both full topics): the same
/// topic, or one below it.
pub fn hears(listener: &str, topic: &str) -> bool {
    topic.strip_prefix(listener).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The data of one `update` server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LiveUpdate {
    /// Full topics that changed; empty when only the header (badges, bell) did.
    pub topics: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_lowercase_paths() {
        for good in ["conversation/7", "inbox", "a-b_c/0/x"] {
            assert_eq!(check_topic(good), Ok(()), "{good}");
        }
        for bad in ["", "/x", "x/", "a//b", "A", "a b", "a:b", "a\"b", &"x".repeat(101)] {
            assert!(check_topic(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_listener_hears_its_topic_and_those_below() {
        assert!(hears("c:conversation", "c:conversation/7"));
        assert!(hears("c:conversation/7", "c:conversation/7"));
        assert!(!hears("c:conversation/7", "c:conversation/70"));
        assert!(!hears("c:conversation/7", "c:conversation"));
        assert!(!hears("d:conversation", "c:conversation/7"));
    }
}
