//! The `portal` binary: parses the command line, loads the configuration, runs a command.

use anyhow::{Context as _, anyhow};
use clap::Parser;
use host::abilities;
use host::cli::{
    self, AbilitiesCommand, Cli, Command, DemoCommand, EventsCommand, JobsCommand, PluginCommand,
    SettingsCommand,
};
use host::clock::Clock;
use host::config::Config;
use host::db::{self, Db};
use host::plugins::{NoServices, manifest};
use host::portal::Portal;
use std::collections::BTreeSet;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: a page render allocates and frees many
/// small strings and JSON values on several threads at once, which glibc's allocator
/// handles slowly (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli::load_config(&cli)?;
    match cli.command {
        Command::Plugin { command: PluginCommand::Check { manifest } } => {
            let runtime = cli::runtime(&config)?;
            let plugin = runtime.load::<NoServices>(&manifest)?;
            // The templates go through the same sandbox as when the portal starts.
            host::render::Templates::new()?.register_plugin(plugin.id(), &plugin.description().templates)?;
            let index = cli::check_extensions(&config, &plugin.manifest().raw)?;
            print!("{}", cli::describe(&plugin));
            print!("{}", cli::describe_links(plugin.id(), &index));
            println!("ok: manifest and module agree (id, version, ABI {})", plugin_api::ABI_VERSION);
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Status } => {
            let db = Db::connect(&config.database())?;
            let conn = db.get()?;
            let now = host::clock::system_now();
            for path in &config.plugins.manifests {
                let m = manifest::load(path)?;
                let health = db::plugin_health::get(&conn, m.id())?;
                println!("{}", cli::status_line(m.id(), m.version(), health.as_ref(), now));
                let queue = db::extensions::queue_status(&conn, m.id(), None)?;
                if let Some(line) = cli::queue_line(&queue, now) {
                    println!("{line}");
                }
            }
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Run(args) } => plugin_run(&config, args),
        Command::Plugin { command: PluginCommand::New(args) } => {
            let created = host::authoring::new::create(&args)?;
            print!("{}", created.next_steps());
            Ok(())
        }
        Command::Serve { demo } => serve(config, demo),
        Command::Demo { command: DemoCommand::Load { file } } => {
            let portal = Portal::start(config, Clock::system())?;
            let created = host::demo::load(&portal, &host::demo::read(&file)?)?;
            println!("loaded {} new communities: {}", created.len(), created.join(", "));
            Ok(())
        }
        Command::Jobs { command: JobsCommand::Run { community, job } } => {
            let (plugin, job) =
                job.split_once('.').ok_or_else(|| anyhow!("write the job as <plugin>.<job>"))?;
            let portal = Portal::start(config, Clock::system())?;
            let holder = format!("cli-{}", std::process::id());
            match host::jobs::run_now(&portal, plugin, job, &community, &holder).map_err(|e| anyhow!(e))? {
                Some(run) if run.ok => println!("{plugin}.{job} in {community}: {}", run.summary),
                Some(run) => return Err(anyhow!("{plugin}.{job} in {community} failed: {}", run.summary)),
                None => {
                    println!("{plugin}.{job} in {community} is running elsewhere right now; nothing done")
                }
            }
            Ok(())
        }
        Command::Abilities { command } => abilities_command(&config, command),
        Command::Settings { command } => settings_command(&config, command),
        Command::Events { command: EventsCommand::Drop { id } } => {
            let db = Db::connect(&config.database())?;
            let txn = db.write()?;
            let dropped = db::extensions::drop_delivery(&txn, id)?;
            txn.commit()?;
            match dropped {
                Some(p) => println!(
                    "dropped delivery {id}: `{}` from {} to {} (community {}), after {} failed attempts",
                    p.event, p.source, p.subscriber, p.community, p.attempts
                ),
                None => return Err(anyhow!("there is no waiting delivery {id}")),
            }
            Ok(())
        }
        Command::Events { command: EventsCommand::Deliver } => {
            let portal = Portal::start(config, Clock::system())?;
            let started = std::time::Instant::now();
            let pass = host::deliveries::deliver_due(&portal)?;
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "delivered {} events ({} failed and wait for a retry) in {seconds:.3} s: {:.0} per second",
                pass.delivered,
                pass.failed,
                pass.delivered as f64 / seconds.max(1e-9)
            );
            Ok(())
        }
    }
}

/// `portal plugin run`: the request is read and checked before the portal starts.
fn plugin_run(config: &Config, args: cli::RunArgs) -> anyhow::Result<()> {
    use host::authoring::request::RequestFile;
    use host::authoring::run::{RunOptions, Runner, read_request};
    let (text, source) = read_request(&args.request)?;
    let file = RequestFile::parse(&text, &source)?;
    let runner = Runner::start(config, &args.manifest, args.db.as_deref())?;
    let report = runner.run(&file, &source, RunOptions { repeat: args.repeat, rollback: args.rollback })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    if report.ok() {
        Ok(())
    } else {
        Err(anyhow!("the call failed; the report above says why and what to fix"))
    }
}

fn serve(config: Config, demo: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let portal = Portal::start(config, Clock::system())?;
    portal.hear_other_processes()?;
    // With demo data, one sign-in to try, printed once the portal serves.
    let mut try_first = None;
    if let Some(file) = demo {
        let demo = host::demo::read(&file)?;
        let created = host::demo::load(&portal, &demo)?;
        if !created.is_empty() {
            tracing::info!(communities = ?created, "demo data loaded");
        }
        try_first = demo.communities.first().and_then(|c| {
            let member = c.members.iter().find(|m| !m.admin).or(c.members.first())?;
            Some(format!("/c/{}/sign-in as {} with the password {}", c.slug, member.email, demo.password))
        });
    }
    let listen = portal.config.listen.clone();
    let public_url = portal.config.public_url.clone();
    host::email::spawn_worker(portal.clone()).map_err(|e| anyhow!(e))?;
    if portal.config.jobs.enabled {
        host::jobs::spawn_scheduler(portal.clone()).map_err(|e| anyhow!(e))?;
    }
    if portal.config.plugins.events.deliver {
        host::deliveries::spawn(portal.clone()).map_err(|e| anyhow!(e))?;
    }
    let live = portal.live.clone();
    let app = host::web::app(portal).map_err(|e| anyhow!(e))?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(address = %listen, "portal listening");
        println!("Portal running at {public_url} (listening on {listen}). Stop with Ctrl-C.");
        if let Some(sign_in) = &try_first {
            println!("Try it: sign in at {}{sign_in}", public_url.trim_end_matches('/'));
        }
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown_signal().await;
                tracing::info!("shutting down: finishing requests, closing live update streams");
                live.close();
            })
            .await
            .context("the web server failed")
    })
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (what service managers send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// The abilities the configured manifests declare, and what they require (no module is
/// loaded).
fn declared_abilities(config: &Config) -> anyhow::Result<(BTreeSet<String>, abilities::Requirements)> {
    let mut known = BTreeSet::new();
    let mut requirements = abilities::Requirements::new();
    for path in &config.plugins.manifests {
        let m = manifest::load(path)?;
        known.extend(m.raw.abilities.iter().map(|a| a.name.as_str().to_owned()));
        requirements.extend(abilities::requirements(&m.raw.abilities));
    }
    Ok((known, requirements))
}

fn abilities_command(config: &Config, command: AbilitiesCommand) -> anyhow::Result<()> {
    let (known, requirements) = declared_abilities(config)?;
    let db = Db::connect(&config.database())?;
    let conn = db.writer()?;
    let community_of = |slug: &str| -> anyhow::Result<db::communities::Community> {
        db::communities::by_slug(&conn, slug)?.ok_or_else(|| anyhow!("no community `{slug}`"))
    };
    match command {
        AbilitiesCommand::Grant { community, ability, grantee } => {
            let c = community_of(&community)?;
            let added = abilities::grant(&conn, &c, &known, &ability, &grantee, host::clock::system_now())?;
            println!(
                "{}",
                if added {
                    format!("granted {ability} to {grantee} in {community}")
                } else {
                    format!("{grantee} already had {ability} in {community}")
                }
            );
        }
        AbilitiesCommand::Revoke { community, ability, grantee } => {
            let c = community_of(&community)?;
            let removed = abilities::revoke(&conn, &c, &known, &ability, &grantee)?;
            println!(
                "{}",
                if removed {
                    format!("revoked {ability} from {grantee} in {community}")
                } else {
                    format!("{grantee} did not have {ability} in {community}")
                }
            );
        }
        AbilitiesCommand::List { community } => {
            let c = community_of(&community)?;
            let grants = abilities::list(&conn, &c)?;
            let granted_somewhere: BTreeSet<&str> = grants.iter().map(|(g, _)| g.ability.as_str()).collect();
            for ability in &known {
                let who: Vec<_> = grants
                    .iter()
                    .filter(|(g, _)| &g.ability == ability)
                    .map(|(_, shown)| shown.as_str())
                    .collect();
                let mut line = format!(
                    "{ability:<28} {}",
                    if who.is_empty() { "off".to_owned() } else { who.join(", ") }
                );
                if let Some(needs) = requirements.get(ability) {
                    line.push_str(&format!(" (needs {})", needs.join(", ")));
                }
                let unmet = abilities::unmet(&requirements, ability, &granted_somewhere);
                if !who.is_empty() && !unmet.is_empty() {
                    line.push_str(&format!(" -- no effect: nobody has {}", unmet.join(", ")));
                }
                println!("{line}");
            }
        }
    }
    Ok(())
}

fn settings_command(config: &Config, command: SettingsCommand) -> anyhow::Result<()> {
    let manifests: Vec<_> =
        config.plugins.manifests.iter().map(|p| manifest::load(p)).collect::<Result<_, _>>()?;
    let db = Db::connect(&config.database())?;
    let conn = db.writer()?;
    let community_of = |slug: &str| -> anyhow::Result<db::communities::Community> {
        db::communities::by_slug(&conn, slug)?.ok_or_else(|| anyhow!("no community `{slug}`"))
    };
    let split = |setting: &str| -> anyhow::Result<(&host::plugins::PluginManifest, String)> {
        let (plugin, name) =
            setting.split_once('.').ok_or_else(|| anyhow!("write the setting as <plugin>.<setting>"))?;
        let m = manifests.iter().find(|m| m.id() == plugin).ok_or_else(|| anyhow!("no plugin `{plugin}`"))?;
        Ok((m, name.to_owned()))
    };
    match command {
        SettingsCommand::List { community } => {
            let c = community_of(&community)?;
            for m in &manifests {
                let overrides = db::settings::overrides(&conn, c.id, m.id())?;
                let defaults = manifest::default_settings(&m.raw);
                for name in m.raw.settings.keys() {
                    let default = defaults.get(name).map(|v| format!("{v:?}")).unwrap_or_default();
                    let set = overrides.get(name).map_or("-".to_owned(), Clone::clone);
                    println!("{:<36} default {:<22} override {}", format!("{}.{name}", m.id()), default, set);
                }
            }
        }
        SettingsCommand::Set { community, setting, value } => {
            let c = community_of(&community)?;
            let (m, name) = split(&setting)?;
            host::plugin_settings::set(&conn, &c, m, &name, &value)?;
            println!("{setting} = {value} in {community}");
        }
        SettingsCommand::Unset { community, setting } => {
            let c = community_of(&community)?;
            let (m, name) = split(&setting)?;
            host::plugin_settings::unset(&conn, &c, m, &name)?;
            println!("{setting} is back to its default in {community}");
        }
    }
    Ok(())
}
