//! Reading the `cibler_id` cookie that CibleR's tag sets, from a `Cookie` header or
//! `document.cookie`.

use percent_encoding::percent_decode_str;

pub const CIBLER_COOKIE: &str = "cibler_id";

/// The value of the first `cibler_id` cookie (browsers list the most specific path first),
/// with surrounding whitespace and quotes removed and percent-encoding decoded. The value is
/// otherwise opaque (it usually looks like `CIB1.<digits>.<unix seconds>`). `None` when the
/// cookie is absent or empty.
pub fn cibler_id(cookie_header: &str) -> Option<String> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.trim() == CIBLER_COOKIE)
        .and_then(|(_, value)| clean_value(value))
}

fn clean_value(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let unquoted = trimmed
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(trimmed)
        .trim();
    // A value that is not valid UTF-8 once decoded is kept as it was sent.
    let decoded = match percent_decode_str(unquoted).decode_utf8() {
        Ok(text) => text.into_owned(),
        Err(_) => unquoted.to_owned(),
    };
    let decoded = decoded.trim();
    (!decoded.is_empty() && !decoded.chars().any(char::is_control)).then(|| decoded.to_owned())
}

#[cfg(test)]
mod tests {
    use super::cibler_id;

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
