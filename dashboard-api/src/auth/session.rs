//! The session cookie, its CSRF token, and where a request comes from.
//!
//! The cookie `larder_session` carries 32 random bytes (hex). The store keeps only their blake3
//! hash. The CSRF token is a keyed hash of the same secret: the server recomputes it from the
//! cookie, so it is bound to the session and needs no storage, and it cannot be derived from
//! what the store holds. The dashboard gets it from the login answer (or `GET /api/v1/me`)
//! and sends it back as `X-CSRF-Token` on every write.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// The session cookie's name.
pub const COOKIE: &str = "larder_session";

/// The secret a session cookie carries. Never logged.
pub(crate) struct SessionSecret([u8; 32]);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

impl SessionSecret {
    pub(crate) fn generate() -> Self {
        Self(rand::random())
    }

    /// The secret in the request's `larder_session` cookie, if there is a well-formed one.
    pub(crate) fn from_request(req: &HttpRequest) -> Option<Self> {
        req.headers()
            .get_all(actix_web::http::header::COOKIE)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .and_then(|(_, value)| hex::decode(value.trim()).ok())
            .and_then(|bytes| bytes.try_into().ok())
            .map(Self)
    }

    /// The cookie's value.
    pub(crate) fn cookie_value(&self) -> String {
        hex::encode(self.0)
    }

    /// What the store keeps: the secret's blake3 hash, in hex.
    pub(crate) fn hash(&self) -> String {
        blake3::hash(&self.0).to_hex().to_string()
    }

    /// The session's CSRF token.
    pub(crate) fn csrf_token(&self) -> CsrfToken {
        let mac = blake3::Hasher::new_keyed(&self.0).update(b"larder csrf token v1").finalize();
        CsrfToken(mac.to_hex().to_string())
    }
}

/// A session's CSRF token. Its `Debug` does not print it.
#[derive(Clone)]
pub(crate) struct CsrfToken(String);

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(<redacted>)")
    }
}

impl CsrfToken {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, compared in constant time (through the hashes of
    /// both: `blake3::Hash` equality is constant-time).
    pub(crate) fn matches(&self, presented: &str) -> bool {
        blake3::hash(presented.as_bytes()) == blake3::hash(self.0.as_bytes())
    }
}

/// The `Set-Cookie` value that sets (with `max_age_secs` > 0) or clears the session cookie.
pub(crate) fn set_cookie(value: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}")
}

/// Whether a proxy says that the request reached it over https.
pub(crate) fn forwarded_https(headers: &HeaderMap) -> bool {
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https")));
    let forwarded = headers.get("forwarded").and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split([';', ',']).any(|pair| {
            pair.trim().split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("proto") && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
            })
        })
    });
    proto || forwarded
}

/// The client address of a request: the socket peer, or — only when the peer is a trusted
/// proxy — the right-most address in `X-Forwarded-For` (or `Forwarded: for=`) that is not a
/// trusted proxy itself. Used only to key the lock-out's per-source count, hashed.
pub(crate) fn client_addr(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?.ip();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| parse_forwarded_addr(part.trim()))
        .collect();
    if chain.is_empty() {
        chain = headers
            .get_all("forwarded")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split([',', ';']))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
            .filter_map(|(_, addr)| parse_forwarded_addr(addr.trim().trim_matches('"')))
            .collect();
    }
    Some(chain.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer))
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn the_cookie_carries_the_secret_and_the_store_its_hash() {
        let secret = SessionSecret::generate();
        let req = actix_web::test::TestRequest::default()
            .insert_header(("cookie", format!("theme=dark; {COOKIE}={}; other=1", secret.cookie_value())))
            .to_http_request();
        let read = SessionSecret::from_request(&req).expect("cookie found");
        assert_eq!(read.hash(), secret.hash(), "same secret");
        assert_ne!(secret.hash(), secret.cookie_value(), "the stored hash is not the cookie");
        assert!(!secret.csrf_token().as_str().contains(&secret.hash()), "csrf is not the stored hash");
        assert_eq!(format!("{secret:?}"), "SessionSecret(<redacted>)");
        let bad =
            actix_web::test::TestRequest::default().insert_header(("cookie", format!("{COOKIE}=zz"))).to_http_request();
        assert!(SessionSecret::from_request(&bad).is_none(), "a malformed cookie is no cookie");
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let (a, b) = (SessionSecret::generate(), SessionSecret::generate());
        let token = a.csrf_token();
        assert!(token.matches(a.csrf_token().as_str()), "same session");
        assert!(!token.matches(b.csrf_token().as_str()), "another session's token");
        assert!(!token.matches(""), "empty");
        assert_eq!(format!("{token:?}"), "CsrfToken(<redacted>)");
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_when_asked() {
        assert_eq!(
            set_cookie("ab", 60, true),
            "larder_session=ab; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(set_cookie("", 0, false), "larder_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let proxy = Some("10.0.0.2:5000".parse().expect("addr"));
        let direct = Some("203.0.113.9:5000".parse().expect("addr"));
        let xff = headers(&[("x-forwarded-for", "198.51.100.7, 10.0.0.5")]);
        for (peer, headers, want, what) in [
            (direct, &xff, "203.0.113.9", "an untrusted peer's header is ignored"),
            (proxy, &xff, "198.51.100.7", "right-most untrusted address behind trusted proxies"),
            (proxy, &headers(&[]), "10.0.0.2", "a proxy without a header is the client"),
            (proxy, &headers(&[("forwarded", "for=\"[2001:db8::1]:443\";proto=https")]), "2001:db8::1", "Forwarded"),
        ] {
            assert_eq!(client_addr(peer, headers, &trusted), want.parse().ok(), "{what}");
        }
    }

    #[test]
    fn https_is_recognised_from_either_header() {
        assert!(forwarded_https(&headers(&[("x-forwarded-proto", "https")])));
        assert!(forwarded_https(&headers(&[("forwarded", "for=1.2.3.4;proto=https")])));
        assert!(!forwarded_https(&headers(&[("x-forwarded-proto", "http")])));
        assert!(!forwarded_https(&headers(&[])));
    }
}
