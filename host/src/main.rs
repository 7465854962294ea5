//! The `portal` binary: parses the command line, loads the configuration, runs a command.

use anyhow::Context as _;
use clap::Parser;
use host::cli::{self, Cli, Command, PluginCommand};
use host::plugins::NoServices;
use tracing_subscriber::EnvFilter;

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
            print!("{}", cli::describe(&plugin));
            println!("ok: manifest and module agree (id, version, ABI {})", plugin_api::ABI_VERSION);
            Ok(())
        }
        Command::Serve => {
            let runtime = cli::runtime(&config)?;
            for manifest in &config.plugins.manifests {
                let plugin = runtime
                    .load::<NoServices>(manifest)
                    .with_context(|| format!("loading the plugin of {}", manifest.display()))?;
                print!("{}", cli::describe(&plugin));
            }
            println!(
                "The web portal arrives with the next milestone; the plugins above loaded and answered Describe."
            );
            Ok(())
        }
    }
}
