//! The client's address, as the rate limits see it: the TCP peer, or — only when that peer is a
//! trusted proxy (`TRUSTED_PROXIES`, none by default) — the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy.
//!
//! Why the right-most: each proxy appends the address it received the request from (nginx's
//! `$proxy_add_x_forwarded_for`), while everything to the left of what our own proxies appended
//! was written by the client and proves nothing. A client that is not behind a trusted proxy can
//! therefore never choose the address it is counted under.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use ipnet::IpNet;
use poem::{FromRequest, Request, RequestBody};

use crate::pkg::{config::Config, utils::errors::AppError};

/// The address a request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl<'a> FromRequest<'a> for ClientAddr {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let config = req.data::<Arc<Config>>().ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("the configuration is not attached"))
        })?;
        // The server listens on TCP only; anything else would be a unix socket, i.e. local.
        let peer = req
            .remote_addr()
            .as_socket_addr()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), SocketAddr::ip);
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok());
        Ok(Self(client_addr(peer, forwarded, &config.trusted_proxies)))
    }
}

/// Walks `X-Forwarded-For` (every header line, in order) from the right, past trusted proxies.
pub fn client_addr<'h>(
    peer: IpAddr,
    forwarded: impl IntoIterator<Item = &'h str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let hops: Vec<&str> = forwarded
        .into_iter()
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.into_iter().rev() {
        // Something that is not an address: the trusted proxy that passed it on is as far as
        // anything can be known.
        let Some(ip) = parse_hop(hop) else { break };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// An address as proxies write it: bare, or with a port (`[v6]:port`, `v4:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> Vec<IpNet> {
        ["127.0.0.0/8", "10.0.0.0/8"]
            .iter()
            .map(|net| net.parse().unwrap())
            .collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let client = client_addr(ip("203.0.113.9"), ["1.1.1.1"], &trusted());
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        // The client wrote "6.6.6.6"; nginx appended 198.51.100.4; an inner proxy 10.0.0.5.
        let forwarded = ["6.6.6.6, 198.51.100.4", "10.0.0.5"];
        let client = client_addr(ip("127.0.0.1"), forwarded, &trusted());
        assert_eq!(client, ip("198.51.100.4"));
    }

    #[test]
    fn a_trusted_peer_without_forwarding_or_with_garbage_is_itself_or_the_last_good_hop() {
        assert_eq!(
            client_addr(ip("127.0.0.1"), [], &trusted()),
            ip("127.0.0.1")
        );
        let client = client_addr(ip("127.0.0.1"), ["nonsense, 10.0.0.7"], &trusted());
        assert_eq!(client, ip("10.0.0.7"));
        let client = client_addr(ip("127.0.0.1"), ["[2001:db8::1]:443"], &trusted());
        assert_eq!(client, ip("2001:db8::1"));
    }

    #[test]
    fn ipv4_mapped_peers_are_matched_as_ipv4() {
        let client = client_addr(ip("::ffff:127.0.0.1"), ["192.0.2.1"], &trusted());
        assert_eq!(client, ip("192.0.2.1"));
    }
}
