//! How a step with `follow_redirects` follows them, written once for both
//! clients: `verify`'s reqwest client takes [`check`] as its redirect
//! policy, and `load`'s hyper client walks the chain itself with every
//! function here. The rules are reqwest 0.13's (they come from
//! tower-http's `FollowRedirect`), so a scenario that passes `verify`
//! measures the same exchange under `load`:
//!
//! - at most [`MAX_REDIRECTS`] redirects, then a redirect error;
//! - 301 and 302 turn a POST into a GET without its body; 303 turns
//!   anything but HEAD into a GET and always drops the body; 307 and 308
//!   resend method and body unchanged;
//! - a redirect without a usable `Location` is the response;
//! - a hop to another scheme, host or port goes without `Authorization`,
//!   `Cookie`, `Cookie2`, `Proxy-Authorization` and `WWW-Authenticate`
//!   (judged against the hop before it, as reqwest does), and every hop
//!   carries a `Referer`, except from https to http.

use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use url::Url;

/// The most redirects one request follows (reqwest's default, which
/// `verify` has always used).
pub const MAX_REDIRECTS: usize = 10;

/// Why a redirect was not followed: the request fails with
/// [`crate::http::TransportError::Redirect`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    #[error("too many redirects (more than {MAX_REDIRECTS})")]
    TooMany,
    #[error("redirect to `{0}`: only http and https URLs are followed")]
    Scheme(String),
}

/// Whether to follow a redirect to `next` after `previous` (every URL
/// requested so far, the first included).
pub fn check(next: &Url, previous: &[Url]) -> Result<(), RedirectError> {
    if previous.len() > MAX_REDIRECTS {
        return Err(RedirectError::TooMany);
    }
    if !matches!(next.scheme(), "http" | "https") {
        return Err(RedirectError::Scheme(next.as_str().to_owned()));
    }
    Ok(())
}

/// The request a redirect status calls for: `Some((method, keep_body))`,
/// or `None` when `status` is not one that is followed.
pub fn next_method(status: u16, method: &Method) -> Option<(Method, bool)> {
    match status {
        301 | 302 if method == Method::POST => Some((Method::GET, false)),
        301 | 302 | 307 | 308 => Some((method.clone(), true)),
        303 if method == Method::HEAD => Some((Method::HEAD, false)),
        303 => Some((Method::GET, false)),
        _ => None,
    }
}

/// Where the redirect points, resolved against the URL that answered;
/// `None` (no `Location`, or one that is no URL) means the redirect is the
/// response.
pub fn location(headers: &HeaderMap, base: &Url) -> Option<Url> {
    let loc = headers.get(header::LOCATION)?.to_str().ok()?;
    base.join(loc).ok()
}

/// Headers that describe a body: gone with the body.
const PAYLOAD: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::TRANSFER_ENCODING,
];

/// Removes the headers of a body that is no longer sent; they stay gone
/// for the rest of the chain.
pub fn drop_payload_headers(headers: &mut HeaderMap) {
    for h in &PAYLOAD {
        headers.remove(h);
    }
}

/// The headers of one hop to `next`, from the chain's headers: credentials
/// removed when `next` is another origin than `previous`, and a `Referer`.
pub fn hop_headers(chain: &HeaderMap, next: &Url, previous: &Url) -> HeaderMap {
    let mut h = chain.clone();
    let cross_origin = next.host_str() != previous.host_str()
        || next.port_or_known_default() != previous.port_or_known_default()
        || next.scheme() != previous.scheme();
    if cross_origin {
        h.remove(header::AUTHORIZATION);
        h.remove(header::COOKIE);
        h.remove("cookie2");
        h.remove(header::PROXY_AUTHORIZATION);
        h.remove(header::WWW_AUTHENTICATE);
    }
    if let Some(r) = referer(next, previous) {
        h.insert(header::REFERER, r);
    }
    h
}

fn referer(next: &Url, previous: &Url) -> Option<HeaderValue> {
    if next.scheme() == "http" && previous.scheme() == "https" {
        return None;
    }
    let mut r = previous.clone();
    let _ = r.set_username("");
    let _ = r.set_password(None);
    r.set_fragment(None);
    HeaderValue::from_str(r.as_str()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn ten_redirects_are_followed_and_the_eleventh_is_an_error() {
        let next = u("http://a.test/next");
        let mut previous = vec![u("http://a.test/0")];
        for i in 1..=MAX_REDIRECTS {
            assert_eq!(check(&next, &previous), Ok(()), "after {i} requests");
            previous.push(u(&format!("http://a.test/{i}")));
        }
        assert_eq!(check(&next, &previous), Err(RedirectError::TooMany));
        assert!(matches!(
            check(&u("ftp://a.test/f"), &previous[..1]),
            Err(RedirectError::Scheme(_))
        ));
    }

    #[test]
    fn methods_and_bodies_follow_the_status() {
        let post = Method::POST;
        assert_eq!(next_method(301, &post), Some((Method::GET, false)));
        assert_eq!(next_method(302, &Method::PUT), Some((Method::PUT, true)));
        assert_eq!(
            next_method(303, &Method::DELETE),
            Some((Method::GET, false))
        );
        assert_eq!(next_method(303, &Method::HEAD), Some((Method::HEAD, false)));
        assert_eq!(next_method(307, &post), Some((Method::POST, true)));
        assert_eq!(next_method(308, &post), Some((Method::POST, true)));
        assert_eq!(next_method(304, &Method::GET), None);
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        let mut chain = HeaderMap::new();
        chain.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        chain.insert(header::COOKIE, HeaderValue::from_static("a=b"));
        let same = hop_headers(&chain, &u("https://a.test/2"), &u("https://a.test:443/1"));
        assert!(same.contains_key(header::AUTHORIZATION));
        assert_eq!(same[header::REFERER], "https://a.test/1");
        for other in ["https://b.test/", "https://a.test:8443/", "http://a.test/"] {
            let h = hop_headers(&chain, &u(other), &u("https://a.test/1"));
            assert!(!h.contains_key(header::AUTHORIZATION), "{other}");
            assert!(!h.contains_key(header::COOKIE), "{other}");
        }
        // No Referer from https down to http, and never a password in one.
        let down = hop_headers(&chain, &u("http://a.test/"), &u("https://a.test/1"));
        assert!(!down.contains_key(header::REFERER));
        let r = hop_headers(&chain, &u("http://a.test/"), &u("http://me:pw@a.test/1#f"));
        assert_eq!(r[header::REFERER], "http://a.test/1");
    }
}
