//! The push handle kept in the shared state: the VAPID key every instance signs with and the
//! HTTP client that only talks to public addresses.

use anyhow::Context;

use crate::{
    app::queries,
    pkg::config::PushConfig,
    platform::{
        database::DbPool,
        push::{sender::PushSender, vapid::VapidKey},
    },
};

/// What sending a push needs besides the database.
pub struct PushHandle {
    pub vapid: VapidKey,
    pub sender: PushSender,
}

impl PushHandle {
    /// Loads the VAPID key (from `VAPID_PRIVATE_KEY`, else the one stored in Postgres, which
    /// the first instance to start generates) and builds the client.
    pub async fn load(config: &PushConfig, db: &DbPool) -> anyhow::Result<Self> {
        let vapid = match &config.vapid_private_key {
            Some(given) => VapidKey::parse(given)
                .map_err(anyhow::Error::msg)
                .context("VAPID_PRIVATE_KEY")?,
            None => {
                let candidate = VapidKey::generate().to_stored();
                let mut conn = db.get().await.context("loading the VAPID key")?;
                let stored = queries::push::vapid_key(&mut conn, &candidate)
                    .await
                    .context("loading the VAPID key")?;
                VapidKey::parse(&stored)
                    .map_err(anyhow::Error::msg)
                    .context("the VAPID key stored in chat.vapid_keys")?
            }
        };
        let sender = PushSender::new(config.allow_http).context("building the push client")?;
        Ok(Self { vapid, sender })
    }
}
