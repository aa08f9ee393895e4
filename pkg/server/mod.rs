//! Start-up and shutdown of one server process, shared by `main` and the integration tests.

mod acceptor;

use self::acceptor::NoDelayAcceptor;

use crate::app::state::{AppState, Services};
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use poem::{listener::Acceptor, Server};
use tokio_util::sync::CancellationToken;

use crate::{
    app::services::{
        attachments, live_sessions,
        message_writer::MessageWriter,
        presence::{self, handle::Presence},
        push::{self, handle::PushHandle},
        sessions,
    },
    pkg::{
        config::Config,
        routes,
        utils::{message_ids::MessageIds, metrics},
    },
    platform::{
        cache::{
            broker::Broker,
            lease::{self, LeaseError, Wanted},
            Cache, Target,
        },
        database::{self, Session},
        storage::Storage,
    },
};

/// How long start-up waits for the live event feed before serving anyway.
const FEED_WAIT_AT_START: Duration = Duration::from_secs(2);
/// How long in-flight requests may take to finish once the drain (`SHUTDOWN_DRAIN`) is over.
pub const GRACEFUL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long WebSockets may take to close after that. SIGTERM to exit is therefore at most
/// `SHUTDOWN_DRAIN` + 3 s + 1.5 s; the Dockerfile, compose file and Kubernetes manifests give
/// the process more than that before they kill it.
pub const WEBSOCKET_CLOSE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Creates the database if needed, applies migrations, takes a machine id and builds the shared
/// state. Background tasks stop when `shutdown` is cancelled.
pub async fn prepare(config: Config, shutdown: CancellationToken) -> anyhow::Result<AppState> {
    // Install the metrics recorder before anything records.
    metrics::spawn_upkeep(shutdown.clone());
    let target = redis_target(&config);
    match &target {
        Target::Single(_) => tracing::info!("Redis: one server (REDIS_URL)"),
        Target::Cluster(nodes) => tracing::info!(?nodes, "Redis: a cluster, sharded pub/sub"),
    }
    let cache =
        Cache::new(&target, &config.redis_prefix).context("REDIS_URL / REDIS_CLUSTER_NODES")?;
    // The lease first: a fresh machine id becomes usable only after a grace period, which runs
    // while the database is prepared.
    let wanted = config.machine_id.map_or(Wanted::Any, Wanted::Pinned);
    let lease = match lease::acquire(&cache, "machine_id", wanted, shutdown.clone()).await {
        Ok(lease) => lease,
        Err(LeaseError::InUse(id)) => {
            anyhow::bail!("MACHINE_ID {id} is in use by another running instance")
        }
        Err(err) => return Err(err).context("taking a machine id from Redis (or set MACHINE_ID)"),
    };
    database::ensure_database_exists(&config.database_url).await?;
    database::run_migrations(&config.database_url).await?;
    let db = database::pool_with(
        &config.database_url,
        config.database_pool_size,
        Session {
            statement_timeout: config.database_statement_timeout,
            generic_plans: false,
        },
    )?;
    let broker = Broker::start(cache.clone(), shutdown.clone());
    if lease.current().is_none() {
        tracing::info!(wait = ?lease::GRACE, "a fresh machine id is used only after a grace period");
    }
    let machine_id = lease.usable().await;
    tracing::info!(?machine_id, "message ids ready");
    // Serving before the feed is up would refuse the first WebSockets; a Redis that is down
    // stays a reported outage (`/readyz`), not a reason not to start.
    if !broker.wait_live(FEED_WAIT_AT_START).await {
        tracing::warn!("live event feed not up yet; /readyz reports it until it is");
    }
    // The writers have connections of their own, one each: a send never waits for a connection
    // behind other work (a reconnect storm's session checks, say), only for Postgres itself.
    // Their statements run on generic plans (`Session::generic_plans`), asked for once per
    // session instead of once per batch.
    let writers_db = database::pool_with(
        &config.database_url,
        config.message_writers,
        Session {
            statement_timeout: config.database_statement_timeout,
            generic_plans: true,
        },
    )?;
    let writer = MessageWriter::spawn(
        writers_db,
        Arc::new(MessageIds::new(lease)),
        config.message_writers,
    );
    let push = PushHandle::load(&config.push, &db).await?;
    let storage = Storage::connect(&config.attachments.storage).context("STORAGE_URL")?;
    let services = Services {
        push,
        storage,
        db,
        writer,
        presence: Presence::new(cache.clone(), config.heartbeat_interval),
        cache,
        broker,
    };
    let state = AppState::new(config, services, shutdown.clone());
    presence::spawn_background(state.clone(), shutdown.clone());
    live_sessions::start(state.clone());
    sessions::spawn_checks(state.clone(), shutdown.clone());
    attachments::sweep::spawn(state.clone(), shutdown.clone());
    push::worker::spawn(state.clone(), shutdown);
    Ok(state)
}

/// A server whose socket is bound, ready to serve.
pub struct BoundServer {
    acceptor: NoDelayAcceptor,
    state: AppState,
}

impl BoundServer {
    /// Prepares the state and binds `LISTEN_ADDR` (port 0 picks a free port).
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let listen_addr = config.listen_addr;
        if config.jwt_secret_is_dev_default {
            tracing::warn!("JWT_SECRET is not set: using the built-in dev secret (APP_ENV=dev)");
        }
        // Bind first: a port in use should be reported before any other work is done.
        let acceptor = NoDelayAcceptor::bind(listen_addr, config.listen_backlog)
            .with_context(|| format!("binding {listen_addr}"))?;
        let state = prepare(config, CancellationToken::new()).await?;
        Ok(Self { acceptor, state })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.acceptor
            .local_addr()
            .into_iter()
            .find_map(|addr| addr.as_socket_addr().copied())
    }

    /// Serves until `shutdown` completes, then drains: `/readyz` answers 503 and new WebSockets
    /// are refused at once, so balancers stop sending work here, while open sockets and requests
    /// are still served for `SHUTDOWN_DRAIN`. Then it stops accepting, lets in-flight requests
    /// finish and closes WebSockets with 1001.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        if let Some(addr) = self.local_addr() {
            tracing::info!(%addr, "listening");
        }
        let draining = self.state.draining.clone();
        let drain = self.state.config.shutdown_drain;
        let stopping = self.state.shutdown.clone();
        let connections = self.state.connections.clone();
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                routes::app(self.state),
                async move {
                    shutdown.await;
                    tracing::info!(
                        ?drain,
                        "draining: /readyz is 503, new WebSockets are refused"
                    );
                    draining.cancel();
                    tokio::time::sleep(drain).await;
                    stopping.cancel();
                },
                Some(GRACEFUL_SHUTDOWN_TIMEOUT),
            )
            .await;
        // Requests are done; WebSockets closed their reading side when shutdown began and are
        // flushing their last frames and the 1001 close now.
        connections.close();
        if tokio::time::timeout(WEBSOCKET_CLOSE_TIMEOUT, connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some WebSockets did not close in time");
        }
        tracing::info!("server stopped");
        result
    }
}

/// One Redis (`REDIS_URL`), or a cluster when `REDIS_CLUSTER_NODES` names its seed nodes.
pub fn redis_target(config: &Config) -> Target {
    if config.redis_cluster_nodes.is_empty() {
        Target::Single(config.redis_url.clone())
    } else {
        Target::Cluster(config.redis_cluster_nodes.clone())
    }
}
