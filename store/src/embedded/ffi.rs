//! The chDB C API, loaded at run time from `libchdb.so`.
//!
//! This is the only module of the workspace allowed to use `unsafe`. It exposes a safe
//! [`Library`] (the loaded symbols) and [`Connection`] (one chDB session); callers never see a
//! raw pointer. The library is loaded with `dlopen` when the embedded store is opened, so a
//! binary used only against a ClickHouse server never needs it.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::Path;
use std::sync::Arc;

use crate::error::StoreError;

#[repr(C)]
struct ConnectionHandle {
    _internal: *mut c_void,
}
#[repr(C)]
struct QueryResult {
    _internal: *mut c_void,
}

type ConnectFn = unsafe extern "C" fn(c_int, *mut *mut c_char) -> *mut *mut ConnectionHandle;
type CloseFn = unsafe extern "C" fn(*mut *mut ConnectionHandle);
type QueryFn =
    unsafe extern "C" fn(*mut ConnectionHandle, *const c_char, usize, *const c_char, usize) -> *mut QueryResult;
type ResultBufferFn = unsafe extern "C" fn(*mut QueryResult) -> *mut c_char;
type ResultLengthFn = unsafe extern "C" fn(*mut QueryResult) -> usize;
type ResultErrorFn = unsafe extern "C" fn(*mut QueryResult) -> *const c_char;
type DestroyResultFn = unsafe extern "C" fn(*mut QueryResult);
type VersionFn = unsafe extern "C" fn() -> *const c_char;
/// `chdb_state chdb_shutdown(void)`: joins every engine thread; 0 on success, non-zero while a
/// connection is still open. Absent before chDB 26.7.1.
type ShutdownFn = unsafe extern "C" fn() -> c_int;
#[repr(C)]
struct InsertStream {
    _internal: *mut c_void,
}
type StreamInsertFn =
    unsafe extern "C" fn(*mut ConnectionHandle, *const c_char, usize, *const c_char, usize) -> *mut InsertStream;
type StreamAppendFn = unsafe extern "C" fn(*mut InsertStream, *const c_void, usize) -> c_int;
type StreamDoneFn = unsafe extern "C" fn(*mut InsertStream) -> *mut QueryResult;
type StreamErrorFn = unsafe extern "C" fn(*mut InsertStream) -> *const c_char;
type DestroyStreamFn = unsafe extern "C" fn(*mut InsertStream);

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> c_int;
}

/// The first library loaded, for the exit hook.
static LOADED: std::sync::OnceLock<Arc<Library>> = std::sync::OnceLock::new();

/// What must happen before the engine is stopped at exit (closing every open store).
static BEFORE_STOP: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Registers the function the exit hook calls before stopping the engine.
pub(crate) fn before_engine_stops(close_everything: fn()) {
    let _ = BEFORE_STOP.set(close_everything);
}

/// A fallback at process exit: close every connection, then stop the engine's threads, so that
/// the engine's background pools do not race its teardown. It runs before the destructors chDB
/// registered when it was loaded, but not before those of statics it creates later, so the
/// binary and the tests call `shutdown_engine` explicitly before exiting; this only catches
/// what they miss.
extern "C" fn stop_engine_at_exit() {
    if let Some(close_everything) = BEFORE_STOP.get() {
        close_everything();
    }
    stop_loaded_engine();
}

/// Stops the loaded engine's threads; `true` if an engine was loaded and stopped.
pub(crate) fn stop_loaded_engine() -> bool {
    LOADED.get().is_some_and(|library| library.shutdown())
}

/// The loaded chDB library and the functions Larder uses.
pub(crate) struct Library {
    connect: ConnectFn,
    close: CloseFn,
    query: QueryFn,
    result_buffer: ResultBufferFn,
    result_length: ResultLengthFn,
    result_error: ResultErrorFn,
    destroy_result: DestroyResultFn,
    version: VersionFn,
    stream_insert: StreamInsertFn,
    stream_append: StreamAppendFn,
    stream_done: StreamDoneFn,
    stream_error: StreamErrorFn,
    destroy_stream: DestroyStreamFn,
    shutdown: Option<ShutdownFn>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("chdb::Library")
    }
}

impl Library {
    /// Loads `libchdb.so` from `path` and resolves the symbols. The library stays loaded for the
    /// life of the process: chDB registers thread-local destructors in every thread that calls
    /// it, and unloading it before those threads exit would make them jump into unmapped code.
    pub(crate) fn load(path: &Path) -> Result<Arc<Self>, StoreError> {
        let err = |source| StoreError::Library { path: path.to_owned(), source };
        // SAFETY: loading chDB runs its static initialisers, which only set up the engine's own
        // globals; the path is the operator's configured chDB build.
        let lib = unsafe { libloading::Library::new(path) }.map_err(err)?;
        // SAFETY: each symbol is declared with the signature of chdb.h (chDB 26.x).
        let loaded = unsafe {
            Self {
                connect: *lib.get::<ConnectFn>(b"chdb_connect\0").map_err(err)?,
                close: *lib.get::<CloseFn>(b"chdb_close_conn\0").map_err(err)?,
                query: *lib.get::<QueryFn>(b"chdb_query_n\0").map_err(err)?,
                result_buffer: *lib.get::<ResultBufferFn>(b"chdb_result_buffer\0").map_err(err)?,
                result_length: *lib.get::<ResultLengthFn>(b"chdb_result_length\0").map_err(err)?,
                result_error: *lib.get::<ResultErrorFn>(b"chdb_result_error\0").map_err(err)?,
                destroy_result: *lib.get::<DestroyResultFn>(b"chdb_destroy_query_result\0").map_err(err)?,
                version: *lib.get::<VersionFn>(b"chdb_version\0").map_err(err)?,
                stream_insert: *lib.get::<StreamInsertFn>(b"chdb_stream_insert_n\0").map_err(err)?,
                stream_append: *lib.get::<StreamAppendFn>(b"chdb_stream_append\0").map_err(err)?,
                stream_done: *lib.get::<StreamDoneFn>(b"chdb_stream_done\0").map_err(err)?,
                stream_error: *lib.get::<StreamErrorFn>(b"chdb_stream_insert_error\0").map_err(err)?,
                destroy_stream: *lib.get::<DestroyStreamFn>(b"chdb_destroy_insert_stream\0").map_err(err)?,
                shutdown: lib.get::<ShutdownFn>(b"chdb_shutdown\0").ok().map(|f| *f),
            }
        };
        // Never unloaded (see above); the function pointers stay valid for the process's life.
        std::mem::forget(lib);
        let loaded = Arc::new(loaded);
        if LOADED.set(Arc::clone(&loaded)).is_ok() {
            // SAFETY: `stop_engine_at_exit` is a plain `extern "C" fn()` that only reads the
            // loaded library from a static.
            unsafe { atexit(stop_engine_at_exit) };
        }
        Ok(loaded)
    }

    /// Stops the engine's own threads. Call only once every connection is closed; the process
    /// may then exit without the engine's background pools racing its teardown. Returns whether
    /// the engine stopped.
    pub(crate) fn shutdown(&self) -> bool {
        match self.shutdown {
            // SAFETY: no arguments; chDB refuses (non-zero) while connections are open.
            Some(shutdown) => unsafe { shutdown() == 0 },
            None => false,
        }
    }

    /// The library's version string, e.g. `26.7.3`.
    pub(crate) fn version(&self) -> String {
        // SAFETY: chdb_version returns a pointer to a static NUL-terminated string or NULL.
        unsafe {
            let ptr = (self.version)();
            if ptr.is_null() { String::new() } else { CStr::from_ptr(ptr).to_string_lossy().into_owned() }
        }
    }

    /// Opens a session with the given clickhouse-local style arguments (`--path=DIR`, settings).
    pub(crate) fn connect(self: &Arc<Self>, args: &[String]) -> Result<Connection, StoreError> {
        let owned: Vec<CString> = std::iter::once("clickhouse".to_owned())
            .chain(args.iter().cloned())
            .map(CString::new)
            .collect::<Result<_, _>>()
            .map_err(|_| StoreError::Invalid("chDB arguments must not contain NUL bytes".into()))?;
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr().cast_mut()).collect();
        let argc = c_int::try_from(argv.len()).map_err(|_| StoreError::Invalid("too many chDB arguments".into()))?;
        // SAFETY: argv points to argc valid NUL-terminated strings that outlive the call; chDB
        // copies what it keeps. It returns NULL or a pointer to a connection handle pointer.
        let handle = unsafe { (self.connect)(argc, argv.as_mut_ptr()) };
        // SAFETY: checked for NULL before the inner pointer is read.
        if handle.is_null() || unsafe { (*handle).is_null() } {
            return Err(StoreError::unavailable("chdb_connect failed"));
        }
        Ok(Connection { lib: Arc::clone(self), handle })
    }
}

/// One chDB session. Runs one statement at a time; `&mut self` makes callers serialise.
pub(crate) struct Connection {
    lib: Arc<Library>,
    handle: *mut *mut ConnectionHandle,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("chdb::Connection")
    }
}

// SAFETY: a chDB connection may be used from any thread as long as calls on it are not
// concurrent; `query` takes `&mut self` and the pool wraps each connection in a mutex.
unsafe impl Send for Connection {}

impl Connection {
    /// Runs one statement and returns its output in `format`.
    pub(crate) fn query(&mut self, sql: &[u8], format: &str) -> Result<Vec<u8>, StoreError> {
        // SAFETY: the handle is valid until Drop; the buffers are valid for the given lengths
        // during the call.
        let result = unsafe {
            (self.lib.query)(*self.handle, sql.as_ptr().cast(), sql.len(), format.as_ptr().cast(), format.len())
        };
        self.take_result(result, "chdb_query_n")
    }

    /// Inserts `data` (in `format`) with `insert` (`INSERT INTO t (cols)`, no FORMAT clause)
    /// through chDB's streaming insert. Data inline after `FORMAT RowBinary` in a query is not
    /// safe in chDB: certain byte sequences in the rows (two newlines) break its parsing.
    pub(crate) fn insert(&mut self, insert: &str, format: &str, data: &[u8]) -> Result<(), StoreError> {
        // SAFETY: the handle is valid until Drop; the buffers are valid for the given lengths
        // during each call. The stream handle is destroyed exactly once, on every path, and its
        // error text is copied before that.
        unsafe {
            let stream = (self.lib.stream_insert)(
                *self.handle,
                insert.as_ptr().cast(),
                insert.len(),
                format.as_ptr().cast(),
                format.len(),
            );
            if stream.is_null() {
                return Err(StoreError::unavailable("chdb_stream_insert_n returned no stream"));
            }
            let stream_error = |lib: &Library| {
                let text = (lib.stream_error)(stream);
                (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
            };
            if let Some(message) = stream_error(&self.lib) {
                (self.lib.destroy_stream)(stream);
                return Err(StoreError::from_engine_message(&message));
            }
            if (self.lib.stream_append)(stream, data.as_ptr().cast(), data.len()) != 0 {
                let message = stream_error(&self.lib).unwrap_or_else(|| "chdb_stream_append failed".into());
                (self.lib.destroy_stream)(stream);
                return Err(StoreError::from_engine_message(&message));
            }
            let result = (self.lib.stream_done)(stream);
            let outcome = self.take_result(result, "chdb_stream_done").map(|_| ());
            (self.lib.destroy_stream)(stream);
            outcome
        }
    }

    /// Copies a result's buffer or error out and destroys it.
    fn take_result(&self, result: *mut QueryResult, call: &str) -> Result<Vec<u8>, StoreError> {
        if result.is_null() {
            return Err(StoreError::unavailable(format!("{call} returned no result")));
        }
        // SAFETY: `result` is a live result from chDB; it is destroyed exactly once below, after
        // its buffer and error text have been copied out.
        unsafe {
            let error = (self.lib.result_error)(result);
            let outcome = if error.is_null() {
                let len = (self.lib.result_length)(result);
                let buf = (self.lib.result_buffer)(result);
                if buf.is_null() || len == 0 {
                    Ok(Vec::new())
                } else {
                    Ok(std::slice::from_raw_parts(buf.cast::<u8>(), len).to_vec())
                }
            } else {
                Err(StoreError::from_engine_message(&CStr::from_ptr(error).to_string_lossy()))
            };
            (self.lib.destroy_result)(result);
            outcome
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: the handle came from chdb_connect and is closed once, here.
        unsafe { (self.lib.close)(self.handle) }
    }
}
