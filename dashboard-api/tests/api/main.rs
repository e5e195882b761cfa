//! The dashboard-api against a real store (embedded chDB and clickhouse-server): access control.

mod audit;
mod csrf;
mod helpers;
mod local;
mod lockout;
mod login;
mod reports;
mod roles;
mod sql;
mod tokens;
