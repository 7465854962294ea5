//! `Message-ID`s: under the portal's public host name, 128 random bits each.

/// The host name of `public_url`, for `Message-ID`s (`portal.example` of
/// `https://portal.example:8443/x`); `localhost` if it has none.
pub fn message_id_domain(public_url: &str) -> String {
    let rest = public_url.split_once("://").map_or(public_url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.split(']').next()) {
        // An address literal, as RFC 5322 writes it.
        let ok = !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
        return if ok { format!("[{}]", v6.to_ascii_lowercase()) } else { "localhost".into() };
    }
    let host = host.split(':').next().unwrap_or_default();
    let ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    if ok { host.to_ascii_lowercase() } else { "localhost".into() }
}

/// A new, unique `Message-ID` under `domain`: `<128 random bits in hex@domain>`.
pub fn new_message_id(domain: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("<{hex}@{domain}>"))
}

#[cfg(test)]
mod tests {
    use super::{message_id_domain, new_message_id};

    #[test]
    fn message_ids_live_under_the_public_host_name() {
        assert_eq!(message_id_domain("https://portal.example"), "portal.example");
        assert_eq!(message_id_domain("https://Portal.Example:8443/base?x#y"), "portal.example");
        assert_eq!(message_id_domain("http://user@127.0.0.1:8080/"), "127.0.0.1");
        assert_eq!(message_id_domain("http://[::1]:8080"), "[::1]");
        assert_eq!(message_id_domain("http://bad host>/"), "localhost");
        assert_eq!(message_id_domain(""), "localhost");
        let (a, b) = (new_message_id("p.example").unwrap(), new_message_id("p.example").unwrap());
        assert!(a.starts_with('<') && a.ends_with("@p.example>") && a.len() == 32 + 12, "{a}");
        assert_ne!(a, b);
    }
}
