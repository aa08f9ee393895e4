//! Conversations and their messages: sending (the batch form the message writer asks of each
//! message), typing, reading, changing a stored message, muting.

use std::collections::{HashMap, HashSet};

use diesel_async::AsyncPgConnection;

use crate::{
    app::{
        models::{
            frames::Target,
            groups::Role,
            ids::{GroupId, UserId},
            messages::{ConversationRecord, MessageRecord},
            mutes::MuteTarget,
        },
        queries::{self, messages::ConversationKey},
    },
    pkg::utils::errors::AppError,
};

use super::{check_interaction, may_interact_privately, no_such_group, no_such_message, role_in};

/// Whether the messaging rules still have to be checked for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// A user's message: the contact and membership rules apply.
    Rules,
    /// Authorised already: the chatbot answering where it was asked.
    Trusted,
}

/// What the send rules need to know about a batch of messages, read in one pass.
#[derive(Default)]
pub struct SendFacts {
    /// Which of the private recipients (and the senders) have accounts that are not deleted.
    pub existing: HashSet<UserId>,
    /// Contact links among the senders and recipients, as (owner, contact).
    pub links: HashSet<(UserId, UserId)>,
    /// Blocks among the senders and recipients, as (blocker, blocked).
    pub blocks: HashSet<(UserId, UserId)>,
    /// The current members of each group written to.
    pub members: HashMap<GroupId, Vec<UserId>>,
}

/// The send rule: a private message needs [`check_private`], a group message membership (a
/// non-member is told the group does not exist). Gives the conversation it goes to.
pub fn may_send(
    facts: &SendFacts,
    sender: UserId,
    target: Target,
    authority: Authority,
) -> Result<ConversationKey, AppError> {
    let checked = authority == Authority::Rules;
    match target {
        Target::User(other) => {
            if checked {
                let related = facts.links.contains(&(sender, other))
                    || facts.links.contains(&(other, sender));
                let exists = facts.existing.contains(&other);
                check_interaction(sender, other, exists, related, &facts.blocks)?;
            }
            Ok(ConversationKey::pair(sender, other))
        }
        Target::Group(group_id) => {
            let is_member = facts
                .members
                .get(&group_id)
                .is_some_and(|members| members.contains(&sender));
            if checked && !is_member {
                return Err(no_such_group());
            }
            Ok(ConversationKey::Group(group_id))
        }
    }
}

/// Checks that `user` may write to the conversation: the rule for `typing` (messages go through
/// [`may_send`], with the same rules).
pub async fn may_write(
    conn: &mut AsyncPgConnection,
    user: UserId,
    target: Target,
) -> Result<ConversationKey, AppError> {
    match target {
        Target::User(other) => {
            may_interact_privately(conn, user, other).await?;
            Ok(ConversationKey::pair(user, other))
        }
        Target::Group(group_id) => member_of(conn, user, group_id).await,
    }
}

/// The group's conversation, if `user` is a member of the group.
async fn member_of(
    conn: &mut AsyncPgConnection,
    user: UserId,
    group_id: GroupId,
) -> Result<ConversationKey, AppError> {
    queries::groups::role_of(conn, group_id, user)
        .await?
        .ok_or_else(no_such_group)?;
    Ok(ConversationKey::Group(group_id))
}

/// Checks that `user` may read the conversation. A private conversation is always one's own to
/// read (it may be empty); a group needs membership.
pub async fn may_read(
    conn: &mut AsyncPgConnection,
    user: UserId,
    target: Target,
) -> Result<ConversationKey, AppError> {
    match target {
        Target::User(other) => Ok(ConversationKey::pair(user, other)),
        Target::Group(group_id) => member_of(conn, user, group_id).await,
    }
}

/// Checks that `user` may read a stored conversation now: a party of the private pair, or a
/// current member of the group. Anyone else is told the message does not exist. Gives the
/// caller's role in a group. The membership row is read `FOR SHARE`: inside a writing transaction
/// a removal racing the write either commits first (and is seen) or waits for the write's commit.
pub async fn may_read_stored(
    conn: &mut AsyncPgConnection,
    user: UserId,
    conversation: &ConversationRecord,
) -> Result<Option<Role>, AppError> {
    match conversation.group_id {
        Some(group_id) => queries::groups::role_of_locked(conn, group_id, user)
            .await?
            .map(Some)
            .ok_or_else(no_such_message),
        None if conversation.user_low == Some(user) || conversation.user_high == Some(user) => {
            Ok(None)
        }
        None => Err(no_such_message()),
    }
}

/// [`may_read_stored`] from members read beforehand (the message writer's check pass): a party of
/// the private pair, or one of the group's `members`.
pub fn can_read_with(
    members: &HashMap<GroupId, Vec<UserId>>,
    user: UserId,
    conversation: &ConversationRecord,
) -> bool {
    match conversation.group_id {
        Some(group_id) => members
            .get(&group_id)
            .is_some_and(|members| members.contains(&user)),
        None => conversation.user_low == Some(user) || conversation.user_high == Some(user),
    }
}

/// A change to a stored message, for [`may_change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Edit,
    Delete,
    React,
}

/// Every rule for changing a stored message, asked inside the change's transaction with the
/// message's row locked as it is now (`message`), so a racing delete, removal or block is seen:
/// - only a reader of the conversation (404 otherwise, as for a missing message);
/// - editing: the sender only, never a deleted message; reacting: never to a deleted message (a
///   tombstone stays empty);
/// - in a private conversation, edits and reactions are private channels: the two users must
///   still be allowed to interact ([`may_interact_privately`]), so a block stops them;
/// - deleting for everyone: its sender, or an admin of the group it was sent in (a deleted
///   message may be deleted again, which changes nothing).
pub async fn may_change(
    conn: &mut AsyncPgConnection,
    user: UserId,
    message: &MessageRecord,
    conversation: &ConversationRecord,
    change: Change,
) -> Result<(), AppError> {
    let role = may_read_stored(conn, user, conversation).await?;
    match change {
        Change::Delete => {
            return if message.sender_id == user || role == Some(Role::Admin) {
                Ok(())
            } else {
                Err(AppError::Forbidden(
                    "only the sender or a group admin can delete a message".into(),
                ))
            };
        }
        Change::Edit if message.sender_id != user => {
            return Err(AppError::Forbidden(
                "only the sender can edit a message".into(),
            ));
        }
        Change::Edit if message.deleted => {
            return Err(AppError::Forbidden(
                "a deleted message cannot be edited".into(),
            ));
        }
        Change::React if message.deleted => {
            return Err(AppError::Forbidden(
                "a deleted message takes no reactions".into(),
            ));
        }
        Change::Edit | Change::React => {}
    }
    match (
        conversation.group_id,
        conversation.user_low,
        conversation.user_high,
    ) {
        (None, Some(low), Some(high)) => {
            let peer = if low == user { high } else { low };
            may_interact_privately(conn, user, peer).await
        }
        _ => Ok(()),
    }
}

/// Muting a conversation: a group only by its members (404 for others, as for a missing group);
/// a private conversation with any existing user but oneself.
pub async fn may_mute(
    conn: &mut AsyncPgConnection,
    user: UserId,
    target: MuteTarget,
) -> Result<(), AppError> {
    match target {
        MuteTarget::Group(group_id) => role_in(conn, group_id, user).await.map(drop),
        MuteTarget::User(other) if other == user => {
            Err(AppError::Forbidden("you cannot mute yourself".into()))
        }
        MuteTarget::User(other) => match queries::users::find_by_id(conn, other).await? {
            Some(_) => Ok(()),
            None => Err(AppError::NotFound("no such user".into())),
        },
    }
}
