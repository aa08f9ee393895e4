//! The attachments handle kept in the shared state: the object store, and the slots for image
//! decoding (each decode may take a few hundred megabytes for a moment, so only a few run at
//! once, whatever the number of uploads).

use tokio::sync::Semaphore;

use crate::platform::storage::Storage;

/// Images decoded at once, per instance.
const DECODE_SLOTS: usize = 2;

/// What attachments need besides the database.
pub struct AttachmentsHandle {
    pub storage: Storage,
    pub decoding: Semaphore,
}

impl AttachmentsHandle {
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            decoding: Semaphore::new(DECODE_SLOTS),
        }
    }
}
