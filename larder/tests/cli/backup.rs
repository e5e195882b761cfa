//! `larder backup` and `larder restore` as an operator runs them on the embedded store: a new
//! key, a backup, the data directory destroyed, a restore into a fresh one; damaged backups and
//! wrong keys refused.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::helpers::{S3Server, Serve, larder, run, run_env, run_ok, shop_sql, try_run_env};

/// What `larder sql` sees of shop.example's events: count and a checksum of the rows.
fn fingerprint(data: &str) -> String {
    shop_sql(data, "SELECT count(), sum(cityHash64(toString(event_id), pathname, visitor_id, timestamp)) FROM events")
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry")) {
        if entry.file_type().expect("type").is_dir() {
            out.extend(files_under(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

/// The largest file under `dir`.
fn largest_file(dir: &Path) -> PathBuf {
    files_under(dir).into_iter().max_by_key(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).expect("a file")
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn refused(args: &[&str], wanted: &[&str]) {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "larder {args:?} must fail");
    for want in wanted {
        assert!(stderr.contains(want), "larder {args:?}: {want:?} in {stderr}");
    }
    assert!(!stderr.contains("panicked"), "larder {args:?} fails cleanly: {stderr}");
}

#[test]
fn a_backup_restores_into_a_fresh_data_directory_and_damage_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8 path").to_owned();
    let (data, key, backup) = (path("data"), path("backup.key"), path("backup-1"));
    let loaded = larder()
        .args(["demo-data", "--data", &data, "--site", "shop.example", "--events", "3000", "--days", "20"])
        .output()
        .expect("demo-data");
    assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));
    let before = fingerprint(&data);
    let sites_before = run_ok(&["sites", "list", "--data", &data]);

    run_ok(&["backup", "--new-key", &key]);
    let mode = std::fs::metadata(&key).expect("key file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the key file is readable by its owner only");
    refused(&["backup", "--new-key", &key], &["already exists"]);

    let out = run_ok(&["backup", "--data", &data, "--to", &backup, "--key", &key]);
    assert!(out.contains("backed up") && out.contains(&backup), "{out}");
    refused(&["backup", "--data", &data, "--to", &backup, "--key", &key], &["not empty"]);
    for file in files_under(&dir.path().join("backup-1")) {
        let raw = std::fs::read(&file).expect("sealed file");
        assert!(!contains(&raw, b"shop.example"), "{} is encrypted", file.display());
    }

    // Disaster: the data directory is gone.
    std::fs::remove_dir_all(&data).expect("destroy the data directory");
    let out = run_ok(&["restore", "--data", &data, "--from", &backup, "--key", &key]);
    assert!(out.contains("every table's count and checksum match"), "{out}");
    assert_eq!(fingerprint(&data), before, "the events are back, row for row");
    assert_eq!(run_ok(&["sites", "list", "--data", &data]), sites_before, "the sites are back");
    refused(&["restore", "--data", &data, "--from", &backup, "--key", &key], &["not empty"]);
    run_ok(&["restore", "--data", &data, "--from", &backup, "--key", &key, "--force"]);
    assert_eq!(fingerprint(&data), before, "a forced restore replaces the rows");

    // A wrong key and a changed byte are refused, naming the file, and restore nothing.
    let other_key = path("other.key");
    run_ok(&["backup", "--new-key", &other_key]);
    let fresh = path("fresh");
    refused(
        &["restore", "--data", &fresh, "--from", &backup, "--key", &other_key],
        &["manifest.json.sealed", "wrong key"],
    );
    let events_file = largest_file(&dir.path().join("backup-1/tables/events"));
    let events_name = events_file.file_name().and_then(|n| n.to_str()).expect("a file name").to_owned();
    let mut bytes = std::fs::read(&events_file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&events_file, bytes).expect("write");
    refused(&["restore", "--data", &fresh, "--from", &backup, "--key", &key], &[&events_name, "changed"]);
    let sites = run_ok(&["sites", "list", "--data", &fresh]);
    assert!(!sites.contains("shop.example"), "nothing was restored from the damaged backup: {sites}");
}

#[test]
fn a_backup_through_a_running_serve_restores_and_restore_waits_for_serve_to_stop() {
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8 path").to_owned();
    let (data, key, backup, fresh) = (path("data"), path("backup.key"), path("backup"), path("fresh"));
    let loaded = larder()
        .args(["demo-data", "--data", &data, "--site", "shop.example", "--events", "2000", "--days", "10"])
        .output()
        .expect("demo-data");
    assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));
    run_ok(&["backup", "--new-key", &key]);
    let serve = Serve::start(&dir.path().join("data"));
    let before = fingerprint(&data);

    let out = run_ok(&["backup", "--data", &data, "--to", &backup, "--key", &key]);
    assert!(out.contains("backed up"), "{out}");
    refused(&["restore", "--data", &data, "--from", &backup, "--key", &key], &["stop it before restoring"]);
    assert!(serve.stop().success(), "serve stops cleanly");

    run_ok(&["restore", "--data", &fresh, "--from", &backup, "--key", &key]);
    assert_eq!(fingerprint(&fresh), before, "the backup taken through serve restores row for row");
}

/// `larder sql` of one count over shop.example's events.
fn count_events(data: &str, condition: &str) -> u64 {
    let out = shop_sql(data, &format!("SELECT count() FROM events WHERE {condition}"));
    out.lines().last().and_then(|l| l.trim().parse().ok()).expect("a count")
}

/// The number before `what` in `larder backup`'s report, e.g. `12 byte(s) written`.
fn reported(out: &str, what: &str) -> u64 {
    let at = out.find(what).unwrap_or_else(|| panic!("{what:?} in {out}"));
    out[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number before {what:?} in {out}"))
}

#[test]
fn incremental_backups_in_a_bucket_and_a_directory_restore_and_a_missing_base_is_refused() {
    let s3 = S3Server::start();
    let env = s3.env();
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8 path").to_owned();
    let (data, key, fresh) = (path("data"), path("backup.key"), path("fresh"));
    let bucket = |prefix: &str| format!("s3://{}/nightly/{prefix}", S3Server::BUCKET);
    run_env(&env, &["demo-data", "--data", &data, "--site", "shop.example", "--events", "3000", "--days", "70"], "");
    run_ok(&["backup", "--new-key", &key]);

    let full = run_env(&env, &["backup", "--data", &data, "--to", &bucket("full"), "--key", &key], "");
    assert!(full.contains(&format!("to {}", bucket("full"))), "{full}");
    let full_bytes = reported(&full, "byte(s) written");
    let refused_again = try_run_env(&env, &["backup", "--data", &data, "--to", &bucket("full"), "--key", &key], "");
    assert!(
        String::from_utf8_lossy(&refused_again.stderr).contains("not empty"),
        "a prefix that holds a backup is refused"
    );

    // Today's events: only this month's chunk of events (and the small tables that changed) is new.
    run_env(
        &env,
        &["demo-data", "--data", &data, "--site", "shop.example", "--events", "200", "--days", "1", "--seed", "2"],
        "",
    );
    let inc = run_env(
        &env,
        &["backup", "--data", &data, "--to", &bucket("inc-1"), "--base", &bucket("full"), "--key", &key],
        "",
    );
    let (written, reused, inc_bytes) =
        (reported(&inc, "chunk(s) written"), reported(&inc, "unchanged chunk(s)"), reported(&inc, "byte(s) written"));
    eprintln!(
        "full backup {full_bytes} bytes; incremental {inc_bytes} bytes ({written} chunk(s) written, {reused} referred to)"
    );
    assert!(reused >= 2 && inc.contains("referred to in ../full"), "older months are referred to: {inc}");
    assert!(inc_bytes * 2 < full_bytes, "the incremental writes less: {inc_bytes} vs {full_bytes}");

    // A deletion in an old month: its chunk is written again, in a local incremental of the
    // bucket's incremental (which refers to both bucket backups by their full URL).
    let now = chrono::Utc::now();
    let (from, to) = (
        (now - chrono::Duration::days(62)).format("%F").to_string(),
        (now - chrono::Duration::days(55)).format("%F").to_string(),
    );
    let in_range = format!("timestamp >= '{from} 00:00:00' AND timestamp < '{to} 00:00:00'");
    assert!(count_events(&data, &in_range) > 0, "events in the range");
    run_ok(&["delete", "--data", &data, "--site", "shop.example", "--from", &from, "--to", &to]);
    let local = path("inc-2");
    let chained =
        run_env(&env, &["backup", "--data", &data, "--to", &local, "--base", &bucket("inc-1"), "--key", &key], "");
    assert!(chained.contains(&bucket("full")) && chained.contains(&bucket("inc-1")), "refers to both: {chained}");
    let before = fingerprint(&data);

    std::fs::remove_dir_all(&data).expect("destroy the data directory");
    let out = run_env(&env, &["restore", "--data", &data, "--from", &local, "--key", &key], "");
    assert!(out.contains("every table's count and checksum match"), "{out}");
    assert_eq!(fingerprint(&data), before, "the events are back, row for row");
    assert_eq!(count_events(&data, &in_range), 0, "the deleted events are not");

    // From the bucket with a wrong key; then an incremental whose base is gone.
    let other_key = path("other.key");
    run_ok(&["backup", "--new-key", &other_key]);
    let wrong = try_run_env(&env, &["restore", "--data", &fresh, "--from", &bucket("inc-1"), "--key", &other_key], "");
    let why = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        !wrong.status.success() && why.contains("inc-1/manifest.json.sealed") && why.contains("wrong key"),
        "{why}"
    );
    let (base, on_base) = (path("base"), path("on-base"));
    run_ok(&["backup", "--data", &data, "--to", &base, "--key", &key]);
    run_ok(&["backup", "--data", &data, "--to", &on_base, "--base", &base, "--key", &key]);
    std::fs::remove_dir_all(&base).expect("lose the base");
    refused(
        &["restore", "--data", &fresh, "--from", &on_base, "--key", &key],
        &["is missing", &format!("refers to the backup at {base}")],
    );
    refused(&["backup", "--data", &data, "--to", &path("x"), "--base", &base, "--key", &key], &["has no manifest"]);
    let sites = run_ok(&["sites", "list", "--data", &fresh]);
    assert!(!sites.contains("shop.example"), "nothing was restored without the base: {sites}");
}
