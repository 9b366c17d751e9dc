//! The caller's IP address, for rate limits. Behind Caddy the peer is the proxy, so the address
//! comes from `X-Forwarded-For` — but only when the peer is a trusted proxy, and then the right-most
//! entry that is not itself a trusted proxy (entries further left are whatever the client wrote).
//!
//! Hand-written rather than taken from `axum-client-ip`: that crate picks one fixed source per
//! deployment, while we must accept direct connections (tests, internal callers) and proxied ones
//! on the same listener, trusting the header only from configured proxies.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use ipnet::IpNet;

use crate::{ConfigError, Env, Problem};

/// Proxies whose `X-Forwarded-For` is believed; installed as a request extension by the stack.
#[derive(Debug, Clone)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(Arc::new(nets))
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address for a request from `peer` carrying `forwarded_for` headers (in order).
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // A malformed entry ends the walk: nothing left of it can be trusted.
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// `127.0.0.1/32` and `::1/128`: Caddy on the same host.
pub fn loopback() -> Vec<IpNet> {
    vec![
        IpNet::from(IpAddr::from([127, 0, 0, 1])),
        IpNet::from(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
    ]
}

/// `TRUSTED_PROXIES`: addresses (`10.0.0.5`) or ranges (`10.0.0.0/8`); `none` trusts no proxy.
pub fn trusted_proxies_from_env(env: &Env) -> Result<Vec<IpNet>, ConfigError> {
    let entries = env.list("TRUSTED_PROXIES");
    if entries.is_empty() {
        return Ok(loopback());
    }
    if entries == ["none"] {
        return Ok(Vec::new());
    }
    entries
        .iter()
        .map(|e| {
            e.parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError::new(
                        "TRUSTED_PROXIES",
                        format!("{e:?} is neither an IP address nor a CIDR range"),
                    )
                })
        })
        .collect()
}

/// The caller's address (see the module docs). Needs the server's `ConnectInfo<SocketAddr>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            tracing::error!("ClientIp used on a server without connect info");
            return Err(Problem::internal());
        };
        let peer = peer.ip().to_canonical();
        let Some(trusted) = parts.extensions.get::<TrustedProxies>() else {
            return Ok(Self(peer));
        };
        let headers = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(Self(trusted.client(peer, headers).to_canonical()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies::new(vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ]);
        // A direct caller cannot claim another address.
        assert_eq!(
            trusted.client(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
        // Through Caddy: the right-most untrusted hop, not what the client prepended.
        assert_eq!(
            trusted.client(ip("127.0.0.1"), ["6.6.6.6, 198.51.100.7"].into_iter()),
            ip("198.51.100.7")
        );
        // Two trusted hops (load balancer, Caddy) are skipped.
        assert_eq!(
            trusted.client(ip("127.0.0.1"), ["198.51.100.7", "10.1.2.3"].into_iter()),
            ip("198.51.100.7")
        );
        // No header: the proxy itself.
        assert_eq!(
            trusted.client(ip("127.0.0.1"), std::iter::empty()),
            ip("127.0.0.1")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            trusted.client(ip("127.0.0.1"), ["198.51.100.7, nonsense"].into_iter()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_setting_accepts_addresses_ranges_and_none() {
        let env = Env::from_pairs([("TRUSTED_PROXIES", "10.0.0.5, 192.168.0.0/16")]);
        assert_eq!(trusted_proxies_from_env(&env).unwrap().len(), 2);
        let env = Env::from_pairs([("TRUSTED_PROXIES", "none")]);
        assert!(trusted_proxies_from_env(&env).unwrap().is_empty());
        let env = Env::from_pairs([("TRUSTED_PROXIES", "proxy.local")]);
        assert!(trusted_proxies_from_env(&env).is_err());
    }
}
