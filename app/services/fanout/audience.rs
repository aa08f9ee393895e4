//! Who receives a push. [`of`] is the one place that picks the recipients of a live event, so
//! "who hears of this?" has one answer per kind of [`Event`], read top to bottom in its `match`.
//! Its presence arm reads through [`of_presence`], which the presence announcer also calls for
//! many users at once: one rule, whichever way it is asked.
//!
//! Web Push (`services::push`) follows the same rule for a new message, minus three: its sender,
//! whoever muted the conversation, and whoever has no subscription; and it is sent only while
//! the recipient has no socket open anywhere. That rule runs in SQL (`queries::push`'s
//! `EXPAND_OUTBOX`), because a push must survive a crash: the message's outbox row is written in
//! the message's own transaction, and the recipients are read when a worker claims it.

use std::collections::{HashMap, HashSet};

use crate::{
    app::{
        models::{
            chatbot,
            ids::{GroupId, SessionId, UserId},
            messages::ConversationRecord,
        },
        queries::{self, messages::ConversationKey},
        services::permissions,
        state::AppState,
    },
    pkg::utils::errors::AppError,
    platform::database::DbConn,
};

use super::event::{Event, GroupChange};

/// The recipients of one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every connection of each of these users, on any instance.
    Users(Vec<UserId>),
    /// The connections of one login session of a user.
    Session(UserId, SessionId),
}

/// Who receives `event`. Only events whose audience is stored take a database connection (a
/// new message does not: its writer has read its group's members already).
pub async fn of(state: &AppState, event: &Event<'_>) -> Result<Audience, AppError> {
    let users = match *event {
        // Both parties (the chatbot has no connections), or the members as the writer read them.
        Event::NewMessage {
            conversation,
            members,
            ..
        } => match pair_of(conversation) {
            Some((low, high)) => chatbot::reachable([low, high]),
            None => members.to_vec(),
        },
        // Both parties, or the group's members now.
        Event::MessageUpdated { conversation, .. } => {
            readers_of(&mut state.db.get().await?, conversation).await?
        }
        // The readers, except that a private read marker reaches the other party only while the
        // two may interact (no block either way): otherwise only the reader's own devices.
        Event::ReadMarker {
            reader,
            conversation,
            ..
        } => {
            let mut conn = state.db.get().await?;
            let mut readers = readers_of(&mut conn, conversation).await?;
            if let Some((low, high)) = pair_of(conversation) {
                let peer = if low == reader { high } else { low };
                match permissions::may_interact_privately(&mut conn, reader, peer).await {
                    Ok(()) => {}
                    Err(AppError::Forbidden(_) | AppError::NotFound(_)) => {
                        readers.retain(|user| *user == reader)
                    }
                    Err(err) => return Err(err),
                }
            }
            readers
        }
        // The other party, or the other members.
        Event::Typing { from, conversation } => match conversation {
            ConversationKey::Pair(low, high) => vec![if low == from { high } else { low }],
            ConversationKey::Group(group_id) => group_members(state, group_id)
                .await?
                .into_iter()
                .filter(|member| *member != from)
                .collect(),
        },
        // The members as they are after the change; a removed member is told as well, unless
        // their account is gone (its sessions are ending).
        Event::Group { group_id, change } => {
            let mut members = group_members(state, group_id).await?;
            if let GroupChange::MemberRemoved(removed) = change {
                members.push(removed);
            }
            members
        }
        // Everyone who has the user as a contact, except those the user has blocked.
        Event::Presence { user_id, .. } => of_presence(state, &[user_id])
            .await?
            .remove(&user_id)
            .unwrap_or_default(),
        Event::SessionRevoked {
            user_id,
            session_id,
        } => return Ok(Audience::Session(user_id, session_id)),
        // The asker alone.
        Event::ChatbotRefusal { asker, .. } => vec![asker],
    };
    Ok(Audience::Users(users))
}

/// Who hears of the presence changes of each of `users` ([`Event::Presence`]): everyone who has
/// the user as a contact, except those the user has blocked. Users nobody hears of are left out.
/// One pair of statements for any number of users (`fanout::publish_presence`).
pub async fn of_presence(
    state: &AppState,
    users: &[UserId],
) -> Result<HashMap<UserId, Vec<UserId>>, AppError> {
    let mut conn = state.db.get().await?;
    let watchers = queries::contacts::owners_of(&mut conn, users).await?;
    let blocked: HashSet<(UserId, UserId)> = queries::blocks::blocks_by(&mut conn, users)
        .await?
        .into_iter()
        .collect();
    let mut audiences: HashMap<UserId, Vec<UserId>> = HashMap::new();
    for (user, watcher) in watchers {
        if !blocked.contains(&(user, watcher)) {
            audiences.entry(user).or_default().push(watcher);
        }
    }
    Ok(audiences)
}

/// The two parties of a private conversation; `None` for a group's.
fn pair_of(conversation: &ConversationRecord) -> Option<(UserId, UserId)> {
    match (
        conversation.group_id,
        conversation.user_low,
        conversation.user_high,
    ) {
        (None, Some(low), Some(high)) => Some((low, high)),
        _ => None,
    }
}

/// Everyone who receives a stored conversation's changes and read markers: both parties, or
/// the current members of the group.
async fn readers_of(
    conn: &mut DbConn,
    conversation: &ConversationRecord,
) -> Result<Vec<UserId>, AppError> {
    Ok(match (conversation.group_id, pair_of(conversation)) {
        (Some(group_id), _) => queries::groups::member_ids(conn, group_id).await?,
        (None, Some((low, high))) => chatbot::reachable([low, high]),
        (None, None) => Vec::new(),
    })
}

async fn group_members(state: &AppState, group_id: GroupId) -> Result<Vec<UserId>, AppError> {
    let mut conn = state.db.get().await?;
    Ok(queries::groups::member_ids(&mut conn, group_id).await?)
}
