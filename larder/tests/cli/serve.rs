use crate::helpers::{Serve, run, run_ok};

/// The columns ARCHITECTURE.md promises analysts.
const ANALYST_COLUMNS: &str = "site, timestamp, name, visitor_id, session_id, hostname, pathname, \
    referrer_source, referrer_medium, country, browser, os, device";

#[test]
fn cli_commands_work_with_and_without_a_running_serve_holding_the_data_dir() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");

    // Without a server: the CLI opens the embedded store itself.
    let loaded = run_ok(&["demo-data", "--data", data_arg, "--site", "shop.example", "--events", "3000"]);
    assert!(loaded.contains("loaded 3000 events"), "{loaded}");
    let count_sql = "SELECT count() AS n FROM events";
    let direct = run_ok(&["sql", "--data", data_arg, "--site", "shop.example", count_sql]);
    assert_eq!(direct, "\"n\"\n3000\n");

    // With `larder serve` holding the directory, the same commands go through it.
    let serve = Serve::start(&data);
    // It rolls up the visits of the demo data's past days for the reports, at start.
    let rolled = |metrics: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with("larder_rollup_days_total ")).unwrap_or_default();
        line.rsplit(' ').next().and_then(|n| n.trim().parse().ok()).unwrap_or(0)
    };
    let started = std::time::Instant::now();
    while rolled(&ureq_get(&format!("{}/metrics", serve.url))) == 0 {
        assert!(started.elapsed().as_secs() < 60, "serve rolls up the past days within a minute");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let metrics = ureq_get(&format!("{}/metrics", serve.url));
    assert!(metrics.contains("larder_rollup_failures_total 0"), "{metrics}");
    let health = run_ok(&["sites", "list", "--data", data_arg]);
    assert!(health.contains("shop.example"), "{health}");
    let through = run_ok(&["sql", "--data", data_arg, "--site", "shop.example", count_sql]);
    assert_eq!(through, direct, "the same answer through the server");

    let columns = format!("SELECT {ANALYST_COLUMNS} FROM events ORDER BY timestamp LIMIT 1");
    let row = run_ok(&["sql", "--data", data_arg, "--site", "shop.example", "--format", "jsonl", &columns]);
    let row: serde_json::Value = serde_json::from_str(row.trim()).expect("one JSON line");
    for column in ANALYST_COLUMNS.split(", ") {
        assert!(row.get(column).is_some(), "column {column} in {row}");
    }
    assert_eq!(row["site"], "shop.example");

    let added = run_ok(&["sites", "add", "other.example", "--data", data_arg]);
    assert_eq!(added.trim(), "added other.example");
    let again = run_ok(&["sites", "add", "other.example", "--data", data_arg]);
    assert_eq!(again.trim(), "other.example is already registered");
    let other = run_ok(&["sql", "--data", data_arg, "--site", "other.example", count_sql]);
    assert_eq!(other, "\"n\"\n0\n", "another site sees none of shop.example's events");

    let write = run(&["sql", "--data", data_arg, "--site", "shop.example", "ALTER TABLE events DELETE WHERE 1"]);
    assert!(!write.status.success(), "writes are refused");
    assert!(String::from_utf8_lossy(&write.stderr).contains("refused"), "{}", String::from_utf8_lossy(&write.stderr));

    let unknown = run(&["sql", "--data", data_arg, "--site", "nope.example", count_sql]);
    assert!(!unknown.status.success(), "an unknown site is an error");

    let migrated = run_ok(&["migrate", "--data", data_arg]);
    assert!(migrated.contains("0 migration(s) applied"), "{migrated}");

    let second = run(&["serve", "--listen", "127.0.0.1:0", "--data", data_arg]);
    assert!(!second.status.success(), "a second serve on the same directory fails");
    let why = String::from_utf8_lossy(&second.stderr);
    assert!(why.contains("already in use") && why.contains(&serve.url), "names the holder: {why}");

    let status = serve.stop();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status:?}");
    assert!(!data.join("larder-serve.json").exists(), "the control file is removed on exit");

    // The server wrote through the same store: its site is there after it stopped.
    let listed = run_ok(&["sites", "list", "--data", data_arg]);
    assert!(listed.contains("other.example") && listed.contains("shop.example"), "{listed}");
    assert_eq!(run_ok(&["sql", "--data", data_arg, "--site", "shop.example", count_sql]), direct);
}

#[test]
fn serve_answers_health_and_readiness() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(&dir.path().join("data"));
    for (path, want) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let body = ureq_get(&format!("{}{path}", serve.url));
        assert!(body.contains(want), "{path}: {body}");
    }
    assert!(serve.stop().success());
}

#[test]
fn a_bad_configuration_lists_every_problem_and_exits_non_zero() {
    let out = crate::helpers::larder()
        .args(["migrate"])
        .env("LARDER_STORE__READ_CONNECTIONS", "0")
        .env("LARDER_HTTP__NOPE", "1")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("read_connections") && err.contains("nope"), "{err}");
}

/// A plain HTTP GET over a TCP socket, to keep the test free of client libraries.
fn ureq_get(url: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let (host, path) = addr.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((addr, "/".into()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("read");
    out
}

/// POSTs one pageview for `site` to the collector; the status code.
fn post_pageview(url: &str, site: &str) -> u16 {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://");
    let body = format!(r#"{{"site":"{site}","name":"pageview","url":"https://{site}/"}}"#);
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "POST /api/event HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: text/plain\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("read");
    out.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

#[test]
fn a_site_added_through_a_running_serve_takes_events_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let serve = Serve::start(&data);
    // The collector has just re-read its sites (on this miss), so it would not re-read them on
    // another miss within a second: only being told of the new site lets the next event in.
    assert_eq!(post_pageview(&serve.url, "new.example"), 404, "not registered yet");
    let added = run_ok(&["sites", "add", "new.example", "--data", data.to_str().expect("utf-8 path")]);
    assert_eq!(added.trim(), "added new.example");
    assert_eq!(post_pageview(&serve.url, "new.example"), 202, "taken at once");
    assert!(serve.stop().success());
}
