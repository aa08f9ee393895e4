//! The local half of live events: which of this instance's subscribers listen on which channel,
//! and handing a payload to them.
//!
//! The hub never talks to Redis; the [`broker`](super::broker) does, and calls the hub for every
//! payload it receives. Payloads go to each subscriber's bounded queue without waiting: a
//! subscriber whose queue is full is told so through its `overflow` token (and gets nothing
//! more), so one slow reader never holds up the others.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The tag that addresses every subscriber of a channel.
pub const EVERYONE: &str = "*";
/// Frames handed from the broker to local connections (counter); listed in `pkg/utils/metrics.rs`.
const DELIVERED_METRIC: &str = "simplechat_pushes_delivered_total";

/// Where a local subscriber receives its payloads.
#[derive(Clone)]
pub struct Subscriber {
    /// Receives the bodies addressed to it.
    pub queue: mpsc::Sender<Arc<str>>,
    /// Only payloads for everyone or for this tag are delivered.
    pub tag: String,
    /// Cancelled when the queue was full: the subscriber has fallen behind and was dropped.
    pub overflow: CancellationToken,
}

/// channel → subscriber id → subscriber
type Registry = HashMap<String, HashMap<u64, Subscriber>>;

/// This instance's subscribers, by channel.
#[derive(Default)]
pub struct Hub {
    channels: Mutex<Registry>,
    next_id: AtomicU64,
}

impl Hub {
    /// Adds a subscriber; returns its id and whether it is the channel's first.
    pub fn insert(&self, channel: &str, subscriber: Subscriber) -> (u64, bool) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut channels = self.lock();
        let subscribers = channels.entry(channel.to_owned()).or_default();
        subscribers.insert(id, subscriber);
        (id, subscribers.len() == 1)
    }

    /// Removes a subscriber; true when it was the channel's last.
    pub fn remove(&self, channel: &str, id: u64) -> bool {
        let mut channels = self.lock();
        let Some(subscribers) = channels.get_mut(channel) else {
            return false;
        };
        subscribers.remove(&id);
        if subscribers.is_empty() {
            channels.remove(channel);
            true
        } else {
            false
        }
    }

    /// Every channel that has at least one subscriber.
    pub fn channels(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Whether `channel` has at least one subscriber.
    pub fn has_channel(&self, channel: &str) -> bool {
        self.lock().contains_key(channel)
    }

    /// How many channels have subscribers.
    pub fn channel_count(&self) -> usize {
        self.lock().len()
    }

    /// Every local subscriber's channel and tag.
    pub fn local_tags(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .flat_map(|(channel, subscribers)| {
                subscribers
                    .values()
                    .map(|subscriber| (channel.clone(), subscriber.tag.clone()))
            })
            .collect()
    }

    /// Hands a body to the subscribers of `channel` that `tag` addresses.
    pub fn hand_out(&self, channel: &str, tag: &str, body: &str) {
        let body: Arc<str> = Arc::from(body);
        let channels = self.lock();
        let Some(subscribers) = channels.get(channel) else {
            return;
        };
        for subscriber in subscribers.values() {
            if tag != EVERYONE && tag != subscriber.tag {
                continue;
            }
            match subscriber.queue.try_send(body.clone()) {
                Ok(()) => metrics::counter!(DELIVERED_METRIC).increment(1),
                // Its owner sees the token, disconnects the client and closes the subscription.
                Err(mpsc::error::TrySendError::Full(_)) => subscriber.overflow.cancel(),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding this lock cannot leave the map half-updated; keep serving.
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscriber(tag: &str, capacity: usize) -> (Subscriber, mpsc::Receiver<Arc<str>>) {
        let (queue, received) = mpsc::channel(capacity);
        let subscriber = Subscriber {
            queue,
            tag: tag.into(),
            overflow: CancellationToken::new(),
        };
        (subscriber, received)
    }

    #[test]
    fn tagged_payloads_reach_only_their_tag() {
        let hub = Hub::default();
        let (first, mut first_received) = subscriber("a", 4);
        let (second, mut second_received) = subscriber("b", 4);
        hub.insert("user:1", first);
        hub.insert("user:1", second);
        hub.hand_out("user:1", "a", "for a");
        hub.hand_out("user:1", EVERYONE, "for all");
        assert_eq!(&*first_received.try_recv().unwrap(), "for a");
        assert_eq!(&*first_received.try_recv().unwrap(), "for all");
        assert_eq!(&*second_received.try_recv().unwrap(), "for all");
        assert!(second_received.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_cancels_its_overflow_token() {
        let hub = Hub::default();
        let (slow, _kept) = subscriber("a", 1);
        let overflow = slow.overflow.clone();
        hub.insert("user:1", slow);
        hub.hand_out("user:1", EVERYONE, "one");
        assert!(!overflow.is_cancelled());
        hub.hand_out("user:1", EVERYONE, "two");
        assert!(overflow.is_cancelled());
    }

    #[test]
    fn the_last_subscriber_leaving_frees_the_channel() {
        let hub = Hub::default();
        let (first, _a) = subscriber("a", 1);
        let (second, _b) = subscriber("b", 1);
        let (first_id, was_first) = hub.insert("c", first);
        let (second_id, _) = hub.insert("c", second);
        assert!(was_first);
        assert!(!hub.remove("c", first_id));
        assert!(hub.remove("c", second_id));
        assert_eq!(hub.channel_count(), 0);
    }
}
