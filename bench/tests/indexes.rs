//! The Conversations plugin's read queries use indexes: listing the inbox, counting unread
//! conversations and finding an existing conversation for a participant set never scan a
//! table; the digest walks a partial index that holds only the rows with unread,
//! not-yet-emailed messages. The statements are the plugin's own (`conversations_plugin::store::sql`), checked
//! with `EXPLAIN QUERY PLAN` on the schema its real migrations create in a real portal.

use conversations_plugin::store::sql;
use host::clock::Clock;
use host::config::Config;
use host::portal::Portal;
use std::path::Path;

#[test]
fn conversation_queries_search_indexes_instead_of_scanning() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_owned();
    let manifest = root.join("manifests/conversations.toml");
    assert!(
        root.join("manifests/wasm/conversations.wasm").exists(),
        "build the plugins first: scripts/build-plugins.sh"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
    config.plugins.manifests = vec![manifest];
    let portal =
        Portal::start(config, Clock::system()).expect("portal starts and applies the plugin's migrations");
    let pooled = portal.db.get().expect("conn");
    let conn = pooled.as_sqlite().expect("SQLite");
    for (name, statement) in [
        ("find an existing conversation for a participant set", sql::FIND_BY_KEY),
        ("list an inbox", sql::INBOX),
        ("count an inbox", sql::INBOX_SIZE),
        ("count unread conversations (the badge)", sql::UNREAD_CONVERSATIONS),
        ("count unread messages of a conversation", sql::UNREAD_MESSAGES),
        ("list participants", sql::PARTICIPANTS),
        ("page through messages", sql::MESSAGES),
        ("the latest delivered message (previews)", sql::LAST_VISIBLE),
        ("find the message a check was about", sql::MESSAGE_BY_CHECK),
        ("check a block", sql::IS_BLOCKED),
        ("check a block either way", sql::BLOCKED_EITHER_WAY),
        ("find participants the digest has not covered", sql::PENDING_ACTORS),
        ("list one participant's uncovered conversations", sql::PENDING_OF),
        ("count new messages for the digest", sql::NEW_MESSAGES),
        ("name the senders for the digest", sql::NEW_SENDERS),
        ("list the members one blocked", sql::BLOCKED_BY),
        ("list one participant's unread conversations for the digest", sql::UNREAD_OF),
    ] {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {statement}")).expect("explain");
        let params = stmt.parameter_count();
        eprintln!("{name}:");
        let values: Vec<rusqlite_null::Null> = (0..params).map(|_| rusqlite_null::Null).collect();
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(values.iter()), |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(!plan.is_empty(), "{name}: no plan");
        for line in &plan {
            eprintln!("    {line}");
        }
        for line in &plan {
            // The one scan allowed: of a partial index that holds only pending rows.
            let partial = line.contains("USING INDEX conversations_participant_pending");
            assert!(!line.starts_with("SCAN") || partial, "{name} scans: {plan:?}\n{statement}");
        }
        assert!(plan.iter().any(|l| l.contains("USING") && l.contains("INDEX")), "{name}: {plan:?}");
    }
}

/// A NULL parameter for `EXPLAIN QUERY PLAN`.
mod rusqlite_null {
    /// SQL NULL.
    pub struct Null;
    impl rusqlite::ToSql for Null {
        fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
            Ok(rusqlite::types::ToSqlOutput::Owned(rusqlite::types::Value::Null))
        }
    }
}
