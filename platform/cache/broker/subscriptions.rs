//! Subscribing and unsubscribing in batches. A socket that opens or closes does not talk to Redis
//! itself: it changes the hub, marks its channel as changed here and (when opening) waits to be
//! told that the channel is subscribed. One task, the batcher, takes every change marked since its
//! last round trip, compares what the hub wants with what Redis has confirmed, and sends one
//! round of commands: the channels to join and the channels to leave, many per command. Changes
//! that arrive while a round is in flight go into the next one — so during a storm (thousands of
//! sockets closing or opening at once) the number of round trips stays small, and a socket's
//! `ready` waits for at most about two of them rather than for everyone before it.
//!
//! Order: a channel is in at most one command of a round, and the next round starts only after
//! the previous one has been answered, deciding from what the hub wants *then*. So an
//! unsubscribe never overtakes a newer subscribe of the same channel: a user who closes and at
//! once reconnects either never leaves (both changes fall into one round, which sees the channel
//! wanted) or leaves and joins again, in that order, before the new socket is ready.

use std::collections::{HashMap, HashSet};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{link::FeedLink, Broker};

/// The batcher's view of the feed; guarded by one (never awaited) lock.
#[derive(Default)]
pub(super) struct State {
    /// The live feed connection; `None` while it is down.
    pub link: Option<FeedLink>,
    /// Changes with every feed connection, so a round sent on an earlier one is not mistaken
    /// for an answer on the current one.
    pub generation: u64,
    /// Channels Redis has confirmed on the current connection (names without the prefix). A
    /// channel leaves this set before its unsubscribe is sent, so it only ever holds channels
    /// that really are subscribed.
    pub confirmed: HashSet<String>,
    /// Channels whose wanted state may differ from `confirmed`: the next round looks at them.
    pub changed: HashSet<String>,
    /// Sockets waiting for their channel to be confirmed: told `true` once it is, `false` if
    /// subscribing failed or the feed was lost.
    pub waiting: HashMap<String, Vec<oneshot::Sender<bool>>>,
    /// Our own unsubscribes whose confirmation push has not been seen yet, by channel: such a
    /// push is not Redis dropping a channel by itself.
    pub leaving: HashMap<String, u32>,
}

/// What a socket learns when it asks for its channel.
pub(super) enum Joining {
    /// Already subscribed.
    Ready,
    /// Wait for the answer.
    Wait(oneshot::Receiver<bool>),
    /// The feed is down.
    Down,
}

/// One round trip's work.
struct Round {
    generation: u64,
    link: FeedLink,
    join: Vec<String>,
    leave: Vec<String>,
}

impl State {
    /// Tells the sockets waiting for `channel` whether it is subscribed.
    fn answer(&mut self, channel: &str, subscribed: bool) {
        for waiter in self.waiting.remove(channel).into_iter().flatten() {
            let _ = waiter.send(subscribed);
        }
    }

    /// The feed connection is gone: nothing is subscribed any more, and nobody waiting will be.
    pub fn lost(&mut self) {
        self.link = None;
        self.generation += 1;
        self.confirmed.clear();
        self.leaving.clear();
        for (_, waiters) in self.waiting.drain() {
            for waiter in waiters {
                let _ = waiter.send(false);
            }
        }
    }

    /// A new feed connection on which `subscribed` (names without the prefix) are confirmed.
    /// Changes marked meanwhile stay marked: the next round reconciles them.
    pub fn connected(&mut self, link: FeedLink, subscribed: HashSet<String>) {
        self.link = Some(link);
        self.generation += 1;
        self.confirmed = subscribed;
        self.leaving.clear();
    }

    /// Whether a channel that Redis says we left was dropped by Redis itself while we still
    /// count on it (rather than being the confirmation of our own unsubscribe).
    pub fn dropped_by_redis(&mut self, channel: &str) -> bool {
        if let Some(pending) = self.leaving.get_mut(channel) {
            *pending -= 1;
            if *pending == 0 {
                self.leaving.remove(channel);
            }
            return false;
        }
        self.confirmed.contains(channel)
    }
}

impl Broker {
    /// Asks for `channel` (whose subscriber is in the hub already) to be subscribed.
    pub(super) fn join(&self, channel: &str) -> Joining {
        let mut state = self.lock_state();
        if state.link.is_none() {
            return Joining::Down;
        }
        if state.confirmed.contains(channel) {
            // Also when a leave of it is marked: the next round will see it wanted again.
            return Joining::Ready;
        }
        let (told, answer) = oneshot::channel();
        state
            .waiting
            .entry(channel.to_owned())
            .or_default()
            .push(told);
        state.changed.insert(channel.to_owned());
        drop(state);
        self.inner.wake.notify_one();
        Joining::Wait(answer)
    }

    /// Marks `channel` as changed after its last local subscriber left the hub.
    pub(super) fn left(&self, channel: &str) {
        self.lock_state().changed.insert(channel.to_owned());
        self.inner.wake.notify_one();
    }

    /// Runs rounds whenever changes are marked, until shutdown.
    pub(super) async fn batch(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = shutdown.cancelled() => return,
            }
            while let Some(round) = self.next_round() {
                let prefix = self.inner.cache.key("");
                let full = |names: &[String]| -> Vec<String> {
                    names.iter().map(|name| format!("{prefix}{name}")).collect()
                };
                // Joins go first on the wire: a socket waits for them; leaves only tidy up.
                let (joined, left) = tokio::join!(
                    round.link.join(full(&round.join)),
                    round.link.leave(full(&round.leave)),
                );
                let strip = |batch: Vec<String>| -> Vec<String> {
                    batch
                        .into_iter()
                        .filter_map(|name| name.strip_prefix(prefix.as_str()).map(str::to_owned))
                        .collect()
                };
                let joined = joined
                    .into_iter()
                    .map(|(batch, result)| (strip(batch), result))
                    .collect();
                self.finish_round(round, joined, left);
            }
        }
    }

    /// Takes every marked change and decides what to send; `None` when there is nothing to send
    /// (or no feed to send it on: the changes stay marked for the next connection).
    fn next_round(&self) -> Option<Round> {
        let mut state = self.lock_state();
        let link = state.link.clone()?;
        let mut join = Vec::new();
        let mut leave = Vec::new();
        for channel in std::mem::take(&mut state.changed) {
            let wanted = self.inner.hub.has_channel(&channel);
            let subscribed = state.confirmed.contains(&channel);
            match (wanted, subscribed) {
                (true, false) => join.push(channel),
                (false, true) => {
                    state.confirmed.remove(&channel);
                    *state.leaving.entry(channel.clone()).or_default() += 1;
                    leave.push(channel);
                }
                (true, true) => state.answer(&channel, true),
                // Whoever waited for it has gone again.
                (false, false) => state.answer(&channel, false),
            }
        }
        (!join.is_empty() || !leave.is_empty()).then(|| Round {
            generation: state.generation,
            link,
            join,
            leave,
        })
    }

    fn finish_round(
        &self,
        round: Round,
        joined: Vec<(Vec<String>, redis::RedisResult<()>)>,
        left: Vec<(Vec<String>, redis::RedisResult<()>)>,
    ) {
        let mut state = self.lock_state();
        if state.generation != round.generation {
            // Sent on a connection that is gone; whoever waited was told when it went. Look at
            // these channels again on the current one.
            state.changed.extend(round.join);
            state.changed.extend(round.leave);
            return;
        }
        for (batch, result) in joined {
            let subscribed = result
                .inspect_err(
                    |err| tracing::warn!(error = %err, channels = batch.len(), "subscribe failed"),
                )
                .is_ok();
            for channel in batch {
                if subscribed {
                    state.confirmed.insert(channel.clone());
                }
                state.answer(&channel, subscribed);
            }
        }
        for (batch, result) in left {
            // Left subscribed by mistake, a channel costs only the payloads the hub drops.
            if let Err(err) = result {
                tracing::warn!(error = %err, channels = batch.len(), "unsubscribe failed");
            }
        }
    }
}
