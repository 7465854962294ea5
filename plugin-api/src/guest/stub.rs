//! The native stand-in for the host, so plugin code compiles and unit-tests on the host
//! target. A test installs a handler with [`set_host`]; without one, every host call
//! answers `HostErrorKind::Unavailable`. On wasm32 the
//! real host answers and the handler is never used.

use crate::error::{HostError, HostErrorKind};
use crate::host_call::{HostCall, HostReply};
use std::cell::RefCell;

type Handler = Box<dyn FnMut(HostCall) -> HostReply>;

thread_local! {
    static HANDLER: RefCell<Option<Handler>> = RefCell::new(None);
}

/// Answers this thread's host calls with `handler` until [`clear_host`].
pub fn set_host(handler: impl FnMut(HostCall) -> HostReply + 'static) {
    HANDLER.with(|h| *h.borrow_mut() = Some(Box::new(handler)));
}

/// Removes this thread's handler.
pub fn clear_host() {
    HANDLER.with(|h| *h.borrow_mut() = None);
}

/// Answers one decoded call with the installed handler.
pub(crate) fn answer(call: HostCall) -> HostReply {
    HANDLER.with(|h| match h.borrow_mut().as_mut() {
        Some(handler) => handler(call),
        None => HostReply::Error(HostError {
            kind: HostErrorKind::Unavailable,
            message: format!(
                "no host on this target: install one with plugin_api::guest::stub::set_host to answer `{}`",
                call.name()
            ),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::host;
    use crate::{HostErrorKind, LogLevel, Timestamp};

    #[test]
    fn without_a_handler_host_calls_are_unavailable() {
        clear_host();
        let err = host::now().expect_err("no host");
        assert_eq!(err.kind, HostErrorKind::Unavailable);
        assert!(err.message.contains("set_host"), "{}", err.message);
    }

    #[test]
    fn a_handler_answers_host_calls_through_the_codec() {
        let seen = std::rc::Rc::new(RefCell::new(Vec::new()));
        let record = seen.clone();
        set_host(move |call| {
            record.borrow_mut().push(call.name());
            match call {
                HostCall::Now => HostReply::Now { now: Timestamp(42) },
                _ => HostReply::Done,
            }
        });
        assert_eq!(host::now().expect("now"), Timestamp(42));
        host::log(LogLevel::Info, "hello");
        assert_eq!(*seen.borrow(), vec!["now", "log"]);
        clear_host();
    }
}
