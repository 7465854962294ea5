//! The host's community pages: the list of communities, a community's home, the member
//! directory with search, member profiles and group pages.

use super::error::AppError;
use super::{blocking, community_page};
use crate::db::{self, communities};
use crate::portal::Portal;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use plugin_api::SlotPage;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Members per directory page.
const PAGE_SIZE: u32 = 20;

/// `/`: the communities of this portal.
pub async fn index(State(portal): State<Arc<Portal>>) -> Response {
    blocking(portal, |portal| {
        let list = portal.db.get().map_err(AppError::from).and_then(|conn| Ok(communities::list(&conn)?));
        match list.and_then(|list| {
            Ok(portal.templates.render("index", &serde_json::json!({ "communities": list }))?)
        }) {
            Ok(html) => Html(html).into_response(),
            Err(e) => super::error::bare_page(e.status, &e.message),
        }
    })
    .await
}

#[derive(Serialize)]
struct MemberView {
    nickname: String,
    name: String,
    initials: String,
    bio: String,
    is_admin: bool,
}

impl MemberView {
    fn of(user: &db::users::User) -> MemberView {
        MemberView {
            nickname: user.nickname.clone(),
            name: user.name.clone(),
            initials: user.initials(),
            bio: user.bio.clone(),
            is_admin: user.role == db::users::Role::Admin,
        }
    }
}

/// `/c/{community}`: the community's home.
pub async fn home(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        let conn = portal.db.get()?;
        let members = db::users::count_matching(&conn, req.community.id, "")?;
        let groups = db::groups::search(&conn, req.community.id, "", 50)?;
        let slots = portal.slots(&req.community, req.visitor.member.as_ref(), &SlotPage::default());
        let data = serde_json::json!({
            "community": req.community,
            "base": req.base(),
            "members": members,
            "groups": groups,
            "signed_in": req.visitor.member.is_some(),
        });
        Ok(req.render(StatusCode::OK, "home", &req.community.name, &data, &slots))
    })
    .await
}

/// Query of the directory.
#[derive(Deserialize)]
pub struct DirectoryQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<u32>,
}

/// `/c/{community}/members?q=&page=`: the member directory.
pub async fn members(
    State(portal): State<Arc<Portal>>,
    Path(slug): Path<String>,
    Query(query): Query<DirectoryQuery>,
    headers: HeaderMap,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        let conn = portal.db.get()?;
        let q: String = query.q.trim().chars().filter(|c| *c != '\0').take(100).collect();
        let page = query.page.unwrap_or(1).clamp(1, 10_000);
        let total = db::users::count_matching(&conn, req.community.id, &q)?;
        let users = db::users::search(&conn, req.community.id, &q, PAGE_SIZE, (page - 1) * PAGE_SIZE)?;
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let link = |p: u32| {
            let query = serde_urlencoded::to_string([("q", q.as_str()), ("page", &p.to_string())])
                .unwrap_or_default();
            format!("{}/members?{query}", req.base())
        };
        let data = serde_json::json!({
            "base": req.base(),
            "q": q,
            "total": total,
            "members": users.iter().map(MemberView::of).collect::<Vec<_>>(),
            "page": page,
            "pages": pages,
            "prev": (page > 1).then(|| link(page - 1)),
            "next": (page < pages).then(|| link(page + 1)),
        });
        let slots = portal.slots(&req.community, req.visitor.member.as_ref(), &SlotPage::default());
        Ok(req.render(StatusCode::OK, "members", "Members", &data, &slots))
    })
    .await
}

/// `/c/{community}/members/{nickname}`: a member's profile, with `profile.actions`.
pub async fn profile(
    State(portal): State<Arc<Portal>>,
    Path((slug, nickname)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        let conn = portal.db.get()?;
        let user =
            db::users::by_nickname(&conn, req.community.id, &nickname)?.ok_or_else(AppError::not_found)?;
        let groups: Vec<_> = db::groups::ids_of_member(&conn, user.id)?
            .into_iter()
            .filter_map(|id| db::groups::by_id(&conn, req.community.id, id).ok().flatten())
            .collect();
        let page = SlotPage { profile: Some(user.id), group: None };
        let slots = portal.slots(&req.community, req.visitor.member.as_ref(), &page);
        let data = serde_json::json!({
            "base": req.base(),
            "member": MemberView::of(&user),
            "groups": groups,
            "actions": slots.profile_actions,
            "csrf": req.visitor.csrf,
        });
        Ok(req.render(StatusCode::OK, "profile", &user.name, &data, &slots))
    })
    .await
}

/// `/c/{community}/groups/{nickname}`: a group with its members, with `group.actions`.
pub async fn group(
    State(portal): State<Arc<Portal>>,
    Path((slug, nickname)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    community_page(portal, slug, headers, move |portal, req| {
        let conn = portal.db.get()?;
        let group = db::groups::by_nickname(&conn, req.community.id, &nickname)?.ok_or_else(AppError::not_found)?;
        let members: Vec<_> = db::groups::members(&conn, group.id)?
            .into_iter()
            .map(|(user, role)| {
                serde_json::json!({ "member": MemberView::of(&user), "admin": role == db::groups::GroupRole::Admin })
            })
            .collect();
        let page = SlotPage { profile: None, group: Some(group.id) };
        let slots = portal.slots(&req.community, req.visitor.member.as_ref(), &page);
        let data = serde_json::json!({
            "base": req.base(),
            "initials": db::users::initials(&group.name),
            "group": group,
            "members": members,
            "actions": slots.group_actions,
        });
        Ok(req.render(StatusCode::OK, "group", &group.name, &data, &slots))
    })
    .await
}
