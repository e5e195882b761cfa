//! `larder serve`: one process with the store, the API and (as they land) the collector and
//! the dashboard. A library function over a bound listener and a shutdown signal, so tests
//! start it on port 0 and stop it when they like.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpServer};
use anyhow::Context;
use larder_dashboard_api::local::ControlFile;
use larder_dashboard_api::{ApiState, LocalToken};
use larder_store::{EmbeddedStore, Store, StoreError};

use crate::config::{Backend, Settings};

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
            Ok(Arc::new(larder_store::ServerStore::new(&config)?))
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

/// Runs Larder until `shutdown` resolves: opens and migrates the store, serves HTTP on
/// `listener`, and (embedded) writes the control file the CLI uses while this process holds
/// the data directory.
///
/// # Errors
/// When the store cannot be opened or migrated, or the server fails.
pub async fn run(settings: Settings, listener: TcpListener, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
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
    let report = larder_store::migrate::migrate(store.as_ref()).await.context("cannot migrate the store")?;
    let version = store.version().await?;
    tracing::info!(engine = %version.text, applied = report.applied.len(), "store ready");

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

    let api = ApiState { store: Arc::clone(&store), local_token: Some(local_token) };
    let health_store = Arc::clone(&store);
    let server = HttpServer::new(move || {
        App::new()
            .configure(crate::health::configure(Arc::clone(&health_store)))
            .configure(larder_dashboard_api::configure(api.clone()))
    })
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tracing::info!(%url, "listening");
    println!("Larder is running at {url}/");
    let stop = async move {
        shutdown.await;
        tracing::info!("shutting down");
        handle.stop(true).await;
    };
    let (served, ()) = tokio::join!(server, stop);
    if let Some(dir) = &data_dir {
        ControlFile::remove(dir);
    }
    served?;
    tracing::info!("stopped");
    Ok(())
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
