//! `larder`: one binary for every role. See `larder --help`.

use clap::Parser;

/// mimalloc rather than glibc's malloc: the collector allocates many small, short-lived
/// buffers on several threads, where glibc keeps freed memory in per-thread arenas (a
/// collector's resident memory stayed near its peak after a load); see the README's benchmarks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = larder::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("larder: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(larder::commands::run(cli));
    // Everything that used the store has finished; stop the embedded engine before exiting
    // (chDB must not be torn down by process exit while its threads run).
    drop(runtime);
    larder_store::shutdown_embedded_engine();
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("larder: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
