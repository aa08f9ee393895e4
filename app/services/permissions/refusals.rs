//! The refusals the rules give, kept together: where telling a missing thing from a forbidden one
//! would leak something (a group one is not in, a block), both get the same words.

use crate::{
    app::models::{groups::Role, ids::UserId},
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

/// The refusal of an admin's action to a caller of `role` in the group (`None`: not in it).
pub fn not_admin(role: Option<Role>) -> AppError {
    match role {
        None => no_such_group(),
        Some(_) => AppError::Forbidden("only a group admin can do that".into()),
    }
}

/// Why nothing more is done for an account that has been deleted (a send racing its deletion).
pub fn account_deleted() -> AppError {
    AppError::Unauthorized("the account has been deleted".into())
}

/// Why a banned user cannot join (or be added to) a group, until an admin lifts the ban.
pub fn banned_from_group() -> AppError {
    AppError::Forbidden("banned from this group: an admin must lift the ban first".into())
}

/// A message one cannot read is reported exactly as a missing one.
pub fn no_such_message() -> AppError {
    AppError::NotFound("no such message".into())
}

/// The refusal of adding `user` to a group: the same words for a non-contact and for a user who
/// has blocked the adder, so the block cannot be told apart.
pub(super) fn not_addable(user: UserId) -> AppError {
    AppError::Forbidden(format!(
        "user {user} is not one of your contacts; only contacts can be added"
    ))
}

/// An attachment one cannot read is reported exactly as a missing one.
pub fn no_such_attachment() -> AppError {
    AppError::NotFound("no such attachment".into())
}
