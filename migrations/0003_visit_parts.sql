-- Visits pre-aggregated as events arrive, so that the dashboard need not group every event of a
-- period by visit on each request. One row per visit and quarter of an hour (UTC) in which it
-- had events, holding the engine's partial aggregates of those events; the engine merges rows
-- of the same key in the background and queries finish the merge (`-Merge` functions, grouped
-- by visit). A quarter of an hour because every time zone's midnight falls on one: a report's
-- range in any site's time zone selects whole rows, and the visits it computes are exactly
-- those it would compute from the events (see store/src/visits.rs).
--
-- Written by the materialized view below on every insert into `events` (the collectors', a
-- restore's, a copy's), and kept in step with deletions by store/src/visits.rs. Derived data:
-- not backed up (a restore of the events rebuilds it), partitioned like `events` so retention
-- and site deletion drop the same partitions.
CREATE TABLE IF NOT EXISTS visit_parts
(
    site LowCardinality(String),
    bucket DateTime('UTC'),
    session_id UInt64,
    visitor_id UInt64,
    s_started AggregateFunction(min, DateTime('UTC')),
    s_ended AggregateFunction(max, DateTime('UTC')),
    s_pageviews AggregateFunction(sum, UInt64),
    s_interactions AggregateFunction(sum, UInt64),
    s_entry_page AggregateFunction(argMinIf, String, String, UInt8),
    s_exit_page AggregateFunction(argMaxIf, String, String, UInt8),
    s_source AggregateFunction(argMin, String, String),
    s_referrer AggregateFunction(argMin, String, String),
    s_medium AggregateFunction(argMin, String, String),
    s_utm_source AggregateFunction(argMin, String, String),
    s_utm_medium AggregateFunction(argMin, String, String),
    s_utm_campaign AggregateFunction(argMin, String, String),
    s_utm_term AggregateFunction(argMin, String, String),
    s_utm_content AggregateFunction(argMin, String, String),
    s_country AggregateFunction(min, String),
    s_region AggregateFunction(min, String),
    s_city AggregateFunction(min, String),
    s_device AggregateFunction(min, String),
    s_browser AggregateFunction(min, String),
    s_browser_version AggregateFunction(min, String),
    s_os AggregateFunction(min, String),
    s_os_version AggregateFunction(min, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY (site, toYYYYMM(bucket))
ORDER BY (site, bucket, session_id, visitor_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS visit_parts_mv TO visit_parts AS
SELECT
    site,
    toStartOfFifteenMinutes(timestamp) AS bucket,
    session_id,
    visitor_id,
    minState(timestamp) AS s_started,
    maxState(timestamp) AS s_ended,
    sumState(toUInt64(name = 'pageview')) AS s_pageviews,
    sumState(toUInt64(name NOT IN ('pageview', 'engagement', 'web_vital', 'js_error', 'rage_click', 'dead_click'))) AS s_interactions,
    argMinIfState(pathname, concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id)), toUInt8(name = 'pageview')) AS s_entry_page,
    argMaxIfState(pathname, concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id)), toUInt8(name = 'pageview')) AS s_exit_page,
    argMinState(CAST(referrer_source AS String), concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))) AS s_source,
    argMinState(referrer_host, concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))) AS s_referrer,
    argMinState(CAST(referrer_medium AS String), concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))) AS s_medium,
    argMinState(utm_source, concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))) AS s_utm_source,
    argMinState(utm_medium, concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))) AS s_utm_medium,
    argMinState(utm_campaign, concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))) AS s_utm_campaign,
    argMinState(utm_term, concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))) AS s_utm_term,
    argMinState(utm_content, concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))) AS s_utm_content,
    minState(CAST(country AS String)) AS s_country,
    minState(CAST(region AS String)) AS s_region,
    minState(city) AS s_city,
    minState(CAST(device AS String)) AS s_device,
    minState(CAST(browser AS String)) AS s_browser,
    minState(CAST(browser_version AS String)) AS s_browser_version,
    minState(CAST(os AS String)) AS s_os,
    minState(CAST(os_version AS String)) AS s_os_version
FROM events
GROUP BY site, bucket, session_id, visitor_id;

-- The events stored before this migration are aggregated after this file, a day at a time
-- (store/src/visits.rs, `fill`), which first truncates the table: running this file again after a
-- failure does not count events twice.
