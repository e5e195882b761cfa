//! The collector's Prometheus metrics. Labels carry outcomes and reasons only: never paths,
//! sites' visitors, addresses or anything a request said.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    Accepted,
    Rejected,
    Unavailable,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum DropReason {
    Bot,
    PrivacySignal,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: DropReason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: u16,
}

/// The error code of a rejected request (`invalid_field`, `unknown_site`…).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

/// Every metric the collector updates.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub requests: Family<StatusLabel, Counter>,
    pub rejections: Family<CodeLabel, Counter>,
    pub events: Family<OutcomeLabel, Counter>,
    pub dropped: Family<ReasonLabel, Counter>,
    pub stored: Counter,
    pub replay_skipped: Counter,
    pub flushes: Counter,
    pub flush_failures: Counter,
    pub flush_seconds: Histogram,
    pub flush_events: Histogram,
    pub spool_bytes: Gauge,
    pub spool_oldest_seconds: Gauge,
    pub spool_segments: Gauge,
    pub quarantined_segments: Counter,
    pub sessions_started: Counter,
    pub coordination_wait_seconds: Histogram,
}

impl Metrics {
    /// Creates the metrics and registers them under `larder_collector_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            rejections: Family::default(),
            events: Family::default(),
            dropped: Family::default(),
            stored: Counter::default(),
            replay_skipped: Counter::default(),
            flushes: Counter::default(),
            flush_failures: Counter::default(),
            flush_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
            flush_events: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            spool_bytes: Gauge::default(),
            spool_oldest_seconds: Gauge::default(),
            spool_segments: Gauge::default(),
            quarantined_segments: Counter::default(),
            sessions_started: Counter::default(),
            coordination_wait_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 12)),
        };
        let r = registry.sub_registry_with_prefix("larder_collector");
        r.register("requests", "Requests to /api/event by HTTP status", metrics.requests.clone());
        r.register("rejected_requests", "Requests refused, by error code", metrics.rejections.clone());
        r.register("events", "Events received, by outcome", metrics.events.clone());
        r.register("dropped_events", "Accepted events deliberately not recorded, by reason", metrics.dropped.clone());
        r.register("stored_events", "Events written to the store", metrics.stored.clone());
        r.register(
            "replay_skipped_events",
            "Events of a replayed spool segment already in the store",
            metrics.replay_skipped.clone(),
        );
        r.register("flushes", "Inserts of spool segments into the store", metrics.flushes.clone());
        r.register("flush_failures", "Failed flush attempts: store errors (retried)", metrics.flush_failures.clone());
        r.register("flush_seconds", "Time to write one batch to the store", metrics.flush_seconds.clone());
        r.register("flush_events", "Events per batch written to the store", metrics.flush_events.clone());
        r.register("spool_bytes", "Bytes of accepted events not yet in the store", metrics.spool_bytes.clone());
        r.register(
            "spool_oldest_seconds",
            "Age of the oldest accepted event not yet in the store (0 when none)",
            metrics.spool_oldest_seconds.clone(),
        );
        r.register("spool_segments", "Spool segments waiting for the store", metrics.spool_segments.clone());
        r.register(
            "quarantined_segments",
            "Spool segments the store refused, moved aside for an operator",
            metrics.quarantined_segments.clone(),
        );
        r.register("sessions_started", "New visits", metrics.sessions_started.clone());
        r.register(
            "coordination_wait_seconds",
            "Time a batch waited for peer collectors' watermarks",
            metrics.coordination_wait_seconds.clone(),
        );
        metrics
    }
}
