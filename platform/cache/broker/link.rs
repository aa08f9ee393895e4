//! The feed connection of either kind of deployment. On one server, channels are classic pub/sub
//! (`SUBSCRIBE`, `PUBLISH`): every subscriber of the server sees every publish. On a cluster,
//! classic pub/sub would broadcast every message to every node, so channels are sharded
//! (`SSUBSCRIBE`, `SPUBLISH`): a channel lives on the master that owns its hash slot, and the
//! fan-out traffic spreads over the masters with the channels.

use redis::{
    aio::MultiplexedConnection, cluster_async::ClusterConnection, AsyncConnectionConfig, PushInfo,
    PushKind, RedisResult, Value,
};
use tokio::sync::mpsc;

use crate::platform::cache::{
    connection::{cluster_builder, resp3_client, RedisTimeouts},
    Target,
};

use super::FEED_TIMEOUT;

/// The subscribing connection: pushes arrive on the channel given to [`FeedLink::open`].
#[derive(Clone)]
pub(super) enum FeedLink {
    Single(MultiplexedConnection),
    /// With the slot map seen when the feed was opened: which master serves which slots.
    Cluster(ClusterConnection, String),
}

/// What a push means to the feed.
pub(super) enum Pushed {
    /// A payload published on a channel (full name).
    Message { channel: Value, payload: Value },
    /// Redis dropped a subscription of ours by itself (on a cluster: its slot moved to another
    /// node), naming the channel.
    Dropped(Value),
    /// A connection to a node was lost: payloads may have been missed.
    Lost,
    /// Confirmations and anything else the feed need not act on.
    Other,
}

impl FeedLink {
    /// Connects to `target`; its pushes go to `pushes`.
    pub(super) async fn open(
        target: &Target,
        pushes: mpsc::UnboundedSender<PushInfo>,
    ) -> RedisResult<Self> {
        match target {
            Target::Single(url) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(FEED_TIMEOUT))
                    .set_response_timeout(Some(FEED_TIMEOUT))
                    .set_push_sender(pushes);
                let connection = resp3_client(url)?
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(Self::Single(connection))
            }
            Target::Cluster(nodes) => {
                let timeouts = RedisTimeouts {
                    connect: FEED_TIMEOUT,
                    response: FEED_TIMEOUT,
                };
                let client = cluster_builder(nodes, timeouts)
                    .push_sender(pushes)
                    .build()?;
                let mut connection = client.get_async_connection().await?;
                let slots = slot_map(&mut connection).await?;
                Ok(Self::Cluster(connection, slots))
            }
        }
    }

    pub(super) async fn subscribe(&mut self, channels: Vec<String>) -> RedisResult<()> {
        match self {
            Self::Single(connection) => connection.subscribe(channels).await,
            Self::Cluster(connection, _) => {
                // One SSUBSCRIBE may only name channels of one slot: one call per channel, all
                // at once.
                let calls = channels.into_iter().map(|channel| {
                    let mut connection = connection.clone();
                    async move { connection.ssubscribe(channel).await }
                });
                futures_util::future::try_join_all(calls).await.map(drop)
            }
        }
    }

    pub(super) async fn unsubscribe(&mut self, channel: String) -> RedisResult<()> {
        match self {
            Self::Single(connection) => connection.unsubscribe(channel).await,
            Self::Cluster(connection, _) => connection.sunsubscribe(channel).await,
        }
    }

    /// Checks that the feed's nodes answer and, on a cluster, that the topology is the one the
    /// feed subscribed on. A changed slot map (a replica promoted, slots moved) fails the check:
    /// the client library moves subscriptions to their new masters by itself, but a payload
    /// published there before it did is missed, so the feed starts over and its clients resync.
    pub(super) async fn ping(&mut self) -> RedisResult<()> {
        let ping = redis::cmd("PING");
        match self {
            Self::Single(connection) => ping.query_async::<Value>(connection).await.map(drop),
            Self::Cluster(connection, subscribed_on) => {
                ping.query_async::<Value>(connection).await?;
                if slot_map(connection).await? == *subscribed_on {
                    Ok(())
                } else {
                    Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "the cluster's topology changed",
                    )))
                }
            }
        }
    }
}

/// Which master serves which slots, as one comparable text: `start-end@host:port` per range.
async fn slot_map(connection: &mut ClusterConnection) -> RedisResult<String> {
    let ranges: Vec<Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(connection)
        .await?;
    let mut map: Vec<String> = ranges.iter().filter_map(slot_range).collect();
    map.sort();
    Ok(map.join(" "))
}

/// One entry of `CLUSTER SLOTS`: `[start, end, [host, port, id, …], replicas…]`.
fn slot_range(entry: &Value) -> Option<String> {
    let Value::Array(fields) = entry else {
        return None;
    };
    let (Value::Int(start), Value::Int(end), Value::Array(master)) =
        (fields.first()?, fields.get(1)?, fields.get(2)?)
    else {
        return None;
    };
    let host = match master.first()? {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(text) => text.clone(),
        _ => return None,
    };
    let Value::Int(port) = master.get(1)? else {
        return None;
    };
    Some(format!("{start:05}-{end:05}@{host}:{port}"))
}

/// The publish command of the deployment's kind of channel.
pub(super) fn publish_command(cluster: bool) -> &'static str {
    if cluster {
        "SPUBLISH"
    } else {
        "PUBLISH"
    }
}

/// Sorts a push.
pub(super) fn classify(push: PushInfo) -> Pushed {
    let PushInfo { kind, data } = push;
    match kind {
        PushKind::Message | PushKind::SMessage => {
            let [channel, payload] =
                <[Value; 2]>::try_from(data).unwrap_or([Value::Nil, Value::Nil]);
            Pushed::Message { channel, payload }
        }
        PushKind::SUnsubscribe => data
            .into_iter()
            .next()
            .map_or(Pushed::Other, Pushed::Dropped),
        PushKind::Disconnection => Pushed::Lost,
        _ => Pushed::Other,
    }
}
