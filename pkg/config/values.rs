//! Parsing one setting's value; every refusal names the key it came from.

use std::time::Duration;

use ipnet::IpNet;

use super::ConfigError;

/// A comma-separated list of `host:port` seed nodes; empty for none.
pub(super) fn cluster_nodes(value: &str) -> Result<Vec<String>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|node| !node.is_empty())
        .map(|node| match node.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(node.to_owned())
            }
            _ => Err(invalid(
                "REDIS_CLUSTER_NODES",
                format!("{node:?} is not host:port"),
            )),
        })
        .collect()
}

/// A comma-separated list of CIDRs (a bare address means just that address); `none` trusts no
/// peer, so `X-Forwarded-For` is never read.
pub(super) fn trusted_proxies(value: &str) -> Result<Vec<IpNet>, ConfigError> {
    if value.trim() == "none" {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| invalid("TRUSTED_PROXIES", format!("{entry:?} is not a CIDR")))
        })
        .collect()
}

pub(super) fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        reason: reason.into(),
    }
}

pub(super) fn parse<T: std::str::FromStr>(key: &'static str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|err| invalid(key, format!("{value:?}: {err}")))
}

/// Durations are written the human way: `90s`, `15m`, `30d`, `250ms`.
pub(super) fn duration(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    let parsed = humantime::parse_duration(value.trim())
        .map_err(|err| invalid(key, format!("{value:?}: {err} (write e.g. 90s, 15m, 30d)")))?;
    if parsed.is_zero() {
        return Err(invalid(key, "must be longer than zero"));
    }
    Ok(parsed)
}

/// A duration where `0s` means "not at all".
pub(super) fn duration_or_zero(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value.trim())
        .map_err(|err| invalid(key, format!("{value:?}: {err} (write e.g. 5s, 500ms, 0s)")))
}

pub(super) fn positive<T: std::str::FromStr + Default + PartialOrd>(
    key: &'static str,
    value: &str,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let number: T = parse(key, value)?;
    if number <= T::default() {
        return Err(invalid(key, "must be greater than zero"));
    }
    Ok(number)
}

/// A group needs room for its creator and one more.
pub(super) fn at_least_two(key: &'static str, value: &str) -> Result<i32, ConfigError> {
    let count: i32 = parse(key, value)?;
    if count < 2 {
        return Err(invalid(key, "must be at least 2"));
    }
    Ok(count)
}

/// `CORS_ALLOWED_ORIGINS`: comma-separated origins such as `https://chat.example.com`, kept in
/// the form browsers send in `Origin` (lowercase scheme and host, no default port, no path).
pub(super) fn origins(value: &str) -> Result<Vec<String>, ConfigError> {
    let key = "CORS_ALLOWED_ORIGINS";
    let mut origins = Vec::new();
    for written in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let url =
            url::Url::parse(written).map_err(|err| invalid(key, format!("{written:?}: {err}")))?;
        let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
            return Err(invalid(
                key,
                format!("{written:?} is not an origin like https://chat.example.com"),
            ));
        }
        origins.push(url.origin().ascii_serialization());
    }
    Ok(origins)
}

pub(super) fn bcrypt_cost(value: &str) -> Result<u32, ConfigError> {
    let cost: u32 = parse("BCRYPT_COST", value)?;
    // bcrypt itself accepts 4..=31; anything above 16 takes seconds per login.
    if !(4..=16).contains(&cost) {
        return Err(invalid("BCRYPT_COST", "must be between 4 and 16"));
    }
    Ok(cost)
}
