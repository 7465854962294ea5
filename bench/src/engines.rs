//! Engines: the same portal on SQLite (one process), on PostgreSQL with one process and on
//! PostgreSQL with two processes sharing a database, side by side in one run: sending over
//! HTTP (16 members posting, each message acknowledged after its commit; with two
//! processes, half the members on each) and a profile page, the three taking turns in
//! [`ROUNDS`] rounds; each ratio (PostgreSQL / SQLite, two processes / one) is the median
//! of the rounds' ratios.
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
    sending_postgres_two: Stats,
    sending_ratio: f64,
    sending_two_ratio: f64,
    profile_sqlite: Stats,
    profile_postgres: Stats,
    profile_postgres_two: Stats,
    profile_ratio: f64,
    profile_two_ratio: f64,
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

/// A portal with the sending demo loaded (unless `demo` is `None`: a second process on a
/// database that has it), on `database` (a SQLite file when `None`).
fn portal(bench: &Bench, dir: &Path, demo: Option<&Path>, database: Option<&str>) -> anyhow::Result<Server> {
    let cache = dir.join("module-cache");
    let (config, port) = server::write_config(dir, &bench.manifest, &cache, "")?;
    if let Some(url) = database {
        let text = std::fs::read_to_string(&config)?;
        std::fs::write(&config, format!("database = {url:?}\n{text}"))?;
    }
    let manifest = bench.manifest.to_str().unwrap_or_default();
    server::cli(&bench.binary, &config, &["plugin", "check", manifest])?;
    let server = Server::start(&bench.binary, &config, port, demo)?;
    if demo.is_some() {
        server.cli(&["demo", "load", sending::demo_file(dir)?.to_str().unwrap_or_default()])?;
    }
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
    let (url, url_two) = (pg.database("bench")?, pg.database("bench_two")?);
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?];
    let sqlite = portal(bench, dirs[0].path(), Some(demo), None)?;
    let postgres = portal(bench, dirs[1].path(), Some(demo), Some(&url))?;
    let first = portal(bench, dirs[2].path(), Some(demo), Some(&url_two))?;
    let second = portal(bench, dirs[3].path(), None, Some(&url_two))?;
    let sides: [(Vec<&Server>, host::db::Location); 3] = [
        (vec![&sqlite], location(dirs[0].path(), None)),
        (vec![&postgres], location(dirs[1].path(), Some(&url))),
        (vec![&first, &second], location(dirs[2].path(), Some(&url_two))),
    ];
    let mut senders = Vec::new();
    let mut clients: [Vec<Client>; 3] = Default::default();
    for (k, (servers, db)) in sides.iter().enumerate() {
        let (signed_in, paths) = sending::senders_on(servers, db)?;
        clients[k] = signed_in;
        senders.push(sending::sender(paths));
    }
    let seconds = Duration::from_secs_f64(bench.seconds / ROUNDS as f64);
    let (sending, sending_ratio, sending_two_ratio) = measure(&mut clients, seconds, |k| senders[k].clone())?;
    let get = std::sync::Arc::new(|client: &mut Client, _: usize, _: usize| {
        Ok(browser::get(client, "/c/load/members/s1")?.status == 200)
    });
    let (profile, profile_ratio, profile_two_ratio) = measure(&mut clients, seconds, |_| get.clone())?;
    let [sending_sqlite, sending_postgres, sending_postgres_two] = sending;
    let [profile_sqlite, profile_postgres, profile_postgres_two] = profile;
    Ok(Report {
        sending_sqlite,
        sending_postgres,
        sending_postgres_two,
        sending_ratio,
        sending_two_ratio,
        profile_sqlite,
        profile_postgres,
        profile_postgres_two,
        profile_ratio,
        profile_two_ratio,
    })
}

/// [`ROUNDS`] rounds of `request(k)` by each side's clients in turn (SQLite, PostgreSQL,
/// PostgreSQL with two processes), `seconds` each: each side's stats, and the medians of
/// the rounds' ratios PostgreSQL / SQLite and two processes / one.
fn measure<F>(
    clients: &mut [Vec<Client>; 3],
    seconds: Duration,
    request: impl Fn(usize) -> std::sync::Arc<F>,
) -> anyhow::Result<([Stats; 3], f64, f64)>
where
    F: Fn(&mut Client, usize, usize) -> anyhow::Result<bool> + Send + Sync + 'static,
{
    let mut runs: [(Vec<f64>, Duration); 3] = Default::default();
    let (mut engines, mut processes) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let mut rates = [0.0; 3];
        for (k, side) in clients.iter_mut().enumerate() {
            let round = load::rounds(std::mem::take(side), seconds, request(k))?;
            *side = round.clients;
            rates[k] = round.latencies.len() as f64 / round.elapsed.as_secs_f64();
            runs[k].0.extend(round.latencies);
            runs[k].1 += round.elapsed;
        }
        engines.push(rates[1] / rates[0]);
        processes.push(rates[2] / rates[1]);
    }
    let median = |mut ratios: Vec<f64>| {
        ratios.sort_by(f64::total_cmp);
        load::percentile(&ratios, 50.0)
    };
    Ok((runs.map(|(latencies, elapsed)| load::stats(latencies, elapsed)), median(engines), median(processes)))
}

/// Prints the section.
pub fn print(report: &Report) {
    println!(
        "\n## Engines (16 clients; PostgreSQL with synchronous_commit = off; medians of {ROUNDS} rounds' ratios)"
    );
    println!(
        "| measure | SQLite, 1 process | PostgreSQL, 1 process | PostgreSQL, 2 processes | PostgreSQL / SQLite | 2 processes / 1 |"
    );
    println!("|---|---|---|---|---|---|");
    for (what, a, b, c, ratio, two) in [
        (
            "sending, messages/s (p99)",
            &report.sending_sqlite,
            &report.sending_postgres,
            &report.sending_postgres_two,
            report.sending_ratio,
            report.sending_two_ratio,
        ),
        (
            "profile page, req/s (p99)",
            &report.profile_sqlite,
            &report.profile_postgres,
            &report.profile_postgres_two,
            report.profile_ratio,
            report.profile_two_ratio,
        ),
    ] {
        println!(
            "| {what} | {:.0} ({:.1} ms) | {:.0} ({:.1} ms) | {:.0} ({:.1} ms) | {ratio:.2}x | {two:.2}x |",
            a.rps, a.p99_ms, b.rps, b.p99_ms, c.rps, c.p99_ms
        );
    }
}
