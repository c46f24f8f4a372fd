//! Reading the payload of a compact JWS (`header.payload.signature`).
//!
//! The module only reads the claims to build the third-o request and to know the order id; it
//! does not (and cannot: the secret stays on the server) check the signature. The relay does,
//! and the token is passed to it untouched.

/// The payload's text (the JSON claims), or `None` when `token` is not three base64url
/// segments or the payload is not UTF-8.
pub fn payload_text(token: &str) -> Option<String> {
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    if header.is_empty() {
        return None;
    }
    String::from_utf8(base64url_decode(payload)?).ok()
}

/// Unpadded base64url (RFC 7515 §2), strictly: no padding, no whitespace, no other alphabet.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    for byte in text.bytes() {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(sextet);
        bit_count += 6;
        if bit_count >= 8 {
            bit_count -= 8;
            out.push((bits >> bit_count) as u8);
            bits &= (1 << bit_count) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_real_token_payload() {
        // {"alg":"HS256","typ":"JWT"} . {"orderId":"123","exp":1} . signature
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJvcmRlcklkIjoiMTIzIiwiZXhwIjoxfQ.c2ln";
        assert_eq!(
            payload_text(token).as_deref(),
            Some(r#"{"orderId":"123","exp":1}"#)
        );
    }

    #[test]
    fn decodes_every_length_and_the_url_alphabet() {
        assert_eq!(base64url_decode("").as_deref(), Some(&b""[..]));
        assert_eq!(base64url_decode("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64url_decode("YWI").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64url_decode("YWJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(base64url_decode("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
    }

    #[test]
    fn refuses_what_is_not_a_compact_jws() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            ".eyJ9.sig",
            "h.YQ==.s",
            "h.Y Q.s",
            "h.Y.s",
            "h.+/8.s",
            "h./w.s",
        ] {
            assert_eq!(payload_text(bad), None, "{bad}");
        }
        // Valid base64url, but not UTF-8.
        assert_eq!(payload_text("h._w.s"), None);
    }
}
