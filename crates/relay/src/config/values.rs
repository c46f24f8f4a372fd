//! The value parsers behind each setting (wrapped in [`super::named`] where they are used): each
//! refuses a wrong value with the reason, and yields the type the relay then uses as is.
//! Their errors are the reasons shown after the setting's name.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use crate::outbox::Backend;

/// A humantime duration (`500ms`, `30s`, `10m`, `24h`, `30days`); zero is allowed.
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("must be a duration such as 500ms, 30s, 10m or 24h ({e})"))
}

/// A [`duration`] longer than zero.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let value = duration(text)?;
    if value.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    Ok(value)
}

/// The text without surrounding blanks, which must leave something.
pub fn non_blank(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(trimmed.to_owned())
}

/// A whole number from 1 to `max`; `why` (may be empty) says where the bound comes from.
fn count_up_to(text: &str, max: u32, why: &str) -> Result<NonZeroU32, String> {
    text.trim()
        .parse::<NonZeroU32>()
        .ok()
        .filter(|count| count.get() <= max)
        .ok_or_else(|| format!("must be between 1 and {max}{why}"))
}

/// Orders per CitrusAd request.
pub fn citrus_batch_size(text: &str) -> Result<NonZeroU32, String> {
    count_up_to(
        text,
        100,
        " (CitrusAd takes at most 100 orders per request)",
    )
}

/// CibleR requests in flight.
pub fn cibler_concurrency(text: &str) -> Result<NonZeroU32, String> {
    count_up_to(text, 256, "")
}

/// CitrusAd batches in flight.
pub fn citrus_concurrency(text: &str) -> Result<NonZeroU32, String> {
    count_up_to(text, 64, "")
}

/// A whole number greater than zero.
pub fn positive_count(text: &str) -> Result<NonZeroU32, String> {
    text.trim()
        .parse::<NonZeroU32>()
        .map_err(|_| "must be a whole number greater than zero".to_owned())
}

/// A whole number, zero included.
pub fn whole_number(text: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .map_err(|_| "must be a whole number".to_owned())
}

/// The smallest body limit: below it, an ordinary checkout no longer fits.
pub const MIN_BODY_BYTES: usize = 1024;

/// A request body limit in bytes, at least [`MIN_BODY_BYTES`].
pub fn body_bytes(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|bytes| *bytes >= MIN_BODY_BYTES)
        .ok_or_else(|| format!("must be at least {MIN_BODY_BYTES}"))
}

/// CibleR's `siteId`, an integer.
pub fn site_id(text: &str) -> Result<i64, String> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| "must be an integer (CibleR's siteId)".to_owned())
}

/// An outbox database URL whose backend is known. The refusal never quotes the URL: it may
/// hold a password.
pub fn database_url(text: &str) -> Result<DatabaseUrl, String> {
    Backend::of(text)
        .map(|backend| DatabaseUrl {
            text: text.to_owned(),
            backend,
        })
        .map_err(|_| "must be sqlite://PATH or postgres://USER@HOST:PORT/DATABASE".to_owned())
}

/// The outbox's database URL, with the backend it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    text: String,
    backend: Backend,
}

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// An absolute http(s) URL without a trailing slash, as
/// [`ordersync_core::third_o::check_base_url`] accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BaseUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ordersync_core::third_o::check_base_url(text.trim())
            .map(|base| BaseUrl(base.to_owned()))
            .map_err(|e| e.message().to_owned())
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which browser origins may call the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    None,
    Any,
    List(Vec<String>),
}

impl FromStr for AllowedOrigins {
    type Err = String;

    /// One entry of the comma-separated list: blank (nothing), `*`, or an origin.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let entry = text.trim();
        if entry.is_empty() {
            return Ok(AllowedOrigins::None);
        }
        if entry == "*" {
            return Ok(AllowedOrigins::Any);
        }
        let host = entry
            .strip_prefix("https://")
            .or_else(|| entry.strip_prefix("http://"));
        match host {
            Some(host) if !host.is_empty() && !host.contains('/') => {
                Ok(AllowedOrigins::List(vec![entry.to_owned()]))
            }
            _ => Err("is not an origin like https://shop.example[:port]".to_owned()),
        }
    }
}

/// The entries of the list together: `*` anywhere allows any origin.
impl FromIterator<AllowedOrigins> for AllowedOrigins {
    fn from_iter<I: IntoIterator<Item = AllowedOrigins>>(entries: I) -> Self {
        let mut list = Vec::new();
        for entry in entries {
            match entry {
                AllowedOrigins::None => {}
                AllowedOrigins::Any => return AllowedOrigins::Any,
                AllowedOrigins::List(origins) => list.extend(origins),
            }
        }
        if list.is_empty() {
            AllowedOrigins::None
        } else {
            AllowedOrigins::List(list)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_keep_their_bounds_and_reasons() {
        assert_eq!(citrus_batch_size("100").unwrap().get(), 100);
        let refused = citrus_batch_size("101").unwrap_err();
        assert!(
            refused.contains("at most 100 orders per request"),
            "{refused}"
        );
        assert!(citrus_batch_size("0").is_err());
        assert_eq!(cibler_concurrency("256").unwrap().get(), 256);
        assert!(cibler_concurrency("257").is_err());
        assert_eq!(citrus_concurrency("64").unwrap().get(), 64);
        assert!(citrus_concurrency("65").is_err());
        assert!(positive_count("0").is_err());
        assert_eq!(body_bytes("1024").unwrap(), 1024);
        assert!(body_bytes("1023").is_err());
    }

    #[test]
    fn durations_keep_humantime_and_refuse_zero_where_asked() {
        assert_eq!(duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(
            positive_duration("30days").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            positive_duration("0s").unwrap_err(),
            "must be greater than zero"
        );
        assert!(duration("soon").is_err());
    }

    #[test]
    fn base_urls_are_trimmed_without_a_trailing_slash() {
        let base: BaseUrl = " http://127.0.0.1:9/ ".parse().unwrap();
        assert_eq!(base.as_str(), "http://127.0.0.1:9");
        assert!("ftp://x".parse::<BaseUrl>().is_err());
    }

    #[test]
    fn a_database_url_knows_its_backend_and_a_refusal_hides_it() {
        assert_eq!(
            database_url("sqlite://relay.db").unwrap().backend(),
            Backend::Sqlite
        );
        let refused = database_url("mysql://root:hunter2@db/x").unwrap_err();
        assert!(!refused.contains("hunter2"), "{refused}");
    }

    #[test]
    fn origin_entries_combine_into_one_rule() {
        let parse = |entries: &[&str]| -> Result<AllowedOrigins, String> {
            entries.iter().map(|entry| entry.parse()).collect()
        };
        assert_eq!(parse(&["", " "]).unwrap(), AllowedOrigins::None);
        assert_eq!(
            parse(&["https://a.example", "*"]).unwrap(),
            AllowedOrigins::Any
        );
        assert!(parse(&["https://a.example/path"]).is_err());
    }
}
