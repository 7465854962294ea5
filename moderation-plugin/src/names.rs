//! Members' display names for the pages, asked of the directory once per page.

use crate::call::host_error;
use plugin_api::guest::host;
use plugin_api::{PluginError, UserId};
use std::collections::BTreeMap;

/// Names of some members, by id.
#[derive(Debug, Default)]
pub struct Names(BTreeMap<UserId, String>);

impl Names {
    /// Looks up `ids` (duplicates and all) in one directory call; none for no ids.
    pub fn load(ids: &[UserId]) -> Result<Names, PluginError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Names::default());
        }
        let members = host::members(ids).map_err(host_error)?;
        Ok(Names(members.into_iter().map(|m| (m.id, m.name)).collect()))
    }

    /// A member's name; someone the directory no longer knows is "a former member".
    pub fn name(&self, id: UserId) -> String {
        self.0.get(&id).cloned().unwrap_or_else(|| "A former member".to_owned())
    }
}
