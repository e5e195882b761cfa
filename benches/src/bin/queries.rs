//! How fast do the dashboard's reports answer on a big shop, against the best hand-written SQL?
//!
//! Loads generated shop events into the embedded store (chDB) — by default 10 million, then
//! 100 million — and times, over 30 days, the overview, a 4-step funnel (`view_item` →
//! `add_to_cart` → `begin_checkout` → `purchase`, strict order, one-hour window) and the
//! site-search report, each through `larder_store` exactly as the API calls it, and beside it the
//! fastest hand-written query for the same numbers (the ceiling). Before timing, each pair must
//! give equal numbers, so the comparison is of like with like.
//!
//! The events are generated inside the engine (`INSERT … SELECT … FROM numbers()`): sessions of
//! 1–11 events about a minute apart, two sessions per visitor and day (morning and afternoon, so
//! that a visitor's events never share a second and every report's tie rules agree), a tenth of the sessions
//! entering the funnel, searches over 40 queries of which 4 find nothing. A generated data set is
//! kept under `target/bench-data/` and reused by the next run (delete it to regenerate).
//!
//! `LARDER_BENCH_QUERY_EVENTS=10000000,100000000` sets the sizes, `LARDER_BENCH_QUERY_RUNS`
//! the timed runs per query (default 15, after 2 untimed), `LARDER_BENCH_QUERY_REPORTS` the
//! reports (default `overview,overview-open,funnel,search,search-open`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, Utc};
use larder_core::SiteDomain;
use larder_core::query::DateRange;
use larder_store::funnels::{self, FunnelDefinition, FunnelInput, StepInput};
use larder_store::search::{self, SearchOptions, SearchSection};
use larder_store::sites::{self, Site};
use larder_store::stats::{self, Scope};
use larder_store::{EmbeddedConfig, EmbeddedStore, Store, rollup};

const SITE: &str = "bench.example";
/// The first day of the generated month.
const FIRST_DAY: &str = "2026-10-01";
const DAYS: u64 = 30;
/// Events per generated chunk (one `INSERT … SELECT` each).
const CHUNK_SESSIONS: u64 = 2_000_000;
/// Bump when the generator changes, so that kept data sets are regenerated.
const GENERATOR_VERSION: u32 = 2;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(bench());
    drop(runtime);
    larder_store::shutdown_embedded_engine();
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn bench() {
    let sizes: Vec<u64> = std::env::var("LARDER_BENCH_QUERY_EVENTS")
        .unwrap_or_else(|_| "10000000,100000000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let runs = setting("LARDER_BENCH_QUERY_RUNS", 15_usize);
    let wanted = std::env::var("LARDER_BENCH_QUERY_REPORTS")
        .unwrap_or_else(|_| "overview,overview-open,funnel,search,search-open".into());
    let reports: Vec<Report> =
        [Report::Overview, Report::OverviewLastDayOpen, Report::Funnel, Report::Search, Report::SearchLastDayOpen]
            .into_iter()
            .filter(|r| wanted.split(',').any(|w| w.trim() == r.key()))
            .collect();
    println!(
        "queries: embedded store, {} timed runs per query after 2 untimed, sequential; {}\n",
        runs,
        larder_benches::machine()
    );
    println!(
        "| events | report | larder p50 ms | larder p95 ms | hand-written p50 ms | hand-written p95 ms | ÷ hand-written (p50) |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for events in sizes {
        let (store, loaded) = open_data_set(events).await;
        let site = SiteDomain::parse(SITE).expect("site");
        let from = NaiveDate::parse_from_str(FIRST_DAY, "%Y-%m-%d").expect("date");
        let range = DateRange { from, to: from.checked_add_days(Days::new(DAYS - 1)).expect("date") };
        let scope = Scope { site: &site, timezone: "UTC", range, filters: &[] };
        // The days' visits rolled up, as `larder serve` does an hour after each day ends.
        if sites::get(store.as_ref(), &site).await.expect("site").is_none() {
            sites::add(store.as_ref(), &Site::new(site.clone(), Utc::now())).await.expect("add the site");
        }
        let started = Instant::now();
        let rolled = rollup::roll(store.as_ref(), Utc::now()).await.expect("roll up");
        println!(
            "<!-- {} events: {} days rolled up in {:.1} s -->",
            thousands(loaded),
            rolled.rolled,
            started.elapsed().as_secs_f64()
        );
        for &report in &reports {
            if report.last_day_open() {
                // The last day's count moves, as an event arriving would move it.
                let last = from.checked_add_days(Days::new(DAYS - 1)).expect("date");
                store
                    .execute(&format!("INSERT INTO day_inserts (site, day, inserted) VALUES ('{SITE}', '{last}', 1)"))
                    .await
                    .expect("open the last day");
            }
            check_equal(store.as_ref(), &scope, report).await;
            let larder = time(runs, || larder_report(store.as_ref(), &scope, report)).await;
            let hand = time(runs, || hand_written(store.as_ref(), report)).await;
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
                thousands(loaded),
                report.label(),
                ms(larder.0),
                ms(larder.1),
                ms(hand.0),
                ms(hand.1),
                larder.0.as_secs_f64() / hand.0.as_secs_f64()
            );
            if report.last_day_open() {
                rollup::roll(store.as_ref(), Utc::now()).await.expect("roll the last day up again");
            }
        }
        drop(store);
    }
}

#[derive(Debug, Clone, Copy)]
enum Report {
    Overview,
    /// The overview while the range's last day is not rolled up (as today is not): that day's
    /// visits are finished from `visit_parts`.
    OverviewLastDayOpen,
    Funnel,
    Search,
    /// The search report while the range's last day is not rolled up.
    SearchLastDayOpen,
}

impl Report {
    /// Whether the range's last day is opened again before timing (as an arriving event would).
    fn last_day_open(self) -> bool {
        matches!(self, Self::OverviewLastDayOpen | Self::SearchLastDayOpen)
    }
}

impl Report {
    /// Its name in `LARDER_BENCH_QUERY_REPORTS`.
    fn key(self) -> &'static str {
        match self {
            Self::Overview => "overview",
            Self::OverviewLastDayOpen => "overview-open",
            Self::Funnel => "funnel",
            Self::Search => "search",
            Self::SearchLastDayOpen => "search-open",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Overview => "overview, 30 days",
            Self::OverviewLastDayOpen => "overview, 30 days, the last not rolled up",
            Self::Funnel => "4-step funnel, 30 days",
            Self::Search => "site search: summary, top and no-result queries, 30 days ¹",
            Self::SearchLastDayOpen => "site search ¹, 30 days, the last not rolled up",
        }
    }
}

fn funnel() -> FunnelDefinition {
    let step = |event: &str| StepInput { event: Some(event.into()), ..StepInput::default() };
    FunnelDefinition::parse(&FunnelInput {
        name: None,
        steps: vec![step("view_item"), step("add_to_cart"), step("begin_checkout"), step("purchase")],
        window_seconds: Some(3600),
        order: Some("strict".into()),
    })
    .expect("a valid funnel")
}

fn search_options() -> SearchOptions {
    SearchOptions {
        sections: vec![SearchSection::Summary, SearchSection::TopQueries, SearchSection::NoResults],
        limit: 10,
        trending_min_searchers: 3,
    }
}

/// The report through `larder_store`, reduced to the numbers the hand-written query gives.
async fn larder_report(store: &dyn Store, scope: &Scope<'_>, report: Report) -> Vec<u64> {
    match report {
        Report::Overview | Report::OverviewLastDayOpen => {
            let o = stats::overview(store, scope).await.expect("overview");
            // Rates as the overview rounds them: bounce rate to 4 digits, duration to 0.1 s.
            vec![
                o.visitors,
                o.visits,
                o.pageviews,
                (o.bounce_rate * 1e4).round() as u64,
                (o.visit_duration * 10.0).round() as u64,
            ]
        }
        Report::Funnel => {
            let result = funnels::evaluate(store, scope, &funnel(), None).await.expect("funnel");
            result.steps.iter().map(|s| s.visitors).collect()
        }
        Report::Search | Report::SearchLastDayOpen => {
            let report = search::report(store, scope, &search_options()).await.expect("search report");
            let summary = report.summary.expect("summary");
            let mut numbers = vec![summary.searches, summary.searchers, summary.no_result_searches];
            numbers.extend(report.top_queries.unwrap_or_default().iter().flat_map(|q| [q.searches, q.searchers]));
            numbers.extend(report.no_result_queries.unwrap_or_default().iter().map(|q| q.searches));
            numbers
        }
    }
}

/// The fastest query we could write by hand for the same numbers.
fn hand_written_sql(report: Report) -> String {
    let range = format!(
        "site = '{SITE}' AND timestamp >= toDateTime('{FIRST_DAY} 00:00:00', 'UTC') \
         AND timestamp < toDateTime('{FIRST_DAY} 00:00:00', 'UTC') + INTERVAL {DAYS} DAY"
    );
    match report {
        // Visits are sessions; one pass groups the range's events by session.
        Report::Overview | Report::OverviewLastDayOpen => format!(
            "SELECT uniqExact(v), count(), sum(pv), countIf(pv <= 1 AND i = 0), sum(d) FROM (\
               SELECT any(visitor_id) AS v, countIf(name = 'pageview') AS pv, \
                 countIf(name NOT IN ('pageview', 'engagement', 'web_vital', 'js_error', 'rage_click', 'dead_click')) AS i, \
                 toUInt64(max(timestamp)) - toUInt64(min(timestamp)) AS d \
               FROM events WHERE {range} GROUP BY session_id) FORMAT TabSeparated"
        ),
        // windowFunnel per visitor over the funnel's events only; visitors per level, summed
        // from the top.
        Report::Funnel => format!(
            "SELECT countIf(l >= 1), countIf(l >= 2), countIf(l >= 3), countIf(l >= 4) FROM (\
               SELECT windowFunnel(3600)(timestamp, name = 'view_item', name = 'add_to_cart', \
                 name = 'begin_checkout', name = 'purchase') AS l \
               FROM events WHERE {range} AND name IN ('view_item', 'add_to_cart', 'begin_checkout', 'purchase') \
               GROUP BY visitor_id) FORMAT TabSeparated"
        ),
        // One pass over the searches: the summary, then the top and the no-result queries.
        Report::Search | Report::SearchLastDayOpen => format!(
            "SELECT count(), uniqExact(visitor_id), countIf(search_results = 0) FROM events \
               WHERE {range} AND name = 'search' FORMAT TabSeparated;\n\
             SELECT count() AS n, uniqExact(visitor_id) AS u FROM events WHERE {range} AND name = 'search' \
               GROUP BY search_query ORDER BY u DESC, n DESC, search_query LIMIT 10 FORMAT TabSeparated;\n\
             SELECT count() AS n FROM events WHERE {range} AND name = 'search' AND search_results = 0 \
               GROUP BY search_query ORDER BY n DESC, uniqExact(visitor_id) DESC, search_query LIMIT 10 \
               FORMAT TabSeparated"
        ),
    }
}

async fn hand_written(store: &dyn Store, report: Report) -> Vec<u64> {
    let mut numbers = hand_written_numbers(store, report).await;
    if let Report::Overview | Report::OverviewLastDayOpen = report {
        // visitors, visits, pageviews, bounces, duration → the overview's rounded rates.
        let visits = numbers[1].max(1) as f64;
        numbers[3] = (numbers[3] as f64 / visits * 1e4).round() as u64;
        numbers[4] = (numbers[4] as f64 / visits * 10.0).round() as u64;
    }
    numbers
}

async fn hand_written_numbers(store: &dyn Store, report: Report) -> Vec<u64> {
    let mut numbers = Vec::new();
    for statement in hand_written_sql(report).split(";\n") {
        let statement = statement.trim_end_matches(" FORMAT TabSeparated");
        let out = store.query_raw(statement, "TabSeparated").await.expect("hand-written query");
        numbers.extend(
            String::from_utf8_lossy(&out)
                .split(['\t', '\n'])
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<u64>().expect("a number")),
        );
    }
    numbers
}

async fn check_equal(store: &dyn Store, scope: &Scope<'_>, report: Report) {
    let larder = larder_report(store, scope, report).await;
    let hand = hand_written(store, report).await;
    assert_eq!(larder, hand, "{}: larder and the hand-written SQL disagree", report.label());
    eprintln!("queries: {} agree: {larder:?}", report.label());
}

/// p50 and p95 of up to `runs` runs after two untimed ones.
async fn time<F, Fut>(runs: usize, mut run: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<u64>>,
{
    for _ in 0..2 {
        run().await;
    }
    // Slow queries get fewer runs: at least 3, within about a minute.
    let budget = Instant::now() + Duration::from_secs(60);
    let mut times = Vec::with_capacity(runs);
    while times.len() < runs && (times.len() < 3 || Instant::now() < budget) {
        let started = Instant::now();
        std::hint::black_box(run().await);
        times.push(started.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    (at(0.5), at(0.95))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn thousands(n: u64) -> String {
    larder_benches::group_digits(&n.to_string())
}

/// The store holding about `events` generated events: reused when a previous run made it.
async fn open_data_set(events: u64) -> (Arc<dyn Store>, u64) {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data"))
        .join(format!("queries-v{GENERATOR_VERSION}-{events}"));
    let done = dir.join("complete");
    let fresh = !done.exists();
    if fresh && dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove an incomplete data set");
    }
    let store = EmbeddedStore::open(EmbeddedConfig {
        data_dir: dir.join("chdb"),
        library: larder_benches::chdb_library(),
        read_connections: 2,
    })
    .await
    .expect("open chDB (run `make setup`)");
    let store: Arc<dyn Store> = Arc::new(store);
    // Also on a kept data set: a newer schema (the pre-aggregated visits) is filled from its events.
    let migrated = larder_store::migrate::migrate(store.as_ref()).await.expect("migrate");
    if !fresh && !migrated.applied.is_empty() {
        store.execute("OPTIMIZE TABLE visit_parts FINAL").await.expect("merge parts");
        eprintln!("queries: migrated the kept data set ({:?})", migrated.applied);
    }
    if fresh {
        let started = Instant::now();
        // 6 events per session on average.
        let sessions = events / 6;
        let mut first = 0;
        while first < sessions {
            let last = (first + CHUNK_SESSIONS).min(sessions);
            store.execute(&generate_sql(first, last)).await.expect("generate events");
            first = last;
            eprintln!("queries: generated sessions up to {last} of {sessions} ({:.0?})", started.elapsed());
        }
        store.execute("OPTIMIZE TABLE events FINAL").await.expect("merge parts");
        store.execute("OPTIMIZE TABLE visit_parts FINAL").await.expect("merge parts");
        std::fs::write(&done, b"").expect("mark the data set complete");
        eprintln!("queries: {events} events generated in {:.0?}", started.elapsed());
    }
    let out = store.query_raw("SELECT count() FROM events", "TabSeparated").await.expect("count");
    let loaded = String::from_utf8_lossy(&out).trim().parse().expect("a count");
    (store, loaded)
}

/// Sessions `[first, last)`: session `s` belongs to visitor `s / 2` on day `(s / 2) % 30`.
fn generate_sql(first: u64, last: u64) -> String {
    format!(
        "INSERT INTO events (event_id, site, timestamp, name, visitor_id, session_id, hostname, pathname, \
           referrer_host, referrer_source, referrer_medium, utm_source, utm_medium, utm_campaign, \
           country, region, city, browser, browser_version, os, os_version, device, \
           revenue, currency, order_id, search_query, search_results, search_position, scroll_depth, engaged_ms, \
           vital_name, vital_value, error_message) \
         WITH cityHash64(s, step) AS h2, h2 % 100 AS r, \
           ['tea', 'green tea', 'coffee', 'mug', 'teapot', 'earl grey', 'sencha', 'chai', 'cups', 'filter', \
            'kettle', 'matcha', 'rooibos', 'decaf', 'beans', 'grinder', 'gift', 'sale', 'black tea', 'herbal', \
            'white tea', 'jasmine', 'darjeeling', 'assam', 'honey', 'milk frother', 'espresso', 'tea bags', 'loose tea', 'tin', \
            'strainer', 'infuser', 'sampler', 'oolong', 'pu erh', 'mint', 'xyzzy', 'ümlaut tee', 'matcha whisk', 'oolong 50g'] \
             [1 + intDiv(h2, 128) % 40] AS q, \
           multiIf(step = 0, 'pageview', \
             step = 1 AND f < 10, 'view_item', step = 2 AND f < 6, 'add_to_cart', \
             step = 3 AND f < 4, 'begin_checkout', step = 4 AND f < 2, 'purchase', \
             r < 55, 'pageview', r < 70, 'search', r < 76, 'search_click', r < 84, 'engagement', r < 88, 'web_vital', \
             r < 90, 'rage_click', r < 91, 'dead_click', r < 92, 'js_error', 'pageview') AS ev \
         SELECT generateUUIDv4(h2) AS event_id, '{SITE}', start + step * 60 + h2 % 50 AS ts, ev AS name, \
           intDiv(s, 2) + 1, s + 1, '{SITE}', \
           multiIf(ev IN ('search', 'search_click'), '/search', ev IN ('begin_checkout', 'purchase'), '/checkout', \
                   ev IN ('view_item', 'add_to_cart'), concat('/p/', toString(h % 200)), \
                   ['/', '/c/tea', '/c/coffee', '/about', concat('/p/', toString(h2 % 200))][1 + h2 % 5]), \
           ref.1, ref.2, ref.3, if(ref.3 = 'email', 'newsletter', ''), if(ref.3 = 'email', 'email', ''), \
           if(ref.3 = 'email', 'winter-sale', ''), \
           geo.1, geo.2, geo.3, ua.1, ua.2, ua.3, ua.4, ua.5, \
           if(ev = 'purchase', toDecimal64(10 + h2 % 190, 4), NULL), if(ev = 'purchase', 'EUR', ''), \
           if(ev = 'purchase', concat('o-', toString(s)), ''), \
           multiIf(ev = 'search', q, ev = 'search_click', ['tea', 'green tea', 'coffee', 'mug', 'teapot'][1 + h2 % 5], ''), \
           if(ev = 'search', if(q IN ('xyzzy', 'ümlaut tee', 'matcha whisk', 'oolong 50g'), 0, 1 + h2 % 40), NULL), \
           if(ev = 'search_click', toUInt16(1 + h2 % 10), NULL), \
           if(ev = 'engagement', toUInt8(h2 % 101), NULL), if(ev = 'engagement', toUInt32(h2 % 60000), NULL), \
           if(ev = 'web_vital', 'LCP', ''), if(ev = 'web_vital', toFloat64(800 + h2 % 4000), NULL), \
           if(ev = 'js_error', 'TypeError: x is undefined', '') \
         FROM ( \
           SELECT number AS s, cityHash64(number) AS h, \
             toDateTime('{FIRST_DAY} 00:00:00', 'UTC') + INTERVAL (intDiv(number, 2) % {DAYS}) DAY \
               + (number % 2) * 43000 + (h % 40000) AS start, \
             1 + intDiv(h, 256) % 11 AS n, intDiv(h, 1048576) % 100 AS f, \
             [('google.com', 'Google', 'search'), ('', 'Direct', 'direct'), ('instagram.com', 'Instagram', 'social'), \
              ('newsletter.shop', 'Newsletter', 'email'), ('bing.com', 'Bing', 'search'), ('blog.example', 'blog.example', 'referral')] \
               [1 + intDiv(h, 65536) % 6] AS ref, \
             [('DE', 'DE-BE', 'Berlin'), ('FR', 'FR-IDF', 'Paris'), ('US', 'US-CA', 'San Francisco'), ('GB', '', ''), ('NL', '', '')] \
               [1 + intDiv(h, 4096) % 5] AS geo, \
             [('Chrome', '131', 'Windows', '10', 'desktop'), ('Safari', '18', 'iOS', '18', 'mobile'), \
              ('Firefox', '133', 'Linux', '', 'desktop'), ('Chrome', '131', 'Android', '14', 'mobile'), \
              ('Safari', '18', 'iPadOS', '18', 'tablet')][1 + intDiv(h, 16) % 5] AS ua \
           FROM numbers({first}, {count}) \
         ) ARRAY JOIN range(n) AS step",
        count = last - first
    )
}
