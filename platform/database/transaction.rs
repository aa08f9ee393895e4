//! A transaction whose `BEGIN` and `COMMIT` travel with its statements instead of a round trip
//! each: `BEGIN` leads the first pipeline, `COMMIT` follows the last statement in the same
//! pipeline. For a transaction that knows up front it will commit whatever its last statement
//! does (the message writer's batch: should the store fail, Postgres answers the `COMMIT` of the
//! aborted transaction by rolling it back), it takes two round trips off every transaction.
//!
//! Both go out as prepared statements, through the same statement cache as the statements around
//! them, so they leave in the order they were first polled, as the others do (an uncached
//! statement waits for its preparation, and a simple-protocol `COMMIT` could overtake it).
//!
//! diesel's transaction manager is told of the transaction as it is opened and only told it
//! ended once `COMMIT` or `ROLLBACK` was answered: a connection dropped in between (a panic, a
//! cancelled future) counts as broken, and the pool closes it instead of handing it out with a
//! transaction still open on it.

use diesel::{
    connection::{TransactionDepthChange, TransactionManagerStatus},
    pg::Pg,
    query_builder::{AstPass, QueryFragment, QueryId},
    QueryResult,
};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use futures_util::{future::BoxFuture, FutureExt};

/// Marks the connection as in a transaction and gives the `BEGIN` to send first. Fails when the
/// connection is in a transaction already (or its transaction manager broke).
pub fn begin(conn: &mut AsyncPgConnection) -> QueryResult<BoxFuture<'static, QueryResult<usize>>> {
    let status = status(conn).transaction_state()?;
    if status.transaction_depth().is_some() {
        return Err(diesel::result::Error::AlreadyInTransaction);
    }
    status.change_transaction_depth(TransactionDepthChange::IncreaseDepth)?;
    Ok(Control("BEGIN").execute(conn).boxed())
}

/// The `COMMIT`, to send right after the transaction's last statement. Once it is answered,
/// [`ended`] (whether it committed or, after a failed statement, rolled back).
pub fn commit(conn: &mut AsyncPgConnection) -> BoxFuture<'static, QueryResult<usize>> {
    Control("COMMIT").execute(conn).boxed()
}

/// Rolls the transaction back (after a statement failed and no `COMMIT` was sent).
pub async fn rollback(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    Control("ROLLBACK").execute(conn).await?;
    ended(conn)
}

/// Tells diesel the transaction is over: its `COMMIT` or `ROLLBACK` was answered (or its
/// `COMMIT` failed, which ends it too).
pub fn ended(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    status(conn)
        .transaction_state()?
        .change_transaction_depth(TransactionDepthChange::DecreaseDepth)
}

fn status(conn: &mut AsyncPgConnection) -> &mut TransactionManagerStatus {
    <AnsiTransactionManager as TransactionManager<AsyncPgConnection>>::transaction_manager_status_mut(
        conn,
    )
}

/// One of the three transaction statements, prepared once per connection under its own text.
#[derive(Clone, Copy)]
struct Control(&'static str);

impl QueryId for Control {
    type QueryId = ();
    // Each text is its own statement: cached under the text, not under one type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for Control {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(self.0);
        Ok(())
    }
}
