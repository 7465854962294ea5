//! A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries
//! (`scripts/postgres.sh`, run by `make test`, installs them), `initdb` in a temporary
//! directory, listening on loopback only, one per test process, each test with a database
//! of its own. The server is stopped, and its directory removed, when the test process
//! ends, however it ends: a shell watches the test process's pipe and stops the server
//! when the pipe closes.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Server {
    port: u16,
    next: AtomicU32,
    /// The watching shell; its stdin is the pipe whose end stops the server.
    _watcher: Mutex<Child>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The directory of PostgreSQL's server binaries.
fn binaries() -> PathBuf {
    if let Some(dir) = std::env::var_os("PORTAL_POSTGRES_BIN") {
        return dir.into();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    found.pop().unwrap_or_else(|| {
        panic!("the tests on PostgreSQL need its server binaries: run scripts/postgres.sh (make test does)")
    })
}

fn start() -> Server {
    let bin = binaries();
    let dir = tempfile::Builder::new().prefix("portal-pg-").tempdir().expect("temp dir").keep();
    let root = is_root();
    // initdb and postgres refuse to run as root: they run as the package's `postgres` user.
    let as_user = |program: PathBuf| -> Command {
        if root {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    };
    if root {
        let chown = Command::new("chown").arg("postgres").arg(&dir).status().expect("chown");
        assert!(chown.success(), "cannot give {} to the postgres user", dir.display());
    }
    let data = dir.join("data");
    let out = as_user(bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", "portal", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        .output()
        .expect("initdb runs");
    assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let server = as_user(bin.join("postgres"));
    let command = format!(
        "{} -D {} -k {} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB",
        shell_words(&server),
        data.display(),
        dir.display(),
    );
    // The shell starts the server, waits until its stdin (this process's pipe) closes, then
    // stops the server (fast shutdown: SIGINT to the postmaster, whose pid the server
    // writes down, not to the `runuser` between them) and removes the directory.
    let script = format!(
        "{command} >{log} 2>&1 & cat >/dev/null; kill -INT $(head -n 1 {pidfile}); wait; rm -rf {dir}",
        log = dir.join("server.log").display(),
        pidfile = data.join("postmaster.pid").display(),
        dir = dir.display(),
    );
    let mut watcher = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let started = Instant::now();
    let admin = format!("postgres://portal@127.0.0.1:{port}/postgres");
    while postgres::Client::connect(&admin, postgres::NoTls).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("PostgreSQL did not start on port {port}: {log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing is written to the pipe: it only has to stay open while this process lives.
    let _ = watcher.stdin.as_mut().map(|s| s.flush());
    Server { port, next: AtomicU32::new(0), _watcher: Mutex::new(watcher) }
}

/// The command line of `cmd`, for the shell.
fn shell_words(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether this process runs as root (from `id -u`).
fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The URL of a new, empty database on the throwaway server (started at the first call).
pub fn database() -> String {
    let server = SERVER.get_or_init(start);
    let name = format!("test_{}_{}", std::process::id(), server.next.fetch_add(1, Ordering::SeqCst));
    let mut admin = postgres::Client::connect(
        &format!("postgres://portal@127.0.0.1:{}/postgres", server.port),
        postgres::NoTls,
    )
    .expect("admin connection");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
    format!("postgres://portal@127.0.0.1:{}/{name}", server.port)
}
