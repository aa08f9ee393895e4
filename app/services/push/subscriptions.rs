//! A login session's push subscriptions: added after the user allows notifications, listed, and
//! removed by the client, by the push service (404/410, see `worker`) or with the session.

use chrono::Utc;
use url::Url;

use crate::{
    app::{
        models::{
            auth::Caller,
            ids::PushSubscriptionId,
            push::{PushSubscription, SubscribeRequest, SubscriptionRecord},
        },
        queries,
        state::AppState,
    },
    pkg::utils::errors::AppError,
    platform::push::encryption::SubscriberKeys,
};

/// Longest endpoint URL accepted (push services' are a few hundred bytes).
const MAX_ENDPOINT_LEN: usize = 2048;

/// Stores a subscription for the caller's session after checking its endpoint and keys.
pub async fn subscribe(
    state: &AppState,
    caller: Caller,
    request: SubscribeRequest,
) -> Result<PushSubscription, AppError> {
    let refused = |reason: &str| AppError::BadRequest(format!("endpoint {reason}"));
    if request.endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(refused("is too long"));
    }
    let endpoint: Url = request
        .endpoint
        .parse()
        .map_err(|_| refused("must be an absolute URL"))?;
    SubscriberKeys::parse(&request.keys.p256dh, &request.keys.auth)
        .map_err(|err| AppError::BadRequest(format!("{} {}", err.field, err.reason)))?;
    state
        .push
        .sender
        .check_endpoint(&endpoint)
        .await
        .map_err(|refusal| refused(&refusal.to_string()))?;
    let record = SubscriptionRecord {
        id: PushSubscriptionId::new_random(),
        user_id: caller.user_id,
        session_id: caller.session_id,
        endpoint: request.endpoint,
        p256dh: request.keys.p256dh,
        auth: request.keys.auth,
        created_at: Utc::now(),
    };
    let mut conn = state.db.get().await?;
    let stored = queries::push::subscribe(&mut conn, &record).await?;
    Ok(stored.into())
}

/// The caller's session's subscriptions.
pub async fn list(state: &AppState, caller: Caller) -> Result<Vec<PushSubscription>, AppError> {
    let mut conn = state.db.get().await?;
    let records = queries::push::of_session(&mut conn, caller.session_id).await?;
    Ok(records.into_iter().map(PushSubscription::from).collect())
}

/// Removes one of the caller's session's subscriptions (404 for any other).
pub async fn unsubscribe(
    state: &AppState,
    caller: Caller,
    id: PushSubscriptionId,
) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    if !queries::push::unsubscribe(&mut conn, caller.session_id, id).await? {
        return Err(AppError::NotFound("no such push subscription".into()));
    }
    Ok(())
}
