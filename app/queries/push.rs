//! SQL for Web Push: subscriptions, the outbox, the pending pushes, the stored VAPID key.
//!
//! The outbox holds one row per stored message (written by `message_batches`). A worker claims
//! outbox rows with `FOR UPDATE SKIP LOCKED` (so N instances share the work without sending
//! anything twice) and, in the same statement, turns them into one `push_pending` row per
//! (recipient, conversation) for recipients with a subscription who have not muted the
//! conversation, counting the messages (`unread`). Pending rows are claimed the same way; a claim
//! moves `due_at` ahead by a lease, so if the instance dies mid-send the row becomes due again
//! and another instance sends it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::{
    dsl::sql,
    prelude::*,
    sql_types::{BigInt, Double, Integer, Nullable, Text, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    app::models::{
        ids::{PushSubscriptionId, SessionId, UserId},
        push::{PendingPush, PushContext, SubscriptionRecord},
    },
    platform::database::schema::{
        conversations, messages, push_pending, push_subscriptions, sessions, users, vapid_keys,
    },
};

/// Stores `candidate` as the VAPID key unless one is stored already; returns the stored one.
/// Of instances starting together, the first insert wins and every instance reads the winner.
pub async fn vapid_key(conn: &mut AsyncPgConnection, candidate: &str) -> QueryResult<String> {
    diesel::insert_into(vapid_keys::table)
        .values((
            vapid_keys::id.eq(1i16),
            vapid_keys::private_key.eq(candidate),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    vapid_keys::table
        .find(1i16)
        .select(vapid_keys::private_key)
        .first(conn)
        .await
}

/// A new subscription for a session. The endpoint is one browser's: subscribing it again
/// (after new keys, or from a new login) moves it to this session with these keys.
pub async fn subscribe(
    conn: &mut AsyncPgConnection,
    new: &SubscriptionRecord,
) -> QueryResult<SubscriptionRecord> {
    diesel::insert_into(push_subscriptions::table)
        .values(new)
        .on_conflict(push_subscriptions::endpoint)
        .do_update()
        .set((
            push_subscriptions::user_id.eq(new.user_id),
            push_subscriptions::session_id.eq(new.session_id),
            push_subscriptions::p256dh.eq(&new.p256dh),
            push_subscriptions::auth.eq(&new.auth),
        ))
        .returning(SubscriptionRecord::as_returning())
        .get_result(conn)
        .await
}

/// The subscriptions of one login session, oldest first.
pub async fn of_session(
    conn: &mut AsyncPgConnection,
    session: SessionId,
) -> QueryResult<Vec<SubscriptionRecord>> {
    push_subscriptions::table
        .filter(push_subscriptions::session_id.eq(session))
        .order(push_subscriptions::created_at)
        .select(SubscriptionRecord::as_select())
        .load(conn)
        .await
}

/// Deletes a subscription of `session`; false when it has no such subscription.
pub async fn unsubscribe(
    conn: &mut AsyncPgConnection,
    session: SessionId,
    id: PushSubscriptionId,
) -> QueryResult<bool> {
    diesel::delete(
        push_subscriptions::table
            .find(id)
            .filter(push_subscriptions::session_id.eq(session)),
    )
    .execute(conn)
    .await
    .map(|deleted| deleted > 0)
}

/// Deletes every subscription of an ended session.
pub async fn delete_of_session(
    conn: &mut AsyncPgConnection,
    session: SessionId,
) -> QueryResult<()> {
    diesel::delete(push_subscriptions::table.filter(push_subscriptions::session_id.eq(session)))
        .execute(conn)
        .await
        .map(drop)
}

/// Deletes subscriptions the push service says are gone.
pub async fn delete_gone(
    conn: &mut AsyncPgConnection,
    ids: &[PushSubscriptionId],
) -> QueryResult<()> {
    diesel::delete(push_subscriptions::table.filter(push_subscriptions::id.eq_any(ids)))
        .execute(conn)
        .await
        .map(drop)
}

/// The subscriptions of `users` whose sessions are live (a session that ended without its
/// subscriptions being deleted still gets nothing).
pub async fn live_subscriptions(
    conn: &mut AsyncPgConnection,
    users: &[UserId],
) -> QueryResult<Vec<SubscriptionRecord>> {
    push_subscriptions::table
        .inner_join(sessions::table)
        .filter(push_subscriptions::user_id.eq_any(users))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .select(SubscriptionRecord::as_select())
        .load(conn)
        .await
}

/// Claims up to `limit` outbox rows and turns them into pending pushes (see the module
/// comment; who is owed one is stated with every other audience, in `services::fanout::audience`);
/// returns how many outbox rows were claimed. A (user, conversation) whose last push
/// went out less than `coalesce` ago becomes due when that window ends.
pub async fn expand_outbox(
    conn: &mut AsyncPgConnection,
    limit: i64,
    coalesce: Duration,
) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Claimed {
        #[diesel(sql_type = BigInt)]
        claimed: i64,
    }
    let claimed: Claimed = diesel::sql_query(EXPAND_OUTBOX)
        .bind::<BigInt, _>(limit)
        .bind::<Double, _>(coalesce.as_secs_f64())
        .get_result(conn)
        .await?;
    Ok(claimed.claimed)
}

const EXPAND_OUTBOX: &str = "
WITH claimed AS (
    DELETE FROM chat.push_outbox AS o
    USING (SELECT conversation_id, message_id FROM chat.push_outbox
           ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED) AS c
    WHERE o.conversation_id = c.conversation_id AND o.message_id = c.message_id
    RETURNING o.conversation_id, o.message_id, o.created_at
), stored AS (
    SELECT m.conversation_id, m.id, m.seq, m.sender_id, claimed.created_at,
           cv.group_id, cv.user_low, cv.user_high
    FROM claimed
    JOIN chat.messages m ON m.conversation_id = claimed.conversation_id
                        AND m.id = claimed.message_id
    JOIN chat.conversations cv ON cv.id = claimed.conversation_id
), recipients AS (
    SELECT gm.user_id AS recipient, s.*
    FROM stored s JOIN chat.group_members gm ON gm.group_id = s.group_id
    UNION ALL
    SELECT pair.recipient, s.*
    FROM stored s CROSS JOIN LATERAL (VALUES (s.user_low), (s.user_high)) AS pair (recipient)
    WHERE s.group_id IS NULL
), owed AS (
    SELECT r.recipient, r.conversation_id, count(*)::int AS unread, max(r.seq) AS seq,
           (array_agg(r.id ORDER BY r.seq DESC))[1] AS message_id,
           min(r.created_at) AS since
    FROM recipients r
    WHERE r.recipient <> r.sender_id
      AND EXISTS (SELECT 1 FROM chat.push_subscriptions ps WHERE ps.user_id = r.recipient)
      AND NOT EXISTS (
          SELECT 1 FROM chat.mutes mu
          WHERE mu.user_id = r.recipient AND mu.until > now()
            AND ((r.group_id IS NOT NULL AND mu.kind = 'group' AND mu.target_id = r.group_id)
              OR (r.group_id IS NULL AND mu.kind = 'user' AND mu.target_id =
                    CASE WHEN r.user_low = r.recipient THEN r.user_high ELSE r.user_low END)))
    GROUP BY r.recipient, r.conversation_id
), queued AS (
    INSERT INTO chat.push_pending AS p
        (user_id, conversation_id, message_id, seq, unread, pending_since, due_at)
    SELECT recipient, conversation_id, message_id, seq, unread, since, now() FROM owed
    ON CONFLICT (user_id, conversation_id) DO UPDATE SET
        message_id = CASE WHEN excluded.seq > p.seq THEN excluded.message_id ELSE p.message_id END,
        seq = greatest(p.seq, excluded.seq),
        unread = p.unread + excluded.unread,
        pending_since = CASE WHEN p.unread = 0 THEN excluded.pending_since ELSE p.pending_since END,
        attempts = CASE WHEN p.unread = 0 THEN 0 ELSE p.attempts END,
        due_at = CASE WHEN p.unread = 0
            THEN greatest(now(), coalesce(p.last_sent_at, now()) + make_interval(secs => $2))
            ELSE p.due_at END
    RETURNING 1
)
SELECT count(*) AS claimed FROM claimed";

/// Claims up to `limit` due pending pushes for `lease`: until it ends no other worker takes
/// them, and if this instance dies they become due again.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: Duration,
) -> QueryResult<Vec<PendingPush>> {
    diesel::sql_query(
        "UPDATE chat.push_pending AS p
         SET due_at = now() + make_interval(secs => $2), attempts = p.attempts + 1
         FROM (SELECT user_id, conversation_id FROM chat.push_pending
               WHERE unread > 0 AND due_at <= now()
               ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) AS due
         WHERE p.user_id = due.user_id AND p.conversation_id = due.conversation_id
         RETURNING p.user_id, p.conversation_id, p.message_id, p.seq, p.unread,
                   p.pending_since, p.attempts",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Double, _>(lease.as_secs_f64())
    .load(conn)
    .await
}

/// What a push about each message says: its conversation, text and sender's name.
pub async fn contexts(
    conn: &mut AsyncPgConnection,
    message_ids: &[i64],
) -> QueryResult<Vec<PushContext>> {
    messages::table
        .inner_join(conversations::table)
        .inner_join(users::table.on(users::id.eq(messages::sender_id)))
        .filter(messages::id.eq_any(message_ids))
        .select((
            messages::conversation_id,
            messages::id,
            messages::content,
            messages::deleted,
            users::display_name,
            conversations::group_id,
            conversations::user_low,
            conversations::user_high,
            sql::<Nullable<Text>>(FIRST_ATTACHMENT_KIND),
            sql::<Nullable<Text>>(FIRST_ATTACHMENT_NAME),
        ))
        .load(conn)
        .await
}

/// The kind of the message's first attachment (NULL without any).
const FIRST_ATTACHMENT_KIND: &str = "(SELECT a.kind FROM chat.attachments a \
     WHERE a.conversation_id = chat.messages.conversation_id AND a.message_id = chat.messages.id \
     ORDER BY a.position LIMIT 1)";
/// The name of the message's first attachment (NULL without any).
const FIRST_ATTACHMENT_NAME: &str = "(SELECT a.name FROM chat.attachments a \
     WHERE a.conversation_id = chat.messages.conversation_id AND a.message_id = chat.messages.id \
     ORDER BY a.position LIMIT 1)";

/// Settles a claimed push: `sent` of its messages are dealt with; `sent_now` says a push went
/// out (so the next one waits out the coalescing window), else what remains is due at once.
/// Messages that arrived meanwhile stay counted.
pub async fn settle(
    conn: &mut AsyncPgConnection,
    push: &PendingPush,
    sent_now: bool,
    coalesce: Duration,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE chat.push_pending SET
             unread = unread - $3,
             attempts = 0,
             last_sent_at = CASE WHEN $4 = 1 THEN now() ELSE last_sent_at END,
             pending_since = CASE WHEN unread - $3 > 0 THEN now() ELSE NULL END,
             due_at = CASE WHEN $4 = 1 THEN now() + make_interval(secs => $5) ELSE now() END
         WHERE user_id = $1 AND conversation_id = $2",
    )
    .bind::<SqlUuid, _>(push.user_id)
    .bind::<BigInt, _>(push.conversation_id)
    .bind::<Integer, _>(push.unread)
    .bind::<Integer, _>(i32::from(sent_now))
    .bind::<Double, _>(coalesce.as_secs_f64())
    .execute(conn)
    .await
    .map(drop)
}

/// Puts a claimed push back, due at `at`.
pub async fn retry_at(
    conn: &mut AsyncPgConnection,
    push: &PendingPush,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(push_pending::table.find((push.user_id, push.conversation_id)))
        .set(push_pending::due_at.eq(at))
        .execute(conn)
        .await
        .map(drop)
}

/// Forgets (user, conversation) rows with nothing waiting whose coalescing window is over.
pub async fn forget_idle(conn: &mut AsyncPgConnection, coalesce: Duration) -> QueryResult<()> {
    diesel::sql_query(
        "DELETE FROM chat.push_pending WHERE unread = 0
         AND (last_sent_at IS NULL OR last_sent_at < now() - make_interval(secs => $1))",
    )
    .bind::<Double, _>(coalesce.as_secs_f64())
    .execute(conn)
    .await
    .map(drop)
}

/// Pushes waiting (outbox rows plus pending pushes) and the age in seconds of the oldest.
pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<(i64, f64)> {
    #[derive(QueryableByName)]
    struct Backlog {
        #[diesel(sql_type = BigInt)]
        depth: i64,
        #[diesel(sql_type = Nullable<Double>)]
        oldest_secs: Option<f64>,
    }
    let backlog: Backlog = diesel::sql_query(
        "SELECT
             (SELECT count(*) FROM chat.push_outbox)
           + (SELECT count(*) FROM chat.push_pending WHERE unread > 0) AS depth,
             extract(epoch FROM now() - least(
                 (SELECT min(created_at) FROM chat.push_outbox),
                 (SELECT min(pending_since) FROM chat.push_pending WHERE unread > 0)
             ))::float8 AS oldest_secs",
    )
    .get_result(conn)
    .await?;
    Ok((backlog.depth, backlog.oldest_secs.unwrap_or(0.0)))
}
