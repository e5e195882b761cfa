//! A user's email address: the account's name.

/// A plausible email address, lowercased: `local@domain` in ASCII letters, digits and `.+-_`
/// (the domain without `+` and `_`), at most 254 bytes — so that it is safe in a URL path and a
/// log line as it is. Exists only through [`Email::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses an address, trimming it and lowercasing it (accounts are case-insensitive).
    ///
    /// # Errors
    /// Why the text is not an address.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let text = raw.trim().to_lowercase();
        if text.is_empty() {
            return Err("must not be empty");
        }
        if text.len() > 254 {
            return Err("longer than 254 bytes");
        }
        let Some((local, domain)) = text.split_once('@') else {
            return Err("must contain @");
        };
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err("must be one name, @, and a domain");
        }
        let allowed_local = |c: char| c.is_ascii_alphanumeric() || ".+-_".contains(c);
        if !local.chars().all(allowed_local) {
            return Err("the part before @ has characters addresses do not use");
        }
        let allowed_domain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if !domain.chars().all(allowed_domain) || domain.starts_with('.') || domain.ends_with('.') {
            return Err("the part after @ is not a domain");
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_lowercased_and_checked() {
        for (raw, want) in [
            (" Alice@Shop.Example ", Ok("alice@shop.example")),
            ("a.b+tag@mail.shop.example", Ok("a.b+tag@mail.shop.example")),
            ("localhost-user@localhost", Ok("localhost-user@localhost")),
            ("", Err("must not be empty")),
            ("no-at.example", Err("must contain @")),
            ("a@b@c", Err("must be one name, @, and a domain")),
            ("@shop.example", Err("must be one name, @, and a domain")),
            ("a b@shop.example", Err("the part before @ has characters addresses do not use")),
            ("\"a\"@shop.example", Err("the part before @ has characters addresses do not use")),
            ("a/b?c#d@shop.example", Err("the part before @ has characters addresses do not use")),
            ("a@shop_example", Err("the part after @ is not a domain")),
            ("a@.shop.example", Err("the part after @ is not a domain")),
        ] {
            assert_eq!(Email::parse(raw).as_ref().map(Email::as_str).map_err(|e| *e), want, "input {raw:?}");
        }
        assert!(Email::parse(&format!("{}@x.example", "a".repeat(250))).is_err(), "too long");
    }
}
