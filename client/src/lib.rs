//! A small browser-like HTTP client of the portal, for the tests and the benchmarks (one
//! client, not two): it keeps cookies, fills in the CSRF token of forms, never follows
//! redirects, and reads server-sent event streams. Its panicking methods (`get`, `post`)
//! are for tests; `try_get` and `try_post` answer `None` when the portal does not.

use std::collections::BTreeMap;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().max_redirects(0).http_status_as_error(false).build().into()
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// The `Location` header.
    pub location: Option<String>,
    /// Every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Resp {
    /// Where a redirect goes, without its query (a new conversation's page, say).
    pub fn redirect_path(&self) -> String {
        assert_eq!(self.status, 303, "expected a redirect: {}", self.body);
        self.location.clone().expect("location").split('?').next().expect("path").to_owned()
    }
}

impl Resp {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A browser-like client.
pub struct Client {
    base: String,
    /// Cookies by name.
    pub cookies: BTreeMap<String, String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the portal at `base` (`http://127.0.0.1:PORT`), with no cookies.
    pub fn new(base: &str) -> Client {
        Client { base: base.to_owned(), cookies: BTreeMap::new(), agent: agent() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn finish(&mut self, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        self.try_finish(response).expect("the request reaches the portal")
    }

    fn try_finish(
        &mut self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Resp, ureq::Error> {
        let mut response = response?;
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        // A stream of server-sent events never ends: only its head is read.
        let streaming = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let body = if streaming { String::new() } else { response.body_mut().read_to_string()? };
        Ok(Resp { status, body, location, set_cookies, headers })
    }

    /// GET `path`. Sent once more on a new connection when the kept-alive one turns out
    /// closed, as browsers do for a GET.
    pub fn get(&mut self, path: &str) -> Resp {
        let send = |client: &Client| {
            client
                .agent
                .get(&format!("{}{path}", client.base))
                .header("Cookie", &client.cookie_header())
                .call()
        };
        let response = match send(self) {
            Err(ureq::Error::Io(_)) => send(self),
            other => other,
        };
        self.finish(response)
    }

    /// POST a form to `path`, adding this client's CSRF token.
    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        if !self.cookies.contains_key("portal_csrf") {
            self.get("/c/riverside/sign-in");
        }
        let csrf = self.cookies.get("portal_csrf").cloned().unwrap_or_default();
        let mut fields: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post_raw(path, &fields)
    }

    /// GET `path`; `None` when the portal does not answer.
    pub fn try_get(&mut self, path: &str) -> Option<Resp> {
        let response =
            self.agent.get(&format!("{}{path}", self.base)).header("Cookie", &self.cookie_header()).call();
        self.try_finish(response).ok()
    }

    /// POST a form with this client's CSRF token; `None` when the portal does not answer.
    pub fn try_post(&mut self, path: &str, form: &[(&str, &str)]) -> Option<Resp> {
        let csrf = self.csrf();
        let mut fields: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        let response = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie_header())
            .send_form(fields.iter().copied());
        self.try_finish(response).ok()
    }

    /// POST exactly these fields (no CSRF token added).
    pub fn post_raw(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        let response = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie_header())
            .send_form(form.iter().copied());
        self.finish(response)
    }

    /// POST a raw body with this content type (for malformed forms).
    pub fn post_bytes(&mut self, path: &str, content_type: &str, body: &[u8]) -> Resp {
        let response = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie_header())
            .header("Content-Type", content_type)
            .send(body);
        self.finish(response)
    }

    /// Opens the server-sent events stream at `path`; its events are read on a thread.
    pub fn events(&self, path: &str) -> Events {
        let response = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie_header())
            .header("Accept", "text/event-stream")
            .call()
            .expect("the stream opens");
        assert_eq!(response.status(), 200, "{path}");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let reader = std::io::BufReader::new(response.into_body().into_reader());
            let (mut name, mut data) = (String::new(), String::new());
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                } else if line.is_empty()
                    && !name.is_empty()
                    && tx.send((std::mem::take(&mut name), std::mem::take(&mut data))).is_err()
                {
                    return;
                }
            }
        });
        Events { rx }
    }

    /// This client's CSRF token (after it has loaded a page).
    pub fn csrf(&self) -> String {
        self.cookies.get("portal_csrf").cloned().unwrap_or_default()
    }

    /// Signs in through the sign-in form.
    pub fn sign_in(&mut self, community: &str, email: &str, password: &str) -> Resp {
        self.get(&format!("/c/{community}/sign-in"));
        self.post(&format!("/c/{community}/sign-in"), &[("email", email), ("password", password)])
    }
}

/// A stream of server-sent events, read on its own thread.
pub struct Events {
    rx: std::sync::mpsc::Receiver<(String, String)>,
}

impl Events {
    /// The next event (name, data), or `None` if none comes within `wait`.
    pub fn next(&self, wait: std::time::Duration) -> Option<(String, String)> {
        self.rx.recv_timeout(wait).ok()
    }
}
