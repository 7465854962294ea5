//! The host services behind plugin calls in the running portal: SQL on the plugin's own
//! tables, the directory, notifications, live updates and the clock, all inside ONE database transaction
//! per plugin call (or per request, when its `Slots` and `Page` share an instance). The
//! caller commits it if the plugin answered and rolls it back otherwise. Events, checks
//! and resolutions (plugins extending plugins) are in `extend`.

mod extend;

pub use extend::{CheckRunner, Extensions};

use super::host_calls::HostServices;
use crate::db::communities::Community;
use crate::db::plugin_store::{self, SqlAccess, SqlLimits};
use crate::db::{self, DbResult, PooledConn, WriteTxn};
use crate::live::Live;
use crate::render::Templates;
use crate::unsubscribe::{Unsubscribe, UnsubscribeKey};
use plugin_api::live::{self, LiveUpdate};
use plugin_api::{
    ActorRef, CommunityId, DirectoryEntry, EmailKind, EmailOptions, GroupId, GroupInfo, HostError,
    HostErrorKind, HostReply, MemberInfo, SqlValue, Timestamp, UserId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Services for one plugin call, over one open transaction.
pub struct DbServices {
    conn: CallTxn,
    mail: Arc<Mail>,
    plugin: String,
    preference_defaults: BTreeMap<String, bool>,
    community: CommunityId,
    /// What the plugin's abilities require (`members_with_ability` applies it).
    requirements: crate::abilities::Requirements,
    access: SqlAccess,
    limits: SqlLimits,
    now: Timestamp,
    live: Arc<Live>,
    /// Live updates to send once the transaction commits: topics per member (an empty set
    /// refreshes only the member's header).
    updates: BTreeMap<UserId, BTreeSet<String>>,
    /// Host calls the sandbox refused in this call, and the last refusal's message.
    refusals: Option<(u32, String)>,
    /// Events, checks and resolutions: what the portal knows of the other plugins.
    ext: Extensions,
    /// The member whose request this call serves, with their abilities, if any and if the
    /// call may write (the viewer of the checks it asks for).
    viewer: Option<Arc<crate::view::Member>>,
    /// Whether this call runs inside another plugin's check (it may not ask for checks).
    in_check: bool,
    /// Whether the call queued event deliveries (the deliverer is woken after commit).
    emitted: bool,
    /// Events this call emitted (at most [`extend::MAX_EVENTS_PER_CALL`]).
    events: u32,
    /// Work for after the transaction ended (the health of the implementers of checks).
    after: Vec<Box<dyn FnOnce() + Send>>,
}

/// The transaction of a plugin call.
enum CallTxn {
    /// A read transaction on a pooled connection.
    Read(PooledConn),
    /// A call that may write, before its first use of the database: it waits for the turn
    /// to write only then, so setting up its instance and the plugin's work before its
    /// first host call do not hold up other writers.
    NotYet(db::Db),
    /// A write transaction on the writer connection (the call's turn to write, in a group
    /// committed together, [`db::Db::write`]).
    Write(WriteTxn),
    /// Committed or rolled back.
    Ended,
}

impl CallTxn {
    /// The connection inside the call's transaction, beginning a write transaction at the
    /// first use. Refused once the transaction is gone: SQLite rolls the whole transaction
    /// back when a write statement is interrupted (at its time limit), and the call's
    /// later statements must not then run, and commit, one by one.
    fn begun(&mut self, plugin: &str) -> Result<&dyn db::PoolConnection, HostError> {
        if let CallTxn::NotYet(db) = self {
            *self = CallTxn::Write(db.write().map_err(|e| failed(plugin, e))?);
        }
        let conn: &dyn db::PoolConnection = match self {
            CallTxn::Read(conn) => conn,
            CallTxn::Write(txn) => txn,
            CallTxn::NotYet(_) | CallTxn::Ended => return Err(gone()),
        };
        if !conn.connection().in_transaction() {
            return Err(gone());
        }
        Ok(conn)
    }

    /// Commits (`keep`, announcing `what` to the other portal processes) or rolls back;
    /// a read transaction has nothing to commit.
    fn end(&mut self, keep: bool, what: db::announce::Announcement) -> DbResult<()> {
        match std::mem::replace(self, CallTxn::Ended) {
            CallTxn::Read(conn) => conn.end_read()?,
            CallTxn::Write(mut txn) if keep => {
                txn.announce(what);
                txn.commit()?;
            }
            CallTxn::Write(txn) => txn.rollback()?,
            CallTxn::NotYet(_) | CallTxn::Ended => {}
        }
        Ok(())
    }
}

fn gone() -> HostError {
    HostError {
        kind: HostErrorKind::Failed,
        message: "this call's transaction was rolled back (a statement was interrupted); \
                  the database cannot be used again in this call"
            .into(),
    }
}

fn failed(plugin: &str, err: db::DbError) -> HostError {
    tracing::error!(plugin, error = %err, "host call failed");
    HostError { kind: HostErrorKind::Failed, message: "the portal could not answer; see its log".into() }
}

/// What rendering an email needs: the templates, the portal's public address, and the
/// community it is sent from.
pub struct Mail {
    /// Host and plugin templates.
    pub templates: Arc<Templates>,
    /// The portal's public address.
    pub public_url: String,
    /// The community.
    pub community: Community,
    /// Signs the one-click unsubscribe links.
    pub unsubscribe: Arc<UnsubscribeKey>,
}

/// What one call may do, when, and for whom.
#[derive(Debug, Clone)]
pub struct CallScope {
    /// Read-only or read-write SQL.
    pub access: SqlAccess,
    /// The SQL limits.
    pub limits: SqlLimits,
    /// The call's clock.
    pub now: Timestamp,
    /// The member the call serves, if any.
    pub viewer: Option<Arc<crate::view::Member>>,
}

/// Most members one [`plugin_api::HostCall::Publish`] may name.
pub const MAX_PUBLISH_MEMBERS: usize = 1_000;

/// Most results a directory search returns.
pub const DIRECTORY_LIMIT: u32 = 50;

impl DbServices {
    /// Opens the call's transaction: a read transaction, or for a call that may write, a
    /// write transaction begun at its first use of the database (waiting for the turn to
    /// write then, [`db::Db::write`]).
    pub fn begin(
        db: &db::Db,
        mail: Arc<Mail>,
        live: Arc<Live>,
        plugin: &crate::plugins::PluginManifest,
        scope: CallScope,
        ext: Extensions,
    ) -> DbResult<DbServices> {
        let CallScope { access, limits, now, viewer } = scope;
        let conn = if access == SqlAccess::ReadOnly {
            CallTxn::Read(db.read_txn()?)
        } else {
            CallTxn::NotYet(db.clone())
        };
        let preference_defaults = preference_defaults(plugin);
        Ok(DbServices {
            conn,
            community: mail.community.id,
            mail,
            plugin: plugin.id().to_owned(),
            preference_defaults,
            requirements: crate::abilities::requirements(&plugin.raw.abilities),
            access,
            limits,
            now,
            live,
            updates: BTreeMap::new(),
            refusals: None,
            ext,
            viewer,
            in_check: false,
            emitted: false,
            events: 0,
            after: Vec::new(),
        })
    }

    /// Work to do once the call's transaction has ended (storing the health of the
    /// plugins its checks called: their breaker state is written in a transaction of its
    /// own).
    pub fn take_after(&mut self) -> Vec<Box<dyn FnOnce() + Send>> {
        std::mem::take(&mut self.after)
    }

    /// The host calls the sandbox refused in this call (how many, and the last message),
    /// for `portal plugin status`; stored once the call's transaction has ended.
    pub fn take_refusals(&mut self) -> Option<(u32, String)> {
        self.refusals.take()
    }

    /// Ends the call's transaction: commits everything the call did when `keep` (returning
    /// once it is committed, with the group it joined), rolls it back otherwise. Live
    /// updates wait for [`DbServices::send_updates`]. Ending it before the instance is torn
    /// down gives up the turn to write sooner.
    pub fn end(&mut self, keep: bool) -> DbResult<()> {
        let what = if keep { self.announcement() } else { db::announce::Announcement::default() };
        self.conn.end(keep, what)
    }

    /// What the commit tells the other portal processes: the call's live updates (members
    /// with the same topics in one batch) and whether it queued events.
    fn announcement(&self) -> db::announce::Announcement {
        let mut by_topics: BTreeMap<&BTreeSet<String>, Vec<UserId>> = BTreeMap::new();
        for (user, topics) in &self.updates {
            by_topics.entry(topics).or_default().push(*user);
        }
        let live = by_topics
            .into_iter()
            .map(|(topics, users)| db::announce::LiveBatch {
                community: self.community,
                topics: topics.iter().cloned().collect(),
                users,
            })
            .collect();
        db::announce::Announcement { live, deliveries: self.emitted }
    }

    /// Sends the live updates of a committed call, and wakes the deliverer if the call
    /// queued events.
    pub fn send_updates(self) {
        if self.emitted {
            self.ext.wake.notify();
        }
        let updates = self
            .updates
            .into_iter()
            .map(|(user, topics)| (user, LiveUpdate { topics: topics.into_iter().collect() }));
        self.live.send(self.community, updates);
    }

    /// Commits everything the call did, then sends its live updates.
    pub fn commit(mut self) -> DbResult<()> {
        self.end(true)?;
        self.send_updates();
        Ok(())
    }

    /// Rolls back everything the call did.
    pub fn rollback(mut self) -> DbResult<()> {
        self.end(false)
    }

    /// The connection of a read-only call, inside its transaction (for the host's own reads
    /// that belong to the call, such as the community's settings in its context). A call
    /// that may write has none before its first host call.
    pub fn read_conn(&self) -> Option<&db::Conn> {
        match &self.conn {
            CallTxn::Read(conn) => Some(conn),
            CallTxn::NotYet(_) | CallTxn::Write(_) | CallTxn::Ended => None,
        }
    }
}

/// The defaults of a plugin's preferences.
fn preference_defaults(plugin: &crate::plugins::PluginManifest) -> BTreeMap<String, bool> {
    plugin.raw.preferences.iter().map(|p| (p.key.clone(), p.default)).collect()
}

fn group_info(conn: &db::Conn, plugin: &str, group: db::groups::Group) -> Result<GroupInfo, HostError> {
    let admins = db::groups::admins(conn, group.id).map_err(|e| failed(plugin, e))?;
    Ok(GroupInfo { id: group.id, name: group.name, nickname: group.nickname, admins })
}

fn member_info(user: db::users::User) -> MemberInfo {
    MemberInfo {
        initials: user.initials(),
        id: user.id,
        name: user.name,
        nickname: user.nickname,
        joined: Some(user.joined),
    }
}

impl HostServices for DbServices {
    fn refused(&mut self, message: &str) {
        let count = self.refusals.as_ref().map_or(0, |(n, _)| *n);
        self.refusals = Some((count.saturating_add(1), message.to_owned()));
    }

    fn set_deadline(&mut self, deadline: std::time::Instant) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        self.limits.time = self.limits.time.min(left);
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<HostReply, HostError> {
        let conn = self.conn.begun(&self.plugin)?;
        plugin_store::query(conn, &self.plugin, self.access, sql, params, self.limits)
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<HostReply, HostError> {
        let conn = self.conn.begun(&self.plugin)?;
        plugin_store::execute(conn, &self.plugin, self.access, sql, params, self.limits)
    }

    fn members(&mut self, ids: &[UserId]) -> Result<Vec<MemberInfo>, HostError> {
        let conn = self.conn.begun(&self.plugin)?.connection();
        let users = db::users::by_ids(conn, self.community, ids).map_err(|e| failed(&self.plugin, e))?;
        Ok(users.into_iter().map(member_info).collect())
    }

    fn members_with_ability(&mut self, ability: &str, users: &[UserId]) -> Result<Vec<UserId>, HostError> {
        let conn = self.conn.begun(&self.plugin)?.connection();
        let found = db::users::by_ids(conn, self.community, users).map_err(|e| failed(&self.plugin, e))?;
        let mut out = Vec::new();
        for user in found {
            let granted = db::abilities::of_member(conn, self.community, user.id, user.role)
                .map_err(|e| failed(&self.plugin, e))?;
            if crate::abilities::effective(granted, &self.requirements).contains(ability) {
                out.push(user.id);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn groups(&mut self, ids: &[GroupId]) -> Result<Vec<GroupInfo>, HostError> {
        let conn = self.conn.begun(&self.plugin)?.connection();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(group) =
                db::groups::by_id(conn, self.community, *id).map_err(|e| failed(&self.plugin, e))?
            {
                out.push(group_info(conn, &self.plugin, group)?);
            }
        }
        Ok(out)
    }

    fn groups_administered_by(&mut self, user: UserId) -> Result<Vec<GroupInfo>, HostError> {
        let conn = self.conn.begun(&self.plugin)?.connection();
        let groups =
            db::groups::administered_by(conn, self.community, user).map_err(|e| failed(&self.plugin, e))?;
        groups.into_iter().map(|g| group_info(conn, &self.plugin, g)).collect()
    }

    fn search_directory(&mut self, query: &str, limit: u32) -> Result<Vec<DirectoryEntry>, HostError> {
        let query = query.trim();
        if query.chars().count() < 2 {
            return Err(HostError {
                kind: HostErrorKind::Invalid,
                message: "search needs at least 2 characters".into(),
            });
        }
        let limit = limit.min(DIRECTORY_LIMIT);
        let conn = self.conn.begun(&self.plugin)?.connection();
        let users =
            db::users::search(conn, self.community, query, limit, 0).map_err(|e| failed(&self.plugin, e))?;
        let groups =
            db::groups::search(conn, self.community, query, limit).map_err(|e| failed(&self.plugin, e))?;
        let mut entries: Vec<DirectoryEntry> = users
            .into_iter()
            .map(|u| DirectoryEntry { actor: ActorRef::User(u.id), name: u.name, nickname: u.nickname })
            .chain(groups.into_iter().map(|g| DirectoryEntry {
                actor: ActorRef::Group(g.id),
                name: g.name,
                nickname: g.nickname,
            }))
            .collect();
        entries.sort_by_key(|e| e.name.to_lowercase());
        entries.truncate(limit as usize);
        Ok(entries)
    }

    fn notify(&mut self, to: UserId, text: &str, link: &str) -> Result<(), HostError> {
        if self.access == SqlAccess::ReadOnly {
            return Err(HostError {
                kind: HostErrorKind::NotAllowed,
                message: "no notifications during a GET request".into(),
            });
        }
        let conn = self.conn.begun(&self.plugin)?.connection();
        if !link.starts_with('/') || link.starts_with("//") {
            return Err(HostError {
                kind: HostErrorKind::Invalid,
                message: "the link must be a path inside the community".into(),
            });
        }
        let known = db::users::by_id(conn, self.community, to).map_err(|e| failed(&self.plugin, e))?;
        if known.is_none() {
            return Err(HostError {
                kind: HostErrorKind::Invalid,
                message: format!("no member {to} in this community"),
            });
        }
        db::notifications::create(conn, to, Some(&self.plugin), text, link, self.now)
            .map_err(|e| failed(&self.plugin, e))?;
        // The member's bell changes.
        self.updates.entry(to).or_default();
        Ok(())
    }

    fn publish(&mut self, to: &[UserId], topics: &[String]) -> Result<(), HostError> {
        let invalid = |message: String| HostError { kind: HostErrorKind::Invalid, message };
        if topics.len() > live::MAX_TOPICS {
            return Err(invalid(format!("at most {} topics per call", live::MAX_TOPICS)));
        }
        if to.len() > MAX_PUBLISH_MEMBERS {
            return Err(invalid(format!("at most {MAX_PUBLISH_MEMBERS} members per call")));
        }
        for topic in topics {
            live::check_topic(topic).map_err(invalid)?;
        }
        let conn = self.conn.begun(&self.plugin)?.connection();
        let members = db::users::by_ids(conn, self.community, to).map_err(|e| failed(&self.plugin, e))?;
        for member in members {
            let entry = self.updates.entry(member.id).or_default();
            entry.extend(topics.iter().map(|t| live::full_topic(&self.plugin, t)));
        }
        Ok(())
    }

    fn send_email(
        &mut self,
        to: UserId,
        subject: &str,
        template: &str,
        data: &plugin_api::TemplateData,
        options: &EmailOptions,
    ) -> Result<(), HostError> {
        let invalid = |message: String| HostError { kind: HostErrorKind::Invalid, message };
        if self.access == SqlAccess::ReadOnly {
            return Err(HostError {
                kind: HostErrorKind::NotAllowed,
                message: "no email during a GET request".into(),
            });
        }
        if let Some(key) = &options.preference
            && !self.preference_defaults.contains_key(key)
        {
            return Err(invalid(format!("email preference `{key}` is not declared in the manifest")));
        }
        if options.kind == EmailKind::Bulk && options.preference.is_none() {
            return Err(invalid(
                "a bulk email needs `options.preference`, the preference that lets members stop it".into(),
            ));
        }
        if let Some(thread) = &options.thread {
            live::check_topic(thread).map_err(|e| invalid(format!("email thread: {e}")))?;
        }
        let conn = self.conn.begun(&self.plugin)?.connection();
        let user = db::users::by_id(conn, self.community, to)
            .map_err(|e| failed(&self.plugin, e))?
            .ok_or_else(|| invalid(format!("no member {to} in this community")))?;
        let unsubscribe_url = match &options.preference {
            Some(key) => {
                let stored =
                    db::preferences::get(conn, to, &self.plugin, key).map_err(|e| failed(&self.plugin, e))?;
                if !stored.unwrap_or(self.preference_defaults.get(key).copied().unwrap_or(false)) {
                    // The member turned this kind of email off: nothing to send.
                    return Ok(());
                }
                let token = self.mail.unsubscribe.token(&Unsubscribe {
                    community: self.community,
                    user: to,
                    plugin: self.plugin.clone(),
                    preference: key.clone(),
                });
                Some(crate::unsubscribe::link(&self.mail.public_url, &self.mail.community.slug, &token))
            }
            None => None,
        };
        let subject: String = subject.chars().filter(|c| !c.is_control()).take(200).collect();
        let rendered = self
            .mail
            .templates
            .render_email(
                &self.plugin,
                template,
                data,
                &self.mail.community,
                &self.mail.public_url,
                unsubscribe_url.as_deref(),
            )
            .map_err(|e| invalid(format!("email template `{template}`: {e}")))?;
        let domain = crate::email::message_id::message_id_domain(&self.mail.public_url);
        let message_id = crate::email::message_id::new_message_id(&domain).map_err(|e| {
            tracing::error!(plugin = %self.plugin, error = %e, "no randomness for a Message-ID");
            HostError {
                kind: HostErrorKind::Failed,
                message: "the portal could not answer; see its log".into(),
            }
        })?;
        let in_reply_to = match &options.thread {
            Some(thread) => db::outbox::thread_root(conn, to, &self.plugin, thread)
                .map_err(|e| failed(&self.plugin, e))?,
            None => None,
        };
        let email = db::outbox::NewEmail {
            user: to,
            to: &user.email,
            subject: &subject,
            text: &rendered.text,
            html: &rendered.html,
            headers: db::outbox::Headers {
                message_id: Some(message_id),
                in_reply_to,
                unsubscribe_url,
                bulk: options.kind == EmailKind::Bulk,
            },
            plugin: Some(&self.plugin),
            preference: options.preference.as_deref(),
            thread: options.thread.as_deref(),
        };
        db::outbox::queue(conn, &email, self.now).map(|_| ()).map_err(|e| failed(&self.plugin, e))
    }

    fn preferences(
        &mut self,
        users: &[UserId],
        keys: &[String],
    ) -> Result<BTreeMap<UserId, BTreeMap<String, bool>>, HostError> {
        let conn = self.conn.begun(&self.plugin)?.connection();
        let mut out = BTreeMap::new();
        for key in keys {
            if !self.preference_defaults.contains_key(key) {
                return Err(HostError {
                    kind: HostErrorKind::Invalid,
                    message: format!("preference `{key}` is not declared in the manifest"),
                });
            }
        }
        for user in users {
            let mut values = BTreeMap::new();
            for key in keys {
                let stored = db::preferences::get(conn, *user, &self.plugin, key)
                    .map_err(|e| failed(&self.plugin, e))?;
                let default = self.preference_defaults.get(key).copied().unwrap_or(false);
                values.insert(key.clone(), stored.unwrap_or(default));
            }
            out.insert(*user, values);
        }
        Ok(out)
    }

    fn emit(&mut self, event: &str, payload: &serde_json::Value) -> Result<(), HostError> {
        self.emit_event(event, payload)
    }

    fn check(
        &mut self,
        point: &str,
        subject: &serde_json::Value,
    ) -> Result<plugin_api::CheckOutcome, HostError> {
        self.run_checks(point, subject)
    }

    fn resolve(
        &mut self,
        check: plugin_api::CheckId,
        decision: &plugin_api::Decision,
    ) -> Result<(), HostError> {
        self.resolve_check(check, decision)
    }

    fn now(&mut self) -> Timestamp {
        self.now
    }
}
