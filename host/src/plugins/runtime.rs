//! Loading plugins and calling them: compile (or load from cache), check the module's
//! imports, exports and ABI version, run `Describe`, then serve each call in a fresh
//! instance with a memory cap, a CPU cap, payload caps and a host-call cap.

use super::config::{Limits, RuntimeConfig};
use super::engine::{self, EPOCH_TICK, ModuleSource};
use super::error::{CallError, CallFailure, LoadError};
use super::host_calls::{self, HostServices, NoServices};
use super::manifest::{self, PluginManifest};
use plugin_api::{
    ABI_VERSION, Description, HostCall, HostError, HostErrorKind, HostReply, PluginRequest, PluginResponse,
    codec, names, pack, unpack,
};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{
    Caller, Engine, ExternType, FuncType, InstancePre, Linker, Memory, Module, ModuleExport, ResourceLimiter,
    Store, Trap, TypedFunc, ValType,
};

/// The plugin runtime: one engine for every plugin of the process.
pub struct PluginRuntime {
    engine: Engine,
    config: RuntimeConfig,
}

impl PluginRuntime {
    /// Builds the engine (and its epoch ticker) for `config`.
    pub fn new(config: RuntimeConfig) -> Result<Self, wasmtime::Error> {
        let engine = engine::new_engine(&config)?;
        Ok(PluginRuntime { engine, config })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Loads the plugin whose manifest is at `path`.
    pub fn load<S: HostServices>(&self, path: &Path) -> Result<LoadedPlugin<S>, LoadError> {
        self.load_manifest(manifest::load(path)?)
    }

    /// Loads the plugin of an already validated manifest.
    pub fn load_manifest<S: HostServices>(
        &self,
        manifest: PluginManifest,
    ) -> Result<LoadedPlugin<S>, LoadError> {
        let id = manifest.id().to_owned();
        let module_error = |message: String| LoadError::Module { plugin: id.clone(), message };
        let bytes = std::fs::read(&manifest.wasm_path).map_err(|source| LoadError::Read {
            plugin: id.clone(),
            path: manifest.wasm_path.clone(),
            source,
        })?;
        let loaded =
            engine::load_module(&self.engine, &bytes, self.config.cache_dir.as_deref()).map_err(|e| {
                module_error(format!("{} is not a valid module: {e:#}", manifest.wasm_path.display()))
            })?;
        check_abi_shape(&loaded.module).map_err(module_error)?;
        let manifest = Arc::new(manifest);

        // Version and description, in an instance with no services.
        let probe: Prepared<NoServices> =
            Prepared::new(&self.engine, &loaded.module, &manifest, &self.config.limits)
                .map_err(|e| module_error(format!("cannot be linked: {e:#}")))?
                .counting_fuel(self.config.fuel);
        let version = probe
            .abi_version()
            .map_err(|reason| module_error(format!("`{}` failed: {reason}", names::ABI_VERSION)))?;
        if version != ABI_VERSION {
            return Err(LoadError::Mismatch {
                plugin: id,
                field: "abi_version",
                manifest: ABI_VERSION.to_string(),
                module: version.to_string(),
            });
        }
        let description = match probe.call(&PluginRequest::Describe, NoServices, false, self.config.limits).0
        {
            Ok(PluginResponse::Described(d)) => d,
            Ok(PluginResponse::Error(e)) => {
                return Err(module_error(format!("refused Describe: {e}")));
            }
            Ok(other) => return Err(module_error(format!("answered Describe with {}", other_kind(&other)))),
            Err(source) => return Err(LoadError::Describe { plugin: id, source: Box::new(source) }),
        };
        check_description(&description).map_err(module_error)?;
        for (field, in_manifest, in_module) in [
            ("id", manifest.id(), description.id.as_str()),
            ("version", manifest.version(), description.version.as_str()),
        ] {
            if in_manifest != in_module {
                return Err(LoadError::Mismatch {
                    plugin: id,
                    field,
                    manifest: in_manifest.to_owned(),
                    module: in_module.to_owned(),
                });
            }
        }
        let prepared = Prepared::new(&self.engine, &loaded.module, &manifest, &self.config.limits)
            .map_err(|e| module_error(format!("cannot be linked: {e:#}")))?
            .counting_fuel(self.config.fuel);
        Ok(LoadedPlugin {
            prepared,
            description,
            module_source: loaded.source,
            module_load_time: loaded.elapsed,
        })
    }
}

/// The wire name of a response's kind, for errors.
fn response_kind(response: &PluginResponse) -> &'static str {
    match response {
        PluginResponse::Described(_) => "described",
        PluginResponse::Slots(_) => "slots",
        PluginResponse::Page(_) => "page",
        PluginResponse::JobDone { .. } => "job_done",
        PluginResponse::Ack => "ack",
        PluginResponse::Verdict(_) => "verdict",
        PluginResponse::Error(_) => "error",
    }
}

/// The kind of a response, for messages.
fn other_kind(response: &PluginResponse) -> &'static str {
    match response {
        PluginResponse::Described(_) => "a description",
        PluginResponse::Slots(_) => "slots",
        PluginResponse::Page(_) => "a page",
        PluginResponse::JobDone { .. } => "a job result",
        PluginResponse::Ack => "an acknowledgement",
        PluginResponse::Verdict(_) => "a verdict",
        PluginResponse::Error(_) => "an error",
    }
}

/// Migrations numbered 1, 2, 3, ... and template names unique.
fn check_description(description: &Description) -> Result<(), String> {
    for (i, migration) in description.migrations.iter().enumerate() {
        if migration.version as usize != i + 1 {
            return Err(format!(
                "migration `{}` has version {}; expected migrations numbered 1, 2, 3, ... in order",
                migration.name, migration.version
            ));
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for template in &description.templates {
        if !names.insert(template.name.as_str()) {
            return Err(format!("template `{}` is described twice", template.name));
        }
    }
    Ok(())
}

/// A loaded plugin, ready to be called. Cheap to share between threads.
pub struct LoadedPlugin<S: HostServices> {
    prepared: Prepared<S>,
    description: Description,
    module_source: ModuleSource,
    module_load_time: Duration,
}

impl<S: HostServices> LoadedPlugin<S> {
    /// The validated manifest.
    pub fn manifest(&self) -> &PluginManifest {
        &self.prepared.manifest
    }
    /// The plugin id.
    pub fn id(&self) -> &str {
        self.prepared.manifest.id()
    }
    /// What `Describe` answered.
    pub fn description(&self) -> &Description {
        &self.description
    }
    /// Whether the module came from the compiled-module cache.
    pub fn module_source(&self) -> ModuleSource {
        self.module_source
    }
    /// How long compiling or loading the module took.
    pub fn module_load_time(&self) -> Duration {
        self.module_load_time
    }

    /// Calls the plugin once in a fresh instance; gives the services back with the result,
    /// so the caller can commit or roll back what they did.
    pub fn call(&self, request: &PluginRequest, services: S) -> (Result<PluginResponse, CallError>, S) {
        self.prepared.call(request, services, true, self.prepared.limits)
    }

    /// [`LoadedPlugin::call`] with a CPU limit of `cpu_ms` (when lower than the runtime's):
    /// a check point's budget for its implementers.
    pub fn call_within(
        &self,
        request: &PluginRequest,
        services: S,
        cpu_ms: u64,
    ) -> (Result<PluginResponse, CallError>, S) {
        let mut limits = self.prepared.limits;
        limits.cpu_ms = limits.cpu_ms.min(cpu_ms.max(1));
        self.prepared.call(request, services, true, limits)
    }

    /// Opens an instance in which host calls are refused, as while answering `Describe`
    /// at load (`portal plugin run` replays `Describe` in one).
    pub fn describe_session(&self, services: S) -> Result<Session<'_, S>, (CallError, S)> {
        self.prepared.session(services, false, self.prepared.limits)
    }

    /// Opens an instance for several calls of the same request (e.g. `Slots` and `Page` of
    /// one HTTP request). State may carry over between its calls, so never share a session
    /// between requests.
    pub fn session(&self, services: S) -> Result<Session<'_, S>, (CallError, S)> {
        self.prepared.session(services, true, self.prepared.limits)
    }
}

/// Module, linker output and export indices, for one services type.
struct Prepared<S: HostServices> {
    manifest: Arc<PluginManifest>,
    pre: InstancePre<CallState<S>>,
    exports: Exports,
    engine: Engine,
    limits: Limits,
    /// Whether the engine counts fuel (`portal plugin run`).
    fuel: bool,
}

/// The fuel a call starts with when the engine counts it: more than any call can burn
/// before its CPU deadline, so fuel measures and never limits.
const FUEL: u64 = u64::MAX / 2;

#[derive(Clone)]
struct Exports {
    memory: ModuleExport,
    abi_version: ModuleExport,
    alloc: ModuleExport,
    free: ModuleExport,
    handle: ModuleExport,
}

/// The guest functions of one instance.
#[derive(Clone)]
struct GuestFns {
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    handle: TypedFunc<(u32, u32), u64>,
}

/// What a store holds during a call.
struct CallState<S> {
    services: S,
    manifest: Arc<PluginManifest>,
    limits: Limits,
    limiter: MemoryLimiter,
    host_calls: u32,
    allow_host_calls: bool,
    guest: Option<GuestFns>,
    /// Why a host function stopped the call, if it did.
    abort: Option<CallFailure>,
    /// When the call's CPU time is up: the epoch deadline stops wasm code, this stops
    /// host calls (time inside them counts against the same limit).
    deadline: Instant,
}

struct MemoryLimiter {
    max_bytes: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Err(wasmtime::Error::msg("memory limit reached"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 10_000)
    }
}

impl<S: HostServices> Prepared<S> {
    fn new(
        engine: &Engine,
        module: &Module,
        manifest: &Arc<PluginManifest>,
        limits: &Limits,
    ) -> wasmtime::Result<Self> {
        let mut linker: Linker<CallState<S>> = Linker::new(engine);
        linker.func_wrap(
            names::IMPORT_MODULE,
            names::HOST_CALL,
            |mut caller: Caller<'_, CallState<S>>, ptr: u32, len: u32| host_call(&mut caller, ptr, len),
        )?;
        let pre = linker.instantiate_pre(module)?;
        let export = |name: &str| {
            module
                .get_export_index(name)
                .ok_or_else(|| wasmtime::Error::msg(format!("missing export `{name}`")))
        };
        let exports = Exports {
            memory: export(names::MEMORY)?,
            abi_version: export(names::ABI_VERSION)?,
            alloc: export(names::ALLOC)?,
            free: export(names::FREE)?,
            handle: export(names::HANDLE)?,
        };
        Ok(Prepared {
            manifest: manifest.clone(),
            pre,
            exports,
            engine: engine.clone(),
            limits: *limits,
            fuel: false,
        })
    }

    fn counting_fuel(mut self, fuel: bool) -> Self {
        self.fuel = fuel;
        self
    }

    fn failure_of(store: &mut Store<CallState<S>>, err: &wasmtime::Error, limits: &Limits) -> CallFailure {
        if let Some(reason) = store.data_mut().abort.take() {
            return reason;
        }
        if store.data().limiter.hit {
            return CallFailure::MemoryLimit { limit_mib: limits.memory_mib };
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => CallFailure::Timeout { limit_ms: limits.cpu_ms },
            Some(trap) => CallFailure::Trap { message: trap.to_string() },
            None => CallFailure::Trap { message: format!("{err:#}") },
        }
    }

    fn error(&self, call: String, reason: CallFailure) -> CallError {
        CallError { plugin: self.manifest.id().to_owned(), call, reason }
    }

    fn new_store(&self, services: S, allow_host_calls: bool, limits: Limits) -> Store<CallState<S>> {
        let mut store = Store::new(
            &self.engine,
            CallState {
                services,
                manifest: self.manifest.clone(),
                limits,
                limiter: MemoryLimiter { max_bytes: limits.memory_bytes(), hit: false },
                host_calls: 0,
                allow_host_calls,
                guest: None,
                abort: None,
                deadline: Instant::now() + Duration::from_millis(limits.cpu_ms),
            },
        );
        store.limiter(|state| &mut state.limiter);
        if self.fuel {
            let _ = store.set_fuel(FUEL);
        }
        store.epoch_deadline_trap();
        store.set_epoch_deadline(deadline_ticks(limits.cpu_ms));
        store
    }

    fn session(
        &self,
        services: S,
        allow_host_calls: bool,
        limits: Limits,
    ) -> Result<Session<'_, S>, (CallError, S)> {
        let mut store = self.new_store(services, allow_host_calls, limits);
        let fns = match self.instantiate(&mut store) {
            Ok(fns) => fns,
            Err(err) => {
                let reason = match err {
                    InstantiateError::Wasm(e) => match Self::failure_of(&mut store, &e, &limits) {
                        CallFailure::Trap { message } => CallFailure::Instantiate { message },
                        other => other,
                    },
                    InstantiateError::Shape(message) => CallFailure::Instantiate { message },
                };
                return Err((self.error("instantiation".into(), reason), store.into_data().services));
            }
        };
        store.data_mut().guest = Some(fns.clone());
        Ok(Session { prepared: self, store, fns, poisoned: false, limits })
    }

    fn instantiate(&self, store: &mut Store<CallState<S>>) -> Result<GuestFns, InstantiateError> {
        let instance = self.pre.instantiate(&mut *store).map_err(InstantiateError::Wasm)?;
        let get = |store: &mut Store<CallState<S>>, export: &ModuleExport| {
            instance.get_module_export(store, export)
        };
        let shape = |what: &str| InstantiateError::Shape(format!("export `{what}` has the wrong type"));
        let memory = get(store, &self.exports.memory)
            .and_then(|e| e.into_memory())
            .ok_or_else(|| shape(names::MEMORY))?;
        let func = |store: &mut Store<CallState<S>>, export: &ModuleExport, name: &str| {
            get(store, export).and_then(|e| e.into_func()).ok_or_else(|| shape(name))
        };
        let alloc =
            func(store, &self.exports.alloc, names::ALLOC)?.typed(&*store).map_err(InstantiateError::Wasm)?;
        let free =
            func(store, &self.exports.free, names::FREE)?.typed(&*store).map_err(InstantiateError::Wasm)?;
        let handle = func(store, &self.exports.handle, names::HANDLE)?
            .typed(&*store)
            .map_err(InstantiateError::Wasm)?;
        Ok(GuestFns { memory, alloc, free, handle })
    }

    fn call(
        &self,
        request: &PluginRequest,
        services: S,
        allow_host_calls: bool,
        limits: Limits,
    ) -> (Result<PluginResponse, CallError>, S) {
        match self.session(services, allow_host_calls, limits) {
            Ok(mut session) => {
                let result = session.call(request);
                (result, session.finish())
            }
            Err((err, services)) => (Err(err), services),
        }
    }
}

impl Prepared<NoServices> {
    /// Runs `portal_abi_version` in a fresh instance.
    fn abi_version(&self) -> Result<u32, CallFailure> {
        let mut store = self.new_store(NoServices, false, self.limits);
        let instance =
            self.pre.instantiate(&mut store).map_err(|e| Self::failure_of(&mut store, &e, &self.limits))?;
        let func = instance
            .get_module_export(&mut store, &self.exports.abi_version)
            .and_then(|e| e.into_func())
            .ok_or_else(|| CallFailure::Instantiate { message: "no abi version export".into() })?;
        let typed: TypedFunc<(), u32> =
            func.typed(&store).map_err(|e| CallFailure::Instantiate { message: format!("{e:#}") })?;
        typed.call(&mut store, ()).map_err(|e| Self::failure_of(&mut store, &e, &self.limits))
    }
}

enum InstantiateError {
    Wasm(wasmtime::Error),
    Shape(String),
}

fn deadline_ticks(cpu_ms: u64) -> u64 {
    let tick = EPOCH_TICK.as_millis().max(1) as u64;
    cpu_ms.div_ceil(tick) + 1
}

/// One instance serving one or more calls of the same request.
pub struct Session<'p, S: HostServices> {
    prepared: &'p Prepared<S>,
    store: Store<CallState<S>>,
    fns: GuestFns,
    poisoned: bool,
    /// This session's limits (a check's CPU budget may be lower than the runtime's).
    limits: Limits,
}

impl<S: HostServices> Session<'_, S> {
    /// Calls the plugin. After a failure the instance is not used again: every later call
    /// of this session fails too.
    pub fn call(&mut self, request: &PluginRequest) -> Result<PluginResponse, CallError> {
        let result = self.call_inner(request);
        if result.is_err() {
            self.poisoned = true;
        }
        result.map_err(|reason| self.prepared.error(super::error::call_name(request), reason))
    }

    fn call_inner(&mut self, request: &PluginRequest) -> Result<PluginResponse, CallFailure> {
        if self.poisoned {
            return Err(CallFailure::Internal {
                message: "the instance failed earlier in this request".into(),
            });
        }
        let input = codec::encode(request).map_err(|e| CallFailure::Internal { message: e.to_string() })?;
        let output = self.call_encoded(&input)?;
        let response: PluginResponse =
            codec::decode(&output).map_err(|e| CallFailure::MalformedResponse { message: e.to_string() })?;
        if !request.accepts(&response) {
            return Err(CallFailure::WrongResponse {
                request: request.kind(),
                response: response_kind(&response),
            });
        }
        Ok(response)
    }

    /// Sends encoded request bytes and returns the encoded response bytes.
    pub fn call_raw(&mut self, input: &[u8]) -> Result<Vec<u8>, CallError> {
        self.call_encoded(input).map_err(|reason| {
            self.poisoned = true;
            self.prepared.error("raw request".into(), reason)
        })
    }

    fn call_encoded(&mut self, input: &[u8]) -> Result<Vec<u8>, CallFailure> {
        let limits = &self.limits;
        let max = limits.max_payload_bytes;
        let len =
            u32::try_from(input.len()).ok().filter(|l| *l <= max).ok_or(CallFailure::PayloadTooLarge {
                what: "the request",
                len: input.len() as u64,
                limit: u64::from(max),
            })?;
        let store = &mut self.store;
        store.set_epoch_deadline(deadline_ticks(limits.cpu_ms));
        if self.prepared.fuel {
            let _ = store.set_fuel(FUEL);
        }
        store.data_mut().host_calls = 0;
        store.data_mut().deadline = Instant::now() + Duration::from_millis(limits.cpu_ms);
        let fail =
            |store: &mut Store<CallState<S>>, e: wasmtime::Error| Prepared::failure_of(store, &e, limits);
        let ptr = self.fns.alloc.call(&mut *store, len).map_err(|e| fail(store, e))?;
        let target = guest_slice_mut(&self.fns.memory, store, ptr, len).ok_or(CallFailure::OutOfBounds {
            what: "the request buffer from portal_alloc",
            ptr,
            len,
        })?;
        target.copy_from_slice(input);
        let packed = self.fns.handle.call(&mut *store, (ptr, len)).map_err(|e| fail(store, e))?;
        let (out_ptr, out_len) = unpack(packed);
        if out_len > max {
            return Err(CallFailure::PayloadTooLarge {
                what: "the response",
                len: u64::from(out_len),
                limit: u64::from(max),
            });
        }
        let output = guest_slice(&self.fns.memory, store, out_ptr, out_len)
            .ok_or(CallFailure::OutOfBounds { what: "the response", ptr: out_ptr, len: out_len })?
            .to_vec();
        self.fns.free.call(&mut *store, (out_ptr, out_len)).map_err(|e| fail(store, e))?;
        Ok(output)
    }

    /// The fuel (wasm instructions, roughly) the last call burnt, when the runtime counts
    /// fuel ([`RuntimeConfig::fuel`](super::RuntimeConfig)); host calls burn none.
    pub fn fuel_used(&self) -> Option<u64> {
        if !self.prepared.fuel {
            return None;
        }
        self.store.get_fuel().ok().map(|left| FUEL.saturating_sub(left))
    }

    /// The size of the instance's linear memory: its peak, since wasm memory never shrinks.
    pub fn memory_bytes(&self) -> usize {
        self.fns.memory.data_size(&self.store)
    }

    /// The services, between calls (to end their transaction before the instance is torn
    /// down).
    pub fn services_mut(&mut self) -> &mut S {
        &mut self.store.data_mut().services
    }

    /// Ends the session and gives the services back.
    pub fn finish(self) -> S {
        self.store.into_data().services
    }
}

fn guest_range(ptr: u32, len: u32) -> std::ops::Range<usize> {
    let start = ptr as usize;
    start..start.saturating_add(len as usize)
}

fn guest_slice<'a, T>(memory: &Memory, store: &'a Store<T>, ptr: u32, len: u32) -> Option<&'a [u8]> {
    memory.data(store).get(guest_range(ptr, len))
}

fn guest_slice_mut<'a, T>(
    memory: &Memory,
    store: &'a mut Store<T>,
    ptr: u32,
    len: u32,
) -> Option<&'a mut [u8]> {
    memory.data_mut(store).get_mut(guest_range(ptr, len))
}

/// Stops the current call for `reason`: the host function returns this as a trap.
fn abort<S>(state: &mut CallState<S>, reason: CallFailure) -> wasmtime::Error {
    let err = wasmtime::Error::msg(reason.to_string());
    state.abort = Some(reason);
    err
}

/// The `portal.host_call` import.
fn host_call<S: HostServices>(
    caller: &mut Caller<'_, CallState<S>>,
    ptr: u32,
    len: u32,
) -> wasmtime::Result<u64> {
    let state = caller.data_mut();
    state.host_calls += 1;
    let limits = state.limits;
    if state.host_calls > limits.max_host_calls {
        return Err(abort(state, CallFailure::TooManyHostCalls { limit: limits.max_host_calls }));
    }
    if Instant::now() >= state.deadline {
        return Err(abort(state, CallFailure::Timeout { limit_ms: limits.cpu_ms }));
    }
    if len > limits.max_payload_bytes {
        let reason = CallFailure::PayloadTooLarge {
            what: "a host call",
            len: u64::from(len),
            limit: u64::from(limits.max_payload_bytes),
        };
        return Err(abort(state, reason));
    }
    let Some(fns) = state.guest.clone() else {
        return Err(abort(
            state,
            CallFailure::Internal { message: "host call before the instance was ready".into() },
        ));
    };
    let Some(bytes) = fns.memory.data(&*caller).get(guest_range(ptr, len)).map(<[u8]>::to_vec) else {
        return Err(abort(caller.data_mut(), CallFailure::OutOfBounds { what: "a host call", ptr, len }));
    };
    let state = caller.data_mut();
    let reply = match codec::decode::<HostCall>(&bytes) {
        Ok(call) if !state.allow_host_calls => {
            let reply = reply_error(
                HostErrorKind::NotAllowed,
                format!(
                    "host call `{}` of plugin `{}` refused: no host calls are allowed while answering Describe. \
                     Fix: return migrations and templates as constants; read the database in later requests",
                    call.name(),
                    state.manifest.id()
                ),
            );
            if S::TRACES {
                state.services.traced(&call, &reply, Duration::ZERO);
            }
            reply
        }
        Ok(call) => {
            state.services.set_deadline(state.deadline);
            if S::TRACES {
                let started = Instant::now();
                let traced = call.clone();
                let reply = host_calls::dispatch(&state.manifest, &mut state.services, call);
                state.services.traced(&traced, &reply, started.elapsed());
                reply
            } else {
                host_calls::dispatch(&state.manifest, &mut state.services, call)
            }
        }
        Err(e) => reply_error(HostErrorKind::Invalid, format!("undecodable host call: {e}")),
    };
    // A host call that ran past the call's deadline fails the call.
    if Instant::now() >= state.deadline {
        return Err(abort(state, CallFailure::Timeout { limit_ms: limits.cpu_ms }));
    }
    let mut out = codec::encode(&reply)?;
    if out.len() > limits.max_payload_bytes as usize {
        let message = format!(
            "the reply of {} bytes is larger than the limit of {} bytes",
            out.len(),
            limits.max_payload_bytes
        );
        out = codec::encode(&reply_error(HostErrorKind::LimitExceeded, message))?;
    }
    let out_len = out.len() as u32;
    let out_ptr = fns.alloc.call(&mut *caller, out_len)?;
    let Some(target) = fns.memory.data_mut(&mut *caller).get_mut(guest_range(out_ptr, out_len)) else {
        return Err(abort(
            caller.data_mut(),
            CallFailure::OutOfBounds {
                what: "the host reply buffer from portal_alloc",
                ptr: out_ptr,
                len: out_len,
            },
        ));
    };
    target.copy_from_slice(&out);
    Ok(pack(out_ptr, out_len))
}

fn reply_error(kind: HostErrorKind, message: impl Into<String>) -> HostReply {
    HostReply::Error(HostError { kind, message: message.into() })
}

/// Checks imports and exports against the ABI, with a message a plugin author can act on.
fn check_abi_shape(module: &Module) -> Result<(), String> {
    use ValType::{I32, I64};
    for import in module.imports() {
        let ok = import.module() == names::IMPORT_MODULE
            && import.name() == names::HOST_CALL
            && matches!(import.ty(), ExternType::Func(f) if same(&f, &[I32, I32], &[I64]));
        if !ok {
            return Err(format!(
                "imports `{}.{}`, which the portal does not provide; a plugin may import only `{}.{}` (i32, i32) -> i64",
                import.module(),
                import.name(),
                names::IMPORT_MODULE,
                names::HOST_CALL
            ));
        }
    }
    let funcs: [(&str, &[ValType], &[ValType], &str); 4] = [
        (names::ABI_VERSION, &[], &[I32], "() -> i32"),
        (names::ALLOC, &[I32], &[I32], "(i32) -> i32"),
        (names::FREE, &[I32, I32], &[], "(i32, i32)"),
        (names::HANDLE, &[I32, I32], &[I64], "(i32, i32) -> i64"),
    ];
    for (name, params, results, shown) in funcs {
        match module.get_export(name) {
            Some(ExternType::Func(f)) if same(&f, params, results) => {}
            Some(_) => {
                return Err(format!("export `{name}` has the wrong type; expected a function {shown}"));
            }
            None => return Err(format!("missing export `{name}`; expected a function {shown}")),
        }
    }
    match module.get_export(names::MEMORY) {
        Some(ExternType::Memory(m)) if !m.is_64() && !m.is_shared() => Ok(()),
        _ => Err(format!("missing export `{}`; expected a 32-bit linear memory", names::MEMORY)),
    }
}

fn same(f: &FuncType, params: &[ValType], results: &[ValType]) -> bool {
    let eq = |a: &ValType, b: &ValType| ValType::eq(a, b);
    f.params().len() == params.len()
        && f.results().len() == results.len()
        && f.params().zip(params).all(|(a, b)| eq(&a, b))
        && f.results().zip(results).all(|(a, b)| eq(&a, b))
}
