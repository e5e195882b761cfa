//! `larder`: one binary for every role. See `larder --help`.

use clap::Parser;

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
