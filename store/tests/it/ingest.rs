use chrono::NaiveDate;
use larder_store::ingest::{self, PendingSnapshot, SessionRow, SessionState};

use crate::helpers::{both, count};

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

#[tokio::test]
async fn salts_are_shared_per_day_and_old_days_are_dropped_whole() {
    let (_dir, stores) = both("salts").await;
    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        for (d, salt) in [("2026-11-20", "aa"), ("2026-11-21", "bb"), ("2026-11-22", "cc"), ("2026-11-22", "0c")] {
            ingest::add_salt_candidate(store, day(d), salt).await.expect("add");
        }
        let got = ingest::salt_candidates(store, &[day("2026-11-22"), day("2026-11-21")]).await.expect("read");
        let got: Vec<(String, String)> = got.into_iter().map(|c| (c.day.to_string(), c.salt_hex)).collect();
        assert_eq!(
            got,
            vec![
                ("2026-11-21".into(), "bb".into()),
                ("2026-11-22".into(), "0c".into()),
                ("2026-11-22".into(), "cc".into())
            ],
            "{kind:?}"
        );
        let dropped = ingest::drop_salts_before(store, day("2026-11-22")).await.expect("drop");
        assert_eq!(dropped, vec![day("2026-11-20"), day("2026-11-21")], "{kind:?}");
        assert_eq!(count(store, "SELECT count() FROM salts").await, 2, "{kind:?}: only the kept day remains");
    }
}

#[tokio::test]
async fn the_latest_session_of_each_visitor_is_found() {
    let (_dir, stores) = both("sessions").await;
    let d = day("2026-11-24");
    let state = |id, start, last| SessionState { session_id: id, session_start_ms: start, last_seen_ms: last };
    let rows = vec![
        SessionRow { day: d, site: "a.example".into(), visitor_id: 1, state: state(10, 100, 200) },
        SessionRow { day: d, site: "a.example".into(), visitor_id: 1, state: state(10, 100, 900) },
        SessionRow { day: d, site: "a.example".into(), visitor_id: 1, state: state(11, 5_000_000, 5_000_100) },
        SessionRow { day: d, site: "b.example".into(), visitor_id: 1, state: state(20, 300, 400) },
        SessionRow { day: day("2026-11-23"), site: "a.example".into(), visitor_id: 2, state: state(30, 1, 2) },
    ];
    for store in &stores {
        let kind = store.kind();
        store.insert_rows(&rows).await.expect("insert");
        let keys = vec![("a.example".to_owned(), 1), ("b.example".to_owned(), 1), ("a.example".to_owned(), 2)];
        let latest = ingest::latest_sessions(store.as_ref(), d, &keys).await.expect("lookup");
        assert_eq!(latest.len(), 2, "{kind:?}: visitor 2 has no session on this day: {latest:?}");
        assert_eq!(latest[&("a.example".to_owned(), 1)], state(11, 5_000_000, 5_000_100), "{kind:?}");
        assert_eq!(latest[&("b.example".to_owned(), 1)], state(20, 300, 400), "{kind:?}");
        let dropped = ingest::drop_sessions_before(store.as_ref(), d).await.expect("drop");
        assert_eq!(dropped, vec![day("2026-11-23")], "{kind:?}");
    }
}

#[tokio::test]
async fn pending_snapshots_show_live_collectors_and_compact() {
    let (_dir, stores) = both("pending").await;
    let snap = |id: &str, as_of, heartbeat, keys: Vec<u64>| PendingSnapshot {
        collector_id: id.into(),
        as_of_ms: as_of,
        heartbeat_ms: heartbeat,
        receipts: keys.iter().map(|k| k * 10).collect(),
        keys,
    };
    for store in &stores {
        let kind = store.kind();
        store.insert_rows(&[snap("a", 100, 1_000, vec![1, 2]), snap("b", 50, 500, vec![])]).await.expect("insert");
        store.insert_rows(&[snap("a", 300, 2_000, vec![7])]).await.expect("insert");
        let live = ingest::pending_snapshots(store.as_ref(), 900).await.expect("read");
        assert_eq!(live, vec![snap("a", 300, 2_000, vec![7])], "{kind:?}: the latest of a; b is silent since 500");
        assert_eq!(ingest::pending_snapshots(store.as_ref(), 0).await.expect("read").len(), 2, "{kind:?}");
        ingest::compact_snapshots(store.as_ref(), 900).await.expect("compact");
        crate::helpers::eventually(std::time::Duration::from_secs(30), "stale collector forgotten", || async {
            ingest::pending_snapshots(store.as_ref(), 0).await.expect("read") == vec![snap("a", 300, 2_000, vec![7])]
        })
        .await;
    }
}

#[tokio::test]
async fn existing_event_ids_are_found_for_idempotent_replay() {
    let (_dir, stores) = both("existing_ids").await;
    let events = crate::roundtrip::fixture(5, 3_000);
    let (stored, missing) = events.split_at(2_500);
    for store in &stores {
        store.insert_events(stored).await.expect("insert");
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id.as_uuid()).collect();
        let min = events.iter().map(|e| e.timestamp.timestamp()).min().expect("min") as u32;
        let max = events.iter().map(|e| e.timestamp.timestamp()).max().expect("max") as u32;
        let found = ingest::existing_event_ids(store.as_ref(), &ids, min, max).await.expect("lookup");
        assert_eq!(found.len(), stored.len(), "{:?}", store.kind());
        assert!(missing.iter().all(|e| !found.contains(&e.id.as_uuid())), "{:?}", store.kind());
    }
}
