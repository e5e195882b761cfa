//! Cluster mode end to end, on loopback: ZooKeeper and two clickhouse-server shards started by
//! scripts/ch-cluster.sh, the schema migrated ON CLUSTER, two `larder collector` processes (one
//! connected to each shard) and one `larder api`. The same storefront traffic goes half to each
//! collector (a visitor's requests alternate between them, as behind a load balancer that is
//! not sticky) and whole to a `larder serve` on an embedded store; the overview, a funnel and
//! the search report must answer the same on both. Then `larder migrate-to-cluster` copies the
//! embedded store into the cluster, once; the data map and a deletion run on the copy.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use larder_benches::mix::{SITE, Traffic};
use serde_json::{Value, json};

use crate::helpers::{Serve, run_env, run_ok, try_run_env};

const PASSWORD: &str = "correct horse battery staple";
const OWNER: &str = "owner@shop.example";
/// Everything the test waits for must happen within this.
const DEADLINE: Duration = Duration::from_secs(60);

/// The cluster of scripts/ch-cluster.sh, stopped when dropped (also when the test fails).
struct Cluster {
    dir: PathBuf,
    urls: Vec<String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ch-cluster.sh")
}

impl Cluster {
    fn start(dir: PathBuf, shards: usize) -> Self {
        let out = Command::new(script())
            .arg("start")
            .arg(&dir)
            .arg(shards.to_string())
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/ch-cluster.sh");
        // Whatever started is stopped, even when the start failed halfway.
        let cluster = Self { dir, urls: String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect() };
        assert!(
            out.status.success(),
            "scripts/ch-cluster.sh start failed (is zookeeper installed? scripts/setup.sh test)"
        );
        assert_eq!(cluster.urls.len(), shards, "one URL per shard: {:?}", cluster.urls);
        cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.dir).status();
    }
}

/// A query's answer from one server, as text.
async fn clickhouse(client: &reqwest::Client, url: &str, sql: &str) -> String {
    let response = client.post(url).body(sql.to_owned()).send().await.expect("query clickhouse");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(status.is_success(), "{sql}: {text}");
    text.trim().to_owned()
}

/// Sends one request the traffic generator encoded (a whole HTTP/1.1 message) to `base`.
async fn send(client: &reqwest::Client, base: &str, message: &[u8]) -> u16 {
    let split = message.windows(4).position(|w| w == b"\r\n\r\n").expect("a head and a body");
    let head = String::from_utf8_lossy(&message[..split]);
    let body = message[split + 4..].to_vec();
    let mut request = client.post(format!("{base}/api/event"));
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(": ")
            && !name.eq_ignore_ascii_case("host")
            && !name.eq_ignore_ascii_case("content-length")
        {
            request = request.header(name, value);
        }
    }
    request.body(body).send().await.expect("post event").status().as_u16()
}

/// A logged-in dashboard session on an API.
struct Session {
    client: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Session {
    async fn login(client: &reqwest::Client, base: &str) -> Self {
        let (cookie, body) = crate::helpers::log_in(client, base, OWNER, PASSWORD).await;
        let csrf = body["csrf_token"].as_str().expect("csrf_token").to_owned();
        Self { client: client.clone(), base: base.to_owned(), cookie, csrf }
    }

    async fn get(&self, path: &str) -> Value {
        let url = format!("{}/api/v1/sites/{SITE}/{path}", self.base);
        let response = self.client.get(&url).header("cookie", &self.cookie).send().await.expect("get");
        assert_eq!(response.status(), 200, "{url}");
        response.json().await.expect("json")
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let url = format!("{}/api/v1/sites/{SITE}/{path}", self.base);
        let response = self
            .client
            .post(&url)
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(body)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 200, "{url}");
        response.json().await.expect("json")
    }

    /// The three reports compared, without what depends on when the events were sent (visit
    /// durations, the seconds between funnel steps): the two stores received the same requests
    /// a few milliseconds apart, so a visit's length may differ by a second's boundary.
    async fn reports(&self) -> Value {
        let mut overview = self.get("overview?period=7d").await;
        let mut funnel = self
            .post(
                "funnels/evaluate?period=7d&breakdown=source",
                &json!({ "steps": [{ "event": "view_item" }, { "event": "add_to_cart" }, { "event": "purchase" }],
                         "window_seconds": 3600 }),
            )
            .await;
        let search = self.get("search?period=7d").await;
        strip_timing(&mut overview);
        strip_timing(&mut funnel);
        json!({ "overview": overview, "funnel": funnel, "search": search })
    }
}

/// Removes, at any depth, the fields that measure time between events.
fn strip_timing(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !(key.contains("duration") || key.contains("seconds")));
            map.values_mut().for_each(strip_timing);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_timing),
        _ => {}
    }
}

/// Where two answers differ: `path: cluster != embedded`, one line a leaf.
fn differ(found: &Value, expected: &Value, path: &str, out: &mut Vec<String>) {
    match (found, expected) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                differ(
                    &a.get(key).cloned().unwrap_or(Value::Null),
                    &b.get(key).cloned().unwrap_or(Value::Null),
                    &format!("{path}.{key}"),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differ(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        match check().await {
            Ok(()) => return,
            Err(state) if Instant::now() > deadline => panic!("{what} within {DEADLINE:?}: {state}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_on_two_shards_answer_as_one_embedded_store() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("dir");
    let cluster = Cluster::start(dir.path().join("cluster"), 2);
    eprintln!("cluster (zookeeper + 2 shards) up in {:.1} s", started.elapsed().as_secs_f64());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let database = format!("t_cluster_{}", hex::encode(rand::random::<[u8; 6]>()));
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8 path").to_owned();
    let (data_1, data_2, data_api, embedded) = (path("c1"), path("c2"), path("api"), path("embedded"));
    // One spool directory each; the API and the first collector on different shards.
    let owned = |url: &str, data: &str| -> Vec<(String, String)> {
        [
            ("LARDER_STORE__BACKEND", "server"),
            ("LARDER_STORE__URL", url),
            ("LARDER_STORE__CLUSTER", "larder"),
            ("LARDER_STORE__DATABASE", database.as_str()),
            ("LARDER_STORE__DATA_DIR", data),
            ("LARDER_INGEST__FLUSH_INTERVAL_MS", "50"),
            ("LARDER_INGEST__TRUSTED_PROXIES", "127.0.0.1/32"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    let (shard_1, shard_2) = (cluster.urls[0].as_str(), cluster.urls[1].as_str());
    let owned_envs = [owned(shard_1, &data_1), owned(shard_2, &data_2), owned(shard_2, &data_api)];
    let borrowed: Vec<Vec<(&str, &str)>> =
        owned_envs.iter().map(|env| env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()).collect();
    let (env_1, env_2, env_api) = (&borrowed[0][..], &borrowed[1][..], &borrowed[2][..]);

    let migrating = Instant::now();
    run_env(env_1, &["migrate"], "");
    eprintln!("migrated ON CLUSTER in {:.1} s", migrating.elapsed().as_secs_f64());
    run_env(env_1, &["sites", "add", SITE], "");
    let add_owner = ["users", "add", OWNER, "--site", SITE, "--role", "owner", "--password-stdin"];
    run_env(env_2, &add_owner, PASSWORD);

    let env_embedded = [("LARDER_INGEST__FLUSH_INTERVAL_MS", "50"), ("LARDER_INGEST__TRUSTED_PROXIES", "127.0.0.1/32")];
    run_env(&env_embedded, &["sites", "add", SITE, "--data", &embedded], "");
    let mut add_owner_embedded = add_owner.to_vec();
    add_owner_embedded.extend(["--data", &embedded]);
    run_env(&env_embedded, &add_owner_embedded, PASSWORD);
    let single = Serve::start_with_env(Path::new(&embedded), &env_embedded);

    // One after the other: the second finds the first's salts for today and tomorrow.
    let collector_1 = Serve::start_role("collector", env_1);
    let collector_2 = Serve::start_role("collector", env_2);
    let api = Serve::start_role("api", env_api);

    // One event a request, sent one after another: each gets its own millisecond, so the
    // order of a visitor's events is the same in both stores (the events of one request share
    // their receipt time, and their order among themselves is not defined).
    let requests = Traffic::new(7, 40).requests(400, 1);
    let total: u64 = requests.iter().map(|r| r.events).sum();
    let sending = Instant::now();
    for (i, request) in requests.iter().enumerate() {
        let collector = if i % 2 == 0 { &collector_1.url } else { &collector_2.url };
        let (to_single, to_cluster) =
            tokio::join!(send(&client, &single.url, &request.bytes), send(&client, collector, &request.bytes));
        assert_eq!(to_single, 202, "the embedded store takes request {i}");
        assert_eq!(to_cluster, 202, "collector {} takes request {i}", i % 2 + 1);
    }
    eprintln!(
        "{} requests ({total} events) sent to each side in {:.1} s",
        requests.len(),
        sending.elapsed().as_secs_f64()
    );

    let count_events = format!("SELECT count() FROM {database}.events");
    eventually("every event is on the cluster", || async {
        let stored = clickhouse(&client, shard_1, &count_events).await;
        if stored == total.to_string() { Ok(()) } else { Err(format!("{stored} of {total}")) }
    })
    .await;
    let embedded_count = || {
        let out = try_run_env(&[], &["sql", "--data", &embedded, "--site", SITE, "SELECT count() FROM events"], "");
        String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim().to_owned()
    };
    eventually("every event is in the embedded store", || {
        let stored = embedded_count();
        async move { if stored == total.to_string() { Ok(()) } else { Err(format!("{stored} of {total}")) } }
    })
    .await;

    // Events are spread over both shards by visitor; the small tables are on the first shard.
    let local = format!("SELECT count() FROM {database}.events_local");
    let on_shards = [clickhouse(&client, shard_1, &local).await, clickhouse(&client, shard_2, &local).await];
    let on_shards: Vec<u64> = on_shards.iter().map(|n| n.parse().expect("a count")).collect();
    assert!(on_shards.iter().all(|n| *n > 0), "both shards hold events: {on_shards:?}");
    assert_eq!(on_shards.iter().sum::<u64>(), total, "each event is on one shard only: {on_shards:?}");
    let visitors = format!("SELECT DISTINCT visitor_id FROM {database}.events_local");
    let of_shard_1 = clickhouse(&client, shard_1, &visitors).await;
    let of_shard_2 = clickhouse(&client, shard_2, &visitors).await;
    let of_shard_1: std::collections::HashSet<&str> = of_shard_1.lines().collect();
    assert!(of_shard_2.lines().all(|v| !of_shard_1.contains(v)), "no visitor has events on both shards");
    let salts = format!("SELECT count() FROM {database}.salts_local");
    assert_eq!(clickhouse(&client, shard_2, &salts).await, "0", "the second shard holds no salt");
    assert_eq!(
        clickhouse(&client, shard_1, &salts).await,
        "2",
        "one salt for today and tomorrow: both collectors agreed"
    );

    let single_session = Session::login(&client, &single.url).await;
    let cluster_session = Session::login(&client, &api.url).await;
    let expected = single_session.reports().await;
    let found = cluster_session.reports().await;
    assert!(expected["overview"]["current"]["pageviews"].as_u64().unwrap_or(0) > 0, "pageviews counted: {expected}");
    assert!(expected["search"].to_string().len() > 100, "a search report with rows: {expected}");
    let shape = "SELECT count() AS events, uniqExact(session_id) AS visits, uniqExact(visitor_id) AS visitors, \
                 uniqExact(visitor_id, session_id) AS pairs FROM events";
    let embedded_shape = try_run_env(&[], &["sql", "--data", &embedded, "--site", SITE, "--format", "tsv", shape], "");
    let cluster_shape =
        clickhouse(&client, shard_1, &shape.replace("FROM events", &format!("FROM {database}.events"))).await;
    eprintln!("embedded: {} / cluster: {cluster_shape}", String::from_utf8_lossy(&embedded_shape.stdout).trim());
    for report in ["overview", "funnel", "search"] {
        let mut differences = Vec::new();
        differ(&found[report], &expected[report], report, &mut differences);
        assert!(differences.is_empty(), "the cluster's {report} equals the embedded store's: {differences:#?}");
    }
    drop(single_session);
    assert!(single.stop().success(), "larder serve exits cleanly");
    assert!(api.stop().success(), "larder api exits cleanly");
    assert!(collector_1.stop().success() && collector_2.stop().success(), "the collectors exit cleanly");

    // The embedded store, copied into a fresh database of the cluster; a second copy is refused.
    let copy_database = format!("{database}_copy");
    let copy_env = [("LARDER_STORE__DATABASE", copy_database.as_str())];
    let copy_args = ["migrate-to-cluster", "--data", &embedded, "--to", shard_2, "--cluster", "larder"];
    let copying = Instant::now();
    let report = run_env(&copy_env, &copy_args, "");
    eprintln!(
        "migrate-to-cluster: {} in {:.1} s",
        report.lines().last().unwrap_or(""),
        copying.elapsed().as_secs_f64()
    );
    assert!(report.contains("every table checked"), "{report}");
    let copied = clickhouse(&client, shard_1, &format!("SELECT count() FROM {copy_database}.events")).await;
    assert_eq!(copied, total.to_string(), "every event is copied");
    let sites = clickhouse(&client, shard_2, &format!("SELECT site FROM {copy_database}.sites FINAL")).await;
    assert_eq!(sites, SITE, "the site registry is copied");
    let again = try_run_env(&copy_env, &copy_args, "");
    let why = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && why.contains("already has rows"), "a second copy is refused: {why}");

    // The data map lists the tables queries use and says where their rows are.
    let copy_on_cluster = [
        ("LARDER_STORE__BACKEND", "server"),
        ("LARDER_STORE__URL", shard_2),
        ("LARDER_STORE__CLUSTER", "larder"),
        ("LARDER_STORE__DATABASE", copy_database.as_str()),
    ];
    let map: Value =
        serde_json::from_str(&run_env(&copy_on_cluster, &["datamap", "--format", "json"], "")).expect("datamap json");
    assert_eq!(map["cluster"], "larder", "the map names the cluster");
    assert_eq!(map["unannotated"], json!([]), "every column is described, no local table listed apart: {map}");

    // Deleting a whole site drops its partitions and its sessions on every shard.
    run_env(&copy_on_cluster, &["delete", "--site", SITE, "--all"], "");
    for url in [shard_1, shard_2] {
        for table in ["events_local", "visitor_sessions_local"] {
            let left = clickhouse(&client, url, &format!("SELECT count() FROM {copy_database}.{table}")).await;
            assert_eq!(left, "0", "no row of {table} left on {url}");
        }
    }
    eprintln!("cluster test done in {:.1} s", started.elapsed().as_secs_f64());
}

/// What each shard holds of `database`'s events: its row count and a checksum of its rows.
async fn events_on_shards(client: &reqwest::Client, cluster: &Cluster, database: &str) -> Vec<String> {
    let sql = format!(
        "SELECT count(), sum(cityHash64(toString(event_id), site, pathname, visitor_id, session_id, timestamp)) \
         FROM {database}.events_local"
    );
    let mut out = Vec::new();
    for url in &cluster.urls {
        out.push(clickhouse(client, url, &sql).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_is_backed_up_restored_into_a_fresh_database_and_expires_events_on_every_shard() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("dir");
    let cluster = Cluster::start(dir.path().join("cluster"), 2);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let database = format!("t_cluster_backup_{}", hex::encode(rand::random::<[u8; 6]>()));
    let restored = format!("{database}_restored");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8 path").to_owned();
    let (key, full, incremental, spool) = (path("backup.key"), path("full"), path("incremental"), path("spool"));
    let on = |database: &str| -> Vec<(String, String)> {
        [
            ("LARDER_STORE__BACKEND", "server"),
            ("LARDER_STORE__URL", cluster.urls[1].as_str()),
            ("LARDER_STORE__CLUSTER", "larder"),
            ("LARDER_STORE__DATABASE", database),
            ("LARDER_STORE__DATA_DIR", spool.as_str()),
            // Sites registered by demo-data keep 20 days; its events span 60.
            ("LARDER_PRIVACY__RETENTION_DAYS", "20"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    let (source_env, restored_env) = (on(&database), on(&restored));
    let source_env: Vec<(&str, &str)> = source_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let restored_env: Vec<(&str, &str)> = restored_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    run_env(&source_env, &["migrate"], "");
    run_env(&source_env, &["demo-data", "--site", SITE, "--events", "2000", "--days", "60"], "");
    // The fixture's visitor ids are all odd, so with two shards (sharded by visitor_id modulo
    // 2) every event lands on one; a copy of them under the next (even) ids fills the other.
    let columns = clickhouse(
        &client,
        &cluster.urls[0],
        &format!("SELECT name FROM system.columns WHERE database = '{database}' AND table = 'events'"),
    )
    .await;
    let list: Vec<String> = columns.lines().map(|c| format!("`{c}`")).collect();
    let copied: Vec<String> = list
        .iter()
        .map(|c| match c.as_str() {
            "`visitor_id`" => "visitor_id + 1".to_owned(),
            "`event_id`" => "generateUUIDv4()".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    let copy = format!(
        "INSERT INTO {database}.events ({}) SELECT {} FROM {database}.events",
        list.join(", "),
        copied.join(", ")
    );
    // Synchronously, so that the copy is on its shard when the insert returns.
    clickhouse(&client, &format!("{}/?insert_distributed_sync=1", cluster.urls[0]), &copy).await;
    let before = events_on_shards(&client, &cluster, &database).await;
    assert!(before.iter().all(|shard| !shard.starts_with("0\t")), "both shards hold events: {before:?}");

    // A backup of the whole cluster (through the Distributed tables), restored into a fresh
    // database of the same cluster: restore migrates it ON CLUSTER and checks every table.
    run_ok(&["backup", "--new-key", &key]);
    let backing_up = Instant::now();
    let out = run_env(&source_env, &["backup", "--to", &full, "--key", &key], "");
    eprintln!("cluster backup: {} in {:.1} s", out.trim().replace('\n', "; "), backing_up.elapsed().as_secs_f64());
    let out = run_env(&source_env, &["backup", "--to", &incremental, "--base", &full, "--key", &key], "");
    assert!(out.contains(": 0 chunk(s) written"), "nothing changed, nothing written: {out}");
    let restoring = Instant::now();
    let out = run_env(&restored_env, &["restore", "--from", &incremental, "--key", &key], "");
    eprintln!("cluster restore in {:.1} s", restoring.elapsed().as_secs_f64());
    assert!(out.contains("every table's count and checksum match"), "{out}");
    assert_eq!(
        events_on_shards(&client, &cluster, &restored).await,
        before,
        "each shard holds the same events as before (sharded by visitor again)"
    );
    let sites = clickhouse(&client, &cluster.urls[0], &format!("SELECT site FROM {restored}.sites_local FINAL")).await;
    assert_eq!(sites, SITE, "the small tables are back on the first shard");
    let refused = try_run_env(&restored_env, &["restore", "--from", &full, "--key", &key], "");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"), "a second restore is refused");
    run_env(&restored_env, &["restore", "--from", &full, "--key", &key, "--force"], "");
    assert_eq!(
        events_on_shards(&client, &cluster, &restored).await,
        before,
        "a forced restore truncates every shard first"
    );

    // Retention on the cluster: events older than the site's 20 days go from every shard.
    let old = format!(
        "SELECT count() FROM {database}.events_local WHERE timestamp < toDateTime(toDate(now() - INTERVAL 20 DAY))"
    );
    for url in &cluster.urls {
        assert_ne!(clickhouse(&client, url, &old).await, "0", "{url} holds old events");
    }
    let applied = run_env(&source_env, &["retention", "apply"], "");
    assert!(applied.starts_with(&format!("{SITE}: keeps 20 days")), "{applied}");
    for url in &cluster.urls {
        assert_eq!(clickhouse(&client, url, &old).await, "0", "no expired event left on {url}");
        let left = clickhouse(&client, url, &format!("SELECT count() FROM {database}.events_local")).await;
        assert_ne!(left, "0", "recent events stay on {url}");
    }
    eprintln!("cluster backup test done in {:.1} s", started.elapsed().as_secs_f64());
}
