use chrono::{DateTime, NaiveDate, Utc};
use larder_core::SiteDomain;
use larder_core::fixtures::{FixtureSpec, events};
use larder_core::query::DateRange;
use larder_store::Store;
use larder_store::deletion::{self, Deletion, Match};
use larder_store::stats::{self, Scope};

use crate::helpers::{assert_visits_agree, both, count};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
}

/// The events table's rows as the engine holds them in its active parts — what a backup of the
/// table (`BACKUP`, `FREEZE`, a copy of the parts) carries — must equal what queries see: no
/// masked rows left behind.
async fn rows_in_active_parts(store: &dyn Store) -> u64 {
    count(
        store,
        "SELECT sum(rows) FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active",
    )
    .await
}

async fn shop_count(store: &dyn Store, condition: &str) -> u64 {
    count(store, &format!("SELECT count() FROM events WHERE site = 'shop.example' AND {condition}")).await
}

async fn overview(store: &dyn Store, site: &SiteDomain, from: &str, to: &str) -> stats::Overview {
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
    let scope =
        Scope { site, timezone: "UTC", range: DateRange::new(day(from), day(to)).expect("range"), filters: &[] };
    stats::overview(store, &scope).await.expect("overview")
}

#[tokio::test]
async fn deletions_remove_an_order_a_property_a_range_and_a_whole_site_and_leave_the_rest() {
    let (_dir, stores) = both("deletion").await;
    let shop = SiteDomain::parse("shop.example").expect("site");
    let other = SiteDomain::parse("other.example").expect("site");
    // Five months of events for two sites, some of them tagged with what a customer asks about.
    let mut all = events(&FixtureSpec {
        seed: 7,
        count: 6000,
        sites: vec![shop.clone(), other.clone()],
        start: at("2026-05-01T00:00:00Z"),
        span_secs: 150 * 86_400,
        visitors: 300,
    });
    // Three of shop.example's page views and one of other.example's carry the order id; ten of
    // shop.example's carry a customer reference, half of them c-77.
    let (mut shop_orders_set, mut other_orders_set, mut tagged) = (0, 0, 0);
    for event in &mut all {
        if event.name.as_str() != "pageview" {
            continue;
        }
        if event.site == shop && shop_orders_set < 3 {
            event.order_id = "A-1001".into();
            shop_orders_set += 1;
        } else if event.site == other && other_orders_set < 1 {
            event.order_id = "A-1001".into();
            other_orders_set += 1;
        } else if event.site == shop && tagged < 10 {
            let value = if tagged % 2 == 0 { "c-77" } else { "c-78" };
            event.props.push(("customer_ref".into(), value.into()));
            tagged += 1;
        }
    }
    // One visit with events on both sides of each end of the hours deleted below, within the
    // same quarter hours, and one event of the order: the pre-aggregated rows of those quarter
    // hours must be computed again from the events left.
    let template = all
        .iter()
        .find(|e| e.site == shop && e.name.as_str() == "pageview" && e.order_id.is_empty() && e.props.is_empty())
        .cloned()
        .expect("a page view");
    for (i, time) in [
        "2026-06-10T10:01:00Z",
        "2026-06-10T10:05:00Z",
        "2026-06-10T10:09:00Z",
        "2026-06-12T13:50:00Z",
        "2026-06-12T13:55:00Z",
    ]
    .into_iter()
    .enumerate()
    {
        let mut edge = template.clone();
        edge.id = larder_core::EventId::new_v7();
        edge.timestamp = at(time);
        edge.session_id = larder_core::SessionId(4_242_424_242);
        edge.pathname = larder_core::Pathname::parse(&format!("/edge-{i}")).expect("path");
        if i == 1 {
            // Deleting the order recomputes this visit's quarter hour from its other events.
            edge.order_id = "A-1001".into();
        }
        all.push(edge);
    }
    let on = |site: &SiteDomain, f: &dyn Fn(&larder_core::Event) -> bool| {
        all.iter().filter(|e| &e.site == site && f(e)).count() as u64
    };
    let shop_orders = on(&shop, &|e| e.order_id == "A-1001");
    let other_orders = on(&other, &|e| e.order_id == "A-1001");
    let shop_c77 = on(&shop, &|e| e.props.iter().any(|(k, v)| k == "customer_ref" && v == "c-77"));
    let shop_c78 = on(&shop, &|e| e.props.iter().any(|(k, v)| k == "customer_ref" && v == "c-78"));
    assert!(shop_orders > 0 && other_orders > 0 && shop_c77 > 0 && shop_c78 > 0, "the fixture has them all");
    let (from, to) = (at("2026-07-15T00:00:00Z"), at("2026-09-01T00:00:00Z"));
    let in_range = |e: &larder_core::Event| e.timestamp >= from && e.timestamp < to;

    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        store.insert_events(&all).await.expect("insert");
        assert_visits_agree(store, "the insert").await;
        let shop_total = on(&shop, &|_| true);
        let other_total = on(&other, &|_| true);

        // An order id a customer asked about.
        let order = Deletion::selected(shop.clone(), None, None, Some(Match::OrderId("A-1001".into()))).expect("ok");
        let report = deletion::delete(store, &order).await.expect("delete order");
        assert_eq!(report.deleted_events, shop_orders, "{kind:?}: counted");
        assert!(report.mutated && report.dropped_months.is_empty(), "{kind:?}: a mutation, no partition: {report:?}");
        assert_eq!(shop_count(store, "order_id = 'A-1001'").await, 0, "{kind:?}: the order's events are gone");
        let other_left =
            count(store, "SELECT count() FROM events WHERE site = 'other.example' AND order_id = 'A-1001'");
        assert_eq!(other_left.await, other_orders, "{kind:?}: another site's equal order id stays");
        assert_eq!(shop_count(store, "1").await, shop_total - shop_orders, "{kind:?}: nothing else went");
        assert_visits_agree(store, "an order's deletion").await;

        // A property key=value.
        let prop = Match::Prop { key: "customer_ref".into(), value: "c-77".into() };
        let report = deletion::delete(store, &Deletion::selected(shop.clone(), None, None, Some(prop)).expect("ok"))
            .await
            .expect("delete prop");
        assert_eq!(report.deleted_events, shop_c77, "{kind:?}");
        let has = |v: &str| format!("arrayExists((k, v) -> k = 'customer_ref' AND v = '{v}', props.key, props.value)");
        assert_eq!(shop_count(store, &has("c-77")).await, 0, "{kind:?}: c-77 is gone");
        assert_eq!(shop_count(store, &has("c-78")).await, shop_c78, "{kind:?}: c-78 stays");
        assert_visits_agree(store, "a property's deletion").await;

        // A few hours that begin and end inside quarter hours: the visits of the edges are
        // computed again from the events left.
        let (hours_from, hours_to) = (at("2026-06-10T10:07:00Z"), at("2026-06-12T13:52:30Z"));
        let hours_sql = format!(
            "timestamp >= toDateTime({}, 'UTC') AND timestamp < toDateTime({}, 'UTC')",
            hours_from.timestamp(),
            hours_to.timestamp()
        );
        let in_hours = shop_count(store, &hours_sql).await;
        assert!(in_hours > 0, "{kind:?}: the fixture has events in those hours");
        let hours = Deletion::selected(shop.clone(), Some(hours_from), Some(hours_to), None).expect("ok");
        assert_eq!(deletion::delete(store, &hours).await.expect("delete hours").deleted_events, in_hours, "{kind:?}");
        assert_eq!(shop_count(store, &hours_sql).await, 0, "{kind:?}: the hours are empty");
        assert_visits_agree(store, "a deletion of hours").await;
        let shop_now = shop_total - shop_orders - shop_c77 - in_hours;
        assert_eq!(shop_count(store, "1").await, shop_now, "{kind:?}");

        // A time range: August goes as a partition, the second half of July by a mutation.
        let before = overview(store, &shop, "2026-07-15", "2026-08-31").await;
        assert!(before.pageviews > 0, "{kind:?}: the range had page views");
        let range = Deletion::selected(shop.clone(), Some(from), Some(to), None).expect("ok");
        let report = deletion::delete(store, &range).await.expect("delete range");
        assert_eq!(report.dropped_months, vec![202608], "{kind:?}: {report:?}");
        assert!(report.mutated, "{kind:?}: July is trimmed");
        let range_sql = format!(
            "timestamp >= toDateTime({}, 'UTC') AND timestamp < toDateTime({}, 'UTC')",
            from.timestamp(),
            to.timestamp()
        );
        assert_eq!(shop_count(store, &range_sql).await, 0, "{kind:?}: nothing left in the range");
        let gone_in_range = on(&shop, &|e| {
            in_range(e) && e.order_id != "A-1001" && !e.props.iter().any(|(k, v)| k == "customer_ref" && v == "c-77")
        });
        assert_eq!(report.deleted_events, gone_in_range, "{kind:?}");
        assert_eq!(
            shop_count(store, "1").await,
            shop_now - gone_in_range,
            "{kind:?}: the rest of July and other months stay"
        );
        let after = overview(store, &shop, "2026-07-15", "2026-08-31").await;
        assert_eq!((after.visitors, after.pageviews), (0, 0), "{kind:?}: the overview of the range is empty");
        let outside = overview(store, &shop, "2026-06-01", "2026-06-30").await;
        assert!(outside.pageviews > 0, "{kind:?}: June is still reported");
        assert_visits_agree(store, "a range's deletion").await;
        assert_eq!(
            rows_in_active_parts(store).await,
            count(store, "SELECT count() FROM events").await,
            "{kind:?}: the parts hold no deleted rows"
        );

        // The whole site, its visit state included.
        store
            .execute("INSERT INTO visitor_sessions (day, site, visitor_id, session_id, session_start_ms, last_seen_ms) VALUES (today(), 'shop.example', 1, 2, 3, 4), (today(), 'other.example', 1, 2, 3, 4)")
            .await
            .expect("sessions");
        let report = deletion::delete(store, &Deletion::whole_site(shop.clone())).await.expect("delete site");
        assert_eq!(report.deleted_events, shop_now - gone_in_range, "{kind:?}");
        assert_eq!(report.dropped_months, vec![202605, 202606, 202607, 202609], "{kind:?}: every month went whole");
        assert!(!report.mutated, "{kind:?}: no mutation needed");
        assert_eq!(shop_count(store, "1").await, 0, "{kind:?}: no event of the site is left");
        assert_visits_agree(store, "a site's deletion").await;
        let parts_left = count(store, "SELECT count() FROM visit_parts WHERE site = 'shop.example'").await;
        assert_eq!(parts_left, 0, "{kind:?}: nor its pre-aggregated visits");
        let sessions = count(store, "SELECT count() FROM visitor_sessions WHERE site = 'shop.example'").await;
        assert_eq!(sessions, 0, "{kind:?}: nor its visit state");
        let other_sessions = count(store, "SELECT count() FROM visitor_sessions WHERE site = 'other.example'").await;
        assert_eq!(other_sessions, 1, "{kind:?}: another site's visit state stays");
        assert_eq!(overview(store, &shop, "2026-05-01", "2026-09-30").await.pageviews, 0, "{kind:?}");
        assert_eq!(
            count(store, "SELECT count() FROM events WHERE site = 'other.example'").await,
            other_total,
            "{kind:?}: the other site is untouched"
        );
        assert_eq!(rows_in_active_parts(store).await, other_total, "{kind:?}: only the other site's rows are in parts");

        let again = deletion::delete(store, &Deletion::whole_site(shop.clone())).await.expect("again");
        assert_eq!(again, Default::default(), "{kind:?}: deleting nothing does nothing");
    }
}
