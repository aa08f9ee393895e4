//! One writer task: takes what has queued, checks it, stores it in one transaction, answers.

use std::{collections::HashSet, sync::Arc};

use diesel::result::Error as DieselError;
use diesel_async::{scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection};
use tokio::sync::{mpsc, Mutex};

use super::{
    checks::{check, Check},
    Draft, Job, Written, MAX_BATCH,
};
use crate::{
    app::{
        models::ids::UserId,
        queries::{
            self,
            message_batches::{NewMessage, Unstored},
            messages::ConversationKey,
        },
        services::permissions,
    },
    pkg::utils::{errors::AppError, message_ids::MessageIds, metrics as names},
    platform::database::{DbConn, DbPool},
};

/// One writer task.
#[derive(Clone)]
pub(super) struct Batcher {
    pub(super) db: DbPool,
    pub(super) ids: Arc<MessageIds>,
}

impl Batcher {
    pub(super) async fn run(self, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
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

    /// The outcome of each draft, in order. The check pass and the store share one transaction,
    /// so every rule is read as it stands when the messages are committed; the store's own
    /// transactions become savepoints inside it (a failed batch rolls back to its savepoint and
    /// is stored one by one, as before).
    async fn write_all(
        &self,
        conn: &mut DbConn,
        drafts: &[Draft],
    ) -> Vec<Result<Written, AppError>> {
        let conn: &mut AsyncPgConnection = conn;
        let outcome = conn
            .transaction::<_, DieselError, _>(|conn| {
                async move { Ok(self.write_all_in(conn, drafts).await) }.scope_boxed()
            })
            .await;
        match outcome {
            Ok(results) => results,
            // The commit failed: nothing of the batch was stored.
            Err(err) => drafts.iter().map(|_| Err(storage_error(&err))).collect(),
        }
    }

    /// [`Self::write_all`] inside its transaction.
    async fn write_all_in(
        &self,
        conn: &mut AsyncPgConnection,
        drafts: &[Draft],
    ) -> Vec<Result<Written, AppError>> {
        let checks = match check(conn, drafts).await {
            Ok(checks) => checks,
            Err(err) => return drafts.iter().map(|_| Err(storage_error(&err))).collect(),
        };
        let mut results: Vec<Option<Result<Written, AppError>>> =
            drafts.iter().map(|_| None).collect();
        let mut firsts = Vec::with_capacity(drafts.len());
        let mut twins = Vec::new();
        let mut seen = HashSet::new();
        for (index, (draft, check)) in drafts.iter().zip(checks).enumerate() {
            let (key, members) = match check {
                Check::Original(written) => {
                    results[index] = Some(Ok(written));
                    continue;
                }
                Check::Refused(refusal) => {
                    results[index] = Some(Err(refusal));
                    continue;
                }
                Check::Allowed { key, members } => (key, members),
            };
            // The same draft twice in one batch (a retry sent before the first answer): the
            // second waits until the first is stored, then is a plain retry.
            if seen.insert((draft.sender, draft.client_msg_id())) {
                firsts.push((index, key, members));
            } else {
                twins.push((index, key, members));
            }
        }
        // Every id the batch needs in one draw, off the runtime's threads (see `MessageIds::draw`).
        let mut ids = self.ids.draw(firsts.len() + twins.len()).await.into_iter();
        let mut allowed = Vec::with_capacity(firsts.len());
        for ((index, key, members), id) in firsts.into_iter().zip(ids.by_ref()) {
            match id {
                Ok(id) => allowed.push(Allowed::new(index, key, members, id, &drafts[index])),
                Err(err) => results[index] = Some(Err(err)),
            }
        }
        for (index, stored) in store(conn, allowed).await {
            results[index] = Some(settle(conn, &drafts[index], stored).await);
        }
        for ((index, key, members), id) in twins.into_iter().zip(ids) {
            let draft = &drafts[index];
            results[index] = Some(match id {
                Ok(id) => {
                    let twin = Allowed::new(index, key, members, id, draft);
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
    members: Vec<UserId>,
    new: NewMessage<'a>,
}

impl<'a> Allowed<'a> {
    fn new(
        index: usize,
        key: ConversationKey,
        members: Vec<UserId>,
        id: i64,
        draft: &'a Draft,
    ) -> Self {
        Self {
            index,
            members,
            new: NewMessage {
                id,
                key,
                sender_id: draft.sender,
                outgoing: &draft.outgoing,
            },
        }
    }
}

/// What became of an allowed draft in the store.
enum Stored {
    /// Boxed: a stored message is large, the other outcomes small.
    Done(Box<Written>),
    /// Its `client_msg_id` was stored meanwhile: a retry raced its original.
    Taken,
    /// Its group was deleted after the check.
    Gone,
    /// Its sender's account was deleted after the check.
    SenderGone,
    Failed(AppError),
}

/// Stores the allowed drafts together, or one by one when the batch fails. Gives each draft's
/// index with what became of it.
async fn store(conn: &mut AsyncPgConnection, allowed: Vec<Allowed<'_>>) -> Vec<(usize, Stored)> {
    if allowed.is_empty() {
        return Vec::new();
    }
    let batch: Vec<NewMessage> = allowed.iter().map(|allowed| allowed.new).collect();
    match queries::message_batches::store_batch(conn, &batch).await {
        Ok(stored) => allowed
            .into_iter()
            .zip(stored)
            .map(|(allowed, stored)| {
                let outcome = match stored {
                    Ok((record, conversation)) => {
                        metrics::counter!(names::MESSAGES_STORED).increment(1);
                        Stored::Done(Box::new(Written::Stored {
                            record,
                            conversation,
                            members: allowed.members,
                        }))
                    }
                    Err(Unstored::GroupGone) => Stored::Gone,
                    Err(Unstored::SenderGone) => Stored::SenderGone,
                };
                (allowed.index, outcome)
            })
            .collect(),
        Err(err) if allowed.len() == 1 => {
            let outcome = if queries::messages::is_client_msg_id_taken(&err) {
                Stored::Taken
            } else if queries::attachments::is_not_attachable(&err) {
                Stored::Failed(AppError::BadRequest(
                    "attachments: each must be an upload of yours that was not sent yet".into(),
                ))
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
async fn settle(
    conn: &mut AsyncPgConnection,
    draft: &Draft,
    stored: Stored,
) -> Result<Written, AppError> {
    match stored {
        Stored::Done(written) => Ok(*written),
        Stored::Taken => {
            let sender = [draft.sender];
            let client_msg_id = [draft.client_msg_id()];
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
        Stored::SenderGone => Err(permissions::account_deleted()),
        Stored::Failed(err) => Err(err),
    }
}

/// An internal error for a draft whose storing failed (perhaps with others of its batch).
pub(super) fn storage_error(err: &DieselError) -> AppError {
    AppError::internal(anyhow::anyhow!("storing messages: {err}"))
}
