use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use larder_core::SiteDomain;
use larder_core::fixtures::{FixtureSpec, events};
use larder_store::Store;
use larder_store::backup::{self, BackupError, BackupKey, SealError, TableSummary};
use larder_store::sites::{self, Site};

use crate::helpers::{TestDir, both, count, test_dir};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
}

/// Events of two sites, the sites (one updated, so its table holds an unmerged older version),
/// a salt and an audit line.
async fn load(store: &dyn Store) {
    let shop = SiteDomain::parse("shop.example").expect("site");
    let other = SiteDomain::parse("other.example").expect("site");
    let all = events(&FixtureSpec {
        seed: 11,
        count: 5000,
        sites: vec![shop.clone(), other.clone()],
        start: at("2026-08-01T00:00:00Z"),
        span_secs: 90 * 86_400,
        visitors: 200,
    });
    store.insert_events(&all).await.expect("insert events");
    let site = Site::new(shop, Utc::now());
    sites::add(store, &site).await.expect("add site");
    sites::add(store, &Site::new(other, Utc::now())).await.expect("add site");
    sites::update(store, &Site { retention_days: 30, ..site }).await.expect("update site");
    store
        .execute("INSERT INTO salts (day, salt, created_at) VALUES ('2026-11-24', 'secret', now())")
        .await
        .expect("salt");
}

/// Every table's count and checksum.
async fn summaries(store: &dyn Store) -> BTreeMap<String, TableSummary> {
    let mut out = BTreeMap::new();
    // The pre-aggregated visits hold engine states, which no checksum takes; see finished_visits.
    for table in backup::tables(store).await.expect("tables").into_iter().filter(|t| t != "visit_parts") {
        out.insert(table.clone(), backup::summarize(store, &table).await.expect("summary"));
    }
    out
}

/// The summaries of the tables a backup carries (not the ledger, not the salts, not the
/// pre-aggregated visits, which the restored events fill again).
fn backed_up(all: &BTreeMap<String, TableSummary>) -> BTreeMap<String, TableSummary> {
    all.iter()
        .filter(|(t, _)| !["schema_migrations", "salts", "visit_parts"].contains(&t.as_str()))
        .map(|(t, s)| (t.clone(), *s))
        .collect()
}

/// The pre-aggregated visits, finished: count and a checksum of every visit's numbers.
async fn finished_visits(store: &dyn Store) -> String {
    let out = store
        .query_raw(
            "SELECT count(), sum(cityHash64(session_id, visitor_id, started, ended, pageviews, entry_page, source, country)) \
             FROM (SELECT session_id, min(visitor_id) AS visitor_id, minMerge(s_started) AS started, \
             maxMerge(s_ended) AS ended, sumMerge(s_pageviews) AS pageviews, argMinIfMerge(s_entry_page) AS entry_page, \
             argMinMerge(s_source) AS source, minMerge(s_country) AS country FROM visit_parts GROUP BY session_id)",
            "TabSeparated",
        )
        .await
        .expect("finished visits");
    String::from_utf8_lossy(&out).trim().to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Destroys every table of the store — the embedded one (one data directory per process) by
/// dropping its database, the server's by using a new database — and migrates the new one.
async fn fresh_target(store: &Arc<dyn Store>, test: &str) -> Arc<dyn Store> {
    let target = match store.kind() {
        larder_store::BackendKind::Embedded => {
            store.execute(&format!("DROP DATABASE {}", store.database())).await.expect("drop database");
            store.execute(&format!("CREATE DATABASE {}", store.database())).await.expect("create database");
            assert_eq!(count(store.as_ref(), "SELECT count() FROM system.tables WHERE database = 'larder'").await, 0);
            Arc::clone(store)
        }
        larder_store::BackendKind::Server => {
            store.execute(&format!("DROP DATABASE {}", store.database())).await.expect("drop database");
            crate::helpers::server(test)
        }
    };
    larder_store::migrate::migrate(target.as_ref()).await.expect("migrate the fresh store");
    target
}

fn backup_dir(dir: &TestDir, store: &dyn Store, name: &str) -> std::path::PathBuf {
    dir.path().join(format!("{name}-{:?}", store.kind()))
}

#[tokio::test]
async fn a_restored_store_has_every_table_equal_to_the_backed_up_one() {
    let (dir, stores) = both("backup_drill").await;
    let key = BackupKey::generate();
    for store in &stores {
        let kind = store.kind();
        load(store.as_ref()).await;
        let before = summaries(store.as_ref()).await;
        assert!(before["events"].rows == 5000 && before["events"].checksum != 0, "{kind:?}: the fixture landed");
        assert!(before["sites"].rows == 3, "{kind:?}: the updated site's two versions are both there");
        let to = backup_dir(&dir, store.as_ref(), "drill");
        let manifest = backup::backup(store.as_ref(), &key, &to).await.expect("backup");
        let listed: BTreeMap<String, TableSummary> =
            manifest.tables.iter().map(|t| (t.name.clone(), t.summary)).collect();
        assert_eq!(listed, backed_up(&before), "{kind:?}: the manifest describes every table");
        assert!(!manifest.migrations.is_empty(), "{kind:?}: the schema versions are recorded");
        assert!(!listed.contains_key("salts"), "{kind:?}: the salts are never backed up");
        assert!(!listed.contains_key("visit_parts"), "{kind:?}: derived data is not backed up");
        let visits_before = finished_visits(store.as_ref()).await;
        assert!(!visits_before.starts_with("0\t"), "{kind:?}: the view pre-aggregated the visits");

        let target = fresh_target(store, "backup_drill").await;
        let restored = backup::restore(target.as_ref(), &key, &to, false).await.expect("restore");
        assert_eq!(restored, manifest, "{kind:?}: restore answers the manifest");
        assert_eq!(backed_up(&summaries(target.as_ref()).await), backed_up(&before), "{kind:?}: every table equal");
        assert_eq!(count(target.as_ref(), "SELECT count() FROM salts").await, 0, "{kind:?}: no salt comes back");
        assert_eq!(finished_visits(target.as_ref()).await, visits_before, "{kind:?}: the visits are computed again");
    }
}

#[tokio::test]
async fn a_wrong_key_a_changed_byte_or_a_truncated_file_is_refused_and_the_target_is_left_alone() {
    let (dir, stores) = both("backup_refused").await;
    let key = BackupKey::generate();
    for store in &stores {
        let kind = store.kind();
        load(store.as_ref()).await;
        let to = backup_dir(&dir, store.as_ref(), "good");
        backup::backup(store.as_ref(), &key, &to).await.expect("backup");
        let target = fresh_target(store, "backup_refused").await;
        let damaged = |name: &str, change: &dyn Fn(&mut Vec<u8>), file: &str| {
            let copy = backup_dir(&dir, store.as_ref(), name);
            copy_dir(&to, &copy);
            let path = copy.join(file);
            let mut bytes = std::fs::read(&path).expect("read");
            change(&mut bytes);
            std::fs::write(&path, bytes).expect("write");
            (copy, path)
        };
        let flip = |bytes: &mut Vec<u8>| {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x40;
        };
        let cut = |bytes: &mut Vec<u8>| bytes.truncate(bytes.len() - 100);
        let cases: Vec<(&str, std::path::PathBuf, std::path::PathBuf, BackupKey)> = vec![
            ("wrong key", to.clone(), to.join("manifest.json.sealed"), BackupKey::generate()),
            {
                let (copy, path) = damaged("data-flipped", &flip, "tables/events.native.sealed");
                ("flipped byte in a data file", copy, path, key.clone())
            },
            {
                let (copy, path) = damaged("manifest-flipped", &flip, "manifest.json.sealed");
                ("flipped byte in the manifest", copy, path, key.clone())
            },
            {
                let (copy, path) = damaged("data-truncated", &cut, "tables/events.native.sealed");
                ("truncated data file", copy, path, key.clone())
            },
        ];
        for (what, from, file, key) in cases {
            let error = backup::restore(target.as_ref(), &key, &from, false).await.expect_err(what);
            assert!(
                matches!(&error, BackupError::Seal(SealError::Refused { path, .. }) if *path == file),
                "{kind:?}: {what} is refused naming {}: {error}",
                file.display()
            );
            assert!(
                error.to_string().contains(&file.display().to_string()),
                "{kind:?}: {what}: message names the file"
            );
            assert_eq!(
                count(target.as_ref(), "SELECT count() FROM events").await,
                0,
                "{kind:?}: {what}: nothing restored"
            );
        }

        backup::restore(target.as_ref(), &key, &to, false).await.expect("the intact backup restores");
        let again = backup::restore(target.as_ref(), &key, &to, false).await.expect_err("target not empty");
        assert!(
            matches!(again, BackupError::TargetNotEmpty { .. }),
            "{kind:?}: a non-empty target is refused: {again}"
        );
        let before = summaries(target.as_ref()).await;
        backup::restore(target.as_ref(), &key, &to, true).await.expect("forced restore");
        assert_eq!(summaries(target.as_ref()).await, before, "{kind:?}: forcing replaces the rows, not adds to them");

        // A manifest that disagrees with the data (sealed with the right key, so only the
        // check after the restore can notice) fails the restore, naming the table.
        let mut manifest = backup::read_manifest(&key, &to).expect("manifest");
        let events = manifest.tables.iter_mut().find(|t| t.name == "events").expect("events");
        events.summary.checksum = events.summary.checksum.wrapping_add(1);
        let lying = backup_dir(&dir, store.as_ref(), "lying");
        copy_dir(&to, &lying);
        let json = serde_json::to_vec(&manifest).expect("json");
        let sealed = backup::seal::seal(&key, "manifest.json", &json).expect("seal");
        std::fs::write(lying.join("manifest.json.sealed"), sealed).expect("write");
        let error = backup::restore(target.as_ref(), &key, &lying, true).await.expect_err("mismatch");
        assert!(
            matches!(&error, BackupError::Verify { table, .. } if table == "events"),
            "{kind:?}: a restored table that differs from the manifest is reported: {error}"
        );
    }
}

#[tokio::test]
async fn a_backup_never_overwrites_a_directory_that_holds_files() {
    let dir = test_dir();
    let to = dir.path().join("existing");
    std::fs::create_dir_all(&to).expect("mkdir");
    std::fs::write(to.join("something"), "x").expect("write");
    let (_engine_dir, store) = crate::helpers::embedded().await;
    larder_store::migrate::migrate(store.as_ref()).await.expect("migrate");
    let error = backup::backup(store.as_ref(), &BackupKey::generate(), &to).await.expect_err("refused");
    assert!(matches!(error, BackupError::Exists { .. }), "{error}");
}
