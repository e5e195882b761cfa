//! `larder`: one binary for every role. See `larder --help`.

use clap::Parser;

/// mimalloc rather than glibc's malloc: the collector allocates many small, short-lived
/// buffers on several threads, where glibc keeps freed memory in per-thread arenas (a
/// collector's resident memory stayed near its peak after a load); see the README's benchmarks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long mimalloc keeps memory freed by the program before returning it to the system, in
/// milliseconds, unless `MIMALLOC_PURGE_DELAY` says otherwise. Its default, 1,000, let a collector
/// taking 100-event batches peak at 184–229 MB resident; with 10 it peaked at 132–136 MB in the
/// same benchmark, at no measurable cost to single events (see the README's benchmarks).
const PURGE_DELAY_MS: std::ffi::c_long = 10;
/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (libmimalloc-sys 0.1.49 names no constant
/// for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[allow(unsafe_code)]
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` is not thread safe; this runs first in `main`, before any
        // other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator();
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
