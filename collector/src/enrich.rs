//! Enrichment from the connection: browser, OS and device from the user agent (bots are
//! recognised here and dropped), and country (region, city) from the client address. Both
//! inputs are consumed here; only the derived, coarse values leave.

use std::path::Path;

use larder_core::DeviceType;

use crate::visitor::{ClientIp, UserAgent};

/// What the user agent says about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agent {
    /// A crawler, monitor, script or headless browser: dropped and counted.
    Bot,
    Human(Software),
}

/// Browser, OS and device of a human visitor. Versions are major versions only: enough for
/// the dashboard, and less identifying.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Software {
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    pub device: DeviceType,
}

/// User-agent fragments (lowercase) of automated clients that parsers miss.
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "headless",
    "lighthouse",
    "pagespeed",
    "pingdom",
    "uptime",
    "monitor",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "axios/",
    "node-fetch",
    "undici",
    "httpclient",
    "libwww",
    "phantomjs",
    "selenium",
    "puppeteer",
    "playwright",
    "preview",
    "facebookexternalhit",
    "embedly",
    "whatsapp",
    "scrapy",
    "feedfetcher",
    "ptst",
    "gtmetrix",
    "chrome-lighthouse",
];

/// Distinct user agents remembered per HTTP worker thread by [`parse_agent_cached`].
const AGENT_CACHE_ENTRIES: usize = 4096;

thread_local! {
    /// Parsed user agents of this thread, by a keyed 64-bit hash of the string (so the raw
    /// strings are not kept, and the keys are random per thread so no one can aim a collision).
    static AGENT_CACHE: std::cell::RefCell<(std::hash::RandomState, lru::LruCache<u64, Agent>)> =
        std::cell::RefCell::new((
            std::hash::RandomState::new(),
            lru::LruCache::new(std::num::NonZeroUsize::new(AGENT_CACHE_ENTRIES).unwrap_or(std::num::NonZeroUsize::MIN)),
        ));
}

/// [`parse_agent`] with a per-thread cache: a shop's traffic comes from a few thousand distinct
/// user agents, and parsing one takes a dozen regular expressions.
pub fn parse_agent_cached(ua: &UserAgent) -> Agent {
    use std::hash::BuildHasher;
    AGENT_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let key = cache.0.hash_one(ua.as_str());
        if let Some(agent) = cache.1.get(&key) {
            return agent.clone();
        }
        let agent = parse_agent(ua);
        cache.1.put(key, agent.clone());
        agent
    })
}

/// Reads the user agent. An empty one is a bot: every browser sends one.
pub fn parse_agent(ua: &UserAgent) -> Agent {
    let raw = ua.as_str();
    if raw.is_empty() {
        return Agent::Bot;
    }
    let lower = raw.to_ascii_lowercase();
    if BOT_MARKERS.iter().any(|m| lower.contains(m)) {
        return Agent::Bot;
    }
    let Some(parsed) = woothee::parser::Parser::new().parse(raw) else {
        return Agent::Human(Software::default());
    };
    if parsed.category == "crawler" {
        return Agent::Bot;
    }
    let known = |s: &str| if s == woothee::woothee::VALUE_UNKNOWN { String::new() } else { s.to_owned() };
    let os = known(parsed.os);
    let device = match parsed.category {
        "pc" => DeviceType::Desktop,
        "smartphone" | "mobilephone" => {
            let is_tablet = os == "iPad" || (os == "Android" && !raw.contains("Mobile")) || lower.contains("tablet");
            if is_tablet { DeviceType::Tablet } else { DeviceType::Mobile }
        }
        _ => DeviceType::Unknown,
    };
    let major = |v: &str| known(v).split('.').next().unwrap_or_default().to_owned();
    Agent::Human(Software {
        browser: known(parsed.name),
        browser_version: major(parsed.version),
        os_version: known(&parsed.os_version),
        os,
        device,
    })
}

/// Where a client is, as coarse as the configured databases allow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub country: String,
    pub region: String,
    pub city: String,
}

/// The geo databases (MaxMind DB format).
pub struct Geo {
    country: Option<maxminddb::Reader<Vec<u8>>>,
    city: Option<maxminddb::Reader<Vec<u8>>>,
}

impl std::fmt::Debug for Geo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Geo").field("country", &self.country.is_some()).field("city", &self.city.is_some()).finish()
    }
}

/// A country record: `country_code` (ip-location-db) or `country.iso_code` (GeoIP2/DB-IP).
#[derive(serde::Deserialize)]
struct CountryRecord<'a> {
    #[serde(default)]
    country_code: Option<&'a str>,
    #[serde(default, borrow)]
    country: Option<maxminddb::geoip2::country::Country<'a>>,
}

impl Geo {
    /// Opens the databases that are configured.
    ///
    /// # Errors
    /// A configured database that cannot be read.
    pub fn open(country: Option<&Path>, city: Option<&Path>) -> Result<Self, maxminddb::MaxMindDbError> {
        Ok(Self {
            country: country.map(maxminddb::Reader::open_readfile).transpose()?,
            city: city.map(maxminddb::Reader::open_readfile).transpose()?,
        })
    }

    /// No databases: every location is unknown.
    pub fn none() -> Self {
        Self { country: None, city: None }
    }

    /// Looks the client up. Errors and private addresses give an unknown location.
    pub fn locate(&self, ip: &ClientIp) -> Location {
        let addr = ip.addr();
        if let Some(city_db) = &self.city
            && let Ok(found) = city_db.lookup(addr)
            && let Ok(Some(record)) = found.decode::<maxminddb::geoip2::City<'_>>()
        {
            return Location {
                country: record.country.iso_code.unwrap_or_default().to_owned(),
                region: record.subdivisions.first().and_then(|s| s.iso_code).unwrap_or_default().to_owned(),
                city: record.city.names.english.unwrap_or_default().to_owned(),
            };
        }
        if let Some(country_db) = &self.country
            && let Ok(found) = country_db.lookup(addr)
            && let Ok(Some(record)) = found.decode::<CountryRecord<'_>>()
        {
            let code = record.country_code.or_else(|| record.country.as_ref().and_then(|c| c.iso_code));
            return Location { country: code.unwrap_or_default().to_ascii_uppercase(), ..Location::default() };
        }
        Location::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(raw: &str) -> Agent {
        let mut headers = actix_web::http::header::HeaderMap::new();
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(raw) {
            headers.insert(actix_web::http::header::USER_AGENT, value);
        }
        parse_agent(&UserAgent::from_headers(&headers))
    }

    #[test]
    fn browsers_os_and_devices_are_recognised() {
        let human = |browser: &str, version: &str, os: &str, device| {
            Agent::Human(Software {
                browser: browser.into(),
                browser_version: version.into(),
                os: os.into(),
                os_version: String::new(),
                device,
            })
        };
        for (ua, want) in [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.58 Safari/537.36",
                human("Chrome", "130", "Windows 10", DeviceType::Desktop),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                human("Safari", "18", "iPhone", DeviceType::Mobile),
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                human("Safari", "17", "iPad", DeviceType::Tablet),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
                human("Chrome", "130", "Android", DeviceType::Tablet),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
                human("Chrome", "130", "Android", DeviceType::Mobile),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
                human("Firefox", "132", "Linux", DeviceType::Desktop),
            ),
        ] {
            let got = match agent(ua) {
                Agent::Human(s) => Agent::Human(Software { os_version: String::new(), ..s }),
                bot => bot,
            };
            assert_eq!(got, want, "{ua}");
        }
    }

    #[test]
    fn bots_scripts_and_headless_browsers_are_bots() {
        for ua in [
            "",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.32.3",
            "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
        ] {
            assert_eq!(agent(ua), Agent::Bot, "{ua:?}");
        }
    }

    #[test]
    fn without_databases_locations_are_unknown() {
        let ip = crate::visitor::ClientIp::from_request(
            Some("203.0.113.9:1".parse().unwrap_or_else(|_| unreachable!())),
            &actix_web::http::header::HeaderMap::new(),
            &[],
        );
        let ip = ip.unwrap_or_else(|| unreachable!("a peer address gives a client ip"));
        assert_eq!(Geo::none().locate(&ip), Location::default());
    }
}
