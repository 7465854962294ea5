//! The email outbox: emails written with the change that caused them, sent later by the
//! delivery worker, retried with backoff until they go out.

use super::DbResult;
use plugin_api::{Timestamp, UserId};
use rusqlite::{Connection, params};

/// An email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Its id.
    pub id: i64,
    /// The recipient's address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// Attempts so far.
    pub attempts: i64,
}

/// Queues an email for `user`.
pub fn queue(
    conn: &Connection,
    user: UserId,
    to: &str,
    subject: &str,
    text: &str,
    html: &str,
    now: Timestamp,
) -> DbResult<i64> {
    conn.execute(
        "INSERT INTO email_outbox (user_id, to_address, subject, text_body, html_body, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![user.0, to, subject, text, html, now.0],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Emails due for an attempt, oldest first.
pub fn due(conn: &Connection, now: Timestamp, limit: u32) -> DbResult<Vec<Email>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, to_address, subject, text_body, html_body, attempts FROM email_outbox
         WHERE sent_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now.0, limit], |r| {
            Ok(Email {
                id: r.get(0)?,
                to: r.get(1)?,
                subject: r.get(2)?,
                text: r.get(3)?,
                html: r.get(4)?,
                attempts: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Records a successful delivery.
pub fn mark_sent(conn: &Connection, id: i64, now: Timestamp) -> DbResult<()> {
    conn.execute(
        "UPDATE email_outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
        params![id, now.0],
    )?;
    Ok(())
}

/// Records a failed attempt; the next one is due at `retry_at`.
pub fn mark_failed(conn: &Connection, id: i64, error: &str, retry_at: Timestamp) -> DbResult<()> {
    conn.execute(
        "UPDATE email_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
        params![id, error, retry_at.0],
    )?;
    Ok(())
}
