//! The same fixture in both backends gives the same answers to the same queries.

use serde_json::Value;

use crate::helpers::both;
use crate::roundtrip::fixture;

/// Dashboard-shaped queries over the fixture; each is written once and run on both engines.
/// Money is read as its scaled integer: the engines print `Decimal` differently (`4747.2100` on
/// 18.16, `4747.21` on 26.x), and that is not a difference in the answer.
const QUERIES: &[&str] = &[
    "SELECT site, name, count() AS events, uniqExact(visitor_id) AS visitors, uniqExact(session_id) AS visits \
     FROM events GROUP BY site, name ORDER BY site, name",
    "SELECT site, toDate(timestamp) AS day, countIf(name = 'pageview') AS pageviews FROM events \
     GROUP BY site, day ORDER BY site, day",
    "SELECT referrer_source, referrer_medium, uniqExact(visitor_id) AS visitors FROM events \
     WHERE site = 'shop.example' GROUP BY referrer_source, referrer_medium ORDER BY visitors DESC, referrer_source",
    "SELECT country, region, city, device, browser, os, count() AS n FROM events \
     GROUP BY country, region, city, device, browser, os ORDER BY n DESC, country, region, city, device, browser, os LIMIT 20",
    "SELECT currency, toInt64(sum(revenue) * 10000) AS revenue_e4, count() AS orders, sum(arraySum(items.quantity)) AS units \
     FROM events WHERE name = 'purchase' GROUP BY currency",
    "SELECT search_query, count() AS searches, countIf(search_results = 0) AS no_results, \
     round(avg(search_position), 6) AS avg_position FROM events WHERE search_query != '' \
     GROUP BY search_query ORDER BY search_query",
    "SELECT pathname, round(avg(scroll_depth), 6) AS scroll, quantileExact(0.75)(engaged_ms) AS engaged_p75 \
     FROM events WHERE name = 'engagement' GROUP BY pathname ORDER BY pathname",
    "SELECT vital_name, quantileExact(0.75)(vital_value) AS p75, count() AS n FROM events \
     WHERE vital_name != '' GROUP BY vital_name ORDER BY vital_name",
    "SELECT error_message, count() AS n, uniqExact(pathname) AS pages FROM events WHERE name = 'js_error' \
     GROUP BY error_message ORDER BY error_message",
    "SELECT props.value[indexOf(props.key, 'payment')] AS payment, count() AS n FROM events \
     WHERE has(props.key, 'payment') GROUP BY payment ORDER BY payment",
    "SELECT level, count() AS visitors FROM (SELECT visitor_id, windowFunnel(86400)(timestamp, name = 'view_item', \
     name = 'add_to_cart', name = 'purchase') AS level FROM events WHERE site = 'shop.example' GROUP BY visitor_id) \
     GROUP BY level ORDER BY level",
];

#[tokio::test]
async fn the_same_fixture_gives_the_same_answers_on_both_backends() {
    let (_dir, stores) = both("parity").await;
    let events = fixture(7, 20_000);
    for store in &stores {
        store.insert_events(&events).await.expect("insert");
    }
    for query in QUERIES {
        let mut answers = Vec::new();
        for store in &stores {
            let rows: Vec<Value> =
                store.fetch_json(query).await.unwrap_or_else(|e| panic!("{:?}: {query}: {e}", store.kind()));
            answers.push(rows);
        }
        assert!(!answers[0].is_empty(), "query returns rows: {query}");
        assert_eq!(answers[0], answers[1], "embedded and server agree on: {query}");
    }
}
