//! Message ids: sonyflake numbers, unique across instances as long as no two live instances share
//! a machine id (see `platform/cache/lease.rs`).

use sonyflake::Sonyflake;

use super::errors::AppError;

/// Hands out message ids for this instance.
pub struct MessageIds {
    generator: Sonyflake,
    machine_id: u16,
}

impl MessageIds {
    pub fn new(machine_id: u16) -> anyhow::Result<Self> {
        let generator = Sonyflake::builder()
            .machine_id(&|| Ok(machine_id))
            .finalize()
            .map_err(|err| anyhow::anyhow!("sonyflake: {err}"))?;
        Ok(Self {
            generator,
            machine_id,
        })
    }

    pub fn machine_id(&self) -> u16 {
        self.machine_id
    }

    /// The next id. Sonyflake makes 256 ids per 10 ms per machine and waits out the rest of the
    /// 10 ms when they run out, which is why this may pause the calling thread for that long.
    pub fn next(&self) -> Result<i64, AppError> {
        let id = self
            .generator
            .next_id()
            .map_err(|err| AppError::internal(anyhow::anyhow!("sonyflake: {err}")))?;
        i64::try_from(id).map_err(AppError::internal)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_grow_and_never_repeat() {
        let ids = super::MessageIds::new(7).unwrap();
        let drawn: Vec<i64> = (0..1000).map(|_| ids.next().unwrap()).collect();
        assert!(drawn.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
