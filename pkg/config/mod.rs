//! Typed configuration, read once at start-up and passed down inside `AppState`.
//!
//! Values come from the process environment, then from an optional `.env` file (the real environment
//! wins). Every key, its default and its meaning is listed in `.env.example` and the README.
//! A bad value stops start-up with one line that names the key.

mod attachments;
mod push;
pub mod secrets;
mod values;

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use ipnet::IpNet;

pub use self::{attachments::AttachmentsConfig, push::PushConfig};

use self::values::{
    at_least_two, bcrypt_cost, cluster_nodes, duration, duration_or_zero, invalid, origins, parse,
    positive, trusted_proxies,
};

/// The fixed secret used when `APP_ENV=dev` and no `JWT_SECRET` is given. Never valid elsewhere.
const DEV_JWT_SECRET: &str = "simplechat-dev-secret-do-not-use-in-production";
/// HS256 keys shorter than this are guessable; refuse them outside dev.
const MIN_JWT_SECRET_LEN: usize = 32;

/// Where the process runs; decides how forgiving the configuration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// A developer's machine: a fixed JWT secret is allowed (with a warning).
    Dev,
    /// Automated tests.
    Test,
    /// Anything real.
    Prod,
}

/// Which service writes the chatbot's replies.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatbotProvider {
    /// No provider: askers get `chatbot_unavailable`.
    None,
    /// EdenAI's text generation API.
    EdenAi {
        base_url: String,
        api_key: String,
        /// EdenAI's own provider list, e.g. `openai`.
        providers: String,
    },
    /// Any OpenAI-compatible chat-completions endpoint.
    OpenAi {
        base_url: String,
        api_key: Option<String>,
        model: String,
    },
}

/// Chatbot settings.
#[derive(Debug, Clone)]
pub struct ChatbotConfig {
    pub provider: ChatbotProvider,
    /// Longest wait for one provider answer.
    pub timeout: Duration,
    pub max_tokens: u32,
    pub temperature: f32,
    /// Provider calls in flight at once, per instance; more are refused, not queued.
    pub max_concurrency: usize,
    /// Questions one user may ask per minute.
    pub rate_per_minute: u32,
    /// Recent messages of the conversation sent along as context.
    pub context_messages: i64,
}

/// Limits on the auth routes, counted in Redis across every instance. `0` turns a limit off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Failed logins per (username, client address) in 15 minutes.
    pub login_failures: u32,
    /// Login attempts per client address per minute.
    pub login_per_min: u32,
    /// Registrations per client address per hour.
    pub register_per_hour: u32,
    /// Token refreshes per user per minute.
    pub refresh_per_min: u32,
    /// WebSocket tickets per user per minute.
    pub ws_ticket_per_min: u32,
    /// Data exports per user per minute.
    pub export_per_min: u32,
    /// REST cost units per user per minute (a plain request costs 1, an expensive one more; see
    /// `pkg/middleware/fair_share.rs`); 0 turns the bucket off.
    pub rest_per_min: u32,
    /// The most cost units a user may spend at once (the bucket's size).
    pub rest_burst: u32,
    /// Expensive requests (search, history pages, export) one user may have running at once per
    /// instance; 0 turns the cap off.
    pub expensive_concurrency: u32,
}

/// All settings of one server process.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    pub listen_addr: SocketAddr,
    /// Connections the kernel holds for the server to accept (`listen`'s backlog; the kernel
    /// caps it at `net.core.somaxconn`).
    pub listen_backlog: u32,
    pub database_url: String,
    /// Connections shared by everything but the message writers.
    pub database_pool_size: usize,
    /// Postgres `statement_timeout` of every pooled connection; a statement running longer is
    /// cancelled and its request answered 503. Zero: no limit.
    pub database_statement_timeout: Duration,
    /// Writer tasks storing messages in batches (see `app/services/message_writer/`), each with
    /// a Postgres connection of its own.
    pub message_writers: usize,
    pub redis_url: String,
    /// Seed nodes (`host:port`) of a Redis Cluster; when given, they are used instead of
    /// `redis_url`.
    pub redis_cluster_nodes: Vec<String>,
    /// Prepended to every Redis key and channel, so several deployments (or tests) share one Redis.
    pub redis_prefix: String,
    pub jwt_secret: String,
    /// Earlier signing secrets, accepted when checking tokens but never used to sign
    /// (`JWT_PREVIOUS_SECRETS`, comma-separated): a key is rotated without logging anyone out.
    pub jwt_previous_secrets: Vec<String>,
    /// True when `jwt_secret` is the built-in dev secret; start-up logs a warning then.
    pub jwt_secret_is_dev_default: bool,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long after a rotation the refresh token just used may be presented again and get the
    /// same new pair (two tabs, a retried request) rather than revoke the session; 0 disables.
    pub refresh_reuse_grace: Duration,
    pub ws_ticket_ttl: Duration,
    pub heartbeat_interval: Duration,
    pub bcrypt_cost: u32,
    /// Passwords hashed or checked at once (each takes a CPU core while it runs).
    pub bcrypt_concurrency: usize,
    /// Logins and registrations that may wait for a hashing slot; more are refused at once.
    pub bcrypt_queue: usize,
    pub rate_limits: RateLimitConfig,
    /// Peers whose `X-Forwarded-For` is believed (see `pkg/middleware/client_addr.rs`); none
    /// unless configured.
    pub trusted_proxies: Vec<IpNet>,
    /// Most members a group may have.
    pub group_max_members: i32,
    /// Frames waiting to be written to one WebSocket; a client that lets it fill is disconnected.
    pub ws_outbound_queue: usize,
    /// WebSocket handshakes (from the upgrade request until the socket is `ready`) in progress at
    /// once; more wait for a slot up to `ws_handshake_wait`, then are refused with 503 and a
    /// jittered `Retry-After` before the upgrade.
    pub ws_handshake_limit: usize,
    /// How long an upgrade beyond `ws_handshake_limit` waits for a slot before it is refused;
    /// zero refuses it at once.
    pub ws_handshake_wait: Duration,
    /// `send` frames one connection may make per second (bursts of twice that are allowed).
    pub ws_send_rate: u32,
    /// Sonyflake machine id; when absent one is leased from Redis.
    pub machine_id: Option<u16>,
    /// Browser origins (`scheme://host[:port]`) on other sites that may call the API and open
    /// WebSockets; empty means the server's own origin only.
    pub cors_allowed_origins: Vec<String>,
    pub chatbot: ChatbotConfig,
    /// After SIGTERM: how long open WebSockets keep being served (while `/readyz` answers 503 and
    /// new upgrades are refused) before they are closed with 1001.
    pub shutdown_drain: Duration,
    pub push: PushConfig,
    pub attachments: AttachmentsConfig,
}

/// A configuration key whose value is missing or cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: &'static str,
    pub reason: String,
}

impl Config {
    /// Reads the process environment, after loading `.env` (which never overrides real variables).
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is worth saying so.
        if let Err(err) = dotenvy::dotenv() {
            if !err.not_found() {
                return Err(ConfigError {
                    key: ".env",
                    reason: err.to_string(),
                });
            }
        }
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds the configuration from explicit values, as tests do.
    pub fn from_map(values: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(|key| values.get(key).cloned())
    }

    /// Builds the configuration from any key → value source. Secret settings may come from
    /// files (`<NAME>_FILE`, see `secrets.rs`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let from_files = secrets::from_files(&lookup)?;
        let lookup = |key: &str| from_files.get(key).cloned().or_else(|| lookup(key));
        let get = |key: &'static str| lookup(key).filter(|value| !value.trim().is_empty());
        let or = |key: &'static str, default: &str| get(key).unwrap_or_else(|| default.to_owned());

        let app_env = app_env(&or("APP_ENV", "dev"))?;
        let (jwt_secret, jwt_secret_is_dev_default) = jwt_secret(app_env, get("JWT_SECRET"))?;

        // One hashing slot per core: bcrypt keeps a core busy for as long as it runs.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let bcrypt_concurrency = positive(
            "BCRYPT_CONCURRENCY",
            &or("BCRYPT_CONCURRENCY", &cores.to_string()),
        )?;

        Ok(Self {
            app_env,
            listen_addr: parse("LISTEN_ADDR", &or("LISTEN_ADDR", "127.0.0.1:8080"))?,
            listen_backlog: positive("LISTEN_BACKLOG", &or("LISTEN_BACKLOG", "4096"))?,
            database_url: or(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/simplechat",
            ),
            database_pool_size: parse("DATABASE_POOL_SIZE", &or("DATABASE_POOL_SIZE", "16"))?,
            database_statement_timeout: duration_or_zero(
                "DATABASE_STATEMENT_TIMEOUT",
                &or("DATABASE_STATEMENT_TIMEOUT", "5s"),
            )?,
            message_writers: positive("MESSAGE_WRITERS", &or("MESSAGE_WRITERS", "2"))?,
            redis_url: or("REDIS_URL", "redis://127.0.0.1:6379"),
            redis_cluster_nodes: cluster_nodes(&or("REDIS_CLUSTER_NODES", ""))?,
            redis_prefix: or("REDIS_PREFIX", "simplechat:"),
            jwt_previous_secrets: previous_secrets(app_env, &or("JWT_PREVIOUS_SECRETS", ""))?,
            jwt_secret,
            jwt_secret_is_dev_default,
            access_token_ttl: duration("ACCESS_TOKEN_TTL", &or("ACCESS_TOKEN_TTL", "15m"))?,
            refresh_token_ttl: duration("REFRESH_TOKEN_TTL", &or("REFRESH_TOKEN_TTL", "30d"))?,
            refresh_reuse_grace: duration_or_zero(
                "REFRESH_REUSE_GRACE",
                &or("REFRESH_REUSE_GRACE", "10s"),
            )?,
            ws_ticket_ttl: duration("WS_TICKET_TTL", &or("WS_TICKET_TTL", "60s"))?,
            heartbeat_interval: duration("HEARTBEAT_INTERVAL", &or("HEARTBEAT_INTERVAL", "25s"))?,
            bcrypt_cost: bcrypt_cost(&or("BCRYPT_COST", "12"))?,
            bcrypt_concurrency,
            bcrypt_queue: parse(
                "BCRYPT_QUEUE",
                &or("BCRYPT_QUEUE", &(bcrypt_concurrency * 8).to_string()),
            )?,
            rate_limits: rate_limits(&or)?,
            trusted_proxies: trusted_proxies(&or("TRUSTED_PROXIES", ""))?,
            group_max_members: at_least_two("GROUP_MAX_MEMBERS", &or("GROUP_MAX_MEMBERS", "500"))?,
            ws_outbound_queue: positive("WS_OUTBOUND_QUEUE", &or("WS_OUTBOUND_QUEUE", "256"))?,
            ws_handshake_limit: positive("WS_HANDSHAKE_LIMIT", &or("WS_HANDSHAKE_LIMIT", "512"))?,
            ws_handshake_wait: duration_or_zero(
                "WS_HANDSHAKE_WAIT",
                &or("WS_HANDSHAKE_WAIT", "5s"),
            )?,
            ws_send_rate: positive("WS_SEND_RATE", &or("WS_SEND_RATE", "20"))?,
            machine_id: get("MACHINE_ID")
                .map(|value| parse("MACHINE_ID", &value))
                .transpose()?,
            cors_allowed_origins: origins(&or("CORS_ALLOWED_ORIGINS", ""))?,
            chatbot: chatbot(&get, &or)?,
            shutdown_drain: duration_or_zero("SHUTDOWN_DRAIN", &or("SHUTDOWN_DRAIN", "5s"))?,
            push: push::push(&get, &or)?,
            attachments: attachments::attachments(&get, &or)?,
        })
    }
}

fn app_env(value: &str) -> Result<AppEnv, ConfigError> {
    match value {
        "dev" => Ok(AppEnv::Dev),
        "test" => Ok(AppEnv::Test),
        "prod" | "production" => Ok(AppEnv::Prod),
        other => Err(invalid(
            "APP_ENV",
            format!("expected dev, test or prod, got {other:?}"),
        )),
    }
}

/// The signing secret, and whether it is the development default. Outside `dev` a secret is
/// required and must be long enough to resist guessing.
fn jwt_secret(app_env: AppEnv, given: Option<String>) -> Result<(String, bool), ConfigError> {
    match given {
        Some(secret) if app_env != AppEnv::Dev && secret.len() < MIN_JWT_SECRET_LEN => {
            Err(invalid(
                "JWT_SECRET",
                format!("must be at least {MIN_JWT_SECRET_LEN} bytes"),
            ))
        }
        Some(secret) => Ok((secret, false)),
        None if app_env == AppEnv::Dev => Ok((DEV_JWT_SECRET.to_owned(), true)),
        None => Err(invalid("JWT_SECRET", "required unless APP_ENV=dev")),
    }
}

/// Comma-separated earlier secrets; held to the same length rule as `JWT_SECRET`.
fn previous_secrets(app_env: AppEnv, value: &str) -> Result<Vec<String>, ConfigError> {
    let secrets: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|secret| !secret.is_empty())
        .map(str::to_owned)
        .collect();
    if app_env != AppEnv::Dev && secrets.iter().any(|s| s.len() < MIN_JWT_SECRET_LEN) {
        return Err(invalid(
            "JWT_PREVIOUS_SECRETS",
            format!("each must be at least {MIN_JWT_SECRET_LEN} bytes"),
        ));
    }
    Ok(secrets)
}

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `LOG_FORMAT` from the environment. Read on its own, before the rest of the configuration,
/// since logging starts first.
pub fn log_format(value: Option<&str>) -> Result<LogFormat, ConfigError> {
    match value.map(str::trim).unwrap_or("") {
        "" | "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(invalid(
            "LOG_FORMAT",
            format!("expected text or json, got {other:?}"),
        )),
    }
}

fn chatbot(
    get: &impl Fn(&'static str) -> Option<String>,
    or: &impl Fn(&'static str, &str) -> String,
) -> Result<ChatbotConfig, ConfigError> {
    let provider = match or("CHATBOT_PROVIDER", "none").as_str() {
        "none" => ChatbotProvider::None,
        "edenai" => ChatbotProvider::EdenAi {
            base_url: or("EDENAI_URL", "https://api.edenai.run"),
            api_key: get("EDENAI_API_KEY").ok_or_else(|| {
                invalid("EDENAI_API_KEY", "required when CHATBOT_PROVIDER=edenai")
            })?,
            providers: or("EDENAI_PROVIDERS", "openai"),
        },
        "openai" => ChatbotProvider::OpenAi {
            base_url: or("OPENAI_BASE_URL", "https://api.openai.com/v1"),
            api_key: get("OPENAI_API_KEY"),
            model: or("OPENAI_MODEL", "gpt-4o-mini"),
        },
        other => {
            return Err(invalid(
                "CHATBOT_PROVIDER",
                format!("expected none, edenai or openai, got {other:?}"),
            ))
        }
    };
    Ok(ChatbotConfig {
        provider,
        timeout: duration("CHATBOT_TIMEOUT", &or("CHATBOT_TIMEOUT", "20s"))?,
        max_tokens: positive("CHATBOT_MAX_TOKENS", &or("CHATBOT_MAX_TOKENS", "512"))?,
        temperature: parse("CHATBOT_TEMPERATURE", &or("CHATBOT_TEMPERATURE", "0.7"))?,
        max_concurrency: positive(
            "CHATBOT_MAX_CONCURRENCY",
            &or("CHATBOT_MAX_CONCURRENCY", "8"),
        )?,
        rate_per_minute: positive(
            "CHATBOT_RATE_PER_MINUTE",
            &or("CHATBOT_RATE_PER_MINUTE", "10"),
        )?,
        context_messages: positive(
            "CHATBOT_CONTEXT_MESSAGES",
            &or("CHATBOT_CONTEXT_MESSAGES", "20"),
        )?,
    })
}

fn rate_limits(or: &impl Fn(&'static str, &str) -> String) -> Result<RateLimitConfig, ConfigError> {
    let limit = |key: &'static str, default: &str| parse::<u32>(key, &or(key, default));
    Ok(RateLimitConfig {
        login_failures: limit("RATE_LIMIT_LOGIN_FAILURES", "10")?,
        login_per_min: limit("RATE_LIMIT_LOGIN_PER_MIN", "60")?,
        register_per_hour: limit("RATE_LIMIT_REGISTER_PER_HOUR", "20")?,
        refresh_per_min: limit("RATE_LIMIT_REFRESH_PER_MIN", "60")?,
        ws_ticket_per_min: limit("RATE_LIMIT_WS_TICKET_PER_MIN", "60")?,
        export_per_min: limit("RATE_LIMIT_EXPORT_PER_MIN", "1")?,
        rest_per_min: limit("RATE_LIMIT_REST_PER_MIN", "600")?,
        rest_burst: limit("RATE_LIMIT_REST_BURST", "100")?,
        expensive_concurrency: limit("RATE_LIMIT_EXPENSIVE_CONCURRENCY", "4")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_map(&map)
    }

    #[test]
    fn cluster_nodes_are_host_port_pairs() {
        let nodes = config(&[("REDIS_CLUSTER_NODES", "10.0.0.1:7000, redis-b:7001,")])
            .expect("valid nodes")
            .redis_cluster_nodes;
        assert_eq!(nodes, ["10.0.0.1:7000", "redis-b:7001"]);
        let err = config(&[("REDIS_CLUSTER_NODES", "10.0.0.1")]).unwrap_err();
        assert_eq!(err.key, "REDIS_CLUSTER_NODES");
        assert!(config(&[]).unwrap().redis_cluster_nodes.is_empty());
    }

    #[test]
    fn dev_defaults_need_no_settings() {
        let config = config(&[]).expect("defaults are valid");
        assert_eq!(config.app_env, AppEnv::Dev);
        assert!(config.jwt_secret_is_dev_default);
        assert_eq!(config.access_token_ttl, Duration::from_secs(15 * 60));
        assert_eq!(config.ws_ticket_ttl, Duration::from_secs(60));
        assert_eq!(config.redis_prefix, "simplechat:");
        assert_eq!(config.rate_limits.login_failures, 10);
        assert_eq!(config.rate_limits.login_per_min, 60);
        assert_eq!(config.rate_limits.register_per_hour, 20);
        assert_eq!(config.bcrypt_queue, config.bcrypt_concurrency * 8);
        // Nobody may set the client address unless configured, not even a local process.
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.refresh_reuse_grace, Duration::from_secs(10));
    }

    #[test]
    fn trusted_proxies_take_cidrs_bare_addresses_or_none() {
        let listed = config(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,fd00::/8")]).unwrap();
        assert_eq!(listed.trusted_proxies.len(), 3);
        let nobody = config(&[("TRUSTED_PROXIES", "none")]).unwrap();
        assert!(nobody.trusted_proxies.is_empty());
        let err = config(&[("TRUSTED_PROXIES", "10.0.0.0/33")]).unwrap_err();
        assert_eq!(err.key, "TRUSTED_PROXIES");
    }

    #[test]
    fn a_secret_may_be_given_as_a_file_but_not_both_ways() {
        let dir = std::env::temp_dir().join(format!("simplechat-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwt");
        std::fs::write(&file, "a-secret-from-a-file-that-is-long-enough\n").unwrap();
        let path = file.to_str().unwrap();
        let from_file = config(&[("APP_ENV", "prod"), ("JWT_SECRET_FILE", path)]).unwrap();
        assert_eq!(
            from_file.jwt_secret,
            "a-secret-from-a-file-that-is-long-enough"
        );
        let url = dir.join("db");
        std::fs::write(&url, "postgres://app@db/chat").unwrap();
        let db = config(&[("DATABASE_URL_FILE", url.to_str().unwrap())]).unwrap();
        assert_eq!(db.database_url, "postgres://app@db/chat");
        let both = config(&[("JWT_SECRET", "x"), ("JWT_SECRET_FILE", path)]).unwrap_err();
        assert_eq!(both.key, "JWT_SECRET_FILE");
        let missing = config(&[("REDIS_URL_FILE", "/nonexistent/redis")]).unwrap_err();
        assert_eq!(missing.key, "REDIS_URL_FILE");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn previous_jwt_secrets_are_a_comma_separated_list_of_long_secrets() {
        let long_a = "a".repeat(32);
        let long_b = "b".repeat(40);
        let both = format!("{long_a}, {long_b},");
        let config_ok = config(&[
            ("APP_ENV", "prod"),
            ("JWT_SECRET", &"c".repeat(32)),
            ("JWT_PREVIOUS_SECRETS", &both),
        ])
        .unwrap();
        assert_eq!(config_ok.jwt_previous_secrets, [long_a, long_b]);
        let short = config(&[
            ("APP_ENV", "prod"),
            ("JWT_SECRET", &"c".repeat(32)),
            ("JWT_PREVIOUS_SECRETS", "short"),
        ])
        .unwrap_err();
        assert_eq!(short.key, "JWT_PREVIOUS_SECRETS");
    }

    #[test]
    fn log_format_is_text_unless_json_is_asked_for() {
        assert_eq!(log_format(None).unwrap(), LogFormat::Text);
        assert_eq!(log_format(Some("json")).unwrap(), LogFormat::Json);
        assert_eq!(log_format(Some("xml")).unwrap_err().key, "LOG_FORMAT");
    }

    #[test]
    fn shutdown_drain_defaults_to_five_seconds_and_may_be_zero() {
        assert_eq!(config(&[]).unwrap().shutdown_drain, Duration::from_secs(5));
        let none = config(&[("SHUTDOWN_DRAIN", "0s")]).unwrap();
        assert_eq!(none.shutdown_drain, Duration::ZERO);
    }

    #[test]
    fn attachments_default_to_a_local_folder_and_take_a_bucket() {
        use crate::platform::storage::StorageTarget;
        let defaults = config(&[]).unwrap().attachments;
        assert_eq!(
            defaults.storage,
            StorageTarget::Local(".data/attachments".into())
        );
        assert_eq!(defaults.max_bytes, 25 * 1024 * 1024);
        assert_eq!(defaults.quota_bytes, 1024 * 1024 * 1024);
        let s3 = config(&[
            ("STORAGE_URL", "s3://chat-media"),
            ("S3_ENDPOINT", "http://127.0.0.1:9000"),
        ])
        .unwrap()
        .attachments
        .storage;
        let StorageTarget::S3(s3) = s3 else {
            panic!("a bucket: {s3:?}")
        };
        assert_eq!(s3.bucket, "chat-media");
        assert_eq!(s3.region, "us-east-1");
        let err = config(&[("STORAGE_URL", "ftp://x")]).unwrap_err();
        assert_eq!(err.key, "STORAGE_URL");
        let err = config(&[("STORAGE_URL", "s3://b"), ("S3_ENDPOINT", "minio:9000")]).unwrap_err();
        assert_eq!(err.key, "S3_ENDPOINT");
    }

    #[test]
    fn prod_refuses_to_start_without_a_jwt_secret() {
        let err = config(&[("APP_ENV", "prod")]).unwrap_err();
        assert_eq!(err.key, "JWT_SECRET");
    }

    #[test]
    fn prod_refuses_a_short_jwt_secret() {
        let err = config(&[("APP_ENV", "prod"), ("JWT_SECRET", "short")]).unwrap_err();
        assert_eq!(err.key, "JWT_SECRET");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = config(&[("ACCESS_TOKEN_TTL", "soon")]).unwrap_err();
        assert_eq!(err.key, "ACCESS_TOKEN_TTL");
        let err = config(&[("LISTEN_ADDR", "nowhere")]).unwrap_err();
        assert_eq!(err.key, "LISTEN_ADDR");
        let err = config(&[("BCRYPT_COST", "40")]).unwrap_err();
        assert_eq!(err.key, "BCRYPT_COST");
        let err = config(&[("MACHINE_ID", "70000")]).unwrap_err();
        assert_eq!(err.key, "MACHINE_ID");
        let err = config(&[("CHATBOT_PROVIDER", "edenai")]).unwrap_err();
        assert_eq!(err.key, "EDENAI_API_KEY");
        let err = config(&[("CHATBOT_PROVIDER", "magic")]).unwrap_err();
        assert_eq!(err.key, "CHATBOT_PROVIDER");
        let err = config(&[("CORS_ALLOWED_ORIGINS", "https://a.example/app")]).unwrap_err();
        assert_eq!(err.key, "CORS_ALLOWED_ORIGINS");
        let err = config(&[("RATE_LIMIT_LOGIN_FAILURES", "-1")]).unwrap_err();
        assert_eq!(err.key, "RATE_LIMIT_LOGIN_FAILURES");
        let err = config(&[("BCRYPT_CONCURRENCY", "0")]).unwrap_err();
        assert_eq!(err.key, "BCRYPT_CONCURRENCY");
    }

    #[test]
    fn cors_origins_are_kept_as_browsers_send_them() {
        assert!(config(&[]).unwrap().cors_allowed_origins.is_empty());
        let config = config(&[(
            "CORS_ALLOWED_ORIGINS",
            " HTTPS://Chat.Example.com:443/ ,http://127.0.0.1:9000",
        )])
        .unwrap();
        assert_eq!(
            config.cors_allowed_origins,
            ["https://chat.example.com", "http://127.0.0.1:9000"]
        );
    }
}
