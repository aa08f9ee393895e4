//! The two kinds of Redis deployment behind one connection type: a single server (`REDIS_URL`)
//! or a Redis Cluster (`REDIS_CLUSTER_NODES`). Callers run commands, scripts and pipelines on a
//! [`Connection`] without knowing which kind it is; the few things that differ (how pub/sub is
//! spelled, whether one pipeline may span keys of several slots) are answered here.

use std::time::Duration;

use redis::{
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::{ClusterClient, ClusterClientBuilder},
    cluster_async::ClusterConnection,
    Client, Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisFuture, RedisResult, Value,
};

/// Where Redis is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One server, by URL.
    Single(String),
    /// The seed nodes of a cluster, `host:port` each; the rest of the cluster is discovered.
    Cluster(Vec<String>),
}

/// A client for either kind of deployment; opens [`Connection`]s.
#[derive(Clone)]
pub(crate) enum Backend {
    Single(Client),
    Cluster(Vec<String>),
}

/// A command connection to either kind of deployment. Both kinds multiplex many callers over
/// their sockets and reconnect by themselves; the cluster one also follows the topology (slot
/// moves, a replica promoted after its master failed).
#[derive(Clone)]
pub enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Backend {
    /// Checks the address(es); connects nothing yet.
    pub(crate) fn new(target: &Target) -> RedisResult<Self> {
        Ok(match target {
            Target::Single(url) => Self::Single(Client::open(url.as_str())?),
            Target::Cluster(nodes) => {
                // Fails here on a malformed node rather than at the first command.
                cluster_builder(nodes, RedisTimeouts::default()).build()?;
                Self::Cluster(nodes.clone())
            }
        })
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Opens the command connection, bounding connecting and each round trip by `timeout`.
    pub(crate) async fn connect(&self, timeout: Duration) -> RedisResult<Connection> {
        match self {
            Self::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1);
                let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
                Ok(Connection::Single(manager))
            }
            Self::Cluster(nodes) => {
                let timeouts = RedisTimeouts {
                    connect: timeout,
                    response: timeout,
                };
                let client = cluster_builder(nodes, timeouts).build()?;
                Ok(Connection::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

/// How long connecting and each answer may take.
#[derive(Clone, Copy)]
pub(crate) struct RedisTimeouts {
    pub connect: Duration,
    pub response: Duration,
}

impl Default for RedisTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(1),
            response: Duration::from_secs(1),
        }
    }
}

/// A cluster client builder for `nodes` (`host:port` each), speaking RESP3 so that pushes
/// (sharded pub/sub messages, disconnections) share the connection with commands.
pub(crate) fn cluster_builder(nodes: &[String], timeouts: RedisTimeouts) -> ClusterClientBuilder {
    let urls = nodes.iter().map(|node| format!("redis://{node}"));
    ClusterClient::builder(urls)
        .use_protocol(ProtocolVersion::RESP3)
        .connection_timeout(timeouts.connect)
        .response_timeout(timeouts.response)
        // A failover takes a few seconds; the caller's own time limit decides how long to wait,
        // and the supervisor of the feed reconnects by itself.
        .retries(2)
}

/// A single-server client speaking RESP3 (pushes share the connection with commands).
pub(crate) fn resp3_client(url: &str) -> RedisResult<Client> {
    let info = url.into_connection_info()?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    Client::open(info.set_redis_settings(settings))
}

impl Connection {
    /// Runs groups of commands: the commands of a group one after the other, in their order,
    /// and the groups independently of each other. All keys of a group must lie in one cluster
    /// slot (one channel's publishes, say). One pipelined round trip on a single server; on a
    /// cluster, every group at once, each as one pipeline on the node that owns its slot (a
    /// cluster pipeline must stay in one slot). Not a command each: the cluster client keeps no
    /// order between requests in flight together, so a channel's payloads could overtake each
    /// other.
    pub async fn run_grouped(&mut self, groups: Vec<Vec<Cmd>>) -> RedisResult<()> {
        match self {
            Self::Single(manager) => {
                let mut pipe = redis::pipe();
                for command in groups.into_iter().flatten() {
                    pipe.add_command(command);
                }
                pipe.query_async::<Vec<Value>>(manager).await.map(drop)
            }
            Self::Cluster(cluster) => {
                let calls = groups.into_iter().map(|commands| {
                    let mut cluster = cluster.clone();
                    let mut pipe = redis::pipe();
                    for command in commands {
                        pipe.add_command(command);
                    }
                    async move { pipe.query_async::<Vec<Value>>(&mut cluster).await }
                });
                futures_util::future::try_join_all(calls).await.map(drop)
            }
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(manager) => manager.req_packed_command(cmd),
            Self::Cluster(cluster) => cluster.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(manager) => manager.req_packed_commands(pipeline, offset, count),
            Self::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(manager) => manager.get_db(),
            Self::Cluster(cluster) => cluster.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Backend, Target};

    #[test]
    fn a_cluster_target_checks_its_nodes_without_connecting() {
        let nodes = vec!["127.0.0.1:7000".to_owned(), "127.0.0.1:7001".to_owned()];
        let backend = Backend::new(&Target::Cluster(nodes)).expect("valid seed nodes");
        assert!(backend.is_cluster());
        let single = Backend::new(&Target::Single("redis://127.0.0.1:6379".into())).unwrap();
        assert!(!single.is_cluster());
    }
}
