//! Presence announcements, in batches.
//!
//! A reconnect storm takes thousands of users offline and online within a second (a rolling
//! deploy, an instance that died). Announced one by one, each change cost its own statements
//! (storing `last_seen_at`, reading who hears of it) and its own publish round trip, on the pool
//! and the cores the opening sockets need for their handshakes. One task per instance takes what
//! has queued instead (`announcer.rs`), as the message writer does with sends: it stores the
//! batch's offline times in one statement, reads every audience in one pair of statements and
//! publishes all the frames in one pipeline, in queue order, so a user's offline and online reach
//! their contacts in the order they happened. Under light load a batch is one change and nothing
//! waits.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::announcer::MAX_BATCH;
use crate::{
    app::{
        models::{ids::UserId, presence::PresenceChange},
        queries,
        services::fanout,
        state::AppState,
    },
    pkg::utils::{batch_queue::Job, metrics as names},
};

/// Starts the announcing task (once; later calls do nothing). It runs for as long as the process
/// does, not only until shutdown: the connections that close while the server drains are
/// announced offline too.
pub(super) fn start(state: AppState) {
    let announcing = state.clone();
    state
        .presence
        .announcer
        .queue
        .start(MAX_BATCH, move |batch| {
            let state = announcing.clone();
            async move { announce_batch(&state, batch).await }
        });
}

/// Stores the batch's offline times, then publishes every change; tells each caller the outcome.
/// A `last_seen_at` that could not be stored is logged and the change announced all the same, as
/// it was announced before batching.
async fn announce_batch(state: &AppState, jobs: Vec<Job<PresenceChange, bool>>) {
    metrics::histogram!(names::PRESENCE_BATCH_SIZE).record(jobs.len() as f64);
    let changes: Vec<PresenceChange> = jobs.iter().map(|job| job.item).collect();
    store_last_seen(state, &changes).await;
    let announced = fanout::publish_presence(state, &changes)
        .await
        .inspect_err(|err| tracing::warn!(error = %err, "presence announcements skipped"))
        .unwrap_or(false);
    for job in jobs {
        let _ = job.done.send(announced);
    }
}

/// Stores when each user of the batch who went offline was last seen.
async fn store_last_seen(state: &AppState, changes: &[PresenceChange]) {
    let seen = latest_offline(changes);
    if seen.is_empty() {
        return;
    }
    let stored = match state.db.get().await {
        Ok(mut conn) => queries::users::set_last_seen(&mut conn, &seen)
            .await
            .map_err(|err| err.to_string()),
        Err(err) => Err(err.to_string()),
    };
    if let Err(err) = stored {
        tracing::warn!(error = %err, "storing last_seen_at failed");
    }
}

/// Each user who went offline in `changes`, once, with the latest time (one statement cannot
/// update a row twice).
fn latest_offline(changes: &[PresenceChange]) -> Vec<(UserId, DateTime<Utc>)> {
    let mut latest: HashMap<UserId, DateTime<Utc>> = HashMap::new();
    for change in changes.iter().filter(|change| !change.online) {
        if let Some(at) = change.last_seen_at {
            latest
                .entry(change.user_id)
                .and_modify(|seen| *seen = (*seen).max(at))
                .or_insert(at);
        }
    }
    latest.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offline(user: UserId, at_ms: i64) -> PresenceChange {
        PresenceChange {
            user_id: user,
            online: false,
            last_seen_at: DateTime::from_timestamp_millis(at_ms),
        }
    }

    #[test]
    fn a_user_offline_twice_in_a_batch_is_stored_once_with_the_later_time() {
        let (alice, bob) = (UserId(uuid::Uuid::new_v4()), UserId(uuid::Uuid::new_v4()));
        let online = PresenceChange {
            user_id: bob,
            online: true,
            last_seen_at: None,
        };
        let mut seen = latest_offline(&[
            offline(alice, 2_000),
            online,
            offline(alice, 1_000),
            offline(bob, 500),
        ]);
        seen.sort_by_key(|(_, at)| *at);
        assert_eq!(
            seen,
            vec![
                (bob, DateTime::from_timestamp_millis(500).unwrap()),
                (alice, DateTime::from_timestamp_millis(2_000).unwrap()),
            ]
        );
    }
}
