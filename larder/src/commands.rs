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
use larder_store::backup::{self, BackupKey, Location};
use larder_store::{Store, StoreError, migrate, sites};

use larder_dashboard_api::ApiState;
use larder_dashboard_api::auth::manage::{self, NewToken, NewUser, OPERATOR};
use larder_dashboard_api::auth::{Email, Role};
use larder_dashboard_api::deletion::{self, DeletionOutcome, DeletionRequest, PropMatch};

use crate::cli::{Cli, Command, RetentionCommand, SitesCommand, StoreArgs, TokensCommand, UsersCommand};
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
        Command::Api(args) => {
            if settings.store.backend == Backend::Embedded {
                bail!(
                    "`larder api` runs against a ClickHouse server (store.backend = \"server\"); use `larder serve` for the embedded store"
                )
            }
            if args.demo {
                bail!("the demo storefront sends its events to the collector: use `larder serve --demo`")
            }
            serve(settings, &args, crate::serve::Roles { collector: false, api: true, demo: None }).await
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
        Command::Users { action } => users_command(&mut settings, action).await,
        Command::Tokens { action } => tokens_command(&mut settings, action).await,
        Command::DemoData(args) => demo_data(&mut settings, args).await,
        Command::Sql(args) => sql_command(&mut settings, args).await,
        Command::Datamap(args) => datamap_command(&mut settings, args).await,
        Command::Delete(args) => delete_command(&mut settings, args).await,
        Command::Retention { action: RetentionCommand::Apply { site, store } } => {
            retention_command(&mut settings, site.as_deref(), &store).await
        }
        Command::Backup(args) => backup_command(&mut settings, args).await,
        Command::Restore(args) => restore_command(&mut settings, args).await,
        Command::MigrateToCluster(args) => migrate_to_cluster(settings, args).await,
    }
}

/// `larder backup`: see `larder_store::backup`. With `--new-key`, only writes a key file.
async fn backup_command(settings: &mut Settings, args: crate::cli::BackupArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.new_key {
        BackupKey::create_file(path)?;
        println!("wrote a new backup key to {}; keep a copy apart from the backups", path.display());
        return Ok(());
    }
    let (Some(to), Some(key_file)) = (&args.to, &args.key) else {
        bail!("larder backup needs --to PATH and --key FILE (or --new-key FILE)")
    };
    let to = Location::parse(to)?;
    let base = args.base.as_deref().map(Location::parse).transpose()?;
    let key = BackupKey::read_file(key_file)?;
    let targets = settings.backup.targets();
    let report = match open_target(settings, &args.store).await? {
        Target::Store(store) => {
            backup::backup_to(&backup::StoreSource(store.as_ref()), &key, &targets, &to, base.as_ref()).await?
        }
        // The running server reads the tables; this process seals and writes them.
        Target::Server(client) => backup::backup_to(&client, &key, &targets, &to, base.as_ref()).await?,
    };
    let manifest = &report.manifest;
    let rows: u64 = manifest.tables.iter().map(|t| t.summary.rows).sum();
    println!("backed up {} table(s), {rows} row(s), to {to}", manifest.tables.len());
    if let Some(base) = &base {
        println!(
            "incremental to {base}: {} chunk(s) written, {} unchanged chunk(s) referred to in {}",
            report.chunks_written,
            report.chunks_reused,
            if manifest.bases.is_empty() { "no other backup".to_owned() } else { manifest.bases.join(", ") }
        );
    } else {
        println!("{} chunk(s) written", report.chunks_written);
    }
    if let Some(why) = &report.base_unused {
        println!("the base's chunks were not used ({why}): this backup holds every chunk itself");
    }
    println!("{} byte(s) written", report.bytes_written);
    Ok(())
}

/// `larder restore`: into the configured store, which a running `larder serve` must not hold.
/// `larder migrate-to-cluster`: the embedded store of `--data` into the cluster of `--to`.
async fn migrate_to_cluster(settings: Settings, args: crate::cli::MigrateToClusterArgs) -> anyhow::Result<()> {
    crate::telemetry::init(&config::LogSettings { level: "warn".into(), ..settings.log.clone() });
    let mut source = settings.clone();
    source.store.backend = Backend::Embedded;
    source.store.data_dir = args.data.clone();
    source.store.cluster = String::new();
    if !args.data.join("chdb").is_dir() {
        bail!("{} holds no embedded store (no chdb/ directory in it)", args.data.display());
    }
    let mut target = settings;
    target.store.backend = Backend::Server;
    if let Some(url) = args.to {
        target.store.url = url;
    }
    if let Some(cluster) = args.cluster {
        target.store.cluster = cluster;
    }
    if target.store.cluster.is_empty() {
        bail!("say which cluster: --cluster NAME or store.cluster (its name in the servers' remote_servers)");
    }
    if !(target.store.url.starts_with("http://") || target.store.url.starts_with("https://")) {
        bail!("--to {:?} must be an http:// or https:// URL", target.store.url);
    }
    let from = match crate::serve::open_store(&source).await {
        Err(e) if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Locked { .. })) => {
            bail!(
                "{} is in use (is `larder serve` running on it?): stop it first, so no event is left behind",
                args.data.display()
            )
        }
        other => other?,
    };
    let to = crate::serve::open_store(&target).await?;
    let report = larder_store::copy::copy(from.as_ref(), to.as_ref())
        .await
        .with_context(|| format!("copy to cluster {} at {} failed", target.store.cluster, target.store.url))?;
    for table in &report.tables {
        println!("{:<20} {:>12} rows", table.table, table.rows);
    }
    let rate = report.rows() as f64 / report.seconds.max(0.001);
    println!(
        "copied {} rows into cluster {} in {:.1} s ({rate:.0} rows/s), every table checked",
        report.rows(),
        target.store.cluster,
        report.seconds
    );
    Ok(())
}

async fn restore_command(settings: &mut Settings, args: crate::cli::RestoreArgs) -> anyhow::Result<()> {
    let from = Location::parse(&args.from)?;
    let key = BackupKey::read_file(&args.key)?;
    let targets = settings.backup.targets();
    let manifest = match open_target(settings, &args.store).await? {
        Target::Store(store) => backup::restore_from(store.as_ref(), &key, &targets, &from, args.force).await?,
        Target::Server(_) => {
            bail!("the data directory is held by a running larder serve: stop it before restoring into it")
        }
    };
    let rows: u64 = manifest.tables.iter().map(|t| t.summary.rows).sum();
    let bases = if manifest.bases.is_empty() {
        String::new()
    } else {
        format!(" and the backup(s) it refers to ({})", manifest.bases.join(", "))
    };
    println!(
        "restored {} table(s), {rows} row(s), from {from}{bases} (taken {}); every table's count and checksum match",
        manifest.tables.len(),
        manifest.created_at.to_rfc3339()
    );
    Ok(())
}

/// `larder datamap`: the data map of the configured store (through `larder serve` when it holds
/// the directory). Fails, after printing, when the schema and the annotations disagree.
async fn datamap_command(settings: &mut Settings, args: crate::cli::DatamapArgs) -> anyhow::Result<()> {
    let map = match open_target(settings, &args.store).await? {
        Target::Store(store) => larder_store::datamap::build(store.as_ref()).await?,
        Target::Server(client) => client.datamap().await?,
    };
    let text = if args.format == "json" { serde_json::to_string_pretty(&map)? + "\n" } else { map.to_markdown() };
    write_stdout(text.as_bytes())?;
    if !map.is_complete() {
        bail!(
            "the data map is incomplete: stored but not described: {:?}; described but not stored: {:?}",
            map.unannotated,
            map.stale
        );
    }
    Ok(())
}

/// `larder delete`: see `larder_dashboard_api::deletion`; audited as the operator.
async fn delete_command(settings: &mut Settings, args: crate::cli::DeleteArgs) -> anyhow::Result<()> {
    let site = parse_domain(&args.site)?;
    let prop = match &args.prop {
        Some(raw) => {
            let (key, value) = raw.split_once('=').context("--prop takes KEY=VALUE")?;
            Some(PropMatch { key: key.to_owned(), value: value.to_owned() })
        }
        None => None,
    };
    let request = DeletionRequest {
        all: args.all,
        from: args.from,
        to: args.to,
        order_id: args.order_id,
        prop,
        reference: args.reference,
    };
    let outcome = match open_target(settings, &args.store).await? {
        Target::Store(store) => deletion::run(&direct_state(settings, store), OPERATOR, &site, &request).await?,
        Target::Server(client) => client.delete(&site, &request).await?,
    };
    let report = &outcome.report;
    let mut how = Vec::new();
    if !report.dropped_months.is_empty() {
        let months: Vec<String> = report.dropped_months.iter().map(u32::to_string).collect();
        how.push(format!("partitions of {} dropped", months.join(", ")));
    }
    if report.mutated {
        how.push("the other rows deleted by a mutation".to_owned());
    }
    let how = if how.is_empty() { String::new() } else { format!(" ({})", how.join("; ")) };
    println!("deleted {} event(s) of {site}{how}", report.deleted_events);
    Ok(())
}

/// `larder retention apply`: retention now, as the daily run does it; audited as the operator.
async fn retention_command(settings: &mut Settings, site: Option<&str>, store: &StoreArgs) -> anyhow::Result<()> {
    let only = site.map(parse_domain).transpose()?;
    let run = match open_target(settings, store).await? {
        Target::Store(store) => {
            let state = direct_state(settings, store);
            deletion::apply_retention(&state, OPERATOR, chrono::Utc::now(), only.as_ref()).await?
        }
        Target::Server(client) => client.apply_retention(only.as_ref()).await?,
    };
    let mut out = std::io::stdout().lock();
    if run.sites.is_empty() {
        writeln!(out, "no events stored{}", only.map(|s| format!(" for {s}")).unwrap_or_default())?;
    }
    for site in &run.sites {
        let report = &site.report;
        writeln!(
            out,
            "{}: keeps {} days (events before {}): deleted {} event(s), {} month partition(s) dropped",
            site.site,
            site.retention_days,
            site.cutoff.format("%Y-%m-%d"),
            report.deleted_events,
            report.dropped_months.len()
        )?;
    }
    if let Some(login) = &run.login_records {
        writeln!(
            out,
            "login records: {} expired session row(s) deleted, {} month(s) of login attempts dropped",
            login.deleted_sessions,
            login.dropped_attempt_months.len()
        )?;
    }
    Ok(())
}

/// `larder sql`: the analysts' SQL path (validator, scope view, read-only session, limits),
/// run by the operator; the output streams to stdout.
async fn sql_command(settings: &mut Settings, args: crate::cli::SqlArgs) -> anyhow::Result<()> {
    let target = open_target(settings, &args.store).await?;
    let sites = args
        .site
        .iter()
        .map(|raw| SiteDomain::parse(raw).map_err(|e| anyhow::anyhow!("--site {raw}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let format = ExportFormat::parse(&args.format).context("--format must be csv, tsv, jsonl or parquet")?;
    match &target {
        Target::Store(store) => {
            for site in &sites {
                if sites::get(store.as_ref(), site).await?.is_none() {
                    bail!("site {site} is not registered (add it with `larder sites add {site}`)");
                }
            }
            let scope = analyst::Scope::new(sites).map_err(describe_query_error)?;
            let defaults = analyst::Limits::default();
            let limits = analyst::Limits {
                max_result_rows: args.max_rows.unwrap_or(defaults.max_result_rows),
                max_execution_secs: args.timeout_secs.unwrap_or(defaults.max_execution_secs),
                ..defaults
            };
            let at = chrono::Utc::now();
            let entries: Vec<_> = scope
                .sites()
                .iter()
                .map(|site| larder_store::auth::AuditEntry {
                    at,
                    actor: OPERATOR.to_owned(),
                    action: "sql".to_owned(),
                    site: site.as_str().to_owned(),
                    detail: args.query.clone(),
                })
                .collect();
            larder_store::auth::append_audit(store.as_ref(), &entries).await.context("cannot write the audit log")?;
            let mut output = analyst::stream(store.as_ref(), &scope, &args.query, format, &limits)
                .await
                .map_err(describe_query_error)?;
            while let Some(chunk) = output.next_chunk().await.map_err(describe_query_error)? {
                if !write_stdout(&chunk)? {
                    return Ok(());
                }
            }
        }
        Target::Server(client) => {
            let mut response = client.sql(&sites, &args.query, &args.format, args.max_rows, args.timeout_secs).await?;
            while let Some(chunk) = response.chunk().await.context("the output of larder serve was cut short")? {
                if !write_stdout(&chunk)? {
                    return Ok(());
                }
            }
        }
    }
    std::io::stdout().lock().flush()?;
    Ok(())
}

/// Writes a chunk of `larder sql`'s output; `false` when the reader went away (`| head`).
fn write_stdout(chunk: &[u8]) -> anyhow::Result<bool> {
    match std::io::stdout().lock().write_all(chunk) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
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

/// What the `users` and `tokens` commands work with when they open the store themselves.
fn direct_state(settings: &Settings, store: Arc<dyn Store>) -> ApiState {
    ApiState::new(store, None)
        .with_auth(settings.auth_config(settings.http.listen.ip()))
        .with_site_defaults(settings.site_defaults())
}

fn parse_email(raw: &str) -> anyhow::Result<Email> {
    Email::parse(raw).map_err(|why| anyhow::anyhow!("{raw:?}: email {why}"))
}

fn parse_domain(raw: &str) -> anyhow::Result<SiteDomain> {
    SiteDomain::parse(raw).map_err(|e| anyhow::anyhow!("--site {raw:?}: {e}"))
}

fn parse_role(raw: &str) -> anyhow::Result<Role> {
    Role::parse(raw).with_context(|| format!("--role {raw:?}: one of viewer, analyst, admin, owner"))
}

/// The first line of standard input, without its line end.
fn read_password_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("--password-stdin: standard input holds no password");
    }
    Ok(password)
}

/// A user as the `users list` command prints them (the API's `UserSummary`).
#[derive(serde::Deserialize)]
struct UserLine {
    email: String,
    is_admin: bool,
    sites: Vec<SiteRoleLine>,
}

#[derive(serde::Deserialize)]
struct SiteRoleLine {
    site: String,
    role: String,
}

/// A token as the `tokens` commands print it (the API's `TokenView`).
#[derive(serde::Deserialize)]
struct TokenLine {
    id: String,
    email: String,
    description: String,
    sites: Vec<String>,
    role: String,
    expires_at: Option<String>,
    expired: bool,
}

/// Re-reads a value of the API's as the CLI's line type (they are the same JSON).
fn as_line<T: serde::Serialize, L: serde::de::DeserializeOwned>(value: &T) -> anyhow::Result<L> {
    Ok(serde_json::from_value(serde_json::to_value(value)?)?)
}

async fn users_command(settings: &mut Settings, action: UsersCommand) -> anyhow::Result<()> {
    match action {
        UsersCommand::Add { email, password_stdin, site, role, admin, store } => {
            let email = parse_email(&email)?;
            let grant = match (site, role) {
                (Some(site), Some(role)) => Some((parse_domain(&site)?, parse_role(&role)?)),
                _ => None,
            };
            let password = if password_stdin { Some(read_password_stdin()?) } else { None };
            let (created, generated) = match open_target(settings, &store).await? {
                Target::Store(store) => {
                    let state = direct_state(settings, store);
                    let new = NewUser { email: email.clone(), password, grant: grant.clone(), instance_admin: admin };
                    let added = manage::add_user(&state, OPERATOR, new).await?;
                    (added.created, added.generated_password)
                }
                Target::Server(client) => client.add_user(&email, password.as_deref(), grant.as_ref(), admin).await?,
            };
            if created {
                println!("created user {email}");
            } else {
                println!("{email} already has an account (password unchanged)");
            }
            if let Some(password) = generated {
                println!("password: {password}");
                println!("(shown once; change it with `larder users reset-password {email}`)");
            }
            if admin {
                println!("{email} is an instance administrator (may create sites)");
            }
            if let Some((site, role)) = grant {
                println!("{email} is {role} of {site}");
            }
        }
        UsersCommand::Grant { email, site, role, store } => {
            let (email, site, role) = (parse_email(&email)?, parse_domain(&site)?, parse_role(&role)?);
            match open_target(settings, &store).await? {
                Target::Store(store) => {
                    manage::grant(&direct_state(settings, store), OPERATOR, &email, &site, role).await?
                }
                Target::Server(client) => client.grant(&email, &site, role).await?,
            }
            println!("{email} is {role} of {site}");
        }
        UsersCommand::Revoke { email, site, store } => {
            let (email, site) = (parse_email(&email)?, parse_domain(&site)?);
            match open_target(settings, &store).await? {
                Target::Store(store) => manage::revoke(&direct_state(settings, store), OPERATOR, &email, &site).await?,
                Target::Server(client) => client.revoke(&email, &site).await?,
            }
            println!("{email} has no role on {site} any more");
        }
        UsersCommand::ResetPassword { email, password_stdin, store } => {
            let email = parse_email(&email)?;
            let password = if password_stdin { Some(read_password_stdin()?) } else { None };
            let generated = match open_target(settings, &store).await? {
                Target::Store(store) => {
                    manage::reset_password(&direct_state(settings, store), OPERATOR, &email, password).await?
                }
                Target::Server(client) => client.reset_password(&email, password.as_deref()).await?,
            };
            println!("password of {email} changed; their sessions are ended");
            if let Some(password) = generated {
                println!("password: {password}");
            }
        }
        UsersCommand::List { store } => {
            let users: Vec<UserLine> = match open_target(settings, &store).await? {
                Target::Store(store) => as_line(&manage::list_users(&direct_state(settings, store)).await?)?,
                Target::Server(client) => client.list_users().await?,
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<40} {:<6} sites", "email", "admin")?;
            for user in users {
                let sites: Vec<String> = user.sites.iter().map(|s| format!("{}:{}", s.site, s.role)).collect();
                let admin = if user.is_admin { "yes" } else { "no" };
                writeln!(out, "{:<40} {admin:<6} {}", user.email, sites.join(", "))?;
            }
        }
    }
    Ok(())
}

async fn tokens_command(settings: &mut Settings, action: TokensCommand) -> anyhow::Result<()> {
    match action {
        TokensCommand::Create { user, sites, role, expires_days, description, store } => {
            let new = NewToken {
                email: parse_email(&user)?,
                sites: sites.iter().map(|s| parse_domain(s)).collect::<anyhow::Result<_>>()?,
                role: parse_role(&role)?,
                expires_days,
                description,
            };
            let (token, secret): (TokenLine, String) = match open_target(settings, &store).await? {
                Target::Store(store) => {
                    let created = manage::create_token(&direct_state(settings, store), OPERATOR, new).await?;
                    (as_line(&created.token)?, created.secret)
                }
                Target::Server(client) => client.create_token(&new).await?,
            };
            eprintln!(
                "token {} for {} as {} on {} (expires: {}); its secret, shown once, is:",
                token.id,
                token.email,
                token.role,
                token.sites.join(", "),
                token.expires_at.as_deref().unwrap_or("never")
            );
            println!("{secret}");
        }
        TokensCommand::List { store } => {
            let tokens: Vec<TokenLine> = match open_target(settings, &store).await? {
                Target::Store(store) => as_line(&manage::list_tokens(&direct_state(settings, store)).await?)?,
                Target::Server(client) => client.list_tokens().await?,
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<16} {:<32} {:<8} {:<26} {:<30} description", "id", "user", "role", "expires", "sites")?;
            for t in tokens {
                let expires = match (&t.expires_at, t.expired) {
                    (Some(at), true) => format!("{at} (expired)"),
                    (Some(at), false) => at.clone(),
                    (None, _) => "never".into(),
                };
                writeln!(
                    out,
                    "{:<16} {:<32} {:<8} {expires:<26} {:<30} {}",
                    t.id,
                    t.email,
                    t.role,
                    t.sites.join(","),
                    t.description
                )?;
            }
        }
        TokensCommand::Revoke { id, store } => {
            match open_target(settings, &store).await? {
                Target::Store(store) => manage::revoke_token(&direct_state(settings, store), OPERATOR, &id).await?,
                Target::Server(client) => client.revoke_token(&id).await?,
            }
            println!("revoked token {id}");
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

fn describe_query_error(e: analyst::AnalystError) -> anyhow::Error {
    match e {
        analyst::AnalystError::Store(store) => store.into(),
        refused => anyhow::anyhow!("the query was refused: {refused}"),
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

    async fn sql(
        &self,
        sites: &[SiteDomain],
        query: &str,
        format: &str,
        max_rows: Option<u64>,
        timeout_secs: Option<u64>,
    ) -> anyhow::Result<reqwest::Response> {
        let sites: Vec<&str> = sites.iter().map(SiteDomain::as_str).collect();
        let body = serde_json::json!({
            "sites": sites, "query": query, "format": format, "max_rows": max_rows, "timeout_secs": timeout_secs,
        });
        self.send(self.http.post(self.url("/api/local/sql")).json(&body)).await
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

    async fn add_user(
        &self,
        email: &Email,
        password: Option<&str>,
        grant: Option<&(SiteDomain, Role)>,
        admin: bool,
    ) -> anyhow::Result<(bool, Option<String>)> {
        #[derive(serde::Deserialize)]
        struct Added {
            created: bool,
            password: Option<String>,
        }
        let body = serde_json::json!({
            "email": email,
            "password": password,
            "site": grant.map(|(site, _)| site.as_str()),
            "role": grant.map(|(_, role)| role),
            "admin": admin,
        });
        let added: Added = self.send(self.http.post(self.url("/api/local/users")).json(&body)).await?.json().await?;
        Ok((added.created, added.password))
    }

    fn user_site_url(&self, email: &Email, site: &SiteDomain) -> String {
        self.url(&format!("/api/local/users/{email}/sites/{site}"))
    }

    async fn grant(&self, email: &Email, site: &SiteDomain, role: Role) -> anyhow::Result<()> {
        let body = serde_json::json!({ "role": role });
        self.send(self.http.put(self.user_site_url(email, site)).json(&body)).await?;
        Ok(())
    }

    async fn revoke(&self, email: &Email, site: &SiteDomain) -> anyhow::Result<()> {
        self.send(self.http.delete(self.user_site_url(email, site))).await?;
        Ok(())
    }

    async fn reset_password(&self, email: &Email, password: Option<&str>) -> anyhow::Result<Option<String>> {
        #[derive(serde::Deserialize)]
        struct Reset {
            password: Option<String>,
        }
        let url = self.url(&format!("/api/local/users/{email}/password"));
        let body = serde_json::json!({ "password": password });
        let reset: Reset = self.send(self.http.post(url).json(&body)).await?.json().await?;
        Ok(reset.password)
    }

    async fn list_users(&self) -> anyhow::Result<Vec<UserLine>> {
        Ok(self.send(self.http.get(self.url("/api/local/users"))).await?.json().await?)
    }

    async fn create_token(&self, new: &NewToken) -> anyhow::Result<(TokenLine, String)> {
        #[derive(serde::Deserialize)]
        struct Created {
            #[serde(flatten)]
            token: TokenLine,
            secret: String,
        }
        let body = serde_json::json!({
            "email": new.email,
            "sites": new.sites,
            "role": new.role,
            "expires_days": new.expires_days,
            "description": new.description,
        });
        let created: Created =
            self.send(self.http.post(self.url("/api/local/tokens")).json(&body)).await?.json().await?;
        Ok((created.token, created.secret))
    }

    async fn list_tokens(&self) -> anyhow::Result<Vec<TokenLine>> {
        Ok(self.send(self.http.get(self.url("/api/local/tokens"))).await?.json().await?)
    }

    async fn revoke_token(&self, id: &str) -> anyhow::Result<()> {
        // Token ids are hex; anything else cannot name one (and must not reshape the URL).
        if !id.bytes().all(|b| b.is_ascii_hexdigit()) || id.is_empty() {
            bail!("{id:?} is not a token id");
        }
        self.send(self.http.delete(self.url(&format!("/api/local/tokens/{id}")))).await?;
        Ok(())
    }

    async fn datamap(&self) -> anyhow::Result<larder_store::datamap::DataMap> {
        Ok(self.send(self.http.get(self.url("/api/local/datamap"))).await?.json().await?)
    }

    async fn delete(&self, site: &SiteDomain, request: &DeletionRequest) -> anyhow::Result<DeletionOutcome> {
        let url = self.url(&format!("/api/local/sites/{site}/deletions"));
        Ok(self.send(self.http.post(url).json(request)).await?.json().await?)
    }

    async fn apply_retention(
        &self,
        only: Option<&SiteDomain>,
    ) -> anyhow::Result<larder_store::retention::RetentionRun> {
        let body = serde_json::json!({ "site": only.map(SiteDomain::as_str) });
        Ok(self.send(self.http.post(self.url("/api/local/retention")).json(&body)).await?.json().await?)
    }

    async fn backup_get(&self, path: &str) -> Result<reqwest::Response, backup::BackupError> {
        self.send(self.http.get(self.url(path)))
            .await
            .map_err(|e| backup::BackupError::Source { message: format!("{e:#}") })
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

/// A backup taken through a running `larder serve` (see `/api/local/backup`).
#[async_trait::async_trait]
impl backup::BackupSource for LocalClient {
    async fn describe(&self) -> Result<backup::SourceInfo, backup::BackupError> {
        let response = self.backup_get("/api/local/backup").await?;
        response.json().await.map_err(|e| backup::BackupError::Source { message: format!("larder serve: {e}") })
    }

    async fn chunks(&self, table: &str) -> Result<backup::TableChunks, backup::BackupError> {
        let response = self.backup_get(&format!("/api/local/backup/tables/{table}/chunks")).await?;
        response
            .json()
            .await
            .map_err(|e| backup::BackupError::Source { message: format!("larder serve: table {table}: {e}") })
    }

    async fn read_chunk(&self, table: &str, id: &str) -> Result<Vec<u8>, backup::BackupError> {
        let response = self.backup_get(&format!("/api/local/backup/tables/{table}/chunks/{id}")).await?;
        let data = response.bytes().await.map_err(|e| backup::BackupError::Source {
            message: format!("larder serve: table {table}, chunk {id}: {e}"),
        })?;
        Ok(data.to_vec())
    }
}
