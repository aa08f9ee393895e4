//! The message writer: every message is stored through here, as part of a batch.
//!
//! Sends from all connections of this instance queue up, and a few writer tasks each take what
//! has queued and store it together: one check pass (five queries at most, sent at once, whatever
//! the batch holds) and one transaction, so one commit for many messages. Under light load a batch
//! is a single message and nothing waits; under heavy load batches grow, and the cost per message
//! falls instead of every message paying for its own round trips and commit.
//!
//! Nothing about a message changes by being batched: it is authorised by the same rules, gets
//! the next seq of its conversation, and its sender hears back only after the commit. A retried
//! `client_msg_id` is found by the check pass and answered with its original. Should a batch still
//! fail (a retry racing its original on another instance, say), its messages are stored one by
//! one, so no message fails because of another.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use diesel::result::Error as DieselError;
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
            message::{ConversationRecord, MessageId, MessageRecord},
        },
        queries::{
            self,
            messages::{ConversationKey, NewMessage},
        },
        services::{
            fanout::audience,
            permissions::{self, Authority, SendFacts},
        },
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
    /// The message this one answers; the caller has checked it is in the same conversation.
    pub reply_to: Option<MessageId>,
    pub authority: Authority,
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
        let (reply, answer) = oneshot::channel();
        // The writers are gone (the server is stopping) or the one with this draft failed.
        let stopped = || {
            AppError::Unavailable(
                "the message could not be confirmed; retry with the same client_msg_id".into(),
            )
        };
        self.queue
            .send(Job { draft, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
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

/// One writer task.
#[derive(Clone)]
struct Batcher {
    db: DbPool,
    ids: Arc<MessageIds>,
}

impl Batcher {
    async fn run(self, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            // Whatever queued while this writer was busy becomes its next batch. The lock is held
            // while waiting on purpose: one idle writer waits for the next send, the others wait
            // for the lock, so a send is taken by exactly one writer, the first free one.
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
                // Converting logs the cause, once; every sender gets the same answer.
                let unavailable = AppError::from(err).to_string();
                drafts
                    .iter()
                    .map(|_| Err(AppError::Unavailable(unavailable.clone())))
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
        let checks = match check(conn, drafts).await {
            Ok(checks) => checks,
            Err(err) => return drafts.iter().map(|_| Err(storage_error(&err))).collect(),
        };
        let mut results: Vec<Option<Result<Written, AppError>>> =
            drafts.iter().map(|_| None).collect();
        let mut allowed = Vec::with_capacity(drafts.len());
        let mut twins = Vec::new();
        let mut seen = HashSet::new();
        for (index, (draft, check)) in drafts.iter().zip(checks).enumerate() {
            let (key, readers) = match check {
                Check::Original(written) => {
                    results[index] = Some(Ok(written));
                    continue;
                }
                Check::Refused(refusal) => {
                    results[index] = Some(Err(refusal));
                    continue;
                }
                Check::Allowed { key, readers } => (key, readers),
            };
            // The same draft twice in one batch (a retry sent before the first answer): the
            // second waits until the first is stored, then is a plain retry.
            if !seen.insert((draft.sender, draft.client_msg_id.as_str())) {
                twins.push((index, key, readers));
                continue;
            }
            match self.ids.next() {
                Ok(id) => allowed.push(Allowed::new(index, key, readers, id, draft)),
                Err(err) => results[index] = Some(Err(err)),
            }
        }
        for (index, stored) in store(conn, allowed).await {
            results[index] = Some(settle(conn, &drafts[index], stored).await);
        }
        for (index, key, readers) in twins {
            let draft = &drafts[index];
            results[index] = Some(match self.ids.next() {
                Ok(id) => {
                    let twin = Allowed::new(index, key, readers, id, draft);
                    let (_, stored) = store(conn, vec![twin]).await.remove(0);
                    settle(conn, draft, stored).await
                }
                Err(err) => Err(err),
            });
        }
        results
            .into_iter()
            .map(|result| result.expect("every draft has an outcome"))
            .collect()
    }
}

/// A draft that passed the checks, ready to store.
struct Allowed<'a> {
    index: usize,
    readers: Vec<UserId>,
    new: NewMessage<'a>,
}

impl<'a> Allowed<'a> {
    fn new(
        index: usize,
        key: ConversationKey,
        readers: Vec<UserId>,
        id: i64,
        draft: &'a Draft,
    ) -> Self {
        Self {
            index,
            readers,
            new: NewMessage {
                id,
                key,
                sender_id: draft.sender,
                content: &draft.content,
                client_msg_id: &draft.client_msg_id,
                reply_to: draft.reply_to.map(|id| id.0),
            },
        }
    }
}

/// What the check pass says of one draft.
enum Check {
    /// A retry: the sender stored this `client_msg_id` before.
    Original(Written),
    /// The rules refuse it.
    Refused(AppError),
    /// It may be stored in this conversation, and is pushed to these readers.
    Allowed {
        key: ConversationKey,
        readers: Vec<UserId>,
    },
}

/// Finds the retries among the drafts and applies the messaging rules to the others, from at
/// most five queries sent at once.
async fn check(conn: &mut DbConn, drafts: &[Draft]) -> Result<Vec<Check>, DieselError> {
    let (originals, facts) = read_facts(conn, drafts).await?;
    Ok(drafts
        .iter()
        .map(|draft| {
            // A retry gets its original even when the rules would now refuse a new message.
            if let Some((record, conversation)) =
                originals.get(&(draft.sender, draft.client_msg_id.clone()))
            {
                return Check::Original(Written::Original {
                    record: record.clone(),
                    conversation: conversation.clone(),
                });
            }
            match permissions::may_send(&facts, draft.sender, draft.target, draft.authority) {
                Ok(key) => Check::Allowed {
                    key,
                    readers: readers(&facts, draft.sender, draft.target),
                },
                Err(refusal) => Check::Refused(refusal),
            }
        })
        .collect())
}

/// Who receives a message to `target`: the group's members as read by the check pass (membership
/// is read just before the store), or both parties.
fn readers(facts: &SendFacts, sender: UserId, target: Target) -> Vec<UserId> {
    match target {
        Target::User(other) => audience::of_pair(sender, other),
        Target::Group(group_id) => facts.members.get(&group_id).cloned().unwrap_or_default(),
    }
}

/// Earlier messages with the drafts' `client_msg_id`s, by (sender, client_msg_id).
type Originals = HashMap<(UserId, String), (MessageRecord, ConversationRecord)>;

/// Reads what the check pass needs for the whole batch: the sender's earlier messages with the
/// same `client_msg_id`s, and the facts the rules look at.
async fn read_facts(
    conn: &mut DbConn,
    drafts: &[Draft],
) -> Result<(Originals, SendFacts), DieselError> {
    let senders: Vec<UserId> = drafts.iter().map(|draft| draft.sender).collect();
    let client_msg_ids: Vec<&str> = drafts
        .iter()
        .map(|draft| draft.client_msg_id.as_str())
        .collect();
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

    // The queries go out together (pipelined): Postgres answers them one after the other, with
    // no round trip in between.
    let conn: &mut AsyncPgConnection = conn;
    let (stored, existing, links, blocks, memberships) = try_join!(
        queries::messages::by_client_msg_ids(conn, &senders, &client_msg_ids),
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
        if parties.is_empty() {
            nothing()
        } else {
            queries::blocks::among(conn, &parties)
        },
        if groups.is_empty() {
            nothing()
        } else {
            queries::groups::members_of_groups(conn, &groups)
        },
    )?;
    let originals = stored
        .into_iter()
        .map(|(record, conversation)| {
            let key = (record.sender_id, record.client_msg_id.clone());
            (key, (record, conversation))
        })
        .collect();
    let mut facts = SendFacts {
        existing: existing.into_iter().collect(),
        links: links.into_iter().collect(),
        blocks: blocks.into_iter().collect(),
        ..SendFacts::default()
    };
    for (group_id, member) in memberships {
        facts.members.entry(group_id).or_default().push(member);
    }
    Ok((originals, facts))
}

/// The answer of a query not worth asking: nothing.
fn nothing<'a, T: Send + 'a>() -> BoxFuture<'a, QueryResult<Vec<T>>> {
    future::ok(Vec::new()).boxed()
}

/// What became of an allowed draft in the store.
enum Stored {
    Done(Written),
    /// Its `client_msg_id` was stored meanwhile: a retry raced its original.
    Taken,
    /// Its group was deleted after the check.
    Gone,
    Failed(AppError),
}

/// Stores the allowed drafts together, or one by one when the batch fails. Gives each draft's
/// index with what became of it.
async fn store(conn: &mut DbConn, allowed: Vec<Allowed<'_>>) -> Vec<(usize, Stored)> {
    if allowed.is_empty() {
        return Vec::new();
    }
    let batch: Vec<NewMessage> = allowed.iter().map(|allowed| allowed.new).collect();
    match queries::messages::store_batch(conn, &batch).await {
        Ok(stored) => allowed
            .into_iter()
            .zip(stored)
            .map(|(allowed, stored)| {
                let outcome = match stored {
                    Some((record, conversation)) => {
                        metrics::counter!(names::MESSAGES_STORED).increment(1);
                        Stored::Done(Written::Stored {
                            record,
                            conversation,
                            readers: allowed.readers,
                        })
                    }
                    None => Stored::Gone,
                };
                (allowed.index, outcome)
            })
            .collect(),
        Err(err) if allowed.len() == 1 => {
            let outcome = if queries::messages::is_client_msg_id_taken(&err) {
                Stored::Taken
            } else {
                Stored::Failed(storage_error(&err))
            };
            vec![(allowed[0].index, outcome)]
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

/// The answer to a draft, given what became of it in the store.
async fn settle(conn: &mut DbConn, draft: &Draft, stored: Stored) -> Result<Written, AppError> {
    match stored {
        Stored::Done(written) => Ok(written),
        Stored::Taken => {
            let conn: &mut AsyncPgConnection = conn;
            let sender = [draft.sender];
            let client_msg_id = [draft.client_msg_id.as_str()];
            match queries::messages::by_client_msg_ids(conn, &sender, &client_msg_id).await {
                Ok(found) => match found.into_iter().next() {
                    Some((record, conversation)) => Ok(Written::Original {
                        record,
                        conversation,
                    }),
                    None => Err(AppError::internal(anyhow::anyhow!(
                        "client_msg_id taken, yet no message has it"
                    ))),
                },
                Err(err) => Err(storage_error(&err)),
            }
        }
        Stored::Gone => Err(permissions::no_such_group()),
        Stored::Failed(err) => Err(err),
    }
}

/// An internal error for a draft whose storing failed (perhaps with others of its batch).
fn storage_error(err: &DieselError) -> AppError {
    AppError::internal(anyhow::anyhow!("storing messages: {err}"))
}
