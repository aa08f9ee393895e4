//! SQL for message search: Postgres full-text search with the `simple` configuration (no
//! stemming or stop words, so it behaves the same in every language), answered by the GIN index
//! on `to_tsvector('simple', content)` of the migrations.
//!
//! The caller's conversations are found first and the search names them, so the message query
//! always carries the conversation key: distributed by conversation, it runs on the shards that
//! hold the caller's conversations only (see docs/deployment.md).

use diesel::{
    prelude::*,
    sql_types::{Array, BigInt, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    app::models::{
        ids::{GroupId, UserId},
        messages::{ConversationRecord, MessageRecord},
    },
    platform::database::schema::{conversations, group_members, messages},
};

/// What to look for, as Postgres will read it.
pub enum TextQuery {
    /// Plain words: each must start a word of the message (`hel wor` finds "Hello, world").
    Prefixes(String),
    /// The web-search syntax (`"exact phrase"`, `or`, `-excluded`), whole words.
    WebSearch(String),
}

/// The conversations `user` is in now: private ones, and the groups they are a member of. With
/// `with`, only the private conversation with that user or that group.
pub async fn conversations_of(
    conn: &mut AsyncPgConnection,
    user: UserId,
    with: Option<uuid::Uuid>,
) -> QueryResult<Vec<ConversationRecord>> {
    let my_groups = group_members::table
        .filter(group_members::user_id.eq(user))
        .select(group_members::group_id);
    let mine = conversations::user_low
        .eq(user)
        .or(conversations::user_high.eq(user))
        .or(conversations::group_id.eq_any(my_groups.nullable()));
    let mut query = conversations::table
        .filter(mine)
        .select(ConversationRecord::as_select())
        .into_boxed();
    if let Some(with) = with {
        // A private pair is stored with the smaller id first.
        let other = UserId(with);
        let (low, high) = if user < other {
            (user, other)
        } else {
            (other, user)
        };
        query = query.filter(
            conversations::user_low
                .eq(low)
                .and(conversations::user_high.eq(high))
                .or(conversations::group_id.eq(GroupId(with))),
        );
    }
    query.load(conn).await
}

/// How many of the caller's newest messages the first step of [`matching`] reads before it
/// concludes that the words are rare among them.
const RECENT_WINDOW: i64 = 1000;

/// One matching message's id.
#[derive(QueryableByName)]
struct MatchId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Messages of the given conversations that match, newest first, older than `before` (a message
/// id) when given. Deleted messages never match.
///
/// Two steps in one statement, so that neither a common nor a rare word costs much, whatever
/// Postgres guesses of their frequency (docs/api-notes.md, "Search speed"):
/// 1. the caller's newest [`RECENT_WINDOW`] messages, newest first, each tested: a word found in
///    at least one message in twenty fills the page there, and the newest matches are the
///    newest of all;
/// 2. only when step 1 found fewer than a page: every match, through the text index (and the
///    conversations' index when that is narrower), sorted. The words are rare among the caller's
///    messages, so there are few. `id + 0` keeps Postgres from reading newest first by id
///    instead, which tests every message of every conversation until a page is found — the slow
///    plan this replaces.
pub async fn matching(
    conn: &mut AsyncPgConnection,
    conversation_ids: &[i64],
    text: &TextQuery,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<(Vec<MessageRecord>, bool)> {
    if conversation_ids.is_empty() {
        return Ok((Vec::new(), false));
    }
    let (function, words) = match text {
        TextQuery::Prefixes(query) => ("to_tsquery", query),
        TextQuery::WebSearch(query) => ("websearch_to_tsquery", query),
    };
    // Written as NOT deleted, the condition of the partial index, and the text expression word
    // for word as the index's, so the index applies.
    let older = if before.is_some() { "AND id < $4" } else { "" };
    let statement = format!(
        "WITH recent AS MATERIALIZED ( \
             SELECT r.id FROM ( \
                 SELECT id, content FROM chat.messages \
                 WHERE conversation_id = ANY($1) AND NOT deleted {older} \
                 ORDER BY id DESC LIMIT {RECENT_WINDOW} \
             ) r \
             WHERE to_tsvector('simple', r.content) @@ {function}('simple', $2) \
             ORDER BY r.id DESC LIMIT $3 \
         ), found AS (SELECT count(*) AS n FROM recent) \
         SELECT id FROM recent WHERE (SELECT n FROM found) = $3 \
         UNION ALL \
         (SELECT id FROM chat.messages \
          WHERE (SELECT n FROM found) < $3 \
            AND conversation_id = ANY($1) AND NOT deleted {older} \
            AND to_tsvector('simple', content) @@ {function}('simple', $2) \
          ORDER BY id + 0 DESC LIMIT $3)"
    );
    let query = diesel::sql_query(statement)
        .bind::<Array<BigInt>, _>(conversation_ids)
        .bind::<Text, _>(words)
        .bind::<BigInt, _>(limit + 1)
        .into_boxed();
    let query = match before {
        Some(before) => query.bind::<BigInt, _>(before),
        None => query,
    };
    let ids: Vec<i64> = query
        .load::<MatchId>(conn)
        .await?
        .into_iter()
        .map(|found| found.id)
        .collect();
    if ids.is_empty() {
        return Ok((Vec::new(), false));
    }
    let mut rows: Vec<MessageRecord> = messages::table
        .filter(messages::id.eq_any(&ids))
        .filter(messages::conversation_id.eq_any(conversation_ids))
        .select(MessageRecord::as_select())
        .order(messages::id.desc())
        .load(conn)
        .await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, has_more))
}
