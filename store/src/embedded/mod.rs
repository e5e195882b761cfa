//! The embedded backend: chDB, the ClickHouse engine in-process, on a local data directory.
//!
//! chDB runs one statement at a time per connection, and a second connection on the same path
//! in the same process shares the data and runs concurrently. So the store keeps a small pool:
//! one connection for writes (the batcher's inserts, DDL) and a few for reads. Analysts' SQL
//! runs on threads of its own, each query on a fresh `readonly=1` session opened with its
//! limits as settings (a few milliseconds once the engine runs) and closed after it, so that no
//! session state outlives a query. Calls block, and the engine wants deep stacks, so each
//! connection lives on a dedicated thread with a large stack; async callers send it a job and
//! await the answer. The async workers never block on chDB.

mod ffi;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use async_trait::async_trait;
use tokio::sync::{OnceCell, oneshot};

use crate::error::StoreError;
use crate::{BackendKind, EngineVersion, Store};

/// Settings of the embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Larder's data directory (`./data` by default); chDB's files go in its `chdb/` subdirectory.
    pub data_dir: PathBuf,
    /// Path of `libchdb.so`.
    pub library: PathBuf,
    /// Read connections besides the write connection.
    pub read_connections: usize,
}

/// The ClickHouse database inside the data directory that holds Larder's tables.
const DATABASE: &str = "larder";

/// The engine's files live in this subdirectory of the data directory; Larder's own (the spool,
/// the control file) live beside it.
const ENGINE_SUBDIR: &str = "chdb";

/// Settings every connection gets: plain JSON numbers, UTC output.
const SESSION_SETTINGS: &[&str] = &["--output_format_json_quote_64bit_integers=0", "--session_timezone=UTC"];

/// Stack size of the connection threads: ClickHouse's parser and planner recurse deeply.
const WORKER_STACK_BYTES: usize = 32 * 1024 * 1024;

/// Analysts' queries that may run at once.
const ANALYST_THREADS: usize = 2;

/// One unit of work for a connection thread.
struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Vec<u8>, StoreError>>,
}

enum Work {
    /// A statement, answered in `format`.
    Query { sql: Vec<u8>, format: &'static str },
    /// An analyst's statement, on a new read-only session with `settings` (`--name=value`) and
    /// `database` as the current database.
    Analyst { database: String, sql: Vec<u8>, format: &'static str, settings: Vec<String> },
    /// `INSERT INTO t (cols)` and its rows in `format`.
    Insert { insert: String, format: &'static str, data: Vec<u8> },
}

/// The store on embedded chDB.
#[derive(Debug)]
pub struct EmbeddedStore {
    workers: Arc<Workers>,
    data_dir: PathBuf,
    version: OnceCell<EngineVersion>,
    library_version: String,
}

/// Which queue a job goes to.
#[derive(Debug, Clone, Copy)]
enum Queue {
    Writer,
    Readers,
    Analyst,
}

#[derive(Debug)]
struct Queues {
    writer: mpsc::Sender<Job>,
    readers: mpsc::Sender<Job>,
    analyst: mpsc::Sender<Job>,
}

/// The connection threads and their queues. Closing drops the queues and joins the threads, so
/// that afterwards no connection is open. It happens when the store is dropped, and — for stores
/// still alive then — at process exit, before the engine is stopped (see
/// `ffi::stop_engine_at_exit`): chDB crashes if the process tears it down while a connection is
/// open or a query runs.
#[derive(Debug)]
struct Workers {
    queues: Mutex<Option<Queues>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Workers {
    fn sender(&self, queue: Queue) -> Option<mpsc::Sender<Job>> {
        let queues = self.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.as_ref().map(|q| match queue {
            Queue::Writer => q.writer.clone(),
            Queue::Readers => q.readers.clone(),
            Queue::Analyst => q.analyst.clone(),
        })
    }

    fn close(&self) {
        drop(self.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
        let threads: Vec<_> =
            self.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// Every embedded store's workers, for the exit hook.
static OPEN_STORES: Mutex<Vec<std::sync::Weak<Workers>>> = Mutex::new(Vec::new());

/// Set once the engine has been stopped in this process: it cannot be started again.
static ENGINE_STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Closes every embedded store still open (waiting for running queries) and stops the chDB
/// engine's threads. Call it before the process exits: chDB crashes or hangs when process exit
/// tears it down while its threads run. Afterwards no embedded store can be used or opened in
/// this process. Harmless when no store was ever opened.
pub fn shutdown_engine() {
    close_open_stores();
    if ffi::stop_loaded_engine() {
        ENGINE_STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Closes every store still open.
fn close_open_stores() {
    let stores: Vec<_> = OPEN_STORES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..).collect();
    for store in stores.iter().filter_map(std::sync::Weak::upgrade) {
        store.close();
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl EmbeddedStore {
    /// Loads chDB, opens the data directory (creating it) and the connection pool.
    ///
    /// # Errors
    /// [`StoreError::Library`] when `libchdb.so` cannot be loaded, [`StoreError::Locked`] when
    /// another process holds the directory, [`StoreError::Unavailable`] for other failures.
    pub async fn open(config: EmbeddedConfig) -> Result<Self, StoreError> {
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("chdb-open".into())
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                let _ = tx.send(Self::open_blocking(&config));
            })
            .map_err(|e| StoreError::unavailable(format!("cannot start a chDB thread: {e}")))?;
        rx.await.map_err(|_| StoreError::unavailable("chDB open thread ended without an answer"))?
    }

    fn open_blocking(config: &EmbeddedConfig) -> Result<Self, StoreError> {
        if ENGINE_STOPPED.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Invalid("the embedded engine was shut down in this process".into()));
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| StoreError::Unavailable {
            message: format!("cannot create data directory {}", config.data_dir.display()),
            source: Some(Box::new(e)),
        })?;
        let data_dir = config.data_dir.canonicalize().map_err(|e| StoreError::Unavailable {
            message: format!("cannot resolve data directory {}", config.data_dir.display()),
            source: Some(Box::new(e)),
        })?;
        let engine_dir = data_dir.join(ENGINE_SUBDIR);
        // Checked before connecting: chDB prints its own lock error to stderr when it fails.
        if is_locked(&engine_dir) {
            return Err(StoreError::Locked { dir: data_dir });
        }
        let lib = ffi::Library::load(&config.library)?;
        let library_version = lib.version();
        let mut args = vec![format!("--path={}", engine_dir.display())];
        args.extend(SESSION_SETTINGS.iter().map(|s| (*s).to_owned()));
        let connect = |extra: &[&str]| -> Result<ffi::Connection, StoreError> {
            let mut all = args.clone();
            all.extend(extra.iter().map(|s| (*s).to_owned()));
            let mut conn = connect_raw(&lib, &all, &data_dir)?;
            conn.query(format!("USE {DATABASE}").as_bytes(), "TabSeparated")?;
            Ok(conn)
        };
        let mut bootstrap = connect_raw(&lib, &args, &data_dir)?;
        bootstrap.query(format!("CREATE DATABASE IF NOT EXISTS {DATABASE}").as_bytes(), "TabSeparated")?;
        let mut threads = Vec::new();
        let writer = spawn_workers("chdb-write", vec![connect(&[])?], &mut threads)?;
        let readers = spawn_workers(
            "chdb-read",
            (0..config.read_connections.max(1)).map(|_| connect(&[])).collect::<Result<_, _>>()?,
            &mut threads,
        )?;
        let analyst = spawn_analyst_workers(&lib, &args, &data_dir, &mut threads)?;
        tracing::info!(data_dir = %data_dir.display(), chdb = %library_version, "embedded store open");
        drop(bootstrap);
        let workers = Arc::new(Workers {
            queues: Mutex::new(Some(Queues { writer, readers, analyst })),
            threads: Mutex::new(threads),
        });
        ffi::before_engine_stops(close_open_stores);
        OPEN_STORES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Arc::downgrade(&workers));
        Ok(Self { workers, data_dir, version: OnceCell::new(), library_version })
    }

    /// The data directory, resolved.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The chDB library's own version string.
    pub fn library_version(&self) -> &str {
        &self.library_version
    }

    async fn run(&self, queue: Queue, work: Work) -> Result<Vec<u8>, StoreError> {
        let closed = || StoreError::unavailable("the embedded store is closed");
        let (reply, answer) = oneshot::channel();
        self.workers.sender(queue).ok_or_else(closed)?.send(Job { work, reply }).map_err(|_| closed())?;
        answer.await.map_err(|_| StoreError::unavailable("a chDB connection thread ended"))?
    }
}

fn connect_raw(lib: &Arc<ffi::Library>, args: &[String], data_dir: &Path) -> Result<ffi::Connection, StoreError> {
    let engine_dir = data_dir.join(ENGINE_SUBDIR);
    lib.connect(args)
        .map_err(|e| if is_locked(&engine_dir) { StoreError::Locked { dir: data_dir.to_owned() } } else { e })
}

/// Starts one thread per connection, all taking jobs from one queue.
fn spawn_workers(
    name: &str,
    connections: Vec<ffi::Connection>,
    handles: &mut Vec<std::thread::JoinHandle<()>>,
) -> Result<mpsc::Sender<Job>, StoreError> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for (i, mut conn) in connections.into_iter().enumerate() {
        let rx = Arc::clone(&rx);
        let handle = std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job, not while running it.
                    let job = match rx.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return }; // store dropped: the thread ends
                    let outcome = run_job(&mut conn, &job);
                    let _ = job.reply.send(outcome);
                }
            })
            .map_err(|e| StoreError::unavailable(format!("cannot start a chDB thread: {e}")))?;
        handles.push(handle);
    }
    Ok(tx)
}

fn run_job(conn: &mut ffi::Connection, job: &Job) -> Result<Vec<u8>, StoreError> {
    match &job.work {
        Work::Insert { insert, format, data } => conn.insert(insert, format, data).map(|()| Vec::new()),
        Work::Query { sql, format } => conn.query(sql, format),
        Work::Analyst { .. } => Err(StoreError::Invalid("an analyst query reached a shared connection".into())),
    }
}

/// Starts the threads that run analysts' queries. Each job gets a session of its own, opened
/// with `readonly=1` and the job's limits as the session's settings — which `readonly=1` then
/// forbids the query to change — and closed before the answer is sent.
fn spawn_analyst_workers(
    lib: &Arc<ffi::Library>,
    base_args: &[String],
    data_dir: &Path,
    handles: &mut Vec<std::thread::JoinHandle<()>>,
) -> Result<mpsc::Sender<Job>, StoreError> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..ANALYST_THREADS {
        let (rx, lib, base_args, data_dir) =
            (Arc::clone(&rx), Arc::clone(lib), base_args.to_vec(), data_dir.to_owned());
        let handle = std::thread::Builder::new()
            .name(format!("chdb-analyst-{i}"))
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let outcome = match &job.work {
                        Work::Analyst { database, sql, format, settings } => {
                            let mut args = base_args.clone();
                            args.extend(settings.iter().cloned());
                            args.push("--readonly=1".into());
                            connect_raw(&lib, &args, &data_dir).and_then(|mut conn| {
                                conn.query(format!("USE {database}").as_bytes(), "TabSeparated")?;
                                conn.query(sql, format)
                            })
                        }
                        _ => Err(StoreError::Invalid("only analyst queries run on the analyst threads".into())),
                    };
                    let _ = job.reply.send(outcome);
                }
            })
            .map_err(|e| StoreError::unavailable(format!("cannot start a chDB thread: {e}")))?;
        handles.push(handle);
    }
    Ok(tx)
}

/// Whether another process holds chDB's lock on `dir/status` (`dir` is the engine's path).
fn is_locked(dir: &Path) -> bool {
    match std::fs::File::open(dir.join("status")) {
        Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

impl Drop for EmbeddedStore {
    /// Waits for each connection thread to finish its job and close its connection.
    fn drop(&mut self) {
        self.workers.close();
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn kind(&self) -> BackendKind {
        BackendKind::Embedded
    }

    async fn execute(&self, sql: &str) -> Result<(), StoreError> {
        let work = Work::Query { sql: sql.as_bytes().to_vec(), format: "TabSeparated" };
        self.run(Queue::Writer, work).await.map(|_| ())
    }

    async fn query_raw(&self, sql: &str, format: &'static str) -> Result<Vec<u8>, StoreError> {
        self.run(Queue::Readers, Work::Query { sql: sql.as_bytes().to_vec(), format }).await
    }

    async fn query_analyst(
        &self,
        database: &str,
        sql: &str,
        format: &'static str,
        settings: &[(&'static str, String)],
    ) -> Result<crate::analyst::Chunks, StoreError> {
        if !crate::sql::is_identifier(database) {
            return Err(StoreError::Invalid(format!("database name {database:?} is not a plain identifier")));
        }
        let mut args = Vec::with_capacity(settings.len());
        for (name, value) in settings {
            // Settings become command-line arguments of the session: only plain names and values.
            let is_plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !is_plain(name) || !is_plain(value) || *name == "readonly" {
                return Err(StoreError::Invalid(format!("analyst setting {name:?} is not allowed")));
            }
            args.push(format!("--{name}={value}"));
        }
        let work =
            Work::Analyst { database: database.to_owned(), sql: sql.as_bytes().to_vec(), format, settings: args };
        self.run(Queue::Analyst, work).await.map(crate::analyst::Chunks::whole)
    }

    fn database(&self) -> &str {
        DATABASE
    }

    async fn insert_raw(&self, insert: &str, format: &'static str, data: Vec<u8>) -> Result<(), StoreError> {
        self.run(Queue::Writer, Work::Insert { insert: insert.to_owned(), format, data }).await.map(|_| ())
    }

    async fn version(&self) -> Result<EngineVersion, StoreError> {
        self.version
            .get_or_try_init(|| async {
                let raw = self.query_raw("SELECT version()", "TabSeparated").await?;
                EngineVersion::parse(String::from_utf8_lossy(&raw).trim())
            })
            .await
            .cloned()
    }
}
