//! `GET /api/v1/sites/{site}/search` (viewer): the site-search report over the stats parameters
//! (`period`, `filter`), with `sections` (comma-separated: `summary`, `top_queries`, `trending`,
//! `no_results`, `conversion`, `lost_revenue`; all by default), `limit` (rows per list, default
//! 10) and `trending_min` (fewest searchers a trending query needs, default 3).
//!
//! Definitions: `larder_store::search`.

use actix_web::{HttpRequest, HttpResponse, web};
use larder_store::search::{self, SearchOptions, SearchReport, SearchSection};
use larder_store::stats::Scope;
use serde::Serialize;

use super::Endpoint;
use super::goals::{RangeView, limit};
use super::stats::{StatsParams, readable_site};
use crate::auth::{Caller, Role};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::get("/api/v1/sites/{site}/search", |r| r.to(report))]
}

/// The `sections` parameter: names separated by commas, each known.
pub(crate) fn sections<T: Copy + PartialEq>(
    raw: Option<&str>,
    all: &[T],
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    let Some(raw) = raw else {
        return Ok(all.to_vec());
    };
    let mut chosen = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let section = parse(name)
            .ok_or_else(|| ApiError::Invalid { message: format!("unknown section {name:?}"), field: "sections" })?;
        if !chosen.contains(&section) {
            chosen.push(section);
        }
    }
    if chosen.is_empty() {
        return Err(ApiError::Invalid { message: "name at least one section".into(), field: "sections" });
    }
    Ok(chosen)
}

/// The value of an extra parameter, if given.
pub(crate) fn extra<'a>(params: &'a StatsParams, key: &str) -> Option<&'a str> {
    params.extra.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[derive(Serialize)]
struct Answer {
    range: RangeView,
    #[serde(flatten)]
    report: SearchReport,
}

async fn report(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let params = StatsParams::parse(req.query_string(), &["sections", "trending_min"])?;
    let site = readable_site(&state, &caller, &path, Role::Viewer).await?;
    let trending_min_searchers = match extra(&params, "trending_min") {
        Some(raw) => raw.parse::<u64>().ok().filter(|n| *n >= 1).ok_or(ApiError::Invalid {
            message: "trending_min must be a whole number of at least 1".into(),
            field: "trending_min",
        })?,
        None => SearchOptions::default().trending_min_searchers,
    };
    let options = SearchOptions {
        sections: sections(extra(&params, "sections"), &SearchSection::ALL, SearchSection::parse)?,
        limit: limit(&params, 10)?,
        trending_min_searchers,
    };
    let range = params.range(&state, &site).await?;
    let scope = Scope { site: &site.domain, timezone: &site.timezone, range, filters: &params.filters };
    let report = search::report(state.store.as_ref(), &scope, &options).await?;
    Ok(HttpResponse::Ok().json(Answer { range: range.into(), report }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_named_and_checked() {
        let parse = |raw| sections(raw, &SearchSection::ALL, SearchSection::parse);
        assert_eq!(parse(None).ok(), Some(SearchSection::ALL.to_vec()));
        assert_eq!(
            parse(Some("summary, trending,summary")).ok(),
            Some(vec![SearchSection::Summary, SearchSection::Trending])
        );
        for bad in ["", "summary,everything", ","] {
            assert!(matches!(parse(Some(bad)), Err(ApiError::Invalid { field: "sections", .. })), "{bad:?}");
        }
    }
}
