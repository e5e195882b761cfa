//! Arbitrary text through the URL and referrer hygiene the collector applies to every event:
//! page URL parsing with a site's policy, referrer host and classification, site-search
//! normalisation and redaction. The input is split at its first two newlines into a page URL,
//! a referrer and free text; the whole input is also fed to each function, so seeds can be
//! plain URLs. Invariants are in the crate's `check_*` functions.

#![no_main]

use larder_collector_fuzz::{
    check_classify, check_page_url, check_redact, check_referrer_host, check_search_query, policy_params,
};
use larder_core::url::UrlPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Text reaches these functions only after serde_json, so it is always valid UTF-8.
    let text = String::from_utf8_lossy(data);
    let (search, allowed) = policy_params();
    let policy = UrlPolicy { search_params: &search, allowed_params: &allowed };

    let mut parts = text.splitn(3, '\n');
    let url = parts.next().unwrap_or_default();
    let referrer = parts.next();
    let free_text = parts.next().unwrap_or_default();
    if let Some(page) = check_page_url(url, &policy) {
        check_classify(referrer, &page);
        check_classify(None, &page);
    }
    check_redact(free_text);
    check_search_query(free_text);

    if let Some(page) = check_page_url(&text, &UrlPolicy::NONE) {
        check_classify(Some(&text), &page);
    }
    check_referrer_host(&text);
    check_redact(&text);
    check_search_query(&text);
});
