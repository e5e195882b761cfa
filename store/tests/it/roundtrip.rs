use chrono::DateTime;
use larder_core::fixtures::{FixtureSpec, events};
use larder_core::{Event, SiteDomain};
use larder_store::EventRow;
use larder_store::rowbinary::Row;

use crate::helpers::{both, count};

pub fn fixture(seed: u64, count: usize) -> Vec<Event> {
    events(&FixtureSpec {
        seed,
        count,
        sites: vec![
            SiteDomain::parse("shop.example").expect("site"),
            SiteDomain::parse("other.example").expect("site"),
        ],
        start: DateTime::from_timestamp(1_790_000_000, 0).expect("start"),
        span_secs: 30 * 86_400,
        visitors: 5_000,
    })
}

#[tokio::test]
async fn a_batch_of_100k_events_round_trips_with_every_field_intact() {
    let (_dir, stores) = both("roundtrip").await;
    let mut sent = fixture(42, 100_000);
    for store in &stores {
        let kind = store.kind();
        for chunk in sent.chunks(25_000) {
            store.insert_events(chunk).await.expect("insert");
        }
        assert_eq!(count(store.as_ref(), "SELECT count() FROM events").await, 100_000, "{kind:?}: row count");
        let rows: Vec<EventRow> = store.fetch_rows("FROM events ORDER BY event_id").await.expect("read back");
        let mut got: Vec<Event> = rows.into_iter().map(|r| Event::try_from(r).expect("valid stored event")).collect();
        got.sort_by_key(|e| e.id);
        sent.sort_by_key(|e| e.id);
        assert_eq!(got.len(), sent.len(), "{kind:?}");
        for (got, sent) in got.iter().zip(&sent) {
            assert_eq!(got, sent, "{kind:?}: event {:?} differs", sent.id);
        }
    }
}

/// An insert sent piece by piece (as the collector's batcher sends its flushes) is one statement
/// holding every row of every piece, each once, on both engines.
#[tokio::test]
async fn an_insert_made_of_pieces_stores_every_row_once() {
    let (_dir, stores) = both("pieces").await;
    let mut sent = fixture(7, 10_000);
    let rows: Vec<EventRow> = sent.iter().map(EventRow::from).collect();
    for store in &stores {
        let kind = store.kind();
        let mut pieces = rows.chunks(1_500).map(larder_store::rowbinary::encode_rows);
        store.insert_raw_pieces(&EventRow::insert_statement(), "RowBinary", &mut pieces).await.expect("insert");
        assert_eq!(count(store.as_ref(), "SELECT count() FROM events").await, 10_000, "{kind:?}: row count");
        let stored: Vec<EventRow> = store.fetch_rows("FROM events").await.expect("read back");
        let mut got: Vec<Event> = stored.into_iter().map(|r| Event::try_from(r).expect("valid stored event")).collect();
        got.sort_by_key(|e| e.id);
        sent.sort_by_key(|e| e.id);
        assert!(got == sent, "{kind:?}: the stored events are the pieces' events");
    }
}
