//! Whether the sessions behind requests are live, read in batches.
//!
//! Every request and every socket opened is checked against Postgres (`services::sessions`), so
//! that a logout takes effect at once. During a reconnect storm that was two statements per
//! socket, each on its own pooled connection: the REST request for a ticket and the upgrade. One
//! task per instance takes the checks that have queued instead (up to [`MAX_BATCH`]) and answers
//! them all with one read, and one write for those sessions whose recorded use is stale. When the
//! server is quiet a batch is one check and nothing waits.
//!
//! One batch at a time means a slow batch holds up the checks behind it, so neither statement
//! waits for a row lock: the read takes none, and the write skips sessions whose rows another
//! transaction holds (`queries::auth::touch_sessions`). A batch waits only for a pooled
//! connection, as each check did before.

pub mod handle;

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};

use self::handle::Checked;
use crate::{
    app::{
        models::{auth::Caller, ids::SessionId, users::UserRecord},
        queries,
        state::AppState,
    },
    pkg::utils::{batch_queue::Job, errors::AppError},
};

/// The most checks answered by one read.
const MAX_BATCH: usize = 512;

/// How stale a session's `last_used_at` may get before a use writes it again: the list of
/// devices needs no finer time, and most requests then cost no write.
const LAST_USED_PRECISION: Duration = Duration::from_secs(60);

/// The caller's user if the caller's session is live, none if it is not; records the use (see
/// [`LAST_USED_PRECISION`]).
pub async fn check(state: &AppState, caller: Caller) -> Checked {
    state
        .live_sessions
        .queue
        .submit(caller)
        .await
        .unwrap_or_else(|| Err(AppError::Unavailable("the server is stopping".into())))
}

/// Starts the checking task (once). It runs for as long as the process does: requests are
/// served until the very end of a shutdown.
pub fn start(state: AppState) {
    let checking = state.clone();
    state.live_sessions.queue.start(MAX_BATCH, move |batch| {
        let state = checking.clone();
        async move { check_batch(&state, batch).await }
    });
}

/// Answers every check of the batch from one read (and one write).
async fn check_batch(state: &AppState, jobs: Vec<Job<Caller, Checked>>) {
    let ids: Vec<SessionId> = jobs.iter().map(|job| job.item.session_id).collect();
    let read = read_live(state, &ids).await;
    for job in jobs {
        let answer = match &read {
            Ok(live) => Ok(user_of(live, job.item)),
            Err(failure) => Err(failure.to_error()),
        };
        let _ = job.done.send(answer);
    }
}

/// The caller's user, if its session is among the live ones and is the caller's own.
fn user_of(live: &HashMap<SessionId, UserRecord>, caller: Caller) -> Option<UserRecord> {
    live.get(&caller.session_id)
        .filter(|user| user.id == caller.user_id)
        .cloned()
}

/// The live ones of `ids` with their users; records the use of those whose `last_used_at` is
/// stale.
async fn read_live(
    state: &AppState,
    ids: &[SessionId],
) -> Result<HashMap<SessionId, UserRecord>, Failure> {
    let mut conn = state.db.get().await.map_err(|err| {
        // Converting logs the cause, once for the batch.
        Failure::Unavailable(AppError::from(err).to_string())
    })?;
    let rows = queries::auth::live_sessions_with_users(&mut conn, ids)
        .await
        .map_err(|err| Failure::Database(err.to_string()))?;
    let now = Utc::now();
    let stale: Vec<SessionId> = rows
        .iter()
        .filter(|(_, _, last_used)| is_stale(now, *last_used))
        .map(|(id, _, _)| *id)
        .collect();
    if !stale.is_empty() {
        queries::auth::touch_sessions(&mut conn, &stale)
            .await
            .map_err(|err| Failure::Database(err.to_string()))?;
    }
    Ok(rows.into_iter().map(|(id, user, _)| (id, user)).collect())
}

fn is_stale(now: DateTime<Utc>, last_used: DateTime<Utc>) -> bool {
    (now - last_used)
        .to_std()
        .is_ok_and(|age| age > LAST_USED_PRECISION)
}

/// Why a batch could not be checked; every check of it gets the same answer.
enum Failure {
    /// No connection: `unavailable`.
    Unavailable(String),
    /// A statement failed: an internal error (its cause is logged when answered).
    Database(String),
}

impl Failure {
    fn to_error(&self) -> AppError {
        match self {
            Failure::Unavailable(message) => AppError::Unavailable(message.clone()),
            Failure::Database(cause) => {
                AppError::internal(anyhow::anyhow!("checking sessions: {cause}"))
            }
        }
    }
}
