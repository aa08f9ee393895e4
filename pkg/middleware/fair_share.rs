//! Fair share of the REST API: one signed-in user cannot take so much of an instance (its
//! database connections above all) that everyone else slows down.
//!
//! Two limits, per user and per instance, kept in memory (no round trip to Redis on every
//! request):
//! - a token bucket weighted by cost: a plain request costs 1, a history page
//!   [`HISTORY_COST`], a search [`SEARCH_COST`], an export [`EXPORT_COST`]
//!   (`RATE_LIMIT_REST_PER_MIN` units a minute, at most `RATE_LIMIT_REST_BURST` at once);
//! - a cap on the expensive requests (those costing more than 1) one user has running at once
//!   (`RATE_LIMIT_EXPENSIVE_CONCURRENCY`).
//!
//! Beyond either: 429 `rate_limited` with `Retry-After`. With several instances a user's share is
//! per instance, which is what protects each instance's pool. The caller is known from a validly
//! signed access token alone (a forged one cannot spend another user's share); whether its
//! session is still live is the handler's check, as ever. Requests without a token are not
//! counted here (the auth routes have limits of their own).

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::{
    http::{header, Method},
    Endpoint, IntoResponse, Request, Response,
};
use uuid::Uuid;

use crate::pkg::{
    config::Config,
    utils::{errors::AppError, jwt::TokenKeys, metrics as names},
};

/// What a page of history costs (private, group, or all of one's private messages).
pub const HISTORY_COST: u32 = 5;
/// What a search costs.
pub const SEARCH_COST: u32 = 10;
/// What exporting one's data costs.
pub const EXPORT_COST: u32 = 20;
/// Users remembered before the idle ones are forgotten.
const FORGET_ABOVE: usize = 10_000;

/// What a request costs from its user's bucket.
pub fn cost(method: &Method, path: &str) -> u32 {
    if method != Method::GET {
        return 1;
    }
    let path = path.trim_end_matches('/');
    if path == "/api/v1/messages/search" {
        SEARCH_COST
    } else if path == "/api/v1/users/me/export" {
        EXPORT_COST
    } else if path.starts_with("/api/v1/messages/private")
        || (path.starts_with("/api/v1/groups/") && path.ends_with("/messages"))
    {
        HISTORY_COST
    } else {
        1
    }
}

/// The limits' state, shared by every request of the instance.
pub struct FairShare {
    keys: TokenKeys,
    buckets: Option<DefaultKeyedRateLimiter<Uuid>>,
    max_expensive: u32,
    /// Expensive requests running now, by user.
    running: Mutex<HashMap<Uuid, u32>>,
}

impl FairShare {
    pub fn new(config: &Config) -> Self {
        let limits = &config.rate_limits;
        let buckets = NonZeroU32::new(limits.rest_per_min).map(|per_min| {
            // The bucket holds at least one of the costliest requests.
            let burst = NonZeroU32::new(limits.rest_burst.max(EXPORT_COST)).unwrap_or(per_min);
            RateLimiter::keyed(Quota::per_minute(per_min).allow_burst(burst))
        });
        Self {
            keys: TokenKeys::new(&config.jwt_secret, &config.jwt_previous_secrets),
            buckets,
            max_expensive: limits.expensive_concurrency,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The user of a validly signed access token, if the request carries one.
    fn caller(&self, req: &Request) -> Option<Uuid> {
        let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        self.keys
            .check_access(token.trim())
            .ok()
            .map(|claims| claims.sub)
    }

    /// Takes `cost` units from the user's bucket, or says how long to wait.
    fn spend(&self, user: Uuid, cost: u32) -> Result<(), AppError> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        if buckets.len() > FORGET_ABOVE {
            buckets.retain_recent();
        }
        let units = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        match buckets.check_key_n(&user, units) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                Err(refused("rest_per_user", "too many requests", wait))
            }
            // The bucket is smaller than the cost: cannot happen, as it holds the costliest.
            Err(_) => Err(refused(
                "rest_per_user",
                "too many requests",
                Duration::ZERO,
            )),
        }
    }

    /// Counts an expensive request of the user as running until the guard is dropped.
    fn enter(self: &Arc<Self>, user: Uuid) -> Result<Running, AppError> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = running.entry(user).or_default();
        if self.max_expensive > 0 && *count >= self.max_expensive {
            return Err(refused(
                "expensive_concurrency",
                "too many searches, history pages or exports at once; wait for one to finish",
                Duration::ZERO,
            ));
        }
        *count += 1;
        Ok(Running {
            share: self.clone(),
            user,
        })
    }
}

/// An expensive request running; dropping it (when the response is ready, or the request was
/// dropped) counts it as finished.
struct Running {
    share: Arc<FairShare>,
    user: Uuid,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self
            .share
            .running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = running.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.user);
            }
        }
    }
}

fn refused(rule: &'static str, what: &str, wait: Duration) -> AppError {
    metrics::counter!(names::RATE_LIMITED, "rule" => rule).increment(1);
    // Whole seconds, rounded up, at least one.
    let retry_after_secs = (wait.as_millis().div_ceil(1000) as u64).max(1);
    AppError::RateLimited {
        message: format!("{what}; try again in {retry_after_secs} s"),
        retry_after_secs,
    }
}

/// The middleware, for `EndpointExt::around` on the REST routes.
pub async fn fair_share<E: Endpoint>(
    next: E,
    req: Request,
    share: Arc<FairShare>,
) -> poem::Result<Response> {
    let Some(user) = share.caller(&req) else {
        return Ok(next.call(req).await?.into_response());
    };
    let cost = cost(req.method(), req.uri().path());
    share.spend(user, cost)?;
    let _running = if cost > 1 {
        Some(share.enter(user)?)
    } else {
        None
    };
    Ok(next.call(req).await?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_history_and_exports_cost_more() {
        let get = Method::GET;
        assert_eq!(cost(&get, "/api/v1/messages/search"), SEARCH_COST);
        assert_eq!(cost(&get, "/api/v1/messages/private"), HISTORY_COST);
        assert_eq!(cost(&get, "/api/v1/messages/private/abc"), HISTORY_COST);
        assert_eq!(cost(&get, "/api/v1/groups/abc/messages"), HISTORY_COST);
        assert_eq!(cost(&get, "/api/v1/users/me/export"), EXPORT_COST);
        assert_eq!(cost(&get, "/api/v1/groups/abc"), 1);
        assert_eq!(cost(&Method::POST, "/api/v1/groups/abc/messages"), 1);
    }
}
