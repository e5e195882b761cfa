//! SIGKILL while flushing: after restarts, exactly the acknowledged events are stored, each once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::helpers::{Serve, larder, run_ok, shop_sql};

const SITE: &str = "shop.example";
const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

/// Sends requests of 5 events each, with unique paths, until `stop` says so; returns the paths
/// whose request was acknowledged (202).
async fn load(url: String, first: usize, until: Instant) -> (Vec<String>, usize) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let mut acknowledged = Vec::new();
    let mut sent = 0;
    let mut n = first;
    while Instant::now() < until {
        let paths: Vec<String> = (0..5).map(|i| format!("/k/{n}/{i}")).collect();
        let body: Vec<String> = paths
            .iter()
            .map(|p| format!(r#"{{"site":"{SITE}","name":"pageview","url":"https://{SITE}{p}"}}"#))
            .collect();
        n += 1;
        sent += 5;
        let response = client
            .post(format!("{url}/api/event"))
            .header("content-type", "application/json")
            .header("user-agent", CHROME)
            .body(format!("[{}]", body.join(",")))
            .send()
            .await;
        match response {
            Ok(r) if r.status() == 202 => acknowledged.extend(paths),
            Ok(r) => panic!("unexpected status {}", r.status()),
            // The server was killed under this request: not acknowledged.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    (acknowledged, sent)
}

fn kill_9(serve: Serve) {
    let _ = std::process::Command::new("kill").arg("-KILL").arg(serve.child.id().to_string()).status();
    let mut serve = serve;
    let _ = serve.child.wait();
    std::mem::forget(serve);
}

#[tokio::test]
async fn sigkill_while_flushing_loses_and_duplicates_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8").to_owned();
    run_ok(&["sites", "add", SITE, "--data", &data_arg]);
    let env = [("LARDER_INGEST__FLUSH_INTERVAL_MS", "30"), ("LARDER_INGEST__RATE_LIMIT_PER_SECOND", "0")];

    let mut acknowledged: Vec<String> = Vec::new();
    let mut sent_total = 0;
    for round in 0..3 {
        let serve = Serve::start_with_env(&data, &env);
        let url = serve.url.clone();
        // Two concurrent senders for 1.2 s; the server is killed 0.8 s in, mid-flush.
        let until = Instant::now() + Duration::from_millis(1200);
        let a = tokio::spawn(load(url.clone(), round * 1_000_000, until));
        let b = tokio::spawn(load(url, round * 1_000_000 + 500_000, until));
        tokio::time::sleep(Duration::from_millis(800)).await;
        kill_9(serve);
        for task in [a, b] {
            let (acked, sent) = task.await.expect("sender");
            acknowledged.extend(acked);
            sent_total += sent;
        }
    }
    assert!(acknowledged.len() > 100, "the load got through before each kill: {}", acknowledged.len());

    // A last start replays whatever the kills left in the spool.
    let serve = Serve::start_with_env(&data, &env);
    let readyz = format!("{}/readyz", serve.url);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: serde_json::Value = client.get(&readyz).send().await.expect("readyz").json().await.expect("json");
        if body["spool_bytes"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the spool drains after the restart: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = shop_sql(&data_arg, "SELECT pathname, count() FROM events GROUP BY pathname");
    assert!(serve.stop().success());
    let stored: HashMap<String, u64> = out
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once('\t'))
        .map(|(path, n)| (path.to_owned(), n.parse().expect("count")))
        .collect();
    let duplicated: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "no event stored twice: {duplicated:?}");
    let missing: Vec<_> = acknowledged.iter().filter(|p| !stored.contains_key(*p)).collect();
    assert!(missing.is_empty(), "{} acknowledged events lost, e.g. {:?}", missing.len(), missing.first());
    let acked: HashSet<&String> = acknowledged.iter().collect();
    let extra = stored.keys().filter(|p| !acked.contains(p)).count();
    // Events fsynced just before a kill whose answer never left are stored without an
    // acknowledgement; never more than the requests in flight at each kill.
    assert!(extra <= 3 * 2 * 5, "only in-flight events land unacknowledged: {extra}");
    assert!(stored.len() <= sent_total, "nothing invented");
    eprintln!(
        "sent {sent_total}, acknowledged {}, stored {}, stored unacknowledged {extra}",
        acknowledged.len(),
        stored.len()
    );
    let _ = larder;
}
