//! Web Push, the protocol side: encrypting a payload for one browser (RFC 8291, `aes128gcm`),
//! signing the VAPID header (RFC 8292), and POSTing to a push service without letting a
//! subscriber's URL reach inside our network. Nothing here knows the chat domain: what to push,
//! to whom and when is `app/services/push`.

pub mod addresses;
pub mod encryption;
pub mod sender;
pub mod vapid;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};

/// Decodes base64url with or without padding (browsers give it without; some tools add it).
pub fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// Encodes base64url without padding, as Web Push wants it.
pub fn encode_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
