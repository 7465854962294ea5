//! The hostile input corpus: XSS payloads, template and SQL metacharacters and unicode edge
//! cases in member names, bios, group names, message bodies, search queries and every form
//! field, checked in the HTML pages and in the emails; malformed and oversized forms. Every
//! page must stay inert (escaped), every answer below 500, and nothing may leak.

use crate::http::{Client, Server};
use host::demo::{DemoCommunity, DemoFile, DemoGrant, DemoGroup, DemoMember};
use host::email::{Transport, deliver_due};

/// Script and markup injections.
const XSS: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'><svg/onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<style>body{display:none}</style>",
    "<base href=\"https://evil.example/\">",
    "https://evil.example/\"onmouseover=\"alert(1)",
    "https://evil.example/<script>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<img src=`x` onerror=alert(1)>",
    "<div style=\"position:fixed;inset:0\">overlay</div>",
    "Eve\r\nBcc: victim@evil.example",
];

/// Template syntax and SQL metacharacters: shown as typed, never evaluated.
const METACHARACTERS: &[&str] = &[
    "{{portal.csrf}}",
    "{{{this}}}",
    "{{> layout}}",
    "' OR '1'='1",
    "\"; DROP TABLE users; --",
    "%",
    "_",
    "\\",
    "%' OR 1=1 --",
    "1; DELETE FROM conversations_message",
];

/// Unicode edge cases.
const UNICODE: &[&str] = &[
    "\u{202E}gnp.exe",
    "zero\u{200B}width\u{200D}joiner",
    "e\u{301}\u{301}\u{301}",
    "\u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467}",
    "\u{FEFF}bom",
    "مرحبا بالعالم",
    "a\u{0}b",
    "\u{10FFFF}\u{FFFD}",
];

/// Markup that must never reach a page unescaped.
const DANGEROUS: &[&str] = &[
    "<script>",
    "<img src=x",
    "<img src=`x`",
    "<svg/onload",
    "<iframe",
    "<style>",
    "<base ",
    "href=\"javascript:",
    "\"onmouseover=\"",
    "<div style=\"position",
];

fn all_payloads() -> Vec<&'static str> {
    XSS.iter().chain(METACHARACTERS).chain(UNICODE).copied().collect()
}

/// The page is inert: no payload with markup characters appears verbatim, and no dangerous
/// markup at all.
fn assert_inert(what: &str, html: &str) {
    for danger in DANGEROUS {
        assert!(!html.contains(danger), "{what}: `{danger}` reached the page:\n{html}");
    }
    for payload in XSS {
        if payload.contains(['<', '>', '"']) {
            assert!(!html.contains(payload), "{what}: {payload:?} is not escaped");
        }
    }
}

fn member(i: usize, name: &str, bio: &str) -> DemoMember {
    DemoMember {
        nickname: format!("m{i}"),
        name: name.to_owned(),
        email: format!("m{i}@hostile.example"),
        bio: bio.to_owned(),
        admin: false,
    }
}

/// A community whose members and groups are named with the payloads.
fn hostile_community(server: &Server) {
    let payloads = all_payloads();
    let mut members: Vec<DemoMember> =
        payloads.iter().enumerate().map(|(i, p)| member(i, &format!("{p} {i}"), p)).collect();
    members.push(DemoMember { admin: true, ..member(900, "Boss", "") });
    members.push(member(901, "Sender", ""));
    let groups = XSS
        .iter()
        .enumerate()
        .map(|(i, p)| DemoGroup {
            nickname: format!("g{i}"),
            name: format!("{p} group"),
            description: (*p).to_owned(),
            admins: vec!["m901".into()],
            members: vec![format!("m{i}")],
        })
        .collect();
    let grants = ["conversations.use", "conversations.start", "conversations.groups"]
        .iter()
        .map(|a| DemoGrant { ability: (*a).into(), to: "everyone".into() })
        .collect();
    let file = DemoFile {
        password: "demo-password".into(),
        communities: vec![DemoCommunity {
            slug: "hostile".into(),
            name: "<script>alert('community')</script>".into(),
            description: "\"><img src=x onerror=alert(1)>".into(),
            grants,
            members,
            groups,
        }],
    };
    host::demo::load(&server.portal, &file).expect("hostile community loads");
}

fn id(server: &Server, table: &str, nickname: &str) -> i64 {
    server.count(&format!(
        "SELECT t.id FROM {table} t JOIN communities c ON c.id = t.community_id
         WHERE c.slug = 'hostile' AND t.nickname = '{nickname}'"
    ))
}

/// The decoded `text/html` part of a multipart email (quoted-printable or plain).
fn html_part(body: &str) -> String {
    let start = body.find("Content-Type: text/html").expect("an HTML part");
    let part = &body[start..];
    let (headers, content) = part.split_once("\r\n\r\n").expect("part body");
    let content = content.split("\r\n--").next().unwrap_or_default();
    if !headers.contains("quoted-printable") {
        return content.to_owned();
    }
    let joined = content.replace("=\r\n", "");
    let mut bytes = Vec::new();
    let mut rest = joined.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'=' && tail.len() >= 2 {
            let hex = std::str::from_utf8(&tail[..2]).expect("hex");
            bytes.push(u8::from_str_radix(hex, 16).expect("quoted-printable"));
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).expect("utf-8")
}

#[test]
fn hostile_names_bodies_searches_and_forms_stay_inert_in_pages_and_emails() {
    let server =
        Server::custom(vec![crate::support::conversations_manifest()], host::clock::Clock::system(), |c| {
            c.web.sign_in.attempts_per_address = 10_000
        });
    hostile_community(&server);
    server.set_setting("hostile", "conversations.messages_per_minute", "1000");
    server.set_setting("hostile", "conversations.require_acceptance", "false");
    let payloads = all_payloads();
    let mut tried = 0usize;
    let mut sender: Client = server.signed_in("hostile", "m901@hostile.example");
    let mut visitor = server.client();

    // Names, bios and group names on the public pages.
    for path in ["/", "/c/hostile", "/c/hostile/members", "/c/hostile/members?page=2"] {
        let r = visitor.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_inert(path, &r.body);
    }
    for (i, _) in payloads.iter().enumerate() {
        let r = sender.get(&format!("/c/hostile/members/m{i}"));
        assert_eq!(r.status, 200);
        assert_inert("profile", &r.body);
        tried += 2;
    }
    for (i, _) in XSS.iter().enumerate() {
        let r = sender.get(&format!("/c/hostile/groups/g{i}"));
        assert_eq!(r.status, 200);
        assert_inert("group page", &r.body);
        tried += 1;
    }

    // Search queries, in the directory and the compose form's member search.
    for q in &payloads {
        let query = serde_urlencoded::to_string([("q", q)]).expect("query");
        for path in [format!("/c/hostile/members?{query}"), format!("/c/hostile/conversations/new?{query}")] {
            let r = sender.get(&path);
            assert_eq!(r.status, 200, "{path}");
            assert_inert(&path, &r.body);
        }
        tried += 2;
    }
    let all = visitor.get("/c/hostile/members?q=%25").body;
    assert!(!all.contains("Sender"), "`%` is a literal character, not a wildcard");

    // Message bodies: each payload to the member named with it, then every page showing it.
    for (i, body) in payloads.iter().enumerate() {
        let to = format!("user:{}", id(&server, "users", &format!("m{i}")));
        let r = sender.post("/c/hostile/conversations", &[("to", &to), ("body", body)]);
        if body.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}').is_empty() {
            continue;
        }
        assert_eq!(r.status, 303, "{body:?}: {}", r.body);
        let path = r.location.expect("location");
        let page = sender.get(&path);
        assert_eq!(page.status, 200);
        assert_inert(&format!("conversation with {body:?}"), &page.body);
        let mut recipient = server.signed_in("hostile", &format!("m{i}@hostile.example"));
        for page in ["/c/hostile", "/c/hostile/conversations", &path, "/c/hostile/notifications"] {
            assert_inert(page, &recipient.get(page).body);
        }
        tried += 1;
    }
    assert_inert("sender's inbox", &sender.get("/c/hostile/conversations").body);
    // Template syntax is shown as typed.
    let shown = sender.get("/c/hostile/conversations").body;
    assert!(shown.contains("{{portal.csrf}}") || shown.contains("{{portal.csrf}} "), "{shown}");
    // A group named with a payload, written to as a group.
    let to = format!("group:{}", id(&server, "groups", "g0"));
    let r = server
        .signed_in("hostile", "m1@hostile.example")
        .post("/c/hostile/conversations", &[("to", &to), ("body", XSS[0])]);
    assert_eq!(r.status, 303, "{}", r.body);

    // Unicode: bidi overrides and NUL are dropped, joiners kept; counted in characters.
    let position = if crate::http::on_postgres() { "strpos" } else { "instr" };
    let stored = |needle: &str| {
        server.count(&format!(
            "SELECT count(*) FROM conversations_message WHERE {position}(body, '{needle}') > 0"
        ))
    };
    assert_eq!(stored("\u{202E}"), 0, "right-to-left overrides are not stored");
    assert_eq!(stored("gnp.exe"), 1);
    assert_eq!(stored("\u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467}"), 1, "emoji sequences are intact");
    let emoji = "\u{1F600}".repeat(1000);
    let to = format!("user:{}", id(&server, "users", "m0"));
    let r = sender.post("/c/hostile/conversations", &[("to", &to), ("body", &emoji)]);
    assert_eq!(r.status, 303, "1,000 four-byte emoji are 1,000 characters");
    let r = sender.post("/c/hostile/conversations", &[("to", &to), ("body", &format!("{emoji}\u{1F600}"))]);
    assert!(r.body.contains("at most 1000 characters; this one has 1001"), "{}", r.body);
    assert!(r.body.contains(&emoji), "the typed text is kept");
    let r = sender.post("/c/hostile/conversations", &[("to", &to), ("body", "\u{200B}\u{200D}\u{FEFF}")]);
    assert!(r.body.contains("Write a message before sending."), "only invisible characters is empty");
    tried += 4;

    // Every form field of the host: sign-in keeps the typed email, escaped.
    for payload in XSS {
        let mut client = server.client();
        let r = client.sign_in("hostile", payload, "wrong");
        assert_eq!(r.status, 401);
        assert_inert("sign-in form", &r.body);
        tried += 1;
    }
    // Compose errors keep the typed text, escaped.
    for payload in XSS {
        let long = format!("{payload}{}", "x".repeat(1000));
        let r = sender.post("/c/hostile/conversations", &[("to", &to), ("body", &long)]);
        assert_eq!(r.status, 200);
        assert!(r.body.contains("at most 1000 characters"));
        assert_inert("compose error", &r.body);
        let r = sender.post("/c/hostile/conversations", &[("to", payload), ("body", payload)]);
        assert!(r.status < 500);
        assert_inert("compose with a bad recipient", &r.body);
        tried += 2;
    }
    // The admin forms: settings and grants refuse the payloads with an inert message.
    let mut boss = server.signed_in("hostile", "m900@hostile.example");
    for payload in XSS.iter().chain(METACHARACTERS) {
        let r = boss.post(
            "/c/hostile/admin/settings",
            &[("plugin", "conversations"), ("code_of_conduct_url", payload)],
        );
        assert!(r.status < 500, "{}", r.status);
        let page = boss.get("/c/hostile/admin");
        assert_inert("admin page", &page.body);
        let r = boss.post(
            "/c/hostile/admin/abilities",
            &[("action", "grant"), ("ability", payload), ("grantee", payload)],
        );
        assert!(r.status < 500);
        assert_inert("admin page after a refused grant", &boss.get("/c/hostile/admin").body);
        tried += 2;
    }
    let coc = boss.post(
        "/c/hostile/admin/settings",
        &[("plugin", "conversations"), ("code_of_conduct_url", "javascript:alert(1)")],
    );
    assert!(coc.status < 500);
    assert_eq!(
        server.count("SELECT count(*) FROM plugin_settings WHERE value LIKE '%javascript:%'"),
        0,
        "a script URL is not a Code of Conduct link"
    );
    assert_inert("compose form", &sender.get("/c/hostile/conversations/new").body);

    // The emails: every invitation went out as a file; none carries live markup or an
    // injected header.
    let outbox = server.dir.path().join("outbox-hostile");
    let transport = Transport::Files(outbox.clone());
    while deliver_due(&server.portal, &transport).expect("delivery").sent > 0 {}
    let mut emails = 0;
    for entry in std::fs::read_dir(&outbox).expect("outbox") {
        let eml = std::fs::read_to_string(entry.expect("entry").path()).expect("eml");
        let (headers, body) = eml.split_once("\r\n\r\n").expect("headers and body");
        for line in headers.lines() {
            assert!(!line.to_ascii_lowercase().starts_with("bcc:"), "an injected header:\n{headers}");
        }
        let html = html_part(body);
        assert!(html.contains("</html>"), "an HTML part:\n{body}");
        assert_inert("email", &html);
        emails += 1;
    }
    assert!(emails >= payloads.len() - 2, "{emails} emails");

    // SQL metacharacters changed nothing they should not have.
    assert_eq!(
        server.count("SELECT count(*) FROM users WHERE email LIKE '%@hostile.example'"),
        payloads.len() as i64 + 2
    );
    let conn = server.portal.db.get().expect("conn");
    // SQLite checks its file; PostgreSQL keeps its own pages (the rows above were read back).
    if let Some(sqlite) = conn.as_sqlite() {
        let check: String =
            sqlite.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity check");
        assert_eq!(check, "ok");
    }
    println!(
        "hostile input corpus: {} payloads, {tried} inputs tried, {emails} emails checked",
        payloads.len()
    );
}

#[test]
fn malformed_and_oversized_forms_get_a_clear_answer() {
    let server = Server::start();
    let mut grace = server.signed_in("riverside", "grace@riverside.example");
    let csrf = grace.csrf();
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(String, Vec<u8>)> = vec![
        ("bad percent-encoding".into(), format!("csrf={csrf}&body=%ZZ%&to=user:3").into_bytes()),
        ("invalid UTF-8".into(), [format!("csrf={csrf}&body=").as_bytes(), b"%FF%FE\xff\xfe"].concat()),
        ("10,000 fields".into(), format!("csrf={csrf}&{}", "to=user:3&".repeat(10_000)).into_bytes()),
        ("duplicate tokens".into(), format!("csrf=wrong&csrf={csrf}&body=hi&to=user:3").into_bytes()),
        ("no equals signs".into(), b"csrf&body&to".to_vec()),
        ("empty".into(), Vec::new()),
        ("a NUL byte".into(), format!("csrf={csrf}&body=a%00b&to=user:3").into_bytes()),
    ];
    for (what, body) in &cases {
        for path in ["/c/riverside/conversations", "/c/riverside/sign-in", "/c/riverside/admin/settings"] {
            let r = grace.post_bytes(path, form, body);
            assert!(r.status < 500, "{what} to {path}: {} {}", r.status, r.body);
            assert!(!r.body.contains("panicked"), "{what}");
        }
    }
    // A body announced as 64 MiB is refused after the first 64 KiB.
    let address = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
    let head = format!(
        "POST /c/riverside/conversations HTTP/1.1\r\nHost: {address}\r\nContent-Type: {form}\r\nContent-Length: {}\r\n\r\n",
        64 * 1024 * 1024
    );
    std::io::Write::write_all(&mut stream, head.as_bytes()).expect("send headers");
    // The server stops reading past the limit (64 KiB): the rest never has to be sent.
    let _ = std::io::Write::write_all(&mut stream, &vec![b'a'; 256 * 1024]);
    let mut answer = [0u8; 12];
    std::io::Read::read_exact(&mut stream, &mut answer).expect("an answer without the body");
    assert_eq!(&answer, b"HTTP/1.1 413");
    let r = grace.post_bytes("/c/riverside/conversations", "application/json", b"{\"body\":\"hi\"}");
    assert!(r.status == 415 || r.status == 403, "not a form: {}", r.status);
    assert_eq!(grace.get("/c/riverside/conversations").status, 200, "the portal keeps serving");
    assert!(server.count("SELECT count(*) FROM conversations_message") <= 2);
    println!("malformed forms: {} bodies tried on 3 routes", cases.len());
}
