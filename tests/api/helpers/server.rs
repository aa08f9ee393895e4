//! Starting test servers: one per test, siblings on the same database and prefix, each on a
//! runtime of its own so that it can be stopped or killed like a process.

use std::{collections::HashMap, sync::Arc, time::Duration};

use simplechat::{
    pkg::{config::Config, server::BoundServer},
    platform::cache::{Cache, Connection, Target},
};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{backends::*, TestApp, TEST_JWT_SECRET};

/// Starts a server with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `customise` has adjusted its settings (keys as in `.env.example`).
pub async fn spawn_app_with(customise: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let backends = backends().await;
    let database = TestDatabase::new(&backends.postgres_url);
    let redis_prefix = format!("test:{}:", Uuid::new_v4().simple());

    let mut settings: HashMap<String, String> = [
        ("APP_ENV", "test"),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("JWT_SECRET", TEST_JWT_SECRET),
        ("BCRYPT_COST", "4"),
        ("DATABASE_POOL_SIZE", "4"),
        // Functional tests log in and register far more often than a person: the limits are
        // off here, and the tests in `rate_limits.rs` turn each one on.
        ("RATE_LIMIT_LOGIN_FAILURES", "0"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "0"),
        ("RATE_LIMIT_REGISTER_PER_HOUR", "0"),
        ("RATE_LIMIT_REFRESH_PER_MIN", "0"),
        ("RATE_LIMIT_WS_TICKET_PER_MIN", "0"),
        ("RATE_LIMIT_REST_PER_MIN", "0"),
        ("RATE_LIMIT_EXPENSIVE_CONCURRENCY", "0"),
        // Every test server is shut down when its test ends; the drain tests set one.
        ("SHUTDOWN_DRAIN", "0s"),
        // The tests stand in for a proxy on loopback when they name a client address
        // (`X-Forwarded-For`); the server itself trusts no proxy by default.
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    settings.insert("DATABASE_URL".into(), database.url.clone());
    settings.insert("REDIS_URL".into(), backends.redis_url.clone());
    settings.insert("REDIS_PREFIX".into(), redis_prefix.clone());
    // A machine id set by hand is used at once; a leased one only after a grace period of
    // several seconds (see platform/cache/lease.rs). Every test has a Redis prefix of its own, so
    // any number is free; the tests of leasing remove it.
    settings.insert("MACHINE_ID".into(), "1".into());
    // Attachments go to a folder of this test's own (siblings share it, as they share a bucket).
    let storage = std::env::temp_dir().join(format!("simplechat-test-{}", Uuid::new_v4().simple()));
    settings.insert(
        "STORAGE_URL".into(),
        format!("file://{}", storage.display()),
    );
    customise(&mut settings);
    // A test that points REDIS_URL at a Redis of its own (one it stops, say) means that one.
    let own_redis = settings["REDIS_URL"] != backends.redis_url;
    if let (Ok(nodes), false) = (std::env::var("TEST_REDIS_CLUSTER_NODES"), own_redis) {
        settings.insert("REDIS_CLUSTER_NODES".into(), nodes);
    }
    start_instance(settings, Arc::new(database)).await
}

/// Starts one server on a thread and runtime of its own, like a separate process: stopping it
/// gracefully or killing it (see [`TestApp::kill`]) affects nothing else.
async fn start_instance(settings: HashMap<String, String>, database: Arc<TestDatabase>) -> TestApp {
    let config = Config::from_map(&settings).expect("test configuration is valid");
    let (started, bound) = oneshot::channel();
    let (stop_server, stopped) = oneshot::channel::<()>();
    let (kill_server, killed) = oneshot::channel::<()>();
    let (finished, server_finished) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let server = match BoundServer::bind(config).await {
                Ok(server) => server,
                Err(err) => {
                    let _ = started.send(Err(err));
                    return;
                }
            };
            let _ = started.send(Ok(server.local_addr()));
            tokio::select! {
                _ = server.run_until(async { let _ = stopped.await; }) => {}
                // Killed: return at once, dropping the server mid-flight.
                Ok(()) = killed => {}
            }
        });
        // Whatever is still running is dropped without being polled again: no cleanup runs.
        runtime.shutdown_background();
        let _ = finished.send(());
    });
    let addr = bound
        .await
        .expect("the server thread reports")
        .expect("the server starts")
        .expect("a TCP address");

    TestApp {
        address: format!("http://{addr}"),
        http: reqwest::Client::new(),
        redis_prefix: settings["REDIS_PREFIX"].clone(),
        database,
        settings,
        stop_server: Some(stop_server),
        kill_server: Some(kill_server),
        server_finished,
    }
}

impl TestApp {
    /// A second server instance on the same database and Redis prefix, as behind a load balancer.
    pub async fn spawn_sibling(&self) -> TestApp {
        self.spawn_sibling_with(|_| {}).await
    }

    /// A second instance on the same database and Redis prefix, with some settings changed.
    pub async fn spawn_sibling_with(
        &self,
        customise: impl FnOnce(&mut HashMap<String, String>),
    ) -> TestApp {
        let mut settings = self.settings.clone();
        if let Some(machine_id) = settings.get_mut("MACHINE_ID") {
            // Each instance needs its own; the next number is free within this test's prefix.
            let next = machine_id.parse::<u16>().expect("a number").wrapping_add(1);
            *machine_id = next.to_string();
        }
        customise(&mut settings);
        start_instance(settings, self.database.clone()).await
    }

    /// The settings this instance was started with (keys as in `.env.example`).
    pub fn settings(&self) -> HashMap<String, String> {
        self.settings.clone()
    }

    /// Ends this instance at once, without any cleanup (as `kill -9` does).
    pub fn kill(&mut self) {
        // `stop_server` stays: dropping it would start a graceful shutdown first.
        if let Some(kill) = self.kill_server.take() {
            let _ = kill.send(());
        }
    }

    /// Starts this instance's graceful shutdown (as SIGTERM does).
    pub fn shut_down(&mut self) {
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
    }

    /// The instance's `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        let response = self
            .http
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("/metrics answers");
        response.text().await.expect("a text body")
    }

    /// Where this instance's Redis is: one server, or a cluster's seed nodes.
    pub fn redis_target(&self) -> Target {
        redis_target(&self.settings)
    }

    /// A Redis connection for looking at what the server stored (on a cluster, commands go to
    /// the node owning their key).
    pub async fn redis(&self) -> Connection {
        Cache::new(&self.redis_target(), "")
            .expect("a Redis address")
            .connection()
            .await
            .expect("Redis answers")
    }
}
/// How long a dropped test server may take to shut down before its data is removed anyway.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shut_down();
        // Let it finish its own cleanup first, so none of its writes land after ours.
        let _ = self.server_finished.recv_timeout(SHUTDOWN_WAIT);
        if Arc::strong_count(&self.database) > 1 {
            // A sibling still runs on the same database and prefix; it cleans up.
            return;
        }
        // The attachments folder the harness made (not one a test chose).
        if let Some(dir) = self
            .settings
            .get("STORAGE_URL")
            .and_then(|url| url.strip_prefix("file://"))
            .filter(|dir| dir.contains("simplechat-test-"))
        {
            let _ = std::fs::remove_dir_all(dir);
        }
        let (target, prefix) = (self.redis_target(), self.redis_prefix.clone());
        // Drop runs inside the test's runtime, where blocking is not allowed: clean up on a thread.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(delete_keys(&target, &prefix));
        })
        .join()
        .ok();
    }
}
