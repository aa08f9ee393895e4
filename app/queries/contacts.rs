//! SQL for `chat.contacts`.

use diesel::{prelude::*, result::DatabaseErrorKind};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    app::models::{contacts::ContactRecord, ids::UserId, users::UserRecord},
    platform::database::schema::{contacts, users},
};

/// Why a contact could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddContactError {
    #[error("already a contact")]
    AlreadyContact,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Adds `contact_id` to `owner_id`'s list.
pub async fn add(
    conn: &mut AsyncPgConnection,
    owner_id: UserId,
    contact_id: UserId,
) -> Result<ContactRecord, AddContactError> {
    diesel::insert_into(contacts::table)
        .values((
            contacts::owner_id.eq(owner_id),
            contacts::contact_id.eq(contact_id),
        ))
        .returning(ContactRecord::as_returning())
        .get_result(conn)
        .await
        .map_err(|err| match err {
            diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AddContactError::AlreadyContact
            }
            other => AddContactError::Database(other),
        })
}

/// `owner_id`'s contacts with their users, alphabetically by username.
pub async fn list(
    conn: &mut AsyncPgConnection,
    owner_id: UserId,
) -> QueryResult<Vec<(ContactRecord, UserRecord)>> {
    contacts::table
        .inner_join(users::table.on(users::id.eq(contacts::contact_id)))
        .filter(contacts::owner_id.eq(owner_id))
        .order(super::users::lower(users::username))
        .select((ContactRecord::as_select(), UserRecord::as_select()))
        .load(conn)
        .await
}

/// Removes a contact; false when it was not in the list.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    owner_id: UserId,
    contact_id: UserId,
) -> QueryResult<bool> {
    let deleted = diesel::delete(contacts::table.find((owner_id, contact_id)))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}

/// Those of `candidates` that are in `owner_id`'s contact list.
pub async fn contacts_among(
    conn: &mut AsyncPgConnection,
    owner_id: UserId,
    candidates: &[UserId],
) -> QueryResult<Vec<UserId>> {
    contacts::table
        .filter(contacts::owner_id.eq(owner_id))
        .filter(contacts::contact_id.eq_any(candidates))
        .select(contacts::contact_id)
        .load(conn)
        .await
}

/// Whether user `b` exists, and whether `a` has `b` as a contact or `b` has `a` (the rule for who
/// may message whom), in one query.
pub async fn exists_and_related(
    conn: &mut AsyncPgConnection,
    a: UserId,
    b: UserId,
) -> QueryResult<(bool, bool)> {
    diesel::select((
        diesel::dsl::exists(users::table.find(b)),
        diesel::dsl::exists(
            contacts::table.filter(
                contacts::owner_id
                    .eq(a)
                    .and(contacts::contact_id.eq(b))
                    .or(contacts::owner_id.eq(b).and(contacts::contact_id.eq(a))),
            ),
        ),
    ))
    .get_result(conn)
    .await
}

/// Everyone who has one of `user_ids` in their contact list (those who see that user's
/// presence), as `(user, owner of the contact)` pairs.
pub async fn owners_of(
    conn: &mut AsyncPgConnection,
    user_ids: &[UserId],
) -> QueryResult<Vec<(UserId, UserId)>> {
    contacts::table
        .filter(contacts::contact_id.eq_any(user_ids))
        .select((contacts::contact_id, contacts::owner_id))
        .load(conn)
        .await
}
