//! [`Traced`]: host services that record every host call a plugin makes (the call with its
//! arguments, the host's reply and the time it took) and pass it on to the real services.
//! `portal plugin run` wraps the portal's database services in it; the serving portal never
//! does, and pays nothing for it ([`HostServices::TRACES`] is a constant).

use super::host_calls::HostServices;
use plugin_api::{
    DirectoryEntry, EmailOptions, GroupId, GroupInfo, HostCall, HostError, HostReply, LogLevel, MemberInfo,
    SqlValue, TemplateData, Timestamp, UserId,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// One host call as the plugin made it and as the host answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct TracedCall {
    /// The call, with its arguments.
    pub call: HostCall,
    /// The host's reply (an error reply for a refusal).
    pub reply: HostReply,
    /// Time spent in the host answering it.
    pub elapsed: Duration,
}

/// Services that record every host call, around the real `inner` services.
#[derive(Debug)]
pub struct Traced<S> {
    /// The services that answer.
    pub inner: S,
    /// The host calls so far, in order.
    pub calls: Vec<TracedCall>,
}

impl<S> Traced<S> {
    /// Traces calls answered by `inner`.
    pub fn new(inner: S) -> Self {
        Traced { inner, calls: Vec::new() }
    }

    /// Time spent in host calls so far.
    pub fn host_time(&self) -> Duration {
        self.calls.iter().map(|c| c.elapsed).sum()
    }
}

impl<S: HostServices> HostServices for Traced<S> {
    const TRACES: bool = true;

    fn traced(&mut self, call: &HostCall, reply: &HostReply, elapsed: Duration) {
        self.calls.push(TracedCall { call: call.clone(), reply: reply.clone(), elapsed });
    }
    fn refused(&mut self, message: &str) {
        self.inner.refused(message)
    }
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<HostReply, HostError> {
        self.inner.query(sql, params)
    }
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<HostReply, HostError> {
        self.inner.execute(sql, params)
    }
    fn members(&mut self, ids: &[UserId]) -> Result<Vec<MemberInfo>, HostError> {
        self.inner.members(ids)
    }
    fn members_with_ability(&mut self, ability: &str, users: &[UserId]) -> Result<Vec<UserId>, HostError> {
        self.inner.members_with_ability(ability, users)
    }
    fn groups(&mut self, ids: &[GroupId]) -> Result<Vec<GroupInfo>, HostError> {
        self.inner.groups(ids)
    }
    fn groups_administered_by(&mut self, user: UserId) -> Result<Vec<GroupInfo>, HostError> {
        self.inner.groups_administered_by(user)
    }
    fn search_directory(&mut self, query: &str, limit: u32) -> Result<Vec<DirectoryEntry>, HostError> {
        self.inner.search_directory(query, limit)
    }
    fn notify(&mut self, to: UserId, text: &str, link: &str) -> Result<(), HostError> {
        self.inner.notify(to, text, link)
    }
    fn publish(&mut self, to: &[UserId], topics: &[String]) -> Result<(), HostError> {
        self.inner.publish(to, topics)
    }
    fn send_email(
        &mut self,
        to: UserId,
        subject: &str,
        template: &str,
        data: &TemplateData,
        options: &EmailOptions,
    ) -> Result<(), HostError> {
        self.inner.send_email(to, subject, template, data, options)
    }
    fn preferences(
        &mut self,
        users: &[UserId],
        keys: &[String],
    ) -> Result<BTreeMap<UserId, BTreeMap<String, bool>>, HostError> {
        self.inner.preferences(users, keys)
    }
    fn emit(&mut self, event: &str, payload: &serde_json::Value) -> Result<(), HostError> {
        self.inner.emit(event, payload)
    }
    fn check(
        &mut self,
        point: &str,
        subject: &serde_json::Value,
    ) -> Result<plugin_api::CheckOutcome, HostError> {
        self.inner.check(point, subject)
    }
    fn resolve(
        &mut self,
        check: plugin_api::CheckId,
        decision: &plugin_api::Decision,
    ) -> Result<(), HostError> {
        self.inner.resolve(check, decision)
    }
    fn now(&mut self) -> Timestamp {
        self.inner.now()
    }
    fn set_deadline(&mut self, deadline: std::time::Instant) {
        self.inner.set_deadline(deadline)
    }
    fn log(&mut self, plugin: &str, level: LogLevel, message: &str) {
        self.inner.log(plugin, level, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Services whose every call fails with "inner".
    struct Inner;

    fn inner<T>() -> Result<T, HostError> {
        Err(HostError { kind: plugin_api::HostErrorKind::Failed, message: "inner".into() })
    }

    impl HostServices for Inner {
        fn query(&mut self, _: &str, _: &[SqlValue]) -> Result<HostReply, HostError> {
            inner()
        }
        fn execute(&mut self, _: &str, _: &[SqlValue]) -> Result<HostReply, HostError> {
            inner()
        }
        fn members(&mut self, _: &[UserId]) -> Result<Vec<MemberInfo>, HostError> {
            inner()
        }
        fn members_with_ability(&mut self, _: &str, _: &[UserId]) -> Result<Vec<UserId>, HostError> {
            inner()
        }
        fn groups(&mut self, _: &[GroupId]) -> Result<Vec<GroupInfo>, HostError> {
            inner()
        }
        fn groups_administered_by(&mut self, _: UserId) -> Result<Vec<GroupInfo>, HostError> {
            inner()
        }
        fn search_directory(&mut self, _: &str, _: u32) -> Result<Vec<DirectoryEntry>, HostError> {
            inner()
        }
        fn notify(&mut self, _: UserId, _: &str, _: &str) -> Result<(), HostError> {
            inner()
        }
        fn publish(&mut self, _: &[UserId], _: &[String]) -> Result<(), HostError> {
            inner()
        }
        fn send_email(
            &mut self,
            _: UserId,
            _: &str,
            _: &str,
            _: &plugin_api::TemplateData,
            _: &plugin_api::EmailOptions,
        ) -> Result<(), HostError> {
            inner()
        }
        fn preferences(
            &mut self,
            _: &[UserId],
            _: &[String],
        ) -> Result<BTreeMap<UserId, BTreeMap<String, bool>>, HostError> {
            inner()
        }
        fn emit(&mut self, _: &str, _: &serde_json::Value) -> Result<(), HostError> {
            inner()
        }
        fn check(&mut self, _: &str, _: &serde_json::Value) -> Result<plugin_api::CheckOutcome, HostError> {
            inner()
        }
        fn resolve(&mut self, _: plugin_api::CheckId, _: &plugin_api::Decision) -> Result<(), HostError> {
            inner()
        }
    }

    /// Every host call reaches the inner services: a method of the trait that the tracer
    /// forgot would answer with the trait's default ("unavailable"), not "inner".
    #[test]
    fn the_tracer_passes_calls_on() {
        let mut t = Traced::new(Inner);
        let null = serde_json::Value::Null;
        let data = plugin_api::TemplateData::default();
        let results: Vec<Result<(), HostError>> = vec![
            t.query("", &[]).map(drop),
            t.execute("", &[]).map(drop),
            t.members(&[]).map(drop),
            t.members_with_ability("", &[]).map(drop),
            t.groups(&[]).map(drop),
            t.groups_administered_by(UserId(1)).map(drop),
            t.search_directory("", 1).map(drop),
            t.notify(UserId(1), "", "").map(drop),
            t.publish(&[], &[]).map(drop),
            t.send_email(UserId(1), "", "", &data, &plugin_api::EmailOptions::default()).map(drop),
            t.preferences(&[], &[]).map(drop),
            t.emit("", &null),
            t.check("", &null).map(drop),
            t.resolve(plugin_api::CheckId(1), &plugin_api::Decision::Release),
        ];
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(
                result.expect_err("inner fails").message,
                "inner",
                "host call {i} did not reach the services"
            );
        }
        t.traced(&HostCall::Now, &HostReply::Done, Duration::from_millis(2));
        assert_eq!(t.host_time(), Duration::from_millis(2));
    }
}
