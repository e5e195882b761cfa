//! The data map: every stored field, where it lives, what produces it, whether it can relate to
//! a person, how long it is kept and who can read it.
//!
//! Generated, so that it cannot drift from the schema: the fields are the live columns the
//! engine reports (`system.columns` of Larder's database, after migrations), joined with the
//! annotations below — one per column. A column without an annotation, or an annotation of a
//! column that does not exist, is listed as a problem of the map; a test on both engines
//! (`store/tests/it/datamap.rs`) fails on either, so a migration that adds a column must say
//! here what it is.

use crate::error::StoreError;
use crate::{Store, sql};

/// What writes a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The tracker, or any client of `POST /api/event`; validated and cleaned by the collector.
    Tracker,
    /// Derived by the collector from the request (address, user agent, referrer, page URL),
    /// whose raw inputs are then discarded.
    Enrichment,
    /// The collector's own bookkeeping: ids, times, visits, salts.
    Collector,
    /// Site owners, admins and the operator, through the API or the CLI.
    Management,
    /// Access control: logins, sessions, tokens, the lock-out and the audit log.
    AccessControl,
    /// The migration runner.
    Migrations,
    /// Computed by the store from other stored fields (a materialized view of `events`).
    Derived,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Tracker => "tracker (POST /api/event), validated and cleaned by the collector",
            Self::Enrichment => "collector enrichment, from request data that is then discarded",
            Self::Collector => "collector bookkeeping",
            Self::Management => "site owners and admins (API) or the operator (CLI)",
            Self::AccessControl => "access control (API, CLI)",
            Self::Migrations => "migration runner",
            Self::Derived => "computed by the store from the events (materialized view)",
        }
    }
}

/// Whether a field can relate to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// It describes pages, products, software or settings, not people.
    No,
    /// A pseudonym that links events for a limited time and cannot be traced back.
    Pseudonymous,
    /// Only together with data outside Larder (the shop's order system) or when a shop or a
    /// visitor puts personal data into free text despite the redaction.
    Indirect,
    /// It names or identifies a person (a dashboard user).
    Yes,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Pseudonymous => "pseudonymous",
            Self::Indirect => "indirect",
            Self::Yes => "yes",
        }
    }
}

/// Who can read a field, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Aggregate reports for every role; raw rows through SQL export from analyst up.
    Reports,
    /// Aggregate reports for every role; never as rows.
    Aggregates,
    /// Raw rows through SQL export from analyst up; reports at most count it.
    Raw,
    /// A site's settings or saved definitions: every role reads them, admins and owners change
    /// them.
    SiteSettings,
    /// The site's members: its owners; the operator sees every user (`larder users list`).
    Members,
    /// API tokens: their user and the admins of their sites, never the secret.
    Tokens,
    /// The audit log: a site's owners its entries, instance administrators all of them.
    Audit,
    /// The operator, through the CLI.
    Operator,
    /// Nobody through the API, SQL export or the CLI.
    Nobody,
}

impl Access {
    fn roles(self) -> &'static [&'static str] {
        match self {
            Self::Reports | Self::Aggregates | Self::SiteSettings => &["viewer", "analyst", "admin", "owner"],
            Self::Raw => &["analyst", "admin", "owner"],
            Self::Tokens => &["admin", "owner"],
            Self::Members | Self::Audit => &["owner"],
            Self::Operator | Self::Nobody => &[],
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Reports => "viewer and up: in aggregate reports; analyst and up: raw rows (SQL export)",
            Self::Raw => "analyst and up: raw rows (SQL export); reports at most count it",
            Self::Aggregates => "viewer and up: in aggregate reports only (not in SQL export)",
            Self::SiteSettings => "every role of the site reads it; admin and owner change it",
            Self::Members => "owner: the site's members; the operator: all (larder users list)",
            Self::Tokens => "the token's user and admins of its sites (never the secret); the operator",
            Self::Audit => "owner: the site's entries; instance administrators: every entry",
            Self::Operator => "the operator only (CLI); no role through the API",
            Self::Nobody => "nobody through the API, SQL export or CLI (only direct access to the engine's files)",
        }
    }
}

/// A table: what it is for and how long its rows stay.
struct TableNote {
    table: &'static str,
    what: &'static str,
    retention: &'static str,
}

/// One column: what writes it, whether it relates to a person and why, who reads it, what it is.
struct FieldNote {
    table: &'static str,
    column: &'static str,
    source: Source,
    relation: Relation,
    why: &'static str,
    access: Access,
    what: &'static str,
}

const fn note(
    table: &'static str,
    column: &'static str,
    source: Source,
    relation: Relation,
    why: &'static str,
    access: Access,
    what: &'static str,
) -> FieldNote {
    FieldNote { table, column, source, relation, why, access, what }
}

const EVENTS_RETENTION: &str = "the site's retention_days (set per site, changed by admins through the API; \
    default from [privacy]): applied daily by larder serve or larder api, and on demand (larder retention apply); \
    deletable on request (larder delete, POST /api/v1/sites/{site}/deletions)";
const DAILY_RETENTION: &str = "a day's partition is dropped once the day is over: at most 48 hours";
const VERSIONED: &str = "while the row's subject exists; a removal writes a tombstone version, and older versions \
    are merged away by the engine";

const TABLES: &[TableNote] = &[
    TableNote { table: "events", what: "one row per accepted event", retention: EVENTS_RETENTION },
    TableNote { table: "sites", what: "registered sites and their settings (versions)", retention: VERSIONED },
    TableNote { table: "salts", what: "the daily salts of visitor hashing", retention: DAILY_RETENTION },
    TableNote {
        table: "visitor_sessions",
        what: "each visitor's last visit, so that every collector continues it",
        retention: DAILY_RETENTION,
    },
    TableNote {
        table: "visit_parts",
        what: "visits pre-aggregated per quarter hour from the events, for the dashboard's reports",
        retention: "as the site's events: retention and deletions remove both",
    },
    TableNote {
        table: "visit_days",
        what: "finished visits summed per site and UTC day, for the overview and its series",
        retention: "as the site's events: a deletion makes the days it touched be summed again",
    },
    TableNote {
        table: "search_days",
        what: "site searches summed per site, UTC day and query, for the site-search report",
        retention: "as the site's events: a deletion makes the days it touched be summed again",
    },
    TableNote {
        table: "day_inserts",
        what: "how many events each site's day received, so summed days that changed are noticed",
        retention: "counters kept with the site; no data about visitors",
    },
    TableNote {
        table: "collector_pending",
        what: "what each collector still holds in its spool (multi-collector visits)",
        retention: "replaced by each collector's next publication; a stopped collector's rows are deleted by its peers",
    },
    TableNote { table: "users", what: "dashboard users (versions)", retention: VERSIONED },
    TableNote { table: "user_roles", what: "users' roles on sites (versions)", retention: VERSIONED },
    TableNote {
        table: "api_tokens",
        what: "API tokens (versions)",
        retention: "while the token exists; revocation writes a tombstone version",
    },
    TableNote {
        table: "login_attempts",
        what: "login attempts, for the lock-out",
        retention: "months before the previous one are dropped daily (kept one to two months)",
    },
    TableNote {
        table: "audit_log",
        what: "who logged in, read, exported, changed or deleted what",
        retention: "kept: the record of accountability, removed only by the operator",
    },
    TableNote { table: "funnels", what: "saved funnels (versions)", retention: VERSIONED },
    TableNote { table: "goals", what: "goals (versions)", retention: VERSIONED },
    TableNote {
        table: "login_sessions",
        what: "dashboard login sessions (versions)",
        retention: "deleted daily once expired for a day (session length: auth.session_ttl_secs)",
    },
    TableNote { table: "instance_admins", what: "users who may create sites (versions)", retention: VERSIONED },
    TableNote {
        table: "login_keys",
        what: "the daily keys of the lock-out's source hashes",
        retention: DAILY_RETENTION,
    },
    TableNote {
        table: "schema_migrations",
        what: "the migrations applied",
        retention: "kept for the life of the store",
    },
];

use Access::{Aggregates, Audit, Members, Nobody, Operator, Raw, Reports, SiteSettings, Tokens};
use Relation::{Indirect, No, Pseudonymous, Yes};
use Source::{AccessControl, Collector, Derived, Enrichment, Management, Migrations, Tracker};

const PAGE: &str = "describes a page or a visit's origin, not a person";
const SOFTWARE: &str = "the major version of common software, from the user agent, which is discarded";
const GEO: &str = "coarse location looked up from the address, which is discarded";
const SETTING: &str = "a setting of a site, not about a person";
const VERSION: &str = "a row version (nanoseconds) or tombstone flag";
const VISITOR_ID_WHY: &str = "64 bits of a keyed blake3 hash of (site, address, user agent) under the day's salt; \
    the salt is deleted at most 48 h after it was created, after which no one, the operator included, \
    can recompute it or link it to other days";
const REDACTED_TEXT: &str = "free text from the page or the shop; e-mail addresses and runs of 9+ digits are \
    redacted, yet it could still quote something personal — deletable by property";
const DAY_KEY: &str = "32 random bytes; a key, not data about anyone";

const FIELDS: &[FieldNote] = &[
    // events
    note("events", "event_id", Collector, No, "a random time-ordered id given at acceptance", Raw, "the event's id"),
    note("events", "site", Tracker, No, SETTING, Reports, "the site's domain"),
    note("events", "timestamp", Collector, No, "the second the event was accepted", Reports, "when (UTC)"),
    note("events", "name", Tracker, No, "an event type", Reports, "pageview, purchase, search, custom…"),
    note("events", "visitor_id", Enrichment, Pseudonymous, VISITOR_ID_WHY, Raw, "the day's visitor pseudonym"),
    note(
        "events",
        "session_id",
        Collector,
        Pseudonymous,
        "numbers a visitor's visit; links events only within the visitor id's day",
        Raw,
        "the visit",
    ),
    note("events", "hostname", Tracker, No, PAGE, Reports, "the page's host"),
    note(
        "events",
        "pathname",
        Tracker,
        Indirect,
        "the page's path, without query string (except allow-listed keys) or fragment; e-mail addresses and \
         runs of 9+ digits are redacted, but a shop could put a customer's id in a path",
        Reports,
        "the page's path",
    ),
    note("events", "referrer_host", Enrichment, No, PAGE, Reports, "the referring host"),
    note("events", "referrer_source", Enrichment, No, PAGE, Reports, "Google, Newsletter… (from the referrer)"),
    note("events", "referrer_medium", Enrichment, No, PAGE, Reports, "search, social, email, paid, referral, direct"),
    note("events", "utm_source", Tracker, No, PAGE, Reports, "campaign tag from the page URL"),
    note("events", "utm_medium", Tracker, No, PAGE, Reports, "campaign tag from the page URL"),
    note("events", "utm_campaign", Tracker, No, PAGE, Reports, "campaign tag from the page URL"),
    note("events", "utm_term", Tracker, No, PAGE, Reports, "campaign tag from the page URL"),
    note("events", "utm_content", Tracker, No, PAGE, Reports, "campaign tag from the page URL"),
    note("events", "country", Enrichment, No, GEO, Reports, "ISO country code"),
    note("events", "region", Enrichment, No, GEO, Reports, "region (with a city database only)"),
    note("events", "city", Enrichment, No, GEO, Reports, "city (with a city database only)"),
    note("events", "browser", Enrichment, No, SOFTWARE, Reports, "browser family"),
    note("events", "browser_version", Enrichment, No, SOFTWARE, Reports, "browser major version"),
    note("events", "os", Enrichment, No, SOFTWARE, Reports, "operating system"),
    note("events", "os_version", Enrichment, No, SOFTWARE, Reports, "operating system major version"),
    note("events", "device", Enrichment, No, SOFTWARE, Reports, "desktop, mobile, tablet"),
    note("events", "props.key", Tracker, No, "a property name the shop chose", Reports, "custom property names"),
    note("events", "props.value", Tracker, Indirect, REDACTED_TEXT, Reports, "custom property values"),
    note("events", "revenue", Tracker, No, "an amount of money", Reports, "a purchase's revenue"),
    note("events", "currency", Tracker, No, "a currency code", Reports, "the revenue's currency"),
    note(
        "events",
        "order_id",
        Tracker,
        Indirect,
        "the shop's order number: it leads to a customer only through the shop's own order system (Larder holds \
         no names, addresses or e-mails); deletable on request by order id",
        Raw,
        "a purchase's order number",
    ),
    note("events", "items.product_id", Tracker, No, "a product", Raw, "purchased products"),
    note("events", "items.name", Tracker, No, "a product", Raw, "purchased products' names"),
    note("events", "items.category", Tracker, No, "a product", Raw, "purchased products' categories"),
    note("events", "items.quantity", Tracker, No, "a product", Raw, "purchased quantities"),
    note("events", "items.price", Tracker, No, "a product", Raw, "unit prices"),
    note(
        "events",
        "search_query",
        Tracker,
        Indirect,
        "what a visitor typed into site search, lowercased; e-mail addresses and runs of 9+ digits are \
         redacted, yet free text could name someone",
        Reports,
        "site-search query",
    ),
    note("events", "search_results", Tracker, No, "a count", Reports, "results shown"),
    note("events", "search_position", Tracker, No, "a position", Reports, "clicked result's position"),
    note("events", "search_product", Tracker, No, "a product", Reports, "clicked result"),
    note("events", "scroll_depth", Tracker, No, "a percentage", Reports, "how far the page was scrolled"),
    note("events", "engaged_ms", Tracker, No, "a duration", Reports, "time engaged with the page"),
    note("events", "selector", Tracker, No, "a CSS selector of the page, redacted", Reports, "clicked element"),
    note("events", "vital_name", Tracker, No, "a metric name", Reports, "Core Web Vital"),
    note("events", "vital_value", Tracker, No, "a measurement", Reports, "its value"),
    note("events", "error_message", Tracker, Indirect, REDACTED_TEXT, Reports, "JavaScript error message"),
    note("events", "error_source", Tracker, No, "a script URL without query", Reports, "the script that failed"),
    note("events", "error_line", Tracker, No, "a line number", Raw, "where it failed"),
    // sites
    note("sites", "site", Management, No, SETTING, SiteSettings, "the site's domain"),
    note("sites", "timezone", Management, No, SETTING, SiteSettings, "the dashboard's time zone"),
    note("sites", "retention_days", Management, No, SETTING, SiteSettings, "how long events are kept"),
    note("sites", "honour_privacy_signals", Management, No, SETTING, SiteSettings, "skip GPC/DNT visitors"),
    note("sites", "search_params", Management, No, SETTING, SiteSettings, "site-search query keys"),
    note("sites", "allowed_query_params", Management, No, SETTING, SiteSettings, "further URL keys kept"),
    note("sites", "created_at", Management, No, SETTING, SiteSettings, "when the site was registered"),
    note("sites", "version", Management, No, VERSION, Operator, "row version"),
    note("sites", "deleted", Management, No, VERSION, Operator, "removal tombstone"),
    // salts
    note("salts", "day", Collector, No, "a date", Nobody, "the UTC day the salt is for"),
    note(
        "salts",
        "salt",
        Collector,
        No,
        "32 random bytes; while it exists, visitor ids of its day could be recomputed from an address and \
         user agent — which is why it is deleted after the day",
        Nobody,
        "the day's salt",
    ),
    note("salts", "created_at", Collector, No, "a time", Nobody, "when it was created"),
    // visitor_sessions
    note("visitor_sessions", "day", Collector, No, "a date", Nobody, "the visitor id's day"),
    note("visitor_sessions", "site", Collector, No, SETTING, Nobody, "the site"),
    note("visitor_sessions", "visitor_id", Collector, Pseudonymous, VISITOR_ID_WHY, Nobody, "the visitor pseudonym"),
    note("visitor_sessions", "session_id", Collector, Pseudonymous, "the visitor's current visit", Nobody, "the visit"),
    note("visitor_sessions", "session_start_ms", Collector, No, "a time", Nobody, "when the visit began"),
    note("visitor_sessions", "last_seen_ms", Collector, No, "a time", Nobody, "the visit's last event"),
    // visit_parts
    note("visit_parts", "site", Derived, No, SETTING, Aggregates, "the site"),
    note("visit_parts", "bucket", Derived, No, "a time", Aggregates, "the quarter hour of the events"),
    note("visit_parts", "session_id", Derived, Pseudonymous, "the visit's id, as in events", Aggregates, "the visit"),
    note("visit_parts", "visitor_id", Derived, Pseudonymous, VISITOR_ID_WHY, Aggregates, "the visitor pseudonym"),
    note("visit_parts", "s_started", Derived, No, "a time", Aggregates, "the visit's first event"),
    note("visit_parts", "s_ended", Derived, No, "a time", Aggregates, "the visit's last event"),
    note("visit_parts", "s_pageviews", Derived, No, "a count", Aggregates, "page views"),
    note("visit_parts", "s_interactions", Derived, No, "a count", Aggregates, "interactions (bounce rate)"),
    note("visit_parts", "s_entry_page", Derived, No, PAGE, Aggregates, "the first page viewed"),
    note("visit_parts", "s_exit_page", Derived, No, PAGE, Aggregates, "the last page viewed"),
    note(
        "visit_parts",
        "s_first_touch",
        Derived,
        No,
        PAGE,
        Aggregates,
        "the visit's source, referring site, medium and UTM values",
    ),
    note("visit_parts", "country", Derived, No, GEO, Aggregates, "country"),
    note("visit_parts", "region", Derived, No, GEO, Aggregates, "region"),
    note("visit_parts", "city", Derived, No, GEO, Aggregates, "city"),
    note("visit_parts", "device", Derived, No, SOFTWARE, Aggregates, "device type"),
    note("visit_parts", "browser", Derived, No, SOFTWARE, Aggregates, "browser"),
    note("visit_parts", "browser_version", Derived, No, SOFTWARE, Aggregates, "browser version"),
    note("visit_parts", "os", Derived, No, SOFTWARE, Aggregates, "operating system"),
    note("visit_parts", "os_version", Derived, No, SOFTWARE, Aggregates, "its version"),
    // visit_days
    note("visit_days", "site", Derived, No, SETTING, Aggregates, "the site"),
    note("visit_days", "day", Derived, No, "a date", Aggregates, "the UTC day"),
    note("visit_days", "piece", Derived, No, "a fixed name", Aggregates, "which of the day's visits are summed"),
    note("visit_days", "timezone", Derived, No, SETTING, Aggregates, "the site's time zone when summed"),
    note("visit_days", "split", Derived, No, "a time", Aggregates, "the site's midnight within the day"),
    note("visit_days", "inserted", Derived, No, "a count", Aggregates, "the day's event count when summed"),
    note("visit_days", "rollable", Derived, No, "a flag", Aggregates, "whether the day's visits could be summed"),
    note("visit_days", "visitors", Derived, No, "a count", Aggregates, "distinct visitors"),
    note("visit_days", "visits", Derived, No, "a count", Aggregates, "visits"),
    note("visit_days", "pageviews", Derived, No, "a count", Aggregates, "page views"),
    note("visit_days", "bounces", Derived, No, "a count", Aggregates, "bounced visits"),
    note("visit_days", "duration", Derived, No, "a sum of seconds", Aggregates, "the visits' total duration"),
    note("visit_days", "version", Derived, No, VERSION, Aggregates, "when the row was computed"),
    // search_days
    note("search_days", "site", Derived, No, SETTING, Aggregates, "the site"),
    note("search_days", "day", Derived, No, "a date", Aggregates, "the UTC day"),
    note("search_days", "piece", Derived, No, "a fixed name", Aggregates, "which part of the day"),
    note("search_days", "kind", Derived, No, "a fixed name", Aggregates, "totals, a query, or a query's origin page"),
    note(
        "search_days",
        "query",
        Derived,
        Indirect,
        "a site-search query as events.search_query holds it: free text could name someone",
        Aggregates,
        "the search query",
    ),
    note("search_days", "page", Derived, No, PAGE, Aggregates, "the page no-result searches came from"),
    note("search_days", "split", Derived, No, "a time", Aggregates, "the site's midnight within the day"),
    note("search_days", "inserted", Derived, No, "a count", Aggregates, "the day's event count when summed"),
    note("search_days", "searches", Derived, No, "a count", Aggregates, "searches"),
    note("search_days", "searchers", Derived, No, "a count", Aggregates, "distinct searchers"),
    note("search_days", "no_result", Derived, No, "a count", Aggregates, "searches without results"),
    note("search_days", "no_result_searchers", Derived, No, "a count", Aggregates, "their distinct searchers"),
    note("search_days", "clicked", Derived, No, "a count", Aggregates, "searches with a click"),
    note("search_days", "positioned_total", Derived, No, "a count", Aggregates, "clicks with a position"),
    note("search_days", "position_sum", Derived, No, "a sum", Aggregates, "their positions"),
    note("search_days", "refinements", Derived, No, "a count", Aggregates, "refined searches"),
    note("search_days", "exits", Derived, No, "a count", Aggregates, "search exits"),
    note("search_days", "version", Derived, No, VERSION, Aggregates, "when the row was computed"),
    // day_inserts
    note("day_inserts", "site", Derived, No, SETTING, Aggregates, "the site"),
    note("day_inserts", "day", Derived, No, "a date", Aggregates, "the UTC day"),
    note("day_inserts", "inserted", Derived, No, "a count", Aggregates, "events received"),
    // collector_pending
    note("collector_pending", "collector_id", Collector, No, "a process id", Nobody, "the collector"),
    note("collector_pending", "as_of_ms", Collector, No, "a time", Nobody, "events accepted before it are covered"),
    note("collector_pending", "heartbeat_ms", Collector, No, "a time", Nobody, "when it was published"),
    note(
        "collector_pending",
        "pending_keys",
        Collector,
        Pseudonymous,
        "hashes of (site, visitor id): as linkable as the visitor id, for seconds",
        Nobody,
        "visitors with unflushed events",
    ),
    note("collector_pending", "pending_receipts", Collector, No, "times", Nobody, "their oldest events' receipt"),
    // users
    note("users", "email", AccessControl, Yes, "a dashboard user's e-mail address", Members, "the user's login"),
    note(
        "users",
        "password_hash",
        AccessControl,
        Yes,
        "an argon2id hash of the user's password",
        Nobody,
        "password hash",
    ),
    note("users", "display_name", AccessControl, Yes, "a dashboard user's name, if given", Members, "shown name"),
    note("users", "created_at", AccessControl, No, "a time", Operator, "when the account was created"),
    note("users", "version", AccessControl, No, VERSION, Operator, "row version"),
    note("users", "deleted", AccessControl, No, VERSION, Operator, "removal tombstone"),
    // user_roles
    note("user_roles", "email", AccessControl, Yes, "a dashboard user's e-mail address", Members, "the user"),
    note("user_roles", "site", AccessControl, No, SETTING, Members, "the site"),
    note("user_roles", "role", AccessControl, No, "a role name", Members, "viewer, analyst, admin, owner"),
    note("user_roles", "version", AccessControl, No, VERSION, Operator, "row version"),
    note("user_roles", "deleted", AccessControl, No, VERSION, Operator, "removal tombstone"),
    // api_tokens
    note("api_tokens", "token_id", AccessControl, No, "a random id", Tokens, "the token's public id"),
    note(
        "api_tokens",
        "token_hash",
        AccessControl,
        No,
        "a blake3 hash of 32 random bytes; the secret itself is shown once and never stored",
        Nobody,
        "hash of the secret",
    ),
    note("api_tokens", "email", AccessControl, Yes, "the e-mail of the user it acts for", Tokens, "its user"),
    note("api_tokens", "description", AccessControl, No, "what the token is for", Tokens, "description"),
    note("api_tokens", "sites", AccessControl, No, SETTING, Tokens, "sites it may use"),
    note("api_tokens", "role", AccessControl, No, "a role name", Tokens, "its highest role"),
    note("api_tokens", "created_at", AccessControl, No, "a time", Tokens, "when it was created"),
    note("api_tokens", "expires_at", AccessControl, No, "a time", Tokens, "when it stops working"),
    note("api_tokens", "version", AccessControl, No, VERSION, Operator, "row version"),
    note("api_tokens", "revoked", AccessControl, No, VERSION, Tokens, "revoked flag"),
    // login_attempts
    note(
        "login_attempts",
        "subject",
        AccessControl,
        Yes,
        "`account:<email>` of a dashboard user, or `source:<keyed hash>` of an address whose day key is \
         deleted within 48 h",
        Nobody,
        "whom the attempt counts against",
    ),
    note("login_attempts", "at", AccessControl, No, "a time", Nobody, "when"),
    note("login_attempts", "succeeded", AccessControl, No, "a flag", Nobody, "whether it succeeded"),
    // audit_log
    note("audit_log", "at", AccessControl, No, "a time", Audit, "when"),
    note(
        "audit_log",
        "actor",
        AccessControl,
        Yes,
        "a dashboard user's e-mail (or token id, or the operator)",
        Audit,
        "who",
    ),
    note("audit_log", "action", AccessControl, No, "an action name", Audit, "login, sql, export, data_deleted…"),
    note("audit_log", "site", AccessControl, No, SETTING, Audit, "on which site"),
    note(
        "audit_log",
        "detail",
        AccessControl,
        Indirect,
        "an SQL statement or a request's parameters as the actor wrote them; deletions record what kind of \
         match was used but never the value a customer asked to forget",
        Audit,
        "what exactly",
    ),
    // funnels
    note("funnels", "site", Management, No, SETTING, SiteSettings, "the site"),
    note("funnels", "funnel_id", Management, No, "a random id", SiteSettings, "the funnel's id"),
    note("funnels", "name", Management, No, SETTING, SiteSettings, "its name"),
    note("funnels", "definition", Management, No, "pages and events of the steps", SiteSettings, "its steps (JSON)"),
    note("funnels", "created_by", Management, Yes, "the e-mail of the user who saved it", SiteSettings, "its author"),
    note("funnels", "version", Management, No, VERSION, Operator, "row version"),
    note("funnels", "deleted", Management, No, VERSION, Operator, "removal tombstone"),
    // goals
    note("goals", "site", Management, No, SETTING, SiteSettings, "the site"),
    note("goals", "goal_id", Management, No, "a random id", SiteSettings, "the goal's id"),
    note("goals", "name", Management, No, SETTING, SiteSettings, "its name"),
    note("goals", "event_name", Management, No, SETTING, SiteSettings, "the event that converts"),
    note("goals", "page_pattern", Management, No, SETTING, SiteSettings, "or the page that converts"),
    note("goals", "version", Management, No, VERSION, Operator, "row version"),
    note("goals", "deleted", Management, No, VERSION, Operator, "removal tombstone"),
    // login_sessions
    note(
        "login_sessions",
        "session_hash",
        AccessControl,
        No,
        "a blake3 hash of the cookie's 32 random bytes; a copy does not let anyone log in",
        Nobody,
        "the session",
    ),
    note("login_sessions", "email", AccessControl, Yes, "the logged-in user's e-mail", Nobody, "whose session"),
    note("login_sessions", "created_at", AccessControl, No, "a time", Nobody, "login time"),
    note("login_sessions", "expires_at", AccessControl, No, "a time", Nobody, "when it ends"),
    note("login_sessions", "version", AccessControl, No, VERSION, Nobody, "row version"),
    note("login_sessions", "revoked", AccessControl, No, VERSION, Nobody, "logged out"),
    // instance_admins
    note("instance_admins", "email", AccessControl, Yes, "a dashboard user's e-mail", Operator, "who may add sites"),
    note("instance_admins", "version", AccessControl, No, VERSION, Operator, "row version"),
    note("instance_admins", "deleted", AccessControl, No, VERSION, Operator, "removal tombstone"),
    // login_keys
    note("login_keys", "day", AccessControl, No, "a date", Nobody, "the UTC day of the key"),
    note("login_keys", "key", AccessControl, No, DAY_KEY, Nobody, "the day's key"),
    note("login_keys", "created_at", AccessControl, No, "a time", Nobody, "when it was created"),
    // schema_migrations
    note("schema_migrations", "version", Migrations, No, "a number", Operator, "migration number"),
    note("schema_migrations", "name", Migrations, No, "a file name", Operator, "migration file"),
    note("schema_migrations", "checksum", Migrations, No, "a hash of the file", Operator, "its checksum"),
    note("schema_migrations", "applied_at", Migrations, No, "a time", Operator, "when it was applied"),
];

/// One stored field, as `larder datamap` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Field {
    pub table: String,
    pub column: String,
    /// The column's type as the engine reports it.
    #[serde(rename = "type")]
    pub engine_type: String,
    pub description: String,
    pub source: Source,
    pub produced_by: String,
    /// `no`, `pseudonymous`, `indirect` or `yes`.
    pub relates_to_a_person: Relation,
    pub why: String,
    pub retention: String,
    /// The site roles that can read it in some form (see `access`).
    pub readable_by: Vec<String>,
    pub access: String,
}

/// A table of the map.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Table {
    pub table: String,
    pub description: String,
    pub retention: String,
}

/// A site's current retention period, as the map shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SiteRetentionSetting {
    pub site: String,
    pub retention_days: u32,
}

/// The whole map.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataMap {
    /// The engine the columns were read from.
    pub engine: String,
    pub database: String,
    /// Cluster mode: the cluster whose shards hold each table's rows in `<table>_local` (the
    /// tables listed here are the `Distributed` tables over them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub tables: Vec<Table>,
    pub fields: Vec<Field>,
    pub sites: Vec<SiteRetentionSetting>,
    /// `table.column` of columns the engine has but no annotation describes.
    pub unannotated: Vec<String>,
    /// `table.column` of annotations whose column the engine does not have.
    pub stale: Vec<String>,
}

impl DataMap {
    /// Whether every column is annotated and every annotation names a column.
    pub fn is_complete(&self) -> bool {
        self.unannotated.is_empty() && self.stale.is_empty()
    }
}

/// A column as `system.columns` reports it.
#[derive(Debug, Clone, serde::Deserialize)]
struct Column {
    table: String,
    name: String,
    #[serde(rename = "type")]
    engine_type: String,
}

/// Builds the map of `store`: its live columns joined with the annotations.
///
/// # Errors
/// Store errors.
pub async fn build(store: &dyn Store) -> Result<DataMap, StoreError> {
    let version = store.version().await?;
    // system.columns lists a table's columns in their order; 18.16 has no `position` to sort by.
    // Views store nothing (the materialized view of visits writes into `visit_parts`).
    let columns: Vec<Column> = store
        .fetch_json(&format!(
            "SELECT table, name, type FROM system.columns WHERE database = {db} AND table NOT IN \
             (SELECT name FROM system.tables WHERE database = {db} AND engine LIKE '%View')",
            db = sql::quote(store.database())
        ))
        .await?;
    let sites: Vec<SiteRetentionSetting> = match crate::sites::list(store).await {
        Ok(sites) => sites
            .into_iter()
            .map(|s| SiteRetentionSetting { site: s.domain.to_string(), retention_days: s.retention_days })
            .collect(),
        Err(StoreError::Rejected { .. }) => Vec::new(), // not migrated: the map says so below
        Err(e) => return Err(e),
    };
    // Cluster mode: a local table has exactly its Distributed table's columns.
    let columns: Vec<Column> = match store.cluster() {
        Some(_) => columns.into_iter().filter(|c| !crate::cluster::is_local_table(&c.table)).collect(),
        None => columns,
    };
    let mut map = join(&version.text, store.database(), &columns, sites);
    map.cluster = store.cluster().map(str::to_owned);
    Ok(map)
}

/// Joins live columns with the annotations, in the annotations' order, unannotated columns last.
fn join(engine: &str, database: &str, columns: &[Column], sites: Vec<SiteRetentionSetting>) -> DataMap {
    let key = |table: &str, column: &str| format!("{table}.{column}");
    let mut fields = Vec::new();
    let mut stale = Vec::new();
    for n in FIELDS {
        let Some(live) = columns.iter().find(|c| c.table == n.table && c.name == n.column) else {
            stale.push(key(n.table, n.column));
            continue;
        };
        let retention = TABLES.iter().find(|t| t.table == n.table).map_or("", |t| t.retention);
        fields.push(Field {
            table: n.table.to_owned(),
            column: n.column.to_owned(),
            engine_type: live.engine_type.clone(),
            description: n.what.to_owned(),
            source: n.source,
            produced_by: n.source.describe().to_owned(),
            relates_to_a_person: n.relation,
            why: n.why.to_owned(),
            retention: retention.to_owned(),
            readable_by: n.access.roles().iter().map(|r| (*r).to_owned()).collect(),
            access: n.access.describe().to_owned(),
        });
    }
    let unannotated = columns
        .iter()
        .filter(|c| !FIELDS.iter().any(|n| n.table == c.table && n.column == c.name))
        .map(|c| key(&c.table, &c.name))
        .collect();
    let tables = TABLES
        .iter()
        .filter(|t| columns.iter().any(|c| c.table == t.table))
        .map(|t| Table { table: t.table.to_owned(), description: t.what.to_owned(), retention: t.retention.to_owned() })
        .collect();
    DataMap {
        engine: engine.to_owned(),
        database: database.to_owned(),
        cluster: None,
        tables,
        fields,
        sites,
        unannotated,
        stale,
    }
}

impl DataMap {
    /// The map as Markdown: a section per table, a row per field.
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write as _;
        let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
        let mut out = String::new();
        let _ = writeln!(out, "# Larder data map\n");
        let _ = writeln!(
            out,
            "Every field Larder stores, read from the live schema (ClickHouse {}, database `{}`). \
             Roles are per site: viewer < analyst < admin < owner.\n",
            self.engine, self.database
        );
        if let Some(cluster) = &self.cluster {
            let _ = writeln!(
                out,
                "Cluster `{cluster}`: each table below is a `Distributed` table; its rows live in `<table>_local` \
                 on the shards (events spread by visitor, every other table on the first shard), with the same \
                 fields, retention and readers.\n"
            );
        }
        let _ = writeln!(
            out,
            "Never stored anywhere: IP addresses, user-agent strings, cookies or any identifier kept in the \
             visitor's browser, full URLs' query strings (except allow-listed keys) and fragments.\n"
        );
        if !self.sites.is_empty() {
            let _ = writeln!(out, "Event retention per site:\n");
            for s in &self.sites {
                let _ = writeln!(out, "- `{}`: {} days", s.site, s.retention_days);
            }
            out.push('\n');
        }
        for table in &self.tables {
            let _ = writeln!(out, "## `{}`\n", table.table);
            let mut what = table.description.chars();
            let what: String = what.next().map(|c| c.to_uppercase().chain(what).collect()).unwrap_or_default();
            let _ = writeln!(out, "{what}. Retention: {}.\n", table.retention);
            let _ = writeln!(out, "| field | type | what | produced by | relates to a person | readable by |");
            let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
            for f in self.fields.iter().filter(|f| f.table == table.table) {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {} | {} | {}: {} | {} |",
                    f.column,
                    cell(&f.engine_type),
                    cell(&f.description),
                    cell(&f.produced_by),
                    f.relates_to_a_person.as_str(),
                    cell(&f.why),
                    cell(&f.access)
                );
            }
            out.push('\n');
        }
        if !self.is_complete() {
            let _ = writeln!(out, "## Problems\n");
            for c in &self.unannotated {
                let _ = writeln!(out, "- `{c}` is stored but not described in store/src/datamap.rs");
            }
            for c in &self.stale {
                let _ = writeln!(out, "- `{c}` is described in store/src/datamap.rs but not stored");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_annotation_is_unique_and_its_table_is_described() {
        for (i, n) in FIELDS.iter().enumerate() {
            assert!(
                !FIELDS[..i].iter().any(|m| m.table == n.table && m.column == n.column),
                "{}.{} is annotated twice",
                n.table,
                n.column
            );
            assert!(TABLES.iter().any(|t| t.table == n.table), "table {} of {} has a TableNote", n.table, n.column);
            assert!(!n.why.is_empty() && !n.what.is_empty(), "{}.{} says what and why", n.table, n.column);
        }
        for t in TABLES {
            assert!(FIELDS.iter().any(|n| n.table == t.table), "table {} has annotated fields", t.table);
        }
    }

    #[test]
    fn the_join_reports_unannotated_columns_and_stale_annotations() {
        let column =
            |table: &str, name: &str| Column { table: table.into(), name: name.into(), engine_type: "String".into() };
        let mut columns: Vec<Column> = FIELDS.iter().map(|n| column(n.table, n.column)).collect();
        let complete = join("26.7", "larder", &columns, Vec::new());
        assert!(complete.is_complete(), "{:?} {:?}", complete.unannotated, complete.stale);
        assert_eq!(complete.fields.len(), FIELDS.len());

        columns.retain(|c| !(c.table == "events" && c.name == "order_id"));
        columns.push(column("events", "customer_email"));
        let drifted = join("26.7", "larder", &columns, Vec::new());
        assert_eq!(drifted.unannotated, vec!["events.customer_email".to_owned()]);
        assert_eq!(drifted.stale, vec!["events.order_id".to_owned()]);
        let markdown = drifted.to_markdown();
        assert!(markdown.contains("`events.customer_email` is stored but not described"), "{markdown}");
    }

    #[test]
    fn markdown_escapes_cells_and_lists_each_field_once() {
        let columns = vec![Column { table: "goals".into(), name: "name".into(), engine_type: "String".into() }];
        let map = join(
            "18.16.1",
            "db",
            &columns,
            vec![SiteRetentionSetting { site: "a.example".into(), retention_days: 30 }],
        );
        let md = map.to_markdown();
        assert_eq!(md.matches("| `name` |").count(), 1, "{md}");
        assert!(md.contains("- `a.example`: 30 days"), "{md}");
        assert!(md.contains("## `goals`\n\nGoals (versions). Retention: while"), "{md}");
    }
}
