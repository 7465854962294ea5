//! A fake portal for the native unit tests: it answers the plugin's host calls through the
//! SDK's stub (`plugin_api::guest::stub::set_host`) with a real in-memory SQLite that has
//! the plugin's migrations, a small directory, a check point with a verdict the test sets,
//! and a record of every effect (notifications, emails, live updates, events, logs).

use crate::Conversations;
use plugin_api::extension::CheckOutcome;
use plugin_api::guest::{Plugin, stub};
use plugin_api::{
    AbilityName, ActorRef, CheckId, CommunityId, CommunityInfo, Context, GroupId, GroupInfo, HostCall,
    HostError, HostErrorKind, HostReply, HttpMethod, LogLevel, MemberInfo, PageRequest, PageResponse,
    SqlValue, Timestamp, UserId, Verdict, Viewer,
};
use rusqlite::types::{Value, ValueRef};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The community of every test context.
pub const COMMUNITY: CommunityId = CommunityId(1);
/// The clock of every test context.
pub const NOW: Timestamp = Timestamp(1_800_000_000);

/// The fake portal's state.
pub struct Fake {
    /// The plugin's tables.
    pub db: rusqlite::Connection,
    /// Members by id.
    pub members: BTreeMap<UserId, String>,
    /// Groups.
    pub groups: Vec<GroupInfo>,
    /// What the check point answers; `None`: the host has no checks service.
    pub verdict: Option<Verdict>,
    /// The id of the next check.
    pub next_check: i64,
    /// Whether the host offers events (`false`: `emit` answers "unavailable").
    pub events_service: bool,
    /// Every call other than SQL and directory look-ups, in order.
    pub effects: Vec<HostCall>,
}

/// Installs a fake portal with members 1 Ada, 2 Grace, 3 Alan, 4 Edsger, 5 Barbara and
/// group 10 "Compilers" (admins 3 and 4), whose check point allows everything.
pub fn install() -> Rc<RefCell<Fake>> {
    let db = rusqlite::Connection::open_in_memory().expect("sqlite");
    for migration in Conversations::describe().migrations {
        db.execute_batch(&migration.sql).expect("migration");
    }
    let members = [(1, "Ada"), (2, "Grace"), (3, "Alan"), (4, "Edsger"), (5, "Barbara")]
        .into_iter()
        .map(|(id, name)| (UserId(id), name.to_owned()))
        .collect();
    let groups = vec![GroupInfo {
        id: GroupId(10),
        name: "Compilers".into(),
        nickname: "compilers".into(),
        admins: vec![UserId(3), UserId(4)],
    }];
    let fake = Rc::new(RefCell::new(Fake {
        db,
        members,
        groups,
        verdict: Some(Verdict::Allow),
        next_check: 100,
        events_service: true,
        effects: Vec::new(),
    }));
    let state = fake.clone();
    stub::set_host(move |call| state.borrow_mut().answer(call));
    fake
}

fn error(kind: HostErrorKind, message: &str) -> HostReply {
    HostReply::Error(HostError { kind, message: message.to_owned() })
}

fn param(value: &SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Int(v) => Value::Integer(*v),
        SqlValue::Real(v) => Value::Real(*v),
        SqlValue::Text(v) => Value::Text(v.clone()),
        SqlValue::Blob(v) => Value::Blob(v.clone()),
    }
}

fn cell(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(v) => SqlValue::Int(v),
        ValueRef::Real(v) => SqlValue::Real(v),
        ValueRef::Text(v) => SqlValue::Text(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => SqlValue::Blob(v.to_vec()),
    }
}

impl Fake {
    fn answer(&mut self, call: HostCall) -> HostReply {
        match call {
            HostCall::Query { sql, params } => {
                let mut stmt = match self.db.prepare(&sql) {
                    Ok(stmt) => stmt,
                    Err(e) => return error(HostErrorKind::Invalid, &format!("{e}: {sql}")),
                };
                let columns: Vec<String> = stmt.column_names().iter().map(|c| (*c).to_owned()).collect();
                let params: Vec<Value> = params.iter().map(param).collect();
                let mut rows = stmt.query(rusqlite::params_from_iter(params)).expect("query");
                let mut out = Vec::new();
                while let Some(row) = rows.next().expect("row") {
                    out.push((0..columns.len()).map(|i| cell(row.get_ref(i).expect("cell"))).collect());
                }
                HostReply::Rows { columns, rows: out }
            }
            HostCall::Execute { sql, params } => {
                let params: Vec<Value> = params.iter().map(param).collect();
                match self.db.execute(&sql, rusqlite::params_from_iter(params)) {
                    Ok(changes) => HostReply::Executed {
                        changes: changes as u64,
                        last_insert_id: self.db.last_insert_rowid(),
                    },
                    Err(e) => error(HostErrorKind::Invalid, &format!("{e}: {sql}")),
                }
            }
            HostCall::Members { ids } => HostReply::Members {
                members: ids
                    .iter()
                    .filter_map(|id| {
                        self.members.get(id).map(|name| MemberInfo {
                            id: *id,
                            name: name.clone(),
                            nickname: name.to_lowercase(),
                            initials: name.chars().take(1).collect(),
                            joined: None,
                        })
                    })
                    .collect(),
            },
            HostCall::MembersWithAbility { users, .. } => {
                let mut users: Vec<UserId> =
                    users.into_iter().filter(|u| self.members.contains_key(u)).collect();
                users.sort();
                users.dedup();
                HostReply::Users { users }
            }
            HostCall::Groups { ids } => HostReply::Groups {
                groups: self.groups.iter().filter(|g| ids.contains(&g.id)).cloned().collect(),
            },
            HostCall::GroupsAdministeredBy { user } => HostReply::Groups {
                groups: self.groups.iter().filter(|g| g.admins.contains(&user)).cloned().collect(),
            },
            HostCall::SearchDirectory { .. } => HostReply::Directory { entries: Vec::new() },
            HostCall::Preferences { .. } => HostReply::Preferences { values: BTreeMap::new() },
            HostCall::Now => HostReply::Now { now: NOW },
            HostCall::Check { point, subject } => {
                let verdict = self.verdict.clone();
                self.effects.push(HostCall::Check { point, subject });
                match verdict {
                    Some(verdict) => {
                        self.next_check += 1;
                        HostReply::Checked(CheckOutcome {
                            check: Some(CheckId(self.next_check)),
                            verdict,
                            held_by: Vec::new(),
                            failed: Vec::new(),
                        })
                    }
                    None => error(HostErrorKind::Unavailable, "this portal has no checks service"),
                }
            }
            HostCall::Emit { .. } if !self.events_service => {
                error(HostErrorKind::Unavailable, "this portal has no events service")
            }
            other => {
                self.effects.push(other);
                HostReply::Done
            }
        }
    }

    /// The effects of the given kind (`notify`, `send_email`, `publish`, `emit`, `check`,
    /// `log`).
    pub fn effects(&self, name: &str) -> Vec<HostCall> {
        self.effects.iter().filter(|c| c.name() == name).cloned().collect()
    }

    /// The events emitted, as (name, payload).
    pub fn events(&self) -> Vec<(String, serde_json::Value)> {
        self.effects
            .iter()
            .filter_map(|c| match c {
                HostCall::Emit { event, payload } => Some((event.clone(), payload.clone())),
                _ => None,
            })
            .collect()
    }

    /// Who got in-app notifications, with the texts.
    pub fn notified(&self) -> Vec<(UserId, String)> {
        self.effects
            .iter()
            .filter_map(|c| match c {
                HostCall::Notify { to, text, .. } => Some((*to, text.clone())),
                _ => None,
            })
            .collect()
    }

    /// Every member a live update went to.
    pub fn published_to(&self) -> Vec<UserId> {
        let mut to: Vec<UserId> = self
            .effects
            .iter()
            .flat_map(|c| match c {
                HostCall::Publish { to, .. } => to.clone(),
                _ => Vec::new(),
            })
            .collect();
        to.sort();
        to.dedup();
        to
    }

    /// The log lines at `level`.
    pub fn logged(&self, level: LogLevel) -> Vec<String> {
        self.effects
            .iter()
            .filter_map(|c| match c {
                HostCall::Log { level: l, message } if *l == level => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    /// One number from SQL.
    pub fn count(&self, sql: &str) -> i64 {
        self.db.query_row(sql, [], |r| r.get(0)).expect("count")
    }

    /// One text from SQL.
    pub fn text(&self, sql: &str) -> String {
        self.db.query_row(sql, [], |r| r.get(0)).expect("text")
    }
}

/// A context of `viewer` in the test community, with every ability of the plugin.
pub fn ctx(viewer: i64) -> Context {
    let names = ["", "Ada", "Grace", "Alan", "Edsger", "Barbara"];
    Context {
        community: CommunityInfo {
            id: COMMUNITY,
            slug: "test".into(),
            name: "Test".into(),
            settings: BTreeMap::new(),
        },
        viewer: Some(Viewer {
            id: UserId(viewer),
            name: names.get(viewer as usize).copied().unwrap_or("Someone").to_owned(),
            is_admin: false,
        }),
        abilities: ["conversations.use", "conversations.start", "conversations.groups"]
            .into_iter()
            .map(|a| AbilityName(a.to_owned()))
            .collect(),
        now: NOW,
        request_id: "test".into(),
    }
}

/// A context without a viewer (a delivery, a job), in `community`.
pub fn system_ctx(community: CommunityId) -> Context {
    let mut ctx = ctx(1);
    ctx.viewer = None;
    ctx.community.id = community;
    ctx
}

/// A request to route `route` with path parameter `id` (if any) and `form` fields.
pub fn request(route: &str, method: HttpMethod, id: Option<i64>, form: &[(&str, &str)]) -> PageRequest {
    PageRequest {
        route: route.to_owned(),
        method,
        params: id.map(|id| ("id".to_owned(), id.to_string())).into_iter().collect(),
        query: Vec::new(),
        form: form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    }
}

/// `viewer` starts a conversation with `to` (`user:2`, `group:10`, ...) saying `body`.
pub fn start(viewer: i64, to: &[&str], body: &str) -> PageResponse {
    let mut form: Vec<(&str, &str)> = to.iter().map(|t| ("to", *t)).collect();
    form.push(("body", body));
    crate::pages::route(&ctx(viewer), &request("create", HttpMethod::Post, None, &form)).expect("create")
}

/// `viewer` replies `body` in conversation `id`.
pub fn reply(viewer: i64, id: i64, body: &str) -> PageResponse {
    crate::pages::route(&ctx(viewer), &request("reply", HttpMethod::Post, Some(id), &[("body", body)]))
        .expect("reply")
}

/// What `viewer` sees of conversation `id`: the page's data, or `None` for "not found".
pub fn open(viewer: i64, id: i64) -> Option<serde_json::Value> {
    match crate::pages::route(&ctx(viewer), &request("show", HttpMethod::Get, Some(id), &[])) {
        Ok(PageResponse::Render { data, .. }) => Some(data.0),
        Ok(other) => panic!("{other:?}"),
        Err(e) if e.kind == plugin_api::ErrorKind::NotFound => None,
        Err(e) => panic!("{e}"),
    }
}

/// The conversation ids in `actor`'s inbox.
pub fn inbox_of(actor: ActorRef) -> Vec<i64> {
    crate::store::inbox(actor, 100, 0).expect("inbox").iter().map(|e| e.conversation).collect()
}

/// `viewer` accepts the invitation to conversation `id`.
pub fn accept(viewer: i64, id: i64) {
    let form = [("answer", "accept")];
    crate::pages::route(&ctx(viewer), &request("invitation", HttpMethod::Post, Some(id), &form))
        .expect("accept");
}
