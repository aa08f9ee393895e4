//! The feed connection of either kind of deployment. On one server, channels are classic pub/sub
//! (`SUBSCRIBE`, `PUBLISH`): every subscriber of the server sees every publish. On a cluster,
//! classic pub/sub would broadcast every message to every node, so channels are sharded
//! (`SSUBSCRIBE`, `SPUBLISH`): a channel lives on the master that owns its hash slot, and the
//! fan-out traffic spreads over the masters with the channels.

use redis::{
    aio::MultiplexedConnection, cluster_async::ClusterConnection, AsyncConnectionConfig, PushInfo,
    PushKind, RedisResult, Value,
};
use std::collections::HashMap;

use redis::cluster_routing::Slot;
use tokio::sync::mpsc;

use crate::platform::cache::{
    connection::{cluster_builder, resp3_client, RedisTimeouts},
    within, Target,
};

use super::FEED_TIMEOUT;

/// The most channels one (un)subscribe command names: a storm's thousands of channels go in a
/// few commands, each answered (one confirmation per channel) well within [`FEED_TIMEOUT`].
const MAX_BATCH: usize = 1000;

/// Which way a batch changes the subscriptions.
#[derive(Clone, Copy)]
enum Change {
    Join,
    Leave,
}

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
    /// Redis confirms that a channel (full name) is no longer subscribed: the answer to our own
    /// unsubscribe, or a subscription Redis dropped by itself (on a cluster: its slot moved to
    /// another node). The broker tells them apart.
    Left(Value),
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

    /// Subscribes channels (full names) in as few round trips as the deployment allows: see
    /// [`FeedLink::batches`]. Every batch is sent at once and bounded by [`FEED_TIMEOUT`]; each
    /// comes back with its own result, so one failing batch does not hide the others.
    pub(super) async fn join(&self, channels: Vec<String>) -> Vec<(Vec<String>, RedisResult<()>)> {
        self.each_batch(channels, Change::Join).await
    }

    /// Unsubscribes channels (full names), batched like [`FeedLink::join`].
    pub(super) async fn leave(&self, channels: Vec<String>) -> Vec<(Vec<String>, RedisResult<()>)> {
        self.each_batch(channels, Change::Leave).await
    }

    async fn each_batch(
        &self,
        channels: Vec<String>,
        change: Change,
    ) -> Vec<(Vec<String>, RedisResult<()>)> {
        let calls = self.batches(channels).into_iter().map(|batch| {
            let mut link = self.clone();
            async move {
                let sent = within(FEED_TIMEOUT, link.send(change, batch.clone())).await;
                (batch, sent)
            }
        });
        futures_util::future::join_all(calls).await
    }

    async fn send(&mut self, change: Change, batch: Vec<String>) -> RedisResult<()> {
        match (self, change) {
            (Self::Single(connection), Change::Join) => connection.subscribe(batch).await,
            (Self::Single(connection), Change::Leave) => connection.unsubscribe(batch).await,
            (Self::Cluster(connection, _), Change::Join) => connection.ssubscribe(batch).await,
            (Self::Cluster(connection, _), Change::Leave) => connection.sunsubscribe(batch).await,
        }
    }

    /// Splits channels into commands: on one server any channels share a command; on a cluster
    /// one `SSUBSCRIBE`/`SUNSUBSCRIBE` may only name channels of one hash slot (the server
    /// answers `CROSSSLOT` otherwise, and the client library routes the command by that slot),
    /// so channels are grouped by slot. No command names more than [`MAX_BATCH`] channels.
    fn batches(&self, channels: Vec<String>) -> Vec<Vec<String>> {
        let groups: Vec<Vec<String>> = match self {
            Self::Single(_) => vec![channels],
            Self::Cluster(..) => {
                let mut by_slot: HashMap<Slot, Vec<String>> = HashMap::new();
                for channel in channels {
                    by_slot
                        .entry(Slot::for_key(channel.as_bytes()))
                        .or_default()
                        .push(channel);
                }
                by_slot.into_values().collect()
            }
        };
        groups
            .into_iter()
            .flat_map(|group| {
                group
                    .chunks(MAX_BATCH)
                    .map(<[String]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .filter(|batch| !batch.is_empty())
            .collect()
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
        PushKind::Unsubscribe | PushKind::SUnsubscribe => {
            data.into_iter().next().map_or(Pushed::Other, Pushed::Left)
        }
        PushKind::Disconnection => Pushed::Lost,
        _ => Pushed::Other,
    }
}
