//! URL hygiene: what Larder keeps of a page URL, and the redaction of personal data in text.
//!
//! Owns turning the page URL the tracker sends into the parts that are stored (host, path,
//! UTM values, the site-search query, allow-listed query keys), reading the host of a referrer,
//! and [`redact`], the one definition of which text counts as personal data. Parsing is done
//! by the `url` crate only (WHATWG rules: lowercase and punycode hosts, percent-encoded paths).
//! Pure: no I/O.
//!
//! Privacy: everything else is dropped here, before an event exists: the fragment, user name
//! and password, port, every query key that is neither UTM, the site's search parameter nor
//! allow-listed, and the values of ad click ids (only which network they belong to is kept).
//!
//! Redaction ([`redact`]) replaces
//! - e-mail addresses — one or more of `A-Z a-z 0-9 . _ % + -` (or any Unicode letter or digit)
//!   before an `@`, then host characters (letters, digits, `.`, `-`) that contain a dot followed
//!   by two letters — with `[email]`;
//! - runs of 9 or more ASCII digits, where single spaces, dashes or dots may stand between
//!   digits (phone, card, IBAN-like and long account numbers) — with `[number]`.
//!
//! In a path, `%40` also counts as `@` and `%20` as a space, since the `url` crate
//! percent-encodes them there. Short numbers (`/p/1234`, `tea 500g`) are kept.

use std::borrow::Cow;

use crate::event::{Pathname, ValidationError};

/// Longest page URL accepted, in bytes (as the wire format says).
pub const MAX_URL_BYTES: usize = 2048;
/// Longest stored value of one UTM key, in bytes.
pub const MAX_UTM_BYTES: usize = 256;
/// Longest stored value of one allow-listed query key, in bytes.
pub const MAX_PARAM_BYTES: usize = 256;
/// Longest stored site-search query, in bytes.
pub const MAX_SEARCH_QUERY_BYTES: usize = 500;

/// Which query keys survive on a stored page URL, per site.
///
/// Keys are matched exactly (they come from the site's configuration); UTM keys and click ids
/// are recognised without regard to ASCII case, since ad tools and people write both.
#[derive(Debug, Clone, Copy)]
pub struct UrlPolicy<'a> {
    /// Site-search parameters (`q`, `s`, `search`), in order of preference.
    pub search_params: &'a [String],
    /// Further keys kept with their (redacted) values, e.g. `variant`.
    pub allowed_params: &'a [String],
}

impl UrlPolicy<'static> {
    /// Keeps only UTM keys: no search parameter, nothing allow-listed.
    pub const NONE: UrlPolicy<'static> = UrlPolicy { search_params: &[], allowed_params: &[] };
}

/// The campaign keys of a page URL (`utm_source` …), trimmed, redacted and bounded to
/// [`MAX_UTM_BYTES`] each; empty when absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Utm {
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub term: String,
    pub content: String,
}

impl Utm {
    /// Whether no UTM key was given.
    pub fn is_empty(&self) -> bool {
        [&self.source, &self.medium, &self.campaign, &self.term, &self.content].iter().all(|v| v.is_empty())
    }

    /// The field a query key fills, if it is one of the five UTM keys.
    fn slot(&mut self, key: &str) -> Option<&mut String> {
        let name = key.get(..4).filter(|p| p.eq_ignore_ascii_case("utm_")).and_then(|_| key.get(4..))?;
        [
            ("source", &mut self.source),
            ("medium", &mut self.medium),
            ("campaign", &mut self.campaign),
            ("term", &mut self.term),
            ("content", &mut self.content),
        ]
        .into_iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n))
        .map(|(_, slot)| slot)
    }
}

/// The ad network whose click id was on the page URL. The id itself is never kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClickId {
    /// `gclid`, `gbraid`, `wbraid`, `dclid`.
    Google,
    /// `fbclid`.
    Facebook,
    /// `msclkid`.
    Microsoft,
}

impl ClickId {
    /// The network a query key names, if it is a known click-id key (ASCII case ignored).
    pub fn from_param(key: &str) -> Option<Self> {
        const KEYS: [(&str, ClickId); 6] = [
            ("gclid", ClickId::Google),
            ("gbraid", ClickId::Google),
            ("wbraid", ClickId::Google),
            ("dclid", ClickId::Google),
            ("fbclid", ClickId::Facebook),
            ("msclkid", ClickId::Microsoft),
        ];
        KEYS.iter().find(|(k, _)| key.eq_ignore_ascii_case(k)).map(|&(_, id)| id)
    }
}

/// What is kept of a page URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageUrl {
    /// Lowercase host (punycode for international names), without port; `www.` is kept.
    pub hostname: String,
    /// The path as the `url` crate normalises it (percent-encoded, not decoded), redacted, and
    /// cut to at most [`Pathname::MAX_BYTES`].
    pub pathname: Pathname,
    pub utm: Utm,
    /// The first of the policy's search parameters present with a non-empty value, normalised by
    /// [`normalise_search_query`].
    pub search_query: Option<String>,
    /// Allow-listed keys with their decoded, redacted values (at most [`MAX_PARAM_BYTES`]), in
    /// URL order.
    pub kept_params: Vec<(String, String)>,
    /// The ad network of the first click id on the URL; its value is dropped.
    pub click_id: Option<ClickId>,
}

/// Parses the page URL sent by the tracker.
///
/// Only absolute `http`/`https` URLs of at most [`MAX_URL_BYTES`] are accepted. The fragment and
/// every query key that is not UTM, a search parameter or allow-listed are dropped; click ids
/// are recognised and dropped.
///
/// # Errors
/// [`ValidationError::TooLong`] on field `url` above [`MAX_URL_BYTES`];
/// [`ValidationError::Invalid`] on field `url` when the text is not an absolute http(s) URL.
pub fn parse_page_url(raw: &str, policy: &UrlPolicy<'_>) -> Result<PageUrl, ValidationError> {
    if raw.len() > MAX_URL_BYTES {
        return Err(ValidationError::TooLong { field: "url", max: MAX_URL_BYTES });
    }
    let url = ::url::Url::parse(raw)
        .map_err(|_| ValidationError::Invalid { field: "url", reason: "must be an absolute URL" })?;
    let hostname = http_host(&url)
        .ok_or(ValidationError::Invalid { field: "url", reason: "must be an http or https URL with a host" })?;
    // Privacy: from here on only the host, the path and the query are read; the port, user
    // name, password and fragment are dropped with `url`.
    let pathname = page_pathname(url.path())?;

    let mut utm = Utm::default();
    let mut click_id = None;
    let mut kept_params = Vec::new();
    // One slot per search parameter, so the policy's order (not the URL's) decides.
    let mut search_values: Vec<Option<String>> = vec![None; policy.search_params.len()];
    for (key, value) in url.query_pairs() {
        if let Some(id) = ClickId::from_param(&key) {
            // Privacy: a click id links the visit to an ad profile; only its network is kept,
            // even when a site allow-lists the key.
            click_id = click_id.or(Some(id));
            continue;
        }
        if let Some(slot) = utm.slot(&key) {
            if slot.is_empty() {
                *slot = clean_value(&value, MAX_UTM_BYTES);
            }
            continue;
        }
        let search_index = policy.search_params.iter().position(|p| *p == key);
        let is_allowed = policy.allowed_params.iter().any(|p| *p == key);
        if search_index.is_none() && !is_allowed {
            // Privacy: any other key (session ids, e-mail links, tracking tokens) is dropped.
            continue;
        }
        if let Some(slot) = search_index.and_then(|i| search_values.get_mut(i))
            && slot.is_none()
        {
            *slot = normalise_search_query(&value);
        }
        if is_allowed {
            kept_params.push((key.into_owned(), clean_value(&value, MAX_PARAM_BYTES)));
        }
    }
    let search_query = search_values.into_iter().flatten().next();

    Ok(PageUrl { hostname, pathname, utm, search_query, kept_params, click_id })
}

/// Host of a referrer URL (lowercase, punycode, no port) if it is an absolute http(s) URL,
/// else `None`.
///
/// Privacy: the referrer's path and query (which can hold search terms or personal data of the
/// referring site) are never kept.
pub fn referrer_host(raw: &str) -> Option<String> {
    http_host(&::url::Url::parse(raw.trim()).ok()?)
}

/// Redacts personal data in free text: e-mail addresses become `[email]`, runs of 9 or more
/// digits (single spaces, dashes or dots may separate them) become `[number]`. See the module
/// documentation for the exact shapes.
///
/// Returns [`Cow::Borrowed`] when nothing changed.
pub fn redact(text: &str) -> Cow<'_, str> {
    redact_as(text, Flavour::Text)
}

/// Normalises a site-search query: trim, lowercase (Unicode), whitespace and control-character
/// runs collapsed to one space, [`redact`]ed, cut to at most [`MAX_SEARCH_QUERY_BYTES`] on a
/// character boundary. `None` when nothing is left.
pub fn normalise_search_query(raw: &str) -> Option<String> {
    let lowered = raw.to_lowercase();
    let words: Vec<&str> =
        lowered.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect();
    let collapsed = words.join(" ");
    let redacted = redact(&collapsed);
    let cut = cut_at_char_boundary(&redacted, MAX_SEARCH_QUERY_BYTES).trim_end();
    (!cut.is_empty()).then(|| cut.to_owned())
}

/// The host of an http(s) URL; `None` for other schemes or an empty host.
fn http_host(url: &::url::Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    // The `url` crate already lowercases and punycodes domain names; this only guards hosts it
    // keeps verbatim.
    url.host_str().filter(|h| !h.is_empty()).map(str::to_ascii_lowercase)
}

/// The stored path: redacted, then cut to what [`Pathname`] accepts.
fn page_pathname(path: &str) -> Result<Pathname, ValidationError> {
    let redacted = redact_as(path, Flavour::Path);
    let mut cut = cut_at_char_boundary(&redacted, Pathname::MAX_BYTES);
    if cut.len() < redacted.len() {
        // A cut inside `%XX` would leave a broken escape at the end.
        let tail_start = cut.len().saturating_sub(2);
        if let Some(offset) = cut.get(tail_start..).and_then(|tail| tail.find('%')) {
            cut = &cut[..tail_start + offset];
        }
    }
    Pathname::parse(cut).map_err(|err| match err {
        ValidationError::Invalid { reason, .. } => ValidationError::Invalid { field: "url", reason },
        ValidationError::TooLong { max, .. } => ValidationError::TooLong { field: "url", max },
    })
}

/// A stored query value: control characters removed, trimmed, redacted, bounded.
fn clean_value(raw: &str, max_bytes: usize) -> String {
    let printable: String = raw.chars().filter(|c| !c.is_control()).collect();
    let redacted = redact(printable.trim());
    cut_at_char_boundary(&redacted, max_bytes).trim_end().to_owned()
}

/// The longest prefix of `text` of at most `max_bytes` that ends on a character boundary.
fn cut_at_char_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let end = (0..=max_bytes).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    &text[..end]
}

/// Where the text being redacted comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// Decoded text: a search query, a query value.
    Text,
    /// A percent-encoded URL path, where `@` may appear as `%40` and a space as `%20`.
    Path,
}

/// One character of the text as redaction sees it, with its byte span in the text.
#[derive(Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    ch: char,
}

fn units(text: &str, flavour: Flavour) -> Vec<Unit> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((start, ch)) = chars.next() {
        if flavour == Flavour::Path && ch == '%' {
            let escaped = match text.get(start + 1..start + 3) {
                Some("40") => Some('@'),
                Some("20") => Some(' '),
                _ => None,
            };
            if let Some(decoded) = escaped {
                chars.next();
                chars.next();
                out.push(Unit { start, end: start + 3, ch: decoded });
                continue;
            }
        }
        out.push(Unit { start, end: start + ch.len_utf8(), ch });
    }
    out
}

/// Fewest digits in a run that [`redact`] replaces.
const MIN_REDACTED_DIGITS: usize = 9;

fn redact_as(text: &str, flavour: Flavour) -> Cow<'_, str> {
    // Most text holds neither an `@` nor nine digits: skip the scans (and their allocation) then.
    let has_at = text.contains('@') || (flavour == Flavour::Path && text.contains("%40"));
    let without_emails =
        if has_at { replace_spans(text, &email_spans(&units(text, flavour)), "[email]") } else { Cow::Borrowed(text) };
    if without_emails.bytes().filter(u8::is_ascii_digit).count() < MIN_REDACTED_DIGITS {
        return without_emails;
    }
    match without_emails {
        Cow::Borrowed(text) => replace_spans(text, &number_spans(&units(text, flavour)), "[number]"),
        Cow::Owned(text) => {
            Cow::Owned(replace_spans(&text, &number_spans(&units(&text, flavour)), "[number]").into_owned())
        }
    }
}

fn is_local_char(ch: char) -> bool {
    ch.is_alphanumeric() || matches!(ch, '.' | '_' | '%' | '+' | '-')
}

fn is_domain_char(ch: char) -> bool {
    ch.is_alphanumeric() || matches!(ch, '.' | '-')
}

/// Byte spans of e-mail addresses, in order and not overlapping.
fn email_spans(units: &[Unit]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    // The local part of the next address may not reach back into the previous one.
    let mut floor = 0;
    let mut at = 0;
    while at < units.len() {
        if units[at].ch != '@' {
            at += 1;
            continue;
        }
        let mut start = at;
        while start > floor && is_local_char(units[start - 1].ch) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < units.len() && is_domain_char(units[end].ch) {
            end += 1;
        }
        // A sentence may end right after the address: "write to a@b.example."
        while end > at + 1 && !units[end - 1].ch.is_alphanumeric() {
            end -= 1;
        }
        let domain = &units[at + 1..end];
        let has_dot_and_letters =
            domain.windows(3).any(|w| w[0].ch == '.' && w[1].ch.is_alphabetic() && w[2].ch.is_alphabetic());
        if start < at && has_dot_and_letters {
            spans.push((units[start].start, units[end - 1].end));
            floor = end;
            at = end;
        } else {
            at += 1;
        }
    }
    spans
}

/// Byte spans of digit runs long enough to identify a person, in order and not overlapping.
fn number_spans(units: &[Unit]) -> Vec<(usize, usize)> {
    let is_digit = |i: usize| units.get(i).is_some_and(|u| u.ch.is_ascii_digit());
    let mut spans = Vec::new();
    let mut i = 0;
    while i < units.len() {
        if !is_digit(i) {
            i += 1;
            continue;
        }
        let (start, mut last, mut digits, mut j) = (i, i, 0, i);
        loop {
            if is_digit(j) {
                digits += 1;
                last = j;
                j += 1;
            } else if units.get(j).is_some_and(|u| matches!(u.ch, ' ' | '-' | '.')) && is_digit(j + 1) {
                j += 1;
            } else {
                break;
            }
        }
        if digits >= MIN_REDACTED_DIGITS {
            spans.push((units[start].start, units[last].end));
        }
        i = last + 1;
    }
    spans
}

fn replace_spans<'a>(text: &'a str, spans: &[(usize, usize)], with: &str) -> Cow<'a, str> {
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for &(start, end) in spans {
        out.push_str(&text[copied..start]);
        out.push_str(with);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn parse(raw: &str) -> PageUrl {
        parse_page_url(raw, &UrlPolicy::NONE).unwrap_or_else(|err| panic!("{raw:?} should parse: {err}"))
    }

    #[test]
    fn pathname_drops_query_and_fragment() {
        for (raw, host, path, why) in [
            (
                "https://shop.example/p/green-tea?utm_source=x&q=tea#reviews",
                "shop.example",
                "/p/green-tea",
                "query and fragment",
            ),
            (
                "HTTPS://Shop.Example:8443/Cart/",
                "shop.example",
                "/Cart/",
                "host lowercased, port dropped, path case kept",
            ),
            ("http://user:secret@shop.example/a", "shop.example", "/a", "credentials dropped"),
            ("https://shop.example", "shop.example", "/", "empty path becomes /"),
            ("https://www.shop.example/x#frag", "www.shop.example", "/x", "www. is kept on the page host"),
            ("https://shop.example/a/../b/./c", "shop.example", "/b/c", "dot segments resolved by the url crate"),
            ("https://shop.example/a b", "shop.example", "/a%20b", "space percent-encoded"),
            ("https://[::1]:8080/x", "[::1]", "/x", "IPv6 host"),
            ("  https://shop.example/lead  ", "shop.example", "/lead", "surrounding spaces trimmed by the parser"),
            ("https://shop.example/?", "shop.example", "/", "empty query"),
        ] {
            let page = parse(raw);
            assert_eq!(page.hostname, host, "{why}: hostname of {raw:?}");
            assert_eq!(page.pathname.as_str(), path, "{why}: pathname of {raw:?}");
            assert!(page.kept_params.is_empty() && page.search_query.is_none(), "{why}: nothing else kept");
        }
    }

    #[test]
    fn utm_values_are_extracted_trimmed_bounded_and_redacted() {
        let full = parse(
            "https://shop.example/?utm_source=+Newsletter+&utm_medium=email&utm_campaign=spring%20sale\
             &utm_term=green+tea&utm_content=hero&utm_id=42&other=x",
        );
        let want = Utm {
            source: "Newsletter".into(),
            medium: "email".into(),
            campaign: "spring sale".into(),
            term: "green tea".into(),
            content: "hero".into(),
        };
        assert_eq!(full.utm, want, "all five keys, decoded and trimmed; utm_id and other dropped");
        assert!(full.kept_params.is_empty(), "utm_id is not one of the five and not allow-listed");

        for (query, want_source, why) in [
            ("UTM_SOURCE=Insta", "Insta", "key case ignored"),
            ("utm_source=first&utm_source=second", "first", "first occurrence wins"),
            ("utm_source=&utm_source=second", "second", "an empty first value does not block a later one"),
            ("utm_source=me%40example.com", "[email]", "e-mail redacted"),
            ("utm_source=a%00b", "ab", "control characters removed"),
            ("utm_sourcex=no", "", "only exact UTM keys"),
        ] {
            assert_eq!(parse(&format!("https://shop.example/?{query}")).utm.source, want_source, "{why}");
        }

        let long = parse(&format!("https://shop.example/?utm_campaign={}", "é".repeat(200)));
        assert_eq!(long.utm.campaign, "é".repeat(128), "bounded to 256 bytes on a char boundary");
        assert!(Utm::default().is_empty() && !long.utm.is_empty(), "is_empty reports whether any key was set");
    }

    #[test]
    fn search_query_comes_from_the_first_policy_param_present() {
        let search = strings(&["q", "s"]);
        let policy = UrlPolicy { search_params: &search, allowed_params: &[] };
        for (query, want, why) in [
            ("s=Green+Tea&q=black", Some("black"), "policy order wins over URL order"),
            ("q=%20%20GREEN%20%20Tea%20", Some("green tea"), "normalised"),
            ("q=&s=tea", Some("tea"), "an empty parameter falls through to the next"),
            ("q=++", None, "blank after normalising"),
            ("x=1", None, "absent"),
            ("q=call+me+0151+2345+6789", Some("call me [number]"), "phone number redacted"),
            ("q=Foo%40Bar.example", Some("[email]"), "e-mail redacted"),
            ("q=tea+500g", Some("tea 500g"), "short numbers kept"),
            ("Q=tea", None, "policy keys are matched exactly"),
        ] {
            let page = parse_page_url(&format!("https://shop.example/search?{query}"), &policy);
            assert_eq!(page.map(|p| p.search_query), Ok(want.map(str::to_owned)), "{why}: {query}");
        }
    }

    #[test]
    fn allowed_params_are_kept_in_url_order_and_others_dropped() {
        let allowed = strings(&["variant", "color", "gclid"]);
        let search = strings(&["q"]);
        let policy = UrlPolicy { search_params: &search, allowed_params: &allowed };
        for (query, want, why) in [
            (
                "color=red&session=abc&variant=xl&color=blue",
                vec![("color", "red"), ("variant", "xl"), ("color", "blue")],
                "URL order, repeats kept, session dropped",
            ),
            ("variant=a%40b.example", vec![("variant", "[email]")], "values redacted"),
            ("Variant=xl&token=123", vec![], "exact key match; other keys dropped"),
            ("q=tea&variant=", vec![("variant", "")], "search key is not a kept param; empty value kept"),
            ("gclid=SECRET", vec![], "a click id is never kept, even when allow-listed"),
        ] {
            let page = parse_page_url(&format!("https://shop.example/p?{query}"), &policy);
            let want: Vec<(String, String)> = want.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            assert_eq!(page.map(|p| p.kept_params), Ok(want), "{why}: {query}");
        }
    }

    #[test]
    fn click_ids_are_recognised_and_their_values_dropped() {
        for (query, want) in [
            ("gclid=SECRETID123", Some(ClickId::Google)),
            ("gbraid=SECRETID123", Some(ClickId::Google)),
            ("wbraid=SECRETID123", Some(ClickId::Google)),
            ("dclid=SECRETID123", Some(ClickId::Google)),
            ("GCLID=SECRETID123", Some(ClickId::Google)),
            ("fbclid=SECRETID123", Some(ClickId::Facebook)),
            ("msclkid=SECRETID123", Some(ClickId::Microsoft)),
            ("fbclid=SECRETID123&gclid=SECRETID123", Some(ClickId::Facebook)),
            ("clid=SECRETID123", None),
        ] {
            let allowed = strings(&["gclid", "fbclid", "clid"]);
            let search = strings(&["gclid"]);
            let policy = UrlPolicy { search_params: &search, allowed_params: &allowed };
            let raw = format!("https://shop.example/p?{query}&utm_source=ads");
            let page = parse_page_url(&raw, &policy).unwrap_or_else(|err| panic!("{raw}: {err}"));
            assert_eq!(page.click_id, want, "network of {query}");
            let kept_secret = format!("{page:?}").contains("SECRETID123");
            assert_eq!(
                kept_secret,
                want.is_none(),
                "click id value never kept ({query}); other keys follow the policy"
            );
        }
    }

    #[test]
    fn redact_replaces_emails_and_long_digit_runs_only() {
        for (text, want, why) in [
            ("john.doe@example.com", "[email]", "plain address"),
            ("write to a+b@shop.example.co.uk.", "write to [email].", "sentence dot is not part of it"),
            ("Jörg@bücher.de ok", "[email] ok", "Unicode local part and domain"),
            ("x@1.ab3 and y@mail.example", "[email] and [email]", "two addresses"),
            ("a@b.cd@e.fg", "[email]@e.fg", "a second @ has no local part left"),
            ("a@b.cd.-@e.fg", "[email][email]", "local chars after an address start the next one"),
            ("@handle", "@handle", "no local part"),
            ("a@b", "a@b", "no dot in the domain"),
            ("a@b.c1", "a@b.c1", "needs two letters after a dot"),
            ("call 0151 2345 6789 now", "call [number] now", "phone with spaces"),
            ("+49-151-23456789", "+[number]", "phone with dashes"),
            ("4111 1111 1111 1111", "[number]", "card number"),
            ("DE89 3704 0044 0532 0130 00", "DE[number]", "IBAN"),
            ("123.456.789", "[number]", "dots"),
            ("sku123456789x", "sku[number]x", "nine digits inside a word"),
            ("12345678", "12345678", "eight digits kept"),
            ("1234  56789", "1234  56789", "a double space breaks the run"),
            ("2024-01-15", "2024-01-15", "dates kept"),
            ("tea 500g", "tea 500g", "short numbers kept"),
            ("a@b.example and 123456789", "[email] and [number]", "both kinds"),
            ("", "", "empty"),
        ] {
            assert_eq!(redact(text), want, "{why}: {text:?}");
        }
        assert!(matches!(redact("green tea 500g"), Cow::Borrowed(_)), "unchanged text is borrowed");
        assert!(matches!(redact("a@b.example"), Cow::Owned(_)), "changed text is owned");
    }

    #[test]
    fn paths_are_redacted_including_percent_encoded_forms() {
        for (raw, want, why) in [
            ("https://s.example/u/john@example.com/orders", "/u/[email]/orders", "e-mail in a segment"),
            ("https://s.example/u/john%40example.com", "/u/[email]", "percent-encoded @"),
            ("https://s.example/u/j%C3%B6rg%40example.com", "/u/[email]", "encoded Unicode local part"),
            ("https://s.example/track/123456789012", "/track/[number]", "long id"),
            ("https://s.example/call/0151 2345 6789", "/call/[number]", "spaces encoded as %20 still separate"),
            ("https://s.example/p/1234", "/p/1234", "short id kept"),
            ("https://s.example/p/tea-500g", "/p/tea-500g", "product slug kept"),
            ("https://s.example/100%", "/100%", "a literal percent sign kept"),
        ] {
            assert_eq!(parse(raw).pathname.as_str(), want, "{why}: {raw:?}");
        }
    }

    #[test]
    fn non_http_urls_are_rejected() {
        for raw in [
            "ftp://shop.example/p",
            "javascript:alert(1)",
            "mailto:a@b.example",
            "data:text/html,hi",
            "file:///etc/passwd",
            "android-app://com.google.android.gm/",
            "/relative/path",
            "shop.example/p",
            "",
            "http://",
            "https:// /",
        ] {
            let result = parse_page_url(raw, &UrlPolicy::NONE);
            assert!(matches!(result, Err(ValidationError::Invalid { field: "url", .. })), "{raw:?} gave {result:?}");
        }
    }

    #[test]
    fn overlong_urls_are_rejected() {
        let prefix = "https://shop.example/";
        let at_limit = format!("{prefix}{}", "a".repeat(MAX_URL_BYTES - prefix.len()));
        assert!(parse_page_url(&at_limit, &UrlPolicy::NONE).is_ok(), "exactly {MAX_URL_BYTES} bytes is accepted");
        assert_eq!(
            parse_page_url(&format!("{at_limit}a"), &UrlPolicy::NONE),
            Err(ValidationError::TooLong { field: "url", max: MAX_URL_BYTES }),
            "one byte more is refused"
        );
    }

    #[test]
    fn idn_and_percent_encoded_paths_are_handled() {
        assert_eq!(parse("https://Bücher.example/").hostname, "xn--bcher-kva.example", "IDN host in punycode");
        assert_eq!(parse("https://shop.example/über").pathname.as_str(), "/%C3%BCber", "non-ASCII path encoded");
        assert_eq!(parse("https://shop.example/%7euser").pathname.as_str(), "/%7euser", "escapes not decoded");
        assert_eq!(parse("https://shop.example/%zz%").pathname.as_str(), "/%zz%", "broken escapes kept as text");

        // Encoding can triple the length of a path that fit in the URL limit.
        let grown = parse(&format!("https://s.example/{}", "é".repeat(1000)));
        let path = grown.pathname.as_str();
        assert!(path.len() <= Pathname::MAX_BYTES, "cut to Pathname::MAX_BYTES, got {}", path.len());
        assert!(path.ends_with("%C3%A9"), "cut on a whole escape, got …{}", &path[path.len() - 6..]);
        let grown = parse(&format!("https://s.example/x{}", "é".repeat(1000)));
        assert!(!grown.pathname.as_str().ends_with(['%', 'C']), "no half escape left at the end");
    }

    #[test]
    fn referrer_host_keeps_only_the_host_of_http_urls() {
        for (raw, want) in [
            ("https://www.Google.de/search?q=secret", Some("www.google.de")),
            ("http://shop.example:8080/a", Some("shop.example")),
            ("https://user:pw@host.example/", Some("host.example")),
            (" https://t.co/abc ", Some("t.co")),
            ("https://xn--bcher-kva.example/", Some("xn--bcher-kva.example")),
            ("https://bücher.example/", Some("xn--bcher-kva.example")),
            ("android-app://com.google.android.gm", None),
            ("ftp://files.example/", None),
            ("//example.com/", None),
            ("not a url", None),
            ("", None),
        ] {
            assert_eq!(referrer_host(raw).as_deref(), want, "host of {raw:?}");
        }
    }

    #[test]
    fn normalise_search_query_trims_lowercases_collapses_redacts_and_bounds() {
        for (raw, want, why) in [
            ("  Green   TEA ", Some("green tea"), "trim, lowercase, collapse"),
            ("ÄPFEL\tund\nBirnen", Some("äpfel und birnen"), "Unicode lowercase, tabs and newlines"),
            ("tea\u{0}pot", Some("tea pot"), "control characters separate words"),
            ("Mail: Foo@Bar.com", Some("mail: [email]"), "e-mail redacted"),
            ("card 4111-1111-1111-1111", Some("card [number]"), "card number redacted"),
            ("", None, "empty"),
            (" \t\n ", None, "blank"),
        ] {
            assert_eq!(normalise_search_query(raw).as_deref(), want, "{why}: {raw:?}");
        }
        for (raw, want_bytes, why) in [
            ("a".repeat(600), 500, "ASCII cut at 500"),
            ("é".repeat(300), 500, "two-byte chars fit exactly"),
            (format!("a{}", "é".repeat(300)), 499, "never splits a char"),
            (format!("{} b", "a".repeat(499)), 499, "no trailing space after the cut"),
        ] {
            assert_eq!(normalise_search_query(&raw).map(|q| q.len()), Some(want_bytes), "{why}");
        }
    }

    /// Whether `text` still holds something shaped like an e-mail address, by a definition
    /// written independently of the redactor's scanner.
    fn has_email_shape(text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        chars.iter().enumerate().filter(|(_, c)| **c == '@').any(|(at, _)| {
            let has_local = at > 0 && is_local_char(chars[at - 1]);
            let domain: Vec<char> = chars[at + 1..].iter().copied().take_while(|c| is_domain_char(*c)).collect();
            has_local && domain.windows(3).any(|w| w[0] == '.' && w[1].is_alphabetic() && w[2].is_alphabetic())
        })
    }

    fn texty() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9.@%+_ -]{0,60}",
            "([a-zé.]{0,6}@[a-z0-9.-]{0,12}[ .,]?){1,4}",
            "([0-9]{1,4}[ .-]{0,2}){1,8}",
        ]
    }

    fn urlish() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "(https?|ftp|android-app|HTTP)://[a-zA-Zé0-9.:@\\[\\]-]{0,30}(/[^#?]{0,80})?(\\?[^#]{0,80})?(#.{0,20})?",
            "https://shop\\.example/[a-z0-9%@ .-]{0,60}\\?((utm_[a-z]{4,8}|q|s|gclid|variant)=[^&#]{0,20}&){0,6}",
        ]
    }

    proptest! {
        #[test]
        fn parse_page_url_never_panics_and_bounds_what_it_keeps(raw in urlish()) {
            let search = strings(&["q", "s"]);
            let allowed = strings(&["variant"]);
            let policy = UrlPolicy { search_params: &search, allowed_params: &allowed };
            if let Ok(page) = parse_page_url(&raw, &policy) {
                prop_assert!(page.pathname.as_str().len() <= Pathname::MAX_BYTES);
                prop_assert!(!page.hostname.is_empty());
                let utm = &page.utm;
                for value in [&utm.source, &utm.medium, &utm.campaign, &utm.term, &utm.content] {
                    prop_assert!(value.len() <= MAX_UTM_BYTES);
                }
                prop_assert!(page.search_query.is_none_or(|q| q.len() <= MAX_SEARCH_QUERY_BYTES));
            }
        }

        #[test]
        fn referrer_host_never_panics(raw in urlish()) {
            if let Some(host) = referrer_host(&raw) {
                prop_assert!(!host.is_empty() && !host.contains(['/', '?', '#']), "host only: {host:?}");
            }
        }

        #[test]
        fn redact_leaves_no_email_shape_and_is_idempotent(text in texty()) {
            let once = redact(&text);
            prop_assert!(!has_email_shape(&once), "e-mail shape left in {once:?}");
            prop_assert_eq!(redact(&once), once.clone(), "redacting twice changes nothing");
        }

        #[test]
        fn normalise_search_query_is_bounded_and_idempotent(raw in texty()) {
            if let Some(query) = normalise_search_query(&raw) {
                prop_assert!(query.len() <= MAX_SEARCH_QUERY_BYTES);
                prop_assert!(!has_email_shape(&query));
                prop_assert_eq!(normalise_search_query(&query), Some(query.clone()));
            }
        }
    }
}
