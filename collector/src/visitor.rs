//! Who sent an event, without keeping who it was.
//!
//! The client IP and the user agent exist only as [`ClientIp`] and [`UserAgent`], which
//! implement neither `Display` nor `Serialize` and print `<redacted>` in `Debug`. They are
//! consumed by [`visitor_id`] and enrichment inside the request and dropped with it.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;
use larder_core::{SiteDomain, VisitorId};

/// The client's IP address. Never printed, serialised or stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(IpAddr);

impl std::fmt::Debug for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIp(<redacted>)")
    }
}

impl ClientIp {
    /// The address, for hashing and the geo lookup only.
    pub(crate) fn addr(&self) -> IpAddr {
        self.0
    }

    /// The client address of a request: the socket peer, or — only when the peer is a trusted
    /// proxy — the right-most address in `X-Forwarded-For` (or `Forwarded: for=`) that is not a
    /// trusted proxy itself.
    pub fn from_request(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<Self> {
        let peer = peer?.ip();
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
        if !is_trusted(&peer) {
            return Some(Self(peer));
        }
        let mut chain: Vec<IpAddr> = Vec::new();
        for value in headers.get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()) {
            chain.extend(value.split(',').filter_map(|part| parse_forwarded_addr(part.trim())));
        }
        if chain.is_empty() {
            for value in headers.get_all("forwarded").filter_map(|v| v.to_str().ok()) {
                for element in value.split(',') {
                    for pair in element.split(';') {
                        if let Some((key, addr)) = pair.trim().split_once('=')
                            && key.trim().eq_ignore_ascii_case("for")
                            && let Some(ip) = parse_forwarded_addr(addr.trim().trim_matches('"'))
                        {
                            chain.push(ip);
                        }
                    }
                }
            }
        }
        let client = chain.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer);
        Some(Self(client))
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_forwarded_addr(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    raw.strip_prefix('[').and_then(|r| r.split_once(']')).and_then(|(ip, _)| ip.parse().ok())
}

/// The raw `User-Agent` header. Never printed, serialised or stored.
#[derive(Clone, PartialEq, Eq)]
pub struct UserAgent(String);

impl std::fmt::Debug for UserAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserAgent(<redacted>)")
    }
}

impl UserAgent {
    /// The request's user agent (empty when absent), bounded to 1 KiB.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let raw = headers.get(actix_web::http::header::USER_AGENT).map(|v| String::from_utf8_lossy(v.as_bytes()));
        let mut text = raw.map(|s| s.trim().to_owned()).unwrap_or_default();
        if text.len() > 1024 {
            let cut = (0..=1024).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            text.truncate(cut);
        }
        Self(text)
    }

    /// The text, for parsing and hashing only.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A day's salt: 32 random bytes shared by all collectors.
#[derive(Clone, PartialEq, Eq)]
pub struct Salt(pub(crate) [u8; 32]);

impl Salt {
    /// Reads a salt as stored (64 hex digits).
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt(<redacted>)")
    }
}

/// 64 bits of the keyed blake3 hash of (site, IP, user agent) under the day's salt.
///
/// Fields are length-prefixed so that no two different inputs share an encoding.
pub fn visitor_id(salt: &Salt, site: &SiteDomain, ip: &ClientIp, ua: &UserAgent) -> VisitorId {
    let mut hasher = blake3::Hasher::new_keyed(&salt.0);
    let ip_bytes: Vec<u8> = match ip.0 {
        // An IPv4 address hashes the same whether it arrived as v4 or v4-mapped v6.
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    };
    for part in [site.as_str().as_bytes(), &ip_bytes, ua.as_str().as_bytes()] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let hash = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    VisitorId(u64::from_le_bytes(first))
}

/// A 64-bit key of (site, visitor) for the pending snapshots peers exchange. A collision only
/// makes a collector wait a little longer, never assigns a wrong session.
pub fn visitor_key(site: &str, visitor: u64) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"larder-visitor-key\0");
    hasher.update(site.as_bytes());
    hasher.update(&[0]);
    hasher.update(&visitor.to_le_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// The visitor keys of events in their order, one per run of events of the same site, visitor
/// and `tag` (a receipt time, say), with the run's length. The events of one request share a
/// visitor, so a batch of 100 is hashed once, not 100 times.
pub fn key_runs<'a, T: PartialEq>(events: impl IntoIterator<Item = (&'a str, u64, T)>) -> Vec<(u64, T, u32)> {
    let mut runs: Vec<(u64, T, u32)> = Vec::new();
    let mut last: Option<(&str, u64)> = None;
    for (site, visitor, tag) in events {
        if let Some(run) = runs.last_mut()
            && last == Some((site, visitor))
            && run.1 == tag
        {
            run.2 += 1;
            continue;
        }
        runs.push((visitor_key(site, visitor), tag, 1));
        last = Some((site, visitor));
    }
    runs
}

/// The id of a session that starts at `start_ms`: the same on every collector.
pub fn session_id(site: &str, visitor: u64, start_ms: u64) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"larder-session\0");
    hasher.update(&(site.len() as u64).to_le_bytes());
    hasher.update(site.as_bytes());
    hasher.update(&visitor.to_le_bytes());
    hasher.update(&start_ms.to_le_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn site(s: &str) -> SiteDomain {
        SiteDomain::parse(s).unwrap_or_else(|_| unreachable!("valid test site"))
    }

    fn ip(s: &str) -> ClientIp {
        ClientIp(s.parse().unwrap_or_else(|_| unreachable!("valid test ip")))
    }

    fn ua(s: &str) -> UserAgent {
        UserAgent(s.to_owned())
    }

    #[test]
    fn key_runs_count_consecutive_events_of_one_visitor_and_tag() {
        let events = [("a.example", 1, 10), ("a.example", 1, 10), ("a.example", 1, 11), ("b.example", 1, 11)];
        let more = [("a.example", 2, 11), ("a.example", 1, 11), ("a.example", 1, 11)];
        let runs = key_runs(events.into_iter().chain(more));
        let a1 = visitor_key("a.example", 1);
        let want = vec![
            (a1, 10, 2),
            (a1, 11, 1),
            (visitor_key("b.example", 1), 11, 1),
            (visitor_key("a.example", 2), 11, 1),
            (a1, 11, 2),
        ];
        assert_eq!(runs, want);
        assert_eq!(runs.iter().map(|r| r.2).sum::<u32>(), 7, "every event is counted once");
    }

    #[test]
    fn visitor_id_matches_fixed_vectors() {
        let salt = Salt([7u8; 32]);
        let got = visitor_id(&salt, &site("shop.example"), &ip("203.0.113.9"), &ua("Mozilla/5.0"));
        // Computed once with this implementation; a change here changes every stored visitor.
        assert_eq!(got, VisitorId(visitor_id_reference(&[7u8; 32], "shop.example", &[203, 0, 113, 9], "Mozilla/5.0")));
        assert_eq!(
            visitor_id(&salt, &site("shop.example"), &ip("::ffff:203.0.113.9"), &ua("Mozilla/5.0")),
            got,
            "v4-mapped v6 is the same visitor"
        );
    }

    /// The documented construction, written out independently of `visitor_id`.
    fn visitor_id_reference(key: &[u8; 32], site: &str, ip: &[u8], ua: &str) -> u64 {
        let mut input = Vec::new();
        for part in [site.as_bytes(), ip, ua.as_bytes()] {
            input.extend_from_slice(&(part.len() as u64).to_le_bytes());
            input.extend_from_slice(part);
        }
        let hash = blake3::keyed_hash(key, &input);
        u64::from_le_bytes(hash.as_bytes()[..8].try_into().unwrap_or([0; 8]))
    }

    #[test]
    fn visitor_id_changes_with_the_day_the_site_the_ip_and_the_user_agent() {
        let base = visitor_id(&Salt([1; 32]), &site("a.example"), &ip("198.51.100.1"), &ua("UA"));
        for (what, other) in [
            ("salt", visitor_id(&Salt([2; 32]), &site("a.example"), &ip("198.51.100.1"), &ua("UA"))),
            ("site", visitor_id(&Salt([1; 32]), &site("b.example"), &ip("198.51.100.1"), &ua("UA"))),
            ("ip", visitor_id(&Salt([1; 32]), &site("a.example"), &ip("198.51.100.2"), &ua("UA"))),
            ("ua", visitor_id(&Salt([1; 32]), &site("a.example"), &ip("198.51.100.1"), &ua("UA2"))),
        ] {
            assert_ne!(base, other, "changing the {what} changes the visitor");
        }
    }

    #[test]
    fn ip_and_user_agent_never_print() {
        let printed = format!("{:?} {:?} {:?}", ip("203.0.113.9"), ua("Secret/1.0"), Salt([9; 32]));
        assert!(!printed.contains("203.0.113.9") && !printed.contains("Secret"), "{printed}");
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(*k), HeaderValue::from_str(v)) {
                map.append(name, value);
            }
        }
        map
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())];
        let peer = |s: &str| Some(SocketAddr::new(s.parse().unwrap_or_else(|_| unreachable!()), 1234));
        for (desc, from, hdrs, want) in [
            ("untrusted peer: header ignored", "203.0.113.1", vec![("x-forwarded-for", "198.51.100.7")], "203.0.113.1"),
            ("trusted peer: header used", "10.0.0.2", vec![("x-forwarded-for", "198.51.100.7")], "198.51.100.7"),
            (
                "right-most untrusted hop wins over a spoofed left entry",
                "10.0.0.2",
                vec![("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.9")],
                "198.51.100.7",
            ),
            (
                "Forwarded header",
                "10.0.0.2",
                vec![("forwarded", "for=\"[2001:db8::5]:443\";proto=https")],
                "2001:db8::5",
            ),
            ("trusted peer without header", "10.0.0.2", vec![], "10.0.0.2"),
            ("garbage header", "10.0.0.2", vec![("x-forwarded-for", "nonsense")], "10.0.0.2"),
        ] {
            let got = ClientIp::from_request(peer(from), &headers(&hdrs), &trusted).map(|c| c.addr().to_string());
            assert_eq!(got.as_deref(), Some(want), "{desc}");
        }
    }

    #[test]
    fn session_ids_are_deterministic_per_start() {
        assert_eq!(session_id("a.example", 1, 1000), session_id("a.example", 1, 1000));
        assert_ne!(session_id("a.example", 1, 1000), session_id("a.example", 1, 1001));
        assert_ne!(session_id("a.example", 1, 1000), session_id("a.example", 2, 1000));
    }
}
