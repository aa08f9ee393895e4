//! `/api/v1/push/…`: the VAPID public key and the caller's login session's Web Push
//! subscriptions. What is pushed and when is `services::push`.

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{
            ids::PushSubscriptionId,
            push::{PushSubscription, SubscribeRequest, VapidPublicKey},
        },
        services::push::subscriptions,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The push routes.
#[derive(Default)]
pub struct PushApi;

#[derive(ApiResponse)]
enum Subscribed {
    /// Stored; pushes go to it while this login session lasts.
    #[oai(status = 201)]
    Created(Json<PushSubscription>),
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/v1/push", tag = "ApiTags::Push")]
impl PushApi {
    /// The server's VAPID public key: pass it as `applicationServerKey` to
    /// `pushManager.subscribe`.
    #[oai(
        path = "/vapid-public-key",
        method = "get",
        operation_id = "vapidPublicKey"
    )]
    async fn vapid_public_key(&self, state: Data<&AppState>) -> Json<VapidPublicKey> {
        Json(VapidPublicKey {
            public_key: state.push.vapid.public_key().to_owned(),
        })
    }

    /// Subscribe this login session to Web Push with a browser's `PushSubscription`. The
    /// endpoint must be `https://` and resolve to public addresses only; `keys.p256dh` must be
    /// a P-256 point and `keys.auth` 16 bytes (400 naming the field otherwise).
    #[oai(
        path = "/subscriptions",
        method = "post",
        operation_id = "subscribePush"
    )]
    async fn subscribe(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<SubscribeRequest>,
    ) -> Result<Subscribed, AppError> {
        let subscription = subscriptions::subscribe(&state, auth.0, body.0).await?;
        Ok(Subscribed::Created(Json(subscription)))
    }

    /// This login session's subscriptions.
    #[oai(
        path = "/subscriptions",
        method = "get",
        operation_id = "listPushSubscriptions"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<PushSubscription>>, AppError> {
        Ok(Json(subscriptions::list(&state, auth.0).await?))
    }

    /// Remove one of this login session's subscriptions.
    #[oai(
        path = "/subscriptions/:subscription_id",
        method = "delete",
        operation_id = "unsubscribePush"
    )]
    async fn unsubscribe(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        subscription_id: Path<PushSubscriptionId>,
    ) -> Result<Done, AppError> {
        subscriptions::unsubscribe(&state, auth.0, subscription_id.0).await?;
        Ok(Done::NoContent)
    }
}
