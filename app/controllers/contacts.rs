//! `/api/v1/contacts*`: a user's contact list.
//!
//! `online` and `last_seen_at` come from the presence registry: a contact is online while any of
//! their connections is open, on any instance.

use crate::app::controllers::bearer::BearerAuth;
use crate::app::state::AppState;
use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use super::ApiTags;
use crate::{
    app::{
        models::{
            contacts::{AddContactRequest, Contact, ContactRecord},
            ids::UserId,
            users::UserRecord,
        },
        queries::{self, contacts::AddContactError},
        services::{
            permissions,
            presence::{self, handle::PresenceState},
        },
    },
    pkg::utils::errors::AppError,
};

/// The contact routes.
#[derive(Default)]
pub struct ContactsApi;

#[derive(ApiResponse)]
enum ContactAdded {
    /// The new contact.
    #[oai(status = 201)]
    Created(Json<Contact>),
}

#[derive(ApiResponse)]
enum ContactRemoved {
    /// The contact is no longer in the list.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/v1/contacts", tag = "ApiTags::Contacts")]
impl ContactsApi {
    /// My contacts, alphabetically.
    #[oai(path = "/", method = "get", operation_id = "listContacts")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<Contact>>, AppError> {
        let mut conn = state.db.get().await?;
        let contacts = queries::contacts::list(&mut conn, auth.0.user_id).await?;
        drop(conn);
        let users: Vec<UserId> = contacts
            .iter()
            .map(|(record, _)| record.contact_id)
            .collect();
        let last_seen = contacts
            .iter()
            .filter_map(|(_, user)| user.last_seen_at.map(|seen| (user.id, seen)))
            .collect();
        let states = presence::states(&state, auth.0.user_id, users, last_seen).await?;
        Ok(Json(
            contacts
                .into_iter()
                .zip(states)
                .map(|(contact, presence)| to_contact(contact, &presence))
                .collect(),
        ))
    }

    /// Add a user to my contacts by username.
    #[oai(path = "/", method = "post", operation_id = "addContact")]
    async fn add(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<AddContactRequest>,
    ) -> Result<ContactAdded, AppError> {
        let mut conn = state.db.get().await?;
        let user = queries::users::find_by_username(&mut conn, &body.0.username.folded())
            .await?
            .ok_or_else(|| AppError::NotFound("no user has that username".into()))?;
        permissions::may_add_contact(auth.0.user_id, user.id)?;
        let record = queries::contacts::add(&mut conn, auth.0.user_id, user.id)
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
        let presence = presence::states(&state, auth.0.user_id, vec![user.id], last_seen)
            .await?
            .pop()
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("no presence for the new contact"))
            })?;
        Ok(ContactAdded::Created(Json(to_contact(
            (record, user),
            &presence,
        ))))
    }

    /// Remove a user from my contacts.
    #[oai(path = "/:user_id", method = "delete", operation_id = "removeContact")]
    async fn remove(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Path<UserId>,
    ) -> Result<ContactRemoved, AppError> {
        let mut conn = state.db.get().await?;
        if !queries::contacts::remove(&mut conn, auth.0.user_id, user_id.0).await? {
            return Err(AppError::NotFound(
                "that user is not one of your contacts".into(),
            ));
        }
        Ok(ContactRemoved::NoContent)
    }
}

fn to_contact((record, user): (ContactRecord, UserRecord), presence: &PresenceState) -> Contact {
    Contact {
        online: presence.online,
        last_seen_at: presence.last_seen_at,
        added_at: record.added_at,
        user: user.into(),
    }
}
