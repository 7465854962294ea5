//! The `portal` command line: arguments (clap) and what each command prints.

use crate::config::Config;
use crate::plugins::engine::ModuleSource;
use crate::plugins::{HostServices, LoadedPlugin, PluginRuntime};
use clap::{Parser, Subcommand};
use plugin_api::manifest::SettingSpec;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The community portal.
#[derive(Debug, Parser)]
#[command(name = "portal", version, about)]
pub struct Cli {
    /// The configuration file; without it every setting has its default.
    #[arg(long, global = true, default_value = "portal.toml")]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A top-level command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the configured plugins and run the portal.
    Serve {
        /// Load this demo file first (communities that already exist are left alone).
        #[arg(long)]
        demo: Option<PathBuf>,
    },
    /// Grant, revoke and list abilities (feature flags) of a community.
    Abilities {
        /// The abilities command.
        #[command(subcommand)]
        command: AbilitiesCommand,
    },
    /// Override plugin settings per community.
    Settings {
        /// The settings command.
        #[command(subcommand)]
        command: SettingsCommand,
    },
    /// Demo data.
    Demo {
        /// The demo command.
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// Run plugin jobs by hand.
    Jobs {
        /// The jobs command.
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Events between plugins.
    Events {
        /// The events command.
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Commands for plugin authors and operators.
    Plugin {
        /// The plugin command.
        #[command(subcommand)]
        command: PluginCommand,
    },
}

/// `portal plugin ...`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Load a manifest and its module, run Describe, check that they agree, and print
    /// what the plugin declares. Exits non-zero on any problem.
    Check {
        /// The manifest, e.g. manifests/conversations.toml.
        manifest: PathBuf,
    },
    /// Show each configured plugin's health: on, or switched off by its circuit breaker
    /// after repeated failures, with the last failure and the last refused host call.
    Status,
    /// Run one call of a plugin in the real runtime and print the response, every host
    /// call (arguments, answer, time), the call's time, fuel and peak memory. Exits
    /// non-zero when the call fails.
    Run(RunArgs),
    /// Create a new plugin crate: manifest, one page, one menu entry behind one ability
    /// (off by default), and a test that runs it through the real runtime.
    New(NewArgs),
}

/// `portal plugin run MANIFEST --request FILE`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The plugin's manifest.
    pub manifest: PathBuf,
    /// The request file (JSON; `-` reads standard input), e.g.
    /// `{"as": "ada@riverside.example", "request": {"page": {"route": "index"}}}`.
    #[arg(long)]
    pub request: PathBuf,
    /// Run against this SQLite database (the plugin's migrations are applied to it, and
    /// the call commits as in the portal); default: a throwaway one with the demo data.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the call this many times (each in a fresh instance and transaction) and report
    /// min, median and max.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Roll back what the call wrote, even where the portal would commit it.
    #[arg(long)]
    pub rollback: bool,
}

/// `portal plugin new NAME`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin id: lowercase letters, digits and `_`, starting with a letter.
    pub name: String,
    /// The folder to create the crate in (as `<dir>/<name>`).
    #[arg(long, default_value = "plugins")]
    pub dir: PathBuf,
    /// A crate of its own (its own `[workspace]`, path dependencies on this portal)
    /// instead of a member of the portal's workspace.
    #[arg(long)]
    pub standalone: bool,
    /// The portal's source tree (for the path dependencies and the workspace);
    /// default: the current folder if it is one, else where this binary was built from.
    #[arg(long)]
    pub portal: Option<PathBuf>,
}

/// `portal abilities ...`.
#[derive(Debug, Subcommand)]
pub enum AbilitiesCommand {
    /// Grant an ability: everyone, role:admin, role:member, `group:<nickname>`, `user:<nickname or email>`.
    Grant {
        /// The community's slug.
        #[arg(long)]
        community: String,
        /// The ability, e.g. conversations.use.
        ability: String,
        /// Who gets it.
        grantee: String,
    },
    /// Revoke a grant.
    Revoke {
        /// The community's slug.
        #[arg(long)]
        community: String,
        /// The ability.
        ability: String,
        /// Who loses it.
        grantee: String,
    },
    /// List the grants of a community.
    List {
        /// The community's slug.
        #[arg(long)]
        community: String,
    },
}

/// `portal settings ...`.
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Show every plugin setting of a community: default, override, value in force.
    List {
        /// The community's slug.
        #[arg(long)]
        community: String,
    },
    /// Override a setting, e.g. `conversations.max_participants 5`.
    Set {
        /// The community's slug.
        #[arg(long)]
        community: String,
        /// `<plugin>.<setting>`.
        setting: String,
        /// The value.
        value: String,
    },
    /// Remove an override (the manifest's default applies again).
    Unset {
        /// The community's slug.
        #[arg(long)]
        community: String,
        /// `<plugin>.<setting>`.
        setting: String,
    },
}

/// `portal jobs ...`.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Run a job in a community now, whatever its schedule, e.g. `conversations.digest`
    /// (waits for nobody: if a portal holds the job's lease, nothing runs).
    Run {
        /// The community's slug.
        #[arg(long)]
        community: String,
        /// `<plugin>.<job>`.
        job: String,
    },
}

/// `portal events ...`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Deliver every event that is due now to its subscribers, then exit (what the serving
    /// portal's deliverer does continuously; for a process that serves with
    /// `[plugins.events] deliver = false`, or to drain a queue by hand). Prints how many
    /// were delivered and how fast.
    Deliver,
    /// Remove one waiting delivery for good (one whose subscriber can never take it, that
    /// holds up the events behind it): its id is in `portal plugin status`'s "stuck" line.
    Drop {
        /// The delivery's id.
        id: i64,
    },
}

/// `portal demo ...`.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Load a demo file into the database.
    Load {
        /// The file, e.g. fixtures/demo.toml.
        file: PathBuf,
    },
}

/// Whether `--config` was given explicitly (then the file must exist).
pub fn config_is_explicit() -> bool {
    std::env::args().any(|a| a == "--config" || a.starts_with("--config="))
}

/// Loads the configuration named on the command line.
pub fn load_config(cli: &Cli) -> Result<Config, crate::config::ConfigError> {
    Config::load(&cli.config, config_is_explicit())
}

/// A human-readable summary of a loaded plugin: what `portal plugin check` prints.
pub fn describe<S: HostServices>(plugin: &LoadedPlugin<S>) -> String {
    let m = &plugin.manifest().raw;
    let d = plugin.description();
    let mut out = String::new();
    let _ = writeln!(out, "plugin {} {} (ABI {}): {}", m.id, m.version, m.abi_version, m.name);
    let source = match plugin.module_source() {
        ModuleSource::Cache => "loaded from the compiled-module cache",
        ModuleSource::Compiled => "compiled",
    };
    let _ = writeln!(
        out,
        "  module        {} ({source} in {:.1} ms)",
        plugin.manifest().wasm_path.display(),
        plugin.module_load_time().as_secs_f64() * 1000.0
    );
    let caps: Vec<_> = plugin.manifest().capabilities.iter().map(|c| c.as_str()).collect();
    let _ =
        writeln!(out, "  capabilities  {}", if caps.is_empty() { "(none)".into() } else { caps.join(", ") });
    let _ = writeln!(out, "  abilities     (all off until an operator grants them)");
    for a in &m.abilities {
        let _ = writeln!(out, "    {:<28} {}", a.name, a.label);
    }
    let _ = match m.slots_cache_seconds {
        0 => writeln!(out, "  slots         (asked at every page)"),
        n => writeln!(out, "  slots         (answers reused up to {n} s, until the portal commits a write)"),
    };
    for s in &m.slots {
        let link = s.link.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "    {:<20} {:<16} {:<24} {:<28} needs {}",
            s.slot.as_str(),
            s.key,
            format!("\"{}\"", s.label),
            link,
            s.ability
        );
    }
    let _ = writeln!(out, "  routes");
    for r in &m.routes {
        let _ = writeln!(
            out,
            "    {:<5} /c/{{community}}{:<30} {:<16} needs {}",
            format!("{:?}", r.method).to_uppercase(),
            r.path,
            r.name,
            r.ability
        );
    }
    let _ = writeln!(out, "  jobs");
    for j in &plugin.manifest().jobs {
        let every = match &j.interval {
            crate::plugins::manifest::JobInterval::Fixed(s) => format!("every {s} s"),
            crate::plugins::manifest::JobInterval::Setting(name) => format!("every `{name}`"),
        };
        let _ = writeln!(out, "    {:<20} {:<28} needs {}", j.name, every, j.ability);
    }
    let _ = writeln!(out, "  settings");
    for (name, spec) in &m.settings {
        let shown = match spec {
            SettingSpec::Integer { default, min, max, .. } => format!("{default} (integer {min}..={max})"),
            SettingSpec::Boolean { default, .. } => format!("{default} (boolean)"),
            SettingSpec::Duration { default, .. } => format!("{default} (duration)"),
            SettingSpec::Url { default, .. } => format!("\"{default}\" (url)"),
        };
        let _ = writeln!(out, "    {name:<22} = {shown}");
    }
    if !m.preferences.is_empty() {
        let _ = writeln!(out, "  preferences");
        for p in &m.preferences {
            let _ = writeln!(out, "    {:<22} default {:<5} {}", p.key, p.default, p.label);
        }
    }
    describe_extensions(&mut out, m);
    let migrations: Vec<_> = d.migrations.iter().map(|m| format!("{} {}", m.version, m.name)).collect();
    let templates: Vec<_> = d.templates.iter().map(|t| t.name.as_str()).collect();
    let _ = writeln!(out, "  migrations    {}", migrations.join("; "));
    let _ = writeln!(out, "  templates     {}", templates.join(", "));
    out
}

/// The ABI 1.2 sections of a manifest: what the plugin offers other plugins and what it
/// takes from them.
fn describe_extensions(out: &mut String, m: &plugin_api::manifest::ManifestFile) {
    use plugin_api::manifest::ExtensionKind;
    if !m.events.is_empty() {
        let _ =
            writeln!(out, "  events        (emitted; subscribers get them after the emitting call commits)");
        for e in &m.events {
            let _ = writeln!(out, "    {:<36} payload {:<36} {}", e.name, e.payload, e.description);
        }
    }
    if !m.subscriptions.is_empty() {
        let _ = writeln!(
            out,
            "  subscriptions (delivered after commit, in order per community, retried until acknowledged)"
        );
        for s in &m.subscriptions {
            let _ = writeln!(out, "    {:<36} where {} is granted", s.event, s.ability);
        }
    }
    if !m.extension_points.is_empty() {
        let _ = writeln!(out, "  extension points");
        for p in &m.extension_points {
            let what = match p.kind {
                ExtensionKind::Check => format!(
                    "check, {} ms per implementer, on failure: {}{}",
                    p.cpu_ms.unwrap_or(plugin_api::manifest::DEFAULT_CHECK_CPU_MS),
                    p.on_failure.map_or("allow", |f| f.as_str()),
                    p.subject.as_deref().map(|s| format!(", subject {s}")).unwrap_or_default()
                ),
                ExtensionKind::Slot => format!("slot, params {}", p.params.join(", ")),
            };
            let _ = writeln!(out, "    {:<36} {what}: {}", p.name, p.description);
        }
    }
    if !m.implements.is_empty() {
        let _ = writeln!(out, "  implements    (answers allow, refuse or hold inside the asking call)");
        for i in &m.implements {
            let _ = writeln!(out, "    {:<36} where {} is granted", i.point, i.ability);
        }
    }
    if !m.extension_slots.is_empty() {
        let _ = writeln!(out, "  extension slots");
        for s in &m.extension_slots {
            let _ = writeln!(
                out,
                "    {:<36} {:<12} {:<12} {:<40} needs {}",
                s.point,
                s.key,
                format!("\"{}\"", s.label),
                s.link,
                s.ability
            );
        }
    }
}

/// What the plugins of `config` (with `checked` in place of the configured manifest of the
/// same id, or added) extend of each other; an error names an implementation,
/// subscription or slot item that no plugin declares.
pub fn check_extensions(
    config: &Config,
    checked: &plugin_api::manifest::ManifestFile,
) -> anyhow::Result<crate::extensions::Index> {
    let mut manifests = Vec::new();
    for path in &config.plugins.manifests {
        let m = crate::plugins::manifest::load(path)?;
        if m.id() != checked.id {
            manifests.push(m.raw);
        }
    }
    manifests.push(checked.clone());
    crate::extensions::Index::build(manifests.iter()).map_err(|e| {
        anyhow::anyhow!("{e} (checked against the plugins of the configuration: {})", {
            let ids: Vec<_> = manifests.iter().map(|m| m.id.as_str()).collect();
            ids.join(", ")
        })
    })
}

/// Who extends `id` and what `id` extends, from `index`: lines for `portal plugin check`.
pub fn describe_links(id: &str, index: &crate::extensions::Index) -> String {
    let mut out = String::new();
    for (name, point) in &index.checks {
        if point.declarer == id {
            let who: Vec<_> = point.implementers.iter().map(|i| i.plugin.as_str()).collect();
            let _ = writeln!(
                out,
                "  check point {name}: implemented by {}",
                if who.is_empty() { "no loaded plugin".to_owned() } else { who.join(", ") }
            );
        } else if point.implementers.iter().any(|i| i.plugin == id) {
            let _ = writeln!(out, "  implements {name}, declared by {}", point.declarer);
        }
    }
    for (event, subscribers) in &index.subscribers {
        let who: Vec<_> = subscribers.iter().map(|s| s.plugin.as_str()).collect();
        if index.events.get(event).is_some_and(|d| d == id) {
            let _ = writeln!(out, "  event {event}: received by {}", who.join(", "));
        } else if who.contains(&id) {
            let _ = writeln!(
                out,
                "  receives {event}, emitted by {}",
                index.events.get(event).map_or("?", String::as_str)
            );
        }
    }
    for (name, slot) in &index.slots {
        let who: Vec<_> = slot.items.iter().map(|(p, i)| format!("{p}.{}", i.key)).collect();
        if slot.declarer == id {
            let _ = writeln!(
                out,
                "  slot {name}: filled by {}",
                if who.is_empty() { "no loaded plugin".to_owned() } else { who.join(", ") }
            );
        } else if slot.items.iter().any(|(p, _)| p == id) {
            let _ = writeln!(out, "  fills slot {name}, declared by {}", slot.declarer);
        }
    }
    out
}

/// The line of `portal plugin status` about a plugin's queue of events.
pub fn queue_line(queue: &crate::db::extensions::QueueStatus, now: plugin_api::Timestamp) -> Option<String> {
    use plugin_api::time::relative;
    if queue.waiting == 0 {
        return None;
    }
    let mut out = format!("    events waiting: {}", queue.waiting);
    if let Some(oldest) = queue.oldest {
        let _ = write!(out, ", the oldest emitted {}", relative(oldest, now));
    }
    if queue.failing > 0 {
        let _ = write!(out, "; {} failing", queue.failing);
    }
    if let Some((id, attempts, event, error)) = &queue.worst {
        let _ = write!(
            out,
            "\n    stuck: delivery {id} of `{event}` failed {attempts} times; the last error: {error} \
             (`portal events drop {id}` removes it for good)"
        );
    }
    Some(out)
}

/// Builds the plugin runtime for `config`.
pub fn runtime(config: &Config) -> anyhow::Result<PluginRuntime> {
    PluginRuntime::new(config.plugins.runtime.clone())
        .map_err(|e| anyhow::anyhow!("cannot start the plugin runtime: {e:#}"))
}

/// The lines `portal plugin status` prints for one plugin.
pub fn status_line(
    id: &str,
    version: &str,
    health: Option<&crate::db::plugin_health::Health>,
    now: plugin_api::Timestamp,
) -> String {
    use plugin_api::time::{exact, relative};
    let Some(h) = health else {
        return format!("{id} {version}: on, no failures recorded");
    };
    let state = match h.open_until {
        Some(until) if h.open && until > now => format!(
            "SWITCHED OFF until {} ({}) after {} failures in a row",
            exact(until),
            relative(until, now),
            h.consecutive_failures
        ),
        Some(_) if h.open => "on again (cool-down over, next call decides)".to_owned(),
        _ => format!("on, {} failures in a row", h.consecutive_failures),
    };
    let mut out = format!("{id} {version}: {state}; {} failures in total", h.total_failures);
    if let (Some(at), Some(error)) = (h.last_failure_at, &h.last_error) {
        let _ = write!(out, "\n    last failure {} ({}): {error}", exact(at), relative(at, now));
    }
    if let (Some(at), Some(refusal)) = (h.last_refusal_at, &h.last_refusal) {
        let _ = write!(
            out,
            "\n    {} host calls refused; the last {} ({}): {refusal}",
            h.refusals,
            exact(at),
            relative(at, now)
        );
    }
    out
}
