//! The guest SDK (feature `guest`): what a plugin author writes against. Implement
//! [`Plugin`], call [`register_plugin!`](crate::register_plugin), and use [`host`] for
//! everything the plugin needs from the portal. The raw ABI is hidden in `raw` (wasm32
//! only); on other targets a stub ([`stub`]) answers host calls so plugin code compiles and
//! unit-tests natively.

pub mod host;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod raw;
#[cfg(not(target_arch = "wasm32"))]
pub mod stub;

/// The allocator of every plugin on wasm32. std's own copy of dlmalloc always grows memory
/// for its first chunk; this version first hands out the free part of the initial memory
/// (`__heap_base..__heap_end`). With the initial memory the build gives plugins (1 MiB, see
/// `.cargo/config.toml`), a typical call never grows memory, and a fresh instance costs the
/// host no `mprotect` calls. A plugin cannot pick another global allocator.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

use crate::codec;
use crate::context::Context;
use crate::error::PluginError;
use crate::extension::{CheckRequest, Delivery, Verdict};
use crate::request::{
    Description, HostEvent, PageRequest, PageResponse, PluginRequest, PluginResponse, SlotFills, SlotPage,
};

/// A plugin: one type whose associated functions answer the host's requests. A fresh
/// instance of the module serves each request, so keep no state between calls; keep it in
/// the plugin's tables.
pub trait Plugin {
    /// Answer to `Describe`: id, version, migrations and templates.
    fn describe() -> Description;

    /// Fill in badges and disabled reasons for the slot `items` of one page render.
    /// Items not mentioned in the answer are shown as declared in the manifest.
    fn slots(ctx: &Context, page: &SlotPage, items: &[String]) -> Result<SlotFills, PluginError> {
        let _ = (ctx, page, items);
        Ok(Vec::new())
    }

    /// Answer a request to one of the manifest's routes.
    fn page(ctx: &Context, request: &PageRequest) -> Result<PageResponse, PluginError>;

    /// Run a scheduled job for one community; returns a one-line summary and whether there
    /// is more to do (the host then calls again at once, in a new transaction).
    fn job(ctx: &Context, job: &str) -> Result<(String, bool), PluginError> {
        let _ = ctx;
        Err(PluginError::internal(format!("no job named {job}")))
    }

    /// React to a host event.
    fn event(ctx: &Context, event: &HostEvent) -> Result<(), PluginError> {
        let _ = (ctx, event);
        Ok(())
    }

    /// Answer a check point this plugin implements (`[[implements]]` in the manifest):
    /// allow, refuse or hold. Runs inside the asking call's transaction, under the check
    /// point's small CPU budget. Not implementing it while declaring `[[implements]]` is a
    /// failure, to which the check point's `on_failure` policy applies.
    fn check(ctx: &Context, check: &CheckRequest) -> Result<Verdict, PluginError> {
        let _ = ctx;
        Err(PluginError::internal(format!("no check for `{}`", check.point)))
    }

    /// Receive an event this plugin subscribes to, or the resolution of a check of one of
    /// its check points ([`crate::extension::CHECK_RESOLVED`]). `Ok` commits what the
    /// plugin wrote together with the host's note that it got the event; `Err` (or a
    /// failure) delivers it again later, and the events behind it in the community wait.
    ///
    /// Not implemented, it acknowledges `portal.check_resolved` (a plugin that held a check
    /// receives its resolution whether it cares or not) and fails every other event, so a
    /// subscription without a handler shows in `portal plugin status`.
    fn deliver(ctx: &Context, delivery: &Delivery) -> Result<(), PluginError> {
        let _ = ctx;
        if delivery.event == crate::extension::CHECK_RESOLVED {
            return Ok(());
        }
        Err(PluginError::internal(format!("no handler for event `{}`", delivery.event)))
    }
}

/// Decodes one request, lets `P` answer it and encodes the answer. This is what the
/// `portal_handle` export runs; it is public so tests and benchmarks can call a plugin
/// natively, through the same codec, without wasm.
pub fn dispatch<P: Plugin>(input: &[u8]) -> Vec<u8> {
    // Panics reach the host's log before the trap (installed once, on wasm32).
    #[cfg(target_arch = "wasm32")]
    host::install_panic_hook();
    let response = match codec::decode::<PluginRequest>(input) {
        Ok(request) => answer::<P>(request),
        Err(err) => PluginResponse::Error(PluginError::internal(format!(
            "the plugin could not decode the request: {err}"
        ))),
    };
    match codec::encode(&response) {
        Ok(bytes) => bytes,
        Err(err) => {
            let fallback = PluginResponse::Error(PluginError::internal(format!(
                "the plugin could not encode its response: {err}"
            )));
            codec::encode(&fallback).unwrap_or_default()
        }
    }
}

/// Lets `P` answer one decoded request.
pub fn answer<P: Plugin>(request: PluginRequest) -> PluginResponse {
    let result = match request {
        PluginRequest::Describe => Ok(PluginResponse::Described(P::describe())),
        PluginRequest::Slots { ctx, page, items } => P::slots(&ctx, &page, &items).map(PluginResponse::Slots),
        PluginRequest::Page { ctx, page } => P::page(&ctx, &page).map(PluginResponse::Page),
        PluginRequest::Job { ctx, job } => {
            P::job(&ctx, &job).map(|(summary, more)| PluginResponse::JobDone { summary, more })
        }
        PluginRequest::Event { ctx, event } => P::event(&ctx, &event).map(|()| PluginResponse::Ack),
        PluginRequest::Check { ctx, check } => P::check(&ctx, &check).map(PluginResponse::Verdict),
        PluginRequest::Deliver { ctx, delivery } => P::deliver(&ctx, &delivery).map(|()| PluginResponse::Ack),
    };
    result.unwrap_or_else(PluginResponse::Error)
}

/// Exports a [`Plugin`] through the ABI: on wasm32 it defines `portal_abi_version`,
/// `portal_alloc`, `portal_free` and `portal_handle`; on every target it defines
/// `portal_dispatch(&[u8]) -> Vec<u8>`, the same entry point called natively.
///
/// ```
/// use plugin_api::guest::Plugin;
/// use plugin_api::{Description, PageRequest, PageResponse, PluginError, Context, TemplateData};
///
/// struct Hello;
///
/// impl Plugin for Hello {
///     fn describe() -> Description {
///         Description {
///             id: "hello".into(),
///             version: "0.1.0".into(),
///             migrations: vec![],
///             templates: vec![],
///         }
///     }
///     fn page(_ctx: &Context, _req: &PageRequest) -> Result<PageResponse, PluginError> {
///         Err(PluginError::not_found())
///     }
/// }
///
/// plugin_api::register_plugin!(Hello);
///
/// let answer = portal_dispatch(br#""describe""#);
/// assert!(String::from_utf8(answer).unwrap().contains("\"hello\""));
/// ```
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        /// The plugin's ABI version (export `portal_abi_version`).
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn portal_abi_version() -> u32 {
            $crate::ABI_VERSION
        }

        /// Allocates `len` bytes for the host to write into (export `portal_alloc`).
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn portal_alloc(len: u32) -> u32 {
            $crate::guest::raw::alloc(len)
        }

        /// Frees a buffer from `portal_alloc` or `portal_handle` (export `portal_free`).
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn portal_free(ptr: u32, len: u32) {
            $crate::guest::raw::free(ptr, len)
        }

        /// Answers one request (export `portal_handle`).
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn portal_handle(ptr: u32, len: u32) -> u64 {
            $crate::guest::raw::handle(ptr, len, $crate::guest::dispatch::<$plugin>)
        }

        /// Answers one encoded request natively: the same code path as `portal_handle`,
        /// without wasm. For tests and benchmarks.
        pub fn portal_dispatch(input: &[u8]) -> Vec<u8> {
            $crate::guest::dispatch::<$plugin>(input)
        }
    };
}
