//! Web hardening over real HTTP: security headers on every response, `Secure` cookies,
//! rate limits on sign-in and on sending messages (429 with `Retry-After`), request body
//! limits, redirects that never leave the portal, and the circuit breaker that switches a
//! failing plugin off (`portal plugin status` shows it).

use crate::http::{Client, Server, notes_manifest};
use crate::support::conversations_manifest;
use host::clock::Clock;
use plugin_api::Timestamp;

const GRACE: &str = "grace@riverside.example";
const ALAN: &str = "alan@riverside.example";
const T0: Timestamp = Timestamp(1_795_000_000_000);

fn user(server: &Server, nickname: &str) -> String {
    format!(
        "user:{}",
        server.count(&format!("SELECT id FROM users WHERE nickname = '{nickname}' AND community_id = 1"))
    )
}

#[test]
fn every_response_carries_the_security_headers_and_pages_have_no_inline_code() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let mut visitor = server.client();
    let pages = [
        grace.get("/"),
        grace.get("/c/riverside"),
        grace.get("/c/riverside/members/alan"),
        grace.get("/c/riverside/conversations"),
        grace.get("/c/riverside/conversations/new"),
        grace.get("/c/riverside/settings/notifications"),
        grace.get("/c/riverside/notifications"),
        visitor.get("/c/riverside/sign-in"),
        visitor.get("/c/riverside/no-such-page"),
        visitor.get("/c/no-such-community"),
    ];
    for page in &pages {
        let csp = page.header("content-security-policy").expect("a CSP on every page");
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(page.header("referrer-policy"), Some("same-origin"));
        assert_eq!(page.header("cache-control"), Some("no-store"), "pages are not cached");
        // The policy would block inline code, so the pages must not need any.
        assert!(!page.body.contains("<script>") && !page.body.contains(" style=\""), "{}", page.body);
        assert!(!page.body.contains(" onclick=") && !page.body.contains("javascript:"), "{}", page.body);
    }
    let css = visitor.get("/static/portal.css");
    assert_eq!(css.header("x-content-type-options"), Some("nosniff"));
    assert!(css.header("cache-control").is_some_and(|c| c.contains("max-age")));
}

#[test]
fn cookies_are_secure_when_the_public_url_is_https() {
    let server = Server::with_clock(Clock::system(), |c| c.public_url = "https://portal.example".into());
    let mut client = server.client();
    let r = client.sign_in("riverside", GRACE, "demo-password");
    assert_eq!(r.status, 303);
    let session = r.set_cookies.iter().find(|c| c.starts_with("portal_session=")).expect("session cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(session.contains(attribute), "{session}");
    }
    let plain = Server::with_clock(Clock::system(), |_| {});
    let r = plain.client().sign_in("riverside", GRACE, "demo-password");
    let session = r.set_cookies.iter().find(|c| c.starts_with("portal_session=")).expect("session cookie");
    assert!(!session.contains("Secure"), "plain http keeps cookies usable on localhost: {session}");
}

#[test]
fn wrong_passwords_are_limited_per_account_with_retry_after() {
    let clock = Clock::manual(T0);
    let server = Server::with_clock(clock.clone(), |_| {});
    let mut client = server.client();
    for _ in 0..5 {
        assert_eq!(client.sign_in("riverside", GRACE, "guess").status, 401);
    }
    let r = client.sign_in("riverside", GRACE, "demo-password");
    assert_eq!(r.status, 429, "even the right password waits: {}", r.body);
    assert_eq!(r.header("retry-after"), Some("900"));
    assert!(r.body.contains("Too many sign-in attempts"), "{}", r.body);
    assert_eq!(
        client.sign_in("riverside", ALAN, "demo-password").status,
        303,
        "other accounts are not locked"
    );
    clock.advance(899_000);
    assert_eq!(client.sign_in("riverside", GRACE, "demo-password").status, 429);
    clock.advance(1_000);
    assert_eq!(client.sign_in("riverside", GRACE, "demo-password").status, 303, "the window is over");
    // A successful sign-in clears the failures.
    for _ in 0..4 {
        assert_eq!(client.sign_in("riverside", GRACE, "guess").status, 401);
    }
    assert_eq!(client.sign_in("riverside", GRACE, "demo-password").status, 303);
    assert_eq!(client.sign_in("riverside", GRACE, "guess").status, 401, "counting starts again");
}

#[test]
fn sign_in_attempts_are_limited_per_client_address() {
    let server = Server::with_clock(Clock::manual(T0), |c| c.web.sign_in.attempts_per_address = 8);
    let mut client = server.client();
    for i in 0..8 {
        let r = client.sign_in("riverside", &format!("nobody{i}@riverside.example"), "guess");
        assert_eq!(r.status, 401);
    }
    let r = client.sign_in("riverside", ALAN, "demo-password");
    assert_eq!(r.status, 429, "password spraying from one address is stopped");
    assert!(r.header("retry-after").is_some());
}

#[test]
fn sending_messages_is_limited_per_member_and_the_limit_is_a_community_setting() {
    let clock = Clock::manual(T0);
    let server = Server::with_clock(clock.clone(), |_| {});
    server.set_setting("riverside", "conversations.messages_per_minute", "3");
    let mut grace = server.signed_in("riverside", GRACE);
    let r = grace.post("/c/riverside/conversations", &[("to", &user(&server, "alan")), ("body", "one")]);
    assert_eq!(r.status, 303);
    let path = r.redirect_path();
    let mut alan = server.signed_in("riverside", ALAN);
    assert_eq!(alan.post(&format!("{path}/invitation"), &[("answer", "accept")]).status, 303);
    for body in ["two", "three"] {
        assert_eq!(grace.post(&path, &[("body", body)]).status, 303);
    }
    let r = grace.post(&path, &[("body", "four")]);
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("60"));
    assert!(r.body.contains("too often"), "{}", r.body);
    assert_eq!(server.count("SELECT count(*) FROM conversations_message"), 3, "the fourth was not stored");
    assert_eq!(grace.get(&path).status, 200, "reading is not limited");
    assert_eq!(alan.post(&path, &[("body", "alan's reply")]).status, 303, "other members are not limited");

    clock.advance(60_000);
    assert_eq!(grace.post(&path, &[("body", "four, a minute later")]).status, 303);
    assert_eq!(server.count("SELECT count(*) FROM conversations_message"), 5);
}

#[test]
fn request_bodies_over_the_limit_are_refused_and_nothing_is_stored() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let huge = "x".repeat(100 * 1024);
    let r = grace.post("/c/riverside/conversations", &[("to", &user(&server, "alan")), ("body", &huge)]);
    assert_eq!(r.status, 413);
    let r = grace.post("/c/riverside/sign-in", &[("email", &huge), ("password", "x")]);
    assert_eq!(r.status, 413);
    assert_eq!(server.count("SELECT count(*) FROM conversations_message"), 0);
    assert_eq!(grace.get("/c/riverside").status, 200, "the portal keeps serving");
}

#[test]
fn a_plugin_redirect_to_another_site_stays_in_the_community() {
    let server = Server::start();
    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let r = grace.get("/c/riverside/notes-bad/redirect-away");
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/c/riverside"));
}

/// Runs `portal plugin status` against `server`'s database.
fn plugin_status(server: &Server) -> String {
    let config = server.dir.path().join("portal.toml");
    let manifests = [conversations_manifest(), notes_manifest()];
    let database =
        server.portal.config.database.as_ref().map(|d| format!("database = {d:?}\n")).unwrap_or_default();
    let toml = format!(
        "data_dir = {:?}\n{database}[plugins]\nmanifests = [{:?}, {:?}]\n",
        server.dir.path(),
        manifests[0],
        manifests[1]
    );
    std::fs::write(&config, toml).expect("config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(["--config", config.to_str().expect("utf-8"), "plugin", "status"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("portal runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_plugin_that_keeps_failing_is_switched_off_for_a_cool_down() {
    // The status command reads the system clock: start the portal's clock there.
    let clock = Clock::manual(host::clock::system_now());
    let server = Server::custom(vec![conversations_manifest(), notes_manifest()], clock.clone(), |c| {
        c.plugins.breaker.failures = 3;
        c.plugins.breaker.cool_down_seconds = 60;
    });
    server.grant("riverside", "notes.use", "everyone");
    let mut grace: Client = server.signed_in("riverside", GRACE);
    assert!(plugin_status(&server).contains("notes 0.1.0: on, no failures recorded"));
    for _ in 0..3 {
        let r = grace.get("/c/riverside/notes-bad/crash");
        assert_eq!(r.status, 503, "{}", r.body);
    }
    let home = grace.get("/c/riverside");
    assert!(!home.body.contains("My notes"), "the switched-off plugin's slots are left out");
    assert!(home.body.contains("data-slot-key=\"inbox_menu\""), "other plugins are untouched");
    let r = grace.get("/c/riverside/notes");
    assert_eq!(r.status, 503, "even its working pages wait for the cool-down");
    assert_eq!(r.header("retry-after"), Some("60"));
    assert!(r.body.contains("switched off"), "{}", r.body);
    assert_eq!(grace.get("/c/riverside/conversations").status, 200);

    let status = plugin_status(&server);
    assert!(status.contains("notes 0.1.0: SWITCHED OFF until"), "{status}");
    assert!(status.contains("after 3 failures in a row"), "{status}");
    assert!(status.contains("deliberate panic") || status.contains("trap"), "{status}");
    assert!(status.contains("conversations 0.1.0: on, no failures recorded"), "{status}");

    clock.advance(60_000);
    let r = grace.get("/c/riverside/notes");
    assert_eq!(r.status, 200, "after the cool-down the plugin is called again: {}", r.body);
    assert!(grace.get("/c/riverside").body.contains("My notes"));
    let status = plugin_status(&server);
    assert!(status.contains("notes 0.1.0: on, 0 failures in a row; 3 failures in total"), "{status}");
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(0.0)
}

/// Conversations pages keep being served, correctly, while a plugin beside it loops, traps
/// and floods host calls from three clients at once (its breaker kept closed, the worst
/// case). The latencies are printed for information; `make bench` measures them properly.
#[test]
fn conversations_keep_serving_while_a_plugin_beside_it_loops_traps_and_floods() {
    let server = Server::custom(vec![conversations_manifest(), notes_manifest()], Clock::system(), |c| {
        c.plugins.breaker.failures = u32::MAX;
    });
    server.grant("riverside", "notes.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    let r =
        grace.post("/c/riverside/conversations", &[("to", &user(&server, "alan")), ("body", "under load")]);
    let path = r.redirect_path();
    let read = |client: &mut Client, samples: &mut Vec<f64>| {
        for page in ["/c/riverside/conversations", path.as_str()] {
            let started = std::time::Instant::now();
            let r = client.get(page);
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(r.status, 200, "{page}");
            assert!(r.body.contains("under load"), "{page}: the real content");
        }
    };
    let mut quiet = Vec::new();
    for _ in 0..20 {
        read(&mut grace, &mut quiet);
    }

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = ["spin", "crash", "flood"]
        .into_iter()
        .map(|route| {
            let mut client = server.signed_in("riverside", "hedy@riverside.example");
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut failures = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && failures < 50 {
                    let r = client.get(&format!("/c/riverside/notes-bad/{route}"));
                    assert_eq!(r.status, 503, "{route} is stopped and answered with 503");
                    failures += 1;
                }
                failures
            })
        })
        .collect();
    let mut attacked = Vec::new();
    for _ in 0..20 {
        read(&mut grace, &mut attacked);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let failures: i32 = attackers.into_iter().map(|a| a.join().expect("attacker")).sum();
    assert!(failures >= 3, "the hostile plugin was called while Conversations served");
    assert_eq!(grace.get("/c/riverside/notes").status, 200, "its working pages still answer");
    println!(
        "under attack ({failures} hostile calls): Conversations median {:.2} ms, quiet {:.2} ms",
        median_ms(attacked),
        median_ms(quiet)
    );
}
