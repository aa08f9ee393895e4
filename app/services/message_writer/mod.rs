//! The message writer: every message is stored through here, as part of a batch.
//!
//! Sends from all connections of this instance queue up, and a few writer tasks each take what
//! has queued and store it together: one check pass (its locks and reads sent at once, whatever
//! the batch holds) and one store statement in one transaction, so one commit for many messages.
//! Under light load a batch is a single message and nothing waits; under heavy load batches grow,
//! and the cost per message falls instead of every message paying for its own round trips and
//! commit.
//!
//! Nothing about a message changes by being batched: it is authorised by the same rules, gets
//! the next seq of its conversation, and its sender hears back only after the commit. A retried
//! `client_msg_id` is found by the check pass and answered with its original. Should a batch still
//! fail (a retry racing its original on another instance, say), it is rolled back and its
//! messages are stored one by one, so no message fails because of another.

mod batcher;
mod checks;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use self::batcher::Batcher;
use crate::{
    app::{
        models::{
            fields::TextField,
            frames::Target,
            ids::UserId,
            messages::{ConversationRecord, MessageRecord},
            outgoing::Outgoing,
        },
        queries::messages::ConversationKey,
        services::permissions::Authority,
    },
    pkg::utils::{errors::AppError, message_ids::MessageIds},
    platform::database::DbPool,
};

/// How many drafts a writer gathers for one transaction (see `batcher::next_batch`).
const MAX_BATCH: usize = 128;
/// The most drafts in one job: how many of one connection's pipelined sends are stored together.
pub const MAX_GROUP: usize = 32;
/// Sends waiting for a writer, per instance, before senders wait to queue.
const QUEUE_DEPTH: usize = 4096;

/// A message to store: a validated send, from whom, and under which rules.
pub struct Draft {
    pub sender: UserId,
    /// What is sent, as it will be stored. Its `reply_to` was checked by the caller to be in the
    /// same conversation; its attachments are checked by the store, in its transaction, to be
    /// the sender's and not sent yet.
    pub outgoing: Outgoing,
    pub authority: Authority,
}

impl Draft {
    /// A user's send (or another message the rules authorise as `authority` says).
    pub fn new(sender: UserId, outgoing: Outgoing, authority: Authority) -> Self {
        Self {
            sender,
            outgoing,
            authority,
        }
    }

    /// Where it goes.
    pub fn target(&self) -> Target {
        self.outgoing.target
    }

    pub fn client_msg_id(&self) -> &str {
        self.outgoing.client_msg_id.as_str()
    }

    /// The message it answers, if any.
    pub fn reply_to(&self) -> Option<i64> {
        self.outgoing.reply_to.map(|id| id.0)
    }

    /// The conversation the draft is written to.
    pub fn key(&self) -> ConversationKey {
        match self.outgoing.target {
            Target::User(other) => ConversationKey::pair(self.sender, other),
            Target::Group(group_id) => ConversationKey::Group(group_id),
        }
    }
}

/// What became of a draft.
pub enum Written {
    /// Stored now; `members` are its group's members as read under the conversation's lock,
    /// just before the store (empty for a private message): `fanout::audience` pushes it to them.
    Stored {
        record: MessageRecord,
        conversation: ConversationRecord,
        members: Vec<UserId>,
    },
    /// The sender stored this `client_msg_id` before: the original, stored and delivered then.
    Original {
        record: MessageRecord,
        conversation: ConversationRecord,
    },
}

/// Drafts waiting in the queue, with the way back to their sender. A job's drafts go into one
/// batch together, in their order: a connection's pipelined sends keep the order they were sent in.
pub(super) struct Job {
    pub(super) drafts: Vec<Draft>,
    pub(super) reply: oneshot::Sender<Vec<Result<Written, AppError>>>,
}

/// The handle senders use; cheap to clone.
#[derive(Clone)]
pub struct MessageWriter {
    queue: mpsc::Sender<Job>,
}

impl MessageWriter {
    /// Starts `writers` writer tasks (at least one; the configuration sees to it); they stop
    /// when the last handle is dropped.
    pub fn spawn(db: DbPool, ids: Arc<MessageIds>, writers: usize) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..writers {
            let batcher = Batcher {
                db: db.clone(),
                ids: ids.clone(),
            };
            tokio::spawn(supervise(batcher, jobs.clone()));
        }
        Self { queue }
    }

    /// Stores a message (or finds the original of a retry); returns once it is committed.
    pub async fn write(&self, draft: Draft) -> Result<Written, AppError> {
        let mut written = self.write_in_order(vec![draft]).await;
        written.pop().unwrap_or_else(|| Err(stopped()))
    }

    /// Stores drafts in one batch, in their order (so a conversation's seq follows it), and
    /// answers each in that order once the batch is committed. At most [`MAX_GROUP`] drafts.
    pub async fn write_in_order(&self, drafts: Vec<Draft>) -> Vec<Result<Written, AppError>> {
        debug_assert!(drafts.len() <= MAX_GROUP);
        let count = drafts.len();
        let (reply, answer) = oneshot::channel();
        let answered = match self.queue.send(Job { drafts, reply }).await {
            Ok(()) => answer.await.ok(),
            Err(_) => None,
        };
        // The writers are gone (the server is stopping) or the one with these drafts failed.
        answered.unwrap_or_else(|| (0..count).map(|_| Err(stopped())).collect())
    }
}

/// The answer to a draft whose writer stopped before it answered: it may have been stored, and
/// a retry with the same `client_msg_id` finds out.
fn stopped() -> AppError {
    AppError::Unavailable(
        "the message could not be confirmed; retry with the same client_msg_id".into(),
    )
}

/// Runs a writer, and another in its place should it panic: that batch's senders get an error
/// (a retry finds its message if it was stored), and storing goes on. Ends with the queue.
async fn supervise(batcher: Batcher, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        match tokio::spawn(batcher.clone().run(jobs.clone())).await {
            Err(err) if err.is_panic() => {
                tracing::error!(error = %err, "a message writer panicked; starting another");
            }
            _ => return,
        }
    }
}
