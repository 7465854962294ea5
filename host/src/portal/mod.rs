//! The running portal: its start-up (database, plugins, migrations, templates) and the
//! state every request shares. What it does with plugins is in the submodules: `calls`
//! (context, pages, jobs), `slots` (a page's slot items), `health` (the breaker's
//! notes) and `settings` (a plugin's settings in a community).

mod calls;
mod extend;
mod health;
mod settings;
mod slots;

pub use crate::view::{Member, SlotItem, Slots};
pub use settings::setting_value;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::plugin_store::{self};
use crate::db::users::User;
use crate::db::{self, Db, PooledConn};
use crate::plugins::breaker::Breaker;
use crate::plugins::manifest::{self, PluginManifest};
use crate::plugins::services::DbServices;
use crate::plugins::{LoadError, LoadedPlugin, PluginRuntime};
use crate::slot_cache::SlotCache;
use plugin_api::SettingValue;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

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
    Template(#[from] crate::render::TemplateError),
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
    pub templates: Arc<crate::render::Templates>,
    /// Rate limits of sign-in and of plugin routes that declare one.
    pub limits: crate::rate_limit::RateLimiter,
    /// Live updates to members' open pages.
    pub live: Arc<crate::live::Live>,
    /// Remembered `Slots` answers.
    pub slot_cache: SlotCache,
    /// Signs and checks one-click unsubscribe links.
    pub unsubscribe: Arc<crate::unsubscribe::UnsubscribeKey>,
    /// DKIM signing of outgoing email, when configured.
    pub dkim: Option<Arc<crate::email::dkim::Dkim>>,
    _runtime: PluginRuntime,
    requests: AtomicU64,
    /// What the loaded plugins' abilities require.
    requirements: crate::abilities::Requirements,
    /// Who extends whom among the loaded plugins.
    extensions: Arc<crate::extensions::Index>,
    /// Wakes the event deliverer.
    wake: Arc<crate::deliveries::Wake>,
    /// This portal, for the calls that run other plugins' checks.
    me: std::sync::Weak<Portal>,
}

impl Portal {
    /// Opens the database, loads every configured plugin, applies its migrations and
    /// registers its templates.
    pub fn start(config: Config, clock: Clock) -> Result<Arc<Portal>, StartError> {
        let db = Db::connect(&config.database())?;
        let unsubscribe = Arc::new(crate::unsubscribe::UnsubscribeKey::load_or_create(&config.data_dir)?);
        let dkim = match &config.email.dkim {
            Some(dkim) => Some(Arc::new(crate::email::dkim::Dkim::load(dkim).map_err(StartError::Email)?)),
            None => None,
        };
        let runtime = PluginRuntime::new(config.plugins.runtime.clone())
            .map_err(|e| StartError::Runtime(format!("{e:#}")))?;
        let mut templates = crate::render::Templates::new()?;
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
            let conn = db.writer()?;
            let applied =
                plugin_store::apply_migrations(&conn, &id, &plugin.description().migrations, clock.now())?;
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
        let extensions = crate::extensions::Index::build(plugins.iter().map(|p| &p.manifest().raw))
            .map_err(StartError::Invalid)?;
        let templates = Arc::new(templates);
        let limits = crate::rate_limit::RateLimiter::for_db(clock.clone(), &db);
        let portal = Arc::new_cyclic(|me| Portal {
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
            extensions: Arc::new(extensions),
            wake: Arc::default(),
            me: me.clone(),
        });
        Ok(portal)
    }

    /// From now on, sends the live updates other portal processes on this database commit
    /// to the open pages this one serves, and wakes the deliverer when they queued events
    /// (each of their commits also counts in [`Db::commits`], so remembered slot answers
    /// go). For a portal that serves pages (`portal serve`); a command that runs once has
    /// no one to tell. Returns once listening.
    pub fn hear_other_processes(&self) -> db::DbResult<()> {
        let live = Arc::downgrade(&self.live);
        let wake = self.wake.clone();
        self.db.listen(Arc::new(move |heard| {
            let Some(live) = live.upgrade() else { return };
            match heard {
                db::announce::Heard::Commit(what) => {
                    if what.deliveries {
                        wake.notify();
                    }
                    for batch in what.live {
                        let update = plugin_api::live::LiveUpdate { topics: batch.topics };
                        live.send(
                            batch.community,
                            batch.users.into_iter().map(|user| (user, update.clone())),
                        );
                    }
                }
                db::announce::Heard::Missed => {
                    wake.notify();
                    live.resync_all();
                }
            }
        }))
    }

    /// Who extends whom among the loaded plugins.
    pub fn extensions(&self) -> &crate::extensions::Index {
        &self.extensions
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
}

/// Whether two plugin ids' table prefixes overlap (`a_` is a prefix of `a_b_`).
fn prefixes_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (format!("{a}_"), format!("{b}_"));
    a.starts_with(&b) || b.starts_with(&a)
}

/// The member's abilities that `plugin` declares.
fn plugin_abilities(plugin: &PluginEntry, member: &Member) -> Vec<plugin_api::AbilityName> {
    let declared = &plugin.manifest().raw.abilities;
    member
        .abilities
        .iter()
        .filter(|a| declared.iter().any(|d| d.name.as_str() == a.as_str()))
        .map(|a| plugin_api::AbilityName(a.clone()))
        .collect()
}
