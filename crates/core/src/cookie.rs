//! Reading the `cibler_id` cookie that CibleR's tag sets, from a `Cookie` header or
//! `document.cookie`.

pub const CIBLER_COOKIE: &str = "cibler_id";

/// The value of the first `cibler_id` cookie (browsers list the most specific path first),
/// with surrounding whitespace and quotes removed and percent-encoding decoded. The value is
/// otherwise opaque (it usually looks like `CIB1.<digits>.<unix seconds>`). `None` when the
/// cookie is absent or empty.
///
/// Written over bytes, without `str::split`, `percent-encoding` or `str::from_utf8`: the browser
/// module links this, and those cost it about 1.3 KB (its size budget). The tests compare it
/// with the former `split` / `percent_decode_str` version.
pub fn cibler_id(cookie_header: &str) -> Option<String> {
    let mut rest = cookie_header;
    loop {
        let end = rest.bytes().position(|b| b == b';').unwrap_or(rest.len());
        let pair = &rest[..end];
        if let Some(equals) = pair.bytes().position(|b| b == b'=') {
            if pair[..equals].trim() == CIBLER_COOKIE {
                return clean_value(&pair[equals + 1..]);
            }
        }
        if end == rest.len() {
            return None;
        }
        rest = &rest[end + 1..];
    }
}

fn clean_value(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let unquoted = trimmed
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(trimmed)
        .trim();
    // A value that is not valid UTF-8 once decoded is kept as it was sent.
    let decoded = utf8(&percent_decode(unquoted)).unwrap_or_else(|| unquoted.to_owned());
    let decoded = decoded.trim();
    (!decoded.is_empty() && !decoded.chars().any(char::is_control)).then(|| decoded.to_owned())
}

/// `%XY` (two hex digits) decoded to its byte; every other byte, a lone `%` included, as is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let hex = |at: usize| bytes.get(at).and_then(|&b| char::from(b).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match (bytes[at], hex(at + 1), hex(at + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                at += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    out
}

/// The bytes as text when they are valid UTF-8 (no overlong forms, no surrogates, nothing past
/// U+10FFFF), decoded character by character.
fn utf8(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let lead = bytes[at];
        let (len, min, mut code) = match lead {
            0x00..=0x7f => (1, 0, u32::from(lead)),
            0xc0..=0xdf => (2, 0x80, u32::from(lead & 0x1f)),
            0xe0..=0xef => (3, 0x800, u32::from(lead & 0x0f)),
            0xf0..=0xf7 => (4, 0x1_0000, u32::from(lead & 0x07)),
            _ => return None,
        };
        for offset in 1..len {
            let next = *bytes.get(at + offset)?;
            if next & 0xc0 != 0x80 {
                return None;
            }
            code = code << 6 | u32::from(next & 0x3f);
        }
        if code < min {
            return None;
        }
        out.push(char::from_u32(code)?);
        at += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{cibler_id, percent_decode, utf8};
    use percent_encoding::percent_decode_str;
    use proptest::prelude::*;

    /// The former version, over `str::split` and `percent-encoding`.
    fn cibler_id_with_split(cookie_header: &str) -> Option<String> {
        cookie_header
            .split(';')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| name.trim() == super::CIBLER_COOKIE)
            .and_then(|(_, value)| {
                let trimmed = value.trim();
                let unquoted = trimmed
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(trimmed)
                    .trim();
                let decoded = match percent_decode_str(unquoted).decode_utf8() {
                    Ok(text) => text.into_owned(),
                    Err(_) => unquoted.to_owned(),
                };
                let decoded = decoded.trim();
                (!decoded.is_empty() && !decoded.chars().any(char::is_control))
                    .then(|| decoded.to_owned())
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn reads_as_the_split_version(header in "([ a-z_\"=;%0-9A-Fé\u{1}]|cibler_id|%[0-9a-fA-F]{2}|%C3%A9|%E2%82|%ED%A0%80|%F0%9F%98%80){0,12}") {
            prop_assert_eq!(cibler_id(&header), cibler_id_with_split(&header));
        }

        #[test]
        fn decodes_as_percent_encoding_and_std(bytes in prop::collection::vec(any::<u8>(), 0..12)) {
            prop_assert_eq!(utf8(&bytes), std::str::from_utf8(&bytes).ok().map(str::to_owned));
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let theirs: Vec<u8> = percent_decode_str(&text).collect();
            prop_assert_eq!(percent_decode(&text), theirs);
        }
    }

    #[test]
    fn finds_the_cookie_among_others() {
        let header = "_ga=GA1.2.3; cibler_id=CIB1.395406195.1569857337; theme=dark";
        assert_eq!(
            cibler_id(header).as_deref(),
            Some("CIB1.395406195.1569857337")
        );
    }

    #[test]
    fn copes_with_absence_and_emptiness() {
        assert_eq!(cibler_id(""), None);
        assert_eq!(cibler_id("a=b; c=d"), None);
        assert_eq!(cibler_id("cibler_id="), None);
        assert_eq!(cibler_id("cibler_id=\"\""), None);
        assert_eq!(cibler_id("xcibler_id=1; cibler_idx=2"), None);
        assert_eq!(cibler_id("cibler_id"), None);
    }

    #[test]
    fn tolerates_spaces_quotes_and_encoding() {
        assert_eq!(
            cibler_id("  cibler_id =  CIB1.1.2  ").as_deref(),
            Some("CIB1.1.2")
        );
        assert_eq!(
            cibler_id("cibler_id=\"CIB1.1.2\"").as_deref(),
            Some("CIB1.1.2")
        );
        assert_eq!(
            cibler_id("cibler_id=CIB1%2E1%2E2").as_deref(),
            Some("CIB1.1.2")
        );
        assert_eq!(
            cibler_id("cibler_id=%22CIB1.1.2%22").as_deref(),
            Some("\"CIB1.1.2\"")
        );
        assert_eq!(cibler_id("cibler_id=a%20b").as_deref(), Some("a b"));
        assert_eq!(cibler_id("cibler_id=%FF").as_deref(), Some("%FF"));
        assert_eq!(cibler_id("cibler_id=a=b").as_deref(), Some("a=b"));
        assert_eq!(cibler_id("cibler_id=%0A"), None);
    }

    #[test]
    fn first_of_duplicates_wins() {
        assert_eq!(
            cibler_id("cibler_id=first; cibler_id=second").as_deref(),
            Some("first")
        );
        assert_eq!(cibler_id("cibler_id=; cibler_id=second"), None);
    }
}
