//! One-click unsubscribe (RFC 8058): the token in an email's `List-Unsubscribe` link and
//! footer, and the key that signs it.
//!
//! A token names one member, their community, a plugin and the preference that governs
//! the email (the kind of email: invitations, digest), and carries an HMAC-SHA256 of
//! those under a 256-bit key that the portal creates in its data directory on first start
//! (`unsubscribe.key`). Whoever holds the link can turn that one preference off for that
//! one member, without a session or a CSRF token (a mail provider's POST has neither);
//! a token that was altered, or signed under another key, is refused.

use hmac::{Hmac, Mac};
use plugin_api::{CommunityId, UserId};
use sha2::Sha256;
use std::path::{Path, PathBuf};

/// What an unsubscribe token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The community.
    pub community: CommunityId,
    /// The member.
    pub user: UserId,
    /// The plugin that declares the preference.
    pub plugin: String,
    /// The preference that governs the email (a manifest key, e.g. `email_digest`).
    pub preference: String,
}

/// The key that signs unsubscribe tokens.
#[derive(Clone)]
pub struct UnsubscribeKey([u8; KEY_BYTES]);

impl std::fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsubscribeKey(..)")
    }
}

const KEY_BYTES: usize = 32;
/// The name of the key file in the data directory.
pub const KEY_FILE: &str = "unsubscribe.key";
/// Bound into every MAC, so the key signs nothing else by accident.
const DOMAIN: &[u8] = b"portal one-click unsubscribe v1\0";

/// Why the key could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("unsubscribe key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file holds something else than a key.
    #[error(
        "unsubscribe key {path}: expected 64 hexadecimal digits; delete the file to make a new key (links in emails already sent stop working)"
    )]
    Corrupt {
        /// The key file.
        path: PathBuf,
    },
    /// The system has no randomness to make a key.
    #[error("unsubscribe key: no randomness: {0}")]
    Random(getrandom::Error),
}

impl UnsubscribeKey {
    /// The key in `dir/unsubscribe.key`, made (256 random bits, readable by the owner
    /// only) when there is none. Two processes starting at once agree on one key: the file
    /// appears whole or not at all, and the second reads the first's.
    pub fn load_or_create(dir: &Path) -> Result<UnsubscribeKey, KeyError> {
        let path = dir.join(KEY_FILE);
        let io = |source| KeyError::Io { path: path.clone(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => return parse_key(&text).ok_or(KeyError::Corrupt { path }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key).map_err(KeyError::Random)?;
        let tmp = dir.join(format!("{KEY_FILE}.{}.tmp", std::process::id()));
        write_private(&tmp, &format!("{}\n", hex(&key))).map_err(io)?;
        // A hard link never replaces an existing file: the first process's key wins.
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(UnsubscribeKey(key)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).map_err(io)?;
                parse_key(&text).ok_or(KeyError::Corrupt { path })
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The token for `what`: `{community}.{user}.{plugin}.{preference}.{mac}` (the MAC in
    /// hex). Plugin ids and preference keys are identifiers (`a-z 0-9 _`), so the token
    /// needs no escaping in a URL.
    pub fn token(&self, what: &Unsubscribe) -> String {
        let payload = format!("{}.{}.{}.{}", what.community.0, what.user.0, what.plugin, what.preference);
        let mac = self.mac(&payload).finalize().into_bytes();
        format!("{payload}.{}", hex(&mac))
    }

    /// What `token` names, if this key signed it and nobody changed it.
    pub fn verify(&self, token: &str) -> Option<Unsubscribe> {
        let (payload, mac) = token.rsplit_once('.')?;
        let mac = unhex(mac)?;
        self.mac(payload).verify_slice(&mac).ok()?;
        let mut parts = payload.split('.');
        let community = parts.next()?.parse().ok()?;
        let user = parts.next()?.parse().ok()?;
        let plugin = parts.next()?.to_owned();
        let preference = parts.next()?.to_owned();
        if parts.next().is_some() {
            return None;
        }
        Some(Unsubscribe { community: CommunityId(community), user: UserId(user), plugin, preference })
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length; 32 bytes is never refused.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(DOMAIN);
        mac.update(payload.as_bytes());
        mac
    }

    /// A key for tests.
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> UnsubscribeKey {
        UnsubscribeKey(bytes)
    }
}

/// The address of the unsubscribe page for `token` in the community `slug`: the link in
/// `List-Unsubscribe` and in the footer. GET shows a confirmation with one button; POST
/// (what mail providers send, RFC 8058) unsubscribes.
pub fn link(public_url: &str, slug: &str, token: &str) -> String {
    format!("{}/c/{slug}/settings/unsubscribe/{token}", public_url.trim_end_matches('/'))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

fn parse_key(text: &str) -> Option<UnsubscribeKey> {
    unhex(text.trim())?.try_into().ok().map(UnsubscribeKey)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2)
        || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alan() -> Unsubscribe {
        Unsubscribe {
            community: CommunityId(1),
            user: UserId(7),
            plugin: "conversations".into(),
            preference: "email_digest".into(),
        }
    }

    #[test]
    fn a_token_names_what_it_was_made_for_and_nothing_else_passes() {
        let key = UnsubscribeKey::from_bytes([7; 32]);
        let token = key.token(&alan());
        assert!(token.starts_with("1.7.conversations.email_digest."), "{token}");
        assert_eq!(key.verify(&token), Some(alan()));
        // Any change to what it names, or to the MAC, and it is refused.
        for forged in [
            token.replacen("1.7.", "1.8.", 1),
            token.replacen("1.7.", "2.7.", 1),
            token.replacen("email_digest", "email_invitations", 1),
            token.replacen("conversations", "notes", 1),
            format!("{}0", &token[..token.len() - 1]),
            token[..token.len() - 2].to_owned(),
            token.to_uppercase(),
            format!("{token}.x"),
            String::new(),
            "1.7.conversations.email_digest".into(),
        ] {
            assert_eq!(key.verify(&forged), None, "{forged}");
        }
        // Another portal's key signs other tokens.
        assert_eq!(UnsubscribeKey::from_bytes([8; 32]).verify(&token), None);
    }

    #[test]
    fn the_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = UnsubscribeKey::load_or_create(dir.path()).unwrap();
        let again = UnsubscribeKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.0, again.0);
        assert_ne!(first.0, [0; 32]);
        let text = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(text.trim().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        std::fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
        let err = UnsubscribeKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("expected 64 hexadecimal digits"), "{err}");
    }
}
