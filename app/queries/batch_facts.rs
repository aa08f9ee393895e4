//! What the message writer's check pass reads for a batch, as one statement: which accounts are
//! live, the contact links and blocks among the people of its private messages, the members of
//! its groups, which quoted messages are deleted, and which drafts were stored before.
//!
//! These were six statements. Each statement costs Postgres a round of bind and execute, a
//! snapshot and an executor start, and costs the server the building of its SQL text and the
//! parsing of its answer; at one or two messages a batch (a quiet server) that was a large part
//! of what a message cost. Here each part is one branch of a `UNION ALL`, and a part with nothing
//! to look for (no group in the batch, say) is left out of the text: Postgres starts up every
//! branch of a statement (its nodes, its tables and indexes opened) whether or not it reads
//! anything, so the statement has one text per combination of parts, each prepared once per
//! connection.

use diesel::{
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::{Array, BigInt, Nullable, SmallInt, Text, Uuid},
    QueryResult,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::{future::BoxFuture, FutureExt, TryFutureExt};

use crate::app::models::ids::{GroupId, UserId};

/// What a batch asks about; an empty list asks nothing.
pub struct Wanted<'a> {
    /// Whose accounts are live (not deleted)?
    pub people: &'a [UserId],
    /// Which contact links and blocks join two of them (private messages' senders and
    /// recipients)?
    pub parties: &'a [UserId],
    /// Who are their members?
    pub groups: &'a [GroupId],
    /// Which of these messages are deleted?
    pub quoted: &'a [i64],
    /// Which of the pairs `(senders[i], client_msg_ids[i])` name a stored message?
    pub senders: &'a [UserId],
    pub client_msg_ids: &'a [&'a str],
}

/// One thing the statement found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    /// The account exists and is not deleted.
    Live(UserId),
    /// `.0` has `.1` in their contacts.
    Link(UserId, UserId),
    /// `.0` blocked `.1`.
    Block(UserId, UserId),
    /// `.1` is a member of the group `.0`.
    Member(GroupId, UserId),
    /// This quoted message is deleted.
    DeletedQuote(i64),
    /// This stored message has one of the wanted `(sender, client_msg_id)` pairs.
    Original(i64),
}

/// A row as the statement returns it: which kind of fact (the branch's number), two ids and a
/// number, each set or not as the kind needs.
type FactRow = (i16, Option<uuid::Uuid>, Option<uuid::Uuid>, Option<i64>);

impl Fact {
    fn from_row((kind, a, b, n): FactRow) -> Option<Self> {
        Some(match kind {
            0 => Fact::Live(UserId(a?)),
            1 => Fact::Link(UserId(a?), UserId(b?)),
            2 => Fact::Block(UserId(a?), UserId(b?)),
            3 => Fact::Member(GroupId(a?), UserId(b?)),
            4 => Fact::DeletedQuote(n?),
            5 => Fact::Original(n?),
            _ => return None,
        })
    }
}

/// Reads every fact `wanted` asks about, in one statement. The future does not hold the
/// connection, so it can be pipelined behind the batch's locks.
pub fn read<'a>(
    conn: &mut AsyncPgConnection,
    wanted: &'a Wanted<'a>,
) -> BoxFuture<'a, QueryResult<Vec<Fact>>> {
    BatchFacts { wanted }
        .load::<FactRow>(conn)
        .map_ok(|rows| rows.into_iter().filter_map(Fact::from_row).collect())
        .boxed()
}

/// The statement: the branches `wanted` needs (live accounts and retries always; links and
/// blocks, members, deleted quotes when asked about), so at most eight texts, each cached by
/// diesel under its text and prepared once per connection.
///
/// Both lookups in `messages` (quoted messages, retries) are a `LATERAL` subquery with `LIMIT 1`
/// over the wanted values, on purpose. Postgres plans a prepared statement once per connection
/// and keeps the plan until the table's statistics change; planned while `messages` was small (a
/// fresh database), a plain `id = ANY(…)` or join became a scan of the whole table, and stayed one
/// as the table grew (the retry lookup as a join: a 60 ms scan per batch at 200k messages; the
/// quoted lookup: 41k rows read per batch in a 5 s `make bench`, for a batch quoting nothing).
/// The `LIMIT` keeps the subquery from being merged into a join, so it runs once per wanted value
/// — never, when there is none — and a lookup of one value on an indexed column is an index probe
/// whatever the table's size.
struct BatchFacts<'a> {
    wanted: &'a Wanted<'a>,
}

// The text varies with what is wanted: cached under its text, not under this type.
impl QueryId for BatchFacts<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for BatchFacts<'_> {
    type SqlType = (SmallInt, Nullable<Uuid>, Nullable<Uuid>, Nullable<BigInt>);
}

impl QueryFragment<Pg> for BatchFacts<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let wanted = self.wanted;
        out.push_sql(
            "SELECT 0::int2, u.id, NULL::uuid, NULL::int8 FROM chat.users AS u \
             WHERE u.deleted_at IS NULL AND u.id = ANY(",
        );
        out.push_bind_param::<Array<Uuid>, _>(wanted.people)?;
        out.push_sql(")");
        if !wanted.parties.is_empty() {
            push_among(
                &mut out,
                " UNION ALL \
                 SELECT 1::int2, c.owner_id, c.contact_id, NULL FROM chat.contacts AS c \
                 WHERE c.owner_id = ANY(",
                ") AND c.contact_id = ANY(",
                wanted.parties,
            )?;
            push_among(
                &mut out,
                " UNION ALL \
                 SELECT 2::int2, b.blocker_id, b.blocked_id, NULL FROM chat.blocks AS b \
                 WHERE b.blocker_id = ANY(",
                ") AND b.blocked_id = ANY(",
                wanted.parties,
            )?;
        }
        if !wanted.groups.is_empty() {
            out.push_sql(
                " UNION ALL \
                 SELECT 3::int2, m.group_id, m.user_id, NULL FROM chat.group_members AS m \
                 WHERE m.group_id = ANY(",
            );
            out.push_bind_param::<Array<Uuid>, _>(wanted.groups)?;
            out.push_sql(")");
        }
        if !wanted.quoted.is_empty() {
            out.push_sql(" UNION ALL SELECT 4::int2, NULL, NULL, q.id FROM unnest(");
            out.push_bind_param::<Array<BigInt>, _>(wanted.quoted)?;
            out.push_sql(
                ") AS quoted (id) \
                 CROSS JOIN LATERAL (SELECT m.id FROM chat.messages AS m \
                   WHERE m.id = quoted.id AND m.deleted LIMIT 1) AS q",
            );
        }
        out.push_sql(" UNION ALL SELECT 5::int2, NULL, NULL, o.id FROM unnest(");
        out.push_bind_param::<Array<Uuid>, _>(wanted.senders)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(wanted.client_msg_ids)?;
        out.push_sql(
            ") AS w (sender_id, client_msg_id) \
             CROSS JOIN LATERAL (SELECT stored.id FROM chat.messages AS stored \
               WHERE stored.sender_id = w.sender_id AND stored.client_msg_id = w.client_msg_id \
               LIMIT 1) AS o",
        );
        Ok(())
    }
}

/// A branch of pairs with both ends among `parties` (contact links, blocks): `select` up to the
/// first end's `= ANY(`, then `second` up to the other's.
fn push_among<'b>(
    out: &mut AstPass<'_, 'b, Pg>,
    select: &'static str,
    second: &'static str,
    parties: &'b [UserId],
) -> QueryResult<()> {
    out.push_sql(select);
    out.push_bind_param::<Array<Uuid>, _>(parties)?;
    out.push_sql(second);
    out.push_bind_param::<Array<Uuid>, _>(parties)?;
    out.push_sql(")");
    Ok(())
}
