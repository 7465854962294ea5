//! The stored state of each plugin's circuit breaker (see `plugins::breaker`), so that
//! `portal plugin status` in another process sees what the serving portal sees.

use super::DbResult;
use super::sql::Conn;
use plugin_api::Timestamp;

/// One plugin's health as last recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The plugin id.
    pub plugin: String,
    /// Whether the breaker was open (the plugin switched off) at the last update.
    pub open: bool,
    /// Failed calls in a row.
    pub consecutive_failures: u32,
    /// Failed calls since the record began.
    pub total_failures: i64,
    /// Until when the plugin is switched off.
    pub open_until: Option<Timestamp>,
    /// When the last call failed.
    pub last_failure_at: Option<Timestamp>,
    /// Why it failed.
    pub last_error: Option<String>,
    /// Host calls the sandbox refused since the record began.
    pub refusals: i64,
    /// When the last refusal happened.
    pub last_refusal_at: Option<Timestamp>,
    /// The last refusal: plugin, host call, rule and fix.
    pub last_refusal: Option<String>,
}

/// Records `count` host calls of `plugin` that the sandbox refused, the last being `message`.
pub fn record_refusals(conn: &Conn, plugin: &str, count: u32, message: &str, now: Timestamp) -> DbResult<()> {
    conn.execute(
        "INSERT INTO plugin_health
           (plugin, state, consecutive_failures, total_failures, refusals, last_refusal_at, last_refusal, updated_at)
         VALUES (?1, 'closed', 0, 0, ?2, ?3, ?4, ?3)
         ON CONFLICT (plugin) DO UPDATE SET
           refusals = plugin_health.refusals + excluded.refusals, last_refusal_at = excluded.last_refusal_at,
           last_refusal = excluded.last_refusal, updated_at = excluded.updated_at",
        &[&plugin, &count, &now.0, &message],
    )?;
    Ok(())
}

/// Records a failed call of `plugin` and the breaker's state after it.
pub fn record_failure(
    conn: &Conn,
    plugin: &str,
    consecutive: u32,
    open_until: Option<Timestamp>,
    error: &str,
    now: Timestamp,
) -> DbResult<()> {
    conn.execute(
        "INSERT INTO plugin_health
           (plugin, state, consecutive_failures, total_failures, open_until, last_failure_at, last_error, updated_at)
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?5)
         ON CONFLICT (plugin) DO UPDATE SET
           state = excluded.state, consecutive_failures = excluded.consecutive_failures,
           total_failures = plugin_health.total_failures + 1, open_until = excluded.open_until,
           last_failure_at = excluded.last_failure_at, last_error = excluded.last_error,
           updated_at = excluded.updated_at",
        &[
            &plugin,
            &if open_until.is_some() { "open" } else { "closed" },
            &consecutive,
            &open_until.map(|t| t.0),
            &now.0,
            &error,
        ],
    )?;
    Ok(())
}

/// Records that `plugin` answered again: the breaker is closed, the failures in a row reset.
pub fn record_recovery(conn: &Conn, plugin: &str, now: Timestamp) -> DbResult<()> {
    conn.execute(
        "UPDATE plugin_health SET state = 'closed', consecutive_failures = 0, open_until = NULL,
           updated_at = ?2
         WHERE plugin = ?1",
        &[&plugin, &now.0],
    )?;
    Ok(())
}

/// The recorded health of `plugin`, if it ever failed.
pub fn get(conn: &Conn, plugin: &str) -> DbResult<Option<Health>> {
    conn.query_opt(
        "SELECT plugin, state, consecutive_failures, total_failures, open_until, last_failure_at,
                    last_error, refusals, last_refusal_at, last_refusal
             FROM plugin_health WHERE plugin = ?1",
        &[&plugin],
        |r| {
            Ok(Health {
                plugin: r.get(0)?,
                open: r.get::<String>(1)? == "open",
                consecutive_failures: r.get(2)?,
                total_failures: r.get(3)?,
                open_until: r.get::<Option<i64>>(4)?.map(Timestamp),
                last_failure_at: r.get::<Option<i64>>(5)?.map(Timestamp),
                last_error: r.get(6)?,
                refusals: r.get(7)?,
                last_refusal_at: r.get::<Option<i64>>(8)?.map(Timestamp),
                last_refusal: r.get(9)?,
            })
        },
    )
}
