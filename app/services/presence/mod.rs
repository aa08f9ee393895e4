//! Presence: a user is online while at least one of their connections is open, on any instance.
//!
//! Connections are leases in Redis (`platform/cache/liveness.rs`). This instance renews the leases
//! of its own connections every half heartbeat interval; a lease lives 1.5 intervals; every
//! instance sweeps expired leases every quarter interval. So if an instance dies without cleaning
//! up, its users are shown offline within 2 × the heartbeat interval, by a surviving instance.
//! Only real transitions are announced: contacts get one `presence` push when a user comes online
//! and one when they go offline (with `last_seen_at`, also stored in Postgres). Going offline is
//! recorded in Redis as owed an announcement in the same script that takes the user offline, and
//! settled once the push is sent: if the instance dies in between, any instance's sweep announces
//! it two heartbeat intervals later.

mod announcements;
mod announcer;
pub mod handle;
mod leases;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use self::handle::{ConnectionLease, PresenceState};
use crate::{
    app::{
        models::{ids::UserId, presence::PresenceChange},
        queries,
        services::permissions,
        state::AppState,
    },
    pkg::utils::{errors::AppError, metrics as names},
    platform::cache::liveness::{LeaseStep, Transition, WentOffline},
};

/// Registers a new connection; announces the user online if it is their first. The lease is
/// this instance's from here on, even when Redis could not be told yet: the next renewal takes
/// it (and announces the user then), and `disconnected` ends it.
pub async fn connected(state: &AppState, user_id: UserId) -> ConnectionLease {
    let presence = &state.presence;
    let lease = Uuid::new_v4().simple().to_string();
    presence.local().insert(lease.clone(), user_id);
    let step = LeaseStep::Take {
        owner: user_id.to_string(),
        lease: lease.clone(),
    };
    // Otherwise there is nothing to announce, or the step may not have run (the batch's task
    // logged why).
    if presence.leases.apply(step).await == Some(Transition::CameOnline) {
        announce(state, user_id, true, None).await;
    }
    ConnectionLease { user_id, lease }
}

/// Unregisters a connection; announces the user offline if it was their last.
pub async fn disconnected(state: &AppState, lease: ConnectionLease) {
    let presence = &state.presence;
    presence.local().remove(&lease.lease);
    let step = LeaseStep::End {
        owner: lease.user_id.to_string(),
        lease: lease.lease,
    };
    match presence.leases.apply(step).await {
        Some(Transition::WentOffline(offline)) => went_offline(state, offline, Debt::Settle).await,
        Some(_) => {}
        // Either the step did not run (the lease expires and a sweep announces the user
        // offline) or its answer was lost (the announcement stays owed, and is taken up).
        // The batch's task logged why.
        None => {}
    }
}

/// Online state and last-seen time of those of `user_ids` that `viewer` has as contacts;
/// the others are left out.
pub async fn of_contacts(
    state: &AppState,
    viewer: UserId,
    user_ids: &[UserId],
) -> Result<Vec<PresenceState>, AppError> {
    let mut conn = state.db.get().await?;
    let contacts = permissions::presence_visible_to(&mut conn, viewer, user_ids).await?;
    let last_seen = queries::users::last_seen(&mut conn, &contacts).await?;
    drop(conn);
    states(state, viewer, contacts, last_seen).await
}

/// Combines live leases with stored last-seen times, as `viewer` may see them: a user who has
/// blocked the viewer shows offline, with no last-seen time.
pub async fn states(
    state: &AppState,
    viewer: UserId,
    users: Vec<UserId>,
    last_seen: HashMap<UserId, DateTime<Utc>>,
) -> Result<Vec<PresenceState>, AppError> {
    let mut conn = state.db.get().await?;
    let hidden = permissions::presence_hidden_from(&mut conn, viewer, &users).await?;
    drop(conn);
    let owners: Vec<String> = users.iter().map(ToString::to_string).collect();
    let live = state.presence.liveness.live(&owners).await?;
    Ok(users
        .into_iter()
        .zip(live)
        .map(|(user_id, online)| {
            if hidden.contains(&user_id) {
                return PresenceState {
                    user_id,
                    online: false,
                    last_seen_at: None,
                };
            }
            PresenceState {
                user_id,
                online,
                last_seen_at: if online {
                    None
                } else {
                    last_seen.get(&user_id).copied()
                },
            }
        })
        .collect())
}

/// Those of `users` with an open connection on any instance now (no visibility rules: for the
/// server's own decisions, such as whether a Web Push is needed).
pub async fn online_now(state: &AppState, users: &[UserId]) -> Result<HashSet<UserId>, AppError> {
    let owners: Vec<String> = users.iter().map(ToString::to_string).collect();
    let live = state.presence.liveness.live(&owners).await?;
    Ok(users
        .iter()
        .zip(live)
        .filter_map(|(user, live)| live.then_some(*user))
        .collect())
}

/// Starts the announcer (for as long as the process runs); renews this instance's leases and
/// sweeps expired ones, until `shutdown`.
pub fn spawn_background(state: AppState, shutdown: CancellationToken) {
    announcements::start(state.clone());
    state.presence.leases.start(state.presence.liveness.clone());
    let heartbeat = state.presence.heartbeat;
    let renewing = state.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(heartbeat / 2);
        loop {
            tokio::select! {
                _ = every.tick() => renew(&renewing).await,
                _ = stop.cancelled() => break,
            }
        }
    });
    tokio::spawn(async move {
        let mut every = tokio::time::interval(heartbeat / 4);
        loop {
            tokio::select! {
                _ = every.tick() => sweep(&state).await,
                _ = shutdown.cancelled() => break,
            }
        }
    });
}

async fn renew(state: &AppState) {
    let leases: Vec<(String, String)> = state
        .presence
        .local()
        .iter()
        .map(|(lease, user)| (user.to_string(), lease.clone()))
        .collect();
    let users: HashSet<&str> = leases.iter().map(|(user, _)| user.as_str()).collect();
    metrics::gauge!(names::ONLINE_USERS).set(users.len() as f64);
    let (came_online, renewed) = state.presence.liveness.renew(&leases).await;
    if let Err(err) = renewed {
        tracing::warn!(error = %err, "presence renewal failed");
    }
    // Leases that had been swept (this instance stalled): those users are back.
    for owner in came_online {
        if let Ok(user_id) = owner.parse() {
            announce(state, UserId(user_id), true, None).await;
        }
    }
}

async fn sweep(state: &AppState) {
    let liveness = &state.presence.liveness;
    match liveness.sweep().await {
        Ok(gone) => {
            for offline in gone {
                went_offline(state, offline, Debt::Settle).await;
            }
        }
        Err(err) => tracing::debug!(error = %err, "presence sweep failed"),
    }
    // Offline announcements an instance owed when it died (it took the user offline in Redis,
    // then stopped before telling the contacts). A live instance settles its own as soon as it
    // has announced them, so a debt older than two heartbeat intervals is taken to be an orphan.
    match liveness.take_owed(state.presence.heartbeat * 2).await {
        Ok(orphans) => {
            for offline in orphans {
                went_offline(state, offline, Debt::Taken).await;
            }
        }
        Err(err) => tracing::debug!(error = %err, "taking owed presence announcements failed"),
    }
}

/// What to do about the announcement owed for a going offline, once it is made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Debt {
    /// Settle it: it is still recorded as owed.
    Settle,
    /// Nothing: it was taken from the owed set already.
    Taken,
}

/// Announces the user offline (the announcer stores `last_seen_at` first); then settles the
/// announcement, unless it could not be made (a later sweep then takes it up).
async fn went_offline(state: &AppState, offline: WentOffline, debt: Debt) {
    let Ok(user_id) = offline.owner.parse().map(UserId) else {
        return;
    };
    // Postgres keeps microseconds; push exactly what a later read will return.
    let at = DateTime::<Utc>::from_timestamp_millis(offline.at_ms)
        .unwrap_or_else(Utc::now)
        .trunc_subsecs(6);
    let announced = announce(state, user_id, false, Some(at)).await;
    if announced && debt == Debt::Settle {
        if let Err(err) = state.presence.liveness.settle(&offline).await {
            // The debt stays; a sweep announces it again two heartbeat intervals later.
            tracing::warn!(error = %err, "settling an offline announcement failed");
        }
    }
}

/// Pushes a presence change to everyone who has the user as a contact (going offline, stores
/// `last_seen_at` first), batched with the other changes of the moment; false when it could not
/// be sent.
async fn announce(
    state: &AppState,
    user_id: UserId,
    online: bool,
    last_seen_at: Option<DateTime<Utc>>,
) -> bool {
    state
        .presence
        .announcer
        .announce(PresenceChange {
            user_id,
            online,
            last_seen_at,
        })
        .await
}

impl std::fmt::Debug for ConnectionLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectionLease({})", self.user_id)
    }
}
