//! Deleting blobs nobody can reach any more. Rows go first, in the transactions that decide it
//! (a message deleted for everyone, or the sweep of uploads never sent); a trigger queues their
//! blob keys in the same transaction. Every instance then drains the queue: at once after a
//! delete, and every `ATTACHMENT_SWEEP_INTERVAL` (which also retries blobs the store failed to
//! delete). Keys are claimed with `FOR UPDATE SKIP LOCKED`, so instances never wait on each other
//! nor delete one blob twice.

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use diesel_async::{scoped_futures::ScopedFutureExt, AsyncConnection};

use crate::{
    app::{queries, state::AppState},
    pkg::utils::errors::AppError,
};

/// Rows handled per statement.
const BATCH: i64 = 100;

/// Starts this instance's sweeper; it stops with `shutdown`.
pub fn spawn(state: AppState, shutdown: CancellationToken) {
    tokio::spawn(
        async move {
            let mut tick = tokio::time::interval(state.config.attachments.sweep_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                if let Err(err) = sweep(&state).await {
                    tracing::warn!(error = %err, "sweeping attachments");
                }
            }
        }
        .instrument(tracing::info_span!("attachment_sweeper")),
    );
}

/// Drains the queue of blobs to delete in the background (after a message was deleted).
pub fn soon(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(err) = delete_queued(&state).await {
            tracing::warn!(error = %err, "deleting attachment blobs; the sweeper retries");
        }
    });
}

/// One round: uploads never sent in time are removed, then queued blobs deleted.
pub async fn sweep(state: &AppState) -> Result<(), AppError> {
    let ttl = state.config.attachments.unsent_ttl;
    let mut conn = state.db.get().await?;
    while queries::attachments::remove_unsent(&mut conn, ttl, BATCH).await? == BATCH as usize {}
    drop(conn);
    delete_queued(state).await
}

/// Deletes queued blobs until the queue is empty (of keys no other instance holds).
async fn delete_queued(state: &AppState) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    loop {
        let storage = state.attachments.storage.clone();
        let handled = conn
            .transaction::<_, AppError, _>(|conn| {
                async move {
                    let keys = queries::attachments::claim_blob_deletions(conn, BATCH).await?;
                    let mut deleted = Vec::with_capacity(keys.len());
                    for key in keys {
                        match storage.delete(&key).await {
                            Ok(()) => deleted.push(key),
                            Err(err) => tracing::warn!(error = %err, key, "deleting a blob"),
                        }
                    }
                    queries::attachments::forget_blob_deletions(conn, &deleted).await?;
                    Ok(deleted.len())
                }
                .scope_boxed()
            })
            .await?;
        if handled < BATCH as usize {
            return Ok(());
        }
    }
}
