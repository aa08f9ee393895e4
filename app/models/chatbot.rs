//! The chatbot's identity. It is a user like any other (its row is created by a migration), with
//! a fixed id and never a connection of its own.

use uuid::Uuid;

use super::ids::UserId;

/// The chatbot's user id, fixed by its migration.
pub const CHATBOT_ID: UserId = UserId(Uuid::from_u128(0xb0));
/// What a group message must start with to be answered.
pub const MENTION: &str = "@chatbot";

/// Those of `users` that pushes can reach: all but the chatbot, which has no connections.
pub fn reachable(users: impl IntoIterator<Item = UserId>) -> Vec<UserId> {
    users
        .into_iter()
        .filter(|user| *user != CHATBOT_ID)
        .collect()
}
