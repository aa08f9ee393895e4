//! The broker's channel names. Every user has one channel, `user:<id>`: the fan-out publishes to
//! it and each of the user's sockets subscribes to it (tagged with its login session).

use super::ids::UserId;

/// The broker channel of a user.
pub fn user_channel(user_id: UserId) -> String {
    format!("user:{user_id}")
}
