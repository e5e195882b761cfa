use std::sync::Arc;
use std::time::Duration;

use larder_dashboard_api::auth::Role;

use crate::helpers::{BOTH, PASSWORD, SITE, TestApp, TestClock, reopen, store, test_dir};

/// The status and body of a login answer.
async fn attempt(app: &TestApp, email: &str, password: &str, ip: &str) -> (u16, String) {
    let response = app.login_from(email, password, ip).await;
    (response.status().as_u16(), response.text().await.expect("body"))
}

#[tokio::test]
async fn an_account_is_locked_after_five_failures_even_across_a_restart() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "account_lockout").await;
        let clock = Arc::new(TestClock::default());
        let app = TestApp::start(Arc::clone(&store), Arc::clone(&clock)).await;
        app.user("alice@shop.example", Some((SITE, Role::Owner))).await;
        app.user("bob@shop.example", Some((SITE, Role::Viewer))).await;
        let wrong = attempt(&app, "alice@shop.example", "wrong password", "203.0.113.1").await;
        assert_eq!(wrong.0, 401, "{backend:?}: {}", wrong.1);
        // Each from another address, so that only the account's count can lock.
        for i in 2..=5 {
            let answer = attempt(&app, "alice@shop.example", "wrong password", &format!("203.0.113.{i}")).await;
            assert_eq!(answer, wrong, "{backend:?}: failure {i}");
        }
        let locked = attempt(&app, "alice@shop.example", PASSWORD, "203.0.113.6").await;
        assert_eq!(locked, wrong, "{backend:?}: the right password is refused with the same answer");
        assert_eq!(attempt(&app, "bob@shop.example", PASSWORD, "203.0.113.6").await.0, 200, "{backend:?}: bob is not");

        app.stop().await;
        let store = reopen(store, backend, &dir).await;
        let app = TestApp::start(store, Arc::clone(&clock)).await;
        let after_restart = attempt(&app, "alice@shop.example", PASSWORD, "203.0.113.7").await;
        assert_eq!(after_restart, wrong, "{backend:?}: still locked after a restart");

        clock.advance(Duration::from_secs(14 * 60));
        assert_eq!(attempt(&app, "alice@shop.example", PASSWORD, "203.0.113.8").await, wrong, "{backend:?}: cooling");
        clock.advance(Duration::from_secs(60));
        let (status, _) = attempt(&app, "alice@shop.example", PASSWORD, "203.0.113.9").await;
        assert_eq!(status, 200, "{backend:?}: unlocked 15 minutes after the last failure");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_source_is_locked_after_five_failures_and_only_its_hash_is_kept() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "source_lockout").await;
        let clock = Arc::new(TestClock::default());
        let app = TestApp::start(Arc::clone(&store), Arc::clone(&clock)).await;
        app.user("bob@shop.example", Some((SITE, Role::Viewer))).await;
        let source = "198.51.100.77";
        let mut wrong = None;
        for i in 1..=5 {
            // Five different accounts, none of them locked by itself.
            let answer = attempt(&app, &format!("guess{i}@shop.example"), "password123456", source).await;
            assert_eq!(answer.0, 401, "{backend:?}");
            wrong = Some(answer);
        }
        let wrong = wrong.expect("answers");
        assert_eq!(
            attempt(&app, "bob@shop.example", PASSWORD, source).await,
            wrong,
            "{backend:?}: the source is locked"
        );
        assert_eq!(
            attempt(&app, "bob@shop.example", PASSWORD, "198.51.100.78").await.0,
            200,
            "{backend:?}: others not"
        );

        app.stop().await;
        let store = reopen(store, backend, &dir).await;
        let app = TestApp::start(store, Arc::clone(&clock)).await;
        assert_eq!(attempt(&app, "bob@shop.example", PASSWORD, source).await, wrong, "{backend:?}: after a restart");
        for table in ["login_attempts", "audit_log", "login_sessions", "login_keys"] {
            let dump = app.dump(table).await;
            assert!(!dump.contains(source) && !dump.contains("198.51.100"), "{backend:?}: no address in {table}");
        }
        assert!(app.dump("login_attempts").await.contains("source:"), "{backend:?}: the source is kept as a hash");
        clock.advance(Duration::from_secs(15 * 60));
        assert_eq!(attempt(&app, "bob@shop.example", PASSWORD, source).await.0, 200, "{backend:?}: cooled down");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_success_clears_its_accounts_count() {
    let dir = test_dir();
    let store = store(crate::helpers::Backend::Embedded, &dir, "success_clears").await;
    let app = TestApp::start(store, Arc::default()).await;
    app.user("alice@shop.example", Some((SITE, Role::Owner))).await;
    for round in 0..2 {
        for i in 1..=4 {
            let ip = format!("203.0.113.{}", round * 10 + i);
            assert_eq!(attempt(&app, "alice@shop.example", "wrong password", &ip).await.0, 401);
        }
        let ip = format!("203.0.113.{}", round * 10 + 5);
        assert_eq!(attempt(&app, "alice@shop.example", PASSWORD, &ip).await.0, 200, "round {round}: four failures");
    }
    app.stop().await;
}
