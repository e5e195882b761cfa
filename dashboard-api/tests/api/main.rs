//! The dashboard-api against a real store (embedded chDB and clickhouse-server): access control,
//! reports, SQL export, and the OpenAPI document held to the code.

mod audit;
mod csrf;
mod dashboard;
mod deletion;
mod helpers;
mod local;
mod lockout;
mod login;
mod openapi;
mod reports;
mod roles;
mod sql;
mod tokens;
