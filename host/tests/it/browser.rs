//! The whole journey in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, through fantoccini) against a real portal with the real plugin. Every step
//! asserts what is on the page. axe-core checks every page the journey visits, at desktop
//! and phone widths ([`axe`]). Screenshots of the main pages, at both widths, go to
//! `target/screenshots/` (the README shows a copy from `docs/screenshots/`).
//!
//! `scripts/browser.sh` (run by `make test`) installs Chromium, chromedriver and axe-core;
//! the test fails, saying so, when they are missing.

mod axe;
mod keyboard;

use crate::http::Server;
use crate::support::root;
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a step may take before the test gives up (a loaded CI machine included).
const PATIENCE: Duration = Duration::from_secs(15);
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);
const PASSWORD: &str = "demo-password";

/// A chromedriver process; each [`Chrome::session`] is a fresh browser with its own cookies.
struct Chrome {
    driver: Child,
    url: String,
    chromium: PathBuf,
    profiles: tempfile::TempDir,
    /// What axe found on the pages of every session.
    report: axe::Report,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

fn tool(var: &str, names: &[&str]) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).or_else(|| on_path(names)).unwrap_or_else(|| {
        panic!("{} not found: run scripts/browser.sh (make test does), or set {var}", names[0])
    })
}

impl Chrome {
    fn start() -> Chrome {
        let chromium = tool("PORTAL_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
        let driver_path = tool("PORTAL_CHROMEDRIVER", &["chromedriver"]);
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < PATIENCE, "chromedriver did not open port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profiles = tempfile::tempdir().expect("profile dir");
        Chrome {
            driver,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            profiles,
            report: axe::Report::default(),
        }
    }

    async fn session(&self, name: &str) -> Client {
        let profile = self.profiles.path().join(name);
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(caps) = caps else { unreachable!("an object literal") };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector).capabilities(caps).connect(&self.url).await.expect("a browser session")
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One member's browser on the portal.
struct Tab {
    client: Client,
    base: String,
    shots: PathBuf,
    report: axe::Report,
}

impl Tab {
    async fn open(chrome: &Chrome, server: &Server, name: &str) -> Tab {
        let shots = root().join("target/screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        Tab {
            client: chrome.session(name).await,
            base: server.base.clone(),
            shots,
            report: chrome.report.clone(),
        }
    }

    /// Opens `path` and has axe check the page.
    async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("navigation");
        self.audit(path).await;
    }

    /// Runs axe on the page as it is now, at desktop and at phone width; fails on any
    /// serious or critical violation ([`axe::Report::record`]).
    async fn audit(&self, page: &str) {
        let page = format!("{page} [{}]", self.path().await);
        for (label, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.client.set_window_size(width, height).await.expect("resize");
            let violations = axe::run(&self.client).await;
            self.report.record(&page, label, violations);
        }
        self.client.set_window_size(DESKTOP.0, DESKTOP.1).await.expect("resize");
    }

    async fn find(&self, css: &str) -> Element {
        match self.client.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no `{css}` on {}: {e}", self.url().await),
        }
    }

    async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.map(|v| v.len()).unwrap_or(0)
    }

    /// The path of the current page, without query or fragment.
    async fn path(&self) -> String {
        let url = self.url().await;
        url.trim_start_matches(&self.base).split(['?', '#']).next().unwrap_or_default().to_owned()
    }

    async fn url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default()
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_default()
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect("script runs")
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    /// Waits until the text of `css` contains `needle` (the page may change meanwhile).
    async fn wait_text(&self, css: &str, needle: &str) {
        let started = Instant::now();
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "`{css}` on {} never showed {needle:?}; it shows {text:?}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_url(&self, needle: &str) {
        let started = Instant::now();
        while !self.url().await.contains(needle) {
            assert!(started.elapsed() < PATIENCE, "never reached {needle}; at {}", self.url().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page is a conversation (`.../conversations/{id}`, not the compose
    /// form at `.../conversations/new`) and returns its path.
    async fn wait_conversation(&self) -> String {
        let started = Instant::now();
        loop {
            let path = self.path().await;
            let last = path.rsplit('/').next().unwrap_or_default();
            if path.contains("/conversations/")
                && !last.is_empty()
                && last.bytes().all(|b| b.is_ascii_digit())
            {
                return path;
            }
            assert!(started.elapsed() < PATIENCE, "never reached a conversation; at {path}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn sign_in(&self, community: &str, email: &str) {
        self.goto(&format!("/c/{community}/sign-in")).await;
        self.type_into("#email", email).await;
        self.type_into("#password", PASSWORD).await;
        self.click("main form button[type=submit]").await;
        self.find(".user-menu").await;
        assert!(!self.url().await.contains("/sign-in"), "{email} is signed in");
        self.audit("signed in").await;
    }

    /// Screenshots of the whole page at desktop and phone widths, after checking the page
    /// for the accessibility basics ([`A11Y_CHECK`]) and with axe.
    async fn shot(&self, name: &str) {
        let problems = self.js(A11Y_CHECK).await;
        assert_eq!(problems, json!([]), "accessibility problems on the {name} page");
        self.audit(name).await;
        for (label, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.client.set_window_size(width, height).await.expect("resize");
            // The window is taller than the page's viewport by the browser's own frame.
            let full = self
                .js("return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight")
                .await
                .as_u64()
                .unwrap_or(0);
            let tall = u32::try_from(full).unwrap_or(height).clamp(height, 2400);
            self.client.set_window_size(width, tall).await.expect("resize");
            self.js("window.scrollTo(0, 0)").await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let png = self.client.screenshot().await.expect("screenshot");
            save(&self.shots.join(format!("{name}-{label}.png")), &png);
        }
        self.client.set_window_size(DESKTOP.0, DESKTOP.1).await.expect("resize");
    }
}

/// The basics every page must get right, checked in the browser on each page the test
/// photographs: a language, one `main` landmark and one `h1`, a label for every field, a
/// name for every link and button, `alt` on images, unique ids.
const A11Y_CHECK: &str = r#"
const problems = [];
const short = (el) => el.outerHTML.slice(0, 100);
if (!document.documentElement.lang) problems.push('html without lang');
if (document.querySelectorAll('main').length !== 1) problems.push('not exactly one main');
if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const labelled = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (!labelled) problems.push('field without a label: ' + short(el));
}
for (const el of document.querySelectorAll('a[href], button, summary')) {
  const name = (el.textContent || '').trim() || el.getAttribute('aria-label') || el.getAttribute('title');
  if (!name) problems.push('link or button without a name: ' + short(el));
}
for (const img of document.querySelectorAll('img:not([alt])')) problems.push('image without alt: ' + short(img));
const seen = new Set();
for (const el of document.querySelectorAll('[id]')) {
  if (seen.has(el.id)) problems.push('duplicate id ' + el.id);
  seen.add(el.id);
}
return problems;
"#;

fn save(path: &Path, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(path, png).expect("screenshot written");
}

fn id_in(server: &Server, table: &str, community: &str, nickname: &str) -> i64 {
    server.count(&format!(
        "SELECT t.id FROM {table} t JOIN communities c ON c.id = t.community_id
         WHERE c.slug = '{community}' AND t.nickname = '{nickname}'"
    ))
}

#[test]
fn the_whole_journey_in_a_real_browser() {
    let server = Server::start();
    let chrome = Chrome::start();
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(async {
        journey(&server, &chrome).await;
    });
    chrome.report.print();
}

async fn journey(server: &Server, chrome: &Chrome) {
    // The operator of Hilltop switches Conversations on for everyone, in the admin page.
    let nikola = Tab::open(chrome, server, "nikola").await;
    nikola.sign_in("hilltop", "nikola@hilltop.example").await;
    nikola.goto("/c/hilltop/members/rosalind").await;
    nikola.find(".profile-header").await;
    assert_eq!(
        nikola.count("[data-slot-key=message]").await,
        0,
        "no Message button while the feature is off"
    );
    // Keyboard: the first Tab reaches the skip link, which leads to the main content.
    nikola.find("body").await.send_keys("\u{E004}").await.expect("Tab");
    assert_eq!(nikola.js("return document.activeElement.textContent").await, json!("Skip to content"));
    nikola.goto("/c/hilltop/admin").await;
    assert_eq!(nikola.count("#plugin-conversations ~ table .tag-off").await, 3, "three abilities, all off");
    for ability in ["conversations.use", "conversations.start", "conversations.groups"] {
        nikola.find("#grant-ability-conversations").await.select_by_value(ability).await.expect("option");
        let grantee = nikola.find("#grant-grantee-conversations").await;
        grantee.clear().await.expect("clear");
        grantee.send_keys("everyone").await.expect("type");
        nikola.click("section[aria-labelledby=plugin-conversations] form.form-row button").await;
        nikola.wait_text(".flash", ability).await;
    }
    assert_eq!(nikola.count("#plugin-conversations ~ table .tag-off").await, 0);
    let granted = nikola.text("#plugin-conversations ~ table tbody").await;
    assert_eq!(granted.matches("everyone").count(), 3, "{granted}");
    nikola.shot("admin-abilities").await;

    // Marie opens Rosalind's profile, clicks Message and writes.
    let marie = Tab::open(chrome, server, "marie").await;
    marie.sign_in("hilltop", "marie@hilltop.example").await;
    marie.goto("/c/hilltop/members/rosalind").await;
    marie.wait_text(".actions", "Message").await;
    marie.shot("profile").await;
    marie.click("a[data-slot-key=message]").await;
    marie.wait_url("/conversations/new").await;
    let rosalind_id = id_in(server, "users", "hilltop", "rosalind");
    let rosalind_box = marie.find(&format!("#recipients input[value='user:{rosalind_id}']")).await;
    assert!(rosalind_box.is_selected().await.expect("checkbox"), "the Message button chose Rosalind");
    marie.type_into("#compose-body", "Hello Rosalind! Could you show me the laser cutter on Saturday?").await;
    marie.wait_text("[data-counter-for=compose-body]", "of 1000 characters").await;
    marie.shot("new-conversation").await;
    marie.click("#compose > button.button").await;
    marie.wait_text(".flash", "Your message is sent.").await;
    marie.wait_text(".messages", "laser cutter on Saturday").await;
    marie.audit("conversation just started").await;
    let conversation_path = marie.path().await;

    // Rosalind signs in: the avatar badge and the bell say something is new.
    let rosalind = Tab::open(chrome, server, "rosalind").await;
    rosalind.sign_in("hilltop", "rosalind@hilltop.example").await;
    rosalind.goto("/c/hilltop").await;
    assert_eq!(rosalind.js("return document.title").await, json!("Hilltop Makers"), "the name once");
    let badge = rosalind.js("return document.querySelector('.avatar-badges .badge').textContent").await;
    assert_eq!(badge, json!(", Conversations with unread messages: 1"));
    assert!(rosalind.text(".bell .badge").await.starts_with('1'));
    // The avatar button is named by what it shows (the initials and the count) and says
    // whose menu it is.
    let summary = rosalind.find(".user-menu summary").await;
    assert_eq!(summary.attr("aria-label").await.expect("attr"), None, "named by its content");
    let name = rosalind
        .js("return document.querySelector('.user-menu summary').textContent.replace(/\\s+/g, ' ').replace(/ ,/g, ',').replace('▾', '').trim()")
        .await;
    assert_eq!(name, json!("RF, account menu of Rosalind Franklin, Conversations with unread messages: 1"));

    // From here to her reply, Rosalind uses the keyboard only. The avatar button is a menu
    // button: Enter opens the menu on its first item, the arrows move and wrap, Home and
    // End jump, Escape closes it and gives the focus back.
    rosalind.tab_to(".user-menu summary").await;
    let ring = rosalind.js("return getComputedStyle(document.activeElement).outlineColor").await;
    assert_eq!(ring, json!("rgb(255, 191, 71)"), "the yellow ring on the blue header");
    rosalind.press(Key::Enter).await;
    rosalind.wait_focus_text("My profile").await;
    assert!(rosalind.menu_open().await);
    assert!(rosalind.focus_is(".menu [role=menuitem]").await, "the menu's items are menu items");
    let ring = rosalind.js("return getComputedStyle(document.activeElement).outlineColor").await;
    assert_eq!(ring, json!("rgb(29, 39, 51)"), "a dark ring on the white menu");
    rosalind.shot("avatar-menu").await;
    rosalind.press(Key::Down).await;
    rosalind.wait_focus_text("Conversations").await;
    rosalind.press(Key::End).await;
    rosalind.wait_focus_text("Sign out").await;
    rosalind.press(Key::Down).await;
    rosalind.wait_focus_text("My profile").await;
    rosalind.press(Key::Up).await;
    rosalind.wait_focus_text("Sign out").await;
    rosalind.press(Key::Home).await;
    rosalind.wait_focus_text("My profile").await;
    rosalind.press(Key::Escape).await;
    assert!(!rosalind.menu_open().await, "Escape closes the menu");
    assert!(rosalind.focus_is(".user-menu summary").await, "and the focus is back on its button");
    rosalind.press(Key::Down).await;
    rosalind.wait_focus_text("My profile").await;
    rosalind.press(Key::Down).await;
    rosalind.wait_focus_text("Conversations").await;
    rosalind.press(Key::Enter).await;
    rosalind.wait_text(".conversation-list", "Marie Curie").await;
    rosalind.wait_text(".conversation-list", "Invitation").await;
    assert_eq!(rosalind.js("return document.title").await, json!("Conversations · Hilltop Makers"));
    rosalind.shot("inbox").await;
    rosalind.tab_to(".conversation-item a").await;
    rosalind.press(Key::Enter).await;
    rosalind.wait_text(".invitation", "You are invited").await;
    rosalind.audit("invitation").await;
    rosalind.tab_to("button[value=accept]").await;
    rosalind.press(Key::Enter).await;
    rosalind.wait_text(".flash", "You accepted the invitation").await;
    rosalind.audit("invitation accepted").await;
    // Marie's open conversation now offers the reply form: she may write again, and its
    // counter works as on a loaded page.
    marie.type_into("#reply-body", "Great").await;
    marie.wait_text("[data-counter-for=reply-body]", "5 of 1000 characters.").await;

    // Marie keeps the conversation open; Rosalind's reply appears there without a reload,
    // and Marie's header badge updates.
    marie.js("window.stillTheSamePage = 42").await;
    rosalind.tab_to("#reply-body").await;
    rosalind.type_here("Yes! Saturday at 10, bring your design as an SVG.").await;
    rosalind.tab_to("form.compose button.button").await;
    rosalind.press(Key::Enter).await;
    rosalind.wait_text(".messages", "Saturday at 10").await;
    marie.wait_text(".messages", "Saturday at 10").await;
    assert_eq!(marie.js("return window.stillTheSamePage").await, json!(42), "the page was not reloaded");
    marie.wait_text("#live-status", "new message").await;
    // Times read like people say them, with the exact time on hover.
    let time = marie.find(".messages time[datetime]").await;
    assert_eq!(time.text().await.expect("text"), "just now");
    assert!(time.attr("title").await.expect("attr").is_some_and(|t| t.ends_with(" UTC")));
    marie.shot("conversation").await;

    // On her inbox, Marie sees the next reply arrive: the list and the avatar badge update.
    marie.goto("/c/hilltop/conversations").await;
    marie.wait_text(".conversation-list", "Saturday at 10").await;
    assert_eq!(marie.count(".avatar-badges .badge").await, 0, "everything is read");
    marie.js("window.stillTheSamePage = 43").await;
    rosalind.type_into("#reply-body", "PS: the cutter needs 20 minutes to warm up.").await;
    rosalind.click("form.compose button.button").await;
    marie.wait_text(".conversation-list", "20 minutes to warm up").await;
    marie.wait_text(".avatar-badges", "1").await;
    marie.wait_text(".conversation-item.is-unread", "Rosalind Franklin").await;
    assert_eq!(marie.js("return window.stillTheSamePage").await, json!(43), "the page was not reloaded");
    marie.goto("/c/hilltop/notifications").await;
    marie.wait_text("main", "Rosalind Franklin accepted your conversation").await;
    let mark = marie.find(".notification-list button[name=id]").await.text().await.expect("text");
    assert!(mark.starts_with("Mark read"), "the name starts with the words shown: {mark:?}");
    marie.shot("notifications").await;
    marie.goto("/c/hilltop/settings/notifications").await;
    marie.find("main form").await;
    marie.shot("preferences").await;

    // A third member cannot open the conversation: a helpful 404, nothing of its content.
    nikola.goto(&conversation_path).await;
    nikola.wait_text("main h1", "Page not found").await;
    let page = nikola.text("main").await;
    assert!(!page.contains("show me the laser cutter"), "{page}");
    assert!(nikola.count("main a.button").await >= 1, "the 404 page offers a way back");
    // Like every signed-in page, it has the plugins' entries in the menu and the footer.
    assert_eq!(nikola.count(".menu a[data-slot-key=inbox_menu]").await, 1);
    assert_eq!(nikola.count(".site-footer a[data-slot-key=inbox_footer]").await, 1);
    nikola.shot("not-found").await;
    // An unknown address inside the community gets the community's page, not a bare one.
    nikola.goto("/c/hilltop/no-such-page").await;
    nikola.wait_text("main h1", "Page not found").await;
    assert_eq!(nikola.text(".site-header .brand").await, "◆ Hilltop Makers");
    assert_eq!(nikola.count(".menu a[data-slot-key=inbox_menu]").await, 1);
    assert_eq!(nikola.count(".site-footer a[data-slot-key=inbox_footer]").await, 1);
    assert_eq!(nikola.js("return document.title").await, json!("Page not found · Hilltop Makers"));

    group_conversation(server, &nikola, &marie, &rosalind).await;
    search_and_limits(server, &nikola).await;
    for tab in [nikola, marie, rosalind] {
        let _ = tab.client.close().await;
    }
}

#[test]
fn moderation_report_queue_and_release_in_a_real_browser() {
    let server = Server::with_manifests(vec![
        crate::support::conversations_manifest(),
        root().join("manifests/moderation.toml"),
    ]);
    server.set_setting("riverside", "conversations.require_acceptance", "false");
    server.grant("riverside", "moderation.check", "everyone");
    server.grant("riverside", "moderation.report", "everyone");
    server.grant("riverside", "moderation.review", "role:admin");
    let chrome = Chrome::start();
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(async {
        moderation_journey(&server, &chrome).await;
    });
    chrome.report.print();
}

/// Alan writes something unkind to Grace, who reports it; Grace, who joined today, shares
/// a link, which is held; Ada, an admin, finds both in the queue behind the flag in the
/// header, and releases the held message, which then reaches Alan.
async fn moderation_journey(server: &Server, chrome: &Chrome) {
    let alan = Tab::open(chrome, server, "alan").await;
    alan.sign_in("riverside", "alan@riverside.example").await;
    let grace_id = id_in(server, "users", "riverside", "grace");
    alan.goto(&format!("/c/riverside/conversations/new?to=user:{grace_id}")).await;
    alan.type_into("#compose-body", "Your stall was the worst at the fair").await;
    alan.click("#compose button.button:not([formaction])").await;
    let unkind = alan.wait_conversation().await;

    let grace = Tab::open(chrome, server, "grace").await;
    grace.sign_in("riverside", "grace@riverside.example").await;
    grace.goto(&unkind).await;
    grace.wait_text(".message-body", "worst at the fair").await;
    grace.click("ul.extension-slot a.extension-action").await;
    grace.wait_url("/moderation/report").await;
    grace.find("#report-reason").await;
    grace.type_into("#report-reason", "Needlessly hurtful").await;
    grace.shot("moderation-report").await;
    grace.click("main form button[type=submit]").await;
    grace.wait_text(".flash", "moderators").await;

    // Grace shares a link: she joined less than 7 days ago, so it is held for review.
    let alan_id = id_in(server, "users", "riverside", "alan");
    grace.goto(&format!("/c/riverside/conversations/new?to=user:{alan_id}")).await;
    grace.type_into("#compose-body", "Photos: https://example.org/fair-photos").await;
    grace.click("#compose button.button:not([formaction])").await;
    let shared = grace.wait_conversation().await;
    grace.wait_text(".message-status", "Held for review").await;
    grace.shot("moderation-held").await;
    alan.goto("/c/riverside/conversations").await;
    assert!(!alan.text("main").await.contains("fair-photos"), "held: Alan sees nothing");

    let ada = Tab::open(chrome, server, "ada").await;
    ada.sign_in("riverside", "ada@riverside.example").await;
    ada.click(".site-header a[data-slot-key=queue_icon]").await;
    ada.wait_url("/moderation").await;
    ada.wait_text("main", "Needlessly hurtful").await;
    ada.wait_text("main", "https://example.org/fair-photos").await;
    ada.shot("moderation-queue").await;
    // Release the held message (its entry is the one with a Release button).
    ada.click("button[name=decision][value=release]").await;
    // The queue again, the message among the decided ones.
    ada.wait_text("main table", "fair-photos").await;

    let started = Instant::now();
    loop {
        alan.goto(&shared).await;
        if alan.text("main").await.contains("fair-photos") {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the released message never reached Alan");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for tab in [alan, grace, ada] {
        let _ = tab.client.close().await;
    }
}

/// Nikola writes to the Laser Cutter Crew; Marie, its admin, answers for the group; Rosalind,
/// a plain member of the group, cannot read it.
async fn group_conversation(server: &Server, nikola: &Tab, marie: &Tab, rosalind: &Tab) {
    nikola.goto("/c/hilltop/groups/laser").await;
    nikola.click("a[data-slot-key=message_group]").await;
    let laser = id_in(server, "groups", "hilltop", "laser");
    let group_box = nikola.find(&format!("#recipients input[value='group:{laser}']")).await;
    assert!(group_box.is_selected().await.expect("checkbox"));
    nikola.audit("new conversation with a group").await;
    nikola.type_into("#compose-body", "Could the crew cut 20 name badges for the open day?").await;
    nikola.click("#compose > button.button").await;
    nikola.wait_text(".messages", "20 name badges").await;
    nikola.audit("group conversation").await;
    let path = nikola.path().await;

    marie.goto("/c/hilltop/conversations").await;
    marie.click(".tabs a:not([aria-current])").await;
    marie.wait_text("h1", "Conversations of Laser Cutter Crew").await;
    marie.wait_text(".conversation-list", "Nikola Tesla").await;
    marie.shot("group-inbox").await;
    marie.click(".conversation-item a").await;
    marie.wait_text("main", "You are reading and writing for Laser Cutter Crew").await;
    marie.audit("conversation for a group").await;
    marie.click("button[value=accept]").await;
    marie.wait_text(".flash", "You accepted").await;
    marie.type_into("#reply-body", "Sure, the crew will do it on Friday.").await;
    marie.click("form.compose button.button").await;
    marie.wait_text(".messages", "on Friday").await;

    // Nikola's open page shows the reply, signed for the group.
    nikola.wait_text(".messages", "on Friday").await;
    nikola.wait_text(".messages", "for Laser Cutter Crew").await;

    rosalind.goto(&path).await;
    rosalind.wait_text("main h1", "Page not found").await;
}

/// The new-conversation search picks two members by typing, and a message one character too
/// long is refused with the text kept.
async fn search_and_limits(server: &Server, nikola: &Tab) {
    let marie_id = id_in(server, "users", "hilltop", "marie");
    let rosalind_id = id_in(server, "users", "hilltop", "rosalind");
    nikola.goto("/c/hilltop/conversations/new").await;
    nikola.type_into("#people-search", "mar").await;
    nikola.click(&format!("#recipients input[value='user:{marie_id}']")).await;
    let search = nikola.find("#people-search").await;
    search.clear().await.expect("clear");
    search.send_keys("ros").await.expect("type");
    nikola.click(&format!("#recipients input[value='user:{rosalind_id}']")).await;
    for id in [marie_id, rosalind_id] {
        let ticked = nikola.find(&format!("#recipients input[value='user:{id}']")).await;
        assert!(ticked.is_selected().await.expect("checkbox"), "user {id} stays ticked");
    }
    // One character too many: refused, with the text and the chosen people kept.
    let too_long = "x".repeat(1001);
    nikola.type_into("#compose-body", &too_long).await;
    nikola.wait_text("[data-counter-for=compose-body]", "1001 of 1000 characters: 1 too many.").await;
    nikola.click("#compose > button.button").await;
    nikola.wait_text(".form-error", "at most 1000 characters").await;
    let kept = nikola.js("return document.querySelector('#compose-body').value.length").await;
    assert_eq!(kept, json!(1001), "the typed text is kept");
    for id in [marie_id, rosalind_id] {
        let ticked = nikola.find(&format!("#recipients input[value='user:{id}']")).await;
        assert!(ticked.is_selected().await.expect("checkbox"), "user {id} is still chosen");
    }
    let stored = server.count("SELECT count(*) FROM conversations_message WHERE length(body) > 1000");
    assert_eq!(stored, 0);
    nikola.shot("message-too-long").await;

    nikola.find("#compose-body").await.clear().await.expect("clear");
    nikola.type_into("#compose-body", "Shall we three plan the open day?").await;
    nikola.click("#compose > button.button").await;
    nikola.wait_text(".participants", "Marie Curie").await;
    nikola.wait_text(".participants", "Rosalind Franklin").await;
    nikola.wait_text(".messages", "plan the open day").await;
    nikola.audit("conversation of three").await;
}
