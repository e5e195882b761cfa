-- Larder schema v1. Runs unchanged on chDB 26.x and on ClickHouse server 18.16 and later.
-- The migration runner rewrites `LowCardinality(String)` to `String` on engines older than 19.0,
-- where the type is still experimental; nothing else is engine-specific.
-- Statements are separated by a semicolon at the end of a line.

-- One row per accepted event. Nothing here identifies a person: visitor_id is a daily-salted
-- hash, IP addresses and user agents never reach this table, URLs keep only allow-listed query
-- keys. Partitioned by site and month so per-site retention can drop whole partitions; ordered
-- for the dashboard's queries: one site, a time range, then an event name, then per visitor.
CREATE TABLE IF NOT EXISTS events
(
    event_id UUID,
    site LowCardinality(String),
    timestamp DateTime('UTC'),
    name LowCardinality(String),
    visitor_id UInt64,
    session_id UInt64,
    hostname LowCardinality(String),
    pathname String,
    referrer_host String,
    referrer_source LowCardinality(String),
    referrer_medium LowCardinality(String),
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_term String,
    utm_content String,
    country LowCardinality(String),
    region LowCardinality(String),
    city String,
    browser LowCardinality(String),
    browser_version LowCardinality(String),
    os LowCardinality(String),
    os_version LowCardinality(String),
    device LowCardinality(String),
    props Nested(key String, value String),
    revenue Nullable(Decimal(18, 4)),
    currency LowCardinality(String),
    order_id String,
    items Nested(product_id String, name String, category String, quantity UInt32, price Decimal(18, 4)),
    search_query String,
    search_results Nullable(UInt32),
    search_position Nullable(UInt16),
    search_product String,
    scroll_depth Nullable(UInt8),
    engaged_ms Nullable(UInt32),
    selector String,
    vital_name LowCardinality(String),
    vital_value Nullable(Float64),
    error_message String,
    error_source String,
    error_line Nullable(UInt32)
)
ENGINE = MergeTree
PARTITION BY (site, toYYYYMM(timestamp))
ORDER BY (site, toDate(timestamp), name, visitor_id, timestamp)
SAMPLE BY visitor_id;

-- Registered sites and their per-site settings. Rows are versions: the highest `version` of a
-- site wins (read with FINAL or argMax); removal writes a version with deleted = 1.
CREATE TABLE IF NOT EXISTS sites
(
    site String,
    timezone String,
    retention_days UInt32,
    honour_privacy_signals UInt8,
    search_params Array(String),
    allowed_query_params Array(String),
    created_at DateTime('UTC'),
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY site;

-- The daily salts of visitor hashing: 32 random bytes (hex) per UTC day, shared by every
-- collector. A day's salt is created the day before; if several collectors race to create it,
-- all of them use the smallest candidate. The partition of a day is dropped once the day is
-- over (at most 48 hours after it was created), after which no visitor id can be recomputed.
CREATE TABLE IF NOT EXISTS salts
(
    day Date,
    salt String,
    created_at DateTime('UTC')
)
ENGINE = MergeTree
PARTITION BY day
ORDER BY (day, salt);

-- The last session of each visitor, so that every collector continues the same visit: the
-- batcher reads it before assigning sessions and writes it after. Visitor ids change with the
-- daily salt, so a day's partition is useless after the day and is dropped with the salt.
CREATE TABLE IF NOT EXISTS visitor_sessions
(
    day Date,
    site LowCardinality(String),
    visitor_id UInt64,
    session_id UInt64,
    session_start_ms UInt64,
    last_seen_ms UInt64
)
ENGINE = ReplacingMergeTree(last_seen_ms)
PARTITION BY day
ORDER BY (site, visitor_id, session_id);

-- What each collector still holds in its spool, so that several collectors agree on visits:
-- a snapshot lists, as hashes of (site, visitor), the visitors with events not yet flushed and
-- the receipt time of the oldest, and covers every event accepted before `as_of_ms`. A collector
-- assigns a visitor's event a session only when no live peer holds an earlier event of that
-- visitor (see collector/src/coordination.rs). One row per collector and publication; the
-- latest one counts.
CREATE TABLE IF NOT EXISTS collector_pending
(
    collector_id String,
    as_of_ms UInt64,
    heartbeat_ms UInt64,
    pending_keys Array(UInt64),
    pending_receipts Array(UInt64)
)
ENGINE = ReplacingMergeTree(heartbeat_ms)
ORDER BY collector_id;

-- Dashboard users. Passwords are argon2id hashes; rows are versions as in `sites`.
CREATE TABLE IF NOT EXISTS users
(
    email String,
    password_hash String,
    display_name String,
    created_at DateTime('UTC'),
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY email;

-- Which user may do what on which site: owner, admin, analyst or viewer.
CREATE TABLE IF NOT EXISTS user_roles
(
    email String,
    site String,
    role LowCardinality(String),
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (email, site);

-- API tokens: only a hash of the secret is kept; the token is shown once, at creation.
CREATE TABLE IF NOT EXISTS api_tokens
(
    token_id String,
    token_hash String,
    email String,
    description String,
    sites Array(String),
    role LowCardinality(String),
    created_at DateTime('UTC'),
    expires_at DateTime('UTC'),
    version UInt64,
    revoked UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY token_id;

-- Login attempts, kept so that lock-out survives a restart. `subject` is an account or a
-- keyed hash of the source address, never the address itself.
CREATE TABLE IF NOT EXISTS login_attempts
(
    subject String,
    at DateTime('UTC'),
    succeeded UInt8
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (subject, at);

-- Who logged in, exported, ran SQL or changed users, sites and tokens.
CREATE TABLE IF NOT EXISTS audit_log
(
    at DateTime('UTC'),
    actor String,
    action LowCardinality(String),
    site String,
    detail String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, actor);

-- Saved funnels: the steps are a JSON document validated by the dashboard-api.
CREATE TABLE IF NOT EXISTS funnels
(
    site String,
    funnel_id UUID,
    name String,
    definition String,
    created_by String,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site, funnel_id);

-- Goals: a custom event name or a page path pattern that counts as a conversion.
CREATE TABLE IF NOT EXISTS goals
(
    site String,
    goal_id UUID,
    name String,
    event_name String,
    page_pattern String,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site, goal_id);
