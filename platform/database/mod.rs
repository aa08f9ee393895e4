//! The Postgres side: a pool of async diesel connections, the embedded migrations, and the step
//! that creates the database itself when it does not exist yet.

mod migrate;
/// Diesel's view of the tables, written by `diesel print-schema` from a migrated database
/// (`make schema`); CI (`.ci/schema-check.sh`) fails when it differs from the migrations.
#[rustfmt::skip]
#[path = "schema.rs"]
mod generated_schema;
pub use generated_schema::chat as schema;
mod joins;
pub mod transaction;

pub use migrate::{run_migrations, MIGRATIONS};

use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::{sql_query, QueryableByName};
use diesel_async::{
    pooled_connection::{deadpool, AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod},
    AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};

/// How long a request waits for a free pooled connection before it fails with 503.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Seconds a caller waited for a pooled connection, failures included (histogram). Named here,
/// listed with every other metric in `pkg/utils/metrics.rs`.
pub const POOL_WAIT_METRIC: &str = "simplechat_db_pool_wait_seconds";
/// Pooled connections by `state`: `idle` or `busy` (gauge, set on each `/metrics` scrape).
pub const POOL_CONNECTIONS_METRIC: &str = "simplechat_db_pool_connections";

/// A pool of Postgres connections, cheap to clone. A thin wrapper over deadpool's pool that
/// times every wait for a connection, so a saturated pool shows on `/metrics` before requests
/// start failing with 503.
#[derive(Clone)]
pub struct DbPool(deadpool::Pool<AsyncPgConnection>);

impl DbPool {
    /// Borrows a connection, waiting up to the pool's timeout for one to come free.
    pub async fn get(&self) -> Result<DbConn, PoolError> {
        let started = Instant::now();
        let conn = self.0.get().await;
        metrics::histogram!(POOL_WAIT_METRIC).record(started.elapsed().as_secs_f64());
        conn
    }

    /// Sets the idle/busy gauges from the pool's current state.
    pub fn record_usage(&self) {
        let status = self.0.status();
        let busy = status.size.saturating_sub(status.available);
        metrics::gauge!(POOL_CONNECTIONS_METRIC, "state" => "idle").set(status.available as f64);
        metrics::gauge!(POOL_CONNECTIONS_METRIC, "state" => "busy").set(busy as f64);
    }
}

/// One connection borrowed from the pool.
pub type DbConn = deadpool::Object<AsyncPgConnection>;
/// Why a connection could not be borrowed.
pub type PoolError = deadpool::PoolError;

/// Builds the pool. Connections are opened lazily, on first use.
///
/// A connection handed back is reused without a test query: the default (`SELECT 1` on every
/// checkout) would add a round trip to every message sent. A connection whose socket closed, or
/// whose transaction broke, is dropped at checkout instead of being reused.
pub fn pool(database_url: &str, max_size: usize) -> anyhow::Result<DbPool> {
    pool_with(database_url, max_size, Session::default())
}

/// Settings every connection of a pool starts its session with.
#[derive(Clone, Copy, Debug, Default)]
pub struct Session {
    /// Postgres's `statement_timeout` (zero: none), so that no statement holds a connection, and
    /// the rows it locks, for longer: a single user's costly request fails (503) instead of
    /// slowing everyone else down.
    pub statement_timeout: Duration,
    /// Every prepared statement runs on its generic plan (`plan_cache_mode`), never planned
    /// again for the values bound: for connections whose statements make the same index probes
    /// whatever is bound (the message writers'; left to choose, Postgres planned their check
    /// statement anew for a third of the batches, `docs/performance.md`, change 16).
    pub generic_plans: bool,
}

impl Session {
    /// The `SET` statements that start a session, if any.
    fn setup_sql(self) -> Option<String> {
        let mut sql = String::new();
        let timeout_ms = self.statement_timeout.as_millis();
        if timeout_ms > 0 {
            sql.push_str(&format!("SET statement_timeout = {timeout_ms};"));
        }
        if self.generic_plans {
            sql.push_str("SET plan_cache_mode = force_generic_plan;");
        }
        (!sql.is_empty()).then_some(sql)
    }
}

/// [`pool`], each connection's session started with `session`'s settings.
pub fn pool_with(database_url: &str, max_size: usize, session: Session) -> anyhow::Result<DbPool> {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    if let Some(setup_sql) = session.setup_sql() {
        config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            let setup_sql = setup_sql.clone();
            Box::pin(async move {
                let mut conn = AsyncPgConnection::establish(&url).await?;
                conn.batch_execute(&setup_sql)
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            })
        });
    }
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    deadpool::Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(POOL_WAIT_TIMEOUT))
        .create_timeout(Some(POOL_WAIT_TIMEOUT))
        .runtime(::deadpool::Runtime::Tokio1)
        .build()
        .map(DbPool)
        .context("building the Postgres pool")
}

/// Answers whether Postgres serves queries through this pool.
pub async fn ping(pool: &DbPool) -> anyhow::Result<()> {
    let mut conn = pool.get().await.context("no Postgres connection")?;
    sql_query("SELECT 1")
        .execute(&mut conn)
        .await
        .context("Postgres did not answer")?;
    Ok(())
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

/// Creates the database named in `database_url` when it is missing, by way of the `postgres`
/// maintenance database on the same server.
pub async fn ensure_database_exists(database_url: &str) -> anyhow::Result<()> {
    let (maintenance_url, name) = split_database_name(database_url)?;
    let mut conn = AsyncPgConnection::establish(&maintenance_url)
        .await
        .with_context(|| format!("connecting to Postgres at {}", redact(&maintenance_url)))?;

    if database_exists(&mut conn, &name).await? {
        return Ok(());
    }
    let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    if let Err(err) = sql_query(create).execute(&mut conn).await {
        // Another instance may have created it between our check and our CREATE.
        if !database_exists(&mut conn, &name).await? {
            return Err(err).with_context(|| format!("creating database {name}"));
        }
    }
    tracing::info!(database = %name, "created database");
    Ok(())
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> anyhow::Result<bool> {
    let row: Exists =
        sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(conn)
            .await
            .context("looking up the database")?;
    Ok(row.exists)
}

/// Splits `postgres://…/name?opts` into the URL of the `postgres` database and `name`.
fn split_database_name(database_url: &str) -> anyhow::Result<(String, String)> {
    let mut url = url::Url::parse(database_url).context("DATABASE_URL is not a URL")?;
    let name = url.path().trim_start_matches('/').to_owned();
    anyhow::ensure!(!name.is_empty(), "DATABASE_URL names no database");
    url.set_path("/postgres");
    Ok((url.to_string(), name))
}

/// Hides the password of a connection URL before it is logged.
pub fn redact(database_url: &str) -> String {
    match url::Url::parse(database_url) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => database_url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_split_from_the_url() {
        let (maintenance, name) =
            split_database_name("postgres://u:p@db:5433/chat_1?sslmode=disable").unwrap();
        assert_eq!(name, "chat_1");
        assert_eq!(
            maintenance,
            "postgres://u:p@db:5433/postgres?sslmode=disable"
        );
    }

    #[test]
    fn passwords_are_not_logged() {
        assert_eq!(redact("postgres://u:secret@db/x"), "postgres://u:***@db/x");
    }
}
