//! Funnels: definitions (2–8 steps, a conversion window, an order), their evaluation over a
//! scope, and saved funnels (versioned rows of the `funnels` table, the definition as JSON).
//!
//! Definitions. A funnel is evaluated per visitor (visitor ids change daily, so a funnel never
//! follows anyone across days) over the events of the visits the scope keeps (period and
//! filters, see [`crate::stats`]), ordered by `(timestamp, event_id)` — seconds, ties broken by
//! the time-ordered event id (as text, see [`crate::stats::EVENT_ORDER`]), as everywhere in the store. An event *matches* a step when it is
//! a page view whose path matches the step's page pattern (see [`crate::goals::PagePattern`])
//! or an event of the step's name, and, for each of the step's property filters, has the
//! property with exactly that value. One event may match several steps.
//!
//! - `strict` order (ClickHouse `windowFunnel` semantics, with its tie order made
//!   deterministic): a visitor *reaches step k* when there are distinct events e1 < e2 < … < ek
//!   (in the order above; other events may come between) where ej matches step j and
//!   `time(ek) − time(e1) ≤ window`. `R(k)`, the moment step k was reached, is the time of the
//!   earliest possible ek.
//! - `any` order: a *window* is anchored at an event a and holds a and the events after it up
//!   to `time(a) + window`; in it, step j is *done* at the first event matching it, and steps
//!   1..j are all done at `D(a, j)`, the latest of those times. A visitor *reaches step k* when
//!   some window has steps 1..k all done — that is, when events matching steps 1..k (one event
//!   may stand for several steps) lie within `window` of the earliest of them — and `R(k)` is
//!   the least `D(a, k)` over all windows.
//!
//! A visitor *enters* the funnel by reaching step 1 (any event matching step 1). Per step:
//! - `visitors`: visitors that reached the step;
//! - `conversion_rate`: visitors / visitors of the previous step (1 for step 1), and
//!   `overall_conversion_rate`: visitors / visitors of step 1;
//! - `dropped_off`: visitors of the previous step that did not reach this one (0 for step 1),
//!   `drop_off_rate` = dropped_off / visitors of the previous step;
//! - `median_seconds_from_previous`: over the visitors that reached step k, the median of their
//!   *time from step k−1*, measured on the events that made step k count at `R(k)`. In `strict`
//!   order: from the latest event matching step k−1 that ends a qualifying chain before the
//!   earliest ek, to that ek (the chain whose start leaves the most room in the window, as
//!   `windowFunnel` keeps it). In `any` order: the least `D(a, k) − D(a, k−1)` over the windows
//!   with `D(a, k) = R(k)` — how long after steps 1..k−1 were done step k was done too (0 when
//!   it came earlier). It is never negative and never longer than the window. The median is
//!   `quantileExact(0.5)`: the value at 0-based rank ⌊n/2⌋ of the sorted times, so the upper
//!   median for an even n. `None` for step 1 and for steps nobody reached.
//!
//! A breakdown attributes each visitor to the value of a visit-level dimension in the visit of
//! their first event matching step 1, and shows the ten values with the most entering visitors
//! (ties by value).
//!
//! Evaluation happens in ClickHouse in one query: each visitor's matching events become one
//! sorted array, and the reach times are computed with array functions in O(n) per step with
//! `arrayFill`, O(n log n) without (no window functions or `arrayFold`, which ClickHouse 18.16
//! lacks). `windowFunnel` itself is not used because its handling of equal timestamps differs
//! between 18.16 and later versions, and it gives neither the time of each step nor the `any`
//! order.
//!
//! Two things keep that query fast (at 100M events, its time halved):
//! - A visitor's events are sorted as plain numbers — the second and the step mask in one
//!   `UInt64` — not as `(time, id, mask)` tuples, which the engine compares generically. That
//!   order is the order above unless two events of one second match different steps: only then
//!   does the id decide. Such a visitor's events are sorted again by `(time, id, mask)`, with
//!   the id as one number (`toUInt128`, ClickHouse 26 and chDB) or its two 64-bit halves (see
//!   `ID_HALVES`); for the others those arrays are empty.
//! - The forward fills of the reach layers use `arrayFill` where the engine has it (ClickHouse
//!   20.6 and later, chDB), and on 18.16 a portable form with the same results (see `fill`).

use std::collections::BTreeMap;

use larder_core::query::Dimension;
use larder_core::{EventName, SiteDomain, ValidationError};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::goals::{self, PagePattern, next_version, share};
use crate::rowbinary::{Reader, Row, Writer};
use crate::stats::{self, Scope};
use crate::{EngineVersion, Store, sql};

/// Fewest and most steps of a funnel.
pub const MIN_STEPS: usize = 2;
pub const MAX_STEPS: usize = 8;
/// Longest conversion window: 90 days.
pub const MAX_WINDOW_SECONDS: u64 = 90 * 86_400;
/// The window when a definition gives none: one day.
pub const DEFAULT_WINDOW_SECONDS: u64 = 86_400;
/// Most property filters on one step.
pub const MAX_STEP_PROPS: usize = 10;
/// Most saved funnels per site.
pub const MAX_FUNNELS: usize = 100;
/// Values shown in a breakdown.
pub const BREAKDOWN_VALUES: usize = 10;

/// Field paths of the parts of each step, for errors (`steps[2].page`).
const STEP_FIELDS: [[&str; 3]; MAX_STEPS] = [
    ["steps[0].page", "steps[0].event", "steps[0].props"],
    ["steps[1].page", "steps[1].event", "steps[1].props"],
    ["steps[2].page", "steps[2].event", "steps[2].props"],
    ["steps[3].page", "steps[3].event", "steps[3].props"],
    ["steps[4].page", "steps[4].event", "steps[4].props"],
    ["steps[5].page", "steps[5].event", "steps[5].props"],
    ["steps[6].page", "steps[6].event", "steps[6].props"],
    ["steps[7].page", "steps[7].event", "steps[7].props"],
];

/// A funnel as a request gives it (and as it is stored, without the name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelInput {
    /// Required to save a funnel; ignored by an ad-hoc evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub steps: Vec<StepInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<u64>,
    /// `strict` (the default) or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// One step as a request gives it: exactly one of `page` and `event`, and optional properties.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Property key → the exact value (properties are stored as text).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub props: BTreeMap<String, String>,
}

/// How the steps must follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FunnelOrder {
    Strict,
    Any,
}

impl FunnelOrder {
    fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Any => "any",
        }
    }
}

/// What a step matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepTarget {
    Page(PagePattern),
    Event(EventName),
}

/// A validated step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelStep {
    target: StepTarget,
    props: Vec<(String, String)>,
}

impl FunnelStep {
    pub fn target(&self) -> &StepTarget {
        &self.target
    }

    /// The property filters, by key.
    pub fn props(&self) -> &[(String, String)] {
        &self.props
    }

    /// How the step reads in a report: `page /p/*`, `event add_to_cart (plan = gold)`.
    pub fn label(&self) -> String {
        let mut text = match &self.target {
            StepTarget::Page(p) => format!("page {}", p.as_str()),
            StepTarget::Event(e) => format!("event {}", e.as_str()),
        };
        if !self.props.is_empty() {
            let props: Vec<String> = self.props.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            text.push_str(&format!(" ({})", props.join(", ")));
        }
        text
    }

    /// The SQL condition for a matching event.
    fn condition(&self) -> String {
        let mut parts = vec![match &self.target {
            StepTarget::Page(pattern) => pattern.condition(),
            StepTarget::Event(name) => format!("name = {}", sql::quote(name.as_str())),
        }];
        for (key, value) in &self.props {
            let key = sql::quote(key);
            parts.push(format!(
                "has(props.key, {key}) AND props.value[indexOf(props.key, {key})] = {}",
                sql::quote(value)
            ));
        }
        format!("({})", parts.join(" AND "))
    }
}

/// A validated funnel definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelDefinition {
    steps: Vec<FunnelStep>,
    window_seconds: u32,
    order: FunnelOrder,
}

fn text(field: &'static str, raw: &str, max: usize) -> Result<String, ValidationError> {
    if raw.is_empty() {
        return Err(ValidationError::Invalid { field, reason: "keys must not be empty" });
    }
    if raw.len() > max {
        return Err(ValidationError::TooLong { field, max });
    }
    if raw.chars().any(char::is_control) {
        return Err(ValidationError::Invalid { field, reason: "must not contain control characters" });
    }
    Ok(raw.to_owned())
}

impl FunnelDefinition {
    /// Checks a definition. Errors name the field: `steps`, `steps[i].page`, `steps[i].event`,
    /// `steps[i].props`, `window_seconds`, `order`.
    ///
    /// # Errors
    /// [`ValidationError`] for the first problem found.
    pub fn parse(input: &FunnelInput) -> Result<Self, ValidationError> {
        if !(MIN_STEPS..=MAX_STEPS).contains(&input.steps.len()) {
            return Err(ValidationError::Invalid { field: "steps", reason: "a funnel has 2 to 8 steps" });
        }
        let mut steps = Vec::with_capacity(input.steps.len());
        for (step, [page_field, event_field, props_field]) in input.steps.iter().zip(STEP_FIELDS) {
            let target = match (&step.page, &step.event) {
                (Some(page), None) => StepTarget::Page(PagePattern::parse(page_field, page)?),
                (None, Some(event)) => StepTarget::Event(goals::event_name(event_field, event)?),
                _ => {
                    return Err(ValidationError::Invalid {
                        field: page_field,
                        reason: "a step has either a page or an event",
                    });
                }
            };
            if step.props.len() > MAX_STEP_PROPS {
                return Err(ValidationError::Invalid { field: props_field, reason: "at most 10 properties per step" });
            }
            let mut props = Vec::with_capacity(step.props.len());
            for (key, value) in &step.props {
                let key = text(props_field, key, 64)?;
                if value.len() > 256 {
                    return Err(ValidationError::TooLong { field: props_field, max: 256 });
                }
                if value.chars().any(char::is_control) {
                    return Err(ValidationError::Invalid {
                        field: props_field,
                        reason: "must not contain control characters",
                    });
                }
                props.push((key, value.clone()));
            }
            steps.push(FunnelStep { target, props });
        }
        let window = input.window_seconds.unwrap_or(DEFAULT_WINDOW_SECONDS);
        if !(1..=MAX_WINDOW_SECONDS).contains(&window) {
            return Err(ValidationError::Invalid {
                field: "window_seconds",
                reason: "must be from 1 second to 90 days (7776000)",
            });
        }
        let order = match input.order.as_deref() {
            None | Some("strict") => FunnelOrder::Strict,
            Some("any") => FunnelOrder::Any,
            Some(_) => return Err(ValidationError::Invalid { field: "order", reason: "must be strict or any" }),
        };
        Ok(Self { steps, window_seconds: u32::try_from(window).unwrap_or(u32::MAX), order })
    }

    /// Checks a definition that must be named (to be saved); the name is 1–100 bytes.
    ///
    /// # Errors
    /// Field `name` when missing or invalid, else as [`FunnelDefinition::parse`].
    pub fn parse_named(input: &FunnelInput) -> Result<(String, Self), ValidationError> {
        let name = match &input.name {
            Some(name) => goals::label("name", name, 100)?,
            None => return Err(ValidationError::Invalid { field: "name", reason: "is required to save a funnel" }),
        };
        Ok((name, Self::parse(input)?))
    }

    pub fn steps(&self) -> &[FunnelStep] {
        &self.steps
    }

    pub fn window_seconds(&self) -> u32 {
        self.window_seconds
    }

    pub fn order(&self) -> FunnelOrder {
        self.order
    }

    /// The definition in its request shape (canonical: every field given, props by key).
    pub fn to_input(&self) -> FunnelInput {
        FunnelInput {
            name: None,
            steps: self
                .steps
                .iter()
                .map(|s| {
                    let (page, event) = match &s.target {
                        StepTarget::Page(p) => (Some(p.as_str().to_owned()), None),
                        StepTarget::Event(e) => (None, Some(e.as_str().to_owned())),
                    };
                    StepInput { page, event, props: s.props.iter().cloned().collect() }
                })
                .collect(),
            window_seconds: Some(u64::from(self.window_seconds)),
            order: Some(self.order.as_str().to_owned()),
        }
    }
}

impl Serialize for FunnelDefinition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_input().serialize(serializer)
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// One step's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    /// 1-based.
    pub step: usize,
    pub label: String,
    pub visitors: u64,
    pub conversion_rate: f64,
    pub overall_conversion_rate: f64,
    pub dropped_off: u64,
    pub drop_off_rate: f64,
    pub median_seconds_from_previous: Option<i64>,
}

/// The funnel for one value of the breakdown dimension.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakdownRow {
    pub value: String,
    pub steps: Vec<StepResult>,
}

/// The funnel per value of a dimension.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelBreakdown {
    pub dimension: String,
    pub rows: Vec<BreakdownRow>,
}

/// A funnel's numbers over a scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelResult {
    pub order: FunnelOrder,
    pub window_seconds: u32,
    pub steps: Vec<StepResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<FunnelBreakdown>,
}

/// What the query gives per group: visitors reaching each step, median step times.
#[derive(Debug, Deserialize)]
struct Reach {
    #[serde(default)]
    value: String,
    reached: Vec<u64>,
    medians: Vec<i64>,
}

fn step_results(definition: &FunnelDefinition, reach: &Reach) -> Vec<StepResult> {
    let entered = reach.reached.first().copied().unwrap_or(0);
    definition
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let visitors = reach.reached.get(i).copied().unwrap_or(0);
            let previous = if i == 0 { visitors } else { reach.reached.get(i - 1).copied().unwrap_or(0) };
            let dropped_off = previous.saturating_sub(visitors);
            StepResult {
                step: i + 1,
                label: step.label(),
                visitors,
                conversion_rate: if i == 0 { 1.0 } else { share(visitors, previous) },
                overall_conversion_rate: if i == 0 { 1.0 } else { share(visitors, entered) },
                dropped_off,
                drop_off_rate: share(dropped_off, previous),
                median_seconds_from_previous: (i > 0 && visitors > 0)
                    .then(|| reach.medians.get(i).copied().unwrap_or(0)),
            }
        })
        .collect()
}

/// Select expressions defining `{name}`: for each position of the array `values`, the last
/// non-zero value at a position strictly before it (`inclusive = false`) or at or before it, as
/// Int64; 0 when there is none. (Every value the layers fill is a time or packs one, so 0 only
/// ever means "none".)
///
/// With `native` (engines with `arrayFill`): one `arrayFill`, shifted by one place when
/// exclusive. Without (18.16), a forward fill without `arrayFold` and without lambdas that read
/// arrays from outside (each call would copy the array once per element: quadratic): the
/// differences between consecutive non-zero values are scattered back to their positions by
/// sorting on the positions, and their running sum is the fill.
fn fill(name: &str, values: &str, inclusive: bool, native: bool) -> Vec<String> {
    if native {
        let filled = format!("arrayFill(x -> x != 0, arrayMap(x -> toInt64(x), {values}))");
        return vec![if inclusive {
            format!("{filled} AS {name}")
        } else {
            format!("arrayPopBack(arrayPushFront({filled}, toInt64(0))) AS {name}")
        }];
    }
    let flags = format!("{name}_f");
    let scattered = format!(
        "arraySort((y, k) -> k, \
         arrayConcat(arrayPopFront(arrayDifference(arrayPushFront(arrayMap(x -> toInt64(x), \
         arrayFilter((x, f) -> f, {values}, {flags})), toInt64(0)))), arrayMap(f -> toInt64(0), arrayFilter(f -> NOT f, {flags}))), \
         arrayConcat(arrayFilter((i, f) -> f, arrayEnumerate({flags}), {flags}), arrayFilter((i, f) -> NOT f, arrayEnumerate({flags}), {flags}))) \
         AS {name}_y"
    );
    let sum = if inclusive {
        format!("arrayCumSum({name}_y) AS {name}")
    } else {
        format!("arrayMap((c, y) -> c - y, arrayCumSum({name}_y), {name}_y) AS {name}")
    };
    vec![format!("arrayMap(v -> v != 0, {values}) AS {flags}"), scattered, sum]
}

/// Packs a reach time and a step time into one number whose minimum is the earliest reach
/// with, among equal reaches, the least step time (steps take at most 90 days < 2^23 s).
const PACK: u64 = 1 << 23;

/// Packs a chain's start (times from the range's start, below 2^31) above the time of its last
/// event in one fill value.
const CHAIN: u64 = 1 << 32;

/// The per-visitor reach times `r2..rk` (seconds, 0 = not reached; every visitor kept reached
/// step 1) and times from the previous step `gap2..gapk`, as layers of select expressions over
/// `ts` (the sorted event times) and `m` (each event's step bit mask, in its low bits); each
/// layer reads the one before as a subquery. See the module documentation for the definitions.
///
/// One layer per step: ClickHouse expands aliases into the expressions that use them, and a
/// step's arrays use the previous step's several times, so a single `SELECT` would grow
/// exponentially with the steps (chDB refuses trees above 500,000 nodes).
fn reach_layers(definition: &FunnelDefinition, native_fill: bool) -> Vec<Vec<String>> {
    let k = definition.steps.len();
    let w = definition.window_seconds;
    let mut layers = Vec::new();
    match definition.order {
        FunnelOrder::Strict => {
            // s{j}[p]: the latest start time of a chain e1 < … < ej = p (0: none). The best
            // predecessor of p is the chain to step j−1 with the latest start before p; those
            // starts never decrease along the array, so it is the last one before p: b, which
            // packs that start (high 32 bits) with the time of the chain's last event (low).
            layers.push(vec!["arrayMap((t, x) -> if(bitAnd(x, 1) != 0, t, 0), ts, m) AS s1".to_owned()]);
            for j in 2..=k {
                let p = j - 1;
                let bit = 1u32 << (j - 1);
                let mut layer = vec![format!("arrayMap((v, t) -> if(v > 0, v * {CHAIN} + t, 0), s{p}, ts) AS c{p}")];
                layer.extend(fill(&format!("b{p}"), &format!("c{p}"), false, native_fill));
                layer.push(format!(
                    "arrayMap((t, x, b) -> if(bitAnd(x, {bit}) != 0 AND b > 0 AND t - intDiv(b, {CHAIN}) <= {w}, \
                     intDiv(b, {CHAIN}), 0), ts, m, b{p}) AS s{j}"
                ));
                // The earliest ej (its place, 0: none), its time and the time from its
                // predecessor (`arrayElement` gives 0 at place 0).
                layer.push(format!("arrayFirstIndex(v -> v > 0, s{j}) AS i{j}"));
                layer.push(format!("arrayElement(ts, i{j}) AS r{j}"));
                layer.push(format!("if(i{j} > 0, r{j} - arrayElement(b{p}, i{j}) % {CHAIN}, 0) AS gap{j}"));
                layers.push(layer);
            }
        }
        FunnelOrder::Any => {
            // n{j}[p]: the time of the first event at or after p matching step j (0: none): a
            // fill over the reversed array. e{j}[p]: with the window anchored at p, the time by
            // which steps 1..j are all done (0: not within the window).
            for j in 1..=k {
                let bit = 1u32 << (j - 1);
                let mut layer =
                    vec![format!("arrayReverse(arrayMap((t, x) -> if(bitAnd(x, {bit}) != 0, t, 0), ts, m)) AS q{j}")];
                layer.extend(fill(&format!("qn{j}"), &format!("q{j}"), true, native_fill));
                layer.push(format!("arrayReverse(qn{j}) AS n{j}"));
                if j == 1 {
                    layer.push(format!("arrayMap((t, a) -> if(a > 0 AND a - t <= {w}, a, 0), ts, n1) AS e1"));
                    layer.push("arrayReduce('min', arrayFilter(v -> v > 0, e1)) AS r1".to_owned());
                } else {
                    let before = j - 1;
                    layer.push(format!(
                        "arrayMap((t, b, a) -> if(b > 0 AND a > 0 AND a - t <= {w}, greatest(b, a), 0), \
                         ts, e{before}, n{j}) AS e{j}"
                    ));
                    // The earliest completion, and among windows completing then the least
                    // time after steps 1..j−1 were done.
                    layer.push(format!(
                        "arrayReduce('min', arrayFilter(v -> v > 0, arrayMap((b, a) -> if(a > 0, a * {PACK} + (a - b), 0), \
                         e{before}, e{j}))) AS packed{j}"
                    ));
                    layer.push(format!("intDiv(packed{j}, {PACK}) AS r{j}"));
                    layer.push(format!("packed{j} % {PACK} AS gap{j}"));
                }
                layers.push(layer);
            }
        }
    }
    layers
}

/// An event id's two 64-bit halves, high then low, as numbers that compare as the id's text
/// does. `reinterpretAsString` lays a UUID out alike on 18.16 and chDB (`toUInt64(UUID)` exists
/// only on the former).
const ID_HALVES: [&str; 2] = [
    "reinterpretAsUInt64(substring(reinterpretAsString(event_id), 1, 8))",
    "reinterpretAsUInt64(substring(reinterpretAsString(event_id), 9, 8))",
];

/// Room for a step mask below the second in an event's sort key (at most [`MAX_STEPS`] bits).
const MASKS: u32 = 1 << MAX_STEPS;

/// The query giving `reached` and `medians` per group (one group, or one per breakdown value).
fn funnel_sql(
    scope: &Scope<'_>,
    definition: &FunnelDefinition,
    breakdown: Option<&str>,
    engine: &EngineVersion,
) -> Result<String, StoreError> {
    let k = definition.steps.len();
    let conditions: Vec<String> = definition.steps.iter().map(FunnelStep::condition).collect();
    let mask: Vec<String> = conditions.iter().enumerate().map(|(i, c)| format!("{c} * {}", 1u32 << i)).collect();
    // A breakdown needs the visit of the visitor's first step-1 event.
    let (order, first) = match breakdown {
        None => (String::new(), String::new()),
        Some(_) => (
            format!(", session_id, {} AS event_order", stats::EVENT_ORDER),
            ", argMinIf(session_id, event_order, bitAnd(mask, 1) != 0) AS first_session".to_owned(),
        ),
    };
    // Each event's id for the order of ties: per event, collected per visitor, and how the
    // exact sort reads it beside `keys0`. One number where the engine has it (cheaper to make
    // and carry than the two halves: at 100M events the query took ~0.88× the time).
    let (id_select, id_collect, id_sort) = if engine.has_uuid_number() {
        (
            "toUInt128(event_id) AS id_n".to_owned(),
            "groupArray(id_n) AS ids",
            format!("(k, i) -> (intDiv(k, {MASKS}), i), arraySlice(keys0, 1, exact), arraySlice(ids, 1, exact)"),
        )
    } else {
        let [hi, lo] = ID_HALVES;
        (
            format!("{hi} AS id_hi, {lo} AS id_lo"),
            "groupArray(id_hi) AS his, groupArray(id_lo) AS los",
            format!(
                "(k, h, l) -> (intDiv(k, {MASKS}), h, l), arraySlice(keys0, 1, exact), \
                 arraySlice(his, 1, exact), arraySlice(los, 1, exact)"
            ),
        )
    };
    // Per visitor who entered (has an event matching step 1): each event's sort key (its second,
    // then its step mask) as collected (`keys0`, beside its id) and sorted (`keys`).
    let per_visitor = format!(
        "SELECT visitor_id, groupArray(key) AS keys0, arraySort(keys0) AS keys, {id_collect}, \
         groupBitOr(mask) AS steps{first} FROM \
         (SELECT visitor_id, toUInt64(timestamp) * {MASKS} + mask AS key, {id_select}, mask{order} FROM \
         (SELECT visitor_id, timestamp, event_id, session_id, toUInt16({}) AS mask FROM events WHERE {} AND ({}))) \
         GROUP BY visitor_id HAVING bitAnd(steps, 1) != 0",
        mask.join(" + "),
        stats::kept_events(scope, None)?,
        conditions.join(" OR ")
    );
    // A breakdown's value: the visit-level dimension of that visit.
    let source = match breakdown {
        None => per_visitor,
        Some(column) => format!(
            "SELECT * FROM ({per_visitor}) AS reach \
             ANY LEFT JOIN (SELECT session_id AS first_session, {column} AS value FROM {}) AS visit USING first_session",
            stats::kept_visits(scope)?
        ),
    };
    // `ts`: each event's time in order (seconds from just before the range, so never 0, which
    // marks "none" in the layers); `m`: its sort key, whose low bits are its step mask. Only a
    // visitor with events matching steps 1 and 2 can go further: the others' arrays are empty
    // for the reach layers (most of the query's work), which then find nothing for them, as
    // they would have. `tied`: two of its events of one second match different steps, so their
    // ids order them.
    let (start, _) = scope.range_bounds()?;
    let mut reach = format!(
        "SELECT *, if(tied, arraySort({id_sort}), further) AS ordered, \
         arrayMap(k -> toInt64(intDiv(k, {MASKS})) - toInt64(toUInt32({start})) + 1, ordered) AS ts, \
         ordered AS m FROM \
         (SELECT *, arraySlice(keys, 1, if(bitAnd(steps, 3) = 3, length(keys), 0)) AS further, \
         arrayExists((a, b) -> intDiv(a, {MASKS}) = intDiv(b, {MASKS}) AND a != b, arrayPopBack(further), arrayPopFront(further)) AS tied, \
         if(tied, length(further), 0) AS exact FROM ({source}))"
    );
    for layer in reach_layers(definition, engine.has_array_fill()) {
        reach = format!("SELECT *, {} FROM ({reach})", layer.join(", "));
    }
    let reached: Vec<String> =
        (1..=k).map(|j| if j == 1 { "count()".to_owned() } else { format!("countIf(r{j} > 0)") }).collect();
    let medians: Vec<String> =
        (1..=k)
            .map(|j| {
                if j == 1 {
                    "toInt64(0)".to_owned()
                } else {
                    format!("toInt64(quantileExactIf(0.5)(gap{j}, r{j} > 0))")
                }
            })
            .collect();
    let totals = format!("[{}] AS reached, [{}] AS medians", reached.join(", "), medians.join(", "));
    Ok(match breakdown {
        None => format!("SELECT {totals} FROM ({reach})"),
        Some(_) => format!(
            "SELECT value, {totals} FROM ({reach}) \
             GROUP BY value ORDER BY reached[1] DESC, value LIMIT {BREAKDOWN_VALUES}"
        ),
    })
}

/// Evaluates a funnel over a scope, optionally broken down by a visit-level dimension.
///
/// # Errors
/// Store errors; [`StoreError::Invalid`] when the breakdown dimension is not visit-level.
pub async fn evaluate(
    store: &dyn Store,
    scope: &Scope<'_>,
    definition: &FunnelDefinition,
    breakdown: Option<&Dimension>,
) -> Result<FunnelResult, StoreError> {
    let column = match breakdown {
        Some(dimension) => Some(stats::visit_column(dimension).ok_or_else(|| {
            StoreError::Invalid(format!("funnels are broken down by visit-level dimensions, not {}", dimension.name()))
        })?),
        None => None,
    };
    let engine = store.version().await?;
    let totals: Vec<Reach> = store.fetch_json(&funnel_sql(scope, definition, None, &engine)?).await?;
    let empty = Reach { value: String::new(), reached: Vec::new(), medians: Vec::new() };
    let steps = step_results(definition, totals.first().unwrap_or(&empty));
    let breakdown = match (breakdown, column) {
        (Some(dimension), Some(column)) => {
            let rows: Vec<Reach> = store.fetch_json(&funnel_sql(scope, definition, Some(column), &engine)?).await?;
            Some(FunnelBreakdown {
                dimension: dimension.name(),
                rows: rows
                    .iter()
                    .map(|r| BreakdownRow { value: r.value.clone(), steps: step_results(definition, r) })
                    .collect(),
            })
        }
        _ => None,
    };
    Ok(FunnelResult { order: definition.order, window_seconds: definition.window_seconds, steps, breakdown })
}

// ---------------------------------------------------------------------------------------------
// Saved funnels

/// A saved funnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedFunnel {
    pub id: uuid::Uuid,
    pub name: String,
    pub definition: FunnelDefinition,
    /// Who saved it (as the audit log names them).
    pub created_by: String,
}

#[derive(Debug)]
struct FunnelRow {
    site: String,
    funnel_id: uuid::Uuid,
    name: String,
    definition: String,
    created_by: String,
    version: u64,
    deleted: bool,
}

impl Row for FunnelRow {
    const TABLE: &'static str = "funnels";
    const COLUMNS: &'static [&'static str] =
        &["site", "funnel_id", "name", "definition", "created_by", "version", "deleted"];

    fn encode(&self, w: &mut Writer) {
        w.str(&self.site);
        w.uuid(self.funnel_id);
        w.str(&self.name);
        w.str(&self.definition);
        w.str(&self.created_by);
        w.u64(self.version);
        w.u8(u8::from(self.deleted));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            site: r.string()?,
            funnel_id: r.uuid()?,
            name: r.string()?,
            definition: r.string()?,
            created_by: r.string()?,
            version: r.u64()?,
            deleted: r.u8()? != 0,
        })
    }
}

impl FunnelRow {
    fn new(site: &SiteDomain, funnel: &SavedFunnel, deleted: bool) -> Result<Self, StoreError> {
        Ok(Self {
            site: site.as_str().to_owned(),
            funnel_id: funnel.id,
            name: funnel.name.clone(),
            definition: serde_json::to_string(&funnel.definition.to_input())
                .map_err(|e| StoreError::Invalid(format!("funnel definition: {e}")))?,
            created_by: funnel.created_by.clone(),
            version: next_version(),
            deleted,
        })
    }

    fn into_funnel(self) -> Result<SavedFunnel, StoreError> {
        let bad = |e: String| StoreError::Decode(format!("stored funnel {}: {e}", self.funnel_id));
        let input: FunnelInput = serde_json::from_str(&self.definition).map_err(|e| bad(e.to_string()))?;
        let definition = FunnelDefinition::parse(&input).map_err(|e| bad(e.to_string()))?;
        Ok(SavedFunnel { id: self.funnel_id, name: self.name, definition, created_by: self.created_by })
    }
}

/// Saves a new funnel and returns it with its id.
///
/// # Errors
/// Store errors.
pub async fn save(
    store: &dyn Store,
    site: &SiteDomain,
    name: &str,
    definition: &FunnelDefinition,
    created_by: &str,
) -> Result<SavedFunnel, StoreError> {
    let funnel = SavedFunnel {
        id: uuid::Uuid::new_v4(),
        name: name.to_owned(),
        definition: definition.clone(),
        created_by: created_by.to_owned(),
    };
    store.insert_rows(&[FunnelRow::new(site, &funnel, false)?]).await?;
    Ok(funnel)
}

async fn fetch(store: &dyn Store, site: &SiteDomain, condition: &str) -> Result<Vec<SavedFunnel>, StoreError> {
    let rows: Vec<FunnelRow> = store
        .fetch_rows(&format!(
            "FROM funnels FINAL WHERE site = {} AND deleted = 0 AND {condition} ORDER BY name, funnel_id",
            sql::quote(site.as_str())
        ))
        .await?;
    rows.into_iter().map(FunnelRow::into_funnel).collect()
}

/// The site's saved funnels, by name (then id).
///
/// # Errors
/// Store errors; [`StoreError::Decode`] for a stored definition that no longer validates.
pub async fn list(store: &dyn Store, site: &SiteDomain) -> Result<Vec<SavedFunnel>, StoreError> {
    fetch(store, site, "1").await
}

/// One saved funnel of the site, if it exists.
///
/// # Errors
/// As [`list`].
pub async fn get(store: &dyn Store, site: &SiteDomain, id: uuid::Uuid) -> Result<Option<SavedFunnel>, StoreError> {
    Ok(fetch(store, site, &format!("funnel_id = toUUID({})", sql::quote(&id.to_string()))).await?.into_iter().next())
}

/// Deletes a saved funnel; `false` when the site has no such funnel.
///
/// # Errors
/// As [`list`].
pub async fn remove(store: &dyn Store, site: &SiteDomain, id: uuid::Uuid) -> Result<bool, StoreError> {
    match get(store, site, id).await? {
        Some(funnel) => store.insert_rows(&[FunnelRow::new(site, &funnel, true)?]).await.map(|()| true),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(page: Option<&str>, event: Option<&str>) -> StepInput {
        StepInput { page: page.map(str::to_owned), event: event.map(str::to_owned), props: BTreeMap::new() }
    }

    fn input(steps: Vec<StepInput>) -> FunnelInput {
        FunnelInput { name: None, steps, window_seconds: None, order: None }
    }

    fn invalid(field: &'static str, reason: &'static str) -> Result<FunnelDefinition, ValidationError> {
        Err(ValidationError::Invalid { field, reason })
    }

    #[test]
    fn definitions_are_checked_with_field_paths() {
        let ok = || vec![step(Some("/p/*"), None), step(None, Some("add_to_cart"))];
        assert!(FunnelDefinition::parse(&input(ok())).is_ok());
        assert_eq!(
            FunnelDefinition::parse(&input(vec![step(Some("/"), None)])),
            invalid("steps", "a funnel has 2 to 8 steps")
        );
        assert_eq!(
            FunnelDefinition::parse(&input(vec![step(Some("/"), None); 9])),
            invalid("steps", "a funnel has 2 to 8 steps")
        );
        let mut steps = ok();
        steps.push(step(Some("no-slash"), None));
        assert_eq!(FunnelDefinition::parse(&input(steps)), invalid("steps[2].page", "must start with /"));
        let mut steps = ok();
        steps.push(step(Some("/a"), Some("b")));
        assert_eq!(
            FunnelDefinition::parse(&input(steps)),
            invalid("steps[2].page", "a step has either a page or an event")
        );
        let mut steps = ok();
        steps[1].event = Some("x".repeat(121));
        assert_eq!(
            FunnelDefinition::parse(&input(steps)),
            Err(ValidationError::TooLong { field: "steps[1].event", max: 120 })
        );
        let mut steps = ok();
        steps[0].props = (0..11).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert_eq!(FunnelDefinition::parse(&input(steps)), invalid("steps[0].props", "at most 10 properties per step"));
        let mut steps = ok();
        steps[1].props.insert("plan".into(), "x".repeat(257));
        assert_eq!(
            FunnelDefinition::parse(&input(steps)),
            Err(ValidationError::TooLong { field: "steps[1].props", max: 256 })
        );
        for window in [0, MAX_WINDOW_SECONDS + 1] {
            let definition = FunnelInput { window_seconds: Some(window), ..input(ok()) };
            assert_eq!(
                FunnelDefinition::parse(&definition),
                invalid("window_seconds", "must be from 1 second to 90 days (7776000)"),
                "{window}"
            );
        }
        let any = FunnelInput { order: Some("random".into()), ..input(ok()) };
        assert_eq!(FunnelDefinition::parse(&any), invalid("order", "must be strict or any"));
        assert_eq!(
            FunnelDefinition::parse_named(&input(ok())).map(|(n, _)| n),
            Err(ValidationError::Invalid { field: "name", reason: "is required to save a funnel" })
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let raw = r#"{"steps":[{"page":"/"},{"event":"x","prop":{"a":"b"}}]}"#;
        assert!(serde_json::from_str::<FunnelInput>(raw).is_err());
        let raw = r#"{"steps":[{"page":"/"},{"event":"x"}],"window":5}"#;
        assert!(serde_json::from_str::<FunnelInput>(raw).is_err());
    }

    #[test]
    fn definitions_round_trip_through_their_canonical_json() {
        let raw = r#"{"steps":[{"page":"/p/*"},{"event":"add_to_cart","props":{"plan":"gold"}}],"order":"any"}"#;
        let input: FunnelInput = serde_json::from_str(raw).unwrap_or_default();
        let definition = FunnelDefinition::parse(&input).unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&definition).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"steps":[{"page":"/p/*"},{"event":"add_to_cart","props":{"plan":"gold"}}],"window_seconds":86400,"order":"any"}"#
        );
        let again: FunnelInput = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(FunnelDefinition::parse(&again).as_ref(), Ok(&definition));
        assert_eq!(definition.steps()[1].label(), "event add_to_cart (plan = gold)");
    }

    #[test]
    fn step_conditions_quote_names_and_properties() {
        let mut s = step(None, Some("it's"));
        s.props.insert("k'".into(), "v'".into());
        let definition =
            FunnelDefinition::parse(&input(vec![s, step(Some("/"), None)])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            definition.steps()[0].condition(),
            r"(name = 'it\'s' AND has(props.key, 'k\'') AND props.value[indexOf(props.key, 'k\'')] = 'v\'')"
        );
    }
}
