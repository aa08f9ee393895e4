//! The broker's supervisor: it owns the feed connection, notices when it is lost (the socket
//! closes, or a PING goes unanswered), connects again with capped, jittered back-off for as long
//! as the server runs, subscribes every channel the hub still needs, and hands every pushed
//! payload to the hub. On a cluster, a lost node or a subscription that Redis dropped (its slot
//! moved) is a lost feed too: the supervisor starts over on the new topology, and the recovery
//! tells the clients to catch up, exactly as after a restart of a single Redis.

use std::{collections::HashSet, time::Duration};

use redis::{PushInfo, RedisResult, Value};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::platform::cache::within;

use super::{
    link::{classify, FeedLink, Pushed},
    Broker, FEED_DOWN_METRIC, FEED_LIVE_METRIC, FEED_TIMEOUT, FIRST_RETRY_DELAY, MAX_RETRY_DELAY,
    PING_INTERVAL, RECEIVED_METRIC, RECONNECTS_METRIC, TAG_SEPARATOR,
};

impl Broker {
    /// Keeps the feed up until shutdown: connect, serve until lost, connect again.
    pub(super) async fn supervise(self, shutdown: CancellationToken) {
        let mut delay = FIRST_RETRY_DELAY;
        let mut down_since = Instant::now();
        let mut ever_live = false;
        while !shutdown.is_cancelled() {
            let connected = tokio::select! {
                connected = self.connect() => connected,
                _ = shutdown.cancelled() => break,
            };
            let pushes = match connected {
                Ok(pushes) => pushes,
                Err(err) => {
                    tracing::warn!(error = %err, retry_in = ?delay, "Redis feed unavailable");
                    tokio::select! {
                        _ = tokio::time::sleep(jittered(delay)) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                    continue;
                }
            };
            delay = FIRST_RETRY_DELAY;
            self.went_live(ever_live, down_since);
            ever_live = true;
            self.serve(pushes, &shutdown).await;
            self.lock_state().lost();
            self.inner.status.send_modify(|status| status.live = false);
            metrics::gauge!(FEED_LIVE_METRIC).set(0.0);
            down_since = Instant::now();
            if !shutdown.is_cancelled() {
                tracing::warn!("Redis feed lost; reconnecting");
            }
        }
    }

    /// Opens the feed connection and subscribes every channel the hub needs. A socket that
    /// arrives meanwhile is refused (the feed is not live yet); one that leaves meanwhile has
    /// marked its channel, which the batcher then leaves on the new connection.
    async fn connect(&self) -> RedisResult<mpsc::UnboundedReceiver<PushInfo>> {
        let (pushes, received) = mpsc::unbounded_channel();
        let target = self.inner.cache.target();
        let feed = within(FEED_TIMEOUT, FeedLink::open(target, pushes)).await?;
        let channels: HashSet<String> = self.inner.hub.channels().into_iter().collect();
        let keys = channels
            .iter()
            .map(|channel| self.inner.cache.key(channel))
            .collect();
        for (_, subscribed) in feed.join(keys).await {
            subscribed?;
        }
        self.lock_state().connected(feed, channels);
        self.inner.wake.notify_one();
        Ok(received)
    }

    fn went_live(&self, after_loss: bool, down_since: Instant) {
        if after_loss {
            let down_for = down_since.elapsed();
            metrics::counter!(RECONNECTS_METRIC).increment(1);
            metrics::counter!(FEED_DOWN_METRIC).increment(down_for.as_secs());
            tracing::info!(?down_for, "Redis feed live again");
        }
        metrics::gauge!(FEED_LIVE_METRIC).set(1.0);
        self.inner.status.send_modify(|status| {
            status.live = true;
            if after_loss {
                status.recoveries += 1;
            }
        });
    }

    /// Hands out pushed payloads until the connection is lost (closed, or a PING goes
    /// unanswered) or the server shuts down.
    async fn serve(
        &self,
        mut pushes: mpsc::UnboundedReceiver<PushInfo>,
        shutdown: &CancellationToken,
    ) {
        let Some(mut feed) = self.feed() else { return };
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                push = pushes.recv() => match push.map(classify) {
                    Some(Pushed::Message { channel, payload }) => self.deliver(channel, payload),
                    Some(Pushed::Left(channel)) if self.dropped_by_redis(&channel) => {
                        tracing::warn!("Redis dropped a subscription (its slot moved)");
                        return;
                    }
                    Some(Pushed::Lost) | None => return,
                    Some(_) => {}
                },
                _ = ping.tick() => {
                    let answered = within(FEED_TIMEOUT, feed.ping()).await;
                    if let Err(err) = answered {
                        tracing::warn!(error = %err, "Redis feed check failed (no answer, or the cluster changed)");
                        return;
                    }
                }
            }
        }
    }

    /// Whether a channel (full name) that Redis says we left is one we still count on, dropped
    /// by Redis itself (rather than the confirmation of our own unsubscribe).
    fn dropped_by_redis(&self, channel: &Value) -> bool {
        let prefix = self.inner.cache.key("");
        as_text(channel.clone())
            .and_then(|channel| channel.strip_prefix(prefix.as_str()).map(str::to_owned))
            .is_some_and(|channel| self.lock_state().dropped_by_redis(&channel))
    }

    fn deliver(&self, channel: Value, payload: Value) {
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
        self.inner.hub.hand_out(channel, tag, body);
    }
}

fn as_text(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

/// `delay` scaled by a random factor in [0.5, 1.5).
fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(0.5 + rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::jittered;
    use std::time::Duration;

    #[test]
    fn jitter_stays_within_half_the_delay() {
        for _ in 0..100 {
            let delay = jittered(Duration::from_secs(2));
            assert!(delay >= Duration::from_secs(1) && delay < Duration::from_secs(3));
        }
    }
}
