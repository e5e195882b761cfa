#![recursion_limit = "256"]
//! Which format should inserts use? RowBinary (Larder's encoder) against JSONEachRow, on each
//! engine, as rows per second including client-side encoding, each against a ceiling measured
//! in the same run: the engine copying the same rows table-to-table (`INSERT … SELECT`), which
//! has no parsing and no transfer.

use std::time::Instant;

use larder_store::Store;
use larder_store::rowbinary::Row;
use larder_store::rows::EventRow;
use serde_json::{Value, json};

const ROWS: usize = 200_000;
const BATCH: usize = 50_000;

#[tokio::main]
async fn main() {
    let events = larder_benches::shop_events(11, ROWS);
    let rows: Vec<EventRow> = events.iter().map(EventRow::from).collect();
    println!("insert formats: {ROWS} events in batches of {BATCH}; machine: {}", larder_benches::machine());
    println!("| engine | format | rows/s | ÷ in-engine copy |");
    println!("| --- | --- | ---: | ---: |");
    let (_dir, embedded) = larder_benches::embedded().await;
    measure("chDB (embedded)", embedded.as_ref(), &rows).await;
    match larder_benches::server("insert_formats").await {
        Some(server) => measure("ClickHouse server", server.as_ref(), &rows).await,
        None => eprintln!("LARDER_BENCH_CLICKHOUSE_URL not set: server skipped (make bench sets it)"),
    }
}

async fn measure(engine: &str, store: &dyn Store, rows: &[EventRow]) {
    let version = store.version().await.map(|v| v.text).unwrap_or_default();
    let columns = EventRow::COLUMNS.join(", ");
    let insert = format!("INSERT INTO events ({columns})");

    // Warm-up (first insert creates files, loads code paths), then truncate.
    insert_rowbinary(store, &rows[..1000]).await;
    store.execute("TRUNCATE TABLE events").await.expect("truncate");

    let started = Instant::now();
    insert_rowbinary(store, rows).await;
    let rowbinary = rows.len() as f64 / started.elapsed().as_secs_f64();

    store.execute("TRUNCATE TABLE events").await.expect("truncate");
    let started = Instant::now();
    for chunk in rows.chunks(BATCH) {
        let mut body = Vec::with_capacity(chunk.len() * 600);
        for row in chunk {
            serde_json::to_writer(&mut body, &json_row(row)).expect("encode");
            body.push(b'\n');
        }
        store.insert_raw(&insert, "JSONEachRow", body).await.expect("insert JSONEachRow");
    }
    let json = rows.len() as f64 / started.elapsed().as_secs_f64();

    // The ceiling: the same rows copied inside the engine.
    store.execute("CREATE TABLE IF NOT EXISTS events_copy AS events").await.expect("copy table");
    let started = Instant::now();
    store.execute("INSERT INTO events_copy SELECT * FROM events").await.expect("copy");
    let ceiling = rows.len() as f64 / started.elapsed().as_secs_f64();
    store.execute("DROP TABLE events_copy").await.expect("drop copy");

    for (format, rate) in [("RowBinary", rowbinary), ("JSONEachRow", json), ("INSERT … SELECT (ceiling)", ceiling)] {
        println!("| {engine} {version} | {format} | {rate:.0} | {:.2} |", rate / ceiling);
    }
}

async fn insert_rowbinary(store: &dyn Store, rows: &[EventRow]) {
    for chunk in rows.chunks(BATCH) {
        (store as &dyn Store).insert_rows(chunk).await.expect("insert RowBinary");
    }
}

/// A `Decimal(18, 4)` as a JSON number (18.16 does not read quoted decimals inside arrays).
fn decimal(e4: i64) -> f64 {
    e4 as f64 / 10_000.0
}

/// The row as JSONEachRow: what a client without a RowBinary encoder would send.
fn json_row(r: &EventRow) -> Value {
    let timestamp = chrono::DateTime::from_timestamp(i64::from(r.timestamp), 0).unwrap_or_default();
    json!({
        "event_id": r.event_id.to_string(), "site": r.site, "timestamp": timestamp.format("%Y-%m-%d %H:%M:%S").to_string(),
        "name": r.name, "visitor_id": r.visitor_id, "session_id": r.session_id, "hostname": r.hostname,
        "pathname": r.pathname, "referrer_host": r.referrer_host, "referrer_source": r.referrer_source,
        "referrer_medium": r.referrer_medium, "utm_source": r.utm_source, "utm_medium": r.utm_medium,
        "utm_campaign": r.utm_campaign, "utm_term": r.utm_term, "utm_content": r.utm_content,
        "country": r.country, "region": r.region, "city": r.city, "browser": r.browser,
        "browser_version": r.browser_version, "os": r.os, "os_version": r.os_version, "device": r.device,
        "props.key": r.props_key, "props.value": r.props_value,
        "revenue": r.revenue_e4.map(decimal), "currency": r.currency, "order_id": r.order_id,
        "items.product_id": r.items_product_id, "items.name": r.items_name, "items.category": r.items_category,
        "items.quantity": r.items_quantity, "items.price": r.items_price_e4.iter().map(|p| decimal(*p)).collect::<Vec<_>>(),
        "search_query": r.search_query, "search_results": r.search_results, "search_position": r.search_position,
        "search_product": r.search_product, "scroll_depth": r.scroll_depth, "engaged_ms": r.engaged_ms,
        "selector": r.selector, "vital_name": r.vital_name, "vital_value": r.vital_value,
        "error_message": r.error_message, "error_source": r.error_source, "error_line": r.error_line,
    })
}
