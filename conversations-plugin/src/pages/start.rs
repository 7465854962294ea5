//! Starting a conversation: the compose page (searching members and groups, keeping what
//! was typed and ticked when a send is refused) and sending its first message, which opens
//! the existing conversation when one with the same people exists.

use super::{acting_as, as_query, max_length, others_states, redirect, render};
use crate::call::{host_error, me, viewer_name};
use crate::checks::{self, HELD, Refused};
use crate::directory::{self, Names};
use crate::reach::{contact_refusal, unusable};
use crate::rules::{self, ParticipantState};
use crate::sending::{Sending, store_message, would_read};
use crate::store::{self, Participant};
use plugin_api::guest::host;
use plugin_api::{ActorRef, Context, FlashKind, HttpMethod, PageRequest, PageResponse, PluginError, UserId};
use serde_json::json;

/// Directory results on the compose page.
const SEARCH_LIMIT: u32 = 10;

/// The compose page. After a GET (a link, or the search as one types) it reads the query;
/// after a POST (a refused send, or the form's Search button) it reads the form and keeps
/// what was typed and ticked, with `error` when a send was refused.
pub(super) fn compose(
    ctx: &Context,
    request: &PageRequest,
    error: Option<String>,
) -> Result<PageResponse, PluginError> {
    if !ctx.can("conversations.start") {
        return Err(PluginError::forbidden("You cannot start conversations here."));
    }
    let from_form = request.method == HttpMethod::Post;
    let values = |name: &'static str| -> Vec<String> {
        if from_form {
            request.form_values(name).map(str::to_owned).collect()
        } else {
            request.query_values(name).map(str::to_owned).collect()
        }
    };
    let value = |name: &str| if from_form { request.form_value(name) } else { request.query_value(name) };
    let acting = acting_as(ctx, value("as"))?;
    let chosen: Vec<ActorRef> =
        values("to").iter().filter_map(|t| rules::parse_actor(t)).filter(|a| *a != acting).collect();
    let q = value("q").unwrap_or_default().trim().to_owned();
    let mut results = Vec::new();
    let mut search_error = None;
    if !q.is_empty() {
        if q.chars().count() < 2 {
            search_error = Some("Type at least 2 characters to search.".to_owned());
        } else {
            results = host::search_directory(&q, SEARCH_LIMIT).map_err(host_error)?;
            // Only members (and groups) who may use Conversations here are offered.
            let found: Vec<ActorRef> = results.iter().map(|e| e.actor).collect();
            let users: Vec<UserId> = found
                .iter()
                .filter_map(|a| if let ActorRef::User(u) = a { Some(*u) } else { None })
                .collect();
            let groups: Vec<plugin_api::GroupId> = found
                .iter()
                .filter_map(|a| if let ActorRef::Group(g) = a { Some(*g) } else { None })
                .collect();
            let (users, groups) = (directory::users_who_use(&users)?, directory::groups_in_use(&groups)?);
            results.retain(|e| match e.actor {
                ActorRef::User(u) => users.contains(&u),
                ActorRef::Group(g) => groups.contains(&g),
            });
        }
    }
    let names = Names::load(&chosen)?;
    let recipient = |actor: ActorRef, checked: bool, name: String| json!({ "value": rules::actor_text(actor), "name": name, "checked": checked, "group": matches!(actor, ActorRef::Group(_)) });
    let mut options: Vec<_> =
        chosen.iter().filter(|a| names.known(**a)).map(|a| recipient(*a, true, names.name(*a))).collect();
    for entry in &results {
        if entry.actor != acting && !chosen.contains(&entry.actor) {
            options.push(recipient(entry.actor, false, format!("{} (@{})", entry.name, entry.nickname)));
        }
    }
    let body = if from_form { request.form_value("body").unwrap_or_default() } else { "" };
    let groups = directory::admin_groups(ctx)?;
    render(
        "new",
        "New conversation",
        &json!({
            "options": options,
            "chosen": chosen.iter().map(|a| rules::actor_text(*a)).collect::<Vec<_>>(),
            "q": q,
            "searched": !q.is_empty() && search_error.is_none(),
            "search_error": search_error,
            "body": body,
            "error": error,
            "max_length": max_length(ctx),
            "max_participants": ctx.community.int_setting("max_participants", 9),
            "coc_url": ctx.community.text_setting("code_of_conduct_url").filter(|u| !u.is_empty()),
            "acting": match acting { ActorRef::Group(_) => rules::actor_text(acting), ActorRef::User(_) => String::new() },
            "as_options": groups.iter().map(|g| json!({ "value": format!("group:{}", g.id), "name": g.name, "selected": acting == ActorRef::Group(g.id) })).collect::<Vec<_>>(),
        }),
    )
}

pub(super) fn create(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError> {
    if !ctx.can("conversations.start") {
        return Err(PluginError::forbidden("You cannot start conversations here."));
    }
    let me = me(ctx)?;
    let acting = acting_as(ctx, request.form_value("as"))?;
    let recipients: Vec<ActorRef> = request.form_values("to").filter_map(rules::parse_actor).collect();
    let max_others = usize::try_from(ctx.community.int_setting("max_participants", 9)).unwrap_or(9);
    let all = match rules::participants(acting, &recipients, max_others) {
        Ok(all) => all,
        Err(e) => return compose(ctx, request, Some(e.message())),
    };
    let others: Vec<ActorRef> = all.iter().copied().filter(|a| *a != acting).collect();
    let names = Names::load(&others)?;
    if !names.all_known(&others) {
        return compose(ctx, request, Some("Someone you chose is not a member of this community.".into()));
    }
    let body = match rules::validate_body(request.form_value("body").unwrap_or_default(), max_length(ctx)) {
        Ok(body) => body,
        Err(e) => return compose(ctx, request, Some(e.message())),
    };
    if let Some(refusal) = unusable(&others, &names)? {
        return compose(ctx, request, Some(refusal));
    }
    if let Some(refusal) = contact_refusal(me, &others, &names)? {
        return compose(ctx, request, Some(refusal));
    }
    let key = rules::participant_key(&all);
    let sending = Sending {
        author: me,
        author_name: viewer_name(ctx),
        sender: acting,
        group: match acting {
            ActorRef::Group(g) => Some(g),
            ActorRef::User(_) => None,
        },
        body: &body,
    };
    if let Some(existing) = store::find_by_key(ctx.community.id, &key).map_err(host_error)? {
        return reopen(ctx, request, existing, &sending);
    }
    let pass = match checks::screen(&sending.subject(None, all.iter().copied().collect())) {
        Ok(pass) => pass,
        Err(Refused(reason)) => return compose(ctx, request, Some(reason)),
    };
    // The others are reached (invited, emailed, notified) once a message of it is
    // delivered: now, or when the plugins that hold this one release it.
    let id = store::create(ctx.community.id, acting, &key, &others, ParticipantState::Pending, ctx.now)
        .map_err(host_error)?;
    let to = format!("/conversations/{id}{}", as_query(acting));
    if store_message(ctx, &sending, id, pass)? {
        redirect(to, FlashKind::Success, "Your message is sent.")
    } else {
        redirect(to, FlashKind::Info, HELD)
    }
}

/// Writing to the same people as an existing conversation opens that one, and adds the
/// message if the viewer may write there. Nobody comes back silently: a viewer who had
/// left rejoins by writing (and is told so), and others who had left are invited again. A
/// viewer the conversation had not reached yet (its starter's messages are all held) joins
/// it by writing.
fn reopen(
    ctx: &Context,
    request: &PageRequest,
    existing: i64,
    sending: &Sending<'_>,
) -> Result<PageResponse, PluginError> {
    let acting = sending.sender;
    let before = store::participants(ctx.community.id, existing).map_err(host_error)?;
    let mine_before =
        before.iter().find(|p| p.actor == acting).map(|p| p.state).ok_or_else(PluginError::not_found)?;
    let rejoined = mine_before == ParticipantState::Left;
    let joins = matches!(mine_before, ParticipantState::Left | ParticipantState::Pending);
    // The participants as they will be: nothing is written before the check passed.
    let after: Vec<Participant> = before
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if p.actor == acting {
                if joins {
                    p.state = ParticipantState::Active;
                }
            } else if p.state == ParticipantState::Left {
                p.state = ParticipantState::Invited;
            }
            p
        })
        .collect();
    let apply = || -> Result<(), PluginError> {
        for (was, now) in before.iter().zip(&after) {
            if was.state != now.state {
                store::set_state(existing, now.actor, now.state).map_err(host_error)?;
            }
        }
        Ok(())
    };
    let mine = after.iter().find(|p| p.actor == acting).cloned().ok_or_else(PluginError::not_found)?;
    let to = format!("/conversations/{existing}{}", as_query(acting));
    if rules::send_refusal(mine.state, &others_states(&after, &mine)).is_some() {
        apply()?;
        return redirect(to, FlashKind::Info, "You already have a conversation with them.");
    }
    let pass = match checks::screen(&sending.subject(Some(existing), would_read(&after))) {
        Ok(pass) => pass,
        Err(Refused(reason)) => return compose(ctx, request, Some(reason)),
    };
    apply()?;
    if !store_message(ctx, sending, existing, pass)? {
        return redirect(to, FlashKind::Info, HELD);
    }
    let said = if rejoined {
        "You had left your conversation with them; you are back in it, with your message."
    } else if joins {
        "Your message is sent."
    } else {
        "You already had a conversation with them; your message is in it."
    };
    redirect(to, FlashKind::Info, said)
}
