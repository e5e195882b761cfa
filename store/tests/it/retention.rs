use std::time::Duration;

use chrono::{DateTime, Utc};
use larder_core::SiteDomain;
use larder_core::fixtures::{FixtureSpec, events};

use crate::helpers::{both, count, eventually};

#[tokio::test]
async fn retention_drops_a_sites_old_data_and_keeps_the_rest() {
    let (_dir, stores) = both("retention").await;
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z").expect("now").with_timezone(&Utc);
    let shop = SiteDomain::parse("shop.example").expect("site");
    let other = SiteDomain::parse("other.example").expect("site");
    // 400 days of events for both sites, one batch per 20-day slice.
    let mut all = Vec::new();
    for slice in 0..20u64 {
        all.extend(events(&FixtureSpec {
            seed: slice,
            count: 200,
            sites: vec![shop.clone(), other.clone()],
            start: now - chrono::Duration::days(400 - 20 * slice as i64),
            span_secs: 20 * 86_400,
            visitors: 50,
        }));
    }
    let cutoff = larder_store::retention::cutoff(now, 30);
    let old = |site: &SiteDomain| all.iter().filter(|e| &e.site == site && e.timestamp < cutoff).count() as u64;
    let kept = |site: &SiteDomain| all.iter().filter(|e| &e.site == site && e.timestamp >= cutoff).count() as u64;
    assert!(old(&shop) > 0 && kept(&shop) > 0, "fixture straddles the cutoff");

    for store in &stores {
        let kind = store.kind();
        store.insert_events(&all).await.expect("insert");
        let report = larder_store::retention::apply(store.as_ref(), &shop, 30, now).await.expect("retention");
        assert!(report.dropped_months.len() >= 11, "{kind:?}: whole months dropped as partitions: {report:?}");
        assert!(report.deleted_boundary_rows, "{kind:?}: the boundary month is trimmed");
        let shop_sql = "SELECT count() FROM events WHERE site = 'shop.example'";
        let want = kept(&shop);
        // 18.16 runs the boundary delete as an asynchronous mutation.
        eventually(Duration::from_secs(30), "boundary rows deleted", || async {
            count(store.as_ref(), shop_sql).await == want
        })
        .await;
        let oldest = count(
            store.as_ref(),
            &format!(
                "SELECT count() FROM events WHERE site = 'shop.example' AND timestamp < toDateTime({}, 'UTC')",
                cutoff.timestamp()
            ),
        )
        .await;
        assert_eq!(oldest, 0, "{kind:?}: nothing older than the cutoff");
        let other_count = count(store.as_ref(), "SELECT count() FROM events WHERE site = 'other.example'").await;
        assert_eq!(other_count, old(&other) + kept(&other), "{kind:?}: the other site is untouched");

        let again = larder_store::retention::apply(store.as_ref(), &shop, 30, now).await.expect("retention again");
        assert_eq!(again, Default::default(), "{kind:?}: a second run finds nothing to do");
    }
}

/// Retention as the daily run does it, with the clock set to a day in the past: each site keeps
/// its own period (a removed site the one it had, an unregistered one the default), events
/// newer than that — including those after the clock's "now" — stay, and expired login records
/// go.
#[tokio::test]
async fn retention_run_in_the_past_keeps_each_sites_period_and_expires_login_records() {
    use larder_store::auth::{self, LoginAttempt, LoginSession};
    use larder_store::sites::{self, Site};

    let (_dir, stores) = both("retention_all").await;
    let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc);
    let now = at("2024-03-10T12:00:00Z");
    let shop = SiteDomain::parse("shop.example").expect("site");
    let gone = SiteDomain::parse("removed.example").expect("site");
    let stray = SiteDomain::parse("stray.example").expect("site");
    let mut all = events(&FixtureSpec {
        seed: 3,
        count: 3000,
        sites: vec![shop.clone(), gone.clone(), stray.clone()],
        start: at("2023-10-01T00:00:00Z"),
        span_secs: 161 * 86_400, // up to 2024-03-10
        visitors: 100,
    });
    // Events after the clock's now (the real present, say) are young and must stay.
    all.extend(events(&FixtureSpec {
        seed: 4,
        count: 300,
        sites: vec![shop.clone(), gone.clone(), stray.clone()],
        start: at("2024-03-11T00:00:00Z"),
        span_secs: 30 * 86_400,
        visitors: 20,
    }));
    let periods = [(&shop, 30u32), (&gone, 10), (&stray, 60)];

    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        sites::add(store, &Site { retention_days: 30, ..Site::new(shop.clone(), now) }).await.expect("shop");
        sites::add(store, &Site { retention_days: 10, ..Site::new(gone.clone(), now) }).await.expect("removed");
        sites::remove(store, &gone).await.expect("remove");
        store.insert_events(&all).await.expect("insert");
        let attempt =
            |when: &str| LoginAttempt { subject: "account:a@b.example".into(), at: at(when), succeeded: false };
        auth::record_attempts(
            store,
            &[attempt("2023-12-20T10:00:00Z"), attempt("2024-02-03T10:00:00Z"), attempt("2024-03-09T10:00:00Z")],
        )
        .await
        .expect("attempts");
        let session = |hash: &str, expires: &str| LoginSession {
            session_hash: hash.into(),
            email: "a@b.example".into(),
            created_at: at("2024-02-01T00:00:00Z"),
            expires_at: at(expires),
            revoked: false,
        };
        auth::put_session(store, &session("ended", "2024-03-01T00:00:00Z")).await.expect("session");
        auth::put_session(store, &session("live", "2024-03-15T00:00:00Z")).await.expect("session");

        let run = larder_store::retention::apply_all(store, now, 60, None).await.expect("retention run");
        for (site, days) in periods {
            let cutoff = larder_store::retention::cutoff(now, days);
            let got = run.sites.iter().find(|s| s.site == site.as_str()).expect("site in the run");
            assert_eq!((got.retention_days, got.cutoff), (days, cutoff), "{kind:?}: {site}'s own period");
            let old = all.iter().filter(|e| &e.site == site && e.timestamp < cutoff).count() as u64;
            let young = all.iter().filter(|e| &e.site == site && e.timestamp >= cutoff).count() as u64;
            assert!(old > 0 && young > 0, "{site}: the fixture straddles the cutoff");
            assert_eq!(got.report.deleted_events, old, "{kind:?}: {site}: the old events counted");
            let sql = |cond: &str| {
                format!(
                    "SELECT count() FROM events WHERE site = '{site}' AND timestamp {cond} toDateTime({}, 'UTC')",
                    cutoff.timestamp()
                )
            };
            assert_eq!(count(store, &sql("<")).await, 0, "{kind:?}: {site}: nothing older than {days} days");
            assert_eq!(count(store, &sql(">=")).await, young, "{kind:?}: {site}: the recent events all stay");
        }
        let login = run.login_records.clone().expect("login records expired in a full run");
        assert_eq!(login.dropped_attempt_months, vec![202312], "{kind:?}: {login:?}");
        assert_eq!(login.deleted_sessions, 1, "{kind:?}");
        assert_eq!(count(store, "SELECT count() FROM login_attempts").await, 2, "{kind:?}: this and last month's");
        assert_eq!(
            count(store, "SELECT count() FROM login_sessions WHERE session_hash = 'ended'").await,
            0,
            "{kind:?}"
        );
        assert_eq!(count(store, "SELECT count() FROM login_sessions WHERE session_hash = 'live'").await, 1, "{kind:?}");

        let again = larder_store::retention::apply_all(store, now, 60, Some(&shop)).await.expect("one site");
        assert_eq!(again.sites.len(), 1, "{kind:?}: only the site asked for");
        assert_eq!(again.deleted_events(), 0, "{kind:?}: nothing left to do");
        assert!(again.login_records.is_none(), "{kind:?}: a one-site run leaves login records alone");
    }
}
