//! Message ids: sonyflake numbers, unique across instances as long as no two live instances use
//! the same machine id at the same time. The machine id comes from a lease
//! (`platform/cache/lease.rs`), which may change while the server runs (Redis flushed and the
//! number taken by another instance meanwhile) or be unusable for a while (Redis unreachable):
//! then no id is issued and the send answers `unavailable`.

use std::sync::{Arc, Mutex};

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

    /// `count` ids (each one, or why there is none), drawn on tokio's blocking pool. Sonyflake
    /// makes 256 ids per 10 ms per machine id, a ceiling of 25,600 ids/s per instance, and when
    /// they run out it sleeps the calling thread until the next 10 ms window: that must never be
    /// one of the runtime's few worker threads, which would stall every socket they serve.
    pub async fn draw(self: &Arc<Self>, count: usize) -> Vec<Result<i64, AppError>> {
        if count == 0 {
            return Vec::new();
        }
        let ids = Arc::clone(self);
        let drawn =
            tokio::task::spawn_blocking(move || (0..count).map(|_| ids.next()).collect::<Vec<_>>());
        match drawn.await {
            Ok(drawn) => drawn,
            Err(err) => {
                let reason = format!("drawing message ids failed: {err}");
                let failed = || Err(AppError::internal(anyhow::anyhow!(reason.clone())));
                (0..count).map(|_| failed()).collect()
            }
        }
    }

    /// The next id. Sonyflake makes 256 ids per 10 ms per machine and waits out the rest of the
    /// 10 ms when they run out, which is why this may pause the calling thread for that long:
    /// async code draws through [`MessageIds::draw`].
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
    use std::sync::Arc;

    use super::MessageIds;
    use crate::platform::cache::lease::Lease;

    #[tokio::test(flavor = "current_thread")]
    async fn a_draw_past_the_window_waits_off_the_runtime_thread() {
        let ids = Arc::new(MessageIds::new(Lease::fixed(9)));
        // 1000 ids need four 10 ms windows, so sonyflake sleeps at least 30 ms; on the only runtime
        // thread, the ticker below could not run meanwhile.
        let ticks = tokio::spawn(async {
            let mut ticks = 0;
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                ticks += 1;
                if ticks == 3 {
                    return ticks;
                }
            }
        });
        let drawn: Vec<i64> = ids
            .draw(1000)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(drawn.len(), 1000);
        assert!(drawn.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            ticks.is_finished(),
            "the runtime ran other tasks while the ids were drawn"
        );
        assert!(ids.draw(0).await.is_empty());
    }

    #[test]
    fn ids_grow_and_never_repeat() {
        let ids = super::generator_for(7).unwrap();
        let drawn: Vec<u64> = (0..1000).map(|_| ids.next_id().unwrap()).collect();
        assert!(drawn.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(drawn.iter().all(|id| id & 0xffff == 7));
    }
}
