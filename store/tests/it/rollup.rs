//! Days rolled up in `visit_days` and `search_days` give the overview, its series and the
//! site-search report exactly the numbers the visits and events give, in any time zone, and stop
//! being used when their day changes.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use larder_core::fixtures::FixtureSpec;
use larder_core::query::{DateRange, Filter, Interval};
use larder_core::{Event, EventId, SessionId, SiteDomain, VisitorId};
use larder_store::deletion::{self, Deletion};
use larder_store::search::{self, SearchOptions};
use larder_store::sites::{self, Site};
use larder_store::stats::{self, Overview, Point, Scope};
use larder_store::{Store, rollup};

use crate::helpers::both;

const SITE: &str = "shop.example";
/// The site's zone: its midnight (18:15 UTC) cuts the fixture's half-hour visits.
const ZONE: &str = "Asia/Kathmandu";

fn mix(a: u64, b: u64) -> u64 {
    (a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9).rotate_left(29) | 1
}

/// A generated fixture made like the collector's data: a visitor's id is of its UTC day, and its
/// visits are two-hour slots (which never span two UTC days but often the site's midnight).
/// Few visitors, so that visits hold several events.
fn events() -> Vec<Event> {
    let mut events = larder_core::fixtures::events(&FixtureSpec {
        seed: 7,
        count: 8_000,
        sites: vec![SiteDomain::parse(SITE).expect("site")],
        start: DateTime::from_timestamp(1_790_000_000, 0).expect("start"),
        span_secs: 12 * 86_400,
        visitors: 60,
    });
    for e in &mut events {
        let secs = e.timestamp.timestamp() as u64;
        e.visitor_id = VisitorId(mix(e.visitor_id.0, secs / 86_400));
        e.session_id = SessionId(mix(e.visitor_id.0, secs / 7_200));
    }
    events
}

fn day(d: &str) -> NaiveDate {
    NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date")
}

/// The overview and every series of a range, as the reports give them.
async fn answers(store: &dyn Store, zone: &str, from: &str, to: &str, filters: &[Filter]) -> Vec<String> {
    let mut out = visit_answers(store, zone, from, to, filters).await;
    let site = SiteDomain::parse(SITE).expect("site");
    let range = DateRange::new(day(from), day(to)).expect("range");
    let scope = Scope { site: &site, timezone: zone, range, filters };
    let options = SearchOptions { limit: 100, ..SearchOptions::default() };
    let report = search::report(store, &scope, &options).await.expect("search report");
    out.push(format!("{zone} {from}..{to} search {report:?}"));
    out
}

/// The overview and every series of a range.
async fn visit_answers(store: &dyn Store, zone: &str, from: &str, to: &str, filters: &[Filter]) -> Vec<String> {
    let site = SiteDomain::parse(SITE).expect("site");
    let range = DateRange::new(day(from), day(to)).expect("range");
    let scope = Scope { site: &site, timezone: zone, range, filters };
    let overview: Overview = stats::overview(store, &scope).await.expect("overview");
    let mut out = vec![format!("{zone} {from}..{to} overview {overview:?}")];
    for interval in [Interval::Day, Interval::Week, Interval::Month] {
        let series: Vec<Point> = stats::timeseries(store, &scope, interval).await.expect("series");
        out.push(format!("{zone} {from}..{to} {interval:?} {series:?}"));
    }
    out
}

/// Ranges in several zones: whole UTC days, days cut at the site's midnight, and days cut
/// elsewhere (another zone than the site's), over the fixture's first days and its end; the
/// search report (slower to compute) for the first two ranges in each zone.
async fn all_answers(store: &dyn Store, filters: &[Filter]) -> Vec<String> {
    let mut out = Vec::new();
    for zone in ["UTC", ZONE, "America/New_York"] {
        for (from, to) in [("2026-09-23", "2026-09-28"), ("2026-09-22", "2026-10-02")] {
            out.extend(answers(store, zone, from, to, filters).await);
        }
        for (from, to) in [("2026-09-21", "2026-09-23"), ("2026-09-29", "2026-10-20")] {
            out.extend(visit_answers(store, zone, from, to, filters).await);
        }
    }
    out
}

/// A filter that keeps every visit: the report is computed from `visit_parts`, not rolled days.
fn keep_all() -> Vec<Filter> {
    vec![Filter::parse("device!=toaster").expect("filter")]
}

async fn register(store: &dyn Store, zone: &str) {
    let mut site = Site::new(SiteDomain::parse(SITE).expect("site"), Utc::now());
    site.timezone = zone.into();
    sites::add(store, &site).await.expect("add site");
}

fn later() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z").expect("time").with_timezone(&Utc)
}

#[tokio::test]
async fn rolled_up_days_give_the_numbers_of_the_finished_visits() {
    let (_dir, stores) = both("rollup").await;
    let events = events();
    assert!(events.len() > 5_000, "a substantial fixture");
    for store in &stores {
        let store = store.as_ref();
        store.insert_events(&events).await.expect("insert");
        register(store, ZONE).await;
        let want = all_answers(store, &keep_all()).await;
        assert_eq!(all_answers(store, &[]).await, want, "{:?}: before any roll-up", store.kind());

        let report = rollup::roll(store, later()).await.expect("roll");
        assert!(report.rolled >= 12, "{:?}: every day of the fixture: {report:?}", store.kind());
        assert_eq!(report.not_rollable, 0, "{:?}: no visit spans two days", store.kind());
        assert_eq!(all_answers(store, &[]).await, want, "{:?}: from the rolled-up days", store.kind());
        assert_eq!(rollup::roll(store, later()).await.expect("roll again").rolled, 0, "nothing changed");

        // The rolled days are what answers: with the visits' parts gone (and their count not
        // moved), ranges of rolled days still give the numbers.
        let table = larder_store::cluster::local_table(store, "visit_parts");
        store.execute(&format!("TRUNCATE TABLE {table}")).await.expect("truncate");
        let whole_days = answers(store, "UTC", "2026-09-23", "2026-09-28", &[]).await;
        let same_range: Vec<String> = want.iter().filter(|l| l.starts_with("UTC 2026-09-23..")).cloned().collect();
        assert_eq!(whole_days.len(), 5);
        assert_eq!(whole_days, same_range, "{:?}: rolled days are read", store.kind());
    }
}

#[tokio::test]
async fn late_events_deletions_and_visits_across_days_are_not_missed() {
    let (_dir, stores) = both("rollup_changes").await;
    let events = events();
    let site = SiteDomain::parse(SITE).expect("site");
    for store in &stores {
        let store = store.as_ref();
        store.insert_events(&events).await.expect("insert");
        register(store, ZONE).await;
        rollup::roll(store, later()).await.expect("roll");

        // A late event in a rolled day: a new visit of a new visitor.
        let mut late = events[0].clone();
        late.id = EventId::from_uuid(uuid::Uuid::from_u64_pair(1, 1));
        late.timestamp = DateTime::parse_from_rfc3339("2026-09-25T12:00:00Z").expect("time").with_timezone(&Utc);
        late.visitor_id = VisitorId(3);
        late.session_id = SessionId(3);
        store.insert_events(std::slice::from_ref(&late)).await.expect("late event");
        let want = all_answers(store, &keep_all()).await;
        assert_eq!(all_answers(store, &[]).await, want, "{:?}: the late event counts", store.kind());
        assert!(want.iter().any(|l| l.contains("2026-09-25") && !l.is_empty()));

        // A deletion of part of a rolled day.
        rollup::roll(store, later()).await.expect("roll");
        let from = DateTime::parse_from_rfc3339("2026-09-26T06:00:00Z").expect("time").with_timezone(&Utc);
        let deletion =
            Deletion::selected(site.clone(), Some(from), Some(from + Duration::hours(5)), None).expect("deletion");
        let deleted = deletion::delete(store, &deletion).await.expect("delete");
        assert!(deleted.deleted_events > 0);
        let want = all_answers(store, &keep_all()).await;
        assert_eq!(all_answers(store, &[]).await, want, "{:?}: the deleted events are gone", store.kind());

        // A visit with events on two UTC days (not the collector's data): its days are left to
        // visit_parts.
        let mut across = vec![events[1].clone(), events[2].clone()];
        for (i, (e, at)) in across.iter_mut().zip(["2026-09-27T23:50:00Z", "2026-09-28T00:10:00Z"]).enumerate() {
            e.id = EventId::from_uuid(uuid::Uuid::from_u64_pair(2, i as u64));
            e.timestamp = DateTime::parse_from_rfc3339(at).expect("time").with_timezone(&Utc);
            e.visitor_id = VisitorId(5);
            e.session_id = SessionId(5);
        }
        store.insert_events(&across).await.expect("insert");
        let report = rollup::roll(store, later()).await.expect("roll");
        assert_eq!(report.not_rollable, 2, "{:?}: both days: {report:?}", store.kind());
        let want = all_answers(store, &keep_all()).await;
        assert_eq!(all_answers(store, &[]).await, want, "{:?}: the visit across days", store.kind());

        // Another time zone for the site: its days are rolled again with their new midnight.
        let mut changed = sites::get(store, &site).await.expect("get").expect("site");
        changed.timezone = "America/New_York".into();
        sites::update(store, &changed).await.expect("update");
        let report = rollup::roll(store, later()).await.expect("roll");
        assert!(report.rolled >= 12, "{:?}: {report:?}", store.kind());
        assert_eq!(all_answers(store, &[]).await, want, "{:?}: after the zone changed", store.kind());
    }
}
