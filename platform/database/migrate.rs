//! Applies the SQL migrations under `platform/migrations`, embedded in the binary.
//!
//! diesel_migrations is synchronous, so this runs on a blocking thread through diesel-async's
//! `AsyncConnectionWrapper` (which is why this file uses diesel's blocking traits, not the async
//! ones used everywhere else).

use anyhow::Context;
use diesel::{sql_query, Connection, RunQueryDsl};
use diesel_async::{async_connection_wrapper::AsyncConnectionWrapper, AsyncPgConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// The SQL files under `platform/migrations`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("platform/migrations");

/// Serialises migrations between instances that start at the same moment (any fixed number works).
const MIGRATION_LOCK_KEY: i64 = 0x5349_4d50_4c45; // "SIMPLE"

/// Applies every pending migration. Instances starting together take turns on an advisory lock.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<()> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .context("connecting to Postgres for migrations")?;
        sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).execute(&mut conn)?;
        let applied: Result<Vec<String>, _> = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|err| anyhow::anyhow!("running migrations: {err}"));
        sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(&mut conn)?;
        for version in applied? {
            tracing::info!(%version, "applied migration");
        }
        Ok(())
    })
    .await
    .context("migration task panicked")?
}
