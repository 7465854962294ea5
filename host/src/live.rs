//! Live updates to members' open pages: one broadcast channel per signed-in member with an
//! open page, fed after commit by plugins ([`HostCall::Publish`](plugin_api::HostCall)) and
//! by the host (new or read notifications), read by the server-sent events stream in
//! `web::live`. Channels live in this process's memory; a member with no open page has
//! none, and an update for them is dropped. Updates committed by other portal processes
//! on the same database arrive through [`crate::db::announce`] and are sent here the same
//! way; when some may have been missed, every open page is told to refresh
//! ([`Live::resync_all`]).

use plugin_api::live::LiveUpdate;
use plugin_api::{CommunityId, UserId};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use tokio::sync::{broadcast, watch};

/// Most open streams of one member (tabs, devices); more are refused.
pub const MAX_STREAMS_PER_MEMBER: usize = 8;
/// Updates a slow stream may fall behind before it skips to a full refresh.
const BACKLOG: usize = 32;

/// The hub of live update channels.
pub struct Live {
    channels: Mutex<HashMap<(CommunityId, UserId), broadcast::Sender<LiveUpdate>>>,
    closing: watch::Sender<bool>,
    resyncs: watch::Sender<u64>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            channels: Mutex::new(HashMap::new()),
            closing: watch::Sender::new(false),
            resyncs: watch::Sender::new(0),
        }
    }
}

impl Live {
    /// A stream of `user`'s updates in `community`, or `None` when they already have
    /// [`MAX_STREAMS_PER_MEMBER`] open.
    pub fn subscribe(&self, community: CommunityId, user: UserId) -> Option<broadcast::Receiver<LiveUpdate>> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels.retain(|_, sender| sender.receiver_count() > 0);
        let sender = channels.entry((community, user)).or_insert_with(|| broadcast::channel(BACKLOG).0);
        (sender.receiver_count() < MAX_STREAMS_PER_MEMBER).then(|| sender.subscribe())
    }

    /// Sends committed updates to the open pages of their members in `community`.
    pub fn send(&self, community: CommunityId, updates: impl IntoIterator<Item = (UserId, LiveUpdate)>) {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for (user, update) in updates {
            if let Some(sender) = channels.get(&(community, user)) {
                // An error means no receiver is left: the page closed; nothing to do.
                let _ = sender.send(update);
            }
        }
    }

    /// Tells every open page to refresh all it shows live: updates may have been missed.
    pub fn resync_all(&self) {
        self.resyncs.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes when every open page should refresh (see [`Live::resync_all`]).
    pub fn resyncs(&self) -> watch::Receiver<u64> {
        self.resyncs.subscribe()
    }

    /// Open streams (for tests and status).
    pub fn open_streams(&self) -> usize {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels.values().map(broadcast::Sender::receiver_count).sum()
    }

    /// Ends every stream: the portal is shutting down (open streams would otherwise keep
    /// a graceful shutdown waiting).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Becomes true when the portal shuts down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(topic: &str) -> LiveUpdate {
        LiveUpdate { topics: vec![topic.into()] }
    }

    #[test]
    fn updates_reach_only_the_members_named_in_their_community() {
        let live = Live::default();
        let (c1, c2) = (CommunityId(1), CommunityId(2));
        let mut ann = live.subscribe(c1, UserId(1)).expect("stream");
        let mut ann_elsewhere = live.subscribe(c2, UserId(1)).expect("stream");
        let mut bob = live.subscribe(c1, UserId(2)).expect("stream");
        live.send(c1, [(UserId(1), update("p:x")), (UserId(3), update("p:x"))]);
        assert_eq!(ann.try_recv().ok(), Some(update("p:x")));
        assert!(ann_elsewhere.try_recv().is_err());
        assert!(bob.try_recv().is_err());
    }

    #[test]
    fn a_member_has_a_bounded_number_of_streams_and_closed_ones_are_forgotten() {
        let live = Live::default();
        let streams: Vec<_> =
            (0..MAX_STREAMS_PER_MEMBER).map(|_| live.subscribe(CommunityId(1), UserId(1))).collect();
        assert!(streams.iter().all(Option::is_some));
        assert!(live.subscribe(CommunityId(1), UserId(1)).is_none());
        drop(streams);
        let again = live.subscribe(CommunityId(1), UserId(1));
        assert!(again.is_some());
        assert_eq!(live.open_streams(), 1);
    }
}
