//! Store integration tests against real engines: embedded chDB (a fresh data directory per
//! test; nextest runs each test in its own process, as chDB allows one directory per process)
//! and a real `clickhouse-server` started by `make test` (a fresh database per test).

mod analyst;
mod backup;
mod datamap;
mod deletion;
mod funnels;
mod goals;
mod helpers;
mod ingest;
mod migrations;
mod parity;
mod retention;
mod rollup;
mod roundtrip;
mod search;
mod sites;
mod stats;
mod unreachable;
mod ux;
