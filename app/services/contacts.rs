//! A user's contact list: listing it with each contact's presence, adding a user by username,
//! removing one. Adding is one-way: nobody is asked or told.

use crate::{
    app::{
        models::{
            contacts::{Contact, ContactRecord},
            ids::UserId,
            users::UserRecord,
        },
        queries::{self, contacts::AddContactError},
        services::{
            permissions,
            presence::{self, handle::PresenceState},
        },
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// `owner`'s contacts, alphabetically, each with their presence as `owner` may see it.
pub async fn list(state: &AppState, owner: UserId) -> Result<Vec<Contact>, AppError> {
    let mut conn = state.db.get().await?;
    let contacts = queries::contacts::list(&mut conn, owner).await?;
    drop(conn);
    let users: Vec<UserId> = contacts
        .iter()
        .map(|(record, _)| record.contact_id)
        .collect();
    let last_seen = contacts
        .iter()
        .filter_map(|(_, user)| user.last_seen_at.map(|seen| (user.id, seen)))
        .collect();
    let states = presence::states(state, owner, users, last_seen).await?;
    Ok(contacts
        .into_iter()
        .zip(states)
        .map(|(contact, presence)| to_contact(contact, &presence))
        .collect())
}

/// Adds the user named `username` (folded) to `owner`'s contacts.
pub async fn add(state: &AppState, owner: UserId, username: &str) -> Result<Contact, AppError> {
    let mut conn = state.db.get().await?;
    let user = queries::users::find_by_username(&mut conn, username)
        .await?
        .ok_or_else(|| AppError::NotFound("no user has that username".into()))?;
    permissions::may_add_contact(owner, user.id)?;
    let record = queries::contacts::add(&mut conn, owner, user.id)
        .await
        .map_err(|err| match err {
            AddContactError::AlreadyContact => {
                AppError::Conflict("that user is already one of your contacts".into())
            }
            AddContactError::Database(err) => err.into(),
        })?;
    drop(conn);
    let last_seen = user
        .last_seen_at
        .map(|seen| (user.id, seen))
        .into_iter()
        .collect();
    let presence = presence::states(state, owner, vec![user.id], last_seen)
        .await?
        .pop()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no presence for the new contact")))?;
    Ok(to_contact((record, user), &presence))
}

/// Removes `contact` from `owner`'s contacts; 404 when it was not there.
pub async fn remove(state: &AppState, owner: UserId, contact: UserId) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    if !queries::contacts::remove(&mut conn, owner, contact).await? {
        return Err(AppError::NotFound(
            "that user is not one of your contacts".into(),
        ));
    }
    Ok(())
}

fn to_contact((record, user): (ContactRecord, UserRecord), presence: &PresenceState) -> Contact {
    Contact {
        online: presence.online,
        last_seen_at: presence.last_seen_at,
        added_at: record.added_at,
        user: user.into(),
    }
}
