//! The scheduler: runs each job a manifest declares, at its interval (fixed, or a duration
//! setting the community may override), in each community where the job's ability is
//! granted to anyone. A lease row per (plugin, job, community) means two portal processes
//! on one database never run the same job at once; the last run time is stored, so a
//! restart runs an overdue job once, not once per missed interval.

use crate::db::{self, DbResult};
use crate::plugins::manifest::JobInterval;
use crate::portal::Portal;
use plugin_api::SettingValue;
use std::sync::Arc;
use std::time::Duration;

/// One job run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// The plugin.
    pub plugin: String,
    /// The job.
    pub job: String,
    /// The community's slug.
    pub community: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Its summary, or why it failed.
    pub summary: String,
}

/// Runs every job that is due now; `holder` names this process in the leases.
pub fn run_due(portal: &Portal, holder: &str) -> DbResult<Vec<JobRun>> {
    let conn = portal.db.get()?;
    let communities = db::communities::list(&conn)?;
    let mut runs = Vec::new();
    for plugin in &portal.plugins {
        for job in &plugin.manifest().jobs {
            for community in &communities {
                if !db::abilities::is_on(&conn, community.id, job.ability.as_str())? {
                    continue;
                }
                let interval_s = match &job.interval {
                    JobInterval::Fixed(s) => i64::try_from(*s).unwrap_or(i64::MAX),
                    JobInterval::Setting(name) => {
                        match portal.settings(&conn, community, plugin)?.get(name) {
                            Some(SettingValue::Int(s)) => *s,
                            _ => continue,
                        }
                    }
                };
                if let Some(run) =
                    run_leased(portal, plugin, &job.name, community, holder, interval_s * 1000)?
                {
                    runs.push(run);
                }
            }
        }
    }
    Ok(runs)
}

/// Runs one job in one community now, whatever its schedule (`portal jobs run`), unless
/// another process holds its lease; `None` then.
pub fn run_now(
    portal: &Portal,
    plugin_id: &str,
    job: &str,
    community_slug: &str,
    holder: &str,
) -> Result<Option<JobRun>, String> {
    let plugin = portal
        .plugins
        .iter()
        .find(|p| p.id() == plugin_id)
        .ok_or_else(|| format!("no plugin `{plugin_id}`"))?;
    if !plugin.manifest().jobs.iter().any(|j| j.name == job) {
        return Err(format!("plugin `{plugin_id}` has no job `{job}`"));
    }
    let conn = portal.db.get().map_err(|e| e.to_string())?;
    let community = db::communities::by_slug(&conn, community_slug)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no community `{community_slug}`"))?;
    run_leased(portal, plugin, job, &community, holder, 0).map_err(|e| e.to_string())
}

/// Takes the job's lease if it is due (`interval_ms` since its last run), runs it, logs
/// the run and releases the lease (each of the two in a write transaction of its own: the
/// job's plugin call takes the turn to write itself).
fn run_leased(
    portal: &Portal,
    plugin: &crate::portal::PluginEntry,
    job: &str,
    community: &db::communities::Community,
    holder: &str,
    interval_ms: i64,
) -> DbResult<Option<JobRun>> {
    let lease_ms = i64::try_from(portal.config.jobs.lease_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    let now = portal.clock.now();
    let key = db::jobs::JobKey { plugin: plugin.id(), job, community: community.id };
    let txn = portal.db.write()?;
    let acquired = db::jobs::acquire(&txn, key, holder, now, interval_ms, lease_ms)?;
    txn.commit()?;
    if !acquired {
        return Ok(None);
    }
    let (ok, summary) = match portal.run_job(plugin, community, job) {
        Ok(summary) => (true, summary),
        Err(reason) => (false, reason),
    };
    let finished = portal.clock.now();
    let outcome = if ok { Ok(summary.as_str()) } else { Err(summary.as_str()) };
    let txn = portal.db.write()?;
    db::jobs::finish(&txn, key, holder, now, finished, outcome)?;
    txn.commit()?;
    if ok {
        tracing::info!(plugin = plugin.id(), job, community = %community.slug, %summary, "job ran");
    } else {
        tracing::warn!(plugin = plugin.id(), job, community = %community.slug, %summary, "job failed");
    }
    Ok(Some(JobRun {
        plugin: plugin.id().to_owned(),
        job: job.to_owned(),
        community: community.slug.clone(),
        ok,
        summary,
    }))
}

/// Starts the scheduler thread: every `jobs.tick_ms`, run what is due.
pub fn spawn_scheduler(portal: Arc<Portal>) -> Result<std::thread::JoinHandle<()>, String> {
    let holder = format!(
        "{}-{}",
        std::process::id(),
        crate::auth::random_token().map_err(|e| e.to_string())?.get(..8).unwrap_or("x")
    );
    let tick = Duration::from_millis(portal.config.jobs.tick_ms.max(100));
    std::thread::Builder::new()
        .name("scheduler".into())
        .spawn(move || {
            loop {
                if let Err(err) = run_due(&portal, &holder) {
                    tracing::error!(error = %err, "scheduler pass failed");
                }
                std::thread::sleep(tick);
            }
        })
        .map_err(|e| e.to_string())
}
