//! Plugin calls: the context of a call (community, settings, viewer, abilities), its
//! transaction and limits, and the routed `Page` (run again when its commit group failed or
//! it conflicted with a concurrent write) and scheduled `Job` calls.

use super::slots::{slot_fills, slots_request};
use super::{PageOutcome, PluginEntry, Portal, plugin_abilities};
use crate::db::plugin_store::{SqlAccess, SqlLimits};
use crate::db::{self, communities::Community};
use crate::plugins::services::DbServices;
use crate::view::Member;
use plugin_api::{
    CommunityInfo, Context, PageRequest, PageResponse, PluginRequest, PluginResponse, SlotPage, Viewer,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Most runs of one routed page call whose transaction kept nothing (see
/// [`db::DbError::can_run_again`]).
const ATTEMPTS: u32 = 4;

/// A pause before run `attempt + 1` of a call: 1–4 ms, then 4–16, then 16–64, at random,
/// so that calls that conflicted do not meet again in step.
fn jitter_ms(attempt: u32) -> u64 {
    let mut byte = [0u8; 1];
    let random = getrandom::fill(&mut byte).map_or(0, |()| u64::from(byte[0]));
    (1 + random % 4) << (2 * attempt.saturating_sub(1)).min(4)
}

impl Portal {
    pub(super) fn context(
        &self,
        conn: &db::Conn,
        community: &Community,
        member: Option<&Member>,
        plugin: &PluginEntry,
    ) -> db::DbResult<Context> {
        let abilities = member.map(|m| plugin_abilities(plugin, m)).unwrap_or_default();
        Ok(Context {
            community: CommunityInfo {
                id: community.id,
                slug: community.slug.clone(),
                name: community.name.clone(),
                settings: self.settings(conn, community, plugin)?,
            },
            viewer: member.map(|m| Viewer {
                id: m.user.id,
                name: m.user.name.clone(),
                is_admin: m.is_admin(),
            }),
            abilities,
            now: self.clock.now(),
            request_id: format!("r{}", self.requests.fetch_add(1, Ordering::Relaxed)),
        })
    }

    pub(super) fn sql_limits(&self) -> SqlLimits {
        let limits = &self.config.plugins.runtime.limits;
        SqlLimits { time: Duration::from_millis(limits.sql_ms), max_bytes: limits.max_payload_bytes as usize }
    }

    /// Opens one plugin call: its transaction, and the call's context (read inside that
    /// transaction for a read-only call; for a call that may write, just before: its write
    /// transaction begins at its first host call). `portal plugin run` opens its calls here
    /// too, so they get the portal's own context and services.
    pub fn open_call(
        &self,
        plugin: &PluginEntry,
        community: &Community,
        member: Option<&Member>,
        access: SqlAccess,
    ) -> db::DbResult<(Context, DbServices)> {
        self.open_call_on(&self.db, plugin, community, member, access)
    }

    /// [`Portal::open_call`] on `db` (the portal's database, or a handle of it whose writes
    /// run alone: [`db::Db::alone`]).
    fn open_call_on(
        &self,
        db: &db::Db,
        plugin: &PluginEntry,
        community: &Community,
        member: Option<&Member>,
        access: SqlAccess,
    ) -> db::DbResult<(Context, DbServices)> {
        let mail = Arc::new(crate::plugins::services::Mail {
            templates: self.templates.clone(),
            public_url: self.config.public_url.clone(),
            community: community.clone(),
            unsubscribe: self.unsubscribe.clone(),
        });
        let services = DbServices::begin(
            db,
            mail,
            self.live.clone(),
            plugin.manifest(),
            crate::plugins::services::CallScope {
                access,
                limits: self.sql_limits(),
                now: self.clock.now(),
                // Only a call that may write asks for checks, which need the member.
                viewer: member.filter(|_| access != SqlAccess::ReadOnly).map(|m| Arc::new(m.clone())),
            },
            self.call_extensions(),
        )?;
        let ctx = match services.read_conn() {
            Some(conn) => self.context(conn, community, member, plugin)?,
            // Read before the call waits for its turn to write (a read of its own).
            None => self.context(&*self.db.get()?, community, member, plugin)?,
        };
        Ok((ctx, services))
    }

    /// Runs a routed plugin page: `Slots` and `Page` in one instance and one transaction,
    /// committed only if the plugin answered with a page or a redirect.
    pub fn page(
        &self,
        plugin: &PluginEntry,
        community: &Community,
        member: &Member,
        request: PageRequest,
        slot_page: &SlotPage,
        csrf: &str,
    ) -> PageOutcome {
        if let Err(until) = plugin.breaker.admit(self.clock.now()) {
            return PageOutcome::SwitchedOff(until);
        }
        let mut result = self.page_attempt(plugin, community, member, request.clone(), slot_page, csrf, 0);
        for attempt in 1..ATTEMPTS {
            let Err(err) = &result else { break };
            // Another call of its commit group failed, or PostgreSQL could not order it
            // with a concurrent write, and nothing of this one was kept: it runs again, in
            // a new transaction (a call has no effect outside it), after a short pause that
            // grows with each attempt, and alone among the writes (so it cannot conflict
            // again).
            tracing::info!(plugin = plugin.id(), error = %err, attempt, "running the call again");
            std::thread::sleep(std::time::Duration::from_millis(jitter_ms(attempt)));
            result = self.page_attempt(plugin, community, member, request.clone(), slot_page, csrf, attempt);
        }
        result.unwrap_or_else(|err| {
            tracing::error!(plugin = plugin.id(), error = %err, "could not finish the plugin's transaction");
            PageOutcome::Failed
        })
    }

    /// Run `attempt` (0 first) of a routed plugin page, alone among the writes after the
    /// first; `Err` when nothing of it was kept and it may run again (its commit group
    /// failed, or it conflicted with a concurrent write: see [`db::DbError::can_run_again`]).
    #[allow(clippy::too_many_arguments, reason = "page()'s arguments and which run this is")]
    pub(super) fn page_attempt(
        &self,
        plugin: &PluginEntry,
        community: &Community,
        member: &Member,
        request: PageRequest,
        slot_page: &SlotPage,
        csrf: &str,
        attempt: u32,
    ) -> Result<PageOutcome, db::DbError> {
        let writes_on_get = plugin.manifest().raw.routes.iter().any(|r| r.name == request.route && r.writes);
        let access = match request.method {
            plugin_api::HttpMethod::Get if !writes_on_get => SqlAccess::ReadOnly,
            _ => SqlAccess::ReadWrite,
        };
        let commits = self.db.commits();
        let db = if attempt == 0 { self.db.clone() } else { self.db.alone() };
        let (ctx, services) = match self.open_call_on(&db, plugin, community, Some(member), access) {
            Ok(opened) => opened,
            Err(err) => {
                tracing::error!(plugin = plugin.id(), error = %err, "cannot open the plugin call");
                return Ok(PageOutcome::Failed);
            }
        };
        let is_get = request.method == plugin_api::HttpMethod::Get;
        let mut session = match plugin.plugin.session(services) {
            Ok(session) => session,
            Err((err, services)) => {
                let _ = services.rollback();
                self.store_health(plugin, self.observe(plugin, &Err::<(), _>(err)));
                return Ok(PageOutcome::Failed);
            }
        };
        // Stored once the transaction has ended (see `HealthNote`): this plugin's, and those
        // of the plugins whose slots the page shows.
        let mut health = Vec::new();
        let mut slots_health = Vec::new();
        let result = session.call(&PluginRequest::Page { ctx: ctx.clone(), page: request });
        health.push(self.observe(plugin, &result));
        let outcome = match result {
            Ok(PluginResponse::Page(PageResponse::Render { template, title, data })) => {
                // The layout's slots, from the same instance (GET pages only: a POST that
                // renders is a form error page, and its slots can come from a fresh read).
                let known = if is_get {
                    let items = self.visible_items(plugin, member, slot_page);
                    // Only a read-only GET uses remembered answers: a GET that writes (a
                    // read marker) must show what it wrote, and an answer that includes a
                    // write that may still roll back must not be remembered.
                    let cacheable = (access == SqlAccess::ReadOnly)
                        .then(|| self.cacheable(plugin, community, member, slot_page))
                        .flatten();
                    let now = ctx.now;
                    let fills = if items.is_empty() {
                        Some(Vec::new())
                    } else {
                        self.remembered_or_asked(cacheable, now, commits, || {
                            let result = session.call(&slots_request(ctx, slot_page, &items));
                            health.push(self.observe(plugin, &result));
                            slot_fills(plugin.id(), result)
                        })
                    };
                    Some((plugin, fills))
                } else {
                    None
                };
                let extensions = self.extension_items(plugin, community, member);
                match self.templates.render_plugin(
                    plugin.id(),
                    &template,
                    &data,
                    community,
                    member,
                    csrf,
                    extensions,
                ) {
                    Ok(html) => {
                        let slots =
                            self.slots_with(community, Some(member), slot_page, known, &mut slots_health);
                        PageOutcome::Render { html, title, slots }
                    }
                    Err(err) => {
                        tracing::error!(plugin = plugin.id(), template, error = %err, fix = err.fix(), "plugin template failed");
                        PageOutcome::Failed
                    }
                }
            }
            Ok(PluginResponse::Page(PageResponse::Redirect { to, flash })) => {
                PageOutcome::Redirect { to, flash }
            }
            Ok(PluginResponse::Error(err)) => PageOutcome::Refused(err),
            Ok(_) | Err(_) => PageOutcome::Failed,
        };
        let committed = matches!(outcome, PageOutcome::Render { .. } | PageOutcome::Redirect { .. })
            && access != SqlAccess::ReadOnly;
        // The transaction ends (and the turn to write passes on) before the instance is
        // torn down.
        let finished = session.services_mut().end(committed);
        let mut services = session.finish();
        let after = services.take_after();
        health.push(super::health::HealthNote::refused(services.take_refusals()));
        if committed && finished.is_ok() {
            services.send_updates();
        }
        for note in health {
            self.store_health(plugin, note);
        }
        for (other, note) in slots_health {
            self.store_health(other, note);
        }
        for work in after {
            work();
        }
        match finished {
            Ok(()) => Ok(outcome),
            Err(err) if err.can_run_again() => Err(err),
            Err(err) => {
                tracing::error!(plugin = plugin.id(), error = %err, "could not finish the plugin's transaction");
                Ok(PageOutcome::Failed)
            }
        }
    }

    /// Runs one job for one community until the plugin says it is done (at most 10,000
    /// calls), each call in its own transaction, committed when the call succeeds.
    pub fn run_job(&self, plugin: &PluginEntry, community: &Community, job: &str) -> Result<String, String> {
        let mut summaries = Vec::new();
        for _ in 0..10_000 {
            if let Err(until) = plugin.breaker.admit(self.clock.now()) {
                return Err(format!("the plugin is switched off until {}", until.0));
            }
            let (ctx, services) =
                self.open_call(plugin, community, None, SqlAccess::ReadWrite).map_err(|e| e.to_string())?;
            let (result, mut services) =
                plugin.plugin.call(&PluginRequest::Job { ctx, job: job.to_owned() }, services);
            let health = self.observe(plugin, &result).with_refusals(services.take_refusals());
            let after = services.take_after();
            // The transaction ends before the breaker's change is stored (see `HealthNote`).
            let done = match result {
                Ok(PluginResponse::JobDone { summary, more }) => {
                    services.commit().map(|()| (summary, more)).map_err(|e| e.to_string())
                }
                failed => {
                    let _ = services.rollback();
                    Err(match failed {
                        Ok(PluginResponse::Error(err)) => err.to_string(),
                        Ok(_) => "answered with something other than a job result".into(),
                        Err(err) => err.to_string(),
                    })
                }
            };
            self.store_health(plugin, health);
            for work in after {
                work();
            }
            match done {
                Ok((summary, more)) => {
                    summaries.push(summary);
                    if !more {
                        return Ok(summaries.join("; "));
                    }
                }
                Err(err) => return Err(err),
            }
        }
        Err("still had more to do after 10,000 calls".into())
    }
}
