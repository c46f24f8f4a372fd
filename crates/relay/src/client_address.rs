//! Who the client is: the TCP peer, or, when the peer is one of the reverse proxies the relay
//! was told to trust (`--trusted-proxies`), the address those proxies reported in the forwarded
//! header they write (`--forwarded-header`).
//!
//! The forwarded header is a list of hops, the client first and each proxy appending the
//! address it received the request from. Only the entries that trusted proxies appended can be
//! believed: everything to their left came from the client, who can write anything. So the list
//! is read from the right, skipping trusted hops; the first address that is not a trusted proxy
//! is the client. A client therefore cannot choose its own rate-limit key, whatever it sends:
//! from a peer that is not trusted the header is not read at all, and through a trusted proxy
//! its forged entries stand left of the address the proxy appended.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use axum::http::header::{HeaderMap, FORWARDED};
use clap::ValueEnum;
use ipnet::IpNet;

/// The header the trusted proxies write the client's address into. Exactly one is read: a
/// proxy that writes `X-Forwarded-For` passes a client's own `Forwarded` header through
/// untouched (and the other way round), so reading both would let a client choose its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx's `$proxy_add_x_forwarded_for`).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// One address or range of trusted proxies: `10.0.0.5`, `10.0.0.0/8`, `::1`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRange(IpNet);

impl FromStr for ProxyRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(ProxyRange(net.trunc()));
        }
        text.parse::<IpAddr>()
            .map(|ip| ProxyRange(IpNet::from(ip)))
            .map_err(|_| format!("`{text}` is neither an IP address nor a CIDR range"))
    }
}

/// The proxies the relay trusts, as `--trusted-proxies` lists them: comma-separated ranges;
/// empty (an unset or empty variable) trusts none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ProxyRange>);

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .filter(|range| !range.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl TrustedProxies {
    fn contain(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.0.contains(&ip))
    }
}

/// How the relay tells its clients apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientAddressPolicy {
    trusted_proxies: TrustedProxies,
    header: ForwardedHeader,
}

/// One entry of the forwarded list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Address(IpAddr),
    /// `unknown`, an obfuscated identifier (`_hidden`), or an entry that does not parse.
    Unidentified,
}

impl ClientAddressPolicy {
    pub fn new(trusted_proxies: TrustedProxies, header: ForwardedHeader) -> Self {
        Self {
            trusted_proxies,
            header,
        }
    }

    /// Whether any proxy is trusted (start-up says which header is then read).
    pub fn trusts_any_proxy(&self) -> bool {
        !self.trusted_proxies.0.is_empty()
    }

    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    /// The client's address, for a request that arrived from `peer` with `headers`.
    pub fn client_address(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip().to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        // The nearest address known so far: an entry that names no address is keyed on the
        // trusted proxy that reported it, never on anything further left.
        let mut nearest = peer;
        for hop in self.hops(headers).into_iter().rev() {
            match hop {
                Hop::Address(ip) if self.is_trusted(ip) => nearest = ip,
                Hop::Address(ip) => return ip,
                Hop::Unidentified => return nearest,
            }
        }
        nearest
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.contain(ip)
    }

    /// Every entry of the configured header, left to right, across repeated header lines
    /// (which HTTP defines as one comma-joined list).
    fn hops(&self, headers: &HeaderMap) -> Vec<Hop> {
        let lines = headers
            .get_all(self.header_name())
            .iter()
            .map(|value| value.to_str().unwrap_or(""));
        match self.header {
            ForwardedHeader::XForwardedFor => lines.flat_map(x_forwarded_for_hops).collect(),
            ForwardedHeader::Forwarded => lines.flat_map(forwarded_hops).collect(),
        }
    }

    fn header_name(&self) -> &'static str {
        match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => FORWARDED.as_str(),
        }
    }
}

/// `X-Forwarded-For` is a plain comma-separated list of addresses: std's parser reads each.
/// Entries are parsed one by one (not as a whole header, as `forwarded-header-value` does): a
/// client's malformed entry must not make the entries the proxies appended unreadable.
fn x_forwarded_for_hops(line: &str) -> impl Iterator<Item = Hop> + '_ {
    line.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| parse_address(entry).map_or(Hop::Unidentified, Hop::Address))
}

/// `Forwarded` (RFC 7239) elements, each parsed by the `rfc7239` crate; only `for=` counts.
fn forwarded_hops(line: &str) -> impl Iterator<Item = Hop> + '_ {
    rfc7239::parse(line).map(|element| {
        let address = element.ok().and_then(|e| match e.forwarded_for?.name {
            rfc7239::NodeName::Ip(ip) => Some(ip.to_canonical()),
            rfc7239::NodeName::Unknown | rfc7239::NodeName::Obfuscated(_) => None,
        });
        address.map_or(Hop::Unidentified, Hop::Address)
    })
}

/// An address as proxies write it in `X-Forwarded-For`: `192.0.2.1`, `2001:db8::1`, and, from
/// some proxies, with a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_address(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The address used when the peer's is unknown (requests built in process, without a socket).
pub const UNKNOWN_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn policy(trusted: &[&str], header: ForwardedHeader) -> ClientAddressPolicy {
        let ranges = trusted.join(",").parse().unwrap();
        ClientAddressPolicy::new(ranges, header)
    }

    fn client(policy: &ClientAddressPolicy, peer: &str, header: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for line in header {
            headers.append(
                policy.header_name(),
                HeaderValue::from_str(line).expect("a valid header value"),
            );
        }
        let peer: SocketAddr = peer.parse().unwrap();
        policy.client_address(peer, &headers).to_string()
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;
    const RFC: ForwardedHeader = ForwardedHeader::Forwarded;

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_sends() {
        let p = policy(&[], XFF);
        assert_eq!(
            client(&p, "198.51.100.7:5000", &["203.0.113.9"]),
            "198.51.100.7"
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_key() {
        let p = policy(&["127.0.0.1"], XFF);
        assert_eq!(client(&p, "127.0.1.9:5000", &["203.0.113.9"]), "127.0.1.9");
    }

    #[test]
    fn behind_one_trusted_proxy_the_address_it_appended_is_the_client() {
        let p = policy(&["127.0.0.1"], XFF);
        assert_eq!(client(&p, "127.0.0.1:5000", &["127.0.1.9"]), "127.0.1.9");
        // What the client sent itself stands left of the proxy's entry and is not read.
        assert_eq!(
            client(&p, "127.0.0.1:5000", &["6.6.6.6, 127.0.1.9"]),
            "127.0.1.9"
        );
        assert_eq!(
            client(&p, "127.0.0.1:5000", &["not an address, 127.0.1.9"]),
            "127.0.1.9"
        );
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right() {
        let p = policy(&["127.0.0.1", "10.0.0.0/8"], XFF);
        assert_eq!(
            client(
                &p,
                "127.0.0.1:5000",
                &["6.6.6.6, 198.51.100.7, 10.1.2.3, 10.9.9.9"]
            ),
            "198.51.100.7"
        );
        // Repeated header lines are one list.
        assert_eq!(
            client(&p, "127.0.0.1:5000", &["6.6.6.6, 198.51.100.7", "10.1.2.3"]),
            "198.51.100.7"
        );
    }

    #[test]
    fn when_every_hop_is_trusted_the_remotest_is_the_client() {
        let p = policy(&["10.0.0.0/8"], XFF);
        assert_eq!(
            client(&p, "10.0.0.1:5000", &["10.0.0.7, 10.0.0.3"]),
            "10.0.0.7"
        );
        assert_eq!(client(&p, "10.0.0.1:5000", &[]), "10.0.0.1");
    }

    #[test]
    fn an_entry_naming_no_address_is_keyed_on_the_proxy_that_reported_it() {
        let p = policy(&["127.0.0.1", "10.0.0.0/8"], XFF);
        assert_eq!(
            client(&p, "127.0.0.1:5000", &["1.2.3.4, garbage, 10.0.0.9"]),
            "10.0.0.9"
        );
        let p = policy(&["127.0.0.1"], RFC);
        assert_eq!(client(&p, "127.0.0.1:5000", &["for=unknown"]), "127.0.0.1");
        assert_eq!(client(&p, "127.0.0.1:5000", &["for=_hidden"]), "127.0.0.1");
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_understood() {
        let p = policy(&["127.0.0.1", "::1"], XFF);
        assert_eq!(
            client(&p, "127.0.0.1:5000", &["192.0.2.1:4711"]),
            "192.0.2.1"
        );
        assert_eq!(
            client(&p, "[::1]:5000", &["[2001:db8::1]:4711"]),
            "2001:db8::1"
        );
        // A relay listening on [::] sees IPv4 peers as mapped addresses.
        assert_eq!(
            client(&p, "[::ffff:127.0.0.1]:5000", &["::ffff:192.0.2.1"]),
            "192.0.2.1"
        );
    }

    #[test]
    fn rfc_7239_elements_are_read_from_the_right() {
        let p = policy(&["127.0.0.1"], RFC);
        assert_eq!(
            client(
                &p,
                "127.0.0.1:5000",
                &["for=6.6.6.6, for=192.0.2.60;proto=https;by=203.0.113.43"]
            ),
            "192.0.2.60"
        );
        assert_eq!(
            client(&p, "127.0.0.1:5000", &["for=\"[2001:db8:cafe::17]:4711\""]),
            "2001:db8:cafe::17"
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.7"));
        headers.insert(FORWARDED, HeaderValue::from_static("for=6.6.6.6"));
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let xff = policy(&["127.0.0.1"], XFF);
        assert_eq!(
            xff.client_address(peer, &headers).to_string(),
            "198.51.100.7"
        );
        let rfc = policy(&["127.0.0.1"], RFC);
        assert_eq!(rfc.client_address(peer, &headers).to_string(), "6.6.6.6");
    }

    #[test]
    fn proxy_ranges_parse_addresses_and_cidr_ranges() {
        assert!(" 10.0.0.0/8".parse::<ProxyRange>().is_ok());
        assert!("::1".parse::<ProxyRange>().is_ok());
        assert_eq!(
            "10.1.2.3/8".parse::<ProxyRange>().unwrap(),
            "10.0.0.0/8".parse::<ProxyRange>().unwrap()
        );
        let refused = "10.0.0.0/33".parse::<ProxyRange>().unwrap_err();
        assert!(refused.contains("10.0.0.0/33"), "{refused}");
        assert!("nginx".parse::<ProxyRange>().is_err());
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
        assert_eq!(" 10.0.0.1 ,".parse::<TrustedProxies>().unwrap().0.len(), 1);
    }
}
