//! `platform::database::transaction`: a transaction whose `BEGIN` and `COMMIT` travel with its
//! statements. diesel's transaction manager is told of it, so a connection left inside one is
//! closed by the pool, not lent again with the transaction still open.

use diesel::{sql_query, sql_types::Integer, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future;
use simplechat::platform::database::{self, transaction};

use crate::helpers::spawn_app;

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

async fn backend(conn: &mut AsyncPgConnection) -> i32 {
    let backend: Backend = sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(conn)
        .await
        .unwrap();
    backend.pid
}

#[tokio::test]
async fn a_connection_left_inside_its_transaction_is_closed_not_lent_again() {
    let app = spawn_app().await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 1).unwrap();

    // Committed: the same connection is lent again.
    let committed = {
        let mut conn = pool.get().await.unwrap();
        let begin = transaction::begin(&mut conn).unwrap();
        let commit = transaction::commit(&mut conn);
        let (begun, done) = future::join(begin, commit).await;
        begun.unwrap();
        done.unwrap();
        transaction::ended(&mut conn).unwrap();
        backend(&mut conn).await
    };
    let mut conn = pool.get().await.unwrap();
    assert_eq!(backend(&mut conn).await, committed);

    // Begun and dropped (a panic, a cancelled future): that connection is closed.
    transaction::begin(&mut conn).unwrap().await.unwrap();
    drop(conn);
    let mut conn = pool.get().await.unwrap();
    assert_ne!(backend(&mut conn).await, committed);
}

#[tokio::test]
async fn a_commit_sent_behind_a_failing_statement_rolls_its_transaction_back() {
    let app = spawn_app().await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    sql_query("CREATE TEMPORARY TABLE scratch (n int PRIMARY KEY)")
        .execute(&mut conn)
        .await
        .unwrap();

    // BEGIN, a write, a write that fails and the COMMIT, in one round trip.
    let begin = transaction::begin(&mut conn).unwrap();
    let first = sql_query("INSERT INTO scratch VALUES (1)").execute(&mut conn);
    let failing = sql_query("INSERT INTO scratch VALUES (1)").execute(&mut conn);
    let commit = transaction::commit(&mut conn);
    let (begun, first, failing, committed) = futures_util::join!(begin, first, failing, commit);
    begun.unwrap();
    first.unwrap();
    assert!(failing.is_err(), "the duplicate fails");
    committed.expect("a COMMIT after a failure is answered (by rolling back)");
    transaction::ended(&mut conn).unwrap();

    // Nothing of it was kept, and the connection serves on.
    let kept: Count = sql_query("SELECT count(*) AS count FROM scratch")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept.count, 0);
}
