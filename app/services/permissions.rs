//! Who may do what: send to, write to or read a conversation, add a contact, manage a group, see
//! someone's presence, fetch an attachment. The rules live here once; controllers and the message writer call them
//! (the writer gathers the facts for a whole batch in a few queries, then asks [`may_send`] of
//! each message; the other paths ask one at a time).

use std::collections::{HashMap, HashSet};

use diesel_async::AsyncPgConnection;

use crate::{
    app::{
        models::{
            attachments::AttachmentRecord,
            chatbot::CHATBOT_ID,
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

/// A group one is not in is reported exactly as a missing one.
pub fn no_such_group() -> AppError {
    AppError::NotFound("no such group".into())
}

/// The refusal of every private channel (send, reply, edit, react, typing) to a user one may not
/// reach: a stranger, or a user who has blocked the caller. The words are the same for both, so a
/// block cannot be told apart from having no contact.
pub fn no_private_channel() -> AppError {
    AppError::Forbidden(
        "you can message a user only when one of you has the other as a contact".into(),
    )
}

/// The private messaging rule without blocks: `other` exists, is not `sender`, and either of the
/// two has the other as a contact, unless `other` is the chatbot. Part of [`check_interaction`].
pub fn check_private(
    sender: UserId,
    other: UserId,
    other_exists: bool,
    related: bool,
) -> Result<(), AppError> {
    // Well-formed, but not allowed for this caller: 403, as the schema cannot rule it out.
    if other == sender {
        return Err(AppError::Forbidden("you cannot message yourself".into()));
    }
    if !other_exists {
        return Err(AppError::NotFound("no such user".into()));
    }
    if other != CHATBOT_ID && !related {
        return Err(no_private_channel());
    }
    Ok(())
}

/// The one rule for "may these two users interact privately", from facts read beforehand:
/// [`check_private`] and no block either way ([`check_unblocked`]). Every private channel asks
/// it — sends and replies (through [`may_send`]), edits and reactions
/// ([`may_change_privately`]), typing ([`may_write`]) and read markers ([`may_interact_privately`]).
pub fn check_interaction(
    actor: UserId,
    other: UserId,
    other_exists: bool,
    related: bool,
    blocks: &HashSet<(UserId, UserId)>,
) -> Result<(), AppError> {
    check_private(actor, other, other_exists, related)?;
    check_unblocked(actor, other, blocks)
}

/// [`check_interaction`] with its facts read now, on `conn`. Run inside a writing transaction it
/// sees every block and contact change committed before it.
pub async fn may_interact_privately(
    conn: &mut AsyncPgConnection,
    actor: UserId,
    other: UserId,
) -> Result<(), AppError> {
    let (exists, related) = queries::contacts::exists_and_related(conn, actor, other).await?;
    let blocks = queries::blocks::between(conn, actor, other).await?;
    check_interaction(actor, other, exists, related, &blocks.into_iter().collect())
}

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
    /// Which of the private recipients exist.
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

/// Adding a contact: anyone but oneself (well-formed, so 403 rather than 400).
pub fn may_add_contact(owner: UserId, other: UserId) -> Result<(), AppError> {
    if owner == other {
        return Err(AppError::Forbidden(
            "you cannot add yourself as a contact".into(),
        ));
    }
    Ok(())
}

/// The caller's role in a group; 404 when they are not a member (or the group does not exist).
pub async fn role_in(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> Result<Role, AppError> {
    queries::groups::role_of(conn, group_id, user_id)
        .await?
        .ok_or_else(no_such_group)
}

/// Renaming and adding members: admins only (404 for outsiders, 403 for plain members).
pub async fn require_admin(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> Result<(), AppError> {
    match role_in(conn, group_id, user_id).await? {
        Role::Admin => Ok(()),
        role => Err(not_admin(Some(role))),
    }
}

/// [`require_admin`] asked again inside the transaction that writes: takes the group's lock
/// (which every change of membership takes first), then reads the caller's membership row
/// `FOR SHARE`. An admin removed or demoted before this point is refused; a removal that comes
/// later waits for the write to commit.
pub async fn require_admin_locked(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> Result<(), AppError> {
    if queries::groups::lock(conn, group_id).await?.is_none() {
        return Err(no_such_group());
    }
    match queries::groups::role_of_locked(conn, group_id, user_id).await? {
        Some(Role::Admin) => Ok(()),
        role => Err(not_admin(role)),
    }
}

/// The refusal of an admin's action to a caller of `role` in the group (`None`: not in it).
pub fn not_admin(role: Option<Role>) -> AppError {
    match role {
        None => no_such_group(),
        Some(_) => AppError::Forbidden("only a group admin can do that".into()),
    }
}

/// Removing a member: an admin may remove anyone, a member only themselves (leaving).
pub async fn may_remove_member(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    caller: UserId,
    target: UserId,
) -> Result<(), AppError> {
    let caller_role = role_in(conn, group_id, caller).await?;
    if target != caller && caller_role != Role::Admin {
        return Err(AppError::Forbidden(
            "only an admin can remove other members".into(),
        ));
    }
    Ok(())
}

/// Why nothing more is done for an account that has been deleted (a send racing its deletion).
pub fn account_deleted() -> AppError {
    AppError::Unauthorized("the account has been deleted".into())
}

/// Banning from a group (and lifting a ban): admins only, and never oneself.
pub async fn may_ban(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    admin: UserId,
    target: UserId,
) -> Result<(), AppError> {
    require_admin(conn, group_id, admin).await?;
    if admin == target {
        return Err(AppError::Forbidden("you cannot ban yourself".into()));
    }
    Ok(())
}

/// Why a banned user cannot join (or be added to) a group, until an admin lifts the ban.
pub fn banned_from_group() -> AppError {
    AppError::Forbidden("banned from this group: an admin must lift the ban first".into())
}

/// Members are added from the adder's contacts: 403 unless every one of `users` is one.
pub async fn require_contacts(
    conn: &mut AsyncPgConnection,
    owner: UserId,
    users: &[UserId],
) -> Result<(), AppError> {
    let contacts = queries::contacts::contacts_among(conn, owner, users).await?;
    match users.iter().find(|user| !contacts.contains(user)) {
        Some(stranger) => Err(not_addable(*stranger)),
        None => Ok(()),
    }
}

/// Presence is shared with contacts only: of `users`, those whose online state `viewer` may see.
pub async fn presence_visible_to(
    conn: &mut AsyncPgConnection,
    viewer: UserId,
    users: &[UserId],
) -> Result<Vec<UserId>, AppError> {
    Ok(queries::contacts::contacts_among(conn, viewer, users).await?)
}

/// Of `users`, those who have blocked `viewer`: to the viewer they always look offline, with no
/// last-seen time, and their presence changes are not pushed to them.
pub async fn presence_hidden_from(
    conn: &mut AsyncPgConnection,
    viewer: UserId,
    users: &[UserId],
) -> Result<HashSet<UserId>, AppError> {
    if users.is_empty() {
        return Ok(HashSet::new());
    }
    let blockers = queries::blocks::blockers_among(conn, viewer, users).await?;
    Ok(blockers.into_iter().collect())
}

/// A message one cannot read is reported exactly as a missing one.
pub fn no_such_message() -> AppError {
    AppError::NotFound("no such message".into())
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

/// Blocking: anyone but oneself (well-formed, so 403 rather than 400); unknown users are 404.
pub fn may_block(blocker: UserId, blocked: UserId, blocked_exists: bool) -> Result<(), AppError> {
    if blocker == blocked {
        return Err(AppError::Forbidden("you cannot block yourself".into()));
    }
    if !blocked_exists {
        return Err(AppError::NotFound("no such user".into()));
    }
    Ok(())
}

/// The blocking rule of every private channel: nothing goes from a blocked user to the one who
/// blocked them, nor the other way while the block stands. The refusal tells the blocked user
/// nothing about the block: it reads exactly like a stranger's ([`no_private_channel`]).
pub fn check_unblocked(
    sender: UserId,
    other: UserId,
    blocks: &std::collections::HashSet<(UserId, UserId)>,
) -> Result<(), AppError> {
    if blocks.contains(&(sender, other)) {
        return Err(AppError::Forbidden(
            "you have blocked this user; unblock them to write to them".into(),
        ));
    }
    if blocks.contains(&(other, sender)) {
        return Err(no_private_channel());
    }
    Ok(())
}

/// The refusal of adding `user` to a group: the same words for a non-contact and for a user who
/// has blocked the adder, so the block cannot be told apart.
fn not_addable(user: UserId) -> AppError {
    AppError::Forbidden(format!(
        "user {user} is not one of your contacts; only contacts can be added"
    ))
}

/// Adding members: nobody who has blocked the adder (the refusal reads like a non-contact's).
pub async fn require_not_blocked_by(
    conn: &mut AsyncPgConnection,
    adder: UserId,
    users: &[UserId],
) -> Result<(), AppError> {
    let blockers = queries::blocks::blockers_among(conn, adder, users).await?;
    match blockers.first() {
        Some(blocker) => Err(not_addable(*blocker)),
        None => Ok(()),
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

/// An attachment one cannot read is reported exactly as a missing one.
pub fn no_such_attachment() -> AppError {
    AppError::NotFound("no such attachment".into())
}

/// Reading an attachment: before it is sent, its uploader only; once sent, whoever may read the
/// conversation of the message carrying it now (a party of the pair, a current member of the
/// group; the uploader too only as one of those). Anyone else is told it does not exist.
pub async fn may_read_attachment(
    conn: &mut AsyncPgConnection,
    user: UserId,
    attachment: &AttachmentRecord,
) -> Result<(), AppError> {
    let Some(conversation_id) = attachment.conversation_id else {
        return (attachment.uploader_id == user)
            .then_some(())
            .ok_or_else(no_such_attachment);
    };
    let conversation = queries::attachments::conversation(conn, conversation_id)
        .await?
        .ok_or_else(no_such_attachment)?;
    match may_read_stored(conn, user, &conversation).await {
        Err(AppError::NotFound(_)) => Err(no_such_attachment()),
        other => other.map(|_role| ()),
    }
}
