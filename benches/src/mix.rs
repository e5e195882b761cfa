//! The ingestion benchmark's traffic: requests to `POST /api/event` as a storefront's visitors
//! send them, encoded once up front so that the load generator only writes bytes.
//!
//! The mix (per mille of events): page views 570, engagement 120, web vitals 60, the e-commerce
//! steps 148 (view_item, add_to_cart, remove_from_cart, begin_checkout, purchase with items,
//! revenue and currency), site search 60 (a fifth without results) with result clicks, frustrated
//! clicks 20 (rage and dead, with a selector), JS errors 10, outbound clicks 10 and a custom goal.
//! Every body follows `docs/wire-format.md`. Each request comes from one of many visitors: an
//! address (given in `X-Forwarded-For`, as a reverse proxy in front of the collector would) and
//! one of several real browsers' user-agent strings.

use larder_core::fixtures::Rng;
use serde_json::{Map, Value, json};

/// The registered site every event names.
pub const SITE: &str = "shop.example";

/// Real browsers' user-agent strings (desktop, phone and tablet; none of them a bot).
pub const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
];

/// Event names and their weight per mille.
pub const MIX: &[(&str, u64)] = &[
    ("pageview", 570),
    ("engagement", 120),
    ("web_vital", 60),
    ("view_item", 80),
    ("add_to_cart", 35),
    ("remove_from_cart", 8),
    ("begin_checkout", 15),
    ("purchase", 10),
    ("search", 40),
    ("search_click", 20),
    ("rage_click", 12),
    ("dead_click", 8),
    ("js_error", 10),
    ("outbound_click", 10),
    ("newsletter_signup", 2),
];

const CATEGORIES: &[&str] = &["Tea", "Coffee", "Cups & Mugs", "Kettles", "Gifts", "Chocolate"];
const FLAVOURS: &[&str] =
    &["Green", "Black", "Smoky Lapsang", "Jasmine", "Earl Grey", "Chai", "Oolong", "Matcha", "Rooibos", "Crème brûlée"];
const PAGES: &[&str] =
    &["/", "/about", "/shipping", "/blog/how-to-brew-green-tea", "/blog/gift-guide", "/cart", "/account"];
const REFERRERS: &[&str] = &[
    "https://www.google.com/",
    "https://www.google.de/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://www.facebook.com/",
    "https://l.instagram.com/",
    "https://www.pinterest.com/",
    "https://news.ycombinator.com/",
    "https://shop.example/",
];
const QUERIES: &[&str] =
    &["green tea", "earl grey", "matcha whisk", "gift box", "kettle", "oolong", "decaf", "chai latte"];
/// Searches that find nothing (a fifth of all searches).
const EMPTY_QUERIES: &[&str] = &["unicorn mug", "teh kettel", "yerba mate gourd", "samovar"];
const SELECTORS: &[&str] =
    &["button.add-to-cart", "a.product-card", "#checkout-submit", "div.gallery img", "span.price", "nav .menu-toggle"];
const VITALS: &[(&str, f64)] = &[("LCP", 2400.0), ("CLS", 0.12), ("INP", 180.0), ("TTFB", 600.0), ("FCP", 1500.0)];
const ERRORS: &[&str] = &[
    "TypeError: Cannot read properties of undefined (reading 'price')",
    "ReferenceError: gtag is not defined",
    "Uncaught (in promise) NetworkError when attempting to fetch resource.",
];
const CURRENCIES: &[&str] = &["EUR", "EUR", "EUR", "EUR", "GBP", "USD"];

/// Requests that stop at an earlier stage of the collector, to see where a request's time goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Accepted and spooled: the whole path.
    Full,
    /// Events name a site that is not registered: refused (`404`) after the body is read,
    /// parsed and validated.
    UnknownSite,
    /// `Sec-GPC: 1`: accepted (`202`) but not recorded, after the site lookup and user-agent
    /// parsing; no geolocation, enrichment or spool.
    PrivacySignal,
}

/// One ready-to-send request: the whole HTTP/1.1 message and how many events it carries.
#[derive(Debug, Clone)]
pub struct Request {
    pub bytes: Vec<u8>,
    pub events: u64,
}

/// The traffic generator: visitors, and events for them, the same for the same seed.
#[derive(Debug)]
pub struct Traffic {
    rng: Rng,
    visitors: u64,
    orders: u64,
}

impl Traffic {
    /// Traffic from `visitors` distinct visitors (address and user agent).
    pub fn new(seed: u64, visitors: u64) -> Self {
        Self { rng: Rng::new(seed), visitors: visitors.max(1), orders: 0 }
    }

    /// `count` requests of `batch` events each (1: what a page sends per event; up to 100), each
    /// from a random visitor.
    ///
    /// # Panics
    /// When a request body would exceed the collector's default 64 KiB limit.
    pub fn requests(&mut self, count: usize, batch: usize) -> Vec<Request> {
        self.requests_of(count, batch, Variant::Full)
    }

    /// As [`Self::requests`], stopping at the stage `variant` names.
    ///
    /// # Panics
    /// As [`Self::requests`].
    pub fn requests_of(&mut self, count: usize, batch: usize, variant: Variant) -> Vec<Request> {
        (0..count)
            .map(|_| {
                let visitor = self.rng.below(self.visitors);
                let events: Vec<Value> = (0..batch)
                    .map(|_| {
                        let name = self.pick_name();
                        self.event(name)
                    })
                    .collect();
                let mut body = if batch == 1 { events[0].to_string() } else { Value::Array(events).to_string() };
                assert!(body.len() <= 64 * 1024, "a {batch}-event body of {} bytes exceeds 64 KiB", body.len());
                if variant == Variant::UnknownSite {
                    body = body.replace(&format!("\"site\":\"{SITE}\""), "\"site\":\"unregistered.example\"");
                }
                Request { bytes: http_request(visitor, &body, variant == Variant::PrivacySignal), events: batch as u64 }
            })
            .collect()
    }

    /// One single-event request per event name in the mix: the sample checked before measuring.
    pub fn sample_of_each_kind(&mut self) -> Vec<(&'static str, Request)> {
        MIX.iter()
            .map(|(name, _)| {
                let visitor = self.rng.below(self.visitors);
                (*name, Request { bytes: http_request(visitor, &self.event(name).to_string(), false), events: 1 })
            })
            .collect()
    }

    fn pick_name(&mut self) -> &'static str {
        let total: u64 = MIX.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.below(total);
        for (name, weight) in MIX {
            if roll < *weight {
                return name;
            }
            roll -= weight;
        }
        "pageview"
    }

    /// One wire event of the given name with the fields that kind carries.
    fn event(&mut self, name: &str) -> Value {
        let rng = &mut self.rng;
        let product = rng.below(240);
        let product_url = format!("https://{SITE}/p/{}", product_slug(product));
        let mut e = Map::new();
        e.insert("site".into(), json!(SITE));
        e.insert("name".into(), json!(name));
        let url = match name {
            "pageview" => match rng.below(10) {
                0..=3 => product_url,
                4..=5 => format!("https://{SITE}/c/{}", slug(rng.pick(CATEGORIES))),
                6 => format!(
                    "https://{SITE}{}?utm_source=newsletter&utm_medium=email&utm_campaign=november",
                    rng.pick(PAGES)
                ),
                7 => format!("https://{SITE}/p/{}?gclid=Cj0KCQiA{}", product_slug(product), rng.below(1 << 40)),
                _ => format!("https://{SITE}{}", rng.pick(PAGES)),
            },
            "search" | "search_click" => format!("https://{SITE}/search?q={}", rng.pick(QUERIES).replace(' ', "+")),
            "begin_checkout" | "purchase" => format!("https://{SITE}/checkout"),
            _ => product_url,
        };
        e.insert("url".into(), json!(url));
        if name == "pageview" && rng.below(10) < 6 {
            e.insert("referrer".into(), json!(rng.pick(REFERRERS)));
        }
        if rng.below(4) == 0 {
            e.insert("age_ms".into(), json!(rng.below(5_000)));
        }
        let currency = rng.pick(CURRENCIES);
        match name {
            "engagement" => {
                e.insert(
                    "ux".into(),
                    json!({"scroll_depth": rng.below(101), "engaged_ms": 1_000 + rng.below(300_000)}),
                );
            }
            "web_vital" => {
                let (vital, typical) = rng.pick(VITALS);
                let value = typical * (0.2 + rng.below(300) as f64 / 100.0);
                e.insert("ux".into(), json!({"vital": {"name": vital, "value": (value * 1000.0).round() / 1000.0}}));
            }
            "view_item" | "add_to_cart" | "remove_from_cart" => {
                e.insert("currency".into(), json!(currency));
                e.insert("items".into(), json!([item(product, 1 + rng.below(3))]));
            }
            "begin_checkout" | "purchase" => {
                let lines: Vec<(u64, u64)> =
                    (0..1 + rng.below(4)).map(|_| (rng.below(240), 1 + rng.below(3))).collect();
                let items: Vec<Value> = lines.iter().map(|(p, q)| item(*p, *q)).collect();
                e.insert("items".into(), json!(items));
                if name == "purchase" {
                    let cents: u64 = lines.iter().map(|(p, q)| price_cents(*p) * q).sum();
                    self.orders += 1;
                    e.insert("revenue".into(), json!({"amount": money(cents), "currency": currency}));
                    e.insert("order_id".into(), json!(format!("SO-{:06}", self.orders)));
                } else {
                    e.insert("currency".into(), json!(currency));
                }
            }
            "search" => {
                let zero = rng.below(5) == 0;
                let query = if zero { rng.pick(EMPTY_QUERIES) } else { rng.pick(QUERIES) };
                let results = if zero { 0 } else { 1 + rng.below(60) };
                e.insert("search".into(), json!({"query": query, "results": results}));
            }
            "search_click" => {
                let search = json!({"query": rng.pick(QUERIES), "position": 1 + rng.below(12), "product": format!("p-{product}")});
                e.insert("search".into(), search);
            }
            "rage_click" | "dead_click" => {
                e.insert("ux".into(), json!({"selector": rng.pick(SELECTORS)}));
            }
            "js_error" => {
                let error = json!({"message": rng.pick(ERRORS), "source": format!("https://{SITE}/assets/app.js"), "line": 1 + rng.below(4_000)});
                e.insert("ux".into(), json!({"error": error}));
            }
            "outbound_click" => {
                e.insert("props".into(), json!({"url": "https://www.instagram.com/shop.example/"}));
            }
            "newsletter_signup" => {
                e.insert("props".into(), json!({"plan": "weekly", "logged_in": rng.below(2) == 0}));
            }
            _ => {}
        }
        Value::Object(e)
    }
}

fn item(product: u64, quantity: u64) -> Value {
    let category = CATEGORIES[(product % CATEGORIES.len() as u64) as usize];
    let flavour = FLAVOURS[(product / 7 % FLAVOURS.len() as u64) as usize];
    json!({"id": format!("p-{product}"), "name": format!("{flavour} {category} {product}"), "category": category,
           "quantity": quantity, "price": money(price_cents(product))})
}

fn price_cents(product: u64) -> u64 {
    350 + (product * 737) % 4_000
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn product_slug(product: u64) -> String {
    format!("{}-{product}", slug(FLAVOURS[(product / 7 % FLAVOURS.len() as u64) as usize]))
}

fn slug(text: &str) -> String {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-")
}

/// The visitor's address: mostly IPv4 spread over public /8s, a tenth IPv6.
pub fn visitor_address(visitor: u64) -> String {
    const FIRST_OCTETS: &[u64] = &[24, 31, 37, 45, 62, 77, 81, 86, 91, 95, 101, 109, 151, 176, 185, 188, 212, 217];
    let h = visitor.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
    if visitor % 10 == 9 {
        format!("2a02:{:x}:{:x}::{:x}", h & 0xffff, (h >> 16) & 0xffff, (h >> 32) & 0xffff)
    } else {
        let first = FIRST_OCTETS[(h % FIRST_OCTETS.len() as u64) as usize];
        format!("{first}.{}.{}.{}", (h >> 8) & 0xff, (h >> 16) & 0xff, 1 + (h >> 24) % 254)
    }
}

/// The request a browser (through the shop's reverse proxy) sends: `sendBeacon`'s
/// `text/plain` body, same-origin (the collector is served on the shop's own domain).
fn http_request(visitor: u64, body: &str, signals_privacy: bool) -> Vec<u8> {
    let ua = USER_AGENTS[(visitor.wrapping_mul(31) % USER_AGENTS.len() as u64) as usize];
    let head = format!(
        "POST /api/event HTTP/1.1\r\nHost: {SITE}\r\nUser-Agent: {ua}\r\nContent-Type: text/plain;charset=UTF-8\r\n\
         Origin: https://{SITE}\r\nX-Forwarded-For: {}\r\n{}Content-Length: {}\r\n\r\n",
        visitor_address(visitor),
        if signals_privacy { "Sec-GPC: 1\r\n" } else { "" },
        body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}
