//! Redis pub/sub between server instances, with a local registry of subscribers.
//!
//! Each instance keeps one RESP3 connection that is subscribed to a channel while at least one
//! local subscriber wants it (the first subscriber SUBSCRIBEs, the last one UNSUBSCRIBEs), so an
//! instance reads only the traffic of the channels its own clients need. Published payloads are
//! handed to each local subscriber's bounded queue without waiting: a subscriber whose queue is
//! full is told so through its `overflow` token (and gets nothing more), so one slow reader never holds up the
//! others.
//!
//! A payload is either for every subscriber of a channel, or only for those carrying a given tag
//! (see [`Envelope`]). Nothing here knows what channels or tags mean.
//!
//! Pub/sub is fire-and-forget: while the connection is down, payloads are missed. After a
//! reconnect every channel is subscribed again. Whatever must not be lost is stored elsewhere first.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex as SyncMutex,
    },
    time::Duration,
};

use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig},
    Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, RedisResult, Value,
};
use tokio::sync::{mpsc, Mutex, OnceCell};
use tokio_util::sync::CancellationToken;

use super::Cache;

/// Separates the tag from the body in a published payload.
const TAG_SEPARATOR: char = '\n';
/// Addresses every subscriber of a channel.
const EVERYONE: &str = "*";
/// Metric names (see `pkg/utils/metrics.rs`, which lists them all).
const PUBLISHED_METRIC: &str = "simplechat_pubsub_published_total";
const RECEIVED_METRIC: &str = "simplechat_pubsub_received_total";
const DELIVERED_METRIC: &str = "simplechat_pushes_delivered_total";
/// Bounds every Redis round trip of the subscriber connection.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// A payload and whom on the channel it is for.
pub struct Envelope<'a> {
    /// `None` for every subscriber; `Some(tag)` for subscribers carrying that tag only.
    pub tag: Option<&'a str>,
    pub body: &'a str,
}

impl Envelope<'_> {
    /// The wire form: `<tag or *>\n<body>`.
    pub fn encode(&self) -> String {
        format!(
            "{}{TAG_SEPARATOR}{}",
            self.tag.unwrap_or(EVERYONE),
            self.body
        )
    }
}

/// Where a local subscriber receives its payloads.
#[derive(Clone)]
pub struct Subscriber {
    /// Receives the bodies addressed to it.
    pub queue: mpsc::Sender<Arc<str>>,
    /// Only payloads for everyone or for this tag are delivered.
    pub tag: String,
    /// Cancelled when the queue was full: the subscriber has fallen behind and was dropped.
    pub overflow: CancellationToken,
}

/// The broker of one instance; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Cache,
    client: Client,
    /// channel → subscriber id → subscriber
    channels: SyncMutex<HashMap<String, HashMap<u64, Subscriber>>>,
    /// Serialises SUBSCRIBE/UNSUBSCRIBE so they reach Redis in the order the registry changed.
    changes: Mutex<()>,
    connection: OnceCell<ConnectionManager>,
    next_id: AtomicU64,
    shutdown: CancellationToken,
}

/// A local subscription; end it with [`Subscription::close`].
pub struct Subscription {
    broker: Broker,
    channel: String,
    id: u64,
}

impl Broker {
    /// Creates the broker; it connects on first subscription. `shutdown` stops its reader task.
    pub fn new(cache: Cache, redis_url: &str, shutdown: CancellationToken) -> RedisResult<Self> {
        let mut info = redis_url.into_connection_info()?;
        // Pushes (pub/sub messages) share the connection with commands only under RESP3.
        info.redis.protocol = ProtocolVersion::RESP3;
        Ok(Self {
            inner: Arc::new(Inner {
                cache,
                client: Client::open(info)?,
                channels: SyncMutex::new(HashMap::new()),
                changes: Mutex::new(()),
                connection: OnceCell::new(),
                next_id: AtomicU64::new(1),
                shutdown,
            }),
        })
    }

    /// Publishes one payload to a channel (a name without the Redis prefix).
    pub async fn publish(&self, channel: &str, envelope: &Envelope<'_>) -> RedisResult<()> {
        self.publish_all(&[(channel.to_owned(), envelope.encode())])
            .await
    }

    /// Publishes encoded payloads in one round trip.
    pub async fn publish_all(&self, payloads: &[(String, String)]) -> RedisResult<()> {
        if payloads.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (channel, payload) in payloads {
            pipe.cmd("PUBLISH")
                .arg(self.inner.cache.key(channel))
                .arg(payload)
                .ignore();
        }
        let mut conn = self.inner.cache.connection().await?;
        pipe.query_async::<()>(&mut conn).await?;
        metrics::counter!(PUBLISHED_METRIC).increment(payloads.len() as u64);
        Ok(())
    }

    /// Registers a local subscriber on a channel (a name without the Redis prefix).
    pub async fn subscribe(
        &self,
        channel: &str,
        subscriber: Subscriber,
    ) -> RedisResult<Subscription> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let _serialised = self.inner.changes.lock().await;
        let first = {
            let mut channels = self.lock_channels();
            let subscribers = channels.entry(channel.to_owned()).or_default();
            subscribers.insert(id, subscriber);
            subscribers.len() == 1
        };
        if first {
            let result = async {
                let mut conn = self.connection().await?;
                with_timeout(conn.subscribe(self.inner.cache.key(channel))).await
            }
            .await;
            if let Err(err) = result {
                self.remove(channel, id);
                return Err(err);
            }
        }
        Ok(Subscription {
            broker: self.clone(),
            channel: channel.to_owned(),
            id,
        })
    }

    /// How many channels this instance is subscribed to (for metrics and tests).
    pub fn channel_count(&self) -> usize {
        self.lock_channels().len()
    }

    fn lock_channels(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<u64, Subscriber>>> {
        // A panic while holding this lock cannot leave the map half-updated; keep serving.
        self.inner
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Removes a subscriber; true when it was the channel's last.
    fn remove(&self, channel: &str, id: u64) -> bool {
        let mut channels = self.lock_channels();
        let Some(subscribers) = channels.get_mut(channel) else {
            return false;
        };
        subscribers.remove(&id);
        if subscribers.is_empty() {
            channels.remove(channel);
            true
        } else {
            false
        }
    }

    /// The subscriber connection, opened on first use together with its reader task.
    async fn connection(&self) -> RedisResult<ConnectionManager> {
        let manager = self
            .inner
            .connection
            .get_or_try_init(|| async {
                let (pushes, received) = mpsc::unbounded_channel();
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(REDIS_TIMEOUT)
                    .set_response_timeout(REDIS_TIMEOUT)
                    .set_push_sender(pushes);
                let manager =
                    ConnectionManager::new_with_config(self.inner.client.clone(), config).await?;
                tokio::spawn(self.clone().read_pushes(received));
                Ok::<_, redis::RedisError>(manager)
            })
            .await?;
        Ok(manager.clone())
    }

    /// Hands every pushed message to the local subscribers, until shutdown.
    async fn read_pushes(self, mut received: mpsc::UnboundedReceiver<PushInfo>) {
        loop {
            let push = tokio::select! {
                push = received.recv() => push,
                _ = self.inner.shutdown.cancelled() => None,
            };
            let Some(push) = push else { break };
            match push.kind {
                PushKind::Message => self.deliver(push.data),
                PushKind::Disconnection => {
                    tracing::warn!("Redis pub/sub connection lost; subscribing again");
                    tokio::spawn(self.clone().resubscribe_all());
                }
                _ => {}
            }
        }
    }

    fn deliver(&self, data: Vec<Value>) {
        let [channel, payload] = <[Value; 2]>::try_from(data).unwrap_or([Value::Nil, Value::Nil]);
        let (Some(channel), Some(payload)) = (as_text(channel), as_text(payload)) else {
            return;
        };
        let Some(channel) = channel.strip_prefix(self.inner.cache.key("").as_str()) else {
            return;
        };
        let Some((tag, body)) = payload.split_once(TAG_SEPARATOR) else {
            return;
        };
        metrics::counter!(RECEIVED_METRIC).increment(1);
        self.hand_out(channel, tag, body);
    }

    /// Hands a body to this instance's subscribers of `channel`, as if it had been published
    /// there with `tag`, without going through Redis.
    pub fn deliver_locally(&self, channel: &str, tag: &str, body: &str) {
        self.hand_out(channel, tag, body);
    }

    /// Every local subscriber's channel and tag.
    pub fn local_tags(&self) -> Vec<(String, String)> {
        self.lock_channels()
            .iter()
            .flat_map(|(channel, subscribers)| {
                subscribers
                    .values()
                    .map(|subscriber| (channel.clone(), subscriber.tag.clone()))
            })
            .collect()
    }

    fn hand_out(&self, channel: &str, tag: &str, body: &str) {
        let body: Arc<str> = Arc::from(body);
        let channels = self.lock_channels();
        let Some(subscribers) = channels.get(channel) else {
            return;
        };
        for subscriber in subscribers.values() {
            if tag != EVERYONE && tag != subscriber.tag {
                continue;
            }
            match subscriber.queue.try_send(body.clone()) {
                Ok(()) => metrics::counter!(DELIVERED_METRIC).increment(1),
                // Its owner sees the token, disconnects the client and closes the subscription.
                Err(mpsc::error::TrySendError::Full(_)) => subscriber.overflow.cancel(),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// After a reconnect, subscribes again to every channel that still has local subscribers.
    async fn resubscribe_all(self) {
        let mut delay = Duration::from_millis(100);
        while !self.inner.shutdown.is_cancelled() {
            let _serialised = self.inner.changes.lock().await;
            let channels: Vec<String> = self
                .lock_channels()
                .keys()
                .map(|channel| self.inner.cache.key(channel))
                .collect();
            let result = async {
                // The connection exists: its loss is what brought us here.
                let Some(mut conn) = self.inner.connection.get().cloned() else {
                    return Ok(());
                };
                if channels.is_empty() {
                    // Any command makes the manager reconnect.
                    return with_timeout(redis::cmd("PING").query_async::<()>(&mut conn)).await;
                }
                with_timeout(conn.subscribe(channels)).await
            }
            .await;
            match result {
                Ok(()) => return,
                Err(err) => tracing::warn!(error = %err, "resubscribing failed; retrying"),
            }
            drop(_serialised);
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

impl Subscription {
    /// Ends the subscription; the channel is left when this was its last local subscriber.
    pub async fn close(self) {
        let broker = self.broker;
        let _serialised = broker.inner.changes.lock().await;
        if broker.remove(&self.channel, self.id) {
            if let Ok(mut conn) = broker.connection().await {
                let key = broker.inner.cache.key(&self.channel);
                if let Err(err) = with_timeout(conn.unsubscribe(key)).await {
                    tracing::warn!(error = %err, channel = %self.channel, "unsubscribe failed");
                }
            }
        }
    }
}

fn as_text(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

async fn with_timeout<T>(
    future: impl std::future::Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    tokio::time::timeout(REDIS_TIMEOUT, future)
        .await
        .map_err(|_| {
            redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "Redis did not answer in time",
            ))
        })?
}

#[cfg(test)]
mod tests {
    use super::Envelope;

    #[test]
    fn envelopes_carry_their_tag_before_the_body() {
        let everyone = Envelope {
            tag: None,
            body: "{\"a\":1}\nmore",
        };
        assert_eq!(everyone.encode(), "*\n{\"a\":1}\nmore");
        let tagged = Envelope {
            tag: Some("s1"),
            body: "x",
        };
        assert_eq!(tagged.encode(), "s1\nx");
    }
}
