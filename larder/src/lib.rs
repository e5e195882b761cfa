//! The `larder` binary's wiring: configuration, telemetry, the `serve` startup and the CLI
//! commands. Everything of substance lives in the libraries (`larder-core`, `larder-store`,
//! `larder-dashboard-api`); this crate loads settings, opens the store and mounts services.

pub mod cli;
pub mod commands;
pub mod config;
mod health;
pub mod housekeeping;
pub mod serve;
pub mod telemetry;
