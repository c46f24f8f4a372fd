//! Verifying signed checkouts: a compact JWS (HS256) whose claims are the checkout plus `exp`.
//!
//! One pass over the token: the header is read with `jsonwebtoken`'s own [`Header`], the
//! signature is checked by `jsonwebtoken::crypto::verify` (its constant-time HMAC comparison),
//! and only then is the payload base64-decoded, once, and parsed, once, by
//! `ordersync_core::wire::input_from_json`, which keeps every number's literal text, so money
//! never passes through a binary float on its way to the vendors. The time claims are read from
//! that parsed payload with jsonwebtoken 10's own rules (see [`TimeClaims`]), so a token is
//! accepted exactly when `jsonwebtoken::decode` accepted it; the tests compare the two.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use ordersync_core::Input;

/// Why a token was refused. Messages say what is wrong, never what the secret is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the token is not a compact JWS (header.payload.signature)")]
    Malformed,
    #[error("the token's algorithm is not HS256")]
    WrongAlgorithm,
    #[error("the token's signature does not match: it was not signed with this relay's secret")]
    Forged,
    #[error("the token has expired (exp is in the past)")]
    Expired,
    #[error("the token is not valid yet (nbf is in the future)")]
    NotYetValid,
    #[error("the token has no numeric exp claim (an expiry is required)")]
    MissingExpiry,
    #[error("the token's {0} claim is not a number")]
    BadTimeClaim(&'static str),
    #[error("the token's payload is not a JSON object")]
    BadPayload,
}

/// Checks tokens against the shared secret.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    leeway: u64,
    /// jsonwebtoken's own validation, for the rare token whose registered claims it reads in
    /// a way [`TimeClaims`] does not reproduce (see [`TimeClaims::read`]).
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier { key: [redacted] }")
    }
}

/// Only the claims `jsonwebtoken` needs to see; the checkout itself is read separately.
#[derive(serde::Deserialize)]
struct TimeClaimsOnly {}

/// The three parts of a compact JWS, still base64url-encoded.
struct CompactJws<'a> {
    /// `header.payload`: what the signature covers.
    signing_input: &'a str,
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl<'a> CompactJws<'a> {
    fn split(token: &'a str) -> Result<Self, SignatureError> {
        let mut parts = token.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(header), Some(payload), Some(signature), None) => Ok(CompactJws {
                signing_input: &token[..header.len() + 1 + payload.len()],
                header,
                payload,
                signature,
            }),
            _ => Err(SignatureError::Malformed),
        }
    }
}

impl Verifier {
    /// `leeway` is the clock skew tolerated on `exp` and `nbf`.
    pub fn new(secret: &[u8], leeway: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // The relay does not issue audiences; a shop may put any `aud` in, it is not checked.
        validation.validate_aud = false;
        validation.leeway = leeway.as_secs();
        Self {
            key: DecodingKey::from_secret(secret),
            leeway: leeway.as_secs(),
            validation,
        }
    }

    /// Verifies `token` and returns its claims, numbers kept as their literal text.
    ///
    /// The order matters: nothing in the payload is read before the signature is known good.
    pub fn verify(&self, token: &str) -> Result<Input, SignatureError> {
        let jws = CompactJws::split(token)?;
        check_header(jws.header)?;
        self.check_signature(&jws)?;
        let members = decode_payload(jws.payload)?;
        match TimeClaims::read(&members) {
            Some(time) => time.check(jsonwebtoken::get_current_timestamp(), self.leeway)?,
            None => self.check_with_jsonwebtoken(token)?,
        }
        Ok(Input::Object(members))
    }

    fn check_signature(&self, jws: &CompactJws<'_>) -> Result<(), SignatureError> {
        match jsonwebtoken::crypto::verify(
            jws.signature,
            jws.signing_input.as_bytes(),
            &self.key,
            Algorithm::HS256,
        ) {
            Ok(true) => Ok(()),
            Ok(false) => Err(SignatureError::Forged),
            // The signature part is not base64url (jsonwebtoken called that a malformed token).
            Err(_) => Err(SignatureError::Malformed),
        }
    }

    /// The whole token through `jsonwebtoken::decode`, as the relay verified every token
    /// before; only for claims shaped the way [`TimeClaims::read`] leaves to it.
    fn check_with_jsonwebtoken(&self, token: &str) -> Result<(), SignatureError> {
        jsonwebtoken::decode::<TimeClaimsOnly>(token, &self.key, &self.validation)
            .map(|_| ())
            .map_err(|e| classify(e.kind()))
    }
}

/// The header must be one `jsonwebtoken` reads, with `alg` HS256 (so `none` is refused).
fn check_header(encoded: &str) -> Result<(), SignatureError> {
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| SignatureError::Malformed)?;
    // `jsonwebtoken::decode_header` is exactly this (base64url, then serde_json into `Header`),
    // but wants the whole token and finds the header by scanning it backwards.
    match serde_json::from_slice::<Header>(&json) {
        Ok(header) if header.alg == Algorithm::HS256 => Ok(()),
        Ok(_) => Err(SignatureError::WrongAlgorithm),
        Err(_) => Err(unreadable_header(&json)),
    }
}

/// Why `Header` refused a decoded header: an object whose `alg` is missing or not one
/// jsonwebtoken knows (`"none"`) has the wrong algorithm; anything else is not a JWS header.
fn unreadable_header(json: &[u8]) -> SignatureError {
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(header))
            if header.get("alg").and_then(serde_json::Value::as_str) != Some("HS256") =>
        {
            SignatureError::WrongAlgorithm
        }
        _ => SignatureError::Malformed,
    }
}

/// The payload's members, decoded once and parsed once, numbers kept as their literal text.
fn decode_payload(encoded: &str) -> Result<Vec<(String, Input)>, SignatureError> {
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| SignatureError::Malformed)?;
    let text = std::str::from_utf8(&json).map_err(|_| SignatureError::BadPayload)?;
    match ordersync_core::wire::input_from_json(text) {
        Ok(Input::Object(members)) => Ok(members),
        _ => Err(SignatureError::BadPayload),
    }
}

/// A registered time claim (`exp`, `nbf`) as jsonwebtoken 10 reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeClaim {
    Absent,
    /// Seconds since the epoch.
    At(u64),
    /// Present but not a number jsonwebtoken takes.
    NotANumber,
}

impl TimeClaim {
    fn of(value: Option<&Input>) -> TimeClaim {
        match value {
            None => TimeClaim::Absent,
            Some(Input::Number(literal)) => {
                numeric_date(literal).map_or(TimeClaim::NotANumber, TimeClaim::At)
            }
            // jsonwebtoken reads `null`, strings and booleans as "not a number" too.
            Some(_) => TimeClaim::NotANumber,
        }
    }
}

/// A JSON number literal read as jsonwebtoken 10 reads `exp` and `nbf` (`validation.rs`,
/// `numeric_type`): serde_json parses the literal, then
/// - a non-negative integer that fits a u64 is taken as it is;
/// - a negative integer is refused (the visitor has no `visit_i64`);
/// - anything serde_json parses as a float (a fraction, an exponent, `-0`, an integer beyond
///   u64) is taken when finite, `>= 0.0` and `< 2^64`, rounded half away from zero
///   (`f64::round`): `1.7e9` is 1700000000, `17000000000.5` is 17000000001, `-0` is 0,
///   `18446744073709551616` (2^64, a float to serde_json) is refused, as is `1e400`
///   (out of range for serde_json).
///
/// The literal `input_from_json` kept goes through that same serde_json parse here, so it
/// reads exactly as it did inside jsonwebtoken.
fn numeric_date(literal: &str) -> Option<u64> {
    // The usual case, a plain integer of at most 19 digits, always fits a u64 (JSON allows no
    // sign and no leading zeros here, and `input_from_json` only keeps valid JSON numbers).
    if literal.len() <= 19 && literal.bytes().all(|b| b.is_ascii_digit()) {
        return literal.parse().ok();
    }
    let number: serde_json::Number = serde_json::from_str(literal).ok()?;
    if let Some(seconds) = number.as_u64() {
        return Some(seconds);
    }
    // A negative integer (refused by jsonwebtoken, whose visitor has no `visit_i64`) fails the
    // `>= 0.0` below as a float.
    let seconds = number.as_f64()?;
    // `u64::MAX as f64` is 2^64: the comparison is jsonwebtoken's, strict.
    let in_range = seconds.is_finite() && seconds >= 0.0 && seconds < u64::MAX as f64;
    in_range.then(|| seconds.round() as u64)
}

/// `exp` and `nbf` of a payload, checked with jsonwebtoken 10's `validate` (relay settings:
/// `exp` required, `exp` and `nbf` validated, `reject_tokens_expiring_in_less_than` 0,
/// audience, issuer and subject not checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimeClaims {
    exp: TimeClaim,
    nbf: TimeClaim,
}

/// The members jsonwebtoken deserialises into its `ClaimsForValidation`.
const REGISTERED_BY_JSONWEBTOKEN: [&str; 5] = ["exp", "nbf", "sub", "iss", "aud"];

impl TimeClaims {
    /// `None` when jsonwebtoken's reading of the payload is not reproduced here, and the
    /// token must go through `jsonwebtoken::decode` itself. That is when one of the five
    /// members it deserialises
    /// - appears twice: serde refuses a duplicated field, so jsonwebtoken refused the token;
    /// - is an array or an object: jsonwebtoken reads `exp`, `nbf` and `sub` with visitors
    ///   that can stop inside such a value and leave serde_json mid-value (a `sub` of `{}`
    ///   made the whole payload unreadable), and `iss` and `aud` through serde's untagged
    ///   buffering, whose errors inside nested values do the same.
    ///
    /// Scalars are read by those visitors whole, so for them the rules below are exact.
    fn read(members: &[(String, Input)]) -> Option<TimeClaims> {
        let mut found: [Option<&Input>; 5] = [None; 5];
        for (key, value) in members {
            let Some(slot) = REGISTERED_BY_JSONWEBTOKEN
                .iter()
                .position(|name| name == key)
            else {
                continue;
            };
            if found[slot].is_some() || matches!(value, Input::Array(_) | Input::Object(_)) {
                return None;
            }
            found[slot] = Some(value);
        }
        Some(TimeClaims {
            exp: TimeClaim::of(found[0]),
            nbf: TimeClaim::of(found[1]),
        })
    }

    /// jsonwebtoken 10's checks, in its order: `exp` required (absent or not a number:
    /// "missing"), `nbf` when present must be a number, then `exp < now - leeway` is expired
    /// and `nbf > now + leeway` is not yet valid (both bounds inclusive of the leeway).
    /// jsonwebtoken computes `now - leeway` and `now + leeway` in plain u64 arithmetic; a
    /// leeway beyond the epoch is no real configuration, so here they saturate.
    fn check(&self, now: u64, leeway: u64) -> Result<(), SignatureError> {
        let TimeClaim::At(exp) = self.exp else {
            return Err(SignatureError::MissingExpiry);
        };
        if self.nbf == TimeClaim::NotANumber {
            return Err(SignatureError::BadTimeClaim("nbf"));
        }
        if exp < now.saturating_sub(leeway) {
            return Err(SignatureError::Expired);
        }
        match self.nbf {
            TimeClaim::At(nbf) if nbf > now.saturating_add(leeway) => {
                Err(SignatureError::NotYetValid)
            }
            _ => Ok(()),
        }
    }
}

fn classify(kind: &ErrorKind) -> SignatureError {
    match kind {
        ErrorKind::InvalidSignature => SignatureError::Forged,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => SignatureError::WrongAlgorithm,
        ErrorKind::ExpiredSignature => SignatureError::Expired,
        ErrorKind::ImmatureSignature => SignatureError::NotYetValid,
        ErrorKind::MissingRequiredClaim(_) => SignatureError::MissingExpiry,
        ErrorKind::InvalidClaimFormat(claim) if claim == "nbf" => {
            SignatureError::BadTimeClaim("nbf")
        }
        ErrorKind::InvalidClaimFormat(_) => SignatureError::BadTimeClaim("exp"),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => SignatureError::BadPayload,
        _ => SignatureError::Malformed,
    }
}

/// Signs a JSON payload as HS256, exactly as given (tests, and shops prototyping in Rust).
pub fn sign_json(payload_json: &str, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(payload_json.as_bytes());
    let message = format!("{header}.{payload}");
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("HMAC-SHA256 signs any message with any key");
    format!("{message}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn in_an_hour() -> u64 {
        now() + 3600
    }

    fn verifier() -> Verifier {
        Verifier::new(SECRET, Duration::ZERO)
    }

    /// HS256 over `header.payload` exactly as given (bytes, so a payload may be invalid UTF-8).
    fn sign_parts(header_json: &[u8], payload: &[u8], secret: &[u8]) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header_json),
            URL_SAFE_NO_PAD.encode(payload)
        );
        sign_message(&message, secret)
    }

    /// `message.signature`, the HMAC of `message` as it stands (parts already encoded).
    fn sign_message(message: &str, secret: &[u8]) -> String {
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{message}.{signature}")
    }

    fn verify_with_header(header_json: &str) -> Result<Input, SignatureError> {
        let payload = format!(r#"{{"exp":{}}}"#, in_an_hour());
        verifier().verify(&sign_parts(
            header_json.as_bytes(),
            payload.as_bytes(),
            SECRET,
        ))
    }

    fn verify_payload(payload: &str, leeway: u64) -> Result<Input, SignatureError> {
        Verifier::new(SECRET, Duration::from_secs(leeway)).verify(&sign_json(payload, SECRET))
    }

    #[test]
    fn a_valid_token_yields_exact_number_literals() {
        let payload = format!(
            r#"{{"orderId":"1","totalSpent":150.0,"taxes":20.00,"exp":{}}}"#,
            in_an_hour()
        );
        let claims = verifier().verify(&sign_json(&payload, SECRET)).unwrap();
        assert_eq!(claims.get("totalSpent"), Some(&Input::num("150.0")));
        assert_eq!(claims.get("taxes"), Some(&Input::num("20.00")));
    }

    #[test]
    fn another_secret_is_a_forgery() {
        let payload = format!(r#"{{"exp":{}}}"#, in_an_hour());
        let token = sign_json(&payload, b"another-secret-another-secret-xx");
        assert_eq!(verifier().verify(&token), Err(SignatureError::Forged));
    }

    #[test]
    fn a_tampered_payload_is_a_forgery() {
        let payload = format!(r#"{{"totalSpent":1,"exp":{}}}"#, in_an_hour());
        let token = sign_json(&payload, SECRET);
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_payload =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"totalSpent":9999,"exp":{}}}"#, in_an_hour()));
        parts[1] = &forged_payload;
        assert_eq!(
            verifier().verify(&parts.join(".")),
            Err(SignatureError::Forged)
        );
    }

    #[test]
    fn a_signature_over_another_header_is_a_forgery() {
        let payload = format!(r#"{{"exp":{}}}"#, in_an_hour());
        let token = sign_json(&payload, SECRET);
        let signature = token.rsplit('.').next().unwrap();
        // Another header that is itself acceptable (HS256), under the first one's signature.
        let other_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"k2"}"#);
        let payload_part = token.split('.').nth(1).unwrap();
        let swapped = format!("{other_header}.{payload_part}.{signature}");
        assert_eq!(verifier().verify(&swapped), Err(SignatureError::Forged));
    }

    #[test]
    fn expiry_is_required_and_enforced() {
        let expired = format!(r#"{{"exp":{}}}"#, now() - 10);
        assert_eq!(
            verifier().verify(&sign_json(&expired, SECRET)),
            Err(SignatureError::Expired)
        );
        let lenient = Verifier::new(SECRET, Duration::from_secs(60));
        assert!(lenient.verify(&sign_json(&expired, SECRET)).is_ok());
        assert_eq!(
            verifier().verify(&sign_json(r#"{"orderId":"1"}"#, SECRET)),
            Err(SignatureError::MissingExpiry)
        );
        assert_eq!(
            verifier().verify(&sign_json(r#"{"exp":"soon"}"#, SECRET)),
            Err(SignatureError::MissingExpiry)
        );
    }

    #[test]
    fn exp_literals_are_read_as_jsonwebtoken_reads_them() {
        let future = in_an_hour();
        // A fraction rounds; an exponent is a float; 17000000000.5 is in the year 2508.
        assert!(verify_payload(&format!(r#"{{"exp":{future}.5}}"#), 0).is_ok());
        assert!(verify_payload(&format!(r#"{{"exp":{future}e0}}"#), 0).is_ok());
        assert!(verify_payload(r#"{"exp":17000000000.5}"#, 0).is_ok());
        assert_eq!(
            verify_payload(r#"{"exp":1.7e9}"#, 0),
            Err(SignatureError::Expired)
        );
        // The largest u64 is a date far away; one more is a float of 2^64, refused.
        assert!(verify_payload(r#"{"exp":18446744073709551615}"#, 0).is_ok());
        for not_a_date in [
            "18446744073709551616",
            "1e400",
            "-1",
            "-1.5",
            "null",
            "true",
        ] {
            assert_eq!(
                verify_payload(&format!(r#"{{"exp":{not_a_date}}}"#), 0),
                Err(SignatureError::MissingExpiry),
                "{not_a_date}"
            );
        }
        // serde_json reads -0 as the float -0.0, which jsonwebtoken takes as 0: long past.
        assert_eq!(
            verify_payload(r#"{"exp":-0}"#, 0),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn numeric_dates() {
        let table: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("1700000000", Some(1_700_000_000)),
            ("9999999999999999999", Some(9_999_999_999_999_999_999)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("1.7e9", Some(1_700_000_000)),
            ("1.5", Some(2)),
            ("2.5", Some(3)),
            ("0.49", Some(0)),
            ("1E3", Some(1000)),
            ("-0", Some(0)),
            ("-0.0", Some(0)),
            ("-1", None),
            ("-0.4", None),
            ("1e400", None),
        ];
        for (literal, expected) in table {
            assert_eq!(numeric_date(literal), *expected, "{literal}");
        }
    }

    #[test]
    fn time_claim_bounds_include_the_leeway() {
        let at = |exp, nbf| TimeClaims { exp, nbf };
        let now = 1_000_000;
        let leeway = 60;
        let check = |claims: TimeClaims| claims.check(now, leeway);
        assert_eq!(
            check(at(TimeClaim::At(now - leeway), TimeClaim::Absent)),
            Ok(())
        );
        assert_eq!(
            check(at(TimeClaim::At(now - leeway - 1), TimeClaim::Absent)),
            Err(SignatureError::Expired)
        );
        let exp = TimeClaim::At(now + 3600);
        assert_eq!(check(at(exp, TimeClaim::At(now + leeway))), Ok(()));
        assert_eq!(
            check(at(exp, TimeClaim::At(now + leeway + 1))),
            Err(SignatureError::NotYetValid)
        );
        // jsonwebtoken's order: a missing exp first, then a bad nbf, then the dates.
        assert_eq!(
            check(at(TimeClaim::NotANumber, TimeClaim::NotANumber)),
            Err(SignatureError::MissingExpiry)
        );
        assert_eq!(
            check(at(TimeClaim::At(0), TimeClaim::NotANumber)),
            Err(SignatureError::BadTimeClaim("nbf"))
        );
        assert_eq!(
            check(at(TimeClaim::At(0), TimeClaim::At(u64::MAX))),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn nbf_is_checked_with_the_leeway() {
        let exp = in_an_hour();
        let in_ten_minutes = format!(r#"{{"exp":{exp},"nbf":{}}}"#, now() + 600);
        assert_eq!(
            verify_payload(&in_ten_minutes, 60),
            Err(SignatureError::NotYetValid)
        );
        let in_thirty_seconds = format!(r#"{{"exp":{exp},"nbf":{}}}"#, now() + 30);
        assert!(verify_payload(&in_thirty_seconds, 60).is_ok());
        assert_eq!(
            verify_payload(&in_thirty_seconds, 0),
            Err(SignatureError::NotYetValid)
        );
        for not_a_date in [r#""now""#, "null", "-5"] {
            assert_eq!(
                verify_payload(&format!(r#"{{"exp":{exp},"nbf":{not_a_date}}}"#), 60),
                Err(SignatureError::BadTimeClaim("nbf")),
                "{not_a_date}"
            );
        }
    }

    #[test]
    fn headers_other_than_hs256_are_refused() {
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"alg":"HS384","typ":"JWT"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":5}"#,
        ] {
            assert_eq!(
                verify_with_header(header),
                Err(SignatureError::WrongAlgorithm),
                "{header}"
            );
        }
        for header in ["not json", "[]", r#""HS256""#, ""] {
            assert_eq!(
                verify_with_header(header),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
        assert!(verify_with_header(r#"{"alg":"HS256"}"#).is_ok());
        assert!(verify_with_header(r#"{"typ":"JWT","alg":"HS256","kid":"2026"}"#).is_ok());
    }

    #[test]
    fn unsigned_and_garbage_tokens_are_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{}}}"#, in_an_hour()));
        let none_token = format!("{header}.{payload}.");
        assert_eq!(
            verifier().verify(&none_token),
            Err(SignatureError::WrongAlgorithm)
        );
        assert_eq!(
            verifier().verify("not-a-token"),
            Err(SignatureError::Malformed)
        );
        assert!(verifier().verify("").is_err());
    }

    #[test]
    fn a_token_needs_exactly_three_parts() {
        let token = sign_json(&format!(r#"{{"exp":{}}}"#, in_an_hour()), SECRET);
        let parts: Vec<&str> = token.split('.').collect();
        let two = format!("{}.{}", parts[0], parts[1]);
        assert_eq!(verifier().verify(&two), Err(SignatureError::Malformed));
        // A fourth part, even with the signature recomputed over all that precedes it.
        let four = sign_message(&format!("{}.{}.{}", parts[0], parts[1], parts[2]), SECRET);
        assert_eq!(verifier().verify(&four), Err(SignatureError::Malformed));
        assert_eq!(verifier().verify(".."), Err(SignatureError::Malformed));
    }

    #[test]
    fn base64_padding_is_refused() {
        // Unpadded base64url only (RFC 7515), as jsonwebtoken's decoder: a padded part is not
        // the token's part even when the signature covers it.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{}}}"#, in_an_hour()));
        let padded_payload = sign_message(&format!("{header}.{payload}=="), SECRET);
        assert_eq!(
            verifier().verify(&padded_payload),
            Err(SignatureError::Malformed)
        );
        let padded_header = sign_message(&format!("{header}==.{payload}"), SECRET);
        assert_eq!(
            verifier().verify(&padded_header),
            Err(SignatureError::Malformed)
        );
        let padded_signature = format!("{}=", sign_message(&format!("{header}.{payload}"), SECRET));
        assert_eq!(
            verifier().verify(&padded_signature),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_refused() {
        for payload in ["[1,2]", r#""exp""#, "5", "null", "{", r#"{"exp":1}x"#] {
            assert_eq!(
                verify_payload(payload, 0),
                Err(SignatureError::BadPayload),
                "{payload}"
            );
        }
    }

    #[test]
    fn a_payload_that_is_not_utf8_is_refused() {
        let mut payload = format!(r#"{{"exp":{},"email":""#, in_an_hour()).into_bytes();
        payload.extend_from_slice(b"\xff\xfe\"}");
        let token = sign_parts(br#"{"alg":"HS256","typ":"JWT"}"#, &payload, SECRET);
        assert_eq!(verifier().verify(&token), Err(SignatureError::BadPayload));
    }

    #[test]
    fn claims_jsonwebtoken_reads_oddly_get_its_verdict() {
        let exp = in_an_hour();
        // An audience list is fine (audiences are not checked) ...
        assert!(verify_payload(&format!(r#"{{"exp":{exp},"aud":["a","b"]}}"#), 0).is_ok());
        // ... a duplicated registered claim is not (serde refuses duplicate fields) ...
        assert_eq!(
            verify_payload(&format!(r#"{{"exp":{exp},"exp":{exp}}}"#), 0),
            Err(SignatureError::BadPayload)
        );
        // ... and neither is a `sub` jsonwebtoken cannot step over.
        assert_eq!(
            verify_payload(&format!(r#"{{"exp":{exp},"sub":{{}}}}"#), 0),
            Err(SignatureError::BadPayload)
        );
        // A duplicated key it does not read is its business no more (the checkout refuses it).
        assert!(verify_payload(&format!(r#"{{"exp":{exp},"a":1,"a":2}}"#), 0).is_ok());
    }

    /// The verifier as it was, `jsonwebtoken::decode` then a second decode and parse of the
    /// payload: the reference the one-pass verifier is compared with.
    fn verify_as_before(v: &Verifier, token: &str) -> Result<Input, SignatureError> {
        jsonwebtoken::decode::<TimeClaimsOnly>(token, &v.key, &v.validation)
            .map_err(|e| classify(e.kind()))?;
        let payload = token.split('.').nth(1).ok_or(SignatureError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| SignatureError::Malformed)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| SignatureError::BadPayload)?;
        match ordersync_core::wire::input_from_json(text) {
            Ok(claims @ Input::Object(_)) => Ok(claims),
            _ => Err(SignatureError::BadPayload),
        }
    }

    /// Values for each registered claim, kept clear of the second boundaries (`now` moves
    /// between the two verifications).
    fn claim_values(now: u64) -> Vec<(&'static str, Vec<String>)> {
        let exp = [
            format!("{}", now + 3600),
            format!("{}", now - 30),
            format!("{}", now - 100),
            format!("{}.5", now + 3600),
            format!("{}.4", now - 30),
            format!("{}e0", now + 3600),
            format!("{}.0", now - 100),
            "17000000000.5".into(),
            "1.7e9".into(),
            "18446744073709551615".into(),
            "18446744073709551616".into(),
            "99999999999999999999".into(),
            "1e400".into(),
            "-1".into(),
            "-0".into(),
            "0".into(),
            "-0.0".into(),
            "0.49".into(),
            r#""soon""#.into(),
            r#""1800000000""#.into(),
            "null".into(),
            "true".into(),
            "[]".into(),
            "[1]".into(),
            "{}".into(),
            r#"{"a":1}"#.into(),
        ];
        let nbf = [
            format!("{}", now - 100),
            format!("{}", now + 30),
            format!("{}", now + 600),
            format!("{}.5", now + 30),
            "1.7e9".into(),
            "1e400".into(),
            "-5".into(),
            r#""x""#.into(),
            "null".into(),
            "false".into(),
            "[]".into(),
            "[2]".into(),
            "{}".into(),
        ];
        let sub = [
            r#""shopper""#,
            "5",
            "1e400",
            "null",
            "true",
            "[]",
            r#"["a"]"#,
            "{}",
            r#"{"a":[1]}"#,
        ];
        let iss_aud = [
            r#""shop""#,
            r#"["a","b"]"#,
            "[]",
            "7",
            "[1e400,2]",
            r#"{"a":1}"#,
            "null",
        ];
        vec![
            ("exp", exp.to_vec()),
            ("nbf", nbf.to_vec()),
            ("sub", sub.iter().map(|s| s.to_string()).collect()),
            ("iss", iss_aud.iter().map(|s| s.to_string()).collect()),
            ("aud", iss_aud.iter().map(|s| s.to_string()).collect()),
        ]
    }

    /// A random payload: some registered claims (sometimes twice), some checkout fields. Each
    /// claim's first value is an ordinary one, taken half the time, so many payloads pass.
    fn random_payload(rng: &mut StdRng, values: &[(&str, Vec<String>)]) -> String {
        let mut members: Vec<String> = Vec::new();
        for (name, choices) in values {
            let present = if *name == "exp" { 0.95 } else { 0.35 };
            let pick = |rng: &mut StdRng| match rng.gen_bool(0.5) {
                true => &choices[0],
                false => choices.choose(rng).unwrap(),
            };
            if rng.gen_bool(present) {
                members.push(format!(r#""{name}":{}"#, pick(rng)));
            }
            if rng.gen_bool(0.03) {
                members.push(format!(r#""{name}":{}"#, pick(rng)));
            }
        }
        let others = [
            r#""orderId":"42""#,
            r#""totalSpent":150.0"#,
            r#""items":[{"gtin":"1","quantity":3}]"#,
            r#""iat":1700000000"#,
            r#""jti":{"x":[1,{"y":null}]}"#,
            r#""email":"a\u00e9@b.c""#,
        ];
        for other in others {
            if rng.gen_bool(0.3) {
                members.push(other.to_owned());
            }
        }
        members.shuffle(rng);
        format!("{{{}}}", members.join(","))
    }

    /// Tokens around one payload: as signed, and spoiled in the ways a token can be.
    fn token_variants(rng: &mut StdRng, payload: &str) -> Vec<String> {
        let headers: [&[u8]; 6] = [
            br#"{"alg":"HS256","typ":"JWT"}"#,
            br#"{"alg":"HS256"}"#,
            br#"{"alg":"none","typ":"JWT"}"#,
            br#"{"alg":"HS512","typ":"JWT"}"#,
            br#"{"typ":"JWT"}"#,
            b"{not json",
        ];
        // Half the tokens carry the usual header, so that many are otherwise acceptable.
        let header = match rng.gen_bool(0.5) {
            true => headers[0],
            false => headers[rng.gen_range(1..headers.len())],
        };
        let good = sign_parts(header, payload.as_bytes(), SECRET);
        let mut tokens = vec![good.clone()];
        match rng.gen_range(0..6) {
            0 => tokens.push(sign_parts(header, payload.as_bytes(), b"not-the-secret")),
            1 => tokens.push(format!("{good}.x")),
            2 => tokens.push(good.rsplit_once('.').unwrap().0.to_owned()),
            3 => tokens.push(format!("{good}=")),
            4 => {
                let (message, _) = good.rsplit_once('.').unwrap();
                tokens.push(format!("{message}."));
            }
            _ => tokens.push(sign_parts(
                br#"{"alg":"HS256","typ":"JWT"}"#,
                &[payload.as_bytes(), b"\xff"].concat(),
                SECRET,
            )),
        }
        tokens
    }

    /// The label a refusal is counted under (`AcceptError::reason`): what an operator sees.
    fn outcome(result: &Result<Input, SignatureError>) -> Result<&Input, &'static str> {
        result.as_ref().map_err(|e| match e {
            SignatureError::Forged => "forged_signature",
            SignatureError::Expired => "expired_token",
            _ => "bad_token",
        })
    }

    #[test]
    fn the_one_pass_verifier_decides_as_jsonwebtoken_decode_did() {
        let now = now();
        let values = claim_values(now);
        let mut rng = StdRng::seed_from_u64(0x0de5_0c5e);
        let mut compared = 0;
        let mut accepted = 0;
        for leeway in [0, 60] {
            let v = Verifier::new(SECRET, Duration::from_secs(leeway));
            let mut check = |token: &str| {
                let new = v.verify(token);
                let old = verify_as_before(&v, token);
                assert_eq!(
                    outcome(&new),
                    outcome(&old),
                    "leeway {leeway}, token {token}"
                );
                compared += 1;
                accepted += usize::from(new.is_ok());
            };
            // Every exp beside every nbf and every sub ...
            for exp in &values[0].1 {
                for nbf in values[1].1.iter().map(Some).chain([None]) {
                    for sub in values[2].1.iter().map(Some).chain([None]) {
                        let mut payload = format!(r#"{{"orderId":"1","exp":{exp}"#);
                        if let Some(nbf) = nbf {
                            payload += &format!(r#","nbf":{nbf}"#);
                        }
                        if let Some(sub) = sub {
                            payload += &format!(r#","sub":{sub}"#);
                        }
                        payload += "}";
                        check(&sign_json(&payload, SECRET));
                    }
                }
            }
            // ... then random payloads, orders and duplicates, under spoiled tokens too.
            for _ in 0..3000 {
                let payload = random_payload(&mut rng, &values);
                for token in token_variants(&mut rng, &payload) {
                    check(&token);
                }
            }
        }
        // Both decisions occur often enough for the comparison to mean something.
        println!("{accepted} accepted of {compared}");
        assert!(accepted >= 1000, "{accepted} accepted of {compared}");
        assert!(
            compared - accepted >= 1000,
            "{accepted} accepted of {compared}"
        );
    }

    /// A hand-off's claims as `bench/ordersync_bench.py` signs them, with `items` line items.
    fn realistic_claims(items: usize) -> String {
        let lines: Vec<String> = (0..items)
            .map(|i| {
                format!(
                    r#"{{"gtin":"30176204{i:05}","quantity":2,"regularUnitPrice":"18.80","totalOrderItemPriceAfterDiscounts":"37.60","catalogId":"catalog-bench"}}"#
                )
            })
            .collect();
        format!(
            r#"{{"orderId":1000001,"orderDate":"2026-11-22T10:00:00Z","email":"shopper@example.com","country":"FR","customerGuid":"guid-bench-1","sessionId":"session-bench-1","totalSpent":"42.50","taxes":"7.08","shippingCost":"4.90","giftCode":null,"discountAmount":null,"items":[{}],"exp":{}}}"#,
            lines.join(","),
            in_an_hour()
        )
    }

    /// Best nanoseconds per call of `verify` on `token` over 5 rounds of `iterations`.
    fn ns_per_verify(
        verify: impl Fn(&str) -> Result<Input, SignatureError>,
        token: &str,
        iterations: u32,
    ) -> f64 {
        (0..5)
            .map(|_round| {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    std::hint::black_box(verify(std::hint::black_box(token)).is_ok());
                }
                start.elapsed().as_nanos() as f64 / f64::from(iterations)
            })
            .fold(f64::MAX, f64::min)
    }

    /// Nanoseconds per `verify` on realistic tokens, beside the verifier as it was (measured
    /// in turn in the same run, so both see the same machine load). Run it in release:
    /// `cargo test --release -p ordersync-relay --lib verify_speed -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a check: run it in release by name"]
    fn verify_speed() {
        let verifier = verifier();
        for items in [1, 5, 20] {
            let token = sign_json(&realistic_claims(items), SECRET);
            assert_eq!(verifier.verify(&token), verify_as_before(&verifier, &token));
            let iterations = 200_000 / items as u32;
            let before = ns_per_verify(|t| verify_as_before(&verifier, t), &token, iterations);
            let now = ns_per_verify(|t| verifier.verify(t), &token, iterations);
            println!(
                "verify_speed: {items:>2} item(s), token {} bytes: {now:.0} ns per verify, \
                 {before:.0} ns as before (best of 5 rounds of {iterations})",
                token.len()
            );
        }
    }
}
