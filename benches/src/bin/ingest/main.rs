//! How fast does the collector take events, and how fast do they reach ClickHouse?
//!
//! Runs the real `larder` binary on loopback — `larder serve` (embedded chDB) and
//! `larder collector` (ClickHouse server) — and drives it with the load generator
//! (`larder_benches::loadgen`) over a fixed number of keep-alive connections with a realistic
//! event mix (`larder_benches::mix`): requests of one event, then of 100. Each figure stands
//! beside a ceiling measured in the same run: a bare actix-web handler answering `204` to the same
//! requests from the same generator (this binary started with `--bare-handler`), and the engine
//! inserting the very rows the collector stored, in RowBinary, directly through `larder_store`.
//! Requests that stop at earlier stages of the collector (unknown site, privacy signal) show
//! where a request's time goes, and `/proc` shows which threads used the CPU.
//!
//! The generator shares the machine's CPUs with the server it measures; the ceiling is measured
//! the same way, so the ratio is fair even where the absolute numbers are the generator's too.
//! Every run is bounded in time and in requests, and every child process is stopped at the end.

mod tables;

/// The allocator `larder` uses, so that the ceiling and the collector are measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use larder_benches::loadgen::{self, Connection, Load, Report};
use larder_benches::mix::{Request, SITE, Traffic, Variant};
use larder_benches::procfs::{cpu_time, machine_busy, memory, thread_cpu};
use larder_benches::service::{Metrics, Service, clean_command, larder_binary, run_to_end};
use larder_store::Store;
use larder_store::rows::EventRow;

const VISITORS: u64 = 5_000;
const WARM_UP: Duration = Duration::from_secs(2);
const MAX_REQUESTS: u64 = 5_000_000;
/// Rows per insert when the engine inserts the collector's rows itself (as `insert-formats`).
const ENGINE_BATCH: usize = 50_000;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--bare-handler") {
        bare_handler();
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(setting("LARDER_BENCH_CLIENT_THREADS", 2))
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench());
    drop(runtime);
    larder_store::shutdown_embedded_engine();
}

/// A numeric knob from the environment (for exploring; `make bench` uses the defaults).
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The ceiling: actix-web, default workers, one route that reads the body and answers `204`.
fn bare_handler() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    async fn accept(_body: web::Bytes) -> HttpResponse {
        HttpResponse::NoContent().finish()
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("bound address");
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| App::new().route("/api/event", web::post().to(accept)))
            .listen(listener)
            .expect("listen")
            .run();
        println!("bare handler listening at http://{addr}/");
        server.await.expect("serve");
    });
}

/// The load every run uses, and the requests.
#[derive(Debug)]
pub struct Setup {
    pub connections: usize,
    pub measure: Duration,
    singles: Arc<[Request]>,
    batches: Arc<[Request]>,
    unknown_site: Arc<[Request]>,
    privacy_signal: Arc<[Request]>,
    clickhouse_pid: Option<u32>,
}

/// What one measured run saw.
#[derive(Debug)]
pub struct Run {
    pub connections: usize,
    pub report: Report,
    /// CPU used during the load, in cores (CPU seconds per second of load).
    pub server_cores: f64,
    pub generator_cores: f64,
    pub clickhouse_cores: Option<f64>,
    /// Every other process on the machine (and the kernel's own threads).
    pub rest_cores: f64,
    /// The server's CPU by kind of thread, in cores.
    pub threads: BTreeMap<&'static str, f64>,
    /// Server CPU per request during the load, microseconds.
    pub server_us_per_request: f64,
    /// Collector runs only: from the first request until every accepted event was stored.
    pub end_to_end: Option<EndToEnd>,
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
}

/// From the first request of a run until every event it got accepted was in the store.
#[derive(Debug)]
pub struct EndToEnd {
    pub events: u64,
    pub seconds: f64,
    /// From the last answer until the last event was stored.
    pub tail: Duration,
    pub flushes: f64,
    pub flushed_events: f64,
    pub flush_seconds: f64,
    /// Accepting and storing, CPU microseconds per event (until the last event was stored).
    pub server_us_per_event: f64,
    pub clickhouse_us_per_event: Option<f64>,
}

/// Everything measured for one collector backend.
#[derive(Debug)]
pub struct Backend {
    pub label: String,
    pub is_server: bool,
    pub single: Run,
    pub batch: Run,
    pub unknown_site: Run,
    pub privacy_signal: Run,
    /// Full 1-event requests over four times the connections: does more concurrency help?
    pub wide: Run,
    /// The engine inserting the collector's stored rows itself.
    pub engine_rows: usize,
    pub engine_rows_per_second: f64,
}

async fn bench() {
    let connections = setting("LARDER_BENCH_CONNECTIONS", 32);
    let measure = Duration::from_secs(setting("LARDER_BENCH_SECONDS", 8) as u64);
    let mut traffic = Traffic::new(7, VISITORS);
    let setup = Setup {
        connections,
        measure,
        singles: traffic.requests(20_000, 1).into(),
        batches: traffic.requests(400, 100).into(),
        unknown_site: traffic.requests_of(20_000, 1, Variant::UnknownSite).into(),
        privacy_signal: traffic.requests_of(20_000, 1, Variant::PrivacySignal).into(),
        clickhouse_pid: std::env::var("LARDER_BENCH_CLICKHOUSE_PID").ok().and_then(|p| p.parse().ok()),
    };
    let samples = traffic.sample_of_each_kind();
    let work = tempfile::tempdir().expect("temp dir");
    wait_for_quiet_machine().await;

    eprintln!("ingest: ceiling (bare actix-web handler)");
    let exe = std::env::current_exe().expect("own path");
    let mut command = clean_command(&exe, work.path(), &[]);
    command.arg("--bare-handler");
    let bare = Service::start(command, "listening at", work.path().join("bare.log"), secs(10));
    let ceiling_single = measure_run(&bare, &setup, Phase::new(&setup, &setup.singles, 204)).await;
    let ceiling_batch = measure_run(&bare, &setup, Phase::new(&setup, &setup.batches, 204)).await;
    bare.stop(secs(5));

    // LARDER_BENCH_SKIP_EMBEDDED=1: only the server backend (for exploring).
    let embedded = if setting("LARDER_BENCH_SKIP_EMBEDDED", 0) == 0 {
        eprintln!("ingest: larder serve (embedded chDB)");
        Some(measure_backend(&setup, &samples, Engine::Embedded, work.path()).await)
    } else {
        None
    };
    let server = match std::env::var("LARDER_BENCH_CLICKHOUSE_URL") {
        Ok(url) => {
            eprintln!("ingest: larder collector (ClickHouse server)");
            Some(measure_backend(&setup, &samples, Engine::Server(url), work.path()).await)
        }
        Err(_) => {
            eprintln!("LARDER_BENCH_CLICKHOUSE_URL not set: server skipped (make bench sets it)");
            None
        }
    };
    let backends: Vec<&Backend> = embedded.iter().chain(server.as_ref()).collect();
    let disk_sync = sync_latency(work.path());
    tables::print(&setup, &ceiling_single, &ceiling_batch, &backends, &disk_sync);
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// On a shared machine, waits (up to a minute) until other processes use less than a quarter
/// of a core, so that they do not take the CPU the runs measure; each run reports what the rest
/// of the machine used anyway.
async fn wait_for_quiet_machine() {
    let deadline = Instant::now() + secs(60);
    loop {
        let before = machine_busy().unwrap_or_default();
        tokio::time::sleep(secs(1)).await;
        let busy = machine_busy().unwrap_or_default().saturating_sub(before).as_secs_f64();
        if busy < 0.25 {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("ingest: the machine is busy ({busy:.2} cores used by others); measuring anyway");
            return;
        }
        eprintln!("ingest: waiting for a quiet machine ({busy:.2} cores busy)");
    }
}

#[derive(Debug)]
enum Engine {
    Embedded,
    Server(String),
}

async fn measure_backend(setup: &Setup, samples: &[(&str, Request)], engine: Engine, work: &Path) -> Backend {
    let larder = larder_binary();
    assert!(larder.exists(), "{} is missing: cargo build --release -p larder", larder.display());
    let dir = tempfile::tempdir_in(work).expect("temp dir");
    let data = dir.path().join("data");
    let mut env = vec![
        ("LARDER_LOG__LEVEL", "warn".to_owned()),
        ("LARDER_INGEST__RATE_LIMIT_PER_SECOND", "0".to_owned()),
        ("LARDER_INGEST__TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
        ("LARDER_STORE__DATA_DIR", data.display().to_string()),
    ];
    let database = format!("bench_ingest_{}", uuid::Uuid::new_v4().simple());
    let role = match &engine {
        Engine::Embedded => "serve",
        Engine::Server(url) => {
            env.extend([
                ("LARDER_STORE__BACKEND", "server".to_owned()),
                ("LARDER_STORE__URL", url.clone()),
                ("LARDER_STORE__DATABASE", database.clone()),
            ]);
            run_to_end(clean_command(&larder, dir.path(), &env).arg("migrate"));
            "collector"
        }
    };
    run_to_end(clean_command(&larder, dir.path(), &env).args(["sites", "add", SITE]));
    let mut command = clean_command(&larder, dir.path(), &env);
    command.args([role, "--listen", "127.0.0.1:0"]);
    let service = Service::start(command, "Larder is running at", dir.path().join("larder.log"), secs(60));
    check_samples(&service, samples, &setup.batches[0]).await;
    let single =
        measure_run(&service, setup, Phase { until_stored: true, ..Phase::new(setup, &setup.singles, 202) }).await;
    let batch =
        measure_run(&service, setup, Phase { until_stored: true, ..Phase::new(setup, &setup.batches, 202) }).await;
    // Shorter runs that show where the time of a 1-event request goes.
    let probe = |requests, status| Phase { duration: setup.measure / 2, ..Phase::new(setup, requests, status) };
    let unknown_site = measure_run(&service, setup, probe(&setup.unknown_site, 404)).await;
    let privacy_signal = measure_run(&service, setup, probe(&setup.privacy_signal, 202)).await;
    let wide =
        measure_run(&service, setup, Phase { connections: 4 * setup.connections, ..probe(&setup.singles, 202) }).await;
    let accepted = service.metrics().await.accepted();
    service.stop(secs(60));

    let store: Arc<dyn Store> = match &engine {
        Engine::Embedded => Arc::new(
            larder_store::EmbeddedStore::open(larder_store::EmbeddedConfig {
                data_dir: data.clone(),
                library: larder_benches::chdb_library(),
                read_connections: 1,
            })
            .await
            .expect("open the collector's chDB directory"),
        ),
        Engine::Server(url) => {
            let config = larder_store::ServerConfig {
                url: url.clone(),
                user: "default".into(),
                password: String::new(),
                database: database.clone(),
            };
            Arc::new(larder_store::ServerStore::new(&config).expect("server store"))
        }
    };
    let version = store.version().await.map(|v| v.text).unwrap_or_default();
    let is_server = matches!(engine, Engine::Server(_));
    let label = if is_server {
        format!("`larder collector`, ClickHouse server {version}")
    } else {
        format!("`larder serve`, chDB {version}")
    };
    let (engine_rows, engine_rows_per_second) = engine_insert(store.as_ref(), accepted).await;
    if is_server {
        store.execute(&format!("DROP DATABASE {database}")).await.expect("drop the benchmark database");
    }
    Backend { label, is_server, single, batch, unknown_site, privacy_signal, wide, engine_rows, engine_rows_per_second }
}

/// Every kind of event in the mix, and one 100-event batch, must be accepted (`202`) and none
/// dropped as a bot or for a privacy signal: otherwise the benchmark would measure refusals.
async fn check_samples(service: &Service, samples: &[(&str, Request)], batch: &Request) {
    let mut connection = Connection::open(service.addr).await.expect("connect");
    for (name, request) in samples.iter().map(|(n, r)| (*n, r)).chain([("a 100-event batch", batch)]) {
        let answer = connection.send(&request.bytes).await.expect("send a sample");
        let body = String::from_utf8_lossy(connection.body()).into_owned();
        assert_eq!(answer.status, 202, "{name} was refused: {body}");
        assert_eq!(body, format!("{{\"accepted\":{}}}", request.events), "{name}");
    }
    let metrics = service.metrics().await;
    assert_eq!(metrics.dropped(), 0, "sample events were dropped (bot or privacy signal)");
    assert_eq!(metrics.accepted(), samples.len() as u64 + batch.events, "every sample event accepted");
    eprintln!("  {} kinds of event and a batch of {} accepted", samples.len(), batch.events);
}

/// CPU counters at one instant.
#[derive(Debug)]
struct Cpu {
    server: Duration,
    generator: Duration,
    clickhouse: Option<Duration>,
    machine: Duration,
    threads: BTreeMap<String, Duration>,
}

impl Cpu {
    fn now(server: u32, clickhouse: Option<u32>) -> Self {
        Self {
            server: cpu_time(Some(server)).unwrap_or_default(),
            generator: cpu_time(None).unwrap_or_default(),
            clickhouse: clickhouse.and_then(|pid| cpu_time(Some(pid))),
            machine: machine_busy().unwrap_or_default(),
            threads: thread_cpu(server),
        }
    }
}

/// The server's threads by what they do.
fn thread_kind(name: &str) -> &'static str {
    match name {
        n if n.starts_with("actix") => "HTTP workers",
        "spool-writer" => "spool writer",
        "tokio-rt-worker" | "larder" | "ingest" => "async runtime",
        _ => "engine (chDB)",
    }
}

/// One measured run: which requests, the answer every one of them must get, how long, over
/// how many connections, and whether to wait until the accepted events are stored.
#[derive(Debug)]
struct Phase<'a> {
    requests: &'a Arc<[Request]>,
    status: u16,
    duration: Duration,
    connections: usize,
    until_stored: bool,
}

impl<'a> Phase<'a> {
    fn new(setup: &Setup, requests: &'a Arc<[Request]>, status: u16) -> Self {
        Self { requests, status, duration: setup.measure, connections: setup.connections, until_stored: false }
    }
}

/// Warm-up, then the measured run; for the collector's accepted events, also until they are
/// stored.
async fn measure_run(service: &Service, setup: &Setup, phase: Phase<'_>) -> Run {
    let Phase { requests, status, duration, connections, until_stored } = phase;
    let load = |duration| Load { connections, duration, max_requests: MAX_REQUESTS };
    let all_expected = |report: &Report| report.statuses.keys().all(|s| *s == status) && report.io_errors == 0;
    let warm = loadgen::run(service.addr, Arc::clone(requests), load(WARM_UP.min(duration))).await;
    assert!(all_expected(&warm), "warm-up: {:?} ({:?})", warm.statuses, warm.first_error);
    let before = if until_stored { Some(wait_until_stored(service).await) } else { None };
    let pid = service.pid();
    let start = Cpu::now(pid, setup.clickhouse_pid);
    let started = Instant::now();
    let report = loadgen::run(service.addr, Arc::clone(requests), load(duration)).await;
    let answered = Instant::now();
    let end = Cpu::now(pid, setup.clickhouse_pid);
    assert!(all_expected(&report), "expected only {status}: {:?} ({:?})", report.statuses, report.first_error);
    let seconds = report.elapsed.as_secs_f64();
    let cores = |end: Duration, start: Duration| end.saturating_sub(start).as_secs_f64() / seconds;
    let mut threads = BTreeMap::new();
    for (name, cpu) in &end.threads {
        let used = cores(*cpu, start.threads.get(name).copied().unwrap_or_default());
        *threads.entry(thread_kind(name)).or_default() += used;
    }
    let server_cores = cores(end.server, start.server);
    let generator_cores = cores(end.generator, start.generator);
    let clickhouse_cores = end.clickhouse.zip(start.clickhouse).map(|(e, s)| cores(e, s));
    let mut run = Run {
        connections,
        rest_cores: (cores(end.machine, start.machine)
            - server_cores
            - generator_cores
            - clickhouse_cores.unwrap_or(0.0))
        .max(0.0),
        server_cores,
        generator_cores,
        clickhouse_cores,
        threads,
        server_us_per_request: end.server.saturating_sub(start.server).as_secs_f64() * 1e6 / report.requests as f64,
        end_to_end: None,
        rss_bytes: memory(pid, "VmRSS").unwrap_or(0),
        peak_rss_bytes: memory(pid, "VmHWM").unwrap_or(0),
        report,
    };
    if let Some(before) = before {
        let after = wait_until_stored(service).await;
        let stored_at = Instant::now();
        let last = Cpu::now(pid, setup.clickhouse_pid);
        let events = after.accepted() - before.accepted();
        assert_eq!(events, run.report.events, "the collector's count of accepted events and the 202 answers agree");
        assert_eq!(after.dropped(), 0, "no event may be dropped as a bot or for a privacy signal");
        let per_event = |end: Duration, start: Duration| end.saturating_sub(start).as_secs_f64() * 1e6 / events as f64;
        let delta = |name: &str| after.get(name) - before.get(name);
        run.end_to_end = Some(EndToEnd {
            events,
            seconds: stored_at.duration_since(started).as_secs_f64(),
            tail: stored_at.duration_since(answered),
            flushes: delta("larder_collector_flushes_total"),
            flushed_events: delta("larder_collector_flush_events_sum"),
            flush_seconds: delta("larder_collector_flush_seconds_sum"),
            server_us_per_event: per_event(last.server, start.server),
            clickhouse_us_per_event: last.clickhouse.zip(start.clickhouse).map(|(e, s)| per_event(e, s)),
        });
        // The collector's own gauge, read once all is stored: the same figure as VmRSS.
        run.rss_bytes = after.get("larder_process_resident_memory_bytes") as u64;
        run.peak_rss_bytes = memory(pid, "VmHWM").unwrap_or(0);
    }
    eprintln!(
        "  {connections} connections: {} requests answered {status}, {:.0} requests/s, p99 {:?}; CPU: server {:.2}, generator {:.2}, rest {:.2}",
        run.report.requests,
        run.report.requests_per_second(),
        run.report.latency(0.99),
        run.server_cores,
        run.generator_cores,
        run.rest_cores
    );
    run
}

/// What one group commit of the spool waits for at least: `fdatasync` after appending 1 KiB
/// to a file on the spool's file system, 200 times; sorted.
fn sync_latency(dir: &Path) -> Vec<Duration> {
    use std::io::Write;
    let path = dir.join("sync-latency");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("create a file");
    let mut latencies: Vec<Duration> = (0..200)
        .map(|_| {
            file.write_all(&[b'x'; 1024]).expect("append");
            let started = Instant::now();
            file.sync_data().expect("fdatasync");
            started.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(path);
    latencies.sort_unstable();
    latencies
}

/// Polls `/metrics` until every accepted event is stored.
async fn wait_until_stored(service: &Service) -> Metrics {
    let deadline = Instant::now() + secs(120);
    loop {
        let metrics = service.metrics().await;
        if metrics.stored() >= metrics.accepted() {
            return metrics;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} accepted events still not stored after 120 s",
            metrics.accepted() - metrics.stored(),
            metrics.accepted()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads back every row the collector stored (checking there are exactly as many as it
/// accepted), then times the engine inserting those same rows again: RowBinary, 50,000 per insert.
async fn engine_insert(store: &dyn Store, accepted: u64) -> (usize, f64) {
    let rows: Vec<EventRow> = store.fetch_rows("FROM events").await.expect("read the stored rows");
    assert_eq!(rows.len() as u64, accepted, "every accepted event stored exactly once");
    store.execute("TRUNCATE TABLE events").await.expect("truncate");
    let started = Instant::now();
    for chunk in rows.chunks(ENGINE_BATCH) {
        store.insert_rows(chunk).await.expect("insert RowBinary");
    }
    (rows.len(), rows.len() as f64 / started.elapsed().as_secs_f64())
}
