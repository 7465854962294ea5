//! The view types pages are rendered from: the signed-in member and the slot items of a
//! page. Plain data, shared by the portal (which fills them) and the renderer (which shows
//! them), so neither depends on the other for them.

use crate::db::users::{Role, User};
use plugin_api::SlotName;
use std::collections::BTreeSet;

/// A signed-in member looking at a page of their community.
#[derive(Debug, Clone)]
pub struct Member {
    /// The account.
    pub user: User,
    /// Every ability the member has in the community (of every plugin).
    pub abilities: BTreeSet<String>,
}

impl Member {
    /// Whether the member is a community admin.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

/// One slot item ready to render.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlotItem {
    /// The plugin.
    pub plugin: String,
    /// The item's key.
    pub key: String,
    /// Visible text.
    pub label: String,
    /// Full link, or none (a badge).
    pub href: Option<String>,
    /// A count, when non-zero (shown as "99+" past 99).
    #[serde(serialize_with = "badge_text")]
    pub badge: Option<u32>,
    /// Why it is disabled, if it is.
    pub disabled_reason: Option<String>,
    /// The icon the host draws (`header.icons`).
    pub icon: Option<plugin_api::manifest::Icon>,
}

/// The slot items of one page, by slot.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Slots {
    /// `header.user_menu`.
    pub header_user_menu: Vec<SlotItem>,
    /// `header.icons`.
    pub header_icons: Vec<SlotItem>,
    /// `header.avatar_badge`.
    pub header_avatar_badge: Vec<SlotItem>,
    /// `footer.my_account`.
    pub footer_my_account: Vec<SlotItem>,
    /// `profile.actions`.
    pub profile_actions: Vec<SlotItem>,
    /// `group.actions`.
    pub group_actions: Vec<SlotItem>,
    /// The sum of the avatar badges, for the header (saturating; shown as "99+" past 99).
    #[serde(serialize_with = "badge_text")]
    pub badge_total: u32,
}

/// A badge count as a page shows it: the number, or "99+" past 99 (a plugin's count is
/// untrusted; it never wraps and never makes a row wider than three characters).
fn badge_text<S: serde::Serializer, N: Into<BadgeCount> + Copy>(count: &N, s: S) -> Result<S::Ok, S::Error> {
    match (*count).into().0 {
        None => s.serialize_none(),
        Some(0) => s.serialize_u32(0),
        Some(n) if n > 99 => s.serialize_str("99+"),
        Some(n) => s.serialize_u32(n),
    }
}

/// A badge count, present or not, for [`badge_text`].
struct BadgeCount(Option<u32>);

impl From<u32> for BadgeCount {
    fn from(n: u32) -> Self {
        BadgeCount(Some(n))
    }
}

impl From<Option<u32>> for BadgeCount {
    fn from(n: Option<u32>) -> Self {
        BadgeCount(n)
    }
}

impl Slots {
    /// Adds an item to its slot (avatar badges add up, saturating).
    pub fn push(&mut self, slot: SlotName, item: SlotItem) {
        match slot {
            SlotName::HeaderIcons => self.header_icons.push(item),
            SlotName::HeaderUserMenu => self.header_user_menu.push(item),
            SlotName::HeaderAvatarBadge => {
                self.badge_total = self.badge_total.saturating_add(item.badge.unwrap_or(0));
                self.header_avatar_badge.push(item)
            }
            SlotName::FooterMyAccount => self.footer_my_account.push(item),
            SlotName::ProfileActions => self.profile_actions.push(item),
            SlotName::GroupActions => self.group_actions.push(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn badge(count: u32) -> SlotItem {
        SlotItem {
            plugin: "p".into(),
            key: "k".into(),
            label: "unread".into(),
            href: None,
            badge: Some(count),
            disabled_reason: None,
            icon: None,
        }
    }

    /// A plugin's counts are untrusted: they add without wrapping and show as "99+".
    #[test]
    fn badge_counts_saturate_and_show_99_plus() {
        let mut slots = Slots::default();
        slots.push(SlotName::HeaderAvatarBadge, badge(u32::MAX));
        slots.push(SlotName::HeaderAvatarBadge, badge(2));
        assert_eq!(slots.badge_total, u32::MAX);
        let json = serde_json::to_value(&slots).unwrap();
        assert_eq!(json["badge_total"], "99+");
        assert_eq!(json["header_avatar_badge"][1]["badge"], 2);
        assert_eq!(json["header_avatar_badge"][0]["badge"], "99+");
    }
}
