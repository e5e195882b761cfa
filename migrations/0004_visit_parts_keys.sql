-- `visit_parts` (migration 0003) rebuilt to cost the inserts into `events` about half as much,
-- measured on chDB: 900,000 events in visits of 1–11 took 6.1 s to insert through the first
-- view, 0.7 s without one, and 2.8 s through this one. Eight `min` states of strings and eight
-- `argMin` states, each with its own copy of the event order, were most of that cost.
--
-- * A visit's place and software (country … os_version) are plain columns of the sorting key.
--   They derive from the address and user agent that the visitor id hashes, so a visit has one
--   value of each and a quarter hour of it stays one row; should a visit hold several, it has
--   one row per combination, and `min` over its rows gives what `min` over its events does.
-- * Its first-touch values (source, referrer, medium and the five UTM keys) are one `argMin`
--   state of the eight joined by a NUL byte, split again by the query. The collector removes
--   control characters from every one of them, so a NUL cannot occur inside a value.
--
-- The rows are otherwise as before (see 0003 and store/src/visits.rs). Dropped and created
-- again, then filled from the stored events by the step after this file.
DROP TABLE IF EXISTS visit_parts_mv;

DROP TABLE IF EXISTS visit_parts;

CREATE TABLE IF NOT EXISTS visit_parts
(
    site LowCardinality(String),
    bucket DateTime('UTC'),
    session_id UInt64,
    visitor_id UInt64,
    country LowCardinality(String),
    region LowCardinality(String),
    city String,
    device LowCardinality(String),
    browser LowCardinality(String),
    browser_version LowCardinality(String),
    os LowCardinality(String),
    os_version LowCardinality(String),
    s_started AggregateFunction(min, DateTime('UTC')),
    s_ended AggregateFunction(max, DateTime('UTC')),
    s_pageviews AggregateFunction(sum, UInt64),
    s_interactions AggregateFunction(sum, UInt64),
    s_entry_page AggregateFunction(argMinIf, String, String, UInt8),
    s_exit_page AggregateFunction(argMaxIf, String, String, UInt8),
    s_first_touch AggregateFunction(argMin, String, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY (site, toYYYYMM(bucket))
ORDER BY (site, bucket, session_id, visitor_id, country, region, city, device, browser, browser_version, os, os_version);

CREATE MATERIALIZED VIEW IF NOT EXISTS visit_parts_mv TO visit_parts AS
SELECT
    site,
    toStartOfFifteenMinutes(timestamp) AS bucket,
    session_id,
    visitor_id,
    country,
    region,
    city,
    device,
    browser,
    browser_version,
    os,
    os_version,
    minState(timestamp) AS s_started,
    maxState(timestamp) AS s_ended,
    sumState(toUInt64(name = 'pageview')) AS s_pageviews,
    sumState(toUInt64(name NOT IN ('pageview', 'engagement', 'web_vital', 'js_error', 'rage_click', 'dead_click'))) AS s_interactions,
    argMinIfState(pathname, concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id)), toUInt8(name = 'pageview')) AS s_entry_page,
    argMaxIfState(pathname, concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id)), toUInt8(name = 'pageview')) AS s_exit_page,
    argMinState(arrayStringConcat([CAST(referrer_source AS String), referrer_host, CAST(referrer_medium AS String), utm_source, utm_medium, utm_campaign, utm_term, utm_content], '\0'), concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))) AS s_first_touch
FROM events
GROUP BY site, bucket, session_id, visitor_id, country, region, city, device, browser, browser_version, os, os_version;

-- The stored events are aggregated after this file, a day at a time (store/src/visits.rs,
-- `fill`), which first truncates the table: running this file again after a failure does not
-- count events twice.
