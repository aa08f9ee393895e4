//! Contacts: the people a user keeps in their list.

use chrono::{DateTime, Utc};
use diesel::{Queryable, Selectable};
use poem_openapi::Object;

use super::{
    ids::UserId,
    users::{User, Username},
};
use crate::platform::database::schema::contacts;

/// One entry of a user's contact list.
#[derive(Debug, Clone, Object)]
pub struct Contact {
    pub user: User,
    /// Whether the contact has a connection open now.
    pub online: bool,
    /// When the contact was last connected; absent (never `null`) if never, or while online.
    #[oai(skip_serializing_if_is_none)]
    pub last_seen_at: Option<DateTime<Utc>>,
    pub added_at: DateTime<Utc>,
}

/// A row of `chat.contacts`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts, check_for_backend(diesel::pg::Pg))]
pub struct ContactRecord {
    pub owner_id: UserId,
    pub contact_id: UserId,
    pub added_at: DateTime<Utc>,
}

/// Body of `POST /contacts`.
#[derive(Debug, Object)]
pub struct AddContactRequest {
    /// The username to add, in any case.
    pub username: Username,
}
