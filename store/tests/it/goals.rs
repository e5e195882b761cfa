//! Goals and revenue give the numbers a fixture implies, exactly, on both engines. The
//! hand-built events and setters at the top serve the other report tests too (funnels, search, UX).

use chrono::{DateTime, NaiveDate, Utc};
use larder_core::query::{DateRange, Dimension, Filter};
use larder_core::{
    Currency, DeviceType, Dimensions, Event, EventId, EventName, JsError, Money, Pathname, Search, SessionId,
    SiteDomain, Ux, VisitorId, WebVital, WebVitalName,
};
use larder_store::goals::{self, CurrencyRevenue, NewGoal};
use larder_store::stats::Scope;

use crate::helpers::both;

pub fn site() -> SiteDomain {
    SiteDomain::parse("shop.example").expect("site")
}

pub fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

pub fn range(from: &str, to: &str) -> DateRange {
    DateRange::new(day(from), day(to)).expect("range")
}

pub fn filters(raw: &[&str]) -> Vec<Filter> {
    raw.iter().map(|f| Filter::parse(f).expect("filter")).collect()
}

/// A UTC scope over `range` with `filters`.
pub fn scope<'a>(site: &'a SiteDomain, range: DateRange, filters: &'a [Filter]) -> Scope<'a> {
    Scope { site, timezone: "UTC", range, filters }
}

/// An event of `visitor` in visit `session` at `time` (RFC 3339, UTC).
pub fn ev(visitor: u64, session: u64, time: &str, name: &str, path: &str) -> Event {
    let timestamp = DateTime::parse_from_rfc3339(time).expect("time").with_timezone(&Utc);
    Event {
        id: EventId::from_uuid(uuid::Uuid::nil()),
        site: site(),
        timestamp,
        name: EventName::parse(name).expect("name"),
        visitor_id: VisitorId(visitor),
        session_id: SessionId(session),
        hostname: "shop.example".into(),
        pathname: Pathname::parse(path).expect("path"),
        dimensions: Dimensions {
            referrer_medium: "direct".into(),
            device: DeviceType::Desktop,
            ..Dimensions::default()
        },
        props: Vec::new(),
        revenue: None,
        currency: None,
        order_id: String::new(),
        items: Vec::new(),
        search: None,
        ux: Ux::default(),
    }
}

/// Sets an event's id from its two halves (for tests of the order within a second):
/// `ev(…).with(id(hi, lo))`.
pub fn id(hi: u64, lo: u64) -> impl FnOnce(&mut Event) {
    move |e: &mut Event| e.id = EventId::from_uuid(uuid::Uuid::from_u64_pair(hi, lo))
}

/// Gives the events ids that order them as listed within a second (high half: the second, low
/// half: the position), as the collector's time-ordered ids do.
pub fn numbered(mut events: Vec<Event>) -> Vec<Event> {
    for (i, e) in events.iter_mut().enumerate() {
        e.id = EventId::from_uuid(uuid::Uuid::from_u64_pair(e.timestamp.timestamp() as u64, i as u64));
    }
    events
}

/// Setters for the parts of an event the reports read.
pub trait EventExt: Sized {
    fn with(self, f: impl FnOnce(&mut Event)) -> Self;

    fn source(self, source: &str) -> Self {
        self.with(|e| e.dimensions.referrer_source = source.into())
    }
    fn country(self, country: &str) -> Self {
        self.with(|e| e.dimensions.country = country.into())
    }
    fn campaign(self, campaign: &str) -> Self {
        self.with(|e| e.dimensions.utm_campaign = campaign.into())
    }
    fn prop(self, key: &str, value: &str) -> Self {
        self.with(|e| e.props.push((key.into(), value.into())))
    }
    fn revenue(self, amount: &str, currency: &str) -> Self {
        self.with(|e| {
            e.revenue = Some(Money::parse(amount, currency).expect("money"));
            e.currency = Some(Currency::parse(currency).expect("currency"));
        })
    }
    /// A `search` with its query and result count (`None`: unknown).
    fn query(self, query: &str, results: Option<u32>) -> Self {
        self.with(|e| e.search = Some(Search { query: query.into(), result_count: results, ..Search::default() }))
    }
    /// A `search_click` at a 1-based position.
    fn position(self, position: u16) -> Self {
        self.with(|e| e.search = Some(Search { clicked_position: Some(position), ..Search::default() }))
    }
    fn selector(self, selector: &str) -> Self {
        self.with(|e| e.ux.selector = selector.into())
    }
    fn scroll(self, depth: Option<u8>, engaged_ms: Option<u32>) -> Self {
        self.with(|e| {
            e.ux.scroll_depth_pct = depth;
            e.ux.engaged_ms = engaged_ms;
        })
    }
    fn vital(self, name: WebVitalName, value: f64) -> Self {
        self.with(|e| e.ux.vital = Some(WebVital { name, value }))
    }
    fn error(self, message: &str, source: &str) -> Self {
        self.with(|e| e.ux.error = Some(JsError { message: message.into(), source: source.into(), line: 1 }))
    }
}

impl EventExt for Event {
    fn with(mut self, f: impl FnOnce(&mut Event)) -> Self {
        f(&mut self);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Goals and revenue

/// Visits (visitor, session, source, campaign):
/// - A (1, 10, Google, winter): /, /thanks/order-1, newsletter_signup, purchase 30.00 EUR;
/// - B (2, 20, Google, none): /p/1, purchase 10.00 EUR, purchase 5.00 USD;
/// - C (3, 30, Instagram): /thanks, /thanks/a/b;
/// - D (1, 11, Newsletter, winter): newsletter_signup, purchase without revenue;
/// - E (4, 40, direct): /.
fn shop() -> Vec<Event> {
    let at = |hms: &str| format!("2026-11-20T{hms}Z");
    let a = |time: &str, name, path| ev(1, 10, &at(time), name, path).source("Google").campaign("winter");
    let b = |time: &str, name, path| ev(2, 20, &at(time), name, path).source("Google");
    let c = |time: &str, name, path| ev(3, 30, &at(time), name, path).source("Instagram");
    let d = |time: &str, name, path| ev(1, 11, &at(time), name, path).source("Newsletter").campaign("winter");
    numbered(vec![
        a("10:00:00", "pageview", "/"),
        a("10:05:00", "pageview", "/thanks/order-1"),
        a("10:06:00", "newsletter_signup", "/thanks/order-1"),
        a("10:07:00", "purchase", "/checkout").revenue("30.00", "EUR"),
        b("11:00:00", "pageview", "/p/1"),
        b("11:05:00", "purchase", "/checkout").revenue("10", "EUR"),
        b("11:06:00", "purchase", "/checkout").revenue("5.0000", "USD"),
        c("12:00:00", "pageview", "/thanks"),
        c("12:01:00", "pageview", "/thanks/a/b"),
        d("13:00:00", "newsletter_signup", "/"),
        d("13:01:00", "purchase", "/checkout"),
        ev(4, 40, &at("14:00:00"), "pageview", "/"),
    ])
}

fn new_goal(name: &str, event: Option<&str>, page: Option<&str>) -> NewGoal {
    NewGoal::parse(name, event, page).expect("valid goal")
}

fn money(currency: &str, amount_e4: i64, orders: u64) -> CurrencyRevenue {
    CurrencyRevenue { currency: currency.into(), amount_e4, orders, average_order_e4: amount_e4 / orders as i64 }
}

#[tokio::test]
async fn goal_conversions_and_revenue_give_the_numbers_worked_out_by_hand() {
    let (_dir, stores) = both("goals").await;
    let site = site();
    let none = filters(&[]);
    let all = scope(&site, range("2026-11-20", "2026-11-20"), &none);
    for store in &stores {
        let kind = store.kind();
        store.insert_events(&shop()).await.expect("insert");
        let mut saved = Vec::new();
        for goal in [
            new_goal("Signup", Some("newsletter_signup"), None),
            new_goal("Thanks page", None, Some("/thanks/*")),
            new_goal("Any thanks", None, Some("/thanks/**")),
            new_goal("Purchase", Some("purchase"), None),
        ] {
            saved.push(goals::add(store.as_ref(), &site, &goal).await.expect("add"));
        }
        // Four visitors. Signup: visitor 1 twice (A, D). /thanks/* matches /thanks/order-1 only
        // (not /thanks, not /thanks/a/b); /thanks/** matches both deeper paths. Purchases: A,
        // B (two), D — visitors 1 and 2; revenue EUR 40.00 in 2 orders, USD 5.00 in 1 (D's
        // purchase carries none).
        let report = goals::conversions(store.as_ref(), &all, &saved).await.expect("conversions");
        assert_eq!(report.visitors, 4, "{kind:?}");
        let numbers: Vec<(&str, u64, u64, f64)> =
            report.goals.iter().map(|g| (g.goal.name.as_str(), g.visitors, g.conversions, g.conversion_rate)).collect();
        assert_eq!(
            numbers,
            [("Signup", 1, 2, 0.25), ("Thanks page", 1, 1, 0.25), ("Any thanks", 2, 2, 0.5), ("Purchase", 2, 4, 0.5)],
            "{kind:?}"
        );
        assert_eq!(report.goals[0].revenue, None, "{kind:?}: only purchase goals carry revenue");
        assert_eq!(
            report.goals[3].revenue,
            Some(vec![money("EUR", 400_000, 2), money("USD", 50_000, 1)]),
            "{kind:?}: purchase revenue per currency"
        );

        // Filters keep visits: Google keeps A and B (visitors 1 and 2); D's signup is gone.
        let google = filters(&["source==Google"]);
        let filtered =
            goals::conversions(store.as_ref(), &scope(&site, all.range, &google), &saved).await.expect("google");
        let numbers: Vec<(u64, u64, f64)> =
            filtered.goals.iter().map(|g| (g.visitors, g.conversions, g.conversion_rate)).collect();
        assert_eq!(filtered.visitors, 2, "{kind:?}");
        assert_eq!(numbers, [(1, 1, 0.5), (1, 1, 0.5), (1, 1, 0.5), (2, 3, 1.0)], "{kind:?}: filtered");

        // Revenue per visit-level dimension: A and B came from Google; D's purchase has no revenue.
        let by_source = goals::revenue_by(store.as_ref(), &all, &Dimension::Source, 10).await.expect("by source");
        let rows: Vec<(&str, &CurrencyRevenue)> =
            by_source.rows.iter().map(|r| (r.value.as_str(), &r.revenue)).collect();
        assert_eq!(rows, [("Google", &money("EUR", 400_000, 2)), ("Google", &money("USD", 50_000, 1))], "{kind:?}");
        assert_eq!(by_source.total, vec![money("EUR", 400_000, 2), money("USD", 50_000, 1)], "{kind:?}");
        // Filters keep visits here too.
        let google_by_source =
            goals::revenue_by(store.as_ref(), &scope(&site, all.range, &google), &Dimension::Source, 10)
                .await
                .expect("google by source");
        assert_eq!(google_by_source.rows, by_source.rows, "{kind:?}: every revenue came from Google");
        let elsewhere = filters(&["source!=Google"]);
        let elsewhere_by_source =
            goals::revenue_by(store.as_ref(), &scope(&site, all.range, &elsewhere), &Dimension::Source, 10)
                .await
                .expect("elsewhere by source");
        assert!(
            elsewhere_by_source.rows.is_empty(),
            "{kind:?}: no revenue outside Google: {:?}",
            elsewhere_by_source.rows
        );
        let by_campaign = goals::revenue_by(store.as_ref(), &all, &Dimension::UtmCampaign, 2).await.expect("campaign");
        let rows: Vec<(&str, &str, i64)> = by_campaign
            .rows
            .iter()
            .map(|r| (r.value.as_str(), r.revenue.currency.as_str(), r.revenue.amount_e4))
            .collect();
        assert_eq!(rows, [("winter", "EUR", 300_000), ("", "EUR", 100_000)], "{kind:?}: largest first");
        assert!(by_campaign.has_more, "{kind:?}: USD of no campaign follows");
        assert!(
            goals::revenue_by(store.as_ref(), &all, &Dimension::Page, 10).await.is_err(),
            "{kind:?}: visit-level only"
        );
    }
}

#[tokio::test]
async fn goals_are_saved_listed_and_deleted_per_site() {
    let (_dir, stores) = both("goal_rows").await;
    let site = site();
    let other = larder_core::SiteDomain::parse("other.example").expect("site");
    for store in &stores {
        let kind = store.kind();
        let signup =
            goals::add(store.as_ref(), &site, &new_goal("Signup", Some("newsletter_signup"), None)).await.expect("add");
        let thanks =
            goals::add(store.as_ref(), &site, &new_goal("A thanks", None, Some("/thanks/**"))).await.expect("add");
        goals::add(store.as_ref(), &other, &new_goal("Elsewhere", Some("x"), None)).await.expect("add");
        let names: Vec<String> =
            goals::list(store.as_ref(), &site).await.expect("list").into_iter().map(|g| g.name).collect();
        assert_eq!(names, ["A thanks", "Signup"], "{kind:?}: by name, this site only");
        assert_eq!(goals::get(store.as_ref(), &site, thanks.id).await.expect("get"), Some(thanks.clone()), "{kind:?}");
        assert_eq!(goals::get(store.as_ref(), &other, thanks.id).await.expect("get"), None, "{kind:?}: per site");
        assert!(goals::remove(store.as_ref(), &site, signup.id).await.expect("remove"), "{kind:?}");
        assert!(!goals::remove(store.as_ref(), &site, signup.id).await.expect("remove"), "{kind:?}: gone already");
        let left: Vec<uuid::Uuid> =
            goals::list(store.as_ref(), &site).await.expect("list").into_iter().map(|g| g.id).collect();
        assert_eq!(left, [thanks.id], "{kind:?}");
    }
}
