//! The email outbox: emails written with the change that caused them, sent later by the
//! delivery worker, retried with backoff until they go out (or withdrawn, when the member
//! turned off the preference that governs them before they went).

use super::DbResult;
use super::sql::Conn;
use plugin_api::{Timestamp, UserId};

/// The headers an email carries besides From, To, Subject, Date and its MIME parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// `Message-ID`, with its angle brackets (emails queued before it existed have none:
    /// the worker makes one).
    pub message_id: Option<String>,
    /// The `Message-ID` of the first email of its thread to the same member
    /// (`In-Reply-To` and `References`).
    pub in_reply_to: Option<String>,
    /// The one-click unsubscribe link (`List-Unsubscribe`).
    pub unsubscribe_url: Option<String>,
    /// A digest or other bulk email (`Precedence: bulk`).
    pub bulk: bool,
}

/// An email to queue.
#[derive(Debug, Clone)]
pub struct NewEmail<'a> {
    /// The recipient.
    pub user: UserId,
    /// The recipient's address.
    pub to: &'a str,
    /// Subject line.
    pub subject: &'a str,
    /// Plain-text part.
    pub text: &'a str,
    /// HTML part.
    pub html: &'a str,
    /// Its headers.
    pub headers: Headers,
    /// The plugin that sends it.
    pub plugin: Option<&'a str>,
    /// The preference that governs it, a key of `plugin`.
    pub preference: Option<&'a str>,
    /// The plugin's key of its thread.
    pub thread: Option<&'a str>,
}

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
    /// Its headers.
    pub headers: Headers,
    /// Attempts so far.
    pub attempts: i64,
    /// The member turned off the preference that governs it since it was queued: it is
    /// not to be sent.
    pub withdrawn: bool,
}

/// Queues an email.
pub fn queue(conn: &Conn, email: &NewEmail<'_>, now: Timestamp) -> DbResult<i64> {
    let h = &email.headers;
    conn.query_one(
        "INSERT INTO email_outbox (user_id, to_address, subject, text_body, html_body, created_at, next_attempt_at,
                                   message_id, in_reply_to, unsubscribe_url, bulk, plugin, preference, thread)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
        &[
            &email.user.0,
            &email.to,
            &email.subject,
            &email.text,
            &email.html,
            &now.0,
            &h.message_id,
            &h.in_reply_to,
            &h.unsubscribe_url,
            &h.bulk,
            &email.plugin,
            &email.preference,
            &email.thread,
        ],
        |r| r.get(0),
    )
}

/// The `Message-ID` of the first email of `plugin`'s `thread` to `user`, if any.
pub fn thread_root(conn: &Conn, user: UserId, plugin: &str, thread: &str) -> DbResult<Option<String>> {
    conn.query_opt(
        "SELECT message_id FROM email_outbox
         WHERE user_id = ?1 AND plugin = ?2 AND thread = ?3 AND message_id IS NOT NULL
         ORDER BY id LIMIT 1",
        &[&user.0, &plugin, &thread],
        |r| r.get(0),
    )
}

/// Emails due for an attempt, oldest first.
pub fn due(conn: &Conn, now: Timestamp, limit: u32) -> DbResult<Vec<Email>> {
    conn.query_all(
        "SELECT o.id, o.to_address, o.subject, o.text_body, o.html_body, o.attempts,
                o.message_id, o.in_reply_to, o.unsubscribe_url, o.bulk,
                EXISTS (SELECT 1 FROM preferences p WHERE p.user_id = o.user_id AND p.plugin = o.plugin
                        AND p.key = o.preference AND p.value = 0)
         FROM email_outbox o
         WHERE o.sent_at IS NULL AND o.withdrawn_at IS NULL AND o.next_attempt_at <= ?1
         ORDER BY o.next_attempt_at, o.id LIMIT ?2",
        &[&now.0, &limit],
        |r| {
            Ok(Email {
                id: r.get(0)?,
                to: r.get(1)?,
                subject: r.get(2)?,
                text: r.get(3)?,
                html: r.get(4)?,
                attempts: r.get(5)?,
                headers: Headers {
                    message_id: r.get(6)?,
                    in_reply_to: r.get(7)?,
                    unsubscribe_url: r.get(8)?,
                    bulk: r.get(9)?,
                },
                withdrawn: r.get(10)?,
            })
        },
    )
}

/// Takes email `id` to send now: its next attempt moves to `until`, so that no other
/// process sends it meanwhile (a process that dies while sending leaves it to be tried
/// again at `until`); false when it is no longer due (sent, withdrawn, or taken by another
/// process). One statement: two processes cannot both take it.
pub fn claim(conn: &Conn, id: i64, now: Timestamp, until: Timestamp) -> DbResult<bool> {
    let taken = conn.execute(
        "UPDATE email_outbox SET next_attempt_at = ?3
         WHERE id = ?1 AND sent_at IS NULL AND withdrawn_at IS NULL AND next_attempt_at <= ?2",
        &[&id, &now.0, &until.0],
    )?;
    Ok(taken == 1)
}

/// Records a successful delivery.
pub fn mark_sent(conn: &Conn, id: i64, now: Timestamp) -> DbResult<()> {
    conn.execute(
        "UPDATE email_outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
        &[&id, &now.0],
    )?;
    Ok(())
}

/// Records that the email will not be sent: its member turned its preference off.
pub fn mark_withdrawn(conn: &Conn, id: i64, now: Timestamp) -> DbResult<()> {
    conn.execute("UPDATE email_outbox SET withdrawn_at = ?2 WHERE id = ?1", &[&id, &now.0])?;
    Ok(())
}

/// Records a failed attempt; the next one is due at `retry_at`.
pub fn mark_failed(conn: &Conn, id: i64, error: &str, retry_at: Timestamp) -> DbResult<()> {
    conn.execute(
        "UPDATE email_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
        &[&id, &error, &retry_at.0],
    )?;
    Ok(())
}
