//! `POST /api/event` (and its CORS preflight): parse, validate, enrich, spool, answer `202`.
//!
//! Order matters for the contract: cheap refusals first (content type, size, rate), then the
//! whole batch is parsed and validated before anything is written, so a rejected batch leaves
//! no trace; `202` is sent only once the record is synced to disk.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use larder_core::referrer::classify;
use larder_core::url::{UrlPolicy, normalise_search_query, parse_page_url, redact};
use larder_core::wire::{FieldError, IncomingEvent, MAX_BATCH, Obj, WireEvent};
use larder_core::{Dimensions, Event, EventId, JsError, Search, SessionId, SiteDomain, Ux, ValidationError, VisitorId};
use larder_store::rows::EventRow;
use larder_store::sites::Site;

use crate::IngestState;
use crate::enrich::{Agent, Location, Software, parse_agent_cached};
use crate::error::IngestError;
use crate::metrics::{CodeLabel, DropReason, Outcome, OutcomeLabel, ReasonLabel, StatusLabel};
use crate::sites::SiteLookup;
use crate::spool::{SpoolError, encode_record};
use crate::visitor::{ClientIp, UserAgent, visitor_id};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/event")
            .route(web::post().to(post_event))
            .route(web::method(actix_web::http::Method::OPTIONS).to(preflight)),
    );
}

/// The handler: runs [`ingest`] and adds CORS headers to whatever it answers.
#[tracing::instrument(name = "ingest", skip_all)]
async fn post_event(req: HttpRequest, body: web::Payload, state: web::Data<IngestState>) -> HttpResponse {
    let cors = match cross_origin(&req, &state).await {
        Ok(cors) => cors,
        Err(e) => {
            state.metrics.rejections.get_or_create(&CodeLabel { code: e.code().to_owned() }).inc();
            return finish(&state, e.error_response(), None);
        }
    };
    let outcome = ingest(&req, body, &state, cors.as_ref().map(|c| &c.site)).await;
    let response = match outcome {
        Ok(accepted) => HttpResponse::Accepted().json(serde_json::json!({ "accepted": accepted })),
        Err(e) => {
            let label = if matches!(e, IngestError::SpoolFull | IngestError::Unavailable(_)) {
                Outcome::Unavailable
            } else {
                Outcome::Rejected
            };
            state.metrics.events.get_or_create(&OutcomeLabel { outcome: label }).inc();
            state.metrics.rejections.get_or_create(&CodeLabel { code: e.code().to_owned() }).inc();
            e.error_response()
        }
    };
    finish(&state, response, cors.as_ref())
}

/// A cross-origin request from a registered site.
struct Cors {
    origin: HeaderValue,
    site: SiteDomain,
}

fn finish(state: &IngestState, mut response: HttpResponse, cors: Option<&Cors>) -> HttpResponse {
    if let Some(cors) = cors {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, cors.origin.clone());
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    state.metrics.requests.get_or_create(&StatusLabel { status: response.status().as_u16() }).inc();
    response
}

/// `None` for same-origin requests and clients that send no `Origin` (sendBeacon from the
/// same site, servers); the owning site for an allowed cross-origin one.
async fn cross_origin(req: &HttpRequest, state: &IngestState) -> Result<Option<Cors>, IngestError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else { return Ok(None) };
    let origin_text = origin.to_str().unwrap_or("");
    let host = larder_core::url::referrer_host(origin_text).ok_or(IngestError::OriginNotAllowed { field: None })?;
    let own_host = req.connection_info().host().split(':').next().unwrap_or("").to_ascii_lowercase();
    let origin_authority = origin_text.split("://").nth(1).unwrap_or("").to_ascii_lowercase();
    if origin_authority == req.connection_info().host().to_ascii_lowercase()
        || (host == own_host && own_host.is_empty())
    {
        return Ok(None);
    }
    match state.sites.owner_of(&host).await {
        Some(site) => Ok(Some(Cors { origin: origin.clone(), site })),
        None => Err(IngestError::OriginNotAllowed { field: None }),
    }
}

/// `OPTIONS /api/event`: lets registered sites send `application/json` cross-origin.
async fn preflight(req: HttpRequest, state: web::Data<IngestState>) -> HttpResponse {
    match cross_origin(&req, &state).await {
        Ok(Some(cors)) => HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, cors.origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
            .insert_header((header::VARY, "Origin"))
            .finish(),
        Ok(None) => HttpResponse::NoContent().finish(),
        Err(e) => e.error_response(),
    }
}

async fn ingest(
    req: &HttpRequest,
    body: web::Payload,
    state: &IngestState,
    cross_origin_site: Option<&SiteDomain>,
) -> Result<usize, IngestError> {
    check_content_type(req.headers())?;
    let ip = ClientIp::from_request(req.peer_addr(), req.headers(), &state.config.trusted_proxies)
        .ok_or(IngestError::Unavailable("no client address"))?;
    if let Some(limiter) = &state.limiter
        && limiter.check_key(&ip.addr()).is_err()
    {
        return Err(IngestError::RateLimited);
    }
    let body = read_body(req.headers(), body, state.config.max_body_bytes).await?;
    let (mut events, is_batch) = parse_body(&body)?;
    let path = |i: usize| if is_batch { format!("events[{i}].") } else { String::new() };
    let sites = resolve_sites(&events, state, &path).await?;
    if let Some(origin_site) = cross_origin_site
        && let Some(i) = events.iter().position(|e| &e.site != origin_site)
    {
        return Err(IngestError::OriginNotAllowed { field: Some(format!("{}site", path(i))) });
    }
    let total = events.len();
    let ua = UserAgent::from_headers(req.headers());
    let software = match parse_agent_cached(&ua) {
        Agent::Human(software) => software,
        Agent::Bot => {
            state.metrics.dropped.get_or_create(&ReasonLabel { reason: DropReason::Bot }).inc_by(total as u64);
            return Ok(total);
        }
    };
    let signals_privacy = has_privacy_signal(req.headers());
    let before = events.len();
    events.retain(|e| !(signals_privacy && sites[&e.site].honour_privacy_signals));
    if events.len() < before {
        // Privacy: the visitor asked not to be tracked and the site honours it; nothing is kept.
        let dropped = (before - events.len()) as u64;
        state.metrics.dropped.get_or_create(&ReasonLabel { reason: DropReason::PrivacySignal }).inc_by(dropped);
    }
    if events.is_empty() {
        return Ok(total);
    }
    let location = state.geo.locate(&ip);
    let mut prepared = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let site = &sites[&event.site];
        prepared.push(prepare(event, site, &software, &location).map_err(|e| invalid(e.within(&path(i))))?);
    }
    let mut admission = state.spool.admit().map_err(spool_error)?;
    let receipt_ms = admission.receipt_ms();
    let salt = state.salts.salt_at(receipt_ms).ok_or(IngestError::Unavailable("no visitor salt for today yet"))?;
    let random: [u8; 10] = rand::random();
    // One hash per site of the request (a batch's events nearly always share theirs).
    let mut visitors: Vec<(SiteDomain, VisitorId)> = Vec::with_capacity(1);
    let rows: Vec<EventRow> = prepared
        .into_iter()
        .enumerate()
        .map(|(i, (mut event, age_ms))| {
            let at_ms = receipt_ms.saturating_sub(u64::from(age_ms));
            event.visitor_id = match visitors.iter().find(|(site, _)| *site == event.site) {
                Some((_, id)) => *id,
                None => {
                    let id = visitor_id(&salt, &event.site, &ip, &ua);
                    visitors.push((event.site.clone(), id));
                    id
                }
            };
            event.timestamp =
                chrono::DateTime::from_timestamp_millis(i64::try_from(at_ms).unwrap_or(0)).unwrap_or_default();
            event.id = EventId::from_uuid(time_ordered_id(at_ms, i, random));
            EventRow::from(event)
        })
        .collect();
    // Privacy: `ip` and `ua` end here; only the derived visitor id, location and software remain.
    drop((ip, ua));
    admission.register(&rows);
    let count = u32::try_from(rows.len()).unwrap_or(u32::MAX);
    state.spool.append(admission, encode_record(receipt_ms, &rows), count).await.map_err(spool_error)?;
    state.metrics.events.get_or_create(&OutcomeLabel { outcome: Outcome::Accepted }).inc_by(u64::from(count));
    Ok(total)
}

fn invalid(e: FieldError) -> IngestError {
    IngestError::Invalid { field: e.path, message: e.message }
}

fn spool_error(e: SpoolError) -> IngestError {
    match e {
        SpoolError::Full => IngestError::SpoolFull,
        SpoolError::Closed => IngestError::Unavailable("shutting down"),
        other => IngestError::Unexpected(Box::new(other)),
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), IngestError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json" | "text/plain") => Ok(()),
        _ => Err(IngestError::UnsupportedMediaType),
    }
}

async fn read_body(headers: &HeaderMap, mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, IngestError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(IngestError::PayloadTooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| IngestError::Malformed { message: format!("cannot read the body: {e}"), field: None })?;
        if body.len() + chunk.len() > limit {
            return Err(IngestError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses and validates a request body without a site, a store or a connection: what the
/// fuzz target and the malformed-body tests exercise. Returns the events and whether the body
/// was a batch.
///
/// # Errors
/// [`IngestError::Malformed`], [`IngestError::Invalid`] or [`IngestError::TooManyEvents`].
pub fn parse_body(body: &[u8]) -> Result<(Vec<IncomingEvent>, bool), IngestError> {
    let (wire, is_batch) = parse_events(body)?;
    let mut events = Vec::with_capacity(wire.len());
    for (i, event) in wire.into_iter().enumerate() {
        let within = |e: FieldError| invalid(e.within(&if is_batch { format!("events[{i}].") } else { String::new() }));
        events.push(event.validate().map_err(within)?);
    }
    Ok((events, is_batch))
}

/// One event or an array of 1..=100; errors name the JSON path.
fn parse_events(body: &[u8]) -> Result<(Vec<WireEvent>, bool), IngestError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let is_batch = first == Some(&b'[');
    if !is_batch && first != Some(&b'{') {
        return Err(IngestError::Malformed { message: "the body must be a JSON object or array".into(), field: None });
    }
    // The fast parse first; only a body it refuses is parsed again, tracking the JSON path of
    // the error (which costs a third of the parse on every body).
    let parsed = if is_batch {
        serde_json::from_slice::<Vec<Obj<WireEvent>>>(body).map(|events| events.into_iter().map(|e| e.0).collect())
    } else {
        serde_json::from_slice::<Obj<WireEvent>>(body).map(|event| vec![event.0])
    };
    let events: Vec<WireEvent> = match parsed {
        Ok(events) => events,
        Err(_) => return Err(located_json_error(body, is_batch)),
    };
    if events.is_empty() {
        return Err(IngestError::Malformed { message: "the batch is empty".into(), field: Some("events".into()) });
    }
    if events.len() > MAX_BATCH {
        return Err(IngestError::TooManyEvents { count: events.len(), max: MAX_BATCH });
    }
    Ok((events, is_batch))
}

/// Why `body` is refused, with the JSON path of the error: the slow parse of a bad body.
fn located_json_error(body: &[u8], is_batch: bool) -> IngestError {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = if is_batch {
        serde_path_to_error::deserialize::<_, Vec<Obj<WireEvent>>>(&mut deserializer).map(drop)
    } else {
        serde_path_to_error::deserialize::<_, Obj<WireEvent>>(&mut deserializer).map(drop)
    };
    if let Err(e) = parsed {
        return json_error(e);
    }
    // The value parsed: what follows it is the problem (one JSON value, then only whitespace).
    match deserializer.end() {
        Err(e) => IngestError::Malformed {
            message: format!("the body holds more than one JSON value: {}", strip_position(&e.to_string())),
            field: None,
        },
        Ok(()) => IngestError::Malformed { message: "the body is not valid JSON".into(), field: None },
    }
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> IngestError {
    let raw_path = e.path().to_string();
    let inner = e.into_inner();
    let message = strip_position(&inner.to_string());
    // `[3].revenue.amount` → `events[3].revenue.amount`; `.` is the root (a single event).
    let mut field = match raw_path.as_str() {
        "." | "" => String::new(),
        p if p.starts_with('[') => format!("events{p}"),
        p => p.to_owned(),
    };
    // A missing field is reported at its parent: name the field itself.
    if let Some(missing) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
        field = if field.is_empty() { missing.to_owned() } else { format!("{field}.{missing}") };
    }
    if inner.is_data() {
        IngestError::Invalid { field: if field.is_empty() { "events".into() } else { field }, message }
    } else {
        IngestError::Malformed {
            message: format!("the body is not valid JSON: {message}"),
            field: (!field.is_empty()).then_some(field),
        }
    }
}

/// serde_json's messages end with ` at line L column C`; the field path says where instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

async fn resolve_sites(
    events: &[IncomingEvent],
    state: &IngestState,
    path: &impl Fn(usize) -> String,
) -> Result<HashMap<SiteDomain, Arc<Site>>, IngestError> {
    let mut sites = HashMap::new();
    for (i, event) in events.iter().enumerate() {
        if sites.contains_key(&event.site) {
            continue;
        }
        match state.sites.get(&event.site).await {
            SiteLookup::Found(site) => {
                sites.insert(event.site.clone(), site);
            }
            SiteLookup::Unknown => {
                return Err(IngestError::UnknownSite {
                    site: event.site.to_string(),
                    field: format!("{}site", path(i)),
                });
            }
            SiteLookup::Unavailable => return Err(IngestError::Unavailable("registered sites cannot be read")),
        }
    }
    Ok(sites)
}

fn has_privacy_signal(headers: &HeaderMap) -> bool {
    ["sec-gpc", "dnt"].iter().any(|name| headers.get(*name).is_some_and(|v| v.as_bytes().trim_ascii() == b"1"))
}

/// Everything about an event that does not depend on when it was accepted.
fn prepare(
    event: IncomingEvent,
    site: &Site,
    software: &Software,
    location: &Location,
) -> Result<(Event, u32), FieldError> {
    let policy = UrlPolicy { search_params: &site.search_params, allowed_params: &site.allowed_query_params };
    let page = parse_page_url(&event.url, &policy).map_err(|e| from_validation("url", e))?;
    let source = classify(event.referrer.as_deref(), &page.hostname, &page.utm, page.click_id);
    let mut props: Vec<(String, String)> = event.props.into_iter().map(|(k, v)| (k, redact(&v).into_owned())).collect();
    props.extend(page.kept_params.into_iter().map(|(k, v)| (format!("query.{k}"), v)));
    let search = event.search.map(|s| Search {
        query: normalise_search_query(&s.query).unwrap_or_default(),
        result_count: s.results,
        clicked_position: s.position,
        clicked_product: s.product,
    });
    let error = event.ux.error.map(|e| JsError {
        message: redact(&e.message).into_owned(),
        // Privacy: the script URL keeps its path only.
        source: redact(e.source.split(['?', '#']).next().unwrap_or("")).into_owned(),
        line: e.line,
    });
    let utm = page.utm;
    let dimensions = Dimensions {
        referrer_host: source.host,
        referrer_source: source.source,
        referrer_medium: source.medium.as_str().to_owned(),
        utm_source: utm.source,
        utm_medium: utm.medium,
        utm_campaign: utm.campaign,
        utm_term: utm.term,
        utm_content: utm.content,
        country: location.country.clone(),
        region: location.region.clone(),
        city: location.city.clone(),
        browser: software.browser.clone(),
        browser_version: software.browser_version.clone(),
        os: software.os.clone(),
        os_version: software.os_version.clone(),
        device: software.device,
    };
    let built = Event {
        id: EventId::from_uuid(uuid::Uuid::nil()),
        site: event.site,
        timestamp: chrono::DateTime::default(),
        name: event.name,
        visitor_id: larder_core::VisitorId(0),
        session_id: SessionId(0),
        hostname: page.hostname,
        pathname: page.pathname,
        dimensions,
        props,
        revenue: event.revenue,
        currency: event.currency,
        order_id: event.order_id,
        items: event.items,
        search,
        ux: Ux {
            scroll_depth_pct: event.ux.scroll_depth_pct,
            engaged_ms: event.ux.engaged_ms,
            selector: redact(&event.ux.selector).into_owned(),
            vital: event.ux.vital,
            error,
        },
    };
    Ok((built, event.age_ms))
}

fn from_validation(path: &str, e: ValidationError) -> FieldError {
    let mut field = FieldError::from(e);
    if !field.path.starts_with(path) {
        field.path = path.to_owned();
    }
    field
}

/// A UUIDv7 for an event at `at_ms`: ids sort by event time, to the millisecond.
/// The id of the `index`-th event of a request: a UUIDv7 whose 12 bits after the millisecond
/// hold the index (RFC 9562's counter method), so that the events of one request that share a
/// millisecond — a beacon's batch — sort in the order they were sent; the other 62 bits are
/// the request's random bits (from the thread's generator, seeded once from the OS;
/// `Uuid::new_v7` would ask the OS for every id).
fn time_ordered_id(at_ms: u64, index: usize, mut random: [u8; 10]) -> uuid::Uuid {
    let index = u16::try_from(index).unwrap_or(u16::MAX).min(0x0FFF);
    random[0] = (index >> 8) as u8;
    random[1] = (index & 0xFF) as u8;
    uuid::Builder::from_unix_timestamp_millis(at_ms, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_event_and_field() {
        let body = br#"[{"site":"a.example","name":"x","url":"https://a.example/"},{"site":"a.example","name":"x","url":"https://a.example/","revenue":{"amount":true,"currency":"EUR"}}]"#;
        match parse_events(body) {
            Err(IngestError::Invalid { field, .. }) => assert_eq!(field, "events[1].revenue.amount"),
            other => panic!("expected an invalid field, got {other:?}"),
        }
        match parse_events(br#"{"site":"a.example","name":"x","url":"u","extra":1}"#) {
            Err(IngestError::Invalid { field, message }) => {
                assert_eq!(field, "extra", "{message}");
                assert!(message.contains("unknown field"), "{message}");
            }
            other => panic!("expected an unknown field error, got {other:?}"),
        }
        assert!(matches!(parse_events(b"{\"site\": "), Err(IngestError::Malformed { .. })), "truncated JSON");
        for (body, want) in [
            (r#"{"site":"a.example","url":"https://a.example/"}"#, "name"),
            (r#"[{"site":"a.example","name":"x","url":"u"},{"site":"a.example","url":"u"}]"#, "events[1].name"),
            (r#"{"site":"a.example","name":"x","url":"u","items":[{"name":"no id"}]}"#, "items[0].id"),
            (r#"{"site":"a.example","name":"x","url":"u","ux":{"error":{"line":1}}}"#, "ux.error.message"),
        ] {
            match parse_events(body.as_bytes()) {
                Err(IngestError::Invalid { field, .. }) => assert_eq!(field, want, "a missing field is named: {body}"),
                other => panic!("expected an invalid field for {body}, got {other:?}"),
            }
        }
        assert!(matches!(parse_events(b"\"text\""), Err(IngestError::Malformed { .. })), "not an object");
        assert!(matches!(parse_events(b"[]"), Err(IngestError::Malformed { .. })), "empty batch");
        let many = format!("[{}]", vec![r#"{"site":"a.example","name":"x","url":"u"}"#; 101].join(","));
        assert!(matches!(parse_events(many.as_bytes()), Err(IngestError::TooManyEvents { count: 101, .. })));
    }

    #[test]
    fn event_ids_sort_by_event_time() {
        let early = time_ordered_id(1_790_000_000_001, 7, rand::random());
        let late = time_ordered_id(1_790_000_000_002, 0, rand::random());
        assert!(early < late);
        assert_eq!(early.get_version_num(), 7);
    }

    #[test]
    fn the_events_of_a_request_in_one_millisecond_sort_in_the_order_sent() {
        let random = [0xFF; 10];
        let ids: Vec<uuid::Uuid> = (0..100).map(|i| time_ordered_id(1_790_000_000_001, i, random)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "as UUIDs");
        // As text too: ClickHouse 18.16 orders events by the id's text (see `stats::EVENT_ORDER`).
        let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert!(texts.windows(2).all(|w| w[0] < w[1]), "as text");
        assert!(ids.iter().all(|id| id.get_version_num() == 7 && id.get_variant() == uuid::Variant::RFC4122));
        let other_request = time_ordered_id(1_790_000_000_001, 0, [0; 10]);
        assert!(!ids.contains(&other_request), "requests differ in their random bits");
    }
}
