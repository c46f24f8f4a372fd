//! The claims of a signed checkout: a compact JWS (`header.payload.signature`) whose payload
//! is strict unpadded base64url of UTF-8 JSON. The module reads the claims to validate the
//! checkout, build the third-o request and know when the token expires; it never checks the
//! signature (the relay does) and passes the token on untouched.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ordersync_core::input_json::parse_json;
use ordersync_core::Input;

/// The claims of `token`, read with the core's JSON reader, the one the relay reads them with
/// (so a payload the relay would refuse as invalid JSON, e.g. nested deeper than its limit, is
/// refused here too); `None` when `token` is not a compact JWS with a JSON payload.
pub fn claims(token: &str) -> Option<Input> {
    let mut parts = token.split('.');
    let (header, payload) = (parts.next()?, parts.next()?);
    let _signature = parts.next()?;
    if header.is_empty() || parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    parse_json(core::str::from_utf8(&bytes).ok()?).ok()
}

/// When the token's claims say it expires (`exp`, seconds since the epoch), in milliseconds;
/// `None` when there is no whole-number `exp` (a fraction of a second is dropped).
pub fn expiry_ms(claims: &Input) -> Option<u64> {
    let Some(Input::Number(literal)) = claims.get("exp") else {
        return None;
    };
    let whole = literal.split('.').next()?;
    let seconds: u64 = whole.parse().ok()?;
    seconds.checked_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_payload_of_a_compact_jws() {
        // {"orderId":1,"exp":1700000000}
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJvcmRlcklkIjoxLCJleHAiOjE3MDAwMDAwMDB9.c2ln";
        let claims = claims(token).unwrap();
        assert_eq!(claims.get("orderId"), Some(&Input::num("1")));
        assert_eq!(expiry_ms(&claims), Some(1_700_000_000_000));
    }

    #[test]
    fn refuses_what_is_not_a_compact_jws() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            ".eyJ9.c",
            "h.eyJvcmRlcklkIjoxfQ==.s",
            "h.e+J9.s",
            "h._w.s",
            "h.bm90IGpzb24.s",
        ] {
            assert_eq!(claims(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_exp_that_is_not_a_whole_number_is_no_expiry() {
        for (exp, want) in [
            ("1.5", Some(1000)),
            ("\"1\"", None),
            ("-1", None),
            ("1e3", None),
        ] {
            let claims = parse_json(&format!(r#"{{"exp":{exp}}}"#)).unwrap();
            assert_eq!(expiry_ms(&claims), want, "{exp}");
        }
    }
}
