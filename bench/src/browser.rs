//! The benchmarks' use of the shared portal client (`portal-client`): a member signed in,
//! and requests whose failure is an error of the run rather than a panic.

use anyhow::anyhow;
pub use portal_client::{Client, Resp};

/// A client of the portal at `base`, signed in to `community` as `email` (demo password).
pub fn signed_in(base: &str, community: &str, email: &str) -> anyhow::Result<Client> {
    let mut client = Client::new(base);
    client
        .try_get(&format!("/c/{community}/sign-in"))
        .ok_or_else(|| anyhow!("the sign-in page did not load"))?;
    let r = client
        .try_post(&format!("/c/{community}/sign-in"), &[("email", email), ("password", "demo-password")])
        .ok_or_else(|| anyhow!("the sign-in of {email} got no answer"))?;
    anyhow::ensure!(r.status == 303, "sign-in of {email} failed with {}", r.status);
    Ok(client)
}

/// GET `path`; an error if the portal does not answer.
pub fn get(client: &mut Client, path: &str) -> anyhow::Result<Resp> {
    client.try_get(path).ok_or_else(|| anyhow!("GET {path} got no answer"))
}

/// POST a form to `path` (with the CSRF token); an error if the portal does not answer.
pub fn post(client: &mut Client, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Resp> {
    client.try_post(path, form).ok_or_else(|| anyhow!("POST {path} got no answer"))
}
