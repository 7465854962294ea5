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
    let mut sides: Vec<(Vec<Client>, _)> = sides
        .iter()
        .map(|(servers, db)| {
            let (clients, paths) = sending::senders_on(servers, db)?;
            Ok((clients, sending::sender(paths)))
        })
        .collect::<anyhow::Result<_>>()?;
    let seconds = Duration::from_secs_f64(bench.seconds / ROUNDS as f64);
    let mut sends: [(Vec<f64>, Duration); 3] = Default::default();
    let mut ratios = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let mut rates = [0.0; 3];
        for (k, side) in sides.iter_mut().enumerate() {
            let round = load::rounds(std::mem::take(&mut side.0), seconds, side.1.clone())?;
            side.0 = round.clients;
            rates[k] = round.latencies.len() as f64 / round.elapsed.as_secs_f64();
            sends[k].0.extend(round.latencies);
            sends[k].1 += round.elapsed;
        }
        ratios.0.push(rates[1] / rates[0]);
        ratios.1.push(rates[2] / rates[1]);
    }
    let mut profiles: [(Vec<f64>, Duration); 3] = Default::default();
    let mut page_ratios = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let mut rates = [0.0; 3];
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
        page_ratios.0.push(rates[1] / rates[0]);
        page_ratios.1.push(rates[2] / rates[1]);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        load::percentile(&v, 50.0)
    };
    let [(s0, t0), (s1, t1), (s2, t2)] = sends;
    let [(p0, u0), (p1, u1), (p2, u2)] = profiles;
    Ok(Report {
        sending_sqlite: load::stats(s0, t0),
        sending_postgres: load::stats(s1, t1),
        sending_postgres_two: load::stats(s2, t2),
        sending_ratio: median(ratios.0),
        sending_two_ratio: median(ratios.1),
        profile_sqlite: load::stats(p0, u0),
        profile_postgres: load::stats(p1, u1),
        profile_postgres_two: load::stats(p2, u2),
        profile_ratio: median(page_ratios.0),
        profile_two_ratio: median(page_ratios.1),
    })
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
