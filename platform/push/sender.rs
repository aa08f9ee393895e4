//! POSTing an encrypted push to a push service, safely. The endpoint is a URL a user gave us, so
//! the client: connects only to public addresses (names are resolved by [`PublicOnly`], which
//! refuses a name if any of its addresses is not public, so what is checked is what is
//! connected to; IP literals are checked before the request); follows no redirects; uses no
//! proxy from the environment; has short timeouts; and reads at most a few bytes of any answer.
//! `allow_private` (`PUSH_ALLOW_HTTP=true`) lifts the address rule for tests on loopback.

use std::{
    error::Error as StdError,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    header::{self, HeaderValue},
    redirect, StatusCode,
};
use url::{Host, Url};

use super::addresses::is_public;

/// Longest wait to connect to a push service.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a whole push request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a name to resolve (the system resolver has no timeout of its own).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// The most bytes of a push service's answer read (for the log); the rest is dropped.
const MAX_ANSWER_BYTES: usize = 1024;

/// Why an endpoint may not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointRefusal {
    #[error("must be an https:// URL")]
    NotHttps,
    #[error("has no host")]
    NoHost,
    #[error("could not be resolved")]
    Unresolvable,
    #[error("must resolve to public addresses only")]
    NotPublic,
}

/// One push request, encrypted and signed.
pub struct PushRequest<'a> {
    pub endpoint: &'a Url,
    /// `Authorization: vapid t=…, k=…`
    pub authorization: String,
    /// Seconds the push service keeps the message for an unreachable browser.
    pub ttl_secs: u64,
    /// Replaces an undelivered push with the same topic (at most 32 URL-safe characters).
    pub topic: &'a str,
    pub urgency: &'static str,
    /// The `aes128gcm` body.
    pub body: Vec<u8>,
}

/// What the push service said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted (2xx).
    Accepted,
    /// 404 or 410: the subscription is gone for good.
    Gone(u16),
    /// 429, 5xx, or no answer: worth trying again, after `after` if the service said so.
    Retry {
        status: Option<u16>,
        after: Option<Duration>,
    },
    /// Any other answer (a bad request, a VAPID mismatch): trying again would not help.
    Refused(u16),
    /// It could not be encrypted or signed (a fault of ours, logged).
    Unsendable,
    /// The endpoint now resolves to addresses we never connect to.
    Blocked,
}

/// The HTTP client for pushes; cheap to clone.
#[derive(Clone)]
pub struct PushSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl PushSender {
    /// A client that connects only to public addresses unless `allow_private`.
    pub fn new(allow_private: bool) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicOnly { allow_private }))
            .redirect(redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Self {
            client,
            allow_private,
        })
    }

    /// Checks an endpoint a user wants to subscribe with: `https://` (or, when private
    /// addresses are allowed, `http://`) and resolving to public addresses only.
    pub async fn check_endpoint(&self, endpoint: &Url) -> Result<(), EndpointRefusal> {
        match endpoint.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            _ => return Err(EndpointRefusal::NotHttps),
        }
        if self.allow_private {
            return Ok(());
        }
        let port = endpoint.port_or_known_default().unwrap_or(443);
        let addresses: Vec<IpAddr> = match endpoint.host().ok_or(EndpointRefusal::NoHost)? {
            Host::Ipv4(ip) => vec![ip.into()],
            Host::Ipv6(ip) => vec![ip.into()],
            Host::Domain(name) => {
                tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port)))
                    .await
                    .map_err(|_| EndpointRefusal::Unresolvable)?
                    .map_err(|_| EndpointRefusal::Unresolvable)?
                    .map(|addr| addr.ip())
                    .collect()
            }
        };
        if addresses.is_empty() {
            return Err(EndpointRefusal::Unresolvable);
        }
        if !addresses.into_iter().all(is_public) {
            return Err(EndpointRefusal::NotPublic);
        }
        Ok(())
    }

    /// Sends one push and says what came of it.
    pub async fn send(&self, push: PushRequest<'_>) -> Delivery {
        if !self.allow_private && !literal_is_public(push.endpoint) {
            return Delivery::Blocked;
        }
        let sent = self
            .client
            .post(push.endpoint.clone())
            .header(header::AUTHORIZATION, push.authorization)
            .header("TTL", push.ttl_secs)
            .header("Topic", push.topic)
            .header("Urgency", push.urgency)
            .header(header::CONTENT_ENCODING, "aes128gcm")
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .body(push.body)
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(err) if refused_by_resolver(&err) => return Delivery::Blocked,
            Err(err) => {
                tracing::debug!(error = %err, "push request failed");
                return Delivery::Retry {
                    status: None,
                    after: None,
                };
            }
        };
        let status = answer.status();
        let retry_after = retry_after(answer.headers());
        if !status.is_success() {
            let text = read_bounded(answer).await;
            tracing::debug!(%status, answer = %text, "push service refused a push");
        }
        classify(status, retry_after)
    }
}

/// The outcome of a push service's status.
fn classify(status: StatusCode, retry_after: Option<Duration>) -> Delivery {
    match status.as_u16() {
        200..=299 => Delivery::Accepted,
        code @ (404 | 410) => Delivery::Gone(code),
        code @ (429 | 500..=599) => Delivery::Retry {
            status: Some(code),
            after: retry_after,
        },
        code => Delivery::Refused(code),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from push services and is ignored).
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// At most [`MAX_ANSWER_BYTES`] of an answer's body, for the log.
async fn read_bounded(mut answer: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ANSWER_BYTES {
        match answer.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ANSWER_BYTES);
    String::from_utf8_lossy(&body).into_owned()
}

/// False for an endpoint whose host is a non-public IP literal (names go through the resolver).
fn literal_is_public(endpoint: &Url) -> bool {
    match endpoint.host() {
        Some(Host::Ipv4(ip)) => is_public(ip.into()),
        Some(Host::Ipv6(ip)) => is_public(ip.into()),
        Some(Host::Domain(_)) => true,
        None => false,
    }
}

/// The resolver's refusal, found anywhere in a request error's chain of causes.
fn refused_by_resolver(err: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(current) = cause {
        if current.downcast_ref::<EndpointRefusal>().is_some() {
            return true;
        }
        cause = current.source();
    }
    false
}

/// Resolves names with the system resolver and refuses any name with a non-public address.
struct PublicOnly {
    allow_private: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port in.
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && !addresses.iter().all(|addr| is_public(addr.ip())) {
                return Err(Box::new(EndpointRefusal::NotPublic) as _);
            }
            let addresses: Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoints_inside_the_network_are_refused() {
        let sender = PushSender::new(false).unwrap();
        for (endpoint, refusal) in [
            ("http://push.example.com/x", EndpointRefusal::NotHttps),
            ("https://127.0.0.1/x", EndpointRefusal::NotPublic),
            ("https://localhost/x", EndpointRefusal::NotPublic),
            ("https://169.254.169.254/latest", EndpointRefusal::NotPublic),
            ("https://10.0.0.7:8443/x", EndpointRefusal::NotPublic),
            ("https://[::1]/x", EndpointRefusal::NotPublic),
        ] {
            let url: Url = endpoint.parse().unwrap();
            assert_eq!(
                sender.check_endpoint(&url).await,
                Err(refusal),
                "{endpoint}"
            );
        }
    }

    #[test]
    fn statuses_map_to_what_happens_next() {
        assert_eq!(classify(StatusCode::CREATED, None), Delivery::Accepted);
        assert_eq!(classify(StatusCode::GONE, None), Delivery::Gone(410));
        assert_eq!(classify(StatusCode::NOT_FOUND, None), Delivery::Gone(404));
        let after = Some(Duration::from_secs(3));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, after),
            Delivery::Retry {
                status: Some(429),
                after
            }
        );
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, None),
            Delivery::Refused(400)
        );
    }
}
