//! The collector over real HTTP against real stores: embedded chDB (a fresh data directory per
//! test; nextest gives each test its own process) and the `clickhouse-server` that `make test`
//! starts (a fresh database per test).

mod contract;
mod durability;
mod helpers;
mod ingest;
mod malformed;
mod privacy;
mod sessions;
mod sites;
