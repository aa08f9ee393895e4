//! The broker's supervisor: it owns the feed connection, notices when it is lost (the socket
//! closes, or a PING goes unanswered), connects again with capped, jittered back-off for as long
//! as the server runs, subscribes every channel the hub still needs, and hands every pushed
//! payload to the hub.

use std::time::Duration;

use redis::{AsyncConnectionConfig, PushInfo, PushKind, RedisResult, Value};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::platform::cache::within;

use super::{
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
            *self.lock_feed() = None;
            self.inner.status.send_modify(|status| status.live = false);
            metrics::gauge!(FEED_LIVE_METRIC).set(0.0);
            down_since = Instant::now();
            if !shutdown.is_cancelled() {
                tracing::warn!("Redis feed lost; reconnecting");
            }
        }
    }

    /// Opens the feed connection and subscribes every channel the hub needs.
    async fn connect(&self) -> RedisResult<mpsc::UnboundedReceiver<PushInfo>> {
        let (pushes, received) = mpsc::unbounded_channel();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(FEED_TIMEOUT)
            .set_response_timeout(FEED_TIMEOUT)
            .set_push_sender(pushes);
        let mut feed = within(
            FEED_TIMEOUT,
            self.inner
                .client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await?;
        // Held until the feed is recorded: a subscriber arriving meanwhile waits, then finds it.
        let _serialised = self.inner.changes.lock().await;
        let channels: Vec<String> = self
            .inner
            .hub
            .channels()
            .iter()
            .map(|channel| self.inner.cache.key(channel))
            .collect();
        if !channels.is_empty() {
            within(FEED_TIMEOUT, feed.subscribe(channels)).await?;
        }
        *self.lock_feed() = Some(feed);
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
                push = pushes.recv() => match push {
                    Some(PushInfo { kind: PushKind::Message, data }) => self.deliver(data),
                    Some(PushInfo { kind: PushKind::Disconnection, .. }) | None => return,
                    Some(_) => {}
                },
                _ = ping.tick() => {
                    let answered = within(FEED_TIMEOUT, redis::cmd("PING").query_async::<Value>(&mut feed)).await;
                    if let Err(err) = answered {
                        tracing::warn!(error = %err, "Redis feed does not answer");
                        return;
                    }
                }
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
