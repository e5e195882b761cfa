//! The validated event: what the collector hands to the store after parsing and enrichment.
//!
//! Every part exists only through a fallible constructor, so code past the collector's route
//! never re-checks. Nothing here holds an IP address or a user-agent string: those are consumed
//! by visitor hashing and enrichment in the collector and dropped before an [`Event`] exists.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::site::SiteDomain;

/// Why a value was refused. Derives `PartialEq` so tests can assert the exact variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The field is present but its value breaks a rule.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: &'static str },
    /// The field's text is longer than allowed.
    #[error("{field}: longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
}

impl ValidationError {
    /// The wire field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Invalid { field, .. } | Self::TooLong { field, .. } => field,
        }
    }
}

/// Checks a free-text field: bounded length and no control characters.
pub(crate) fn bounded_text(field: &'static str, raw: &str, max: usize) -> Result<String, ValidationError> {
    if raw.len() > max {
        return Err(ValidationError::TooLong { field, max });
    }
    if raw.chars().any(char::is_control) {
        return Err(ValidationError::Invalid { field, reason: "must not contain control characters" });
    }
    Ok(raw.to_owned())
}

/// The identifier given to an event when the collector accepts it; replays are idempotent on it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct EventId(uuid::Uuid);

impl EventId {
    /// Wraps a UUID (the collector uses time-ordered v7 ids).
    pub fn from_uuid(id: uuid::Uuid) -> Self {
        Self(id)
    }
    /// A fresh time-ordered id.
    pub fn new_v7() -> Self {
        Self(uuid::Uuid::now_v7())
    }
    /// The UUID.
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

/// 64 bits of the keyed hash of (site, IP, user agent) under the day's salt. Not reversible,
/// and not linkable across days once the salt is deleted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct VisitorId(pub u64);

/// A visit: consecutive events of one visitor with no gap above the session timeout.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SessionId(pub u64);

/// The event's name: `pageview`, `purchase`, `search`, `rage_click` or a custom goal.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct EventName(String);

impl EventName {
    /// Largest accepted name, in bytes.
    pub const MAX_BYTES: usize = 120;

    /// # Errors
    /// Empty, too long, or containing control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ValidationError::Invalid { field: "name", reason: "must not be empty" });
        }
        bounded_text("name", name, Self::MAX_BYTES).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether this is a page view (the event most queries count).
    pub fn is_pageview(&self) -> bool {
        self.0 == "pageview"
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The path of a page, without query string or fragment: starts with `/`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Pathname(String);

impl Pathname {
    pub const MAX_BYTES: usize = 2048;

    /// # Errors
    /// Not starting with `/`, too long, containing `?`, `#` or control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if !raw.starts_with('/') {
            return Err(ValidationError::Invalid { field: "pathname", reason: "must start with /" });
        }
        if raw.contains(['?', '#']) {
            return Err(ValidationError::Invalid {
                field: "pathname",
                reason: "must not hold a query string or fragment",
            });
        }
        bounded_text("pathname", raw, Self::MAX_BYTES).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount of money: a decimal with four fractional digits and an ISO 4217 currency code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Money {
    /// The amount in ten-thousandths of the currency unit (`12.50` is `125_000`).
    amount_e4: i64,
    currency: [u8; 3],
}

impl Money {
    /// Largest absolute amount accepted: a billion units is beyond any one order.
    pub const MAX_UNITS: i64 = 1_000_000_000;

    /// Parses a decimal amount (`"12.5"`, `"-3"`, `"0.0001"`) and a currency code.
    ///
    /// # Errors
    /// `revenue.amount` when the amount is not a decimal with at most four fractional digits
    /// within ±[`Money::MAX_UNITS`]; `revenue.currency` when the code is not three ASCII letters.
    pub fn parse(amount: &str, currency: &str) -> Result<Self, ValidationError> {
        let amount_e4 = parse_decimal_e4(amount).ok_or(ValidationError::Invalid {
            field: "revenue.amount",
            reason: "must be a decimal number with at most 4 fractional digits",
        })?;
        Ok(Self { amount_e4, currency: parse_currency(currency)? })
    }

    /// Builds money from ten-thousandths, as stored.
    ///
    /// # Errors
    /// As [`Money::parse`].
    pub fn from_e4(amount_e4: i64, currency: &str) -> Result<Self, ValidationError> {
        if amount_e4.unsigned_abs() > (Self::MAX_UNITS as u64) * 10_000 {
            return Err(ValidationError::Invalid { field: "revenue.amount", reason: "out of range" });
        }
        Ok(Self { amount_e4, currency: parse_currency(currency)? })
    }

    pub fn amount_e4(&self) -> i64 {
        self.amount_e4
    }
    pub fn currency(&self) -> &str {
        // Invariant: built only from three ASCII uppercase letters.
        std::str::from_utf8(&self.currency).unwrap_or("XXX")
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount_e4 < 0 { "-" } else { "" };
        let abs = self.amount_e4.unsigned_abs();
        write!(f, "{sign}{}.{:04} {}", abs / 10_000, abs % 10_000, self.currency())
    }
}

/// An ISO 4217 currency code (three letters, stored uppercase): the currency of an event's
/// revenue and item prices.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Currency([u8; 3]);

impl Currency {
    /// # Errors
    /// Field `currency` when the code is not three ASCII letters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_currency(raw)
            .map(Self)
            .map_err(|_| ValidationError::Invalid { field: "currency", reason: "must be a three-letter ISO 4217 code" })
    }
    pub fn as_str(&self) -> &str {
        // Invariant: built only from three ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl From<Money> for Currency {
    fn from(money: Money) -> Self {
        Self(money.currency)
    }
}

fn parse_currency(raw: &str) -> Result<[u8; 3], ValidationError> {
    let bytes = raw.as_bytes();
    match bytes {
        [a, b, c] if bytes.iter().all(u8::is_ascii_alphabetic) => {
            Ok([a.to_ascii_uppercase(), b.to_ascii_uppercase(), c.to_ascii_uppercase()])
        }
        _ => {
            Err(ValidationError::Invalid { field: "revenue.currency", reason: "must be a three-letter ISO 4217 code" })
        }
    }
}

/// Parses `[-]digits[.digits]` with at most 4 fractional digits into ten-thousandths.
pub(crate) fn parse_decimal_e4(raw: &str) -> Option<i64> {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || whole.len() > 10 || frac.len() > 4 {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac_e4: i64 = format!("{frac:0<4}").parse().ok()?;
    if whole > Money::MAX_UNITS || (whole == Money::MAX_UNITS && frac_e4 > 0) {
        return None;
    }
    let value = whole * 10_000 + frac_e4;
    Some(if negative { -value } else { value })
}

/// One line of an order or cart: what was viewed, added or bought.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Item {
    pub product_id: String,
    pub name: String,
    pub category: String,
    pub quantity: u32,
    /// Unit price in ten-thousandths, in the event's currency.
    pub price_e4: i64,
}

/// A site search: the normalised query and what came of it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Search {
    /// Lowercased, trimmed, whitespace collapsed, personal data redacted.
    pub query: String,
    /// Results the page showed; `None` when the page did not say.
    pub result_count: Option<u32>,
    /// 1-based position of the clicked result, for `search_click` events.
    pub clicked_position: Option<u16>,
    /// Product id of the clicked result, when it was a product.
    pub clicked_product: String,
}

/// The Core Web Vitals the tracker measures.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum WebVitalName {
    Lcp,
    Cls,
    Inp,
    Ttfb,
    Fcp,
}

impl WebVitalName {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Lcp => "LCP",
            Self::Cls => "CLS",
            Self::Inp => "INP",
            Self::Ttfb => "TTFB",
            Self::Fcp => "FCP",
        }
    }

    /// # Errors
    /// `vital.name` when the name is not one of LCP, CLS, INP, TTFB, FCP.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.to_ascii_uppercase().as_str() {
            "LCP" => Ok(Self::Lcp),
            "CLS" => Ok(Self::Cls),
            "INP" => Ok(Self::Inp),
            "TTFB" => Ok(Self::Ttfb),
            "FCP" => Ok(Self::Fcp),
            _ => Err(ValidationError::Invalid { field: "vital.name", reason: "unknown web vital" }),
        }
    }
}

/// One web-vital measurement: milliseconds for timings, unitless for CLS.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct WebVital {
    pub name: WebVitalName,
    pub value: f64,
}

/// A JavaScript error seen on the page.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct JsError {
    pub message: String,
    pub source: String,
    pub line: u32,
}

/// UX signals: each is present only on the events that carry it.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Ux {
    /// Deepest scroll reached on the page, in percent (0..=100).
    pub scroll_depth_pct: Option<u8>,
    /// Time the page was visible and interacted with, in milliseconds.
    pub engaged_ms: Option<u32>,
    /// Short CSS selector of the element of a rage or dead click.
    pub selector: String,
    pub vital: Option<WebVital>,
    pub error: Option<JsError>,
}

/// The device class derived from the user agent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum DeviceType {
    Desktop,
    Mobile,
    Tablet,
    #[default]
    Unknown,
}

impl DeviceType {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Mobile => "mobile",
            Self::Tablet => "tablet",
            Self::Unknown => "",
        }
    }
    /// The inverse of [`DeviceType::as_str`]; anything else is `Unknown`.
    pub fn from_stored(raw: &str) -> Self {
        match raw {
            "desktop" => Self::Desktop,
            "mobile" => Self::Mobile,
            "tablet" => Self::Tablet,
            _ => Self::Unknown,
        }
    }
}

/// The dimensions enrichment attaches to every event. Empty text means unknown.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Dimensions {
    /// Host of the referring page (no path, no query).
    pub referrer_host: String,
    /// Named source (`Google`, `Instagram`, `Newsletter`) or the referrer host.
    pub referrer_source: String,
    /// `search`, `social`, `email`, `paid`, `internal`, `referral` or `direct`.
    pub referrer_medium: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_term: String,
    pub utm_content: String,
    /// ISO 3166-1 alpha-2, uppercase.
    pub country: String,
    pub region: String,
    pub city: String,
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    pub device: DeviceType,
}

/// A validated, enriched, anonymous event, ready to be stored.
#[derive(Clone, PartialEq, Debug)]
pub struct Event {
    pub id: EventId,
    pub site: SiteDomain,
    /// When the collector accepted it (second precision is what is stored).
    pub timestamp: DateTime<Utc>,
    pub name: EventName,
    pub visitor_id: VisitorId,
    pub session_id: SessionId,
    /// Host of the page the event happened on.
    pub hostname: String,
    pub pathname: Pathname,
    pub dimensions: Dimensions,
    /// Custom properties, in the order given.
    pub props: Vec<(String, String)>,
    pub revenue: Option<Money>,
    /// The currency of the revenue and of item prices (present when either is).
    pub currency: Option<Currency>,
    pub order_id: String,
    pub items: Vec<Item>,
    pub search: Option<Search>,
    pub ux: Ux,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parses_decimals_into_ten_thousandths() {
        for (amount, want) in [
            ("12.50", 125_000),
            ("0", 0),
            ("-3", -30_000),
            ("0.0001", 1),
            ("1000000000", 10_000_000_000_000),
            ("7.", 70_000),
        ] {
            assert_eq!(Money::parse(amount, "eur").map(|m| m.amount_e4()), Ok(want), "amount {amount:?}");
        }
    }

    #[test]
    fn money_rejects_what_is_not_a_bounded_decimal() {
        for amount in ["", "-", ".5", "1.23456", "1e3", "12,50", "abc", "1000000000.01", "99999999999", " 1"] {
            assert_eq!(Money::parse(amount, "EUR").map_err(|e| e.field()), Err("revenue.amount"), "amount {amount:?}");
        }
    }

    #[test]
    fn money_needs_a_three_letter_currency() {
        assert_eq!(Money::parse("1", "usd").map(|m| m.currency().to_owned()), Ok("USD".to_owned()));
        for currency in ["", "EU", "EURO", "E1R", "€€€"] {
            assert_eq!(
                Money::parse("1", currency).map_err(|e| e.field()),
                Err("revenue.currency"),
                "currency {currency:?}"
            );
        }
    }

    #[test]
    fn money_displays_with_four_decimals() {
        assert_eq!(Money::parse("-12.5", "EUR").map(|m| m.to_string()), Ok("-12.5000 EUR".to_owned()));
    }

    #[test]
    fn event_name_is_trimmed_bounded_and_printable() {
        assert_eq!(EventName::parse(" pageview ").map(|n| n.as_str().to_owned()), Ok("pageview".into()));
        assert!(EventName::parse("").is_err(), "empty");
        assert!(EventName::parse("a\u{0}b").is_err(), "control character");
        assert_eq!(EventName::parse(&"x".repeat(121)), Err(ValidationError::TooLong { field: "name", max: 120 }));
    }

    #[test]
    fn pathname_must_be_a_bare_absolute_path() {
        assert!(Pathname::parse("/p/1").is_ok());
        for raw in ["p/1", "/p?q=1", "/p#top", "", "/a\nb"] {
            assert!(Pathname::parse(raw).is_err(), "input {raw:?}");
        }
    }

    #[test]
    fn web_vital_names_round_trip() {
        for name in [WebVitalName::Lcp, WebVitalName::Cls, WebVitalName::Inp, WebVitalName::Ttfb, WebVitalName::Fcp] {
            assert_eq!(WebVitalName::parse(name.as_str()), Ok(name));
        }
        assert!(WebVitalName::parse("FID").is_err());
    }

    #[test]
    fn device_type_round_trips_through_storage_text() {
        for device in [DeviceType::Desktop, DeviceType::Mobile, DeviceType::Tablet, DeviceType::Unknown] {
            assert_eq!(DeviceType::from_stored(device.as_str()), device);
        }
    }
}
