//! The push handle kept in the shared state: the VAPID key every instance signs with, the
//! tokens it signed (one per push service origin, reused for an hour: a burst to 10,000 browsers
//! on one push service costs one signature, not 10,000), and the HTTP client that only talks to
//! public addresses.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::Context;
use url::Url;

use crate::{
    app::queries,
    pkg::config::PushConfig,
    platform::{
        database::DbPool,
        push::{sender::PushSender, vapid::VapidKey},
    },
};

/// How long a signed VAPID token is reused; it is valid for [`TOKEN_VALIDITY`].
const TOKEN_REUSE: Duration = Duration::from_secs(3600);
/// The validity of a VAPID token (RFC 8292 allows at most 24 hours).
const TOKEN_VALIDITY: Duration = Duration::from_secs(12 * 3600);
/// Origins whose tokens are kept; past this the cache starts over (push services are few).
const MAX_CACHED_ORIGINS: usize = 1024;

/// What sending a push needs besides the database.
pub struct PushHandle {
    pub vapid: VapidKey,
    pub sender: PushSender,
    /// `Authorization` header values by endpoint origin, with when they were signed.
    signed: Mutex<HashMap<String, (String, Instant)>>,
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
        Ok(Self {
            vapid,
            sender,
            signed: Mutex::new(HashMap::new()),
        })
    }

    /// The `Authorization` header for a push to `endpoint`, signed at most [`TOKEN_REUSE`] ago.
    pub fn authorization(
        &self,
        endpoint: &Url,
        subject: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let origin = endpoint.origin().ascii_serialization();
        let mut signed = self
            .signed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((header, at)) = signed.get(&origin) {
            if at.elapsed() < TOKEN_REUSE {
                return Ok(header.clone());
            }
        }
        let header = self
            .vapid
            .authorization(endpoint, subject, TOKEN_VALIDITY)?;
        if signed.len() >= MAX_CACHED_ORIGINS {
            signed.clear();
        }
        signed.insert(origin, (header.clone(), Instant::now()));
        Ok(header)
    }
}
