use larder_store::{EmbeddedConfig, EmbeddedStore, ServerConfig, ServerStore, Store, StoreError};

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_error_not_a_panic() {
    // Bind then drop a listener: nothing listens on that loopback port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let store: Box<dyn Store> = Box::new(
        ServerStore::new(&ServerConfig {
            url: format!("http://127.0.0.1:{port}"),
            user: "default".into(),
            password: String::new(),
            database: "larder".into(),
        })
        .expect("client"),
    );
    let err = store.ping().await.expect_err("nothing listens");
    assert!(matches!(err, StoreError::Unavailable { .. }) && err.is_retryable(), "{err:?}");
    let err = larder_store::migrate::migrate(store.as_ref()).await.expect_err("cannot migrate");
    assert!(err.is_retryable(), "{err:?}");
    let insert = store.insert_events(&crate::roundtrip::fixture(1, 10)).await.expect_err("cannot insert");
    assert!(insert.is_retryable(), "{insert:?}");
}

#[tokio::test]
async fn a_missing_chdb_library_is_a_typed_error() {
    let dir = crate::helpers::test_dir();
    let err = EmbeddedStore::open(EmbeddedConfig {
        data_dir: dir.path().join("data"),
        library: dir.path().join("no-such-libchdb.so"),
        read_connections: 1,
    })
    .await
    .expect_err("no library");
    assert!(matches!(err, StoreError::Library { .. }), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_server_error_carries_the_engine_code() {
    let store = crate::helpers::server("engine_code");
    larder_store::migrate::migrate(store.as_ref()).await.expect("migrate");
    let err = store.query_raw("SELECT * FROM no_such_table", "TabSeparated").await.expect_err("missing table");
    assert!(matches!(err, StoreError::Rejected { code: 60, .. }), "{err:?}");
    let (_dir, embedded) = crate::helpers::embedded().await;
    let err = embedded.query_raw("SELECT * FROM no_such_table", "TabSeparated").await.expect_err("missing table");
    assert!(matches!(err, StoreError::Rejected { code: 60, .. }), "{err:?}");
}

#[tokio::test]
async fn the_embedded_store_closes_cleanly_and_reopens_in_the_same_process() {
    let dir = crate::helpers::test_dir();
    let config = || EmbeddedConfig {
        data_dir: dir.path().join("data"),
        library: crate::helpers::chdb_library(),
        read_connections: 1,
    };
    for round in 0..3u64 {
        let store: Box<dyn Store> = Box::new(EmbeddedStore::open(config()).await.expect("open"));
        larder_store::migrate::migrate(store.as_ref()).await.expect("migrate");
        store.insert_events(&crate::roundtrip::fixture(round, 10)).await.expect("insert");
        let n = crate::helpers::count(store.as_ref(), "SELECT count() FROM events").await;
        assert_eq!(n, 10 * (round + 1), "round {round}: earlier rounds' events are still there");
        drop(store); // joins the connection threads and stops the engine
    }
}
