//! Job leases and runs: when each job last ran in each community, who runs it now, and the
//! log of runs.

use super::DbResult;
use super::sql::Conn;
use plugin_api::{CommunityId, Timestamp};

/// Which job, of which plugin, in which community.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobKey<'a> {
    /// The plugin id.
    pub plugin: &'a str,
    /// The job's name in the manifest.
    pub job: &'a str,
    /// The community.
    pub community: CommunityId,
}

/// Takes the lease of a job in a community if it is due (`interval_ms` since its last run)
/// and nobody holds a live lease; false otherwise. Atomic across processes.
pub fn acquire(
    conn: &Conn,
    key: JobKey<'_>,
    holder: &str,
    now: Timestamp,
    interval_ms: i64,
    lease_ms: i64,
) -> DbResult<bool> {
    conn.execute(
        "INSERT INTO job_leases (plugin, job, community_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        &[&key.plugin, &key.job, &key.community.0],
    )?;
    let taken = conn.execute(
        "UPDATE job_leases SET holder = ?4, expires_at = ?7
         WHERE plugin = ?1 AND job = ?2 AND community_id = ?3
           AND last_run_at <= ?6 AND (holder IS NULL OR expires_at < ?5)",
        &[
            &key.plugin,
            &key.job,
            &key.community.0,
            &holder,
            &now.0,
            &now.0.saturating_sub(interval_ms),
            &now.0.saturating_add(lease_ms),
        ],
    )?;
    Ok(taken == 1)
}

/// Releases a lease after a run that started at `started`, and logs the run.
pub fn finish(
    conn: &Conn,
    key: JobKey<'_>,
    holder: &str,
    started: Timestamp,
    finished: Timestamp,
    outcome: Result<&str, &str>,
) -> DbResult<()> {
    let (ok, summary) = match outcome {
        Ok(s) => (true, s),
        Err(s) => (false, s),
    };
    conn.execute(
        "UPDATE job_leases SET holder = NULL, expires_at = 0, last_run_at = ?5
         WHERE plugin = ?1 AND job = ?2 AND community_id = ?3 AND holder = ?4",
        &[&key.plugin, &key.job, &key.community.0, &holder, &started.0],
    )?;
    conn.execute(
        "INSERT INTO job_runs (plugin, job, community_id, started_at, finished_at, ok, summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[&key.plugin, &key.job, &key.community.0, &started.0, &finished.0, &ok, &summary],
    )?;
    Ok(())
}
