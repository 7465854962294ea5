//! axe-core in the browser: the WCAG 2.0/2.1 A and AA rules (plus axe's best practices) run
//! on a page as it is shown. A violation of impact serious or critical fails the test at
//! once, naming the page, the width, the rule and the elements; moderate and minor ones are
//! collected and listed at the end of the journey.
//!
//! axe-core is not committed: `scripts/browser.sh` installs the version pinned in
//! `scripts/axe/package-lock.json` from the npm registry into `scripts/axe/node_modules/`
//! (`PORTAL_AXE` may point at another `axe.min.js`). The test injects it into the page with
//! WebDriver's execute script, which the pages' Content-Security-Policy does not govern.

use crate::support::root;
use fantoccini::Client;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// The rule sets axe runs: WCAG 2.0 and 2.1, levels A and AA, and axe's best practices.
pub const TAGS: &[&str] = &["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];

/// One rule an element broke, as axe reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    /// The rule, e.g. `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    /// What the rule asks for.
    pub help: String,
    /// The elements that break it: a CSS path and axe's summary of what is wrong.
    pub nodes: Vec<Node>,
}

/// One element that breaks a rule.
#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    /// A CSS selector of the element.
    pub target: String,
    /// axe's explanation.
    pub summary: String,
}

/// A violation seen on one page at one width.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The page (the journey's name for it and its path).
    pub page: String,
    /// `desktop` or `phone`.
    pub width: &'static str,
    /// What axe found.
    pub violation: Violation,
}

/// What the journey's axe runs found, shared by every browser of the journey.
#[derive(Clone, Default)]
pub struct Report {
    inner: Arc<Mutex<ReportInner>>,
}

#[derive(Default)]
struct ReportInner {
    runs: usize,
    findings: Vec<Finding>,
}

impl Report {
    /// Records one run's findings; panics on any serious or critical one.
    pub fn record(&self, page: &str, width: &'static str, violations: Vec<Violation>) {
        let blocking: Vec<&Violation> =
            violations.iter().filter(|v| matches!(v.impact.as_str(), "serious" | "critical")).collect();
        assert!(
            blocking.is_empty(),
            "axe: serious or critical accessibility violations on {page} ({width}):\n{}",
            blocking.iter().map(|v| describe(v)).collect::<Vec<_>>().join("\n")
        );
        let mut inner = self.inner.lock().expect("report lock");
        inner.runs += 1;
        inner.findings.extend(violations.into_iter().map(|violation| Finding {
            page: page.to_owned(),
            width,
            violation,
        }));
    }

    /// How many pages (at one width each) axe checked, and the moderate and minor findings.
    pub fn summary(&self) -> (usize, Vec<Finding>) {
        let inner = self.inner.lock().expect("report lock");
        (inner.runs, inner.findings.clone())
    }

    /// Prints the summary: the number of runs, then every moderate or minor finding.
    pub fn print(&self) {
        let (runs, findings) = self.summary();
        println!("axe-core: {runs} runs (pages x widths), {} moderate or minor findings", findings.len());
        for f in &findings {
            println!("  {} ({}): {}", f.page, f.width, describe(&f.violation));
        }
    }
}

fn describe(v: &Violation) -> String {
    let nodes: Vec<String> =
        v.nodes.iter().map(|n| format!("    {}: {}", n.target, n.summary.replace('\n', " "))).collect();
    format!("  [{}] {}: {}\n{}", v.impact, v.id, v.help, nodes.join("\n"))
}

/// `axe.min.js`, read once; fails with what to run when it is missing.
fn source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = std::env::var_os("PORTAL_AXE")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("scripts/axe/node_modules/axe-core/axe.min.js"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is missing ({}: {e}): run scripts/browser.sh (make test does), \
                 which installs it from the npm registry, or set PORTAL_AXE",
                path.display()
            )
        })
    })
}

/// Runs axe on the page open in `client` and returns its violations.
pub async fn run(client: &Client) -> Vec<Violation> {
    let present = client.execute("return typeof window.axe === 'object'", vec![]).await.expect("script runs");
    if present != json!(true) {
        let inject = format!("{}\n;return typeof window.axe;", source());
        let kind = client.execute(&inject, vec![]).await.expect("axe-core injected");
        assert_eq!(kind, json!("object"), "axe-core did not load in the page");
    }
    let result = client.execute(RUN, vec![json!(TAGS)]).await.expect("axe runs");
    let Value::Array(_) = result else { panic!("axe returned {result}") };
    serde_json::from_value(result).expect("axe's violations")
}

/// Runs axe with the rule sets in `arguments[0]` and returns its violations, trimmed to what
/// the report prints.
const RUN: &str = r#"
return axe.run(document, {
  runOnly: { type: 'tag', values: arguments[0] },
  resultTypes: ['violations'],
}).then((results) => results.violations.map((v) => ({
  id: v.id,
  impact: v.impact || 'minor',
  help: v.help,
  nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary || '' })),
})));
"#;
