//! `portal plugin run`: one call of a plugin in the real runtime (the portal's limits, its
//! sandboxed SQL, its templates), against a throwaway database with the demo data and the
//! plugin's migrations or against the author's own, as a member of their choice; every
//! host call is traced ([`Traced`] around the portal's own [`DbServices`]) and the call is
//! measured: wall time, time in host calls, fuel (wasm instructions, counted only here),
//! peak linear memory.

use super::report::{CallMeasure, RunReport, TraceEntry};
use super::request::{RequestError, RequestFile, RunRequest};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::communities::Community;
use crate::db::plugin_store::SqlAccess;
use crate::db::{self, users::User};
use crate::plugins::services::DbServices;
use crate::plugins::trace::Traced;
use crate::plugins::{LoadError, LoadedPlugin, PluginRuntime};
use crate::portal::{Member, PluginEntry, Portal, StartError};
use plugin_api::{
    AbilityName, HttpMethod, PageRequest, PageResponse, PluginRequest, PluginResponse, SlotName, UserId,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why `portal plugin run` could not run the call (a failing call is a report, not this).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The request file is wrong.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The portal (database, the plugin's load or migrations) could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The plugin could not be loaded in the tracing runtime.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// The demo data could not be loaded.
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
    /// Something else, said in full.
    #[error("{0}")]
    Other(String),
}

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// How many times (each a fresh instance and transaction); the report gives min,
    /// median and max.
    pub repeat: u32,
    /// Roll back what the calls wrote, even when the portal would commit it.
    pub rollback: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { repeat: 1, rollback: false }
    }
}

/// A portal with one plugin (and the configured plugins it may extend), ready to run calls
/// of it.
pub struct Runner {
    portal: std::sync::Arc<Portal>,
    plugin: LoadedPlugin<Traced<DbServices>>,
    /// The plugin's id.
    id: String,
    database: String,
    /// The throwaway database and module cache, removed with the runner.
    _dir: tempfile::TempDir,
}

impl Runner {
    /// Starts a portal with the plugin of `manifest`, and, when it extends other plugins
    /// (subscriptions, implementations, extension slots), the other plugins of `config`
    /// too (so their events, checks and slots work as in the portal): on the database at
    /// `database` (the migrations are applied to it, as the portal would), or on a
    /// throwaway one with the demo data. `config` gives the limits and the module cache.
    pub fn start(config: &Config, manifest: &Path, database: Option<&Path>) -> Result<Runner, RunError> {
        let mut config = config.clone();
        let own = crate::plugins::manifest::load(manifest).map_err(LoadError::from)?;
        let id = own.id().to_owned();
        let extends = !own.raw.subscriptions.is_empty()
            || !own.raw.implements.is_empty()
            || !own.raw.extension_slots.is_empty();
        let mut manifests = Vec::new();
        if extends {
            for path in &config.plugins.manifests {
                if crate::plugins::manifest::load(path).map_err(LoadError::from)?.id() != id {
                    manifests.push(path.clone());
                }
            }
        }
        manifests.push(manifest.to_owned());
        config.plugins.manifests = manifests;
        config.jobs.enabled = false;
        let dir = tempfile::tempdir()
            .map_err(|e| RunError::Other(format!("cannot make a temporary folder: {e}")))?;
        // One engine configuration (fuel counted) for the portal's load and the traced one,
        // so the second load comes from the compiled-module cache.
        config.plugins.runtime.fuel = true;
        if config.plugins.runtime.cache_dir.is_none() {
            config.plugins.runtime.cache_dir = Some(dir.path().join("module-cache"));
        }
        match database {
            Some(path) => config.database = Some(path.display().to_string()),
            None => {
                config.data_dir = dir.path().to_owned();
                config.database = None;
            }
        }
        let portal = Portal::start(config.clone(), Clock::system())?;
        if database.is_none() {
            let mut demo = crate::demo::built_in()?;
            let known = portal.declared_abilities();
            for community in &mut demo.communities {
                community.grants.retain(|g| known.contains(&g.ability));
            }
            crate::demo::load(&portal, &demo)?;
        }
        let runtime = PluginRuntime::new(config.plugins.runtime.clone())
            .map_err(|e| RunError::Other(format!("cannot start the plugin runtime: {e:#}")))?;
        let plugin = runtime.load(manifest)?;
        let database = match database {
            Some(path) => path.display().to_string(),
            None => "throwaway (the demo data and the plugin's migrations)".to_owned(),
        };
        Ok(Runner { portal, plugin, id, database, _dir: dir })
    }

    /// The portal the calls run in (its database, templates and plugin).
    pub fn portal(&self) -> &Portal {
        &self.portal
    }

    fn entry(&self) -> Result<&PluginEntry, RunError> {
        self.portal
            .plugins
            .iter()
            .find(|p| p.id() == self.id)
            .ok_or_else(|| RunError::Other("the plugin did not load".into()))
    }

    /// Parses `text` (named `source_name` in errors) and runs it.
    pub fn run_text(
        &self,
        text: &str,
        source_name: &str,
        options: RunOptions,
    ) -> Result<RunReport, RunError> {
        let file = RequestFile::parse(text, source_name)?;
        self.run(&file, source_name, options)
    }

    /// Runs the request `options.repeat` times and reports the first run's trace and
    /// response with every run's measures.
    pub fn run(
        &self,
        file: &RequestFile,
        source_name: &str,
        options: RunOptions,
    ) -> Result<RunReport, RunError> {
        let entry = self.entry()?;
        let wrong = |field: &str, message: String| {
            RunError::Request(RequestError {
                source_name: source_name.to_owned(),
                field: field.to_owned(),
                message,
            })
        };
        let conn = self.portal.db.get()?;
        let community =
            self.community(&conn, file.community.as_deref()).map_err(|m| wrong("community", m))?;
        let member = match &file.member {
            Some(who) => Some(self.member(&conn, &community, who).map_err(|m| wrong("as", m))?),
            None => None,
        };
        drop(conn);
        let member = match (member, &file.abilities) {
            (Some(mut m), Some(abilities)) => {
                let declared = self.portal.declared_abilities();
                for (i, a) in abilities.iter().enumerate() {
                    if !declared.contains(a) {
                        let list: Vec<_> = declared.iter().map(String::as_str).collect();
                        return Err(wrong(
                            &format!("abilities[{i}]"),
                            format!(
                                "`{a}` is not an ability of plugin `{}`; it declares {}",
                                entry.id(),
                                list.join(", ")
                            ),
                        ));
                    }
                }
                m.abilities = crate::abilities::effective(
                    abilities.iter().cloned().collect(),
                    self.portal.ability_requirements(),
                );
                Some(m)
            }
            (None, Some(_)) => return Err(wrong("abilities", "abilities need a member: add `as`".into())),
            (member, None) => member,
        };
        let (request_of, access) = self.prepare(entry, file, member.as_ref(), &wrong)?;

        let mut report: Option<RunReport> = None;
        let mut measures = Vec::new();
        for _ in 0..options.repeat.max(1) {
            let (ctx, services) = self.portal.open_call(entry, &community, member.as_ref(), access)?;
            let request = request_of(ctx);
            let started = Instant::now();
            let opened = match &request {
                PluginRequest::Describe => self.plugin.describe_session(Traced::new(services)),
                _ => self.plugin.session(Traced::new(services)),
            };
            let (result, fuel, memory, mut traced) = match opened {
                Ok(mut session) => {
                    let result = session.call(&request);
                    let (fuel, memory) = (session.fuel_used(), session.memory_bytes());
                    (result, fuel, Some(memory), session.finish())
                }
                Err((err, traced)) => (Err(err), None, None, traced),
            };
            let wall = started.elapsed();
            let keep = !options.rollback
                && access != SqlAccess::ReadOnly
                && matches!(
                    result,
                    Ok(PluginResponse::Page(_) | PluginResponse::JobDone { .. } | PluginResponse::Ack)
                );
            let committed = traced.inner.end(keep).is_ok() && keep;
            let host_time = traced.host_time();
            measures.push(CallMeasure {
                wall_us: micros(wall),
                host_us: micros(host_time),
                guest_us: micros(wall.saturating_sub(host_time)),
                fuel,
                memory_bytes: memory.map(|m| m as u64),
            });
            if report.is_none() {
                let mut r = RunReport::new(entry, &request, &self.database, &community, member.as_ref());
                r.host_calls = traced.calls.iter().map(TraceEntry::of).collect();
                r.committed = committed;
                r.access = access_name(access);
                match result {
                    Ok(response) => {
                        if let (PluginResponse::Page(PageResponse::Render { template, data, .. }), Some(m)) =
                            (&response, member.as_ref())
                        {
                            match self.portal.templates.render_plugin(
                                entry.id(),
                                template,
                                data,
                                &community,
                                m,
                                "csrf-token",
                                self.portal.extension_items(entry, &community, m),
                            ) {
                                Ok(html) => r.html = Some(html),
                                Err(e) => {
                                    r.render_error = Some(format!(
                                        "{e} (the portal shows its error page). Fix: {}",
                                        e.fix()
                                    ))
                                }
                            }
                        }
                        r.response = serde_json::to_value(&response).ok();
                    }
                    Err(err) => r.error = Some(err.to_string()),
                }
                report = Some(r);
            }
        }
        let mut report = report.ok_or_else(|| RunError::Other("no run".into()))?;
        report.set_measures(measures);
        Ok(report)
    }

    fn community(&self, conn: &db::Conn, slug: Option<&str>) -> Result<Community, String> {
        let all = db::communities::list(conn).map_err(|e| e.to_string())?;
        let slugs = || all.iter().map(|c| c.slug.as_str()).collect::<Vec<_>>().join(", ");
        match slug {
            None => {
                all.iter().min_by_key(|c| c.id.0).cloned().ok_or_else(|| {
                    "the database has no community; load some with `portal demo load`".to_owned()
                })
            }
            Some(slug) => all
                .iter()
                .find(|c| c.slug == slug)
                .cloned()
                .ok_or_else(|| format!("no community `{slug}` in the database; it has {}", slugs())),
        }
    }

    fn member(&self, conn: &db::Conn, community: &Community, who: &str) -> Result<Member, String> {
        let user: Option<User> = if who.contains('@') {
            db::users::by_email_with_hash(conn, community.id, who).map_err(|e| e.to_string())?.map(|(u, _)| u)
        } else if let Ok(id) = who.parse::<i64>() {
            db::users::by_id(conn, community.id, UserId(id)).map_err(|e| e.to_string())?
        } else {
            db::users::by_nickname(conn, community.id, who).map_err(|e| e.to_string())?
        };
        let Some(user) = user else {
            let some = db::users::search(conn, community.id, "", 3, 0).map_err(|e| e.to_string())?;
            let examples: Vec<_> = some.iter().map(|u| format!("{} ({})", u.email, u.nickname)).collect();
            return Err(format!(
                "no member `{who}` in {}; give an email, a nickname or an id, e.g. {}",
                community.slug,
                examples.join(", ")
            ));
        };
        let conn = self.portal.db.get().map_err(|e| e.to_string())?;
        self.portal.member(&conn, user).map_err(|e| e.to_string())
    }

    /// Checks the request against the manifest as the portal's router would, and returns
    /// how to build it from a context, with the access its transaction gets.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        entry: &PluginEntry,
        file: &RequestFile,
        member: Option<&Member>,
        wrong: &dyn Fn(&str, String) -> RunError,
    ) -> Result<(Box<dyn Fn(plugin_api::Context) -> PluginRequest>, SqlAccess), RunError> {
        let manifest = &entry.manifest().raw;
        let id = entry.id().to_owned();
        let lacks = |ability: &AbilityName, field: &str| -> Result<(), RunError> {
            match member {
                None => Err(wrong(
                    "as",
                    "this request needs a signed-in member (the portal sends visitors to sign in); add \"as\": an email, nickname or id".to_owned(),
                )),
                Some(m) if !m.abilities.contains(ability.as_str()) => Err(wrong(
                    field,
                    format!(
                        "{} does not have `{ability}` here, so the portal would answer 403 without calling the plugin; \
                     add \"abilities\": [\"{ability}\"] to the request file, or grant it: \
                     portal abilities grant --community <slug> {ability} everyone",
                        m.user.name
                    ),
                )),
                Some(_) => Ok(()),
            }
        };
        Ok(match &file.request {
            RunRequest::Describe => (Box::new(|_| PluginRequest::Describe), SqlAccess::ReadOnly),
            RunRequest::Page(call) => {
                let Some(route) = manifest.routes.iter().find(|r| r.name == call.route) else {
                    let names: Vec<_> = manifest.routes.iter().map(|r| r.name.as_str()).collect();
                    return Err(wrong(
                        "request.page.route",
                        format!(
                            "plugin `{id}` has no route `{}`; its routes: {}",
                            call.route,
                            names.join(", ")
                        ),
                    ));
                };
                if let Some(method) = call.method
                    && method != route.method
                {
                    return Err(wrong(
                        "request.page.method",
                        format!(
                            "route `{}` is {}, not {}; leave `method` out to use the route's own",
                            route.name,
                            method_name(route.method),
                            method_name(method)
                        ),
                    ));
                }
                for name in call.params.keys() {
                    if !route.path.contains(&format!("{{{name}}}")) {
                        return Err(wrong(
                            "request.page.params",
                            format!("route `{}` ({}) has no parameter `{name}`", route.name, route.path),
                        ));
                    }
                }
                lacks(&route.ability, "request.page.route")?;
                let access = match route.method {
                    HttpMethod::Get if !route.writes => SqlAccess::ReadOnly,
                    _ => SqlAccess::ReadWrite,
                };
                let page = PageRequest {
                    route: route.name.clone(),
                    method: route.method,
                    params: call.params.clone(),
                    query: call.query.clone(),
                    form: call.form.clone(),
                };
                (Box::new(move |ctx| PluginRequest::Page { ctx, page: page.clone() }), access)
            }
            RunRequest::Slots(call) => {
                if member.is_none() {
                    lacks(&AbilityName(String::new()), "as")?;
                }
                let visible = |s: &&plugin_api::manifest::SlotSpec| {
                    member.is_some_and(|m| m.abilities.contains(s.ability.as_str()))
                        && match s.slot {
                            SlotName::ProfileActions => call.page.profile.is_some(),
                            SlotName::GroupActions => call.page.group.is_some(),
                            _ => true,
                        }
                };
                let items: Vec<String> = match &call.items {
                    Some(items) => {
                        for (i, key) in items.iter().enumerate() {
                            match manifest.slots.iter().find(|s| &s.key == key) {
                                None => {
                                    let keys: Vec<_> =
                                        manifest.slots.iter().map(|s| s.key.as_str()).collect();
                                    return Err(wrong(
                                        &format!("request.slots.items[{i}]"),
                                        format!(
                                            "plugin `{id}` has no slot item `{key}`; its items: {}",
                                            keys.join(", ")
                                        ),
                                    ));
                                }
                                Some(spec) => lacks(&spec.ability, &format!("request.slots.items[{i}]"))?,
                            }
                        }
                        items.clone()
                    }
                    None => {
                        let items: Vec<String> =
                            manifest.slots.iter().filter(visible).map(|s| s.key.clone()).collect();
                        if items.is_empty() {
                            return Err(wrong(
                                "request.slots",
                                format!(
                                    "the member sees no slot item of `{id}` on this page (each needs its ability; \
                                 profile.actions needs \"page\": {{\"profile\": <id>}}, group.actions a group), \
                                 so the portal would not call the plugin; add \"abilities\" or name \"items\""
                                ),
                            ));
                        }
                        items
                    }
                };
                let page = call.page.clone();
                (
                    Box::new(move |ctx| PluginRequest::Slots {
                        ctx,
                        page: page.clone(),
                        items: items.clone(),
                    }),
                    SqlAccess::ReadOnly,
                )
            }
            RunRequest::Job(call) => {
                if !manifest.jobs.iter().any(|j| j.name == call.name) {
                    let names: Vec<_> = manifest.jobs.iter().map(|j| j.name.as_str()).collect();
                    return Err(wrong(
                        "request.job.name",
                        format!(
                            "plugin `{id}` has no job `{}`; its jobs: {}",
                            call.name,
                            if names.is_empty() { "(none)".into() } else { names.join(", ") }
                        ),
                    ));
                }
                if file.member.is_some() {
                    return Err(wrong(
                        "as",
                        "a job runs for the community, with no member: leave `as` out".into(),
                    ));
                }
                let job = call.name.clone();
                (Box::new(move |ctx| PluginRequest::Job { ctx, job: job.clone() }), SqlAccess::ReadWrite)
            }
            RunRequest::Event(event) => {
                if file.member.is_some() {
                    return Err(wrong("as", "an event has no member: leave `as` out".into()));
                }
                let event = event.clone();
                (
                    Box::new(move |ctx| PluginRequest::Event { ctx, event: event.clone() }),
                    SqlAccess::ReadWrite,
                )
            }
            // A check runs inside the asking call's transaction, which may write.
            RunRequest::Check(check) => {
                let check = check.clone();
                (
                    Box::new(move |ctx| PluginRequest::Check { ctx, check: check.clone() }),
                    SqlAccess::ReadWrite,
                )
            }
            RunRequest::Deliver(delivery) => {
                if file.member.is_some() {
                    return Err(wrong("as", "a delivery has no member: leave `as` out".into()));
                }
                let delivery = delivery.clone();
                (
                    Box::new(move |ctx| PluginRequest::Deliver { ctx, delivery: delivery.clone() }),
                    SqlAccess::ReadWrite,
                )
            }
        })
    }
}

fn method_name(method: HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn access_name(access: SqlAccess) -> &'static str {
    match access {
        SqlAccess::ReadOnly => "read-only (a GET, or slots)",
        SqlAccess::ReadWrite => "read-write",
        SqlAccess::Migrate => "migration",
    }
}

/// Reads a request file, or standard input for `-`.
pub fn read_request(path: &Path) -> Result<(String, String), RunError> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| RunError::Other(format!("cannot read the request from standard input: {e}")))?;
        return Ok((text, "standard input".into()));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| RunError::Other(format!("cannot read the request file {}: {e}", path.display())))?;
    Ok((text, PathBuf::from(path).display().to_string()))
}
