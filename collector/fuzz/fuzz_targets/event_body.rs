//! Arbitrary bytes as a `POST /api/event` body: `parse_body` must never panic, must answer
//! every refusal with a client error and its JSON body, and what it accepts must be within the
//! wire format's bounds. Accepted events then go through the URL and referrer hygiene the
//! route applies, with a site's policy.

#![no_main]

use actix_web::ResponseError;
use actix_web::body::MessageBody;
use larder_collector::parse_body;
use larder_collector_fuzz::{check_classify, check_page_url, check_redact, check_search_query, policy_params};
use larder_core::url::UrlPolicy;
use larder_core::wire::{MAX_BATCH, MAX_PROP_KEY_BYTES, MAX_PROP_VALUE_BYTES, MAX_PROPS, MAX_URL_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match parse_body(body) {
        Ok((events, is_batch)) => {
            assert!(!events.is_empty() && events.len() <= MAX_BATCH, "{} events accepted", events.len());
            assert!(is_batch || events.len() == 1, "a single object is one event");
            let (search, allowed) = policy_params();
            let policy = UrlPolicy { search_params: &search, allowed_params: &allowed };
            for event in &events {
                assert!(!event.url.is_empty() && event.url.len() <= MAX_URL_BYTES, "url of {} bytes", event.url.len());
                assert!(event.referrer.as_ref().is_none_or(|r| !r.is_empty() && r.len() <= MAX_URL_BYTES));
                assert!(event.age_ms <= 1_800_000, "age_ms {}", event.age_ms);
                assert!(event.props.len() <= MAX_PROPS, "{} props", event.props.len());
                for (key, value) in &event.props {
                    assert!(!key.is_empty() && key.len() <= MAX_PROP_KEY_BYTES, "prop key {key:?}");
                    assert!(value.len() <= MAX_PROP_VALUE_BYTES, "prop value of {} bytes", value.len());
                    check_redact(value);
                }
                if let Some(page) = check_page_url(&event.url, &policy) {
                    check_classify(event.referrer.as_deref(), &page);
                }
                if let Some(search) = &event.search {
                    check_search_query(&search.query);
                }
                check_redact(&event.ux.selector);
                if let Some(error) = &event.ux.error {
                    check_redact(&error.message);
                    check_redact(&error.source);
                }
            }
        }
        Err(e) => {
            let status = e.status_code().as_u16();
            assert!(matches!(status, 400 | 413 | 422), "parse_body answered {status} ({e:?})");
            let body = e.error_response().into_body().try_into_bytes().expect("a JSON error body in memory");
            let json: serde_json::Value = serde_json::from_slice(&body).expect("the error body is JSON");
            let error = &json["error"];
            assert!(error["code"].as_str().is_some_and(|c| !c.is_empty()), "error code in {json}");
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "error message in {json}");
            assert!(error["field"].is_null() || error["field"].is_string(), "error field in {json}");
        }
    }
});
