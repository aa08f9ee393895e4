//! Between two users: whether they may interact privately (contacts, blocks, the chatbot), add or
//! block each other, and see each other's presence.

use std::collections::HashSet;

use diesel_async::AsyncPgConnection;

use crate::{
    app::{
        models::{chatbot::CHATBOT_ID, ids::UserId},
        queries,
    },
    pkg::utils::errors::AppError,
};

use super::no_private_channel;

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

/// Adding a contact: anyone but oneself (well-formed, so 403 rather than 400).
pub fn may_add_contact(owner: UserId, other: UserId) -> Result<(), AppError> {
    if owner == other {
        return Err(AppError::Forbidden(
            "you cannot add yourself as a contact".into(),
        ));
    }
    Ok(())
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
