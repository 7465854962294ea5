//! Plugins extending plugins, as host calls: `Emit` queues one delivery per subscriber in
//! the call's transaction; `Check` asks each implementer of the plugin's check point in
//! that same transaction (each in a savepoint, under the point's CPU budget, a failure
//! judged by the point's `on_failure`); `Resolve` records an implementer's later
//! decision and queues the resolution for the declaring plugin.

use super::{DbServices, failed};
use crate::db;
use crate::db::extensions::{HoldState, Outcome, Savepoint};
use crate::db::plugin_store::SqlAccess;
use crate::extensions::Index;
use crate::plugins::PluginManifest;
use plugin_api::extension::{CHECK_RESOLVED, CheckResolved, MAX_PAYLOAD_BYTES, MAX_REASON_CHARS};
use plugin_api::{
    CheckId, CheckOutcome, CheckRequest, Decision, FailurePolicy, HostError, HostErrorKind, Verdict,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

/// Most events one call may emit: a delivery may emit too, so a plugin that answered each
/// delivery with many events would grow the queue without end.
pub const MAX_EVENTS_PER_CALL: u32 = 100;

/// Runs one implementer of a check point inside the asking call's transaction (the
/// portal implements it: it knows the loaded plugins).
pub trait CheckRunner: Send + Sync {
    /// Calls `implementer` with `check` in `call`'s transaction, under `cpu_ms`; its
    /// verdict, or why it gave none (failed, timed out, switched off, not loaded).
    fn run_check(
        &self,
        call: &mut DbServices,
        implementer: &str,
        check: CheckRequest,
        cpu_ms: u32,
    ) -> Result<Verdict, String>;
}

/// What a call knows of the other plugins: the index of who extends whom, who runs
/// checks, and who delivers events.
#[derive(Clone)]
pub struct Extensions {
    /// Who declares, subscribes to and implements what.
    pub index: Arc<Index>,
    /// Runs implementers of check points (the portal; gone while it shuts down).
    pub runner: Weak<dyn CheckRunner>,
    /// Wakes the deliverer after a commit that queued events.
    pub wake: Arc<crate::deliveries::Wake>,
}

struct NoRunner;

impl CheckRunner for NoRunner {
    fn run_check(&self, _: &mut DbServices, _: &str, _: CheckRequest, _: u32) -> Result<Verdict, String> {
        Err("no plugins are loaded here".into())
    }
}

impl Extensions {
    /// No other plugins (a plugin run on its own).
    pub fn none() -> Extensions {
        let runner: Weak<dyn CheckRunner> = Weak::<NoRunner>::new();
        Extensions { index: Arc::default(), runner, wake: Arc::default() }
    }
}

fn not_allowed(message: String) -> HostError {
    HostError { kind: HostErrorKind::NotAllowed, message }
}

fn invalid(message: String) -> HostError {
    HostError { kind: HostErrorKind::Invalid, message }
}

/// A reason as authors and reviewers read it: one line, no control characters, at most
/// [`MAX_REASON_CHARS`] characters.
fn clean_reason(reason: &str) -> String {
    let line: String =
        reason.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_REASON_CHARS).collect();
    let line = line.trim();
    if line.is_empty() { "No reason was given.".to_owned() } else { line.to_owned() }
}

/// Encodes a payload, refused past [`MAX_PAYLOAD_BYTES`].
fn encode_payload(what: &str, value: &serde_json::Value) -> Result<String, HostError> {
    let text = serde_json::to_string(value).map_err(|e| invalid(format!("{what}: {e}")))?;
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(HostError {
            kind: HostErrorKind::LimitExceeded,
            message: format!("the {what} has {} bytes; at most {MAX_PAYLOAD_BYTES}", text.len()),
        });
    }
    Ok(text)
}

impl DbServices {
    /// Lends this call's transaction to `implementer`'s check: services for it, over the
    /// same transaction, community and viewer. Give them back with [`DbServices::take_back`].
    pub fn lend(&mut self, implementer: &PluginManifest) -> DbServices {
        DbServices {
            conn: std::mem::replace(&mut self.conn, super::CallTxn::Ended),
            mail: self.mail.clone(),
            plugin: implementer.id().to_owned(),
            preference_defaults: super::preference_defaults(implementer),
            community: self.community,
            requirements: crate::abilities::requirements(&implementer.raw.abilities),
            access: self.access,
            limits: self.limits,
            now: self.now,
            live: self.live.clone(),
            updates: BTreeMap::new(),
            refusals: None,
            ext: self.ext.clone(),
            viewer: self.viewer.clone(),
            in_check: true,
            emitted: false,
            events: 0,
            after: Vec::new(),
        }
    }

    /// Takes back the transaction lent with [`DbServices::lend`], with the live updates
    /// and events the implementer's call added when it answered (`kept`; otherwise what it
    /// wrote is undone, and what it would have told goes too).
    pub fn take_back(&mut self, mut inner: DbServices, kept: bool) {
        self.conn = std::mem::replace(&mut inner.conn, super::CallTxn::Ended);
        if kept {
            for (user, topics) in std::mem::take(&mut inner.updates) {
                self.updates.entry(user).or_default().extend(topics);
            }
            self.emitted |= inner.emitted;
        }
        self.after.append(&mut inner.after);
    }

    /// Work to run once the transaction has ended.
    pub fn defer(&mut self, work: Box<dyn FnOnce() + Send>) {
        self.after.push(work);
    }

    /// The community of the call.
    pub fn community_record(&self) -> crate::db::communities::Community {
        self.mail.community.clone()
    }

    /// The member this call serves, if any.
    pub fn viewer(&self) -> Option<Arc<crate::view::Member>> {
        self.viewer.clone()
    }

    /// The connection inside the call's transaction (begun if need be), for the host's
    /// own reads that belong to the call.
    pub fn host_conn(&mut self) -> Result<&db::Conn, HostError> {
        Ok(self.conn.begun(&self.plugin)?.connection())
    }

    fn writable(&self, what: &str) -> Result<(), HostError> {
        if self.access == SqlAccess::ReadOnly {
            return Err(not_allowed(format!("no {what} during a GET request")));
        }
        Ok(())
    }

    /// Queues `event` for its subscribers (`HostCall::Emit`).
    pub(super) fn emit_event(&mut self, event: &str, payload: &serde_json::Value) -> Result<(), HostError> {
        self.writable("events")?;
        if self.ext.index.events.get(event) != Some(&self.plugin) {
            return Err(not_allowed(format!(
                "`{event}` is not an event that `{}` declares in [[events]]",
                self.plugin
            )));
        }
        if self.events >= MAX_EVENTS_PER_CALL {
            return Err(HostError {
                kind: HostErrorKind::LimitExceeded,
                message: format!("a call may emit at most {MAX_EVENTS_PER_CALL} events"),
            });
        }
        self.events += 1;
        let payload = encode_payload("event payload", payload)?;
        let index = self.ext.index.clone();
        let (community, now, plugin) = (self.community, self.now, self.plugin.clone());
        let conn = self.conn.begun(&plugin)?.connection();
        let mut queued = false;
        for sub in index.subscribers.get(event).into_iter().flatten() {
            let on = db::abilities::is_on(conn, community, sub.ability.as_str())
                .map_err(|e| failed(&plugin, e))?;
            if on {
                let delivery = db::extensions::NewDelivery {
                    community,
                    subscriber: &sub.plugin,
                    source: &plugin,
                    event,
                    payload: &payload,
                };
                db::extensions::queue(conn, &delivery, now).map_err(|e| failed(&plugin, e))?;
                queued = true;
            }
        }
        self.emitted |= queued;
        Ok(())
    }

    /// Asks the implementers of the plugin's check point `point` (`HostCall::Check`).
    pub(super) fn run_checks(
        &mut self,
        point: &str,
        subject: &serde_json::Value,
    ) -> Result<CheckOutcome, HostError> {
        self.writable("checks")?;
        if self.in_check {
            return Err(not_allowed("a plugin answering a check may not ask for checks".into()));
        }
        let Some(spec) = self.ext.index.check_of(&self.plugin, point).cloned() else {
            return Err(not_allowed(format!(
                "`{point}` is not a check point that `{}` declares in [[extension_points]]",
                self.plugin
            )));
        };
        encode_payload("check subject", subject)?;
        if spec.implementers.is_empty() {
            // No loaded plugin answers this point: nothing to ask, nothing to record.
            return Ok(CheckOutcome {
                check: None,
                verdict: Verdict::Allow,
                held_by: Vec::new(),
                failed: Vec::new(),
            });
        }
        let (community, now, plugin) = (self.community, self.now, self.plugin.clone());
        let (check, asked) = {
            let conn = self.conn.begun(&plugin)?.connection();
            // Who is asked: the implementers switched on in this community. Only they may
            // reject the check later.
            let mut asked = Vec::new();
            for implementer in &spec.implementers {
                if db::abilities::is_on(conn, community, implementer.ability.as_str())
                    .map_err(|e| failed(&plugin, e))?
                {
                    asked.push(implementer.plugin.as_str());
                }
            }
            if asked.is_empty() {
                // Nobody answers here: nothing asked, nothing anyone may resolve later.
                return Ok(CheckOutcome {
                    check: None,
                    verdict: Verdict::Allow,
                    held_by: Vec::new(),
                    failed: Vec::new(),
                });
            }
            db::extensions::savepoint(conn, Savepoint::Check).map_err(|e| failed(&plugin, e))?;
            let check = db::extensions::new_check(conn, community, point, &asked, now)
                .map_err(|e| failed(&plugin, e))?;
            (check, asked.into_iter().map(str::to_owned).collect::<Vec<_>>())
        };
        // The live updates the implementers add stay only with what they wrote.
        let updates = self.updates.clone();
        let mut outcome = self.ask_implementers(point, subject, &spec, check, &asked);
        // A refusal undoes the whole check: nothing is stored, so nothing that the
        // implementers wrote about it (a queue entry for a hold) may stay either, and the
        // check has no id to resolve.
        let keep = matches!(&outcome, Ok(o) if !matches!(o.verdict, Verdict::Refuse { .. }));
        let conn = self.conn.begun(&plugin)?.connection();
        db::extensions::end_savepoint(conn, Savepoint::Check, keep).map_err(|e| failed(&plugin, e))?;
        if !keep {
            self.updates = updates;
            if let Ok(o) = &mut outcome {
                o.check = None;
            }
        }
        outcome
    }

    /// Asks each switched-on implementer in turn, until one refuses.
    fn ask_implementers(
        &mut self,
        point: &str,
        subject: &serde_json::Value,
        spec: &crate::extensions::CheckPoint,
        check: CheckId,
        asked: &[String],
    ) -> Result<CheckOutcome, HostError> {
        let plugin = self.plugin.clone();
        let runner = self.ext.runner.upgrade();
        let mut outcome = CheckOutcome {
            check: Some(check),
            verdict: Verdict::Allow,
            held_by: Vec::new(),
            failed: Vec::new(),
        };
        let mut hold_reason = None;
        for implementer in spec.implementers.iter().filter(|i| asked.contains(&i.plugin)) {
            let conn = self.conn.begun(&plugin)?.connection();
            db::extensions::savepoint(conn, Savepoint::Implementer).map_err(|e| failed(&plugin, e))?;
            let request = CheckRequest { point: point.to_owned(), check, subject: subject.clone() };
            let answered = match &runner {
                Some(runner) => runner.run_check(self, &implementer.plugin, request, spec.cpu_ms),
                None => Err("the portal is shutting down".to_owned()),
            };
            // The implementer's writes stay only if it answered.
            let conn = self.conn.begun(&plugin)?.connection();
            db::extensions::end_savepoint(conn, Savepoint::Implementer, answered.is_ok())
                .map_err(|e| failed(&plugin, e))?;
            let verdict = answered.unwrap_or_else(|why| {
                tracing::warn!(plugin = %implementer.plugin, point, why = %why, policy = spec.on_failure.as_str(), "check implementer failed; its check point's policy applies");
                outcome.failed.push(implementer.plugin.clone());
                match spec.on_failure {
                    FailurePolicy::Allow => Verdict::Allow,
                    FailurePolicy::Refuse => Verdict::Refuse {
                        reason: "This could not be checked just now. Please try again in a moment.".into(),
                    },
                }
            });
            match verdict {
                Verdict::Allow => {}
                Verdict::Refuse { reason } => {
                    // One refusal is enough: the others are not asked.
                    outcome.verdict = Verdict::Refuse { reason: clean_reason(&reason) };
                    outcome.held_by.clear();
                    return Ok(outcome);
                }
                Verdict::Hold { reason } => {
                    let reason = clean_reason(&reason);
                    let conn = self.conn.begun(&plugin)?.connection();
                    db::extensions::hold(conn, check, &implementer.plugin, &reason)
                        .map_err(|e| failed(&plugin, e))?;
                    outcome.held_by.push(implementer.plugin.clone());
                    hold_reason.get_or_insert(reason);
                }
            }
        }
        if let Some(reason) = hold_reason {
            outcome.verdict = Verdict::Hold { reason };
        }
        Ok(outcome)
    }

    /// Records an implementer's decision on a check (`HostCall::Resolve`).
    pub(super) fn resolve_check(&mut self, check: CheckId, decision: &Decision) -> Result<(), HostError> {
        self.writable("resolutions")?;
        let (community, now, plugin) = (self.community, self.now, self.plugin.clone());
        let index = self.ext.index.clone();
        let conn = self.conn.begun(&plugin)?.connection();
        let fail = |e| failed(&plugin, e);
        let stored = db::extensions::check(conn, community, check)
            .map_err(fail)?
            .ok_or_else(|| invalid(format!("there is no check {check} in this community")))?;
        let spec = index
            .checks
            .get(&stored.point)
            .filter(|spec| spec.implementers.iter().any(|i| i.plugin == plugin))
            .ok_or_else(|| {
                not_allowed(format!(
                    "check {check} belongs to `{}`, which `{plugin}` does not implement: only its implementers resolve its checks",
                    stored.point
                ))
            })?;
        // Only an implementer that was asked, and is still switched on here, decides.
        let switched_on = spec
            .implementers
            .iter()
            .find(|i| i.plugin == plugin)
            .map(|i| db::abilities::is_on(conn, community, i.ability.as_str()))
            .transpose()
            .map_err(fail)?
            .unwrap_or(false);
        if !stored.asked.contains(&plugin) || !switched_on {
            return Err(not_allowed(format!(
                "`{plugin}` was not asked about check {check}, or is switched off here: only an implementer that answered a check resolves it"
            )));
        }
        if stored.resolution == Some(Outcome::Rejected) {
            return Ok(());
        }
        let hold = db::extensions::hold_state(conn, check, &plugin).map_err(fail)?;
        let resolved = match decision {
            Decision::Release => match hold {
                Some(HoldState::Held) => {
                    let still_held =
                        db::extensions::decide_hold(conn, check, &plugin, Outcome::Released).map_err(fail)?;
                    (still_held == 0).then_some(Decision::Release)
                }
                Some(HoldState::Decided(_)) => None,
                None => {
                    return Err(invalid(format!(
                        "`{plugin}` did not hold check {check}: only a hold can be released"
                    )));
                }
            },
            Decision::Reject { reason } => {
                if hold == Some(HoldState::Held) {
                    db::extensions::decide_hold(conn, check, &plugin, Outcome::Rejected).map_err(fail)?;
                }
                Some(Decision::Reject { reason: clean_reason(reason) })
            }
        };
        let Some(decision) = resolved else { return Ok(()) };
        let resolution = match decision {
            Decision::Release => Outcome::Released,
            Decision::Reject { .. } => Outcome::Rejected,
        };
        db::extensions::resolve_check(conn, check, resolution).map_err(fail)?;
        let payload = CheckResolved { point: stored.point.clone(), check, decision, by: plugin.clone() };
        let payload = serde_json::to_string(&payload).map_err(|e| invalid(e.to_string()))?;
        // The declaring plugin, and every other plugin that held it, learn the outcome.
        let mut told = vec![spec.declarer.clone()];
        for holder in db::extensions::holders(conn, check).map_err(fail)? {
            if holder != plugin && !told.contains(&holder) {
                told.push(holder);
            }
        }
        for subscriber in &told {
            let delivery = db::extensions::NewDelivery {
                community,
                subscriber,
                source: "portal",
                event: CHECK_RESOLVED,
                payload: &payload,
            };
            db::extensions::queue(conn, &delivery, now).map_err(fail)?;
        }
        self.emitted = true;
        Ok(())
    }
}
