//! Analysts' SQL on both engines: escape attempts, each refused by the validator and each also
//! run against the engine wall alone (scope database, `readonly=1`, limits) so that what each
//! wall stops is known; legitimate queries, formats, scopes of several sites, and the limits.

use larder_core::SiteDomain;
use larder_store::analyst::{self, AnalystError, ExportFormat, Limits, Rejection, Scope};
use larder_store::{BackendKind, Store};

use crate::helpers::{both, count};

fn site(domain: &str) -> SiteDomain {
    SiteDomain::parse(domain).expect("site")
}

fn shop() -> Scope {
    Scope::one(site("shop.example"))
}

/// Marks every secret row, so that a test can tell that none reached an answer.
const SECRET: &str = "SECRET-";

/// Loads the fixture's events of shop.example and other.example, and a marked row in each
/// table an analyst must never see. Returns how many events belong to shop.example.
async fn load(store: &dyn Store) -> usize {
    let events = crate::roundtrip::fixture(7, 2_000);
    store.insert_events(&events).await.expect("insert events");
    for statement in [
        "INSERT INTO salts (day, salt, created_at) VALUES (today(), 'SECRET-salt', now())",
        "INSERT INTO users (email, password_hash) VALUES ('secret@example.test', 'SECRET-password-hash')",
        "INSERT INTO api_tokens (token_id, token_hash) VALUES ('t1', 'SECRET-token-hash')",
        "INSERT INTO visitor_sessions (day, site, visitor_id) VALUES (today(), 'SECRET-session', 1)",
        "INSERT INTO audit_log (at, actor, detail) VALUES (now(), 'SECRET-actor', 'x')",
    ] {
        store.execute(statement).await.expect(statement);
    }
    events.iter().filter(|e| e.site.as_str() == "shop.example").count()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An outcome for assertion messages: the error, or the size and start of the output.
fn shown(outcome: &Result<Vec<u8>, AnalystError>) -> String {
    match outcome {
        Ok(bytes) => format!("Ok({} bytes: {:?}…)", bytes.len(), text(&bytes[..bytes.len().min(80)])),
        Err(e) => format!("Err({e:?})"),
    }
}

/// How the engine wall alone answers an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    /// It refuses the statement.
    Refuses,
    /// It runs it: only the validator stands in the way.
    Runs,
}
use Engine::{Refuses, Runs};

struct Attempt {
    what: &'static str,
    sql: String,
    /// The engine wall alone on chDB, and on the ClickHouse server (18.16).
    embedded: Engine,
    server: Engine,
}

fn attempts(db: &str, other_scope: &str, dir: &str) -> Vec<Attempt> {
    let a = |what: &'static str, sql: String, embedded: Engine, server: Engine| Attempt { what, sql, embedded, server };
    vec![
        // Other sites' rows.
        a(
            "Larder's table by its database",
            format!("SELECT * FROM {db}.events WHERE site = 'other.example'"),
            Runs,
            Runs,
        ),
        a("the default database", "SELECT * FROM default.events".into(), Refuses, Refuses),
        a("backtick-quoted names", format!("SELECT * FROM `{db}`.`events`"), Runs, Runs),
        a("double-quoted names", format!("SELECT * FROM \"{db}\".\"events\""), Runs, Runs),
        a("another scope's events", format!("SELECT * FROM {other_scope}.events"), Runs, Runs),
        a("a comma join behind a keyword alias", format!("SELECT * FROM events AS where, {db}.salts"), Runs, Refuses),
        a(
            "a join after USING (…)",
            format!("SELECT any(salt) FROM events JOIN events AS b USING (site), {db}.salts"),
            Runs,
            Refuses,
        ),
        // System tables.
        a("system.tables", "SELECT name FROM system.tables".into(), Runs, Runs),
        a("system.one", "SELECT * FROM system.one".into(), Runs, Runs),
        a("system.settings", "SELECT name, value FROM system.settings".into(), Runs, Runs),
        a("SYSTEM in other casing", "SELECT * FROM SyStEm.one".into(), Refuses, Refuses),
        // Larder's other tables, by name and qualified.
        a("salts by name", "SELECT * FROM salts".into(), Refuses, Refuses),
        a("users by name", "SELECT * FROM users".into(), Refuses, Refuses),
        a("api_tokens by name", "SELECT * FROM api_tokens".into(), Refuses, Refuses),
        a("visitor_sessions by name", "SELECT * FROM visitor_sessions".into(), Refuses, Refuses),
        a("audit_log by name", "SELECT * FROM audit_log".into(), Refuses, Refuses),
        a("salts qualified", format!("SELECT salt FROM {db}.salts"), Runs, Runs),
        a("api_tokens qualified", format!("SELECT token_hash FROM {db}.api_tokens"), Runs, Runs),
        // Table functions and functions that reach files, the network or other tables.
        a("file() table function", "SELECT * FROM file('/etc/hostname', 'LineAsString')".into(), Refuses, Refuses),
        a("file() scalar function", "SELECT file('/etc/hostname')".into(), Runs, Refuses),
        a("url()", "SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'x String')".into(), Refuses, Refuses),
        a("remote()", "SELECT * FROM remote('127.0.0.1', system.one)".into(), Refuses, Refuses),
        a("s3()", "SELECT * FROM s3('http://127.0.0.1:9/bucket/key.csv', 'CSV', 'x String')".into(), Refuses, Refuses),
        a("merge()", format!("SELECT * FROM merge('{db}', '^salts$')"), Runs, Refuses),
        a("view()", format!("SELECT * FROM view(SELECT salt FROM {db}.salts)"), Runs, Refuses),
        a("numbers()", "SELECT * FROM numbers(3)".into(), Runs, Refuses),
        a("joinGet", format!("SELECT joinGet('{db}.salts', 'salt', today())"), Refuses, Refuses),
        a("dictGet", "SELECT dictGet('larder_dict', 'x', toUInt64(1))".into(), Refuses, Refuses),
        a("hasColumnInTable", format!("SELECT hasColumnInTable('{db}', 'salts', 'salt')"), Runs, Runs),
        // More than one statement, comments.
        a("two statements", "SELECT 1; DROP TABLE events".into(), Refuses, Refuses),
        a("a block comment before FROM", format!("SELECT salt /* x */ FROM {db}.salts"), Runs, Runs),
        a("a -- comment before FROM", "SELECT 1 -- x\nFROM system.one".into(), Runs, Runs),
        a("a # comment before FROM", "SELECT 1 # x\nFROM system.one".into(), Runs, Refuses),
        // Settings, writes, DDL, administration.
        a("SETTINGS readonly=0", "SELECT count() FROM events SETTINGS readonly = 0".into(), Refuses, Refuses),
        a("SETTINGS lifting the row limit", "SELECT 1 SETTINGS max_result_rows = 0".into(), Refuses, Refuses),
        a("SET", "SET max_result_rows = 0".into(), Refuses, Refuses),
        a("INSERT", "INSERT INTO events (site) VALUES ('x')".into(), Refuses, Refuses),
        a("ALTER", "ALTER TABLE events DELETE WHERE 1".into(), Refuses, Refuses),
        a("DROP", "DROP TABLE events".into(), Refuses, Refuses),
        a("OPTIMIZE", "OPTIMIZE TABLE events".into(), Refuses, Refuses),
        a("CREATE", "CREATE TABLE t (x UInt8) ENGINE = Memory".into(), Refuses, Refuses),
        // A read-only session may kill queries of its own user, which on a server is Larder's.
        a("KILL QUERY", "KILL QUERY WHERE query_id = 'larder-no-such-query'".into(), Runs, Runs),
        a("INTO OUTFILE", format!("SELECT count() FROM events INTO OUTFILE '{dir}/out.csv'"), Runs, Refuses),
        a("a FORMAT override", "SELECT count() FROM events FORMAT JSON".into(), Runs, Runs),
        // Other tables read from inside a query over events.
        a("a subquery over salts", format!("SELECT * FROM (SELECT salt FROM {db}.salts)"), Runs, Runs),
        a(
            "IN (SELECT … FROM system.…)",
            "SELECT count() FROM events WHERE 1 IN (SELECT dummy FROM system.one)".into(),
            Runs,
            Runs,
        ),
        a(
            "WITH (SELECT … FROM salts) AS x",
            format!("WITH (SELECT any(salt) FROM {db}.salts) AS x SELECT x"),
            Runs,
            Runs,
        ),
        a(
            "IN a table",
            format!("SELECT count() FROM events WHERE (toDate(timestamp), 'x', timestamp) IN {db}.salts"),
            Runs,
            Runs,
        ),
    ]
}

#[tokio::test]
async fn escape_attempts_are_refused_and_each_wall_is_known() {
    let (dir, stores) = both("analyst_escapes").await;
    let dir_path = dir.path().display().to_string();
    assert!(attempts("db", "scope", "dir").len() >= 25, "at least 25 attempts");
    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        load(store).await;
        let other_scope = analyst::prepare_scope(store, &Scope::one(site("other.example"))).await.expect("scope");
        let shop_scope = analyst::prepare_scope(store, &shop()).await.expect("scope");
        let mut report = Vec::new();
        let mut surprises = Vec::new();
        for attempt in attempts(store.database(), &other_scope, &dir_path) {
            let what = attempt.what;
            // The full path: refused by the validator, with a message.
            match analyst::run(store, &shop(), &attempt.sql, ExportFormat::Csv, &Limits::default()).await {
                Err(AnalystError::Rejected(rejection)) => {
                    assert!(!rejection.to_string().is_empty(), "{kind:?} {what}: a message");
                    report.push(format!("{what}: {rejection}"));
                }
                other => panic!("{kind:?} {what}: the validator must refuse {:?}, got {}", attempt.sql, shown(&other)),
            }
            // The engine wall alone.
            let settings = Limits::default().settings();
            let engine = match store.query_analyst(&shop_scope, &attempt.sql, "CSVWithNames", &settings).await {
                Ok(mut chunks) => {
                    let mut out = Vec::new();
                    loop {
                        match chunks.next().await {
                            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
                            Ok(None) => break Ok(out),
                            Err(e) => break Err(e),
                        }
                    }
                }
                Err(e) => Err(e),
            };
            let want = if kind == BackendKind::Embedded { attempt.embedded } else { attempt.server };
            let got = if engine.is_ok() { Runs } else { Refuses };
            if got != want {
                let engine = engine.map_err(AnalystError::Store);
                surprises.push(format!("{what}: expected {want:?}, the engine wall alone answered {}", shown(&engine)));
            }
        }
        assert!(surprises.is_empty(), "{kind:?}:\n{}", surprises.join("\n"));
        // The engine wall refused the writes: the data is intact and the scope view is there.
        assert_eq!(count(store, "SELECT count() FROM events").await, 2_000, "{kind:?}: events intact");
        let still =
            analyst::run(store, &shop(), "SELECT count() FROM events", ExportFormat::Csv, &Limits::default()).await;
        assert!(still.is_ok(), "{kind:?}: the scope still answers: {}", shown(&still));
        eprintln!("{kind:?}:\n  {}", report.join("\n  "));
    }
}

#[tokio::test]
async fn other_sites_rows_are_invisible_even_when_asked_for() {
    let (_dir, stores) = both("analyst_other_sites").await;
    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        let mine = load(store).await;
        let limits = Limits::default();
        let asked = analyst::run(
            store,
            &shop(),
            "SELECT count() FROM events WHERE site = 'other.example'",
            ExportFormat::Csv,
            &limits,
        )
        .await
        .expect("query");
        assert_eq!(text(&asked), "\"count()\"\n0\n", "{kind:?}: the other site's rows are not there");
        let sites = analyst::run(
            store,
            &shop(),
            "SELECT site, count() AS n FROM events GROUP BY site",
            ExportFormat::Tsv,
            &limits,
        )
        .await
        .expect("query");
        assert_eq!(text(&sites), format!("site\tn\nshop.example\t{mine}\n"), "{kind:?}: only shop.example");
        let all =
            analyst::run(store, &shop(), "SELECT * FROM events", ExportFormat::JsonLines, &limits).await.expect("all");
        let all = text(&all);
        assert_eq!(all.lines().count(), mine, "{kind:?}: every row of the site");
        assert!(!all.contains("other.example") && !all.contains(SECRET), "{kind:?}: nothing else");
    }
}

#[tokio::test]
async fn legitimate_analyst_queries_answer_like_direct_sql() {
    let (_dir, stores) = both("analyst_queries").await;
    let shop_filter = "site = 'shop.example'";
    // Each analyst query, with the same question asked of Larder's table directly.
    let cases = [
        (
            "SELECT pathname, count() AS n FROM events GROUP BY pathname ORDER BY n DESC, pathname LIMIT 5",
            format!(
                "SELECT pathname, count() AS n FROM events WHERE {shop_filter} GROUP BY pathname ORDER BY n DESC, pathname LIMIT 5"
            ),
        ),
        (
            "SELECT count() FROM (SELECT visitor_id, count() AS c FROM events GROUP BY visitor_id) WHERE c > 1",
            format!(
                "SELECT count() FROM (SELECT visitor_id, count() AS c FROM events WHERE {shop_filter} GROUP BY visitor_id) WHERE c > 1"
            ),
        ),
        (
            "SELECT count() FROM events WHERE visitor_id IN (SELECT visitor_id FROM events WHERE name = 'purchase')",
            format!(
                "SELECT count() FROM events WHERE {shop_filter} AND visitor_id IN (SELECT visitor_id FROM events WHERE {shop_filter} AND name = 'purchase')"
            ),
        ),
        (
            "SELECT item.name AS product, sum(item.quantity) AS sold FROM events ARRAY JOIN items AS item GROUP BY product ORDER BY product",
            format!(
                "SELECT item.name AS product, sum(item.quantity) AS sold FROM events ARRAY JOIN items AS item WHERE {shop_filter} GROUP BY product ORDER BY product"
            ),
        ),
        (
            "WITH (SELECT count() FROM events) AS total SELECT name, round(count() / total, 4) AS share FROM events GROUP BY name ORDER BY name",
            format!(
                "WITH (SELECT count() FROM events WHERE {shop_filter}) AS total SELECT name, round(count() / total, 4) AS share FROM events WHERE {shop_filter} GROUP BY name ORDER BY name"
            ),
        ),
        (
            "SELECT toDate(timestamp) AS day, uniq(visitor_id) FROM events WHERE name IN ('pageview', 'purchase') GROUP BY day ORDER BY day -- per day\n;",
            format!(
                "SELECT toDate(timestamp) AS day, uniq(visitor_id) FROM events WHERE {shop_filter} AND name IN ('pageview', 'purchase') GROUP BY day ORDER BY day"
            ),
        ),
    ];
    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        load(store).await;
        for (analyst_sql, direct_sql) in &cases {
            let got = analyst::run(store, &shop(), analyst_sql, ExportFormat::Tsv, &Limits::default())
                .await
                .unwrap_or_else(|e| panic!("{kind:?} {analyst_sql}: {e}"));
            let want = store.query_raw(direct_sql, "TabSeparatedWithNames").await.expect("direct");
            assert!(text(&got).lines().count() > 1, "{kind:?} {analyst_sql}: some rows");
            assert_eq!(text(&got), text(&want), "{kind:?} {analyst_sql}");
        }
    }
}

#[tokio::test]
async fn every_format_is_written_and_parquet_where_the_engine_has_it() {
    let (_dir, stores) = both("analyst_formats").await;
    let query = "SELECT name, count() AS n FROM events GROUP BY name ORDER BY name LIMIT 2";
    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        load(store).await;
        let direct = store
            .query_raw(
                "SELECT name, count() AS n FROM events WHERE site = 'shop.example' GROUP BY name ORDER BY name LIMIT 2",
                "JSONEachRow",
            )
            .await
            .expect("direct");
        let rows: Vec<serde_json::Value> =
            text(&direct).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        let (first, second) = (&rows[0], &rows[1]);
        let (scope, limits) = (shop(), Limits::default());
        let run = |format| analyst::run(store, &scope, query, format, &limits);
        let csv = run(ExportFormat::Csv).await.expect("csv");
        assert_eq!(
            text(&csv),
            format!(
                "\"name\",\"n\"\n\"{}\",{}\n\"{}\",{}\n",
                first["name"].as_str().expect("name"),
                first["n"],
                second["name"].as_str().expect("name"),
                second["n"]
            ),
            "{kind:?} csv"
        );
        let tsv = run(ExportFormat::Tsv).await.expect("tsv");
        assert_eq!(text(&tsv).lines().next(), Some("name\tn"), "{kind:?} tsv header");
        let jsonl = run(ExportFormat::JsonLines).await.expect("jsonl");
        let got: Vec<serde_json::Value> =
            text(&jsonl).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(got, rows, "{kind:?} jsonl");
        let parquet = run(ExportFormat::Parquet).await;
        match kind {
            BackendKind::Embedded => {
                let bytes = parquet.expect("parquet on chDB");
                assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"), "{kind:?}: Parquet magic bytes");
            }
            BackendKind::Server => match parquet {
                Err(e @ AnalystError::FormatUnsupported { .. }) => {
                    assert!(e.to_string().contains("parquet format is not supported"), "{e}");
                }
                other => panic!("{kind:?}: 18.16 has no Parquet, got {}", shown(&other)),
            },
        }
    }
}

#[tokio::test]
async fn a_scope_of_several_sites_sees_those_sites_only() {
    let (_dir, stores) = both("analyst_scopes").await;
    let mut third = crate::roundtrip::fixture(8, 300);
    for event in &mut third {
        event.site = site("third.example");
    }
    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        let shop_count = load(store).await;
        store.insert_events(&third).await.expect("insert third");
        let scope = Scope::new([site("third.example"), site("shop.example")]).expect("scope");
        let out = analyst::run(
            store,
            &scope,
            "SELECT site, count() FROM events GROUP BY site ORDER BY site",
            ExportFormat::Tsv,
            &Limits::default(),
        )
        .await
        .expect("query");
        assert_eq!(
            text(&out),
            format!("site\tcount()\nshop.example\t{shop_count}\nthird.example\t{}\n", third.len()),
            "{kind:?}: both sites of the scope, not other.example"
        );
        let alone = analyst::run(store, &shop(), "SELECT count() FROM events", ExportFormat::Tsv, &Limits::default())
            .await
            .expect("query");
        assert_eq!(text(&alone), format!("count()\n{shop_count}\n"), "{kind:?}: a narrower scope is its own view");
    }
}

#[tokio::test]
async fn results_beyond_the_row_or_byte_limit_are_refused() {
    let (_dir, stores) = both("analyst_rows").await;
    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        let mine = load(store).await;
        // 2 000 events × 1 000 rows each is well beyond the default limit of 1 000 000 rows.
        let huge = "SELECT n FROM events ARRAY JOIN range(1000) AS n";
        let refused = analyst::run(store, &shop(), huge, ExportFormat::Csv, &Limits::default()).await;
        assert!(
            matches!(refused, Err(AnalystError::TooManyRows { limit: 1_000_000 })),
            "{kind:?}: {}",
            shown(&refused)
        );
        let small = Limits { max_result_rows: 100, ..Limits::default() };
        let refused = analyst::run(store, &shop(), "SELECT * FROM events", ExportFormat::JsonLines, &small).await;
        assert!(matches!(refused, Err(AnalystError::TooManyRows { limit: 100 })), "{kind:?}: {}", shown(&refused));
        assert!(refused.expect_err("refused").to_string().contains("more than 100 rows"), "{kind:?}: message");
        // The limit is on the result, not on the rows a subquery reads.
        let counted =
            analyst::run(store, &shop(), "SELECT count() FROM (SELECT * FROM events)", ExportFormat::Tsv, &small)
                .await
                .expect("a small result of a large subquery");
        assert_eq!(text(&counted), format!("count()\n{mine}\n"), "{kind:?}");
        // About 1 000 rows of every column: more than 50 000 bytes. (chDB does not count constant
        // columns, such as repeat('x', 1000), towards this limit; the memory limit bounds them.)
        let bytes = Limits { max_result_bytes: 50_000, ..Limits::default() };
        let refused = analyst::run(store, &shop(), "SELECT * FROM events", ExportFormat::Csv, &bytes).await;
        assert!(matches!(refused, Err(AnalystError::TooManyBytes { limit: 50_000 })), "{kind:?}: {}", shown(&refused));
        let memory = Limits { max_memory_bytes: 10_000_000, ..Limits::default() };
        let greedy = "SELECT length(groupArray(pathname)) FROM events ARRAY JOIN range(2000) AS n";
        let refused = analyst::run(store, &shop(), greedy, ExportFormat::Csv, &memory).await;
        assert!(
            matches!(refused, Err(AnalystError::MemoryLimit { limit: 10_000_000 })),
            "{kind:?}: {}",
            shown(&refused)
        );
    }
}

#[tokio::test]
async fn queries_beyond_the_time_limit_are_stopped() {
    let (_dir, stores) = both("analyst_time").await;
    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        store
            .execute(
                // Visits of 50 page views, a second apart: the view pre-aggregating visits costs per visit.
                "INSERT INTO events (event_id, site, timestamp, name, visitor_id, session_id, pathname) \
                 SELECT generateUUIDv4(), 'shop.example', toDateTime('2026-01-01 00:00:00', 'UTC') + number, 'pageview', \
                 intDiv(number, 50), intDiv(number, 50), '/p' FROM numbers(2000000)",
            )
            .await
            .expect("load 2M events");
        // A legitimate query that takes seconds on both engines (300 hashes per event). The
        // subquery: 18.16 cannot resolve a view's column captured by a lambda.
        let slow = "SELECT count() FROM (SELECT visitor_id FROM events) \
                    WHERE NOT ignore(arraySum(arrayMap(x -> cityHash64(x, visitor_id), range(300))))";
        let limits = Limits { max_execution_secs: 1, ..Limits::default() };
        let started = std::time::Instant::now();
        let stopped = analyst::run(store, &shop(), slow, ExportFormat::Csv, &limits).await;
        assert!(matches!(stopped, Err(AnalystError::TimeLimit { limit_secs: 1 })), "{kind:?}: {}", shown(&stopped));
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{kind:?}: stopped near the limit");
        let after = analyst::run(store, &shop(), "SELECT count() FROM events", ExportFormat::Csv, &limits).await;
        assert_eq!(text(&after.expect("the next query runs")), "\"count()\"\n2000000\n", "{kind:?}");
    }
}

#[tokio::test]
async fn analyst_sessions_leave_the_store_writable_and_scopes_come_back_after_migrations() {
    let (_dir, stores) = both("analyst_sessions").await;
    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        let mine = load(store).await;
        let write = analyst::run(
            store,
            &shop(),
            "INSERT INTO events (site) VALUES ('x')",
            ExportFormat::Csv,
            &Limits::default(),
        )
        .await;
        assert!(
            matches!(write, Err(AnalystError::Rejected(Rejection::NotSelect { .. }))),
            "{kind:?}: {}",
            shown(&write)
        );
        analyst::run(store, &shop(), "SELECT count() FROM events", ExportFormat::Csv, &Limits::default())
            .await
            .expect("query");
        // The store's own sessions still write after an analyst query ran.
        let more = crate::roundtrip::fixture(9, 10);
        store.insert_events(&more).await.expect("insert after an analyst query");
        // Migrations drop the scopes; the next query creates its scope again.
        analyst::drop_scoped_views(store).await.expect("drop scopes");
        let out = analyst::run(store, &shop(), "SELECT count() FROM events", ExportFormat::Tsv, &Limits::default())
            .await
            .expect("scope recreated");
        let added = more.iter().filter(|e| e.site.as_str() == "shop.example").count();
        assert_eq!(text(&out), format!("count()\n{}\n", mine + added), "{kind:?}");
    }
}
