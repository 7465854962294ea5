//! A small browser-like HTTP client for the benchmarks: keeps cookies, adds the CSRF token
//! to forms, never follows redirects.

use std::collections::BTreeMap;

/// A client of one portal.
pub struct Client {
    base: String,
    cookies: BTreeMap<String, String>,
    agent: ureq::Agent,
}

/// Status and `Location` of a response (bodies are read and dropped).
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The redirect target.
    pub location: Option<String>,
    /// The body.
    pub body: String,
}

impl Client {
    /// A client of the portal at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Client {
        let agent = ureq::Agent::config_builder().max_redirects(0).http_status_as_error(false).build().into();
        Client { base: base.to_owned(), cookies: BTreeMap::new(), agent }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn finish(
        &mut self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Answer> {
        let mut response = response?;
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap_or_default().split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string()?;
        Ok(Answer { status, location, body })
    }

    /// GET `path`.
    pub fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        let r =
            self.agent.get(&format!("{}{path}", self.base)).header("Cookie", &self.cookie_header()).call();
        self.finish(r)
    }

    /// POST a form with the CSRF token.
    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Answer> {
        let csrf = self.cookies.get("portal_csrf").cloned().unwrap_or_default();
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        let r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie_header())
            .send_form(fields.iter().copied());
        self.finish(r)
    }

    /// Signs in to `community` as `email` (password `demo-password`).
    pub fn sign_in(base: &str, community: &str, email: &str) -> anyhow::Result<Client> {
        let mut client = Client::new(base);
        client.get(&format!("/c/{community}/sign-in"))?;
        let r = client
            .post(&format!("/c/{community}/sign-in"), &[("email", email), ("password", "demo-password")])?;
        anyhow::ensure!(r.status == 303, "sign-in of {email} failed with {}", r.status);
        Ok(client)
    }
}
