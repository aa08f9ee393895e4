//! Redis pub/sub between server instances: the feed that carries live events to this instance,
//! and publishing to the others. Local delivery is the [`Hub`]'s job.
//!
//! One RESP3 connection per instance carries the subscriptions: a channel is subscribed while at
//! least one local subscriber wants it, so an instance reads only its own clients' traffic. On a
//! Redis Cluster the channels are sharded ([`link`]): each lives on the master owning its slot.
//! Subscribing and unsubscribing go in batches ([`subscriptions`]): the changes of many sockets
//! share a round trip, so a storm of opening or closing sockets costs few of them.
//!
//! A supervisor task ([`feed`]) owns that connection. It notices a lost feed at once when the
//! socket closes and within a few seconds when Redis stops answering (a PING every second), then
//! connects again with capped, jittered back-off, for as long as the server runs, and subscribes
//! every channel the hub still needs. Payloads published while the feed was down are missed — pub/sub is
//! fire-and-forget, and everything that matters is stored first — so each recovery is announced
//! through [`FeedStatus::recoveries`], for the application to tell its clients to catch up. On a
//! cluster, losing the connection to any one node, or a subscription dropped by Redis because its
//! slot moved (a failover, a resharding), counts as losing the feed: the same rule, the same
//! catch-up.

mod feed;
mod link;
mod subscriptions;

use std::{collections::HashMap, sync::Arc, time::Duration};

use redis::RedisResult;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::{
    hub::{Hub, Subscriber, EVERYONE},
    within, Cache,
};
use link::{publish_command, FeedLink};
use subscriptions::{Joining, State};

/// Separates the tag from the body in a published payload.
const TAG_SEPARATOR: char = '\n';
/// Metric names (see `pkg/utils/metrics.rs`, which lists them all).
const PUBLISHED_METRIC: &str = "simplechat_pubsub_published_total";
const PUBLISH_FAILURES_METRIC: &str = "simplechat_pubsub_publish_failures_total";
const RECEIVED_METRIC: &str = "simplechat_pubsub_received_total";
const RECONNECTS_METRIC: &str = "simplechat_pubsub_reconnects_total";
const FEED_DOWN_METRIC: &str = "simplechat_pubsub_feed_down_seconds_total";
const FEED_LIVE_METRIC: &str = "simplechat_pubsub_feed_live";
/// Bounds every round trip of the feed connection.
const FEED_TIMEOUT: Duration = Duration::from_secs(2);
/// Bounds a publish: a sender's answer never waits long on Redis (its message is stored already).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the feed connection is checked when no socket event tells us it is gone.
const PING_INTERVAL: Duration = Duration::from_secs(1);
/// Reconnection back-off: doubles from the first delay up to the cap, each with ±50% jitter so
/// that instances do not knock on a restarting Redis in step.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

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

/// Whether this instance receives live events, and how often the feed came back after a loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedStatus {
    /// Subscribed and answering.
    pub live: bool,
    /// Incremented each time the feed is live again after it was lost.
    pub recoveries: u64,
}

/// The broker of one instance; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Cache,
    hub: Hub,
    /// The feed connection and what is subscribed on it ([`subscriptions`]).
    state: std::sync::Mutex<State>,
    /// Wakes the batcher when a change is marked.
    wake: Notify,
    status: watch::Sender<FeedStatus>,
}

/// A local subscription; end it with [`Subscription::close`] (or by dropping it).
pub struct Subscription {
    broker: Broker,
    channel: String,
    id: u64,
}

impl Broker {
    /// Creates the broker and starts its supervisor, which connects (to the cache's Redis) at
    /// once and keeps the feed up until `shutdown`.
    pub fn start(cache: Cache, shutdown: CancellationToken) -> Self {
        let broker = Self {
            inner: Arc::new(Inner {
                cache,
                hub: Hub::default(),
                state: std::sync::Mutex::new(State::default()),
                wake: Notify::new(),
                status: watch::Sender::new(FeedStatus::default()),
            }),
        };
        metrics::gauge!(FEED_LIVE_METRIC).set(0.0);
        tokio::spawn(broker.clone().batch(shutdown.clone()));
        tokio::spawn(broker.clone().supervise(shutdown));
        broker
    }

    /// Whether live events reach this instance now.
    pub fn is_live(&self) -> bool {
        self.inner.status.borrow().live
    }

    /// Waits up to `limit` for the feed to be live; false if it is not by then.
    pub async fn wait_live(&self, limit: Duration) -> bool {
        let mut status = self.watch_status();
        let live = tokio::time::timeout(limit, status.wait_for(|status| status.live)).await;
        matches!(live, Ok(Ok(_)))
    }

    /// Follows the feed's status; [`FeedStatus::recoveries`] changes after every interruption.
    pub fn watch_status(&self) -> watch::Receiver<FeedStatus> {
        self.inner.status.subscribe()
    }

    /// Publishes one payload to a channel (a name without the Redis prefix).
    pub async fn publish(&self, channel: &str, envelope: &Envelope<'_>) -> RedisResult<()> {
        self.publish_all(&[(channel.to_owned(), envelope.encode())])
            .await
    }

    /// Publishes encoded payloads in one round trip (on a cluster, one per channel, at once),
    /// each channel's in their order, within a short time limit; fails at once while the feed
    /// is down.
    pub async fn publish_all(&self, payloads: &[(String, String)]) -> RedisResult<()> {
        if payloads.is_empty() {
            return Ok(());
        }
        let publish = publish_command(self.inner.cache.is_cluster());
        // A channel's payloads go out together, in their order: its subscribers must get them
        // in that order (a conversation's messages by seq, say).
        let mut by_channel: Vec<Vec<redis::Cmd>> = Vec::new();
        let mut group_of: HashMap<&str, usize> = HashMap::new();
        for (channel, payload) in payloads {
            let group = *group_of.entry(channel).or_insert_with(|| {
                by_channel.push(Vec::new());
                by_channel.len() - 1
            });
            let mut command = redis::cmd(publish);
            command.arg(self.inner.cache.key(channel)).arg(payload);
            by_channel[group].push(command);
        }
        if !self.is_live() {
            // Redis is gone or unreachable from here: trying would only hold up the sender (and,
            // one send after another, every send of the connection). The clients resync once the
            // feed is back.
            metrics::counter!(PUBLISH_FAILURES_METRIC).increment(payloads.len() as u64);
            return Err(feed_down());
        }
        let published = within(PUBLISH_TIMEOUT, async {
            let mut conn = self.inner.cache.connection().await?;
            conn.run_grouped(by_channel).await
        })
        .await;
        match &published {
            Ok(()) => metrics::counter!(PUBLISHED_METRIC).increment(payloads.len() as u64),
            Err(_) => metrics::counter!(PUBLISH_FAILURES_METRIC).increment(payloads.len() as u64),
        }
        published
    }

    /// Registers a local subscriber on a channel (a name without the Redis prefix); returns once
    /// the channel is subscribed in Redis, so every payload published from then on reaches the
    /// subscriber. Subscribing goes in batches with other sockets' (see [`subscriptions`]). Fails
    /// while the feed is down: a subscriber could not be promised its events.
    pub async fn subscribe(
        &self,
        channel: &str,
        subscriber: Subscriber,
    ) -> RedisResult<Subscription> {
        let (id, _) = self.inner.hub.insert(channel, subscriber);
        // Dropped on every failure below: the subscriber leaves the hub again.
        let subscription = Subscription {
            broker: self.clone(),
            channel: channel.to_owned(),
            id,
        };
        match self.join(channel) {
            Joining::Ready => Ok(subscription),
            Joining::Wait(answer) => match answer.await {
                Ok(true) => Ok(subscription),
                _ => Err(not_subscribed()),
            },
            Joining::Down => Err(feed_down()),
        }
    }

    /// How many channels this instance is subscribed to (for metrics and tests).
    pub fn channel_count(&self) -> usize {
        self.inner.hub.channel_count()
    }

    /// Hands a body to this instance's subscribers of `channel`, as if it had been published
    /// there with `tag`, without going through Redis.
    pub fn deliver_locally(&self, channel: &str, tag: &str, body: &str) {
        self.inner.hub.hand_out(channel, tag, body);
    }

    /// Every local subscriber's channel and tag.
    pub fn local_tags(&self) -> Vec<(String, String)> {
        self.inner.hub.local_tags()
    }

    fn feed(&self) -> Option<FeedLink> {
        self.lock_state().link.clone()
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Subscription {
    /// Ends the subscription; the channel is left (in a later batch) when this was its last
    /// local subscriber. Nothing waits for Redis here. While the feed is down there is nothing
    /// to leave: the next connection subscribes only what the hub still holds.
    pub async fn close(self) {
        drop(self);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.broker.inner.hub.remove(&self.channel, self.id) {
            self.broker.left(&self.channel);
        }
    }
}

fn not_subscribed() -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Io,
        "live events are unavailable (subscribing failed)",
    ))
}

fn feed_down() -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Io,
        "live events are unavailable (Redis feed down)",
    ))
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
