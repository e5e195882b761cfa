//! `larder backup` and `larder restore` as an operator runs them on the embedded store: a new
//! key, a backup, the data directory destroyed, a restore into a fresh one; damaged backups and
//! wrong keys refused.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::helpers::{Serve, larder, run, run_ok};

/// What `larder sql` sees of shop.example's events: count and a checksum of the rows.
fn fingerprint(data: &str) -> String {
    run_ok(&[
        "sql",
        "--data",
        data,
        "--site",
        "shop.example",
        "--format",
        "tsv",
        "SELECT count(), sum(cityHash64(toString(event_id), pathname, visitor_id, timestamp)) FROM events",
    ])
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
