//! Engines: the same portal on SQLite and on PostgreSQL (one process each), side by side
//! in one run: sending over HTTP (16 members posting, each message acknowledged after its
//! commit) and a profile page, the two engines taking turns in [`ROUNDS`] rounds; the
//! ratio PostgreSQL / SQLite is the median of the rounds' ratios.
//!
//! PostgreSQL is a throwaway server started with `scripts/postgres.sh serve` (Debian's
//! binaries), `synchronous_commit = off`: it loses at most the last moment's commits on a
//! power failure and is never corrupted, as SQLite in WAL mode with `synchronous = NORMAL`.

use crate::Bench;
use crate::browser::{self, Client};
use crate::load::{self, Stats};
use crate::sending;
use crate::server::{self, Server};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Rounds per measure; the engines alternate within each.
pub const ROUNDS: usize = 3;

#[derive(Serialize)]
pub struct Report {
    sending_sqlite: Stats,
    sending_postgres: Stats,
    sending_ratio: f64,
    profile_sqlite: Stats,
    profile_postgres: Stats,
    profile_ratio: f64,
}

/// A throwaway PostgreSQL server, stopped when dropped.
struct Postgres {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Postgres {
    fn start() -> anyhow::Result<Postgres> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh");
        let dir = tempfile::tempdir()?;
        let port = server::free_port()?;
        let child = Command::new("bash")
            .arg(&script)
            .args([
                "serve",
                dir.path().to_str().unwrap_or_default(),
                "-c",
                "synchronous_commit=off",
                "-c",
                "max_connections=200",
            ])
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Postgres { child, dir, port };
        let started = Instant::now();
        while postgres::Client::connect(&server.url("postgres"), postgres::NoTls).is_err() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://portal@127.0.0.1:{}/{database}", self.port)
    }

    /// A new database; its URL.
    fn database(&self, name: &str) -> anyhow::Result<String> {
        postgres::Client::connect(&self.url("postgres"), postgres::NoTls)?
            .batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(self.url(name))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The postmaster (not the `runuser` between it and the script) stops on SIGINT.
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).unwrap_or_default();
        if let Some(pid) = pid.lines().next() {
            let _ = Command::new("kill").args(["-INT", pid]).status();
        }
        let _ = self.child.wait();
    }
}

/// A portal with the sending demo loaded, on `database` (a SQLite file when `None`).
fn portal(bench: &Bench, dir: &Path, demo: &Path, database: Option<&str>) -> anyhow::Result<Server> {
    let cache = dir.join("module-cache");
    let (config, port) = server::write_config(dir, &bench.manifest, &cache, "")?;
    if let Some(url) = database {
        let text = std::fs::read_to_string(&config)?;
        std::fs::write(&config, format!("database = {url:?}\n{text}"))?;
    }
    let manifest = bench.manifest.to_str().unwrap_or_default();
    server::cli(&bench.binary, &config, &["plugin", "check", manifest])?;
    let server = Server::start(&bench.binary, &config, port, Some(demo))?;
    server.cli(&["demo", "load", sending::demo_file(dir)?.to_str().unwrap_or_default()])?;
    Ok(server)
}

/// Where a portal's database is.
fn location(dir: &Path, database: Option<&str>) -> host::db::Location {
    match database {
        Some(url) => host::db::Location::Postgres(url.to_owned()),
        None => host::db::Location::Sqlite(dir.join("portal.db")),
    }
}

/// Runs the section.
pub fn run(bench: &Bench, demo: &Path) -> anyhow::Result<Report> {
    let pg = Postgres::start()?;
    let url = pg.database("bench")?;
    let (sqlite_dir, pg_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let sqlite = portal(bench, sqlite_dir.path(), demo, None)?;
    let postgres = portal(bench, pg_dir.path(), demo, Some(&url))?;
    let mut sides: Vec<(Vec<Client>, _, std::sync::Arc<_>)> = Vec::new();
    for (server, dir, database) in
        [(&sqlite, sqlite_dir.path(), None), (&postgres, pg_dir.path(), Some(url.as_str()))]
    {
        let (clients, paths) = sending::senders(server, &location(dir, database))?;
        sides.push((clients, server.base.clone(), sending::sender(paths)));
    }
    let seconds = Duration::from_secs_f64(bench.seconds / ROUNDS as f64);
    let mut sends: [(Vec<f64>, Duration); 2] = Default::default();
    let mut ratios = Vec::new();
    for _ in 0..ROUNDS {
        let mut rates = [0.0; 2];
        for (k, side) in sides.iter_mut().enumerate() {
            let round = load::rounds(std::mem::take(&mut side.0), seconds, side.2.clone())?;
            side.0 = round.clients;
            rates[k] = round.latencies.len() as f64 / round.elapsed.as_secs_f64();
            sends[k].0.extend(round.latencies);
            sends[k].1 += round.elapsed;
        }
        ratios.push(rates[1] / rates[0]);
    }
    let mut profiles: [(Vec<f64>, Duration); 2] = Default::default();
    let mut page_ratios = Vec::new();
    for _ in 0..ROUNDS {
        let mut rates = [0.0; 2];
        for (k, side) in sides.iter_mut().enumerate() {
            let get = std::sync::Arc::new(|client: &mut Client, _: usize, _: usize| {
                Ok(browser::get(client, "/c/load/members/s1")?.status == 200)
            });
            let round = load::rounds(std::mem::take(&mut side.0), seconds, get)?;
            side.0 = round.clients;
            rates[k] = round.latencies.len() as f64 / round.elapsed.as_secs_f64();
            profiles[k].0.extend(round.latencies);
            profiles[k].1 += round.elapsed;
        }
        page_ratios.push(rates[1] / rates[0]);
    }
    ratios.sort_by(f64::total_cmp);
    page_ratios.sort_by(f64::total_cmp);
    let [(s0, t0), (s1, t1)] = sends;
    let [(p0, u0), (p1, u1)] = profiles;
    Ok(Report {
        sending_sqlite: load::stats(s0, t0),
        sending_postgres: load::stats(s1, t1),
        sending_ratio: load::percentile(&ratios, 50.0),
        profile_sqlite: load::stats(p0, u0),
        profile_postgres: load::stats(p1, u1),
        profile_ratio: load::percentile(&page_ratios, 50.0),
    })
}

/// Prints the section.
pub fn print(report: &Report) {
    println!("\n## Engines (one portal process each, 16 clients; PostgreSQL with synchronous_commit = off)");
    println!("| measure | SQLite | PostgreSQL | PostgreSQL / SQLite (median of {ROUNDS} rounds) |");
    println!("|---|---|---|---|");
    for (what, a, b, ratio) in [
        ("sending, messages/s (p99)", &report.sending_sqlite, &report.sending_postgres, report.sending_ratio),
        ("profile page, req/s (p99)", &report.profile_sqlite, &report.profile_postgres, report.profile_ratio),
    ] {
        println!(
            "| {what} | {:.0} ({:.1} ms) | {:.0} ({:.1} ms) | {ratio:.2}x |",
            a.rps, a.p99_ms, b.rps, b.p99_ms
        );
    }
}
