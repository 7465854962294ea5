//! The plugin's pages: one handler per route name of `manifests/conversations.toml`.
//! Every rule is checked here, on the server: who may see a conversation (participants
//! only; anyone else gets "not found"), who may send, limits, blocks and preferences.

mod start;

use crate::call::{host_error, me, viewer_name};
use crate::checks::{self, HELD, Refused};
use crate::directory::{self, Names};
use crate::events;
use crate::reach::{contact_refusal, notify_others, publish_change};
use crate::rules::{self, MessageState, ParticipantState};
use crate::sending::{Sending, store_message, would_read};
use crate::store::{self, Participant};
use conversations_api::{
    INVITATION_ACCEPTED, INVITATION_DECLINED, InvitationAnswered, PARTICIPANT_LEFT, ParticipantLeft,
};
use plugin_api::guest::host;
use plugin_api::time::Moment;
use plugin_api::{
    ActorRef, Context, Flash, FlashKind, PageRequest, PageResponse, PluginError, TemplateData, UserId,
};
use serde::Serialize;
use serde_json::json;

/// Conversations per inbox page.
const INBOX_PAGE: u32 = 20;
/// Messages per conversation page.
const THREAD_PAGE: u32 = 50;

/// Dispatches a page request by route name.
pub fn route(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    match request.route.as_str() {
        "inbox" => inbox(ctx, request),
        "new" | "compose" => start::compose(ctx, request, None),
        "create" => start::create(ctx, request),
        "show" => show(ctx, request, None),
        "reply" => reply(ctx, request),
        "invitation" => invitation(ctx, request),
        "manage" => manage(ctx, request),
        "block" => block(ctx, request),
        "about" => about(ctx),
        "preview" => preview(ctx, request),
        _ => Err(PluginError::not_found()),
    }
}

fn render<T: Serialize>(template: &str, title: &str, data: &T) -> Result<PageResponse, PluginError> {
    let data = TemplateData::from_serialize(data)
        .map_err(|e| PluginError::internal(format!("template data: {e}")))?;
    Ok(PageResponse::Render { template: template.to_owned(), title: title.to_owned(), data })
}

fn redirect(to: String, kind: FlashKind, message: &str) -> Result<PageResponse, PluginError> {
    Ok(PageResponse::Redirect { to, flash: Some(Flash { kind, message: message.to_owned() }) })
}

fn max_length(ctx: &Context) -> usize {
    usize::try_from(ctx.community.int_setting("max_message_length", 1000)).unwrap_or(1000)
}

/// The actor the viewer acts as: themselves, or (`as=group:N`) a group they administer.
fn acting_as(ctx: &Context, as_param: Option<&str>) -> Result<ActorRef, PluginError> {
    let me = me(ctx)?;
    match as_param.filter(|a| !a.is_empty()) {
        None => Ok(ActorRef::User(me)),
        Some(text) => match rules::parse_actor(text) {
            Some(ActorRef::Group(g)) if directory::admin_groups(ctx)?.iter().any(|info| info.id == g) => {
                Ok(ActorRef::Group(g))
            }
            Some(ActorRef::User(u)) if u == me => Ok(ActorRef::User(me)),
            _ => Err(PluginError::not_found()),
        },
    }
}

fn as_query(actor: ActorRef) -> String {
    match actor {
        ActorRef::User(_) => String::new(),
        ActorRef::Group(g) => format!("?as=group:{g}"),
    }
}

/// The conversation's participants and the viewer's side in it, or "not found" for
/// anyone who is not a participant (nor an admin of a participating group).
fn access(
    ctx: &Context,
    id: i64,
    as_param: Option<&str>,
) -> Result<(Vec<Participant>, Participant), PluginError> {
    let parts = store::participants(ctx.community.id, id).map_err(host_error)?;
    if parts.is_empty() {
        return Err(PluginError::not_found());
    }
    let me = me(ctx)?;
    // Leaving means leaving: a participant who left sees the conversation no more than
    // anyone else (writing to the same people again brings them back, explicitly).
    // A conversation whose messages are all held has not reached the others: for them it
    // does not exist yet.
    let mine = |actor: ActorRef| parts.iter().find(|p| p.actor == actor && p.state.can_open()).cloned();
    if let Some(text) = as_param.filter(|a| !a.is_empty()) {
        let actor = acting_as(ctx, Some(text))?;
        return mine(actor).map(|p| (parts.clone(), p)).ok_or_else(PluginError::not_found);
    }
    if let Some(p) = mine(ActorRef::User(me)) {
        return Ok((parts, p));
    }
    for group in directory::admin_groups(ctx)? {
        if let Some(p) = mine(ActorRef::Group(group.id)) {
            return Ok((parts, p));
        }
    }
    Err(PluginError::not_found())
}

fn conversation_id(request: &PageRequest) -> Result<i64, PluginError> {
    request.param("id").and_then(|id| id.parse().ok()).filter(|id| *id > 0).ok_or_else(PluginError::not_found)
}

fn others_states(parts: &[Participant], mine: &Participant) -> Vec<ParticipantState> {
    parts.iter().filter(|p| p.actor != mine.actor).map(|p| p.state).collect()
}

#[derive(Serialize)]
struct InboxLine {
    href: String,
    title: String,
    initials: String,
    preview: String,
    when: Moment,
    unread: i64,
    invited: bool,
    muted: bool,
}

fn inbox(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let acting = acting_as(ctx, request.query_value("as"))?;
    let page = request.query_value("page").and_then(|p| p.parse::<u32>().ok()).unwrap_or(1).clamp(1, 100_000);
    let entries = store::inbox(acting, INBOX_PAGE, (page - 1) * INBOX_PAGE).map_err(host_error)?;
    let total = store::inbox_size(acting).map_err(host_error)?;
    let me = me(ctx)?;
    let mut lines = Vec::new();
    for entry in &entries {
        let parts = store::participants(ctx.community.id, entry.conversation).map_err(host_error)?;
        let others: Vec<ActorRef> = parts.iter().map(|p| p.actor).filter(|a| *a != acting).collect();
        let names = Names::load(&others)?;
        let last = store::last_visible(entry.conversation).map_err(host_error)?;
        let preview = last.map(|m| rules::preview(&m.body)).unwrap_or_default();
        let unread = if entry.unread {
            store::unread_messages(entry.conversation, entry.last_read, me).map_err(host_error)?
        } else {
            0
        };
        lines.push(InboxLine {
            href: format!("/conversations/{}{}#latest", entry.conversation, as_query(acting)),
            title: names.list(&others),
            initials: others.first().map(|a| names.initials(*a)).unwrap_or_default(),
            preview,
            when: Moment::of(entry.last_message_at, ctx.now),
            unread,
            invited: entry.state == ParticipantState::Invited,
            muted: entry.muted,
        });
    }
    let groups = directory::admin_groups(ctx)?;
    let acting_name = match acting {
        ActorRef::Group(g) => groups.iter().find(|info| info.id == g).map(|info| info.name.clone()),
        ActorRef::User(_) => None,
    };
    let mut group_tabs = Vec::new();
    for g in &groups {
        let unread = store::unread_conversations(ActorRef::Group(g.id)).map_err(host_error)?;
        group_tabs.push(json!({ "name": g.name, "href": format!("/conversations?as=group:{}", g.id), "current": acting == ActorRef::Group(g.id), "unread": unread }));
    }
    let mine_unread = if groups.is_empty() {
        0
    } else {
        store::unread_conversations(ActorRef::User(me)).map_err(host_error)?
    };
    let pages = (total as u32).div_ceil(INBOX_PAGE).max(1);
    let page_link = |p: u32| {
        let sep = if as_query(acting).is_empty() { "?" } else { "&" };
        format!("/conversations{}{sep}page={p}", as_query(acting))
    };
    render(
        "inbox",
        acting_name
            .as_deref()
            .map_or("Conversations".to_owned(), |n| format!("Conversations of {n}"))
            .as_str(),
        &json!({
            "conversations": lines,
            "group": acting_name,
            "can_start": ctx.can("conversations.start"),
            "new_href": format!("/conversations/new{}", as_query(acting)),
            "groups": group_tabs,
            "mine_unread": mine_unread,
            "page": page,
            "pages": pages,
            "prev": (page > 1).then(|| page_link(page - 1)),
            "next": (page < pages).then(|| page_link(page + 1)),
        }),
    )
}

fn show(ctx: &Context, request: &PageRequest, error: Option<String>) -> Result<PageResponse, PluginError> {
    let id = conversation_id(request)?;
    let as_param = if error.is_some() { request.form_value("as") } else { request.query_value("as") };
    let (parts, mine) = access(ctx, id, as_param)?;
    let me = me(ctx)?;
    let before = request.query_value("before").and_then(|b| b.parse().ok());
    let messages = store::messages(id, before, THREAD_PAGE, me).map_err(host_error)?;
    // Opening a conversation marks it read (this GET route has write access for that).
    // (Nested, not a let-chain: guest code builds with Rust 1.85.)
    if error.is_none() {
        if let Some(last) = messages.last().filter(|last| last.id > mine.last_read) {
            store::mark_read(id, mine.actor, last.id).map_err(host_error)?;
            // The reader's other open pages update their badges.
            host::publish(vec![me], Vec::new()).map_err(host_error)?;
        }
    }
    let mut actors: Vec<ActorRef> = parts.iter().map(|p| p.actor).collect();
    actors.extend(messages.iter().map(|m| ActorRef::User(m.author)));
    actors.extend(messages.iter().filter_map(|m| m.group.map(ActorRef::Group)));
    let names = Names::load(&actors)?;
    let others: Vec<ActorRef> = parts.iter().map(|p| p.actor).filter(|a| *a != mine.actor).collect();
    let mut refusal = rules::send_refusal(mine.state, &others_states(&parts, &mine)).map(str::to_owned);
    if refusal.is_none() && others.len() == 1 {
        refusal = contact_refusal(me, &others, &names)?;
    }
    // In a conversation with several others, a blocked member may still write; the member
    // who blocked them sees those messages folded away, and is not notified of them.
    let blocked = store::blocked_by(me).map_err(host_error)?;
    let message_views: Vec<_> = messages
        .iter()
        .map(|m| {
            let mine = m.author == me;
            let reason = m.reason.clone().unwrap_or_default();
            // What became of a message a plugin stopped, in words (its author only sees why).
            let status = match m.state {
                MessageState::Visible => None,
                MessageState::Held => Some("Held for review"),
                MessageState::Rejected => Some("Not delivered"),
                MessageState::Removed => Some("Removed by a moderator"),
            };
            // Others see only the place of a removed message, never its text.
            let removed_notice = m.state == MessageState::Removed && !mine;
            json!({
                "id": m.id,
                "conversation": id,
                "author": names.name(ActorRef::User(m.author)),
                "initials": names.initials(ActorRef::User(m.author)),
                "group": m.group.map(|g| names.name(ActorRef::Group(g))),
                "segments": if removed_notice { Vec::new() } else { rules::linkify(&m.body) },
                "mine": mine,
                "from_blocked": !mine && blocked.contains(&m.author),
                "when": Moment::of(m.created_at, ctx.now),
                "delivered": m.state == MessageState::Visible,
                "status": status.filter(|_| mine),
                "reason": if mine { reason } else { String::new() },
                "removed_notice": removed_notice,
            })
        })
        .collect();
    let participants: Vec<_> = parts
        .iter()
        .map(|p| {
            json!({
                "name": names.name(p.actor),
                "me": p.actor == mine.actor,
                "state": match p.state { ParticipantState::Active => None, s => Some(s.label()) },
            })
        })
        .collect();
    let older = (messages.len() == THREAD_PAGE as usize).then(|| messages.first().map(|m| m.id)).flatten();
    // In a conversation with one member, that member can be blocked (or unblocked) here.
    let block = match others.as_slice() {
        [ActorRef::User(other)] if matches!(mine.actor, ActorRef::User(_)) => Some(json!({
            "user": other.0,
            "name": names.name(ActorRef::User(*other)),
            "blocked": store::is_blocked(me, *other).map_err(host_error)?,
        })),
        _ => None,
    };
    let as_text = match mine.actor {
        ActorRef::Group(_) => rules::actor_text(mine.actor),
        ActorRef::User(_) => String::new(),
    };
    render(
        "conversation",
        &format!("Conversation with {}", names.list(&others)),
        &json!({
            "id": id,
            "title": names.list(&others),
            "participants": participants,
            "messages": message_views,
            "older_href": older.map(|o| format!("/conversations/{id}?before={o}{}", if as_text.is_empty() { String::new() } else { format!("&as={as_text}") })),
            "invited": mine.state == ParticipantState::Invited,
            "block": block,
            "can_send": refusal.is_none(),
            "refusal": refusal,
            "muted": mine.muted,
            "acting": as_text,
            "acting_group": matches!(mine.actor, ActorRef::Group(_)).then(|| names.name(mine.actor)),
            "body": if error.is_some() { request.form_value("body").unwrap_or_default() } else { "" },
            "error": error,
            "max_length": max_length(ctx),
            "coc_url": ctx.community.text_setting("code_of_conduct_url").filter(|u| !u.is_empty()),
        }),
    )
}

fn reply(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let id = conversation_id(request)?;
    let (parts, mine) = access(ctx, id, request.form_value("as"))?;
    let me = me(ctx)?;
    if let Some(refusal) = rules::send_refusal(mine.state, &others_states(&parts, &mine)) {
        return show(ctx, request, Some(refusal.to_owned()));
    }
    let others: Vec<ActorRef> = parts.iter().map(|p| p.actor).filter(|a| *a != mine.actor).collect();
    if others.len() == 1 {
        if let Some(refusal) = contact_refusal(me, &others, &Names::load(&others)?)? {
            return show(ctx, request, Some(refusal));
        }
    }
    let body = match rules::validate_body(request.form_value("body").unwrap_or_default(), max_length(ctx)) {
        Ok(body) => body,
        Err(e) => return show(ctx, request, Some(e.message())),
    };
    let sending = Sending {
        author: me,
        author_name: viewer_name(ctx),
        sender: mine.actor,
        group: match mine.actor {
            ActorRef::Group(g) => Some(g),
            ActorRef::User(_) => None,
        },
        body: &body,
    };
    let pass = match checks::screen(&sending.subject(Some(id), would_read(&parts))) {
        Ok(pass) => pass,
        Err(Refused(reason)) => return show(ctx, request, Some(reason)),
    };
    let to = format!("/conversations/{id}{}#latest", as_query(mine.actor));
    if store_message(ctx, &sending, id, pass)? {
        Ok(PageResponse::Redirect { to, flash: None })
    } else {
        redirect(to, FlashKind::Info, HELD)
    }
}

fn invitation(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let id = conversation_id(request)?;
    let (parts, mine) = access(ctx, id, request.form_value("as"))?;
    let me = me(ctx)?;
    if mine.state != ParticipantState::Invited {
        return Err(PluginError::new(
            plugin_api::ErrorKind::Conflict,
            "This invitation was already answered.",
        ));
    }
    let to = format!("/conversations/{id}{}", as_query(mine.actor));
    match request.form_value("answer") {
        Some("accept") => {
            store::set_state(id, mine.actor, ParticipantState::Active).map_err(host_error)?;
            notify_others(
                &parts,
                mine.actor,
                me,
                &format!("{} accepted your conversation", viewer_name(ctx)),
                id,
            )?;
            events::emit(
                INVITATION_ACCEPTED,
                &InvitationAnswered { conversation: id, participant: mine.actor, by: me },
            )?;
            redirect(to, FlashKind::Success, "You accepted the invitation. You can reply now.")
        }
        Some("decline") => {
            store::set_state(id, mine.actor, ParticipantState::Declined).map_err(host_error)?;
            publish_change(&parts, id)?;
            events::emit(
                INVITATION_DECLINED,
                &InvitationAnswered { conversation: id, participant: mine.actor, by: me },
            )?;
            redirect("/conversations".into(), FlashKind::Info, "You declined the invitation.")
        }
        _ => Err(PluginError::bad_request("Accept or decline the invitation.")),
    }
}

fn manage(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let id = conversation_id(request)?;
    let (parts, mine) = access(ctx, id, request.form_value("as"))?;
    let to = format!("/conversations/{id}{}", as_query(mine.actor));
    match request.form_value("action") {
        Some("leave") => {
            store::set_state(id, mine.actor, ParticipantState::Left).map_err(host_error)?;
            publish_change(&parts, id)?;
            events::emit(
                PARTICIPANT_LEFT,
                &ParticipantLeft { conversation: id, participant: mine.actor, by: me(ctx)? },
            )?;
            redirect(
                format!("/conversations{}", as_query(mine.actor)),
                FlashKind::Info,
                "You left the conversation.",
            )
        }
        Some("mute") => {
            store::set_muted(id, mine.actor, true).map_err(host_error)?;
            redirect(to, FlashKind::Info, "Muted: no more notifications for this conversation.")
        }
        Some("unmute") => {
            store::set_muted(id, mine.actor, false).map_err(host_error)?;
            redirect(to, FlashKind::Info, "Unmuted.")
        }
        _ => Err(PluginError::bad_request("Unknown action.")),
    }
}

fn block(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let me = me(ctx)?;
    let user = request
        .form_value("user")
        .and_then(|u| u.parse::<i64>().ok())
        .map(UserId)
        .filter(|u| *u != me)
        .ok_or_else(|| PluginError::bad_request("Choose a member to block."))?;
    let names = Names::load(&[ActorRef::User(user)])?;
    if !names.known(ActorRef::User(user)) {
        return Err(PluginError::not_found());
    }
    let on = request.form_value("action") != Some("unblock");
    store::set_blocked(ctx.community.id, me, user, on, ctx.now).map_err(host_error)?;
    let message = if on {
        format!("You blocked {}. They cannot write to you.", names.name(ActorRef::User(user)))
    } else {
        format!("You unblocked {}.", names.name(ActorRef::User(user)))
    };
    redirect("/conversations".into(), FlashKind::Success, &message)
}

fn about(ctx: &Context) -> Result<PageResponse, PluginError> {
    render(
        "about",
        "About Conversations",
        &json!({
            "version": env!("CARGO_PKG_VERSION"),
            "viewer": ctx.viewer.as_ref().map(|v| v.name.as_str()),
            "max_message_length": ctx.community.int_setting("max_message_length", 1000),
        }),
    )
}

/// Checks a draft message against the community's length limit and shows it back.
fn preview(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    let draft = request.form_value("body").unwrap_or_default();
    let data = match rules::validate_body(draft, max_length(ctx)) {
        Ok(body) => json!({ "body": body, "chars": body.chars().count(), "error": null }),
        Err(err) => json!({ "body": draft, "chars": draft.chars().count(), "error": err.message() }),
    };
    render("preview", "Preview", &data)
}

#[cfg(test)]
mod tests {
    use crate::testhost::{self, accept, ctx, request, start};
    use conversations_api::{
        INVITATION_ACCEPTED, INVITATION_DECLINED, InvitationAnswered, PARTICIPANT_LEFT, ParticipantLeft,
    };
    use plugin_api::{ActorRef, HttpMethod, UserId};

    #[test]
    fn answering_an_invitation_and_leaving_are_announced() {
        let fake = testhost::install();
        start(1, &["user:2"], "hello");
        start(1, &["user:3"], "hello");
        fake.borrow_mut().effects.clear();
        accept(2, 1);
        let decline = request("invitation", HttpMethod::Post, Some(2), &[("answer", "decline")]);
        super::route(&ctx(3), &decline).expect("decline");
        let leave = request("manage", HttpMethod::Post, Some(1), &[("action", "leave")]);
        super::route(&ctx(2), &leave).expect("leave");
        let events = fake.borrow().events();
        let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, vec![INVITATION_ACCEPTED, INVITATION_DECLINED, PARTICIPANT_LEFT]);
        let accepted: InvitationAnswered = serde_json::from_value(events[0].1.clone()).expect("payload");
        assert_eq!(
            accepted,
            InvitationAnswered { conversation: 1, participant: ActorRef::User(UserId(2)), by: UserId(2) }
        );
        let declined: InvitationAnswered = serde_json::from_value(events[1].1.clone()).expect("payload");
        assert_eq!((declined.conversation, declined.by), (2, UserId(3)));
        let left: ParticipantLeft = serde_json::from_value(events[2].1.clone()).expect("payload");
        assert_eq!(
            left,
            ParticipantLeft { conversation: 1, participant: ActorRef::User(UserId(2)), by: UserId(2) }
        );
        // Writing to the same people again opens the conversation: it is not started again.
        start(4, &["user:5"], "hello");
        accept(5, 3);
        fake.borrow_mut().effects.clear();
        start(4, &["user:5"], "again");
        let names: Vec<String> = fake.borrow().events().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, vec![conversations_api::MESSAGE_POSTED]);
    }
}
