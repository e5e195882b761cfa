//! Row types: how core values are laid out in ClickHouse tables.

use chrono::{DateTime, Utc};
use larder_core::{
    Currency, DeviceType, Dimensions, Event, EventId, EventName, Item, JsError, Money, Pathname, Search, SessionId,
    SiteDomain, Ux, VisitorId, WebVital, WebVitalName,
};

use crate::error::StoreError;
use crate::rowbinary::{Reader, Row, Writer};

/// One row of the `events` table. Columns and their meaning are in `migrations/0001_schema_v1.sql`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventRow {
    pub event_id: uuid::Uuid,
    pub site: String,
    /// Seconds since the Unix epoch, UTC.
    pub timestamp: u32,
    pub name: String,
    pub visitor_id: u64,
    pub session_id: u64,
    pub hostname: String,
    pub pathname: String,
    pub referrer_host: String,
    pub referrer_source: String,
    pub referrer_medium: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_term: String,
    pub utm_content: String,
    pub country: String,
    pub region: String,
    pub city: String,
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    pub device: String,
    pub props_key: Vec<String>,
    pub props_value: Vec<String>,
    /// `Decimal(18, 4)` as its scaled integer.
    pub revenue_e4: Option<i64>,
    pub currency: String,
    pub order_id: String,
    pub items_product_id: Vec<String>,
    pub items_name: Vec<String>,
    pub items_category: Vec<String>,
    pub items_quantity: Vec<u32>,
    pub items_price_e4: Vec<i64>,
    pub search_query: String,
    pub search_results: Option<u32>,
    pub search_position: Option<u16>,
    pub search_product: String,
    pub scroll_depth: Option<u8>,
    pub engaged_ms: Option<u32>,
    pub selector: String,
    pub vital_name: String,
    pub vital_value: Option<f64>,
    pub error_message: String,
    pub error_source: String,
    pub error_line: Option<u32>,
}

impl Row for EventRow {
    const TABLE: &'static str = "events";
    /// The collector's spool keeps accepted rows in this encoding and inserts them as they are:
    /// changing the columns or their order changes the spool's format (a test there says so).
    const COLUMNS: &'static [&'static str] = &[
        "event_id",
        "site",
        "timestamp",
        "name",
        "visitor_id",
        "session_id",
        "hostname",
        "pathname",
        "referrer_host",
        "referrer_source",
        "referrer_medium",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "country",
        "region",
        "city",
        "browser",
        "browser_version",
        "os",
        "os_version",
        "device",
        "props.key",
        "props.value",
        "revenue",
        "currency",
        "order_id",
        "items.product_id",
        "items.name",
        "items.category",
        "items.quantity",
        "items.price",
        "search_query",
        "search_results",
        "search_position",
        "search_product",
        "scroll_depth",
        "engaged_ms",
        "selector",
        "vital_name",
        "vital_value",
        "error_message",
        "error_source",
        "error_line",
    ];

    fn encode(&self, w: &mut Writer) {
        w.uuid(self.event_id);
        w.str(&self.site);
        w.u32(self.timestamp);
        w.str(&self.name);
        w.u64(self.visitor_id);
        w.u64(self.session_id);
        for text in [
            &self.hostname,
            &self.pathname,
            &self.referrer_host,
            &self.referrer_source,
            &self.referrer_medium,
            &self.utm_source,
            &self.utm_medium,
            &self.utm_campaign,
            &self.utm_term,
            &self.utm_content,
            &self.country,
            &self.region,
            &self.city,
            &self.browser,
            &self.browser_version,
            &self.os,
            &self.os_version,
            &self.device,
        ] {
            w.str(text);
        }
        w.array(&self.props_key, |w, s| w.str(s));
        w.array(&self.props_value, |w, s| w.str(s));
        w.nullable(self.revenue_e4, Writer::i64);
        w.str(&self.currency);
        w.str(&self.order_id);
        w.array(&self.items_product_id, |w, s| w.str(s));
        w.array(&self.items_name, |w, s| w.str(s));
        w.array(&self.items_category, |w, s| w.str(s));
        w.array(&self.items_quantity, |w, q| w.u32(*q));
        w.array(&self.items_price_e4, |w, p| w.i64(*p));
        w.str(&self.search_query);
        w.nullable(self.search_results, Writer::u32);
        w.nullable(self.search_position, Writer::u16);
        w.str(&self.search_product);
        w.nullable(self.scroll_depth, Writer::u8);
        w.nullable(self.engaged_ms, Writer::u32);
        w.str(&self.selector);
        w.str(&self.vital_name);
        w.nullable(self.vital_value, Writer::f64);
        w.str(&self.error_message);
        w.str(&self.error_source);
        w.nullable(self.error_line, Writer::u32);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            event_id: r.uuid()?,
            site: r.string()?,
            timestamp: r.u32()?,
            name: r.string()?,
            visitor_id: r.u64()?,
            session_id: r.u64()?,
            hostname: r.string()?,
            pathname: r.string()?,
            referrer_host: r.string()?,
            referrer_source: r.string()?,
            referrer_medium: r.string()?,
            utm_source: r.string()?,
            utm_medium: r.string()?,
            utm_campaign: r.string()?,
            utm_term: r.string()?,
            utm_content: r.string()?,
            country: r.string()?,
            region: r.string()?,
            city: r.string()?,
            browser: r.string()?,
            browser_version: r.string()?,
            os: r.string()?,
            os_version: r.string()?,
            device: r.string()?,
            props_key: r.array(Reader::string)?,
            props_value: r.array(Reader::string)?,
            revenue_e4: r.nullable(Reader::i64)?,
            currency: r.string()?,
            order_id: r.string()?,
            items_product_id: r.array(Reader::string)?,
            items_name: r.array(Reader::string)?,
            items_category: r.array(Reader::string)?,
            items_quantity: r.array(Reader::u32)?,
            items_price_e4: r.array(Reader::i64)?,
            search_query: r.string()?,
            search_results: r.nullable(Reader::u32)?,
            search_position: r.nullable(Reader::u16)?,
            search_product: r.string()?,
            scroll_depth: r.nullable(Reader::u8)?,
            engaged_ms: r.nullable(Reader::u32)?,
            selector: r.string()?,
            vital_name: r.string()?,
            vital_value: r.nullable(Reader::f64)?,
            error_message: r.string()?,
            error_source: r.string()?,
            error_line: r.nullable(Reader::u32)?,
        })
    }
}

impl From<&Event> for EventRow {
    fn from(e: &Event) -> Self {
        Self::from(e.clone())
    }
}

impl From<Event> for EventRow {
    /// The row of an event, moving its strings (the collector's hot path); `From<&Event>` clones first.
    fn from(e: Event) -> Self {
        let d = e.dimensions;
        let (search_query, search_results, search_position, search_product) = match e.search {
            Some(s) => (s.query, s.result_count, s.clicked_position, s.clicked_product),
            None => (String::new(), None, None, String::new()),
        };
        let (error_message, error_source, error_line) = match e.ux.error {
            Some(x) => (x.message, x.source, Some(x.line)),
            None => (String::new(), String::new(), None),
        };
        let (props_key, props_value) = e.props.into_iter().unzip();
        let mut row = Self {
            event_id: e.id.as_uuid(),
            site: e.site.as_str().to_owned(),
            timestamp: u32::try_from(e.timestamp.timestamp()).unwrap_or(0),
            name: e.name.as_str().to_owned(),
            visitor_id: e.visitor_id.0,
            session_id: e.session_id.0,
            hostname: e.hostname,
            pathname: e.pathname.as_str().to_owned(),
            referrer_host: d.referrer_host,
            referrer_source: d.referrer_source,
            referrer_medium: d.referrer_medium,
            utm_source: d.utm_source,
            utm_medium: d.utm_medium,
            utm_campaign: d.utm_campaign,
            utm_term: d.utm_term,
            utm_content: d.utm_content,
            country: d.country,
            region: d.region,
            city: d.city,
            browser: d.browser,
            browser_version: d.browser_version,
            os: d.os,
            os_version: d.os_version,
            device: d.device.as_str().to_owned(),
            props_key,
            props_value,
            revenue_e4: e.revenue.map(|m| m.amount_e4()),
            currency: e.currency.map(|c| c.as_str().to_owned()).unwrap_or_default(),
            order_id: e.order_id,
            items_product_id: Vec::with_capacity(e.items.len()),
            items_name: Vec::with_capacity(e.items.len()),
            items_category: Vec::with_capacity(e.items.len()),
            items_quantity: Vec::with_capacity(e.items.len()),
            items_price_e4: Vec::with_capacity(e.items.len()),
            search_query,
            search_results,
            search_position,
            search_product,
            scroll_depth: e.ux.scroll_depth_pct,
            engaged_ms: e.ux.engaged_ms,
            selector: e.ux.selector,
            vital_name: e.ux.vital.map(|v| v.name.as_str().to_owned()).unwrap_or_default(),
            vital_value: e.ux.vital.map(|v| v.value),
            error_message,
            error_source,
            error_line,
        };
        for item in e.items {
            row.items_product_id.push(item.product_id);
            row.items_name.push(item.name);
            row.items_category.push(item.category);
            row.items_quantity.push(item.quantity);
            row.items_price_e4.push(item.price_e4);
        }
        row
    }
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;

    /// Rebuilds the domain event from a stored row (used by exports and tests).
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        let invalid = |e: larder_core::ValidationError| StoreError::Decode(format!("stored event is invalid: {e}"));
        let revenue = match r.revenue_e4 {
            Some(amount) => Some(Money::from_e4(amount, &r.currency).map_err(invalid)?),
            None => None,
        };
        let has_search = !r.search_query.is_empty() || r.search_results.is_some() || r.search_position.is_some();
        let vital = if r.vital_name.is_empty() {
            None
        } else {
            Some(WebVital {
                name: WebVitalName::parse(&r.vital_name).map_err(invalid)?,
                value: r.vital_value.unwrap_or(0.0),
            })
        };
        let items = (0..r.items_product_id.len())
            .map(|i| Item {
                product_id: r.items_product_id[i].clone(),
                name: r.items_name.get(i).cloned().unwrap_or_default(),
                category: r.items_category.get(i).cloned().unwrap_or_default(),
                quantity: r.items_quantity.get(i).copied().unwrap_or_default(),
                price_e4: r.items_price_e4.get(i).copied().unwrap_or_default(),
            })
            .collect();
        Ok(Event {
            id: EventId::from_uuid(r.event_id),
            site: SiteDomain::parse(&r.site).map_err(invalid)?,
            timestamp: DateTime::<Utc>::from_timestamp(i64::from(r.timestamp), 0).unwrap_or_default(),
            name: EventName::parse(&r.name).map_err(invalid)?,
            visitor_id: VisitorId(r.visitor_id),
            session_id: SessionId(r.session_id),
            hostname: r.hostname,
            pathname: Pathname::parse(&r.pathname).map_err(invalid)?,
            dimensions: Dimensions {
                referrer_host: r.referrer_host,
                referrer_source: r.referrer_source,
                referrer_medium: r.referrer_medium,
                utm_source: r.utm_source,
                utm_medium: r.utm_medium,
                utm_campaign: r.utm_campaign,
                utm_term: r.utm_term,
                utm_content: r.utm_content,
                country: r.country,
                region: r.region,
                city: r.city,
                browser: r.browser,
                browser_version: r.browser_version,
                os: r.os,
                os_version: r.os_version,
                device: DeviceType::from_stored(&r.device),
            },
            props: r.props_key.into_iter().zip(r.props_value).collect(),
            revenue,
            currency: if r.currency.is_empty() { None } else { Some(Currency::parse(&r.currency).map_err(invalid)?) },
            order_id: r.order_id,
            items,
            search: has_search.then_some(Search {
                query: r.search_query,
                result_count: r.search_results,
                clicked_position: r.search_position,
                clicked_product: r.search_product,
            }),
            ux: Ux {
                scroll_depth_pct: r.scroll_depth,
                engaged_ms: r.engaged_ms,
                selector: r.selector,
                vital,
                error: (!r.error_message.is_empty() || r.error_line.is_some()).then_some(JsError {
                    message: r.error_message,
                    source: r.error_source,
                    line: r.error_line.unwrap_or(0),
                }),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rowbinary::{decode_rows, encode_rows};

    #[test]
    fn event_row_round_trips_through_rowbinary() {
        let row = EventRow {
            event_id: uuid::Uuid::now_v7(),
            site: "shop.example".into(),
            timestamp: 1_700_000_000,
            name: "purchase".into(),
            props_key: vec!["plan".into()],
            props_value: vec!["gold".into()],
            revenue_e4: Some(125_000),
            currency: "EUR".into(),
            items_product_id: vec!["p1".into(), "p2".into()],
            items_name: vec!["Tea".into(), "Cup".into()],
            items_category: vec!["Drinks".into(), "Kitchen".into()],
            items_quantity: vec![2, 1],
            items_price_e4: vec![25_000, 75_000],
            search_results: Some(0),
            vital_value: Some(0.25),
            error_line: Some(12),
            ..EventRow::default()
        };
        let bytes = encode_rows(std::slice::from_ref(&row));
        assert_eq!(decode_rows::<EventRow>(&bytes).ok(), Some(vec![row]));
    }

    #[test]
    fn column_list_matches_the_schema_file() {
        let schema = include_str!("../../migrations/0001_schema_v1.sql");
        let table = schema.split("CREATE TABLE IF NOT EXISTS events").nth(1).and_then(|s| s.split("ENGINE").next());
        let table = table.unwrap_or_default();
        for column in EventRow::COLUMNS {
            let base = column.split('.').next().unwrap_or(column);
            assert!(table.contains(&format!("    {base} ")), "column {column} is in the schema");
        }
    }
}
