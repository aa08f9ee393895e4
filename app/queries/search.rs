//! SQL for message search: Postgres full-text search with the `simple` configuration (no
//! stemming or stop words, so it behaves the same in every language), answered by the GIN index
//! on `to_tsvector('simple', content)` of the migrations.
//!
//! The caller's conversations are found first and the search names them, so the message query
//! always carries the conversation key: distributed by conversation, it runs on the shards that
//! hold the caller's conversations only (see docs/deployment.md).

use diesel::{
    dsl::sql,
    prelude::*,
    sql_types::{Bool, Text},
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

/// Messages of the given conversations that match, newest first, older than `before` (a message
/// id) when given. Deleted messages never match.
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
    // The expression must be the index's, word for word, for Postgres to use it.
    let matches = match text {
        TextQuery::Prefixes(query) => {
            sql::<Bool>("to_tsvector('simple', messages.content) @@ to_tsquery('simple', ")
                .bind::<Text, _>(query.clone())
                .sql(")")
        }
        TextQuery::WebSearch(query) => sql::<Bool>(
            "to_tsvector('simple', messages.content) @@ websearch_to_tsquery('simple', ",
        )
        .bind::<Text, _>(query.clone())
        .sql(")"),
    };
    let mut query = messages::table
        .filter(messages::conversation_id.eq_any(conversation_ids))
        // Written as NOT deleted, the condition of the partial index, so the index applies.
        .filter(diesel::dsl::not(messages::deleted))
        .filter(matches)
        .select(MessageRecord::as_select())
        .order(messages::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(messages::id.lt(before));
    }
    let mut rows: Vec<MessageRecord> = query.load(conn).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, has_more))
}
