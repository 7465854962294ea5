//! Driving a page with the keyboard only: keys go to whatever has the focus, as a person's
//! would (WebDriver key actions, not element clicks), and the focus is found by pressing Tab.

use super::{PATIENCE, Tab};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::json;
use std::time::{Duration, Instant};

/// How many Tab presses reaching an element may take before the test gives up.
const MOST_TABS: usize = 60;

impl Tab {
    /// Presses and releases `key` on the focused element.
    pub(super) async fn press(&self, key: Key) {
        let value = char::from(key);
        let keys =
            KeyActions::new("keyboard".into()).then(KeyAction::Down { value }).then(KeyAction::Up { value });
        self.client.perform_actions(keys).await.expect("key pressed");
    }

    /// Types `text` into the focused element.
    pub(super) async fn type_here(&self, text: &str) {
        let focused = self.client.active_element().await.expect("a focused element");
        focused.send_keys(text).await.expect("typed");
    }

    /// Whether the focused element matches `css`.
    pub(super) async fn focus_is(&self, css: &str) -> bool {
        self.js(&format!("return document.activeElement.matches({})", json!(css))).await == json!(true)
    }

    /// The focused element's text, trimmed.
    pub(super) async fn focused_text(&self) -> String {
        let text = self.js("return (document.activeElement.textContent || '').trim()").await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Presses Tab until the element matching `css` has the focus (waiting for it to appear
    /// first, so a page that is still loading is not tabbed through).
    pub(super) async fn tab_to(&self, css: &str) {
        self.find(css).await;
        for _ in 0..MOST_TABS {
            if self.focus_is(css).await {
                return;
            }
            self.press(Key::Tab).await;
        }
        panic!("{MOST_TABS} presses of Tab never reached `{css}` on {}", self.url().await);
    }

    /// Waits until the focused element's text starts with `text`.
    pub(super) async fn wait_focus_text(&self, text: &str) {
        let started = Instant::now();
        loop {
            let focused = self.focused_text().await;
            if focused.starts_with(text) {
                return;
            }
            assert!(started.elapsed() < PATIENCE, "the focus is on {focused:?}, not on {text:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the avatar menu is open.
    pub(super) async fn menu_open(&self) -> bool {
        self.js("return document.querySelector('details.user-menu').open").await == json!(true)
    }
}
