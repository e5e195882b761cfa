//! Tests of the `larder` binary as a user runs it: real processes, a real embedded store (and a
//! real ClickHouse server for the split `larder collector` / `larder api`, and a real two-shard
//! cluster that the cluster test starts with scripts/ch-cluster.sh).

mod backup;
mod cluster;
mod dashboard;
mod data_protection;
mod helpers;
mod kill;
mod serve;
mod split;
