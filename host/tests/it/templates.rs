//! The plugin template sandbox over real HTTP: a plugin whose template multiplies work gets
//! its page failed quickly while the portal keeps serving; templates that include each
//! other are refused when the plugin loads; plugin pages carry the CSRF token only in the
//! hidden form field.

use crate::http::{Server, notes_manifest};
use crate::support::{conversations_manifest, hostile, test_config};
use host::clock::Clock;
use host::config::Config;
use host::portal::Portal;
use std::time::{Duration, Instant};

const GRACE: &str = "grace@riverside.example";

#[test]
fn a_template_that_multiplies_work_fails_its_page_only_and_quickly() {
    let manifests = vec![conversations_manifest(), notes_manifest(), hostile("template_bomb")];
    let server = Server::custom(manifests, Clock::system(), |c| c.plugins.breaker.failures = u32::MAX);
    server.grant("riverside", "template_bomb.use", "everyone");
    let mut grace = server.signed_in("riverside", GRACE);
    for _ in 0..3 {
        let started = Instant::now();
        let r = grace.get("/c/riverside/bomb");
        assert_eq!(r.status, 503, "the failed render gets the plugin-error page");
        assert!(r.body.contains("not available right now"), "{}", r.body);
        // Correctness, not speed: the render is cut off, not left to run for minutes.
        assert!(started.elapsed() < Duration::from_secs(5), "failed after {:?}", started.elapsed());
        let other = grace.get("/c/riverside/conversations");
        assert_eq!(other.status, 200, "the portal keeps serving");
    }
}

#[test]
fn templates_that_include_each_other_are_refused_when_the_plugin_loads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
    config.plugins.manifests = vec![hostile("template_loop")];
    config.plugins.runtime = test_config();
    match Portal::start(config, Clock::system()) {
        Ok(_) => panic!("a plugin with a partial cycle loaded"),
        Err(err) => assert!(
            err.to_string().starts_with(
                "plugin `template_loop`: template `a` is refused by the template sandbox: partial cycle: a > b > a. Fix: "
            ),
            "{err}"
        ),
    }
}

#[test]
fn plugin_pages_carry_the_csrf_token_only_in_the_hidden_field() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", GRACE);
    let token = grace.csrf();
    let field = format!("<input type=\"hidden\" name=\"csrf\" value=\"{token}\">");
    for path in ["/c/riverside/conversations", "/c/riverside/conversations/new"] {
        let r = grace.get(path);
        assert_eq!(r.status, 200, "{path}");
        let everywhere = r.body.matches(token.as_str()).count();
        assert!(everywhere > 0, "{path}: the page has forms");
        assert_eq!(everywhere, r.body.matches(field.as_str()).count(), "{path}: only in hidden fields");
    }
}
