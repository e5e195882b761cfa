-- The site-search report rolled up per site and UTC day, as `visit_days` (0005) rolls up the
-- overview, with the same pieces (`day`, `until_split`, `from_split`), the same `split` and the
-- same `inserted` count, by which the reports tell whether a day changed since (see
-- store/src/search.rs). `kind` says what a row holds:
-- * `total`: the piece's searches, searchers, no-result searches, clicked searches, positioned
--   clicks and their position sum, refinements and exits (one row per piece, also without
--   searches: it marks the piece as rolled up);
-- * `query`: the same per `query`, with `no_result_searchers`;
-- * `origin`: no-result searches of `query` that came from the page `page`.
CREATE TABLE IF NOT EXISTS search_days
(
    site LowCardinality(String),
    day Date,
    piece LowCardinality(String),
    kind LowCardinality(String),
    query String,
    page String,
    split DateTime('UTC'),
    inserted UInt64,
    searches UInt64,
    searchers UInt64,
    no_result UInt64,
    no_result_searchers UInt64,
    clicked UInt64,
    positioned_total UInt64,
    position_sum UInt64,
    refinements UInt64,
    exits UInt64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site, day, piece, kind, query, page);

-- Days rolled up before this table existed are rolled up again, with their searches.
TRUNCATE TABLE visit_days;
