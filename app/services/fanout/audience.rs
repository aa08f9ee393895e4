//! Who receives a push. Every rule that picks the recipients of a live event lives here, so
//! "who hears of this?" has one answer per event kind.

use crate::{
    app::{
        models::{
            chatbot,
            ids::{GroupId, UserId},
            messages::ConversationRecord,
        },
        queries::{self, messages::ConversationKey},
    },
    pkg::utils::errors::AppError,
    platform::database::DbConn,
};

/// The readers of a private conversation: both parties (the chatbot has no connections).
pub fn of_pair(a: UserId, b: UserId) -> Vec<UserId> {
    chatbot::reachable([a, b])
}

/// Everyone who receives a conversation's messages and read markers: both parties, or the
/// current members of the group.
pub async fn readers_of(
    conn: &mut DbConn,
    conversation: &ConversationRecord,
) -> Result<Vec<UserId>, AppError> {
    Ok(
        match (
            conversation.group_id,
            conversation.user_low,
            conversation.user_high,
        ) {
            (Some(group_id), _, _) => group_members(conn, group_id).await?,
            (None, Some(low), Some(high)) => of_pair(low, high),
            _ => Vec::new(),
        },
    )
}

/// Who sees `from` typing: the other party, or the other members.
pub async fn typing_peers(
    conn: &mut DbConn,
    key: ConversationKey,
    from: UserId,
) -> Result<Vec<UserId>, AppError> {
    Ok(match key {
        ConversationKey::Pair(low, high) => vec![if low == from { high } else { low }],
        ConversationKey::Group(group_id) => group_members(conn, group_id)
            .await?
            .into_iter()
            .filter(|member| *member != from)
            .collect(),
    })
}

/// Who hears of a group's events (created, renamed, a member added or removed): its members
/// as they are after the change. A removed member is told as well, by the caller adding them.
pub async fn group_members(conn: &mut DbConn, group_id: GroupId) -> Result<Vec<UserId>, AppError> {
    Ok(queries::groups::member_ids(conn, group_id).await?)
}

/// Who is told when a user comes online or goes offline: everyone who has them as a contact,
/// except those they have blocked.
pub async fn presence_watchers(
    conn: &mut DbConn,
    user_id: UserId,
) -> Result<Vec<UserId>, AppError> {
    let watchers = queries::contacts::owners_of(conn, user_id).await?;
    let blocked = queries::blocks::blocked_ids(conn, user_id).await?;
    Ok(watchers
        .into_iter()
        .filter(|watcher| !blocked.contains(watcher))
        .collect())
}
