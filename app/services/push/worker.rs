//! The push worker: drains the outbox into pending pushes and sends the due ones. Every instance
//! runs `PUSH_WORKERS` of them; `FOR UPDATE SKIP LOCKED` claims keep them from sending anything
//! twice, and a claim's lease hands a dead instance's pushes to the others.
//!
//! A push goes to every live subscription of its user. 404/410 delete the subscription; 429 and
//! 5xx (or no answer) put the push back after a back-off (`Retry-After` when given, else
//! doubling from 1 s), until `PUSH_TTL` after its oldest message. A retry goes to all of the
//! user's subscriptions again: one that took the first attempt gets it twice, and its push
//! service replaces the first with the second (same `Topic`).

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use chrono::Utc;
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::payload::message_payload;
use crate::{
    app::{
        models::{
            ids::{PushSubscriptionId, UserId},
            messages::ConversationRecord,
            mutes::MuteTarget,
            push::{PendingPush, PushContext, SubscriptionRecord},
        },
        queries,
        services::presence,
        state::AppState,
    },
    pkg::utils::{errors::AppError, metrics as names},
    platform::push::{
        encryption::SubscriberKeys,
        sender::{Delivery, PushRequest},
    },
};

/// How often an idle worker looks for work.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Outbox rows expanded per statement.
const EXPAND_BATCH: i64 = 500;
/// Pending pushes claimed and sent at once.
const SEND_BATCH: i64 = 64;
/// How long a claim keeps other instances off a push: longer than sending it can take.
const CLAIM_LEASE: Duration = Duration::from_secs(30);
/// Longest back-off between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How often the backlog gauges are refreshed.
const BACKLOG_INTERVAL: Duration = Duration::from_secs(5);

/// Starts this instance's push workers and the backlog gauges; they stop with `shutdown`.
pub fn spawn(state: AppState, shutdown: CancellationToken) {
    if state.config.push.workers == 0 {
        return;
    }
    for _ in 0..state.config.push.workers {
        tokio::spawn(run(state.clone(), shutdown.clone()));
    }
    tokio::spawn(gauge_backlog(state, shutdown));
}

async fn run(state: AppState, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds: u32 = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(err) = drain(&state, &shutdown).await {
            tracing::warn!(error = %err, "sending pushes failed; trying again shortly");
        }
        rounds = rounds.wrapping_add(1);
        // Now and then, forget (user, conversation) rows with nothing waiting.
        if rounds.is_multiple_of(40) {
            if let Err(err) = forget_idle(&state).await {
                tracing::debug!(error = %err, "forgetting idle push rows failed");
            }
        }
    }
}

/// Works until nothing is due.
async fn drain(state: &AppState, shutdown: &CancellationToken) -> Result<(), AppError> {
    let coalesce = state.config.push.coalesce;
    while !shutdown.is_cancelled() {
        let mut conn = state.db.get().await?;
        let expanded = queries::push::expand_outbox(&mut conn, EXPAND_BATCH, coalesce).await?;
        let due = queries::push::claim_due(&mut conn, SEND_BATCH, CLAIM_LEASE).await?;
        drop(conn);
        let claimed = due.len() as i64;
        if !due.is_empty() {
            send_all(state, due).await?;
        }
        if expanded < EXPAND_BATCH && claimed < SEND_BATCH {
            break;
        }
    }
    Ok(())
}

async fn forget_idle(state: &AppState) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    queries::push::forget_idle(&mut conn, state.config.push.coalesce).await?;
    Ok(())
}

/// What a batch of claimed pushes needs to know, gathered in a few queries.
struct Facts {
    contexts: HashMap<i64, PushContext>,
    subscriptions: HashMap<UserId, Vec<SubscriptionRecord>>,
    muted: HashSet<(UserId, MuteTarget)>,
    online: HashSet<UserId>,
}

async fn gather(state: &AppState, due: &[PendingPush]) -> Result<Facts, AppError> {
    let users: Vec<UserId> = due
        .iter()
        .map(|push| push.user_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let message_ids: Vec<i64> = due.iter().map(|push| push.message_id).collect();
    let mut conn = state.db.get().await?;
    let contexts = queries::push::contexts(&mut conn, &message_ids).await?;
    let subscriptions = queries::push::live_subscriptions(&mut conn, &users).await?;
    let muted = queries::mutes::active_of(&mut conn, &users).await?;
    drop(conn);
    let online = presence::online_now(state, &users).await?;
    let mut by_user: HashMap<UserId, Vec<SubscriptionRecord>> = HashMap::new();
    for subscription in subscriptions {
        by_user
            .entry(subscription.user_id)
            .or_default()
            .push(subscription);
    }
    Ok(Facts {
        contexts: contexts
            .into_iter()
            .map(|context| (context.message_id, context))
            .collect(),
        subscriptions: by_user,
        muted: muted.into_keys().collect(),
        online,
    })
}

/// Sends a batch of claimed pushes, each to all of its user's subscriptions, at once.
async fn send_all(state: &AppState, due: Vec<PendingPush>) -> Result<(), AppError> {
    let facts = gather(state, &due).await?;
    let outcomes = join_all(due.iter().map(|push| send_one(state, &facts, push))).await;
    let mut gone: Vec<PushSubscriptionId> = Vec::new();
    let mut conn = state.db.get().await?;
    for (push, outcome) in due.iter().zip(outcomes) {
        gone.extend(&outcome.gone);
        settle(state, &mut conn, push, outcome).await?;
    }
    if !gone.is_empty() {
        queries::push::delete_gone(&mut conn, &gone).await?;
    }
    Ok(())
}

/// What came of one push.
#[derive(Default)]
struct Outcome {
    /// Some push service took it.
    accepted: bool,
    /// Worth another try, not before this long.
    retry: Option<Duration>,
    /// Subscriptions to delete (404/410, or now resolving inside our network).
    gone: Vec<PushSubscriptionId>,
}

async fn send_one(state: &AppState, facts: &Facts, push: &PendingPush) -> Outcome {
    let Some(context) = facts.contexts.get(&push.message_id) else {
        // The message (or its conversation) is gone: nothing to tell.
        return Outcome::default();
    };
    let conversation = conversation_of(context).seen_by(push.user_id);
    if facts.online.contains(&push.user_id)
        || facts
            .muted
            .contains(&(push.user_id, MuteTarget::of(&conversation)))
    {
        return Outcome::default();
    }
    let Some(subscriptions) = facts.subscriptions.get(&push.user_id) else {
        return Outcome::default();
    };
    let payload = message_payload(&conversation, context, push.seq, push.unread).to_string();
    let topic = format!("conversation-{:x}", push.conversation_id);
    let deliveries = join_all(
        subscriptions
            .iter()
            .map(|subscription| deliver(state, subscription, &payload, &topic)),
    )
    .await;
    let mut outcome = Outcome::default();
    for (subscription, delivery) in subscriptions.iter().zip(deliveries) {
        match delivery {
            Delivery::Accepted => {
                outcome.accepted = true;
                metrics::counter!(names::WEB_PUSHES_SENT).increment(1);
            }
            Delivery::Gone(status) => {
                failed(&status.to_string());
                outcome.gone.push(subscription.id);
            }
            Delivery::Blocked => {
                failed("blocked");
                outcome.gone.push(subscription.id);
            }
            Delivery::Refused(status) => failed(&status.to_string()),
            Delivery::Unsendable => failed("unsendable"),
            Delivery::Retry { status, after } => {
                failed(&status.map_or_else(|| "network".to_owned(), |code| code.to_string()));
                let wait = after.unwrap_or_else(|| backoff(push.attempts));
                outcome.retry = Some(outcome.retry.map_or(wait, |longest| longest.max(wait)));
            }
        }
    }
    outcome
}

/// Encrypts, signs and sends one push to one subscription.
async fn deliver(
    state: &AppState,
    subscription: &SubscriptionRecord,
    payload: &str,
    topic: &str,
) -> Delivery {
    let config = &state.config.push;
    let Ok(endpoint) = subscription.endpoint.parse() else {
        return Delivery::Blocked;
    };
    let body = match SubscriberKeys::parse(&subscription.p256dh, &subscription.auth)
        .map_err(|err| err.reason.to_owned())
        .and_then(|keys| {
            keys.encrypt(payload.as_bytes())
                .map_err(|err| err.to_string())
        }) {
        Ok(body) => body,
        Err(err) => {
            tracing::warn!(error = %err, subscription = %subscription.id, "cannot encrypt a push");
            return Delivery::Unsendable;
        }
    };
    let authorization = match state.push.authorization(&endpoint, &config.vapid_subject) {
        Ok(header) => header,
        Err(err) => {
            tracing::warn!(error = %err, "cannot sign a VAPID token");
            return Delivery::Unsendable;
        }
    };
    state
        .push
        .sender
        .send(PushRequest {
            endpoint: &endpoint,
            authorization,
            ttl_secs: config.ttl.as_secs(),
            topic,
            urgency: "high",
            body,
        })
        .await
}

/// Records what became of a claimed push in its row.
async fn settle(
    state: &AppState,
    conn: &mut crate::platform::database::DbConn,
    push: &PendingPush,
    outcome: Outcome,
) -> Result<(), AppError> {
    let coalesce = state.config.push.coalesce;
    if let Some(wait) = outcome.retry {
        let retry_at = Utc::now() + wait;
        let gives_up_at = push.pending_since.unwrap_or_else(Utc::now) + state.config.push.ttl;
        if retry_at < gives_up_at {
            queries::push::retry_at(conn, push, retry_at).await?;
            return Ok(());
        }
        failed("expired");
    }
    queries::push::settle(conn, push, outcome.accepted, coalesce).await?;
    Ok(())
}

/// 1 s, 2 s, 4 s, … up to [`MAX_BACKOFF`], by attempts made.
fn backoff(attempts: i32) -> Duration {
    let exponent = attempts.clamp(1, 16) as u32 - 1;
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

fn failed(status: &str) {
    metrics::counter!(names::WEB_PUSHES_FAILED, "status" => status.to_owned()).increment(1);
}

/// The conversation record as far as a push needs it.
fn conversation_of(context: &PushContext) -> ConversationRecord {
    ConversationRecord {
        id: context.conversation_id,
        user_low: context.user_low,
        user_high: context.user_high,
        group_id: context.group_id,
        last_seq: 0,
        change_seq: 0,
    }
}

/// Keeps the backlog gauges current: outbox depth and the age of the oldest waiting push.
async fn gauge_backlog(state: AppState, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(BACKLOG_INTERVAL);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let backlog = async {
            let mut conn = state.db.get().await?;
            Ok::<_, AppError>(queries::push::backlog(&mut conn).await?)
        };
        match backlog.await {
            Ok((depth, oldest_secs)) => {
                metrics::gauge!(names::WEB_PUSH_OUTBOX_DEPTH).set(depth as f64);
                metrics::gauge!(names::WEB_PUSH_OLDEST_PENDING_SECONDS).set(oldest_secs);
            }
            Err(err) => tracing::debug!(error = %err, "measuring the push backlog failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
