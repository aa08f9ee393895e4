//! The queue of session checks waiting for the checking task (`live_sessions`), in the state
//! every handler reaches.

use crate::{
    app::models::{auth::Caller, users::UserRecord},
    pkg::utils::{batch_queue::BatchQueue, errors::AppError},
};

/// Checks waiting before callers wait to queue.
const QUEUE_DEPTH: usize = 8192;

/// A check's answer: the caller's user if the session is live, none if it is not.
pub type Checked = Result<Option<UserRecord>, AppError>;

/// Session checks waiting to be read together.
pub struct LiveSessions {
    pub(super) queue: BatchQueue<Caller, Checked>,
}

impl LiveSessions {
    pub fn new() -> Self {
        Self {
            queue: BatchQueue::new(QUEUE_DEPTH),
        }
    }
}

impl Default for LiveSessions {
    fn default() -> Self {
        Self::new()
    }
}
