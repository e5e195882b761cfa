//! The ingestion benchmark's Markdown tables (for the README) and the verdict on the targets
//! of issue 3.

use std::time::Duration;

use larder_benches::mix::USER_AGENTS;

use crate::{Backend, Run, Setup, VISITORS, WARM_UP};

const BARE: &str = "bare actix-web handler → 204 (ceiling)";
const MIB: f64 = 1024.0 * 1024.0;
const THREAD_KINDS: [&str; 4] = ["HTTP workers", "spool writer", "async runtime", "engine (chDB)"];

pub fn print(setup: &Setup, ceiling_single: &Run, ceiling_batch: &Run, backends: &[&Backend], disk_sync: &[Duration]) {
    println!(
        "ingest: {} keep-alive connections, closed loop; {} s warm-up, then {} s per run; {VISITORS} visitors, {} user agents; machine: {}",
        setup.connections,
        WARM_UP.as_secs(),
        setup.measure.as_secs(),
        USER_AGENTS.len(),
        larder_benches::machine()
    );
    let runs: Vec<(&str, &str, &Run, &Run)> =
        [(BARE, "1 event", ceiling_single, ceiling_single), (BARE, "100 events", ceiling_batch, ceiling_batch)]
            .into_iter()
            .chain(backends.iter().flat_map(|b| {
                [
                    (b.label.as_str(), "1 event", &b.single, ceiling_single),
                    (b.label.as_str(), "100 events", &b.batch, ceiling_batch),
                ]
            }))
            .collect();

    println!();
    println!("| server | request | requests/s | events/s | ÷ bare handler | p50 ms | p99 ms |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (label, shape, run, ceiling) in &runs {
        let r = &run.report;
        println!(
            "| {label} | {shape} | {} | {} | {:.2} | {} | {} |",
            thousands(r.requests_per_second()),
            thousands(r.events_per_second()),
            r.events_per_second() / ceiling.report.events_per_second(),
            ms(r.latency(0.50)),
            ms(r.latency(0.99)),
        );
    }

    println!();
    println!(
        "| server | request | events accepted | all stored after s | events/s end to end | flushes | events/flush | ms/flush | engine inserting the same rows, rows/s |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for backend in backends {
        for (shape, run) in [("1 event", &backend.single), ("100 events", &backend.batch)] {
            let Some(e2e) = &run.end_to_end else { continue };
            let per_flush = |x: f64| if e2e.flushes > 0.0 { x / e2e.flushes } else { 0.0 };
            println!(
                "| {} | {shape} | {} | {:.1} (last {:.1} s after the last answer) | {} | {:.0} | {} | {:.0} | {} ({} rows) |",
                backend.label,
                thousands(e2e.events as f64),
                e2e.seconds,
                e2e.tail.as_secs_f64(),
                thousands(e2e.events as f64 / e2e.seconds),
                e2e.flushes,
                thousands(per_flush(e2e.flushed_events)),
                per_flush(e2e.flush_seconds) * 1000.0,
                thousands(backend.engine_rows_per_second),
                thousands(backend.engine_rows as f64),
            );
        }
    }

    println!();
    println!(
        "| server | request | server CPU, cores | of which HTTP workers / spool writer / async runtime / chDB | generator | clickhouse-server | rest of the machine | server CPU µs/event, accepted and stored | clickhouse-server µs/event | RSS at end MB | peak RSS MB |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (label, shape, run, _) in &runs {
        let split: Vec<String> =
            THREAD_KINDS.iter().map(|k| format!("{:.2}", run.threads.get(k).copied().unwrap_or(0.0))).collect();
        let e2e = run.end_to_end.as_ref();
        println!(
            "| {label} | {shape} | {:.2} | {} | {:.2} | {} | {:.2} | {} | {} | {:.0} | {:.0} |",
            run.server_cores,
            if e2e.is_some() { split.join(" / ") } else { "–".to_owned() },
            run.generator_cores,
            optional(e2e.and(run.clickhouse_cores), 2),
            run.rest_cores,
            optional(e2e.map(|e| e.server_us_per_event), 1),
            optional(e2e.and_then(|e| e.clickhouse_us_per_event), 1),
            run.rss_bytes as f64 / MIB,
            run.peak_rss_bytes as f64 / MIB,
        );
    }

    println!();
    println!(
        "| 1-event requests that stop at | answer | server | requests/s | ÷ bare handler | p50 ms | p99 ms | server CPU µs/request |"
    );
    println!("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let stage = |what: &str, answer: &str, label: &str, run: &Run| {
        println!(
            "| {what} | {answer} | {label} | {} | {:.2} | {} | {} | {:.0} |",
            thousands(run.report.requests_per_second()),
            run.report.requests_per_second() / ceiling_single.report.requests_per_second(),
            ms(run.report.latency(0.50)),
            ms(run.report.latency(0.99)),
            run.server_us_per_request,
        );
    };
    stage("the handler (reads the body)", "204", BARE, ceiling_single);
    for b in backends {
        stage("validation: body read, JSON parsed and validated, site unknown", "404", &b.label, &b.unknown_site);
        stage("privacy signal: + site lookup, user-agent parsing", "202, not recorded", &b.label, &b.privacy_signal);
        stage(
            "nothing: + geolocation, URL and referrer hygiene, visitor hash, spool write and fsync",
            "202",
            &b.label,
            &b.single,
        );
        stage(&format!("nothing, over {} connections", b.wide.connections), "202", &b.label, &b.wide);
    }
    let quantile =
        |q: f64| disk_sync.get(((disk_sync.len() as f64 * q) as usize).min(disk_sync.len().saturating_sub(1)));
    if let (Some(p50), Some(p99)) = (quantile(0.5), quantile(0.99)) {
        println!();
        println!(
            "`fdatasync` after a 1 KiB append on the spool's file system, measured in the same run: p50 {} ms, p99 {} ms.",
            ms(*p50),
            ms(*p99)
        );
    }

    println!();
    print_targets(ceiling_single, backends);
}

fn print_targets(ceiling_single: &Run, backends: &[&Backend]) {
    let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
    println!("| target (issue 3, 2-core machine) | server | measured | |");
    println!("| --- | --- | --- | --- |");
    for b in backends {
        let ratio = b.single.report.events_per_second() / ceiling_single.report.events_per_second();
        println!(
            "| single events ≥ 70 % of the bare handler | {} | {:.0} % | {} |",
            b.label,
            ratio * 100.0,
            verdict(ratio >= 0.70)
        );
        let batch = b.batch.report.events_per_second();
        println!(
            "| batches ≥ 200,000 events/s accepted | {} | {} | {} |",
            b.label,
            thousands(batch),
            verdict(batch >= 200_000.0)
        );
        if let Some(e2e) = &b.batch.end_to_end {
            let rate = e2e.events as f64 / e2e.seconds;
            println!(
                "| batches ≥ 200,000 events/s end to end | {} | {} | {} |",
                b.label,
                thousands(rate),
                verdict(rate >= 200_000.0)
            );
        }
        for (shape, run) in [("1 event", &b.single), ("100 events", &b.batch)] {
            let p99 = run.report.latency(0.99);
            println!(
                "| p99 < 10 ms, {shape} | {} | {} ms | {} |",
                b.label,
                ms(p99),
                verdict(p99 < Duration::from_millis(10))
            );
        }
    }
    for b in backends.iter().filter(|b| b.is_server) {
        let end = b.single.rss_bytes.max(b.batch.rss_bytes) as f64 / MIB;
        let peak = b.single.peak_rss_bytes.max(b.batch.peak_rss_bytes) as f64 / MIB;
        println!(
            "| collector RSS < 150 MB | {} | {end:.0} MB at the end of a run, peak {peak:.0} MB | {} |",
            b.label,
            verdict(peak < 150.0)
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn optional(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// `1234567.8` → `1,234,568`.
fn thousands(value: f64) -> String {
    larder_benches::group_digits(&format!("{:.0}", value.max(0.0)))
}
