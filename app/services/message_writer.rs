//! The message writer: every message is stored through here, as part of a batch.
//!
//! Sends from all connections of this instance queue up, and a few writer tasks each take what
//! has queued and store it together: one authorisation pass (three queries at most, whatever the
//! batch holds) and one transaction, so one commit for many messages. Under light load a batch
//! is a single message and nothing waits; under heavy load batches grow, and the cost per message
//! falls instead of every message paying for its own round trips and commit.
//!
//! Nothing about a message changes by being batched: it is authorised by the same rules, gets
//! the next seq of its conversation, and its sender hears back only after the commit. When a
//! batch fails (a retried `client_msg_id` is the usual cause), its messages are stored one by
//! one, so no message fails because of another.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use futures_util::{
    future::{self, BoxFuture},
    try_join, FutureExt,
};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::{
    app::{
        models::{
            frames::Target,
            ids::{GroupId, UserId},
            message::{ConversationRecord, MessageRecord},
        },
        queries::{
            self,
            messages::{ConversationKey, NewMessage},
        },
        services::{chatbot::CHATBOT_ID, permissions},
    },
    pkg::utils::{errors::AppError, message_ids::MessageIds, metrics as names},
    platform::database::{DbConn, DbPool},
};

/// The most messages stored in one transaction.
const MAX_BATCH: usize = 128;
/// Sends waiting for a writer, per instance, before senders wait to queue.
const QUEUE_DEPTH: usize = 4096;

/// A message to store.
pub struct Draft {
    pub sender: UserId,
    pub target: Target,
    pub content: String,
    pub client_msg_id: String,
    pub authority: Authority,
}

/// Whether the messaging rules still have to be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// A user's message: the contact and membership rules apply.
    Rules,
    /// Authorised already: the chatbot answering where it was asked.
    Trusted,
}

/// What became of a draft.
pub enum Written {
    /// Stored now; `readers` are everyone it is pushed to.
    Stored {
        record: MessageRecord,
        conversation: ConversationRecord,
        readers: Vec<UserId>,
    },
    /// The sender stored this `client_msg_id` before: the original, stored and delivered then.
    Original {
        record: MessageRecord,
        conversation: ConversationRecord,
    },
}

/// A draft waiting in the queue, with the way back to its sender.
struct Job {
    draft: Draft,
    reply: oneshot::Sender<Result<Written, AppError>>,
}

/// The handle senders use; cheap to clone.
#[derive(Clone)]
pub struct MessageWriter {
    queue: mpsc::Sender<Job>,
}

impl MessageWriter {
    /// Starts `writers` writer tasks; they stop when the last handle is dropped.
    pub fn spawn(db: DbPool, ids: Arc<MessageIds>, writers: usize) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..writers.max(1) {
            let batcher = Batcher {
                db: db.clone(),
                ids: ids.clone(),
            };
            tokio::spawn(batcher.run(jobs.clone()));
        }
        Self { queue }
    }

    /// Stores a message (or finds the original of a retry); returns once it is committed.
    pub async fn write(&self, draft: Draft) -> Result<Written, AppError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || AppError::Unavailable("the server is shutting down".into());
        self.queue
            .send(Job { draft, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// One writer task.
struct Batcher {
    db: DbPool,
    ids: Arc<MessageIds>,
}

impl Batcher {
    async fn run(self, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            // Whatever queued while this writer was busy becomes its next batch.
            let received = jobs.lock().await.recv_many(&mut batch, MAX_BATCH).await;
            if received == 0 {
                return;
            }
            metrics::histogram!(names::WRITE_BATCH_SIZE).record(batch.len() as f64);
            self.write_batch(std::mem::take(&mut batch)).await;
        }
    }

    async fn write_batch(&self, jobs: Vec<Job>) {
        let (drafts, replies): (Vec<Draft>, Vec<_>) =
            jobs.into_iter().map(|job| (job.draft, job.reply)).unzip();
        let results = match self.db.get().await {
            Ok(mut conn) => self.write_all(&mut conn, &drafts).await,
            Err(err) => {
                let err = AppError::from(err);
                drafts
                    .iter()
                    .map(|_| Err(AppError::Unavailable(err.to_string())))
                    .collect()
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // A sender that went away will retry and be given the original.
            let _ = reply.send(result);
        }
    }

    /// The outcome of each draft, in order.
    async fn write_all(
        &self,
        conn: &mut DbConn,
        drafts: &[Draft],
    ) -> Vec<Result<Written, AppError>> {
        let verdicts = match authorise(conn, drafts).await {
            Ok(verdicts) => verdicts,
            Err(err) => return drafts.iter().map(|_| Err(failed(&err))).collect(),
        };
        let mut results: Vec<Option<Result<Written, AppError>>> =
            drafts.iter().map(|_| None).collect();
        let mut allowed = Vec::with_capacity(drafts.len());
        for (index, (draft, verdict)) in drafts.iter().zip(verdicts).enumerate() {
            match verdict.and_then(|(key, readers)| Ok((self.ids.next()?, key, readers))) {
                Ok((id, key, readers)) => allowed.push(Allowed {
                    index,
                    readers,
                    new: NewMessage {
                        id,
                        key,
                        sender_id: draft.sender,
                        content: &draft.content,
                        client_msg_id: &draft.client_msg_id,
                    },
                }),
                Err(refusal) => results[index] = Some(original_or(conn, draft, refusal).await),
            }
        }
        for (index, result) in store(conn, allowed).await {
            results[index] = Some(match result {
                Ok(written) => Ok(written),
                Err(refusal) => original_or(conn, &drafts[index], refusal).await,
            });
        }
        results
            .into_iter()
            .map(|result| result.expect("every draft has an outcome"))
            .collect()
    }
}

/// A draft that passed the rules, ready to store.
struct Allowed<'a> {
    index: usize,
    readers: Vec<UserId>,
    new: NewMessage<'a>,
}

/// Where a draft goes and who reads it, or why it may not be sent.
type Verdict = Result<(ConversationKey, Vec<UserId>), AppError>;

/// Applies the messaging rules to every draft of a batch, from at most three queries sent at once.
async fn authorise(conn: &mut DbConn, drafts: &[Draft]) -> Result<Vec<Verdict>, DieselError> {
    let mut recipients = HashSet::new();
    let mut parties = HashSet::new();
    let mut groups = HashSet::new();
    for draft in drafts {
        match (draft.target, draft.authority) {
            (Target::User(other), Authority::Rules) => {
                recipients.insert(other);
                parties.extend([draft.sender, other]);
            }
            (Target::User(_), Authority::Trusted) => {}
            (Target::Group(group_id), _) => {
                groups.insert(group_id);
            }
        }
    }
    let recipients: Vec<UserId> = recipients.into_iter().collect();
    let parties: Vec<UserId> = parties.into_iter().collect();
    let groups: Vec<GroupId> = groups.into_iter().collect();

    // The three queries go out together (pipelined) and come back in one round trip.
    let conn: &mut AsyncPgConnection = conn;
    let (existing, links, memberships) = try_join!(
        if recipients.is_empty() {
            nothing()
        } else {
            queries::users::existing_among(conn, &recipients)
        },
        if parties.is_empty() {
            nothing()
        } else {
            queries::contacts::links_among(conn, &parties)
        },
        if groups.is_empty() {
            nothing()
        } else {
            queries::groups::members_of_groups(conn, &groups)
        },
    )?;
    let existing: HashSet<UserId> = existing.into_iter().collect();
    let links: HashSet<(UserId, UserId)> = links.into_iter().collect();
    let mut members = HashMap::<GroupId, Vec<UserId>>::new();
    for (group_id, member) in memberships {
        members.entry(group_id).or_default().push(member);
    }

    Ok(drafts
        .iter()
        .map(|draft| match draft.target {
            Target::User(other) => {
                if draft.authority == Authority::Rules {
                    let related = links.contains(&(draft.sender, other))
                        || links.contains(&(other, draft.sender));
                    permissions::check_private(
                        draft.sender,
                        other,
                        existing.contains(&other),
                        related,
                    )?;
                }
                // The chatbot has no connections to push to.
                let readers = [draft.sender, other]
                    .into_iter()
                    .filter(|user| *user != CHATBOT_ID)
                    .collect();
                Ok((ConversationKey::pair(draft.sender, other), readers))
            }
            Target::Group(group_id) => {
                let readers = members.get(&group_id).cloned().unwrap_or_default();
                if draft.authority == Authority::Rules && !readers.contains(&draft.sender) {
                    return Err(permissions::no_such_group());
                }
                Ok((ConversationKey::Group(group_id), readers))
            }
        })
        .collect())
}

/// The answer of a query not worth asking: nothing.
fn nothing<'a, T: Send + 'a>() -> BoxFuture<'a, QueryResult<Vec<T>>> {
    future::ok(Vec::new()).boxed()
}

/// Stores the allowed drafts together, or one by one when the batch fails. Gives each draft's
/// index with what became of it; a refusal (the group was deleted meanwhile) is for the caller.
async fn store(
    conn: &mut DbConn,
    allowed: Vec<Allowed<'_>>,
) -> Vec<(usize, Result<Written, AppError>)> {
    if allowed.is_empty() {
        return Vec::new();
    }
    let batch: Vec<NewMessage> = allowed.iter().map(|allowed| allowed.new).collect();
    match queries::messages::store_batch(conn, &batch).await {
        Ok(stored) => allowed
            .into_iter()
            .zip(stored)
            .map(|(allowed, stored)| (allowed.index, stored_or_gone(allowed.readers, stored)))
            .collect(),
        Err(err) if allowed.len() == 1 => {
            let allowed = allowed.into_iter().next().expect("one draft");
            let result = match err {
                // A retry: the caller finds the original.
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                    Err(AppError::Conflict("client_msg_id already used".into()))
                }
                err => Err(failed(&err)),
            };
            vec![(allowed.index, result)]
        }
        Err(_) => {
            let mut results = Vec::with_capacity(allowed.len());
            for allowed in allowed {
                results.extend(Box::pin(store(conn, vec![allowed])).await);
            }
            results
        }
    }
}

fn stored_or_gone(
    readers: Vec<UserId>,
    stored: Option<(MessageRecord, ConversationRecord)>,
) -> Result<Written, AppError> {
    let (record, conversation) = stored.ok_or_else(permissions::no_such_group)?;
    Ok(Written::Stored {
        record,
        conversation,
        readers,
    })
}

/// The original of a retried draft if there is one (a retry gets it even when the rules would
/// now refuse a new message), else `refusal`.
async fn original_or(
    conn: &mut DbConn,
    draft: &Draft,
    refusal: AppError,
) -> Result<Written, AppError> {
    match queries::messages::find_by_client_msg_id(conn, draft.sender, &draft.client_msg_id).await {
        Ok(Some((record, conversation))) => Ok(Written::Original {
            record,
            conversation,
        }),
        Ok(None) => Err(refusal),
        Err(err) => Err(failed(&err)),
    }
}

/// An internal error for one of several drafts that failed together.
fn failed(err: &DieselError) -> AppError {
    AppError::internal(anyhow::anyhow!("storing messages: {err}"))
}
