//! The wire format of `POST /api/event` (see `docs/wire-format.md`): the loose DTO the
//! collector deserialises, and its validation into an [`IncomingEvent`] of typed values.
//!
//! Validation here needs nothing but the event itself. What depends on the site's settings
//! (which query keys survive on the URL) and on the connection (visitor, geo, user agent)
//! happens in the collector, after this.

use serde::Deserialize;

use crate::event::{
    Currency, EventName, Item, JsError, Money, ValidationError, WebVital, WebVitalName, bounded_text, parse_decimal_e4,
};
use crate::site::SiteDomain;

/// Most events in one request.
pub const MAX_BATCH: usize = 100;
/// Most custom properties on one event.
pub const MAX_PROPS: usize = 30;
pub const MAX_PROP_KEY_BYTES: usize = 64;
pub const MAX_PROP_VALUE_BYTES: usize = 256;
pub const MAX_ITEMS: usize = 50;
pub const MAX_URL_BYTES: usize = 2048;
/// Oldest an event may be when it is sent (events queued until the page is hidden).
pub const MAX_AGE_MS: u64 = 30 * 60 * 1000;

/// One event as sent. Unknown fields are refused, so a typo does not silently lose data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireEvent {
    pub site: String,
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub referrer: Option<String>,
    #[serde(default)]
    pub age_ms: Option<u64>,
    #[serde(default)]
    pub props: Option<Props>,
    #[serde(default)]
    pub revenue: Option<Obj<WireRevenue>>,
    /// The currency of item prices when the event has no revenue (`add_to_cart`…).
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub items: Option<Vec<Obj<WireItem>>>,
    #[serde(default)]
    pub search: Option<Obj<WireSearch>>,
    #[serde(default)]
    pub ux: Option<Obj<WireUx>>,
}

/// A value that must be a JSON object. serde's derived structs also accept a JSON array read by
/// position (`["shop.example", "pageview", …]`), which the wire format does not allow; this
/// wrapper refuses anything but an object and hands the object to `T`'s own deserializer, so
/// unknown and repeated fields are still refused and error paths still point at the field.
#[derive(Debug, Clone)]
pub struct Obj<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_map(ObjectOnly(std::marker::PhantomData)).map(Obj)
    }
}

/// Custom properties in the order given; a key given twice is refused (a JSON object with a
/// repeated key is ambiguous).
#[derive(Debug, Clone, Default)]
pub struct Props(pub Vec<(String, PropValue)>);

impl<'de> Deserialize<'de> for Props {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PropsVisitor;
        impl<'de> serde::de::Visitor<'de> for PropsVisitor {
            type Value = Props;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of properties")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Props, A::Error> {
                let mut seen = std::collections::HashSet::new();
                let mut props = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!("duplicate property `{key}`")));
                    }
                    let value = map.next_value::<PropValue>()?;
                    props.push((key, value));
                }
                Ok(Props(props))
            }
        }
        deserializer.deserialize_map(PropsVisitor)
    }
}

/// A property value: text, a number or a boolean; stored as text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PropValue {
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

/// A decimal given as a string (`"12.50"`, exact) or a JSON number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WireDecimal {
    Text(String),
    Int(i64),
    Float(f64),
}

impl WireDecimal {
    fn as_text(&self) -> String {
        match self {
            Self::Text(s) => s.trim().to_owned(),
            Self::Int(i) => i.to_string(),
            // `Display` prints the shortest text that reads back as the same number, so a JSON
            // `12.5` becomes "12.5" again; exponents and non-finite values are refused later.
            Self::Float(f) => f.to_string(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRevenue {
    pub amount: WireDecimal,
    pub currency: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireItem {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub quantity: Option<u32>,
    #[serde(default)]
    pub price: Option<WireDecimal>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireSearch {
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub results: Option<u32>,
    #[serde(default)]
    pub position: Option<u16>,
    #[serde(default)]
    pub product: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireUx {
    #[serde(default)]
    pub scroll_depth: Option<u8>,
    #[serde(default)]
    pub engaged_ms: Option<u32>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub vital: Option<Obj<WireVital>>,
    #[serde(default)]
    pub error: Option<Obj<WireError>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireVital {
    pub name: String,
    pub value: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireError {
    pub message: String,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub line: Option<u32>,
}

/// Why an event was refused, with the JSON path of the offending field (`items[2].price`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }

    /// Prefixes the path, e.g. with `events[3].` for an event of a batch.
    pub fn within(self, prefix: &str) -> Self {
        Self { path: format!("{prefix}{}", self.path), message: self.message }
    }
}

impl From<ValidationError> for FieldError {
    fn from(e: ValidationError) -> Self {
        let message = match &e {
            ValidationError::Invalid { reason, .. } => (*reason).to_owned(),
            ValidationError::TooLong { max, .. } => format!("longer than {max} bytes"),
        };
        Self { path: e.field().to_owned(), message }
    }
}

/// A site-search signal as sent; the query is normalised and redacted by the collector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchInput {
    pub query: String,
    pub results: Option<u32>,
    pub position: Option<u16>,
    pub product: String,
}

/// UX signals as sent; the error source URL gets URL hygiene in the collector.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UxInput {
    pub scroll_depth_pct: Option<u8>,
    pub engaged_ms: Option<u32>,
    pub selector: String,
    pub vital: Option<WebVital>,
    pub error: Option<JsError>,
}

/// An event whose every field is checked; URLs and the search query are still as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub site: SiteDomain,
    pub name: EventName,
    pub url: String,
    pub referrer: Option<String>,
    pub age_ms: u32,
    pub props: Vec<(String, String)>,
    pub revenue: Option<Money>,
    pub currency: Option<Currency>,
    pub order_id: String,
    pub items: Vec<Item>,
    pub search: Option<SearchInput>,
    pub ux: UxInput,
}

/// Largest `age_ms`, as the type the event keeps.
const MAX_AGE_MS_U32: u32 = MAX_AGE_MS as u32;

impl WireEvent {
    /// Checks every field.
    ///
    /// # Errors
    /// The first [`FieldError`] found, with the field's path within the event.
    pub fn validate(self) -> Result<IncomingEvent, FieldError> {
        let site = SiteDomain::parse(&self.site)?;
        let name = EventName::parse(&self.name)?;
        let url = bounded("url", self.url.trim(), MAX_URL_BYTES)?;
        if url.is_empty() {
            return Err(FieldError::new("url", "must not be empty"));
        }
        let referrer = match self.referrer.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) => Some(bounded("referrer", r, MAX_URL_BYTES)?),
        };
        let age_ms = match self.age_ms {
            None => 0,
            Some(age) if age <= MAX_AGE_MS => u32::try_from(age).unwrap_or(MAX_AGE_MS_U32),
            Some(_) => return Err(FieldError::new("age_ms", format!("must be at most {MAX_AGE_MS}"))),
        };
        let props = validate_props(self.props.unwrap_or_default())?;
        let revenue = match self.revenue.map(|r| r.0) {
            None => None,
            Some(r) => Some(Money::parse(&r.amount.as_text(), r.currency.trim())?),
        };
        let stated = self.currency.as_deref().map(str::trim).map(Currency::parse).transpose()?;
        let currency = match (revenue.map(Currency::from), stated) {
            (Some(of_revenue), Some(stated)) if of_revenue != stated => {
                return Err(FieldError::new("currency", "must match revenue.currency"));
            }
            (of_revenue, stated) => of_revenue.or(stated),
        };
        let order_id = bounded("order_id", self.order_id.as_deref().unwrap_or("").trim(), 128)?;
        let items = validate_items(self.items.unwrap_or_default().into_iter().map(|i| i.0).collect(), currency)?;
        let search = self.search.map(|s| validate_search(s.0)).transpose()?;
        let ux = validate_ux(self.ux.map(|u| u.0))?;
        let event =
            IncomingEvent { site, name, url, referrer, age_ms, props, revenue, currency, order_id, items, search, ux };
        check_required_fields(&event)?;
        Ok(event)
    }
}

fn bounded(path: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    bounded_text(path, raw, max).map_err(FieldError::from)
}

fn validate_props(raw: Props) -> Result<Vec<(String, String)>, FieldError> {
    let raw = raw.0;
    if raw.len() > MAX_PROPS {
        return Err(FieldError::new("props", format!("at most {MAX_PROPS} properties")));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (key, value) in raw {
        let path = format!("props.{key}");
        let key = key.trim().to_owned();
        if key.is_empty() {
            return Err(FieldError::new("props", "a property key must not be empty"));
        }
        if key.len() > MAX_PROP_KEY_BYTES || key.chars().any(char::is_control) {
            return Err(FieldError::new(
                "props",
                format!("property keys are 1 to {MAX_PROP_KEY_BYTES} bytes without control characters"),
            ));
        }
        let text = match value {
            PropValue::Text(s) => s,
            PropValue::Bool(b) => b.to_string(),
            PropValue::Int(i) => i.to_string(),
            PropValue::Float(f) if f.is_finite() => f.to_string(),
            PropValue::Float(_) => return Err(FieldError::new(path, "must be a finite number")),
        };
        if text.len() > MAX_PROP_VALUE_BYTES {
            return Err(FieldError::new(path, format!("longer than {MAX_PROP_VALUE_BYTES} bytes")));
        }
        if text.chars().any(char::is_control) {
            return Err(FieldError::new(path, "must not contain control characters"));
        }
        out.push((key, text));
    }
    Ok(out)
}

fn validate_items(raw: Vec<WireItem>, currency: Option<Currency>) -> Result<Vec<Item>, FieldError> {
    if raw.len() > MAX_ITEMS {
        return Err(FieldError::new("items", format!("at most {MAX_ITEMS} items")));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |field: &str| format!("items[{i}].{field}");
            let product_id = item.id.trim();
            if product_id.is_empty() {
                return Err(FieldError::new(at("id"), "must not be empty"));
            }
            let text = |field: &str, raw: &str, max: usize| -> Result<String, FieldError> {
                bounded_text("item", raw.trim(), max).map_err(|e| FieldError::from(e).path_to(at(field)))
            };
            let quantity = item.quantity.unwrap_or(1);
            if !(1..=10_000).contains(&quantity) {
                return Err(FieldError::new(at("quantity"), "must be from 1 to 10000"));
            }
            let price_e4 = match &item.price {
                None => 0,
                Some(price) => {
                    if currency.is_none() {
                        return Err(FieldError::new(at("price"), "needs a currency (revenue.currency or currency)"));
                    }
                    let price_e4 = parse_decimal_e4(&price.as_text()).ok_or_else(|| {
                        FieldError::new(at("price"), "must be a decimal with at most 4 fractional digits")
                    })?;
                    if price_e4 < 0 {
                        return Err(FieldError::new(at("price"), "must not be negative"));
                    }
                    price_e4
                }
            };
            Ok(Item {
                product_id: text("id", product_id, 128)?,
                name: text("name", item.name.as_deref().unwrap_or(""), 256)?,
                category: text("category", item.category.as_deref().unwrap_or(""), 256)?,
                quantity,
                price_e4,
            })
        })
        .collect()
}

impl FieldError {
    fn path_to(self, path: String) -> Self {
        Self { path, message: self.message }
    }
}

fn validate_search(raw: WireSearch) -> Result<SearchInput, FieldError> {
    let query = bounded("search.query", raw.query.as_deref().unwrap_or("").trim(), 500)?;
    if let Some(position) = raw.position
        && !(1..=1000).contains(&position)
    {
        return Err(FieldError::new("search.position", "must be from 1 to 1000"));
    }
    Ok(SearchInput {
        query,
        results: raw.results,
        position: raw.position,
        product: bounded("search.product", raw.product.as_deref().unwrap_or("").trim(), 128)?,
    })
}

fn validate_ux(raw: Option<WireUx>) -> Result<UxInput, FieldError> {
    let Some(raw) = raw else { return Ok(UxInput::default()) };
    if let Some(depth) = raw.scroll_depth
        && depth > 100
    {
        return Err(FieldError::new("ux.scroll_depth", "must be from 0 to 100"));
    }
    if let Some(engaged) = raw.engaged_ms
        && engaged > 86_400_000
    {
        return Err(FieldError::new("ux.engaged_ms", "must be at most 86400000"));
    }
    let vital = match raw.vital.map(|v| v.0) {
        None => None,
        Some(v) => {
            let name = WebVitalName::parse(&v.name).map_err(|e| FieldError::from(e).path_to("ux.vital.name".into()))?;
            if !v.value.is_finite() || v.value < 0.0 {
                return Err(FieldError::new("ux.vital.value", "must be a finite number >= 0"));
            }
            Some(WebVital { name, value: v.value })
        }
    };
    let error = match raw.error.map(|e| e.0) {
        None => None,
        Some(e) => {
            let message = bounded("ux.error.message", e.message.trim(), 500)?;
            if message.is_empty() {
                return Err(FieldError::new("ux.error.message", "must not be empty"));
            }
            Some(JsError {
                message,
                source: bounded("ux.error.source", e.source.as_deref().unwrap_or("").trim(), MAX_URL_BYTES)?,
                line: e.line.unwrap_or(0),
            })
        }
    };
    Ok(UxInput {
        scroll_depth_pct: raw.scroll_depth,
        engaged_ms: raw.engaged_ms,
        selector: bounded("ux.selector", raw.selector.as_deref().unwrap_or("").trim(), 256)?,
        vital,
        error,
    })
}

/// The events Larder understands must carry what their reports need.
fn check_required_fields(e: &IncomingEvent) -> Result<(), FieldError> {
    let search = e.search.as_ref();
    let missing = match e.name.as_str() {
        "search" if search.is_none_or(|s| s.query.is_empty()) => Some("search.query"),
        "search_click" if search.and_then(|s| s.position).is_none() => Some("search.position"),
        "engagement" if e.ux.scroll_depth_pct.is_none() && e.ux.engaged_ms.is_none() => Some("ux.scroll_depth"),
        "rage_click" | "dead_click" if e.ux.selector.is_empty() => Some("ux.selector"),
        "web_vital" if e.ux.vital.is_none() => Some("ux.vital"),
        "js_error" if e.ux.error.is_none() => Some("ux.error"),
        "outbound_click" | "file_download" if !e.props.iter().any(|(k, _)| k == "url") => Some("props.url"),
        _ => None,
    };
    match missing {
        Some(path) => Err(FieldError::new(path, format!("a {} event needs {path}", e.name))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<IncomingEvent, FieldError> {
        let wire: WireEvent = serde_json::from_str(json).map_err(|e| FieldError::new("json", e.to_string()))?;
        wire.validate()
    }

    fn path_of(json: &str) -> String {
        match parse(json) {
            Ok(_) => "accepted".into(),
            Err(e) => e.path,
        }
    }

    #[test]
    fn the_documented_example_is_valid() {
        let event = parse(
            r#"{"site": "Shop.Example", "name": "purchase", "url": "https://shop.example/p/1?utm_source=x",
                "referrer": "https://www.google.com/", "props": {"plan": "gold", "logged_in": true, "n": 3, "x": 1.5},
                "revenue": {"amount": "12.50", "currency": "eur"}, "order_id": "1001",
                "items": [{"id": "p-1", "name": "Green Tea", "category": "Tea", "quantity": 2, "price": "4.50"}],
                "ux": {"scroll_depth": 80}}"#,
        )
        .expect("valid");
        assert_eq!(event.site.as_str(), "shop.example");
        let padded =
            r#"{"site":"a.example","name":"x","url":"https://a.example/","revenue":{"amount":"1","currency":" eur "}}"#;
        assert!(parse(padded).is_ok(), "currency codes are trimmed wherever they are given");
        assert_eq!(event.revenue.map(|m| (m.amount_e4(), m.currency().to_owned())), Some((125_000, "EUR".into())));
        assert_eq!(
            event.props,
            vec![
                ("plan".into(), "gold".into()),
                ("logged_in".into(), "true".into()),
                ("n".into(), "3".into()),
                ("x".into(), "1.5".into())
            ],
            "properties keep the order given"
        );
        assert_eq!(event.items[0].price_e4, 45_000);
        assert_eq!(event.items[0].quantity, 2);
    }

    #[test]
    fn item_prices_take_the_event_currency_without_revenue() {
        let event = parse(
            r#"{"site":"a.example","name":"add_to_cart","url":"https://a.example/","currency":"eur",
                "items":[{"id":"p-1","price":"4.5","quantity":2}]}"#,
        )
        .expect("valid");
        assert_eq!(event.revenue, None, "a cart event carries no revenue");
        assert_eq!(event.currency.map(|c| c.as_str().to_owned()), Some("EUR".into()));
        assert_eq!(event.items[0].price_e4, 45_000);
    }

    #[test]
    fn numeric_amounts_read_as_decimals() {
        for (amount, want) in [("12.5", 125_000), ("3", 30_000), ("0.0001", 1)] {
            let json = format!(
                r#"{{"site":"a.example","name":"purchase","url":"https://a.example/","revenue":{{"amount":{amount},"currency":"EUR"}}}}"#
            );
            assert_eq!(parse(&json).ok().and_then(|e| e.revenue).map(|m| m.amount_e4()), Some(want), "amount {amount}");
        }
    }

    #[test]
    fn invalid_fields_are_named_by_their_path() {
        let base = r#""site":"a.example","url":"https://a.example/""#;
        for (json, path) in [
            (format!(r#"{{{base},"name":""}}"#), "name"),
            (r#"{"site":"a_b","name":"x","url":"https://a.example/"}"#.to_owned(), "site"),
            (format!(r#"{{{base},"name":"x","revenue":{{"amount":"1.23456","currency":"EUR"}}}}"#), "revenue.amount"),
            (format!(r#"{{{base},"name":"x","revenue":{{"amount":"1","currency":"EURO"}}}}"#), "revenue.currency"),
            (format!(r#"{{{base},"name":"x","items":[{{"id":"a"}},{{"id":"b","quantity":0}}]}}"#), "items[1].quantity"),
            (format!(r#"{{{base},"name":"x","items":[{{"id":"a","price":"1"}}]}}"#), "items[0].price"),
            (
                format!(r#"{{{base},"name":"x","currency":"EUR","items":[{{"id":"a","price":"-2"}}]}}"#),
                "items[0].price",
            ),
            (format!(r#"{{{base},"name":"x","currency":"EU"}}"#), "currency"),
            (
                format!(r#"{{{base},"name":"x","currency":"USD","revenue":{{"amount":"1","currency":"EUR"}}}}"#),
                "currency",
            ),
            (format!(r#"{{{base},"name":"x","items":[{{"id":" "}}]}}"#), "items[0].id"),
            (format!(r#"{{{base},"name":"x","ux":{{"scroll_depth":101}}}}"#), "ux.scroll_depth"),
            (format!(r#"{{{base},"name":"x","ux":{{"vital":{{"name":"FID","value":1}}}}}}"#), "ux.vital.name"),
            (format!(r#"{{{base},"name":"x","ux":{{"vital":{{"name":"LCP","value":-1}}}}}}"#), "ux.vital.value"),
            (format!(r#"{{{base},"name":"x","search":{{"query":"a","position":0}}}}"#), "search.position"),
            (format!(r#"{{{base},"name":"x","age_ms":1800001}}"#), "age_ms"),
            (format!(r#"{{{base},"name":"x","props":{{"k":"{}"}}}}"#, "v".repeat(257)), "props.k"),
            (format!(r#"{{{base},"name":"x","url":""}}"#), "json"),
            (r#"{"site":"a.example","name":"x","url":" "}"#.to_owned(), "url"),
        ] {
            assert_eq!(path_of(&json), path, "input {json}");
        }
    }

    #[test]
    fn too_many_props_or_items_are_refused() {
        let props: Vec<String> = (0..31).map(|i| format!(r#""k{i}":"v""#)).collect();
        let json =
            format!(r#"{{"site":"a.example","name":"x","url":"https://a.example/","props":{{{}}}}}"#, props.join(","));
        assert_eq!(path_of(&json), "props");
        let items: Vec<&str> = vec![r#"{"id":"a"}"#; 51];
        let json =
            format!(r#"{{"site":"a.example","name":"x","url":"https://a.example/","items":[{}]}}"#, items.join(","));
        assert_eq!(path_of(&json), "items");
    }

    #[test]
    fn reserved_event_names_need_their_fields() {
        let base = r#""site":"a.example","url":"https://a.example/""#;
        for (rest, path) in [
            (r#""name":"search""#, "search.query"),
            (r#""name":"search","search":{"query":"  "}"#, "search.query"),
            (r#""name":"search_click","search":{"query":"tea"}"#, "search.position"),
            (r#""name":"engagement""#, "ux.scroll_depth"),
            (r#""name":"rage_click""#, "ux.selector"),
            (r#""name":"web_vital""#, "ux.vital"),
            (r#""name":"js_error""#, "ux.error"),
            (r#""name":"outbound_click""#, "props.url"),
        ] {
            assert_eq!(path_of(&format!("{{{base},{rest}}}")), path, "{rest}");
        }
        for rest in [
            r#""name":"search","search":{"query":"tea","results":0}"#,
            r#""name":"search_click","search":{"position":3}"#,
            r#""name":"engagement","ux":{"engaged_ms":1000}"#,
            r#""name":"dead_click","ux":{"selector":"button.x"}"#,
            r#""name":"web_vital","ux":{"vital":{"name":"cls","value":0.12}}"#,
            r#""name":"js_error","ux":{"error":{"message":"boom"}}"#,
            r#""name":"file_download","props":{"url":"https://a.example/x.pdf"}"#,
            r#""name":"newsletter_signup""#,
        ] {
            assert_eq!(path_of(&format!("{{{base},{rest}}}")), "accepted", "{rest}");
        }
    }

    #[test]
    fn only_json_objects_are_structs_and_property_keys_are_unique() {
        for json in [
            r#"["a.example","pageview","https://a.example/"]"#,
            r#"{"site":"a.example","name":"x","url":"https://a.example/","ux":[80]}"#,
            r#"{"site":"a.example","name":"x","url":"https://a.example/","revenue":["12.50","EUR"]}"#,
            r#"{"site":"a.example","name":"x","url":"https://a.example/","items":[["p-1"]]}"#,
            r#"{"site":"a.example","name":"x","url":"https://a.example/","search":["tea"]}"#,
            r#"{"site":"a.example","name":"x","url":"https://a.example/","props":{"plan":"gold","plan":"silver"}}"#,
            r#"{"site":"a.example","name":"x","url":"https://a.example/","props":[["plan","gold"]]}"#,
        ] {
            assert!(serde_json::from_str::<Obj<WireEvent>>(json).is_err(), "{json}");
        }
        let ok = r#"{"site":"a.example","name":"x","url":"https://a.example/","ux":{"scroll_depth":80}}"#;
        assert!(serde_json::from_str::<Obj<WireEvent>>(ok).is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = r#"{"site":"a.example","name":"x","url":"https://a.example/","revenu":{}}"#;
        let err = serde_json::from_str::<WireEvent>(json).map(|_| ()).map_err(|e| e.to_string());
        assert!(err.as_ref().is_err_and(|e| e.contains("unknown field `revenu`")), "{err:?}");
    }
}
