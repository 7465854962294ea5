//! The real `portal` binary on a loopback port, with its own data directory: start it,
//! time its start-up, read its resident memory, run its CLI on the same database.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running portal process.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its `portal.toml`.
    pub config: PathBuf,
    /// From spawning the process to the first 200 response.
    pub startup: Duration,
    binary: PathBuf,
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Writes a `portal.toml` for `data_dir` with `manifest` and `extra` TOML appended.
pub fn write_config(
    data_dir: &Path,
    manifest: &Path,
    cache: &Path,
    extra: &str,
) -> anyhow::Result<(PathBuf, u16)> {
    write_config_as(data_dir, "portal.toml", manifest, cache, "", extra)
}

/// Writes the configuration file `file` in `data_dir` with `manifest`, `plugins` TOML in
/// its `[plugins]` table and `extra` TOML appended.
pub fn write_config_as(
    data_dir: &Path,
    file: &str,
    manifest: &Path,
    cache: &Path,
    plugins: &str,
    extra: &str,
) -> anyhow::Result<(PathBuf, u16)> {
    let port = free_port()?;
    let config = data_dir.join(file);
    let manifest = std::fs::canonicalize(manifest)?;
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\ndata_dir = {data_dir:?}\n\
             [plugins]\nmanifests = [{manifest:?}]\n{plugins}\n[plugins.runtime]\ncache_dir = {cache:?}\n\
             [jobs]\nenabled = false\n[web.sign_in]\nattempts_per_address = 1000000\n{extra}"
        ),
    )?;
    Ok((config, port))
}

impl Server {
    /// Starts `binary serve` with `config` (and `--demo demo` if given) and waits for `/`.
    pub fn start(binary: &Path, config: &Path, port: u16, demo: Option<&Path>) -> anyhow::Result<Server> {
        let mut command = Command::new(binary);
        command.arg("--config").arg(config).arg("serve").env("RUST_LOG", "error");
        if let Some(demo) = demo {
            command.arg("--demo").arg(demo);
        }
        let started = Instant::now();
        let child = command.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn()?;
        let base = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut server = Server {
            child,
            base,
            config: config.to_owned(),
            startup: Duration::ZERO,
            binary: binary.to_owned(),
        };
        while started.elapsed() < Duration::from_secs(120) {
            if agent.get(&format!("{}/", server.base)).call().is_ok_and(|r| r.status() == 200) {
                server.startup = started.elapsed();
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("the portal exited during start-up: {status}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        anyhow::bail!("the portal did not answer within two minutes")
    }

    /// Resident memory of the process, in MiB.
    pub fn rss_mib(&self) -> f64 {
        rss_mib(self.child.id())
    }

    /// Runs a `portal` command on the same configuration.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        cli(&self.binary, &self.config, args)
    }
}

/// Runs `binary --config config args…` and returns its output.
pub fn cli(binary: &Path, config: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out =
        Command::new(binary).arg("--config").arg(config).args(args).env("RUST_LOG", "error").output()?;
    anyhow::ensure!(out.status.success(), "portal {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of process `pid` in MiB (0 if unknown).
pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
