//! The raw IP address and the raw user agent never reach disk, logs or ClickHouse.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{BOTH, Backend, SITE, TestApp, config, count, eventually, store};

const CANARY_IP: &str = "198.51.100.123";
const CANARY_IP_BYTES: [u8; 4] = [198, 51, 100, 123];
const CANARY_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) PrivacyCanary/7.7.7 Chrome/130.0.0.0 Safari/537.36";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn assert_absent(what: &str, haystack: &[u8]) {
    let text = String::from_utf8_lossy(haystack);
    assert!(!text.contains(CANARY_IP), "{what} holds the client IP");
    assert!(!text.contains("PrivacyCanary"), "{what} holds the user agent");
    assert!(!haystack.windows(4).any(|w| w == CANARY_IP_BYTES), "{what} holds the IP's bytes");
}

#[tokio::test]
async fn raw_ip_and_user_agent_never_reach_disk_logs_or_clickhouse() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    for backend in BOTH {
        let dir = crate::helpers::test_dir();
        let store = store(backend, dir.path(), "privacy").await;
        let mut config = config(dir.path());
        // Keep events in the spool long enough to inspect it.
        config.flush_interval = Duration::from_secs(3600);
        let app = TestApp::start(Arc::clone(&store), config).await;
        let headers = [("content-type", "application/json"), ("x-forwarded-for", CANARY_IP), ("user-agent", CANARY_UA)];
        let events = format!(
            r#"[{{"site":"{SITE}","name":"pageview","url":"https://{SITE}/p/1","referrer":"https://duckduckgo.com/"}},
               {{"site":"{SITE}","name":"rage_click","url":"https://{SITE}/p/1","ux":{{"selector":"button.buy"}}}}]"#
        );
        assert_eq!(app.post_with(&events, &headers).await.status(), 202, "{backend:?}");
        // Error paths must not echo them either.
        let bad = app.post_with(r#"{"site":"shop.example","name":"","url":"x"}"#, &headers).await;
        assert_eq!(bad.status(), 422);
        assert_absent("an error response", &bad.bytes().await.expect("body"));

        let spool = dir.path().join("spool");
        let mut files = Vec::new();
        files_under(&spool, &mut files);
        assert!(!files.is_empty(), "{backend:?}: the events wait in the spool");
        for file in &files {
            assert_absent(&format!("{backend:?}: spool file {}", file.display()), &std::fs::read(file).expect("read"));
        }

        app.stop().await; // flushes the spool into the store
        eventually(Duration::from_secs(20), "events stored", || async {
            count(store.as_ref(), "SELECT count() FROM events").await == 2
        })
        .await;
        #[derive(serde::Deserialize)]
        struct Table {
            name: String,
        }
        let tables: Vec<Table> = store
            .fetch_json("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
            .await
            .expect("tables");
        assert!(tables.len() >= 10, "{backend:?}: every table is checked");
        for table in tables {
            let dump =
                store.query_raw(&format!("SELECT * FROM {} FORMAT TabSeparated", table.name), "TabSeparated").await;
            let dump = dump.unwrap_or_else(|e| panic!("{backend:?}: dump {}: {e}", table.name));
            assert_absent(&format!("{backend:?}: table {}", table.name), &dump);
        }
        if backend == Backend::Embedded {
            let mut files = Vec::new();
            files_under(&dir.path().join("data"), &mut files);
            assert!(files.len() > 10, "the engine's files are checked");
            for file in files {
                assert_absent(&format!("engine file {}", file.display()), &std::fs::read(&file).unwrap_or_default());
            }
        }
    }
    let logs = logs.0.lock().expect("logs").clone();
    assert!(String::from_utf8_lossy(&logs).contains("collector started"), "logs were captured");
    assert_absent("the logs", &logs);
}
