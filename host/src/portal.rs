//! The running portal: database, clock, loaded plugins with their templates. Builds the
//! context of each plugin call (community settings, viewer, abilities), and runs the two
//! kinds of plugin work a page needs: the `Slots` of a page render and a routed `Page`,
//! each in one transaction.

use crate::clock::Clock;
use crate::config::Config;
use crate::db::plugin_store::{self, Access, SqlLimits};
use crate::db::users::{Role, User};
use crate::db::{self, Db, PooledConn, communities::Community};
use crate::plugins::breaker::{Breaker, Change};
use crate::plugins::manifest::{self, PluginManifest};
use crate::plugins::services::DbServices;
use crate::plugins::{CallError, LoadError, LoadedPlugin, PluginRuntime};
use crate::slot_cache::{SlotCache, SlotKey};
use plugin_api::manifest::SettingSpec;
use plugin_api::{
    AbilityName, CommunityInfo, Context, PageRequest, PageResponse, PluginRequest, PluginResponse,
    SettingValue, SlotFill, SlotName, SlotPage, Viewer,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why the portal could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Plugin(#[from] LoadError),
    /// A plugin's migrations failed.
    #[error(transparent)]
    Migration(#[from] plugin_store::MigrationError),
    /// The plugin runtime could not start.
    #[error("the plugin runtime could not start: {0}")]
    Runtime(String),
    /// Two plugins conflict.
    #[error("{0}")]
    Invalid(String),
    /// A host template does not parse, or a plugin's template is refused.
    #[error(transparent)]
    Template(#[from] crate::web::render::TemplateError),
    /// The key that signs unsubscribe links could not be read or made.
    #[error(transparent)]
    UnsubscribeKey(#[from] crate::unsubscribe::KeyError),
    /// The email configuration is not usable (the DKIM key).
    #[error("{0}")]
    Email(String),
}

/// A loaded plugin with what the portal derives from its manifest.
pub struct PluginEntry {
    /// The plugin.
    pub plugin: LoadedPlugin<DbServices>,
    /// Its settings' defaults.
    pub defaults: BTreeMap<String, SettingValue>,
    /// Switches the plugin off for a while when it keeps failing.
    pub breaker: Breaker,
}

impl PluginEntry {
    /// The validated manifest.
    pub fn manifest(&self) -> &PluginManifest {
        self.plugin.manifest()
    }
    /// The plugin id.
    pub fn id(&self) -> &str {
        self.plugin.id()
    }
}

/// A signed-in member looking at a page of their community.
#[derive(Debug, Clone)]
pub struct Member {
    /// The account.
    pub user: User,
    /// Every ability the member has in the community (of every plugin).
    pub abilities: BTreeSet<String>,
}

impl Member {
    /// Whether the member is a community admin.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

/// One slot item ready to render.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlotItem {
    /// The plugin.
    pub plugin: String,
    /// The item's key.
    pub key: String,
    /// Visible text.
    pub label: String,
    /// Full link, or none (a badge).
    pub href: Option<String>,
    /// A count, when non-zero (shown as "99+" past 99).
    #[serde(serialize_with = "badge_text")]
    pub badge: Option<u32>,
    /// Why it is disabled, if it is.
    pub disabled_reason: Option<String>,
    /// The icon the host draws (`header.icons`).
    pub icon: Option<plugin_api::manifest::Icon>,
}

/// The slot items of one page, by slot.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Slots {
    /// `header.user_menu`.
    pub header_user_menu: Vec<SlotItem>,
    /// `header.icons`.
    pub header_icons: Vec<SlotItem>,
    /// `header.avatar_badge`.
    pub header_avatar_badge: Vec<SlotItem>,
    /// `footer.my_account`.
    pub footer_my_account: Vec<SlotItem>,
    /// `profile.actions`.
    pub profile_actions: Vec<SlotItem>,
    /// `group.actions`.
    pub group_actions: Vec<SlotItem>,
    /// The sum of the avatar badges, for the header (saturating; shown as "99+" past 99).
    #[serde(serialize_with = "badge_text")]
    pub badge_total: u32,
}

/// A badge count as a page shows it: the number, or "99+" past 99 (a plugin's count is
/// untrusted; it never wraps and never makes a row wider than three characters).
fn badge_text<S: serde::Serializer, N: Into<BadgeCount> + Copy>(count: &N, s: S) -> Result<S::Ok, S::Error> {
    match (*count).into().0 {
        None => s.serialize_none(),
        Some(0) => s.serialize_u32(0),
        Some(n) if n > 99 => s.serialize_str("99+"),
        Some(n) => s.serialize_u32(n),
    }
}

/// A badge count, present or not, for [`badge_text`].
struct BadgeCount(Option<u32>);

impl From<u32> for BadgeCount {
    fn from(n: u32) -> Self {
        BadgeCount(Some(n))
    }
}

impl From<Option<u32>> for BadgeCount {
    fn from(n: Option<u32>) -> Self {
        BadgeCount(n)
    }
}

impl Slots {
    fn push(&mut self, slot: SlotName, item: SlotItem) {
        match slot {
            SlotName::HeaderIcons => self.header_icons.push(item),
            SlotName::HeaderUserMenu => self.header_user_menu.push(item),
            SlotName::HeaderAvatarBadge => {
                self.badge_total = self.badge_total.saturating_add(item.badge.unwrap_or(0));
                self.header_avatar_badge.push(item)
            }
            SlotName::FooterMyAccount => self.footer_my_account.push(item),
            SlotName::ProfileActions => self.profile_actions.push(item),
            SlotName::GroupActions => self.group_actions.push(item),
        }
    }
}

/// What a plugin page request came to.
pub enum PageOutcome {
    /// A page to render in the layout.
    Render {
        /// The plugin's rendered template (HTML).
        html: String,
        /// The page title.
        title: String,
        /// The layout's slots.
        slots: Slots,
    },
    /// A redirect to a path inside the community.
    Redirect {
        /// The path, relative to the community.
        to: String,
        /// A message for the next page.
        flash: Option<plugin_api::Flash>,
    },
    /// The plugin refused the request.
    Refused(plugin_api::PluginError),
    /// The plugin failed (already logged).
    Failed,
    /// The plugin is switched off by its circuit breaker until this time.
    SwitchedOff(plugin_api::Timestamp),
}

/// The running portal.
pub struct Portal {
    /// The configuration.
    pub config: Config,
    /// The database.
    pub db: Db,
    /// The clock.
    pub clock: Clock,
    /// Loaded plugins, in manifest order.
    pub plugins: Vec<PluginEntry>,
    /// Host and plugin templates.
    pub templates: Arc<crate::web::render::Templates>,
    /// Rate limits of sign-in and of plugin routes that declare one.
    pub limits: crate::rate_limit::RateLimiter,
    /// Live updates to members' open pages.
    pub live: Arc<crate::live::Live>,
    /// Remembered `Slots` answers.
    pub slot_cache: SlotCache,
    /// Signs and checks one-click unsubscribe links.
    pub unsubscribe: Arc<crate::unsubscribe::UnsubscribeKey>,
    /// DKIM signing of outgoing email, when configured.
    pub dkim: Option<Arc<crate::email::Dkim>>,
    _runtime: PluginRuntime,
    requests: AtomicU64,
    /// What the loaded plugins' abilities require.
    requirements: crate::abilities::Requirements,
}

impl Portal {
    /// Opens the database, loads every configured plugin, applies its migrations and
    /// registers its templates.
    pub fn start(config: Config, clock: Clock) -> Result<Portal, StartError> {
        let db = Db::open(&config.database_path())?;
        let unsubscribe = Arc::new(crate::unsubscribe::UnsubscribeKey::load_or_create(&config.data_dir)?);
        let dkim = match &config.email.dkim {
            Some(dkim) => Some(Arc::new(crate::email::Dkim::load(dkim).map_err(StartError::Email)?)),
            None => None,
        };
        let runtime = PluginRuntime::new(config.plugins.runtime.clone())
            .map_err(|e| StartError::Runtime(format!("{e:#}")))?;
        let mut templates = crate::web::render::Templates::new()?;
        let mut plugins: Vec<PluginEntry> = Vec::new();
        for path in &config.plugins.manifests {
            let plugin: LoadedPlugin<DbServices> = runtime.load(path)?;
            let id = plugin.id().to_owned();
            if let Some(other) = plugins.iter().find(|p| prefixes_overlap(p.id(), &id)) {
                return Err(StartError::Invalid(format!(
                    "plugins `{}` and `{id}` cannot both be loaded: their table prefixes overlap (an id may not equal or prefix another's)",
                    other.id()
                )));
            }
            let mut conn = db.writer()?;
            let applied = plugin_store::apply_migrations(
                &mut conn,
                &id,
                &plugin.description().migrations,
                clock.now(),
            )?;
            if !applied.is_empty() {
                tracing::info!(plugin = %id, ?applied, "applied plugin migrations");
            }
            templates.register_plugin(&id, &plugin.description().templates)?;
            tracing::info!(plugin = %id, version = plugin.manifest().version(), source = ?plugin.module_source(), "plugin loaded");
            let defaults = manifest::default_settings(&plugin.manifest().raw);
            let breaker = Breaker::new(config.plugins.breaker);
            plugins.push(PluginEntry { plugin, defaults, breaker });
        }
        let requirements =
            crate::abilities::requirements(plugins.iter().flat_map(|p| p.manifest().raw.abilities.iter()));
        let templates = Arc::new(templates);
        let limits = crate::rate_limit::RateLimiter::new(clock.clone());
        Ok(Portal {
            config,
            db,
            clock,
            plugins,
            templates,
            limits,
            live: Arc::default(),
            slot_cache: SlotCache::default(),
            unsubscribe,
            dkim,
            _runtime: runtime,
            requests: AtomicU64::new(0),
            requirements,
        })
    }

    /// Every ability declared by the loaded plugins.
    pub fn declared_abilities(&self) -> BTreeSet<String> {
        self.plugins
            .iter()
            .flat_map(|p| p.manifest().raw.abilities.iter().map(|a| a.name.as_str().to_owned()))
            .collect()
    }

    /// What the loaded plugins' abilities require (`requires` in their manifests).
    pub fn ability_requirements(&self) -> &crate::abilities::Requirements {
        &self.requirements
    }

    /// The signed-in member `user` with the abilities that take effect for them: granted,
    /// with everything they require granted too.
    pub fn member(&self, conn: &PooledConn, user: User) -> db::DbResult<Member> {
        let granted = db::abilities::of_member(conn, user.community_id, user.id, user.role)?;
        let abilities = crate::abilities::effective(granted, &self.requirements);
        Ok(Member { user, abilities })
    }

    /// The settings of `plugin` in `community`: defaults with the operator's overrides.
    pub fn settings(
        &self,
        conn: &rusqlite::Connection,
        community: &Community,
        plugin: &PluginEntry,
    ) -> db::DbResult<BTreeMap<String, SettingValue>> {
        let mut settings = plugin.defaults.clone();
        for (name, json) in db::settings::overrides(conn, community.id, plugin.id())? {
            let spec = plugin.manifest().raw.settings.get(&name);
            if let (Some(spec), Ok(value)) = (spec, serde_json::from_str::<serde_json::Value>(&json))
                && let Some(value) = setting_value(spec, &value)
            {
                settings.insert(name, value);
            }
        }
        Ok(settings)
    }

    fn context(
        &self,
        conn: &rusqlite::Connection,
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

    fn sql_limits(&self) -> SqlLimits {
        let limits = &self.config.plugins.runtime.limits;
        SqlLimits { time: Duration::from_millis(limits.sql_ms), max_bytes: limits.max_payload_bytes as usize }
    }

    /// Opens one plugin call: its transaction, and the call's context (read inside that
    /// transaction for a read-only call; for a call that may write, just before: its write
    /// transaction begins at its first host call).
    fn open_call(
        &self,
        plugin: &PluginEntry,
        community: &Community,
        member: Option<&Member>,
        access: Access,
    ) -> db::DbResult<(Context, DbServices)> {
        let mail = Arc::new(crate::plugins::services::Mail {
            templates: self.templates.clone(),
            public_url: self.config.public_url.clone(),
            community: community.clone(),
            unsubscribe: self.unsubscribe.clone(),
        });
        let services = DbServices::begin(
            &self.db,
            mail,
            self.live.clone(),
            plugin.manifest(),
            access,
            self.sql_limits(),
            self.clock.now(),
        )?;
        let ctx = match services.read_conn() {
            Some(conn) => self.context(conn, community, member, plugin)?,
            // Read before the call waits for its turn to write (a read of its own).
            None => self.context(&*self.db.get()?, community, member, plugin)?,
        };
        Ok((ctx, services))
    }

    /// The slot items of one page render: the manifest items the member may see, with
    /// ONE `Slots` call per plugin for badges and disabled reasons. A failing plugin's items
    /// are left out and the page renders.
    pub fn slots(&self, community: &Community, member: Option<&Member>, page: &SlotPage) -> Slots {
        self.slots_stored(community, member, page, None)
    }

    /// As [`Portal::slots`], with `plugin`'s items left out and `plugin` not asked: for the
    /// error page of a call in which it just failed (its `Slots` answering then would count
    /// as a recovery and reset its circuit breaker).
    pub fn slots_without(
        &self,
        community: &Community,
        member: Option<&Member>,
        page: &SlotPage,
        plugin: &PluginEntry,
    ) -> Slots {
        self.slots_stored(community, member, page, Some((plugin, None)))
    }

    /// [`Portal::slots_with`], then the plugins' breaker changes stored.
    fn slots_stored(
        &self,
        community: &Community,
        member: Option<&Member>,
        page: &SlotPage,
        known: Option<(&PluginEntry, Option<Vec<SlotFill>>)>,
    ) -> Slots {
        let mut health = Vec::new();
        let slots = self.slots_with(community, member, page, known, &mut health);
        for (plugin, note) in health {
            self.store_health(plugin, note);
        }
        slots
    }

    /// As [`Portal::slots`], with the fills of one plugin already known (asked in the
    /// instance that served the page). The plugins' breaker changes go to `health`, to be
    /// stored once no call of this thread holds the turn to write (see [`HealthNote`]).
    fn slots_with<'a>(
        &'a self,
        community: &Community,
        member: Option<&Member>,
        page: &SlotPage,
        known: Option<(&PluginEntry, Option<Vec<SlotFill>>)>,
        health: &mut Vec<(&'a PluginEntry, HealthNote)>,
    ) -> Slots {
        let mut slots = Slots::default();
        let Some(member) = member else { return slots };
        for plugin in &self.plugins {
            let items = self.visible_items(plugin, member, page);
            if items.is_empty() {
                continue;
            }
            let fills = match &known {
                Some((p, fills)) if std::ptr::eq(*p, plugin) => fills.clone(),
                _ => self.fill(plugin, community, member, page, &items, health),
            };
            if let Some(fills) = fills {
                self.add_items(&mut slots, community, plugin, &items, &fills, page);
            }
        }
        slots
    }

    /// Where `plugin`'s `Slots` answer for this member and page may be remembered, and for
    /// how long (ms); `None` when the plugin or the operator does not allow it.
    fn cacheable(
        &self,
        plugin: &PluginEntry,
        community: &Community,
        member: &Member,
        page: &SlotPage,
    ) -> Option<(SlotKey, i64)> {
        let seconds = plugin.manifest().raw.slots_cache_seconds;
        if !self.config.plugins.slot_cache || seconds == 0 {
            return None;
        }
        let key = SlotKey {
            plugin: plugin.id().to_owned(),
            community: community.id,
            viewer: member.user.id,
            is_admin: member.is_admin(),
            abilities: plugin_abilities(plugin, member),
            page: page.clone(),
        };
        Some((key, i64::from(seconds) * 1000))
    }

    /// One `Slots` answer: remembered, or asked in a read-only transaction (and remembered
    /// if the plugin allows it); the plugin's breaker change, if any, goes to `health`.
    fn fill<'a>(
        &self,
        plugin: &'a PluginEntry,
        community: &Community,
        member: &Member,
        page: &SlotPage,
        items: &[&plugin_api::manifest::SlotSpec],
        health: &mut Vec<(&'a PluginEntry, HealthNote)>,
    ) -> Option<Vec<SlotFill>> {
        let now = self.clock.now();
        // A plugin switched off by its breaker shows no slots, remembered or not.
        plugin.breaker.admit(now).ok()?;
        let cacheable = self.cacheable(plugin, community, member, page);
        self.remembered_or_asked(cacheable, now, db::commits(), || {
            let (ctx, services) = self
                .open_call(plugin, community, Some(member), Access::ReadOnly)
                .map_err(|e| tracing::error!(plugin = plugin.id(), error = %e, "cannot open the slots call"))
                .ok()?;
            let (result, services) = plugin.plugin.call(&slots_request(ctx, page, items), services);
            let _ = services.rollback();
            health.push((plugin, self.observe(plugin, &result)));
            slot_fills(plugin.id(), result)
        })
    }

    /// The remembered answer for `cacheable` if there is one; otherwise what `ask` answers,
    /// remembered when `cacheable` allows it. `began` is the commit count read before the
    /// asking call's transaction began.
    fn remembered_or_asked(
        &self,
        cacheable: Option<(SlotKey, i64)>,
        now: plugin_api::Timestamp,
        began: u64,
        ask: impl FnOnce() -> Option<Vec<SlotFill>>,
    ) -> Option<Vec<SlotFill>> {
        if let Some((key, max_age)) = &cacheable
            && let Some(fills) = self.slot_cache.get(key, db::commits(), now, *max_age)
        {
            return Some(fills);
        }
        let fills = ask()?;
        if let Some((key, _)) = cacheable {
            self.slot_cache.put(key, fills.clone(), began, db::commits(), now);
        }
        Some(fills)
    }

    fn visible_items<'p>(
        &self,
        plugin: &'p PluginEntry,
        member: &Member,
        page: &SlotPage,
    ) -> Vec<&'p plugin_api::manifest::SlotSpec> {
        plugin
            .manifest()
            .raw
            .slots
            .iter()
            .filter(|s| member.abilities.contains(s.ability.as_str()))
            .filter(|s| match s.slot {
                SlotName::ProfileActions => page.profile.is_some(),
                SlotName::GroupActions => page.group.is_some(),
                _ => true,
            })
            .collect()
    }

    fn add_items(
        &self,
        slots: &mut Slots,
        community: &Community,
        plugin: &PluginEntry,
        items: &[&plugin_api::manifest::SlotSpec],
        fills: &[SlotFill],
        page: &SlotPage,
    ) {
        for spec in items {
            let fill = fills.iter().find(|f| f.key == spec.key);
            if fill.is_some_and(|f| f.hidden) {
                continue;
            }
            let href = spec.link.as_ref().map(|link| {
                let link = link
                    .replace("{profile}", &page.profile.map(|p| p.0.to_string()).unwrap_or_default())
                    .replace("{group}", &page.group.map(|g| g.0.to_string()).unwrap_or_default());
                format!("/c/{}{}", community.slug, link)
            });
            slots.push(
                spec.slot,
                SlotItem {
                    plugin: plugin.id().to_owned(),
                    key: spec.key.clone(),
                    label: spec.label.clone(),
                    href,
                    badge: fill.and_then(|f| f.badge).filter(|b| *b > 0),
                    disabled_reason: fill.and_then(|f| f.disabled_reason.clone()),
                    icon: spec.icon,
                },
            );
        }
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
        let mut result = self.page_attempt(plugin, community, member, request.clone(), slot_page, csrf);
        if let Err(err) = &result {
            // Another call of its commit group failed, and nothing of this one was kept:
            // it runs once more, in a new transaction (a call has no effect outside it).
            tracing::info!(plugin = plugin.id(), error = %err, "running the call again");
            result = self.page_attempt(plugin, community, member, request, slot_page, csrf);
        }
        result.unwrap_or_else(|err| {
            tracing::error!(plugin = plugin.id(), error = %err, "could not finish the plugin's transaction");
            PageOutcome::Failed
        })
    }

    /// One run of a routed plugin page; `Err` when its commit group failed (see
    /// [`db::DbError::GroupFailed`]), so that it may run again.
    fn page_attempt(
        &self,
        plugin: &PluginEntry,
        community: &Community,
        member: &Member,
        request: PageRequest,
        slot_page: &SlotPage,
        csrf: &str,
    ) -> Result<PageOutcome, db::DbError> {
        let writes_on_get = plugin.manifest().raw.routes.iter().any(|r| r.name == request.route && r.writes);
        let access = match request.method {
            plugin_api::HttpMethod::Get if !writes_on_get => Access::ReadOnly,
            _ => Access::ReadWrite,
        };
        let commits = db::commits();
        let (ctx, services) = match self.open_call(plugin, community, Some(member), access) {
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
                    let cacheable = (access == Access::ReadOnly)
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
                match self.templates.render_plugin(plugin.id(), &template, &data, community, member, csrf) {
                    Ok(html) => {
                        let slots =
                            self.slots_with(community, Some(member), slot_page, known, &mut slots_health);
                        PageOutcome::Render { html, title, slots }
                    }
                    Err(err) => {
                        tracing::error!(plugin = plugin.id(), template, error = %err, "plugin template failed");
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
            && access != Access::ReadOnly;
        // The transaction ends (and the turn to write passes on) before the instance is
        // torn down.
        let finished = session.services_mut().end(committed);
        let services = session.finish();
        if committed && finished.is_ok() {
            services.send_updates();
        }
        for note in health {
            self.store_health(plugin, note);
        }
        for (other, note) in slots_health {
            self.store_health(other, note);
        }
        match finished {
            Ok(()) => Ok(outcome),
            Err(err @ db::DbError::GroupFailed(_)) => Err(err),
            Err(err) => {
                tracing::error!(plugin = plugin.id(), error = %err, "could not finish the plugin's transaction");
                Ok(PageOutcome::Failed)
            }
        }
    }
}

impl Portal {
    /// Runs one job for one community until the plugin says it is done (at most 10,000
    /// calls), each call in its own transaction, committed when the call succeeds.
    pub fn run_job(&self, plugin: &PluginEntry, community: &Community, job: &str) -> Result<String, String> {
        let mut summaries = Vec::new();
        for _ in 0..10_000 {
            if let Err(until) = plugin.breaker.admit(self.clock.now()) {
                return Err(format!("the plugin is switched off until {}", until.0));
            }
            let (ctx, services) =
                self.open_call(plugin, community, None, Access::ReadWrite).map_err(|e| e.to_string())?;
            let (result, services) =
                plugin.plugin.call(&PluginRequest::Job { ctx, job: job.to_owned() }, services);
            let health = self.observe(plugin, &result);
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

impl Portal {
    /// Counts a call's outcome in the plugin's circuit breaker and logs failures; the
    /// change, if any, is for [`Portal::store_health`] once the call's transaction ended.
    fn observe<T>(&self, plugin: &PluginEntry, result: &Result<T, CallError>) -> HealthNote {
        let now = self.clock.now();
        let change = match result {
            Ok(_) => plugin.breaker.success(),
            Err(err) => {
                tracing::warn!(plugin = %err.plugin, reason = %err.reason, "plugin call failed");
                plugin.breaker.failure(now)
            }
        };
        match (change, result) {
            (Change::None, _) | (Change::Failed { .. }, Ok(_)) => HealthNote(None),
            (Change::Recovered, _) => {
                tracing::info!(plugin = plugin.id(), "plugin answers again; its circuit breaker is closed");
                HealthNote(Some(HealthRecord::Recovered { now }))
            }
            (Change::Failed { consecutive, open_until }, Err(err)) => {
                if let Some(until) = open_until {
                    tracing::error!(
                        plugin = plugin.id(),
                        failures = consecutive,
                        cool_down_seconds = (until.0 - now.0) / 1000,
                        "plugin switched off after failing repeatedly (circuit breaker open)"
                    );
                }
                let reason = err.reason.to_string();
                HealthNote(Some(HealthRecord::Failed { consecutive, open_until, reason, now }))
            }
        }
    }

    /// Stores a breaker change for `portal plugin status`.
    fn store_health(&self, plugin: &PluginEntry, note: HealthNote) {
        let Some(record) = note.0 else { return };
        let stored = self.db.write().and_then(|txn| {
            match record {
                HealthRecord::Recovered { now } => {
                    db::plugin_health::record_recovery(&txn, plugin.id(), now)?
                }
                HealthRecord::Failed { consecutive, open_until, reason, now } => {
                    db::plugin_health::record_failure(
                        &txn,
                        plugin.id(),
                        consecutive,
                        open_until,
                        &reason,
                        now,
                    )?;
                }
            }
            txn.commit()
        });
        if let Err(err) = stored {
            tracing::error!(plugin = plugin.id(), error = %err, "could not store the plugin's health");
        }
    }
}

/// A change of a plugin's circuit breaker, to store once the call's transaction has ended:
/// the health table is written in a write transaction of its own, and while a call that
/// may write is open, it holds the turn to write (storing it earlier would wait for that
/// call's turn to end on the same thread: forever).
#[must_use]
struct HealthNote(Option<HealthRecord>);

/// What changed.
enum HealthRecord {
    Recovered {
        now: plugin_api::Timestamp,
    },
    Failed {
        consecutive: u32,
        open_until: Option<plugin_api::Timestamp>,
        reason: String,
        now: plugin_api::Timestamp,
    },
}

/// The member's abilities that `plugin` declares.
fn plugin_abilities(plugin: &PluginEntry, member: &Member) -> Vec<AbilityName> {
    let declared = &plugin.manifest().raw.abilities;
    member
        .abilities
        .iter()
        .filter(|a| declared.iter().any(|d| d.name.as_str() == a.as_str()))
        .map(|a| AbilityName(a.clone()))
        .collect()
}

/// The `Slots` request for these visible items of a page.
fn slots_request(ctx: Context, page: &SlotPage, items: &[&plugin_api::manifest::SlotSpec]) -> PluginRequest {
    PluginRequest::Slots { ctx, page: page.clone(), items: items.iter().map(|s| s.key.clone()).collect() }
}

fn slot_fills(plugin: &str, result: Result<PluginResponse, CallError>) -> Option<Vec<SlotFill>> {
    match result {
        Ok(PluginResponse::Slots(fills)) => Some(fills),
        Ok(PluginResponse::Error(err)) => {
            tracing::warn!(plugin, error = %err, "plugin refused to fill its slots; they are left out");
            None
        }
        Ok(_) | Err(_) => None,
    }
}

/// Whether two plugin ids' table prefixes overlap (`a_` is a prefix of `a_b_`).
fn prefixes_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (format!("{a}_"), format!("{b}_"));
    a.starts_with(&b) || b.starts_with(&a)
}

/// A stored override as a setting value, if it fits the setting's type.
pub fn setting_value(spec: &SettingSpec, value: &serde_json::Value) -> Option<SettingValue> {
    match spec {
        SettingSpec::Integer { min, max, .. } => {
            value.as_i64().filter(|v| min <= v && v <= max).map(SettingValue::Int)
        }
        SettingSpec::Boolean { .. } => value.as_bool().map(SettingValue::Bool),
        SettingSpec::Duration { .. } => value
            .as_str()
            .and_then(plugin_api::manifest::parse_duration)
            .and_then(|s| i64::try_from(s).ok())
            .map(SettingValue::Int),
        SettingSpec::Url { .. } => value
            .as_str()
            .filter(|s| s.is_empty() || s.starts_with("https://") || s.starts_with("http://"))
            .map(|s| SettingValue::Text(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn badge(count: u32) -> SlotItem {
        SlotItem {
            plugin: "p".into(),
            key: "k".into(),
            label: "unread".into(),
            href: None,
            badge: Some(count),
            disabled_reason: None,
            icon: None,
        }
    }

    /// A plugin's counts are untrusted: they add without wrapping and show as "99+".
    #[test]
    fn badge_counts_saturate_and_show_99_plus() {
        let mut slots = Slots::default();
        slots.push(SlotName::HeaderAvatarBadge, badge(u32::MAX));
        slots.push(SlotName::HeaderAvatarBadge, badge(2));
        assert_eq!(slots.badge_total, u32::MAX);
        let json = serde_json::to_value(&slots).unwrap();
        assert_eq!(json["badge_total"], "99+");
        assert_eq!(json["header_avatar_badge"][1]["badge"], 2);
        assert_eq!(json["header_avatar_badge"][0]["badge"], "99+");
    }
}
