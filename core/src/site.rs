//! The site a store owner registers: a lowercase DNS host name.

use std::fmt;

use crate::event::ValidationError;

/// A registered site, named by its domain (`shop.example`).
///
/// Exists only through [`SiteDomain::parse`]: lowercase ASCII labels of letters, digits and
/// hyphens separated by dots, at most 253 bytes, each label 1..=63 bytes and not starting or
/// ending with a hyphen. Internationalised names must be given in their `xn--` form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SiteDomain(String);

impl SiteDomain {
    /// Parses a site domain, lowercasing ASCII letters and dropping one trailing dot.
    ///
    /// # Errors
    /// [`ValidationError::Invalid`] on field `site` when the text is not a host name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let lowered = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let invalid = |why: &'static str| ValidationError::Invalid { field: "site", reason: why };
        if lowered.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if lowered.len() > 253 {
            return Err(invalid("longer than 253 bytes"));
        }
        for label in lowered.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(invalid("each label must be 1 to 63 bytes"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("a label must not start or end with a hyphen"));
            }
            if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err(invalid("only letters, digits, hyphens and dots are allowed"));
            }
        }
        Ok(Self(lowered))
    }

    /// The domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SiteDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SiteDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SiteDomain({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SiteDomain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_domain_accepts_and_normalises_host_names() {
        for (raw, want) in [
            ("shop.example", "shop.example"),
            ("Shop.Example.", "shop.example"),
            ("localhost", "localhost"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            (" a-b.c0 ", "a-b.c0"),
        ] {
            assert_eq!(SiteDomain::parse(raw).map(|s| s.0), Ok(want.to_owned()), "input {raw:?}");
        }
    }

    #[test]
    fn site_domain_rejects_what_is_not_a_host_name() {
        let long_label = "a".repeat(64);
        let long_name = vec!["abcdefghij"; 24].join(".");
        for raw in ["", ".", "a..b", "-a.b", "a-.b", "a_b.c", "shop.example/path", "ü.example", &long_label, &long_name]
        {
            assert!(
                matches!(SiteDomain::parse(raw), Err(ValidationError::Invalid { field: "site", .. })),
                "input {raw:?} should be rejected"
            );
        }
    }
}
