//! Building SQL safely. Values go through [`quote`]; identifiers are checked with
//! [`is_identifier`] or come from a `match` over validated enums, never from a request.
//!
//! Server-side query parameters (`{name:Type}`) would be nicer but ClickHouse 18.16 lacks them,
//! and queries are not forked per engine.

/// A ClickHouse string literal for `value`, with `\` and `'` escaped.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// An `Array(String)` literal.
pub fn quote_array(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("[{}]", items.join(", "))
}

/// Whether `name` is a plain identifier: ASCII letter or `_`, then letters, digits, `_`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_what_would_end_the_literal() {
        for (raw, want) in [
            ("plain", "'plain'"),
            ("it's", r"'it\'s'"),
            (r"back\slash", r"'back\\slash'"),
            (r"\'); DROP TABLE events; --", r"'\\\'); DROP TABLE events; --'"),
            ("nul\0byte", r"'nul\0byte'"),
        ] {
            assert_eq!(quote(raw), want, "input {raw:?}");
        }
    }

    #[test]
    fn identifiers_are_plain_words() {
        for ok in ["larder", "_x", "db_1"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1db", "a-b", "a b", "a;b", "`a`"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }
}
