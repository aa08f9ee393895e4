//! One writer task: takes what has queued, checks it, stores it in one transaction, answers.

use std::{
    collections::{hash_map::Entry, HashMap},
    sync::Arc,
};

use diesel::result::Error as DieselError;
use diesel_async::AsyncPgConnection;
use futures_util::future;
use tokio::sync::{mpsc, Mutex};

use super::{
    checks::{check, Check},
    Draft, Job, Written, MAX_BATCH,
};
use crate::{
    app::{
        queries::{
            self,
            message_batches::{NewMessage, Stored},
        },
        services::permissions,
    },
    pkg::utils::{errors::AppError, message_ids::MessageIds, metrics as names},
    platform::database::{transaction, DbConn, DbPool},
};

/// One writer task.
#[derive(Clone)]
pub(super) struct Batcher {
    pub(super) db: DbPool,
    pub(super) ids: Arc<MessageIds>,
}

impl Batcher {
    pub(super) async fn run(self, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
        loop {
            let batch = next_batch(&jobs).await;
            if batch.is_empty() {
                return;
            }
            self.write_batch(batch).await;
        }
    }

    async fn write_batch(&self, jobs: Vec<Job>) {
        let mut drafts = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            replies.push((job.drafts.len(), job.reply));
            drafts.extend(job.drafts);
        }
        metrics::histogram!(names::WRITE_BATCH_SIZE).record(drafts.len() as f64);
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
        let mut results = results.into_iter();
        for (count, reply) in replies {
            // A sender that went away will retry and be given the original.
            let _ = reply.send(results.by_ref().take(count).collect());
        }
    }

    /// The outcome of each draft, in order: the whole batch in one transaction, or, should its
    /// store fail (a retry racing its original on another instance, an upload sent twice), each
    /// draft again in a transaction of its own, so no message fails because of another.
    async fn write_all(
        &self,
        conn: &mut DbConn,
        drafts: &[Draft],
    ) -> Vec<Result<Written, AppError>> {
        match self.attempt(conn, drafts).await {
            Ok(results) => results,
            Err(Failure::Store(_)) if drafts.len() > 1 => {
                let mut results = Vec::with_capacity(drafts.len());
                for draft in drafts {
                    results.push(self.write_alone(conn, draft).await);
                }
                results
            }
            Err(failure) if drafts.len() == 1 => {
                vec![self.after_failure(conn, &drafts[0], failure).await]
            }
            Err(Failure::Store(err) | Failure::Other(err)) => {
                drafts.iter().map(|_| Err(storage_error(&err))).collect()
            }
        }
    }

    /// One draft in a transaction of its own.
    async fn write_alone(&self, conn: &mut DbConn, draft: &Draft) -> Result<Written, AppError> {
        match self.attempt(conn, std::slice::from_ref(draft)).await {
            Ok(mut results) => results.remove(0),
            Err(failure) => self.after_failure(conn, draft, failure).await,
        }
    }

    /// The answer to a draft whose attempt failed on its own (its transaction rolled back).
    async fn after_failure(
        &self,
        conn: &mut DbConn,
        draft: &Draft,
        failure: Failure,
    ) -> Result<Written, AppError> {
        let err = match failure {
            Failure::Store(err) => err,
            Failure::Other(err) => return Err(storage_error(&err)),
        };
        if queries::messages::is_client_msg_id_taken(&err) {
            // Its original committed meanwhile: once more, and the check pass finds it (and
            // answers it by the retry rule).
            return match self.attempt(conn, std::slice::from_ref(draft)).await {
                Ok(mut results) => results.remove(0),
                Err(Failure::Store(err) | Failure::Other(err)) => Err(storage_error(&err)),
            };
        }
        if queries::attachments::is_not_attachable(&err) {
            return Err(AppError::BadRequest(
                "attachments: each must be an upload of yours that was not sent yet".into(),
            ));
        }
        Err(storage_error(&err))
    }

    /// The batch in one transaction: the check pass, then one store of every allowed draft, in
    /// two round trips (`BEGIN` leads the check pass's statements, `COMMIT` follows the store:
    /// `database::transaction`). A failed store rolls the whole transaction back (there is no
    /// savepoint to return to: a failed store is rare, and Postgres answers the `COMMIT` of a
    /// transaction whose store failed by rolling it back).
    async fn attempt(
        &self,
        conn: &mut DbConn,
        drafts: &[Draft],
    ) -> Result<Vec<Result<Written, AppError>>, Failure> {
        let conn: &mut AsyncPgConnection = conn;
        let begin = transaction::begin(conn).map_err(Failure::Other)?;
        let checks = match check(conn, begin, drafts).await {
            Ok(checks) => checks,
            Err(err) => {
                // Should the rollback fail too, the connection stays marked as in a
                // transaction, and the pool closes it instead of lending it again.
                let _ = transaction::rollback(conn).await;
                return Err(Failure::Other(err));
            }
        };
        self.store_checked(conn, drafts, checks).await
    }

    /// Stores the drafts the check pass allowed and ends the transaction; answers every draft.
    async fn store_checked(
        &self,
        conn: &mut AsyncPgConnection,
        drafts: &[Draft],
        checks: Vec<Check>,
    ) -> Result<Vec<Result<Written, AppError>>, Failure> {
        let mut results: Vec<Option<Result<Written, AppError>>> =
            drafts.iter().map(|_| None).collect();
        let mut allowed = Vec::with_capacity(drafts.len());
        // The same draft twice in one batch (a retry sent before the first answer): the second
        // is answered with what became of the first.
        let mut firsts = HashMap::new();
        let mut twins = Vec::new();
        for (index, (draft, check)) in drafts.iter().zip(checks).enumerate() {
            match check {
                Check::Original(written) => results[index] = Some(Ok(written)),
                Check::Refused(refusal) => results[index] = Some(Err(refusal)),
                Check::Allowed { key, members } => {
                    match firsts.entry((draft.sender, draft.client_msg_id())) {
                        Entry::Occupied(first) => twins.push((index, *first.get())),
                        Entry::Vacant(slot) => {
                            slot.insert(index);
                            allowed.push((index, key, members));
                        }
                    }
                }
            }
        }
        // Every id the batch needs in one draw, off the runtime's threads (see `MessageIds::draw`).
        let ids = self.ids.draw(allowed.len()).await;
        let mut batch = Vec::with_capacity(allowed.len());
        let mut members_of = Vec::with_capacity(allowed.len());
        for ((index, key, members), id) in allowed.into_iter().zip(ids) {
            match id {
                Ok(id) => {
                    let draft = &drafts[index];
                    batch.push(NewMessage {
                        id,
                        key,
                        sender_id: draft.sender,
                        outgoing: &draft.outgoing,
                    });
                    members_of.push((index, members));
                }
                Err(err) => results[index] = Some(Err(err)),
            }
        }
        let stored = store_and_commit(conn, &batch).await?;
        for ((index, members), stored) in members_of.into_iter().zip(stored) {
            results[index] = Some(match stored {
                Some((record, conversation)) => {
                    metrics::counter!(names::MESSAGES_STORED).increment(1);
                    Ok(Written::Stored {
                        record,
                        conversation,
                        members,
                    })
                }
                None => Err(permissions::no_such_group()),
            });
        }
        for (index, first) in twins {
            results[index] = Some(match &results[first] {
                Some(Ok(Written::Stored {
                    record,
                    conversation,
                    ..
                })) => Ok(Written::Original {
                    record: record.clone(),
                    conversation: conversation.clone(),
                }),
                _ => Err(AppError::Unavailable(
                    "the message could not be stored; retry with the same client_msg_id".into(),
                )),
            });
        }
        Ok(results
            .into_iter()
            .map(|result| result.expect("every draft has an outcome"))
            .collect())
    }
}

/// The jobs that queued while this writer was busy, taken whole, until they hold [`MAX_BATCH`]
/// drafts (the last job taken may carry it past that, by fewer than `MAX_GROUP`); waits for the
/// first. Empty when the queue closed. The lock is held while waiting on purpose: one idle writer
/// waits for the next send, the others wait for the lock, so a send is taken by exactly one
/// writer, the first free one.
async fn next_batch(jobs: &Mutex<mpsc::Receiver<Job>>) -> Vec<Job> {
    let mut queue = jobs.lock().await;
    let Some(first) = queue.recv().await else {
        return Vec::new();
    };
    let mut drafts = first.drafts.len();
    let mut batch = vec![first];
    while drafts < MAX_BATCH {
        let Ok(job) = queue.try_recv() else { break };
        drafts += job.drafts.len();
        batch.push(job);
    }
    batch
}

/// Stores the batch and commits its transaction: in one round trip, unless the batch attaches
/// uploads (then the commit waits for the store's answer, see `store_batch`). Whatever the
/// outcome, the transaction is over when this returns (or the connection is left marked as in
/// one, and is not lent again).
async fn store_and_commit(
    conn: &mut AsyncPgConnection,
    batch: &[NewMessage<'_>],
) -> Result<Vec<Stored>, Failure> {
    let storing = queries::message_batches::store_batch(conn, batch);
    if queries::message_batches::attaches(batch) {
        return match storing.await {
            Ok(stored) => {
                transaction::commit(conn).await.map_err(Failure::Other)?;
                transaction::ended(conn).map_err(Failure::Other)?;
                Ok(stored)
            }
            Err(err) => {
                let _ = transaction::rollback(conn).await;
                Err(Failure::Store(err))
            }
        };
    }
    let (stored, committed) = future::join(storing, transaction::commit(conn)).await;
    // Answered either way: committed, or (after a failed store) rolled back.
    committed.map_err(Failure::Other)?;
    transaction::ended(conn).map_err(Failure::Other)?;
    stored.map_err(Failure::Store)
}

/// Why an attempt at a batch failed; its transaction was rolled back either way.
enum Failure {
    /// The store failed: the batch, or its drafts one by one, may be tried again.
    Store(DieselError),
    /// Anything else (beginning, the check pass, the commit): nothing will be tried again.
    Other(DieselError),
}

/// An internal error for a draft whose storing failed (perhaps with others of its batch).
pub(super) fn storage_error(err: &DieselError) -> AppError {
    AppError::internal(anyhow::anyhow!("storing messages: {err}"))
}
