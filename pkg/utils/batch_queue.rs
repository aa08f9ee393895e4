//! A queue whose items are handled in batches by one task, each caller waiting for its own
//! answer. Under a burst (a reconnect storm: thousands of sockets opening and closing in a second)
//! one statement or one round trip then serves many callers instead of one each; when the server
//! is quiet a batch is one item and nothing waits for company.
//!
//! The queue lives in a handle that every caller reaches (the state); the task that empties it is
//! started once, with [`BatchQueue::start`], and runs for as long as the process does.

use std::{future::Future, sync::Mutex};

use tokio::sync::{mpsc, oneshot};

/// One item and the way back to whoever waits for it.
pub struct Job<T, R> {
    pub item: T,
    pub done: oneshot::Sender<R>,
}

/// The callers' end of the queue.
pub struct BatchQueue<T, R> {
    queue: mpsc::Sender<Job<T, R>>,
    /// The task's end, until it is taken.
    jobs: Mutex<Option<mpsc::Receiver<Job<T, R>>>>,
}

impl<T, R> BatchQueue<T, R> {
    /// A queue holding up to `depth` items before callers wait to add theirs.
    pub fn new(depth: usize) -> Self {
        let (queue, jobs) = mpsc::channel(depth);
        Self {
            queue,
            jobs: Mutex::new(Some(jobs)),
        }
    }

    /// Starts the task that empties the queue (once; later calls do nothing): it hands `handle`
    /// what has queued, up to `max` jobs at a time, and runs for as long as the process does, so
    /// callers are answered until the very end of a shutdown. `handle` answers every job it is
    /// given.
    pub fn start<F, Fut>(&self, max: usize, mut handle: F)
    where
        T: Send + 'static,
        R: Send + 'static,
        F: FnMut(Vec<Job<T, R>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let Some(mut jobs) = self.take_jobs() else {
            return;
        };
        tokio::spawn(async move {
            while let Some(batch) = next_batch(&mut jobs, max).await {
                handle(batch).await;
            }
        });
    }

    /// The task's end of the queue, the first time it is asked for.
    fn take_jobs(&self) -> Option<mpsc::Receiver<Job<T, R>>> {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Queues `item` and waits for its answer; none if the task is gone (or never started).
    pub async fn submit(&self, item: T) -> Option<R> {
        let (done, answer) = oneshot::channel();
        self.queue.send(Job { item, done }).await.ok()?;
        answer.await.ok()
    }
}

/// What has queued, up to `max` items; waits for the first. None when the queue closed.
async fn next_batch<T, R>(
    jobs: &mut mpsc::Receiver<Job<T, R>>,
    max: usize,
) -> Option<Vec<Job<T, R>>> {
    let first = jobs.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        let Ok(job) = jobs.try_recv() else { break };
        batch.push(job);
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn what_queued_meanwhile_is_one_batch_and_each_caller_gets_its_own_answer() {
        let queue = std::sync::Arc::new(BatchQueue::<u32, u32>::new(16));
        let mut jobs = queue.take_jobs().expect("the task's end, once");
        assert!(queue.take_jobs().is_none());
        let callers: Vec<_> = (1..=5)
            .map(|item| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.submit(item).await })
            })
            .collect();
        // Wait until all five have queued, then take them: at most three a batch.
        while jobs.len() < 5 {
            tokio::task::yield_now().await;
        }
        let first = next_batch(&mut jobs, 3).await.expect("open");
        let second = next_batch(&mut jobs, 3).await.expect("open");
        assert_eq!((first.len(), second.len()), (3, 2));
        for job in first.into_iter().chain(second) {
            let _ = job.done.send(job.item * 10);
        }
        let mut answers = Vec::new();
        for caller in callers {
            answers.push(caller.await.expect("no panic"));
        }
        assert_eq!(
            answers,
            vec![Some(10), Some(20), Some(30), Some(40), Some(50)]
        );
    }
}
