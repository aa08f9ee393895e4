//! Prometheus metrics: every metric name in one place, and the process-wide recorder that
//! `GET /metrics` renders.

use std::{sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

pub use crate::platform::database::{
    POOL_CONNECTIONS_METRIC as DB_POOL_CONNECTIONS, POOL_WAIT_METRIC as DB_POOL_WAIT_SECONDS,
};

/// HTTP requests answered, by `method`, `route` (the route's template, e.g.
/// `/api/v1/groups/{group_id}`, or `unmatched`) and `status` (counter).
pub const HTTP_REQUESTS: &str = "simplechat_http_requests_total";
/// Time to answer an HTTP request, by `method` and `route` (histogram). For `GET /ws` it is the
/// time to the upgrade, not the socket's life.
pub const HTTP_REQUEST_DURATION: &str = "simplechat_http_request_duration_seconds";

/// Open WebSocket connections on this instance (gauge).
pub const WS_CONNECTIONS: &str = "simplechat_ws_connections";
/// WebSocket upgrades waiting for a handshake slot now (`WS_HANDSHAKE_LIMIT`; gauge).
pub const WS_HANDSHAKES_WAITING: &str = "simplechat_ws_handshakes_waiting";
/// Users with at least one connection on this instance (gauge).
pub const ONLINE_USERS: &str = "simplechat_online_users";
/// Messages stored (counter).
pub const MESSAGES_STORED: &str = "simplechat_messages_stored_total";
/// Frames handed from the broker to local connections (counter).
pub const PUSHES_DELIVERED: &str = "simplechat_pushes_delivered_total";
/// Connections dropped for reading too slowly (counter).
pub const SLOW_CLIENTS_DROPPED: &str = "simplechat_slow_clients_dropped_total";
/// Time from receiving a send to answering it, storage and fan-out included (histogram).
pub const SEND_ACK_SECONDS: &str = "simplechat_send_ack_seconds";
/// Messages stored per transaction by the message writer (histogram).
pub const WRITE_BATCH_SIZE: &str = "simplechat_write_batch_size";
/// Presence changes announced together by the presence announcer (histogram).
pub const PRESENCE_BATCH_SIZE: &str = "simplechat_presence_batch_size";
/// Payloads published to Redis (counter).
pub const PUBSUB_PUBLISHED: &str = "simplechat_pubsub_published_total";
/// Payloads that could not be published to Redis; their readers catch up with `sync` (counter).
pub const PUBSUB_PUBLISH_FAILURES: &str = "simplechat_pubsub_publish_failures_total";
/// Times the live feed (Redis subscriptions) came back after a loss (counter).
pub const PUBSUB_RECONNECTS: &str = "simplechat_pubsub_reconnects_total";
/// Whole seconds the live feed was down, summed over its losses (counter).
pub const PUBSUB_FEED_DOWN_SECONDS: &str = "simplechat_pubsub_feed_down_seconds_total";
/// 1 while the live feed is up, 0 while it is down (gauge).
pub const PUBSUB_FEED_LIVE: &str = "simplechat_pubsub_feed_live";
/// Machine-id lease changes: taken again after a flush, replaced, or lost (counter).
pub const LEASE_CHANGES: &str = "simplechat_lease_changes_total";
/// Payloads received from Redis (counter).
pub const PUBSUB_RECEIVED: &str = "simplechat_pubsub_received_total";
/// Questions sent to the chatbot's provider (counter).
pub const CHATBOT_CALLS: &str = "simplechat_chatbot_calls_total";
/// Questions the chatbot could not answer (counter).
pub const CHATBOT_FAILURES: &str = "simplechat_chatbot_failures_total";
/// Logins refused, by `reason`: `bad_credentials`, `rate_limited`, `busy` (counter).
pub const LOGINS_REJECTED: &str = "simplechat_logins_rejected_total";
/// Requests refused by a rate limit, by `rule` (see `app/services/rate_limits.rs`) (counter).
pub const RATE_LIMITED: &str = "simplechat_rate_limited_total";
/// Rate-limit checks that could not reach Redis and let the request through, by `rule` (counter).
pub const RATE_LIMIT_ERRORS: &str = "simplechat_rate_limit_errors_total";
/// 1 when this instance's last `/readyz` answered 200, 0 when it answered 503 (gauge; the
/// orchestrator's probes keep it current).
pub const READY: &str = "simplechat_ready";
/// Logins and registrations waiting for a password-hashing slot now (gauge).
pub const BCRYPT_WAITING: &str = "simplechat_bcrypt_waiting";
/// Time from asking for a password-hashing slot to getting one (histogram).
pub const BCRYPT_WAIT_SECONDS: &str = "simplechat_bcrypt_wait_seconds";
/// Logins and registrations turned away because every hashing slot and queue place was taken,
/// or no slot came free in time (counter).
pub const BCRYPT_REFUSED: &str = "simplechat_bcrypt_refused_total";
/// Web Push requests a push service accepted (counter).
pub const WEB_PUSHES_SENT: &str = "simplechat_web_pushes_sent_total";
/// Web Push requests that failed, by `status` (the HTTP status, or `network`, `blocked`,
/// `expired`, `unsendable`) (counter).
pub const WEB_PUSHES_FAILED: &str = "simplechat_web_pushes_failed_total";
/// Pushes waiting: outbox rows plus pending (user, conversation) pushes (gauge).
pub const WEB_PUSH_OUTBOX_DEPTH: &str = "simplechat_web_push_outbox_depth";
/// Age in seconds of the oldest waiting push; 0 when none waits (gauge).
pub const WEB_PUSH_OLDEST_PENDING_SECONDS: &str = "simplechat_web_push_oldest_pending_seconds";

/// Every counter without labels, exported from start-up on (at 0), so dashboards and alerts see
/// each series before the first event. (Labelled ones appear with their first label value.)
const COUNTERS: &[&str] = &[
    MESSAGES_STORED,
    PUSHES_DELIVERED,
    SLOW_CLIENTS_DROPPED,
    PUBSUB_PUBLISHED,
    PUBSUB_PUBLISH_FAILURES,
    PUBSUB_RECONNECTS,
    PUBSUB_FEED_DOWN_SECONDS,
    LEASE_CHANGES,
    PUBSUB_RECEIVED,
    CHATBOT_CALLS,
    CHATBOT_FAILURES,
    BCRYPT_REFUSED,
    WEB_PUSHES_SENT,
];
/// Every gauge, exported from start-up on.
const GAUGES: &[&str] = &[
    WS_CONNECTIONS,
    WS_HANDSHAKES_WAITING,
    ONLINE_USERS,
    PUBSUB_FEED_LIVE,
    BCRYPT_WAITING,
    WEB_PUSH_OUTBOX_DEPTH,
    WEB_PUSH_OLDEST_PENDING_SECONDS,
];
/// Every histogram, exported from start-up on (empty buckets).
const HISTOGRAMS: &[&str] = &[
    SEND_ACK_SECONDS,
    WRITE_BATCH_SIZE,
    PRESENCE_BATCH_SIZE,
    BCRYPT_WAIT_SECONDS,
    DB_POOL_WAIT_SECONDS,
];

/// Send→ack latencies of interest: 0.5 ms to 2.5 s.
const SEND_ACK_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Request durations: 1 ms to 10 s.
const HTTP_DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Batch sizes: powers of two up to the writer's largest batch.
const WRITE_BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// Presence batch sizes: powers of four up to the announcer's largest batch.
const PRESENCE_BATCH_BUCKETS: &[f64] = &[1.0, 4.0, 16.0, 64.0, 256.0, 1024.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The recorder's handle, installing the recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(SEND_ACK_SECONDS.into()), SEND_ACK_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(WRITE_BATCH_SIZE.into()),
                    WRITE_BATCH_BUCKETS,
                )
            })
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(PRESENCE_BATCH_SIZE.into()),
                    PRESENCE_BATCH_BUCKETS,
                )
            })
            // Waits for a hashing slot span the same range as send→ack latencies.
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(BCRYPT_WAIT_SECONDS.into()),
                    SEND_ACK_BUCKETS,
                )
            })
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(HTTP_REQUEST_DURATION.into()),
                    HTTP_DURATION_BUCKETS,
                )
            })
            // Waits for a pooled connection: from none at all up to the pool's 2 s timeout.
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(DB_POOL_WAIT_SECONDS.into()),
                    SEND_ACK_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; ours then renders nothing.
        let _ = metrics::set_global_recorder(recorder);
        register_all();
        handle
    })
}

/// Registers every series without changing it (several servers may share one process in tests).
fn register_all() {
    for name in COUNTERS {
        metrics::counter!(*name).increment(0);
    }
    for name in GAUGES {
        metrics::gauge!(*name).increment(0.0);
    }
    for name in HISTOGRAMS {
        let _registered = metrics::histogram!(*name);
    }
}

/// How often histograms are drained into their buckets when nobody scrapes `/metrics`.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the recorder and runs its upkeep on a timer until `shutdown`. Without upkeep the
/// recorder keeps every histogram sample until the next scrape, so memory would grow with traffic
/// on an instance that nobody scrapes.
pub fn spawn_upkeep(shutdown: CancellationToken) {
    let handle = handle();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tokio::select! {
                _ = every.tick() => handle.run_upkeep(),
                _ = shutdown.cancelled() => break,
            }
        }
    });
}

/// The current metrics in Prometheus' text format.
pub fn render() -> String {
    let handle = handle();
    handle.run_upkeep();
    handle.render()
}
