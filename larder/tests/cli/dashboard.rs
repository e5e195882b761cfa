//! What `larder serve` says about the dashboard when it starts: where it is and how to log in.
//! A server that is not a demo never creates a user; `--demo` creates its owner once, with a
//! generated password printed that once, which logs in.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::{larder, run_ok};

/// Starts `larder serve` (with `extra` arguments) serving the dashboard from `dist`; returns the
/// child and its "Dashboard:" line once it has printed it and answered the printed URL (with
/// `page_status`).
fn serve(data: &Path, dist: &Path, extra: &[&str], page_status: u16) -> (std::process::Child, String) {
    let mut child = larder()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .env("LARDER_HTTP__DASHBOARD_DIR", dist)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn larder");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("Dashboard: ") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).expect("larder printed its dashboard line within 60 s");
    let url = line.split_whitespace().nth(1).expect("the dashboard's URL");
    assert_eq!(request(url, "GET", "/", "").0, page_status, "the dashboard at {url}: {line}");
    (child, line)
}

fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    assert!(child.wait().expect("wait").success(), "larder serve stopped cleanly");
}

/// An HTTP request over a plain socket (no client library); the status code and the response.
fn request(url: &str, method: &str, path: &str, json: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{json}",
        json.len()
    )
    .expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("read");
    (out.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), out)
}

fn login_status(url: &str, email: &str, password: &str) -> u16 {
    let body = serde_json::json!({ "email": email, "password": password }).to_string();
    request(url, "POST", "/api/v1/login", &body).0
}

#[test]
fn serve_prints_how_to_log_in_and_only_a_demo_creates_a_user() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).expect("dist");
    std::fs::write(dist.join("index.html"), "<!doctype html><title>Larder</title>").expect("index");
    let data_arg = data.to_str().expect("utf-8 path");

    let (child, line) = serve(&data, &dist, &[], 200);
    assert!(line.contains("no dashboard user yet") && line.contains("larder users add"), "{line}");
    assert!(!line.contains("password"), "no password without a user: {line}");
    stop(child);
    assert!(!run_ok(&["users", "list", "--data", data_arg]).contains('@'), "a plain server created no user");

    let (child, line) = serve(&data, &dist, &["--demo"], 200);
    let (url, password) = line
        .strip_prefix("Dashboard: ")
        .and_then(|rest| rest.split_once(' '))
        .map(|(url, rest)| (url.to_owned(), rest.split("the password ").nth(1).and_then(|p| p.split(' ').next())))
        .expect("url and hint");
    let password = password.unwrap_or_else(|| panic!("the demo owner's password is printed: {line}"));
    assert_eq!(password.len(), 20, "a generated password: {line}");
    assert_eq!(login_status(&url, "demo@larder.test", password), 200, "the printed password logs in");
    assert_eq!(login_status(&url, "demo@larder.test", "not the password"), 401);
    stop(child);
    let users = run_ok(&["users", "list", "--data", data_arg]);
    assert!(users.contains("demo@larder.test") && users.contains("demo.larder.test:owner"), "{users}");

    let (child, line) = serve(&data, &dist, &["--demo"], 200);
    assert!(line.contains("shown at the first start") && line.contains("reset-password"), "{line}");
    assert!(!line.contains(password), "the password is printed only once: {line}");
    stop(child);

    std::fs::remove_file(dist.join("index.html")).expect("unbuild");
    let (child, line) = serve(&data, &dist, &[], 503);
    assert!(line.contains("not built") && line.contains("npm run build"), "{line}");
    stop(child);
}
