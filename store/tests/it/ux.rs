//! UX signals give the numbers a hand-built fixture implies, exactly, on both engines.

use larder_core::{Event, WebVitalName};
use larder_store::ux::{self, ClickRow, ErrorPage, UxSection};

use crate::goals::{EventExt, ev, filters, numbered, range, scope, site};
use crate::helpers::both;

/// Three visits on the 20th and a rage click on the 21st:
/// - V1 (1, 10, DE) on /p/1: engagement (10 %, 5 s) and (60 %, 3 s), two rage clicks on
///   `button.add`, a dead click on `img.hero`, LCP 2000, CLS 0.1, a TypeError from /app.js;
/// - V2 (2, 20, FR) on /p/1: engagement (100 %, 12 s), a rage click on `button.add`, LCP 3000
///   and 4500, INP 150, the TypeError on /p/1 and on /cart;
/// - V3 (3, 30, DE) on / then /p/1: engagement on /p/1 (30 %, no time) and on / (80 %, 2 s), a
///   dead click on `a.promo`, TTFB 900 and FCP 1000 on /, a ReferenceError from /vendor.js on /.
fn scenario() -> Vec<Event> {
    let at = |hms: &str| format!("2026-11-20T{hms}Z");
    let v1 = |time: &str, name, path| ev(1, 10, &at(time), name, path).country("DE");
    let v2 = |time: &str, name, path| ev(2, 20, &at(time), name, path).country("FR");
    let v3 = |time: &str, name, path| ev(3, 30, &at(time), name, path).country("DE");
    numbered(vec![
        v1("10:00:00", "pageview", "/p/1"),
        v1("10:00:01", "web_vital", "/p/1").vital(WebVitalName::Lcp, 2000.0),
        v1("10:00:02", "rage_click", "/p/1").selector("button.add"),
        v1("10:00:03", "rage_click", "/p/1").selector("button.add"),
        v1("10:00:04", "dead_click", "/p/1").selector("img.hero"),
        v1("10:00:05", "js_error", "/p/1").error("TypeError: x", "/app.js"),
        v1("10:00:06", "engagement", "/p/1").scroll(Some(10), Some(5_000)),
        v1("10:00:07", "web_vital", "/p/1").vital(WebVitalName::Cls, 0.1),
        v1("10:00:08", "engagement", "/p/1").scroll(Some(60), Some(3_000)),
        v2("11:00:00", "pageview", "/p/1"),
        v2("11:00:01", "web_vital", "/p/1").vital(WebVitalName::Lcp, 3000.0),
        v2("11:00:02", "web_vital", "/p/1").vital(WebVitalName::Lcp, 4500.0),
        v2("11:00:03", "web_vital", "/p/1").vital(WebVitalName::Inp, 150.0),
        v2("11:00:04", "rage_click", "/p/1").selector("button.add"),
        v2("11:00:05", "js_error", "/p/1").error("TypeError: x", "/app.js"),
        v2("11:00:06", "engagement", "/p/1").scroll(Some(100), Some(12_000)),
        v2("11:00:07", "js_error", "/cart").error("TypeError: x", "/app.js"),
        v3("12:00:00", "pageview", "/"),
        v3("12:00:01", "web_vital", "/").vital(WebVitalName::Ttfb, 900.0),
        v3("12:00:02", "web_vital", "/").vital(WebVitalName::Fcp, 1000.0),
        v3("12:00:03", "dead_click", "/").selector("a.promo"),
        v3("12:00:04", "js_error", "/").error("ReferenceError: y", "/vendor.js"),
        v3("12:00:05", "engagement", "/").scroll(Some(80), Some(2_000)),
        v3("12:01:00", "pageview", "/p/1"),
        v3("12:01:05", "engagement", "/p/1").scroll(Some(30), None),
        ev(4, 40, "2026-11-21T09:00:00Z", "rage_click", "/p/1").selector("button.add"),
    ])
}

/// A page's engagement: page, views, engaged seconds per view, (samples, quarter shares, mean depth).
type PageNumbers<'a> = (&'a str, u64, f64, Option<(u64, [f64; 4], f64)>);

/// A metric: name, samples, p75, rating, [good, needs improvement, poor] shares.
type VitalNumbers<'a> = (&'a str, u64, f64, &'a str, [f64; 3]);

/// An error: message, source, errors, visitors, page count, top pages.
type ErrorNumbers<'a> = (&'a str, &'a str, u64, u64, u64, Vec<ErrorPage>);

fn click(page: &str, selector: &str, clicks: u64, visitors: u64) -> ClickRow {
    ClickRow { page: page.into(), selector: selector.into(), clicks, visitors }
}

#[tokio::test]
async fn the_ux_report_gives_the_numbers_worked_out_by_hand() {
    let (_dir, stores) = both("ux").await;
    let site = site();
    let none = filters(&[]);
    let day = scope(&site, range("2026-11-20", "2026-11-20"), &none);
    for store in &stores {
        let kind = store.kind();
        store.insert_events(&scenario()).await.expect("insert");
        let report = ux::report(store.as_ref(), &day, &UxSection::ALL, 10).await.expect("report");

        let clicks = report.frustrated_clicks.as_ref().expect("clicks");
        assert_eq!(clicks.rage, [click("/p/1", "button.add", 3, 2)], "{kind:?}: the 21st is out of range");
        assert_eq!(clicks.dead, [click("/", "a.promo", 1, 1), click("/p/1", "img.hero", 1, 1)], "{kind:?}");

        // /p/1: 3 views, 5 + 3 + 12 s engaged → 6.7 s per view; depths 10, 60, 100, 30 → one per
        // quarter, mean 50. /: 1 view, 2 s; depth 80.
        let pages: Vec<PageNumbers<'_>> = report
            .pages
            .as_ref()
            .expect("pages")
            .iter()
            .map(|p| {
                let depth = p.scroll_depth.as_ref().map(|d| (d.samples, d.shares, d.mean));
                (p.page.as_str(), p.pageviews, p.engaged_seconds_per_view, depth)
            })
            .collect();
        assert_eq!(
            pages,
            [
                ("/p/1", 3, 6.7, Some((4, [0.25, 0.25, 0.25, 0.25], 50.0))),
                ("/", 1, 2.0, Some((1, [0.0, 0.0, 0.0, 1.0], 80.0))),
            ],
            "{kind:?}"
        );

        // /p/1: LCP 2000, 3000, 4500 → p75 is the value at rank ⌊0.75·3⌋ = 2: 4500, poor; one
        // third in each band. CLS 0.1 is good (≤ 0.1), INP 150 good. /: TTFB 900 needs
        // improvement, FCP 1000 good.
        let vitals: Vec<(&str, Vec<VitalNumbers<'_>>)> = report
            .web_vitals
            .as_ref()
            .expect("vitals")
            .iter()
            .map(|p| {
                let metrics = p
                    .metrics
                    .iter()
                    .map(|m| (m.metric.as_str(), m.samples, m.p75, m.rating, [m.good, m.needs_improvement, m.poor]))
                    .collect();
                (p.page.as_str(), metrics)
            })
            .collect();
        assert_eq!(
            vitals,
            [
                (
                    "/p/1",
                    vec![
                        ("LCP", 3, 4500.0, "poor", [0.3333, 0.3333, 0.3333]),
                        ("INP", 1, 150.0, "good", [1.0, 0.0, 0.0]),
                        ("CLS", 1, 0.1, "good", [1.0, 0.0, 0.0]),
                    ]
                ),
                (
                    "/",
                    vec![
                        ("TTFB", 1, 900.0, "needs_improvement", [0.0, 1.0, 0.0]),
                        ("FCP", 1, 1000.0, "good", [1.0, 0.0, 0.0])
                    ]
                ),
            ],
            "{kind:?}"
        );

        let errors: Vec<ErrorNumbers<'_>> = report
            .errors
            .as_ref()
            .expect("errors")
            .iter()
            .map(|e| (e.message.as_str(), e.source.as_str(), e.errors, e.visitors, e.page_count, e.pages.clone()))
            .collect();
        let page = |page: &str, errors| ErrorPage { page: page.into(), errors };
        assert_eq!(
            errors,
            [
                ("TypeError: x", "/app.js", 3, 2, 2, vec![page("/p/1", 2), page("/cart", 1)]),
                ("ReferenceError: y", "/vendor.js", 1, 1, 1, vec![page("/", 1)]),
            ],
            "{kind:?}"
        );

        // A page filter keeps the visits that saw the page and restricts the rows to it.
        let p1 = filters(&["page==/p/1"]);
        let only = ux::report(store.as_ref(), &scope(&site, day.range, &p1), &UxSection::ALL, 10).await.expect("/p/1");
        assert_eq!(only.frustrated_clicks.expect("clicks").dead, [click("/p/1", "img.hero", 1, 1)], "{kind:?}");
        assert_eq!(only.pages.expect("pages").len(), 1, "{kind:?}");
        let errors = only.errors.expect("errors");
        assert_eq!((errors.len(), errors[0].errors, errors[0].page_count), (1, 2, 1), "{kind:?}: only /p/1's errors");
        // A visit-level filter keeps V2 only; sections not asked for are absent.
        let fr = filters(&["country==FR"]);
        let v2 = ux::report(store.as_ref(), &scope(&site, day.range, &fr), &[UxSection::FrustratedClicks], 10)
            .await
            .expect("FR");
        assert_eq!(v2.frustrated_clicks.expect("clicks").rage, [click("/p/1", "button.add", 1, 1)], "{kind:?}");
        assert!(v2.pages.is_none() && v2.web_vitals.is_none() && v2.errors.is_none(), "{kind:?}");
    }
}
