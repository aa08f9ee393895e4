//! SQL for `chat.users`.

use diesel::{
    pg::Pg,
    prelude::*,
    query_builder::{AstPass, QueryFragment, QueryId},
    result::DatabaseErrorKind,
    sql_types::{Array, Uuid},
};
use diesel_async::{
    scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection, RunQueryDsl,
};
use futures_util::{future::BoxFuture, FutureExt};

use crate::{
    app::models::{
        ids::UserId,
        users::{NewUser, UserRecord, USERNAME_RESERVED_DAYS},
    },
    platform::database::schema::users,
};

diesel::define_sql_function! {
    /// SQL `lower()`: usernames and group names compare and sort without case.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Why a user could not be inserted.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("username is taken")]
    UsernameTaken,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Stores a new user; a username that differs from an existing one only in case is taken. The
/// username of an account deleted more than [`USERNAME_RESERVED_DAYS`] ago is free again: its
/// tombstone gives it up first (for a name no one can register: `~` and its id).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    user: &NewUser<'_>,
) -> Result<UserRecord, InsertUserError> {
    let folded = user.username.to_ascii_lowercase();
    let reserved_until = chrono::Utc::now() - chrono::Duration::days(USERNAME_RESERVED_DAYS.into());
    // Both or neither, though either alone would be harmless.
    conn.transaction(|conn| {
        async move {
            diesel::update(users::table)
                .filter(lower(users::username).eq(folded))
                .filter(users::deleted_at.lt(reserved_until))
                .set(
                    users::username.eq(diesel::dsl::sql::<diesel::sql_types::Text>(
                        "'~' || id::text",
                    )),
                )
                .execute(conn)
                .await?;
            diesel::insert_into(users::table)
                .values(user)
                .returning(UserRecord::as_returning())
                .get_result(conn)
                .await
        }
        .scope_boxed()
    })
    .await
    .map_err(|err| match err {
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            InsertUserError::UsernameTaken
        }
        other => InsertUserError::Database(other),
    })
}

/// Finds a live (not deleted) user by username, ignoring case. `folded_username` must already be
/// lower-case.
pub async fn find_by_username(
    conn: &mut AsyncPgConnection,
    folded_username: &str,
) -> QueryResult<Option<UserRecord>> {
    users::table
        .filter(lower(users::username).eq(folded_username))
        .filter(users::deleted_at.is_null())
        .select(UserRecord::as_select())
        .first(conn)
        .await
        .optional()
}

/// Finds a user by id, a deleted account's tombstone included.
pub async fn find_by_id(
    conn: &mut AsyncPgConnection,
    id: UserId,
) -> QueryResult<Option<UserRecord>> {
    users::table
        .find(id)
        .select(UserRecord::as_select())
        .first(conn)
        .await
        .optional()
}

/// Live users whose username starts with `folded_prefix` (lower-case, LIKE-escaped by the
/// caller), alphabetically.
pub async fn search_by_prefix(
    conn: &mut AsyncPgConnection,
    folded_prefix: &str,
    limit: i64,
) -> QueryResult<Vec<UserRecord>> {
    users::table
        .filter(lower(users::username).like(format!("{folded_prefix}%")))
        .filter(users::deleted_at.is_null())
        .order(lower(users::username))
        .limit(limit)
        .select(UserRecord::as_select())
        .load(conn)
        .await
}

/// Stores when each user was last connected, in one statement (never on a deleted account's
/// tombstone, whose last sockets close just after the deletion). One entry per user: a reconnect
/// storm takes thousands of users offline at once, and one statement for all of them keeps the
/// pool free for the sockets that are opening (`docs/performance.md`, change 20). A caller with
/// nothing to store skips the call, and the pooled connection it would take.
pub async fn set_last_seen(
    conn: &mut AsyncPgConnection,
    seen: &[(UserId, chrono::DateTime<chrono::Utc>)],
) -> QueryResult<()> {
    let (ids, ats): (Vec<UserId>, Vec<chrono::DateTime<chrono::Utc>>) =
        seen.iter().copied().unzip();
    diesel::sql_query(
        "UPDATE chat.users AS u SET last_seen_at = seen.at \
         FROM unnest($1, $2) AS seen (id, at) \
         WHERE u.id = seen.id AND u.deleted_at IS NULL",
    )
    .bind::<Array<Uuid>, _>(ids)
    .bind::<Array<diesel::sql_types::Timestamptz>, _>(ats)
    .execute(conn)
    .await
    .map(drop)
}

/// The stored last-seen times of those users who have one.
pub async fn last_seen(
    conn: &mut AsyncPgConnection,
    ids: &[UserId],
) -> QueryResult<std::collections::HashMap<UserId, chrono::DateTime<chrono::Utc>>> {
    let rows: Vec<(UserId, Option<chrono::DateTime<chrono::Utc>>)> = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::last_seen_at))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, seen)| seen.map(|seen| (id, seen)))
        .collect())
}

/// The advisory lock that stands for an account's writes, keyed by its id: sends hold it shared
/// ([`hold_accounts`]) and deleting the account holds it alone ([`hold_account_alone`]), each
/// until its transaction ends. An advisory lock lives in Postgres' lock table only; locking the
/// user's row instead (`FOR SHARE`, as sends first did) writes the row and a WAL record for every
/// sender of every batch.
const ACCOUNT_LOCK_KEY: &str = "hashtextextended('account:' || id::text, 0)";

/// Holds the accounts of `ids` (sorted, each once) shared until the transaction ends, so that
/// none of them is deleted before it commits: a deletion waits for it, or has committed and is
/// seen by the statements after this one (`batch_facts::read` in the same pipeline). The future
/// does not hold the connection, and the statement goes out when it is first polled, so it can
/// be pipelined ahead of the reads it must precede.
pub fn hold_accounts<'a>(
    conn: &mut AsyncPgConnection,
    ids: &'a [UserId],
) -> BoxFuture<'a, QueryResult<usize>> {
    HoldAccounts { ids }.execute(conn).boxed()
}

/// [`hold_accounts`]' statement, prepared once per connection (every batch of messages runs it;
/// as a `sql_query` Postgres parsed and planned it anew each time).
struct HoldAccounts<'a> {
    ids: &'a [UserId],
}

impl QueryId for HoldAccounts<'_> {
    type QueryId = HoldAccounts<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for HoldAccounts<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT pg_advisory_xact_lock_shared(");
        out.push_sql(ACCOUNT_LOCK_KEY);
        out.push_sql(") FROM unnest(");
        out.push_bind_param::<Array<Uuid>, _>(self.ids)?;
        out.push_sql(") AS id");
        Ok(())
    }
}

/// Holds the account `id` alone until the transaction ends: a send of its that is being stored
/// commits first, and any later one sees the account deleted. Taken before anything of the
/// account is read for its deletion.
pub async fn hold_account_alone(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<()> {
    diesel::sql_query(format!(
        "SELECT pg_advisory_xact_lock({ACCOUNT_LOCK_KEY}) FROM (SELECT $1::uuid AS id) AS account"
    ))
    .bind::<Uuid, _>(id)
    .execute(conn)
    .await
    .map(drop)
}

/// Replaces the user's password hash.
pub async fn set_password_hash(
    conn: &mut AsyncPgConnection,
    id: UserId,
    password_hash: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(password_hash))
        .execute(conn)
        .await
        .map(drop)
}
