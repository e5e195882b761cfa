//! `larder serve` (and `larder collector`, `larder api`): the store, the collector, the API and
//! the dashboard, in one process (or the collector or the API alone). A library function over a
//! bound listener and a shutdown signal, so tests start it on port 0 and stop it when they like.

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use larder_collector::Collector;
use larder_collector::clock::SystemClock;
use larder_dashboard_api::auth::manage::{self, NewUser};
use larder_dashboard_api::auth::{Email, PasswordCost, Role};
use larder_dashboard_api::local::ControlFile;
use larder_dashboard_api::{ApiState, DashboardFiles, LocalToken};
use larder_store::{EmbeddedStore, Store, StoreError};

use crate::config::{Backend, Settings};

/// Which services a process runs.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    pub collector: bool,
    pub api: bool,
    /// Serve the demo storefront from this directory at `/demo/` and register its site.
    pub demo: Option<PathBuf>,
}

impl Roles {
    /// Everything (`larder serve`).
    pub fn all() -> Self {
        Self { collector: true, api: true, demo: None }
    }
}

/// The site the demo storefront's pages name in their tag.
pub const DEMO_SITE: &str = "demo.larder.test";

/// The dashboard user `larder serve --demo` creates when there is none.
pub const DEMO_USER: &str = "demo@larder.test";

/// Opens the configured store directly.
///
/// # Errors
/// The store's errors, with what to do about them.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = &settings.store;
    match store.backend {
        Backend::Server => {
            let config = larder_store::ServerConfig {
                url: store.url.clone(),
                user: store.user.clone(),
                password: store.password.expose().to_owned(),
                database: store.database.clone(),
            };
            let server = larder_store::ServerStore::new(&config)?;
            Ok(Arc::new(if store.cluster.is_empty() { server } else { server.in_cluster(&store.cluster)? }))
        }
        Backend::Embedded => {
            let config = larder_store::EmbeddedConfig {
                data_dir: store.data_dir.clone(),
                library: store.chdb_library_path(),
                read_connections: store.read_connections,
            };
            match EmbeddedStore::open(config).await {
                Ok(embedded) => Ok(Arc::new(embedded)),
                Err(e @ StoreError::Library { .. }) => Err(anyhow::Error::new(e)
                    .context("chDB is missing: run `make run` (it installs it) or set store.chdb_library")),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Runs Larder until `shutdown` resolves: opens and migrates the store, starts the collector,
/// serves HTTP on `listener`, and (embedded) writes the control file the CLI uses while this
/// process holds the data directory. On shutdown: stops taking requests, flushes the spool.
///
/// # Errors
/// When the store cannot be opened or migrated, the collector cannot start, or the server fails.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    roles: Roles,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let store = match open_store(&settings).await {
        Err(e) => match e.downcast_ref::<StoreError>() {
            Some(StoreError::Locked { dir }) => {
                let holder = ControlFile::read(dir)
                    .ok()
                    .flatten()
                    .map(|c| format!(" (larder serve, pid {}, at {})", c.pid, c.url));
                anyhow::bail!("{} is already in use by another process{}", dir.display(), holder.unwrap_or_default())
            }
            _ => return Err(e),
        },
        Ok(store) => store,
    };
    let migrated = larder_store::migrate::migrate(store.as_ref()).await;
    match migrated {
        Ok(report) => {
            let version = store.version().await?;
            tracing::info!(engine = %version.text, applied = report.applied.len(), "store ready");
        }
        // A collector in front of a server that is down keeps accepting into its spool.
        Err(e) if e.is_retryable() && settings.store.backend == Backend::Server && !roles.api => {
            tracing::warn!(error = %e, "the store is unreachable; events are spooled until it is back");
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot migrate the store")),
    }
    if roles.demo.is_some() {
        let mut site = larder_store::sites::Site::new(
            larder_core::SiteDomain::parse(DEMO_SITE).map_err(|e| anyhow::anyhow!("{e}"))?,
            chrono::Utc::now(),
        );
        site.retention_days = settings.privacy.retention_days;
        larder_store::sites::add(store.as_ref(), &site).await?;
    }

    let mut registry = prometheus_client::registry::Registry::default();
    let collector = if roles.collector {
        let config = settings.collector_config()?;
        Some(Collector::start(config, Arc::clone(&store), Arc::new(SystemClock), &mut registry).await?)
    } else {
        None
    };
    let roll_metrics = roles.api.then(|| crate::housekeeping::RollMetrics::register(&mut registry));
    let registry = Arc::new(registry);

    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let local_token = LocalToken::from_secret(&secret);
    let data_dir = (settings.store.backend == Backend::Embedded).then(|| settings.store.data_dir.clone());
    if let Some(dir) = &data_dir {
        ControlFile { url: url.clone(), token: secret, pid: std::process::id() }
            .write(dir)
            .with_context(|| format!("cannot write the control file in {}", dir.display()))?;
    }

    let dashboard = DashboardFiles::new(settings.http.dashboard_dir_path());
    let api = roles.api.then(|| {
        let api = ApiState::new(Arc::clone(&store), Some(local_token))
            .with_auth(settings.auth_config(addr.ip()))
            .with_site_defaults(settings.site_defaults())
            .with_dashboard(dashboard.clone());
        match &collector {
            // The collector beside the API re-reads its sites as soon as they change.
            Some(collector) => {
                let sites = collector.state().sites.clone();
                api.with_sites_changed(larder_dashboard_api::SitesChanged(Arc::new(move || {
                    let sites = sites.clone();
                    Box::pin(async move {
                        if let Err(e) = sites.reload().await {
                            tracing::warn!(error = %e, "cannot re-read the sites after a change");
                        }
                    })
                })))
            }
            None => api,
        }
    });
    let login_hint = match &api {
        Some(api) => {
            if dashboard.is_built() {
                tracing::info!(dir = %dashboard.dir().display(), "serving the dashboard at /");
            } else {
                tracing::warn!(
                    dir = %dashboard.dir().display(),
                    "the dashboard is not built: / says how to build it (make run, or npm run build in dashboard/)"
                );
            }
            Some(login_hint(api, &settings, roles.demo.is_some(), dashboard.is_built()).await?)
        }
        None => None,
    };
    // Retention runs daily in the process that serves the API, not in collectors (see
    // `crate::housekeeping` for why).
    let retention = api
        .clone()
        .map(|api| tokio::spawn(crate::housekeeping::daily_retention(api, settings.privacy.retention_hour_utc)));
    // So are the days' visits rolled up for the reports.
    let rollup = api.clone().map(|api| {
        let metrics = roll_metrics.unwrap_or_default();
        tokio::spawn(crate::housekeeping::roll_visits(api, crate::housekeeping::ROLL_EVERY, metrics))
    });
    let health = crate::health::Health {
        store: Arc::clone(&store),
        spool: collector.as_ref().map(|c| (c.state().spool.clone(), c.state().config.spool_max_bytes)),
    };
    let collector_routes = collector.as_ref().map(Collector::configure);
    // The storefront's own 404 page, read once, answers the demo's missing URLs.
    let demo = roles.demo.clone().map(|dir| {
        let not_found = std::fs::read(dir.join("404.html")).unwrap_or_default();
        (dir, web::Bytes::from(not_found))
    });
    let server = HttpServer::new(move || {
        let mut app = App::new()
            .wrap(actix_web::middleware::Compress::default())
            .configure(crate::health::configure(health.clone()))
            .app_data(web::Data::from(Arc::clone(&registry)))
            .route("/metrics", web::get().to(metrics));
        if let Some(routes) = collector_routes.clone() {
            app = app.configure(routes);
        }
        if let Some(api) = api.clone() {
            app = app.configure(larder_dashboard_api::configure(api));
        }
        if let Some((dir, not_found)) = &demo {
            let not_found = not_found.clone();
            app = app.service(actix_files::Files::new("/demo", dir).index_file("index.html").default_handler(web::to(
                move || {
                    let page = not_found.clone();
                    async move { HttpResponse::NotFound().content_type("text/html; charset=utf-8").body(page) }
                },
            )));
        }
        app
    })
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tracing::info!(%url, collector = roles.collector, api = roles.api, "listening");
    println!("Larder is running at {url}/");
    if let Some(hint) = login_hint {
        println!("Dashboard: {url}/ {hint}");
    }
    if roles.demo.is_some() {
        println!("Demo storefront: {url}/demo/ (site {DEMO_SITE})");
    }
    let stop = async move {
        shutdown.await;
        tracing::info!("shutting down");
        handle.stop(true).await;
    };
    let (served, ()) = tokio::join!(server, stop);
    if let Some(retention) = retention {
        retention.abort();
    }
    if let Some(rollup) = rollup {
        rollup.abort();
    }
    if let Some(collector) = collector {
        collector.shutdown().await;
    }
    if let Some(dir) = &data_dir {
        ControlFile::remove(dir);
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// How to log in to the dashboard, for the line printed at start. With `--demo` and no user yet,
/// creates the demo owner with a generated password and tells it (this once); an install that
/// is not a demo never gets a user, let alone a default password: the hint says how to create
/// one.
async fn login_hint(api: &ApiState, settings: &Settings, demo: bool, built: bool) -> anyhow::Result<String> {
    let data = settings.store.data_dir.display();
    if !built {
        return Ok("(not built: run `make run`, or `npm ci && npm run build` in dashboard/)".into());
    }
    let users = manage::list_users(api).await?;
    if demo && users.is_empty() {
        let email = Email::parse(DEMO_USER).map_err(|why| anyhow::anyhow!("{DEMO_USER}: {why}"))?;
        let site = larder_core::SiteDomain::parse(DEMO_SITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let new = NewUser { email, password: None, grant: Some((site, Role::Owner)), instance_admin: true };
        // Security: the generated password is 20 random symbols (~116 bits); key stretching
        // protects guessable passwords and adds nothing here, so the demo owner's hash is cheap
        // to compute (tests start many demo servers). Passwords people choose later get the
        // configured cost.
        let mut auth = api.auth.config.clone();
        auth.password_cost = PasswordCost { memory_kib: 1024, iterations: 1, parallelism: 1 };
        let cheap = api.clone().with_auth(auth);
        let added = manage::add_user(&cheap, "larder serve --demo", new).await?;
        let password = added.generated_password.unwrap_or_default();
        return Ok(format!("— log in as {DEMO_USER} with the password {password} (generated now, shown once)"));
    }
    if users.iter().any(|u| u.email == DEMO_USER) && demo {
        return Ok(format!(
            "— log in as {DEMO_USER} (its password was shown at the first start; a new one: \
             `larder users reset-password {DEMO_USER} --data {data}`)"
        ));
    }
    if users.is_empty() {
        return Ok(format!(
            "— no dashboard user yet; create the first one with `larder users add you@example.com --admin \
             --data {data}` (an administrator, who then adds the shop in the dashboard)"
        ));
    }
    Ok("— log in with a dashboard user (`larder users list` shows them)".into())
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(registry: web::Data<prometheus_client::registry::Registry>) -> HttpResponse {
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &registry).is_err() {
        return HttpResponse::InternalServerError().finish();
    }
    // The process's resident memory, read at scrape time.
    if let Some(rss) = resident_bytes() {
        let rss_text = format!(
            "# HELP larder_process_resident_memory_bytes Resident memory of the process.\n\
             # TYPE larder_process_resident_memory_bytes gauge\n\
             larder_process_resident_memory_bytes {rss}\n"
        );
        body = body.replace("# EOF\n", &format!("{rss_text}# EOF\n"));
    }
    HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(body)
}

/// Resident set size from `/proc/self/statm` (pages × page size).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
