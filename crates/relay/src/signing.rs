//! Verifying signed checkouts: a compact JWS (HS256) whose claims are the checkout plus `exp`.
//!
//! `jsonwebtoken::decode` does the verifying: the header (HS256 only, so `alg: none` is
//! refused), the signature (its constant-time HMAC comparison) before anything of the payload
//! is read, then `exp` (required) and `nbf` with the configured leeway. It hands back the
//! payload as raw JSON text, which is then read once more, by
//! `ordersync_core::wire::input_from_json`, for what the product needs beyond the library:
//! every number kept as its literal text (money never passes through a binary float on its way
//! to the vendors) and duplicated keys kept (so validation can name them, where a typed serde
//! read would keep one silently).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ordersync_core::Input;
use serde_json::value::RawValue;

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
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier { key: [redacted] }")
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
            validation,
        }
    }

    /// Verifies `token` and returns its claims, numbers kept as their literal text.
    pub fn verify(&self, token: &str) -> Result<Input, SignatureError> {
        // RFC 7515's compact form has exactly three parts; jsonwebtoken splits from the right
        // and would report a token with more or fewer as whichever part then fails to decode.
        if token.split('.').count() != 3 {
            return Err(SignatureError::Malformed);
        }
        let verified = jsonwebtoken::decode::<Box<RawValue>>(token, &self.key, &self.validation)
            .map_err(|e| refusal(token, e.kind()))?;
        match ordersync_core::wire::input_from_json(verified.claims.get()) {
            Ok(claims @ Input::Object(_)) => Ok(claims),
            _ => Err(SignatureError::BadPayload),
        }
    }
}

/// Why jsonwebtoken refused `token`. It reports a header it cannot read and a payload it
/// cannot read alike (a JSON error), so an unreadable header is looked at once more here, to
/// tell the shop which of its parts is wrong: an `alg` other than HS256 (`"none"` included,
/// which jsonwebtoken does not even know) is the wrong algorithm, anything else a malformed
/// token.
fn refusal(token: &str, kind: &ErrorKind) -> SignatureError {
    if jsonwebtoken::decode_header(token).is_ok() {
        return classify(kind);
    }
    let header = token.split('.').next().unwrap_or_default();
    let json = URL_SAFE_NO_PAD.decode(header).unwrap_or_default();
    match serde_json::from_slice::<serde_json::Value>(&json) {
        Ok(serde_json::Value::Object(header))
            if header.get("alg").and_then(serde_json::Value::as_str) != Some("HS256") =>
        {
            SignatureError::WrongAlgorithm
        }
        _ => SignatureError::Malformed,
    }
}

/// jsonwebtoken's refusal, as the relay names it (and counts it: `AcceptError::reason`).
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
}
