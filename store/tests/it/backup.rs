use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use larder_core::SiteDomain;
use larder_core::fixtures::{FixtureSpec, events};
use larder_store::Store;
use larder_store::backup::{self, BackupError, BackupKey, Location, SealError, TableSummary, Targets};
use larder_store::deletion::{self, Deletion};
use larder_store::sites::{self, Site};

use crate::helpers::{BUCKET, S3Server, TestDir, both, count, test_dir, visits_both_ways};

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
    // The pre-aggregated visits hold engine states, which no checksum takes; see visits_both_ways.
    for table in backup::tables(store).await.expect("tables").into_iter().filter(|t| t != "visit_parts") {
        out.insert(table.clone(), backup::summarize(store, &table).await.expect("summary"));
    }
    out
}

/// The summaries of the tables a backup carries (not the ledger, not the salts, not the
/// pre-aggregated visits, which the restored events fill again).
fn backed_up(all: &BTreeMap<String, TableSummary>) -> BTreeMap<String, TableSummary> {
    all.iter()
        .filter(|(t, _)| {
            !["schema_migrations", "salts", "visit_parts", "visit_days", "day_inserts", "search_days"]
                .contains(&t.as_str())
        })
        .map(|(t, s)| (t.clone(), *s))
        .collect()
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

/// The file of the events chunk with the most rows.
fn largest_events_chunk(manifest: &backup::Manifest) -> String {
    let events = manifest.tables.iter().find(|t| t.name == "events").expect("events");
    events.chunks.iter().max_by_key(|c| c.summary.rows).expect("a chunk").file.clone()
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
        let (visits_before, _) = visits_both_ways(store.as_ref()).await;
        assert!(!visits_before.starts_with("0\t"), "{kind:?}: the view pre-aggregated the visits");

        let target = fresh_target(store, "backup_drill").await;
        let restored = backup::restore(target.as_ref(), &key, &to, false).await.expect("restore");
        assert_eq!(restored, manifest, "{kind:?}: restore answers the manifest");
        assert_eq!(backed_up(&summaries(target.as_ref()).await), backed_up(&before), "{kind:?}: every table equal");
        assert_eq!(count(target.as_ref(), "SELECT count() FROM salts").await, 0, "{kind:?}: no salt comes back");
        assert_eq!(visits_both_ways(target.as_ref()).await.0, visits_before, "{kind:?}: the visits are computed again");
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
        let manifest = backup::backup(store.as_ref(), &key, &to).await.expect("backup");
        let events_file = largest_events_chunk(&manifest);
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
                let (copy, path) = damaged("data-flipped", &flip, &events_file);
                ("flipped byte in a data file", copy, path, key.clone())
            },
            {
                let (copy, path) = damaged("manifest-flipped", &flip, "manifest.json.sealed");
                ("flipped byte in the manifest", copy, path, key.clone())
            },
            {
                let (copy, path) = damaged("data-truncated", &cut, &events_file);
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

/// Events of shop.example in one month after the fixture's (which spans August to October 2026).
async fn load_december(store: &dyn Store) {
    let shop = SiteDomain::parse("shop.example").expect("site");
    let more = events(&FixtureSpec {
        seed: 12,
        count: 400,
        sites: vec![shop],
        start: at("2026-12-02T00:00:00Z"),
        span_secs: 10 * 86_400,
        visitors: 40,
    });
    store.insert_events(&more).await.expect("insert december");
}

fn dir_location(path: &Path) -> Location {
    Location::Dir(path.to_owned())
}

/// Chunks of `table` that this backup holds itself and that it refers to in another backup.
fn held_and_referred(manifest: &backup::Manifest, table: &str) -> (usize, usize) {
    let entry = manifest.tables.iter().find(|t| t.name == table).expect("table");
    let referred = entry.chunks.iter().filter(|c| c.base.is_some()).count();
    (entry.chunks.len() - referred, referred)
}

#[tokio::test]
async fn an_incremental_backup_writes_only_changed_chunks_and_restores_the_store() {
    let (dir, stores) = both("backup_incremental").await;
    let key = BackupKey::generate();
    let targets = Targets::default();
    for store in &stores {
        let kind = store.kind();
        let source = backup::StoreSource(store.as_ref());
        load(store.as_ref()).await;
        let full = backup_dir(&dir, store.as_ref(), "full");
        let first = backup::backup_to(&source, &key, &targets, &dir_location(&full), None).await.expect("full");
        let (held, referred) = held_and_referred(&first.manifest, "events");
        assert!(held >= 6 && referred == 0, "{kind:?}: a full backup holds a chunk per site and month: {held}");
        assert_eq!(
            first.manifest.tables.iter().find(|t| t.name == "events").expect("events").chunk_key.replace(' ', ""),
            "(site,toYYYYMM(timestamp))",
            "{kind:?}: events follow their partition key"
        );

        // A new month: only its chunk (and the tables that changed) are written.
        load_december(store.as_ref()).await;
        let inc = backup_dir(&dir, store.as_ref(), "inc");
        let second = backup::backup_to(&source, &key, &targets, &dir_location(&inc), Some(&dir_location(&full)))
            .await
            .expect("incremental");
        assert_eq!(
            held_and_referred(&second.manifest, "events"),
            (1, held),
            "{kind:?}: only December's chunk is written"
        );
        assert_eq!(
            second.manifest.bases,
            vec!["../full-".to_owned() + &format!("{kind:?}")],
            "{kind:?}: refers to the full backup, relatively"
        );
        assert!(second.base_unused.is_none(), "{kind:?}: same engine and schema");
        let written_events = std::fs::read_dir(inc.join("tables/events")).expect("events dir").count();
        assert_eq!(written_events, 1, "{kind:?}: one events file in the incremental backup");
        eprintln!("{kind:?}: full backup {} bytes, incremental {} bytes", first.bytes_written, second.bytes_written);
        assert!(
            second.bytes_written * 4 < first.bytes_written,
            "{kind:?}: {} bytes vs {}",
            second.bytes_written,
            first.bytes_written
        );

        // A deletion in an old month: that chunk is written anew, in an incremental of the
        // incremental, and the chain's references go straight to the backup holding each file.
        let shop = SiteDomain::parse("shop.example").expect("site");
        let august = Deletion::selected(shop, Some(at("2026-08-01T00:00:00Z")), Some(at("2026-08-10T00:00:00Z")), None)
            .expect("deletion");
        let deleted = deletion::delete(store.as_ref(), &august).await.expect("delete").deleted_events;
        assert!(deleted > 0, "{kind:?}: events deleted in August");
        let chained = backup_dir(&dir, store.as_ref(), "chained");
        let third = backup::backup_to(&source, &key, &targets, &dir_location(&chained), Some(&dir_location(&inc)))
            .await
            .expect("incremental of an incremental");
        assert_eq!(
            held_and_referred(&third.manifest, "events"),
            (1, held),
            "{kind:?}: only August's chunk is written again"
        );
        assert_eq!(
            third.manifest.bases.len(),
            2,
            "{kind:?}: refers to the full and the first incremental: {:?}",
            third.manifest.bases
        );
        let expected = backed_up(&summaries(store.as_ref()).await);

        let target = fresh_target(store, "backup_incremental").await;
        backup::restore_from(target.as_ref(), &key, &targets, &dir_location(&chained), false).await.expect("restore");
        assert_eq!(backed_up(&summaries(target.as_ref()).await), expected, "{kind:?}: every table equal");
        let in_august = "SELECT count() FROM events WHERE site = 'shop.example' AND timestamp < '2026-08-10 00:00:00'";
        assert_eq!(count(target.as_ref(), in_august).await, 0, "{kind:?}: the deleted events are not restored");

        // The base gone: refused before anything changes, naming where it was looked for.
        let moved = dir.path().join(format!("moved-{kind:?}"));
        std::fs::rename(&full, &moved).expect("move the full backup away");
        let error = backup::restore_from(target.as_ref(), &key, &targets, &dir_location(&chained), true)
            .await
            .expect_err("base missing");
        assert!(matches!(error, BackupError::BaseUnreachable { .. }), "{kind:?}: {error}");
        assert!(error.to_string().contains(&format!("full-{kind:?}")), "{kind:?}: names the base: {error}");
        assert_eq!(backed_up(&summaries(target.as_ref()).await), expected, "{kind:?}: the target is left alone");

        // The base swapped for another backup of the same store: the same names, other bytes.
        backup::backup(target.as_ref(), &key, &full).await.expect("another full backup in its place");
        let error = backup::restore_from(target.as_ref(), &key, &targets, &dir_location(&chained), true)
            .await
            .expect_err("base swapped");
        assert!(matches!(error, BackupError::Swapped { .. }), "{kind:?}: {error}");
        assert_eq!(backed_up(&summaries(target.as_ref()).await), expected, "{kind:?}: the target is left alone");
    }
}

#[tokio::test]
async fn a_format_1_backup_still_restores() {
    let (dir, stores) = both("backup_format_1").await;
    let key = BackupKey::generate();
    for store in &stores {
        let kind = store.kind();
        load(store.as_ref()).await;
        let before = backed_up(&summaries(store.as_ref()).await);
        // What Larder wrote before chunks: one sealed file per table and a format-1 manifest.
        let old = backup_dir(&dir, store.as_ref(), "format-1");
        std::fs::create_dir_all(old.join("tables")).expect("mkdir");
        let info = backup::describe(store.as_ref()).await.expect("describe");
        let mut tables = Vec::new();
        for table in &info.tables {
            let data = store.query_raw(&format!("SELECT * FROM {table}"), "Native").await.expect("read table");
            let name = format!("tables/{table}.native");
            std::fs::write(old.join(format!("{name}.sealed")), backup::seal::seal(&key, &name, &data).expect("seal"))
                .expect("write");
            let summary = backup::summarize(store.as_ref(), table).await.expect("summary");
            tables.push(serde_json::json!({
                "name": table, "file": format!("{name}.sealed"), "rows": summary.rows,
                "checksum": summary.checksum, "bytes": data.len(),
            }));
        }
        let manifest = serde_json::json!({
            "format": 1, "larder_version": "0.1.0", "engine": info.engine, "engine_version": info.engine_version,
            "created_at": "2026-11-24T03:00:00Z", "migrations": info.migrations, "tables": tables,
        });
        let json = serde_json::to_vec(&manifest).expect("json");
        std::fs::write(
            old.join("manifest.json.sealed"),
            backup::seal::seal(&key, "manifest.json", &json).expect("seal"),
        )
        .expect("write");

        let target = fresh_target(store, "backup_format_1").await;
        let restored = backup::restore(target.as_ref(), &key, &old, false).await.expect("a format-1 backup restores");
        assert_eq!(restored.format, 1, "{kind:?}");
        assert_eq!(backed_up(&summaries(target.as_ref()).await), before, "{kind:?}: every table equal");
        // An incremental backup on a format-1 base writes every chunk (format 1 has none to refer to).
        let report = backup::backup_to(
            &backup::StoreSource(target.as_ref()),
            &key,
            &Targets::default(),
            &dir_location(&backup_dir(&dir, store.as_ref(), "after-format-1")),
            Some(&dir_location(&old)),
        )
        .await
        .expect("incremental on a format-1 base");
        assert_eq!(report.chunks_reused, 0, "{kind:?}: nothing referred to");
    }
}

#[tokio::test]
async fn a_backup_in_a_bucket_restores_and_a_wrong_key_or_a_changed_object_is_refused() {
    let s3 = S3Server::start();
    let targets = s3.targets();
    let (_dir, stores) = both("backup_s3").await;
    let key = BackupKey::generate();
    for store in &stores {
        let kind = store.kind();
        let source = backup::StoreSource(store.as_ref());
        load(store.as_ref()).await;
        let full = Location::parse(&format!("s3://{BUCKET}/{kind:?}/full")).expect("location");
        let first = backup::backup_to(&source, &key, &targets, &full, None).await.expect("backup to the bucket");
        let again = backup::backup_to(&source, &key, &targets, &full, None).await.expect_err("not twice");
        assert!(matches!(again, BackupError::Exists { .. }), "{kind:?}: a prefix with objects is refused: {again}");
        load_december(store.as_ref()).await;
        let inc = Location::parse(&format!("s3://{BUCKET}/{kind:?}/inc")).expect("location");
        let second =
            backup::backup_to(&source, &key, &targets, &inc, Some(&full)).await.expect("incremental in the bucket");
        assert_eq!(
            second.manifest.bases,
            vec!["../full".to_owned()],
            "{kind:?}: a relative reference inside the bucket"
        );
        assert!(second.chunks_reused > 0 && second.bytes_written < first.bytes_written, "{kind:?}");
        let expected = backed_up(&summaries(store.as_ref()).await);

        // Nothing in the bucket is readable without the key.
        let (full_storage, inc_storage) = (targets.open(&full).expect("open"), targets.open(&inc).expect("open"));
        for (storage, manifest) in [(&full_storage, &first.manifest), (&inc_storage, &second.manifest)] {
            let names =
                manifest.tables.iter().flat_map(|t| &t.chunks).filter(|c| c.base.is_none()).map(|c| c.file.clone());
            for name in names.chain(["manifest.json.sealed".to_owned()]) {
                let bytes = storage.get(&name).await.expect("get").expect("the object exists");
                assert!(!bytes.windows(12).any(|w| w == b"shop.example"), "{kind:?}: {name} is encrypted");
            }
        }

        let target = fresh_target(store, "backup_s3").await;
        backup::restore_from(target.as_ref(), &key, &targets, &inc, false).await.expect("restore from the bucket");
        assert_eq!(backed_up(&summaries(target.as_ref()).await), expected, "{kind:?}: every table equal");

        let error = backup::restore_from(target.as_ref(), &key.clone(), &targets, &inc, true).await;
        assert!(error.is_ok(), "{kind:?}: a forced restore from the bucket: {error:?}");
        let wrong = backup::restore_from(target.as_ref(), &BackupKey::generate(), &targets, &inc, true)
            .await
            .expect_err("wrong key");
        assert!(
            matches!(&wrong, BackupError::Seal(SealError::Refused { .. }))
                && wrong.to_string().contains(&format!("s3://{BUCKET}/{kind:?}/inc/manifest.json.sealed")),
            "{kind:?}: a wrong key is refused naming the manifest: {wrong}"
        );
        // A changed byte in an object of the base the incremental refers to.
        let file = largest_events_chunk(&first.manifest);
        let mut bytes = full_storage.get(&file).await.expect("get").expect("exists");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        full_storage.put(&file, bytes).await.expect("put the changed object");
        let changed = backup::restore_from(target.as_ref(), &key, &targets, &inc, true).await.expect_err("changed");
        assert!(
            matches!(&changed, BackupError::Swapped { .. }) && changed.to_string().contains(&file),
            "{kind:?}: a changed object is refused naming it: {changed}"
        );
        let direct = backup::restore_from(target.as_ref(), &key, &targets, &full, true).await.expect_err("changed");
        assert!(
            matches!(&direct, BackupError::Seal(SealError::Refused { .. })) && direct.to_string().contains(&file),
            "{kind:?}: the full backup's own changed object is refused by its seal: {direct}"
        );
        assert_eq!(backed_up(&summaries(target.as_ref()).await), expected, "{kind:?}: the target is left alone");
    }
}
