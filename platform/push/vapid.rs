//! The server's VAPID identity (RFC 8292): one P-256 key pair, and the `Authorization` header it
//! signs for each push service. The JWT's `aud` is the endpoint's origin (scheme, host and any
//! non-default port), `exp` at most 24 hours ahead, `sub` a contact for the push service.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::{
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
    SecretKey,
};
use serde::Serialize;
use url::Url;

use super::{decode_base64url, encode_base64url};

/// The longest validity RFC 8292 allows a VAPID token.
pub const MAX_VALIDITY: Duration = Duration::from_secs(24 * 60 * 60);

/// A VAPID key pair, ready to sign.
pub struct VapidKey {
    pkcs8_der: Vec<u8>,
    signing: EncodingKey,
    /// The uncompressed public point, base64url: what browsers pass as `applicationServerKey`.
    public_key: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

impl VapidKey {
    /// A new random key pair.
    pub fn generate() -> Self {
        Self::from_secret(SecretKey::random(&mut rand::rngs::OsRng))
            .expect("a fresh P-256 key encodes as PKCS#8")
    }

    /// Reads a private key given as base64url of either its PKCS#8 DER or its 32 raw bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = decode_base64url(text.trim()).ok_or("not base64url")?;
        let secret = if bytes.len() == 32 {
            SecretKey::from_slice(&bytes).map_err(|_| "not a P-256 private key")?
        } else {
            SecretKey::from_pkcs8_der(&bytes).map_err(|_| "neither PKCS#8 nor 32 raw bytes")?
        };
        Self::from_secret(secret)
    }

    fn from_secret(secret: SecretKey) -> Result<Self, String> {
        let pkcs8_der = secret
            .to_pkcs8_der()
            .map_err(|err| err.to_string())?
            .as_bytes()
            .to_vec();
        let point = secret.public_key().to_sec1_bytes();
        Ok(Self {
            signing: EncodingKey::from_ec_der(&pkcs8_der),
            public_key: encode_base64url(&point),
            pkcs8_der,
        })
    }

    /// The private key as stored: base64url of its PKCS#8 DER.
    pub fn to_stored(&self) -> String {
        encode_base64url(&self.pkcs8_der)
    }

    /// The public key, base64url of the uncompressed point.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `Authorization` header for a push to `endpoint`: `vapid t=<JWT>, k=<public key>`.
    pub fn authorization(
        &self,
        endpoint: &Url,
        subject: &str,
        valid_for: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let audience = endpoint.origin().ascii_serialization();
        let valid_for = valid_for.min(MAX_VALIDITY);
        let claims = Claims {
            aud: &audience,
            exp: chrono::Utc::now().timestamp() + valid_for.as_secs() as i64,
            sub: subject,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.signing)?;
        Ok(format!("vapid t={token}, k={}", self.public_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_key_reads_back_as_the_same_key() {
        let key = VapidKey::generate();
        let again = VapidKey::parse(&key.to_stored()).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        assert_eq!(decode_base64url(key.public_key()).unwrap().len(), 65);
    }

    #[test]
    fn raw_32_byte_keys_are_accepted() {
        let raw = encode_base64url(&[7u8; 32]);
        assert!(VapidKey::parse(&raw).is_ok());
        assert!(VapidKey::parse("not a key!").is_err());
    }

    #[test]
    fn the_header_names_the_origin_and_the_public_key() {
        let key = VapidKey::generate();
        let endpoint: Url = "https://push.example:8443/send/abc".parse().unwrap();
        let header = key
            .authorization(&endpoint, "mailto:ops@example.com", MAX_VALIDITY)
            .unwrap();
        assert!(header.starts_with("vapid t="));
        assert!(header.ends_with(&format!(", k={}", key.public_key())));
    }
}
