//! The CLI commands. Each works on the configured store directly, or, when a running
//! `larder serve` holds the embedded data directory, through that server's local channel.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use larder_core::SiteDomain;
use larder_dashboard_api::local::ControlFile;
use larder_store::analyst::{self, ExportFormat};
use larder_store::{Store, StoreError, migrate, sites};

use crate::cli::{Cli, Command, SitesCommand, StoreArgs};
use crate::config::{self, Backend, Settings};

/// Runs one CLI invocation.
///
/// # Errors
/// Whatever the command fails with, ready to print.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let file = cli.config.clone().or_else(|| Path::new("larder.toml").exists().then(|| PathBuf::from("larder.toml")));
    let text = match &file {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?),
        None => None,
    };
    let sources = config::Sources { file: file.as_deref().zip(text.as_deref()), env: &env };
    let mut settings = config::load(&sources)?;
    match cli.command {
        Command::Serve(args) => serve(settings, &args, crate::serve::Roles::all()).await,
        Command::Collector(args) => {
            if settings.store.backend == Backend::Embedded && !args.demo {
                bail!(
                    "`larder collector` runs against a ClickHouse server (store.backend = \"server\"); use `larder serve` for the embedded store"
                )
            }
            serve(settings, &args, crate::serve::Roles { collector: true, api: false, demo: None }).await
        }
        Command::Migrate(args) => {
            let target = open_target(&mut settings, &args).await?;
            let (applied, already) = match &target {
                Target::Store(store) => {
                    let report = migrate::migrate(store.as_ref()).await?;
                    (report.applied, report.already_applied)
                }
                Target::Server(client) => client.migrate().await?,
            };
            for name in &applied {
                println!("applied {name}");
            }
            println!("{} migration(s) applied, {} already applied", applied.len(), already.len());
            Ok(())
        }
        Command::Sites { action } => sites_command(&mut settings, action).await,
        Command::DemoData(args) => demo_data(&mut settings, args).await,
        Command::Sql(args) => {
            let target = open_target(&mut settings, &args.store).await?;
            let site = SiteDomain::parse(&args.site).map_err(|e| anyhow::anyhow!("--site: {e}"))?;
            let format = ExportFormat::parse(&args.format).context("--format must be csv, tsv or jsonl")?;
            let out = match &target {
                Target::Store(store) => {
                    if sites::get(store.as_ref(), &site).await?.is_none() {
                        bail!("site {site} is not registered (add it with `larder sites add {site}`)");
                    }
                    analyst::run(store.as_ref(), &site, &args.query, format).await.map_err(describe_query_error)?
                }
                Target::Server(client) => client.sql(&site, &args.query, &args.format).await?,
            };
            std::io::stdout().lock().write_all(&out)?;
            Ok(())
        }
    }
}

async fn serve(
    mut settings: Settings,
    args: &crate::cli::ServeArgs,
    mut roles: crate::serve::Roles,
) -> anyhow::Result<()> {
    apply_store_args(&mut settings, &args.store);
    if let Some(listen) = args.listen {
        settings.http.listen = listen;
    }
    crate::telemetry::init(&settings.log);
    if args.demo {
        let dir = config::installed_file("tracker-js/demo");
        if !dir.join("index.html").exists() {
            bail!("the demo storefront is not at {}", dir.display());
        }
        roles.demo = Some(dir);
    }
    tracing::info!(settings = ?settings, "starting");
    let listener = std::net::TcpListener::bind(settings.http.listen)
        .with_context(|| format!("cannot listen on {}", settings.http.listen))?;
    crate::serve::run(settings, listener, roles, crate::serve::shutdown_signal()).await
}

/// A new site with the configured privacy defaults.
fn new_site(settings: &Settings, domain: SiteDomain) -> sites::Site {
    let mut site = sites::Site::new(domain, chrono::Utc::now());
    site.retention_days = settings.privacy.retention_days;
    site.honour_privacy_signals = settings.privacy.honour_privacy_signals;
    site
}

async fn sites_command(settings: &mut Settings, action: SitesCommand) -> anyhow::Result<()> {
    match action {
        SitesCommand::Add { domain, store } => {
            let domain = SiteDomain::parse(&domain).map_err(|e| anyhow::anyhow!("{e}"))?;
            let created = match open_target(settings, &store).await? {
                Target::Store(store) => {
                    sites::add(store.as_ref(), &new_site(settings, domain.clone())).await? == sites::AddOutcome::Created
                }
                Target::Server(client) => client.add_site(&domain).await?,
            };
            if created {
                println!("added {domain}");
            } else {
                println!("{domain} is already registered");
            }
        }
        SitesCommand::List { store } => {
            let rows: Vec<(String, String, u32)> = match open_target(settings, &store).await? {
                Target::Store(store) => sites::list(store.as_ref())
                    .await?
                    .into_iter()
                    .map(|s| (s.domain.to_string(), s.timezone, s.retention_days))
                    .collect(),
                Target::Server(client) => client.list_sites().await?,
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<40} {:<24} retention_days", "domain", "timezone")?;
            for (domain, timezone, retention) in rows {
                writeln!(out, "{domain:<40} {timezone:<24} {retention}")?;
            }
        }
        SitesCommand::Remove { domain, store } => {
            let domain = SiteDomain::parse(&domain).map_err(|e| anyhow::anyhow!("{e}"))?;
            let removed = match open_target(settings, &store).await? {
                Target::Store(store) => sites::remove(store.as_ref(), &domain).await?,
                Target::Server(client) => client.remove_site(&domain).await?,
            };
            if !removed {
                bail!("{domain} is not registered");
            }
            println!("removed {domain} (its events stay until deleted or expired)");
        }
    }
    Ok(())
}

async fn demo_data(settings: &mut Settings, args: crate::cli::DemoDataArgs) -> anyhow::Result<()> {
    use larder_core::fixtures::{FixtureSpec, events};
    let site = SiteDomain::parse(&args.site).map_err(|e| anyhow::anyhow!("--site: {e}"))?;
    let Target::Store(store) = open_target(settings, &args.store).await? else {
        bail!("stop `larder serve` first: demo data is written to the store directly")
    };
    sites::add(store.as_ref(), &new_site(settings, site.clone())).await?;
    let span_secs = args.days.max(1).saturating_mul(86_400);
    let spec = FixtureSpec {
        seed: args.seed,
        count: args.events,
        sites: vec![site.clone()],
        start: chrono::Utc::now() - chrono::Duration::seconds(i64::from(span_secs)),
        span_secs,
        visitors: (args.events as u64 / 8).max(1),
    };
    let all = events(&spec);
    for chunk in all.chunks(100_000) {
        store.insert_events(chunk).await?;
    }
    println!("loaded {} events for {site} over {} days", all.len(), args.days);
    Ok(())
}

fn apply_store_args(settings: &mut Settings, args: &StoreArgs) {
    if let Some(data) = &args.data {
        settings.store.data_dir.clone_from(data);
    }
}

fn describe_query_error(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Rejected { message, .. } => anyhow::anyhow!("the query was refused: {message}"),
        other => other.into(),
    }
}

/// Where a command's work goes.
enum Target {
    /// The store, opened by this process (and migrated, for the embedded one).
    Store(Arc<dyn Store>),
    /// A running `larder serve` that holds the data directory.
    Server(LocalClient),
}

async fn open_target(settings: &mut Settings, args: &StoreArgs) -> anyhow::Result<Target> {
    apply_store_args(settings, args);
    crate::telemetry::init(&config::LogSettings { level: "warn".into(), ..settings.log.clone() });
    match crate::serve::open_store(settings).await {
        Ok(store) => {
            if settings.store.backend == Backend::Embedded {
                migrate::migrate(store.as_ref()).await.context("cannot migrate the embedded store")?;
            }
            Ok(Target::Store(store))
        }
        Err(e) => match e.downcast_ref::<StoreError>() {
            Some(StoreError::Locked { dir }) => match ControlFile::read(dir)? {
                Some(control) => Ok(Target::Server(LocalClient::new(control)?)),
                None => bail!("{} is held by another process that is not `larder serve`", dir.display()),
            },
            _ => Err(e),
        },
    }
}

/// The client side of the local channel (see `larder_dashboard_api::local`).
struct LocalClient {
    http: reqwest::Client,
    control: ControlFile,
}

#[derive(serde::Deserialize)]
struct SiteView {
    domain: String,
    timezone: String,
    retention_days: u32,
}

impl LocalClient {
    fn new(control: ControlFile) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(600)).build()?;
        Ok(Self { http, control })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let response = request.bearer_auth(&self.control.token).send().await.with_context(|| {
            format!("the data directory is held by larder serve at {}, which does not answer", self.control.url)
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or("no message").to_owned();
        bail!("larder serve answered {status}: {message}")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.control.url)
    }

    async fn sql(&self, site: &SiteDomain, query: &str, format: &str) -> anyhow::Result<Vec<u8>> {
        let body = serde_json::json!({ "site": site.as_str(), "query": query, "format": format });
        let response = self.send(self.http.post(self.url("/api/local/sql")).json(&body)).await?;
        Ok(response.bytes().await?.to_vec())
    }

    async fn add_site(&self, domain: &SiteDomain) -> anyhow::Result<bool> {
        let body = serde_json::json!({ "domain": domain.as_str() });
        let response = self.send(self.http.post(self.url("/api/local/sites")).json(&body)).await?;
        let answer: serde_json::Value = response.json().await?;
        Ok(answer["created"].as_bool().unwrap_or(false))
    }

    async fn list_sites(&self) -> anyhow::Result<Vec<(String, String, u32)>> {
        let response = self.send(self.http.get(self.url("/api/local/sites"))).await?;
        let sites: Vec<SiteView> = response.json().await?;
        Ok(sites.into_iter().map(|s| (s.domain, s.timezone, s.retention_days)).collect())
    }

    async fn remove_site(&self, domain: &SiteDomain) -> anyhow::Result<bool> {
        let url = self.url(&format!("/api/local/sites/{domain}"));
        match self.send(self.http.delete(url)).await {
            Ok(_) => Ok(true),
            Err(e) if e.to_string().contains("404") => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn migrate(&self) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        #[derive(serde::Deserialize)]
        struct Report {
            applied: Vec<String>,
            already_applied: Vec<String>,
        }
        let response = self.send(self.http.post(self.url("/api/local/migrate"))).await?;
        let report: Report = response.json().await?;
        Ok((report.applied, report.already_applied))
    }
}
