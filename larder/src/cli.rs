//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Larder: first-party, cookieless analytics for online stores.
#[derive(Debug, Parser)]
#[command(name = "larder", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./larder.toml when it exists.
    #[arg(long, global = true, env = "LARDER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Larder: the collector, the API and the dashboard in one process.
    Serve(ServeArgs),
    /// Run only the collector (against a ClickHouse server; run as many as you like).
    Collector(ServeArgs),
    /// Apply the schema migrations that are not applied yet.
    Migrate(StoreArgs),
    /// Register, list and remove sites.
    Sites {
        #[command(subcommand)]
        action: SitesCommand,
    },
    /// Run a read-only SQL query over one site's events (a table named `events`).
    Sql(SqlArgs),
    /// Load synthetic shop events for a site (demos and benchmarks); registers the site.
    DemoData(DemoDataArgs),
}

/// Which store a command works on (the rest comes from the configuration).
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// Data directory of the embedded store (default ./data).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Also serve the demo storefront at /demo/ (and register its site, demo.larder.test).
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum SitesCommand {
    /// Register a site by its domain (`shop.example`).
    Add {
        domain: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List registered sites.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a site (its events stay until deleted or expired).
    Remove {
        domain: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The site whose events the query sees.
    #[arg(long)]
    pub site: String,
    /// Output format.
    #[arg(long, default_value = "csv", value_parser = ["csv", "tsv", "jsonl"])]
    pub format: String,
    /// The query, e.g. "SELECT pathname, count() FROM events GROUP BY pathname".
    pub query: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct DemoDataArgs {
    /// The site the events belong to.
    #[arg(long, default_value = "shop.example")]
    pub site: String,
    /// How many events to generate.
    #[arg(long, default_value_t = 50_000)]
    pub events: usize,
    /// The events are spread over this many days up to now.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Seed of the generator: the same seed gives the same events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub store: StoreArgs,
}
