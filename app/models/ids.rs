//! Typed ids, so a user id cannot be passed where a session id is expected.
//! Each is a UUID on the wire and in Postgres.

use diesel_derive_newtype::DieselNewType;
use poem_openapi::NewType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Identifies a user.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    NewType,
    DieselNewType,
    Serialize,
    Deserialize,
)]
#[oai(to_header = false, from_multipart = false)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

/// Identifies one login session (one device); every token names its session.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    NewType,
    DieselNewType,
    Serialize,
    Deserialize,
)]
#[oai(to_header = false, from_multipart = false)]
#[serde(transparent)]
pub struct SessionId(pub Uuid);

impl UserId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl SessionId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
