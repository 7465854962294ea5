//! The plugin's slot items: the envelope and the unread badges (the member's own
//! conversations and those of the groups they administer, counted apart in the avatar
//! menu), and the profile and group buttons with their disabled reasons.

use crate::call::{host_error, me};
use crate::directory::{self, Names, REFUSES_DIRECT};
use crate::store;
use plugin_api::guest::host;
use plugin_api::{ActorRef, Context, PluginError, SlotFill, SlotFills, SlotPage, UserId};

/// Unread conversations: the member's own and, summed, those of their groups.
#[derive(Clone, Copy)]
struct Unread {
    mine: u32,
    groups: u32,
}

fn count(actor: ActorRef) -> Result<u32, PluginError> {
    Ok(u32::try_from(store::unread_conversations(actor).map_err(host_error)?).unwrap_or(u32::MAX))
}

fn unread(ctx: &Context, me: UserId) -> Result<Unread, PluginError> {
    let mut groups = 0u32;
    for group in directory::admin_groups(ctx)? {
        groups = groups.saturating_add(count(ActorRef::Group(group.id))?);
    }
    Ok(Unread { mine: count(ActorRef::User(me))?, groups })
}

/// Fills the items the host is about to render.
pub fn fill(ctx: &Context, page: &SlotPage, items: &[String]) -> Result<SlotFills, PluginError> {
    let me = me(ctx)?;
    let mut fills = Vec::new();
    let mut counts: Option<Unread> = None;
    let mut counted = |ctx: &Context| -> Result<Unread, PluginError> {
        if let Some(c) = counts {
            return Ok(c);
        }
        let c = unread(ctx, me)?;
        counts = Some(c);
        Ok(c)
    };
    for item in items {
        match item.as_str() {
            // The envelope and the avatar badge: everything the member reads, in one number.
            "inbox_icon" | "unread_badge" => {
                let c = counted(ctx)?;
                fills.push(SlotFill {
                    badge: Some(c.mine.saturating_add(c.groups)),
                    ..SlotFill::shown(item.clone())
                });
            }
            // The avatar menu counts the member's own and their groups' apart.
            "inbox_menu" => {
                let c = counted(ctx)?;
                fills.push(SlotFill { badge: Some(c.mine), ..SlotFill::shown(item.clone()) });
            }
            "group_inbox_menu" => {
                if directory::admin_groups(ctx)?.is_empty() {
                    fills.push(SlotFill { hidden: true, ..SlotFill::shown(item.clone()) });
                } else {
                    let c = counted(ctx)?;
                    fills.push(SlotFill { badge: Some(c.groups), ..SlotFill::shown(item.clone()) });
                }
            }
            "message" => {
                let Some(profile) = page.profile else { continue };
                if profile == me {
                    fills.push(SlotFill { hidden: true, ..SlotFill::shown(item.clone()) });
                    continue;
                }
                let reason = if directory::users_who_use(&[profile])?.is_empty() {
                    let names = Names::load(&[ActorRef::User(profile)])?;
                    Some(directory::does_not_use(&names.name(ActorRef::User(profile))))
                } else {
                    let blocked = store::blocked_either_way(profile, me).map_err(host_error)?;
                    let refuses = host::preferences(vec![profile], vec!["accept_direct_messages".into()])
                        .map_err(host_error)?
                        .get(&profile)
                        .and_then(|p| p.get("accept_direct_messages"))
                        == Some(&false);
                    (blocked || refuses).then(|| REFUSES_DIRECT.to_owned())
                };
                fills.push(SlotFill { disabled_reason: reason, ..SlotFill::shown(item.clone()) });
            }
            "message_group" => {
                let Some(group) = page.group else { continue };
                let reason = if directory::groups_in_use(&[group])?.is_empty() {
                    let names = Names::load(&[ActorRef::Group(group)])?;
                    Some(directory::does_not_use(&names.name(ActorRef::Group(group))))
                } else {
                    None
                };
                fills.push(SlotFill { disabled_reason: reason, ..SlotFill::shown(item.clone()) });
            }
            "group_inbox" => {
                let admin = page.group.is_some_and(|g| {
                    directory::admin_groups(ctx)
                        .map(|groups| groups.iter().any(|info| info.id == g))
                        .unwrap_or(false)
                });
                if !admin {
                    fills.push(SlotFill { hidden: true, ..SlotFill::shown(item.clone()) });
                }
            }
            _ => {}
        }
    }
    Ok(fills)
}
