//! The plugin's slot items: the flag in the header and the avatar-menu entry, both with
//! the number of queue entries waiting for a decision. "Report" (on Conversations'
//! messages) is shown as declared.

use crate::call::host_error;
use crate::store;
use plugin_api::{Context, PluginError, SlotFill, SlotFills};

/// Fills the items the host is about to render.
pub fn fill(ctx: &Context, items: &[String]) -> Result<SlotFills, PluginError> {
    let mut pending: Option<u32> = None;
    let mut fills = Vec::new();
    for item in items {
        if item == "queue_icon" || item == "queue_menu" {
            let count = match pending {
                Some(count) => count,
                None => {
                    let count = store::pending_count(ctx.community.id).map_err(host_error)?;
                    let count = u32::try_from(count).unwrap_or(u32::MAX);
                    pending = Some(count);
                    count
                }
            };
            fills.push(SlotFill { badge: Some(count), ..SlotFill::shown(item.clone()) });
        }
    }
    Ok(fills)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, named, rows};
    use plugin_api::{HostCall, SqlValue};

    #[test]
    fn both_queue_items_show_the_pending_count_asked_once() {
        let calls = testing::host(|call| match call {
            HostCall::Query { .. } => rows(vec![vec![SqlValue::Int(4)]]),
            other => panic!("unexpected host call {other:?}"),
        });
        let items = ["queue_icon".to_owned(), "queue_menu".to_owned(), "report".to_owned()];
        let fills = fill(&testing::ctx(Some(2)), &items).expect("fills");
        assert_eq!(fills.len(), 2);
        assert!(fills.iter().all(|f| f.badge == Some(4)));
        assert_eq!(named(&calls, "query").len(), 1);
    }
}
