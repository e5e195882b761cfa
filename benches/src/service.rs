//! Servers under measurement as child processes: the real `larder` binary, or the bare-handler
//! ceiling. Each is started with a clean `LARDER_*` environment in its own directory, found by
//! the address it prints, and stopped (SIGTERM, then SIGKILL) when dropped at the latest.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `larder` binary built beside the benchmarks (`target/release/larder`), or
/// `LARDER_BENCH_LARDER`.
pub fn larder_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LARDER_BENCH_LARDER") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the benchmark's own path");
    exe.with_file_name("larder")
}

/// A command with the inherited `LARDER_SECTION__KEY` settings removed and `./larder.toml`
/// out of reach, so that only what the benchmark sets applies.
pub fn clean_command(program: &Path, dir: &Path, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if (name.starts_with("LARDER_") && name.contains("__")) || name == "LARDER_CONFIG" {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

/// Runs a command to completion.
///
/// # Panics
/// When it fails: the benchmark cannot go on without its setup.
pub fn run_to_end(command: &mut Command) {
    let out = command.output().expect("run a setup command");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running server process.
#[derive(Debug)]
pub struct Service {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Service {
    /// Starts `command` (stdout piped, stderr to `log`) and waits until it prints a line that
    /// contains `marker` followed by `http://ADDR/`.
    ///
    /// # Panics
    /// When it exits or prints nothing of the kind within `timeout`.
    pub fn start(mut command: Command, marker: &str, log: PathBuf, timeout: Duration) -> Self {
        let stderr = std::fs::File::create(&log).expect("create the server's log");
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr);
        let mut child = command.spawn().unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (found, address) = mpsc::channel();
        let marker = marker.to_owned();
        // Reads stdout for the whole life of the child so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split_once(&marker).map(|(_, rest)| rest)
                    && let Some(addr) = rest.trim().strip_prefix("http://")
                    && let Ok(addr) = addr.trim_end_matches('/').parse::<SocketAddr>()
                {
                    let _ = found.send(addr);
                }
            }
        });
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(addr) = address.recv_timeout(Duration::from_millis(50)) {
                return Self { child, addr, log };
            }
            let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{command:?} exited ({status}) before listening:\n{}", log_text());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{command:?} did not listen within {timeout:?}:\n{}", log_text());
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits up to `grace` for a clean exit, else SIGKILL.
    pub fn stop(mut self, grace: Duration) {
        self.terminate(grace);
    }

    fn terminate(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop within {grace:?}; killing it (log: {})", self.child.id(), self.log.display());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's Prometheus metrics, by series (`name{labels}`).
    ///
    /// # Panics
    /// When `/metrics` does not answer `200`.
    pub async fn metrics(&self) -> Metrics {
        let (status, body) = crate::loadgen::get(self.addr, "/metrics").await.expect("GET /metrics");
        assert_eq!(status, 200, "GET /metrics: {}", String::from_utf8_lossy(&body));
        let text = String::from_utf8_lossy(&body);
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .filter_map(|(name, value)| Some((name.to_owned(), value.parse::<f64>().ok()?)))
            .collect();
        Metrics { series }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(5));
    }
}

/// One scrape of `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    series: BTreeMap<String, f64>,
}

impl Metrics {
    /// A series by its exact name with labels (0 when absent).
    pub fn get(&self, series: &str) -> f64 {
        self.series.get(series).copied().unwrap_or(0.0)
    }

    /// The sum of a metric's series whose labels contain `label` (case-insensitive).
    pub fn sum_with(&self, name: &str, label: &str) -> f64 {
        let label = label.to_ascii_lowercase();
        self.series
            .iter()
            .filter(|(s, _)| s.split('{').next() == Some(name) && s.to_ascii_lowercase().contains(&label))
            .map(|(_, v)| v)
            .sum()
    }

    /// Events the collector accepted into its spool.
    pub fn accepted(&self) -> u64 {
        self.sum_with("larder_collector_events_total", "outcome=\"accepted\"") as u64
    }

    /// Events the batcher wrote to the store.
    pub fn stored(&self) -> u64 {
        self.get("larder_collector_stored_events_total") as u64
    }

    /// Events accepted but deliberately not recorded (bots, privacy signals).
    pub fn dropped(&self) -> u64 {
        self.sum_with("larder_collector_dropped_events_total", "") as u64
    }
}
