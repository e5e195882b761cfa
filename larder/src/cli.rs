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
    /// Run only the dashboard API and the dashboard (against a ClickHouse server, beside
    /// `larder collector`).
    Api(ServeArgs),
    /// Apply the schema migrations that are not applied yet.
    Migrate(StoreArgs),
    /// Register, list and remove sites.
    Sites {
        #[command(subcommand)]
        action: SitesCommand,
    },
    /// Dashboard users and their roles on sites.
    Users {
        #[command(subcommand)]
        action: UsersCommand,
    },
    /// API tokens (`Authorization: Bearer …` for scripts).
    Tokens {
        #[command(subcommand)]
        action: TokensCommand,
    },
    /// Run a read-only SQL query over a site's events (a table named `events`).
    Sql(SqlArgs),
    /// Load synthetic shop events for a site (demos and benchmarks); registers the site.
    DemoData(DemoDataArgs),
    /// Print every stored field: its table, what produces it, whether it can relate to a
    /// person, its retention and who can read it (read from the live schema).
    Datamap(DatamapArgs),
    /// Delete a site's events — all of them, a time range, or those of an order or a property a
    /// customer asked about. Returns once they are gone; recorded in the audit log.
    Delete(DeleteArgs),
    /// Per-site retention (applied daily by `larder serve` / `larder api`).
    Retention {
        #[command(subcommand)]
        action: RetentionCommand,
    },
    /// Back up every table into a new directory or bucket prefix, encrypted with a key file,
    /// in full or incremental to an earlier backup; or, with --new-key, write a new key file.
    Backup(BackupArgs),
    /// Restore a backup into an empty store (migrated first), then check every table against it.
    Restore(RestoreArgs),
    /// Copy every table of an embedded store into a ClickHouse cluster (migrated first, and
    /// empty: a copy is never applied twice), then check every table against the source.
    MigrateToCluster(MigrateToClusterArgs),
}

#[derive(Debug, Args)]
pub struct MigrateToClusterArgs {
    /// Data directory of the embedded store to copy (stop `larder serve` on it first).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// HTTP URL of a node of the cluster (default: store.url).
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// The cluster's name in the servers' remote_servers (default: store.cluster).
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["to", "new_key"])))]
pub struct BackupArgs {
    /// Where the backup goes: a new directory (must not exist, or be empty), or
    /// s3://BUCKET/PREFIX (nothing under the prefix yet; see [backup] in the configuration).
    #[arg(long, value_name = "PATH|s3://BUCKET/PREFIX", requires = "key", conflicts_with = "new_key")]
    pub to: Option<String>,
    /// Make the backup incremental to this earlier backup (a directory or s3://…): chunks that
    /// did not change since it are referred to, not written again. Restoring the new backup
    /// needs this one (and every backup it refers to) to be reachable.
    #[arg(long, value_name = "PATH|s3://BUCKET/PREFIX", requires = "to")]
    pub base: Option<String>,
    /// The key file that encrypts the backup (made with --new-key).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Write a new random key to FILE (readable by its owner only; never replaces a file) and exit.
    #[arg(long, value_name = "FILE", conflicts_with = "key")]
    pub new_key: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup: a directory or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "PATH|s3://BUCKET/PREFIX")]
    pub from: String,
    /// The key file the backup was encrypted with.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Restore even into a store that has rows: its tables are emptied first.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct DatamapArgs {
    /// Markdown (for people) or JSON (for tools).
    #[arg(long, default_value = "markdown", value_parser = ["markdown", "md", "json"])]
    pub format: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true)
    .args(["all", "from", "to", "order_id", "prop"])))]
pub struct DeleteArgs {
    /// The site whose events are deleted.
    #[arg(long)]
    pub site: String,
    /// Every event of the site (nothing else may be given).
    #[arg(long, conflicts_with_all = ["from", "to", "order_id", "prop"])]
    pub all: bool,
    /// First instant deleted: a date (its midnight UTC) or an RFC 3339 time.
    #[arg(long, value_name = "DATE|TIME")]
    pub from: Option<String>,
    /// First instant kept after the range (exclusive): a date or an RFC 3339 time.
    #[arg(long, value_name = "DATE|TIME")]
    pub to: Option<String>,
    /// Events of this order id.
    #[arg(long, value_name = "ID", conflicts_with = "prop")]
    pub order_id: Option<String>,
    /// Events with this custom property, e.g. `--prop customer_ref=c-77`.
    #[arg(long, value_name = "KEY=VALUE")]
    pub prop: Option<String>,
    /// Why (a ticket number); kept in the audit log.
    #[arg(long, default_value = "")]
    pub reference: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Delete every site's events older than its retention_days now (as the daily run does).
    Apply {
        /// Only this site.
        #[arg(long)]
        site: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
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
    /// The site whose events the query sees; repeat it to see several sites' events.
    #[arg(long, required = true)]
    pub site: Vec<String>,
    /// Output format; parquet where the engine has it (the embedded store; not ClickHouse 18.16).
    #[arg(long, default_value = "csv", value_parser = ["csv", "tsv", "jsonl", "parquet"])]
    pub format: String,
    /// Most rows the result may have (default 1000000); a larger result is refused.
    #[arg(long, value_name = "N")]
    pub max_rows: Option<u64>,
    /// Longest the query may run, in seconds (default 30).
    #[arg(long, value_name = "SECS")]
    pub timeout_secs: Option<u64>,
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

/// Role names, lowest first.
const ROLES: [&str; 4] = ["viewer", "analyst", "admin", "owner"];

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user. Prints a generated password unless --password-stdin.
    Add {
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Give the user a role on this site (with --role).
        #[arg(long, requires = "role")]
        site: Option<String>,
        #[arg(long, requires = "site", value_parser = ROLES)]
        role: Option<String>,
        /// Make the user an instance administrator: they may create sites in the dashboard.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Give a user a role on a site (replacing the one they had).
    Grant {
        email: String,
        #[arg(long)]
        site: String,
        #[arg(long, value_parser = ROLES)]
        role: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Take a user's role on a site away.
    Revoke {
        email: String,
        #[arg(long)]
        site: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set a new password (generated and printed unless --password-stdin); ends the user's sessions.
    ResetPassword {
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List users and their roles.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token acting for a user; prints its secret once (on standard output).
    Create {
        /// The user the token acts for.
        #[arg(long = "user", value_name = "EMAIL")]
        user: String,
        /// A site the token may use (repeat for several); the user needs at least --role there.
        #[arg(long = "site", value_name = "DOMAIN", required = true)]
        sites: Vec<String>,
        #[arg(long, value_parser = ROLES)]
        role: String,
        /// The token stops working after this many days (default: never).
        #[arg(long, value_name = "N")]
        expires_days: Option<u32>,
        /// What the token is for.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens that are not revoked.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by its id.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}
