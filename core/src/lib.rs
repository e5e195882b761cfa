//! Larder's pure domain library.
//!
//! Owns the validated values every other crate passes around: the site domain, the event and
//! its parts (e-commerce, site search, UX signals, dimensions), and the identifiers derived at
//! ingestion. Nothing here performs I/O or depends on tokio, actix, ClickHouse or maxminddb,
//! so its tests are fast and need nothing.

pub mod event;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod query;
pub mod referrer;
pub mod site;
pub mod url;
pub mod wire;

pub use event::{
    Currency, DeviceType, Dimensions, Event, EventId, EventName, Item, JsError, Money, Pathname, Search, SessionId, Ux,
    ValidationError, VisitorId, WebVital, WebVitalName,
};
pub use site::SiteDomain;
