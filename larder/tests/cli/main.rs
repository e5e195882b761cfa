//! Tests of the `larder` binary as a user runs it: real processes, a real embedded store.

mod helpers;
mod kill;
mod serve;
