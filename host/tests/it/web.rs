//! The portal over real HTTP: sign-in, CSRF, abilities switching plugin UI on and off,
//! plugin routes and their guards, and the plugin storage rules, with the real
//! Conversations wasm and the notes test plugin.

use crate::http::Server;

const ADA: &str = "ada@riverside.example"; // riverside admin
const GRACE: &str = "grace@riverside.example";
const NIKOLA: &str = "nikola@hilltop.example"; // hilltop admin
const MARIE: &str = "marie@hilltop.example";

#[test]
fn sign_in_with_a_good_and_a_bad_password() {
    let server = Server::start();
    let mut client = server.client();
    let bad = client.sign_in("riverside", GRACE, "wrong password");
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("That email and password do not match"), "{}", bad.body);
    assert!(bad.body.contains(&format!("value=\"{GRACE}\"")), "the email is kept");
    assert!(!client.cookies.contains_key("portal_session"));

    let good = client.sign_in("riverside", GRACE, "demo-password");
    assert_eq!(good.status, 303);
    assert_eq!(good.location.as_deref(), Some("/c/riverside"));
    let session = good.set_cookies.iter().find(|c| c.starts_with("portal_session=")).expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
    let home = client.get("/c/riverside");
    assert!(home.body.contains("account menu of Grace Hopper"), "signed in: {}", home.body);
}

#[test]
fn sign_out_ends_the_session_on_the_server() {
    let server = Server::start();
    let mut client = server.signed_in("riverside", GRACE);
    let old = client.cookies.get("portal_session").cloned().expect("session");
    let out = client.post("/c/riverside/sign-out", &[]);
    assert_eq!(out.status, 303);
    client.cookies.insert("portal_session".into(), old);
    let home = client.get("/c/riverside");
    assert!(!home.body.contains("account menu of"), "the old session id no longer works");
    assert_eq!(server.count("SELECT count(*) FROM sessions"), 0);
}

#[test]
fn a_new_session_id_at_every_sign_in() {
    let server = Server::start();
    let mut client = server.signed_in("riverside", GRACE);
    let first = client.cookies.get("portal_session").cloned();
    client.sign_in("riverside", GRACE, "demo-password");
    assert_ne!(client.cookies.get("portal_session").cloned(), first);
    assert_eq!(server.count("SELECT count(*) FROM sessions"), 1, "the old session ended");
}

#[test]
fn forms_without_the_csrf_token_are_refused() {
    let server = Server::start();
    let mut client = server.client();
    client.get("/c/riverside/sign-in");
    let r = client.post_raw("/c/riverside/sign-in", &[("email", GRACE), ("password", "demo-password")]);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("This form has expired"), "{}", r.body);
    assert!(!client.cookies.contains_key("portal_session"));

    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let forged =
        grace.post_raw("/c/riverside/notes", &[("csrf", "0".repeat(64).as_str()), ("body", "hello")]);
    assert_eq!(forged.status, 403);
    assert_eq!(server.count("SELECT count(*) FROM notes_note"), 0, "nothing was written");
}

#[test]
fn next_never_leaves_the_community() {
    let server = Server::start();
    let mut client = server.client();
    client.get("/c/riverside/sign-in");
    for next in ["https://evil.example/", "//evil.example", "/c/hilltop", "/\\evil.example"] {
        let r = client
            .post("/c/riverside/sign-in", &[("email", GRACE), ("password", "demo-password"), ("next", next)]);
        assert_eq!(r.location.as_deref(), Some("/c/riverside"), "next={next}");
    }
}

#[test]
fn a_slot_appears_when_its_ability_is_granted_and_disappears_when_revoked() {
    let server = Server::start();
    let mut marie = server.signed_in("hilltop", MARIE);
    let mut admin = server.signed_in("hilltop", NIKOLA);
    let profile = "/c/hilltop/members/rosalind";
    assert!(!marie.get(profile).body.contains("data-slot-key=\"message\""));
    // `conversations.start` requires `conversations.use`: both are granted, `start` by
    // the admin page.
    server.grant("hilltop", "conversations.use", "everyone");
    assert!(!marie.get(profile).body.contains("data-slot-key=\"message\""), "use alone gives no button");

    let r = admin.post(
        "/c/hilltop/admin/abilities",
        &[("action", "grant"), ("ability", "conversations.start"), ("grantee", "everyone")],
    );
    assert_eq!(r.status, 303);
    assert!(admin.get("/c/hilltop/admin").body.contains("Granted conversations.start to everyone."));
    let page = marie.get(profile).body;
    assert!(page.contains("data-slot-key=\"message\""), "{page}");
    assert!(page.contains("href=\"/c/hilltop/conversations/new?to&#x3D;user:"), "the link names the profile");

    admin.post(
        "/c/hilltop/admin/abilities",
        &[("action", "revoke"), ("ability", "conversations.start"), ("grantee", "everyone")],
    );
    assert!(!marie.get(profile).body.contains("data-slot-key=\"message\""));
}

#[test]
fn abilities_can_be_granted_to_a_group_or_a_member_only() {
    let server = Server::start();
    server.grant("hilltop", "conversations.use", "group:laser");
    server.grant("hilltop", "conversations.start", "user:nikola");
    let mut rosalind = server.signed_in("hilltop", "rosalind@hilltop.example");
    let mut nikola = server.signed_in("hilltop", NIKOLA);
    assert_eq!(rosalind.get("/c/hilltop/conversations/about").status, 200, "rosalind is in the laser group");
    assert_eq!(nikola.get("/c/hilltop/conversations/about").status, 403, "nikola is not");
    // Nikola has `start` but not `use`, which it requires: no Message button for him.
    assert!(!nikola.get("/c/hilltop/members/marie").body.contains("data-slot-key=\"message\""));
    assert!(!rosalind.get("/c/hilltop/members/marie").body.contains("data-slot-key=\"message\""));
    server.grant("hilltop", "conversations.use", "user:nikola");
    assert!(nikola.get("/c/hilltop/members/marie").body.contains("data-slot-key=\"message\""));
}

#[test]
fn plugin_routes_need_sign_in_and_the_ability() {
    let server = Server::start();
    let mut visitor = server.client();
    let r = visitor.get("/c/riverside/conversations/about");
    assert_eq!(r.status, 303);
    assert_eq!(
        r.location.as_deref(),
        Some("/c/riverside/sign-in?next=%2Fc%2Friverside%2Fconversations%2Fabout")
    );

    let mut marie = server.signed_in("hilltop", MARIE);
    let r = marie.get("/c/hilltop/conversations/about");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("You do not have access"), "{}", r.body);

    // A member of another community is signed out here.
    let r = marie.get("/c/riverside/conversations/about");
    assert_eq!(r.status, 303);

    let mut grace = server.signed_in("riverside", GRACE);
    let r = grace.get("/c/riverside/conversations/about");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Signed in as Grace Hopper."), "{}", r.body);
}

#[test]
fn a_community_with_the_feature_off_shows_no_conversations_ui_at_all() {
    let server = Server::start();
    let mut marie = server.signed_in("hilltop", MARIE);
    for page in ["/c/hilltop", "/c/hilltop/members", "/c/hilltop/members/rosalind", "/c/hilltop/groups/laser"]
    {
        let body = marie.get(page).body.to_lowercase();
        assert!(!body.contains("conversation"), "{page} mentions conversations");
        assert!(!body.contains("data-slot-key"), "{page} has plugin UI");
    }
    // In the community where it is on, every entry point is there.
    let mut grace = server.signed_in("riverside", GRACE);
    let profile = grace.get("/c/riverside/members/alan").body;
    for key in ["inbox_menu", "inbox_footer", "message"] {
        assert!(profile.contains(&format!("data-slot-key=\"{key}\"")), "{key} missing");
    }
    let group = grace.get("/c/riverside/groups/garden").body;
    assert!(
        group.contains("data-slot-key=\"message_group\"") && group.contains("data-slot-key=\"group_inbox\"")
    );
}

#[test]
fn a_second_plugin_contributes_slots_and_routes_the_same_way() {
    let server = Server::start();
    server.grant("riverside", "notes.use", "user:grace");
    let mut grace = server.signed_in("riverside", GRACE);
    let home = grace.get("/c/riverside").body;
    assert!(home.contains("data-slot-key=\"notes_menu\""));
    assert!(!home.contains("data-slot-key=\"notes_badge\""), "no badge while the count is 0");

    let r = grace.post("/c/riverside/notes", &[("body", "Bring <b>seeds</b>")]);
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/c/riverside/notes"));
    let list = grace.get("/c/riverside/notes").body;
    assert!(list.contains("Note saved."), "the flash is shown");
    assert!(list.contains("<li>Bring &lt;b&gt;seeds&lt;/b&gt;</li>"), "escaped: {list}");
    assert!(!list.contains("name=\"csrf\" value=\"\""), "plugin forms get the CSRF token");
    assert!(list.contains("data-slot-key=\"notes_badge\""), "badge from the Slots call");
    assert!(!grace.get("/c/riverside").body.contains("Note saved."), "a flash shows once");

    let missing = grace.get("/c/riverside/notes/42");
    assert_eq!(missing.status, 404, "route params reach the plugin, whose not-found becomes a 404");
    let empty = grace.post("/c/riverside/notes", &[("body", "  ")]);
    assert_eq!(empty.status, 400);
    assert!(empty.body.contains("A note cannot be empty."));
}

#[test]
fn plugin_sql_on_a_host_table_is_refused() {
    let server = Server::start();
    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let r = grace.get("/c/riverside/notes-bad/steal");
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("reads &#x60;users&#x60;, which is not a table or index of plugin &#x60;notes&#x60;"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("argon2") && !r.body.contains("riverside.example"), "nothing leaked");
}

#[test]
fn a_write_during_a_get_is_refused() {
    let server = Server::start();
    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let r = grace.get("/c/riverside/notes-bad/write-on-get");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("during a read-only request"), "{}", r.body);
    assert_eq!(server.count("SELECT count(*) FROM notes_note"), 0);
}

#[test]
fn a_trap_mid_call_leaves_no_partial_rows_and_the_portal_keeps_serving() {
    let server = Server::start();
    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let r = grace.post("/c/riverside/notes-bad/trap-after-write", &[]);
    assert_eq!(r.status, 503);
    assert!(r.body.contains("not available right now"), "{}", r.body);
    assert_eq!(
        server.count("SELECT count(*) FROM notes_note"),
        0,
        "the row written before the trap was rolled back"
    );
    // The failure is on record (stored after the call's transaction: before, the write
    // waited 5 s for that transaction's lock and failed).
    let health = "SELECT count(*) FROM plugin_health WHERE plugin = 'notes' AND total_failures = 1 AND consecutive_failures = ";
    assert_eq!(server.count(&format!("{health}1")), 1, "the failure is stored");
    assert_eq!(grace.post("/c/riverside/notes", &[("body", "after")]).status, 303);
    assert_eq!(server.count("SELECT count(*) FROM notes_note"), 1);
    assert_eq!(server.count(&format!("{health}0")), 1, "and so is the recovery");
    assert_eq!(grace.get("/c/riverside/members").status, 200);
}

/// A plugin's recovery, noticed in its `Slots` call while another plugin's page call holds
/// the turn to write (opening a conversation marks it read), is stored once that call has
/// ended. (Stored inside it, the write would wait for the thread's own turn: the page, and
/// every writer behind it, would hang.)
#[test]
fn a_recovery_seen_in_the_slots_of_a_writing_page_is_stored_after_the_page_call() {
    let server = Server::start();
    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let alan = server.count("SELECT id FROM users WHERE nickname = 'alan' AND community_id = 1");
    let r = grace.post("/c/riverside/conversations", &[("to", &format!("user:{alan}")), ("body", "hello")]);
    let path = r.redirect_path();
    assert_eq!(grace.post("/c/riverside/notes-bad/trap-after-write", &[]).status, 503);
    let health = "SELECT count(*) FROM plugin_health WHERE plugin = 'notes' AND consecutive_failures = ";
    assert_eq!(server.count(&format!("{health}1")), 1, "the failure is stored");
    let page = grace.get(&path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("hello") && page.body.contains("My notes"), "the page with the notes slots");
    assert_eq!(server.count(&format!("{health}0")), 1, "the recovery is stored");
}

/// The usual test portal, with plugin statements stopped after 20 ms: well before the
/// call's CPU time runs out, so a plugin goes on after one.
fn short_statements() -> Server {
    let manifests = vec![crate::support::conversations_manifest(), crate::http::notes_manifest()];
    Server::custom(manifests, host::clock::Clock::system(), |c| c.plugins.runtime.limits.sql_ms = 20)
}

/// SQLite rolls the whole transaction back when a write statement is interrupted at its
/// time limit; a plugin that ignores that and writes on must not get its later writes
/// committed one by one.
#[test]
fn after_an_interrupted_write_nothing_more_is_written_and_nothing_is_kept() {
    let server = short_statements();
    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let r = grace.post("/c/riverside/notes-bad/write-after-timeout", &[]);
    if crate::http::on_postgres() {
        // PostgreSQL cancels the statement only (each plugin statement has a savepoint of
        // its own): the call goes on, and its other writes are kept with it.
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(server.count("SELECT count(*) FROM notes_note"), 2, "the rows before and after");
        return;
    }
    assert_eq!(r.status, 503, "the plugin answered, but its transaction was gone");
    assert_eq!(server.count("SELECT count(*) FROM notes_note"), 0, "not the row before, nor the one after");
    assert_eq!(grace.post("/c/riverside/notes", &[("body", "after")]).status, 303);
    assert_eq!(server.count("SELECT count(*) FROM notes_note"), 1);
}

/// Calls that queued for the turn to write share one commit; when a later call of the
/// group loses the group's transaction (its statement interrupted), an earlier one that
/// had succeeded runs again instead of failing.
#[test]
fn a_call_whose_commit_group_failed_because_of_another_call_runs_again() {
    if crate::http::on_postgres() {
        // Commit groups are SQLite's writer (PostgreSQL commits each call by itself): the
        // run on SQLite tests them.
        return;
    }
    let server = short_statements();
    server.grant("riverside", "notes.use", "everyone");
    let (mut grace, mut ada) = (server.signed_in("riverside", GRACE), server.signed_in("riverside", ADA));
    let db = server.portal.db.clone();
    let waiting_for = |n: usize| {
        while db.writes_waiting() < n {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    };
    // The test holds the turn to write: both calls queue behind it, in this order.
    let holder = db.write().expect("the turn");
    let note = std::thread::spawn(move || grace.post("/c/riverside/notes", &[("body", "kept")]));
    waiting_for(1);
    let loser = std::thread::spawn(move || ada.post("/c/riverside/notes-bad/write-after-timeout", &[]));
    waiting_for(2);
    let held = holder.commit();
    assert!(matches!(held, Err(host::db::DbError::GroupFailed(_))), "{held:?}");
    assert_eq!(loser.join().expect("thread").status, 503);
    assert_eq!(note.join().expect("thread").status, 303, "the note's call ran again");
    assert_eq!(server.count("SELECT count(*) FROM notes_note WHERE body = 'kept'"), 1);
    assert_eq!(server.count("SELECT count(*) FROM notes_note"), 1);
}

/// A call that may write waits for the turn to write only at its first host call: one
/// that is busy before that (here: until its CPU time runs out) holds up no other write.
#[test]
fn a_call_that_may_write_holds_up_no_writer_before_its_first_host_call() {
    let server = Server::start();
    server.grant("riverside", "notes.use", "everyone");
    let mut spinner = server.signed_in("riverside", GRACE);
    let spinning =
        std::thread::spawn(move || spinner.post("/c/riverside/notes-bad/spin-before-writing", &[]));
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut ada = server.signed_in("riverside", ADA);
    assert_eq!(ada.post("/c/riverside/notes", &[("body", "meanwhile")]).status, 303);
    assert!(!spinning.is_finished(), "the note was written while the other call still ran");
    assert_eq!(spinning.join().expect("thread").status, 503);
    assert_eq!(server.count("SELECT count(*) FROM notes_note"), 1);
}

/// A job call that fails after a write: the write is rolled back, the failure is on
/// record (stored once the call's transaction ended; before, that store waited 5 s for
/// the call's own write lock and then failed), and the next call writes.
#[test]
fn a_job_that_fails_after_a_write_keeps_nothing_and_its_failure_is_on_record() {
    let server = Server::start();
    server.grant("riverside", "notes.failing_job", "everyone");
    let runs = host::jobs::run_due(&server.portal, "test").expect("jobs");
    let run = runs.iter().find(|r| r.job == "fail_after_write").expect("the job ran");
    assert!(!run.ok && run.summary.contains("trapped"), "{run:?}");
    assert_eq!(server.count("SELECT count(*) FROM notes_note"), 0, "its write was rolled back");
    let health = "SELECT count(*) FROM plugin_health WHERE plugin = 'notes' AND total_failures = 1";
    assert_eq!(server.count(health), 1, "the failure is stored");
    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    assert_eq!(grace.post("/c/riverside/notes", &[("body", "after")]).status, 303);
}

#[test]
fn plugin_migrations_are_applied_once_and_recorded() {
    let server = Server::start();
    let described = server.portal.plugins.iter().find(|p| p.id() == "conversations").expect("loaded");
    let expected = described.plugin.description().migrations.len() as i64;
    assert_eq!(
        server.count("SELECT count(*) FROM plugin_migrations WHERE plugin = 'conversations'"),
        expected
    );
    assert_eq!(server.count("SELECT count(*) FROM plugin_migrations WHERE plugin = 'notes'"), 1);
    let table = if crate::http::on_postgres() {
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'plugin_conversations' AND tablename = 'conversations_message'"
    } else {
        "SELECT count(*) FROM sqlite_master WHERE name = 'conversations_message'"
    };
    assert_eq!(server.count(table), 1);
}

#[test]
fn the_admin_page_is_for_community_admins_only() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    assert_eq!(grace.get("/c/riverside/admin").status, 403);
    let r = grace.post(
        "/c/riverside/admin/abilities",
        &[("action", "grant"), ("ability", "notes.use"), ("grantee", "everyone")],
    );
    assert_eq!(r.status, 403);
    assert_eq!(server.count("SELECT count(*) FROM ability_grants WHERE ability = 'notes.use'"), 0);
    let mut ada = server.signed_in("riverside", ADA);
    let page = ada.get("/c/riverside/admin").body;
    assert!(page.contains("conversations.use") && page.contains("notes.use"));
}

#[test]
fn settings_are_overridden_per_community_and_reach_the_plugin() {
    let server = Server::start();
    let mut ada = server.signed_in("riverside", ADA);
    let r = ada.post(
        "/c/riverside/admin/settings",
        &[
            ("plugin", "conversations"),
            ("max_participants", "5"),
            ("max_message_length", "280"),
            ("require_acceptance", "on"),
            ("digest_interval", "10m"),
            ("code_of_conduct_url", "https://riverside.example/conduct"),
        ],
    );
    assert_eq!(r.status, 303);
    let about = ada.get("/c/riverside/conversations/about").body;
    assert!(about.contains("Messages may be up to 280 characters."), "{about}");

    let bad =
        ada.post("/c/riverside/admin/settings", &[("plugin", "conversations"), ("max_message_length", "0")]);
    assert_eq!(bad.status, 303);
    assert!(ada.get("/c/riverside/admin").body.contains("is not allowed"));
    assert!(
        ada.get("/c/riverside/conversations/about").body.contains("up to 280 characters"),
        "the bad value was not saved"
    );
}

#[test]
fn unknown_pages_and_communities_are_404() {
    let server = Server::start();
    let mut client = server.client();
    assert_eq!(client.get("/c/nowhere").status, 404);
    assert_eq!(client.get("/c/riverside/members/nobody").status, 404);
    assert_eq!(client.get("/no/such/page").status, 404);
}

#[test]
fn the_member_directory_searches_names_safely() {
    let server = Server::start();
    let mut client = server.client();
    let r = client.get("/c/riverside/members?q=gra");
    assert!(r.body.contains("Grace Hopper") && !r.body.contains("Alan Turing"));
    let r = client.get("/c/riverside/members?q=%25");
    assert!(r.body.contains("No member matches"), "a % is a character, not a wildcard");
    let r = client.get("/c/riverside/members?q=%3Cscript%3E");
    assert!(r.body.contains("&lt;script&gt;") && !r.body.contains("<script>"));
}
