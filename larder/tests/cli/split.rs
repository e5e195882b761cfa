//! `larder collector` and `larder api`: the two halves of `larder serve` as separate processes
//! against a ClickHouse server. Events posted to the collector are read through the API.

use std::time::{Duration, Instant};

use crate::helpers::{Serve, larder, run_env};

const SITE: &str = "shop.example";
const PASSWORD: &str = "correct horse battery staple";
const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

#[tokio::test]
async fn collector_and_api_run_apart_against_a_clickhouse_server() {
    let server = std::env::var("LARDER_TEST_CLICKHOUSE_URL").expect(
        "LARDER_TEST_CLICKHOUSE_URL is not set: run the tests with `make test`, which starts clickhouse-server",
    );
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let database = format!("t_split_{}", hex::encode(rand::random::<[u8; 8]>()));
    let env = [
        ("LARDER_STORE__BACKEND", "server"),
        ("LARDER_STORE__URL", server.as_str()),
        ("LARDER_STORE__DATABASE", database.as_str()),
        ("LARDER_STORE__DATA_DIR", data.to_str().expect("utf-8 path")),
        ("LARDER_INGEST__FLUSH_INTERVAL_MS", "50"),
    ];
    run_env(&env, &["migrate"], "");
    run_env(&env, &["sites", "add", SITE], "");
    run_env(
        &env,
        &["users", "add", "owner@shop.example", "--site", SITE, "--role", "owner", "--password-stdin"],
        PASSWORD,
    );

    let collector = Serve::start_role("collector", &env);
    let api = Serve::start_role("api", &env);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");

    // Each process serves its half only.
    let event = format!(r#"{{"site":"{SITE}","name":"pageview","url":"https://{SITE}/p/1"}}"#);
    let post_event = |url: &str| {
        client
            .post(format!("{url}/api/event"))
            .header("content-type", "application/json")
            .header("user-agent", CHROME)
            .body(event.clone())
            .send()
    };
    assert_eq!(post_event(&api.url).await.expect("post").status(), 404, "the API takes no events");
    let me = client.get(format!("{}/api/v1/me", collector.url)).send().await.expect("get");
    assert_eq!(me.status(), 404, "the collector serves no API");
    for url in [&collector.url, &api.url] {
        let ready = client.get(format!("{url}/readyz")).send().await.expect("readyz");
        assert_eq!(ready.status(), 200, "{url} is ready");
    }
    assert_eq!(post_event(&collector.url).await.expect("post").status(), 202, "the collector takes the event");

    // The API reads what the collector stored, with a session of a user the CLI created.
    let (cookie, _) = crate::helpers::log_in(&client, &api.url, "owner@shop.example", PASSWORD).await;
    let overview = format!("{}/api/v1/sites/{SITE}/overview?period=7d", api.url);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = client.get(&overview).header("cookie", &cookie).send().await.expect("overview");
        assert_eq!(response.status(), 200, "the overview answers");
        let body: serde_json::Value = response.json().await.expect("json");
        if body["current"]["pageviews"] == 1 {
            assert_eq!(body["current"]["visitors"], 1, "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "the event reaches the API through the store: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(api.stop().success(), "larder api exits cleanly on SIGTERM");
    assert!(collector.stop().success(), "larder collector exits cleanly on SIGTERM");
}

#[test]
fn api_refuses_the_embedded_store_and_the_demo() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let out = larder().args(["api", "--listen", "127.0.0.1:0", "--data"]).arg(&data).output().expect("run");
    assert!(!out.status.success(), "the embedded store is refused");
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("ClickHouse server") && why.contains("larder serve"), "says what to use instead: {why}");
    let out = larder()
        .args(["api", "--listen", "127.0.0.1:0", "--demo"])
        .env("LARDER_STORE__BACKEND", "server")
        .output()
        .expect("run");
    assert!(!out.status.success(), "--demo is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("larder serve --demo"), "{out:?}");
}
