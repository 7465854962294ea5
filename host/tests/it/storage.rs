//! The host's storage layer on both engines: the same calls give the same answers on a
//! SQLite file and on a real PostgreSQL server (`pg_server`), through the public `Db`.

use crate::pg_server;
use host::db::{
    Db, Engine, Location, abilities, communities, extensions, groups, jobs, notifications, outbox,
    plugin_health, preferences, sessions, settings, users,
};
use plugin_api::{CommunityId, Timestamp, UserId};

/// A fresh database on each engine (the SQLite one's directory kept alive beside it).
fn engines() -> Vec<(Db, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Db::connect(&Location::Sqlite(dir.path().join("portal.db"))).expect("SQLite opens");
    let postgres = Db::connect(&Location::Postgres(pg_server::database())).expect("PostgreSQL connects");
    assert_eq!((sqlite.engine(), postgres.engine()), (Engine::Sqlite, Engine::Postgres));
    vec![(sqlite, Some(dir)), (postgres, None)]
}

const NOW: Timestamp = Timestamp(1_795_000_000_000);

fn member(
    community: CommunityId,
    email: &'static str,
    nickname: &'static str,
    name: &'static str,
) -> users::NewUser<'static> {
    users::NewUser {
        community_id: community,
        email,
        nickname,
        name,
        bio: "",
        password_hash: "hash",
        role: users::Role::Member,
    }
}

/// Members, groups and grants: ids come back from the insert, searches ignore case, a
/// group grant reaches the group's members.
#[test]
fn members_groups_and_grants_read_alike_on_both_engines() {
    for (db, _dir) in engines() {
        let engine = db.engine().name();
        let txn = db.write().expect("write");
        let community = communities::create(&txn, "river", "Riverside", "", NOW).expect("community");
        let ada = users::create(&txn, &member(community, "Ada@Example.org", "ada", "Ada Lovelace"), NOW)
            .expect("ada");
        let alan = users::create(&txn, &member(community, "alan@example.org", "alan", "Alan Turing"), NOW)
            .expect("alan");
        assert_ne!(ada, alan, "{engine}");
        let garden = groups::create(&txn, community, "garden", "Community Garden", "", NOW).expect("group");
        groups::set_member(&txn, garden, alan, groups::GroupRole::Member).expect("member");
        groups::set_member(&txn, garden, ada, groups::GroupRole::Admin).expect("admin");
        assert!(
            abilities::grant(&txn, community, "chat.use", abilities::Grantee::Group(garden), NOW)
                .expect("grant")
        );
        assert!(
            !abilities::grant(&txn, community, "chat.use", abilities::Grantee::Group(garden), NOW)
                .expect("again")
        );
        abilities::grant(&txn, community, "chat.read", abilities::Grantee::Everyone, NOW).expect("grant");
        txn.commit().expect("commit");

        let conn = db.get().expect("conn");
        assert_eq!(
            communities::by_slug(&conn, "river").expect("read").map(|c| c.id),
            Some(community),
            "{engine}"
        );
        let (found, hash) =
            users::by_email_with_hash(&conn, community, "ada@EXAMPLE.org").expect("read").expect("found");
        assert_eq!((found.id, hash.as_str()), (ada, "hash"), "{engine}: the email matches whatever its case");
        let names: Vec<String> = users::search(&conn, community, "LOVE", 10, 0)
            .expect("search")
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(names, ["Ada Lovelace"], "{engine}: the search ignores case");
        assert_eq!(users::count_matching(&conn, community, "a").expect("count"), 2, "{engine}");
        assert_eq!(
            users::search(&conn, community, "%", 10, 0).expect("search").len(),
            0,
            "{engine}: % is a character"
        );
        let members: Vec<(UserId, groups::GroupRole)> =
            groups::members(&conn, garden).expect("members").into_iter().map(|(u, r)| (u.id, r)).collect();
        assert_eq!(members, [(ada, groups::GroupRole::Admin), (alan, groups::GroupRole::Member)], "{engine}");
        assert_eq!(groups::search(&conn, community, "GARD", 5).expect("search").len(), 1, "{engine}");
        let of_alan = abilities::of_member(&conn, community, alan, users::Role::Member).expect("abilities");
        assert_eq!(of_alan.into_iter().collect::<Vec<_>>(), ["chat.read", "chat.use"], "{engine}");
        assert!(abilities::is_on(&conn, community, "chat.use").expect("on"), "{engine}");
        assert!(!abilities::is_on(&conn, community, "chat.write").expect("off"), "{engine}");
        assert_eq!(abilities::list(&conn, community).expect("list").len(), 2, "{engine}");
    }
}

/// Sessions, settings, preferences, notifications, the email outbox and job leases.
#[test]
fn the_portals_bookkeeping_reads_alike_on_both_engines() {
    for (db, _dir) in engines() {
        let engine = db.engine().name();
        let txn = db.write().expect("write");
        let community = communities::create(&txn, "river", "Riverside", "", NOW).expect("community");
        let ada = users::create(&txn, &member(community, "ada@example.org", "ada", "Ada"), NOW).expect("ada");
        sessions::create(&txn, "token", ada, NOW, Timestamp(NOW.0 + 1000)).expect("session");
        settings::set(&txn, community, "chat", "limit", "5").expect("setting");
        settings::set(&txn, community, "chat", "limit", "7").expect("setting again");
        preferences::set(&txn, ada, "chat", "email", false).expect("preference");
        let first = notifications::create(&txn, ada, Some("chat"), "Hello", "/x", NOW).expect("notification");
        let second = notifications::create(&txn, ada, None, "Again", "/y", NOW).expect("notification");
        assert!(second > first, "{engine}");
        let email = outbox::NewEmail {
            user: ada,
            to: "ada@example.org",
            subject: "Hi",
            text: "text",
            html: "<p>html</p>",
            headers: outbox::Headers { message_id: Some("<1@x>".into()), bulk: true, ..Default::default() },
            plugin: Some("chat"),
            preference: Some("email"),
            thread: Some("t1"),
        };
        let queued = outbox::queue(&txn, &email, NOW).expect("queue");
        txn.commit().expect("commit");

        let conn = db.writer().expect("conn");
        assert_eq!(sessions::user_of(&conn, "token", NOW).expect("session"), Some(ada), "{engine}");
        assert_eq!(
            sessions::user_of(&conn, "token", Timestamp(NOW.0 + 1000)).expect("expired"),
            None,
            "{engine}"
        );
        assert_eq!(
            settings::overrides(&conn, community, "chat").expect("settings")["limit"],
            "7",
            "{engine}"
        );
        assert_eq!(preferences::get(&conn, ada, "chat", "email").expect("pref"), Some(false), "{engine}");
        assert_eq!(notifications::unread_count(&conn, ada).expect("unread"), 2, "{engine}");
        assert!(notifications::mark_read(&conn, ada, first, NOW).expect("read"), "{engine}");
        let listed = notifications::list(&conn, ada, 10, 0).expect("list");
        assert_eq!(
            listed.iter().map(|n| (n.id, n.read)).collect::<Vec<_>>(),
            [(second, false), (first, true)],
            "{engine}"
        );
        assert_eq!(
            outbox::thread_root(&conn, ada, "chat", "t1").expect("root").as_deref(),
            Some("<1@x>"),
            "{engine}"
        );
        let due = outbox::due(&conn, NOW, 10).expect("due");
        assert_eq!(due.len(), 1, "{engine}");
        assert_eq!(
            (due[0].id, due[0].headers.bulk, due[0].withdrawn),
            (queued, true, true),
            "{engine}: turned off"
        );
        outbox::mark_sent(&conn, queued, NOW).expect("sent");
        assert!(outbox::due(&conn, NOW, 10).expect("due").is_empty(), "{engine}");

        let key = jobs::JobKey { plugin: "chat", job: "digest", community };
        assert!(jobs::acquire(&conn, key, "a", NOW, 60_000, 5_000).expect("lease"), "{engine}");
        assert!(!jobs::acquire(&conn, key, "b", NOW, 60_000, 5_000).expect("held"), "{engine}");
        jobs::finish(&conn, key, "a", NOW, NOW, Ok("done")).expect("finish");
        assert!(
            !jobs::acquire(&conn, key, "b", Timestamp(NOW.0 + 1), 60_000, 5_000).expect("not due"),
            "{engine}"
        );
        assert!(
            jobs::acquire(&conn, key, "b", Timestamp(NOW.0 + 60_000), 60_000, 5_000).expect("due"),
            "{engine}"
        );

        plugin_health::record_refusals(&conn, "chat", 2, "no", NOW).expect("refusals");
        plugin_health::record_refusals(&conn, "chat", 3, "no again", NOW).expect("refusals");
        plugin_health::record_failure(&conn, "chat", 1, Some(Timestamp(NOW.0 + 5)), "trap", NOW)
            .expect("failure");
        let health = plugin_health::get(&conn, "chat").expect("health").expect("recorded");
        assert_eq!((health.refusals, health.open, health.total_failures), (5, true, 1), "{engine}");
        assert_eq!(health.last_refusal.as_deref(), Some("no again"), "{engine}");
    }
}

/// The queue of events, checks, holds and the savepoints a check runs its implementers in.
#[test]
fn events_and_checks_read_alike_on_both_engines() {
    for (db, _dir) in engines() {
        let engine = db.engine().name();
        let txn = db.write().expect("write");
        let community = communities::create(&txn, "river", "Riverside", "", NOW).expect("community");
        for payload in ["1", "2"] {
            let delivery = extensions::NewDelivery {
                community,
                subscriber: "mod",
                source: "chat",
                event: "posted",
                payload,
            };
            extensions::queue(&txn, &delivery, NOW).expect("queue");
        }
        let check = extensions::new_check(&txn, community, "chat.check", &["mod"], NOW).expect("check");
        extensions::savepoint(&txn, extensions::Savepoint::Implementer).expect("savepoint");
        extensions::hold(&txn, check, "mod", "links").expect("hold");
        extensions::hold(&txn, check, "mod", "links, again").expect("hold again");
        extensions::end_savepoint(&txn, extensions::Savepoint::Implementer, true).expect("kept");
        extensions::savepoint(&txn, extensions::Savepoint::Implementer).expect("savepoint");
        extensions::hold(&txn, check, "other", "undone").expect("hold");
        extensions::end_savepoint(&txn, extensions::Savepoint::Implementer, false).expect("undone");
        txn.commit().expect("commit");

        let conn = db.writer().expect("conn");
        assert_eq!(extensions::queues(&conn).expect("queues"), [("mod".to_owned(), community)], "{engine}");
        let next = extensions::next_of(&conn, "mod", community, 10).expect("next");
        assert_eq!(next.iter().map(|(p, _)| p.payload.as_str()).collect::<Vec<_>>(), ["1", "2"], "{engine}");
        extensions::failed(&conn, next[0].0.id, "trap", Timestamp(NOW.0 + 2000)).expect("failed");
        for scope in [None, Some(community)] {
            let status = extensions::queue_status(&conn, "mod", scope).expect("status");
            assert_eq!((status.waiting, status.failing), (2, 1), "{engine} {scope:?}");
            assert_eq!(status.worst.map(|w| w.1), Some(1), "{engine}");
        }
        assert_eq!(
            extensions::holders(&conn, check).expect("holders"),
            ["mod"],
            "{engine}: the undone hold is gone"
        );
        assert_eq!(
            extensions::hold_state(&conn, check, "mod").expect("state"),
            Some(extensions::HoldState::Held),
            "{engine}"
        );
        assert_eq!(
            extensions::decide_hold(&conn, check, "mod", extensions::Outcome::Released).expect("decide"),
            0,
            "{engine}"
        );
        extensions::resolve_check(&conn, check, extensions::Outcome::Released).expect("resolve");
        let stored = extensions::check(&conn, community, check).expect("check").expect("found");
        assert_eq!(
            (stored.resolution, stored.asked),
            (Some(extensions::Outcome::Released), vec!["mod".to_owned()]),
            "{engine}"
        );
        let dropped = extensions::drop_delivery(&conn, next[1].0.id).expect("drop").expect("was there");
        assert_eq!(dropped.payload, "2", "{engine}");
        assert!(extensions::delivered(&conn, next[0].0.id).expect("delivered"), "{engine}");
        assert!(extensions::queues(&conn).expect("queues").is_empty(), "{engine}");
    }
}

/// A write transaction dropped without commit keeps nothing; a read transaction reads one
/// snapshot; on PostgreSQL a transaction in which a statement failed is reported as not
/// committed (PostgreSQL itself answers such a `COMMIT` with a silent rollback).
#[test]
fn transactions_keep_their_promises_on_both_engines() {
    for (db, _dir) in engines() {
        let engine = db.engine().name();
        let dropped = db.write().expect("write");
        communities::create(&dropped, "gone", "Gone", "", NOW).expect("community");
        drop(dropped);
        let reading = db.read_txn().expect("read");
        assert!(communities::list(&reading).expect("list").is_empty(), "{engine}: dropped, rolled back");
        let txn = db.write().expect("write");
        communities::create(&txn, "kept", "Kept", "", NOW).expect("community");
        txn.commit().expect("commit");
        assert!(communities::list(&reading).expect("list").is_empty(), "{engine}: one snapshot");
        reading.end_read().expect("end");
        assert_eq!(communities::list(&db.get().expect("conn")).expect("list").len(), 1, "{engine}");

        let txn = db.write().expect("write");
        communities::create(&txn, "other", "Other", "", NOW).expect("community");
        assert!(communities::create(&txn, "kept", "Twice", "", NOW).is_err(), "{engine}: slugs are unique");
        let committed = txn.commit();
        let count = communities::list(&db.get().expect("conn")).expect("list").len();
        match db.engine() {
            // SQLite undoes the failed statement only.
            Engine::Sqlite => assert_eq!((committed.is_ok(), count), (true, 2), "{engine}"),
            Engine::Postgres => {
                let err = committed.expect_err("reported as not committed").to_string();
                assert!(err.contains("not committed"), "{err}");
                assert_eq!(count, 1, "{engine}: nothing of it was kept");
            }
        }
    }
}

/// Two processes starting at once on a new database: the migrations run once, under the
/// lock of the migrations table.
#[test]
fn postgres_migrations_run_once_when_processes_start_together() {
    let url = pg_server::database();
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                Db::connect(&Location::Postgres(url)).map(|_| ()).map_err(|e| e.to_string())
            })
        })
        .collect();
    for start in starts {
        start.join().expect("thread").expect("each start succeeds");
    }
    let db = Db::connect(&Location::Postgres(url)).expect("connect");
    let conn = db.get().expect("conn");
    let applied: i64 =
        conn.query_one("SELECT count(*) FROM portal_migrations", &[], |r| r.get(0)).expect("count");
    let sqlite_count = std::fs::read_dir(crate::support::root().join("host/src/db/migrations"))
        .expect("migrations")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql")))
        .count();
    assert_eq!(applied, i64::try_from(sqlite_count).expect("count"), "each once, as many as SQLite's");
}

/// A wrong PostgreSQL URL fails at start with the address (and no password) in the message.
#[test]
fn an_unreachable_postgres_server_is_named_without_its_password() {
    let err = Db::connect(&Location::Postgres("postgres://portal:s3cret@127.0.0.1:1/portal".into()))
        .err()
        .expect("no server there")
        .to_string();
    assert!(err.contains("postgres://portal:…@127.0.0.1:1/portal"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

/// Work that several processes share is taken by one of them: an email to send (until its
/// lease runs out), an event delivery (while the taking transaction is open, another one
/// skips it), and rate-limit counts (threads counting one key at once never lose a count
/// nor pass the limit).
#[test]
fn shared_work_is_taken_once_on_both_engines() {
    for (db, _dir) in engines() {
        let engine = db.engine().name();
        let txn = db.write().expect("write");
        let community = communities::create(&txn, "river", "Riverside", "", NOW).expect("community");
        let ada = users::create(&txn, &member(community, "ada@example.org", "ada", "Ada"), NOW).expect("ada");
        let email = outbox::NewEmail {
            user: ada,
            to: "ada@example.org",
            subject: "Hi",
            text: "Hello",
            html: "<p>Hello</p>",
            headers: outbox::Headers::default(),
            plugin: None,
            preference: None,
            thread: None,
        };
        let queued = outbox::queue(&txn, &email, NOW).expect("queue");
        let delivery = extensions::NewDelivery {
            community,
            subscriber: "mod",
            source: "chat",
            event: "posted",
            payload: "{}",
        };
        extensions::queue(&txn, &delivery, NOW).expect("queue");
        txn.commit().expect("commit");

        // The email: one taker until the lease ends.
        let until = Timestamp(NOW.0 + 300_000);
        let conn = db.writer().expect("conn");
        assert!(outbox::claim(&conn, queued, NOW, until).expect("claim"), "{engine}");
        assert!(!outbox::claim(&conn, queued, NOW, until).expect("claim"), "{engine}: taken");
        assert!(outbox::due(&conn, NOW, 10).expect("due").is_empty(), "{engine}");
        assert!(
            outbox::claim(&conn, queued, until, Timestamp(until.0 + 1)).expect("claim"),
            "{engine}: lease over"
        );
        outbox::mark_sent(&conn, queued, until).expect("sent");
        assert!(
            !outbox::claim(&conn, queued, Timestamp(until.0 + 9_999_999), until).expect("claim"),
            "{engine}"
        );
        let id = extensions::next_of(&conn, "mod", community, 10).expect("next")[0].0.id;
        drop(conn);

        // The delivery: taken by the first transaction; on PostgreSQL a second, concurrent
        // one skips it (SQLite's one writer never has two).
        let first = db.write().expect("write");
        assert!(extensions::claim(&first, id).expect("claim"), "{engine}");
        if db.engine() == Engine::Postgres {
            let second = db.write().expect("a second writer");
            assert!(
                !extensions::claim(&second, id).expect("claim"),
                "a second process skips a taken delivery"
            );
            second.rollback().expect("rollback");
        }
        assert!(extensions::delivered(&first, id).expect("delivered"), "{engine}");
        first.commit().expect("commit");
        let again = db.write().expect("write");
        assert!(!extensions::claim(&again, id).expect("claim"), "{engine}: delivered");
        again.rollback().expect("rollback");

        // Rate limits: 4 threads take 40 each of a key allowed 100 in its window.
        let taken: usize = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..40)
                            .filter(|_| {
                                let conn = db.counters().expect("counters");
                                host::db::rate_limits::take(&conn, "k", 100, NOW.0, 60_000).expect("take")
                            })
                            .count()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().expect("thread")).sum()
        });
        assert_eq!(taken, 100, "{engine}");
        let conn = db.counters().expect("counters");
        let window = host::db::rate_limits::window(&conn, "k").expect("window").expect("a window");
        assert_eq!((window.started_ms, window.count), (NOW.0, 100), "{engine}");
        assert!(
            host::db::rate_limits::take(&conn, "k", 100, NOW.0 + 60_000, 60_000).expect("take"),
            "{engine}"
        );
        assert_eq!(host::db::rate_limits::window(&conn, "k").expect("window").map(|w| w.count), Some(1));
        assert_eq!(host::db::rate_limits::prune(&conn, NOW.0 + 200_000).expect("prune"), 1, "{engine}");
    }
}

/// On PostgreSQL a plugin statement's end (its savepoint released, the host's role and
/// settings back) travels with the next statement: whatever comes next, a host statement
/// runs as the host with the host's search path and time limit, another plugin's under its
/// own role, and the transaction commits what succeeded.
#[test]
fn after_plugin_statements_host_statements_run_as_the_host_on_postgres() {
    use host::db::plugin_store::{self, SqlAccess, SqlLimits};
    use plugin_api::{HostReply, Migration, SqlValue};
    let db = Db::connect(&Location::Postgres(pg_server::database())).expect("PostgreSQL connects");
    for plugin in ["alpha", "beta"] {
        let migration = Migration {
            version: 1,
            name: "tables".into(),
            sql: format!("CREATE TABLE {plugin}_t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"),
        };
        plugin_store::apply_migrations(&db.writer().expect("writer"), plugin, &[migration], NOW)
            .expect("migrations");
    }
    let limits = SqlLimits { time: std::time::Duration::from_secs(2), max_bytes: 1 << 20 };
    let txn = db.write().expect("write");
    let host_view = |txn: &host::db::WriteTxn| -> String {
        txn.query_one(
            "SELECT current_user || ' ' || current_setting('search_path') || ' ' || current_setting('statement_timeout')",
            &[],
            |r| r.get(0),
        )
        .expect("a host statement")
    };
    let before = host_view(&txn);
    let who = |plugin: &str| -> String {
        match plugin_store::query(&txn, plugin, SqlAccess::ReadWrite, "SELECT current_user", &[], limits) {
            Ok(HostReply::Rows { rows, .. }) => match &rows[0][0] {
                SqlValue::Text(name) => name.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    };
    assert!(who("alpha").ends_with("_alpha"));
    assert_eq!(host_view(&txn), before, "after a plugin's query");
    let inserted = plugin_store::execute(
        &txn,
        "alpha",
        SqlAccess::ReadWrite,
        "INSERT INTO alpha_t (v) VALUES (?1)",
        &[SqlValue::Text("kept".into())],
        limits,
    );
    assert!(matches!(inserted, Ok(HostReply::Executed { changes: 1, last_insert_id: 1 })), "{inserted:?}");
    assert!(who("beta").ends_with("_beta"), "the next plugin's statement runs as that plugin");
    let refused =
        plugin_store::query(&txn, "beta", SqlAccess::ReadWrite, "SELECT v FROM alpha_t", &[], limits);
    assert!(refused.is_err(), "another plugin's table: {refused:?}");
    assert_eq!(host_view(&txn), before, "after a refused statement");
    // An insert into a table without a sequence of the plugin's: no id, nothing undone.
    let no_id = plugin_store::execute(
        &txn,
        "beta",
        SqlAccess::ReadWrite,
        "INSERT INTO beta_t (id, v) VALUES (7, 'also kept')",
        &[],
        limits,
    );
    assert!(matches!(no_id, Ok(HostReply::Executed { changes: 1, .. })), "{no_id:?}");
    txn.commit().expect("commit");
    let conn = db.get().expect("conn");
    let kept: i64 = conn
        .query_one(
            "SELECT (SELECT count(*) FROM plugin_alpha.alpha_t) + (SELECT count(*) FROM plugin_beta.beta_t)",
            &[],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(kept, 2);
}
