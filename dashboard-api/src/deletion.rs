//! Deleting a site's events on request, audited: what `POST /api/v1/sites/{site}/deletions`
//! (owners), the local channel and `larder delete` share. The deletion itself is
//! `larder_store::deletion`; this module validates the request, runs it and writes the audit
//! entry — on success and on failure alike. Retention runs ([`apply_retention`]: the daily one
//! and `larder retention apply`) are audited here too.

use chrono::{DateTime, NaiveDate, Utc};
use larder_core::SiteDomain;
use larder_store::deletion::{self, Deletion, DeletionReport, Match};
use larder_store::retention::{self, RetentionRun};

use crate::{ApiError, ApiState};

/// Longest reference (a ticket number, "customer request of 3 May") kept in the audit log.
pub const MAX_REFERENCE_BYTES: usize = 200;

/// A request to delete events of one site. Exactly one of: `all: true` (every event of the
/// site), or any of a range (`from`, `to`) and a match (`order_id` or `prop`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletionRequest {
    /// Delete every event of the site.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// First instant deleted: RFC 3339 (`2026-01-01T10:00:00Z`) or a date (its midnight UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// First instant kept after the range (exclusive), same forms as `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Events of this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Events carrying this custom property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prop: Option<PropMatch>,
    /// Why (a ticket number); recorded in the audit log.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reference: String,
}

/// A custom property to match: `props.key = key` with `props.value = value`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropMatch {
    pub key: String,
    pub value: String,
}

/// What a deletion did, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeletionOutcome {
    pub site: String,
    pub whole_site: bool,
    #[serde(flatten)]
    pub report: DeletionReport,
}

/// Parses `from`/`to`: an RFC 3339 instant, or a date meaning its midnight UTC.
fn parse_instant(raw: &str, field: &'static str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or(ApiError::Invalid { message: format!("{raw:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"), field })
}

impl DeletionRequest {
    /// The validated deletion this request asks for on `site`.
    ///
    /// # Errors
    /// [`ApiError::Invalid`] naming the field at fault.
    pub fn validate(&self, site: SiteDomain) -> Result<Deletion, ApiError> {
        if self.reference.len() > MAX_REFERENCE_BYTES {
            return Err(ApiError::Invalid {
                message: format!("reference is longer than {MAX_REFERENCE_BYTES} bytes"),
                field: "reference",
            });
        }
        let matching = match (&self.order_id, &self.prop) {
            (Some(_), Some(_)) => {
                return Err(ApiError::Invalid { message: "give order_id or prop, not both".into(), field: "prop" });
            }
            (Some(id), None) => Some(Match::OrderId(id.clone())),
            (None, Some(p)) => Some(Match::Prop { key: p.key.clone(), value: p.value.clone() }),
            (None, None) => None,
        };
        let from = self.from.as_deref().map(|raw| parse_instant(raw, "from")).transpose()?;
        let to = self.to.as_deref().map(|raw| parse_instant(raw, "to")).transpose()?;
        if self.all {
            if from.is_some() || to.is_some() || matching.is_some() {
                return Err(ApiError::Invalid {
                    message: "all deletes every event of the site: give it alone".into(),
                    field: "all",
                });
            }
            return Ok(Deletion::whole_site(site));
        }
        Deletion::selected(site, from, to, matching)
            .map_err(|e| ApiError::Invalid { message: e.to_string(), field: e.field() })
    }
}

/// The audit log's account of a deletion. Privacy: the order id or property value a customer
/// asked to be forgotten is not written down — only which kind of match was used.
fn audit_detail(deletion: &Deletion, reference: &str, outcome: Result<&DeletionReport, &ApiError>) -> String {
    let mut detail = serde_json::json!({
        "whole_site": deletion.is_whole_site(),
        "from": deletion.from(),
        "to": deletion.to(),
        "match": deletion.matching().map(Match::kind),
        "reference": reference,
    });
    match outcome {
        Ok(report) => {
            detail["deleted_events"] = report.deleted_events.into();
            detail["dropped_months"] = report.dropped_months.clone().into();
        }
        Err(error) => detail["error"] = error.to_string().into(),
    }
    detail.to_string()
}

/// Deletes what `request` selects on `site`, as `actor`, and records it in the audit log
/// (`data_deleted`, or `data_deletion_failed` with the error). The site must be registered.
///
/// # Errors
/// [`ApiError::Invalid`] for a bad request, [`ApiError::NotFound`] for an unknown site, store
/// errors (after the failure is audited).
pub async fn run(
    state: &ApiState,
    actor: &str,
    site: &SiteDomain,
    request: &DeletionRequest,
) -> Result<DeletionOutcome, ApiError> {
    let deletion = request.validate(site.clone())?;
    if larder_store::sites::get(state.store.as_ref(), site).await?.is_none() {
        return Err(ApiError::NotFound { what: "site", field: "site" });
    }
    match deletion::delete(state.store.as_ref(), &deletion).await {
        Ok(report) => {
            let detail = audit_detail(&deletion, &request.reference, Ok(&report));
            crate::auth::record(state, actor, "data_deleted", Some(site.as_str()), &detail).await;
            tracing::info!(
                %site,
                whole_site = deletion.is_whole_site(),
                deleted_events = report.deleted_events,
                dropped_partitions = report.dropped_months.len(),
                "events deleted on request"
            );
            Ok(DeletionOutcome { site: site.to_string(), whole_site: deletion.is_whole_site(), report })
        }
        Err(store_error) => {
            let error = ApiError::from(store_error);
            let detail = audit_detail(&deletion, &request.reference, Err(&error));
            crate::auth::record(state, actor, "data_deletion_failed", Some(site.as_str()), &detail).await;
            Err(error)
        }
    }
}

/// Applies retention as of `now` — every site's (and expires login records), or only `only`'s —
/// and records each site whose events it deleted in the audit log (`retention_applied`, as
/// `actor`). Sites without a registration get the state's default period.
///
/// # Errors
/// Store errors; sites done before the error stay done (and are not audited).
pub async fn apply_retention(
    state: &ApiState,
    actor: &str,
    now: DateTime<Utc>,
    only: Option<&SiteDomain>,
) -> Result<RetentionRun, ApiError> {
    let default_days = state.site_defaults.retention_days;
    let run = retention::apply_all(state.store.as_ref(), now, default_days, only).await?;
    for site in run.sites.iter().filter(|s| s.report.deleted_events > 0) {
        let detail = serde_json::json!({
            "retention_days": site.retention_days,
            "cutoff": site.cutoff,
            "deleted_events": site.report.deleted_events,
            "dropped_months": site.report.dropped_months,
        });
        crate::auth::record(state, actor, "retention_applied", Some(&site.site), &detail.to_string()).await;
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> SiteDomain {
        SiteDomain::parse("shop.example").expect("site")
    }

    fn field_of(request: &DeletionRequest) -> Option<&'static str> {
        match request.validate(site()) {
            Err(ApiError::Invalid { field, .. }) => Some(field),
            Err(other) => panic!("unexpected {other:?}"),
            Ok(_) => None,
        }
    }

    #[test]
    fn requests_say_exactly_what_to_delete() {
        let base = DeletionRequest::default();
        for (description, request, want) in [
            ("nothing named", base.clone(), Some("all")),
            ("all alone", DeletionRequest { all: true, ..base.clone() }, None),
            (
                "all with a range",
                DeletionRequest { all: true, from: Some("2026-01-01".into()), ..base.clone() },
                Some("all"),
            ),
            ("a date", DeletionRequest { from: Some("2026-01-01".into()), ..base.clone() }, None),
            ("an instant", DeletionRequest { to: Some("2026-01-01T10:00:00+02:00".into()), ..base.clone() }, None),
            ("not a date", DeletionRequest { from: Some("yesterday".into()), ..base.clone() }, Some("from")),
            (
                "backwards",
                DeletionRequest { from: Some("2026-02-01".into()), to: Some("2026-01-01".into()), ..base.clone() },
                Some("to"),
            ),
            ("an order", DeletionRequest { order_id: Some("A-1".into()), ..base.clone() }, None),
            ("an empty order", DeletionRequest { order_id: Some(String::new()), ..base.clone() }, Some("order_id")),
            (
                "order and prop",
                DeletionRequest {
                    order_id: Some("A-1".into()),
                    prop: Some(PropMatch { key: "k".into(), value: "v".into() }),
                    ..base.clone()
                },
                Some("prop"),
            ),
            (
                "a long reference",
                DeletionRequest { all: true, reference: "x".repeat(MAX_REFERENCE_BYTES + 1), ..base.clone() },
                Some("reference"),
            ),
        ] {
            assert_eq!(field_of(&request), want, "{description}");
        }
    }

    #[test]
    fn the_audit_detail_never_holds_the_matched_value() {
        let request = DeletionRequest {
            prop: Some(PropMatch { key: "customer_ref".into(), value: "c-77-secret".into() }),
            reference: "ticket 9".into(),
            ..DeletionRequest::default()
        };
        let deletion = request.validate(site()).expect("valid");
        let report = DeletionReport { deleted_events: 4, dropped_months: vec![], mutated: true };
        let detail = audit_detail(&deletion, &request.reference, Ok(&report));
        assert!(!detail.contains("c-77-secret"), "{detail}");
        assert!(detail.contains("prop:customer_ref") && detail.contains("ticket 9"), "{detail}");
        assert!(detail.contains("\"deleted_events\":4"), "{detail}");
    }
}
