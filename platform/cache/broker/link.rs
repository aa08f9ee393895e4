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
    Cluster(ClusterConnection),
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
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
        }
    }

    pub(super) async fn subscribe(&mut self, channels: Vec<String>) -> RedisResult<()> {
        match self {
            Self::Single(connection) => connection.subscribe(channels).await,
            Self::Cluster(connection) => {
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
            Self::Cluster(connection) => connection.sunsubscribe(channel).await,
        }
    }

    /// Checks that every node of the feed answers.
    pub(super) async fn ping(&mut self) -> RedisResult<()> {
        let ping = redis::cmd("PING");
        match self {
            Self::Single(connection) => ping.query_async::<Value>(connection).await.map(drop),
            // Routed to every node; fails if one of them does not answer.
            Self::Cluster(connection) => ping.query_async::<Value>(connection).await.map(drop),
        }
    }
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
