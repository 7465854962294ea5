//! The plugin's slot items: the unread badge, and the profile and group buttons with
//! their disabled reasons.

use crate::directory::{self, REFUSES_DIRECT};
use crate::pages::{host_error, me};
use crate::store;
use plugin_api::guest::host;
use plugin_api::{ActorRef, Context, PluginError, SlotFill, SlotFills, SlotPage};

/// Fills the items the host is about to render.
pub fn fill(ctx: &Context, page: &SlotPage, items: &[String]) -> Result<SlotFills, PluginError> {
    let me = me(ctx)?;
    let mut fills = Vec::new();
    let mut unread = None;
    for item in items {
        match item.as_str() {
            "unread_badge" | "inbox_menu" => {
                let count = match unread {
                    Some(n) => n,
                    None => {
                        let n = u32::try_from(
                            store::unread_conversations(ActorRef::User(me)).map_err(host_error)?,
                        )
                        .unwrap_or(0);
                        unread = Some(n);
                        n
                    }
                };
                fills.push(SlotFill { badge: Some(count), ..SlotFill::shown(item.clone()) });
            }
            "message" => {
                let Some(profile) = page.profile else { continue };
                if profile == me {
                    fills.push(SlotFill { hidden: true, ..SlotFill::shown(item.clone()) });
                    continue;
                }
                let blocked = store::blocked_either_way(profile, me).map_err(host_error)?;
                let refuses = host::preferences(vec![profile], vec!["accept_direct_messages".into()])
                    .map_err(host_error)?
                    .get(&profile)
                    .and_then(|p| p.get("accept_direct_messages"))
                    == Some(&false);
                let reason = (blocked || refuses).then(|| REFUSES_DIRECT.to_owned());
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
