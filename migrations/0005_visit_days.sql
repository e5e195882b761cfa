-- Finished visits rolled up per UTC day, so that the overview and its time series read a few
-- rows per day instead of every visit (see store/src/rollup.rs).
--
-- `day_inserts` counts the events inserted for each UTC day: a view on `events` adds to it on
-- every insert, so the count moves whenever a day gets events (late ones, a replay), and
-- deletions add to it too. A rolled-up day records the count it was computed at; the reports
-- use it only while the two are equal.
CREATE TABLE IF NOT EXISTS day_inserts
(
    site LowCardinality(String),
    day Date,
    inserted UInt64
)
ENGINE = SummingMergeTree
ORDER BY (site, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS day_inserts_mv TO day_inserts AS
SELECT
    site,
    toDate(timestamp) AS day,
    count() AS inserted
FROM events
GROUP BY site, day;

-- Five rows per site and UTC day, one per `piece`: `day` (all its visits), `starts_before` and
-- `starts_after` (visits that start before / from `split`, whole), `until_split` and
-- `from_split` (the visits' events before / from `split`, cut there). `split` is the site's
-- local midnight within the UTC day, in the time zone `timezone` had when the day was rolled.
-- `rollable` is 0 when a visit of the day also has events on another day: such a day is
-- always computed from `visit_parts`.
CREATE TABLE IF NOT EXISTS visit_days
(
    site LowCardinality(String),
    day Date,
    piece LowCardinality(String),
    timezone String,
    split DateTime('UTC'),
    inserted UInt64,
    rollable UInt8,
    visitors UInt64,
    visits UInt64,
    pageviews UInt64,
    bounces UInt64,
    duration UInt64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site, day, piece);
