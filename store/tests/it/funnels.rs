//! Funnels give the numbers their definitions imply, exactly, on both engines: a hand-built
//! scenario worked out by hand, and a generated fixture checked against a Rust reference.

use std::collections::{BTreeMap, HashMap};

use chrono::DateTime;
use larder_core::Event;
use larder_core::fixtures::{FixtureSpec, events as fixture_events};
use larder_core::query::Dimension;
use larder_store::funnels::{self, FunnelDefinition, FunnelInput, FunnelResult, StepInput};
use larder_store::goals::PagePattern;

use crate::goals::{EventExt, ev, filters, id, numbered, range, scope, site};
use crate::helpers::both;

fn page(pattern: &str) -> StepInput {
    StepInput { page: Some(pattern.into()), ..StepInput::default() }
}

fn event(name: &str) -> StepInput {
    StepInput { event: Some(name.into()), ..StepInput::default() }
}

fn definition(steps: Vec<StepInput>, window_seconds: u64, order: &str) -> FunnelDefinition {
    FunnelDefinition::parse(&FunnelInput {
        name: None,
        steps,
        window_seconds: Some(window_seconds),
        order: Some(order.into()),
    })
    .expect("valid definition")
}

/// (visitors, median seconds from the previous step) per step.
type Steps = Vec<(u64, Option<i64>)>;

/// One visitor's reach times and times from the previous step (see the reference).
type Reach = (Vec<Option<i64>>, Vec<i64>);

fn summary(result: &FunnelResult) -> Steps {
    result.steps.iter().map(|s| (s.visitors, s.median_seconds_from_previous)).collect()
}

/// Visitors (sessions):
/// - 1 (10, Google): /p/1 10:00, add_to_cart 10:01 (plan=gold), purchase 10:05;
/// - 2 (20, Instagram): add_to_cart 10:00, /p/2 10:02, add_to_cart 10:20;
/// - 3 (30, Google): /p/3 and add_to_cart (plan=silver) in the same second 11:00:00, purchase 11:30;
/// - 4 (40, no source): /p/4/reviews 12:00 (not `/p/*`), /p/4 12:01, purchase 12:02, add_to_cart 12:03;
/// - 5 (50, Google): add_to_cart 13:00 (plan=gold), purchase 13:01 — never on a product page;
/// - 7 (70, Google): /p/1 09:00, /p/2 09:30, add_to_cart 09:35, purchase 09:36;
/// - 8 (80 Instagram, then 81 Google): /p/9 14:00; then /, add_to_cart 14:41, purchase 14:42.
fn scenario() -> Vec<Event> {
    let at = |hms: &str| format!("2026-11-20T{hms}Z");
    numbered(vec![
        ev(1, 10, &at("10:00:00"), "pageview", "/p/1").source("Google"),
        ev(1, 10, &at("10:01:00"), "add_to_cart", "/p/1").source("Google").prop("plan", "gold"),
        ev(1, 10, &at("10:05:00"), "purchase", "/checkout").source("Google"),
        ev(2, 20, &at("10:00:00"), "add_to_cart", "/").source("Instagram"),
        ev(2, 20, &at("10:02:00"), "pageview", "/p/2").source("Instagram"),
        ev(2, 20, &at("10:20:00"), "add_to_cart", "/p/2").source("Instagram"),
        ev(3, 30, &at("11:00:00"), "pageview", "/p/3").source("Google"),
        ev(3, 30, &at("11:00:00"), "add_to_cart", "/p/3").source("Google").prop("plan", "silver"),
        ev(3, 30, &at("11:30:00"), "purchase", "/checkout").source("Google"),
        ev(4, 40, &at("12:00:00"), "pageview", "/p/4/reviews"),
        ev(4, 40, &at("12:01:00"), "pageview", "/p/4"),
        ev(4, 40, &at("12:02:00"), "purchase", "/checkout"),
        ev(4, 40, &at("12:03:00"), "add_to_cart", "/p/4"),
        ev(5, 50, &at("13:00:00"), "add_to_cart", "/").source("Google").prop("plan", "gold"),
        ev(5, 50, &at("13:01:00"), "purchase", "/checkout").source("Google"),
        ev(7, 70, &at("09:00:00"), "pageview", "/p/1").source("Google"),
        ev(7, 70, &at("09:30:00"), "pageview", "/p/2").source("Google"),
        ev(7, 70, &at("09:35:00"), "add_to_cart", "/p/2").source("Google"),
        ev(7, 70, &at("09:36:00"), "purchase", "/checkout").source("Google"),
        ev(8, 80, &at("14:00:00"), "pageview", "/p/9").source("Instagram"),
        ev(8, 81, &at("14:40:00"), "pageview", "/").source("Google"),
        ev(8, 81, &at("14:41:00"), "add_to_cart", "/").source("Google"),
        ev(8, 81, &at("14:42:00"), "purchase", "/checkout").source("Google"),
    ])
}

#[tokio::test]
async fn funnels_give_the_numbers_worked_out_by_hand() {
    let (_dir, stores) = both("funnels").await;
    let site = site();
    let none = filters(&[]);
    let all = scope(&site, range("2026-11-20", "2026-11-20"), &none);
    let checkout = |order| definition(vec![page("/p/*"), event("add_to_cart"), event("purchase")], 600, order);
    for store in &stores {
        let kind = store.kind();
        store.insert_events(&scenario()).await.expect("insert");

        // Strict, 10 minutes. Entered: 1, 2, 3, 4, 7, 8 (5 never saw a product page).
        // Step 2: 1 (60 s), 3 (0 s: same second, in id order), 4 (12:01 → 12:03, 120 s), 7 (the
        // chain from 09:30, as 09:00 is too early: 300 s); 2's cart comes 18 minutes late.
        // Step 3: 1 (10:01 → 10:05, 240 s), 7 (60 s); 3's purchase is outside the window, 4's
        // precedes the cart. Medians (upper): [0, 60, 120, 300] → 120; [60, 240] → 240.
        let strict = funnels::evaluate(store.as_ref(), &all, &checkout("strict"), None).await.expect("strict");
        assert_eq!(summary(&strict), [(6, None), (4, Some(120)), (2, Some(240))], "{kind:?}: strict");
        let step2 = &strict.steps[1];
        assert_eq!((step2.conversion_rate, step2.dropped_off, step2.drop_off_rate), (0.6667, 2, 0.3333), "{kind:?}");
        let step3 = &strict.steps[2];
        assert_eq!(
            (step3.conversion_rate, step3.overall_conversion_rate, step3.dropped_off),
            (0.5, 0.3333, 2),
            "{kind:?}"
        );
        assert_eq!(strict.steps[0].label, "page /p/*");

        // Any order: 2 now reaches step 2 (cart 10:00 and /p/2 10:02 in one window; both done
        // at 10:02, the cart first: 0 s), and 4 reaches step 3 (12:01–12:03: done at 12:03,
        // the cart last: 120 s, then 0 s). Step 2: [60, 0, 0, 120, 300] → 60; step 3:
        // [240, 0, 60] → 60.
        let any = funnels::evaluate(store.as_ref(), &all, &checkout("any"), None).await.expect("any");
        assert_eq!(summary(&any), [(6, None), (5, Some(60)), (3, Some(60))], "{kind:?}: any order");

        // Breakdown by the source of the visit of the first product page: 8 entered in its
        // Instagram visit. Google: 1, 3, 7 (step 2 [60, 0, 300] → 60; step 3 [240, 60] → 240).
        let by_source = funnels::evaluate(store.as_ref(), &all, &checkout("strict"), Some(&Dimension::Source))
            .await
            .expect("breakdown");
        let rows: Vec<(&str, Steps)> = by_source
            .breakdown
            .as_ref()
            .expect("breakdown")
            .rows
            .iter()
            .map(|r| (r.value.as_str(), r.steps.iter().map(|s| (s.visitors, s.median_seconds_from_previous)).collect()))
            .collect();
        assert_eq!(
            rows,
            [
                ("Google", vec![(3, None), (3, Some(60)), (2, Some(240))]),
                ("Instagram", vec![(2, None), (0, None), (0, None)]),
                ("", vec![(1, None), (1, Some(120)), (0, None)]),
            ],
            "{kind:?}: breakdown"
        );
        assert_eq!(summary(&by_source), summary(&strict), "{kind:?}: the totals come along");
        assert!(
            funnels::evaluate(store.as_ref(), &all, &checkout("strict"), Some(&Dimension::Page)).await.is_err(),
            "{kind:?}: pages are not visit-level"
        );

        // Filters keep visits: with source==Google, 8's Instagram visit (its product page) is gone.
        let google = filters(&["source==Google"]);
        let google_scope = scope(&site, all.range, &google);
        let filtered =
            funnels::evaluate(store.as_ref(), &google_scope, &checkout("strict"), None).await.expect("google");
        assert_eq!(summary(&filtered), [(3, None), (3, Some(60)), (2, Some(240))], "{kind:?}: filtered");

        // Property filters: carts with plan=gold (1 at 10:01, 5 at 13:00), then a purchase:
        // [240, 60] → 240.
        let mut gold = event("add_to_cart");
        gold.props.insert("plan".into(), "gold".into());
        let by_plan = definition(vec![gold, event("purchase")], 600, "strict");
        let result = funnels::evaluate(store.as_ref(), &all, &by_plan, None).await.expect("props");
        assert_eq!(summary(&result), [(2, None), (2, Some(240))], "{kind:?}: property filter");

        // Two steps one event can satisfy (/p/1 matches `/p/*` and `/p/**`): strict order needs
        // two events (only 4's /p/4/reviews → /p/4 comes close, in the wrong order); any order
        // lets one event stand for both.
        let twice = |order| definition(vec![page("/p/*"), page("/p/**")], 600, order);
        let strict = funnels::evaluate(store.as_ref(), &all, &twice("strict"), None).await.expect("twice");
        assert_eq!(summary(&strict), [(6, None), (0, None)], "{kind:?}: distinct events in strict order");
        let any = funnels::evaluate(store.as_ref(), &all, &twice("any"), None).await.expect("twice any");
        assert_eq!(summary(&any), [(6, None), (6, Some(0))], "{kind:?}: one event for two steps in any order");

        // Nothing in range: zeros, no medians.
        let empty = scope(&site, range("2026-11-21", "2026-11-21"), &none);
        let nothing = funnels::evaluate(store.as_ref(), &empty, &checkout("strict"), None).await.expect("empty");
        assert_eq!(summary(&nothing), [(0, None), (0, None), (0, None)], "{kind:?}: empty range");
    }
}

/// Events of one second that match different steps are ordered by their ids (as text), whatever
/// the order of their steps: the ids here put each visitor's add-to-cart before or after the
/// product page seen in the same second. 23 and 24 have ids that only order correctly when both
/// halves of the id are compared as its text is (read backwards, a half would order them the
/// other way).
#[tokio::test]
async fn events_of_one_second_are_ordered_by_their_ids() {
    let (_dir, stores) = both("funnel_ties").await;
    let site = site();
    let none = filters(&[]);
    let all = scope(&site, range("2026-11-20", "2026-11-20"), &none);
    let at = |hms: &str| format!("2026-11-20T{hms}Z");
    let events = vec![
        // 21: the cart first, then the page; a purchase a minute later.
        ev(21, 210, &at("15:00:00"), "add_to_cart", "/p/1").with(id(7, 1)),
        ev(21, 210, &at("15:00:00"), "pageview", "/p/1").with(id(7, 2)),
        ev(21, 210, &at("15:01:00"), "purchase", "/checkout").with(id(8, 1)),
        // 22: the page first, then the cart; a purchase two minutes later.
        ev(22, 220, &at("15:00:00"), "pageview", "/p/2").with(id(7, 3)),
        ev(22, 220, &at("15:00:00"), "add_to_cart", "/p/2").with(id(7, 4)),
        ev(22, 220, &at("15:02:00"), "purchase", "/checkout").with(id(9, 1)),
        // 23: the low halves decide: the cart's ends in …0002, the page's starts 0100….
        ev(23, 230, &at("15:00:00"), "pageview", "/p/3").with(id(7, 0x0100_0000_0000_0000)),
        ev(23, 230, &at("15:00:00"), "add_to_cart", "/p/3").with(id(7, 2)),
        // 24: the high halves decide, the same way.
        ev(24, 240, &at("15:00:00"), "pageview", "/p/4").with(id(0x0100_0000_0000_0000, 0)),
        ev(24, 240, &at("15:00:00"), "add_to_cart", "/p/4").with(id(2, 5)),
    ];
    let checkout = |order| definition(vec![page("/p/*"), event("add_to_cart"), event("purchase")], 600, order);
    for store in &stores {
        let kind = store.kind();
        store.insert_events(&events).await.expect("insert");
        // Strict: only 22 saw the page before the cart (0 s), and bought 120 s after it.
        let strict = funnels::evaluate(store.as_ref(), &all, &checkout("strict"), None).await.expect("strict");
        assert_eq!(summary(&strict), [(4, None), (1, Some(0)), (1, Some(120))], "{kind:?}: strict");
        // By source, the same (every visit has none), through the breakdown's query.
        let by_source = funnels::evaluate(store.as_ref(), &all, &checkout("strict"), Some(&Dimension::Source))
            .await
            .expect("breakdown");
        let rows = by_source.breakdown.expect("breakdown").rows;
        assert_eq!(rows.len(), 1, "{kind:?}");
        assert_eq!(rows[0].steps, strict.steps, "{kind:?}: breakdown");
        // Any order does not care: all four have both in one second (0 s); 21 and 22 bought
        // 60 and 120 s later (upper median 120).
        let any = funnels::evaluate(store.as_ref(), &all, &checkout("any"), None).await.expect("any");
        assert_eq!(summary(&any), [(4, None), (4, Some(0)), (2, Some(120))], "{kind:?}: any order");
    }
}

#[tokio::test]
async fn saved_funnels_round_trip_and_delete() {
    let (_dir, stores) = both("saved_funnels").await;
    let site = site();
    let input: FunnelInput = serde_json::from_str(
        r#"{"name": "Checkout", "steps": [{"page": "/p/*"}, {"event": "purchase", "props": {"payment": "card"}}],
            "window_seconds": 3600, "order": "any"}"#,
    )
    .expect("json");
    let (name, definition) = FunnelDefinition::parse_named(&input).expect("valid");
    for store in &stores {
        let kind = store.kind();
        let saved = funnels::save(store.as_ref(), &site, &name, &definition, "a@shop.example").await.expect("save");
        let other = funnels::save(store.as_ref(), &site, "Browse", &definition, "b@shop.example").await.expect("save");
        let listed = funnels::list(store.as_ref(), &site).await.expect("list");
        assert_eq!(listed.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["Browse", "Checkout"], "{kind:?}");
        let got = funnels::get(store.as_ref(), &site, saved.id).await.expect("get").expect("found");
        assert_eq!(got, saved, "{kind:?}: the definition survives storage");
        assert_eq!(got.definition.window_seconds(), 3600);
        assert!(funnels::remove(store.as_ref(), &site, saved.id).await.expect("remove"), "{kind:?}");
        assert!(!funnels::remove(store.as_ref(), &site, saved.id).await.expect("again"), "{kind:?}: already gone");
        assert_eq!(funnels::get(store.as_ref(), &site, saved.id).await.expect("get"), None, "{kind:?}");
        let other_site = larder_core::SiteDomain::parse("other.example").expect("site");
        assert_eq!(funnels::get(store.as_ref(), &other_site, other.id).await.expect("get"), None, "{kind:?}: per site");
        assert_eq!(funnels::list(store.as_ref(), &site).await.expect("list").len(), 1, "{kind:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The reference: the module's definitions, written out naively over the events.

/// A visitor's matching events: (time, step mask, session), in (time, id) order.
type Trail = Vec<(i64, u32, u64)>;

fn matches(step: &StepInput, e: &Event) -> bool {
    let target = match (&step.page, &step.event) {
        (Some(pattern), _) => e.name.as_str() == "pageview" && glob(pattern, e.pathname.as_str()),
        (_, Some(name)) => e.name.as_str() == name,
        _ => false,
    };
    target && step.props.iter().all(|(k, v)| e.props.iter().find(|(pk, _)| pk == k).is_some_and(|(_, pv)| pv == v))
}

/// Glob matching as the module documents it, written without regular expressions.
fn glob(pattern: &str, path: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("**") {
        return (0..=path.len()).filter(|i| path.is_char_boundary(*i)).any(|i| glob(rest, &path[i..]));
    }
    if let Some(rest) = pattern.strip_prefix('*') {
        let segment = path.find('/').unwrap_or(path.len());
        return (0..=segment).filter(|i| path.is_char_boundary(*i)).any(|i| glob(rest, &path[i..]));
    }
    match (pattern.chars().next(), path.chars().next()) {
        (None, None) => true,
        (Some(p), Some(c)) if p == c => glob(&pattern[p.len_utf8()..], &path[c.len_utf8()..]),
        _ => false,
    }
}

/// (R(1..k), time from the previous step (index 0 unused)) of one visitor; R = None: not reached.
fn reference_visitor(trail: &Trail, k: usize, window: i64, strict: bool) -> (Vec<Option<i64>>, Vec<i64>) {
    let n = trail.len();
    let has = |p: usize, j: usize| trail[p].1 & (1 << j) != 0;
    let mut reach = vec![None; k];
    let mut gaps = vec![0; k];
    if strict {
        // start[j][p]: latest start of a chain to step j+1 ending at p.
        let mut start: Vec<Vec<Option<i64>>> = vec![vec![None; n]; k];
        for p in 0..n {
            if has(p, 0) {
                start[0][p] = Some(trail[p].0);
            }
        }
        for j in 1..k {
            for p in 0..n {
                if !has(p, j) {
                    continue;
                }
                let best = (0..p).filter_map(|q| start[j - 1][q]).filter(|s| trail[p].0 - s <= window).max();
                start[j][p] = best;
            }
        }
        for j in 0..k {
            if let Some(p) = (0..n).find(|p| start[j][*p].is_some()) {
                reach[j] = Some(trail[p].0);
                if j > 0 {
                    // The latest step-j event before p ending a chain that still fits.
                    let q = (0..p)
                        .rev()
                        .find(|q| start[j - 1][*q].is_some_and(|s| trail[p].0 - s <= window))
                        .expect("a predecessor");
                    gaps[j] = trail[p].0 - trail[q].0;
                }
            }
        }
    } else {
        // Anchored at each event: the first time at or after it of each step, within the window.
        let done: Vec<Vec<Option<i64>>> = (0..n)
            .map(|a| {
                let mut all_by = None::<i64>;
                (0..k)
                    .map(|j| {
                        let first =
                            (a..n).find(|p| has(*p, j)).map(|p| trail[p].0).filter(|t| t - trail[a].0 <= window);
                        all_by = match (j, all_by, first) {
                            (0, _, Some(t)) => Some(t),
                            (_, Some(before), Some(t)) => Some(before.max(t)),
                            _ => None,
                        };
                        all_by
                    })
                    .collect()
            })
            .collect();
        for j in 0..k {
            reach[j] = done.iter().filter_map(|d| d[j]).min();
            if let (Some(r), true) = (reach[j], j > 0) {
                gaps[j] = done
                    .iter()
                    .filter(|d| d[j] == Some(r))
                    .map(|d| r - d[j - 1].expect("steps before"))
                    .min()
                    .expect("an anchor");
            }
        }
    }
    (reach, gaps)
}

/// Upper median: the value at rank ⌊n/2⌋.
fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

/// Per group (breakdown value, or "" for all): (visitors, median) per step.
fn reference(
    events: &[Event],
    steps: &[StepInput],
    window: i64,
    strict: bool,
    group: impl Fn(&Event) -> String,
) -> BTreeMap<String, Steps> {
    // Visit-level value: the visit's first event's.
    let mut first_of_visit: HashMap<u64, &Event> = HashMap::new();
    for e in events {
        first_of_visit.entry(e.session_id.0).or_insert(e);
    }
    let mut trails: BTreeMap<u64, Trail> = BTreeMap::new();
    for e in events {
        let mask = steps.iter().enumerate().filter(|(_, s)| matches(s, e)).fold(0, |m, (j, _)| m | (1 << j));
        if mask != 0 {
            trails.entry(e.visitor_id.0).or_default().push((e.timestamp.timestamp(), mask, e.session_id.0));
        }
    }
    let k = steps.len();
    let mut per_group: BTreeMap<String, Vec<Reach>> = BTreeMap::new();
    for trail in trails.values() {
        let (reach, gaps) = reference_visitor(trail, k, window, strict);
        if reach[0].is_none() {
            continue;
        }
        let session = trail.iter().find(|t| t.1 & 1 != 0).expect("a step 1").2;
        per_group.entry(group(first_of_visit[&session])).or_default().push((reach, gaps));
    }
    per_group
        .into_iter()
        .map(|(value, visitors)| {
            let steps = (0..k)
                .map(|j| {
                    let reached: Vec<&Reach> = visitors.iter().filter(|(r, _)| r[j].is_some()).collect();
                    let med = if j == 0 { None } else { median(reached.iter().map(|(_, g)| g[j]).collect()) };
                    (reached.len() as u64, med)
                })
                .collect();
            (value, steps)
        })
        .collect()
}

#[tokio::test]
async fn a_generated_fixture_gives_the_reference_funnels_on_both_engines() {
    let (_dir, stores) = both("funnels_reference").await;
    let start = DateTime::from_timestamp(1_790_000_000, 0).expect("start");
    let mut events = fixture_events(&FixtureSpec {
        seed: 5,
        count: 40_000,
        sites: vec![larder_core::SiteDomain::parse("shop.example").expect("site")],
        start,
        span_secs: 10 * 86_400,
        visitors: 300,
    });
    // The engine orders events by (time, id); give ids that order as the reference does.
    events.sort_by_key(|e| (e.timestamp, e.id));
    let events = numbered(events);
    let from = start.date_naive();
    let days = range(&from.to_string(), &(from + chrono::Duration::days(11)).to_string());
    let none = filters(&[]);
    let site = site();
    let all = scope(&site, days, &none);

    let mut card = event("purchase");
    card.props.insert("payment".into(), "card".into());
    let definitions: Vec<(Vec<StepInput>, i64, &str)> = vec![
        (vec![page("/p/*"), event("add_to_cart"), event("begin_checkout"), event("purchase")], 2 * 86_400, "strict"),
        (vec![page("/c/**"), page("/p/green-tea"), card.clone()], 86_400, "any"),
        (vec![page("/c/**"), page("/p/green-tea"), card], 86_400, "strict"),
        (vec![event("search"), event("search_click"), event("search"), event("add_to_cart")], 6 * 3600, "strict"),
        (vec![event("search"), event("search_click"), event("add_to_cart")], 6 * 3600, "any"),
    ];
    for store in &stores {
        store.insert_events(&events).await.expect("insert");
    }
    for (steps, window, order) in definitions {
        let strict = order == "strict";
        let want = reference(&events, &steps, window, strict, |_| String::new());
        let want_all = want.get("").cloned().unwrap_or_else(|| vec![(0, None); steps.len()]);
        assert!(want_all[0].0 > 50 && want_all[steps.len() - 1].0 > 0, "a substantial funnel: {want_all:?}");
        let by_country = reference(&events, &steps, window, strict, |e| e.dimensions.country.clone());
        let mut want_rows: Vec<(String, Steps)> = by_country.into_iter().collect();
        want_rows.sort_by(|a, b| b.1[0].0.cmp(&a.1[0].0).then(a.0.cmp(&b.0)));
        want_rows.truncate(10);
        let def = definition(steps.clone(), window as u64, order);
        for store in &stores {
            let kind = store.kind();
            let got = funnels::evaluate(store.as_ref(), &all, &def, Some(&Dimension::Country)).await.expect("evaluate");
            assert_eq!(summary(&got), want_all, "{kind:?}: {order} {:?}", def.steps()[0].label());
            let rows: Vec<(String, Steps)> = got
                .breakdown
                .expect("breakdown")
                .rows
                .into_iter()
                .map(|r| (r.value, r.steps.iter().map(|s| (s.visitors, s.median_seconds_from_previous)).collect()))
                .collect();
            assert_eq!(rows, want_rows, "{kind:?}: {order} by country");
        }
    }
}

#[test]
fn the_reference_glob_agrees_with_the_page_pattern_expressions() {
    // The engine runs the expressions; this keeps the reference honest about the same cases.
    for (pattern, path, want) in [
        ("/p/*", "/p/1", true),
        ("/p/*", "/p/1/reviews", false),
        ("/p/**", "/p/1/reviews", true),
        ("/p/*", "/p/", true),
        ("/c/**", "/c/tea", true),
        ("/a.b", "/axb", false),
    ] {
        assert_eq!(glob(pattern, path), want, "{pattern} {path}");
        assert!(PagePattern::parse("page", pattern).is_ok());
    }
}
