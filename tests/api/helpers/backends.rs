//! Where the test Postgres and Redis are, and a database of its own for each test.

use std::collections::HashMap;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use simplechat::platform::cache::{Cache, Target};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Where the test Postgres and Redis are.
pub(super) struct Backends {
    /// A URL of the server's maintenance database; test databases are created beside it.
    pub(super) postgres_url: String,
    pub(super) redis_url: String,
}

static BACKENDS: OnceCell<Backends> = OnceCell::const_new();

pub(super) async fn backends() -> &'static Backends {
    BACKENDS
        .get_or_init(|| async {
            let local_redis = || {
                std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
            };
            if let Ok(postgres_url) = std::env::var("TEST_DATABASE_URL") {
                return Backends {
                    postgres_url,
                    redis_url: local_redis(),
                };
            }
            if docker_engine_answers() {
                return containers::start().await;
            }
            Backends {
                postgres_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
                redis_url: local_redis(),
            }
        })
        .await
}

fn docker_engine_answers() -> bool {
    if std::env::var_os("DOCKER_HOST").is_some() {
        return true;
    }
    std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok()
}

mod containers {
    use testcontainers::{runners::AsyncRunner, ContainerAsync};
    use testcontainers_modules::{postgres::Postgres, redis::Redis};
    use tokio::sync::OnceCell;

    /// Kept for the whole test run: dropping a container stops it.
    static RUNNING: OnceCell<(ContainerAsync<Postgres>, ContainerAsync<Redis>)> =
        OnceCell::const_new();

    pub(super) async fn start() -> super::Backends {
        let (postgres, redis) = RUNNING
            .get_or_init(|| async {
                let postgres = Postgres::default()
                    .start()
                    .await
                    .expect("starting a Postgres container");
                let redis = Redis::default()
                    .start()
                    .await
                    .expect("starting a Redis container");
                (postgres, redis)
            })
            .await;
        let pg_port = postgres
            .get_host_port_ipv4(5432)
            .await
            .expect("Postgres port");
        let redis_port = redis.get_host_port_ipv4(6379).await.expect("Redis port");
        super::Backends {
            postgres_url: format!("postgres://postgres:postgres@127.0.0.1:{pg_port}/postgres"),
            redis_url: format!("redis://127.0.0.1:{redis_port}"),
        }
    }
}

/// A database of its own for one test; the server creates and migrates it, drop removes it.
pub(super) struct TestDatabase {
    pub(super) url: String,
    name: String,
    maintenance_url: String,
}

impl TestDatabase {
    pub(super) fn new(maintenance_url: &str) -> Self {
        let name = format!("test_{}", Uuid::new_v4().simple());
        let mut url = url::Url::parse(maintenance_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Self {
            url: url.to_string(),
            name,
            maintenance_url: maintenance_url.to_owned(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.maintenance_url.clone(), self.name.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&url).await {
                    // FORCE ends the stopped server's pooled connections.
                    let _ = diesel::sql_query(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    ))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join()
        .ok();
    }
}

/// The Redis an instance with these settings uses.
pub(super) fn redis_target(settings: &HashMap<String, String>) -> Target {
    match settings.get("REDIS_CLUSTER_NODES") {
        Some(nodes) => Target::Cluster(nodes.split(',').map(str::to_owned).collect()),
        None => Target::Single(settings["REDIS_URL"].clone()),
    }
}

/// Deletes every key under `prefix` (on a cluster, KEYS asks every master and DEL is split by
/// slot).
pub(super) async fn delete_keys(target: &Target, prefix: &str) {
    let Ok(cache) = Cache::new(target, "") else {
        return;
    };
    let Ok(mut conn) = cache.connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}
