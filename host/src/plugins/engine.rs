//! The one wasmtime [`Engine`] of the process (pooling allocator, epoch interruption with
//! one ticker thread) and the on-disk cache of compiled modules.

use super::config::RuntimeConfig;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, Module, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of the CPU cap.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Builds the engine for `config` and starts its epoch ticker (which stops when the engine
/// is dropped).
pub fn new_engine(config: &RuntimeConfig) -> wasmtime::Result<Engine> {
    let mut wasm = Config::new();
    wasm.epoch_interruption(true);
    // Fuel counts instructions for `portal plugin run`; it is off for the serving portal
    // (fuel checks slow every loop), and the compiled-module cache keys on it.
    wasm.consume_fuel(config.fuel);
    let memory_bytes = config.limits.memory_bytes();
    if config.pooling {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(config.pool_slots)
            .total_memories(config.pool_slots)
            .total_tables(config.pool_slots)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            .max_memory_size(memory_bytes)
            // Reset the first pages of a slot by zeroing instead of giving them back to the
            // kernel, so the next instance does not page-fault on them.
            .linear_memory_keep_resident(config.keep_resident_bytes)
            .table_keep_resident(config.keep_resident_bytes)
            // Where the kernel supports it (Linux 6.7+), reset only the pages a call dirtied.
            .pagemap_scan(Enabled::Auto);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&wasm)?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(wasmtime::Error::from)?;
    Ok(engine)
}

/// How a module was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleSource {
    /// Loaded from the compiled-module cache.
    Cache,
    /// Compiled now (and stored in the cache, if there is one).
    Compiled,
}

/// A compiled module and how long getting it took.
pub struct LoadedModule {
    /// The module.
    pub module: Module,
    /// Cache or compile.
    pub source: ModuleSource,
    /// Wall time of the load.
    pub elapsed: Duration,
}

/// The cache file of `wasm` for this engine: keyed by the module's SHA-256 and by the
/// engine's compatibility hash (wasmtime version and settings).
pub fn cache_path(engine: &Engine, dir: &Path, wasm: &[u8]) -> PathBuf {
    let digest = Sha256::digest(wasm);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!("{hex}-{:016x}.cwasm", hasher.finish()))
}

/// Compiles `wasm` (binary or text), or loads it from the cache in `cache_dir`.
pub fn load_module(engine: &Engine, wasm: &[u8], cache_dir: Option<&Path>) -> wasmtime::Result<LoadedModule> {
    let start = Instant::now();
    let Some(dir) = cache_dir else {
        let module = Module::new(engine, wasm)?;
        return Ok(LoadedModule { module, source: ModuleSource::Compiled, elapsed: start.elapsed() });
    };
    let path = cache_path(engine, dir, wasm);
    if path.exists() {
        match cache::deserialize(engine, &path) {
            Ok(module) => {
                return Ok(LoadedModule { module, source: ModuleSource::Cache, elapsed: start.elapsed() });
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "ignoring an unusable compiled-module cache entry")
            }
        }
    }
    let module = Module::new(engine, wasm)?;
    if let Err(err) = store(&module, dir, &path) {
        tracing::warn!(path = %path.display(), error = %err, "could not write the compiled-module cache");
    }
    Ok(LoadedModule { module, source: ModuleSource::Compiled, elapsed: start.elapsed() })
}

fn store(module: &Module, dir: &Path, path: &Path) -> wasmtime::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = module.serialize()?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

mod cache {
    //! The one `unsafe` call of the host: loading native code that wasmtime compiled.
    #![allow(unsafe_code)]

    use std::path::Path;
    use wasmtime::{Engine, Module};

    pub fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Module> {
        // SAFETY: the file is one that `Module::serialize` of this process or an earlier
        // one wrote into the portal's own cache directory (atomically, by rename), named by
        // the module's hash and the engine's compatibility hash; wasmtime additionally
        // checks its header and refuses an artifact from another version or configuration.
        // Whoever can write that directory could also replace the portal binary.
        unsafe { Module::deserialize_file(engine, path) }
    }
}
