//! The plugin's slot items: the envelope and the unread badges (the member's own
//! conversations and those of the groups they administer, counted apart in the avatar
//! menu), and the profile and group buttons with their disabled reasons.

use crate::call::{host_error, me};
use crate::directory::{self, Names, REFUSES_DIRECT};
use crate::store;
use plugin_api::guest::host;
use plugin_api::{ActorRef, Context, GroupId, GroupInfo, PluginError, SlotFill, SlotFills, SlotPage, UserId};

/// Unread conversations: the member's own and, summed, those of their groups.
#[derive(Clone, Copy)]
struct Unread {
    mine: u32,
    groups: u32,
}

fn count(actor: ActorRef) -> Result<u32, PluginError> {
    Ok(u32::try_from(store::unread_conversations(actor).map_err(host_error)?).unwrap_or(u32::MAX))
}

/// What the items of one `Slots` call share, asked of the host at most once: the groups
/// the member administers (for groups) and the unread counts.
struct Asked<'c> {
    ctx: &'c Context,
    me: UserId,
    groups: Option<Vec<GroupInfo>>,
    unread: Option<Unread>,
}

impl Asked<'_> {
    fn groups(&mut self) -> Result<&[GroupInfo], PluginError> {
        if self.groups.is_none() {
            self.groups = Some(directory::admin_groups(self.ctx)?);
        }
        Ok(self.groups.as_deref().unwrap_or_default())
    }

    fn unread(&mut self) -> Result<Unread, PluginError> {
        if let Some(u) = self.unread {
            return Ok(u);
        }
        let ids: Vec<GroupId> = self.groups()?.iter().map(|g| g.id).collect();
        let mut groups = 0u32;
        for id in ids {
            groups = groups.saturating_add(count(ActorRef::Group(id))?);
        }
        let u = Unread { mine: count(ActorRef::User(self.me))?, groups };
        self.unread = Some(u);
        Ok(u)
    }
}

/// Fills the items the host is about to render.
pub fn fill(ctx: &Context, page: &SlotPage, items: &[String]) -> Result<SlotFills, PluginError> {
    let me = me(ctx)?;
    let mut fills = Vec::new();
    let mut asked = Asked { ctx, me, groups: None, unread: None };
    for item in items {
        match item.as_str() {
            // The envelope and the avatar badge: everything the member reads, in one number.
            "inbox_icon" | "unread_badge" => {
                let c = asked.unread()?;
                fills.push(SlotFill {
                    badge: Some(c.mine.saturating_add(c.groups)),
                    ..SlotFill::shown(item.clone())
                });
            }
            // The avatar menu counts the member's own and their groups' apart.
            "inbox_menu" => {
                let c = asked.unread()?;
                fills.push(SlotFill { badge: Some(c.mine), ..SlotFill::shown(item.clone()) });
            }
            "group_inbox_menu" => {
                if asked.groups()?.is_empty() {
                    fills.push(SlotFill { hidden: true, ..SlotFill::shown(item.clone()) });
                } else {
                    let c = asked.unread()?;
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
                let admin = match page.group {
                    Some(g) => asked.groups()?.iter().any(|info| info.id == g),
                    None => false,
                };
                if !admin {
                    fills.push(SlotFill { hidden: true, ..SlotFill::shown(item.clone()) });
                }
            }
            _ => {}
        }
    }
    Ok(fills)
}
