//! Newtype identifiers shared by the host and the guests, so an id of one kind can never be
//! passed where another is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

int_id!(
    /// A community (tenant) of the portal.
    CommunityId
);
int_id!(
    /// A member account. Accounts belong to exactly one community.
    UserId
);
int_id!(
    /// A user group inside a community.
    GroupId
);

/// Milliseconds since the Unix epoch, UTC. The host's clock is the only source of time a
/// plugin sees (in [`crate::Context::now`] and through [`crate::HostCall::Now`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// A participant in the directory: a member or a user group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ActorRef {
    /// A member.
    User(UserId),
    /// A user group.
    Group(GroupId),
}
