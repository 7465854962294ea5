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
    let lease_ms = i64::try_from(portal.config.jobs.lease_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
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
                let now = portal.clock.now();
                let key = db::jobs::JobKey { plugin: plugin.id(), job: &job.name, community: community.id };
                let due = db::jobs::acquire(&conn, key, holder, now, interval_s * 1000, lease_ms)?;
                if !due {
                    continue;
                }
                let (ok, summary) = match portal.run_job(plugin, community, &job.name) {
                    Ok(summary) => (true, summary),
                    Err(reason) => (false, reason),
                };
                let finished = portal.clock.now();
                let outcome = if ok { Ok(summary.as_str()) } else { Err(summary.as_str()) };
                db::jobs::finish(&conn, key, holder, now, finished, outcome)?;
                if ok {
                    tracing::info!(plugin = plugin.id(), job = %job.name, community = %community.slug, %summary, "job ran");
                } else {
                    tracing::warn!(plugin = plugin.id(), job = %job.name, community = %community.slug, %summary, "job failed");
                }
                runs.push(JobRun {
                    plugin: plugin.id().to_owned(),
                    job: job.name.clone(),
                    community: community.slug.clone(),
                    ok,
                    summary,
                });
            }
        }
    }
    Ok(runs)
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
