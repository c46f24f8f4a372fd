//! Who may see the console: whoever presents its token.
//!
//! - `Authorization: Bearer <token>` always works (scripts, `curl`). The token is compared in
//!   constant time, as SHA-256 digests so that its length does not show either.
//! - People sign in once with a form; the relay then sets a session cookie that is *not* the
//!   token but `<expiry>.<HMAC-SHA-256(token, expiry)>`: the browser never holds the token
//!   itself, any relay instance sharing the token accepts the cookie (no session store, nothing
//!   lost on restart), and a new token ends every session at once. The cookie is `HttpOnly`
//!   (out of reach of scripts), `SameSite=Strict` (never sent on a request another site
//!   starts), scoped to the console's path, and `Secure` except for a browser on the relay's own
//!   machine (loopback, as through an SSH tunnel, where there is no TLS to ask for).
//! - Requests authenticated by the cookie that change something (POST) must also carry the
//!   header [`CSRF_HEADER`], which a form or a link on another site cannot add and a script of
//!   another origin cannot add without a CORS preflight the console never grants; and any POST
//!   a browser marks as coming from another site (`Sec-Fetch-Site`) is refused.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ordersync_console";

/// How long a sign-in lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The header the console's own page adds to the requests that change something.
pub const CSRF_HEADER: &str = "x-ordersync-console";

/// What the session MAC covers besides the expiry, so it can never be mistaken for another
/// HMAC made with the same token.
const SESSION_CONTEXT: &[u8] = b"ordersync-console-session\0";

/// How a request proved it holds the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Bearer,
    Session,
}

/// The console's token, as the checks need it.
pub struct ConsoleAuth {
    token_digest: [u8; 32],
    session_key: Vec<u8>,
}

impl std::fmt::Debug for ConsoleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleAuth { .. }")
    }
}

impl ConsoleAuth {
    pub fn new(token: &str) -> Self {
        Self {
            token_digest: Sha256::digest(token.as_bytes()).into(),
            session_key: token.as_bytes().to_vec(),
        }
    }

    /// Whether `candidate` is the token, in constant time.
    pub fn is_token(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        digest.ct_eq(&self.token_digest).into()
    }

    /// How the request proves it holds the token, if it does, at `now_s` (unix seconds).
    pub fn proof(&self, headers: &HeaderMap, now_s: u64) -> Option<Proof> {
        if bearer(headers).is_some_and(|token| self.is_token(token)) {
            return Some(Proof::Bearer);
        }
        cookie(headers, SESSION_COOKIE)
            .is_some_and(|session| self.session_is_valid(session, now_s))
            .then_some(Proof::Session)
    }

    /// A session cookie's value for a sign-in at `now_s`.
    pub fn new_session(&self, now_s: u64) -> String {
        let expires = now_s + SESSION_LIFETIME.as_secs();
        format!("{expires}.{}", URL_SAFE_NO_PAD.encode(self.mac(expires)))
    }

    fn session_is_valid(&self, session: &str, now_s: u64) -> bool {
        let Some((expires, mac)) = session.split_once('.') else {
            return false;
        };
        let (Ok(expires), Ok(mac)) = (expires.parse::<u64>(), URL_SAFE_NO_PAD.decode(mac)) else {
            return false;
        };
        now_s < expires && self.keyed(expires).verify_slice(&mac).is_ok()
    }

    fn mac(&self, expires: u64) -> Vec<u8> {
        self.keyed(expires).finalize().into_bytes().to_vec()
    }

    fn keyed(&self, expires: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.session_key)
            .expect("HMAC takes a key of any size");
        mac.update(SESSION_CONTEXT);
        mac.update(expires.to_string().as_bytes());
        mac
    }
}

/// The `Set-Cookie` value that holds `session` (see the module's notes for each attribute).
/// No `Path`: the browser scopes it to the directory of the sign-in's URL, the console's,
/// wherever a reverse proxy mounts the relay.
pub fn set_session_cookie(session: &str, secure: bool) -> HeaderValue {
    cookie_header(session, SESSION_LIFETIME.as_secs(), secure)
}

/// The `Set-Cookie` value that ends the session.
pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    cookie_header("", 0, secure)
}

fn cookie_header(value: &str, max_age_s: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("a session value is base64url and digits")
}

/// Whether a POST comes from a page of another site, as the browser tells (`Sec-Fetch-Site`;
/// absent from clients that are not browsers, and from old browsers, where the other checks
/// stand alone).
pub fn from_another_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| !matches!(site, "same-origin" | "none"))
}

/// Whether the console's own script sent this request ([`CSRF_HEADER`]).
pub fn has_csrf_header(headers: &HeaderMap) -> bool {
    headers.contains_key(CSRF_HEADER)
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case, RFC 7235).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name`. Written here rather than with a cookie crate: the console reads
/// one cookie of its own, whose value is base64url and digits (nothing to unquote or decode),
/// and `Cookie` is `name=value` pairs joined by `; ` (RFC 6265 §4.2.1), over one or more lines.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef-console";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_bearer_token_is_the_token_and_nothing_else() {
        let auth = ConsoleAuth::new(TOKEN);
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(
            auth.proof(&headers(&[("authorization", &bearer)]), 0),
            Some(Proof::Bearer)
        );
        let lower = format!("bearer {TOKEN}");
        assert!(auth
            .proof(&headers(&[("authorization", &lower)]), 0)
            .is_some());
        for wrong in [
            format!("Bearer {TOKEN}x"),
            format!("Bearer {}", &TOKEN[1..]),
            format!("Basic {TOKEN}"),
            TOKEN.to_owned(),
            "Bearer ".to_owned(),
        ] {
            assert_eq!(
                auth.proof(&headers(&[("authorization", &wrong)]), 0),
                None,
                "{wrong}"
            );
        }
        assert_eq!(auth.proof(&HeaderMap::new(), 0), None);
    }

    #[test]
    fn a_session_holds_until_it_expires_and_only_for_its_token() {
        let auth = ConsoleAuth::new(TOKEN);
        let session = auth.new_session(1_000);
        assert!(!session.contains(TOKEN));
        let cookie = format!("other=1; {SESSION_COOKIE}={session}");
        let with_cookie = headers(&[("cookie", &cookie)]);
        assert_eq!(auth.proof(&with_cookie, 1_000), Some(Proof::Session));
        let end = 1_000 + SESSION_LIFETIME.as_secs();
        assert_eq!(auth.proof(&with_cookie, end - 1), Some(Proof::Session));
        assert_eq!(auth.proof(&with_cookie, end), None, "expired");
        let rotated = ConsoleAuth::new("another-token-another-token-another-token");
        assert_eq!(
            rotated.proof(&with_cookie, 1_000),
            None,
            "a new token ends it"
        );
        // A later expiry with the old MAC is refused.
        let (_, mac) = session.split_once('.').unwrap();
        let forged = format!("{SESSION_COOKIE}={}.{mac}", end + 1_000);
        assert_eq!(auth.proof(&headers(&[("cookie", &forged)]), 1_000), None);
        for junk in ["", "x", "1.2.3", "99999999999.", ".abc"] {
            let cookie = format!("{SESSION_COOKIE}={junk}");
            assert_eq!(
                auth.proof(&headers(&[("cookie", &cookie)]), 0),
                None,
                "{junk}"
            );
        }
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_when_asked() {
        let set = set_session_cookie("1.abc", true);
        let text = set.to_str().unwrap();
        assert!(
            text.starts_with("ordersync_console=1.abc; Max-Age=43200; "),
            "{text}"
        );
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(text.ends_with("; Secure"));
        assert!(!set_session_cookie("1.abc", false)
            .to_str()
            .unwrap()
            .contains("Secure"));
        assert!(clear_session_cookie(false)
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
    }

    #[test]
    fn posts_from_other_sites_are_told_apart() {
        assert!(from_another_site(&headers(&[(
            "sec-fetch-site",
            "cross-site"
        )])));
        assert!(from_another_site(&headers(&[(
            "sec-fetch-site",
            "same-site"
        )])));
        assert!(!from_another_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!from_another_site(&HeaderMap::new()));
    }
}
