//! Deterministic synthetic events with a realistic shop mix, for tests and benchmarks.
//!
//! Same seed, same events: tests load one fixture into several stores and compare answers.
//! Mostly page views, then searches (a share with no results), the e-commerce steps, UX signals,
//! web vitals and JS errors, spread over many visitors; text includes quotes, backslashes and
//! non-ASCII letters so that encoding bugs show.

use chrono::{DateTime, Utc};

use crate::{
    Currency, DeviceType, Dimensions, Event, EventId, EventName, Item, JsError, Money, Pathname, Search, SessionId,
    SiteDomain, Ux, VisitorId, WebVital, WebVitalName,
};

/// A small, fast PRNG (splitmix64): good enough for fixtures, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct FixtureSpec {
    pub seed: u64,
    pub count: usize,
    pub sites: Vec<SiteDomain>,
    /// Events are spread over `[start, start + span_secs)`.
    pub start: DateTime<Utc>,
    pub span_secs: u32,
    pub visitors: u64,
}

const PAGES: &[&str] = &[
    "/",
    "/c/tea",
    "/c/coffee",
    "/p/green-tea",
    "/p/earl-grey",
    "/p/café-crème",
    "/cart",
    "/checkout",
    "/search",
    "/about",
];
const SOURCES: &[(&str, &str, &str)] = &[
    ("", "", "direct"),
    ("www.google.com", "Google", "search"),
    ("duckduckgo.com", "DuckDuckGo", "search"),
    ("l.instagram.com", "Instagram", "social"),
    ("news.example", "news.example", "referral"),
    ("", "Newsletter", "email"),
];
const QUERIES: &[&str] =
    &["green tea", "earl grey", "matcha", "o'clock mug", "teapot", "chai \\ latte", "ümlaut tee", "xyzzy"];
const COUNTRIES: &[(&str, &str, &str)] =
    &[("DE", "BE", "Berlin"), ("FR", "IDF", "Paris"), ("US", "CA", "San Francisco"), ("GB", "", ""), ("", "", "")];
const BROWSERS: &[(&str, &str, &str, &str, DeviceType)] = &[
    ("Chrome", "130", "Windows", "10", DeviceType::Desktop),
    ("Safari", "18", "iOS", "18.1", DeviceType::Mobile),
    ("Firefox", "132", "Linux", "", DeviceType::Desktop),
    ("Samsung Internet", "26", "Android", "14", DeviceType::Tablet),
];
const PRODUCTS: &[(&str, &str, &str, i64)] = &[
    ("p-1", "Green Tea", "Tea", 45_000),
    ("p-2", "Earl Grey", "Tea", 52_500),
    ("p-3", "Café \"Crème\"", "Coffee", 89_900),
    ("p-4", "Teapot", "Kitchen", 249_000),
];

/// Generates `spec.count` events.
///
/// # Panics
/// When `spec.sites` is empty (a programming error in the test).
pub fn events(spec: &FixtureSpec) -> Vec<Event> {
    assert!(!spec.sites.is_empty(), "fixtures need at least one site");
    let mut rng = Rng::new(spec.seed);
    (0..spec.count).map(|i| one_event(&mut rng, spec, i)).collect()
}

fn text(s: &str) -> String {
    s.to_owned()
}

fn one_event(rng: &mut Rng, spec: &FixtureSpec, index: usize) -> Event {
    let visitor = rng.below(spec.visitors.max(1));
    let site = spec.sites[(visitor % spec.sites.len() as u64) as usize].clone();
    let offset = rng.below(u64::from(spec.span_secs.max(1)));
    let timestamp = spec.start + chrono::Duration::seconds(offset as i64);
    let (referrer_host, source, medium) = rng.pick(SOURCES);
    // Where a visitor is and what they browse with come from their address and user agent,
    // which their id hashes: one of each per visitor, as the collector's data has. (The draws
    // are still taken, so that the rest of the fixture is what it always was.)
    let _ = (rng.pick(COUNTRIES), rng.pick(BROWSERS));
    let (country, region, city) = COUNTRIES[(visitor % COUNTRIES.len() as u64) as usize];
    let (browser, browser_version, os, os_version, device) =
        BROWSERS[((visitor / COUNTRIES.len() as u64) % BROWSERS.len() as u64) as usize];
    let roll = rng.below(100);
    let name = match roll {
        0..=69 => "pageview",
        70..=77 => "search",
        78..=79 => "search_click",
        80..=83 => "view_item",
        84..=86 => "add_to_cart",
        87..=88 => "begin_checkout",
        89 => "purchase",
        90..=93 => "engagement",
        94 => "rage_click",
        95 => "dead_click",
        96 => "js_error",
        97..=98 => "web_vital",
        _ => "newsletter_signup",
    };
    let pathname = match name {
        "search" | "search_click" => "/search",
        "begin_checkout" | "purchase" => "/checkout",
        "add_to_cart" | "view_item" => rng.pick(&PAGES[3..6]),
        _ => rng.pick(PAGES),
    };
    let mut event = Event {
        // Derived from the seed so that equal fixtures have equal ids.
        id: EventId::from_uuid(uuid::Uuid::from_u64_pair(rng.next_u64(), index as u64)),
        site: site.clone(),
        timestamp,
        name: EventName::parse(name).unwrap_or_else(|_| unreachable!("fixture names are valid")),
        // As the collector's: a visitor's id is of the UTC day (its salt), so a visitor who comes
        // back another day has another id.
        visitor_id: VisitorId(
            (visitor ^ (timestamp.timestamp() as u64 / 86_400).wrapping_mul(0xBF58_476D_1CE4_E5B9))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                | 1,
        ),
        // One visit per visitor and half hour of the clock (never across midnight, where the id
        // changes); distinct visitors never share one.
        session_id: SessionId((visitor << 24) | ((timestamp.timestamp() as u64 / 1800) & 0xFF_FFFF)),
        hostname: site.as_str().to_owned(),
        pathname: Pathname::parse(pathname).unwrap_or_else(|_| unreachable!("fixture paths are valid")),
        dimensions: Dimensions {
            referrer_host: text(referrer_host),
            referrer_source: text(source),
            referrer_medium: text(medium),
            utm_source: if medium == "email" { text("newsletter") } else { String::new() },
            utm_medium: if medium == "email" { text("email") } else { String::new() },
            utm_campaign: if medium == "email" { text("winter-sale") } else { String::new() },
            utm_term: String::new(),
            utm_content: String::new(),
            country: text(country),
            region: text(region),
            city: text(city),
            browser: text(browser),
            browser_version: text(browser_version),
            os: text(os),
            os_version: text(os_version),
            device,
        },
        props: Vec::new(),
        revenue: None,
        currency: None,
        order_id: String::new(),
        items: Vec::new(),
        search: None,
        ux: Ux::default(),
    };
    let (product_id, product_name, category, price_e4) = rng.pick(PRODUCTS);
    let item = |quantity| Item {
        product_id: text(product_id),
        name: text(product_name),
        category: text(category),
        quantity,
        price_e4,
    };
    match name {
        "search" => {
            let query = rng.pick(QUERIES);
            let results = if query == "xyzzy" || query == "ümlaut tee" { 0 } else { rng.below(40) as u32 + 1 };
            event.search = Some(Search { query: text(query), result_count: Some(results), ..Search::default() });
        }
        "search_click" => {
            event.search = Some(Search {
                query: text(rng.pick(&QUERIES[..5])),
                result_count: None,
                clicked_position: Some(rng.below(10) as u16 + 1),
                clicked_product: text(product_id),
            });
        }
        "view_item" | "add_to_cart" | "begin_checkout" => {
            event.items = vec![item(1 + rng.below(3) as u32)];
            event.currency = Currency::parse("EUR").ok();
        }
        "purchase" => {
            let quantity = 1 + rng.below(3) as u32;
            let second = Item {
                product_id: text("p-9"),
                name: text("Gift wrap"),
                category: String::new(),
                quantity: 1,
                price_e4: 25_000,
            };
            let total = price_e4 * i64::from(quantity) + second.price_e4;
            event.items = vec![item(quantity), second];
            event.revenue = Money::from_e4(total, "EUR").ok();
            event.currency = Currency::parse("EUR").ok();
            event.order_id = format!("order-{}", rng.below(1_000_000));
            event.props = vec![(text("payment"), text(rng.pick(&["card", "paypal", "invoice"])))];
        }
        "engagement" => {
            event.ux.scroll_depth_pct = Some(rng.below(101) as u8);
            event.ux.engaged_ms = Some(rng.below(300_000) as u32);
        }
        "rage_click" | "dead_click" => {
            event.ux.selector = text(rng.pick(&["button.add-to-cart", "#promo > a", "div.gallery img"]))
        }
        "js_error" => {
            event.ux.error = Some(JsError {
                message: text(rng.pick(&["TypeError: x is undefined", "ReferenceError: 'cart' is not defined"])),
                source: text("/assets/app.js"),
                line: 1 + rng.below(500) as u32,
            });
        }
        "web_vital" => {
            let vital = rng.pick(&[WebVitalName::Lcp, WebVitalName::Cls, WebVitalName::Inp, WebVitalName::Ttfb]);
            let value = if vital == WebVitalName::Cls { rng.below(50) as f64 / 100.0 } else { rng.below(6000) as f64 };
            event.ux.vital = Some(WebVital { name: vital, value });
        }
        "newsletter_signup" => event.props = vec![(text("form"), text("footer")), (text("plan"), text("gold"))],
        _ => {}
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> FixtureSpec {
        FixtureSpec {
            seed,
            count: 2_000,
            sites: vec![SiteDomain::parse("a.example").unwrap_or_else(|_| unreachable!())],
            start: DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default(),
            span_secs: 86_400,
            visitors: 300,
        }
    }

    #[test]
    fn fixtures_are_deterministic_per_seed() {
        assert_eq!(events(&spec(7)), events(&spec(7)));
        assert_ne!(events(&spec(7)), events(&spec(8)));
    }

    #[test]
    fn fixtures_cover_every_kind_of_event() {
        let all = events(&spec(1));
        for name in
            ["pageview", "search", "search_click", "purchase", "rage_click", "js_error", "web_vital", "engagement"]
        {
            assert!(all.iter().any(|e| e.name.as_str() == name), "fixture has {name}");
        }
        assert!(all.iter().any(|e| e.search.as_ref().is_some_and(|s| s.result_count == Some(0))), "a no-result search");
        let pageviews = all.iter().filter(|e| e.name.is_pageview()).count();
        assert!(pageviews > all.len() / 2, "mostly page views: {pageviews}");
    }
}
