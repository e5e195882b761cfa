//! The query vocabulary shared by the API and the store: periods and date ranges, intervals,
//! dimensions and filters. Parsed once from request text into these types; SQL is built only
//! from them (identifiers from a `match`, values quoted), never from request text.
//!
//! Filter syntax (the `filter` query parameter, repeated for AND):
//! `<dimension><op><value>[|<value>…]` with `op` one of `==` (is), `!=` (is not), `~=`
//! (contains), `!~` (does not contain); `|` separates alternatives (OR). Examples:
//! `source==Google|DuckDuckGo`, `page~=/p/`, `country!=US`, `prop:plan==gold`.

use chrono::{Datelike, Duration, NaiveDate};

use crate::event::ValidationError;

/// A span of whole days in the site's time zone, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    /// # Errors
    /// Field `to` when it is before `from`, or the range is longer than ten years.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, ValidationError> {
        if to < from {
            return Err(ValidationError::Invalid { field: "to", reason: "must not be before from" });
        }
        if (to - from).num_days() > 3_660 {
            return Err(ValidationError::Invalid { field: "to", reason: "a range is at most ten years" });
        }
        Ok(Self { from, to })
    }

    /// Days in the range.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The range of the same length that ends the day before this one starts.
    pub fn previous(&self) -> Self {
        let to = self.from - Duration::days(1);
        Self { from: to - Duration::days(self.days() - 1), to }
    }

    /// The interval a time series over this range uses unless asked otherwise.
    pub fn default_interval(&self) -> Interval {
        match self.days() {
            1 => Interval::Hour,
            2..=62 => Interval::Day,
            63..=400 => Interval::Week,
            _ => Interval::Month,
        }
    }
}

/// A named period, resolved against the site's today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Today,
    Yesterday,
    Last7Days,
    Last30Days,
    ThisMonth,
    LastMonth,
    Last12Months,
    Custom(DateRange),
}

impl Period {
    /// Parses `today`, `yesterday`, `7d`, `30d`, `month`, `last_month`, `12mo`, or `custom`
    /// with `from` and `to` (`YYYY-MM-DD`).
    ///
    /// # Errors
    /// Field `period`, `from` or `to`.
    pub fn parse(raw: &str, from: Option<&str>, to: Option<&str>) -> Result<Self, ValidationError> {
        let date = |field: &'static str, text: Option<&str>| {
            let text = text.ok_or(ValidationError::Invalid { field, reason: "is required for a custom period" })?;
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| ValidationError::Invalid { field, reason: "must be a date YYYY-MM-DD" })
        };
        Ok(match raw {
            "today" | "day" => Self::Today,
            "yesterday" => Self::Yesterday,
            "7d" => Self::Last7Days,
            "30d" => Self::Last30Days,
            "month" => Self::ThisMonth,
            "last_month" => Self::LastMonth,
            "12mo" => Self::Last12Months,
            "custom" => Self::Custom(DateRange::new(date("from", from)?, date("to", to)?)?),
            _ => {
                return Err(ValidationError::Invalid {
                    field: "period",
                    reason: "must be today, yesterday, 7d, 30d, month, last_month, 12mo or custom",
                });
            }
        })
    }

    /// The days this period covers when the site's date is `today`.
    pub fn resolve(&self, today: NaiveDate) -> DateRange {
        let days_back = |n: i64| DateRange { from: today - Duration::days(n - 1), to: today };
        let first_of_month = today.with_day(1).unwrap_or(today);
        match self {
            Self::Today => DateRange { from: today, to: today },
            Self::Yesterday => {
                let day = today - Duration::days(1);
                DateRange { from: day, to: day }
            }
            Self::Last7Days => days_back(7),
            Self::Last30Days => days_back(30),
            Self::ThisMonth => DateRange { from: first_of_month, to: today },
            Self::LastMonth => {
                let to = first_of_month - Duration::days(1);
                DateRange { from: to.with_day(1).unwrap_or(to), to }
            }
            Self::Last12Months => {
                // The current month and the eleven before it.
                let from = first_of_month.checked_sub_months(chrono::Months::new(11)).unwrap_or(first_of_month);
                DateRange { from, to: today }
            }
            Self::Custom(range) => *range,
        }
    }
}

/// The bucket width of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
    Week,
    Month,
}

impl Interval {
    /// # Errors
    /// Field `interval`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            _ => Err(ValidationError::Invalid { field: "interval", reason: "must be hour, day, week or month" }),
        }
    }
}

/// Something events or visits are grouped or filtered by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// The page of a page view (event level).
    Page,
    /// The first page of a visit.
    EntryPage,
    /// The last page of a visit.
    ExitPage,
    Hostname,
    /// Where the visit came from: `Google`, `Newsletter`, a referring host.
    Source,
    /// The referring host of the visit.
    Referrer,
    /// `search`, `social`, `email`, `paid`, `referral`, `direct`.
    Medium,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    UtmTerm,
    UtmContent,
    Country,
    Region,
    City,
    Device,
    Browser,
    BrowserVersion,
    Os,
    OsVersion,
    /// The event's name (goals, e-commerce steps, custom events).
    EventName,
    /// A custom property's value (event level).
    Prop(String),
}

impl Dimension {
    /// Parses `page`, `entry_page`, `exit_page`, `hostname`, `source`, `referrer`, `medium`,
    /// `utm_source`…`utm_content`, `country`, `region`, `city`, `device`, `browser`,
    /// `browser_version`, `os`, `os_version`, `event`, or `prop:<key>`.
    ///
    /// # Errors
    /// Field `dimension`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Ok(match raw {
            "page" => Self::Page,
            "entry_page" => Self::EntryPage,
            "exit_page" => Self::ExitPage,
            "hostname" => Self::Hostname,
            "source" => Self::Source,
            "referrer" => Self::Referrer,
            "medium" => Self::Medium,
            "utm_source" => Self::UtmSource,
            "utm_medium" => Self::UtmMedium,
            "utm_campaign" => Self::UtmCampaign,
            "utm_term" => Self::UtmTerm,
            "utm_content" => Self::UtmContent,
            "country" => Self::Country,
            "region" => Self::Region,
            "city" => Self::City,
            "device" => Self::Device,
            "browser" => Self::Browser,
            "browser_version" => Self::BrowserVersion,
            "os" => Self::Os,
            "os_version" => Self::OsVersion,
            "event" => Self::EventName,
            other => match other.strip_prefix("prop:") {
                Some(key) if !key.is_empty() && key.len() <= 64 && !key.chars().any(char::is_control) => {
                    Self::Prop(key.to_owned())
                }
                _ => return Err(ValidationError::Invalid { field: "dimension", reason: "unknown dimension" }),
            },
        })
    }

    /// The name [`Dimension::parse`] reads.
    pub fn name(&self) -> String {
        match self {
            Self::Page => "page".into(),
            Self::EntryPage => "entry_page".into(),
            Self::ExitPage => "exit_page".into(),
            Self::Hostname => "hostname".into(),
            Self::Source => "source".into(),
            Self::Referrer => "referrer".into(),
            Self::Medium => "medium".into(),
            Self::UtmSource => "utm_source".into(),
            Self::UtmMedium => "utm_medium".into(),
            Self::UtmCampaign => "utm_campaign".into(),
            Self::UtmTerm => "utm_term".into(),
            Self::UtmContent => "utm_content".into(),
            Self::Country => "country".into(),
            Self::Region => "region".into(),
            Self::City => "city".into(),
            Self::Device => "device".into(),
            Self::Browser => "browser".into(),
            Self::BrowserVersion => "browser_version".into(),
            Self::Os => "os".into(),
            Self::OsVersion => "os_version".into(),
            Self::EventName => "event".into(),
            Self::Prop(key) => format!("prop:{key}"),
        }
    }

    /// Whether the dimension describes a visit (its value is the visit's, e.g. where it came
    /// from) rather than single events (a page, an event name, a property).
    pub fn is_visit_level(&self) -> bool {
        !matches!(self, Self::Page | Self::EventName | Self::Prop(_) | Self::Hostname)
    }
}

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Is,
    IsNot,
    Contains,
    DoesNotContain,
}

/// One condition: the dimension compared with any of the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub dimension: Dimension,
    pub op: FilterOp,
    pub values: Vec<String>,
}

impl Filter {
    /// Parses the filter syntax of the module documentation.
    ///
    /// # Errors
    /// Field `filter`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = |reason| ValidationError::Invalid { field: "filter", reason };
        if raw.len() > 2_000 {
            return Err(invalid("a filter is at most 2000 bytes"));
        }
        let (at, op, len) = [
            ("!=", FilterOp::IsNot),
            ("!~", FilterOp::DoesNotContain),
            ("==", FilterOp::Is),
            ("~=", FilterOp::Contains),
        ]
        .iter()
        .filter_map(|(token, op)| raw.find(token).map(|at| (at, *op, token.len())))
        .min_by_key(|(at, _, _)| *at)
        .ok_or(invalid("must look like dimension==value, !=, ~= or !~"))?;
        let dimension = Dimension::parse(&raw[..at]).map_err(|_| invalid("unknown dimension"))?;
        let values: Vec<String> = raw[at + len..].split('|').map(str::to_owned).collect();
        if values.len() > 50 {
            return Err(invalid("at most 50 alternatives"));
        }
        if values.iter().any(|v| v.chars().any(char::is_control)) {
            return Err(invalid("values must not contain control characters"));
        }
        Ok(Self { dimension, op, values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn periods_resolve_against_the_sites_today() {
        let today = day("2026-11-24");
        for (raw, from, to) in [
            ("today", "2026-11-24", "2026-11-24"),
            ("yesterday", "2026-11-23", "2026-11-23"),
            ("7d", "2026-11-18", "2026-11-24"),
            ("30d", "2026-10-26", "2026-11-24"),
            ("month", "2026-11-01", "2026-11-24"),
            ("last_month", "2026-10-01", "2026-10-31"),
            ("12mo", "2025-12-01", "2026-11-24"),
        ] {
            let range = Period::parse(raw, None, None).map(|p| p.resolve(today));
            assert_eq!(range, Ok(DateRange { from: day(from), to: day(to) }), "{raw}");
        }
        let custom = Period::parse("custom", Some("2026-01-05"), Some("2026-01-09")).map(|p| p.resolve(today));
        assert_eq!(custom.map(|r| r.days()), Ok(5));
        assert!(Period::parse("custom", Some("2026-01-09"), Some("2026-01-05")).is_err(), "reversed");
        assert!(Period::parse("custom", Some("2026-01-09"), None).is_err(), "missing end");
        assert!(Period::parse("forever", None, None).is_err());
    }

    #[test]
    fn the_previous_range_has_the_same_length_and_ends_the_day_before() {
        let range = DateRange { from: day("2026-11-01"), to: day("2026-11-30") };
        assert_eq!(range.previous(), DateRange { from: day("2026-10-02"), to: day("2026-10-31") });
    }

    #[test]
    fn filters_parse_every_operator_and_alternatives() {
        for (raw, dim, op, values) in [
            ("source==Google|DuckDuckGo", Dimension::Source, FilterOp::Is, vec!["Google", "DuckDuckGo"]),
            ("page~=/p/", Dimension::Page, FilterOp::Contains, vec!["/p/"]),
            ("country!=US", Dimension::Country, FilterOp::IsNot, vec!["US"]),
            ("page!~/cart", Dimension::Page, FilterOp::DoesNotContain, vec!["/cart"]),
            ("prop:plan==gold", Dimension::Prop("plan".into()), FilterOp::Is, vec!["gold"]),
            ("page==/a==b", Dimension::Page, FilterOp::Is, vec!["/a==b"]),
            ("utm_campaign==", Dimension::UtmCampaign, FilterOp::Is, vec![""]),
        ] {
            let want = Filter { dimension: dim, op, values: values.into_iter().map(str::to_owned).collect() };
            assert_eq!(Filter::parse(raw), Ok(want), "{raw}");
        }
        for raw in ["", "source", "nope==x", "source=Google", "prop:==x"] {
            assert!(Filter::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn dimension_names_round_trip() {
        for name in ["page", "entry_page", "source", "utm_campaign", "country", "device", "event", "prop:plan"] {
            assert_eq!(Dimension::parse(name).map(|d| d.name()), Ok(name.to_owned()));
        }
    }
}
