//! The close codes a connection ends with, beyond the standard ones the protocol defines.

/// Normal closure.
pub const NORMAL: u16 = 1000;
/// The server is shutting down.
pub const GOING_AWAY: u16 = 1001;
/// A text frame that is not valid UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// A frame or message over the size limit (see `ws::MAX_WS_MESSAGE_BYTES`).
pub const TOO_BIG: u16 = 1009;
/// Redis (live events) is unavailable.
pub const UNAVAILABLE: u16 = 1011;
/// Nothing was received for two heartbeat intervals.
pub const HEARTBEAT_TIMEOUT: u16 = 4000;
/// The session was logged out.
pub const SESSION_REVOKED: u16 = 4001;
/// The client read too slowly; reconnect and `sync`.
pub const TOO_SLOW: u16 = 4008;

/// The reason sent with a close code, in words.
pub fn reason(code: u16) -> &'static str {
    match code {
        GOING_AWAY => "server shutting down",
        HEARTBEAT_TIMEOUT => "heartbeat timeout",
        SESSION_REVOKED => "session revoked",
        TOO_SLOW => "client too slow; reconnect and sync",
        UNAVAILABLE => "live events unavailable",
        INVALID_PAYLOAD => "text frame is not valid UTF-8",
        TOO_BIG => "frame or message too big",
        _ => "",
    }
}
