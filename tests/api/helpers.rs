//! The test harness: every test gets its own database and Redis key prefix and a real server on a
//! random port, and talks to it over HTTP and WebSocket as a client would.
//!
//! Postgres and Redis come from, in order: `TEST_DATABASE_URL` / `TEST_REDIS_URL`; containers
//! started by testcontainers when a Docker engine answers; the local services on their standard
//! ports. `TEST_REDIS_CLUSTER_NODES` (seed nodes, `host:port,…`) runs every server against a Redis
//! Cluster instead (`docker/redis-cluster.sh start` starts one; `make test-cluster` uses it).

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use simplechat::{
    pkg::{config::Config, server::BoundServer},
    platform::cache::{Cache, Connection, Target},
};
use tokio::sync::{oneshot, OnceCell};
use tokio_tungstenite::{tungstenite, MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// The JWT secret every test server signs with, so tests can forge tokens of their own.
pub const TEST_JWT_SECRET: &str = "integration-test-secret-0123456789abcdef";
/// A password that satisfies the rules.
pub const PASSWORD: &str = "correct horse battery";

/// Where the test Postgres and Redis are.
struct Backends {
    /// A URL of the server's maintenance database; test databases are created beside it.
    postgres_url: String,
    redis_url: String,
}

static BACKENDS: OnceCell<Backends> = OnceCell::const_new();

async fn backends() -> &'static Backends {
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

/// One running server with its own database and Redis prefix; both are removed on drop.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub http: reqwest::Client,
    pub redis_prefix: String,
    /// Shared by sibling instances; the database is removed when the last one is dropped.
    database: Arc<TestDatabase>,
    settings: HashMap<String, String>,
    stop_server: Option<oneshot::Sender<()>>,
    kill_server: Option<oneshot::Sender<()>>,
    /// Receives once the server thread has ended.
    server_finished: std::sync::mpsc::Receiver<()>,
}

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

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the contract's error shape and returns the message.
    pub fn error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        self.body["message"]
            .as_str()
            .expect("an error message")
            .to_owned()
    }
}

/// A registered, logged-in user.
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub access_token: String,
    pub refresh_token: String,
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

    /// Sends a request with an optional JSON body and Bearer token.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        Self::read(response).await
    }

    /// Reads a response; an empty body reads as `null`.
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a readable body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::DELETE, path, token, None).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    /// POSTs as if through a proxy on loopback (trusted by default) that received the request
    /// from `forwarded_for` (an `X-Forwarded-For` value).
    pub async fn post_from(&self, forwarded_for: &str, path: &str, body: Value) -> Reply {
        let response = self
            .http
            .post(format!("{}{path}", self.address))
            .header("x-forwarded-for", forwarded_for)
            .json(&body)
            .send()
            .await
            .expect("the server answers");
        Self::read(response).await
    }

    /// Logs in through a proxy, as a client at `forwarded_for` (see [`TestApp::post_from`]).
    pub async fn login_from(&self, forwarded_for: &str, username: &str, password: &str) -> Reply {
        self.post_from(
            forwarded_for,
            "/api/v1/auth/login",
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Registers a fresh username through a proxy, as a client at `forwarded_for`.
    pub async fn register_from(&self, forwarded_for: &str) -> Reply {
        self.post_from(
            forwarded_for,
            "/api/v1/auth/register",
            json!({ "username": unique_username(), "password": PASSWORD }),
        )
        .await
    }

    pub async fn register(&self, username: &str) -> Reply {
        self.post(
            "/api/v1/auth/register",
            None,
            json!({ "username": username, "password": PASSWORD }),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "username": username, "password": password }),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// Registers a user with a fresh name and logs them in.
    pub async fn new_user(&self) -> TestUser {
        let username = unique_username();
        let registered = self.register(&username).await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.body
        );
        let login = self.login(&username, PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        TestUser {
            id: registered.body["id"].as_str().expect("an id").to_owned(),
            username,
            access_token: login.body["access_token"].as_str().expect("a token").into(),
            refresh_token: login.body["refresh_token"]
                .as_str()
                .expect("a token")
                .into(),
        }
    }

    /// `owner` adds `other` to their contacts.
    pub async fn add_contact(&self, owner: &TestUser, other: &TestUser) {
        let reply = self
            .post(
                "/api/v1/contacts",
                Some(&owner.access_token),
                json!({ "username": other.username }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    /// `creator` creates a group with `members` (who must be their contacts); returns its id.
    pub async fn create_group(
        &self,
        creator: &TestUser,
        members: &[&TestUser],
        public: bool,
    ) -> String {
        let member_ids: Vec<&str> = members.iter().map(|user| user.id.as_str()).collect();
        let reply = self
            .post(
                "/api/v1/groups",
                Some(&creator.access_token),
                json!({ "name": "test group", "member_ids": member_ids, "public": public }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["id"].as_str().expect("a group id").to_owned()
    }

    /// Asks for a WebSocket ticket.
    pub async fn ws_ticket(&self, access_token: &str) -> String {
        let reply = self
            .post("/api/v1/auth/ws-ticket", Some(access_token), json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["ticket"].as_str().expect("a ticket").to_owned()
    }

    /// Opens `/ws?ticket=`; an HTTP refusal before the upgrade comes back as `Err(status)`.
    pub async fn connect_ws(&self, ticket: &str) -> Result<WsClient, u16> {
        let url = format!(
            "{}/ws?ticket={ticket}",
            self.address.replacen("http", "ws", 1)
        );
        match tokio_tungstenite::connect_async(url).await {
            Ok((stream, _)) => Ok(WsClient {
                stream,
                pending: VecDeque::new(),
            }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(err) => panic!("WebSocket connect failed: {err}"),
        }
    }

    /// Opens a WebSocket for `user` and reads its `ready` frame.
    pub async fn connect(&self, user: &TestUser) -> WsClient {
        let ticket = self.ws_ticket(&user.access_token).await;
        let mut socket = self
            .connect_ws(&ticket)
            .await
            .expect("the ticket is accepted");
        let ready = socket.next_json().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        socket
    }

    /// Like [`TestApp::connect`], with a tiny receive buffer: a client that reads slowly.
    pub async fn connect_slow_reader(&self, user: &TestUser) -> WsClient {
        let ticket = self.ws_ticket(&user.access_token).await;
        let addr: std::net::SocketAddr =
            self.address.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let url = format!("ws://{addr}/ws?ticket={ticket}");
        let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
            .await
            .expect("the upgrade succeeds");
        let mut socket = WsClient {
            stream,
            pending: VecDeque::new(),
        };
        assert_eq!(socket.next_json().await["type"], "ready");
        socket
    }

    /// Sends a message over REST and returns the stored message.
    pub async fn send_private(&self, from: &TestUser, to: &TestUser, content: &str) -> Value {
        let reply = self
            .post(
                &format!("/api/v1/messages/private/{}", to.id),
                Some(&from.access_token),
                json!({ "content": content, "client_msg_id": Uuid::new_v4().to_string() }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// Sends a group message over REST and returns the stored message.
    pub async fn send_group(&self, from: &TestUser, group_id: &str, content: &str) -> Value {
        let reply = self
            .post(
                &format!("/api/v1/groups/{group_id}/messages"),
                Some(&from.access_token),
                json!({ "content": content, "client_msg_id": Uuid::new_v4().to_string() }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
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

/// The Redis an instance with these settings uses.
fn redis_target(settings: &HashMap<String, String>) -> Target {
    match settings.get("REDIS_CLUSTER_NODES") {
        Some(nodes) => Target::Cluster(nodes.split(',').map(str::to_owned).collect()),
        None => Target::Single(settings["REDIS_URL"].clone()),
    }
}

/// Deletes every key under `prefix` (on a cluster, KEYS asks every master and DEL is split by
/// slot).
async fn delete_keys(target: &Target, prefix: &str) {
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

/// A database of its own for one test; the server creates and migrates it, drop removes it.
struct TestDatabase {
    url: String,
    name: String,
    maintenance_url: String,
}

impl TestDatabase {
    fn new(maintenance_url: &str) -> Self {
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

/// A username no other test uses.
pub fn unique_username() -> String {
    format!("u_{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// One WebSocket connection, reading and writing JSON frames.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    /// Frames read while waiting for a reply that were not it (pushes): later reads get them
    /// first, so a push that races a reply is never lost to a test.
    pending: VecDeque<Value>,
}

/// How long a test waits for a frame that must come.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a waiting client pings (well inside the shortest heartbeat the tests use).
const KEEPALIVE: Duration = Duration::from_millis(50);

impl WsClient {
    pub async fn send_json(&mut self, frame: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tungstenite::Message::Text(frame.to_string()))
            .await
            .expect("the frame is sent");
    }

    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.stream
            .send(tungstenite::Message::Text(text.to_owned()))
            .await
            .expect("the frame is sent");
    }

    /// The next text frame as JSON; fails the test if none comes in time. While it waits it
    /// sends WebSocket pings, as a live client does, so short test heartbeats never close it.
    pub async fn next_json(&mut self) -> Value {
        use futures_util::{SinkExt, StreamExt};
        if let Some(frame) = self.pending.pop_front() {
            return frame;
        }
        let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a frame arrives in time"
            );
            let Ok(message) = tokio::time::timeout(KEEPALIVE, self.stream.next()).await else {
                let _ = self
                    .stream
                    .send(tungstenite::Message::Ping(Vec::new()))
                    .await;
                continue;
            };
            let message = message
                .expect("the connection is open")
                .expect("a valid frame");
            if let tungstenite::Message::Text(text) = message {
                return serde_json::from_str(&text).expect("frames are JSON");
            }
        }
    }

    /// The next frame of the given type, skipping others (e.g. pushes that race a reply).
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Sends a frame and returns the reply carrying the same `id`; pushes that come before it are
    /// kept for the next reads.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        let id = Uuid::new_v4().to_string();
        frame["id"] = Value::String(id.clone());
        self.send_json(frame).await;
        let mut skipped = Vec::new();
        loop {
            let frame = self.next_json().await;
            if frame["id"] == id.as_str() {
                // Pushes that came first are read next, in the order they came.
                for frame in skipped.into_iter().rev() {
                    self.pending.push_front(frame);
                }
                return frame;
            }
            skipped.push(frame);
        }
    }

    /// Sends raw bytes as a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        use futures_util::SinkExt;
        self.stream
            .send(tungstenite::Message::Binary(bytes))
            .await
            .expect("the frame is sent");
    }

    /// Writes bytes straight to the socket, bypassing the WebSocket library: for frames it would
    /// never send (invalid UTF-8, a header announcing more than the server accepts).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let socket = self.stream.get_mut();
        socket.write_all(bytes).await.expect("the bytes are sent");
        socket.flush().await.expect("the bytes are sent");
    }

    /// Closes the connection from the client side, as a client going away does.
    pub async fn close(&mut self) {
        let _ = self.stream.close(None).await;
        // Read until the server's answer, so the server has seen the close when this returns.
        let _ = self.closed().await;
    }

    /// Waits for the server to close the connection; returns the close code, if any.
    pub async fn closed(&mut self) -> Option<u16> {
        use futures_util::StreamExt;
        loop {
            match tokio::time::timeout(FRAME_TIMEOUT, self.stream.next())
                .await
                .expect("the connection closes in time")
            {
                None | Some(Err(_)) => return None,
                Some(Ok(tungstenite::Message::Close(frame))) => {
                    return frame.map(|frame| u16::from(frame.code))
                }
                Some(Ok(_)) => continue,
            }
        }
    }
}
