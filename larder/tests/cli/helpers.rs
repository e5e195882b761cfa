use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `larder` binary of this build, with no configuration file or overrides from the caller.
pub fn larder() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_larder"));
    for (key, _) in std::env::vars() {
        if key.starts_with("LARDER_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// Runs `larder ARGS` and returns its output; panics with stderr when it fails.
pub fn run_ok(args: &[&str]) -> String {
    let out = larder().args(args).output().expect("run larder");
    assert!(out.status.success(), "larder {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `larder sql --data DATA --site shop.example --format tsv QUERY`: its output, with the header.
pub fn shop_sql(data: &str, query: &str) -> String {
    run_ok(&["sql", "--data", data, "--site", "shop.example", "--format", "tsv", query])
}

pub fn run(args: &[&str]) -> Output {
    larder().args(args).output().expect("run larder")
}

/// A running `larder serve` (or `larder collector`, `larder api`), stopped with SIGTERM when
/// dropped.
pub struct Serve {
    pub child: Child,
    pub url: String,
}

impl Serve {
    pub fn start(data: &Path) -> Self {
        Self::start_with_env(data, &[])
    }

    pub fn start_with_env(data: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = larder();
        command.args(["serve", "--listen", "127.0.0.1:0", "--data"]).arg(data);
        Self::spawn(command, env)
    }

    /// Starts `larder ROLE --listen 127.0.0.1:0` (`collector`, `api`) with `env`.
    pub fn start_role(role: &str, env: &[(&str, &str)]) -> Self {
        let mut command = larder();
        command.args([role, "--listen", "127.0.0.1:0"]);
        Self::spawn(command, env)
    }

    fn spawn(mut command: Command, env: &[(&str, &str)]) -> Self {
        command.envs(env.iter().copied());
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn larder");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Larder is running at ") {
                    let _ = tx.send(url.trim_end_matches('/').to_owned());
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).expect("larder printed its URL within 60 s");
        Self { child, url }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let status = terminate(&mut self.child);
        std::mem::forget(self);
        status
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    child.wait().expect("wait")
}

impl Drop for Serve {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// Logs in through `POST {base}/api/v1/login`; the session cookie (`name=value`) and the answer.
pub async fn log_in(client: &reqwest::Client, base: &str, email: &str, password: &str) -> (String, serde_json::Value) {
    let login = client
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200, "login at {base}");
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    (cookie, login.json().await.expect("login answer"))
}

/// `larder ARGS` with `env`, its standard input fed `stdin`; panics with stderr when it fails.
pub fn run_env(env: &[(&str, &str)], args: &[&str], stdin: &str) -> String {
    let out = try_run_env(env, args, stdin);
    assert!(out.status.success(), "larder {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `larder ARGS` with `env`, its standard input fed `stdin`; whatever it answers.
pub fn try_run_env(env: &[(&str, &str)], args: &[&str], stdin: &str) -> Output {
    let mut child = larder()
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run larder");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// moto's S3-compatible server, started by scripts/s3-server.sh with the bucket `larder-test`,
/// stopped when dropped (also when the test fails).
pub struct S3Server {
    dir: tempfile::TempDir,
    pub endpoint: String,
}

fn s3_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-server.sh")
}

impl S3Server {
    pub const BUCKET: &str = "larder-test";

    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let out = Command::new(s3_script())
            .arg("start")
            .arg(dir.path())
            .arg(Self::BUCKET)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/s3-server.sh");
        let server = Self { endpoint: String::from_utf8_lossy(&out.stdout).trim().to_owned(), dir };
        assert!(out.status.success(), "scripts/s3-server.sh start failed (is moto installed? scripts/setup.sh test)");
        server
    }

    /// The environment that points `larder backup`/`restore` at this server, with credentials
    /// in the standard AWS variables (moto takes any).
    pub fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("LARDER_BACKUP__S3_ENDPOINT", self.endpoint.as_str()),
            ("LARDER_BACKUP__S3_PATH_STYLE", "true"),
            ("AWS_ACCESS_KEY_ID", "larder-test"),
            ("AWS_SECRET_ACCESS_KEY", "larder-test-secret"),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = Command::new(s3_script()).arg("stop").arg(self.dir.path()).status();
    }
}
