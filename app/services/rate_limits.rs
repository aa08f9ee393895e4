//! The rate limits of the auth routes: which windows each route counts against, and how a
//! refusal is told (429 `rate_limited` with `Retry-After`). Counting happens in Redis
//! (`platform/cache/rate_limit.rs`), so the limits hold across every instance.
//!
//! Per client address: login attempts and registrations. Per (username, client address): failed
//! logins — keyed by address too, so an attacker guessing from one address never locks the owner
//! out from another (checks of the current password count there too). Per user: token
//! refreshes, WebSocket tickets and data exports.
//!
//! If Redis cannot be asked, the request goes through (logged and counted): an outage of the
//! cache must not lock everyone out of their accounts.

use crate::app::state::AppState;
use std::{net::IpAddr, time::Duration};

use ipnet::Ipv6Net;

use crate::{
    app::models::ids::UserId,
    pkg::utils::{errors::AppError, metrics as names},
    platform::cache::rate_limit::{self, Verdict, Window},
};

/// How far back failed logins count.
const LOGIN_FAILURE_PERIOD: Duration = Duration::from_secs(15 * 60);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(60 * 60);

/// One limit; its name labels the metrics.
#[derive(Debug, Clone, Copy)]
enum Rule {
    LoginPerAddress,
    LoginFailures,
    RegisterPerAddress,
    RefreshPerUser,
    WsTicketPerUser,
    ExportPerUser,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Self::LoginPerAddress => "login_per_address",
            Self::LoginFailures => "login_failures",
            Self::RegisterPerAddress => "register_per_address",
            Self::RefreshPerUser => "refresh_per_user",
            Self::WsTicketPerUser => "ws_ticket_per_user",
            Self::ExportPerUser => "export_per_user",
        }
    }

    /// What the client is told it did too often.
    fn refusal(self) -> &'static str {
        match self {
            Self::LoginPerAddress => "too many login attempts from your address",
            Self::LoginFailures => "too many failed logins for this username from your address",
            Self::RegisterPerAddress => "too many registrations from your address",
            Self::RefreshPerUser => "too many token refreshes",
            Self::WsTicketPerUser => "too many WebSocket tickets",
            Self::ExportPerUser => "too many data exports",
        }
    }
}

/// An admitted login attempt. It counts as a failure until [`forgive`] takes it back, so that
/// concurrent guesses cannot overrun the failure limit while their passwords are being checked.
pub struct LoginAttempt {
    failures_key: String,
    member: String,
}

/// Admits a login attempt for `username` (folded) from `client`, or refuses it.
pub async fn admit_login(
    state: &AppState,
    client: IpAddr,
    username: &str,
) -> Result<LoginAttempt, AppError> {
    let limits = &state.config.rate_limits;
    let address = address_key(client);
    let attempt = LoginAttempt {
        failures_key: login_failures_key(&address, username),
        member: uuid::Uuid::new_v4().simple().to_string(),
    };
    let rules = [
        (
            Rule::LoginPerAddress,
            window(
                format!("rate:{{{address}}}:login"),
                limits.login_per_min,
                MINUTE,
            ),
        ),
        (
            Rule::LoginFailures,
            window(
                attempt.failures_key.clone(),
                limits.login_failures,
                LOGIN_FAILURE_PERIOD,
            ),
        ),
    ];
    check(state, &rules, &attempt.member).await?;
    Ok(attempt)
}

/// Admits a check of `username`'s current password (changing the password, deleting the
/// account) from `client`, or refuses it. It counts among that username's failed logins from
/// that address, so a stolen access token cannot be used to guess the password faster than a
/// login could.
pub async fn admit_password_check(
    state: &AppState,
    client: IpAddr,
    username: &str,
) -> Result<LoginAttempt, AppError> {
    let attempt = LoginAttempt {
        failures_key: login_failures_key(&address_key(client), username),
        member: uuid::Uuid::new_v4().simple().to_string(),
    };
    let failures = window(
        attempt.failures_key.clone(),
        state.config.rate_limits.login_failures,
        LOGIN_FAILURE_PERIOD,
    );
    check(state, &[(Rule::LoginFailures, failures)], &attempt.member).await?;
    Ok(attempt)
}

/// Where failed logins of `username` (folded) from `address` are counted.
fn login_failures_key(address: &str, username: &str) -> String {
    format!("rate:{{{address}}}:login_failures:{username}")
}

/// The attempt did not fail (right password, or not checked at all): it stops counting.
pub async fn forgive(state: &AppState, attempt: LoginAttempt) {
    if state.config.rate_limits.login_failures == 0 {
        return;
    }
    if let Err(err) = rate_limit::forget(&state.cache, &attempt.failures_key, &attempt.member).await
    {
        unreachable_redis(Rule::LoginFailures, &err);
    }
}

/// Admits a registration from `client`, or refuses it.
pub async fn admit_registration(state: &AppState, client: IpAddr) -> Result<(), AppError> {
    let key = format!("rate:register:{}", address_key(client));
    let limit = state.config.rate_limits.register_per_hour;
    check_one(state, Rule::RegisterPerAddress, window(key, limit, HOUR)).await
}

/// Admits a token refresh by `user`, or refuses it.
pub async fn admit_refresh(state: &AppState, user: UserId) -> Result<(), AppError> {
    let limit = state.config.rate_limits.refresh_per_min;
    let key = format!("rate:refresh:{user}");
    check_one(state, Rule::RefreshPerUser, window(key, limit, MINUTE)).await
}

/// Admits a WebSocket ticket for `user`, or refuses it.
pub async fn admit_ws_ticket(state: &AppState, user: UserId) -> Result<(), AppError> {
    let limit = state.config.rate_limits.ws_ticket_per_min;
    let key = format!("rate:ws_ticket:{user}");
    check_one(state, Rule::WsTicketPerUser, window(key, limit, MINUTE)).await
}

/// Admits an export of `user`'s data (each reads their whole history), or refuses it.
pub async fn admit_export(state: &AppState, user: UserId) -> Result<(), AppError> {
    let key = format!("rate:export:{user}");
    let limit = state.config.rate_limits.export_per_min;
    check_one(state, Rule::ExportPerUser, window(key, limit, MINUTE)).await
}

fn window(key: String, limit: u32, period: Duration) -> Window {
    Window { key, limit, period }
}

async fn check_one(state: &AppState, rule: Rule, window: Window) -> Result<(), AppError> {
    let member = uuid::Uuid::new_v4().simple().to_string();
    check(state, &[(rule, window)], &member).await
}

/// Counts the event in every window, or refuses it naming the first full one.
async fn check(state: &AppState, rules: &[(Rule, Window)], member: &str) -> Result<(), AppError> {
    let windows: Vec<Window> = rules.iter().map(|(_, window)| window.clone()).collect();
    match rate_limit::admit(&state.cache, &windows, member).await {
        Ok(Verdict::Admitted) => Ok(()),
        Ok(Verdict::Refused {
            window,
            retry_after,
        }) => {
            let rule = rules[window].0;
            metrics::counter!(names::RATE_LIMITED, "rule" => rule.name()).increment(1);
            // Whole seconds, rounded up: coming back a little early would only be refused again.
            let retry_after_secs = retry_after.as_millis().div_ceil(1000).max(1) as u64;
            Err(AppError::RateLimited {
                message: format!("{}; try again in {retry_after_secs} s", rule.refusal()),
                retry_after_secs,
            })
        }
        Err(err) => {
            // Fail open: a cache outage must not lock everyone out.
            for (rule, _) in rules {
                unreachable_redis(*rule, &err);
            }
            Ok(())
        }
    }
}

fn unreachable_redis(rule: Rule, err: &redis::RedisError) {
    tracing::warn!(rule = rule.name(), error = %err, "rate limit not checked: Redis failed");
    metrics::counter!(names::RATE_LIMIT_ERRORS, "rule" => rule.name()).increment(1);
}

/// How a client address is counted: an IPv4 address as itself, an IPv6 address by its /64
/// network — one subscriber usually holds a whole /64, and could otherwise rotate through it.
fn address_key(client: IpAddr) -> String {
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => Ipv6Net::new(v6, 64)
            .map(|net| net.trunc().to_string())
            .unwrap_or_else(|_| v6.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_network() {
        let one = address_key("2001:db8:1:2::17".parse().unwrap());
        let other = address_key("2001:db8:1:2:ffff::1".parse().unwrap());
        assert_eq!(one, other);
        assert_eq!(one, "2001:db8:1:2::/64");
        assert_ne!(one, address_key("2001:db8:1:3::17".parse().unwrap()));
        assert_eq!(address_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
}
