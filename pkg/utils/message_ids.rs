//! Message ids: sonyflake numbers, unique across instances as long as no two live instances use
//! the same machine id at the same time. The machine id comes from a lease
//! (`platform/cache/lease.rs`), which may change while the server runs (Redis flushed and the
//! number taken by another instance meanwhile) or be unusable for a while (Redis unreachable):
//! then no id is issued and the send answers `unavailable`.

use std::sync::Mutex;

use sonyflake::Sonyflake;

use super::errors::AppError;
use crate::platform::cache::lease::Lease;

/// Hands out message ids for this instance.
pub struct MessageIds {
    lease: Lease,
    /// The generator of the machine id in use; rebuilt when the lease's number changes. A new
    /// generator's clock starts now, after every id the old one made, so ids never repeat.
    generator: Mutex<Option<(u16, Sonyflake)>>,
}

impl MessageIds {
    pub fn new(lease: Lease) -> Self {
        Self {
            lease,
            generator: Mutex::new(None),
        }
    }

    /// The machine id in use now, if any.
    pub fn machine_id(&self) -> Option<u16> {
        self.lease.current()
    }

    /// The next id. Sonyflake makes 256 ids per 10 ms per machine and waits out the rest of the
    /// 10 ms when they run out, which is why this may pause the calling thread for that long.
    pub fn next(&self) -> Result<i64, AppError> {
        let Some(machine_id) = self.lease.current() else {
            return Err(AppError::Unavailable(
                "message ids are unavailable (no machine id is held); retry shortly".into(),
            ));
        };
        let mut generator = self
            .generator
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if !matches!(&*generator, Some((current, _)) if *current == machine_id) {
            *generator = Some((machine_id, generator_for(machine_id)?));
            tracing::info!(machine_id, "message ids now use this machine id");
        }
        let (_, sonyflake) = generator.as_ref().expect("set above");
        let id = sonyflake
            .next_id()
            .map_err(|err| AppError::internal(anyhow::anyhow!("sonyflake: {err}")))?;
        i64::try_from(id).map_err(AppError::internal)
    }
}

fn generator_for(machine_id: u16) -> Result<Sonyflake, AppError> {
    Sonyflake::builder()
        .machine_id(&|| Ok(machine_id))
        .finalize()
        .map_err(|err| AppError::internal(anyhow::anyhow!("sonyflake: {err}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_grow_and_never_repeat() {
        let ids = super::generator_for(7).unwrap();
        let drawn: Vec<u64> = (0..1000).map(|_| ids.next_id().unwrap()).collect();
        assert!(drawn.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(drawn.iter().all(|id| id & 0xffff == 7));
    }
}
