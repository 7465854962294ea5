//! Test support (compiled for tests only): a context, and a fake host for the SDK's stub
//! (`plugin_api::guest::stub::set_host`) that answers with a closure and records every
//! call, so tests can say what the plugin asked of the host.

use plugin_api::guest::stub;
use plugin_api::{
    AbilityName, CommunityId, CommunityInfo, Context, HostCall, HostReply, SqlValue, Timestamp, UserId,
    Viewer,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The test clock.
pub const NOW: Timestamp = Timestamp(1_795_000_000_000);
/// One day in milliseconds.
pub const DAY: i64 = 86_400_000;
/// The test community.
pub const COMMUNITY: CommunityId = CommunityId(3);

/// A context in the test community, seen by `viewer` (if any).
pub fn ctx(viewer: Option<i64>) -> Context {
    Context {
        community: CommunityInfo {
            id: COMMUNITY,
            slug: "riverside".into(),
            name: "Riverside".into(),
            settings: BTreeMap::new(),
        },
        viewer: viewer.map(|id| Viewer { id: UserId(id), name: format!("Member {id}"), is_admin: false }),
        abilities: vec![AbilityName("moderation.review".into()), AbilityName("moderation.report".into())],
        now: NOW,
        request_id: "test".into(),
    }
}

/// The calls the plugin made, in order.
pub type Calls = Rc<RefCell<Vec<HostCall>>>;

/// Answers this thread's host calls with `answer`, recording each call.
pub fn host(mut answer: impl FnMut(&HostCall) -> HostReply + 'static) -> Calls {
    let calls: Calls = Rc::default();
    let record = calls.clone();
    stub::set_host(move |call| {
        let reply = answer(&call);
        record.borrow_mut().push(call);
        reply
    });
    calls
}

/// A query answer.
pub fn rows(rows: Vec<Vec<SqlValue>>) -> HostReply {
    HostReply::Rows { columns: Vec::new(), rows }
}

/// An execute answer.
pub fn executed(changes: u64) -> HostReply {
    HostReply::Executed { changes, last_insert_id: 1 }
}

/// The SQL of a query or execute call.
pub fn sql_of(call: &HostCall) -> Option<&str> {
    match call {
        HostCall::Query { sql, .. } | HostCall::Execute { sql, .. } => Some(sql),
        _ => None,
    }
}

/// The parameters of a query or execute call.
pub fn params_of(call: &HostCall) -> &[SqlValue] {
    match call {
        HostCall::Query { params, .. } | HostCall::Execute { params, .. } => params,
        _ => &[],
    }
}

/// The recorded calls named `name` (`query`, `execute`, `members`, `resolve`, ...).
pub fn named(calls: &Calls, name: &str) -> Vec<HostCall> {
    calls.borrow().iter().filter(|c| c.name() == name).cloned().collect()
}
