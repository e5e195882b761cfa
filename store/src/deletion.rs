//! Deleting events on request: a whole site, a time range, or the events that match an order id
//! or a custom property (what a customer asked to be forgotten).
//!
//! Only the engine's own mechanisms are used, and the data is physically gone when a call
//! returns:
//! - months that the request covers whole are dropped as partitions (`ALTER TABLE … DROP
//!   PARTITION`), instant on every engine;
//! - everything else is an `ALTER TABLE … DELETE WHERE` mutation, which rewrites the affected
//!   parts without the rows (18.16 has it too). Lightweight `DELETE FROM` (chDB, not 18.16) is
//!   not used: it only masks rows, which stay in the parts — and so in a backup of them — until
//!   a merge happens to rewrite them;
//! - [`run_mutation`] waits until the engine reports the mutation done: `mutations_sync` where
//!   the engine has it (20.x and later), else by polling `system.mutations`.
//!
//! Inactive parts (the pre-mutation copies) are removed by the engine itself a few minutes later
//! (`old_parts_lifetime`); the engine's backups (`BACKUP`, `ALTER TABLE … FREEZE`) copy only
//! active parts. Events still in a collector's spool when the deletion runs (at most a flush
//! interval's worth) land afterwards; a whole-site deletion of a site still collecting should
//! follow removing the site.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use larder_core::SiteDomain;

use crate::error::StoreError;
use crate::{Store, cluster, sql, visits};

/// Longest an order id or property value in a request may be (the collector stores no longer).
pub const MAX_VALUE_BYTES: usize = 1024;

/// How long [`run_mutation`] waits for the engine to finish a mutation it cannot wait for itself.
const MUTATION_DEADLINE: Duration = Duration::from_secs(600);

/// Which events of a site a deletion matches, besides the time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Events whose `order_id` is this value.
    OrderId(String),
    /// Events with this custom property (`props.key` = key with `props.value` = value).
    Prop { key: String, value: String },
}

impl Match {
    /// The match's kind as the audit log records it — never its value, which is what a customer
    /// asked to be forgotten: `order_id` or `prop:<key>`.
    pub fn kind(&self) -> String {
        match self {
            Self::OrderId(_) => "order_id".to_owned(),
            Self::Prop { key, .. } => format!("prop:{key}"),
        }
    }

    fn condition(&self) -> String {
        match self {
            Self::OrderId(id) => format!("order_id = {}", sql::quote(id)),
            Self::Prop { key, value } => format!(
                "arrayExists((k, v) -> k = {} AND v = {}, props.key, props.value)",
                sql::quote(key),
                sql::quote(value)
            ),
        }
    }
}

/// Why a deletion request is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("say what to delete: a time range, an order id or a property (or the whole site)")]
    Unbounded,
    #[error("the range is empty: `from` must be before `to`")]
    EmptyRange,
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {MAX_VALUE_BYTES} bytes")]
    TooLong { field: &'static str },
}

impl RequestError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Unbounded => "all",
            Self::EmptyRange => "to",
            Self::Empty { field } | Self::TooLong { field } => field,
        }
    }
}

/// A validated deletion request over one site's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    site: SiteDomain,
    /// First instant deleted (inclusive); `None`: from the beginning.
    from: Option<DateTime<Utc>>,
    /// First instant kept after the range; `None`: up to now and beyond.
    to: Option<DateTime<Utc>>,
    matching: Option<Match>,
}

impl Deletion {
    /// Every event of `site`.
    pub fn whole_site(site: SiteDomain) -> Self {
        Self { site, from: None, to: None, matching: None }
    }

    /// The events of `site` in `[from, to)` (either end open when `None`) that match `matching`
    /// (all of them when `None`).
    ///
    /// # Errors
    /// [`RequestError::Unbounded`] when none of the three is given (use
    /// [`Deletion::whole_site`]); [`RequestError::EmptyRange`] when `from >= to`; an empty or
    /// overlong order id, property key or value.
    pub fn selected(
        site: SiteDomain,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        matching: Option<Match>,
    ) -> Result<Self, RequestError> {
        if from.is_none() && to.is_none() && matching.is_none() {
            return Err(RequestError::Unbounded);
        }
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(RequestError::EmptyRange);
        }
        let check = |field: &'static str, value: &str| {
            if value.is_empty() {
                Err(RequestError::Empty { field })
            } else if value.len() > MAX_VALUE_BYTES {
                Err(RequestError::TooLong { field })
            } else {
                Ok(())
            }
        };
        match &matching {
            Some(Match::OrderId(id)) => check("order_id", id)?,
            Some(Match::Prop { key, value }) => {
                check("prop.key", key)?;
                check("prop.value", value)?;
            }
            None => {}
        }
        Ok(Self { site, from, to, matching })
    }

    pub fn site(&self) -> &SiteDomain {
        &self.site
    }

    pub fn from(&self) -> Option<DateTime<Utc>> {
        self.from
    }

    pub fn to(&self) -> Option<DateTime<Utc>> {
        self.to
    }

    pub fn matching(&self) -> Option<&Match> {
        self.matching.as_ref()
    }

    /// Whether this deletes every event of the site.
    pub fn is_whole_site(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.matching.is_none()
    }

    /// The `WHERE` condition of the events this deletes.
    fn condition(&self) -> String {
        let mut parts = vec![format!("site = {}", sql::quote(self.site.as_str()))];
        if let Some(from) = self.from {
            parts.push(format!("timestamp >= {}", time_literal(from)));
        }
        if let Some(to) = self.to {
            parts.push(format!("timestamp < {}", time_literal(to)));
        }
        if let Some(matching) = &self.matching {
            parts.push(matching.condition());
        }
        parts.join(" AND ")
    }

    /// Whether the month `month` (`YYYYMM`) lies wholly inside the range, with no match to
    /// select events within it: then its partition can go whole.
    fn covers_month(&self, month: u32) -> bool {
        if self.matching.is_some() {
            return false;
        }
        let Some(start) = NaiveDate::from_ymd_opt((month / 100) as i32, month % 100, 1) else {
            return false;
        };
        let next = start.checked_add_months(chrono::Months::new(1)).unwrap_or(start);
        let start = start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let next = next.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        self.from.is_none_or(|from| from <= start) && self.to.is_none_or(|to| to >= next)
    }
}

/// What a deletion removed.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct DeletionReport {
    /// Events that matched when the deletion began, all gone now.
    pub deleted_events: u64,
    /// Months (`YYYYMM`) whose partition of the site was dropped whole.
    pub dropped_months: Vec<u32>,
    /// Whether a delete mutation rewrote parts (for what partitions could not cover).
    pub mutated: bool,
}

/// Deletes the events a request selects, and returns once they are gone.
///
/// A whole-site deletion also deletes the site's rows of `visitor_sessions` (which expire within
/// 48 hours anyway). The site's registration, settings, goals, funnels and audit log stay:
/// `sites remove` removes a site.
///
/// # Errors
/// Store errors; [`StoreError::Unavailable`] when the engine has not finished the mutation
/// after ten minutes (it keeps running; calling again waits for it again).
pub async fn delete(store: &dyn Store, deletion: &Deletion) -> Result<DeletionReport, StoreError> {
    let condition = deletion.condition();
    #[derive(serde::Deserialize)]
    struct Month {
        month: u32,
        events: u64,
    }
    let months: Vec<Month> = store
        .fetch_json(&format!(
            "SELECT toYYYYMM(timestamp) AS month, count() AS events FROM events WHERE {condition} \
             GROUP BY month ORDER BY month"
        ))
        .await?;
    let mut report = DeletionReport { deleted_events: months.iter().map(|m| m.events).sum(), ..Default::default() };
    let site = sql::quote(deletion.site.as_str());
    let mut rest = 0;
    for Month { month, events } in months {
        if deletion.covers_month(month) {
            // The pre-aggregated visits are partitioned as the events are: their month goes too.
            for table in ["events", visits::TABLE] {
                let table = cluster::local_table(store, table);
                store.execute(&format!("ALTER TABLE {table} DROP PARTITION ({site}, {month})")).await?;
            }
            report.dropped_months.push(month);
        } else {
            rest += events;
        }
    }
    if rest > 0 {
        // The pre-aggregated visits of the deleted events are computed again from what is left:
        // for a match, the quarter hours of the visits it touched (found before they go); for a
        // time range, the quarter hours at its two ends.
        let touched = match deletion.matching {
            Some(_) => Some(visits::keys_of(store, &condition).await?),
            None => None,
        };
        run_mutation(store, "events", &condition).await?;
        match touched {
            Some(keys) => visits::recompute_keys(store, deletion.site.as_str(), &keys).await?,
            None => visits::recompute_span(store, deletion.site.as_str(), deletion.from, deletion.to).await?,
        }
        report.mutated = true;
    }
    if report.deleted_events > 0 {
        // Rolled-up days the deletion touched are computed from what is left until rolled again.
        crate::rollup::invalidate(store, deletion.site.as_str(), deletion.from, deletion.to).await?;
    }
    if deletion.is_whole_site() {
        let sessions = format!("site = {site}");
        let held: u64 = count(store, &format!("SELECT count() FROM visitor_sessions WHERE {sessions}")).await?;
        if held > 0 {
            run_mutation(store, "visitor_sessions", &sessions).await?;
        }
    }
    Ok(report)
}

/// Runs `ALTER TABLE table DELETE WHERE condition` (on every shard's local table in cluster
/// mode) and returns when the engine has finished it:
/// with `mutations_sync` on engines that have it (20.x and later), else by polling
/// `system.mutations` until none of the table's mutations is left undone.
///
/// # Errors
/// Store errors; [`StoreError::Unavailable`] when an 18.x engine has not finished after ten
/// minutes.
pub async fn run_mutation(store: &dyn Store, table: &'static str, condition: &str) -> Result<(), StoreError> {
    let version = store.version().await?;
    let target = cluster::local_table(store, table);
    if version.major >= 20 {
        // 2: wait for every replica too, should the table be replicated.
        store.execute(&format!("ALTER TABLE {target} DELETE WHERE {condition} SETTINGS mutations_sync = 2")).await?;
        return Ok(());
    }
    store.execute(&format!("ALTER TABLE {target} DELETE WHERE {condition}")).await?;
    // In cluster mode, on every node: the call returns when every shard has finished.
    let pending = format!(
        "SELECT count() FROM {} WHERE database = {} AND table = {} AND is_done = 0",
        cluster::mutations_source(store),
        sql::quote(store.database()),
        sql::quote(&cluster::mutated_table(store, table))
    );
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        if count(store, &pending).await? == 0 {
            return Ok(());
        }
        if started.elapsed() > MUTATION_DEADLINE {
            return Err(StoreError::unavailable(format!(
                "the engine has not finished deleting from {table} after {} s; it goes on in the background",
                MUTATION_DEADLINE.as_secs()
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// The number a `SELECT count() …` answers.
pub(crate) async fn count(store: &dyn Store, sql: &str) -> Result<u64, StoreError> {
    let out = store.query_raw(sql, "TabSeparated").await?;
    let text = String::from_utf8_lossy(&out);
    text.trim().parse().map_err(|_| StoreError::Decode(format!("expected a count, got {:?}", text.trim())))
}

/// `toDateTime(<seconds>, 'UTC')`.
pub(crate) fn time_literal(at: DateTime<Utc>) -> String {
    format!("toDateTime({}, 'UTC')", at.timestamp().max(0))
}

/// The `YYYYMM` of an instant, as `toYYYYMM` gives it for a UTC `DateTime`.
pub(crate) fn month_of(at: DateTime<Utc>) -> u32 {
    at.year().max(0) as u32 * 100 + at.month()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> SiteDomain {
        SiteDomain::parse("shop.example").expect("site")
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn a_request_must_say_what_to_delete() {
        assert_eq!(Deletion::selected(site(), None, None, None), Err(RequestError::Unbounded));
        let (jan, feb) = (at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z"));
        assert_eq!(Deletion::selected(site(), Some(feb), Some(jan), None), Err(RequestError::EmptyRange));
        assert_eq!(Deletion::selected(site(), Some(jan), Some(jan), None), Err(RequestError::EmptyRange));
        let empty = Deletion::selected(site(), None, None, Some(Match::OrderId(String::new())));
        assert_eq!(empty, Err(RequestError::Empty { field: "order_id" }));
        let long = Match::Prop { key: "k".into(), value: "x".repeat(MAX_VALUE_BYTES + 1) };
        assert_eq!(
            Deletion::selected(site(), None, None, Some(long)),
            Err(RequestError::TooLong { field: "prop.value" })
        );
        assert!(Deletion::selected(site(), Some(jan), None, None).is_ok(), "an open end is fine");
        assert!(Deletion::whole_site(site()).is_whole_site());
    }

    #[test]
    fn conditions_quote_values_and_bound_the_range() {
        let d = Deletion::selected(
            site(),
            Some(at("2026-01-01T00:00:00Z")),
            Some(at("2026-02-01T00:00:00Z")),
            Some(Match::Prop { key: "ref".into(), value: "it's".into() }),
        )
        .expect("valid");
        assert_eq!(
            d.condition(),
            "site = 'shop.example' AND timestamp >= toDateTime(1767225600, 'UTC') AND \
             timestamp < toDateTime(1769904000, 'UTC') AND \
             arrayExists((k, v) -> k = 'ref' AND v = 'it\\'s', props.key, props.value)"
        );
        let order = Deletion::selected(site(), None, None, Some(Match::OrderId("A-1".into()))).expect("valid");
        assert_eq!(order.condition(), "site = 'shop.example' AND order_id = 'A-1'");
        assert_eq!(Match::Prop { key: "ref".into(), value: "secret".into() }.kind(), "prop:ref", "no value");
    }

    #[test]
    fn only_months_inside_the_range_without_a_match_are_dropped_whole() {
        let range =
            Deletion::selected(site(), Some(at("2026-01-15T00:00:00Z")), Some(at("2026-04-01T00:00:00Z")), None)
                .expect("valid");
        let covered: Vec<u32> =
            [202512, 202601, 202602, 202603, 202604].into_iter().filter(|m| range.covers_month(*m)).collect();
        assert_eq!(covered, vec![202602, 202603], "January is cut at the 15th; April is after the range");
        assert!(Deletion::whole_site(site()).covers_month(199001), "a whole site covers every month");
        let order = Deletion::selected(site(), None, None, Some(Match::OrderId("A".into()))).expect("valid");
        assert!(!order.covers_month(202601), "a match never drops a partition");
        assert_eq!(month_of(at("2026-12-31T23:59:59Z")), 202612);
    }
}
