//! Acknowledged events land exactly once: through a store outage, a full spool, a restart,
//! and a replay of a segment that was partly inserted before a crash.

use std::sync::Arc;
use std::time::Duration;

use larder_collector::clock::SystemClock;
use larder_collector::metrics::Metrics;
use larder_collector::spool::{Spool, SpoolLimits};

use crate::helpers::{
    Backend, DedicatedServer, FaultyLink, SITE, TestApp, config, count, eventually, server_url, store,
};

fn batch(request: usize) -> String {
    let events: Vec<String> = (0..5)
        .map(|i| format!(r#"{{"site":"{SITE}","name":"pageview","url":"https://{SITE}/r{request}/e{i}"}}"#))
        .collect();
    format!("[{}]", events.join(","))
}

/// A migrated server store, reached through a link the test can cut.
async fn store_behind_link(test: &str) -> (FaultyLink, Arc<dyn larder_store::Store>, Arc<dyn larder_store::Store>) {
    // A server store needs no directory of its own.
    let direct = store(Backend::Server, std::path::Path::new("/nonexistent"), test).await;
    let link = FaultyLink::to(&server_url()).await;
    // The same database as `direct`, reached through the link.
    let database: String = {
        let out = direct.query_raw("SELECT currentDatabase()", "TabSeparated").await.expect("db");
        String::from_utf8_lossy(&out).trim().to_owned()
    };
    let via_link: Arc<dyn larder_store::Store> = Arc::new(
        larder_store::ServerStore::new(&larder_store::ServerConfig {
            url: link.url.clone(),
            user: "default".into(),
            password: String::new(),
            database,
        })
        .expect("client"),
    );
    (link, direct, via_link)
}

/// The issue's outage drill with a real server: stop it, keep sending, start it again.
#[tokio::test]
async fn during_a_store_outage_events_are_spooled_then_land_exactly_once() {
    let dir = crate::helpers::test_dir();
    let server = DedicatedServer::start();
    let store = crate::helpers::server_store(&server.url, "outage");
    larder_store::migrate::migrate(store.as_ref()).await.expect("migrate");
    let site = larder_store::sites::Site::new(larder_core::SiteDomain::parse(SITE).expect("site"), chrono::Utc::now());
    larder_store::sites::add(store.as_ref(), &site).await.expect("site");
    let mut config = config(dir.path());
    config.spool_max_bytes = 40_000;
    let app = TestApp::start(Arc::clone(&store), config).await;
    assert_eq!(app.post(&batch(0), "203.0.113.30").await.status(), 202);
    server.stop();
    let mut acknowledged = 5u64;
    let mut refused = None;
    for request in 1..400 {
        let response = app.post(&batch(request), "203.0.113.30").await;
        match response.status().as_u16() {
            202 => acknowledged += 5,
            503 => {
                refused = Some(response.headers()["retry-after"].to_str().expect("retry-after").to_owned());
                let body: serde_json::Value = response.json().await.expect("json");
                assert_eq!(body["error"]["code"], "spool_full");
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(acknowledged >= 50, "events were accepted while the store was down: {acknowledged}");
    assert_eq!(refused.as_deref(), Some("30"), "a full spool answers 503 with Retry-After");

    server.start_again();
    eventually(Duration::from_secs(60), "every acknowledged event lands", || async {
        store
            .query_raw("SELECT count() FROM events", "TabSeparated")
            .await
            .is_ok_and(|out| String::from_utf8_lossy(&out).trim() == acknowledged.to_string())
    })
    .await;
    assert_eq!(count(store.as_ref(), "SELECT uniqExact(event_id) FROM events").await, acknowledged, "no duplicates");
    let spool = &app.collector.as_ref().expect("collector").state().spool;
    eventually(Duration::from_secs(10), "the spool drains", || async { spool.pending_bytes() == 0 }).await;
    assert_eq!(app.post(&batch(999), "203.0.113.30").await.status(), 202, "accepting again once drained");
    let metrics = app.metrics();
    assert!(metrics.contains("larder_collector_rejected_requests_total{code=\"spool_full\"} 1"), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn events_left_in_the_spool_at_shutdown_land_after_a_restart() {
    let dir = crate::helpers::test_dir();
    let (link, direct, via_link) = store_behind_link("restart_spool").await;
    let mut config = config(dir.path());
    config.shutdown_drain = Duration::from_millis(500);
    let app = TestApp::start(Arc::clone(&via_link), config.clone()).await;
    link.cut();
    for request in 0..10 {
        assert_eq!(app.post(&batch(request), "203.0.113.31").await.status(), 202);
    }
    app.stop().await; // the store is unreachable: the spool keeps the events
    assert_eq!(count(direct.as_ref(), "SELECT count() FROM events").await, 0);
    link.restore();
    let again = TestApp::start(via_link, config).await;
    eventually(Duration::from_secs(30), "the spool is replayed", || async {
        count(direct.as_ref(), "SELECT count() FROM events").await == 50
    })
    .await;
    assert_eq!(count(direct.as_ref(), "SELECT uniqExact(event_id) FROM events").await, 50);
    again.stop().await;
}

/// A crash after part of a segment was inserted: on restart the segment is replayed and only
/// the missing events are inserted.
#[tokio::test]
async fn a_partly_inserted_segment_is_replayed_without_duplicates() {
    for backend in [Backend::Embedded, Backend::Server] {
        let dir = crate::helpers::test_dir();
        let spool_dir = dir.path().join("spool");
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Metrics::register(&mut registry);
        let limits =
            SpoolLimits { max_bytes: 1 << 30, segment_max_bytes: 1 << 30, flush_interval: Duration::from_secs(3600) };
        // Write a segment through the real ingest path of a collector whose store is away…
        let (link, direct, via_link) = store_behind_link("partial").await;
        let store = match backend {
            Backend::Server => direct,
            Backend::Embedded => crate::helpers::store(Backend::Embedded, dir.path(), "partial").await,
        };
        let mut cfg = config(dir.path());
        cfg.shutdown_drain = Duration::from_millis(200);
        let app = TestApp::start(via_link, cfg.clone()).await;
        link.cut();
        for request in 0..8 {
            assert_eq!(app.post(&batch(request), "203.0.113.32").await.status(), 202);
        }
        app.stop().await;
        // …then insert half of it and mark it in flight, as a crash mid-insert would leave it.
        let (spool, mut queue) =
            Spool::open(&spool_dir, limits, Arc::new(SystemClock), metrics.clone()).expect("open spool");
        let mut segments = Vec::new();
        while let Ok(segment) = queue.try_recv() {
            segments.push(segment);
        }
        assert!(!segments.is_empty(), "{backend:?}: events waited in the spool");
        let mut all = Vec::new();
        for segment in &mut segments {
            all.extend(spool.read(segment).expect("read"));
            spool.mark_inflight(segment).expect("mark");
        }
        assert_eq!(all.len(), 40);
        let half: Vec<_> = all.iter().take(20).map(|e| e.row().expect("a spooled row decodes")).collect();
        store.insert_rows(&half).await.expect("partial insert");
        drop((spool, queue));

        let app = TestApp::start(Arc::clone(&store), cfg).await;
        eventually(Duration::from_secs(30), "the replay completes", || async {
            count(store.as_ref(), "SELECT count() FROM events").await == 40
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(count(store.as_ref(), "SELECT count() FROM events").await, 40, "{backend:?}: none twice");
        assert_eq!(count(store.as_ref(), "SELECT uniqExact(event_id) FROM events").await, 40, "{backend:?}");
        let metrics = app.metrics();
        assert!(metrics.contains("larder_collector_replay_skipped_events_total 20"), "{backend:?}: {metrics}");
        app.stop().await;
    }
}
