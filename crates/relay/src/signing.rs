//! Verifying signed checkouts: a compact JWS (HS256) whose claims are the checkout plus `exp`.
//!
//! `jsonwebtoken` checks the algorithm, the signature and the time claims; the payload is then
//! read a second time through `ordersync_core::wire::input_from_json`, which keeps every number's
//! literal text, so money never passes through a binary float on its way to the vendors.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
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
        jsonwebtoken::decode::<TimeClaimsOnly>(token, &self.key, &self.validation)
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

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn in_an_hour() -> u64 {
        jsonwebtoken::get_current_timestamp() + 3600
    }

    fn verifier() -> Verifier {
        Verifier::new(SECRET, Duration::ZERO)
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
    fn expiry_is_required_and_enforced() {
        let expired = format!(
            r#"{{"exp":{}}}"#,
            jsonwebtoken::get_current_timestamp() - 10
        );
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
    fn unsigned_and_garbage_tokens_are_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{}}}"#, in_an_hour()));
        let none_token = format!("{header}.{payload}.");
        assert!(verifier().verify(&none_token).is_err());
        assert_eq!(
            verifier().verify("not-a-token"),
            Err(SignatureError::Malformed)
        );
        assert!(verifier().verify("").is_err());
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_refused() {
        // jsonwebtoken reads `exp` first, so a non-object payload already fails there.
        assert!(verifier().verify(&sign_json("[1,2]", SECRET)).is_err());
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

    /// Nanoseconds per `verify` on realistic tokens. Run it in release:
    /// `cargo test --release -p ordersync-relay --lib verify_speed -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a check: run it in release by name"]
    fn verify_speed() {
        let verifier = verifier();
        for items in [1, 5, 20] {
            let token = sign_json(&realistic_claims(items), SECRET);
            assert!(verifier.verify(&token).is_ok());
            let iterations = 200_000 / items.max(1) as u32;
            let mut best = f64::MAX;
            for _round in 0..5 {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    std::hint::black_box(verifier.verify(std::hint::black_box(&token)).is_ok());
                }
                let ns = start.elapsed().as_nanos() as f64 / f64::from(iterations);
                best = best.min(ns);
            }
            println!(
                "verify_speed: {items:>2} item(s), token {} bytes: {best:.0} ns per verify (best of 5 rounds of {iterations})",
                token.len()
            );
        }
    }
}
