//! `/api/v1/contacts*`: a user's contact list.
//!
//! `online` and `last_seen_at` come from the presence registry: a contact is online while any of
//! their connections is open, on any instance.

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{
            contacts::{AddContactRequest, Contact},
            ids::UserId,
        },
        services::contacts,
        state::AppState,
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
        Ok(Json(contacts::list(&state, auth.0.user_id).await?))
    }

    /// Add a user to my contacts by username.
    #[oai(path = "/", method = "post", operation_id = "addContact")]
    async fn add(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<AddContactRequest>,
    ) -> Result<ContactAdded, AppError> {
        let username = body.0.username.folded();
        let contact = contacts::add(&state, auth.0.user_id, &username).await?;
        Ok(ContactAdded::Created(Json(contact)))
    }

    /// Remove a user from my contacts.
    #[oai(path = "/:user_id", method = "delete", operation_id = "removeContact")]
    async fn remove(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Path<UserId>,
    ) -> Result<ContactRemoved, AppError> {
        contacts::remove(&state, auth.0.user_id, user_id.0).await?;
        Ok(ContactRemoved::NoContent)
    }
}
