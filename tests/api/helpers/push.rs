//! A fake Web Push service on loopback, and browsers that subscribe to it.
//!
//! Like a real push service it refuses what a browser could not use: every request it records
//! is checked here — the VAPID JWT's ES256 signature against the `k=` key, `aud` the endpoint's
//! origin, `exp` at most 24 hours ahead, a `sub` — and its `aes128gcm` body is decrypted with the
//! subscribing browser's own private key and auth secret (RFC 8291; the decryption is checked
//! against the RFC's test vector in `push::rfc8291_test_vector_decrypts`).

use std::{collections::HashMap, sync::Mutex, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use p256::{elliptic_curve::sec1::ToEncodedPoint, SecretKey};
use rand::RngCore;
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

/// A browser profile's push keys, as `pushManager.subscribe` makes them.
pub struct Browser {
    pub secret: SecretKey,
    pub auth: [u8; 16],
    pub endpoint: String,
}

impl Browser {
    /// The `PushSubscription.toJSON()` a browser would send.
    pub fn subscription(&self) -> Value {
        let point = self.secret.public_key().to_encoded_point(false);
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(point.as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            },
        })
    }
}

/// One push as the browser would see it, after every check passed.
#[derive(Debug, Clone)]
pub struct ReceivedPush {
    /// Which browser it went to (the endpoint's path).
    pub path: String,
    pub topic: String,
    pub ttl: u64,
    /// The decrypted JSON payload.
    pub payload: Value,
}

/// A loopback push service that answers 201 unless told otherwise.
pub struct FakePushService {
    server: MockServer,
    browsers: Mutex<HashMap<String, SecretKeyAndAuth>>,
}

type SecretKeyAndAuth = (SecretKey, [u8; 16]);

impl FakePushService {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201))
            .with_priority(u8::MAX)
            .mount(&server)
            .await;
        Self {
            server,
            browsers: Mutex::new(HashMap::new()),
        }
    }

    /// A new browser whose endpoint is on this service.
    pub fn browser(&self) -> Browser {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        let mut auth = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut auth);
        let path = format!("/push/{}", uuid::Uuid::new_v4().simple());
        self.browsers
            .lock()
            .unwrap()
            .insert(path.clone(), (secret.clone(), auth));
        Browser {
            secret,
            auth,
            endpoint: format!("{}{path}", self.server.uri()),
        }
    }

    /// Answers every push to `browser` with `status` (and `Retry-After` if given) from now on.
    pub async fn answer(&self, browser: &Browser, status: u16, retry_after: Option<u64>) {
        let endpoint_path = browser
            .endpoint
            .trim_start_matches(&self.server.uri())
            .to_owned();
        let mut response = ResponseTemplate::new(status);
        if let Some(seconds) = retry_after {
            response = response.insert_header("Retry-After", seconds.to_string().as_str());
        }
        Mock::given(method("POST"))
            .and(path(endpoint_path))
            .respond_with(response)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Every push received so far, checked and decrypted (panics on any that fails a check).
    pub async fn received(&self) -> Vec<ReceivedPush> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests.iter().map(|request| self.check(request)).collect()
    }

    /// The pushes to `browser`.
    pub async fn received_by(&self, browser: &Browser) -> Vec<ReceivedPush> {
        let wanted = browser.endpoint.trim_start_matches(&self.server.uri());
        self.received()
            .await
            .into_iter()
            .filter(|push| push.path == wanted)
            .collect()
    }

    /// Waits (up to 10 s) until `browser` has received at least `count` pushes; returns them.
    pub async fn wait_for(&self, browser: &Browser, count: usize) -> Vec<ReceivedPush> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let pushes = self.received_by(browser).await;
            if pushes.len() >= count {
                return pushes;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {count} pushes arrived",
                pushes.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn check(&self, request: &wiremock::Request) -> ReceivedPush {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_else(|| panic!("a {name} header"))
                .to_owned()
        };
        assert_eq!(header("content-encoding"), "aes128gcm");
        assert_eq!(header("urgency"), "high");
        let topic = header("topic");
        assert!(
            topic.len() <= 32
                && topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "Topic {topic:?} is at most 32 URL-safe characters"
        );
        let ttl: u64 = header("ttl").parse().expect("a numeric TTL");
        self.check_vapid(&header("authorization"));

        let path = request.url.path().to_owned();
        let (secret, auth) = self
            .browsers
            .lock()
            .unwrap()
            .get(&path)
            .cloned()
            .unwrap_or_else(|| panic!("a push to an unknown endpoint {path}"));
        let auth = web_push_native::Auth::clone_from_slice(&auth);
        let plaintext = web_push_native::decrypt(request.body.clone(), &secret, &auth)
            .expect("the body decrypts with the subscription's keys");
        let payload = serde_json::from_slice(&plaintext).expect("a JSON payload");
        ReceivedPush {
            path,
            topic,
            ttl,
            payload,
        }
    }

    /// `vapid t=<JWT>, k=<key>`: ES256 signed by `k`, `aud` this service's origin, `exp` within
    /// 24 hours, a `sub`.
    fn check_vapid(&self, authorization: &str) {
        let rest = authorization
            .strip_prefix("vapid ")
            .expect("a vapid authorization");
        let mut token = None;
        let mut key = None;
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(value) = part.strip_prefix("t=") {
                token = Some(value);
            } else if let Some(value) = part.strip_prefix("k=") {
                key = Some(value);
            }
        }
        let point = URL_SAFE_NO_PAD
            .decode(key.expect("k="))
            .expect("k is base64url");
        assert_eq!(point.len(), 65, "k is an uncompressed P-256 point");
        assert_eq!(point[0], 4);
        let decoding = DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..]),
        )
        .expect("k is a P-256 point");
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[self.server.uri()]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Value>(token.expect("t="), &decoding, &validation)
            .expect("the VAPID JWT verifies with k, for this origin")
            .claims;
        let exp = claims["exp"].as_i64().expect("a numeric exp");
        let now = chrono::Utc::now().timestamp();
        assert!(
            exp > now && exp <= now + 24 * 3600,
            "exp within 24 h: {claims}"
        );
        let sub = claims["sub"].as_str().expect("a sub");
        assert!(
            sub.starts_with("mailto:") || sub.starts_with("https://"),
            "{sub}"
        );
    }
}

impl super::TestApp {
    /// Subscribes `browser` to Web Push for the session of `access_token`; the stored
    /// subscription.
    pub async fn subscribe_push(&self, access_token: &str, browser: &Browser) -> Value {
        let reply = self
            .post(
                "/api/v1/push/subscriptions",
                Some(access_token),
                browser.subscription(),
            )
            .await;
        assert_eq!(reply.status, reqwest::StatusCode::CREATED, "{}", reply.body);
        reply.body
    }
}
