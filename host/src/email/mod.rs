//! Email delivery: the worker that takes due emails from the outbox and sends them over
//! SMTP (lettre) or writes them as `.eml` files (the embedded default). A failed attempt is
//! retried with exponential backoff (30 s, 1 min, 2 min, ... up to 1 h); an email leaves
//! the outbox only when it was delivered, so nothing is lost while SMTP is down. An email
//! whose member turned off the preference that governs it after it was queued is withdrawn
//! instead.
//!
//! Every email carries what mail providers look for: a `Message-ID` under the portal's
//! public host name, `Auto-Submitted: auto-generated`, `Precedence: bulk` for digests,
//! `In-Reply-To`/`References` to the first email of its thread, and, when a preference
//! governs it, RFC 8058 one-click unsubscribe (`List-Unsubscribe`,
//! `List-Unsubscribe-Post`). It is DKIM-signed when `[email.dkim]` is configured.

use crate::config::EmailConfig;
use crate::db::{self, DbResult, outbox::Email};
use crate::portal::Portal;

pub mod dkim;
pub mod message_id;

pub use dkim::Dkim;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{Message, SmtpTransport, Transport as _};
pub use message_id::{message_id_domain, new_message_id};
use plugin_api::Timestamp;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where emails go.
pub enum Transport {
    /// `.eml` files in a folder.
    Files(PathBuf),
    /// An SMTP server.
    Smtp(Box<SmtpTransport>),
}

impl Transport {
    /// The transport `config` asks for.
    pub fn from_config(config: &EmailConfig, outbox_dir: PathBuf) -> Result<Transport, String> {
        match &config.smtp {
            Some(url) => {
                let (host, port) = parse_smtp_url(url).ok_or_else(|| {
                    format!("email.smtp `{url}`: expected smtp://host:port (plain SMTP, e.g. a local relay)")
                })?;
                let smtp = SmtpTransport::builder_dangerous(host)
                    .port(port)
                    .timeout(Some(Duration::from_secs(10)))
                    .build();
                Ok(Transport::Smtp(Box::new(smtp)))
            }
            None => Ok(Transport::Files(outbox_dir)),
        }
    }

    fn send(&self, id: i64, message: &Message) -> Result<(), String> {
        match self {
            Transport::Files(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                let path = dir.join(format!("{id:08}.eml"));
                let tmp = dir.join(format!("{id:08}.eml.tmp"));
                std::fs::write(&tmp, message.formatted()).map_err(|e| e.to_string())?;
                std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
            }
            Transport::Smtp(smtp) => smtp.send(message).map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}

/// `smtp://host:port` (port 25 when left out).
fn parse_smtp_url(url: &str) -> Option<(&str, u16)> {
    let rest = url.strip_prefix("smtp://")?.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Some((host, port.parse().ok()?)),
        Some(_) => None,
        None if !rest.is_empty() => Some((rest, 25)),
        None => None,
    }
}

/// Emails one pass of the worker takes at most.
const BATCH: u32 = 100;

/// What one pass of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Emails delivered.
    pub sent: usize,
    /// Attempts that failed (retried later).
    pub failed: usize,
    /// Emails not sent because their member turned off the preference that governs them
    /// after they were queued.
    pub withdrawn: usize,
}

/// The wait before the next attempt after `attempts` failed ones.
pub fn backoff(attempts: i64) -> Duration {
    let secs = 30u64.saturating_mul(1 << attempts.clamp(0, 7));
    Duration::from_secs(secs.min(3600))
}

fn header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// The email as it goes out: its headers, both parts, and the DKIM signature.
fn message(from: &str, email: &Email, domain: &str, dkim: Option<&Dkim>) -> Result<Message, String> {
    let from: Mailbox = from.parse().map_err(|e| format!("email.from `{from}`: {e}"))?;
    let to: Mailbox = email.to.parse().map_err(|e| format!("recipient `{}`: {e}", email.to))?;
    let h = &email.headers;
    let message_id = match &h.message_id {
        Some(id) => id.clone(),
        None => new_message_id(domain).map_err(|e| e.to_string())?,
    };
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(message_id))
        // An automatic email: auto-responders (out of office) leave it alone (RFC 3834).
        .raw_header(header("Auto-Submitted", "auto-generated".into()))
        .raw_header(header("X-Auto-Response-Suppress", "All".into()));
    if let Some(root) = &h.in_reply_to {
        builder = builder.in_reply_to(root.clone()).references(root.clone());
    }
    if h.bulk {
        builder = builder.raw_header(header("Precedence", "bulk".into()));
    }
    if let Some(url) = &h.unsubscribe_url {
        builder = builder.raw_header(header("List-Unsubscribe", format!("<{url}>")));
        // RFC 8058 one-click needs an HTTPS link; over http the link is still offered.
        if url.starts_with("https://") {
            builder =
                builder.raw_header(header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()));
        }
    }
    let mut message = builder
        .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
        .map_err(|e| e.to_string())?;
    if let Some(dkim) = dkim {
        message.sign(&dkim.0);
    }
    Ok(message)
}

/// How long an email taken for sending is left to the process that took it before
/// another tries it (longer than the SMTP client's own time-outs).
const SENDING_LEASE_MS: i64 = 5 * 60 * 1000;

/// Sends every email that is due now, each taken first so that one process sends it;
/// returns what happened.
pub fn deliver_due(portal: &Portal, transport: &Transport) -> DbResult<Delivery> {
    let conn = portal.db.get()?;
    let now = portal.clock.now();
    let domain = message_id_domain(&portal.config.public_url);
    let mut report = Delivery::default();
    for email in db::outbox::due(&conn, now, BATCH)? {
        if email.withdrawn {
            let txn = portal.db.write()?;
            db::outbox::mark_withdrawn(&txn, email.id, now)?;
            txn.commit()?;
            report.withdrawn += 1;
            continue;
        }
        // Another portal process on the same database may be sending it.
        let txn = portal.db.write()?;
        let until = Timestamp(now.0.saturating_add(SENDING_LEASE_MS));
        let taken = db::outbox::claim(&txn, email.id, now, until)?;
        txn.commit()?;
        if !taken {
            continue;
        }
        let result = message(&portal.config.email.from, &email, &domain, portal.dkim.as_deref())
            .and_then(|m| transport.send(email.id, &m));
        let txn = portal.db.write()?;
        match result {
            Ok(()) => {
                db::outbox::mark_sent(&txn, email.id, now)?;
                report.sent += 1;
            }
            Err(err) => {
                let wait = backoff(email.attempts);
                let retry = Timestamp(now.0 + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
                tracing::warn!(email = email.id, attempt = email.attempts + 1, error = %err, retry_in_s = wait.as_secs(), "email not delivered; will retry");
                db::outbox::mark_failed(&txn, email.id, &err, retry)?;
                report.failed += 1;
            }
        }
        txn.commit()?;
    }
    Ok(report)
}

/// Starts the delivery worker thread: every `email.poll_ms`, deliver what is due.
pub fn spawn_worker(portal: Arc<Portal>) -> Result<std::thread::JoinHandle<()>, String> {
    let transport = Transport::from_config(&portal.config.email, portal.config.outbox_dir())?;
    if !portal.config.public_url.starts_with("https://") {
        tracing::warn!(
            public_url = %portal.config.public_url,
            "public_url is not https: mail providers offer no one-click unsubscribe for its links"
        );
    }
    let poll = Duration::from_millis(portal.config.email.poll_ms.max(50));
    std::thread::Builder::new()
        .name("email-delivery".into())
        .spawn(move || {
            loop {
                let full = match deliver_due(&portal, &transport) {
                    Ok(report) => {
                        if report.sent > 0 {
                            tracing::info!(sent = report.sent, failed = report.failed, "emails delivered");
                        }
                        report.sent + report.failed + report.withdrawn == BATCH as usize
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "email delivery pass failed");
                        false
                    }
                };
                // A full batch means more may be due: go on at once, else wait.
                if !full {
                    std::thread::sleep(poll);
                }
            }
        })
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::{backoff, parse_smtp_url};

    #[test]
    fn smtp_urls() {
        assert_eq!(parse_smtp_url("smtp://127.0.0.1:2525"), Some(("127.0.0.1", 2525)));
        assert_eq!(parse_smtp_url("smtp://mail.example"), Some(("mail.example", 25)));
        assert_eq!(parse_smtp_url("smtps://x:1"), None);
        assert_eq!(parse_smtp_url("smtp://:25"), None);
    }
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(30));
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(3), Duration::from_secs(240));
        assert_eq!(backoff(10), Duration::from_secs(3600));
    }
}
