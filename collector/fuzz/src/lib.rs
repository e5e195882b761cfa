//! What the fuzz targets check besides "never panics": the bounds and privacy promises of
//! `larder_core::url` and `larder_core::referrer`, restated here independently of their
//! scanners so that a bug in one is not mirrored in the other.
//!
//! Each `check_*` function panics (which libFuzzer reports as a crash) when a promise is broken.

use larder_core::referrer::{Medium, classify};
use larder_core::url::{
    MAX_PARAM_BYTES, MAX_SEARCH_QUERY_BYTES, MAX_URL_BYTES, MAX_UTM_BYTES, PageUrl, UrlPolicy, normalise_search_query,
    parse_page_url, redact, referrer_host,
};

/// Longest stored path, as `larder_core::Pathname` promises.
const MAX_PATH_BYTES: usize = 2048;

/// A policy like a configured site's: search parameters and one allow-listed key.
pub fn policy_params() -> (Vec<String>, Vec<String>) {
    (vec!["q".into(), "search".into(), "s".into()], vec!["variant".into(), "color".into()])
}

/// Parses a page URL and checks what is kept of it; `None` when it is refused.
///
/// # Panics
/// When a kept part breaks its bound, the path still holds an e-mail address or a long
/// digit run, or an over-long URL is accepted.
pub fn check_page_url(raw: &str, policy: &UrlPolicy<'_>) -> Option<PageUrl> {
    let page = parse_page_url(raw, policy).ok()?;
    assert!(raw.len() <= MAX_URL_BYTES, "a URL of {} bytes was accepted", raw.len());
    assert!(!page.hostname.is_empty(), "empty host from {raw:?}");
    assert!(!page.hostname.contains(['/', '?', '#', '@']), "host {:?} from {raw:?}", page.hostname);
    assert_eq!(page.hostname, page.hostname.to_ascii_lowercase(), "host not lowercase");

    let path = page.pathname.as_str();
    assert!(path.len() <= MAX_PATH_BYTES, "path of {} bytes", path.len());
    assert!(path.starts_with('/') && !path.contains(['?', '#']), "path {path:?}");
    assert!(!path.chars().any(char::is_control), "control character in path {path:?}");
    let decoded = decode_path_escapes(path);
    assert!(!has_email_shape(&decoded), "e-mail left in path {path:?} from {raw:?}");
    assert!(!has_long_digit_run(&decoded), "long number left in path {path:?} from {raw:?}");

    let utm = &page.utm;
    for value in [&utm.source, &utm.medium, &utm.campaign, &utm.term, &utm.content] {
        assert!(value.len() <= MAX_UTM_BYTES, "UTM value of {} bytes", value.len());
        check_clean(value);
    }
    if let Some(query) = &page.search_query {
        check_search_query_output(query);
    }
    for (key, value) in &page.kept_params {
        assert!(policy.allowed_params.contains(key), "kept a key that is not allow-listed: {key:?}");
        assert!(value.len() <= MAX_PARAM_BYTES, "kept value of {} bytes", value.len());
        check_clean(value);
    }
    Some(page)
}

/// Classifies a referrer against a page and checks the result.
///
/// # Panics
/// When the stored host is not the referrer's host, a click id does not make the visit paid,
/// or a visit without referrer or campaign is not direct.
pub fn check_classify(referrer: Option<&str>, page: &PageUrl) {
    let source = classify(referrer, &page.hostname, &page.utm, page.click_id);
    let host = referrer.and_then(check_referrer_host);
    if let Some(host) = &host {
        assert_eq!(&source.host, host, "stored host differs from the referrer's host");
    }
    if page.click_id.is_some() {
        assert_eq!(source.medium, Medium::Paid, "a click id makes the visit paid");
    }
    if referrer.is_none() && page.utm.is_empty() && page.click_id.is_none() {
        assert_eq!(source.medium, Medium::Direct, "no referrer, no campaign: direct");
        assert!(source.host.is_empty() && source.source.is_empty(), "direct visits name nothing");
    }
    assert!(!source.host.contains(['/', '?', '#']), "referrer host {:?}", source.host);
}

/// The host of a referrer, checked to be a bare host.
///
/// # Panics
/// When the host is empty or carries more than a host.
pub fn check_referrer_host(raw: &str) -> Option<String> {
    let host = referrer_host(raw)?;
    assert!(!host.is_empty() && !host.contains(['/', '?', '#', '@']), "host only: {host:?} from {raw:?}");
    assert_eq!(host, host.to_ascii_lowercase(), "host not lowercase: {host:?}");
    Some(host)
}

/// Redacts free text and checks the result.
///
/// # Panics
/// When an e-mail address or a long digit run is left, or redacting twice changes the text.
pub fn check_redact(text: &str) {
    let once = redact(text);
    assert!(!has_email_shape(&once), "e-mail left in {once:?} from {text:?}");
    assert!(!has_long_digit_run(&once), "long number left in {once:?} from {text:?}");
    assert_eq!(redact(&once), once, "redacting twice changes {text:?}");
}

/// Normalises a site-search query and checks the result.
///
/// # Panics
/// When the result breaks its bound or shape, or normalising twice changes it.
pub fn check_search_query(raw: &str) {
    if let Some(query) = normalise_search_query(raw) {
        check_search_query_output(&query);
        assert_eq!(normalise_search_query(&query).as_deref(), Some(query.as_str()), "not idempotent for {raw:?}");
    }
}

fn check_search_query_output(query: &str) {
    assert!(!query.is_empty() && query.len() <= MAX_SEARCH_QUERY_BYTES, "query of {} bytes", query.len());
    assert_eq!(query, query.trim(), "query not trimmed: {query:?}");
    assert!(!query.contains("  "), "whitespace not collapsed: {query:?}");
    assert!(!query.chars().any(|c| c.is_control() || (c.is_whitespace() && c != ' ')), "{query:?}");
    check_clean(query);
}

/// A stored value: no control characters, no personal data.
fn check_clean(value: &str) {
    assert!(!value.chars().any(char::is_control), "control character in {value:?}");
    assert!(!has_email_shape(value), "e-mail left in {value:?}");
    assert!(!has_long_digit_run(value), "long number left in {value:?}");
}

/// A path with `%40` read as `@` and `%20` as a space, as redaction reads paths.
fn decode_path_escapes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        if let Some(after) = escape.strip_prefix("%40") {
            out.push('@');
            rest = after;
        } else if let Some(after) = escape.strip_prefix("%20") {
            out.push(' ');
            rest = after;
        } else {
            out.push('%');
            rest = &escape[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Whether `text` holds something shaped like an e-mail address: a local-part character right
/// before an `@`, and after it host characters containing a dot followed by two letters.
pub fn has_email_shape(text: &str) -> bool {
    let is_local = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-');
    let is_domain = |c: char| c.is_alphanumeric() || matches!(c, '.' | '-');
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().filter(|(_, c)| **c == '@').any(|(at, _)| {
        let has_local = at > 0 && is_local(chars[at - 1]);
        let domain: Vec<char> = chars[at + 1..].iter().copied().take_while(|c| is_domain(*c)).collect();
        has_local && domain.windows(3).any(|w| w[0] == '.' && w[1].is_alphabetic() && w[2].is_alphabetic())
    })
}

/// Whether `text` holds 9 or more ASCII digits in a row, where single spaces, dashes or dots
/// may stand between two digits.
pub fn has_long_digit_run(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let mut digits = 0;
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_digit() {
            digits += 1;
            if digits >= 9 {
                return true;
            }
        } else {
            let joins = matches!(c, ' ' | '-' | '.')
                && i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if !joins {
                digits = 0;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_checkers_recognise_what_redaction_must_remove() {
        assert!(has_email_shape("write to a@b.example"));
        assert!(!has_email_shape("write to [email]"));
        assert!(!has_email_shape("@handle a@b"));
        assert!(has_long_digit_run("call 0151 2345 6789"));
        assert!(has_long_digit_run("123.456.789"));
        assert!(!has_long_digit_run("1234  56789"));
        assert!(!has_long_digit_run("12345678"));
        assert_eq!(decode_path_escapes("/a%40b%20c%2540%"), "/a@b c%2540%");
    }

    /// Seeds that parse reach the validation and hygiene code at once; the three refused ones
    /// start the fuzzer near the error paths.
    #[test]
    fn event_body_seeds_parse_except_the_refused_ones() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/event_body");
        let refused = ["batch_bad_third.json", "truncated.json", "unknown_field.json"];
        for entry in std::fs::read_dir(dir).expect("seeds") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let result = larder_collector::parse_body(&std::fs::read(&path).expect("read"));
            assert_eq!(result.is_ok(), !refused.contains(&name.as_str()), "{name}: {:?}", result.err());
        }
    }
}
