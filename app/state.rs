//! What every handler can reach: the configuration and the handles to the outside services,
//! built once at start-up and shared (cloning is cheap).

use std::sync::Arc;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    app::services::{
        attachments::handle::AttachmentsHandle, chatbot::handle::Chatbot,
        live_sessions::handle::LiveSessions, message_writer::MessageWriter,
        presence::handle::Presence, push::handle::PushHandle,
    },
    pkg::{
        config::Config,
        utils::{admission::Admission, jwt::TokenKeys, metrics as names, password::PasswordHasher},
    },
    platform::{cache::broker::Broker, cache::Cache, database::DbPool, storage::Storage},
};

/// Shared state of one server process.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: DbPool,
    pub cache: Cache,
    /// Live events between instances.
    pub broker: Broker,
    /// Stores every message, in batches.
    pub writer: MessageWriter,
    /// Who is online, across instances.
    pub presence: Arc<Presence>,
    /// Session checks waiting to be read together.
    pub live_sessions: Arc<LiveSessions>,
    pub chatbot: Arc<Chatbot>,
    /// The VAPID key and the HTTP client for Web Push.
    pub push: Arc<PushHandle>,
    /// The object store holding attachments, and the image-decoding slots.
    pub attachments: Arc<AttachmentsHandle>,
    pub tokens: Arc<TokenKeys>,
    pub passwords: Arc<PasswordHasher>,
    /// Cancelled on SIGTERM: `/readyz` answers 503 and new WebSockets are refused from then on,
    /// while open ones are still served for `SHUTDOWN_DRAIN`.
    pub draining: CancellationToken,
    /// Cancelled when the server starts shutting down; WebSockets close with 1001 then.
    pub shutdown: CancellationToken,
    /// Every WebSocket connection's task, so that shutdown can wait for their 1001 closes (the
    /// HTTP server's graceful shutdown does not wait for upgraded connections).
    pub connections: TaskTracker,
    /// WebSocket handshakes in progress (`WS_HANDSHAKE_LIMIT`); beyond it upgrades get 503.
    pub handshakes: Admission,
}

/// The outside services, connected.
pub struct Services {
    pub db: DbPool,
    pub cache: Cache,
    pub broker: Broker,
    pub writer: MessageWriter,
    pub presence: Presence,
    pub push: PushHandle,
    pub storage: Storage,
}

impl AppState {
    /// Builds the state around connected services.
    pub fn new(config: Config, services: Services, shutdown: CancellationToken) -> Self {
        Self {
            chatbot: Arc::new(Chatbot::new(&config.chatbot)),
            tokens: Arc::new(TokenKeys::new(
                &config.jwt_secret,
                &config.jwt_previous_secrets,
            )),
            passwords: Arc::new(PasswordHasher::new(
                config.bcrypt_cost,
                config.bcrypt_concurrency,
                config.bcrypt_queue,
            )),
            handshakes: Admission::new(config.ws_handshake_limit, names::WS_HANDSHAKES_WAITING),
            config: Arc::new(config),
            db: services.db,
            cache: services.cache,
            broker: services.broker,
            writer: services.writer,
            presence: Arc::new(services.presence),
            live_sessions: Arc::new(LiveSessions::new()),
            draining: CancellationToken::new(),
            push: Arc::new(services.push),
            attachments: Arc::new(AttachmentsHandle::new(services.storage)),
            shutdown,
            connections: TaskTracker::new(),
        }
    }
}
