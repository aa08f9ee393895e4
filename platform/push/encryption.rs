//! Encrypting a payload for one subscription (RFC 8291 `aes128gcm`), with `web-push-native`:
//! the ECDH, HKDF and AES-GCM are the crate's, not ours.

use p256::PublicKey;
use web_push_native::Auth;

use super::decode_base64url;

/// Length of a subscription's `auth` secret.
pub const AUTH_LEN: usize = 16;

/// Why a subscription's keys cannot be used; the field named is the one to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub field: &'static str,
    pub reason: &'static str,
}

/// A subscription's keys, checked: `p256dh` a point on P-256, `auth` 16 bytes.
#[derive(Debug, Clone)]
pub struct SubscriberKeys {
    public_key: PublicKey,
    auth: Auth,
}

impl SubscriberKeys {
    /// Parses the base64url keys of a browser's `PushSubscription`.
    pub fn parse(p256dh: &str, auth: &str) -> Result<Self, KeyError> {
        let point = decode_base64url(p256dh).ok_or(KeyError {
            field: "keys.p256dh",
            reason: "must be base64url",
        })?;
        let public_key = PublicKey::from_sec1_bytes(&point)
            .ok()
            .filter(|_| point.len() == 65)
            .ok_or(KeyError {
                field: "keys.p256dh",
                reason: "must be an uncompressed P-256 public key (65 bytes)",
            })?;
        let auth = decode_base64url(auth)
            .filter(|auth| auth.len() == AUTH_LEN)
            .ok_or(KeyError {
                field: "keys.auth",
                reason: "must be 16 bytes in base64url",
            })?;
        Ok(Self {
            public_key,
            auth: Auth::clone_from_slice(&auth),
        })
    }

    /// The payload encrypted for this subscriber: the body of the push request.
    pub fn encrypt(&self, payload: &[u8]) -> Result<Vec<u8>, web_push_native::Error> {
        web_push_native::encrypt(payload.to_vec(), &self.public_key, &self.auth)
    }
}
