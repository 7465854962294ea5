//! What `portal plugin run` prints: the call, its response (and the page it renders), every
//! host call with its arguments, answer and time, and the call's measures; as text for
//! people or as JSON (`--json`) for scripts.

use crate::db::communities::Community;
use crate::plugins::trace::TracedCall;
use crate::portal::{Member, PluginEntry};
use plugin_api::{HostReply, PluginRequest};
use serde::Serialize;
use std::fmt::Write as _;

/// The report of one `portal plugin run`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The plugin id.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The call, as errors name it: "page request (route `about`, GET)".
    pub call: String,
    /// The request exactly as sent, context included.
    pub request: serde_json::Value,
    /// Which database.
    pub database: String,
    /// The community's slug.
    pub community: String,
    /// Who called: "Ada Lovelace <ada@riverside.example> (user 1)", if anyone.
    pub member: Option<String>,
    /// The abilities the context carried.
    pub abilities: Vec<String>,
    /// "read-only" or "read-write": the call's transaction.
    pub access: &'static str,
    /// The response, when the call succeeded (a plugin's own error is a response).
    pub response: Option<serde_json::Value>,
    /// Why the call failed: the plugin, the call, the rule and the fix.
    pub error: Option<String>,
    /// The page, for a render: the plugin's template rendered and cleaned as the portal
    /// would put it in its layout.
    pub html: Option<String>,
    /// Why the template could not be rendered, if it could not.
    pub render_error: Option<String>,
    /// Whether the call's writes were committed.
    pub committed: bool,
    /// Every host call of the (first) run, in order.
    pub host_calls: Vec<TraceEntry>,
    /// Every run's measures.
    pub runs: Vec<CallMeasure>,
    /// Min, median and max over the runs.
    pub summary: Summary,
}

/// One host call.
#[derive(Debug, Clone, Serialize)]
pub struct TraceEntry {
    /// Its name, e.g. `query`.
    pub call: &'static str,
    /// Its arguments, as the plugin sent them.
    pub arguments: serde_json::Value,
    /// The host's answer.
    pub reply: serde_json::Value,
    /// Whether the host refused or failed it.
    pub refused: bool,
    /// Time in the host, in microseconds.
    pub micros: u64,
}

impl TraceEntry {
    /// The entry of a traced call.
    pub fn of(traced: &TracedCall) -> TraceEntry {
        let untag = |value: serde_json::Value| match value {
            serde_json::Value::Object(map) if map.len() == 1 => {
                map.into_iter().next().map(|(_, inner)| inner).unwrap_or(serde_json::Value::Null)
            }
            serde_json::Value::String(_) => serde_json::Value::Null,
            other => other,
        };
        TraceEntry {
            call: traced.call.name(),
            arguments: untag(serde_json::to_value(&traced.call).unwrap_or_default()),
            reply: serde_json::to_value(&traced.reply).unwrap_or_default(),
            refused: matches!(traced.reply, HostReply::Error(_)),
            micros: u64::try_from(traced.elapsed.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

/// The measures of one run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CallMeasure {
    /// Wall time of the call: a fresh instance, the request, the guest's work, the host
    /// calls, the response.
    pub wall_us: u64,
    /// Of which in host calls.
    pub host_us: u64,
    /// The rest: instantiation, encoding and the guest's own work.
    pub guest_us: u64,
    /// Fuel burnt: wasm instructions, roughly (host calls burn none).
    pub fuel: Option<u64>,
    /// Peak linear memory of the instance.
    pub memory_bytes: Option<u64>,
}

/// Min, median and max of one measure.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spread {
    /// Smallest.
    pub min: u64,
    /// Median.
    pub median: u64,
    /// Largest.
    pub max: u64,
}

impl Spread {
    fn of(mut values: Vec<u64>) -> Option<Spread> {
        values.sort_unstable();
        let (min, max) = (*values.first()?, *values.last()?);
        Some(Spread { min, median: values[values.len() / 2], max })
    }
}

/// The measures over every run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// How many runs.
    pub runs: usize,
    /// Wall time, µs.
    pub wall_us: Spread,
    /// Time in host calls, µs.
    pub host_us: Spread,
    /// Fuel, if counted.
    pub fuel: Option<Spread>,
    /// Peak linear memory, bytes.
    pub memory_bytes: Option<Spread>,
}

impl RunReport {
    /// A report of `request` with no outcome yet.
    pub fn new(
        entry: &PluginEntry,
        request: &PluginRequest,
        database: &str,
        community: &Community,
        member: Option<&Member>,
    ) -> RunReport {
        let abilities = match request {
            PluginRequest::Slots { ctx, .. }
            | PluginRequest::Page { ctx, .. }
            | PluginRequest::Job { ctx, .. }
            | PluginRequest::Event { ctx, .. }
            | PluginRequest::Check { ctx, .. }
            | PluginRequest::Deliver { ctx, .. } => ctx.abilities.iter().map(|a| a.0.clone()).collect(),
            PluginRequest::Describe => Vec::new(),
        };
        RunReport {
            plugin: entry.id().to_owned(),
            version: entry.manifest().version().to_owned(),
            call: crate::plugins::error::call_name(request),
            request: serde_json::to_value(request).unwrap_or_default(),
            database: database.to_owned(),
            community: community.slug.clone(),
            member: member.map(|m| format!("{} <{}> (user {})", m.user.name, m.user.email, m.user.id.0)),
            abilities,
            access: "read-only",
            response: None,
            error: None,
            html: None,
            render_error: None,
            committed: false,
            host_calls: Vec::new(),
            runs: Vec::new(),
            summary: Summary::default(),
        }
    }

    /// Whether the call succeeded and its page (if any) rendered.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.render_error.is_none()
    }

    /// Sets the runs and their summary.
    pub fn set_measures(&mut self, runs: Vec<CallMeasure>) {
        let spread = |f: &dyn Fn(&CallMeasure) -> Option<u64>| {
            let values: Option<Vec<u64>> = runs.iter().map(f).collect();
            values.and_then(Spread::of)
        };
        self.summary = Summary {
            runs: runs.len(),
            wall_us: spread(&|m| Some(m.wall_us)).unwrap_or_default(),
            host_us: spread(&|m| Some(m.host_us)).unwrap_or_default(),
            fuel: spread(&|m| m.fuel),
            memory_bytes: spread(&|m| m.memory_bytes),
        };
        self.runs = runs;
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "plugin {} {}: {}", self.plugin, self.version, self.call);
        let _ = writeln!(out, "  database   {}", self.database);
        let _ = writeln!(out, "  community  {}", self.community);
        let _ = writeln!(out, "  as         {}", self.member.as_deref().unwrap_or("nobody (no viewer)"));
        let abilities =
            if self.abilities.is_empty() { "(none)".to_owned() } else { self.abilities.join(", ") };
        let _ = writeln!(out, "  abilities  {abilities}");
        let _ = writeln!(out, "  access     {}", self.access);
        let total: u64 = self.host_calls.iter().map(|c| c.micros).sum();
        let _ = writeln!(out, "host calls ({}, {})", self.host_calls.len(), ms(total));
        for (i, c) in self.host_calls.iter().enumerate() {
            let mark = if c.refused { "  REFUSED" } else { "" };
            let _ = writeln!(out, "  {:>2}. {} {}{mark}", i + 1, c.call, compact(&c.arguments, 400));
            let _ = writeln!(out, "      -> {} ({})", compact(&c.reply, 400), ms(c.micros));
        }
        match (&self.response, &self.error) {
            (_, Some(error)) => {
                let _ = writeln!(out, "FAILED: {error}");
            }
            (Some(response), None) => {
                let _ = writeln!(out, "response");
                let _ = writeln!(out, "  {}", compact(response, 4000));
            }
            (None, None) => {}
        }
        if let Some(html) = &self.html {
            let _ = writeln!(
                out,
                "page ({} bytes of HTML, cleaned, as the portal puts it in its layout)",
                html.len()
            );
            for line in html.lines().take(40) {
                let _ = writeln!(out, "  {line}");
            }
        }
        if let Some(error) = &self.render_error {
            let _ = writeln!(out, "TEMPLATE FAILED: {error}");
        }
        let _ = writeln!(
            out,
            "transaction {}",
            if self.committed { "committed" } else { "rolled back (or nothing to commit)" }
        );
        let s = &self.summary;
        if s.runs <= 1 {
            if let Some(m) = self.runs.first() {
                let _ = writeln!(out, "measures");
                let _ = writeln!(
                    out,
                    "  wall time     {} (fresh instance, the call, its host calls)",
                    ms(m.wall_us)
                );
                let _ = writeln!(out, "  host calls    {}", ms(m.host_us));
                let _ = writeln!(
                    out,
                    "  plugin        {} (instantiation, encoding, the guest's work)",
                    ms(m.guest_us)
                );
                if let Some(fuel) = m.fuel {
                    let _ = writeln!(out, "  fuel          {} (wasm instructions, roughly)", thousands(fuel));
                }
                if let Some(bytes) = m.memory_bytes {
                    let _ = writeln!(out, "  peak memory   {} (linear memory)", mib(bytes));
                }
            }
        } else {
            let _ = writeln!(out, "measures over {} runs (min / median / max)", s.runs);
            let w = s.wall_us;
            let _ = writeln!(out, "  wall time     {} / {} / {}", ms(w.min), ms(w.median), ms(w.max));
            let h = s.host_us;
            let _ = writeln!(out, "  host calls    {} / {} / {}", ms(h.min), ms(h.median), ms(h.max));
            if let Some(f) = s.fuel {
                let _ = writeln!(
                    out,
                    "  fuel          {} / {} / {}",
                    thousands(f.min),
                    thousands(f.median),
                    thousands(f.max)
                );
            }
            if let Some(m) = s.memory_bytes {
                let _ = writeln!(out, "  peak memory   {} / {} / {}", mib(m.min), mib(m.median), mib(m.max));
            }
        }
        out
    }
}

fn ms(micros: u64) -> String {
    format!("{:.3} ms", micros as f64 / 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line of JSON, cut at `max` characters.
fn compact(value: &serde_json::Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}... ({} bytes)", text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(ms(1500), "1.500 ms");
        let s = Spread::of(vec![5, 1, 3]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1, 3, 5));
        assert!(Spread::of(vec![]).is_none());
    }
}
