//! The request guards of `hearth serve`: which Host names are ours, which POSTs come from our
//! own pages, the security headers on every response, and the session cookie's form.
//!
//! Owns only header rules; what a paired device may do is in the routes (`web/routes.rs`), the pairing
//! secrets in [`super::pairing`]. A request refused here never reaches a page or the store.

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap, HeaderValue, Method};

/// The session cookie's name.
pub const COOKIE: &str = "hearth_session";

/// The Content-Security-Policy of every response: nothing from elsewhere, no inline script or
/// style, forms post only here, no framing. `connect-src 'self'` lets the page's own script
/// save answers with `fetch`.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The Referrer-Policy. `no-referrer` would make Chromium send `Origin: null` on every POST
/// (the Fetch standard serialises the origin as null under that policy), and a null origin
/// cannot be told from a sandboxed attacker's; `same-origin` sends the origin to us and no
/// referrer anywhere else (and the pages link nowhere else).
pub const REFERRER_POLICY: &str = "same-origin";

/// The names a request may use for this server, from the address it listens on.
#[derive(Debug, Clone)]
pub struct Hosts {
    listen: SocketAddr,
}

impl Hosts {
    /// The hosts of a server listening on `listen` (its real port, not 0).
    pub fn new(listen: SocketAddr) -> Hosts {
        Hosts { listen }
    }

    /// Whether `host` (a Host header) names this server: the address it listens on with its
    /// port, `localhost` when it listens on loopback, and when it listens on every address
    /// (`--lan` without `--bind`), any IP address literal. A DNS name is refused: a page of
    /// another site can make its own name resolve to this laptop (DNS rebinding), never an
    /// address literal.
    pub fn allowed(&self, host: &str) -> bool {
        let (name, port) = split_host(host);
        let port_ok = match port {
            Some(p) => p == self.listen.port(),
            None => self.listen.port() == 80,
        };
        if !port_ok {
            return false;
        }
        let bound = self.listen.ip();
        if name.eq_ignore_ascii_case("localhost") {
            return bound.is_loopback() || bound.is_unspecified();
        }
        match name.parse::<IpAddr>() {
            Ok(ip) if bound.is_unspecified() => !ip.is_unspecified(),
            Ok(ip) => ip == bound,
            Err(_) => false,
        }
    }
}

/// `host[:port]` or `[v6][:port]` split; a port that is not a number is `Some(0)` (no match).
fn split_host(host: &str) -> (&str, Option<u16>) {
    let port_of = |p: &str| Some(p.parse::<u16>().unwrap_or(0));
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, "")) => (ip, None),
            Some((ip, tail)) => (ip, tail.strip_prefix(':').map_or(Some(0), port_of)),
            None => ("", Some(0)),
        };
    }
    match host.rsplit_once(':') {
        Some((name, p)) => (name, port_of(p)),
        None => (host, None),
    }
}

/// Why a request was refused before any route saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No Host header, or one that does not name this server (421 Misdirected Request).
    ForeignHost,
    /// A POST whose Origin (or, without one, Referer) is not this server, or that has
    /// neither (403).
    ForeignOrigin,
}

/// Checks the Host of every request and the origin of every request that changes anything.
pub fn check(hosts: &Hosts, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).ok_or(Refusal::ForeignHost)?;
    if !hosts.allowed(host) {
        return Err(Refusal::ForeignHost);
    }
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    let ours = format!("http://{host}");
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| Refusal::ForeignOrigin)?;
        return if origin.eq_ignore_ascii_case(&ours) {
            Ok(())
        } else {
            Err(Refusal::ForeignOrigin)
        };
    }
    match headers.get(header::REFERER).and_then(|r| r.to_str().ok()) {
        Some(r) if r.len() > ours.len() && r[..ours.len()].eq_ignore_ascii_case(&ours) && r[ours.len()..].starts_with('/') => Ok(()),
        _ => Err(Refusal::ForeignOrigin),
    }
}

/// Adds the security headers every response carries; responses that did not choose their
/// caching (every page and every reply with answers) get `Cache-Control: no-store`.
pub fn secure_headers(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, REFERRER_POLICY);
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
}

/// The session token from the request's cookies, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The Set-Cookie value that gives a device its session: not readable by scripts, sent only
/// with requests from our own pages, for every path, gone when the browser closes.
pub fn session_set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn hosts_on_loopback() {
        let h = Hosts::new("127.0.0.1:8080".parse().unwrap());
        assert!(h.allowed("127.0.0.1:8080"));
        assert!(h.allowed("localhost:8080"));
        assert!(h.allowed("LOCALHOST:8080"));
        assert!(!h.allowed("127.0.0.1:8081"));
        assert!(!h.allowed("127.0.0.1"));
        assert!(!h.allowed("evil.example:8080"));
        assert!(!h.allowed("192.168.1.2:8080"));
        assert!(!h.allowed("[::1]:8080"));
        assert!(!h.allowed("127.0.0.1:x"));
    }

    #[test]
    fn hosts_on_every_address_take_literals_only() {
        let h = Hosts::new("0.0.0.0:8080".parse().unwrap());
        assert!(h.allowed("192.168.1.20:8080"));
        assert!(h.allowed("localhost:8080"));
        assert!(!h.allowed("laptop.lan:8080"));
        assert!(!h.allowed("0.0.0.0:8080"));
        let b = Hosts::new("10.42.0.1:80".parse().unwrap());
        assert!(b.allowed("10.42.0.1"));
        assert!(!b.allowed("localhost"));
        let v6 = Hosts::new("[::1]:9000".parse().unwrap());
        assert!(v6.allowed("[::1]:9000"));
        assert!(!v6.allowed("[::1"));
    }

    #[test]
    fn posts_need_our_origin_or_referer() {
        let hosts = Hosts::new("127.0.0.1:8080".parse().unwrap());
        let host = (header::HOST, "127.0.0.1:8080");
        let post = Method::POST;
        assert_eq!(check(&hosts, &Method::GET, &headers(std::slice::from_ref(&host))), Ok(()));
        assert_eq!(
            check(&hosts, &post, &headers(&[host.clone(), (header::ORIGIN, "http://127.0.0.1:8080")])),
            Ok(())
        );
        assert_eq!(
            check(&hosts, &post, &headers(&[host.clone(), (header::ORIGIN, "http://evil.example")])),
            Err(Refusal::ForeignOrigin)
        );
        assert_eq!(
            check(&hosts, &post, &headers(&[host.clone(), (header::ORIGIN, "null")])),
            Err(Refusal::ForeignOrigin)
        );
        assert_eq!(
            check(&hosts, &post, &headers(&[host.clone(), (header::REFERER, "http://127.0.0.1:8080/i/x")])),
            Ok(())
        );
        assert_eq!(
            check(&hosts, &post, &headers(&[host.clone(), (header::REFERER, "http://127.0.0.1:80801/")])),
            Err(Refusal::ForeignOrigin)
        );
        assert_eq!(check(&hosts, &post, &headers(&[host])), Err(Refusal::ForeignOrigin));
        assert_eq!(check(&hosts, &Method::GET, &HeaderMap::new()), Err(Refusal::ForeignHost));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[(header::COOKIE, "a=1; hearth_session=abc; b=2")]);
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        assert!(session_set_cookie("t").contains("HttpOnly; SameSite=Strict; Path=/"));
    }
}
