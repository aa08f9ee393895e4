//! Logic shared by the REST and WebSocket controllers, so both walk the same code path: sending a
//! message (authorise, store, fan out) and publishing live events to users.

pub mod events;
pub mod messaging;
