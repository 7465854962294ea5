//! A real portal on a loopback port for each test (own data directory and SQLite file, or
//! its own database on the throwaway PostgreSQL server; demo data loaded); the browser-like client is `portal-client`, shared with the
//! benchmarks.

use crate::support::{root, test_config};
use host::clock::Clock;
use host::config::Config;
use host::portal::Portal;
use std::path::PathBuf;

pub use portal_client::{Client, Events, Resp};
use std::sync::Arc;

/// A running portal.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The portal behind it (for direct database checks).
    pub portal: Arc<Portal>,
    /// Its data directory (database, outbox).
    pub dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// The notes test plugin's manifest.
pub fn notes_manifest() -> PathBuf {
    let manifest = root().join("fixtures/plugins/notes/notes.toml");
    assert!(
        root().join("fixtures/plugins/notes/wasm/notes.wasm").exists(),
        "the notes test plugin is not built: run scripts/build-plugins.sh (make test does)"
    );
    manifest
}

/// Whether this run's portals use PostgreSQL (`PORTAL_TEST_ENGINE=postgres`; `make test`
/// runs the suite once on each engine) instead of a SQLite file.
pub fn on_postgres() -> bool {
    std::env::var("PORTAL_TEST_ENGINE").is_ok_and(|e| e == "postgres")
}

impl Server {
    /// Starts a portal with Conversations and the notes test plugin, and the demo data.
    pub fn start() -> Server {
        Server::with_manifests(vec![crate::support::conversations_manifest(), notes_manifest()])
    }

    /// Starts a portal with these plugins and the demo data.
    pub fn with_manifests(manifests: Vec<PathBuf>) -> Server {
        Server::custom(manifests, Clock::system(), |_| {})
    }

    /// Starts a portal with Conversations, a clock the test moves, and `configure` applied
    /// to the configuration.
    pub fn with_clock(clock: Clock, configure: impl FnOnce(&mut Config)) -> Server {
        Server::custom(vec![crate::support::conversations_manifest()], clock, configure)
    }

    /// Starts a portal with these plugins, this clock and `configure` applied.
    pub fn custom(manifests: Vec<PathBuf>, clock: Clock, configure: impl FnOnce(&mut Config)) -> Server {
        static LOGS: std::sync::Once = std::sync::Once::new();
        LOGS.call_once(|| {
            let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
        if on_postgres() {
            config.database = Some(crate::pg_server::database());
        }
        config.plugins.manifests = manifests;
        config.plugins.runtime = test_config();
        configure(&mut config);
        let portal = Portal::start(config, clock).expect("portal starts");
        portal.hear_other_processes().expect("listening");
        if portal.config.plugins.events.deliver {
            host::deliveries::spawn(portal.clone()).expect("deliverer");
        }
        let demo = host::demo::read(&root().join("fixtures/demo.toml")).expect("demo file");
        host::demo::load(&portal, &demo).expect("demo loads");
        let app = host::web::app(portal.clone()).expect("router");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let live = portal.live.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("rt");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ =
                    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                            live.close();
                        })
                        .await;
            });
        });
        Server { base, portal, dir, _shutdown: tx }
    }

    /// A client with no cookies.
    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// A client signed in as `email` of `community`.
    pub fn signed_in(&self, community: &str, email: &str) -> Client {
        let mut client = self.client();
        let r = client.sign_in(community, email, "demo-password");
        assert_eq!(r.status, 303, "sign-in of {email} failed: {}", r.body);
        client
    }

    /// Grants `ability` in `community` to `to` (as `portal abilities grant` does).
    pub fn grant(&self, community: &str, ability: &str, to: &str) {
        let conn = self.portal.db.writer().expect("the turn to write");
        let c = host::db::communities::by_slug(&conn, community).expect("db").expect("community");
        host::abilities::grant(
            &conn,
            &c,
            &self.portal.declared_abilities(),
            ability,
            to,
            self.portal.clock.now(),
        )
        .expect("grant");
    }

    /// Sets `plugin.setting` to `value` in `community` (as `portal settings set` does).
    pub fn set_setting(&self, community: &str, setting: &str, value: &str) {
        let conn = self.portal.db.writer().expect("the turn to write");
        let c = host::db::communities::by_slug(&conn, community).expect("db").expect("community");
        let (plugin, name) = setting.split_once('.').expect("plugin.setting");
        let entry = self.portal.plugins.iter().find(|p| p.id() == plugin).expect("plugin loaded");
        host::plugin_settings::set(&conn, &c, entry.manifest(), name, value).expect("setting");
    }

    /// Runs SQL that writes on the portal's database, in the turn to write (as the
    /// portal's own writes do: its pool connections are read-only).
    pub fn write_sql(&self, sql: &str) {
        let conn = self.portal.db.writer().expect("the turn to write");
        with_plugin_tables(&conn);
        conn.batch(sql).expect("sql");
    }

    /// Runs SQL on the portal's database and returns the first column of the first row, as text.
    pub fn count_text(&self, sql: &str) -> String {
        let conn = self.portal.db.get().expect("conn");
        with_plugin_tables(&conn);
        conn.query_one(sql, &[], |r| r.get(0)).expect("query")
    }

    /// Runs SQL on the portal's database and returns the first column of the first row.
    pub fn count(&self, sql: &str) -> i64 {
        let conn = self.portal.db.get().expect("conn");
        with_plugin_tables(&conn);
        conn.query_one(sql, &[], |r| r.get(0)).expect("query")
    }
}

/// Lets a test's own SQL name plugins' tables as on SQLite: on PostgreSQL each plugin's
/// tables are in a schema of its own, put on this connection's search path (after the
/// portal's own, so the portal's statements read as before).
pub fn with_plugin_tables(conn: &host::db::Conn) {
    if conn.engine() == host::db::Engine::Postgres {
        let schemas: String = conn
            .query_one(
                "SELECT coalesce(string_agg(quote_ident(nspname), ', '), 'public') FROM pg_namespace WHERE nspname LIKE 'plugin\\_%'",
                &[],
                |r| r.get(0),
            )
            .expect("schemas");
        conn.batch(&format!("SET search_path TO public, {schemas}")).expect("search path");
    }
}

/// The number on Conversations' avatar badge in a page or header fragment, if it shows.
pub fn unread_badge(html: &str) -> Option<String> {
    let at = html.find("data-slot-key=\"unread_badge\"")?;
    let rest = &html[at..];
    let start = rest.find("data-badge=\"")? + "data-badge=\"".len();
    Some(rest[start..].chars().take_while(char::is_ascii_digit).collect())
}
