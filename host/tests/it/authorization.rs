//! The authorization matrix: every route of the host (from `host::web::host_routes`, the
//! table the router is built from) and of every loaded plugin (from the manifests), for
//! every kind of visitor. A new route is checked the day it is added.

use crate::http::{Client, Resp, Server};
use host::web::{Access, host_routes};
use plugin_api::HttpMethod;

/// A kind of visitor and their client.
struct Persona {
    name: &'static str,
    client: Client,
}

/// The fields every POST of the matrix sends: harmless for every route that reads them.
const FORM: &[(&str, &str)] =
    &[("body", "matrix"), ("answer", "accept"), ("action", "mute"), ("to", "user:999999")];

fn call(client: &mut Client, method: HttpMethod, url: &str) -> Resp {
    match method {
        HttpMethod::Get => client.get(url),
        HttpMethod::Post => client.post(url, FORM),
    }
}

fn host_path(path: &str, community: &str) -> String {
    let nickname = if path.contains("/groups/") { "garden" } else { "alan" };
    // A token this portal never signed: one-click unsubscribe refuses it (the valid and
    // forged ones are tested in `email`).
    let token = "1.1.conversations.email_digest.00";
    path.replace("{community}", community).replace("{nickname}", nickname).replace("{token}", token)
}

fn sent_to_sign_in(r: &Resp) -> bool {
    r.status == 303 && r.location.as_deref().is_some_and(|l| l.contains("/sign-in"))
}

#[test]
fn every_route_for_every_kind_of_visitor() {
    let server = Server::start();
    let id_of = |table: &str, nickname: &str| {
        server.count(&format!("SELECT id FROM {table} WHERE nickname = '{nickname}' AND community_id = 1"))
    };
    // Tim writes to Alan and to the Community Garden group (admin Grace; Hedy is a plain member).
    let mut tim = server.signed_in("riverside", "tim@riverside.example");
    let r = tim.post(
        "/c/riverside/conversations",
        &[
            ("to", &format!("user:{}", id_of("users", "alan"))),
            ("to", &format!("group:{}", id_of("groups", "garden"))),
            ("body", "About the garden"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let conversation = r.redirect_path();
    let id = conversation.rsplit('/').next().expect("id").to_owned();

    let mut visitor = Persona { name: "signed out", client: server.client() };
    let mut elsewhere = Persona {
        name: "member of another community",
        client: server.signed_in("hilltop", "marie@hilltop.example"),
    };
    let mut member =
        Persona { name: "member", client: server.signed_in("riverside", "katherine@riverside.example") };
    let mut admin =
        Persona { name: "community admin", client: server.signed_in("riverside", "ada@riverside.example") };
    let mut participant =
        Persona { name: "participant", client: server.signed_in("riverside", "alan@riverside.example") };
    let mut starter = Persona { name: "starter", client: tim };
    let mut group_admin =
        Persona { name: "group admin", client: server.signed_in("riverside", "grace@riverside.example") };
    let mut group_member =
        Persona { name: "group member", client: server.signed_in("riverside", "hedy@riverside.example") };
    // Hilltop has the feature off: its members have no Conversations ability.
    let mut no_ability = Persona {
        name: "member without the ability",
        client: server.signed_in("hilltop", "rosalind@hilltop.example"),
    };
    let mut checked = 0;

    // Plugin routes, from every loaded manifest.
    for plugin in &server.portal.plugins {
        for route in &plugin.manifest().raw.routes {
            let suffix = route.path.replace("{id}", &id);
            let here = format!("/c/riverside{suffix}");
            let what = format!("{} {:?} {here}", plugin.id(), route.method);
            for p in [&mut visitor, &mut elsewhere] {
                let r = call(&mut p.client, route.method, &here);
                assert!(
                    sent_to_sign_in(&r) || (route.method == HttpMethod::Post && r.status == 303),
                    "{what}: {} got {}",
                    p.name,
                    r.status
                );
                assert!(
                    route.method == HttpMethod::Get
                        || !r.location.as_deref().is_some_and(|l| l.contains("conversations/")),
                    "{what}"
                );
            }
            let r = call(&mut no_ability.client, route.method, &format!("/c/hilltop{suffix}"));
            assert_eq!(r.status, 403, "{what}: {}", no_ability.name);
            checked += 1;
            if plugin.id() != "conversations" {
                // Other plugins' abilities are off in the demo: everyone else is refused too.
                for p in [&mut member, &mut admin] {
                    assert_eq!(call(&mut p.client, route.method, &here).status, 403, "{what}: {}", p.name);
                }
                continue;
            }
            let on_conversation = route.path.contains("{id}");
            for p in [&mut member, &mut admin, &mut group_member] {
                let r = call(&mut p.client, route.method, &here);
                if on_conversation {
                    assert_eq!(r.status, 404, "{what}: {} is not a participant", p.name);
                } else {
                    assert!(
                        r.status < 500 && r.status != 403 && r.status != 404,
                        "{what}: {} got {}",
                        p.name,
                        r.status
                    );
                }
            }
            for p in [&mut participant, &mut starter, &mut group_admin] {
                let r = call(&mut p.client, route.method, &here);
                assert!(
                    r.status < 500 && r.status != 403 && r.status != 404,
                    "{what}: {} got {}: {}",
                    p.name,
                    r.status,
                    r.body
                );
            }
        }
    }
    let stored = server.count(&format!(
        "SELECT count(*) FROM conversations_message m JOIN users u ON u.id = m.author_id
         WHERE m.conversation_id = {id} AND u.nickname IN ('katherine', 'ada', 'hedy', 'marie', 'rosalind')"
    ));
    assert_eq!(stored, 0, "nobody outside the conversation wrote into it");

    // Host routes, from the table the router is built from; sign-out last (it ends sessions).
    let mut routes = host_routes();
    routes.sort_by_key(|r| r.path.ends_with("/sign-out"));
    for route in &routes {
        let url = host_path(route.path, "riverside");
        let what = format!("{:?} {url}", route.method);
        if route.method == HttpMethod::Post {
            for p in [&mut visitor, &mut member, &mut admin] {
                let r = p.client.post_raw(&url, FORM);
                let refused = matches!(r.status, 401 | 403)
                    || (p.name == "signed out" && sent_to_sign_in(&r))
                    || (route.access == Access::Token && r.status == 404);
                assert!(refused, "{what} without the CSRF token: {} got {}", p.name, r.status);
            }
        }
        for p in [&mut visitor, &mut elsewhere, &mut member, &mut admin] {
            let r = call(&mut p.client, route.method, &url);
            let signed_in = matches!(p.name, "member" | "community admin");
            let ok = r.status < 500 && r.status != 403 && !sent_to_sign_in(&r);
            match (route.access, route.method, signed_in) {
                (Access::Anyone, HttpMethod::Get, _) => assert_eq!(r.status, 200, "{what}: {}", p.name),
                (Access::Anyone, HttpMethod::Post, _) => {
                    assert!(r.status < 500 && r.status != 403, "{what}: {}", p.name)
                }
                (Access::Member, HttpMethod::Get, false) | (Access::Admin, HttpMethod::Get, false) => {
                    assert!(sent_to_sign_in(&r), "{what}: {} got {}", p.name, r.status)
                }
                (Access::Member, HttpMethod::Post, false) => {
                    assert_eq!(r.status, 303, "{what}: {}", p.name);
                }
                (Access::Admin, HttpMethod::Post, false) => assert_eq!(r.status, 401, "{what}: {}", p.name),
                (Access::Member, _, true) => assert!(ok, "{what}: {} got {}", p.name, r.status),
                (Access::Admin, _, true) if p.name == "member" => {
                    assert_eq!(r.status, 403, "{what}: {}", p.name)
                }
                (Access::Admin, _, true) => assert!(ok, "{what}: {} got {}", p.name, r.status),
                (Access::Token, _, _) => {
                    assert_eq!(r.status, 404, "{what}: {} without a valid token", p.name)
                }
            }
            checked += 1;
        }
    }
    let plugin_routes: usize = server.portal.plugins.iter().map(|p| p.manifest().raw.routes.len()).sum();
    assert_eq!(checked, plugin_routes + routes.len() * 4);
    println!("authorization matrix: {plugin_routes} plugin routes and {} host routes checked", routes.len());
}
