//! Waiting for the server to be held up by a lock a test holds, so a race can be staged in a
//! known order: the test takes a lock, starts a request, waits here until Postgres shows that
//! request waiting, then lets go.

use diesel::{sql_query, sql_types::BigInt, QueryableByName};
use diesel_async::RunQueryDsl;
use simplechat::platform::database::{DbConn, DbPool};

#[derive(QueryableByName)]
struct Waiting {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Returns once a statement on the test's database waits for a lock; panics with `what` if none
/// does within 10 s (the request never reached the lock).
pub async fn until_a_statement_waits_for_a_lock(pool: &DbPool, what: &str) {
    until_statements_wait_for_locks(pool, 1, what).await;
}

/// [`until_a_statement_waits_for_a_lock`], for `count` statements at once.
pub async fn until_statements_wait_for_locks(pool: &DbPool, count: i64, what: &str) {
    let mut watcher = pool.get().await.unwrap();
    for _ in 0..400 {
        let waiting: Waiting = sql_query(
            "SELECT count(*) AS count FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(&mut watcher)
        .await
        .unwrap();
        if waiting.count >= count {
            return;
        }
        // pg_stat_activity has no notification to await; it is read again shortly.
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("fewer than {count} statements waited for a lock: {what}");
}

/// Begins a transaction on a connection of its own and runs `statements` in it: the locks (and
/// uncommitted changes) a race is staged with. The test ends it with `COMMIT` or `ROLLBACK` on
/// the connection returned.
pub async fn begin_holding(pool: &DbPool, statements: &[&str]) -> DbConn {
    let mut holder = pool.get().await.unwrap();
    sql_query("BEGIN").execute(&mut holder).await.unwrap();
    for statement in statements {
        sql_query(*statement).execute(&mut holder).await.unwrap();
    }
    holder
}
