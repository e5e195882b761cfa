//! Site search gives the numbers its definitions imply, exactly, on both engines: a hand-built
//! scenario worked out by hand, and a generated fixture checked against a Rust reference.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::DateTime;
use larder_core::Event;
use larder_core::fixtures::{FixtureSpec, events as fixture_events};
use larder_store::goals::CurrencyRevenue;
use larder_store::search::{self, FromPage, SearchOptions, SearchReport, SearchSection};

use crate::goals::{EventExt, ev, filters, id, numbered, range, scope, site};
use crate::helpers::both;

/// Visits (visitor, session, source); searches are on /search unless said otherwise:
/// - S1 (1, 10, Google): /p/1, /search, "tea" (12 results), click at 3, /p/2, /search, "green
///   tea" (none), /search, "matcha" (5), clicks at 1 and 2, /p/3, purchase 20.00 EUR;
/// - S2 (2, 20, Instagram): /search, "xyzzy" (none), /search, "tea" (12) — the visit ends;
/// - S3 (3, 30, Google): a click before any search, /c/tea, "xyzzy" (none) without its own page view;
/// - S4 (4, 40): /, purchase 50.00 EUR; S5 (5, 50): /;
/// - S6 (1, 11, Google): /search, "tea" (count unknown);
/// - the day before: visitor 9 searched "tea" (3).
fn scenario() -> Vec<Event> {
    let at = |hms: &str| format!("2026-11-20T{hms}Z");
    let s1 = |time: &str, name, path| ev(1, 10, &at(time), name, path).source("Google");
    let s2 = |time: &str, name, path| ev(2, 20, &at(time), name, path).source("Instagram");
    let s3 = |time: &str, name, path| ev(3, 30, &at(time), name, path).source("Google");
    numbered(vec![
        s1("10:00:00", "pageview", "/p/1"),
        s1("10:00:10", "pageview", "/search"),
        s1("10:00:11", "search", "/search").query("tea", Some(12)),
        s1("10:00:20", "search_click", "/search").position(3),
        s1("10:00:21", "pageview", "/p/2"),
        s1("10:00:30", "pageview", "/search"),
        s1("10:00:31", "search", "/search").query("green tea", Some(0)),
        s1("10:00:40", "pageview", "/search"),
        s1("10:00:41", "search", "/search").query("matcha", Some(5)),
        s1("10:00:45", "search_click", "/search").position(1),
        s1("10:00:46", "search_click", "/search").position(2),
        s1("10:01:00", "pageview", "/p/3"),
        s1("10:02:00", "purchase", "/checkout").revenue("20.00", "EUR"),
        s2("11:00:00", "pageview", "/search"),
        s2("11:00:01", "search", "/search").query("xyzzy", Some(0)),
        s2("11:00:05", "pageview", "/search"),
        s2("11:00:06", "search", "/search").query("tea", Some(12)),
        s3("12:00:00", "search_click", "/search").position(2),
        s3("12:00:05", "pageview", "/c/tea"),
        s3("12:00:06", "search", "/search").query("xyzzy", Some(0)),
        ev(4, 40, &at("13:00:00"), "pageview", "/"),
        ev(4, 40, &at("13:00:10"), "purchase", "/checkout").revenue("50", "EUR"),
        ev(5, 50, &at("14:00:00"), "pageview", "/"),
        ev(1, 11, &at("15:00:00"), "pageview", "/search").source("Google"),
        ev(1, 11, &at("15:00:01"), "search", "/search").source("Google").query("tea", None),
        ev(9, 90, "2026-11-19T09:00:00Z", "pageview", "/search"),
        ev(9, 90, "2026-11-19T09:00:01Z", "search", "/search").query("tea", Some(3)),
    ])
}

/// A search and a page view of the same second are ordered by their ids (as text): the ids here
/// make 31's search come after its visit's last page view (an exit) and 32's and 33's before one.
/// 31's and 32's ids only order so when both halves are compared as the text is.
#[tokio::test]
async fn a_search_and_a_page_view_of_one_second_are_ordered_by_their_ids() {
    let (_dir, stores) = both("search_ties").await;
    let site = site();
    let none = filters(&[]);
    let day = scope(&site, range("2026-11-20", "2026-11-20"), &none);
    let at = |hms: &str| format!("2026-11-20T{hms}Z");
    let events = vec![
        // 31: the low halves decide: the page view's id ends in …0002, the search's starts 0100….
        ev(31, 310, &at("16:00:00"), "pageview", "/search").with(id(7, 1)),
        ev(31, 310, &at("16:00:05"), "search", "/search").query("tea", Some(5)).with(id(7, 0x0100_0000_0000_0000)),
        ev(31, 310, &at("16:00:05"), "pageview", "/p/1").with(id(7, 2)),
        // 32: the high halves decide, the other way round.
        ev(32, 320, &at("16:10:00"), "pageview", "/search").with(id(1, 1)),
        ev(32, 320, &at("16:10:05"), "search", "/search").query("tea", Some(5)).with(id(2, 9)),
        ev(32, 320, &at("16:10:05"), "pageview", "/p/2").with(id(0x0100_0000_0000_0000, 0)),
        // 33: plainly, the page view's id is the larger.
        ev(33, 330, &at("16:20:05"), "search", "/search").query("tea", Some(5)).with(id(5, 1)),
        ev(33, 330, &at("16:20:05"), "pageview", "/p/3").with(id(5, 2)),
    ];
    let options = SearchOptions { sections: vec![SearchSection::Summary], ..SearchOptions::default() };
    for store in &stores {
        let kind = store.kind();
        store.insert_events(&events).await.expect("insert");
        let report = search::report(store.as_ref(), &day, &options).await.expect("report");
        let summary = report.summary.expect("summary");
        assert_eq!((summary.searches, summary.search_exits), (3, 1), "{kind:?}: only 31's search is an exit");
    }
}

/// A query's row: query, searches, searchers, no-result rate, click-through rate, mean position.
type QueryNumbers<Q> = (Q, u64, u64, f64, f64, Option<f64>);

/// A no-result query's row: query, searches, searchers, share of searches, origins.
type NoResultNumbers<Q> = (Q, u64, u64, f64, Vec<FromPage>);

fn eur(amount_e4: i64, orders: u64) -> Vec<CurrencyRevenue> {
    vec![CurrencyRevenue { currency: "EUR".into(), amount_e4, orders, average_order_e4: amount_e4 / orders as i64 }]
}

#[tokio::test]
async fn the_search_report_gives_the_numbers_worked_out_by_hand() {
    let (_dir, stores) = both("search").await;
    let site = site();
    let none = filters(&[]);
    let day = scope(&site, range("2026-11-20", "2026-11-20"), &none);
    for store in &stores {
        let kind = store.kind();
        store.insert_events(&scenario()).await.expect("insert");
        let report = search::report(store.as_ref(), &day, &SearchOptions::default()).await.expect("report");

        // 7 searches by visitors 1, 2, 3. No result: green tea, xyzzy ×2. Clicked: S1's tea and
        // matcha (S3's click precedes every search). Positions 3, 1, 2. Refined: S1's tea and
        // green tea, S2's xyzzy. Exits: S2's tea, S3's xyzzy, S6's tea.
        let summary = report.summary.as_ref().expect("summary");
        assert_eq!((summary.searches, summary.searchers), (7, 3), "{kind:?}");
        assert_eq!((summary.no_result_searches, summary.no_result_rate), (3, 0.4286), "{kind:?}");
        assert_eq!((summary.clicked_searches, summary.click_through_rate), (2, 0.2857), "{kind:?}");
        assert_eq!((summary.searches_without_click, summary.average_clicked_position), (5, Some(2.0)), "{kind:?}");
        assert_eq!((summary.refinements, summary.search_exits), (3, 3), "{kind:?}");

        let top: Vec<QueryNumbers<&str>> = report
            .top_queries
            .as_ref()
            .expect("top")
            .iter()
            .map(|q| {
                (
                    q.query.as_str(),
                    q.searches,
                    q.searchers,
                    q.no_result_rate,
                    q.click_through_rate,
                    q.average_clicked_position,
                )
            })
            .collect();
        assert_eq!(
            top,
            [
                ("tea", 3, 2, 0.0, 0.3333, Some(3.0)),
                ("xyzzy", 2, 2, 1.0, 0.0, None),
                ("green tea", 1, 1, 1.0, 0.0, None),
                ("matcha", 1, 1, 0.0, 1.0, Some(1.5)),
            ],
            "{kind:?}: by searchers, searches, query"
        );

        // Came from: S2 entered on /search (""), S3 was on /c/tea; green tea came from /p/2
        // (the /search views before it are its own results page).
        let no_results: Vec<NoResultNumbers<&str>> = report
            .no_result_queries
            .as_ref()
            .expect("no results")
            .iter()
            .map(|q| (q.query.as_str(), q.searches, q.searchers, q.share_of_searches, q.from_pages.clone()))
            .collect();
        let from = |page: &str| FromPage { page: page.into(), searches: 1 };
        assert_eq!(
            no_results,
            [("xyzzy", 2, 2, 0.2857, vec![from(""), from("/c/tea")]), ("green tea", 1, 1, 0.1429, vec![from("/p/2")])],
            "{kind:?}"
        );

        // Six visits: four with a search (S1 bought for 20), two without (S4 bought for 50).
        let conversion = report.conversion.as_ref().expect("conversion");
        let with = &conversion.with_search;
        assert_eq!((with.visits, with.purchasing_visits, with.purchase_rate), (4, 1, 0.25), "{kind:?}");
        assert_eq!(with.revenue, eur(200_000, 1), "{kind:?}");
        let without = &conversion.without_search;
        assert_eq!((without.visits, without.purchasing_visits, without.purchase_rate), (2, 1, 0.5), "{kind:?}");
        assert_eq!(without.revenue, eur(500_000, 1), "{kind:?}");

        // Visits with a search that found results: S1, S2, S6 (unknown counts are not no-result);
        // one bought, for 20.00. xyzzy: 2 × 1/3 × 20.00 = 13.3333; green tea: 6.6667.
        let lost = report.lost_revenue.as_ref().expect("lost revenue");
        assert_eq!((lost.basis.visits, lost.basis.purchasing_visits), (3, 1), "{kind:?}");
        assert_eq!((lost.basis.currency.as_deref(), lost.basis.average_order_e4), (Some("EUR"), 200_000), "{kind:?}");
        let estimates: Vec<(&str, u64, i64)> =
            lost.queries.iter().map(|q| (q.query.as_str(), q.searchers, q.estimated_lost_e4)).collect();
        assert_eq!(estimates, [("xyzzy", 2, 133_333), ("green tea", 1, 66_667)], "{kind:?}");

        // Trending against the 19th (tea: 1 searcher then). At least 3 searchers: none; at least 2:
        // xyzzy (+2, new), tea (+1, +100 %).
        assert_eq!(report.trending.as_deref(), Some(&[][..]), "{kind:?}: nothing has 3 searchers");
        let two = SearchOptions {
            sections: vec![SearchSection::Trending],
            trending_min_searchers: 2,
            ..SearchOptions::default()
        };
        let trending = search::report(store.as_ref(), &day, &two).await.expect("trending");
        let rising: Vec<(&str, u64, u64, Option<f64>)> = trending
            .trending
            .as_ref()
            .expect("trending")
            .iter()
            .map(|t| (t.query.as_str(), t.searchers, t.previous_searchers, t.change_percent))
            .collect();
        assert_eq!(rising, [("xyzzy", 2, 0, None), ("tea", 2, 1, Some(100.0))], "{kind:?}");
        assert_eq!(
            trending,
            SearchReport { trending: trending.trending.clone(), ..SearchReport::default() },
            "{kind:?}: only the sections asked for"
        );

        // Filters: Google keeps S1, S3, S6 (5 searches by visitors 1 and 3); page==/p/3 keeps S1.
        let google = filters(&["source==Google"]);
        let only = SearchOptions { sections: vec![SearchSection::Summary], ..SearchOptions::default() };
        let filtered = search::report(store.as_ref(), &scope(&site, day.range, &google), &only).await.expect("google");
        let summary = filtered.summary.expect("summary");
        assert_eq!((summary.searches, summary.searchers, summary.no_result_searches), (5, 2, 2), "{kind:?}: Google");
        let p3 = filters(&["page==/p/3"]);
        let filtered = search::report(store.as_ref(), &scope(&site, day.range, &p3), &only).await.expect("page");
        assert_eq!(filtered.summary.expect("summary").searches, 3, "{kind:?}: visits that saw /p/3");
    }
}

// ---------------------------------------------------------------------------------------------
// The reference: the module's definitions, written out over the events.

#[derive(Debug, Clone)]
struct SearchFacts {
    visitor: u64,
    query: String,
    results: Option<u32>,
    /// Positions of the clicks that belong to it (0: none given).
    clicks: Vec<u16>,
    refined: bool,
    exited: bool,
    from_page: String,
}

fn facts(events: &[&Event]) -> Vec<SearchFacts> {
    let mut visits: BTreeMap<u64, Vec<&Event>> = BTreeMap::new();
    for e in events {
        visits.entry(e.session_id.0).or_default().push(e);
    }
    let mut all = Vec::new();
    for visit in visits.values() {
        let mut searches: Vec<SearchFacts> = Vec::new();
        let mut pages: Vec<&str> = Vec::new();
        for e in visit {
            match e.name.as_str() {
                "pageview" => {
                    pages.push(e.pathname.as_str());
                    for s in &mut searches {
                        s.exited = false;
                    }
                }
                "search" => {
                    for s in &mut searches {
                        s.refined = true;
                    }
                    let own = e.pathname.as_str();
                    let search = e.search.as_ref().expect("search");
                    searches.push(SearchFacts {
                        visitor: e.visitor_id.0,
                        query: search.query.clone(),
                        results: search.result_count,
                        clicks: Vec::new(),
                        refined: false,
                        exited: true,
                        from_page: pages.iter().rev().find(|p| **p != own).map(|p| (*p).to_owned()).unwrap_or_default(),
                    });
                }
                "search_click" => {
                    if let Some(last) = searches.last_mut() {
                        last.clicks.push(e.search.as_ref().and_then(|s| s.clicked_position).unwrap_or(0));
                    }
                }
                _ => {}
            }
        }
        all.extend(searches);
    }
    all
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0 }
}

fn mean_position(searches: &[&SearchFacts]) -> Option<f64> {
    let positions: Vec<u16> = searches.iter().flat_map(|s| s.clicks.iter().copied()).filter(|p| *p > 0).collect();
    (!positions.is_empty()).then(|| {
        (positions.iter().map(|p| f64::from(*p)).sum::<f64>() / positions.len() as f64 * 100.0).round() / 100.0
    })
}

#[tokio::test]
async fn a_generated_fixture_gives_the_reference_search_report_on_both_engines() {
    let (_dir, stores) = both("search_reference").await;
    let start = DateTime::from_timestamp(1_790_000_000, 0).expect("start");
    let mut events = fixture_events(&FixtureSpec {
        seed: 11,
        count: 30_000,
        sites: vec![site()],
        start,
        span_secs: 2 * 86_400,
        visitors: 60,
    });
    // Visits of their own per visitor, and ids that order events as the reference does.
    for e in &mut events {
        e.session_id = larder_core::SessionId(e.visitor_id.0.wrapping_mul(1_000_003).wrapping_add(e.session_id.0));
    }
    events.sort_by_key(|e| (e.timestamp, e.id));
    let events = numbered(events);
    let first = start.date_naive() + chrono::Duration::days(1);
    let days = range(&first.to_string(), &first.to_string());
    let from = first.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let in_range: Vec<&Event> =
        events.iter().filter(|e| e.timestamp >= from && e.timestamp < from + chrono::Duration::days(1)).collect();
    let before: Vec<&Event> =
        events.iter().filter(|e| e.timestamp >= from - chrono::Duration::days(1) && e.timestamp < from).collect();

    let searches = facts(&in_range);
    let all: Vec<&SearchFacts> = searches.iter().collect();
    let count = |f: &dyn Fn(&SearchFacts) -> bool| all.iter().filter(|s| f(s)).count() as u64;
    let visitors = |list: &[&SearchFacts]| list.iter().map(|s| s.visitor).collect::<BTreeSet<u64>>().len() as u64;
    let total = all.len() as u64;
    let clicked = count(&|s| !s.clicks.is_empty());
    assert!(total > 1_000 && clicked > 40, "a substantial fixture: {total} searches, {clicked} with a click");

    let mut by_query: BTreeMap<&str, Vec<&SearchFacts>> = BTreeMap::new();
    for s in &all {
        by_query.entry(s.query.as_str()).or_default().push(s);
    }
    let mut top: Vec<QueryNumbers<String>> = by_query
        .iter()
        .map(|(q, list)| {
            let n = list.len() as u64;
            let none = list.iter().filter(|s| s.results == Some(0)).count() as u64;
            let clicked = list.iter().filter(|s| !s.clicks.is_empty()).count() as u64;
            ((*q).to_owned(), n, visitors(list), rate(none, n), rate(clicked, n), mean_position(list))
        })
        .collect();
    top.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
    top.truncate(10);

    // No-result queries and where they came from.
    let no_result: Vec<&SearchFacts> = all.iter().copied().filter(|s| s.results == Some(0)).collect();
    let mut nr_by_query: BTreeMap<&str, Vec<&SearchFacts>> = BTreeMap::new();
    for s in &no_result {
        nr_by_query.entry(s.query.as_str()).or_default().push(s);
    }
    let mut want_no_results: Vec<NoResultNumbers<String>> = nr_by_query
        .iter()
        .map(|(q, list)| {
            let mut origins: BTreeMap<&str, u64> = BTreeMap::new();
            for s in list {
                *origins.entry(s.from_page.as_str()).or_default() += 1;
            }
            let mut origins: Vec<FromPage> =
                origins.into_iter().map(|(page, searches)| FromPage { page: page.to_owned(), searches }).collect();
            origins.sort_by(|a, b| b.searches.cmp(&a.searches).then(a.page.cmp(&b.page)));
            origins.truncate(5);
            let n = list.len() as u64;
            ((*q).to_owned(), n, visitors(list), rate(n, total), origins)
        })
        .collect();
    want_no_results.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));

    // Visits with and without a search; purchases and revenue.
    let mut visit_events: HashMap<u64, Vec<&Event>> = HashMap::new();
    for e in &in_range {
        visit_events.entry(e.session_id.0).or_default().push(e);
    }
    let group = |pick: &dyn Fn(&[&Event]) -> bool| {
        let (mut visits, mut purchasing, mut amount, mut orders) = (0u64, 0u64, 0i64, 0u64);
        for visit in visit_events.values().filter(|v| pick(v)) {
            visits += 1;
            purchasing += u64::from(visit.iter().any(|e| e.name.as_str() == "purchase"));
            for e in visit.iter().filter(|e| e.name.as_str() == "purchase") {
                if let Some(money) = e.revenue {
                    amount += money.amount_e4();
                    orders += 1;
                }
            }
        }
        (visits, purchasing, amount, orders)
    };
    let searched = |v: &[&Event]| v.iter().any(|e| e.name.as_str() == "search");
    let found = |v: &[&Event]| {
        v.iter().any(|e| e.name.as_str() == "search" && e.search.as_ref().and_then(|s| s.result_count) != Some(0))
    };
    let with = group(&searched);
    let without = group(&|v| !searched(v));
    let basis = group(&found);
    assert!(with.3 > 10 && without.3 > 10 && basis.1 > 0, "purchases on both sides: {with:?} {without:?}");

    // Trending with a minimum of 5 searchers.
    let searchers_per_query = |events: &[&Event]| {
        let mut per: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        for e in events.iter().filter(|e| e.name.as_str() == "search") {
            per.entry(e.search.as_ref().expect("search").query.clone()).or_default().insert(e.visitor_id.0);
        }
        per.into_iter().map(|(q, v)| (q, v.len() as u64)).collect::<BTreeMap<String, u64>>()
    };
    let now = searchers_per_query(&in_range);
    let then = searchers_per_query(&before);
    let mut want_trending: Vec<(String, u64, u64)> = now
        .iter()
        .filter(|(q, n)| **n >= 5 && **n > then.get(*q).copied().unwrap_or(0))
        .map(|(q, n)| (q.clone(), *n, then.get(q).copied().unwrap_or(0)))
        .collect();
    want_trending.sort_by(|a, b| (b.1 - b.2).cmp(&(a.1 - a.2)).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));

    let none = filters(&[]);
    let site = site();
    let scope = scope(&site, days, &none);
    let options = SearchOptions { trending_min_searchers: 5, ..SearchOptions::default() };
    for store in &stores {
        store.insert_events(&events).await.expect("insert");
    }
    for store in &stores {
        let kind = store.kind();
        let report = search::report(store.as_ref(), &scope, &options).await.expect("report");
        let summary = report.summary.as_ref().expect("summary");
        assert_eq!(
            (summary.searches, summary.searchers, summary.no_result_searches, summary.clicked_searches),
            (total, visitors(&all), no_result.len() as u64, count(&|s| !s.clicks.is_empty())),
            "{kind:?}: summary counts"
        );
        assert_eq!(
            (summary.refinements, summary.search_exits, summary.average_clicked_position),
            (count(&|s| s.refined), count(&|s| s.exited), mean_position(&all)),
            "{kind:?}: refinements, exits, position"
        );
        let got_top: Vec<QueryNumbers<String>> = report
            .top_queries
            .as_ref()
            .expect("top")
            .iter()
            .map(|q| {
                (
                    q.query.clone(),
                    q.searches,
                    q.searchers,
                    q.no_result_rate,
                    q.click_through_rate,
                    q.average_clicked_position,
                )
            })
            .collect();
        assert_eq!(got_top, top, "{kind:?}: top queries");
        let got_no_results: Vec<NoResultNumbers<String>> = report
            .no_result_queries
            .as_ref()
            .expect("no results")
            .iter()
            .map(|q| (q.query.clone(), q.searches, q.searchers, q.share_of_searches, q.from_pages.clone()))
            .collect();
        assert_eq!(got_no_results, want_no_results, "{kind:?}: no-result queries and their origins");
        let conversion = report.conversion.as_ref().expect("conversion");
        for (got, want, side) in
            [(&conversion.with_search, with, "with"), (&conversion.without_search, without, "without")]
        {
            assert_eq!((got.visits, got.purchasing_visits), (want.0, want.1), "{kind:?}: visits {side} a search");
            assert_eq!(
                got.revenue.iter().map(|r| (r.amount_e4, r.orders)).collect::<Vec<_>>(),
                [(want.2, want.3)],
                "{kind:?}: {side}"
            );
        }
        let lost = report.lost_revenue.as_ref().expect("lost");
        assert_eq!(
            (lost.basis.visits, lost.basis.purchasing_visits),
            (basis.0, basis.1),
            "{kind:?}: lost-revenue basis"
        );
        for q in &lost.queries {
            let exact = q.searchers as f64 * basis.1 as f64 / basis.0 as f64 * basis.2 as f64 / basis.3 as f64;
            assert!(
                (q.estimated_lost_e4 as f64 - exact).abs() <= 0.5 + 1e-6,
                "{kind:?}: {} lost {} vs {exact}",
                q.query,
                q.estimated_lost_e4
            );
        }
        let got_trending: Vec<(String, u64, u64)> = report
            .trending
            .as_ref()
            .expect("trending")
            .iter()
            .map(|t| (t.query.clone(), t.searchers, t.previous_searchers))
            .collect();
        assert_eq!(got_trending, want_trending, "{kind:?}: trending");
    }
}
