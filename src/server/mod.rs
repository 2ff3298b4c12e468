//! Assembling and running the server: store, recorder, sources and the web
//! layer, with an orderly shutdown (stop serving, stop sources, let the
//! recorder flush and close runs as `interrupted`).

mod duties;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use crate::ingest::SourceSupervisor;
use crate::recorder::{LiveHub, Recorder};
use crate::store::{Store, StoreError};
use crate::web::{build_router, AppState, WebConfig};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "refusing to serve on {addr} without access control: anyone on the network could \
         import, delete and run scenarios. Create a token first (`heaplab --db DB token create \
         admin --scope write`), start with --first-token to have one made and printed, or pass \
         --insecure-no-auth on a network you trust"
    )]
    OpenOnNetwork { addr: SocketAddr },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A running server.
pub struct ServerHandle {
    pub addr: SocketAddr,
    /// The secret of the token `--first-token` made, to show the user once.
    pub first_token: Option<String>,
    pub store: Store,
    pub recorder: Recorder,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ServeError>>,
}

impl ServerHandle {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cancelling this token shuts the server down (as SIGTERM does).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Shuts down and waits until every buffered row is written.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits for the server to end (after its shutdown token is cancelled).
    pub async fn wait(self) -> Result<(), ServeError> {
        self.task
            .await
            .map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))?
    }
}

/// Opens the database, registers configured devices, starts their sources,
/// the recorder and the web server.
pub async fn start(config: ServerConfig) -> Result<ServerHandle, ServeError> {
    let store = Store::open_capped(&config.db, config.max_db_bytes).await?;
    let first_token = access_gate(&config, &store).await?;
    for spec in &config.devices {
        store.upsert_device(spec).await?;
    }
    let shutdown = CancellationToken::new();
    let recorder_stop = CancellationToken::new();
    // With a shared database, this server's live events also go to the
    // other servers' viewers (recorder/fanout.rs).
    let (hub, fanout) = if store.is_shared() {
        let (hub, outgoing) = LiveHub::with_fanout();
        (hub, Some(outgoing))
    } else {
        (LiveHub::new(), None)
    };
    let (recorder, recorder_task) =
        Recorder::spawn(store.clone(), hub.clone(), recorder_stop.clone());
    let http = crate::tls::client_builder()
        .user_agent(concat!("heaplab/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))?;
    let sources_stop = CancellationToken::new();
    let mut soak_tasks = vec![tokio::spawn(duties::run(
        config.soak.clone(),
        store.clone(),
        hub.clone(),
        http.clone(),
        sources_stop.clone(),
    ))];
    if let Some(outgoing) = fanout {
        soak_tasks.extend(crate::recorder::fanout::spawn(
            store.clone(),
            hub.clone(),
            outgoing,
            sources_stop.clone(),
        ));
    }
    let sources = Arc::new(SourceSupervisor::new(
        recorder.clone(),
        http.clone(),
        sources_stop.clone(),
    ));
    let claims = start_sources(&config, &store, &sources).await?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.bind,
            source,
        })?;
    let addr = listener.local_addr()?;
    let state = AppState {
        store: store.clone(),
        recorder: recorder.clone(),
        agents: crate::recorder::AgentIntake::new(store.clone(), recorder.clone()),
        relay: crate::web::relay::AgentRelay::start().await?,
        hub,
        sources: sources.clone(),
        config: Arc::new(WebConfig {
            auth_token: config.auth_token.clone(),
            auth_read: config.auth_read,
            require_auth: !config.bind.ip().is_loopback() && !config.insecure_no_auth,
            body_limit_bytes: config.body_limit_bytes,
            criteria: config.criteria.clone(),
            alerts: config.soak.alerts.clone(),
        }),
        http,
        flashes: Default::default(),
    };
    let app = build_router(state);
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        sources.stop_all().await;
        sources_stop.cancel();
        for task in soak_tasks {
            let _ = task.await;
        }
        recorder_stop.cancel();
        if let Err(e) = recorder_task.await {
            tracing::error!(error = %e, "recorder task failed");
        }
        // Released only once the recorder has written its last rows.
        drop(claims);
        served.map_err(ServeError::Io)
    });
    tracing::info!(%addr, "heaplab serving");
    Ok(ServerHandle {
        addr,
        first_token,
        store,
        recorder,
        shutdown,
        task,
    })
}

/// Starts the sources of the devices this server records. On a SQLite
/// file (one server) that is every registered device. On a shared
/// database a device is recorded by the server that has it: only the
/// devices of this server's own configuration, each claimed with an
/// advisory lock so that a second server configured with the same board
/// leaves it alone. The claims live as long as the returned value.
async fn start_sources(
    config: &ServerConfig,
    store: &Store,
    sources: &SourceSupervisor,
) -> Result<Option<crate::store::DeviceClaims>, ServeError> {
    let Some(mut claims) = store.device_claims().await? else {
        for device in store.devices().await? {
            sources.start(&device);
        }
        return Ok(None);
    };
    for spec in &config.devices {
        let Some(device) = store.device_by_name(&spec.name).await? else {
            continue;
        };
        if claims.try_claim(device.id).await? {
            sources.start(&device);
        } else {
            tracing::warn!(
                device = %device.name,
                "another server records this device; not recording it here"
            );
        }
    }
    Ok(Some(claims))
}

/// A server reachable from the network must check credentials: mint the
/// first token when asked to, refuse to start open unless told it may.
/// Returns the secret of a token made here.
async fn access_gate(config: &ServerConfig, store: &Store) -> Result<Option<String>, ServeError> {
    let mut protected = config.auth_token.is_some() || store.has_live_tokens().await?;
    let mut minted = None;
    if !protected && config.first_token {
        let (_, secret) = store
            .create_token("admin", crate::store::TokenScope::Write)
            .await?;
        minted = Some(secret);
        protected = true;
    }
    if !protected && !config.bind.ip().is_loopback() && !config.insecure_no_auth {
        return Err(ServeError::OpenOnNetwork { addr: config.bind });
    }
    Ok(minted)
}
