//! DKIM signing of outgoing email, when the operator configures `[email.dkim]`: the key is
//! read when the portal starts (a bad key stops it, naming the file), and the headers a
//! signature covers are chosen here.

use crate::config::{DkimAlgorithm, DkimConfig};
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimSigningAlgorithm, DkimSigningKey,
};
use lettre::message::header::HeaderName;

/// DKIM signing, loaded from `[email.dkim]` when the portal starts.
pub struct Dkim(pub(super) lettre::message::dkim::DkimConfig);

/// The headers a DKIM signature covers. RFC 8058 asks that it cover both
/// `List-Unsubscribe` headers; a header an email lacks is signed as absent, so nobody can
/// add it on the way. Not `Content-Type`: lettre writes a multipart's with the body, after
/// signing, so it would be signed as absent and every signature would fail.
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
    "Precedence",
    "MIME-Version",
];

impl Dkim {
    /// Reads the key that `config` names; the error names the file and what is wrong.
    pub fn load(config: &DkimConfig) -> Result<Dkim, String> {
        let path = &config.private_key;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("email.dkim.private_key {}: {e}", path.display()))?;
        let algorithm = match config.algorithm {
            DkimAlgorithm::Rsa => DkimSigningAlgorithm::Rsa,
            DkimAlgorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
        };
        let key = DkimSigningKey::new(text.trim(), algorithm).map_err(|e| {
            format!(
                "email.dkim.private_key {}: not a {} key ({e}); expected {}",
                path.display(),
                match config.algorithm {
                    DkimAlgorithm::Rsa => "RSA",
                    DkimAlgorithm::Ed25519 => "Ed25519",
                },
                match config.algorithm {
                    DkimAlgorithm::Rsa => "a PKCS#1 PEM (-----BEGIN RSA PRIVATE KEY-----)",
                    DkimAlgorithm::Ed25519 => "the 32-byte secret key in base64",
                }
            )
        })?;
        if config.domain.is_empty() || config.selector.is_empty() {
            return Err("email.dkim: `domain` and `selector` must not be empty".into());
        }
        let headers = SIGNED_HEADERS.iter().map(|h| HeaderName::new_from_ascii_str(h)).collect();
        let relaxed = DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        };
        Ok(Dkim(lettre::message::dkim::DkimConfig::new(
            config.selector.clone(),
            config.domain.clone(),
            key,
            headers,
            relaxed,
        )))
    }
}
